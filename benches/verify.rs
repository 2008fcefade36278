//! Cold verification: `Verifier::verify` (typical policy: app allowlist, one SPKI pin, strict
//! profile) against raw rustls-webpki `verify_for_usage` on the same chain, per algorithm, and
//! the same policy with a denylist.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use common::{Alg, Hierarchy, WebpkiBaseline, now};
use criterion::{Criterion, criterion_group, criterion_main};

fn cold_verify(c: &mut Criterion) {
    for alg in Alg::ALL {
        let h = Hierarchy::new(alg);
        let chain = h.chain();
        let verifier = h.typical_verifier();
        assert!(verifier.verify(&chain, now()).is_ok());
        let webpki = WebpkiBaseline::new(&h);
        assert!(webpki.verify(&h.leaf, None));

        let mut group = c.benchmark_group(format!("verify_cold/{}", alg.name()));
        group.bench_function("baseline_webpki", |b| {
            b.iter(|| webpki.verify(black_box(&h.leaf), None))
        });
        group.bench_function("certgate", |b| {
            b.iter(|| verifier.verify(black_box(&chain), now()).is_ok())
        });
        // The same with a 1,000-entry denylist that does not list the leaf: the cost of hashing
        // the leaf and, for ECDSA, its twin encodings.
        let denying = (0..1000u32)
            .fold(h.typical(), |b, i| {
                let mut fp = [0u8; 32];
                fp[..4].copy_from_slice(&i.to_be_bytes());
                b.deny_fingerprint(fp)
            })
            .build()
            .unwrap();
        assert!(denying.verify(&chain, now()).is_ok());
        group.bench_function("certgate_denylist", |b| {
            b.iter(|| denying.verify(black_box(&chain), now()).is_ok())
        });
        group.finish();
    }
}

criterion_group!(benches, cold_verify);
criterion_main!(benches);
