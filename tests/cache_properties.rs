//! Property: for any sequence of (check, reload, time advance) operations on a `Gate`, the
//! verdict it returns (from the cache, the connection memo, or fresh) equals a fresh
//! `Verifier::verify` at the same instant under the same policy.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use certgate::{
    AppId, AppRule, CacheConfig, Gate, PeerChain, Pin, Policy, Verdict, VerifierBuilder,
};
use common::{Leaf, NOW, SHOP, pki, serial_bytes};
use proptest::prelude::*;
use rustls_pki_types::UnixTime;

const HOUR: u64 = 3600;

fn secs(s: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(s))
}

/// Chains whose verdicts change with time and policy: genuine, revoked in some policies,
/// expiring in an hour, valid from half an hour on, another app, expired.
fn chains() -> &'static Vec<PeerChain> {
    static CHAINS: OnceLock<Vec<PeerChain>> = OnceLock::new();
    CHAINS.get_or_init(|| {
        let n = NOW.as_secs();
        let soon_expired = pki().issue(SHOP, 0x7001, secs(n - HOUR), secs(n + HOUR));
        let soon_valid = pki().issue(SHOP, 0x7002, secs(n + HOUR / 2), secs(n + 30 * 24 * HOUR));
        vec![
            PeerChain::new(pki().leaf(Leaf::Genuine).chain()),
            PeerChain::new(pki().leaf(Leaf::Revoked).chain()),
            PeerChain::new(soon_expired.chain()),
            PeerChain::new(soon_valid.chain()),
            PeerChain::new(pki().leaf(Leaf::OtherApp).chain()),
            PeerChain::new(pki().leaf(Leaf::Expired).chain()),
        ]
    })
}

/// Policies to reload between: plain; CRLs revoking `Revoked` and the soon-expiring leaf, with
/// nextUpdate two hours ahead; a pin on the intermediate that activates in 40 minutes.
fn policies() -> &'static Vec<Policy> {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let n = NOW.as_secs();
        let shop = || AppRule::new(AppId::new(SHOP).unwrap());
        let base = || {
            VerifierBuilder::new()
                .trust_anchor(pki().root())
                .allow_app(shop())
        };
        let revoked = vec![
            pki().leaf(Leaf::Revoked).serial.clone(),
            serial_bytes(0x7001),
        ];
        let crls = base()
            .allow_app(AppRule::new(AppId::new("com.example.other").unwrap()))
            .crl(pki().intermediate_crl(&revoked, secs(n - HOUR), secs(n + 2 * HOUR)))
            .crl(pki().root_crl(&[], secs(n - HOUR), secs(n + 2 * HOUR)))
            .expired_crl(certgate::ExpiredCrl::Grace(Duration::from_secs(HOUR)));
        let inter =
            certgate::inspect(&pki().intermediate(), &certgate::IdentitySource::default()).unwrap();
        let pinned = VerifierBuilder::new().trust_anchor(pki().root()).allow_app(
            shop()
                .pin(Pin::from_spki_sha256(inter.spki_sha256).active_from(secs(n + 40 * 60)))
                .pin(Pin::from_spki_sha256([7; 32])),
        );
        [base(), crls, pinned]
            .into_iter()
            .map(|b| Policy::from_verifier(b.build().unwrap()))
            .collect()
    })
}

#[derive(Clone, Debug)]
enum Op {
    Check(usize),
    Request(usize),
    Reload(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..6usize).prop_map(Op::Check),
        3 => (0..6usize).prop_map(Op::Request),
        1 => (0..3usize).prop_map(Op::Reload),
        2 => (0..2 * HOUR).prop_map(Op::Advance),
    ]
}

fn same(verdict: &Verdict, fresh: &Result<certgate::PeerIdentity, certgate::Rejection>) -> bool {
    match (verdict.identity(), fresh) {
        (Some(identity), Ok(expected)) => identity == expected,
        (None, Err(expected)) => verdict.rejection().map(|r| r.code()) == Some(expected.code()),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn cached_verdicts_equal_fresh_verification(ops in proptest::collection::vec(op(), 1..40)) {
        let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
        let read = Arc::clone(&clock);
        let mut config = CacheConfig::default();
        config.ttl = Duration::from_secs(2 * HOUR);
        config.negative_ttl = Duration::from_secs(HOUR);
        let gate = Gate::builder(policies()[0].clone())
            .cache(config)
            .clock(move || secs(read.load(Ordering::SeqCst)))
            .build()
            .unwrap();
        // One long-lived "connection" per chain, so the memo is exercised across operations.
        let connections: Vec<PeerChain> = chains().iter().map(|c| PeerChain::new(c.certs().to_vec())).collect();
        for op in ops {
            let now = secs(clock.load(Ordering::SeqCst));
            match op {
                Op::Check(i) => {
                    let verdict = gate.check(&chains()[i], now);
                    let fresh = gate.verifier().verify(&chains()[i], now);
                    prop_assert!(same(&verdict, &fresh), "check {i} at {}: {verdict:?} vs fresh {fresh:?}", now.as_secs());
                }
                Op::Request(i) => {
                    let verdict = gate.check_request(&connections[i], None);
                    let fresh = gate.verifier().verify(&connections[i], now);
                    prop_assert!(same(&verdict, &fresh), "request {i} at {}: {verdict:?} vs fresh {fresh:?}", now.as_secs());
                }
                Op::Reload(p) => gate.reload(policies()[p].clone()),
                Op::Advance(s) => {
                    clock.fetch_add(s, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Directed case of the property: a cached `not_yet_valid` rejection is not served once the
/// leaf's notBefore has passed, even though the negative TTL has not.
#[test]
fn rejection_is_not_served_past_the_instant_it_changes() {
    let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
    let read = Arc::clone(&clock);
    let mut config = CacheConfig::default();
    config.negative_ttl = Duration::from_secs(HOUR);
    let gate = Gate::builder(policies()[0].clone())
        .cache(config)
        .clock(move || secs(read.load(Ordering::SeqCst)))
        .build()
        .unwrap();
    let soon_valid = &chains()[3];
    let first = gate.check(soon_valid, gate.now());
    assert_eq!(first.rejection().map(|r| r.code()), Some("not_yet_valid"));
    assert!(first.valid_until().as_secs() <= NOW.as_secs() + HOUR / 2);
    clock.fetch_add(HOUR / 2 + 1, Ordering::SeqCst);
    let later = gate.check(soon_valid, gate.now());
    assert!(later.identity().is_some(), "{later:?}");
    assert!(!later.is_cached());
}
