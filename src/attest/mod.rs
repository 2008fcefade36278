//! The attestation verifiers and the enrollment policy (feature `enroll`), pure: public as
//! [`certgate::enroll`](crate::enroll). A module of its own, below `policy` (which carries the
//! `[enroll]` settings) and below the enrollment router (which uses the gate), so the crate's
//! modules import each other in one direction only.

pub mod android;
pub mod apple;
mod cbor;
mod error;
pub(crate) mod policy;

pub use self::error::EnrollRejection;
pub use self::policy::{
    AppEvidence, DEFAULT_CERTIFICATE_DAYS, DEFAULT_CHALLENGE_TTL_SECONDS, EnrollPolicy,
    MAX_CERTIFICATE_DAYS, MAX_CHALLENGE_TTL_SECONDS,
};
