//! TLS serving: each connection's [`PeerChain`] and [`PeerAddr`] on every request it carries.
//!
//! Two shapes, both with handshakes in spawned tasks (a handshake awaited in the accept loop
//! would let one slow client stall every other accept):
//!
//! * [`serve`]: a manual accept loop over hyper-util's auto (HTTP/1.1 + HTTP/2) connection
//!   builder. Works with any Tower service, axum routers included.
//! * [`TlsListener`] (with the `axum` feature): an `axum::serve` listener, with
//!   [`TlsConnectInfo`] as the connect info.
//!
//! ```no_run
//! # async fn run(gate: certgate::Gate, chain: Vec<rustls_pki_types::CertificateDer<'static>>, key: rustls_pki_types::PrivateKeyDer<'static>) -> std::io::Result<()> {
//! use std::sync::Arc;
//! use certgate::{CertGateLayer, HandshakeMode, server};
//!
//! let provider = Arc::new(rustls::crypto::ring::default_provider());
//! let tls = server::server_config(&gate, provider, chain, key, HandshakeMode::Defer)
//!     .map_err(std::io::Error::other)?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello, genuine app" }))
//!     .layer(CertGateLayer::new(gate));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! server::serve(listener, tls, app, std::future::pending()).await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_service::Service;

use crate::gate::Gate;
use crate::layer::PeerAddr;
use crate::peer_chain::PeerChain;
use crate::tls::{GateClientVerifier, HandshakeMode};

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest [`serve`] waits for a request's headers (HTTP/1.1, idle keep-alive included) before
/// it closes the connection: a client that completes the handshake and then sends nothing
/// does not hold a connection forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Boxed error type used by the serving functions' bounds.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A rustls server configuration whose client-certificate verifier is `gate`, offering h2 and
/// http/1.1.
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
    let verifier = Arc::new(GateClientVerifier::new(
        gate.clone(),
        Arc::clone(&provider),
        mode,
    ));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The chain a TLS connection presented (empty when none).
pub fn peer_chain_of(conn: &rustls::ServerConnection) -> PeerChain {
    PeerChain::new(
        conn.peer_certificates()
            .map(<[CertificateDer<'static>]>::to_vec)
            .unwrap_or_default(),
    )
}

/// Accepts TLS connections on `listener` until `shutdown` completes, serving each with
/// `service` (HTTP/1.1 or HTTP/2). Every request carries its connection's [`PeerChain`] and
/// [`PeerAddr`] as extensions.
///
/// # Errors
///
/// Only an error reading the listener's local address; accept and handshake errors are logged
/// (`tracing`, target `certgate::server`) and the loop goes on.
pub async fn serve<S, B>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let acceptor = TlsAcceptor::from(config);
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
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let Some(tls) = handshake(&acceptor, tcp, addr).await else {
                return;
            };
            let chain = peer_chain_of(tls.get_ref().1);
            let hyper_service = WithPeer {
                inner: service,
                chain,
                addr,
            };
            // The protocol comes from ALPN, not from sniffing the first bytes: sniffing waits
            // for bytes without a deadline, so a client that sends nothing would never meet the
            // header-read timeout. Without ALPN (or with http/1.1), HTTP/1.1.
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder = if h2 {
                builder.http2_only()
            } else {
                builder.http1_only()
            };
            // Without a timer hyper silently drops its header-read timeout.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(HEADER_READ_TIMEOUT)
                .keep_alive_timeout(HANDSHAKE_TIMEOUT);
            if let Err(e) = builder
                .serve_connection(TokioIo::new(tls), hyper_service)
                .await
            {
                tracing::debug!(target: "certgate::server", peer = %addr, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp).into_fallible()).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err((e, tcp))) => {
            tracing::debug!(target: "certgate::server", peer = %addr, error = %e, "TLS handshake failed");
            // rustls has written its alert. Closing now, with the client's next flight still
            // unread, makes the kernel send a reset that can discard the alert before the
            // client reads it; close our side and drain briefly instead.
            tokio::spawn(linger(tcp));
            None
        }
        Err(_) => {
            tracing::debug!(target: "certgate::server", peer = %addr, "TLS handshake timed out");
            None
        }
    }
}

/// How long a refused connection is drained so the client can read the alert.
const LINGER: Duration = Duration::from_secs(1);

async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        // Bounded: at most LINGER, and each read at most the buffer.
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Adapts a Tower service to hyper, adding the connection's chain and address to each request.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    chain: PeerChain,
    addr: SocketAddr,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for WithPeer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = tower::util::Oneshot<S, Request<Incoming>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.chain.clone());
        req.extensions_mut().insert(PeerAddr(self.addr));
        self.inner.clone().oneshot(req)
    }
}

#[cfg(feature = "axum")]
pub use self::listener::{TlsConnectInfo, TlsListener};

#[cfg(feature = "axum")]
mod listener {
    use super::*;
    use tokio::sync::mpsc;

    /// An `axum::serve` listener that completes TLS handshakes in spawned tasks and yields
    /// only finished connections.
    ///
    /// `axum::serve` applies no header-read timeout, so a client that completes the handshake
    /// and then sends nothing keeps its connection until it leaves; [`serve`](super::serve)
    /// closes such connections after [`HEADER_READ_TIMEOUT`](super::HEADER_READ_TIMEOUT).
    ///
    /// ```no_run
    /// # async fn run(gate: certgate::Gate, tls: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
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
        ready: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
        local: SocketAddr,
        accept_task: tokio::task::JoinHandle<()>,
    }

    impl TlsListener {
        /// Starts accepting on `listener`; handshakes run in their own tasks.
        ///
        /// # Errors
        ///
        /// When the listener's local address cannot be read.
        pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
            let local = listener.local_addr()?;
            let acceptor = TlsAcceptor::from(config);
            // Finished handshakes wait here for axum's accept loop; the bound keeps a burst of
            // handshakes from piling up connections faster than they are served.
            let (tx, ready) = mpsc::channel(64);
            let accept_task = tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((tcp, addr)) => {
                            let tx = tx.clone();
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                if let Some(tls) = handshake(&acceptor, tcp, addr).await {
                                    // A finished handshake waits for axum at most this long,
                                    // rather than parking its connection without bound.
                                    let _ = tokio::time::timeout(
                                        HANDSHAKE_TIMEOUT,
                                        tx.send((tls, addr)),
                                    )
                                    .await;
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
        type Io = tokio_rustls::server::TlsStream<TcpStream>;
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

    /// axum connect info for [`TlsListener`]: the connection's chain and address.
    /// [`CertGateLayer`](crate::CertGateLayer) reads it when no `PeerChain` extension is set.
    #[derive(Clone, Debug)]
    pub struct TlsConnectInfo {
        /// The chain the peer presented (empty when none).
        pub chain: PeerChain,
        /// The peer's address.
        pub addr: SocketAddr,
    }

    impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
        for TlsConnectInfo
    {
        fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
            Self {
                chain: peer_chain_of(stream.io().get_ref().1),
                addr: *stream.remote_addr(),
            }
        }
    }
}
