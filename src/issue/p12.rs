//! PKCS#12 files for apps: the key, the leaf and its intermediate, behind a password.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12ImportPolicy,
    PrivateKey, PrivateKeyChain,
};
use rustls_pki_types::CertificateDer;
use sha2::Digest as _;

use super::IssueError;

/// PBKDF2 iterations of a [`P12Format::Modern`] file, for both the key and certificate bags
/// and the MAC. Java's default (`keystore.pkcs12.*IterationCount`); OpenSSL 3 writes 2048.
pub const MODERN_ITERATIONS: u32 = 10_000;

/// Iterations of a [`P12Format::Legacy`] file: OpenSSL's `PKCS12_DEFAULT_ITER`, which
/// `openssl pkcs12 -export -legacy` writes and old Android and iOS versions read.
pub const LEGACY_ITERATIONS: u32 = 2_048;

/// Which encryption a PKCS#12 file uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum P12Format {
    /// PBE-SHA1-3DES bags with an HMAC-SHA1 MAC: what OpenSSL 1.x wrote, for Android before
    /// 12 and iOS/macOS before 15 / 12 whose importers do not know PBES2 (see README).
    Legacy,
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) bags with an HMAC-SHA256 MAC: OpenSSL 3's
    /// default. The default.
    #[default]
    Modern,
}

impl std::str::FromStr for P12Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "modern" => Ok(P12Format::Modern),
            "legacy" => Ok(P12Format::Legacy),
            _ => Err(format!("unknown PKCS#12 format {s:?}: modern or legacy")),
        }
    }
}

/// What a PKCS#12 file holds, as [`read_pkcs12`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs12Contents {
    /// The friendly name of the key entry.
    pub alias: String,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
}

/// Writes a PKCS#12 file: one key entry named `alias` with `chain` (leaf first).
pub(crate) fn write_pkcs12(
    alias: &str,
    key_pkcs8: &[u8],
    chain: &[CertificateDer<'_>],
    password: &str,
    format: P12Format,
) -> Result<Vec<u8>, IssueError> {
    if password.is_empty() {
        return Err(IssueError::Pkcs12(
            "an empty password: iOS and Java refuse such files; give a password".into(),
        ));
    }
    let err = |e: p12_keystore::error::Error| IssueError::Pkcs12(e.to_string());
    let key = PrivateKey::from_der(key_pkcs8).map_err(err)?;
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let leaf = chain
        .first()
        .ok_or_else(|| IssueError::Pkcs12("no certificate".into()))?;
    let local_key_id = sha2::Sha256::digest(leaf.as_ref()).to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
    );
    let writer = store.writer(password);
    let writer = match format {
        P12Format::Modern => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .encryption_iterations(MODERN_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .mac_iterations(MODERN_ITERATIONS),
        P12Format::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .encryption_iterations(LEGACY_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .mac_iterations(LEGACY_ITERATIONS),
    };
    writer.write().map_err(err)
}

/// Reads a PKCS#12 file: its first key entry and chain. A wrong password is an error (the MAC
/// does not verify).
pub fn read_pkcs12(bytes: &[u8], password: &str) -> Result<Pkcs12Contents, IssueError> {
    let store =
        KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
            let text = e.to_string();
            IssueError::Pkcs12(if text.to_ascii_lowercase().contains("mac") {
                format!("wrong password or damaged file ({text})")
            } else {
                text
            })
        })?;
    let (alias, chain) = store
        .private_key_chain()
        .ok_or_else(|| IssueError::Pkcs12("no key entry".into()))?;
    Ok(Pkcs12Contents {
        alias: alias.to_owned(),
        key_pkcs8: chain.key().as_der().to_vec(),
        chain: chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect(),
    })
}
