//! The README's demo (`examples/server.rs`), driven in-process: a second instance on a busy port
//! fails before it touches the demo PKI folder the first one serves from; with a policy naming
//! Redis, `--enroll` keeps its challenges there.
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
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../examples/server.rs"]
mod server_example;

#[allow(dead_code, unreachable_pub)]
#[path = "common/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use server_example::cli::Args;

/// Every file of the folder with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn args(dir: &Path, port: u16) -> Args {
    Args {
        policy: None,
        port,
        dir: dir.to_path_buf(),
        plain: false,
        metrics_port: None,
        audit_log: None,
        enroll: false,
    }
}

#[tokio::test]
async fn a_second_demo_on_a_busy_port_fails_before_touching_the_pki() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo-pki");
    // Someone holds the port.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();

    // No PKI yet: a failed start must not generate one.
    let err = server_example::run(&args(&dir, port), async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("binding 127.0.0.1:{port}")), "{err}");
    assert!(
        !dir.exists(),
        "a start that could not bind generated {dir:?}"
    );

    // A first instance (on a free port, stopped at once) generates the PKI and signs CRLs.
    server_example::run(&args(&dir, 0), async {}).await.unwrap();
    let before = snapshot(&dir);
    assert!(
        before
            .keys()
            .any(|p| p.to_string_lossy().ends_with(".crl.pem")),
        "{before:?}"
    );

    // A second instance on the busy port changes nothing in it (no re-signed CRLs).
    let err = server_example::run(&args(&dir, port), async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the demo PKI was not touched"), "{err}");
    assert_eq!(snapshot(&dir), before);
    drop(busy);

    // The demo policy configures the intermediate: a client that sends its leaf alone (iOS
    // code passing no intermediates, `openssl s_client -cert` without `-cert_chain`) is
    // accepted, and a refusal body would carry the detail (the demo turns it on).
    let policy = certgate::Policy::load(dir.join("policy.toml")).unwrap();
    let leaf = certgate::pem::read_certificates(dir.join("app.pem")).unwrap();
    let leaf_only = certgate::PeerChain::new(vec![leaf[0].clone()]);
    let identity = policy
        .verifier()
        .verify(&leaf_only, rustls_pki_types::UnixTime::now())
        .unwrap();
    assert_eq!(identity.chain_len(), 3);
}

/// Runs curl in the demo folder; returns (HTTP status, body).
fn curl(dir: &Path, port: u16, cert_args: &[&str]) -> (String, String) {
    curl_path(dir, port, cert_args, "/")
}

/// Runs curl in the demo folder for `path`; returns (HTTP status, body).
fn curl_path(dir: &Path, port: u16, cert_args: &[&str], path: &str) -> (String, String) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(["--cacert", "root.pem", "--write-out", "\n%{http_code}"])
        .args(cert_args)
        .arg(format!("https://localhost:{port}{path}"))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}; .ci/run installs it"));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

/// The demo's PKI comes from `certgate::issue`: curl with the genuine app's `app.p12`
/// (`--cert-type P12`, the password the demo prints) gets 200, the certificate the demo
/// revoked in its CA database is refused `revoked`, and the folder is a CA directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_the_demo_p12_gets_200_and_the_revoked_app_403() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo-pki");
    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut demo_args = args(&dir, port);
    demo_args.enroll = true;
    let server = server_example::run(&demo_args, async {
        let _ = stopped.await;
    });
    let client = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !dir.join("app.p12").exists() {
            assert!(std::time::Instant::now() < deadline, "no demo PKI");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for name in [
            "certgate.db",
            "ca.json",
            "root.key",
            "intermediate.key",
            "server.pem",
        ] {
            assert!(dir.join(name).exists(), "{name}");
        }
        let d = dir.clone();
        let results = tokio::task::spawn_blocking(move || {
            [
                curl(&d, port, &["--cert-type", "P12", "--cert", "app.p12:demo"]),
                curl(&d, port, &["--cert", "revoked.pem", "--key", "revoked.key"]),
                // --enroll: the enrollment router answers without a client certificate.
                curl_path(&d, port, &["-X", "POST"], "/enroll/challenge"),
            ]
        })
        .await
        .unwrap();
        let _ = stop.send(());
        results
    };
    let (served, [genuine, revoked, challenge]) = tokio::join!(server, client);
    served.unwrap();
    assert_eq!(genuine.0, "200", "{genuine:?}");
    assert!(
        genuine.1.contains("\"app_id\":\"com.example.shop\""),
        "{genuine:?}"
    );
    assert_eq!(revoked.0, "403", "{revoked:?}");
    assert_eq!(challenge.0, "200", "{challenge:?}");
    let challenge: serde_json::Value = serde_json::from_str(&challenge.1).unwrap();
    assert_eq!(
        challenge["challenge"].as_str().unwrap().len(),
        43,
        "{challenge}"
    );
    assert!(revoked.1.contains("\"code\":\"revoked\""), "{revoked:?}");
    // The revoked certificate is the CA database's record, not a hand-made CRL entry.
    let store = certgate::issue::Store::open_existing(dir.join("certgate.db")).unwrap();
    let (issued, revoked_count) = store.counts().unwrap();
    assert_eq!((issued, revoked_count), (3, 1));
}

#[tokio::test]
async fn the_demo_writes_an_audit_log_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("verdicts.log");
    let mut args = args(&tmp.path().join("demo-pki"), 0);
    args.audit_log = Some(log.clone());
    server_example::run(&args, async {}).await.unwrap();
    let report =
        certgate::audit::verify(&certgate::audit::log_files(&log).unwrap(), false).unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.records, 1, "the writer's start record: {report:?}");
}

/// With `[signals.store] kind = "redis"` in its policy, the demo's `--enroll` keeps its
/// challenges in that Redis: 200 while Redis answers, `503 enroll_failed` (fail closed) once
/// it is killed — an in-memory store would have answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_enrolls_with_the_redis_challenge_store_its_policy_names() {
    let mut redis = redis_server::RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo-pki");
    // A first start generates the PKI and its policy; the policy then names the Redis store.
    server_example::run(&args(&dir, 0), async {}).await.unwrap();
    let policy = dir.join("policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(&format!(
        "\n[signals.store]\nkind = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    ));
    std::fs::write(&policy, text).unwrap();

    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut demo_args = args(&dir, port);
    demo_args.enroll = true;
    let server = server_example::run(&demo_args, async {
        let _ = stopped.await;
    });
    let client = async {
        let d = dir.clone();
        let (up, down) = tokio::task::spawn_blocking(move || {
            // The server may still be starting: retry until it answers (bounded).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let up = loop {
                let out = std::process::Command::new("curl")
                    .args(["--silent", "--max-time", "20", "--cacert", "root.pem"])
                    .args(["--write-out", "\n%{http_code}", "-X", "POST"])
                    .arg(format!("https://localhost:{port}/enroll/challenge"))
                    .current_dir(&d)
                    .output()
                    .unwrap();
                if out.status.success() {
                    break curl_path(&d, port, &["-X", "POST"], "/enroll/challenge");
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the demo never answered"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            redis.kill();
            let down = curl_path(&d, port, &["-X", "POST"], "/enroll/challenge");
            (up, down)
        })
        .await
        .unwrap();
        let _ = stop.send(());
        (up, down)
    };
    let (served, (up, down)) = tokio::join!(server, client);
    served.unwrap();
    assert_eq!(up.0, "200", "{up:?}");
    assert_eq!(down.0, "503", "{down:?}");
    assert!(down.1.contains("\"code\":\"enroll_failed\""), "{down:?}");
}
