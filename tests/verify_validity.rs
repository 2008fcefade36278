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
