//! Attested enrollment (feature `enroll`): per-install, hardware-bound app certificates issued
//! only to genuine apps on genuine devices.
//!
//! The verifiers here are pure, like [`Verifier`](crate::Verifier): they take the evidence, the
//! expected challenge, the policy's rule for the app and the time, do no I/O and read no clock.
//!
//! - [`android`]: Android Key Attestation (the attestation certificate chain to Google's roots,
//!   the attestation status list, and the KeyDescription extension).
//! - [`apple`]: Apple App Attest (the CBOR attestation object, its x5c chain to Apple's App
//!   Attestation root, nonce, rpIdHash, counter, aaguid and credential id).
//!
//! Every refusal is an [`EnrollRejection`] with a stable [`code`](EnrollRejection::code).

pub mod challenge;
mod router;

pub use self::router::{EnrollSetupError, Enrollment, EnrollmentBuilder, MAX_BODY_BYTES};
pub use crate::attest::{
    AppEvidence, DEFAULT_CERTIFICATE_DAYS, DEFAULT_CHALLENGE_TTL_SECONDS, EnrollPolicy,
    EnrollRejection, MAX_CERTIFICATE_DAYS, MAX_CHALLENGE_TTL_SECONDS, android, apple,
};
