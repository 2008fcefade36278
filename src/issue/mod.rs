//! Certificate lifecycle (feature `issue`): a CA on disk, app certificates as PEM and PKCS#12,
//! revocation and CRLs, over an embedded SQLite database of issued certificates.
//!
//! A CA directory holds:
//!
//! | file | what |
//! | --- | --- |
//! | `root.pem`, `root.key` | the self-signed root and its PKCS#8 key (mode 0600) |
//! | `intermediate.pem`, `intermediate.key` | the issuing intermediate (pathlen 0) and its key |
//! | `ca.json` | algorithm, name, CRL URL, CRL lifetime |
//! | `certgate.db` | the SQLite database of issued certificates and CRL numbers |
//! | `intermediate.crl.pem`, `root.crl.pem` | the CRLs, re-signed by every revocation |
//! | `policy.toml` | a starter certgate policy for this CA |
//!
//! ```no_run
//! # fn main() -> Result<(), certgate::issue::IssueError> {
//! use certgate::issue::{Ca, CaConfig, IssueRequest, P12Format, RevocationReason, RevokeTarget};
//!
//! let mut ca = Ca::init("ca", &CaConfig::new("Example Apps"))?;
//! let issued = ca.issue(&IssueRequest::new("com.example.shop")?)?;
//! let p12 = issued.to_pkcs12("app password", P12Format::Modern)?;
//! # let _ = p12;
//! ca.revoke(&RevokeTarget::Serial(issued.record().serial.clone()), RevocationReason::KeyCompromise)?;
//! # Ok(()) }
//! ```

mod ca;
mod csr;
mod error;
mod files;
mod keys;
mod p12;
mod store;

pub use self::ca::{
    Ca, CaConfig, CrlReport, DEFAULT_CRL_NEXT_UPDATE, DEFAULT_VALIDITY, IssueRequest, Issued,
    RevokeTarget, Revoked, RevokedInstall, SubjectKey,
};
pub use self::csr::{Csr, MAX_CSR_BYTES, MAX_RSA_BITS, MIN_RSA_BITS, PublicKey};
pub use self::error::IssueError;
pub use self::keys::{Algorithm, KeySigner, SignError, Signer};
pub use self::p12::{LEGACY_ITERATIONS, MODERN_ITERATIONS, P12Format, Pkcs12Contents, read_pkcs12};
pub use self::store::{CertRecord, InstallRecord, ListFilter, RevocationReason, Store};
