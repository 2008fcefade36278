//! Reading certificates and CRLs from PEM or DER bytes and files.
//!
//! Every reader is bounded: files larger than the stated ceiling are refused before they are
//! read, and PEM parsing goes through rustls-pki-types' `PemObject`.

use std::io::Read;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Largest certificate or key file read (1 MiB): far above any real chain file.
pub const MAX_CERT_FILE_BYTES: u64 = 1 << 20;
/// Largest CRL file read (512 MiB): a 1M-entry CRL is about 40 MB.
pub const MAX_CRL_FILE_BYTES: u64 = 512 << 20;

/// Parses one or more certificates: PEM `CERTIFICATE` blocks, or a single DER certificate.
///
/// # Errors
///
/// Returns a message when the input holds no certificate or its PEM is broken.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    if looks_like_pem(bytes) {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no CERTIFICATE block in the PEM".into());
        }
        if certs.iter().any(|c| c.is_empty()) {
            return Err("empty CERTIFICATE block in the PEM".into());
        }
        Ok(certs)
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![CertificateDer::from(bytes.to_vec())])
    } else {
        Err("neither PEM nor DER".into())
    }
}

/// Parses one or more CRLs: PEM `X509 CRL` blocks, or a single DER CRL.
///
/// # Errors
///
/// Returns a message when the input holds no CRL or its PEM is broken.
pub fn parse_crls(bytes: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    if looks_like_pem(bytes) {
        let crls = CertificateRevocationListDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM: {e}"))?;
        if crls.is_empty() {
            return Err("no X509 CRL block in the PEM".into());
        }
        if crls.iter().any(|c| c.is_empty()) {
            return Err("empty X509 CRL block in the PEM".into());
        }
        Ok(crls)
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![CertificateRevocationListDer::from(bytes.to_vec())])
    } else {
        Err("neither PEM nor DER".into())
    }
}

/// Parses a private key (PKCS#8, PKCS#1 or SEC1) from PEM.
///
/// # Errors
///
/// Returns a message when the input holds no private key.
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    let key = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| format!("no private key: {e}"))?;
    if key.secret_der().is_empty() {
        return Err("empty private key block in the PEM".into());
    }
    Ok(key)
}

/// Reads certificates from a PEM or DER file.
///
/// ```no_run
/// let chain = certgate::pem::read_certificates("server.pem")?;
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// Returns a message naming the file and what failed (missing file, too large, not a
/// certificate), for example `server.pem: no CERTIFICATE block in the PEM`.
pub fn read_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let path = path.as_ref();
    parse_certificates(&read_bounded(path, MAX_CERT_FILE_BYTES)?).map_err(|e| in_file(path, e))
}

/// Reads CRLs from a PEM or DER file.
///
/// # Errors
///
/// Returns a message naming the file and what failed (missing file, too large, not a CRL).
pub fn read_crls(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let path = path.as_ref();
    parse_crls(&read_bounded(path, MAX_CRL_FILE_BYTES)?).map_err(|e| in_file(path, e))
}

/// Reads a private key from a PEM file.
///
/// # Errors
///
/// Returns a message naming the file and what failed.
pub fn read_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, String> {
    let path = path.as_ref();
    parse_private_key(&read_bounded(path, MAX_CERT_FILE_BYTES)?).map_err(|e| in_file(path, e))
}

/// Reads a server's (or client's) certificate chain and its private key, and checks that the
/// key belongs to the chain's first certificate, so a mix-up is reported here, naming both
/// files, rather than as rustls' bare `InconsistentKeys(KeyMismatch)`.
///
/// `provider` loads the key (the same provider the `ServerConfig` will use).
///
/// ```no_run
/// let provider = rustls::crypto::ring::default_provider();
/// let (chain, key) = certgate::pem::read_identity("server.pem", "server.key", &provider)?;
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// Returns a message naming the file at fault: unreadable, no certificate or key, a key the
/// provider cannot use, or (naming both files) a key that is not the certificate's.
pub fn read_identity(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let chain = read_certificates(cert_path)?;
    let key = read_private_key(key_path)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| in_file(key_path, format!("not a usable private key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing_key);
    match certified.keys_match() {
        // A key type whose public key the provider cannot tell: nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok((chain, key))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "the private key in {} does not belong to the certificate in {} (its first \
             certificate has another public key)",
            key_path.display(),
            cert_path.display()
        )),
        Err(e) => Err(in_file(
            cert_path,
            format!("its first certificate does not parse: {e}"),
        )),
    }
}

/// `<path>: <message>`, unless the message already names the path.
fn in_file(path: &Path, message: String) -> String {
    let shown = path.display().to_string();
    if message.contains(&shown) {
        message
    } else {
        format!("{shown}: {message}")
    }
}

/// Reads a whole file, refusing one larger than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let not_found = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no such file: {}", path.display()),
        _ => format!("cannot open {}: {e}", path.display()),
    };
    // A FIFO or a device (`/dev/stdin`, `/dev/zero`) would block or never end: regular files
    // only. Checked before opening too, since opening a FIFO blocks until a writer appears;
    // and again on the open file, in case the path changed in between.
    if !std::fs::metadata(path).map_err(not_found)?.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let file = std::fs::File::open(path).map_err(not_found)?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    // Refuse what is already too large before reading any of it.
    if metadata.len() > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pem_blocks_are_refused() {
        let cert = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse_certificates(cert).unwrap_err(),
            "empty CERTIFICATE block in the PEM"
        );
        let crl = b"-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n";
        assert_eq!(
            parse_crls(crl).unwrap_err(),
            "empty X509 CRL block in the PEM"
        );
        let key = b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            parse_private_key(key).unwrap_err(),
            "empty private key block in the PEM"
        );
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("certgate-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("policy.toml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO with no writer blocks: run it aside and give it a deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(read_bounded(&path, 1024)));
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO must not block");
        assert!(result.unwrap_err().contains("not a regular file"));
        assert!(
            read_bounded(Path::new("/dev/zero"), 1024)
                .unwrap_err()
                .contains("not a regular file")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_block_after_a_good_one_is_refused() {
        let mut pem = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_vec();
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        assert!(parse_certificates(&pem).is_err());
    }

    #[test]
    fn der_and_garbage() {
        assert_eq!(parse_certificates(&[0x30, 0x00]).unwrap().len(), 1);
        assert_eq!(
            parse_certificates(b"hello").unwrap_err(),
            "neither PEM nor DER"
        );
        assert_eq!(parse_crls(b"").unwrap_err(), "neither PEM nor DER");
    }
}
