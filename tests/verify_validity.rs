//! Validity windows: expired and not-yet-valid leaves, the exact second each boundary falls
//! on (with and without clock skew), and the trust anchor's own window.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use certgate::{CertRole, PeerChain, PeerIdentity, Rejection, Verifier, VerifierBuilder};
use common::{Issued, Leaf, NOW, SHOP, at, pki};
use rustls_pki_types::UnixTime;

/// Serials for leaves issued here: clear of the fixture's `0x100..0x1100`.
const SERIAL: u64 = 0x2_0000;

fn verifier(skew: Duration) -> Verifier {
    VerifierBuilder::new()
        .trust_anchor(pki().root())
        .clock_skew(skew)
        .build()
        .expect("verifier builds")
}

fn verify(verifier: &Verifier, issued: &Issued, now: UnixTime) -> Result<PeerIdentity, Rejection> {
    verifier.verify(&PeerChain::new(issued.chain()), now)
}

fn plus(t: UnixTime, secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(t.as_secs() + secs))
}

fn minus(t: UnixTime, secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(t.as_secs() - secs))
}

/// The window edges of the leaves issued for the boundary tests (both around [`NOW`]).
fn not_before() -> UnixTime {
    at("2026-05-20T12:00:00Z")
}

fn not_after() -> UnixTime {
    at("2026-06-10T12:00:00Z")
}

/// One leaf per test binary, valid exactly `not_before()..=not_after()`.
fn window_leaf() -> &'static Issued {
    static LEAF: std::sync::OnceLock<Issued> = std::sync::OnceLock::new();
    LEAF.get_or_init(|| pki().issue(SHOP, SERIAL, not_before(), not_after()))
}

#[test]
fn expired_leaf() {
    let rejection = verify(&verifier(Duration::ZERO), pki().leaf(Leaf::Expired), NOW).unwrap_err();
    assert_eq!(rejection.code(), "expired");
    assert_eq!(
        rejection,
        Rejection::Expired {
            role: CertRole::Leaf,
            not_after: at("2026-03-01T00:00:00Z"),
            now: NOW,
        }
    );
    assert_eq!(rejection.http_status(), 403);
}

#[test]
fn not_yet_valid_leaf() {
    let rejection = verify(
        &verifier(Duration::ZERO),
        pki().leaf(Leaf::NotYetValid),
        NOW,
    )
    .unwrap_err();
    assert_eq!(rejection.code(), "not_yet_valid");
    assert_eq!(
        rejection,
        Rejection::NotYetValid {
            role: CertRole::Leaf,
            not_before: at("2026-09-01T00:00:00Z"),
            now: NOW,
        }
    );
    // The same leaf is fine once its window opens.
    verify(
        &verifier(Duration::ZERO),
        pki().leaf(Leaf::NotYetValid),
        at("2026-09-01T00:00:00Z"),
    )
    .unwrap();
}

#[test]
fn without_skew_not_after_is_inclusive() {
    let verifier = verifier(Duration::ZERO);
    let leaf = window_leaf();
    let identity = verify(&verifier, leaf, not_after()).unwrap();
    assert_eq!(identity.valid_until(), not_after());

    let rejection = verify(&verifier, leaf, plus(not_after(), 1)).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::Expired {
            role: CertRole::Leaf,
            not_after: not_after(),
            now: plus(not_after(), 1),
        }
    );
}

#[test]
fn without_skew_not_before_is_inclusive() {
    let verifier = verifier(Duration::ZERO);
    let leaf = window_leaf();
    verify(&verifier, leaf, not_before()).unwrap();
    let rejection = verify(&verifier, leaf, minus(not_before(), 1)).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::NotYetValid {
            role: CertRole::Leaf,
            not_before: not_before(),
            now: minus(not_before(), 1),
        }
    );
}

#[test]
fn skew_extends_not_after_by_exactly_the_skew() {
    let verifier = verifier(Duration::from_secs(60));
    let leaf = window_leaf();

    let identity = verify(&verifier, leaf, plus(not_after(), 60)).unwrap();
    assert_eq!(identity.not_after(), not_after());
    // The verdict may be cached until the skewed end of the window, not later.
    assert_eq!(identity.valid_until(), plus(not_after(), 60));

    let rejection = verify(&verifier, leaf, plus(not_after(), 61)).unwrap_err();
    assert_eq!(rejection.code(), "expired");
    assert_eq!(
        rejection,
        Rejection::Expired {
            role: CertRole::Leaf,
            not_after: not_after(),
            now: plus(not_after(), 61),
        }
    );
}

#[test]
fn skew_extends_not_before_by_exactly_the_skew() {
    let verifier = verifier(Duration::from_secs(60));
    let leaf = window_leaf();

    verify(&verifier, leaf, minus(not_before(), 60)).unwrap();

    let rejection = verify(&verifier, leaf, minus(not_before(), 61)).unwrap_err();
    assert_eq!(rejection.code(), "not_yet_valid");
    assert_eq!(
        rejection,
        Rejection::NotYetValid {
            role: CertRole::Leaf,
            not_before: not_before(),
            now: minus(not_before(), 61),
        }
    );
}

#[test]
fn skew_does_not_rescue_the_fixture_leaves() {
    // A day of skew is the most a policy may configure; the fixture's expired and
    // not-yet-valid leaves are months out.
    let verifier = verifier(Duration::from_secs(24 * 3600));
    assert_eq!(
        verify(&verifier, pki().leaf(Leaf::Expired), NOW)
            .unwrap_err()
            .code(),
        "expired"
    );
    assert_eq!(
        verify(&verifier, pki().leaf(Leaf::NotYetValid), NOW)
            .unwrap_err()
            .code(),
        "not_yet_valid"
    );
}

#[test]
fn skew_over_a_day_is_refused_at_build() {
    let err = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .clock_skew(Duration::from_secs(24 * 3600 + 1))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "validity.skew_seconds");
}

fn expired_root_verifier(strict: bool) -> Verifier {
    VerifierBuilder::new()
        .trust_anchor(pki().expired_root())
        .strict_profile(strict)
        .build()
        .expect("an expired root is structurally fine")
}

#[test]
fn expired_anchor_is_refused_with_role_anchor() {
    let chain = PeerChain::new(pki().expired_root_chain());
    let rejection = expired_root_verifier(true).verify(&chain, NOW).unwrap_err();
    assert_eq!(rejection.code(), "expired");
    assert_eq!(
        rejection,
        Rejection::Expired {
            role: CertRole::Anchor,
            not_after: at("2021-01-01T00:00:00Z"),
            now: NOW,
        }
    );
}

#[test]
fn expired_anchor_is_accepted_without_the_strict_profile() {
    // rustls-webpki does not look at a trust anchor's validity; only the strict profile does.
    let chain = PeerChain::new(pki().expired_root_chain());
    let identity = expired_root_verifier(false).verify(&chain, NOW).unwrap();
    assert_eq!(identity.app_id().map(|a| a.as_str()), Some(SHOP));
    assert_eq!(identity.chain_len(), 3);
}

#[test]
fn valid_until_is_the_leaf_not_after_when_the_cas_outlive_it() {
    // Genuine leaf: notAfter 2027-01-01, CAs 2030-01-01.
    let identity = verifier(Duration::ZERO)
        .verify(&PeerChain::new(pki().leaf(Leaf::Genuine).chain()), NOW)
        .unwrap();
    assert_eq!(identity.valid_until(), at("2027-01-01T00:00:00Z"));
}

// ---------------------------------------------------------------------------
// Dates and EKU are only reported for genuine chains

/// A self-signed leaf for [`SHOP`] that no policy trusts, with `eku`, valid 2026-01-01..2027-01-01.
fn self_made_leaf(
    eku: rcgen::ExtendedKeyUsagePurpose,
) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rcgen::{CertificateParams, DnType, IsCa, KeyPair, SanType};
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, SHOP);
    params.subject_alt_names = vec![SanType::URI(format!("app://{SHOP}").try_into().unwrap())];
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![eku];
    let date = |rfc3339: &str| {
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    params.not_before = date("2026-01-01T00:00:00Z");
    params.not_after = date("2027-01-01T00:00:00Z");
    let key = KeyPair::generate().unwrap();
    vec![params.self_signed(&key).unwrap().into()]
}

#[test]
fn a_forged_chain_outside_its_window_is_not_reported_as_expired() {
    // webpki judges a certificate's dates before looking for its issuer. A genuine leaf past
    // its notAfter is `expired`; forged ones at the same instant are what they really are.
    let verifier = verifier(Duration::ZERO);
    let later = at("2027-06-01T00:00:00Z");
    let earlier = at("2025-06-01T00:00:00Z");
    let genuine = pki().leaf(Leaf::Genuine).chain();
    let verify_at = |chain: Vec<_>, now| verifier.verify(&PeerChain::new(chain), now).unwrap_err();

    assert_eq!(verify_at(genuine.clone(), later).code(), "expired");
    assert_eq!(verify_at(genuine, earlier).code(), "not_yet_valid");
    // Same names as the genuine chain, signed by an impostor CA.
    let impostor = pki().leaf(Leaf::ImpostorSameNames).chain();
    assert_eq!(verify_at(impostor.clone(), NOW).code(), "bad_signature");
    assert_eq!(verify_at(impostor.clone(), later).code(), "bad_signature");
    assert_eq!(verify_at(impostor, earlier).code(), "bad_signature");
    // Self-made, from nobody the policy knows.
    let self_made = self_made_leaf(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    assert_eq!(verify_at(self_made.clone(), NOW).code(), "unknown_issuer");
    assert_eq!(verify_at(self_made.clone(), later).code(), "unknown_issuer");
    assert_eq!(verify_at(self_made, earlier).code(), "unknown_issuer");
}

#[test]
fn a_forged_chain_with_the_wrong_eku_is_not_reported_as_wrong_key_usage() {
    let verifier = verifier(Duration::ZERO);
    // The genuine server-EKU leaf: a real chain with the wrong usage.
    let genuine = verifier
        .verify(&PeerChain::new(pki().leaf(Leaf::ServerEku).chain()), NOW)
        .unwrap_err();
    assert_eq!(genuine.code(), "wrong_key_usage");
    // A self-made one: webpki looks at its EKU first, but it is no genuine chain.
    let forged = verifier
        .verify(
            &PeerChain::new(self_made_leaf(rcgen::ExtendedKeyUsagePurpose::ServerAuth)),
            NOW,
        )
        .unwrap_err();
    assert_eq!(forged.code(), "unknown_issuer");
}
