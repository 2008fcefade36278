//! `VerdictEvent`s and where they go: the one vocabulary for logs, metrics and audit.

use std::net::SocketAddr;

use rustls_pki_types::UnixTime;

use crate::verify::identity::AppId;

/// What the gate did with a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// The peer was accepted.
    Accept,
    /// The peer would have been refused, but the mode for its code is observe: it passed.
    Observe,
    /// The peer was refused.
    Refuse,
}

/// One verdict, as reported to an [`EventSink`]. Emitted when the gate computes or looks up a
/// verdict (a fresh verification or a cache hit), not on every request of a connection whose
/// verdict is memoized.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct VerdictEvent {
    /// `accept`, or the primary rejection's reason code.
    pub code: &'static str,
    /// Every failing reason code, primary first (empty on an accept).
    pub codes: Vec<&'static str>,
    /// What the gate did.
    pub action: Action,
    /// Warning codes on an accept (for example `crl_stale`).
    pub warnings: Vec<&'static str>,
    /// The app id, when the leaf carried one and the chain was accepted.
    pub app_id: Option<AppId>,
    /// SHA-256 of the leaf, hex, when a leaf was presented.
    pub fingerprint: Option<String>,
    /// The peer's address, when the transport knows it.
    pub peer_addr: Option<SocketAddr>,
    /// Whether the verdict came from the cache.
    pub cached: bool,
    /// The policy generation the verdict belongs to.
    pub generation: u64,
    /// When the check was made (seconds since the epoch).
    #[serde(serialize_with = "ser_time")]
    pub time: UnixTime,
    /// Human detail for rejections.
    pub detail: Option<String>,
    /// The client's TLS fingerprint (JA4), when the transport or a trusted proxy gave one.
    pub tls_fingerprint: Option<String>,
    /// For bot signal events (`quarantined`, `cert_cloning_suspected`,
    /// `tls_fingerprint_mismatch`): the signal's data.
    pub signal: Option<SignalData>,
}

/// What a bot signal measured, in its [`VerdictEvent`]: enough for an operator to act (for
/// example `certgate revoke` a cloned per-install certificate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SignalData {
    /// The client address's current failure score (quarantine).
    pub score: Option<u64>,
    /// Every weight added to that address while tracked (quarantine).
    pub total_score: Option<u64>,
    /// How long the enforcement lasts (the quarantine, or the certificate's flag), in
    /// seconds: the full duration when it starts, the rest afterwards.
    pub duration_seconds: Option<u64>,
    /// Distinct addresses (or networks) the certificate was seen from (cloning).
    pub addresses: Option<u32>,
    /// Concurrent connections presenting the certificate (cloning).
    pub connections: Option<u32>,
}

/// Receives every [`VerdictEvent`]. Must be cheap and must not block: it runs on the request
/// path (on cache misses and hits, not on memoized requests).
pub trait EventSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: &VerdictEvent);

    /// Whether [`EventSink::record`] would do anything with an event of `action`. The gate
    /// builds no event (no hex fingerprint, no detail text) for an action the sink does not
    /// want. The default wants every event; [`TracingSink`] wants what its `tracing`
    /// subscriber would record.
    fn wants(&self, action: Action) -> bool {
        let _ = action;
        true
    }

    /// Records a connection the server closed before any request: a failed or refused TLS
    /// handshake, plain HTTP on the TLS port, a connection over a limit. Called by the
    /// `server` module (feature `server`) for every such connection, not rate-limited; the
    /// server logs them itself (rate-limited), so the default does nothing.
    fn record_connection(&self, event: &ConnectionEvent) {
        let _ = event;
    }
}

/// A connection the server closed before it carried a request, with the reason.
///
/// `code` is either a rejection code ([`Rejection::CODES`](crate::Rejection::CODES)) when the
/// gate refused the client certificate in the handshake
/// ([`HandshakeMode::Refuse`](crate::HandshakeMode::Refuse)), or one of
/// [`ConnectionEvent::CODES`]. Codes are stable: added, never renamed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectionEvent {
    /// The reason code.
    pub code: &'static str,
    /// The peer's address.
    pub peer_addr: SocketAddr,
    /// What went wrong, for an operator (at most [`ConnectionEvent::MAX_DETAIL`] bytes).
    pub detail: Option<String>,
}

impl ConnectionEvent {
    /// The codes of connection events that are not certificate rejections.
    pub const CODES: &'static [&'static str] = &[
        Self::CONNECTION_LIMIT,
        Self::FORWARDED_UNTRUSTED,
        Self::HANDSHAKE_FAILED,
        Self::HANDSHAKE_TIMEOUT,
        Self::PLAIN_HTTP,
        Self::SOURCE_LIMIT,
    ];
    /// The server was at its limit of concurrent connections; this one was closed at once.
    pub const CONNECTION_LIMIT: &'static str = "connection_limit";
    /// A request from a peer outside `forwarded.trusted_proxies` carried a forwarded
    /// client-certificate header: it was removed, and the request judged on its own chain.
    pub const FORWARDED_UNTRUSTED: &'static str = "forwarded_untrusted";
    /// The TLS handshake failed for a reason other than the client certificate (no common
    /// protocol or cipher suite, a malformed record, an alert from the client, …).
    pub const HANDSHAKE_FAILED: &'static str = "handshake_failed";
    /// The TLS handshake did not finish in time (a client that connects and sends nothing).
    pub const HANDSHAKE_TIMEOUT: &'static str = "handshake_timeout";
    /// The client spoke plain HTTP to the TLS port; it got a `400` and the connection closed.
    pub const PLAIN_HTTP: &'static str = "plain_http";
    /// The client's source address (IPv4 address, IPv6 /64) was at its limit of concurrent
    /// connections; this one was closed at once.
    pub const SOURCE_LIMIT: &'static str = "source_limit";
    /// The longest `detail`, in bytes.
    pub const MAX_DETAIL: usize = 256;

    /// An event; `detail` is truncated to [`ConnectionEvent::MAX_DETAIL`] bytes.
    pub fn new(code: &'static str, peer_addr: SocketAddr, detail: Option<String>) -> Self {
        Self {
            code,
            peer_addr,
            detail: detail.map(|d| truncate(d, Self::MAX_DETAIL)),
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The default sink: `tracing` events under the target `certgate`, rejections (refused or
/// observed) at `warn`, accepts at `debug`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn wants(&self, action: Action) -> bool {
        match action {
            Action::Accept => tracing::enabled!(target: "certgate", tracing::Level::DEBUG),
            Action::Observe | Action::Refuse => {
                tracing::enabled!(target: "certgate", tracing::Level::WARN)
            }
        }
    }

    fn record(&self, e: &VerdictEvent) {
        let app = e.app_id.as_ref().map(AppId::as_str);
        let fingerprint = e.fingerprint.as_deref();
        let peer = e.peer_addr.map(tracing::field::display);
        let ja4 = e.tls_fingerprint.as_deref();
        let signal = e.signal.as_ref().map(tracing::field::debug);
        match e.action {
            Action::Accept => tracing::debug!(
                target: "certgate",
                code = e.code,
                action = "accept",
                app,
                fingerprint,
                peer,
                ja4,
                cached = e.cached,
                generation = e.generation,
                warnings = ?e.warnings,
                "peer accepted"
            ),
            Action::Observe | Action::Refuse => tracing::warn!(
                target: "certgate",
                code = e.code,
                action = if e.action == Action::Refuse { "refuse" } else { "observe" },
                app,
                fingerprint,
                peer,
                cached = e.cached,
                generation = e.generation,
                codes = ?e.codes,
                ja4,
                signal,
                detail = e.detail.as_deref(),
                "peer rejected"
            ),
        }
    }
}

fn ser_time<S: serde::Serializer>(time: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(time.as_secs())
}
