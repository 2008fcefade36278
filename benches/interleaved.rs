//! Cold verification, interleaved: certgate's `Verifier::verify` and raw rustls-webpki
//! `verify_for_usage` on the same chain (the same set-up as `benches/verify.rs`), alternating
//! in short batches so both see the same machine state.
//!
//! Criterion measures its two functions one after the other, seconds apart; on a shared VM the
//! machine's speed moves between them by more than the 10 % this comparison is about. Here each
//! round runs a batch of one then a batch of the other; the report gives the ratio of the best
//! batches and the median of the per-round ratios. `cargo bench --bench interleaved`
//! (`CERTGATE_BENCH_ALG=rsa2048` for one algorithm, as named in the report;
//! `CERTGATE_BENCH_ROUNDS=N` for N rounds instead of 31, to profile).

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    clippy::indexing_slicing
)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{Alg, Hierarchy, WebpkiBaseline, now};

const ROUNDS: usize = 31;
const BATCH: u32 = 200;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants it quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = std::env::var("CERTGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let (rounds, batch) = if quick { (1, 2) } else { (rounds, BATCH) };
    println!("cold verification, {rounds} interleaved rounds of {batch} verifications each");
    // `CERTGATE_BENCH_ALG=rsa2048` (a name as printed) runs one algorithm, to profile it.
    let only = std::env::var("CERTGATE_BENCH_ALG").ok();
    for alg in Alg::ALL {
        if only.as_deref().is_some_and(|name| name != alg.name()) {
            continue;
        }
        let h = Hierarchy::new(alg);
        let chain = h.chain();
        let verifier = h.typical_verifier();
        assert!(verifier.verify(&chain, now()).is_ok());
        let baseline = WebpkiBaseline::new(&h);
        let webpki = || baseline.verify(black_box(&h.leaf), None);
        let certgate = || verifier.verify(black_box(&chain), now()).is_ok();
        assert!(webpki() && certgate());

        let per_call = |f: &dyn Fn() -> bool| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            start.elapsed().as_secs_f64() / f64::from(batch)
        };
        let mut best = [f64::MAX; 2];
        let mut ratios = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let w = per_call(&webpki);
            let c = per_call(&certgate);
            best = [best[0].min(w), best[1].min(c)];
            ratios.push(c / w);
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{:<11} webpki {:>7.1} µs  certgate {:>7.1} µs  (best batches)  ratio of bests {:.3}×  median of round ratios {:.3}×  added {:+.1} µs",
            alg.name(),
            best[0] * 1e6,
            best[1] * 1e6,
            best[1] / best[0],
            ratios[ratios.len() / 2],
            (best[1] - best[0]) * 1e6,
        );
    }
}
