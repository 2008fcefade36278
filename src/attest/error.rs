//! Why an enrollment was refused: stable reason codes, like [`Rejection`](crate::Rejection)'s.

/// Why an enrollment (or a renewal) was refused.
///
/// [`EnrollRejection::code`] is a public contract: variants and codes are added, never renamed.
/// Each `detail` is a sentence written by certgate, at most [`EnrollRejection::MAX_DETAIL`]
/// bytes, with any text from the evidence escaped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollRejection {
    /// The app (package name and signing certificate, or team and bundle id) is not one the
    /// policy lists for the claimed app id.
    #[error("the attested app is not allowed: {detail}")]
    AppNotAttested {
        /// What did not match.
        detail: String,
    },
    /// The attestation is malformed, does not chain to a configured root, has a bad signature,
    /// is outside its validity, or is otherwise not acceptable evidence.
    #[error("the attestation is invalid: {detail}")]
    AttestationInvalid {
        /// What was wrong.
        detail: String,
    },
    /// A certificate of the attestation chain is REVOKED or SUSPENDED in the attestation
    /// status list.
    #[error("the attestation is revoked: {detail}")]
    AttestationRevoked {
        /// Which certificate, and its status.
        detail: String,
    },
    /// The device's verified boot state is not `verified`, or the bootloader is unlocked,
    /// where the policy requires it.
    #[error("the device's boot state is not verified: {detail}")]
    BootStateUnverified {
        /// The boot state found.
        detail: String,
    },
    /// The challenge is unknown, reused, expired, or not the one the evidence attests.
    #[error("the challenge does not match: {detail}")]
    ChallengeMismatch {
        /// What was wrong with it.
        detail: String,
    },
    /// The request body does not parse (a 400, not an attestation refusal).
    #[error("the enrollment request is malformed: {detail}")]
    MalformedRequest {
        /// What did not parse.
        detail: String,
    },
    /// A renewal presented a certificate that is not an enrolled install's (no install id, no
    /// such install, or not the enrolled key or app).
    #[error("not an enrolled install: {detail}")]
    NotEnrolled {
        /// What was missing.
        detail: String,
    },
    /// The client address sent too many enrollment requests.
    #[error("too many enrollment requests; retry after {retry_after_seconds} s")]
    RateLimited {
        /// Seconds until a request from this address is accepted again.
        retry_after_seconds: u64,
    },
    /// The key's attested security level is below the policy's minimum.
    #[error("the key's security level is too low: {detail}")]
    SecurityLevelTooLow {
        /// The level found and the level required.
        detail: String,
    },
}

impl EnrollRejection {
    /// The longest `detail`, in bytes.
    pub const MAX_DETAIL: usize = 256;

    /// Every code, in the order of the README's table.
    pub const CODES: &'static [&'static str] = &[
        "attestation_invalid",
        "attestation_revoked",
        "challenge_mismatch",
        "app_not_attested",
        "security_level_too_low",
        "boot_state_unverified",
        "malformed_enrollment",
        "enroll_rate_limited",
        "not_enrolled",
    ];

    /// The stable, snake_case reason code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::AppNotAttested { .. } => "app_not_attested",
            Self::AttestationInvalid { .. } => "attestation_invalid",
            Self::AttestationRevoked { .. } => "attestation_revoked",
            Self::BootStateUnverified { .. } => "boot_state_unverified",
            Self::ChallengeMismatch { .. } => "challenge_mismatch",
            Self::MalformedRequest { .. } => "malformed_enrollment",
            Self::NotEnrolled { .. } => "not_enrolled",
            Self::RateLimited { .. } => "enroll_rate_limited",
            Self::SecurityLevelTooLow { .. } => "security_level_too_low",
        }
    }

    /// The HTTP status of the refusal: 400 for a body that does not parse, 429 for the rate
    /// limit, 403 for every attestation and policy refusal.
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::MalformedRequest { .. } => 400,
            Self::RateLimited { .. } => 429,
            _ => 403,
        }
    }

    /// Builds a variant's detail: at most [`Self::MAX_DETAIL`] bytes, cut on a character
    /// boundary, control characters escaped.
    pub(crate) fn detail(text: impl AsRef<str>) -> String {
        let mut out = String::new();
        for c in text.as_ref().chars() {
            let piece: String = if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            };
            if out.len() + piece.len() > Self::MAX_DETAIL {
                break;
            }
            out.push_str(&piece);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_and_mapped() {
        let all = [
            EnrollRejection::AttestationInvalid {
                detail: String::new(),
            },
            EnrollRejection::AttestationRevoked {
                detail: String::new(),
            },
            EnrollRejection::ChallengeMismatch {
                detail: String::new(),
            },
            EnrollRejection::AppNotAttested {
                detail: String::new(),
            },
            EnrollRejection::SecurityLevelTooLow {
                detail: String::new(),
            },
            EnrollRejection::BootStateUnverified {
                detail: String::new(),
            },
            EnrollRejection::MalformedRequest {
                detail: String::new(),
            },
            EnrollRejection::RateLimited {
                retry_after_seconds: 1,
            },
            EnrollRejection::NotEnrolled {
                detail: String::new(),
            },
        ];
        let codes: Vec<_> = all.iter().map(EnrollRejection::code).collect();
        assert_eq!(codes, EnrollRejection::CODES);
        assert_eq!(all[6].http_status(), 400);
        assert_eq!(all[7].http_status(), 429);
        assert!(all[..6].iter().all(|r| r.http_status() == 403));
        assert_eq!(all[8].http_status(), 403);
    }

    #[test]
    fn details_are_bounded_and_escaped() {
        let long = "é\n".repeat(500);
        let detail = EnrollRejection::detail(&long);
        assert!(detail.len() <= EnrollRejection::MAX_DETAIL);
        assert!(!detail.contains('\n'));
        assert!(detail.starts_with("é\\n"));
    }
}
