//! JA4/JA3 end to end: the server reads each connection's ClientHello before rustls and puts
//! its fingerprint into the connection's `TlsConnectInfo`. The same client certificate from two
//! TLS stacks (rustls and curl/OpenSSL) gets different JA4s; rustls configurations that differ
//! in what JA4 sees (ALPN, cipher suites) get different JA4s, and a mere reordering of cipher
//! suites keeps the JA4 (it sorts them). rustls shuffles its extension order per connection,
//! so its JA3 (which keeps the order) changes from one connection to the next; its JA4 does not.
#![cfg(all(feature = "server", feature = "axum", feature = "ring"))]
// Test code: panics are failures (helpers need the file-level allow, clippy.toml covers only
// #[test] fns).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::routing::get;
use certgate::server::{TlsConnectInfo, TlsListener};
use certgate::{AppId, AppRule, CertGateLayer, Gate, HandshakeMode, Policy, VerifierBuilder};
use common::{Leaf, NOW, SHOP, at, pki};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

const STEP: Duration = Duration::from_secs(10);
const SERVER_NAME: &str = "server.example.com";

#[derive(Clone, Copy, Debug)]
enum Shape {
    Serve,
    Listener,
}

/// `GET /fp`: `ja4 ja3` of the connection, from the `TlsConnectInfo` extension (`serve`) or the
/// connect info (`TlsListener`); `none` without a fingerprint.
async fn fingerprint(req: axum::extract::Request) -> String {
    let ext = req.extensions();
    let info = ext
        .get::<TlsConnectInfo>()
        .or_else(|| ext.get::<ConnectInfo<TlsConnectInfo>>().map(|c| &c.0))
        .expect("TlsConnectInfo on the request");
    match &info.fingerprint {
        Some(fp) => format!("{} {}", fp.ja4, fp.ja3.as_deref().unwrap_or("-")),
        None => "none".to_owned(),
    }
}

struct Server {
    addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

async fn start(shape: Shape) -> Server {
    let (from, to) = (at("2026-05-01T00:00:00Z"), at("2027-06-01T00:00:00Z"));
    let policy = Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().intermediate_crl(&[], from, to))
            .crl(pki().root_crl(&[], from, to))
            .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
            .build()
            .unwrap(),
    );
    let gate = Gate::builder(policy).clock(|| NOW).build().unwrap();
    let server_leaf = pki().leaf(Leaf::Server);
    let tls = certgate::server::server_config(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        server_leaf.chain(),
        server_leaf.key(),
        HandshakeMode::Defer,
    )
    .unwrap();
    let app = Router::new()
        .route("/fp", get(fingerprint))
        .layer(CertGateLayer::new(gate));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    match shape {
        Shape::Serve => {
            tokio::spawn(certgate::server::serve(listener, tls, app, stopped));
        }
        Shape::Listener => {
            let listener = TlsListener::new(listener, tls).unwrap();
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<TlsConnectInfo>(),
                )
                .with_graceful_shutdown(stopped)
                .await
            });
        }
    }
    Server {
        addr,
        _shutdown: shutdown,
    }
}

#[derive(Debug)]
struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(NOW)
    }
}

/// A rustls client presenting the genuine leaf, with `provider`'s suites and `alpn`.
fn client(provider: CryptoProvider, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki().root()).unwrap();
    let leaf = pki().leaf(Leaf::Genuine);
    let mut config = ClientConfig::builder_with_details(Arc::new(provider), Arc::new(FixedTime))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(leaf.chain(), leaf.key())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// `GET /fp` over HTTP/1.1 through a rustls client: the status and body.
async fn rustls_get(addr: SocketAddr, config: Arc<ClientConfig>) -> (u16, String) {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let mut tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
        let request =
            format!("GET /fp HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        // The server closes after the response; a missing close_notify is not our concern.
        let _ = tls.read_to_end(&mut response).await;
        parse_response(&String::from_utf8(response).unwrap())
    };
    tokio::time::timeout(STEP, exchange)
        .await
        .expect("rustls exchange in time")
}

fn parse_response(text: &str) -> (u16, String) {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{text}"));
    (head[9..12].parse().unwrap(), body.trim().to_owned())
}

/// `GET /fp` through curl (OpenSSL), presenting the same leaf; SNI as for rustls.
async fn curl_get(addr: SocketAddr, dir: &std::path::Path) -> (u16, String) {
    let leaf = pki().leaf(Leaf::Genuine);
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, leaf.chain_pem()).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let port = addr.port();
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "-k", "--http1.1", "-i", "--max-time", "10"])
        .arg("--resolve")
        .arg(format!("{SERVER_NAME}:{port}:127.0.0.1"))
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(format!("https://{SERVER_NAME}:{port}/fp"))
        .output()
        .await
        .unwrap_or_else(|e| panic!("curl is needed for this test (.ci/run installs it): {e}"));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "curl failed: {text} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_response(&text)
}

/// `t13d…_<12 hex>_<12 hex> <32 hex>`.
fn assert_shape(body: &str) -> (String, String) {
    let (ja4, ja3) = body.split_once(' ').unwrap_or_else(|| panic!("{body:?}"));
    let parts: Vec<&str> = ja4.split('_').collect();
    assert_eq!(parts.len(), 3, "{ja4}");
    assert!(
        parts[0].starts_with("t13d") && parts[0].len() == 10,
        "{ja4}"
    );
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    assert!(hex(parts[1], 12) && hex(parts[2], 12), "{ja4}");
    assert!(hex(ja3, 32), "{ja3}");
    (ja4.to_owned(), ja3.to_owned())
}

fn ring() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[tokio::test]
async fn two_tls_stacks_with_the_same_certificate_get_different_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape).await;
        let (status, body) = rustls_get(server.addr, client(ring(), &[b"http/1.1"])).await;
        assert_eq!(status, 200, "{shape:?}: {body}");
        let (rustls_ja4, rustls_ja3) = assert_shape(&body);
        assert_eq!(&rustls_ja4[8..10], "h1", "{rustls_ja4}");

        let (status, body) = curl_get(server.addr, dir.path()).await;
        assert_eq!(status, 200, "{shape:?}: {body}");
        let (curl_ja4, curl_ja3) = assert_shape(&body);
        eprintln!("{shape:?}: rustls {rustls_ja4} {rustls_ja3}; curl {curl_ja4} {curl_ja3}");
        assert_ne!(rustls_ja4, curl_ja4);
        assert_ne!(rustls_ja3, curl_ja3);

        // The same stack and configuration again: the same JA4 (JA4 sorts the extensions rustls
        // shuffles per connection).
        let (_, again) = rustls_get(server.addr, client(ring(), &[b"http/1.1"])).await;
        assert_eq!(assert_shape(&again).0, rustls_ja4);
    }
}

#[tokio::test]
async fn rustls_configurations_that_differ_get_different_ja4s() {
    let server = start(Shape::Serve).await;
    let get = |provider: CryptoProvider, alpn: &'static [&'static [u8]]| {
        let config = client(provider, alpn);
        async move {
            let (status, body) = rustls_get(server.addr, config).await;
            assert_eq!(status, 200, "{body}");
            assert_shape(&body)
        }
    };
    let (base, base_ja3) = get(ring(), &[b"http/1.1"]).await;

    // No ALPN: `00` instead of `h1`; the hashes stay (ALPN is counted, not hashed).
    let (no_alpn, _) = get(ring(), &[]).await;
    eprintln!("http/1.1: {base}; no ALPN: {no_alpn}");
    assert_ne!(no_alpn, base);
    assert_eq!(&no_alpn[8..10], "00");
    assert_eq!(no_alpn[10..], base[10..]);
    assert_eq!(
        no_alpn[6..8].parse::<u8>().unwrap() + 1,
        base[6..8].parse::<u8>().unwrap(),
        "one extension fewer: {no_alpn} {base}"
    );

    // Fewer cipher suites: another count and cipher hash.
    let mut few = ring();
    few.cipher_suites
        .retain(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let (one_suite, _) = get(few, &[b"http/1.1"]).await;
    eprintln!("one suite: {one_suite}");
    assert_ne!(one_suite, base);
    assert_eq!(&one_suite[4..6], "01");

    // The same suites in another order: the same JA4 (sorted), another JA3 (in order, and
    // rustls's extension order is shuffled anyway).
    let mut reversed = ring();
    reversed.cipher_suites.reverse();
    let (rev, rev_ja3) = get(reversed, &[b"http/1.1"]).await;
    eprintln!("reversed suites: {rev} {rev_ja3} (base JA3 {base_ja3})");
    assert_eq!(rev, base);
    assert_ne!(rev_ja3, base_ja3);
}

#[tokio::test]
async fn a_hello_that_is_not_tls_still_reaches_rustls() {
    // A handshake record whose body is no ClientHello: no fingerprint, and rustls refuses the
    // connection as before (an alert, then the close).
    let server = start(Shape::Serve).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(STEP, tcp.read_to_end(&mut answer)).await;
    assert_eq!(answer.first(), Some(&0x15), "a TLS alert: {answer:?}");
}
