//! `Gate` and its `VerdictCache`: hits and misses, entry lifetimes (accepts end at the leaf's
//! notAfter and the CRL's nextUpdate, rejections after `negative_ttl`), reloads, per-code modes,
//! the per-connection memo of `check_connection`, and the events a sink receives.

// The helpers below unwrap on fixture data the tests build themselves; clippy.toml's test
// allowances only cover #[test] fns, so allow it for the helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certgate::{
    Action, CacheConfig, ConnectionMemo, EventSink, Gate, GateBuilder, Mode, PeerChain, Policy,
    VerdictEvent, VerifierBuilder,
};
use common::{Leaf, NOW, SHOP, at, pki};
use rustls_pki_types::{CertificateRevocationListDer, UnixTime};

// ---------------------------------------------------------------------------
// helpers

/// An adjustable clock, in seconds since the epoch, starting at [`NOW`].
#[derive(Clone)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(NOW.as_secs())))
    }

    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(self.0.load(Ordering::SeqCst)))
    }

    fn set(&self, time: UnixTime) {
        self.0.store(time.as_secs(), Ordering::SeqCst);
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

fn builder(policy: Policy, clock: &TestClock) -> GateBuilder {
    let clock = clock.clone();
    Gate::builder(policy).clock(move || clock.now())
}

/// Trusts the fixture root; no CRLs (so no revocation checks).
fn policy_without_crls() -> Policy {
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .build()
            .unwrap(),
    )
}

/// Trusts the fixture root with the given intermediate and root CRLs.
fn policy_with_crls(
    intermediate: CertificateRevocationListDer<'static>,
    root: CertificateRevocationListDer<'static>,
) -> Policy {
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(intermediate)
            .crl(root)
            .build()
            .unwrap(),
    )
}

/// The fixture CRLs (valid 2026-05-01..2026-07-01): `Leaf::Revoked` is revoked.
fn fixture_crl_policy() -> Policy {
    policy_with_crls(
        pki().crl(common::Crl::Intermediate),
        pki().crl(common::Crl::Root),
    )
}

/// Fresh CRLs (valid 2026-05-01..2027-06-01) revoking `Leaf::Genuine` (and `Leaf::Revoked`).
fn policy_revoking_genuine() -> Policy {
    let serials = [
        pki().leaf(Leaf::Genuine).serial.clone(),
        pki().leaf(Leaf::Revoked).serial.clone(),
    ];
    policy_with_crls(
        pki().intermediate_crl(
            &serials,
            at("2026-05-01T00:00:00Z"),
            at("2027-06-01T00:00:00Z"),
        ),
        pki().root_crl(&[], at("2026-05-01T00:00:00Z"), at("2027-06-01T00:00:00Z")),
    )
}

fn chain_of(leaf: Leaf) -> PeerChain {
    PeerChain::new(pki().leaf(leaf).chain())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn plus(time: UnixTime, by: Duration) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(time.as_secs() + by.as_secs()))
}

/// Records every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<VerdictEvent>>);

impl Recorder {
    fn take(&self) -> Vec<VerdictEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl EventSink for Recorder {
    fn record(&self, event: &VerdictEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

// ---------------------------------------------------------------------------
// hits and misses

#[test]
fn second_check_of_the_same_chain_is_a_cache_hit() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);

    let first = gate.check(&chain, NOW);
    assert_eq!(first.code(), "accept");
    assert!(!first.is_cached());
    assert!(!first.is_refused());
    assert_eq!(first.generation(), 1);
    assert_eq!(
        first.identity().unwrap().app_id().unwrap().as_str(),
        SHOP,
        "{first:?}"
    );
    let stats = gate.cache_stats();
    assert_eq!((stats.hits, stats.misses), (0, 1));

    let second = gate.check(&chain, NOW);
    assert!(second.is_cached());
    assert_eq!(second.code(), "accept");
    let stats = gate.cache_stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // An equal chain built separately has the same digest, so it hits too.
    let third = gate.check(&chain_of(Leaf::Genuine), NOW);
    assert!(third.is_cached());
    assert_eq!(gate.cache_stats().hits, 2);

    // A different chain is a miss.
    let other = gate.check(&chain_of(Leaf::Second), NOW);
    assert!(!other.is_cached());
    assert_eq!(gate.cache_stats().misses, 2);
}

// ---------------------------------------------------------------------------
// lifetimes of accepts

#[test]
fn accept_expires_at_the_leaf_not_after_not_the_ttl() {
    let mut config = CacheConfig::default();
    config.ttl = Duration::from_secs(3600);
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock)
        .cache(config)
        .build()
        .unwrap();
    let not_after = plus(NOW, secs(600));
    let short = pki().issue(SHOP, 0x2001, at("2026-01-01T00:00:00Z"), not_after);
    let chain = PeerChain::new(short.chain());

    let fresh = gate.check(&chain, NOW);
    assert_eq!(fresh.code(), "accept", "{fresh:?}");
    assert!(
        fresh.valid_until() <= not_after,
        "{:?}",
        fresh.valid_until()
    );
    assert!(fresh.valid_until() > NOW);

    // Still within the leaf's lifetime: a hit.
    clock.advance(secs(300));
    let hit = gate.check(&chain, clock.now());
    assert!(hit.is_cached());
    assert_eq!(hit.code(), "accept");

    // Past notAfter (but well within the 1 h TTL): recomputed, and now expired.
    clock.set(plus(not_after, secs(1)));
    let later = gate.check(&chain, clock.now());
    assert!(!later.is_cached(), "{later:?}");
    assert_eq!(later.code(), "expired");
    assert!(later.is_refused());

    // The same through check_request, which reads the gate's clock.
    let via_request = gate.check_request(&chain, None);
    assert_eq!(via_request.code(), "expired");
}

#[test]
fn accept_is_kept_at_most_the_ttl() {
    let mut config = CacheConfig::default();
    config.ttl = Duration::from_secs(60);
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock)
        .cache(config)
        .build()
        .unwrap();
    let chain = chain_of(Leaf::Genuine);

    let first = gate.check(&chain, NOW);
    assert_eq!(first.code(), "accept");
    assert!(first.valid_until() <= plus(NOW, secs(60)));
    assert!(gate.check(&chain, plus(NOW, secs(59))).is_cached());
    assert!(!gate.check(&chain, plus(NOW, secs(61))).is_cached());
}

#[test]
fn accept_valid_until_is_bounded_by_the_leaf_and_the_crl_next_update() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    let leaf_not_after = at("2027-01-01T00:00:00Z");
    let crl_next_update = at("2026-07-01T00:00:00Z");

    let verdict = gate.check(&chain, NOW);
    assert_eq!(verdict.code(), "accept");
    let identity = verdict.identity().unwrap();
    assert_eq!(identity.not_after(), leaf_not_after);
    assert!(verdict.valid_until() <= leaf_not_after);
    assert!(verdict.valid_until() <= crl_next_update);
    assert!(verdict.valid_until() <= plus(NOW, secs(3600)));
    assert!(identity.valid_until() <= crl_next_update);

    // Ten minutes before the CRLs' nextUpdate the CRL bound is the binding one.
    let late = UnixTime::since_unix_epoch(secs(crl_next_update.as_secs() - 600));
    let verdict = gate.check(&chain, late);
    assert_eq!(verdict.code(), "accept");
    assert!(!verdict.is_cached());
    assert!(verdict.valid_until() <= crl_next_update, "{verdict:?}");
    assert!(verdict.valid_until() > late);

    // Past nextUpdate the CRLs are expired (enforced by default): a fresh rejection.
    let after = plus(crl_next_update, secs(1));
    let verdict = gate.check(&chain, after);
    assert!(!verdict.is_cached());
    assert_eq!(verdict.code(), "crl_expired");
}

// ---------------------------------------------------------------------------
// rejections

#[test]
fn rejections_are_cached_for_negative_ttl() {
    let mut config = CacheConfig::default();
    config.negative_ttl = Duration::from_secs(5);
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock)
        .cache(config)
        .build()
        .unwrap();
    let chain = chain_of(Leaf::Revoked);

    let first = gate.check(&chain, clock.now());
    assert_eq!(first.code(), "revoked");
    assert!(first.is_refused());
    assert!(!first.is_cached());
    assert!(first.identity().is_none());
    assert_eq!(first.rejection().unwrap().code(), "revoked");
    assert_eq!(first.valid_until(), plus(NOW, secs(5)));

    clock.advance(secs(4));
    let second = gate.check(&chain, clock.now());
    assert_eq!(second.code(), "revoked");
    assert!(second.is_cached());
    assert_eq!(gate.cache_stats().hits, 1);

    clock.advance(secs(2));
    let third = gate.check(&chain, clock.now());
    assert_eq!(third.code(), "revoked");
    assert!(!third.is_cached());
    assert_eq!(gate.cache_stats().misses, 2);
}

#[test]
fn the_empty_chain_is_a_cached_no_certificate() {
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock).build().unwrap();
    let empty = PeerChain::new(Vec::new());
    let first = gate.check(&empty, NOW);
    assert_eq!(first.code(), "no_certificate");
    assert!(first.is_refused());
    assert!(gate.check(&empty, NOW).is_cached());
}

// ---------------------------------------------------------------------------
// reloads

#[test]
fn reload_bumps_the_generation_and_misses_the_cache() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    assert_eq!(gate.generation(), 1);
    assert!(!gate.check(&chain, NOW).is_cached());
    assert!(gate.check(&chain, NOW).is_cached());

    // The same policy again: still a new generation, so nothing cached applies.
    gate.reload(fixture_crl_policy());
    assert_eq!(gate.generation(), 2);
    let after = gate.check(&chain, NOW);
    assert!(!after.is_cached());
    assert_eq!(after.code(), "accept");
    assert_eq!(after.generation(), 2);
    assert!(gate.check(&chain, NOW).is_cached());
}

#[test]
fn reload_drops_the_old_generation_entries() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    for leaf in [Leaf::Genuine, Leaf::Revoked, Leaf::OtherApp] {
        gate.check(&chain_of(leaf), NOW);
    }
    gate.cache().run_pending_tasks();
    assert_eq!(gate.cache_stats().entries, 3);

    gate.reload(fixture_crl_policy());
    gate.cache().run_pending_tasks();
    let stats = gate.cache_stats();
    assert_eq!(
        stats.entries, 0,
        "old-generation verdicts must not stay resident"
    );
    assert_eq!(stats.evictions, 0, "a reload is not a capacity eviction");

    assert!(!gate.check(&chain_of(Leaf::Genuine), NOW).is_cached());
    gate.cache().run_pending_tasks();
    assert_eq!(gate.cache_stats().entries, 1);
}

#[test]
fn reload_with_a_crl_revoking_the_leaf_revokes_it_at_once() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    assert_eq!(gate.check(&chain, NOW).code(), "accept");
    assert!(gate.check(&chain, NOW).is_cached());

    gate.reload(policy_revoking_genuine());
    let verdict = gate.check(&chain, NOW);
    assert_eq!(verdict.code(), "revoked");
    assert!(verdict.is_refused());
    assert!(!verdict.is_cached());
    assert_eq!(verdict.generation(), 2);
}

#[test]
fn failed_reload_from_file_keeps_the_old_policy() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    assert_eq!(gate.check(&chain, NOW).code(), "accept");

    let missing = gate.reload_from_file("/nonexistent/certgate-policy.toml");
    assert!(missing.is_err());
    assert_eq!(gate.generation(), 1);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.toml");
    std::fs::write(&bad, "this is [not a policy").unwrap();
    let err = gate.reload_from_file(&bad).unwrap_err();
    assert!(
        err.to_string().contains("policy.toml"),
        "error should name the file: {err}"
    );
    assert_eq!(gate.generation(), 1);

    // A syntactically fine policy that fails validation (anchor file missing).
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "[trust]\nanchors = [\"missing.pem\"]\n").unwrap();
    let err = gate.reload_from_file(&invalid).unwrap_err();
    assert_eq!(err.field(), "trust.anchors[0]");
    assert_eq!(gate.generation(), 1);

    let verdict = gate.check(&chain, NOW);
    assert_eq!(verdict.code(), "accept");
    assert_eq!(verdict.generation(), 1);
    assert!(verdict.is_cached());
}

#[test]
fn reload_from_a_good_file_swaps_the_policy() {
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root_pem()).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"com.example.other\"\n",
    )
    .unwrap();
    let chain = chain_of(Leaf::Genuine);
    assert_eq!(gate.check(&chain, NOW).code(), "accept");

    gate.reload_from_file(dir.path().join("policy.toml"))
        .unwrap();
    assert_eq!(gate.generation(), 2);
    assert_eq!(gate.check(&chain, NOW).code(), "app_not_allowed");
    assert_eq!(
        gate.policy().source(),
        Some(dir.path().join("policy.toml").as_path())
    );
}

// ---------------------------------------------------------------------------
// modes

#[test]
fn mode_for_overrides_one_code() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock)
        .mode(Mode::Enforce)
        .mode_for("expired", Mode::Observe)
        .build()
        .unwrap();
    assert_eq!(gate.mode_for("expired"), Mode::Observe);
    assert_eq!(gate.mode_for("revoked"), Mode::Enforce);

    let expired = gate.check(&chain_of(Leaf::Expired), NOW);
    assert_eq!(expired.code(), "expired");
    assert!(!expired.is_refused());
    assert!(expired.identity().is_none());

    let revoked = gate.check(&chain_of(Leaf::Revoked), NOW);
    assert_eq!(revoked.code(), "revoked");
    assert!(revoked.is_refused());

    // The cached copy carries the same decision.
    let expired_again = gate.check(&chain_of(Leaf::Expired), NOW);
    assert!(expired_again.is_cached());
    assert!(!expired_again.is_refused());
}

#[test]
fn observe_mode_refuses_nothing_but_enforce_override_does() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock)
        .mode(Mode::Observe)
        .mode_for("revoked", Mode::Enforce)
        .build()
        .unwrap();
    assert!(!gate.check(&chain_of(Leaf::Expired), NOW).is_refused());
    assert!(!gate.check(&PeerChain::new(Vec::new()), NOW).is_refused());
    assert!(gate.check(&chain_of(Leaf::Revoked), NOW).is_refused());
}

#[test]
fn observing_expired_does_not_let_a_forged_expired_chain_through() {
    // The impostor leaf (same names, signed by another key) at an instant past its notAfter:
    // webpki sees the dates first, certgate proves the chain before it says `expired`.
    let later = at("2027-06-01T00:00:00Z");
    let clock = TestClock::new();
    clock.set(later);
    let gate = builder(policy_without_crls(), &clock)
        .mode_for("expired", Mode::Observe)
        .build()
        .unwrap();
    let forged = gate.check_request(&chain_of(Leaf::ImpostorSameNames), None);
    assert_eq!(forged.code(), "bad_signature");
    assert!(forged.is_refused());
    let genuine = gate.check_request(&chain_of(Leaf::Genuine), None);
    assert_eq!(genuine.code(), "expired");
    assert!(!genuine.is_refused());
}

#[test]
fn unauthenticated_codes_cannot_be_observed_alone() {
    let clock = TestClock::new();
    for code in certgate::Rejection::UNAUTHENTICATED_CODES {
        let err = builder(policy_without_crls(), &clock)
            .mode_for(code, Mode::Observe)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "gate.mode_for");
        assert!(err.message().contains(code), "{err}");
        // Enforcing them explicitly, or observing them under an observing gate, is fine.
        assert!(
            builder(policy_without_crls(), &clock)
                .mode_for(code, Mode::Enforce)
                .build()
                .is_ok()
        );
        assert!(
            builder(policy_without_crls(), &clock)
                .mode(Mode::Observe)
                .mode_for(code, Mode::Observe)
                .build()
                .is_ok()
        );
    }
    // Every other code may be observed alone.
    for code in certgate::Rejection::CODES
        .iter()
        .filter(|c| !certgate::Rejection::UNAUTHENTICATED_CODES.contains(c))
    {
        assert!(
            builder(policy_without_crls(), &clock)
                .mode_for(code, Mode::Observe)
                .build()
                .is_ok(),
            "{code}"
        );
    }
}

#[test]
fn unknown_code_in_mode_for_fails_the_build() {
    let clock = TestClock::new();
    let err = builder(policy_without_crls(), &clock)
        .mode_for("exipred", Mode::Observe)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "gate.mode_for");
    assert!(err.message().contains("exipred"), "{err}");
}

#[test]
fn ttl_over_a_day_fails_the_build() {
    let mut config = CacheConfig::default();
    config.ttl = Duration::from_secs(24 * 3600 + 1);
    let clock = TestClock::new();
    let err = builder(policy_without_crls(), &clock)
        .cache(config)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "gate.cache");
}

// ---------------------------------------------------------------------------
// the per-connection memo

#[test]
fn check_connection_memoizes_on_the_connection() {
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    let memo = ConnectionMemo::default();

    let first = gate.check_connection(&chain, &memo, None);
    assert_eq!(first.code(), "accept");
    assert!(!first.is_cached());
    let before = gate.cache_stats();
    assert_eq!((before.hits, before.misses), (0, 1));

    // Same connection (and a clone of its memo: clones share the slot): the memo answers and
    // the cache is not consulted.
    let second = gate.check_connection(&chain, &memo, None);
    assert!(second.is_cached());
    assert_eq!(second.code(), "accept");
    let third = gate.check_connection(&chain.clone(), &memo.clone(), None);
    assert!(third.is_cached());
    assert_eq!(gate.cache_stats(), before);

    // Another connection with an equal chain has its own memo: it goes to the cache (a hit).
    let other_connection =
        gate.check_connection(&chain_of(Leaf::Genuine), &ConnectionMemo::default(), None);
    assert!(other_connection.is_cached());
    assert_eq!(gate.cache_stats().hits, 1);

    // After a reload the memo is stale: the gate verifies again.
    gate.reload(fixture_crl_policy());
    let after = gate.check_connection(&chain, &memo, None);
    assert!(!after.is_cached());
    assert_eq!(after.generation(), 2);
    assert_eq!(gate.cache_stats().misses, 2);
    // ... and memoizes the new verdict.
    let again = gate.check_connection(&chain, &memo, None);
    assert!(again.is_cached());
    assert_eq!(again.generation(), 2);
    assert_eq!(gate.cache_stats().misses, 2);
}

#[test]
fn the_memo_answers_only_for_its_own_chain() {
    // One connection memo, two chains (a proxy connection carrying two clients' forwarded
    // chains): each gets its own verdict, never the other's.
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let memo = ConnectionMemo::default();
    let genuine = chain_of(Leaf::Genuine);
    let revoked = chain_of(Leaf::Revoked);
    for _ in 0..3 {
        assert_eq!(
            gate.check_connection(&genuine, &memo, None).code(),
            "accept"
        );
        let refused = gate.check_connection(&revoked, &memo, None);
        assert_eq!(refused.code(), "revoked");
        assert!(refused.is_refused());
    }
    // check_request has no memo: every call after the first is a cache hit.
    let before = gate.cache_stats();
    gate.check_request(&genuine, None);
    gate.check_request(&genuine, None);
    assert_eq!(gate.cache_stats().hits, before.hits + 2);
}

#[test]
fn the_memo_is_per_gate() {
    // Two gates at the same generation (two layers with different policies on one router)
    // see the same connection: neither may answer with the other's verdict.
    let clock = TestClock::new();
    let loose = builder(fixture_crl_policy(), &clock).build().unwrap();
    let strict = builder(policy_revoking_genuine(), &clock).build().unwrap();
    assert_eq!(loose.generation(), strict.generation());
    let chain = chain_of(Leaf::Genuine);
    let memo = ConnectionMemo::default();

    assert_eq!(loose.check_connection(&chain, &memo, None).code(), "accept");
    assert!(loose.check_connection(&chain, &memo, None).is_cached());
    let refused = strict.check_connection(&chain, &memo, None);
    assert_eq!(refused.code(), "revoked");
    assert!(refused.is_refused());
    assert!(!refused.is_cached());
    // And back: the loose gate answers from its own cache, not the strict gate's memo.
    let accepted = loose.check_connection(&chain, &memo, None);
    assert_eq!(accepted.code(), "accept");
    assert!(!accepted.is_refused());
    assert_eq!(
        strict.check_connection(&chain, &memo, None).code(),
        "revoked"
    );
}

#[test]
fn a_verdict_never_answers_for_an_earlier_instant() {
    // A leaf valid from a day after NOW. A verdict computed in its window (a Gate::check about
    // the future, or a clock later stepped back) must not answer for NOW, before the window.
    let day = secs(24 * 3600);
    let leaf = pki().issue(
        SHOP,
        0x3_0001,
        plus(NOW, day),
        plus(NOW, secs(30 * 24 * 3600)),
    );
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock).build().unwrap();
    let chain = PeerChain::new(leaf.chain());

    let in_window = plus(NOW, secs(2 * 24 * 3600));
    assert_eq!(gate.check(&chain, in_window).code(), "accept");
    assert!(gate.check(&chain, in_window).is_cached());
    // Through the cache, at NOW.
    let now = gate.check(&PeerChain::new(leaf.chain()), NOW);
    assert_eq!(now.code(), "not_yet_valid");
    assert!(!now.is_cached());

    // Through the connection memo, with the gate's clock stepped back.
    let fresh = PeerChain::new(leaf.chain());
    let memo = ConnectionMemo::default();
    clock.set(in_window);
    assert_eq!(gate.check_connection(&fresh, &memo, None).code(), "accept");
    assert!(gate.check_connection(&fresh, &memo, None).is_cached());
    clock.set(NOW);
    let stepped_back = gate.check_connection(&fresh, &memo, None);
    assert_eq!(stepped_back.code(), "not_yet_valid");
    assert!(stepped_back.is_refused());
}

#[test]
fn the_memo_follows_a_revoking_reload() {
    let memo = ConnectionMemo::default();
    let clock = TestClock::new();
    let gate = builder(fixture_crl_policy(), &clock).build().unwrap();
    let chain = chain_of(Leaf::Genuine);
    assert_eq!(gate.check_connection(&chain, &memo, None).code(), "accept");
    assert!(gate.check_connection(&chain, &memo, None).is_cached());

    gate.reload(policy_revoking_genuine());
    let verdict = gate.check_connection(&chain, &memo, None);
    assert_eq!(verdict.code(), "revoked");
    assert!(verdict.is_refused());
}

#[test]
fn the_memo_ends_at_valid_until() {
    let memo = ConnectionMemo::default();
    let mut config = CacheConfig::default();
    config.negative_ttl = Duration::from_secs(5);
    let clock = TestClock::new();
    let gate = builder(policy_without_crls(), &clock)
        .cache(config)
        .build()
        .unwrap();

    // A rejection memoized on the connection lasts negative_ttl.
    let expired = chain_of(Leaf::Expired);
    assert!(!gate.check_connection(&expired, &memo, None).is_cached());
    clock.advance(secs(4));
    assert!(gate.check_connection(&expired, &memo, None).is_cached());
    clock.advance(secs(2));
    assert!(!gate.check_connection(&expired, &memo, None).is_cached());

    // An accept memoized on the connection ends at the leaf's notAfter.
    let not_after = plus(clock.now(), secs(120));
    let short = pki().issue(SHOP, 0x2002, at("2026-01-01T00:00:00Z"), not_after);
    let chain = PeerChain::new(short.chain());
    assert_eq!(gate.check_connection(&chain, &memo, None).code(), "accept");
    clock.advance(secs(60));
    assert!(gate.check_connection(&chain, &memo, None).is_cached());
    clock.set(plus(not_after, secs(1)));
    let late = gate.check_connection(&chain, &memo, None);
    assert!(!late.is_cached());
    assert_eq!(late.code(), "expired");
}

// ---------------------------------------------------------------------------
// events

#[test]
fn event_sink_records_every_computed_or_cached_verdict() {
    let clock = TestClock::new();
    let recorder = Arc::new(Recorder::default());
    let gate = builder(fixture_crl_policy(), &clock)
        .mode_for("expired", Mode::Observe)
        .event_sink(recorder.clone())
        .build()
        .unwrap();

    let genuine = chain_of(Leaf::Genuine);
    gate.check(&genuine, NOW);
    gate.check(&genuine, NOW);
    let events = recorder.take();
    assert_eq!(events.len(), 2);
    let (fresh, cached) = (&events[0], &events[1]);
    assert_eq!(fresh.code, "accept");
    assert_eq!(fresh.action, Action::Accept);
    assert!(!fresh.cached);
    assert!(cached.cached);
    assert_eq!(fresh.app_id.as_ref().unwrap().as_str(), SHOP);
    assert_eq!(fresh.generation, 1);
    assert_eq!(fresh.time, NOW);
    assert!(fresh.detail.is_none());
    let fingerprint = fresh.fingerprint.as_deref().unwrap();
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(cached.fingerprint, fresh.fingerprint);

    // Refused rejection: fingerprint of the presented leaf, detail, no app id.
    let peer = "127.0.0.1:4433".parse().unwrap();
    gate.check_from(&chain_of(Leaf::Revoked), NOW, Some(peer));
    let events = recorder.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].code, "revoked");
    assert_eq!(events[0].action, Action::Refuse);
    assert!(events[0].fingerprint.is_some());
    assert_ne!(events[0].fingerprint, fresh.fingerprint);
    assert!(events[0].app_id.is_none());
    assert!(events[0].detail.is_some());
    assert_eq!(events[0].peer_addr, Some(peer));

    // Observed rejection.
    gate.check(&chain_of(Leaf::Expired), NOW);
    let events = recorder.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].code, "expired");
    assert_eq!(events[0].action, Action::Observe);

    // No certificate: no fingerprint.
    gate.check(&PeerChain::new(Vec::new()), NOW);
    let events = recorder.take();
    assert_eq!(events[0].code, "no_certificate");
    assert_eq!(events[0].action, Action::Refuse);
    assert!(events[0].fingerprint.is_none());

    // Memoized requests emit nothing; the first one on the connection does.
    let connection = chain_of(Leaf::Second);
    let memo = ConnectionMemo::default();
    gate.check_connection(&connection, &memo, None);
    gate.check_connection(&connection, &memo, None);
    gate.check_connection(&connection, &memo, None);
    let events = recorder.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(!events[0].cached);

    // The event serializes to JSON (the audit-log format).
    let json = serde_json::to_value(fresh).unwrap();
    assert_eq!(json["action"], "accept");
    assert_eq!(json["time"], NOW.as_secs());
}
