//! The reason-code contract: `Rejection::CODES` is append-only, every variant has exactly one
//! snake_case code from it, HTTP statuses, and the README documents every code.

use std::collections::HashSet;

use certgate::{CertRole, Rejection};
use rustls_pki_types::UnixTime;

/// The codes as released, in order. New codes are appended here and in `Rejection::CODES`;
/// nothing is ever renamed, removed or reordered.
const GOLDEN: [&str; 28] = [
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

/// One value of every variant (the enum is `#[non_exhaustive]`, so a new variant must be
/// added here by hand; `every_code_has_a_variant` fails until it is).
fn one_of_each() -> Vec<Rejection> {
    let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_780_272_000));
    vec![
        Rejection::NoCertificate,
        Rejection::MalformedCertificate { detail: "x".into() },
        Rejection::UnknownIssuer { detail: "x".into() },
        Rejection::BadSignature,
        Rejection::Expired {
            role: CertRole::Leaf,
            not_after: t,
            now: t,
        },
        Rejection::NotYetValid {
            role: CertRole::Intermediate,
            not_before: t,
            now: t,
        },
        Rejection::Revoked {
            role: CertRole::Leaf,
        },
        Rejection::RevocationUnknown {
            role: CertRole::Intermediate,
            detail: "x".into(),
        },
        Rejection::CrlExpired {
            role: CertRole::Leaf,
            next_update: t,
            now: t,
        },
        Rejection::WrongKeyUsage { detail: "x".into() },
        Rejection::ProfileViolation {
            rule: "aki_missing",
            role: CertRole::Anchor,
            detail: "x".into(),
        },
        Rejection::AppNotAllowed { app: "x".into() },
        Rejection::PinMismatch { detail: "x".into() },
        Rejection::Denylisted,
        Rejection::ChainTooLong { len: 5, max: 4 },
        Rejection::CertificateTooLarge { bytes: 2, max: 1 },
        Rejection::InvalidChain { detail: "x".into() },
        Rejection::ChainTooLarge { bytes: 2, max: 1 },
        Rejection::PathBudgetExceeded,
        Rejection::NoAppId { detail: "x".into() },
        Rejection::NameMismatch,
        Rejection::UnsupportedAlgorithm { detail: "x".into() },
        Rejection::MalformedForwardedCertificate { detail: "x".into() },
        Rejection::ForwardedMismatch { detail: "x".into() },
        Rejection::TlsFingerprintMismatch { ja4: "x".into() },
        Rejection::CertCloningSuspected {
            addresses: 4,
            connections: 1,
        },
        Rejection::Quarantined {
            retry_after_seconds: 60,
        },
        Rejection::RateLimited {
            scope: "certificate",
            limit: 20,
            retry_after_seconds: 1,
        },
    ]
}

#[test]
fn codes_are_the_golden_list_in_order() {
    assert_eq!(Rejection::CODES, GOLDEN);
}

#[test]
fn codes_are_unique_and_snake_case() {
    let unique: HashSet<&str> = Rejection::CODES.iter().copied().collect();
    assert_eq!(unique.len(), Rejection::CODES.len(), "duplicate code");
    for code in Rejection::CODES {
        assert!(!code.is_empty());
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code:?} is not snake_case"
        );
        assert!(
            !code.starts_with('_') && !code.ends_with('_') && !code.contains("__"),
            "{code:?} is not snake_case"
        );
    }
}

#[test]
fn every_code_has_a_variant() {
    let codes: Vec<&str> = one_of_each().iter().map(Rejection::code).collect();
    assert_eq!(codes, GOLDEN, "variants in CODES order");
    for rejection in one_of_each() {
        assert!(
            Rejection::CODES.contains(&rejection.code()),
            "{rejection:?} has a code outside CODES"
        );
    }
}

#[test]
fn only_no_certificate_is_401_and_only_quarantined_and_rate_limited_429() {
    for rejection in one_of_each() {
        let status = rejection.http_status();
        if rejection == Rejection::NoCertificate {
            assert_eq!(status, 401);
        } else if ["quarantined", "rate_limited"].contains(&rejection.code()) {
            assert_eq!(status, 429);
        } else {
            assert_eq!(status, 403, "{}", rejection.code());
        }
    }
}

#[test]
fn display_is_human_and_names_the_role() {
    let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_780_272_000));
    let expired = Rejection::Expired {
        role: CertRole::Intermediate,
        not_after: t,
        now: t,
    };
    let text = expired.to_string();
    assert!(text.contains("intermediate"), "{text}");
    assert!(text.contains("2026-06-01T00:00:00Z"), "{text}");
    for rejection in one_of_each() {
        assert!(!rejection.to_string().is_empty(), "{}", rejection.code());
    }
}

#[test]
fn readme_documents_every_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let missing: Vec<&str> = Rejection::CODES
        .iter()
        .copied()
        .filter(|code| {
            let quoted = format!("`{code}`");
            // A table row: a line starting with `|` that names the code in backticks.
            !readme
                .lines()
                .any(|line| line.trim_start().starts_with('|') && line.contains(&quoted))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md has no table row for: {missing:?}"
    );
}
