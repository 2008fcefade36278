//! Cold verification: `Verifier::verify` (typical policy: app allowlist, one SPKI pin, strict
//! profile) against raw rustls-webpki `verify_for_usage` on the same chain, per algorithm.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use common::{Alg, Hierarchy, algorithms, now};
use criterion::{Criterion, criterion_group, criterion_main};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

fn cold_verify(c: &mut Criterion) {
    for alg in Alg::ALL {
        let h = Hierarchy::new(alg);
        let chain = h.chain();
        let verifier = h.typical_verifier();
        assert!(verifier.verify(&chain, now()).is_ok());
        let anchors = [anchor_from_trusted_cert(&h.root).unwrap().to_owned()];
        let intermediates = [h.intermediate.clone()];

        let mut group = c.benchmark_group(format!("verify_cold/{}", alg.name()));
        group.bench_function("baseline_webpki", |b| {
            b.iter(|| {
                let cert = EndEntityCert::try_from(black_box(&h.leaf)).unwrap();
                cert.verify_for_usage(
                    algorithms(),
                    &anchors,
                    &intermediates,
                    now(),
                    KeyUsage::client_auth(),
                    None,
                    None,
                )
                .is_ok()
            })
        });
        group.bench_function("certgate", |b| {
            b.iter(|| verifier.verify(black_box(&chain), now()).is_ok())
        });
        group.finish();
    }
}

criterion_group!(benches, cold_verify);
criterion_main!(benches);
