//! The README's demo (`examples/server.rs`), driven in-process: a second instance on a busy port
//! fails before it touches the demo PKI folder the first one serves from.
#![cfg(all(feature = "axum", feature = "server", feature = "issue"))]
// Test code: panics are failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../examples/server.rs"]
mod server_example;

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
