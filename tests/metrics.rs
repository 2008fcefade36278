//! The demo with `--metrics-port`: requests on few connections (HTTP/2, so refused requests
//! keep their connection), then a scrape of `/metrics` checked by `promtool check metrics`
//! (Debian's `prometheus` package, installed by `.ci/run`) and counted per request.
//!
//! Its own test binary: the Prometheus recorder is process-global, and another demo running in
//! the same process would add to the counters.
#![cfg(all(
    feature = "axum",
    feature = "server",
    feature = "issue",
    feature = "metrics",
    feature = "watch",
    feature = "audit",
    feature = "enroll",
    feature = "redis"
))]
// Test code: panics are failures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
#[path = "../examples/server.rs"]
mod server_example;

use std::path::{Path, PathBuf};
use std::process::Command;

use server_example::cli::Args;

fn free_port() -> u16 {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    free.local_addr().unwrap().port()
}

/// One curl process (so one connection, reused) making `n` HTTP/2 requests; returns each
/// request's (status, new connections opened for it).
fn curl_many(dir: &Path, port: u16, cert_args: &[&str], n: usize) -> Vec<(String, String)> {
    let url = format!("https://localhost:{port}/");
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--http2"])
        .args(["--cacert", "root.pem"])
        .args(["--write-out", "%{http_code} %{num_connects}\n"])
        .args(cert_args)
        .args((0..n).flat_map(|_| ["--output", "/dev/null", url.as_str()]))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}; .ci/run installs it"));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (status, connects) = l.split_once(' ').unwrap();
            (status.to_owned(), connects.to_owned())
        })
        .collect()
}

fn scrape(port: u16) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "20"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
}

fn promtool(text: &str) {
    let promtool = ["promtool", "/usr/bin/promtool"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .unwrap_or_else(|| panic!("no promtool; .ci/run installs Debian's prometheus package"));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed: {out:?}\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_counts_every_request_and_promtool_accepts_the_exposition() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("demo-pki");
    let (port, metrics_port) = (free_port(), free_port());
    let demo_args = Args {
        policy: None,
        port,
        dir: dir.clone(),
        plain: false,
        metrics_port: Some(metrics_port),
        audit_log: Some(tmp.path().join("verdicts.log")),
        enroll: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_example::run(&demo_args, async {
        let _ = stopped.await;
    });
    let client = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !dir.join("app.p12").exists() {
            assert!(std::time::Instant::now() < deadline, "no demo PKI");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The PKI exists before the server listens: wait until it answers.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let d = dir.clone();
        let results = tokio::task::spawn_blocking(move || {
            let genuine = curl_many(&d, port, &["--cert", "app.pem", "--key", "app.key"], 3);
            let revoked = curl_many(
                &d,
                port,
                &["--cert", "revoked.pem", "--key", "revoked.key"],
                5,
            );
            let other = curl_many(
                &d,
                port,
                &["--cert", "other-app.pem", "--key", "other-app.key"],
                2,
            );
            let none = curl_many(&d, port, &[], 1);
            let text = scrape(metrics_port);
            (genuine, revoked, other, none, text)
        })
        .await
        .unwrap();
        let _ = stop.send(());
        results
    };
    let (served, (genuine, revoked, other, none, text)) = tokio::join!(server, client);
    served.unwrap();

    // Few connections: each curl opened one and reused it for every request.
    let statuses = |r: &[(String, String)]| r.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
    let connects = |r: &[(String, String)]| r.iter().filter(|(_, c)| c != "0").count();
    assert_eq!(statuses(&genuine), ["200"; 3], "{genuine:?}");
    assert_eq!(statuses(&revoked), ["403"; 5], "{revoked:?}");
    assert_eq!(statuses(&other), ["403"; 2], "{other:?}");
    assert_eq!(statuses(&none), ["401"], "{none:?}");
    for r in [&genuine, &revoked, &other, &none] {
        assert_eq!(connects(r), 1, "one connection per curl: {r:?}");
    }

    // The demo's audit log (--audit-log): the genuine app's connection is recorded once (its
    // later requests are memoized accepts), every refused request once: 1 + 5 + 2 + 1.
    let files = certgate::audit::log_files(tmp.path().join("verdicts.log")).unwrap();
    let report = certgate::audit::verify(&files, false).unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.verdicts, 9, "{report:?}");
    let replayed = certgate::audit::replay(&files).unwrap();
    assert!(replayed.reproduced, "{replayed:?}");
    assert_eq!(replayed.replayed, 9, "{replayed:?}");

    promtool(&text);

    let requests = |code, action, app| {
        sample(
            &text,
            "certgate_requests_total",
            &[("code", code), ("action", action), ("app", app)],
        )
    };
    // Per request, not per connection: 5 refused requests on one connection count 5.
    assert_eq!(
        requests("accept", "accept", "com.example.shop"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(requests("revoked", "refuse", "other"), Some(5.0), "{text}");
    // An app the policy does not list is labelled `other` (bounded cardinality).
    assert_eq!(
        requests("app_not_allowed", "refuse", "other"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        requests("no_certificate", "refuse", "other"),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("com.example.other"),
        "an unlisted app id became a label: {text}"
    );
    assert_eq!(
        sample(&text, "certgate_policy_generation", &[]),
        Some(1.0),
        "{text}"
    );
    // The demo signs its CRLs for 30 days.
    let crl = sample(&text, "certgate_crl_expiry_seconds", &[]).unwrap();
    assert!(crl > 29.0 * 86400.0 && crl <= 30.0 * 86400.0, "{crl}");
    assert!(sample(&text, "certgate_certificate_expiry_seconds", &[]).unwrap() > crl);
    // Four distinct chains verified cold (genuine, revoked, other app, none).
    assert_eq!(
        sample(&text, "certgate_verify_seconds_count", &[]),
        Some(4.0),
        "{text}"
    );
    assert!(
        sample(&text, "certgate_cache_entries", &[]).is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "certgate_cache_bytes", &[]).is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "certgate_open_connections", &[]).is_some(),
        "{text}"
    );
}

mod common;

/// Reloads by result, the reload histogram and the gauges, through a recorder local to this
/// thread (so the demo test's global one does not see them).
#[test]
fn reloads_are_counted_by_result() {
    use certgate::{Gate, Policy, VerifierBuilder};

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let pki = common::TestPki::new();
    let policy = || {
        Policy::from_verifier(
            VerifierBuilder::new()
                .trust_anchor(pki.root())
                .build()
                .unwrap(),
        )
    };
    metrics::with_local_recorder(&recorder, || {
        let gate = Gate::new(policy());
        gate.reload(policy());
        let missing = tempfile::tempdir().unwrap().path().join("policy.toml");
        assert!(gate.reload_from_file(&missing).is_err());
        assert_eq!(gate.generation(), 2);
        gate.publish_metrics();
    });
    let text = handle.render();
    promtool(&text);
    let reloads = |result| sample(&text, "certgate_reloads_total", &[("result", result)]);
    assert_eq!(reloads("ok"), Some(1.0), "{text}");
    assert_eq!(reloads("error"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "certgate_reload_seconds_count", &[]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "certgate_policy_generation", &[]),
        Some(2.0),
        "{text}"
    );
    // The test root is valid until 2030; no CRLs, so no CRL gauge.
    assert!(sample(&text, "certgate_certificate_expiry_seconds", &[]).unwrap() > 0.0);
    assert_eq!(
        sample(&text, "certgate_crl_expiry_seconds", &[]),
        None,
        "{text}"
    );
}
