//! End to end over real TLS on loopback: rustls clients with the fixture's client certificates
//! against `server::serve` and `server::TlsListener` + `axum::serve`, with `CertGateLayer` and
//! the axum extractors; HTTP/1.1 spoken by hand (several requests per keep-alive connection)
//! and HTTP/2 through hyper's client.
//!
//! Time: the gate's clock is pinned to the fixture's `NOW` in `HandshakeMode::Defer` (the layer
//! decides, on the gate's clock), and the client verifies the server's certificate at `NOW`.
//! In `HandshakeMode::Refuse` rustls hands the verifier the real time, so those tests use fresh
//! CRLs (valid until 2027-06-01) and rely on the real date being inside the fixture
//! certificates' validity (2026-01-01..2027-01-01).
#![cfg(all(feature = "server", feature = "axum", feature = "ring"))]
// The helpers below unwrap and index on fixture data and on responses of the server under
// test; clippy.toml's test allowances only cover #[test] fns, so allow it for the helpers too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use certgate::server::{TlsConnectInfo, TlsListener};
use certgate::{
    Action, AppId, AppRule, CertGateLayer, EventSink, Gate, HandshakeMode, Mode, PeerIdentity,
    Policy, Verdict, VerdictEvent, VerifierBuilder,
};
use common::{Issued, Leaf, NOW, SHOP, at, pki};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{AlertDescription, ClientConfig, HandshakeKind, RootCertStore};
use rustls_pki_types::{ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Every network step of a test must finish within this.
const STEP: Duration = Duration::from_secs(2);
const SERVER_NAME: &str = "server.example.com";

// ---------------------------------------------------------------------------
// policy, gate and server

/// Trusts the fixture root, allows only `com.example.shop`, with fresh CRLs (valid
/// 2026-05-01..2027-06-01, so at `NOW` and at today's real date) revoking `revoked`.
fn policy(revoked: &[Leaf]) -> Policy {
    let serials: Vec<Vec<u8>> = revoked
        .iter()
        .map(|leaf| pki().leaf(*leaf).serial.clone())
        .collect();
    let (from, to) = (at("2026-05-01T00:00:00Z"), at("2027-06-01T00:00:00Z"));
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().intermediate_crl(&serials, from, to))
            .crl(pki().root_crl(&[], from, to))
            .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
            .build()
            .unwrap(),
    )
}

/// The usual policy: only `Leaf::Revoked` is revoked.
fn default_policy() -> Policy {
    policy(&[Leaf::Revoked])
}

/// Like [`default_policy`], and `Leaf::Genuine` is revoked as well.
fn policy_revoking_genuine() -> Policy {
    policy(&[Leaf::Revoked, Leaf::Genuine])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `certgate::server::serve`.
    Serve,
    /// `TlsListener` + `axum::serve` with `TlsConnectInfo`.
    Listener,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<VerdictEvent>>);

impl Recorder {
    fn events(&self) -> Vec<VerdictEvent> {
        self.0.lock().unwrap().clone()
    }
}

impl EventSink for Recorder {
    fn record(&self, event: &VerdictEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// A running server. Dropping it shuts the server down.
struct Server {
    addr: SocketAddr,
    gate: Gate,
    events: Arc<Recorder>,
    _shutdown: oneshot::Sender<()>,
}

/// `GET /`: the app id through the `PeerIdentity` extractor, and the verdict's cache flag.
async fn whoami(identity: PeerIdentity, verdict: Verdict) -> String {
    format!(
        "app={} cached={} code={}",
        identity.app_id().unwrap(),
        verdict.is_cached(),
        verdict.code()
    )
}

/// `GET /open`: for observe mode, where a rejected peer reaches the handler.
async fn open(identity: Option<PeerIdentity>, verdict: Verdict) -> String {
    format!(
        "app={} cached={} code={}",
        identity
            .as_ref()
            .and_then(PeerIdentity::app_id)
            .map_or("-", AppId::as_str),
        verdict.is_cached(),
        verdict.code()
    )
}

async fn start(shape: Shape, handshake: HandshakeMode, mode: Mode) -> Server {
    let events = Arc::new(Recorder::default());
    let builder = Gate::builder(default_policy())
        .mode(mode)
        .event_sink(events.clone());
    // In Refuse mode rustls passes the real time to the verifier; keep the layer on the same
    // clock. In Defer mode the layer alone decides, at the fixture's time.
    let gate = match handshake {
        HandshakeMode::Defer => {
            let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
            builder.clock(move || {
                UnixTime::since_unix_epoch(Duration::from_secs(clock.load(Ordering::SeqCst)))
            })
        }
        _ => builder,
    }
    .build()
    .unwrap();

    let server_leaf = pki().leaf(Leaf::Server);
    let tls = certgate::server::server_config(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        server_leaf.chain(),
        server_leaf.key(),
        handshake,
    )
    .unwrap();
    let app = Router::new()
        .route("/", get(whoami))
        .route("/open", get(open))
        .layer(CertGateLayer::new(gate.clone()));
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
        gate,
        events,
        _shutdown: shutdown,
    }
}

// ---------------------------------------------------------------------------
// client

/// The client's clock for checking the server's certificate: the fixture's `NOW`.
#[derive(Debug)]
struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(NOW)
    }
}

/// A client trusting the fixture root, presenting `leaf` (or nothing), offering `alpn`.
fn client_config(leaf: Option<&Issued>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki().root()).unwrap();
    let builder = ClientConfig::builder_with_details(
        Arc::new(rustls::crypto::ring::default_provider()),
        Arc::new(FixedTime),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn client(leaf: Leaf) -> Arc<ClientConfig> {
    client_config(Some(pki().leaf(leaf)), &[b"http/1.1"])
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<Http1> {
    let tcp = within("TCP connect", TcpStream::connect(addr)).await?;
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let tls = within("TLS connect", TlsConnector::from(config).connect(name, tcp)).await?;
    Ok(Http1 {
        tls,
        buf: Vec::new(),
    })
}

/// A response read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: Option<String>,
    connection: Option<String>,
    body: String,
}

impl Reply {
    fn problem(&self) -> serde_json::Value {
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "{self:?}"
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

/// HTTP/1.1 by hand over one TLS connection, so one connection can carry several requests.
struct Http1 {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

impl Http1 {
    fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.tls.get_ref().1.handshake_kind()
    }

    async fn get(&mut self, path: &str) -> io::Result<Reply> {
        within("HTTP/1.1 request", self.exchange(path)).await
    }

    async fn exchange(&mut self, path: &str) -> io::Result<Reply> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n");
        self.tls.write_all(request.as_bytes()).await?;
        self.tls.flush().await?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let mut content_length = None;
        let mut content_type = None;
        let mut connection = None;
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            let value = value.trim().to_owned();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => content_length = Some(value.parse::<usize>().unwrap()),
                "content-type" => content_type = Some(value),
                "connection" => connection = Some(value),
                "transfer-encoding" => panic!("chunked responses are not expected: {head}"),
                _ => {}
            }
        }
        let length = content_length.unwrap_or_else(|| panic!("no content-length: {head}"));
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = String::from_utf8(self.buf[head_end..head_end + length].to_vec()).unwrap();
        self.buf.drain(..head_end + length);
        Ok(Reply {
            status,
            content_type,
            connection,
            body,
        })
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.tls.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// One connection, one `GET`.
async fn get_once(addr: SocketAddr, config: Arc<ClientConfig>, path: &str) -> Reply {
    let mut conn = connect(addr, config).await.unwrap();
    conn.get(path).await.unwrap()
}

fn genuine_body(cached: bool) -> String {
    format!("app={SHOP} cached={cached} code=accept")
}

/// The TLS alert the client received, if that is what `err` is.
fn alert(err: &io::Error) -> Option<AlertDescription> {
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// verdicts over HTTP (handshake deferred to the layer)

#[tokio::test]
async fn genuine_client_gets_200_with_its_identity() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let reply = get_once(server.addr, client(Leaf::Genuine), "/").await;
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        assert_eq!(reply.body, genuine_body(false), "{shape:?}");
        // The event names the client's address.
        let events = server.events.events();
        assert_eq!(events.len(), 1, "{shape:?} {events:?}");
        assert_eq!(events[0].action, Action::Accept);
        assert_eq!(
            events[0].peer_addr.map(|a| a.ip()),
            Some("127.0.0.1".parse().unwrap())
        );
    }
}

#[tokio::test]
async fn client_without_certificate_gets_401_no_certificate() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let reply = get_once(server.addr, client_config(None, &[]), "/").await;
        assert_eq!(reply.status, 401, "{shape:?} {reply:?}");
        let problem = reply.problem();
        assert_eq!(problem["code"], "no_certificate");
        assert_eq!(problem["status"], 401);
    }
}

#[tokio::test]
async fn rejected_clients_get_403_with_the_reason() {
    let server = start(Shape::Serve, HandshakeMode::Defer, Mode::Enforce).await;
    for (leaf, code) in [
        (Leaf::Revoked, "revoked"),
        (Leaf::OtherApp, "app_not_allowed"),
        (Leaf::Expired, "expired"),
        (Leaf::ForeignCa, "unknown_issuer"),
    ] {
        let reply = get_once(server.addr, client(leaf), "/").await;
        assert_eq!(reply.status, 403, "{leaf:?} {reply:?}");
        let problem = reply.problem();
        assert_eq!(problem["code"], code, "{leaf:?}");
        assert_eq!(problem["status"], 403);
        assert_eq!(problem["type"], format!("tag:certgate,2026:reason/{code}"));
    }
}

#[tokio::test]
async fn observe_mode_lets_a_revoked_client_through_and_records_it() {
    let server = start(Shape::Serve, HandshakeMode::Defer, Mode::Observe).await;
    let reply = get_once(server.addr, client(Leaf::Revoked), "/open").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "app=- cached=false code=revoked");
    let events = server.events.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Action::Observe && e.code == "revoked"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.action == Action::Refuse));
}

#[tokio::test]
async fn http2_request_gets_200_with_identity() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let config = client_config(Some(pki().leaf(Leaf::Genuine)), &[b"h2"]);
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let tls = within("TLS connect", TlsConnector::from(config).connect(name, tcp))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, connection) = within(
            "h2 handshake",
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        for cached in [false, true] {
            let request = http::Request::get(format!("https://{SERVER_NAME}/"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = within("h2 request", sender.send_request(request))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{shape:?}");
            assert_eq!(response.version(), http::Version::HTTP_2);
            let body = within("h2 body", response.into_body().collect())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(body, genuine_body(cached), "{shape:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// refusal in the handshake

#[tokio::test]
async fn refuse_mode_rejects_in_the_handshake_seen_on_first_read() {
    let server = start(Shape::Serve, HandshakeMode::Refuse, Mode::Enforce).await;
    for (leaf, expected) in [
        (Some(Leaf::Revoked), AlertDescription::CertificateRevoked),
        (Some(Leaf::ForeignCa), AlertDescription::UnknownCA),
        (Some(Leaf::Expired), AlertDescription::CertificateExpired),
        (Some(Leaf::OtherApp), AlertDescription::CertificateUnknown),
        (None, AlertDescription::CertificateRequired),
    ] {
        let config = client_config(leaf.map(|l| pki().leaf(l)), &[b"http/1.1"]);
        // TLS 1.3: the client's handshake is done once it has sent its Finished, before the
        // server has looked at its certificate. The refusal arrives as an alert on the first
        // read, never as a connect error.
        let mut conn = connect(server.addr, config)
            .await
            .unwrap_or_else(|e| panic!("{leaf:?}: connect itself failed: {e}"));
        assert_eq!(
            conn.tls.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        // Read without writing first: a request the server never read could turn its close
        // into a TCP reset racing the alert.
        let err = within("first read", conn.fill()).await.unwrap_err();
        assert_eq!(alert(&err), Some(expected), "{leaf:?}: {err}");
    }
    let events = server.events.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Action::Refuse && e.code == "revoked"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.action == Action::Refuse && e.code == "app_not_allowed"),
        "{events:?}"
    );
}

#[tokio::test]
async fn refuse_mode_serves_a_genuine_client() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Refuse, Mode::Enforce).await;
        let reply = get_once(server.addr, client(Leaf::Genuine), "/").await;
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        // The handshake verified the chain (a miss); the layer found that verdict in the
        // cache.
        assert_eq!(reply.body, genuine_body(true), "{shape:?}");
        let stats = server.gate.cache_stats();
        assert_eq!((stats.hits, stats.misses), (1, 1), "{shape:?}");
    }
}

// ---------------------------------------------------------------------------
// session resumption

#[tokio::test]
async fn resumed_session_keeps_the_identity() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        // One config, so one session store for both connections.
        let config = client(Leaf::Genuine);

        let mut first = connect(server.addr, Arc::clone(&config)).await.unwrap();
        assert_eq!(first.handshake_kind(), Some(HandshakeKind::Full));
        let reply = first.get("/").await.unwrap();
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        assert_eq!(reply.body, genuine_body(false));
        drop(first);

        let mut second = connect(server.addr, config).await.unwrap();
        assert_eq!(
            second.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{shape:?}"
        );
        let reply = second.get("/").await.unwrap();
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        // A new connection (no memo) with the same chain: from the cache.
        assert_eq!(reply.body, genuine_body(true), "{shape:?}");
    }
}

#[tokio::test]
async fn revocation_bites_resumed_sessions() {
    for handshake in [HandshakeMode::Defer, HandshakeMode::Refuse] {
        let server = start(Shape::Serve, handshake, Mode::Enforce).await;
        let config = client(Leaf::Genuine);
        let mut first = connect(server.addr, Arc::clone(&config)).await.unwrap();
        let reply = first.get("/").await.unwrap();
        assert_eq!(reply.status, 200, "{handshake:?} {reply:?}");
        drop(first);

        server.gate.reload(policy_revoking_genuine());

        // Resumption skips the certificate verifier; the layer still judges the chain the
        // session carries, under the new policy.
        let mut second = connect(server.addr, config).await.unwrap();
        assert_eq!(
            second.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{handshake:?}"
        );
        let reply = second.get("/").await.unwrap();
        assert_eq!(reply.status, 403, "{handshake:?} {reply:?}");
        assert_eq!(reply.problem()["code"], "revoked");
    }
}

// ---------------------------------------------------------------------------
// keep-alive connections, the memo and reloads

#[tokio::test]
async fn reload_refuses_the_very_next_request_on_an_open_connection() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let mut conn = connect(server.addr, client(Leaf::Genuine)).await.unwrap();
        let reply = conn.get("/").await.unwrap();
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        let reply = conn.get("/").await.unwrap();
        assert_eq!(reply.body, genuine_body(true), "{shape:?}");

        server.gate.reload(policy_revoking_genuine());

        let reply = conn.get("/").await.unwrap();
        assert_eq!(reply.status, 403, "{shape:?} {reply:?}");
        assert_eq!(reply.problem()["code"], "revoked");
        assert_closed_after_refusal(&mut conn, &reply, shape).await;
    }
}

/// A refusal on HTTP/1.1 says `Connection: close` and the server really ends the connection:
/// the next read sees the end of the stream (or a reset), within a step.
async fn assert_closed_after_refusal(conn: &mut Http1, reply: &Reply, shape: Shape) {
    assert_eq!(
        reply.connection.as_deref(),
        Some("close"),
        "{shape:?} {reply:?}"
    );
    let next = within("the server to close", conn.fill()).await;
    assert!(next.is_err(), "{shape:?}: the connection is still open");
    assert!(
        conn.buf.is_empty(),
        "{shape:?}: more bytes after the refusal"
    );
}

#[tokio::test]
async fn a_refusal_on_http1_closes_the_connection() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        for leaf in [None, Some(Leaf::Revoked)] {
            let config = client_config(leaf.map(|l| pki().leaf(l)), &[b"http/1.1"]);
            let mut conn = connect(server.addr, config).await.unwrap();
            let reply = conn.get("/").await.unwrap();
            assert!(matches!(reply.status, 401 | 403), "{shape:?} {reply:?}");
            assert_closed_after_refusal(&mut conn, &reply, shape).await;
        }
        // An accepted peer keeps its keep-alive connection.
        let mut conn = connect(server.addr, client(Leaf::Genuine)).await.unwrap();
        let reply = conn.get("/").await.unwrap();
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        assert_eq!(reply.connection, None, "{shape:?} {reply:?}");
        assert_eq!(conn.get("/").await.unwrap().status, 200, "{shape:?}");
    }
}

#[tokio::test]
async fn second_request_on_a_connection_comes_from_the_memo() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let mut conn = connect(server.addr, client(Leaf::Genuine)).await.unwrap();
        let first = conn.get("/").await.unwrap();
        assert_eq!(first.body, genuine_body(false), "{shape:?}");
        let second = conn.get("/").await.unwrap();
        assert_eq!(second.body, genuine_body(true), "{shape:?}");
        let third = conn.get("/").await.unwrap();
        assert_eq!(third.body, genuine_body(true), "{shape:?}");
        let stats = server.gate.cache_stats();
        // One verification; the memo answered the rest without touching the cache.
        assert_eq!((stats.hits, stats.misses), (0, 1), "{shape:?}");
        // Memoized requests emit no events.
        assert_eq!(server.events.events().len(), 1, "{shape:?}");
    }
}

#[tokio::test]
async fn failed_reload_keeps_serving() {
    let server = start(Shape::Serve, HandshakeMode::Defer, Mode::Enforce).await;
    let mut conn = connect(server.addr, client(Leaf::Genuine)).await.unwrap();
    assert_eq!(conn.get("/").await.unwrap().status, 200);

    assert!(server.gate.reload_from_file("/nonexistent").is_err());
    assert_eq!(server.gate.generation(), 1);

    let reply = conn.get("/").await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = get_once(server.addr, client(Leaf::Genuine), "/").await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

// ---------------------------------------------------------------------------
// slow clients

#[tokio::test]
async fn a_client_that_never_sends_a_client_hello_stalls_no_one() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        // Several silent TCP connections, accepted before the genuine client connects.
        let mut silent = Vec::new();
        for _ in 0..3 {
            silent.push(TcpStream::connect(server.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // `get_once` allows each step 2 s; a handshake awaited in the accept loop would hold
        // the genuine client until HANDSHAKE_TIMEOUT (10 s).
        let reply = get_once(server.addr, client(Leaf::Genuine), "/").await;
        assert_eq!(reply.status, 200, "{shape:?} {reply:?}");
        drop(silent);
    }
}

// ---------------------------------------------------------------------------
// gate modes meeting the handshake mode

/// `Mode::Observe` promises to let every peer through and report what would have been
/// refused. With `HandshakeMode::Refuse` a revoked client does pass (the verifier honours the
/// mode), but a client with no certificate at all is refused by rustls with
/// `certificate_required`, and no event is recorded.
#[tokio::test]
async fn observe_mode_with_handshake_refusal_lets_a_client_without_certificate_through() {
    let server = start(Shape::Serve, HandshakeMode::Refuse, Mode::Observe).await;

    let reply = get_once(server.addr, client(Leaf::Revoked), "/open").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.ends_with("code=revoked"), "{reply:?}");

    let mut conn = connect(server.addr, client_config(None, &[b"http/1.1"]))
        .await
        .unwrap();
    let reply = conn.get("/open").await;
    let events = server.events.events();
    let reply = reply.unwrap_or_else(|e| {
        panic!(
            "observe mode refused a client without certificate in the handshake \
             (alert {:?}); events: {events:?}",
            alert(&e)
        )
    });
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.ends_with("code=no_certificate"), "{reply:?}");
    assert!(
        events
            .iter()
            .any(|e| e.action == Action::Observe && e.code == "no_certificate"),
        "{events:?}"
    );
}

// ---------------------------------------------------------------------------
// shutdown

#[tokio::test]
async fn shutdown_stops_accepting() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, Mode::Enforce).await;
        let addr = server.addr;
        assert_eq!(get_once(addr, client(Leaf::Genuine), "/").await.status, 200);
        drop(server);
        within("listener to close", async {
            while TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

#[tokio::test]
async fn serve_closes_a_connection_that_sends_no_request() {
    // A client that completes the handshake (Defer: even without a certificate) and then sends
    // nothing must not hold its connection forever: `serve` closes it after
    // HEADER_READ_TIMEOUT. (Real time: the test waits about that long.)
    let server = start(Shape::Serve, HandshakeMode::Defer, Mode::Enforce).await;
    let mut idle = connect(server.addr, client_config(None, &[b"http/1.1"]))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let limit = certgate::server::HEADER_READ_TIMEOUT + Duration::from_secs(10);
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(limit, idle.tls.read(&mut byte)).await;
    let closed = matches!(read, Ok(Ok(0)) | Ok(Err(_)));
    assert!(
        closed,
        "the idle connection is still open after {limit:?}: {read:?}"
    );
    assert!(
        started.elapsed() + Duration::from_secs(1) >= certgate::server::HEADER_READ_TIMEOUT,
        "closed after {:?}, before the timeout",
        started.elapsed()
    );
}
