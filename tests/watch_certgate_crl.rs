//! The watcher against the real `certgate` CLI: a CA made by `certgate ca init`, an app issued
//! by `certgate issue`, then `certgate revoke` and `certgate crl` replace the CRLs the policy
//! names (temporary file + rename) while a watching gate serves. The revoked app is refused
//! within the debounce, the other app never is, and the write → refusal time is printed.

#![cfg(all(feature = "watch", feature = "cli", feature = "issue"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certgate::{Gate, PeerChain, Policy};
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};

const HANG_GUARD: Duration = Duration::from_secs(10);

fn certgate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "certgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issues `app` and returns its serial and chain.
fn issue(ca: &Path, app: &str, out: &Path) -> (String, PeerChain) {
    let printed = certgate(&[
        "issue",
        ca.to_str().unwrap(),
        "--app",
        app,
        "--out",
        out.to_str().unwrap(),
    ]);
    let serial = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("serial:"))
        .unwrap_or_else(|| panic!("no serial in {printed}"))
        .trim()
        .to_owned();
    let pem = std::fs::read(out.with_extension("pem")).unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    (serial, PeerChain::new(certs))
}

#[test]
fn certgate_revoke_and_crl_are_picked_up_by_the_watcher_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    certgate(&["ca", "init", ca.to_str().unwrap(), "--name", "Watch Test"]);
    let (serial, leaked) = issue(&ca, "com.example.leaked", &dir.path().join("leaked"));
    let (_, genuine) = issue(&ca, "com.example.shop", &dir.path().join("shop"));

    let policy = ca.join("policy.toml");
    let gate = Gate::builder(Policy::load(&policy).unwrap())
        .build()
        .unwrap();
    let now = UnixTime::now();
    assert!(!gate.check(&leaked, now).is_refused());
    assert!(!gate.check(&genuine, now).is_refused());
    let watcher = gate.watch(&policy).unwrap();
    // Let the watcher set up its watches before the write.
    std::thread::sleep(Duration::from_millis(300));

    // Load: the genuine app checked in a loop while the CRLs are replaced.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (gate, stop, refused, chain) =
                (gate.clone(), stop.clone(), refused.clone(), genuine.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 5_000_000 {
                    if gate.check(&chain, UnixTime::now()).is_refused() {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();

    let generation = gate.generation();
    let start = Instant::now();
    certgate(&[
        "revoke",
        ca.to_str().unwrap(),
        "--serial",
        &serial,
        "--reason",
        "key_compromise",
    ]);
    let written = start.elapsed();
    loop {
        let verdict = gate.check(&leaked, UnixTime::now());
        if verdict.is_refused() {
            assert_eq!(verdict.code(), "revoked");
            break;
        }
        assert!(
            start.elapsed() < HANG_GUARD,
            "no reload within {HANG_GUARD:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let latency = start.elapsed().saturating_sub(written);
    println!(
        "certgate revoke (CRLs re-signed and renamed in {written:?}) -> first refusal {latency:?} later"
    );
    let after_revoke = gate.generation();
    assert!(after_revoke > generation);

    // `certgate crl` re-signs both CRLs (new CRL numbers, same revocations): a real change,
    // picked up; the verdicts stay.
    certgate(&["crl", ca.to_str().unwrap()]);
    let start = Instant::now();
    while gate.generation() == after_revoke {
        assert!(start.elapsed() < HANG_GUARD, "certgate crl not picked up");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(gate.check(&leaked, UnixTime::now()).code(), "revoked");

    stop.store(true, Ordering::Relaxed);
    let checks: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(checks > 0);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "the genuine app was refused during a reload"
    );
    // The watcher counts a reload just after the gate swaps the policy: wait for the count.
    let start = Instant::now();
    while watcher.stats().reloads_ok < 2 {
        assert!(start.elapsed() < HANG_GUARD, "{:?}", watcher.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = watcher.stats();
    assert!(stats.reloads_ok >= 2, "{stats:?}");
    assert_eq!(stats.reloads_failed, 0, "{stats:?}");
}
