//! The verdict log (feature `audit`): the writer's sustained throughput in records per second
//! (target ≥ 100,000/s), and what recording adds to a request (`Gate::check` on a cached
//! verdict with and without an audit log).
//!
//! `cargo bench --features audit --bench audit -- --warm-up-time 1 --measurement-time 3`

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use certgate::audit::{AuditConfig, AuditLog, Fsync};
use certgate::{Gate, PeerChain, Policy};
use common::{Alg, Hierarchy, now};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A policy file (root, intermediate, a CRL of 100 entries) in `dir`, and 16 distinct chains.
fn setup(dir: &Path) -> (Policy, Vec<PeerChain>) {
    let h = Hierarchy::new(Alg::P256);
    std::fs::write(dir.join("root.der"), &h.root).unwrap();
    std::fs::write(dir.join("inter.der"), &h.intermediate).unwrap();
    std::fs::write(dir.join("inter.crl"), h.crl(100)).unwrap();
    std::fs::write(
        dir.join("policy.toml"),
        "[trust]\nanchors = [\"root.der\"]\nintermediates = [\"inter.der\"]\n\n\
         [revocation]\ncrls = [\"inter.crl\"]\ndepth = \"leaf\"\n",
    )
    .unwrap();
    let policy = Policy::load(dir.join("policy.toml")).unwrap();
    let mut chains = vec![h.chain()];
    for i in 1..16u64 {
        chains.push(PeerChain::new(vec![
            h.issue(&format!("com.example.bench{i}"), 0x5000 + i),
            h.intermediate.clone(),
        ]));
    }
    (policy, chains)
}

fn gate(policy: &Policy, log: Option<&AuditLog>) -> Gate {
    let mut builder = Gate::builder(policy.clone())
        .event_sink(std::sync::Arc::new(common::Quiet))
        .clock(now);
    if let Some(log) = log {
        builder = builder.audit_log(log);
    }
    builder.build().unwrap()
}

fn audit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (policy, chains) = setup(dir.path());
    let mut group = c.benchmark_group("audit");

    // Sustained writer throughput: enqueue BATCH verdicts (the queue holds them all), then
    // wait until the writer has written every one to the file (formatting, hashing, writes;
    // fsync once a second, the default).
    const BATCH: u64 = 100_000;
    let log = AuditLog::open(
        dir.path().join("throughput.log"),
        AuditConfig {
            queue_capacity: 2 * BATCH as usize,
            rotate_bytes: 256 << 20,
            ..AuditConfig::default()
        },
    )
    .unwrap();
    let g = gate(&policy, Some(&log));
    for c in &chains {
        assert!(!g.check(c, now()).is_refused());
    }
    log.flush();
    // Each sample writes 100,000 records (about 50 MB): ten samples are enough.
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("writer_100k_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                for i in 0..BATCH {
                    g.check(&chains[i as usize % chains.len()], now());
                }
                log.flush();
                total += started.elapsed();
            }
            total
        })
    });
    let stats = log.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    eprintln!("writer: {stats:?}");
    drop(g);
    drop(log);

    // Per request: a cached verdict without and with an audit log. Timed in slices of 10,000
    // requests; the writer drains between slices (untimed), so no record is dropped.
    group.sample_size(100);
    group.throughput(Throughput::Elements(1));
    let plain = gate(&policy, None);
    for c in &chains {
        plain.check(c, now());
    }
    group.bench_function("check_hit_no_audit", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            plain
                .check(black_box(&chains[i % chains.len()]), now())
                .is_refused()
        })
    });
    let log = AuditLog::open(
        dir.path().join("enqueue.log"),
        AuditConfig {
            fsync: Fsync::Never,
            rotate_bytes: 256 << 20,
            ..AuditConfig::default()
        },
    )
    .unwrap();
    let audited = gate(&policy, Some(&log));
    for c in &chains {
        audited.check(c, now());
    }
    group.bench_function("check_hit_audit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            let mut i = 0usize;
            while left > 0 {
                let n = left.min(10_000);
                let started = Instant::now();
                for _ in 0..n {
                    i = i.wrapping_add(1);
                    black_box(audited.check(black_box(&chains[i % chains.len()]), now()));
                }
                total += started.elapsed();
                log.flush();
                left -= n;
            }
            total
        })
    });
    let stats = log.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    group.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
