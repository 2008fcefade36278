//! Cache hit: `Gate::check` on a cached chain with 10k and 1M other verdicts cached, against a
//! cold verification of the same chain.
//!
//! `CERTGATE_BENCH_MAX_CACHE=10000` skips the 1M case.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use certgate::{Gate, PeerChain, Policy};
use common::{Alg, Hierarchy, now};
use criterion::{Criterion, criterion_group, criterion_main};
use rustls_pki_types::CertificateDer;

fn cache_hit(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let chain = h.chain();
    let verifier = h.typical_verifier();
    let max: u64 = std::env::var("CERTGATE_BENCH_MAX_CACHE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    let mut group = c.benchmark_group("cache");
    group.bench_function("cold_verify", |b| {
        b.iter(|| verifier.verify(black_box(&chain), now()).is_ok())
    });
    for n in [10_000u64, 1_000_000].into_iter().filter(|n| *n <= max) {
        let gate = Gate::builder(Policy::from_verifier(h.typical_verifier()))
            .cache(common::capacity(n + 10))
            .event_sink(std::sync::Arc::new(common::Quiet))
            .clock(now)
            .build()
            .unwrap();
        // Fill with distinct (malformed) chains: each is one cached negative verdict.
        for i in 0..n {
            gate.check(
                &PeerChain::new(vec![CertificateDer::from(i.to_be_bytes().to_vec())]),
                now(),
            );
        }
        assert!(gate.check(&chain, now()).identity().is_some());
        gate.cache().run_pending_tasks();
        assert!(gate.check(&chain, now()).is_cached());
        group.bench_function(format!("hit_{n}"), |b| {
            b.iter(|| gate.check(black_box(&chain), now()).is_refused())
        });
    }
    group.finish();
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
