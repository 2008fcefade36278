//! Key algorithms, the [`Signer`] trait every CA signature goes through, and key files.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rcgen::{KeyPair, PublicKeyData as _, SignatureAlgorithm};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::IssueError;

/// PBKDF2-HMAC-SHA256 iterations for a passphrase-encrypted key file. A CA opens its two keys
/// once per command, so a high count costs little there; OWASP's 2023 figure for PBKDF2-SHA256
/// is 600,000, at about 0.2 s per key in a release build.
const KEY_PBKDF2_ITERATIONS: u32 = 600_000;

/// A key algorithm for a CA or an issued certificate.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA on P-256 with SHA-256. The default.
    #[default]
    P256,
    /// ECDSA on P-384 with SHA-384.
    P384,
    /// RSA 2048 bits, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072 bits, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
    /// RSA 4096 bits, PKCS#1 v1.5 with SHA-256.
    Rsa4096,
}

impl Algorithm {
    /// Every algorithm, in the order the CLI lists them.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::P256,
        Algorithm::P384,
        Algorithm::Ed25519,
        Algorithm::Rsa2048,
        Algorithm::Rsa3072,
        Algorithm::Rsa4096,
    ];

    /// The CLI and `ca.json` name: `p256`, `p384`, `ed25519`, `rsa2048`, `rsa3072`, `rsa4096`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::P256 => "p256",
            Algorithm::P384 => "p384",
            Algorithm::Rsa2048 => "rsa2048",
            Algorithm::Rsa3072 => "rsa3072",
            Algorithm::Rsa4096 => "rsa4096",
        }
    }

    pub(crate) fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Algorithm::Ed25519 => &rcgen::PKCS_ED25519,
            Algorithm::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!("unknown algorithm {s:?}: p256, p384, ed25519, rsa2048, rsa3072 or rsa4096")
            })
    }
}

/// Why a [`Signer`] could not sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// Makes the CA's signatures. Every certificate and CRL the CA signs goes through this trait, so
/// a KMS or HSM signer can replace [`KeySigner`] (see [`Ca::open_with_signers`]) without any
/// other change.
///
/// [`Ca::open_with_signers`]: super::Ca::open_with_signers
pub trait Signer: Send + Sync {
    /// The signature algorithm (and key type) of this signer.
    fn algorithm(&self) -> Algorithm;
    /// The public key as it appears in the SubjectPublicKeyInfo's BIT STRING (an uncompressed
    /// EC point, the 32 Ed25519 bytes, or a DER `RSAPublicKey`).
    fn public_key(&self) -> &[u8];
    /// Signs `message` (the DER of a TBSCertificate or TBSCertList) with the algorithm's hash.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A [`Signer`] over a private key in memory (a PKCS#8 file on disk).
pub struct KeySigner {
    algorithm: Algorithm,
    key: KeyPair,
}

impl KeySigner {
    /// Generates a fresh key.
    ///
    /// RSA keys need the `aws-lc-rs` feature: *ring* cannot generate RSA keys.
    pub fn generate(algorithm: Algorithm) -> Result<Self, IssueError> {
        let key = match algorithm {
            Algorithm::Ed25519 | Algorithm::P256 | Algorithm::P384 => {
                KeyPair::generate_for(algorithm.rcgen()).map_err(IssueError::signing)?
            }
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => {
                generate_rsa(algorithm)?
            }
        };
        Ok(Self { algorithm, key })
    }

    /// A signer over a PKCS#8 DER private key of `algorithm`.
    pub fn from_pkcs8_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, String> {
        let der = PrivatePkcs8KeyDer::from(der.to_vec());
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&der, algorithm.rcgen())
            .map_err(|e| format!("not a {algorithm} PKCS#8 key: {e}"))?;
        Ok(Self { algorithm, key })
    }

    /// The PKCS#8 DER of the private key.
    pub fn pkcs8_der(&self) -> &[u8] {
        self.key.serialized_der()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// Reads a key file written by [`KeySigner::write`]: PEM `PRIVATE KEY`, or `ENCRYPTED
    /// PRIVATE KEY` (PBES2) with `passphrase`. Refuses a file its group or others may read.
    pub fn read(
        path: &Path,
        algorithm: Algorithm,
        passphrase: Option<&str>,
    ) -> Result<Self, IssueError> {
        let bytes = super::files::read_private(path)?;
        let key_error = |message: String| IssueError::Key {
            path: path.to_path_buf(),
            message,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| key_error("not PEM text".into()))?;
        let (label, doc) = pkcs8::der::SecretDocument::from_pem(text)
            .map_err(|e| key_error(format!("not a PEM key: {e}")))?;
        let der = match (label, passphrase) {
            ("PRIVATE KEY", _) => doc,
            ("ENCRYPTED PRIVATE KEY", None) => {
                return Err(key_error(
                    "the key is encrypted: give its passphrase (--key-password-file)".into(),
                ));
            }
            ("ENCRYPTED PRIVATE KEY", Some(passphrase)) => {
                let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
                    .map_err(|e| key_error(format!("not an encrypted PKCS#8 key: {e}")))?;
                info.decrypt(passphrase)
                    .map_err(|_| key_error("wrong passphrase (or a damaged key)".into()))?
            }
            (other, _) => {
                return Err(key_error(format!(
                    "PEM label {other:?}: expected PRIVATE KEY or ENCRYPTED PRIVATE KEY"
                )));
            }
        };
        Self::from_pkcs8_der(algorithm, der.as_bytes()).map_err(key_error)
    }

    /// Writes the key as a new file with mode 0600: PEM `PRIVATE KEY`, or with a passphrase
    /// `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC,
    /// which `openssl pkey -in F -passin ...` reads). Refuses to replace an existing file.
    pub fn write(&self, path: &Path, passphrase: Option<&str>) -> Result<(), IssueError> {
        let pem = encode_key(self.pkcs8_der(), passphrase).map_err(|message| IssueError::Key {
            path: path.to_path_buf(),
            message,
        })?;
        super::files::write_new(path, pem.as_bytes(), 0o600)
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key
    }
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Signer for KeySigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn public_key(&self) -> &[u8] {
        self.key.der_bytes()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        rcgen::SigningKey::sign(&self.key, message).map_err(|e| SignError(e.to_string()))
    }
}

/// PEM of a PKCS#8 key, encrypted when a passphrase is given.
pub(crate) fn encode_key(pkcs8_der: &[u8], passphrase: Option<&str>) -> Result<String, String> {
    use pkcs8::der::pem::LineEnding;
    match passphrase {
        None => {
            let doc = pkcs8::der::SecretDocument::try_from(pkcs8_der).map_err(|e| e.to_string())?;
            doc.to_pem("PRIVATE KEY", LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| e.to_string())
        }
        Some(passphrase) => {
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
            getrandom::fill(&mut iv).map_err(|e| e.to_string())?;
            let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
                KEY_PBKDF2_ITERATIONS,
                &salt,
                iv,
            )
            .map_err(|e| e.to_string())?;
            let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der).map_err(|e| e.to_string())?;
            let doc = info
                .encrypt_with_params(params, passphrase)
                .map_err(|e| e.to_string())?;
            doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| e.to_string())
        }
    }
}

/// The rcgen view of a [`Signer`].
pub(crate) struct RcgenSigner<'a>(pub(crate) &'a dyn Signer);

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm().rcgen()
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

#[cfg(feature = "aws-lc-rs")]
fn generate_rsa(algorithm: Algorithm) -> Result<KeyPair, IssueError> {
    let size = match algorithm {
        Algorithm::Rsa3072 => rcgen::RsaKeySize::_3072,
        Algorithm::Rsa4096 => rcgen::RsaKeySize::_4096,
        _ => rcgen::RsaKeySize::_2048,
    };
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(IssueError::signing)
}

#[cfg(not(feature = "aws-lc-rs"))]
fn generate_rsa(algorithm: Algorithm) -> Result<KeyPair, IssueError> {
    Err(IssueError::Unsupported(format!(
        "{algorithm}: RSA key generation needs certgate's `aws-lc-rs` feature (ring cannot \
         generate RSA keys); RSA CSRs can be issued in any build"
    )))
}
