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
    #[error("the chain does not lead to a trusted issuer: {detail}")]
    UnknownIssuer {
        /// What was presented and what was missing (for example a leaf sent without its
        /// intermediate).
        detail: String,
    },
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
    /// A trusted proxy's forwarded-certificate header does not parse (or is over its limits).
    #[error("malformed forwarded certificate: {detail}")]
    MalformedForwardedCertificate {
        /// What the parser said.
        detail: String,
    },
    /// A trusted proxy's forwarded-certificate header contradicts itself (the XFCC `Hash` is
    /// not the SHA-256 of the forwarded leaf).
    #[error("forwarded certificate mismatch: {detail}")]
    ForwardedMismatch {
        /// What disagrees.
        detail: String,
    },
    /// A genuine certificate came through a TLS stack whose fingerprint (JA4) is not on its
    /// app's `tls_fingerprints.allow` list (or no fingerprint was captured). A bot signal:
    /// observed by default (see [`Rejection::OBSERVED_BY_DEFAULT`]).
    #[error("TLS fingerprint {ja4} is not allowed for this app")]
    TlsFingerprintMismatch {
        /// The client's JA4 (`none` when none was captured), at most 64 bytes.
        ja4: String,
    },
    /// A per-install certificate is used from more client addresses (or networks), or on
    /// more concurrent connections, than one device would. A bot signal: observed by default.
    #[error(
        "per-install certificate seen from {addresses} addresses on {connections} connections: cloning suspected"
    )]
    CertCloningSuspected {
        /// Distinct client addresses (or networks) within the window, as counted (capped).
        addresses: u32,
        /// Concurrent connections presenting it.
        connections: u32,
    },
    /// The client address is quarantined after too many refused verdicts: refused before any
    /// certificate work, `429` with `Retry-After`. A bot signal: observed by default.
    #[error("the client address is quarantined for {retry_after_seconds} more seconds")]
    Quarantined {
        /// Seconds until the quarantine ends (at least 1): the `Retry-After` value.
        retry_after_seconds: u64,
    },
    /// A certificate, or an app (all its certificates together), made more requests in the
    /// current window than `[signals.rate]` allows: `429` with `Retry-After`. A bot signal:
    /// observed by default.
    #[error(
        "over the {scope} request-rate ceiling of {limit} per window; retry in {retry_after_seconds} seconds"
    )]
    RateLimited {
        /// `certificate` or `app`: which ceiling.
        scope: &'static str,
        /// The ceiling, in requests per window.
        limit: u32,
        /// Seconds until the window ends (at least 1): the `Retry-After` value.
        retry_after_seconds: u64,
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
        "malformed_forwarded_certificate",
        "forwarded_mismatch",
        "tls_fingerprint_mismatch",
        "cert_cloning_suspected",
        "quarantined",
        "rate_limited",
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
        "malformed_forwarded_certificate",
        "forwarded_mismatch",
    ];

    /// Codes whose built-in mode is observe: switching on the check that gives them refuses
    /// no one until the operator enforces them (`[modes] enforce = [...]`): the bot signals.
    ///
    /// They are not [`Rejection::UNAUTHENTICATED_CODES`]: a signal never accepts a chain, it
    /// only adds a refusal on top of the chain's own verdict (`tls_fingerprint_mismatch` and
    /// `cert_cloning_suspected` and `rate_limited` are given to accepted, genuine chains
    /// only; `quarantined` is
    /// about the client address, and a quarantined client that passes in observe mode is then
    /// judged on its certificate as usual). Observing one lets no forged certificate through.
    pub const OBSERVED_BY_DEFAULT: &'static [&'static str] = &[
        "tls_fingerprint_mismatch",
        "cert_cloning_suspected",
        "quarantined",
        "rate_limited",
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
            Self::UnknownIssuer { .. } => "unknown_issuer",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::WrongKeyUsage { .. } => "wrong_key_usage",
            Self::MalformedForwardedCertificate { .. } => "malformed_forwarded_certificate",
            Self::ForwardedMismatch { .. } => "forwarded_mismatch",
            Self::TlsFingerprintMismatch { .. } => "tls_fingerprint_mismatch",
            Self::CertCloningSuspected { .. } => "cert_cloning_suspected",
            Self::Quarantined { .. } => "quarantined",
            Self::RateLimited { .. } => "rate_limited",
        }
    }

    /// The HTTP status for this rejection: 401 when no certificate was presented, 429 for
    /// `quarantined` and `rate_limited` (with `Retry-After`), 403 otherwise.
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
            | Self::UnknownIssuer { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::WrongKeyUsage { .. }
            | Self::MalformedForwardedCertificate { .. }
            | Self::ForwardedMismatch { .. }
            | Self::TlsFingerprintMismatch { .. }
            | Self::CertCloningSuspected { .. } => http::StatusCode::FORBIDDEN,
            Self::Quarantined { .. } | Self::RateLimited { .. } => {
                http::StatusCode::TOO_MANY_REQUESTS
            }
        }
    }

    /// Maps a rustls-webpki error met while validating the leaf at `role`.
    ///
    /// webpki's error is `#[non_exhaustive]`: anything not named here refuses with
    /// `invalid_chain`, never accepts. Details are sentences certgate writes: nothing of the
    /// upstream error's `Debug` output (which can carry the peer's bytes) reaches them.
    pub(crate) fn from_webpki(err: webpki::Error, role: CertRole) -> Self {
        use webpki::Error as E;
        let malformed = |what: &str| Self::MalformedCertificate {
            detail: format!("a presented certificate {what}"),
        };
        match err {
            E::BadDer => malformed("is not valid DER"),
            E::BadDerTime => malformed("has a validity time that is not valid DER"),
            E::TrailingData(_) => malformed("has data after the end of a DER structure"),
            E::MalformedExtensions => malformed("has malformed or duplicated extensions"),
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
            E::UnknownIssuer => Self::UnknownIssuer {
                detail: "no presented or configured certificate leads to a trust anchor".into(),
            },
            E::RequiredEkuNotFoundContext(cx) => Self::WrongKeyUsage {
                detail: format!(
                    "a certificate's extendedKeyUsage has {}, not {}",
                    describe_ekus(&cx.present),
                    purpose_name(&cx.required.oid_values().collect::<Vec<_>>())
                ),
            },
            E::EmptyEkuExtension => Self::WrongKeyUsage {
                detail: "a certificate has an empty extendedKeyUsage extension".into(),
            },
            E::CertNotValidForName(_) => Self::NameMismatch,
            E::MaximumSignatureChecksExceeded
            | E::MaximumPathBuildCallsExceeded
            | E::MaximumPathDepthExceeded
            | E::MaximumNameConstraintComparisonsExceeded => Self::PathBudgetExceeded,
            E::UnsupportedSignatureAlgorithmContext(cx) => Self::UnsupportedAlgorithm {
                detail: format!(
                    "the signature algorithm {} is not supported",
                    describe_algorithm(&cx.signature_algorithm_id)
                ),
            },
            E::UnsupportedSignatureAlgorithmForPublicKeyContext(cx) => Self::UnsupportedAlgorithm {
                detail: format!(
                    "the signature algorithm {} is not supported for a {} key",
                    describe_algorithm(&cx.signature_algorithm_id),
                    describe_algorithm(&cx.public_key_algorithm_id)
                ),
            },
            other => Self::InvalidChain {
                detail: webpki_sentence(&other).into(),
            },
        }
    }

    /// Whether this code can be given to a chain that was never shown to reach a trust anchor
    /// (see [`Rejection::UNAUTHENTICATED_CODES`]).
    pub fn is_unauthenticated(&self) -> bool {
        Self::UNAUTHENTICATED_CODES.contains(&self.code())
    }
}

impl Rejection {
    /// Longest human text of a rejection (its `Display`, the `detail` of problem+json bodies
    /// and events), in bytes.
    pub const MAX_DETAIL: usize = 256;
}

/// Longest free-text part of a rejection, in bytes: with the fixed words around it, the
/// `Display` stays within [`Rejection::MAX_DETAIL`].
const MAX_FIELD: usize = 192;

/// `text` made safe for logs and headers and bounded: control and non-ASCII characters
/// escaped, at most [`MAX_FIELD`] bytes (cut on a character boundary, marked with `…`).
pub(crate) fn bounded(text: &str) -> String {
    bounded_to(text, MAX_FIELD)
}

/// [`bounded`] to `max` bytes.
pub(crate) fn bounded_to(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        let piece: String = if c.is_ascii_graphic() || c == ' ' {
            c.into()
        } else {
            c.escape_default().collect()
        };
        if out.len().saturating_add(piece.len()) > max.saturating_sub(3) {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// Names of the well-known extended key usages, by OID arcs.
fn purpose_name(oid: &[usize]) -> String {
    match oid {
        [1, 3, 6, 1, 5, 5, 7, 3, 1] => "serverAuth".into(),
        [1, 3, 6, 1, 5, 5, 7, 3, 2] => "clientAuth".into(),
        [1, 3, 6, 1, 5, 5, 7, 3, 3] => "codeSigning".into(),
        [1, 3, 6, 1, 5, 5, 7, 3, 4] => "emailProtection".into(),
        [1, 3, 6, 1, 5, 5, 7, 3, 8] => "timeStamping".into(),
        [1, 3, 6, 1, 5, 5, 7, 3, 9] => "OCSPSigning".into(),
        [2, 5, 29, 37, 0] => "anyExtendedKeyUsage".into(),
        arcs => {
            let dotted: Vec<String> = arcs.iter().take(16).map(usize::to_string).collect();
            bounded_to(&dotted.join("."), 48)
        }
    }
}

/// At most four purposes by name, then a count.
fn describe_ekus(present: &[Vec<usize>]) -> String {
    if present.is_empty() {
        return "no usage".into();
    }
    let mut names: Vec<String> = present.iter().take(4).map(|p| purpose_name(p)).collect();
    if present.len() > 4 {
        names.push(format!("{} more", present.len().saturating_sub(4)));
    }
    names.join(", ")
}

/// An AlgorithmIdentifier's contents (OID and parameters, as webpki reports them): the
/// algorithm's name when it is a known one, else its OID when short, else its size.
fn describe_algorithm(id: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
            "ecdsa-with-SHA256",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
            "ecdsa-with-SHA384",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
            "ecdsa-with-SHA512",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01],
            "ecdsa-with-SHA224",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
            "ecdsa-with-SHA1",
        ),
        (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01], "EC"),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            "RSA",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
            "sha1WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            "sha256WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
            "sha384WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
            "sha512WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
            "RSASSA-PSS",
        ),
        (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "DSA"),
        (&[0x2b, 0x65, 0x70], "Ed25519"),
        (&[0x2b, 0x65, 0x71], "Ed448"),
    ];
    // The contents start with the OID's TLV: tag 6, a short length, the arcs.
    let oid = match id {
        [0x06, len, rest @ ..] if usize::from(*len) <= rest.len() && *len < 0x80 => {
            rest.get(..usize::from(*len))
        }
        _ => None,
    };
    let Some(oid) = oid else {
        return format!("(an unreadable identifier of {} bytes)", id.len());
    };
    let name = match KNOWN.iter().find(|(k, _)| *k == oid) {
        Some((_, name)) => (*name).to_owned(),
        None => match dotted_oid(oid) {
            Some(dotted) if dotted.len() <= 64 => format!("with OID {dotted}"),
            _ => format!("(an OID of {} bytes)", oid.len()),
        },
    };
    // The OID's TLV is two bytes of header plus the OID; anything after it is parameters.
    let params = id.get(oid.len().saturating_add(2)..).unwrap_or_default();
    match params {
        [] | [0x05, 0x00] => name,
        params => format!("{name} with {} bytes of parameters", params.len()),
    }
}

/// The dotted form of an OID's content bytes, or `None` when they are not a valid OID.
fn dotted_oid(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, byte) in oid.iter().enumerate() {
        if value == 0 && *byte == 0x80 {
            return None;
        }
        value = value
            .checked_mul(128)?
            .checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value.checked_sub(first.checked_mul(40)?)?);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i.saturating_add(1) == oid.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// A sentence for each rustls-webpki error that has no code of its own.
fn webpki_sentence(err: &webpki::Error) -> &'static str {
    use webpki::Error as E;
    match err {
        E::CaUsedAsEndEntity => "a CA certificate was presented as the leaf",
        E::EndEntityUsedAsCa => "an end-entity certificate was used as an issuer",
        E::CertDistrusted => "a certificate on the path is distrusted",
        E::ExtensionValueInvalid => "a certificate has an extension with an invalid value",
        E::InvalidCertValidity => "a certificate's notBefore is after its notAfter",
        E::InvalidSerialNumber => "a certificate has an invalid serial number",
        E::MalformedDnsIdentifier => "a certificate has a malformed DNS name",
        E::MalformedNameConstraint => "a certificate has malformed name constraints",
        E::NameConstraintViolation => "a certificate violates its issuer's name constraints",
        E::PathLenConstraintViolated => "the path is longer than a CA's pathLenConstraint allows",
        E::SignatureAlgorithmMismatch => {
            "a certificate's inner and outer signature algorithms differ"
        }
        E::UnknownRevocationStatus => "the revocation status of a certificate is unknown",
        E::UnsupportedCertVersion => "a certificate is not X.509 version 3",
        E::UnsupportedCriticalExtension => {
            "a certificate has a critical extension that is not supported"
        }
        E::UnsupportedNameType => "a certificate has a name of an unsupported type",
        E::InvalidNetworkMaskConstraint => "a certificate has an invalid IP address constraint",
        _ => "rustls-webpki refused the chain for a reason without a certgate code",
    }
}

/// Every failing code of one chain: the primary [`Rejection`] first (the one the checks meet
/// first, which [`Verifier::verify`](crate::Verifier::verify) returns), then the others, one
/// per code.
///
/// Once a chain is proven genuine (its signatures lead to a trust anchor), certgate runs every
/// check (the validity of each certificate, revocation, the profile, key usage, pins, app
/// identity and allowlist) and lists each code that fails, so a gate that observes some codes
/// lets the chain through only when every one of its codes is observed. A chain that is not
/// proven genuine has exactly one code (it may also be `denylisted`, first).
///
/// ```
/// # fn show(verifier: &certgate::Verifier, chain: &certgate::PeerChain) {
/// if let Err(all) = verifier.verify_all(chain, rustls_pki_types::UnixTime::now()) {
///     println!("refused {}: all codes {:?}", all.primary().code(), all.codes().collect::<Vec<_>>());
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejections {
    primary: Rejection,
    rest: Vec<Rejection>,
}

impl Rejections {
    /// One rejection.
    pub fn new(primary: Rejection) -> Self {
        Self {
            primary: primary.bound(),
            rest: Vec::new(),
        }
    }

    /// Adds `rejection` unless its code is listed already.
    pub(crate) fn push(&mut self, rejection: Rejection) {
        if !self.contains(rejection.code()) {
            self.rest.push(rejection.bound());
        }
    }

    /// The first failing check's rejection.
    pub fn primary(&self) -> &Rejection {
        &self.primary
    }

    /// Every rejection, primary first.
    pub fn iter(&self) -> impl Iterator<Item = &Rejection> {
        std::iter::once(&self.primary).chain(&self.rest)
    }

    /// Every failing code, primary first, each once.
    pub fn codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(Rejection::code)
    }

    /// Whether `code` is one of the failing codes.
    pub fn contains(&self, code: &str) -> bool {
        self.iter().any(|r| r.code() == code)
    }

    /// How many codes fail (at least one).
    pub fn len(&self) -> usize {
        self.rest.len().saturating_add(1)
    }

    /// Always `false`: there is at least the primary rejection.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The primary rejection.
    pub fn into_primary(self) -> Rejection {
        self.primary
    }

    /// Heap bytes held (for the verdict cache's weigher).
    pub(crate) fn heap_bytes(&self) -> usize {
        let own = self
            .rest
            .capacity()
            .saturating_mul(std::mem::size_of::<Rejection>());
        self.iter()
            .map(Rejection::heap_bytes)
            .fold(own, usize::saturating_add)
    }
}

impl From<Rejection> for Rejections {
    fn from(rejection: Rejection) -> Self {
        Self::new(rejection)
    }
}

impl std::fmt::Display for Rejections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.primary, f)?;
        if !self.rest.is_empty() {
            let others: Vec<&str> = self.rest.iter().map(Rejection::code).collect();
            write!(f, " (also: {})", others.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejections {}

impl Rejection {
    /// Heap bytes held by the detail strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Self::AppNotAllowed { app: detail }
            | Self::InvalidChain { detail }
            | Self::MalformedCertificate { detail }
            | Self::NoAppId { detail }
            | Self::PinMismatch { detail }
            | Self::ProfileViolation { detail, .. }
            | Self::RevocationUnknown { detail, .. }
            | Self::UnknownIssuer { detail }
            | Self::UnsupportedAlgorithm { detail }
            | Self::WrongKeyUsage { detail }
            | Self::MalformedForwardedCertificate { detail }
            | Self::ForwardedMismatch { detail }
            | Self::TlsFingerprintMismatch { ja4: detail } => detail.capacity(),
            _ => 0,
        }
    }

    /// The same rejection with every detail passed through [`bounded`] (and the app id to 128
    /// bytes), so that no detail, and no `Display`, is attacker-sized.
    pub(crate) fn bound(self) -> Self {
        fn b(detail: String) -> String {
            if detail.len() <= MAX_FIELD
                && detail
                    .chars()
                    .all(|c| c.is_ascii_graphic() || c == ' ' || c == '…')
            {
                detail
            } else {
                bounded(&detail)
            }
        }
        match self {
            Self::AppNotAllowed { app } => Self::AppNotAllowed {
                app: bounded_to(&app, 128),
            },
            Self::InvalidChain { detail } => Self::InvalidChain { detail: b(detail) },
            Self::MalformedCertificate { detail } => {
                Self::MalformedCertificate { detail: b(detail) }
            }
            Self::NoAppId { detail } => Self::NoAppId { detail: b(detail) },
            Self::PinMismatch { detail } => Self::PinMismatch { detail: b(detail) },
            Self::ProfileViolation { rule, role, detail } => Self::ProfileViolation {
                rule,
                role,
                detail: b(detail),
            },
            Self::RevocationUnknown { role, detail } => Self::RevocationUnknown {
                role,
                detail: b(detail),
            },
            Self::UnknownIssuer { detail } => Self::UnknownIssuer { detail: b(detail) },
            Self::UnsupportedAlgorithm { detail } => {
                Self::UnsupportedAlgorithm { detail: b(detail) }
            }
            Self::WrongKeyUsage { detail } => Self::WrongKeyUsage { detail: b(detail) },
            Self::MalformedForwardedCertificate { detail } => {
                Self::MalformedForwardedCertificate { detail: b(detail) }
            }
            Self::ForwardedMismatch { detail } => Self::ForwardedMismatch { detail: b(detail) },
            Self::TlsFingerprintMismatch { ja4 } => Self::TlsFingerprintMismatch {
                ja4: bounded_to(&ja4, 64),
            },
            other => other,
        }
    }
}

/// The `'static` code equal to `code`, or a message listing the known ones.
pub(crate) fn known_code(code: &str) -> Result<&'static str, String> {
    Rejection::CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown reason code {:?} (known: {})",
                bounded_to(code, 64),
                Rejection::CODES.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_escapes_and_truncates_on_a_character_boundary() {
        assert_eq!(bounded("CN=shop"), "CN=shop");
        assert_eq!(bounded("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        let long = "é".repeat(500);
        let out = bounded(&long);
        assert!(out.len() <= MAX_FIELD, "{}", out.len());
        assert!(out.ends_with('…'));
        let out = bounded_to(&"x".repeat(1000), 10);
        assert_eq!(out, "xxxxxxx…");
    }

    #[test]
    fn algorithms_are_named_not_dumped() {
        let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        assert_eq!(describe_algorithm(&p256), "ecdsa-with-SHA256");
        let mut with_params = p256.to_vec();
        with_params.extend([0x04, 0x82, 0x38, 0x00]);
        with_params.extend(std::iter::repeat_n(0u8, 0x3800));
        assert_eq!(
            describe_algorithm(&with_params),
            "ecdsa-with-SHA256 with 14340 bytes of parameters"
        );
        let rsa = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
        ];
        assert_eq!(describe_algorithm(&rsa), "sha256WithRSAEncryption");
        assert_eq!(
            describe_algorithm(&[0x06, 0x03, 0x2b, 0x06, 0x01]),
            "with OID 1.3.6.1"
        );
        assert_eq!(
            describe_algorithm(&[0x30, 0x00]),
            "(an unreadable identifier of 2 bytes)"
        );
        let long_oid: Vec<u8> = [0x06, 0x7f, 0x2b]
            .into_iter()
            .chain(std::iter::repeat_n(0x01, 0x7e))
            .collect();
        assert_eq!(describe_algorithm(&long_oid), "(an OID of 127 bytes)");
    }

    #[test]
    fn eku_details_name_the_purposes() {
        let server = vec![1, 3, 6, 1, 5, 5, 7, 3, 1];
        assert_eq!(describe_ekus(std::slice::from_ref(&server)), "serverAuth");
        let many: Vec<Vec<usize>> = (0..100).map(|i| vec![1, 2, i]).collect();
        assert_eq!(describe_ekus(&many), "1.2.0, 1.2.1, 1.2.2, 1.2.3, 96 more");
    }
}
