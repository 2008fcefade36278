//! What a transport tells the layer about the connection a request came on: the types the
//! `server` module puts into requests and [`CertGateLayer`](crate::CertGateLayer) reads.
//!
//! Both transports (the TLS server here, and any other a user writes) depend on this module,
//! never on each other.

use std::net::SocketAddr;

use crate::gate::ConnectionMemo;
use crate::peer_chain::PeerChain;

/// The peer's socket address, as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// One TLS connection, as a request extension (the `server` module puts it on every request)
/// or as axum connect info (`server::TlsListener`): the chain the peer presented, its address,
/// and the gate's per-connection memo, so the requests of a keep-alive connection are judged
/// with one atomic load while the policy does not change.
///
/// A transport of your own can build one per connection and insert a clone into each
/// request; inserting a bare [`PeerChain`] (and [`PeerAddr`]) works too, judged through the
/// verdict cache instead of the memo.
///
/// ```
/// use certgate::{PeerChain, TlsConnectInfo};
/// let info = TlsConnectInfo::new(PeerChain::new(Vec::new()), "127.0.0.1:9".parse().unwrap());
/// assert!(info.chain.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct TlsConnectInfo {
    /// The chain the peer presented (empty when none).
    pub chain: PeerChain,
    /// The peer's address.
    pub addr: SocketAddr,
    /// The client's TLS fingerprint, when the transport read its ClientHello.
    pub fingerprint: Option<std::sync::Arc<crate::signals::TlsFingerprint>>,
    pub(crate) memo: ConnectionMemo,
}

impl TlsConnectInfo {
    /// A connection's chain and address, with a fresh memo.
    pub fn new(chain: PeerChain, addr: SocketAddr) -> Self {
        Self {
            chain,
            addr,
            fingerprint: None,
            memo: ConnectionMemo::default(),
        }
    }

    /// The same, with the client's TLS fingerprint.
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: crate::signals::TlsFingerprint) -> Self {
        self.fingerprint = Some(std::sync::Arc::new(fingerprint));
        self
    }
}
