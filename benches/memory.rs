//! Memory figures (not criterion): resident bytes per CRL entry at 1M entries and the CRL load
//! time, and resident bytes per cached verdict at 1M distinct accepted chains.
//!
//! `cargo bench --bench memory`; `CERTGATE_BENCH_CRL_ENTRIES` and
//! `CERTGATE_BENCH_CACHE_ENTRIES` change the sizes (default 1 000 000 each). Issuing and
//! verifying 1M distinct certificates takes a few minutes on two cores.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use certgate::{Gate, PeerChain, Policy};
use common::{Alg, Hierarchy, now, rss_bytes};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either.
    let h = Hierarchy::new(Alg::Ed25519);

    // The CRL is generated here, but loaded and measured in a fresh child process: in this
    // one, the allocator would hand the memory freed after generating the CRL back to the
    // loader, and the resident size would not grow.
    if let Ok(dir) = std::env::var("CERTGATE_MEMORY_CRL_DIR") {
        measure_crl_load(std::path::Path::new(&dir));
        return;
    }
    let n = env("CERTGATE_BENCH_CRL_ENTRIES", 1_000_000);
    let dir = std::env::temp_dir().join(format!("certgate-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crl.der"), h.crl(n)).unwrap();
    std::fs::write(dir.join("root.der"), &h.root).unwrap();
    std::fs::write(dir.join("intermediate.der"), &h.intermediate).unwrap();
    std::fs::write(dir.join("revoked.der"), &h.revoked_chain().certs()[0]).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("CERTGATE_MEMORY_CRL_DIR", &dir)
        .env("CERTGATE_MEMORY_CRL_ENTRIES", n.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();

    let n = env("CERTGATE_BENCH_CACHE_ENTRIES", 1_000_000);
    let gate = Gate::builder(Policy::from_verifier(
        h.typical().strict_profile(true).build().unwrap(),
    ))
    .cache(common::capacity((n + 1000) as u64))
    .event_sink(Arc::new(common::Quiet))
    .clock(now)
    .build()
    .unwrap();
    // Issue the chains first (outside the measurement), in two threads.
    let start = Instant::now();
    let chains: Vec<PeerChain> = std::thread::scope(|s| {
        let halves: Vec<_> = (0..2)
            .map(|t| {
                let h = &h;
                s.spawn(move || {
                    (0..n / 2 + t * (n % 2))
                        .map(|i| {
                            PeerChain::new(vec![
                                h.issue(common::APP, (0x10_0000 + i * 2 + t) as u64),
                                h.intermediate.clone(),
                            ])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|j| j.join().unwrap()).collect()
    });
    println!(
        "cache: issued {} chains in {:.1} s",
        chains.len(),
        start.elapsed().as_secs_f64()
    );
    let before = rss_bytes();
    let start = Instant::now();
    std::thread::scope(|s| {
        for part in chains.chunks(chains.len().div_ceil(2)) {
            let gate = &gate;
            s.spawn(move || {
                for chain in part {
                    assert!(gate.check(chain, now()).identity().is_some());
                }
            });
        }
    });
    gate.cache().run_pending_tasks();
    let after = rss_bytes();
    let stats = gate.cache_stats();
    println!(
        "cache: {} accepted verdicts cached in {:.1} s, {:.1} resident bytes per entry",
        stats.entries,
        start.elapsed().as_secs_f64(),
        after.saturating_sub(before) as f64 / stats.entries.max(1) as f64
    );
}

/// Child process: resident bytes a `Verifier` keeps per CRL entry, and the load time. The CRL
/// file is read and handed to the builder, which drops its input after building.
fn measure_crl_load(dir: &std::path::Path) {
    use rustls_pki_types::CertificateDer;
    let n = env("CERTGATE_MEMORY_CRL_ENTRIES", 1);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (root, intermediate, revoked) = (
        read("root.der"),
        read("intermediate.der"),
        read("revoked.der"),
    );
    let before = rss_bytes();
    let start = Instant::now();
    let der = read("crl.der");
    let crl_bytes = der.len();
    let verifier = certgate::VerifierBuilder::new()
        .trust_anchor(CertificateDer::from(root))
        .crl(der.into())
        .revocation_depth(certgate::RevocationDepth::Leaf)
        .build()
        .unwrap();
    let load = start.elapsed();
    let after = rss_bytes();
    let chain = PeerChain::new(vec![
        CertificateDer::from(revoked),
        CertificateDer::from(intermediate),
    ]);
    assert_eq!(
        verifier.verify(&chain, now()).unwrap_err().code(),
        "revoked"
    );
    println!(
        "crl: {n} entries, {crl_bytes} DER bytes, load (read + parse + index + signature) {:.3} s, {:.1} resident bytes per entry",
        load.as_secs_f64(),
        after.saturating_sub(before) as f64 / n as f64
    );
}
