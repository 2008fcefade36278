//! Under a low descriptor limit, idle unauthenticated connections cannot starve genuine apps.
//!
//! The test re-runs its own binary as the server, in a child process with `ulimit -n 256`
//! (`sh -c`), with short timeouts. The parent holds 400 idle HTTP/2 connections without a
//! client certificate and 400 idle TCP connections from 127.0.0.1, then a genuine app from
//! 127.0.0.2 must get its 200 within 2 s, and every idle connection must be closed by the
//! server (at once by the caps, or by its timeout). It prints the server's RSS before, while
//! the connections are held, and after. Loopback only; bounded counts and times.
//!
//! No test harness (`harness = false`): `main` is either the parent or, with
//! `CERTGATE_FD_LIMIT_CHILD` set, the server.
// A test binary: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use certgate::server::{ServeConfig, TlsConfig};
use certgate::{AppId, AppRule, CertGateLayer, Gate, HandshakeMode, Policy, VerifierBuilder};
use common::{Leaf, NOW, SHOP, pki};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

const CHILD: &str = "CERTGATE_FD_LIMIT_CHILD";
const DESCRIPTORS: u32 = 256;
const IDLE_H2: usize = 400;
const IDLE_TCP: usize = 400;
/// The child's timeouts: short, so the test runs in seconds.
const TIMEOUT: Duration = Duration::from_secs(3);
const SERVER_NAME: &str = "server.example.com";

fn main() {
    // Speak enough of libtest's command line for cargo-nextest: `--list` names the one test
    // (none when only ignored tests are asked for), a run may pass its name and `--exact`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("fd_limit: test");
        }
        return;
    }
    match std::env::var_os(CHILD) {
        Some(dir) => child(Path::new(&dir)),
        None => parent(),
    }
}

// ---------------------------------------------------------------------------
// the server, in the child

fn child(dir: &Path) {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let policy = Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(CertificateDer::from(read("root.der")))
            .crl(CertificateRevocationListDer::from(read("intermediate.crl")))
            .crl(CertificateRevocationListDer::from(read("root.crl")))
            .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
            .build()
            .unwrap(),
    );
    let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
    let gate = Gate::builder(policy)
        .clock(move || {
            UnixTime::since_unix_epoch(Duration::from_secs(clock.load(Ordering::SeqCst)))
        })
        .build()
        .unwrap();
    let chain = vec![
        CertificateDer::from(read("server.der")),
        CertificateDer::from(read("intermediate.der")),
    ];
    let key = PrivateKeyDer::try_from(read("server.key")).unwrap();
    let tls = TlsConfig::new(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        chain,
        key,
        HandshakeMode::Defer,
    )
    .unwrap();
    let config = ServeConfig::default()
        .handshake_timeout(TIMEOUT)
        .header_read_timeout(TIMEOUT)
        .http2_idle_timeout(TIMEOUT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!(
            "port {} max_connections {} per_source {}",
            listener.local_addr().unwrap().port(),
            config.effective_max_connections(),
            config.effective_max_connections_per_source()
        );
        std::io::stdout().flush().unwrap();
        let app = Router::new()
            .route("/", get(|| async { "hello" }))
            .layer(CertGateLayer::new(gate));
        // Ends when the parent closes our stdin (or dies), and after a minute in any case.
        let stop = async {
            let _ = tokio::time::timeout(
                Duration::from_secs(60),
                tokio::task::spawn_blocking(|| {
                    let _ = std::io::stdin().read(&mut [0u8; 1]);
                }),
            )
            .await;
        };
        certgate::server::serve_with(config, listener, tls, app, stop)
            .await
            .unwrap();
    });
}

// ---------------------------------------------------------------------------
// the clients, in the parent

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    let (from, to) = (
        common::at("2026-05-01T00:00:00Z"),
        common::at("2027-06-01T00:00:00Z"),
    );
    write("root.der", pki().root().as_ref());
    write("intermediate.der", pki().intermediate().as_ref());
    write(
        "intermediate.crl",
        pki().intermediate_crl(&[], from, to).as_ref(),
    );
    write("root.crl", pki().root_crl(&[], from, to).as_ref());
    let server = pki().leaf(Leaf::Server);
    write("server.der", server.cert.as_ref());
    write("server.key", server.key().secret_der());

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {DESCRIPTORS} && exec \"$0\""))
        .arg(&exe)
        .env(CHILD, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    println!(
        "server (pid {pid}, ulimit -n {DESCRIPTORS}): {}",
        banner.trim()
    );
    let port: u16 = banner.split_whitespace().nth(1).unwrap().parse().unwrap();
    let limit = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limit
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(&DESCRIPTORS.to_string())),
        "{limit}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(scenario(pid, port));
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    if let Err(failure) = outcome {
        eprintln!("FAILED: {failure}");
        std::process::exit(1);
    }
    println!("fd_limit: ok");
}

/// The server's resident set size in KiB and its open descriptors.
fn server_usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

async fn tcp_from(from: &str, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    tokio::time::timeout(
        Duration::from_secs(2),
        socket.connect(([127, 0, 0, 1], port).into()),
    )
    .await
    .map_err(|_| std::io::Error::other("connect timed out"))?
}

fn client_config(with_certificate: bool, alpn: &[u8]) -> Arc<ClientConfig> {
    #[derive(Debug)]
    struct FixedTime;
    impl rustls::time_provider::TimeProvider for FixedTime {
        fn current_time(&self) -> Option<UnixTime> {
            Some(NOW)
        }
    }
    let mut roots = RootCertStore::empty();
    roots.add(pki().root()).unwrap();
    let builder = ClientConfig::builder_with_details(
        Arc::new(rustls::crypto::ring::default_provider()),
        Arc::new(FixedTime),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let genuine = pki().leaf(Leaf::Genuine);
    let mut config = if with_certificate {
        builder
            .with_client_auth_cert(genuine.chain(), genuine.key())
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// How one idle connection ended.
#[derive(Debug)]
enum End {
    /// Refused before it was established (a cap closed it at accept).
    Refused,
    /// Established, then closed by the server after this long.
    ClosedAfter(Duration),
    /// Still open at the deadline.
    Open,
}

async fn idle_h2(port: u16, deadline: Instant) -> End {
    let Ok(tcp) = tcp_from("127.0.0.1", port).await else {
        return End::Refused;
    };
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let connect = TlsConnector::from(client_config(false, b"h2")).connect(name, tcp);
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
        return End::Refused;
    };
    let Ok(Ok((_sender, connection))) = tokio::time::timeout(
        Duration::from_secs(2),
        hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(tls),
        ),
    )
    .await
    else {
        return End::Refused;
    };
    let established = Instant::now();
    match tokio::time::timeout_at(deadline.into(), connection).await {
        Ok(_) => End::ClosedAfter(established.elapsed()),
        Err(_) => End::Open,
    }
}

async fn idle_tcp(port: u16, deadline: Instant) -> End {
    let Ok(mut tcp) = tcp_from("127.0.0.1", port).await else {
        return End::Refused;
    };
    let opened = Instant::now();
    let mut byte = [0u8; 1];
    match tokio::time::timeout_at(deadline.into(), tcp.read(&mut byte)).await {
        // Closed within a moment of connecting: by a cap, at accept.
        Ok(_) if opened.elapsed() < Duration::from_millis(500) => End::Refused,
        Ok(_) => End::ClosedAfter(opened.elapsed()),
        Err(_) => End::Open,
    }
}

async fn genuine_request(port: u16) -> Result<u16, String> {
    let tcp = tcp_from("127.0.0.2", port)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let tls = TlsConnector::from(client_config(true, b"h2"))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::get(format!("https://{SERVER_NAME}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

async fn scenario(pid: u32, port: u16) -> Result<(), String> {
    let (rss_before, fds_before) = server_usage(pid);
    println!("server before: VmRSS {rss_before} KiB, {fds_before} descriptors");

    // Every idle connection must be closed by the server well before this.
    let deadline = Instant::now() + TIMEOUT * 2 + Duration::from_secs(6);
    let mut idle = JoinSet::new();
    for i in 0..IDLE_H2 + IDLE_TCP {
        if i < IDLE_H2 {
            idle.spawn(async move { ("h2", idle_h2(port, deadline).await) });
        } else {
            idle.spawn(async move { ("tcp", idle_tcp(port, deadline).await) });
        }
    }
    // Let the flood land (all connects attempted), then measure while it is held.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (rss_held, fds_held) = server_usage(pid);
    println!("server holding the idle connections: VmRSS {rss_held} KiB, {fds_held} descriptors");

    let started = Instant::now();
    let genuine = tokio::time::timeout(Duration::from_secs(2), genuine_request(port)).await;
    let took = started.elapsed();
    println!("genuine request from 127.0.0.2: {genuine:?} in {took:?}");
    match genuine {
        Ok(Ok(200)) => {}
        other => {
            return Err(format!(
                "the genuine app did not get its 200 within 2 s: {other:?}"
            ));
        }
    }

    let (mut refused, mut closed, mut open) = (0, 0, 0);
    let mut longest = Duration::ZERO;
    while let Some(joined) = idle.join_next().await {
        match joined.unwrap() {
            (_, End::Refused) => refused += 1,
            (_, End::ClosedAfter(after)) => {
                closed += 1;
                longest = longest.max(after);
            }
            (kind, End::Open) => {
                open += 1;
                eprintln!("a {kind} connection was still open at the deadline");
            }
        }
    }
    println!(
        "idle connections: {refused} closed at accept (caps), {closed} closed by a timeout \
         (the last after {longest:?}), {open} still open"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_after, fds_after) = server_usage(pid);
    println!("server after: VmRSS {rss_after} KiB, {fds_after} descriptors");

    if open > 0 {
        return Err(format!("{open} idle connections outlived their timeouts"));
    }
    if closed == 0 {
        return Err("no idle connection was established at all: the test proves nothing".into());
    }
    if longest > TIMEOUT + Duration::from_secs(3) {
        return Err(format!(
            "an idle connection lived {longest:?}, timeout {TIMEOUT:?}"
        ));
    }
    if fds_held > usize::try_from(DESCRIPTORS).unwrap() {
        return Err(format!("{fds_held} descriptors over the limit"));
    }
    if fds_after > fds_before + 4 {
        return Err(format!(
            "descriptors leaked: {fds_before} before, {fds_after} after"
        ));
    }
    Ok(())
}
