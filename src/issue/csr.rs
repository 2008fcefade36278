//! PKCS#10 certificate signing requests (RFC 2986): parsed, signature checked, key checked.
//! Only the public key is ever used; the subject and requested extensions are ignored (the CA
//! decides what an app certificate says).

use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey as ParsedKey;

use super::IssueError;

/// Largest CSR accepted, in bytes (DER). A P-256 CSR is about 250 bytes, an RSA-4096 one about
/// 1.1 KB; 16 KiB leaves room for attributes and refuses nothing real.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

/// Smallest RSA modulus accepted from a CSR, in bits (NIST SP 800-131A: 2048 through 2030).
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits: bigger keys only slow every handshake.
pub const MAX_RSA_BITS: usize = 8192;

/// A checked certificate signing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csr {
    pub(crate) spki: Vec<u8>,
    key: &'static str,
}

/// A subject public key whose possession was proven another way than by a CSR (for
/// enrollment: the platform attested that the key lives in the phone's hardware), checked like
/// a CSR's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub(crate) spki: Vec<u8>,
    key: &'static str,
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo and refuses the keys a CSR may not carry (see
    /// [`Csr::parse`]).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, IssueError> {
        if der.len() > MAX_CSR_BYTES {
            return Err(IssueError::Csr(format!(
                "a public key of {} bytes, more than {MAX_CSR_BYTES}",
                der.len()
            )));
        }
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| IssueError::Csr(format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(IssueError::Csr("trailing data after the public key".into()));
        }
        let key = check_key(&spki)?;
        Ok(Self {
            spki: der.to_vec(),
            key,
        })
    }

    /// The key, a DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// What the key is: `p256`, `p384`, `ed25519` or `rsa<bits>`.
    pub fn key_kind(&self) -> &'static str {
        self.key
    }
}

impl Csr {
    /// Parses a CSR, PEM (`CERTIFICATE REQUEST`, also `NEW CERTIFICATE REQUEST`) or DER, checks
    /// its self-signature under its own key with the crate's signature algorithms, and refuses
    /// weak or unsupported keys: RSA below [`MIN_RSA_BITS`] bits (or above [`MAX_RSA_BITS`],
    /// or not a multiple of 8), EC keys other than P-256 and P-384, DSA, Ed448 and the rest.
    pub fn parse(bytes: &[u8]) -> Result<Self, IssueError> {
        let der = pem_or_der(bytes)?;
        if der.len() > MAX_CSR_BYTES {
            return Err(IssueError::Csr(format!(
                "{} bytes, more than the {MAX_CSR_BYTES} a CSR may have",
                der.len()
            )));
        }
        let (rest, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                .map_err(|e| IssueError::Csr(format!("not a PKCS#10 request: {e}")))?;
        if !rest.is_empty() {
            return Err(IssueError::Csr("trailing data after the request".into()));
        }
        let info = &csr.certification_request_info;
        if info.version.0 != 0 {
            return Err(IssueError::Csr(format!(
                "version {} (only v1 exists)",
                info.version.0
            )));
        }
        let spki = info.subject_pki.raw.to_vec();
        let key = check_key(&info.subject_pki)?;
        let algorithms = crate::verify::default_algorithms().ok_or_else(|| {
            IssueError::Unsupported("no signature algorithms: enable `ring` or `aws-lc-rs`".into())
        })?;
        crate::verify::revocation::verify_signed(&der, &spki, algorithms)
            .map_err(|e| IssueError::Csr(format!("signature check failed: {e}")))?;
        Ok(Self { spki, key })
    }

    /// The requested public key, a DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// What the key is: `p256`, `p384`, `ed25519` or `rsa<bits>`.
    pub fn key_kind(&self) -> &'static str {
        self.key
    }
}

fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>, IssueError> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| IssueError::Csr("neither DER nor PEM text".into()))?;
    for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin) {
            let body_start = start + begin.len();
            let Some(body) = text.get(body_start..) else {
                break;
            };
            let Some(stop) = body.find(&end) else {
                return Err(IssueError::Csr(format!("no {end} line")));
            };
            let b64: String = body
                .get(..stop)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            use base64::Engine as _;
            return base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| IssueError::Csr("the PEM body is not base64".into()));
        }
    }
    Err(IssueError::Csr(
        "no -----BEGIN CERTIFICATE REQUEST----- block and not DER".into(),
    ))
}

fn check_key(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<&'static str, IssueError> {
    const P256: &str = "1.2.840.10045.3.1.7";
    const P384: &str = "1.3.132.0.34";
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(ParsedKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits < MIN_RSA_BITS {
                return Err(IssueError::Csr(format!(
                    "weak key: RSA {bits} bits, at least {MIN_RSA_BITS} required"
                )));
            }
            if bits > MAX_RSA_BITS || bits % 8 != 0 {
                return Err(IssueError::Csr(format!(
                    "unsupported key: RSA {bits} bits (a multiple of 8 up to {MAX_RSA_BITS})"
                )));
            }
            Ok(match bits {
                2048 => "rsa2048",
                3072 => "rsa3072",
                4096 => "rsa4096",
                _ => "rsa",
            })
        }
        Ok(ParsedKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some(P256) => Ok("p256"),
                Some(P384) => Ok("p384"),
                Some(other) => Err(IssueError::Csr(format!(
                    "unsupported key: EC curve {other} (P-256 or P-384)"
                ))),
                None => Err(IssueError::Csr(
                    "unsupported key: EC key without a named curve".into(),
                )),
            }
        }
        _ if oid == "1.3.101.112" => Ok("ed25519"),
        Ok(ParsedKey::DSA(_)) => Err(IssueError::Csr("weak key: DSA".into())),
        _ => Err(IssueError::Csr(format!("unsupported key algorithm {oid}"))),
    }
}
