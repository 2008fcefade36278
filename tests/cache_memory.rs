//! 10,000 cached rejections of attacker-made 14.5 KB leaves add at most 20 MB of RSS
//! (issue 8 §3). Alone in its test binary, so no other test allocates meanwhile.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use certgate::{CacheConfig, Gate, PeerChain, Policy, VerifierBuilder};
use common::{NOW, pki};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn ten_thousand_cached_oversized_rejections_stay_small() {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .build()
        .unwrap();
    // Rejections are kept a day, so none ages out while a slow machine runs the loop.
    let mut config = CacheConfig::default();
    config.negative_ttl = std::time::Duration::from_secs(24 * 3600);
    let gate = Gate::builder(Policy::from_verifier(verifier))
        .cache(config)
        .build()
        .unwrap();
    // Warm up allocator and lazies with one round that is not measured.
    let one = |i: u16| {
        let leaf = common::der::leaf_with_huge_algorithm(7_100, i);
        assert!(leaf.len() > 14_400);
        let verdict = gate.check(
            &PeerChain::new(vec![leaf.into(), pki().intermediate()]),
            NOW,
        );
        assert_eq!(verdict.code(), "unsupported_algorithm");
        assert!(verdict.rejection().unwrap().to_string().len() <= 256);
    };
    one(u16::MAX);
    let before = rss_bytes();
    for i in 0..10_000u16 {
        one(i);
    }
    gate.cache().run_pending_tasks();
    let after = rss_bytes();
    let stats = gate.cache_stats();
    assert_eq!(stats.entries, 10_001, "every rejection is cached");
    let grown = after.saturating_sub(before);
    eprintln!(
        "10,000 cached rejections: RSS +{} KB, cache weight {} KB",
        grown / 1024,
        stats.bytes / 1024
    );
    assert!(grown <= 20 * 1024 * 1024, "RSS grew by {grown} bytes");
}
