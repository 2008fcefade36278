//! The verdict log over a real gate and the real `certgate audit` binary: what a record holds,
//! `verify` catching a modified, deleted, inserted or reordered record (and naming it),
//! `replay` catching an edited decision whose hash chain was recomputed, rotation, restarts,
//! and a stalled disk that never slows a request down and shows up as a gap.
#![cfg(all(feature = "audit", feature = "cli"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use certgate::audit::{AuditConfig, AuditFilter, AuditLog, Fsync};
use certgate::{ConnectionMemo, Gate, PeerChain, Policy};
use common::{Crl, Leaf, NOW, hex, pki};
use serde_json::Value;
use sha2::{Digest, Sha256};

const POLICY: &str = "[trust]\nanchors = [\"root.pem\"]\nintermediates = [\"intermediate.pem\"]\n\n\
[revocation]\ncrls = [\"intermediate.crl.pem\", \"root.crl.pem\"]\n\n\
[modes]\nobserve = [\"expired\"]\n\n[[apps]]\nid = \"com.example.shop\"\n";

fn setup(dir: &Path) -> PathBuf {
    pki().write_to(dir);
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    policy
}

fn gate(policy: &Path, log: &AuditLog) -> Gate {
    Gate::builder(Policy::load(policy).unwrap())
        .clock(|| NOW)
        .audit_log(log)
        .build()
        .unwrap()
}

fn chain(leaf: Leaf) -> PeerChain {
    PeerChain::new(pki().leaf(leaf).chain())
}

fn peer() -> Option<SocketAddr> {
    Some("203.0.113.7:4242".parse().unwrap())
}

fn quiet() -> AuditConfig {
    AuditConfig {
        fsync: Fsync::Never,
        ..AuditConfig::default()
    }
}

/// One verdict of each kind: accept, refusals (revoked, app_not_allowed, unknown_issuer,
/// no_certificate), an observed rejection (expired) and a cache hit. 7 verdict records.
fn drive(gate: &Gate) {
    for leaf in [
        Leaf::Genuine,
        Leaf::Revoked,
        Leaf::OtherApp,
        Leaf::ForeignCa,
        Leaf::Expired,
    ] {
        gate.check_from(&chain(leaf), NOW, peer());
    }
    gate.check_from(&PeerChain::new(Vec::new()), NOW, peer());
    // A cache hit is a verdict the gate looked up: recorded too.
    gate.check_from(&chain(Leaf::Genuine), NOW, peer());
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn records(path: &Path) -> Vec<Value> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn sha_hex(line: &str) -> String {
    hex(&Sha256::digest(line.as_bytes()))
}

fn certgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(args)
        .output()
        .expect("run certgate")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `certgate audit <cmd> <log> --json`: (exit code, the JSON document).
fn audit_json(cmd: &str, log: &Path) -> (i32, Value) {
    let out = certgate(&["audit", cmd, "--json", log.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "one JSON document: {text}");
    (
        out.status.code().unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

/// A log of `drive` in `dir/verdicts.log`.
fn written_log(dir: &Path) -> PathBuf {
    let policy = setup(dir);
    let path = dir.join("verdicts.log");
    let log = AuditLog::open(&path, quiet()).unwrap();
    let gate = gate(&policy, &log);
    drive(&gate);
    drop(gate);
    drop(log);
    path
}

#[test]
fn every_verdict_is_recorded_with_its_chain_policy_snapshot_and_hash_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_log(dir.path());
    let records = records(&path);
    let lines = lines(&path);

    // The hash chain: seq 0, 1, 2, …; prev = SHA-256 of the previous line.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        let prev = if i == 0 {
            "0".repeat(64)
        } else {
            sha_hex(&lines[i - 1])
        };
        assert_eq!(r["prev"], prev.as_str(), "record {i}");
    }
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "start");
    assert_eq!(kinds.iter().filter(|k| **k == "policy").count(), 1);
    // One chain record per distinct chain (six: the repeated Genuine is not written again),
    // each before the first verdict that uses it.
    assert_eq!(kinds.iter().filter(|k| **k == "chain").count(), 6);
    let verdicts: Vec<&Value> = records.iter().filter(|r| r["kind"] == "verdict").collect();
    assert_eq!(verdicts.len(), 7);

    let policy = Policy::load(dir.path().join("policy.toml")).unwrap();
    let digest = hex(&policy.digest().unwrap());
    let snapshot = records.iter().find(|r| r["kind"] == "policy").unwrap();
    assert_eq!(snapshot["digest"], digest.as_str());
    assert_eq!(snapshot["text"], POLICY);
    let files: Vec<&str> = snapshot["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "root.pem",
            "intermediate.pem",
            "intermediate.crl.pem",
            "root.crl.pem"
        ]
    );
    assert_eq!(snapshot["modes"]["expired"], "observe");
    assert_eq!(snapshot["modes"]["revoked"], "enforce");

    let by_code = |code: &str| -> &Value {
        verdicts
            .iter()
            .find(|v| v["code"] == code)
            .unwrap_or_else(|| panic!("no {code} verdict"))
    };
    let accept = by_code("accept");
    assert_eq!(accept["action"], "accept");
    assert_eq!(accept["codes"], serde_json::json!([]));
    assert_eq!(accept["app_id"], "com.example.shop");
    assert_eq!(
        accept["fingerprint"],
        hex(&Sha256::digest(&pki().leaf(Leaf::Genuine).cert)).as_str()
    );
    assert_eq!(
        accept["chain"],
        hex(&chain(Leaf::Genuine).digest()).as_str()
    );
    assert_eq!(accept["peer_addr"], "203.0.113.7:4242");
    assert_eq!(accept["generation"], 1);
    assert_eq!(accept["policy"], digest.as_str());
    assert_eq!(accept["time"], NOW.as_secs());
    // cRLNumbers of the two CRLs, hex.
    let numbers = serde_json::json!([
        format!("{:04x}", Crl::Intermediate.number()),
        format!("{:04x}", Crl::Root.number())
    ]);
    assert_eq!(accept["crl_numbers"], numbers);
    assert_eq!(accept["cached"], false);
    assert_eq!(verdicts[6]["code"], "accept");
    assert_eq!(verdicts[6]["cached"], true);

    assert_eq!(by_code("revoked")["action"], "refuse");
    assert_eq!(by_code("app_not_allowed")["action"], "refuse");
    assert_eq!(by_code("unknown_issuer")["action"], "refuse");
    let none = by_code("no_certificate");
    assert_eq!(none["action"], "refuse");
    assert_eq!(none["fingerprint"], Value::Null);
    let expired = by_code("expired");
    assert_eq!(expired["action"], "observe");
    assert_eq!(expired["codes"][0], "expired");
}

#[test]
fn a_memoized_accept_is_not_recorded_again_but_every_refusal_is() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let path = dir.path().join("verdicts.log");
    let log = AuditLog::open(&path, quiet()).unwrap();
    let gate = gate(&policy, &log);
    let (good, bad) = (ConnectionMemo::default(), ConnectionMemo::default());
    for _ in 0..3 {
        assert!(
            !gate
                .check_connection(&chain(Leaf::Genuine), &good, peer())
                .is_refused()
        );
        assert!(
            gate.check_connection(&chain(Leaf::Revoked), &bad, peer())
                .is_refused()
        );
    }
    log.flush();
    assert_eq!(log.stats().recorded, 4);
    drop(gate);
    drop(log);
    let verdicts: Vec<Value> = records(&path)
        .into_iter()
        .filter(|r| r["kind"] == "verdict")
        .collect();
    let accepts = verdicts.iter().filter(|v| v["action"] == "accept").count();
    let refusals: Vec<&Value> = verdicts
        .iter()
        .filter(|v| v["action"] == "refuse")
        .collect();
    assert_eq!(accepts, 1);
    assert_eq!(refusals.len(), 3);
    assert_eq!(refusals[1]["cached"], true);
}

#[test]
fn refusals_only_records_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let path = dir.path().join("verdicts.log");
    let log = AuditLog::open(
        &path,
        AuditConfig {
            record: AuditFilter::Refusals,
            ..quiet()
        },
    )
    .unwrap();
    drive(&gate(&policy, &log));
    drop(log);
    let actions: Vec<String> = records(&path)
        .iter()
        .filter(|r| r["kind"] == "verdict")
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["refuse"; 4]);
    assert_eq!(audit_json("verify", &path).0, 0);
}

#[test]
fn verify_passes_an_intact_log_and_prints_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_log(dir.path());
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["intact"], true);
    assert_eq!(report["verdicts"], 7);
    assert_eq!(report["records"], lines(&path).len() as u64);
    assert_eq!(report["first_seq"], 0);
    assert_eq!(report["gaps"], serde_json::json!([]));
    assert_eq!(report["problem"], Value::Null);
    assert_eq!(
        report["head"],
        sha_hex(lines(&path).last().unwrap()).as_str()
    );
    assert_eq!(report["files"][0], path.to_str().unwrap());
    // The text form.
    let out = certgate(&["audit", "verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("intact: "), "{}", stdout(&out));
}

/// The line (0-based) of a verdict record in the middle of the log.
fn middle_verdict(lines: &[String]) -> usize {
    let verdicts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"kind\":\"verdict\""))
        .map(|(i, _)| i)
        .collect();
    verdicts[verdicts.len() / 2]
}

fn tampered(dir: &Path, edit: impl FnOnce(&mut Vec<String>) -> usize) -> (usize, Output, Value) {
    let path = written_log(dir);
    let mut lines = lines(&path);
    let bad = edit(&mut lines);
    write_lines(&path, &lines);
    let text = certgate(&["audit", "verify", path.to_str().unwrap()]);
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 1, "{report}");
    assert_eq!(text.status.code(), Some(1));
    assert_eq!(report["intact"], false);
    // The text names the first bad record by line.
    assert!(
        stdout(&text).contains(&format!("line {} ", bad + 1)),
        "{}",
        stdout(&text)
    );
    assert_eq!(report["problem"]["line"], (bad + 1) as u64, "{report}");
    (bad, text, report)
}

#[test]
fn verify_names_a_modified_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text, report) = tampered(dir.path(), |lines| {
        let k = middle_verdict(lines);
        // One byte: the time, one second later.
        lines[k] = lines[k].replacen("\"time\":1780272000", "\"time\":1780272001", 1);
        k
    });
    assert_eq!(report["problem"]["kind"], "modified");
    assert!(stdout(&text).starts_with("MODIFIED: "), "{}", stdout(&text));
}

#[test]
fn verify_names_a_deleted_record() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, _, report) = tampered(dir.path(), |lines| {
        let k = middle_verdict(lines);
        lines.remove(k);
        // The first bad record is the one after the hole (now at line k).
        k
    });
    assert_eq!(report["problem"]["kind"], "deleted");
    assert_eq!(report["problem"]["seq"], (bad + 1) as u64);
}

#[test]
fn verify_names_an_inserted_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, report) = tampered(dir.path(), |lines| {
        let k = middle_verdict(lines);
        // A forged accept that links correctly to the record before it.
        let mut forged: Value = serde_json::from_str(&lines[k]).unwrap();
        forged["action"] = "accept".into();
        forged["code"] = "accept".into();
        forged["codes"] = serde_json::json!([]);
        forged["prev"] = sha_hex(&lines[k - 1]).into();
        lines.insert(k, forged.to_string());
        k
    });
    assert_eq!(report["problem"]["kind"], "inserted");
}

#[test]
fn verify_names_reordered_records() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, report) = tampered(dir.path(), |lines| {
        let k = middle_verdict(lines);
        lines.swap(k, k + 1);
        k
    });
    assert_eq!(report["problem"]["kind"], "reordered");
}

#[test]
fn verify_and_replay_exit_2_when_the_log_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["verify", "replay"] {
        for path in [dir.path().join("missing.log"), dir.path().to_path_buf()] {
            let out = certgate(&["audit", cmd, path.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2), "{cmd} {}", path.display());
            let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            assert_eq!(line["verdict"], "error");
            assert_eq!(line["code"], "input");
        }
    }
}

#[test]
fn verify_reports_a_cut_last_line_and_the_writer_repairs_it_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_log(dir.path());
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"{\"seq\":99,\"prev\":\"ab").unwrap();
    drop(file);
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 1);
    assert_eq!(report["problem"]["kind"], "truncated");

    // Reopened, the incomplete line is cut and the chain goes on.
    let log = AuditLog::open(&path, quiet()).unwrap();
    drive(&gate(&dir.path().join("policy.toml"), &log));
    drop(log);
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdicts"], 14);
    let starts: Vec<Value> = records(&path)
        .into_iter()
        .filter(|r| r["kind"] == "start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["reason"], "open");
    assert_eq!(starts[1]["truncated_bytes"], 20);
    assert_eq!(audit_json("replay", &path).0, 0);
}

#[test]
fn replay_reproduces_every_decision_and_catches_an_edited_one_with_a_rebuilt_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_log(dir.path());
    let (code, report) = audit_json("replay", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["reproduced"], true);
    assert_eq!(report["verdicts"], 7);
    assert_eq!(report["replayed"], 7);
    assert_eq!(report["differences"], serde_json::json!([]));

    // Turn the revoked refusal into an accept and recompute every hash after it: `verify`
    // cannot tell, `replay` can.
    let mut lines = lines(&path);
    let k = lines
        .iter()
        .position(|l| l.contains("\"code\":\"revoked\""))
        .unwrap();
    let mut edited: Value = serde_json::from_str(&lines[k]).unwrap();
    edited["action"] = "accept".into();
    edited["code"] = "accept".into();
    edited["codes"] = serde_json::json!([]);
    lines[k] = edited.to_string();
    for i in k + 1..lines.len() {
        let mut r: Value = serde_json::from_str(&lines[i]).unwrap();
        r["prev"] = sha_hex(&lines[i - 1]).into();
        lines[i] = r.to_string();
    }
    write_lines(&path, &lines);
    assert_eq!(audit_json("verify", &path).0, 0, "the chain was rebuilt");
    let (code, report) = audit_json("replay", &path);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["reproduced"], false);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{report}");
    let d = &differences[0];
    assert_eq!(d["line"], (k + 1) as u64);
    assert_eq!(d["seq"], edited["seq"]);
    assert_eq!(d["recorded_action"], "accept");
    assert_eq!(d["replayed_action"], "refuse");
    assert_eq!(d["replayed_codes"], serde_json::json!(["revoked"]));
    let text = certgate(&["audit", "replay", path.to_str().unwrap()]);
    assert_eq!(text.status.code(), Some(1));
    assert!(
        stdout(&text).contains(&format!("differs: seq {}", edited["seq"])),
        "{}",
        stdout(&text)
    );
}

#[test]
fn rotation_keeps_the_hash_chain_across_files_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let path = dir.path().join("verdicts.log");
    let config = AuditConfig {
        rotate_bytes: 16 << 10,
        ..quiet()
    };
    for _ in 0..2 {
        // Two runs: the second continues the first's chain.
        let log = AuditLog::open(&path, config.clone()).unwrap();
        let gate = gate(&policy, &log);
        for _ in 0..10 {
            drive(&gate);
        }
        drop(gate);
        log.flush();
        assert!(log.stats().rotations >= 2, "{:?}", log.stats());
    }
    let files = certgate::audit::log_files(&path).unwrap();
    assert!(files.len() >= 5, "{files:?}");
    assert_eq!(files.last().unwrap(), &path);
    // Every file starts with a start record and carries the chains and policy it uses.
    for file in &files {
        let first = &records(file)[0];
        assert_eq!(first["kind"], "start", "{}", file.display());
    }
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdicts"], 140);
    assert_eq!(report["files"].as_array().unwrap().len(), files.len());
    let (code, report) = audit_json("replay", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["replayed"], 140);
    // The files given one by one, in order, are the same log.
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    assert_eq!(certgate(&args).status.code(), Some(0));

    // A rotated file removed from the middle: deleted records.
    std::fs::remove_file(&files[1]).unwrap();
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 1);
    assert_eq!(report["problem"]["kind"], "deleted");
    assert_eq!(report["problem"]["file"], files[2].to_str().unwrap());
    assert_eq!(report["problem"]["line"], 1);
    // The oldest removed (pruned on purpose): only with --allow-pruned.
    std::fs::remove_file(&files[0]).unwrap();
    assert_eq!(audit_json("verify", &path).0, 1);
    let out = certgate(&["audit", "verify", "--allow-pruned", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A writer that blocks until released: a disk that stalls.
#[derive(Clone)]
struct StalledDisk {
    open: Arc<(Mutex<bool>, Condvar)>,
    written: Arc<Mutex<Vec<u8>>>,
    /// Set once a write is waiting for the disk.
    waiting: Arc<std::sync::atomic::AtomicBool>,
}

impl StalledDisk {
    fn new() -> Self {
        Self {
            open: Arc::new((Mutex::new(false), Condvar::new())),
            written: Arc::default(),
            waiting: Arc::default(),
        }
    }

    fn release(&self) {
        let (lock, cvar) = &*self.open;
        *lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cvar.notify_all();
    }
}

/// Releases the disk when dropped: a failed assertion must not leave the writer blocked.
struct ReleaseOnDrop(StalledDisk);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Write for StalledDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            self.waiting
                .store(true, std::sync::atomic::Ordering::SeqCst);
            open = cvar.wait(open).unwrap();
        }
        self.written.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_disk_never_slows_a_request_and_leaves_a_gap_verify_reports() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let disk = StalledDisk::new();
    let log = AuditLog::to_writer(
        disk.clone(),
        AuditConfig {
            queue_capacity: 64,
            ..quiet()
        },
    );
    let _release = ReleaseOnDrop(disk.clone());
    let gate = gate(&policy, &log);
    let chains: Vec<PeerChain> = [Leaf::Genuine, Leaf::Revoked, Leaf::Second]
        .into_iter()
        .map(chain)
        .collect();
    // Warm the verdict cache, so the loop measures the request path, not verification.
    for c in &chains {
        gate.check_from(c, NOW, peer());
    }
    let requests = 20_000;
    let measure = |gate: &Gate| {
        let mut latencies = Vec::with_capacity(requests);
        for i in 0..requests {
            let started = Instant::now();
            gate.check_from(&chains[i % chains.len()], NOW, peer());
            latencies.push(started.elapsed());
        }
        latencies.sort();
        (
            latencies[requests / 2],
            latencies[requests * 99 / 100],
            latencies[requests - 1],
        )
    };
    // The same requests on a gate without an audit log: the baseline.
    let plain = Gate::builder(Policy::load(&policy).unwrap())
        .clock(|| NOW)
        .build()
        .unwrap();
    for c in &chains {
        plain.check_from(c, NOW, peer());
    }
    let (b50, b99, bmax) = measure(&plain);
    let (p50, p99, max) = measure(&gate);
    eprintln!(
        "{requests} cached requests: no audit log p50 {b50:?} p99 {b99:?} max {bmax:?}; \
         stalled audit disk p50 {p50:?} p99 {p99:?} max {max:?}"
    );
    // Nothing waits for the disk: the disk stays stalled until released below, so a request
    // that waited for it would never finish. The bounds are loose on purpose (two shared cores,
    // a debug build, scheduler pauses); the figures are printed above, not asserted.
    assert!(max < Duration::from_secs(2), "max {max:?}");
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
    let _ = (b50, b99, bmax, p50);
    let stats = log.stats();
    assert_eq!(stats.recorded, 0, "{stats:?}");
    let total = (requests + chains.len()) as u64;
    // The queue holds 64; the writer took a few more before its first write blocked (at most
    // one batch buffer); everything else was dropped, not waited for.
    assert!(stats.dropped >= total - 64 - 1024, "{stats:?}");

    // The disk comes back: what was queued is written, then gap records for the drops (one
    // per run of drops: how many runs depends on when the writer got a record through).
    disk.release();
    log.flush();
    let stats = log.stats();
    assert_eq!(stats.recorded + stats.dropped, total, "{stats:?}");
    assert!(stats.gaps >= 1, "{stats:?}");
    drop(gate);
    drop(log);
    let path = dir.path().join("stalled.log");
    std::fs::write(&path, &*disk.written.lock().unwrap()).unwrap();
    let (code, report) = audit_json("verify", &path);
    assert_eq!(code, 0, "a gap is not tampering: {report}");
    assert_eq!(report["intact"], true);
    assert_eq!(report["dropped"], stats.dropped);
    let gaps = report["gaps"].as_array().unwrap();
    assert_eq!(u64::try_from(gaps.len()).unwrap(), stats.gaps);
    let in_gaps: u64 = gaps.iter().map(|g| g["dropped"].as_u64().unwrap()).sum();
    assert_eq!(in_gaps, stats.dropped, "every drop is in a gap record");
    let text = stdout(&certgate(&["audit", "verify", path.to_str().unwrap()]));
    assert!(text.contains("verdict records dropped"), "{text}");
    // What was written still replays.
    assert_eq!(audit_json("replay", &path).0, 0);
}

#[test]
fn a_reload_records_a_new_policy_snapshot_and_replay_uses_each() {
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let path = dir.path().join("verdicts.log");
    let log = AuditLog::open(&path, quiet()).unwrap();
    let gate = gate(&policy, &log);
    assert!(
        gate.check_from(&chain(Leaf::Revoked), NOW, peer())
            .is_refused()
    );
    // The revoked app is observed now: same chain, another decision under generation 2.
    std::fs::write(
        &policy,
        POLICY.replace(
            "observe = [\"expired\"]",
            "observe = [\"expired\", \"revoked\"]",
        ),
    )
    .unwrap();
    gate.reload_from_file(&policy).unwrap();
    assert!(
        !gate
            .check_from(&chain(Leaf::Revoked), NOW, peer())
            .is_refused()
    );
    drop(gate);
    drop(log);

    let records = records(&path);
    let digests: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "policy")
        .map(|r| r["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests.len(), 2);
    assert_ne!(digests[0], digests[1]);
    let verdicts: Vec<&Value> = records.iter().filter(|r| r["kind"] == "verdict").collect();
    assert_eq!(
        (
            verdicts[0]["action"].as_str(),
            verdicts[0]["generation"].as_u64()
        ),
        (Some("refuse"), Some(1))
    );
    assert_eq!(
        (
            verdicts[1]["action"].as_str(),
            verdicts[1]["generation"].as_u64()
        ),
        (Some("observe"), Some(2))
    );
    assert_eq!(verdicts[0]["policy"], digests[0]);
    assert_eq!(verdicts[1]["policy"], digests[1]);
    // The chain was written once.
    assert_eq!(records.iter().filter(|r| r["kind"] == "chain").count(), 1);
    // Each decision replays under its own snapshot, read from the log (the policy file on
    // disk changed since the first one).
    let (code, report) = audit_json("replay", &path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["replayed"], 2);
}

#[cfg(feature = "metrics")]
#[test]
fn dropped_records_are_counted_in_certgate_audit_dropped_total() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let disk = StalledDisk::new();
    let log = AuditLog::to_writer(
        disk.clone(),
        AuditConfig {
            queue_capacity: 4,
            ..quiet()
        },
    );
    let _release = ReleaseOnDrop(disk.clone());
    metrics::with_local_recorder(&recorder, || {
        let gate = gate(&policy, &log);
        for _ in 0..50 {
            gate.check_from(&chain(Leaf::Genuine), NOW, peer());
        }
    });
    let dropped = log.stats().dropped;
    assert!(dropped >= 40, "{:?}", log.stats());
    let text = handle.render();
    assert!(
        text.contains("# HELP certgate_audit_dropped_total"),
        "{text}"
    );
    let sample = text
        .lines()
        .find(|l| l.starts_with("certgate_audit_dropped_total "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(sample, format!("certgate_audit_dropped_total {dropped}"));
    disk.release();
    log.flush();
    // At least one gap record shows the drops (how many depends on when the writer thread got
    // a record through between drops: each run of drops is one gap).
    let stats = log.stats();
    assert!(stats.gaps >= 1 && stats.gaps <= stats.dropped, "{stats:?}");
}

#[test]
fn the_queue_is_bounded_in_bytes_while_the_disk_stalls() {
    // 100 verdicts on a ~20 KiB chain each, behind a stalled disk (the writer blocked in a
    // write first), a queue of 100 000 entries but 256 KiB: about 12 wait, the others are
    // dropped and counted, never held. The same load under the default 64 MiB drops nothing.
    let dir = tempfile::tempdir().unwrap();
    let policy = setup(dir.path());
    let huge = chain(Leaf::Huge);
    let bytes: usize = huge.certs().iter().map(|c| c.len()).sum();
    assert!(bytes > 20_000, "{bytes}");
    for (max_bytes, bounded) in [(256 << 10, true), (64 << 20, false)] {
        let disk = StalledDisk::new();
        let log = AuditLog::to_writer(
            disk.clone(),
            AuditConfig {
                queue_capacity: 100_000,
                queue_max_bytes: max_bytes,
                ..quiet()
            },
        );
        let _release = ReleaseOnDrop(disk.clone());
        let gate = gate(&policy, &log);
        // One verdict the writer takes, then blocks on.
        gate.check_from(&chain(Leaf::Genuine), NOW, peer());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !disk.waiting.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the writer never wrote");
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..100 {
            gate.check_from(&huge, NOW, peer());
        }
        let stats = log.stats();
        if bounded {
            let held = 100 - usize::try_from(stats.dropped).unwrap();
            // Each held verdict counts its chain's bytes and its queue slot (< 1 KiB).
            assert!(held <= max_bytes / bytes, "{held} {stats:?}");
            assert!(held >= max_bytes / (bytes + 1024), "{held} {stats:?}");
        } else {
            assert_eq!(stats.dropped, 0, "{stats:?}");
        }
        disk.release();
        log.flush();
        let stats = log.stats();
        assert_eq!(stats.recorded + stats.dropped, 101, "{stats:?}");
        assert_eq!(stats.gaps >= 1, bounded, "{stats:?}");
    }
}
