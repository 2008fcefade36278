//! What can go wrong while issuing, revoking or signing CRLs. Every variant that concerns a file
//! names it.

use std::path::PathBuf;

/// An error of the `issue` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The certificate to revoke is already revoked (nothing changed).
    #[error("certificate {serial} is already revoked")]
    AlreadyRevoked {
        /// Its serial, lower-case hex.
        serial: String,
    },
    /// A certificate signing request was refused: unparsable, a bad signature, a weak key.
    #[error("CSR: {0}")]
    Csr(String),
    /// The database could not be opened, read or written (corrupt, locked, wrong schema).
    #[error("database {}: {message}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// `Ca::init` refuses a directory that already holds a CA.
    #[error("{} already holds a CA (ca.json exists); refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    /// An argument was refused (app id, install id, validity, …).
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file could not be used: unparsable, encrypted without a passphrase, wrong
    /// passphrase, not the key of its certificate.
    #[error("key {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A CA key file is readable by its group or by others.
    #[error(
        "key {}: mode {mode:04o} lets group or others read a CA key; run `chmod 600` on it",
        path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A PKCS#12 file could not be written or read (a wrong password reads as this).
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
    /// A file of the CA directory is not what it should be.
    #[error("{}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Signing failed (the signer refused, or rcgen could not encode the input).
    #[error("signing: {0}")]
    Signing(String),
    /// No issued certificate matches (revoke of an unknown serial or fingerprint).
    #[error("no issued certificate has {0}")]
    UnknownCertificate(String),
    /// The requested algorithm is not available in this build.
    #[error("{0}")]
    Unsupported(String),
}

impl IssueError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn signing(error: impl std::fmt::Display) -> Self {
        Self::Signing(error.to_string())
    }
}
