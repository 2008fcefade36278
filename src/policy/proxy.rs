//! Mesh trust: a connection is a trusted proxy when its own TLS client certificate verifies
//! under the proxy anchors and names an allowed proxy.

use std::sync::Arc;

use rustls_pki_types::UnixTime;

use super::{PolicyError, VerifierBuilder};
use crate::forwarded::{ProxyIdentity, ProxyName};
use crate::peer_chain::PeerChain;
use crate::verify::Verifier;

/// A [`ProxyIdentity`] compiled into a verifier: its anchors under the strict profile, client
/// authentication usage, no app id, and the allowlist of names.
#[derive(Debug)]
pub(crate) struct ProxyTrust {
    verifier: Verifier,
    allow: Vec<ProxyName>,
}

/// The outcome for one connection's chain, with the instant it stops holding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProxyDecision {
    pub(crate) trusted: bool,
    pub(crate) until: UnixTime,
}

/// How long a "not a trusted proxy" decision is kept for a connection before the chain is
/// looked at again (a chain that is not yet valid may become so).
const UNTRUSTED_FOR_SECS: u64 = 60;

impl ProxyTrust {
    /// Builds the proxy verifier with the main policy's signature algorithms.
    pub(crate) fn build(
        identity: &ProxyIdentity,
        main: &Verifier,
    ) -> Result<Arc<Self>, PolicyError> {
        if identity.anchors().is_empty() {
            return Err(PolicyError::new(
                "forwarded.proxy_identity.anchors",
                "a proxy identity needs at least one anchor",
            ));
        }
        if identity.allowed().is_empty() {
            return Err(PolicyError::new(
                "forwarded.proxy_identity.allow",
                "a proxy identity needs at least one allowed name",
            ));
        }
        let mut builder = VerifierBuilder::new()
            .signature_algorithms(main.algorithms)
            .require_app_id(false);
        for anchor in identity.anchors() {
            builder = builder.trust_anchor(anchor.clone());
        }
        let verifier = builder.build().map_err(|e| {
            PolicyError::new(
                format!("forwarded.proxy_identity.{}", e.field()),
                e.message().to_owned(),
            )
        })?;
        Ok(Arc::new(Self {
            verifier,
            allow: identity.allowed().to_vec(),
        }))
    }

    /// Whether `chain` (a connection's own TLS chain) is an allowed proxy's at `now`.
    pub(crate) fn decide(&self, chain: &PeerChain, now: UnixTime) -> ProxyDecision {
        let untrusted = ProxyDecision {
            trusted: false,
            until: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                now.as_secs().saturating_add(UNTRUSTED_FOR_SECS),
            )),
        };
        if chain.is_empty() {
            return untrusted;
        }
        let Ok(identity) = self.verifier.verify(chain, now) else {
            return untrusted;
        };
        let named = self.allow.iter().any(|name| match name {
            ProxyName::Uri(uri) => identity.uris().iter().any(|u| u == uri),
            ProxyName::Dns(dns) => identity
                .dns_names()
                .iter()
                .any(|d| d.eq_ignore_ascii_case(dns)),
        });
        if named {
            ProxyDecision {
                trusted: true,
                until: identity.valid_until(),
            }
        } else {
            untrusted
        }
    }
}
