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
}

/// Receives every [`VerdictEvent`]. Must be cheap and must not block: it runs on the request
/// path (on cache misses and hits, not on memoized requests).
pub trait EventSink: Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: &VerdictEvent);
}

/// The default sink: `tracing` events under the target `certgate`, rejections (refused or
/// observed) at `warn`, accepts at `debug`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn record(&self, e: &VerdictEvent) {
        let app = e.app_id.as_ref().map(AppId::as_str);
        let fingerprint = e.fingerprint.as_deref();
        let peer = e.peer_addr.map(tracing::field::display);
        match e.action {
            Action::Accept => tracing::debug!(
                target: "certgate",
                code = e.code,
                action = "accept",
                app,
                fingerprint,
                peer,
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
                detail = e.detail.as_deref(),
                "peer rejected"
            ),
        }
    }
}

fn ser_time<S: serde::Serializer>(time: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(time.as_secs())
}
