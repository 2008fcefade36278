//! The Tower layer: refuse requests whose peer the [`Gate`] rejects.
//!
//! ```
//! # fn wire(gate: certgate::Gate) {
//! use certgate::CertGateLayer;
//! use tower::ServiceBuilder;
//!
//! // Enforce (the gate's mode); refusal bodies carry the stable `code` only.
//! let layer = ServiceBuilder::new().layer(CertGateLayer::new(gate.clone()));
//! // Development or a demo: add the human `detail` (at most 256 bytes) to the bodies.
//! let verbose = CertGateLayer::new(gate).show_detail();
//! # let _ = (layer, verbose);
//! # }
//! ```
//!
//! Where the peer comes from: a [`TlsConnectInfo`] in the request extensions (the `server`
//! module puts one on every request of a TLS connection; `server::TlsListener` gives it as
//! axum connect info), or a bare [`PeerChain`] plus an optional [`PeerAddr`]. A request with
//! none is treated as presenting no certificate (401), never as accepted.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

mod future;
pub(crate) mod problem;

pub use self::future::ResponseFuture;
#[cfg(feature = "axum")]
pub(crate) use self::problem::server_error;
pub use self::problem::{PROBLEM_JSON, problem_response};
use crate::connection::{PeerAddr, TlsConnectInfo};
use crate::gate::Gate;
use crate::peer_chain::PeerChain;

/// Applies [`CertGateService`] to a service.
#[derive(Clone, Debug)]
pub struct CertGateLayer {
    gate: Gate,
    show_detail: bool,
    identity_extension: bool,
}

impl CertGateLayer {
    /// Enforces `gate` on every request, in the gate's mode. Refusal bodies carry the
    /// stable `code`, not the human detail (see [`CertGateLayer::show_detail`]).
    pub fn new(gate: Gate) -> Self {
        Self {
            gate,
            show_detail: false,
            identity_extension: true,
        }
    }

    /// Adds the human `detail` to refusal bodies: a sentence for an operator, at most
    /// [`Rejection::MAX_DETAIL`](crate::Rejection::MAX_DETAIL) bytes, with any certificate
    /// text escaped. Off by default: it tells a prober what failed.
    pub fn show_detail(mut self) -> Self {
        self.show_detail = true;
        self
    }

    /// Leaves the human `detail` out of refusal bodies (the default; the `code` stays).
    pub fn hide_detail(mut self) -> Self {
        self.show_detail = false;
        self
    }

    /// Puts only the [`Verdict`](crate::Verdict) into the request extensions, not a separate
    /// [`PeerIdentity`](crate::PeerIdentity): handlers reach the identity with
    /// [`Verdict::identity`](crate::Verdict::identity), and the axum extractors (which read the
    /// verdict) work unchanged. Saves one allocation and one extension insert per request
    /// (about 40 ns on a warm connection, a third of the layer's cost).
    ///
    /// Any `PeerIdentity` extension an outer layer left is still removed: after this layer a
    /// request carries no `PeerIdentity` extension at all, so code reading
    /// `req.extensions().get::<PeerIdentity>()` must read the verdict instead.
    ///
    /// ```
    /// # fn wire(gate: certgate::Gate) {
    /// use certgate::{CertGateLayer, PeerIdentity, Verdict};
    ///
    /// let layer = CertGateLayer::new(gate).without_identity_extension();
    /// // In the handler:
    /// fn identity(req: &http::Request<()>) -> Option<&PeerIdentity> {
    ///     req.extensions().get::<Verdict>()?.identity()
    /// }
    /// # let _ = (layer, identity);
    /// # }
    /// ```
    pub fn without_identity_extension(mut self) -> Self {
        self.identity_extension = false;
        self
    }

    /// Puts the accepted peer's [`PeerIdentity`](crate::PeerIdentity) into the request
    /// extensions next to the [`Verdict`](crate::Verdict) (the default).
    pub fn with_identity_extension(mut self) -> Self {
        self.identity_extension = true;
        self
    }
}

impl<S> Layer<S> for CertGateLayer {
    type Service = CertGateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CertGateService {
            inner,
            gate: self.gate.clone(),
            show_detail: self.show_detail,
            identity_extension: self.identity_extension,
        }
    }
}

/// Refuses requests whose peer is rejected (in enforce mode) and hands the rest to the inner
/// service with [`PeerIdentity`](crate::PeerIdentity) (when accepted, unless
/// [`CertGateLayer::without_identity_extension`]) and [`Verdict`](crate::Verdict) in the
/// request extensions.
#[derive(Clone, Debug)]
pub struct CertGateService<S> {
    inner: S,
    gate: Gate,
    show_detail: bool,
    identity_extension: bool,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CertGateService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if self.gate.is_plain() {
            // The plain path: the transport's chain, nothing else to decide.
            let verdict = self.transport_verdict(req.extensions(), true);
            return self.finish(verdict, req);
        }
        let (signals, config) = self.gate.request_settings();
        if signals.is_none() && config.is_none() {
            // A reload to a plain policy raced the flag above.
            let verdict = self.transport_verdict(req.extensions(), true);
            return self.finish(verdict, req);
        }
        let now = self.gate.now();
        let peer = tcp_peer(req.extensions());
        // By address, or (a mesh) by the connection's own certificate: never by the header.
        let trusted = config.as_ref().is_some_and(|config| {
            peer.is_some_and(|p| config.is_trusted(p.ip()))
                || (config.proxy_identity_rule().is_some()
                    && connection(req.extensions())
                        .is_some_and(|conn| self.gate.is_proxy_identity(&conn.chain, &conn.memo)))
        });
        // The client: the TLS peer, or the address a trusted proxy forwards. A trusted proxy
        // that names no client (no `client_address` source) leaves it unknown: the proxy
        // itself is never scored nor quarantined (everyone behind it would be refused).
        let (event_client, client) = match (&config, peer) {
            (Some(config), Some(proxy)) if trusted => {
                let ip = config.client_address_via(proxy.ip(), req.headers());
                let named = std::net::SocketAddr::new(ip, 0);
                (Some(named), (ip != proxy.ip()).then_some(named))
            }
            _ => (peer, peer),
        };
        let mut header_tls = None;
        let mut observed = None;
        if let Some(sig) = &signals {
            if let Some(name) = &sig.fingerprint_header {
                if trusted {
                    // Exactly one value: a proxy that appends its header after one the
                    // client sent would otherwise hand us the client's claim first.
                    let mut values = req.headers().get_all(name).iter();
                    header_tls = match (values.next(), values.next()) {
                        (Some(value), None) => value
                            .to_str()
                            .ok()
                            .filter(|v| crate::signals::fingerprint::plausible_ja4(v))
                            .map(crate::signals::TlsFingerprint::from_ja4),
                        _ => None,
                    };
                }
                // Believed only from a trusted proxy; removed from every request.
                req.headers_mut().remove(name);
            }
            // A quarantined client is refused before any certificate work.
            if let Some((rejection, enforced)) = self.gate.quarantine_check(sig, client, now) {
                if enforced {
                    return ResponseFuture::refused(self.refusal(&rejection, req.version()));
                }
                observed = Some(rejection);
            }
        }
        let forwarded = match &config {
            Some(config) => self.forwarded(
                config,
                trusted,
                peer,
                event_client,
                &mut req,
                header_tls.as_ref(),
            ),
            None => None,
        };
        let from_proxy = forwarded.is_some();
        // Counted once, with the final verdict: by the verdict step on the transport path
        // without signals, else here or below (a forwarded verdict is not counted where made).
        let mut verdict = match forwarded {
            Some(verdict) => {
                if signals.is_none() {
                    self.gate.count_request(&verdict, None);
                }
                verdict
            }
            None => self.transport_verdict(req.extensions(), signals.is_none()),
        };
        if let Some(sig) = &signals {
            let conn = if from_proxy {
                None
            } else {
                connection(req.extensions())
            };
            let tls = if from_proxy {
                header_tls.as_ref()
            } else {
                conn.and_then(|c| c.fingerprint.as_deref())
            };
            verdict = self.gate.after_verdict(
                verdict,
                sig,
                crate::gate::SignalInput {
                    client,
                    connection: conn.map(|c| (&c.chain, &c.memo)),
                    tls,
                    observed,
                },
                now,
            );
            // Counted with the signals' outcome (the verdict steps above did not count it).
            self.gate.count_request(&verdict, conn.map(|c| &c.memo));
        }
        self.finish(verdict, req)
    }
}

impl<S> CertGateService<S> {
    /// Refuses the request (enforced verdict), or hands it to the inner service with the
    /// verdict (and identity) in its extensions.
    fn finish<ReqBody, ResBody>(
        &mut self,
        mut verdict: crate::Verdict,
        mut req: Request<ReqBody>,
    ) -> ResponseFuture<S::Future, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ResBody: From<String>,
    {
        if verdict.is_refused() {
            if let Some(rejection) = verdict.rejection() {
                return ResponseFuture::refused(self.refusal(rejection, req.version()));
            }
        }
        // This gate's verdict replaces whatever an outer layer left: a peer this gate rejects
        // (in observe mode) must not keep an identity an outer, looser gate granted.
        match verdict.identity().filter(|_| self.identity_extension) {
            Some(identity) => {
                req.extensions_mut().insert(identity.clone());
            }
            None => {
                req.extensions_mut().remove::<crate::PeerIdentity>();
            }
        }
        verdict.show_detail = self.show_detail;
        req.extensions_mut().insert(verdict);
        ResponseFuture::inner(self.inner.call(req))
    }

    /// The refusal response for `rejection`.
    fn refusal<B: From<String>>(
        &self,
        rejection: &crate::Rejection,
        version: http::Version,
    ) -> Response<B> {
        let mut response = problem_response(rejection, self.show_detail);
        // HTTP/1.x: a refused peer gets no second request on this connection (hyper
        // closes it after this response). HTTP/2 forbids the header.
        if version <= http::Version::HTTP_11 {
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }

    /// The verdict on the transport's own chain (the TLS connection's).
    /// `count`: whether the verdict step counts the request (not when signals follow).
    fn transport_verdict(&self, extensions: &http::Extensions, count: bool) -> crate::Verdict {
        if let Some(conn) = connection(extensions) {
            self.gate.check_with_memo(
                &conn.chain,
                Some(&conn.memo),
                || Some(conn.addr),
                conn.fingerprint.as_deref(),
                count,
            )
        } else if let Some(chain) = extensions.get::<PeerChain>() {
            self.gate
                .check_with_memo(chain, None, || tcp_peer(extensions), None, count)
        } else {
            // No transport identity at all: judged as an empty chain (no_certificate).
            self.gate
                .check_with_memo(&PeerChain::new(Vec::new()), None, || None, None, count)
        }
    }

    /// The trusted-proxy rule: a request from a trusted proxy is judged on the chain its
    /// header forwards (none: `no_certificate`), by digest through the cache, never through
    /// the connection's memo (one proxy connection carries many clients). From anyone else
    /// the header is ignored and removed, and the request is judged on its own TLS chain
    /// (`None` here). Consumed headers are removed either way.
    fn forwarded<B>(
        &self,
        config: &crate::forwarded::ForwardedConfig,
        trusted: bool,
        peer: Option<std::net::SocketAddr>,
        client: Option<std::net::SocketAddr>,
        req: &mut Request<B>,
        tls: Option<&crate::signals::TlsFingerprint>,
    ) -> Option<crate::Verdict> {
        let verdict = if trusted {
            // A trusted proxy by identity with no address cannot name its client.
            peer?;
            Some(match self.gate.forwarded_chain(req.headers()) {
                Ok(Some(chain)) => self
                    .gate
                    .check_with_memo(&chain, None, || client, tls, false),
                Ok(None) => self.gate.check_with_memo(
                    &PeerChain::new(Vec::new()),
                    None,
                    || client,
                    tls,
                    false,
                ),
                Err(e) => self
                    .gate
                    .refuse_unread(e.to_rejection(), client, tls, false),
            })
        } else {
            None
        };
        let headers = req.headers_mut();
        let mut stripped = false;
        for name in config.consumed_headers() {
            stripped |= headers.remove(&name).is_some();
        }
        if stripped && !trusted {
            self.gate.untrusted_forwarded_header(peer);
        }
        verdict
    }
}

/// The TCP peer's address: the TLS connection's, a [`PeerAddr`] extension, or axum's
/// `ConnectInfo<SocketAddr>` (a plain-HTTP server behind a proxy).
pub(crate) fn tcp_peer(extensions: &http::Extensions) -> Option<std::net::SocketAddr> {
    if let Some(conn) = connection(extensions) {
        return Some(conn.addr);
    }
    if let Some(addr) = extensions.get::<PeerAddr>() {
        return Some(addr.0);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(info.0);
    }
    None
}

/// The connection the request came on: a [`TlsConnectInfo`] extension (the `server`
/// module), or axum's `ConnectInfo<TlsConnectInfo>` (`server::TlsListener`).
pub(crate) fn connection(extensions: &http::Extensions) -> Option<&TlsConnectInfo> {
    if let Some(info) = extensions.get::<TlsConnectInfo>() {
        return Some(info);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<TlsConnectInfo>>() {
        return Some(&info.0);
    }
    None
}
