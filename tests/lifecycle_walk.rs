//! The README's lifecycle walk, run as written: the `sh` block under "Certificate lifecycle" is
//! read from README.md and executed line by line in a temporary directory — the `certgate`
//! lines with the built binary, `echo … > file` as a file write, `curl` for real against an
//! in-process certgate TLS server (`certgate::server::serve` with `CertGateLayer`, policy
//! `ca/policy.toml`), `kill -HUP` as `Gate::reload_from_file`. Between `issue` and `curl` a
//! rustls client opens a keep-alive connection with the issued PEM chain and key and gets 200;
//! after `revoke`, `crl` and the reload, that SAME connection's next request gets 403 `revoked`.
//!
//! The test FAILS when curl is missing (`.ci/run` installs it), and when the README block gains
//! a line it does not know how to run, or loses one of the steps.
#![cfg(all(
    feature = "cli",
    feature = "issue",
    feature = "server",
    feature = "axum",
    feature = "ring"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use certgate::server::TlsConfig;
use certgate::{CertGateLayer, Gate, HandshakeMode, Policy};
use common::tls_client::{Http1, ServerPki, server_pki};
use tokio::net::TcpListener;

mod common;

/// The port the README's curl line names; the test substitutes the real one.
const README_PORT: &str = "127.0.0.1:8443";

/// The walk block: the first ```sh block after the "The life of an app certificate" line.
fn walk_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let from = readme
        .find("The life of an app certificate")
        .expect("README: the lifecycle walk");
    let rest = &readme[from..];
    let start = rest.find("```sh\n").expect("README: the walk's sh block") + 6;
    let end = start + rest[start..].find("```").unwrap();
    rest[start..end].lines().map(str::to_owned).collect()
}

/// Shell words of `line`, without its trailing `# comment`: single and double quotes, nothing
/// else (the README block uses nothing else).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unclosed quote: {line}");
    out.extend(word);
    out
}

fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e}; .ci/run installs the tools these tests need")
    })
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// the server: its own CA (what the client trusts, tests/common/tls_client.rs), certgate's gate
// for the clients

struct Server {
    addr: SocketAddr,
    gate: Gate,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start_server(policy: &Path, pki: &ServerPki) -> Server {
    let gate = Gate::new(Policy::load(policy).unwrap());
    let tls = TlsConfig::new(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        pki.chain.clone(),
        pki.key.clone_key(),
        HandshakeMode::Defer,
    )
    .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "hello, app" }))
        .layer(CertGateLayer::new(gate.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(certgate::server::serve(listener, tls, app, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        gate,
        _shutdown: shutdown,
    }
}

// ---------------------------------------------------------------------------

/// The value after `serial:` in `certgate issue`'s human output.
fn serial_of(issue_output: &str) -> String {
    issue_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("serial:"))
        .unwrap_or_else(|| panic!("no serial in {issue_output}"))
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_lifecycle_walk_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let pki = server_pki();
    std::fs::write(dir.join("server-ca.pem"), &pki.ca_pem).unwrap();

    let mut server: Option<Server> = None;
    let mut conn: Option<Http1> = None;
    let mut serial: Option<String> = None;
    let mut steps = Vec::new();
    for line in walk_lines() {
        let w = words(&line);
        let Some(program) = w.first() else {
            continue; // a comment line
        };
        match program.as_str() {
            "certgate" => {
                let args: Vec<String> = w[1..]
                    .iter()
                    .map(|a| match (a.as_str(), &serial) {
                        ("SERIAL", Some(s)) => s.clone(),
                        ("SERIAL", None) => panic!("SERIAL before issue: {line}"),
                        _ => a.clone(),
                    })
                    .collect();
                let out = ok(Command::new(env!("CARGO_BIN_EXE_certgate"))
                    .args(&args)
                    .current_dir(&dir));
                let step = match (w[1].as_str(), w.get(2).map(String::as_str)) {
                    ("ca", Some("init")) => "ca init",
                    ("issue", _) => {
                        serial = Some(serial_of(&out));
                        // The app's server runs with the CA's policy, and a client with the
                        // issued PEM chain and key keeps a connection open: 200.
                        let s = start_server(&dir.join("ca/policy.toml"), &pki).await;
                        let app = &w[w.iter().position(|a| a == "--app").unwrap() + 1];
                        let chain =
                            certgate::pem::read_certificates(dir.join(format!("{app}.pem")))
                                .unwrap();
                        assert_eq!(chain.len(), 2, "the issued PEM holds leaf and intermediate");
                        let key = certgate::pem::read_private_key(dir.join(format!("{app}.key")))
                            .unwrap();
                        let mut c = Http1::connect(s.addr, &pki.ca, Some((chain, key))).await;
                        let reply = c.request("GET", "/", "").await;
                        assert_eq!((reply.status, reply.body.as_str()), (200, "hello, app"));
                        conn = Some(c);
                        server = Some(s);
                        "issue"
                    }
                    ("revoke", _) => "revoke",
                    ("crl", _) => "crl",
                    other => panic!("the walk runs an unexpected command: {other:?} in {line}"),
                };
                steps.push(step);
            }
            "echo" => {
                assert_eq!((w.len(), w[2].as_str()), (4, ">"), "{line}");
                std::fs::write(dir.join(&w[3]), format!("{}\n", w[1])).unwrap();
                steps.push("echo");
            }
            "curl" => {
                let addr = server.as_ref().expect("curl before the server").addr;
                let args: Vec<String> = w[1..]
                    .iter()
                    .map(|a| a.replace(README_PORT, &addr.to_string()))
                    .collect();
                assert!(
                    args.iter().any(|a| a.contains(&addr.to_string())),
                    "the README's curl calls {README_PORT}: {line}"
                );
                let out = tokio::task::spawn_blocking({
                    let dir = dir.clone();
                    move || {
                        ok(Command::new("curl")
                            .args(["--silent", "--show-error", "--fail", "--max-time", "10"])
                            .args(&args)
                            .current_dir(&dir))
                    }
                })
                .await
                .unwrap();
                assert_eq!(out, "hello, app", "curl with app.p12");
                steps.push("curl");
            }
            "kill" => {
                assert_eq!(w.get(1).map(String::as_str), Some("-HUP"), "{line}");
                let s = server.as_ref().expect("reload before the server");
                let before = s.gate.generation();
                s.gate.reload_from_file(dir.join("ca/policy.toml")).unwrap();
                assert!(s.gate.generation() > before);
                // The connection opened before the revocation: its next request is refused.
                let reply = conn.as_mut().unwrap().request("GET", "/", "").await;
                assert_eq!(reply.status, 403, "{}", reply.body);
                let problem: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                assert_eq!(problem["code"], "revoked", "{problem}");
                steps.push("reload");
            }
            other => panic!("the README walk has a line this test cannot run: {other:?} in {line}"),
        }
    }
    assert_eq!(
        steps,
        [
            "ca init", "echo", "issue", "curl", "revoke", "crl", "reload"
        ],
        "the README walk's steps"
    );
}

#[test]
fn shell_words_follow_quotes_and_drop_comments() {
    assert_eq!(
        words(r#"certgate ca init ca --name "Example Apps"   # root, DB"#),
        ["certgate", "ca", "init", "ca", "--name", "Example Apps"]
    );
    assert_eq!(
        words("curl --cert 'app.p12:app secret' x#y # z"),
        ["curl", "--cert", "app.p12:app secret", "x#y"]
    );
    assert!(words("# only a comment").is_empty());
}
