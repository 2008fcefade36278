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
    // The signal store and the audit queue at their maxima, each in a fresh process.
    if std::env::var("CERTGATE_MEMORY_PART").as_deref() == Ok("signals") {
        measure_signal_store();
        return;
    }
    #[cfg(feature = "audit")]
    if std::env::var("CERTGATE_MEMORY_PART").as_deref() == Ok("audit") {
        measure_audit_queue(&h);
        return;
    }
    for part in ["signals", "audit"] {
        if part == "audit" && !cfg!(feature = "audit") {
            println!("audit queue: not measured (build with --features audit)");
            continue;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("CERTGATE_MEMORY_PART", part)
            .status()
            .unwrap();
        assert!(status.success());
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

/// Child process: the embedded signal store's resident bytes with every slot of its three
/// tables written, against its documented maximum (`EmbeddedStore::max_bytes`).
fn measure_signal_store() {
    use certgate::signals::{CloningConfig, EmbeddedStore, QuarantineConfig, RateKey, SignalStore};
    let before = rss_bytes();
    let store = EmbeddedStore::default();
    let rule = QuarantineConfig::new(100, 60, 600).unwrap();
    let cloning = CloningConfig::new(3, 300, 4, 3600).unwrap();
    let t = now().as_secs();
    // 4× each table's capacity of distinct keys: every slot is written, most evicted again.
    for i in 0..262_144u32 {
        let addr = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | i));
        store.add_failure(addr, 1, t, &rule);
    }
    for i in 0..65_536u32 {
        let mut leaf = [0u8; 32];
        leaf[..4].copy_from_slice(&i.to_be_bytes());
        for a in 0..4u32 {
            let addr = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0000 | a));
            store.observe_leaf(&leaf, addr, false, t, &cloning);
        }
        store.count_request(RateKey::Certificate(&leaf), t, 1, 1_000);
    }
    let after = rss_bytes();
    let stats = store.stats();
    println!(
        "signal store (default sizes, every slot written): {} addresses and {} certificates \
         tracked; documented maximum {} bytes ({:.1} MiB); resident growth {:.1} MiB",
        stats.addresses,
        stats.certificates,
        store.max_bytes(),
        store.max_bytes() as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / 1048576.0
    );
}

/// Child process: the audit queue filled to its byte bound behind a stalled disk, with
/// distinct 4 KiB refused chains: resident growth against `queue_max_bytes`.
#[cfg(feature = "audit")]
fn measure_audit_queue(h: &Hierarchy) {
    use certgate::CacheConfig;
    use certgate::audit::{AuditConfig, AuditLog, Fsync};
    use rustls_pki_types::CertificateDer;

    /// Blocks every write forever (the process exits without releasing it).
    struct Stalled(Arc<std::sync::atomic::AtomicBool>);
    impl std::io::Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            loop {
                std::thread::park();
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let config = AuditConfig {
        fsync: Fsync::Never,
        ..AuditConfig::default()
    };
    let (capacity, max_bytes) = (config.queue_capacity, config.queue_max_bytes);
    let blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let log = AuditLog::to_writer(Stalled(Arc::clone(&blocked)), config);
    // A cache of one verdict: what grows is the queue.
    let gate = Gate::builder(Policy::from_verifier(h.typical().build().unwrap()))
        .cache({
            let mut cache = CacheConfig::default();
            cache.capacity = 1;
            cache
        })
        .event_sink(Arc::new(common::Quiet))
        .clock(now)
        .audit_log(&log)
        .build()
        .unwrap();
    gate.check(&h.revoked_chain(), now());
    while !blocked.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let before = rss_bytes();
    let n = 2 * max_bytes / 4096;
    for i in 0..n {
        let mut der = vec![0x30u8; 4096];
        der[..8].copy_from_slice(&(i as u64).to_be_bytes());
        gate.check(&PeerChain::new(vec![CertificateDer::from(der)]), now());
    }
    let after = rss_bytes();
    let stats = log.stats();
    println!(
        "audit queue (queue_capacity {capacity}, queue_max_bytes {:.0} MiB), stalled disk, {n} \
         distinct 4 KiB refused chains: {} held ({:.1} MiB counted), {} dropped; resident \
         growth {:.1} MiB",
        max_bytes as f64 / 1048576.0,
        n as u64 - stats.dropped,
        stats.queued_bytes as f64 / 1048576.0,
        stats.dropped,
        after.saturating_sub(before) as f64 / 1048576.0
    );
    std::process::exit(0);
}
