//! Cloned per-install certificates: a per-install certificate belongs to one device, so one
//! seen from more than `max_addresses` client addresses (or networks) within
//! `window_seconds`, or on more than `max_connections` connections at once, is flagged
//! `cert_cloning_suspected` for `quarantine_seconds`.
//!
//! Connections are counted exactly on connections whose transport gives the layer a
//! [`TlsConnectInfo`](crate::TlsConnectInfo) (the `server` module does): the first request of
//! a connection registers it, and the registration is released when the connection's last
//! `TlsConnectInfo` clone is dropped (the connection closed). Requests judged without one
//! (a trusted proxy's forwarded certificates, a bare `PeerChain`) count addresses only.

use std::net::IpAddr;
use std::sync::Arc;

use super::store::{LEAF_ADDRESSES, SignalStore};

/// `[signals.cloning]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloningConfig {
    /// More distinct addresses (or networks) than this within the window: flagged.
    pub max_addresses: u32,
    /// The window addresses are counted in, in seconds.
    pub window_seconds: u64,
    /// More concurrent connections than this: flagged.
    pub max_connections: u32,
    /// Count IPv4 /24 and IPv6 /48 networks instead of addresses.
    pub count_networks: bool,
    /// How long a flagged certificate stays flagged (refused when enforced).
    pub quarantine_seconds: u64,
}

impl CloningConfig {
    /// The rule, with `count_networks = false`.
    ///
    /// # Errors
    ///
    /// The field and why: `max_addresses` must be 1 to 15 (16 addresses are remembered
    /// per certificate), `max_connections` at least 1, the durations 1 s to a week.
    pub fn new(
        max_addresses: u32,
        window_seconds: u64,
        max_connections: u32,
        quarantine_seconds: u64,
    ) -> Result<Self, (&'static str, String)> {
        let most = u32::try_from(LEAF_ADDRESSES.saturating_sub(1)).unwrap_or(u32::MAX);
        if max_addresses == 0 || max_addresses > most {
            return Err(("max_addresses", format!("must be 1 to {most}")));
        }
        if max_connections == 0 {
            return Err(("max_connections", "must be at least 1".into()));
        }
        let max = super::quarantine::MAX_SECONDS;
        for (field, value) in [
            ("window_seconds", window_seconds),
            ("quarantine_seconds", quarantine_seconds),
        ] {
            if value == 0 || value > max {
                return Err((field, format!("must be 1 to {max} seconds")));
            }
        }
        Ok(Self {
            max_addresses,
            window_seconds,
            max_connections,
            count_networks: false,
            quarantine_seconds,
        })
    }

    /// Counts networks (IPv4 /24, IPv6 /48) instead of addresses.
    #[must_use]
    pub fn count_networks(mut self, yes: bool) -> Self {
        self.count_networks = yes;
        self
    }

    /// What is counted for `addr`: itself, or its network.
    pub(crate) fn network(&self, addr: IpAddr) -> IpAddr {
        // An IPv4 client of a dual-stack listener (or a proxy writing `::ffff:a.b.c.d`) is
        // its IPv4 address: otherwise every IPv4 client falls in the one /48 `::`, and the
        // mapped and plain forms of one address count twice.
        let addr = addr.to_canonical();
        if !self.count_networks {
            return addr;
        }
        match addr {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                IpAddr::from([a, b, c, 0])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let (a, b, c) = (
                    s.first().copied().unwrap_or(0),
                    s.get(1).copied().unwrap_or(0),
                    s.get(2).copied().unwrap_or(0),
                );
                IpAddr::from([a, b, c, 0, 0, 0, 0, 0])
            }
        }
    }
}

/// One connection's registration of a per-install certificate: released (the store's
/// connection count decremented) when dropped, that is when the connection's memo is.
pub(crate) struct ConnectionUse {
    store: Arc<dyn SignalStore>,
    leaf: [u8; 32],
}

impl ConnectionUse {
    pub(crate) fn new(store: Arc<dyn SignalStore>, leaf: [u8; 32]) -> Self {
        Self { store, leaf }
    }
}

impl Drop for ConnectionUse {
    fn drop(&mut self) {
        self.store.connection_closed(&self.leaf);
    }
}
