//! Why a peer was refused: one enum, stable reason codes.

use rustls_pki_types::UnixTime;

/// Which certificate of a validated path a rejection is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertRole {
    /// The trust anchor the path ends in.
    Anchor,
    /// A CA certificate between the leaf and the anchor.
    Intermediate,
    /// The end-entity (app) certificate.
    Leaf,
}

impl CertRole {
    /// A lower-case word for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anchor => "trust anchor",
            Self::Intermediate => "intermediate",
            Self::Leaf => "leaf",
        }
    }
}

/// Why a peer was refused.
///
/// [`Rejection::code`] is a public contract shared by HTTP bodies, events, metrics and the CLI:
/// variants and codes are added, never renamed. `Display` is for humans and may change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The leaf names an app that the policy does not allow.
    #[error("app {app:?} is not allowed")]
    AppNotAllowed {
        /// The app identifier found in the leaf certificate.
        app: String,
    },
    /// A signature on the path does not verify under its issuer's key.
    #[error("a certificate signature does not verify")]
    BadSignature,
    /// One presented certificate is larger than [`Limits::max_cert_bytes`](crate::Limits).
    #[error("a presented certificate is {bytes} bytes, over the limit of {max}")]
    CertificateTooLarge {
        /// Size of the offending certificate.
        bytes: usize,
        /// The configured ceiling.
        max: usize,
    },
    /// The presented chain as a whole is larger than [`Limits::max_chain_bytes`](crate::Limits).
    #[error("the presented chain is {bytes} bytes, over the limit of {max}")]
    ChainTooLarge {
        /// Total size of the presented chain.
        bytes: usize,
        /// The configured ceiling.
        max: usize,
    },
    /// The peer presented more certificates than [`Limits::max_chain_len`](crate::Limits).
    #[error("the peer presented {len} certificates, over the limit of {max}")]
    ChainTooLong {
        /// Number of presented certificates.
        len: usize,
        /// The configured ceiling.
        max: usize,
    },
    /// The CRL covering a certificate on the path is past its nextUpdate (and no grace applies).
    #[error("the CRL for the {} expired at {} (now {})", .role.as_str(), crate::rfc3339(*.next_update), crate::rfc3339(*.now))]
    CrlExpired {
        /// The certificate whose status the CRL was to give.
        role: CertRole,
        /// The CRL's nextUpdate.
        next_update: UnixTime,
        /// The time the check was made for.
        now: UnixTime,
    },
    /// The leaf's SHA-256 fingerprint is on the policy's denylist.
    #[error("the certificate is denylisted")]
    Denylisted,
    /// A certificate on the path is past its notAfter.
    #[error("the {} certificate expired at {} (now {})", .role.as_str(), crate::rfc3339(*.not_after), crate::rfc3339(*.now))]
    Expired {
        /// Which certificate expired.
        role: CertRole,
        /// Its notAfter.
        not_after: UnixTime,
        /// The time the check was made for.
        now: UnixTime,
    },
    /// The chain failed for a reason without a more specific code (see the detail).
    #[error("invalid chain: {detail}")]
    InvalidChain {
        /// What went wrong, for humans.
        detail: String,
    },
    /// A presented certificate could not be parsed.
    #[error("malformed certificate: {detail}")]
    MalformedCertificate {
        /// What the parser said.
        detail: String,
    },
    /// The certificate is not valid for the server name that was asked for (server usage only).
    #[error("the certificate is not valid for the requested name")]
    NameMismatch,
    /// The policy requires an app identity and the leaf carries none (or more than one).
    #[error("no app id: {detail}")]
    NoAppId {
        /// What was missing or ambiguous.
        detail: String,
    },
    /// The peer presented no certificate.
    #[error("no client certificate was presented")]
    NoCertificate,
    /// A certificate on the path is not valid yet.
    #[error("the {} certificate is not valid before {} (now {})", .role.as_str(), crate::rfc3339(*.not_before), crate::rfc3339(*.now))]
    NotYetValid {
        /// Which certificate.
        role: CertRole,
        /// Its notBefore.
        not_before: UnixTime,
        /// The time the check was made for.
        now: UnixTime,
    },
    /// Path building ran out of budget (too many candidate paths or signature checks).
    #[error("path building exceeded its budget")]
    PathBudgetExceeded,
    /// No configured pin (SPKI pin or leaf fingerprint) matches the validated path.
    #[error("no pin matches: {detail}")]
    PinMismatch {
        /// Which pin set was consulted.
        detail: String,
    },
    /// A certificate or CRL breaks the strict RFC 5280 profile certgate enforces on top of
    /// rustls-webpki.
    #[error("profile violation ({rule}) in the {}: {detail}", .role.as_str())]
    ProfileViolation {
        /// Stable name of the rule, for example `aki_missing`.
        rule: &'static str,
        /// The certificate the rule was checked on.
        role: CertRole,
        /// Human detail.
        detail: String,
    },
    /// No usable CRL gives the revocation status of a certificate, and the policy denies that.
    #[error("revocation status of the {} is unknown: {detail}", .role.as_str())]
    RevocationUnknown {
        /// The certificate whose status is unknown.
        role: CertRole,
        /// Why no CRL could answer.
        detail: String,
    },
    /// A certificate on the path is listed in its issuer's CRL.
    #[error("the {} certificate is revoked", .role.as_str())]
    Revoked {
        /// Which certificate is revoked.
        role: CertRole,
    },
    /// The path ends in no configured trust anchor.
    #[error("the chain does not lead to a trusted issuer")]
    UnknownIssuer,
    /// A signature or key algorithm on the path is not supported by the configured provider.
    #[error("unsupported algorithm: {detail}")]
    UnsupportedAlgorithm {
        /// What was not supported.
        detail: String,
    },
    /// The leaf's extended key usage does not allow this use (for example no clientAuth).
    #[error("wrong key usage: {detail}")]
    WrongKeyUsage {
        /// What was found instead.
        detail: String,
    },
}

impl Rejection {
    /// Every reason code, in the order they were added. Append-only.
    pub const CODES: &'static [&'static str] = &[
        "no_certificate",
        "malformed_certificate",
        "unknown_issuer",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "revoked",
        "revocation_unknown",
        "crl_expired",
        "wrong_key_usage",
        "profile_violation",
        "app_not_allowed",
        "pin_mismatch",
        "denylisted",
        "chain_too_long",
        "certificate_too_large",
        "invalid_chain",
        "chain_too_large",
        "path_budget_exceeded",
        "no_app_id",
        "name_mismatch",
        "unsupported_algorithm",
    ];

    /// The codes decided before the chain is shown to reach a trust anchor: any client gets
    /// one at will with a certificate it made itself. Every other code is only given to a
    /// genuine chain (or, for `denylisted`, the exact certificate listed), so observing it
    /// lets through only genuine certificates with that one problem; observing one of these
    /// would let every forged certificate through. [`GateBuilder::mode_for`] refuses to make
    /// them `Observe` under an enforcing gate.
    ///
    /// [`GateBuilder::mode_for`]: crate::GateBuilder::mode_for
    pub const UNAUTHENTICATED_CODES: &'static [&'static str] = &[
        "malformed_certificate",
        "unknown_issuer",
        "bad_signature",
        "chain_too_long",
        "certificate_too_large",
        "invalid_chain",
        "chain_too_large",
        "path_budget_exceeded",
        "unsupported_algorithm",
    ];

    /// Stable snake_case reason code shared by HTTP bodies, events, metrics and the CLI.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::AppNotAllowed { .. } => "app_not_allowed",
            Self::BadSignature => "bad_signature",
            Self::CertificateTooLarge { .. } => "certificate_too_large",
            Self::ChainTooLarge { .. } => "chain_too_large",
            Self::ChainTooLong { .. } => "chain_too_long",
            Self::CrlExpired { .. } => "crl_expired",
            Self::Denylisted => "denylisted",
            Self::Expired { .. } => "expired",
            Self::InvalidChain { .. } => "invalid_chain",
            Self::MalformedCertificate { .. } => "malformed_certificate",
            Self::NameMismatch => "name_mismatch",
            Self::NoAppId { .. } => "no_app_id",
            Self::NoCertificate => "no_certificate",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::PathBudgetExceeded => "path_budget_exceeded",
            Self::PinMismatch { .. } => "pin_mismatch",
            Self::ProfileViolation { .. } => "profile_violation",
            Self::RevocationUnknown { .. } => "revocation_unknown",
            Self::Revoked { .. } => "revoked",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::WrongKeyUsage { .. } => "wrong_key_usage",
        }
    }

    /// The HTTP status for this rejection: 401 when no certificate was presented, 403 otherwise.
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            Self::NoCertificate => http::StatusCode::UNAUTHORIZED,
            Self::AppNotAllowed { .. }
            | Self::BadSignature
            | Self::CertificateTooLarge { .. }
            | Self::ChainTooLarge { .. }
            | Self::ChainTooLong { .. }
            | Self::CrlExpired { .. }
            | Self::Denylisted
            | Self::Expired { .. }
            | Self::InvalidChain { .. }
            | Self::MalformedCertificate { .. }
            | Self::NameMismatch
            | Self::NoAppId { .. }
            | Self::NotYetValid { .. }
            | Self::PathBudgetExceeded
            | Self::PinMismatch { .. }
            | Self::ProfileViolation { .. }
            | Self::RevocationUnknown { .. }
            | Self::Revoked { .. }
            | Self::UnknownIssuer
            | Self::UnsupportedAlgorithm { .. }
            | Self::WrongKeyUsage { .. } => http::StatusCode::FORBIDDEN,
        }
    }

    /// Maps a rustls-webpki error met while validating the leaf at `role`.
    ///
    /// webpki's error is `#[non_exhaustive]`: anything not named here refuses with
    /// `invalid_chain`, never accepts.
    pub(crate) fn from_webpki(err: webpki::Error, role: CertRole) -> Self {
        use webpki::Error as E;
        match err {
            E::BadDer | E::BadDerTime | E::TrailingData(_) | E::MalformedExtensions => {
                Self::MalformedCertificate {
                    detail: format!("{err:?}"),
                }
            }
            E::CertExpired { time, not_after } => Self::Expired {
                role,
                not_after,
                now: time,
            },
            E::CertNotValidYet { time, not_before } => Self::NotYetValid {
                role,
                not_before,
                now: time,
            },
            E::CertRevoked => Self::Revoked { role },
            E::InvalidSignatureForPublicKey => Self::BadSignature,
            E::UnknownIssuer => Self::UnknownIssuer,
            E::RequiredEkuNotFoundContext(cx) => Self::WrongKeyUsage {
                detail: format!("required EKU not found: {cx:?}"),
            },
            E::EmptyEkuExtension => Self::WrongKeyUsage {
                detail: "empty EKU extension".into(),
            },
            E::CertNotValidForName(_) => Self::NameMismatch,
            E::MaximumSignatureChecksExceeded
            | E::MaximumPathBuildCallsExceeded
            | E::MaximumPathDepthExceeded
            | E::MaximumNameConstraintComparisonsExceeded => Self::PathBudgetExceeded,
            E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                Self::UnsupportedAlgorithm {
                    detail: format!("{err:?}"),
                }
            }
            other => Self::InvalidChain {
                detail: format!("{other:?}"),
            },
        }
    }
}
