//! The chain a peer presented, with its digest computed once.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// The certificates a peer presented (leaf first), plus a SHA-256 digest over them.
///
/// Build it once per connection (from the TLS session, or later from a trusted proxy's header)
/// and share it: cloning is an `Arc` clone, and the digest is the key of the verdict cache.
///
/// ```
/// use certgate::PeerChain;
/// use rustls_pki_types::CertificateDer;
///
/// let chain = PeerChain::new(vec![CertificateDer::from(vec![0x30, 0x00])]);
/// assert_eq!(chain.certs().len(), 1);
/// assert_ne!(chain.digest(), PeerChain::new(Vec::new()).digest());
/// ```
#[derive(Clone)]
pub struct PeerChain {
    certs: Arc<[CertificateDer<'static>]>,
    digest: [u8; 32],
}

impl PeerChain {
    /// Wraps a presented chain, leaf first, and computes its digest.
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        Self::from_arc(certs.into())
    }

    /// Wraps an already shared chain (for example rustls' `peer_certificates()` copied once).
    pub fn from_arc(certs: Arc<[CertificateDer<'static>]>) -> Self {
        let digest = chain_digest(&certs);
        Self { certs, digest }
    }

    /// The presented certificates, leaf first. Empty when the peer presented none.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The leaf, if any certificate was presented.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.certs.first()
    }

    /// SHA-256 over the presented chain; equal chains have equal digests.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Whether the peer presented no certificate at all.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

impl fmt::Debug for PeerChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerChain")
            .field("len", &self.certs.len())
            .field("digest", &crate::hex(&self.digest))
            .finish()
    }
}

/// SHA-256 over each certificate's length (8 bytes, big endian) and bytes, so that no two
/// different chains share an encoding.
fn chain_digest(certs: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for cert in certs {
        let len = u64::try_from(cert.len()).unwrap_or(u64::MAX);
        hasher.update(len.to_be_bytes());
        hasher.update(cert.as_ref());
    }
    hasher.finalize().into()
}
