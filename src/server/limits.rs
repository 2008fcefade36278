//! Connection caps (overall and per source address) and rate-limited logging of connection
//! events.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::events::{ConnectionEvent, EventSink};

/// Counts live connections; a [`Slot`] is one of them.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    max_total: usize,
    max_per_source: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only sources with live connections: bounded by `max_total` entries.
    per_source: HashMap<IpAddr, usize>,
}

/// One live connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Slot {
    limits: Arc<ConnectionLimits>,
    source: IpAddr,
    /// The open-connections gauge, up while the slot lives.
    #[cfg(feature = "metrics")]
    _open: crate::metrics::OpenConnection,
}

impl ConnectionLimits {
    pub(crate) fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_source,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A slot for a connection from `peer`, or the code of the cap it hit.
    pub(crate) fn acquire(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, &'static str> {
        let source = source_of(peer);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(ConnectionEvent::CONNECTION_LIMIT);
        }
        // Checked before inserting: a refused source leaves no entry behind.
        if counts.per_source.get(&source).copied().unwrap_or(0) >= self.max_per_source {
            return Err(ConnectionEvent::SOURCE_LIMIT);
        }
        *counts.per_source.entry(source).or_insert(0) += 1;
        counts.total += 1;
        Ok(Slot {
            limits: Arc::clone(self),
            source,
            #[cfg(feature = "metrics")]
            _open: crate::metrics::OpenConnection::new(),
        })
    }

    #[cfg(test)]
    fn live(&self) -> (usize, usize) {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        (counts.total, counts.per_source.len())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .limits
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_source.remove(&self.source);
            }
        }
    }
}

/// The unit a per-source cap counts: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6
/// /64 (one subscriber's prefix: counting single IPv6 addresses would let one host open a
/// connection from each of its 2^64 addresses).
fn source_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Where connection events go: every one to the sink (when there is one), at most
/// `per_second` a second to the log, the rest counted and reported with the next logged line.
pub(crate) struct EventReporter {
    sink: Option<Arc<dyn EventSink>>,
    per_second: u32,
    started: Instant,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    second: u64,
    logged: u32,
    suppressed: u64,
}

impl EventReporter {
    pub(crate) fn new(sink: Option<Arc<dyn EventSink>>, per_second: u32) -> Self {
        Self {
            sink,
            per_second,
            started: Instant::now(),
            window: Mutex::new(Window::default()),
        }
    }

    pub(crate) fn report(&self, code: &'static str, peer: SocketAddr, detail: Option<String>) {
        #[cfg(feature = "metrics")]
        crate::metrics::connection_refused(code);
        let event = ConnectionEvent::new(code, peer, detail);
        if let Some(sink) = &self.sink {
            sink.record_connection(&event);
        }
        let Some(suppressed) = self.admit() else {
            return;
        };
        let detail = event.detail.as_deref();
        // Certificate refusals and caps are what an operator acts on; scanners, health checks
        // and stray plain-HTTP clients are routine on any public port.
        let routine = matches!(
            code,
            ConnectionEvent::HANDSHAKE_FAILED
                | ConnectionEvent::HANDSHAKE_TIMEOUT
                | ConnectionEvent::PLAIN_HTTP
        );
        if routine {
            tracing::info!(target: "certgate::server", code, peer = %peer, detail, suppressed, "connection closed");
        } else {
            tracing::warn!(target: "certgate::server", code, peer = %peer, detail, suppressed, "connection refused");
        }
    }

    /// `Some(events suppressed since the last logged line)` when this event may be logged.
    fn admit(&self) -> Option<u64> {
        let second = self.started.elapsed().as_secs();
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.second != second {
            window.second = second;
            window.logged = 0;
        }
        if window.logged >= self.per_second {
            window.suppressed = window.suppressed.saturating_add(1);
            return None;
        }
        window.logged += 1;
        Some(std::mem::take(&mut window.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_source_and_free_on_drop() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "::ffff:192.0.2.2".parse().unwrap();
        let first = limits.acquire(a).unwrap();
        let _second = limits.acquire(a).unwrap();
        assert_eq!(
            limits.acquire(a).unwrap_err(),
            ConnectionEvent::SOURCE_LIMIT
        );
        let _third = limits.acquire(b).unwrap();
        assert_eq!(
            limits.acquire(b).unwrap_err(),
            ConnectionEvent::CONNECTION_LIMIT
        );
        drop(first);
        let _again = limits.acquire(a).unwrap();
        assert_eq!(limits.live(), (3, 2));
        // A source refused by a zero cap leaves no entry behind.
        let closed = ConnectionLimits::new(3, 0);
        assert!(closed.acquire(a).is_err());
        assert_eq!(closed.live(), (0, 0));
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let limits = ConnectionLimits::new(10, 1);
        let _one = limits.acquire("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            limits
                .acquire("2001:db8::ffff:1".parse().unwrap())
                .unwrap_err(),
            ConnectionEvent::SOURCE_LIMIT
        );
        assert!(limits.acquire("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn logging_is_rate_limited_and_counts_the_rest() {
        let reporter = EventReporter::new(None, 2);
        assert_eq!(reporter.admit(), Some(0));
        assert_eq!(reporter.admit(), Some(0));
        assert_eq!(reporter.admit(), None);
        assert_eq!(reporter.admit(), None);
        // A new second (forced: the window is keyed by the elapsed second).
        reporter.window.lock().unwrap().second = u64::MAX;
        assert_eq!(reporter.admit(), Some(2));
    }
}
