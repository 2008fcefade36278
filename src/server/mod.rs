//! TLS serving: each connection's [`TlsConnectInfo`] (chain, address, memo) on every request it carries,
//! with bounded resources per peer and a TLS configuration that follows the gate's reloads.
//!
//! Two shapes, both with handshakes in spawned tasks (a handshake awaited in the accept loop
//! would let one slow client stall every other accept):
//!
//! * [`serve`] / [`serve_with`]: a manual accept loop over hyper-util's auto (HTTP/1.1 +
//!   HTTP/2) connection builder, with the limits of a [`ServeConfig`]. Works with any Tower
//!   service, axum routers included.
//! * [`TlsListener`] (with the `axum` feature): an `axum::serve` listener, with
//!   [`TlsConnectInfo`] as the connect info.
//!
//! Both take a [`TlsConfig`]: built from the gate, it is rebuilt when a reload changes the
//! trust anchors, so the CertificateRequest names the current CAs. Both answer plain HTTP on
//! the TLS port with a readable `400`, and report every connection closed before a request
//! (failed or refused handshakes, caps) as a [`ConnectionEvent`] to
//! the gate's event sink and, rate-limited, to the log (target `certgate::server`).
//!
//! Both read each connection's first TLS record(s) before rustls does, until the ClientHello
//! is complete (at most 16 KiB, within the handshake timeout), and replay the bytes to rustls
//! unchanged ([`Rewind`]). The ClientHello's JA4 and JA3 ([`crate::signals::ja4`]) are in
//! [`TlsConnectInfo::fingerprint`]; a ClientHello that does not parse leaves it `None` and
//! rustls decides.
//!
//! ```no_run
//! # async fn run(gate: certgate::Gate, chain: Vec<rustls_pki_types::CertificateDer<'static>>, key: rustls_pki_types::PrivateKeyDer<'static>) -> std::io::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use certgate::{CertGateLayer, HandshakeMode, server};
//!
//! let provider = Arc::new(rustls::crypto::ring::default_provider());
//! let tls = server::TlsConfig::new(&gate, provider, chain, key, HandshakeMode::Defer)
//!     .map_err(std::io::Error::other)?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello, genuine app" }))
//!     .layer(CertGateLayer::new(gate));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! // The defaults: `server::serve(listener, tls, app, shutdown)`. Or choose the limits:
//! let config = server::ServeConfig::default()
//!     .http2_idle_timeout(Duration::from_secs(15))
//!     .max_connections_per_source(100);
//! server::serve_with(config, listener, tls, app, std::future::pending()).await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Body, Buf, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use pin_project_lite::pin_project;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_service::Service;

mod config;
mod limits;
mod rewind;
mod tls_config;

pub use self::config::ServeConfig;
use self::limits::{ConnectionLimits, EventReporter};
pub use self::rewind::Rewind;
pub use self::tls_config::TlsConfig;
pub use crate::connection::TlsConnectInfo;
use crate::events::ConnectionEvent;
use crate::gate::Gate;
use crate::peer_chain::PeerChain;
use crate::rejection::Rejection;
use crate::signals::TlsFingerprint;
use crate::signals::ja4::{self, ClientHelloError, MAX_CLIENT_HELLO_BYTES};
use crate::tls::HandshakeMode;

/// Default longest a TLS handshake may take before the connection is dropped
/// ([`ServeConfig::handshake_timeout`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default longest [`serve`] waits for a request's headers (HTTP/1.1, idle keep-alive
/// included) before it closes the connection ([`ServeConfig::header_read_timeout`]): a client
/// that completes the handshake and then sends nothing does not hold a connection forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Boxed error type used by the serving functions' bounds.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A rustls server configuration whose client-certificate verifier is `gate`, offering h2 and
/// http/1.1. It is fixed: prefer [`TlsConfig::new`], which is rebuilt when a reload changes
/// the gate's trust anchors.
///
/// # Errors
///
/// rustls' error when the certificate and key do not fit the provider.
pub fn server_config(
    gate: &Gate,
    provider: Arc<CryptoProvider>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: HandshakeMode,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    tls_config::build(gate, &provider, &cert_chain, &key, mode, None)
}

/// The chain a TLS connection presented (empty when none).
pub fn peer_chain_of(conn: &rustls::ServerConnection) -> PeerChain {
    PeerChain::new(
        conn.peer_certificates()
            .map(<[CertificateDer<'static>]>::to_vec)
            .unwrap_or_default(),
    )
}

/// [`serve_with`] with the default [`ServeConfig`].
///
/// # Errors
///
/// None today; accept and handshake errors are reported and the loop goes on.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: impl Into<TlsConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with(ServeConfig::default(), listener, tls, service, shutdown).await
}

/// Accepts TLS connections on `listener` until `shutdown` completes, serving each with
/// `service` (HTTP/1.1 or HTTP/2, by ALPN) within the limits of `config`. Every request
/// carries its connection's [`TlsConnectInfo`] (the [`PeerChain`] and address) as an extension.
///
/// Each accepted connection takes its TLS configuration from `tls` (see [`TlsConfig`]).
///
/// # Errors
///
/// None today; accept and handshake errors are reported (see the module docs) and the loop
/// goes on.
pub async fn serve_with<S, B>(
    config: ServeConfig,
    listener: TcpListener,
    tls: impl Into<TlsConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let tls = tls.into();
    let max_connections = config.effective_max_connections();
    let max_per_source = config.effective_max_connections_per_source();
    tracing::info!(
        target: "certgate::server",
        max_connections,
        max_per_source,
        "accepting TLS connections"
    );
    let limits = ConnectionLimits::new(max_connections, max_per_source);
    let handshake = Arc::new(Handshake::new(&config, &tls));
    let config = Arc::new(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(target: "certgate::server", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Over a cap: closed at once. Leaving it in the backlog instead would queue it ahead
        // of genuine clients from other addresses.
        let slot = match limits.acquire(addr.ip()) {
            Ok(slot) => slot,
            Err(code) => {
                drop(tcp);
                handshake.reporter.report(code, addr, None);
                continue;
            }
        };
        let acceptor = TlsAcceptor::from(tls.current());
        let handshake = Arc::clone(&handshake);
        let config = Arc::clone(&config);
        let service = service.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(stream) = handshake.accept(&acceptor, tcp, addr).await else {
                return;
            };
            serve_connection(&config, stream, addr, service).await;
        });
    }
}

/// Serves one TLS connection until it ends, is idle too long, or has carried its requests.
async fn serve_connection<S, B>(config: &ServeConfig, tls: TlsStream, addr: SocketAddr, service: S)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let state = Arc::new(ConnectionState::default());
    let hyper_service = WithPeer {
        inner: service,
        conn: connect_info(&tls, addr),
        state: Arc::clone(&state),
        max_header_bytes: config.max_header_bytes,
    };
    // The protocol comes from ALPN, not from sniffing the first bytes: sniffing waits for
    // bytes without a deadline, so a client that sends nothing would never meet the
    // header-read timeout. Without ALPN (or with http/1.1), HTTP/1.1.
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    // hyper's own header limits sit at twice ours, a backstop on memory: up to it, `WithPeer`
    // answers an oversized head with a readable 431, the same way for both protocols.
    let backstop = config.max_header_bytes.saturating_mul(2);
    // Without a timer hyper silently drops its header-read timeout.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // hyper asserts at least 8 KiB.
        .max_buf_size(backstop.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.http2_keep_alive_interval)
        .keep_alive_timeout(config.http2_keep_alive_timeout)
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(backstop).unwrap_or(u32::MAX));
    let connection = builder.serve_connection(TokioIo::new(tls), hyper_service);
    tokio::pin!(connection);
    // HTTP/1.1 idles under hyper's header-read timeout; HTTP/2 has no such timeout in hyper
    // (a peer that answers pings stays forever), so the connection state watches its streams.
    let idle_timeout = h2.then_some(config.http2_idle_timeout);
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = state.until_close(idle_timeout, config.max_requests_per_connection) => None,
    };
    let result = match ended {
        Some(result) => result,
        None => {
            // GOAWAY (HTTP/2) or no keep-alive (HTTP/1.1); in-flight requests finish, for at
            // most the header-read timeout.
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(config.header_read_timeout, connection.as_mut()).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "certgate::server", peer = %addr, error = %e, "connection ended with an error");
    }
}

/// A server-side TLS stream over the socket, its ClientHello replayed ([`Rewind`]).
type TlsStream = tokio_rustls::server::TlsStream<Rewind<TcpStream>>;

/// The connection's chain, address and TLS fingerprint.
fn connect_info(tls: &TlsStream, addr: SocketAddr) -> TlsConnectInfo {
    let (rewind, conn) = tls.get_ref();
    let mut info = TlsConnectInfo::new(peer_chain_of(conn), addr);
    info.fingerprint = rewind.fingerprint().cloned();
    info
}

/// Reads the first TLS record(s) until the ClientHello is complete (at most
/// [`MAX_CLIENT_HELLO_BYTES`] of records; the caller bounds the time), and fingerprints it.
/// Returns every byte read, for rustls to read again, and the fingerprint, `None` when the
/// bytes are no ClientHello (rustls still gets them and decides).
async fn read_client_hello(tcp: &mut TcpStream) -> (Vec<u8>, Option<Arc<TlsFingerprint>>) {
    let mut read = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let room = MAX_CLIENT_HELLO_BYTES
            .saturating_sub(read.len())
            .min(chunk.len());
        let Some(into) = chunk.get_mut(..room).filter(|c| !c.is_empty()) else {
            return (read, None);
        };
        match tcp.read(into).await {
            Ok(n) if n > 0 => read.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            // Closed or failed: rustls meets the same on its next read and reports it.
            _ => return (read, None),
        }
        match ja4::parse_records(&read) {
            Ok(hello) => {
                let fingerprint = TlsFingerprint::from_client_hello(&hello);
                return (read, Some(Arc::new(fingerprint)));
            }
            Err(ClientHelloError::Incomplete) => {}
            Err(e) => {
                tracing::trace!(target: "certgate::server", error = %e, "no TLS fingerprint");
                return (read, None);
            }
        }
    }
}

/// The TLS handshake of one accepted connection, with plain-HTTP detection and reporting.
pub(crate) struct Handshake {
    timeout: Duration,
    reporter: EventReporter,
    /// The gate when it refuses in the handshake: quarantine before, scoring after.
    gate: Option<crate::Gate>,
}

/// Why a connection did not become a TLS stream.
enum Failure {
    /// The peer closed (or reset) before sending a byte: port scanners, TCP health checks.
    Closed,
    PlainHttp(TcpStream),
    Tls(io::Error, TcpStream),
}

impl Handshake {
    pub(crate) fn new(config: &ServeConfig, tls: &TlsConfig) -> Self {
        Self {
            timeout: config.handshake_timeout,
            reporter: EventReporter::new(tls.event_sink(), config.log_events_per_second),
            gate: tls.refusing_gate(),
        }
    }

    /// The TLS stream, or `None` (reported) when the handshake failed, was refused or timed
    /// out, or the peer spoke plain HTTP (answered with a `400`).
    pub(crate) async fn accept(
        &self,
        acceptor: &TlsAcceptor,
        mut tcp: TcpStream,
        addr: SocketAddr,
    ) -> Option<TlsStream> {
        // A quarantined source (HandshakeMode::Refuse: its refusals happen here, not in the
        // layer) is closed unread, before any TLS or certificate work.
        if let Some(left) = self
            .gate
            .as_ref()
            .and_then(|g| g.quarantined_before_handshake(addr))
        {
            let code = Rejection::Quarantined {
                retry_after_seconds: left,
            }
            .code();
            self.reporter.report(
                code,
                addr,
                Some(format!("quarantined for {left} more seconds")),
            );
            return None;
        }
        let handshake = async {
            match opening(&tcp).await {
                Opening::Closed => return Err(Failure::Closed),
                Opening::PlainHttp => return Err(Failure::PlainHttp(tcp)),
                Opening::Other => {}
            }
            // The ClientHello is read here, within the handshake timeout, and replayed to
            // rustls unchanged.
            let (hello, fingerprint) = read_client_hello(&mut tcp).await;
            acceptor
                .accept(Rewind::new(hello, tcp, fingerprint))
                .into_fallible()
                .await
                .map_err(|(e, stream)| Failure::Tls(e, stream.into_inner()))
        };
        match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(Failure::Closed)) => {
                tracing::trace!(target: "certgate::server", peer = %addr, "closed before sending anything");
                None
            }
            Ok(Err(Failure::PlainHttp(tcp))) => {
                self.reporter
                    .report(ConnectionEvent::PLAIN_HTTP, addr, None);
                answer_plain_http(tcp).await;
                None
            }
            Ok(Err(Failure::Tls(e, tcp))) => {
                let (code, detail) = handshake_failure(&e);
                if let Some(gate) = &self.gate {
                    gate.score_refused_handshake(code, addr);
                }
                self.reporter.report(code, addr, Some(detail));
                // rustls has written its alert. Closing now, with the client's next flight
                // still unread, makes the kernel send a reset that can discard the alert
                // before the client reads it; close our side and drain briefly instead.
                linger(tcp).await;
                None
            }
            Err(_) => {
                self.reporter
                    .report(ConnectionEvent::HANDSHAKE_TIMEOUT, addr, None);
                None
            }
        }
    }
}

/// What the first bytes of a connection look like.
enum Opening {
    Closed,
    /// An ASCII HTTP method: plain HTTP sent to the TLS port.
    PlainHttp,
    /// A TLS handshake record (0x16), or anything else: rustls decides.
    Other,
}

/// Peeks at the first bytes, before rustls reads them.
async fn opening(tcp: &TcpStream) -> Opening {
    let mut first = [0u8; 8];
    match tcp.peek(&mut first).await {
        Ok(0) | Err(_) => Opening::Closed,
        Ok(n) => classify(first.get(..n).unwrap_or_default()),
    }
}

/// A TLS record starts with its content type, 0x16 for a handshake (RFC 8446 §5.1); a plain
/// HTTP/1.x request with its method, an uppercase token followed by a space (RFC 9112 §3).
/// An HTTP/2 prior-knowledge preface (`PRI * HTTP/2.0`) counts as plain HTTP too.
fn classify(first: &[u8]) -> Opening {
    let method_len = first.iter().take_while(|b| b.is_ascii_uppercase()).count();
    let rest = first.get(method_len..).unwrap_or_default();
    if method_len > 0 && (rest.is_empty() || rest.first() == Some(&b' ')) {
        Opening::PlainHttp
    } else {
        Opening::Other
    }
}

/// The answer to plain HTTP on the TLS port, as nginx gives one (its "The plain HTTP request
/// was sent to HTTPS port").
const PLAIN_HTTP_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 70\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: retry with https:// and a client certificate.\n";

/// Longest a plain-HTTP client is read from and written to.
const PLAIN_HTTP_TIMEOUT: Duration = Duration::from_secs(1);

/// Most bytes of a plain-HTTP request read before answering.
const PLAIN_HTTP_READ: usize = 8 * 1024;

async fn answer_plain_http(mut tcp: TcpStream) {
    // Read the request head first: answering with it unread turns the close into a reset
    // that can discard the answer before the client reads it.
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let _ = tokio::time::timeout(PLAIN_HTTP_TIMEOUT, async {
        while head.len() < PLAIN_HTTP_READ && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk).await {
                Ok(n) if n > 0 => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                _ => break,
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(PLAIN_HTTP_TIMEOUT, tcp.write_all(PLAIN_HTTP_RESPONSE)).await;
    linger(tcp).await;
}

/// The event code and detail of a failed handshake: the rejection's code when the gate
/// refused the client certificate, else `handshake_failed`.
fn handshake_failure(e: &io::Error) -> (&'static str, String) {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return (ConnectionEvent::HANDSHAKE_FAILED, e.to_string());
    };
    use rustls::CertificateError as C;
    let code = match tls {
        rustls::Error::NoCertificatesPresented => Rejection::NoCertificate.code(),
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            C::Other(other) => match other.0.downcast_ref::<Rejection>() {
                Some(rejection) => rejection.code(),
                None => ConnectionEvent::HANDSHAKE_FAILED,
            },
            // The rejections `tls::GateClientVerifier` maps to rustls' own variants (for
            // their alerts). `UnknownRevocationStatus` stands for `crl_expired` too; the
            // gate's own verdict event carries the exact code.
            C::Expired | C::ExpiredContext { .. } => "expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "not_yet_valid",
            C::Revoked => "revoked",
            C::UnknownIssuer => "unknown_issuer",
            C::BadSignature => "bad_signature",
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "wrong_key_usage",
            C::UnknownRevocationStatus => "revocation_unknown",
            _ => ConnectionEvent::HANDSHAKE_FAILED,
        },
        _ => ConnectionEvent::HANDSHAKE_FAILED,
    };
    (code, tls.to_string())
}

/// How long a refused connection is drained so the client can read the alert or answer.
const LINGER: Duration = Duration::from_secs(1);

async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        // Bounded: at most LINGER, and each read at most the buffer.
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Per connection: open streams (requests whose response body is not finished) and requests
/// so far, for the HTTP/2 idle timeout and the request cap.
struct ConnectionState {
    counts: Mutex<StreamCounts>,
    changed: Notify,
}

struct StreamCounts {
    open: usize,
    requests: u64,
    idle_since: Instant,
}

impl Default for ConnectionState {
    fn default() -> Self {
        Self {
            counts: Mutex::new(StreamCounts {
                open: 0,
                requests: 0,
                idle_since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }
}

impl ConnectionState {
    fn counts(&self) -> std::sync::MutexGuard<'_, StreamCounts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new stream; it stays open until the guard (carried by the response body) drops.
    fn open(self: &Arc<Self>) -> StreamGuard {
        {
            let mut counts = self.counts();
            counts.open += 1;
            counts.requests = counts.requests.saturating_add(1);
        }
        self.changed.notify_waiters();
        StreamGuard(Arc::clone(self))
    }

    /// Completes when the connection should close: `idle_timeout` with no open stream, or
    /// `max_requests` requests received.
    async fn until_close(&self, idle_timeout: Option<Duration>, max_requests: u64) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (open, requests, idle_since) = {
                let counts = self.counts();
                (counts.open, counts.requests, counts.idle_since)
            };
            if requests >= max_requests {
                return;
            }
            let deadline = match idle_timeout {
                Some(timeout) if open == 0 => idle_since.checked_add(timeout),
                _ => None,
            };
            match deadline {
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline.into()) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// One open stream.
struct StreamGuard(Arc<ConnectionState>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        {
            let mut counts = self.0.counts();
            counts.open = counts.open.saturating_sub(1);
            if counts.open == 0 {
                counts.idle_since = Instant::now();
            }
        }
        self.0.changed.notify_waiters();
    }
}

/// Adapts a Tower service to hyper: adds the connection's chain and address to each request,
/// refuses oversized heads, and tracks open streams.
struct WithPeer<S> {
    inner: S,
    conn: TlsConnectInfo,
    state: Arc<ConnectionState>,
    max_header_bytes: usize,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for WithPeer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
{
    type Response = Response<ServeBody<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let guard = self.state.open();
        if head_size(&req) > self.max_header_bytes {
            let response = too_large(req.version(), guard);
            return Box::pin(std::future::ready(Ok(response)));
        }
        req.extensions_mut().insert(self.conn.clone());
        let response = self.inner.clone().oneshot(req);
        Box::pin(async move {
            let response = response.await.map_err(Into::into)?;
            Ok(response.map(|body| ServeBody::Inner { body, guard }))
        })
    }
}

/// A request head's size as HTTP/2 counts a header list (RFC 9113 §6.5.2): name, value and
/// 32 bytes per field, plus the method and the request target.
fn head_size<T>(req: &Request<T>) -> usize {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.scheme_str().map_or(0, str::len);
    req.headers().iter().fold(
        req.method().as_str().len() + target,
        |size, (name, value)| size.saturating_add(name.as_str().len() + value.len() + 32),
    )
}

const TOO_LARGE_BODY: &str = "request header fields too large\n";

fn too_large<B>(version: http::Version, guard: StreamGuard) -> Response<ServeBody<B>> {
    let mut response = Response::new(ServeBody::Full {
        data: Some(Bytes::from_static(TOO_LARGE_BODY.as_bytes())),
        guard,
    });
    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // HTTP/1.1: the rest of an oversized request is not worth reading. (HTTP/2 forbids the
    // header; the stream ends with the response.)
    if version <= http::Version::HTTP_11 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

pin_project! {
    /// The response body `serve` sends: the service's, or its own 431; either keeps its stream
    /// counted as open until it is dropped.
    #[project = ServeBodyProj]
    enum ServeBody<B> {
        Inner { #[pin] body: B, guard: StreamGuard },
        Full { data: Option<Bytes>, guard: StreamGuard },
    }
}

impl<B> Body for ServeBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ServeBodyProj::Inner { body, .. } => match body.poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
                // `Bytes` (axum's and most bodies' data) converts without a copy.
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(
                    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                ))),
            },
            ServeBodyProj::Full { data, .. } => {
                Poll::Ready(data.take().map(|data| Ok(Frame::data(data))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body, .. } => body.is_end_stream(),
            Self::Full { data, .. } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body, .. } => body.size_hint(),
            Self::Full { data, .. } => SizeHint::with_exact(
                data.as_ref()
                    .map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX)),
            ),
        }
    }
}

#[cfg(feature = "axum")]
pub use self::listener::TlsListener;

#[cfg(feature = "axum")]
mod listener {
    use super::*;
    use tokio::sync::mpsc;

    /// An `axum::serve` listener that completes TLS handshakes in spawned tasks and yields
    /// only finished connections.
    ///
    /// It follows the gate's reloads ([`TlsConfig`]), answers plain HTTP with a `400` and
    /// reports failed handshakes like [`serve`](super::serve). `axum::serve` applies no
    /// header-read timeout, no HTTP/2 idle timeout and no connection caps, so a client that
    /// completes the handshake and then sends nothing keeps its connection until it leaves;
    /// [`serve_with`](super::serve_with) bounds all of these ([`ServeConfig`]).
    ///
    /// ```no_run
    /// # async fn run(gate: certgate::Gate, tls: certgate::server::TlsConfig) -> std::io::Result<()> {
    /// use certgate::server::{TlsConnectInfo, TlsListener};
    ///
    /// let app = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hi" }))
    ///     .layer(certgate::CertGateLayer::new(gate));
    /// let listener = TlsListener::new(tokio::net::TcpListener::bind("127.0.0.1:8443").await?, tls)?;
    /// axum::serve(listener, app.into_make_service_with_connect_info::<TlsConnectInfo>()).await
    /// # }
    /// ```
    pub struct TlsListener {
        ready: mpsc::Receiver<(TlsStream, SocketAddr)>,
        local: SocketAddr,
        accept_task: tokio::task::JoinHandle<()>,
    }

    impl TlsListener {
        /// Starts accepting on `listener` with the default [`ServeConfig`]'s handshake
        /// timeout; handshakes run in their own tasks.
        ///
        /// # Errors
        ///
        /// When the listener's local address cannot be read.
        pub fn new(listener: TcpListener, tls: impl Into<TlsConfig>) -> io::Result<Self> {
            Self::with_config(listener, tls, &ServeConfig::default())
        }

        /// Starts accepting on `listener`. Of `config`, the listener applies the handshake
        /// timeout and the event log rate; the connection caps and HTTP timeouts need
        /// [`serve_with`](super::serve_with) (`axum::serve` owns the connections).
        ///
        /// # Errors
        ///
        /// When the listener's local address cannot be read.
        pub fn with_config(
            listener: TcpListener,
            tls: impl Into<TlsConfig>,
            config: &ServeConfig,
        ) -> io::Result<Self> {
            let local = listener.local_addr()?;
            let tls = tls.into();
            let handshake = Arc::new(Handshake::new(config, &tls));
            let wait = config.handshake_timeout;
            // Finished handshakes wait here for axum's accept loop; the bound keeps a burst of
            // handshakes from piling up connections faster than they are served.
            let (tx, ready) = mpsc::channel(64);
            let accept_task = tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((tcp, addr)) => {
                            let tx = tx.clone();
                            let acceptor = TlsAcceptor::from(tls.current());
                            let handshake = Arc::clone(&handshake);
                            tokio::spawn(async move {
                                if let Some(tls) = handshake.accept(&acceptor, tcp, addr).await {
                                    // A finished handshake waits for axum at most this long,
                                    // rather than parking its connection without bound.
                                    let _ = tokio::time::timeout(wait, tx.send((tls, addr))).await;
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(target: "certgate::server", error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
            Ok(Self {
                ready,
                local,
                accept_task,
            })
        }
    }

    impl Drop for TlsListener {
        fn drop(&mut self) {
            self.accept_task.abort();
        }
    }

    impl axum::serve::Listener for TlsListener {
        type Io = tokio_rustls::server::TlsStream<Rewind<TcpStream>>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            match self.ready.recv().await {
                Some(ready) => ready,
                // The accept task never ends on its own; if it is gone, nothing more comes.
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(self.local)
        }
    }

    impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
        for TlsConnectInfo
    {
        fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
            connect_info(stream.io(), *stream.remote_addr())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_told_from_tls() {
        for plain in [&b"GET / HT"[..], b"POST /x", b"PRI * HT", b"G", b"OPTIONS "] {
            assert!(matches!(classify(plain), Opening::PlainHttp), "{plain:?}");
        }
        for other in [
            &[0x16u8, 3, 1, 0, 0xc8][..],
            b"\x80\x2e\x01",
            b"get / ht",
            b"GET/",
        ] {
            assert!(matches!(classify(other), Opening::Other), "{other:?}");
        }
    }

    #[test]
    fn the_plain_http_answer_has_the_right_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
    }
}
