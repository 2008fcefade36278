//! The policy watcher over real files: symlink swaps, rename-on-save, truncate-then-write, a
//! CRL replaced by an atomic rename; the write → first refusal latency; no failed check while
//! reloading under load.

#![cfg(feature = "watch")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certgate::watch::{WatchConfig, WatchEvent, Watcher};
use certgate::{Gate, PeerChain, Policy};
use common::{Crl, Leaf, NOW, pki};

const HANG_GUARD: Duration = Duration::from_secs(10);

fn policy_text(crl: &str) -> String {
    format!(
        "[trust]\nanchors = [\"root.pem\"]\nintermediates = [\"intermediate.pem\"]\n\n\
         [revocation]\ncrls = [\"{crl}\", \"root.crl.pem\"]\n\n[identity]\nrequired = false\n"
    )
}

/// The PKI in `dir`, `crl.pem` = the empty intermediate CRL, and a policy naming it.
fn setup(dir: &Path) -> PathBuf {
    pki().write_to(dir);
    std::fs::write(dir.join("crl.pem"), pki().crl_pem(Crl::IntermediateEmpty)).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, policy_text("crl.pem")).unwrap();
    policy
}

fn gate(policy: &Path) -> Gate {
    Gate::builder(Policy::load(policy).unwrap())
        .clock(|| NOW)
        .build()
        .unwrap()
}

fn chain(leaf: Leaf) -> PeerChain {
    PeerChain::new(pki().leaf(leaf).chain())
}

/// Atomic replace: write a sibling, rename it over `path`.
fn atomic_write(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls until `gate` refuses `leaf` with `revoked`; the time it took.
fn until_revoked(gate: &Gate, leaf: Leaf) -> Duration {
    let start = Instant::now();
    let chain = chain(leaf);
    loop {
        let verdict = gate.check(&chain, NOW);
        if verdict.is_refused() {
            assert_eq!(verdict.code(), "revoked");
            return start.elapsed();
        }
        assert!(
            start.elapsed() < HANG_GUARD,
            "no reload within {HANG_GUARD:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn until(mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < HANG_GUARD,
            "condition not met within {HANG_GUARD:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn crl_replaced_by_atomic_rename_refuses_revoked_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let gate = gate(&policy);
    assert!(!gate.check(&chain(Leaf::Revoked), NOW).is_refused());
    let watcher = gate.watch(&policy).unwrap();
    // Let the watcher set up its watches before the write.
    std::thread::sleep(Duration::from_millis(300));

    // Load: genuine apps checked in a loop while the CRL is swapped; none may be refused.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let checks = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (gate, stop, refused, checks) =
                (gate.clone(), stop.clone(), refused.clone(), checks.clone());
            std::thread::spawn(move || {
                let chain = chain(Leaf::Genuine);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 5_000_000 {
                    if gate.check(&chain, NOW).is_refused() {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                checks.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();

    let generation = gate.generation();
    atomic_write(
        &dir.path().join("crl.pem"),
        &pki().crl_pem(Crl::Intermediate),
    );
    let latency = until_revoked(&gate, Leaf::Revoked);
    println!("write -> first refusal: {latency:?} (default debounce 200 ms)");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "a genuine app was refused during reload"
    );
    assert!(checks.load(Ordering::Relaxed) > 0);
    assert!(gate.generation() > generation);
    // The watcher counts a reload just after the gate swaps the policy: wait for it.
    until(|| watcher.stats().reloads_ok >= 1);
    assert_eq!(watcher.stats().reloads_failed, 0);
}

#[test]
fn kubernetes_data_symlink_swap_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki().write_to(d);
    // ..2026_a/crl.pem, ..data -> ..2026_a, crl.pem -> ..data/crl.pem (a ConfigMap volume).
    std::fs::create_dir(d.join("..2026_a")).unwrap();
    std::fs::write(
        d.join("..2026_a/crl.pem"),
        pki().crl_pem(Crl::IntermediateEmpty),
    )
    .unwrap();
    std::os::unix::fs::symlink("..2026_a", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/crl.pem", d.join("crl.pem")).unwrap();
    let policy = d.join("policy.toml");
    std::fs::write(&policy, policy_text("crl.pem")).unwrap();
    let gate = gate(&policy);
    let _watcher = gate.watch(&policy).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!gate.check(&chain(Leaf::Revoked), NOW).is_refused());

    std::fs::create_dir(d.join("..2026_b")).unwrap();
    std::fs::write(d.join("..2026_b/crl.pem"), pki().crl_pem(Crl::Intermediate)).unwrap();
    std::os::unix::fs::symlink("..2026_b", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    let latency = until_revoked(&gate, Leaf::Revoked);
    println!("symlink swap -> first refusal: {latency:?}");
}

#[test]
fn rename_on_save_of_the_policy_picks_up_newly_named_files() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let gate = gate(&policy);
    let watcher = gate.watch(&policy).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The editor saves a policy naming another CRL file (the empty one, for now).
    std::fs::write(
        dir.path().join("other.pem"),
        pki().crl_pem(Crl::IntermediateEmpty),
    )
    .unwrap();
    atomic_write(&policy, &policy_text("other.pem"));
    until(|| watcher.stats().reloads_ok == 1);
    assert!(!gate.check(&chain(Leaf::Revoked), NOW).is_refused());
    // The newly named file is watched too: replacing it revokes.
    atomic_write(
        &dir.path().join("other.pem"),
        &pki().crl_pem(Crl::Intermediate),
    );
    until_revoked(&gate, Leaf::Revoked);
    // Counted just after the swap the refusal shows: wait for the count, then check it stays.
    until(|| watcher.stats().reloads_ok >= 2);
    assert_eq!(watcher.stats().reloads_ok, 2);
}

#[test]
fn truncate_then_write_refuses_the_half_file_and_takes_the_complete_one() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let gate = gate(&policy);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = WatchConfig {
        hook: Some(Arc::new(move |e: &WatchEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..WatchConfig::default()
    };
    let watcher = Watcher::new(gate.clone(), &policy, config).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let generation = gate.generation();

    // In place: truncate, then write half of the new policy (it names the revoking CRL).
    let full = policy_text("intermediate.crl.pem");
    let (half, rest) = full.split_at(full.len() / 2);
    use std::io::Write;
    let mut file = std::fs::File::create(&policy).unwrap();
    file.write_all(half.as_bytes()).unwrap();
    file.flush().unwrap();
    until(|| watcher.stats().reloads_failed >= 1);
    // The half file was refused: the last good policy still serves.
    assert_eq!(gate.generation(), generation);
    assert!(!gate.check(&chain(Leaf::Revoked), NOW).is_refused());
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, WatchEvent::ReloadFailed { .. }))
    );

    file.write_all(rest.as_bytes()).unwrap();
    file.flush().unwrap();
    drop(file);
    until_revoked(&gate, Leaf::Revoked);
    until(|| watcher.stats().reloads_ok >= 1);
    let stats = watcher.stats();
    assert!(stats.reloads_failed >= 1);
    assert_eq!(stats.reloads_ok, 1);
}

#[test]
fn polling_alone_finds_changes_and_unchanged_contents_do_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let gate = gate(&policy);
    let config = WatchConfig {
        use_notify: false,
        poll_interval: Duration::from_millis(100),
        ..WatchConfig::default()
    };
    let watcher = Watcher::new(gate.clone(), &policy, config).unwrap();
    assert!(watcher.stats().polling_only);
    // Same bytes rewritten: no reload.
    std::fs::write(&policy, policy_text("crl.pem")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(watcher.stats().reloads_ok, 0);
    assert_eq!(gate.generation(), 1);
    std::fs::write(dir.path().join("crl.pem"), pki().crl_pem(Crl::Intermediate)).unwrap();
    until_revoked(&gate, Leaf::Revoked);
    until(|| watcher.stats().reloads_ok >= 1);
    assert_eq!(watcher.stats().reloads_ok, 1);
}

#[test]
fn expiry_alarm_fires_within_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let gate = gate(&policy);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = WatchConfig {
        // Ten years: every CRL's nextUpdate and the anchor's notAfter fall inside.
        expiry_horizon: Duration::from_secs(10 * 365 * 86_400),
        hook: Some(Arc::new(move |e: &WatchEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..WatchConfig::default()
    };
    let _watcher = Watcher::new(gate, &policy, config).unwrap();
    until(|| {
        let events = events.lock().unwrap();
        let has = |w: &str| {
            events
                .iter()
                .any(|e| matches!(e, WatchEvent::Expiring { what, seconds_left, .. } if *what == w && *seconds_left > 0))
        };
        has("crl_next_update") && has("anchor_not_after")
    });
}
