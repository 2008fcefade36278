//! Revocation at scale: certgate with CRLs of 10, 10k and 1M revoked serials next to certgate
//! without a CRL, and rustls-webpki with the same CRL through its `RevocationOptions`; plus
//! the cost of loading a CRL into a `Verifier`.
//!
//! `CERTGATE_BENCH_MAX_CRL=10000` skips the 1M case (its CRL takes a few seconds to generate).

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{Alg, Hierarchy, WebpkiBaseline, now};
use criterion::{Criterion, criterion_group, criterion_main};
use webpki::{
    CertRevocationList, ExpirationPolicy, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("CERTGATE_BENCH_MAX_CRL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    [10, 10_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect()
}

fn revocation(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let chain = h.chain();
    let without = h.typical_verifier();
    let webpki = WebpkiBaseline::new(&h);

    for n in sizes() {
        let crl = h.crl(n);
        let with = h.with_crl(crl.clone());
        // Outside the timed loops: the index is consulted, and the measured chain is not in it.
        assert!(with.verify(&chain, now()).is_ok());
        assert_eq!(
            with.verify(&h.revoked_chain(), now()).unwrap_err().code(),
            "revoked"
        );

        let owned: CertRevocationList<'static> =
            OwnedCertRevocationList::from_der(&crl).unwrap().into();
        let crls = [&owned];
        let options = RevocationOptionsBuilder::new(&crls)
            .unwrap()
            .with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build();

        let mut group = c.benchmark_group(format!("revocation/{n}"));
        if n >= 1_000_000 {
            // webpki re-verifies the whole CRL each call (tens of ms here): few samples.
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function("certgate_no_crl", |b| {
            b.iter(|| without.verify(black_box(&chain), now()).is_ok())
        });
        group.bench_function("certgate_crl", |b| {
            b.iter(|| with.verify(black_box(&chain), now()).is_ok())
        });
        group.bench_function("baseline_webpki_crl", |b| {
            b.iter(|| webpki.verify(black_box(&h.leaf), Some(options)))
        });
        group.finish();

        let mut load = c.benchmark_group("crl_load");
        load.sample_size(10);
        load.bench_function(format!("{n}"), |b| {
            b.iter(|| h.with_crl(black_box(crl.clone())))
        });
        load.finish();
    }
}

criterion_group!(benches, revocation);
criterion_main!(benches);
