//! `server::serve_with` bounds what a peer can hold, and its TLS configuration follows the gate:
//! the per-source cap, the HTTP/2 idle timeout, equal header limits for HTTP/1.1 and HTTP/2,
//! plain HTTP on the TLS port, connection events for failed and refused handshakes, and the
//! CertificateRequest's CA names after a reload. Real rustls clients on loopback.
//!
//! Time: `HandshakeMode::Defer` servers run the gate on the fixture's `NOW`; the
//! `HandshakeMode::Refuse` ones on the real time (fresh CRLs, as in `tls_end_to_end`).
#![cfg(all(feature = "server", feature = "axum", feature = "ring"))]
// Helpers unwrap and index on fixture data and on responses of the server under test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use certgate::server::{ServeConfig, TlsConfig, TlsConnectInfo, TlsListener};
use certgate::{
    AppId, AppRule, CertGateLayer, ConnectionEvent, EventSink, Gate, HandshakeMode, Policy,
    VerdictEvent, VerifierBuilder,
};
use common::{Issued, Leaf, NOW, SHOP, at, pki};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, HandshakeKind, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const STEP: Duration = Duration::from_secs(2);
const SERVER_NAME: &str = "server.example.com";

// ---------------------------------------------------------------------------
// server

/// Trusts `anchor`, allows `com.example.shop`, fresh CRLs (at `NOW` and at the real date).
fn policy_trusting(anchor: CertificateDer<'static>) -> Policy {
    let (from, to) = (at("2026-05-01T00:00:00Z"), at("2027-06-01T00:00:00Z"));
    let serial = pki().leaf(Leaf::Revoked).serial.clone();
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(anchor)
            .crl(pki().intermediate_crl(&[serial], from, to))
            .crl(pki().root_crl(&[], from, to))
            .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
            .build()
            .unwrap(),
    )
}

fn policy() -> Policy {
    policy_trusting(pki().root())
}

#[derive(Default)]
struct Recorder(Mutex<Vec<ConnectionEvent>>);

impl Recorder {
    fn events(&self) -> Vec<ConnectionEvent> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most a step) for an event with `code`.
    async fn wait_for(&self, code: &str) -> ConnectionEvent {
        within(&format!("a {code} event"), async {
            loop {
                if let Some(e) = self.events().into_iter().find(|e| e.code == code) {
                    return e;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }
}

impl EventSink for Recorder {
    fn record(&self, _event: &VerdictEvent) {}

    fn record_connection(&self, event: &ConnectionEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Serve,
    Listener,
}

struct Server {
    addr: SocketAddr,
    gate: Gate,
    events: Arc<Recorder>,
    _shutdown: oneshot::Sender<()>,
}

async fn start(shape: Shape, handshake: HandshakeMode, config: ServeConfig) -> Server {
    let events = Arc::new(Recorder::default());
    let builder = Gate::builder(policy()).event_sink(events.clone());
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
    let tls = TlsConfig::new(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        server_leaf.chain(),
        server_leaf.key(),
        handshake,
    )
    .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(CertGateLayer::new(gate.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    match shape {
        Shape::Serve => {
            tokio::spawn(certgate::server::serve_with(
                config, listener, tls, app, stopped,
            ));
        }
        Shape::Listener => {
            let listener = TlsListener::with_config(listener, tls, &config).unwrap();
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

#[derive(Debug)]
struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(NOW)
    }
}

fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    let mut roots = RootCertStore::empty();
    roots.add(pki().root()).unwrap();
    ClientConfig::builder_with_details(
        Arc::new(rustls::crypto::ring::default_provider()),
        Arc::new(FixedTime),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
}

fn client_config(leaf: Option<&Issued>, alpn: &[u8]) -> Arc<ClientConfig> {
    let builder = client_builder();
    let mut config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn tcp_from(from: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    within("TCP connect", socket.connect(addr)).await
}

async fn tls_from(
    from: &str,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(from, addr).await?;
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    within("TLS connect", TlsConnector::from(config).connect(name, tcp)).await
}

/// One HTTP/1.1 request with `extra` header lines; the status, the raw head and the body.
async fn http1_get(stream: &mut TlsStream<TcpStream>, extra: &str) -> (u16, String, String) {
    let request = format!("GET / HTTP/1.1\r\nHost: {SERVER_NAME}\r\n{extra}\r\n");
    within("HTTP/1.1 write", stream.write_all(request.as_bytes()))
        .await
        .unwrap();
    let mut response = Vec::new();
    // The server closes after these responses (or we read until the body is complete).
    within("HTTP/1.1 response", async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                });
                if length.is_some_and(|length| body.len() >= length) {
                    break;
                }
            }
        }
    })
    .await;
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// An HTTP/2 connection's request sender; the connection's end arrives on the receiver.
async fn h2_connect(
    stream: TlsStream<TcpStream>,
) -> (
    hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    oneshot::Receiver<()>,
) {
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, connection) = within(
        "h2 handshake",
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)),
    )
    .await
    .unwrap();
    let (ended, end) = oneshot::channel();
    tokio::spawn(async move {
        let _ = connection.await;
        let _ = ended.send(());
    });
    (sender, end)
}

// ---------------------------------------------------------------------------
// caps and timeouts

#[tokio::test]
async fn the_per_source_cap_closes_excess_connections_and_spares_other_sources() {
    let config = ServeConfig::default().max_connections_per_source(3);
    let server = start(Shape::Serve, HandshakeMode::Defer, config).await;
    // Three silent connections from 127.0.0.1 fill its share (each sits in its handshake).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp_from("127.0.0.1", server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A fourth is closed at once.
    let mut fourth = tcp_from("127.0.0.1", server.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = within("the fourth connection to close", fourth.read(&mut byte)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let event = server.events.wait_for(ConnectionEvent::SOURCE_LIMIT).await;
    assert_eq!(
        event.peer_addr.ip(),
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    // Another source is served.
    let config = client_config(Some(pki().leaf(Leaf::Genuine)), b"http/1.1");
    let mut genuine = tls_from("127.0.0.2", server.addr, config).await.unwrap();
    let (status, _, body) = http1_get(&mut genuine, "").await;
    assert_eq!((status, body.as_str()), (200, "hello"));
    // A held connection's place is freed when it goes.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let config = client_config(Some(pki().leaf(Leaf::Genuine)), b"http/1.1");
    let mut again = tls_from("127.0.0.1", server.addr, config).await.unwrap();
    assert_eq!(http1_get(&mut again, "").await.0, 200);
}

#[tokio::test]
async fn an_idle_http2_connection_without_certificate_is_closed() {
    let idle = Duration::from_millis(800);
    let config = ServeConfig::default().http2_idle_timeout(idle);
    let server = start(Shape::Serve, HandshakeMode::Defer, config).await;
    let stream = tls_from("127.0.0.1", server.addr, client_config(None, b"h2"))
        .await
        .unwrap();
    let started = Instant::now();
    let (_sender, end) = h2_connect(stream).await;
    within("the idle HTTP/2 connection to close", end)
        .await
        .unwrap();
    assert!(
        started.elapsed() + Duration::from_millis(100) >= idle,
        "{:?}",
        started.elapsed()
    );

    // A connection that carries requests is idle only once its streams are done.
    let config = client_config(Some(pki().leaf(Leaf::Genuine)), b"h2");
    let stream = tls_from("127.0.0.1", server.addr, config).await.unwrap();
    let (mut sender, mut end) = h2_connect(stream).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let request = http::Request::get(format!("https://{SERVER_NAME}/"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = within("h2 request", sender.send_request(request))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        within("h2 body", response.into_body().collect())
            .await
            .unwrap();
        assert!(end.try_recv().is_err(), "closed while in use");
    }
    within("the idle HTTP/2 connection to close", end)
        .await
        .unwrap();
}

#[tokio::test]
async fn http1_and_http2_refuse_the_same_oversized_head_with_a_431_body() {
    let config = ServeConfig::default().max_header_bytes(4096);
    let server = start(Shape::Serve, HandshakeMode::Defer, config).await;
    let genuine = pki().leaf(Leaf::Genuine);
    for (size, expected) in [(3000, 200), (5000, 431)] {
        let value = "a".repeat(size);

        let mut h1 = tls_from(
            "127.0.0.1",
            server.addr,
            client_config(Some(genuine), b"http/1.1"),
        )
        .await
        .unwrap();
        let (status, head, body) = http1_get(&mut h1, &format!("x-big: {value}\r\n")).await;
        assert_eq!(status, expected, "HTTP/1.1, {size} bytes: {head}");

        let stream = tls_from(
            "127.0.0.1",
            server.addr,
            client_config(Some(genuine), b"h2"),
        )
        .await
        .unwrap();
        let (mut sender, _end) = h2_connect(stream).await;
        let request = http::Request::get(format!("https://{SERVER_NAME}/"))
            .header("x-big", &value)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = within("h2 request", sender.send_request(request))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "HTTP/2, {size} bytes");
        let h2_body = within("h2 body", response.into_body().collect())
            .await
            .unwrap()
            .to_bytes();

        if expected == 431 {
            assert_eq!(
                body, "request header fields too large\n",
                "HTTP/1.1: {head}"
            );
            assert!(
                head.to_ascii_lowercase().contains("connection: close"),
                "{head}"
            );
            assert_eq!(h2_body, "request header fields too large\n");
        } else {
            assert_eq!((body.as_str(), &h2_body[..]), ("hello", &b"hello"[..]));
        }
    }
}

// ---------------------------------------------------------------------------
// what reaches the wire before TLS

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_a_readable_400() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, ServeConfig::default()).await;
        let mut tcp = tcp_from("127.0.0.1", server.addr).await.unwrap();
        within(
            "plain request",
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        )
        .await
        .unwrap();
        let mut response = String::new();
        within("plain response", tcp.read_to_string(&mut response))
            .await
            .unwrap();
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{shape:?} {response:?}"
        );
        assert!(response.contains("Connection: close\r\n"), "{response:?}");
        assert!(response.contains("This port speaks HTTPS"), "{response:?}");
        let event = server.events.wait_for(ConnectionEvent::PLAIN_HTTP).await;
        assert_eq!(event.peer_addr, tcp.local_addr().unwrap(), "{shape:?}");
    }
}

#[tokio::test]
async fn failed_and_refused_handshakes_are_events_with_address_and_code() {
    let config = ServeConfig::default().handshake_timeout(Duration::from_millis(500));
    let server = start(Shape::Serve, HandshakeMode::Refuse, config).await;

    // Refused by the gate in the handshake: the rejection's code.
    for (leaf, code) in [
        (Some(Leaf::Revoked), "revoked"),
        (Some(Leaf::OtherApp), "app_not_allowed"),
        (None, "no_certificate"),
    ] {
        let config = client_config(leaf.map(|l| pki().leaf(l)), b"http/1.1");
        let mut stream = tls_from("127.0.0.1", server.addr, config).await.unwrap();
        let local = stream.get_ref().0.local_addr().unwrap();
        let mut byte = [0u8; 1];
        assert!(
            within("the alert", stream.read(&mut byte)).await.is_err(),
            "{leaf:?}"
        );
        let event = server.events.wait_for(code).await;
        assert_eq!(event.peer_addr, local, "{leaf:?}");
    }

    // Not TLS at all: handshake_failed, with rustls' reason.
    let mut garbage = tcp_from("127.0.0.1", server.addr).await.unwrap();
    let local = garbage.local_addr().unwrap();
    garbage
        .write_all(&[0x17, 0x03, 0x03, 0x00, 0x01, 0x00])
        .await
        .unwrap();
    let event = server
        .events
        .wait_for(ConnectionEvent::HANDSHAKE_FAILED)
        .await;
    assert_eq!(event.peer_addr, local);
    assert!(
        event
            .detail
            .is_some_and(|d| !d.is_empty() && d.len() <= 256)
    );

    // Connected and silent: handshake_timeout.
    let silent = tcp_from("127.0.0.1", server.addr).await.unwrap();
    let event = server
        .events
        .wait_for(ConnectionEvent::HANDSHAKE_TIMEOUT)
        .await;
    assert_eq!(event.peer_addr, silent.local_addr().unwrap());
}

// ---------------------------------------------------------------------------
// reloads reach the TLS layer

/// A client that records the CA names the server's CertificateRequest offered, and presents
/// no certificate (the server defers the decision to the layer).
#[derive(Debug, Default)]
struct RecordHints(Mutex<Vec<Vec<Vec<u8>>>>);

impl ResolvesClientCert for RecordHints {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let hints = root_hint_subjects.iter().map(|h| h.to_vec()).collect();
        self.0.lock().unwrap().push(hints);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The DER Name of a certificate's subject, as a CertificateRequest carries it.
fn subject(cert: &CertificateDer<'_>) -> Vec<u8> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    parsed.subject().as_raw().to_vec()
}

#[tokio::test]
async fn after_a_reload_with_other_anchors_handshakes_offer_the_new_ca_names() {
    for shape in [Shape::Serve, Shape::Listener] {
        let server = start(shape, HandshakeMode::Defer, ServeConfig::default()).await;
        let recorder = Arc::new(RecordHints::default());
        let mut config = client_builder().with_client_cert_resolver(recorder.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let handshake = || async {
            let mut stream = tls_from("127.0.0.1", server.addr, Arc::clone(&config))
                .await
                .unwrap();
            // Read a reply: TLS 1.3 session tickets arrive after the handshake.
            assert_eq!(http1_get(&mut stream, "").await.0, 401);
            stream.get_ref().1.handshake_kind()
        };

        assert_eq!(handshake().await, Some(HandshakeKind::Full), "{shape:?}");
        assert_eq!(handshake().await, Some(HandshakeKind::Resumed), "{shape:?}");
        // A reload with the same anchors keeps the configuration (and its sessions).
        server.gate.reload(policy());
        assert_eq!(handshake().await, Some(HandshakeKind::Resumed), "{shape:?}");

        server.gate.reload(policy_trusting(pki().other_root()));
        // A fresh session store: the old session does not resume under the new trust.
        assert_eq!(handshake().await, Some(HandshakeKind::Full), "{shape:?}");

        let offered = recorder.0.lock().unwrap().clone();
        // Resumed handshakes send no CertificateRequest.
        assert_eq!(offered.len(), 2, "{shape:?} {offered:?}");
        assert_eq!(offered[0], vec![subject(&pki().root())], "{shape:?}");
        assert_eq!(offered[1], vec![subject(&pki().other_root())], "{shape:?}");
    }
}
