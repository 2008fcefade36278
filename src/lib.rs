//! certgate: refuse every request whose TLS peer is not a genuine, verified app.
//!
//! Each genuine mobile app presents a client certificate in its TLS handshake. certgate decides
//! whether that certificate chain is genuine (chain and signatures through rustls-webpki, a
//! strict RFC 5280 profile, validity with optional skew, revocation by CRLs and a denylist, the
//! app identity and its pins) and says why not with a stable reason code.
//!
//! The core is pure: [`Verifier::verify`] takes the presented [`PeerChain`] and the time, does
//! no I/O and reads no clock.
//!
//! ```
//! use certgate::{Rejection, PeerChain, VerifierBuilder};
//! # fn demo(verifier: &certgate::Verifier) {
//! let now = rustls_pki_types::UnixTime::now();
//! match verifier.verify(&PeerChain::new(Vec::new()), now) {
//!     Ok(identity) => println!("app {:?}", identity.app_id()),
//!     Err(rejection) => {
//!         assert_eq!(rejection, Rejection::NoCertificate);
//!         assert_eq!(rejection.code(), "no_certificate");
//!         assert_eq!(rejection.http_status(), 401);
//!     }
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod clock;
mod connection;
mod events;
pub mod forwarded;
mod gate;
mod layer;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod peer_chain;
pub mod pem;
mod policy;
mod rejection;
pub mod signals;
mod tls;
mod verify;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod axum;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

#[cfg(feature = "issue")]
#[cfg_attr(docsrs, doc(cfg(feature = "issue")))]
pub mod issue;

#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
pub mod watch;

#[cfg(feature = "enroll")]
mod attest;
#[cfg(feature = "enroll")]
#[cfg_attr(docsrs, doc(cfg(feature = "enroll")))]
pub mod enroll;

#[cfg(feature = "audit")]
#[cfg_attr(docsrs, doc(cfg(feature = "audit")))]
pub mod audit;

// The README's Rust blocks, compiled by `cargo test --doc` (they need the `axum`, `server` and
// `enroll` features and the ring provider; without them they are skipped, not failed).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "server",
    feature = "enroll",
    feature = "ring"
))]
#[doc = include_str!("../README.md")]
mod readme {}

pub use crate::cache::{CacheConfig, CacheStats, VerdictCache, VerdictKey};
pub use crate::clock::CoarseClock;
pub use crate::connection::{PeerAddr, TlsConnectInfo};
pub use crate::events::{
    Action, ConnectionEvent, EventSink, SignalData, TracingSink, VerdictEvent,
};
pub use crate::gate::ConnectionMemo;
pub use crate::gate::{Clock, Gate, GateBuilder, Verdict};
pub use crate::layer::{
    CertGateLayer, CertGateService, PROBLEM_JSON, ResponseFuture, problem_response,
};
pub use crate::peer_chain::PeerChain;
pub use crate::policy::{Mode, ModeRules, Policy, PolicyError, VerifierBuilder};
pub use crate::rejection::{CertRole, Rejection, Rejections};
pub use crate::tls::{GateClientVerifier, HandshakeMode};
pub use crate::verify::attestation::{ATTESTATION_OID, AttestationFacts, Platform, SecurityLevel};
pub use crate::verify::identity::{
    AppId, CertificateInfo, IdentitySource, PeerIdentity, Warning, inspect,
};
pub use crate::verify::pins::{AppRule, Pin, parse_fingerprint};
pub use crate::verify::revocation::{ExpiredCrl, RevocationDepth, UnknownRevocation};
pub use crate::verify::time::{format_rfc3339, parse_rfc3339};
pub use crate::verify::{Limits, Usage, Verifier};

/// Not API (for certgate's tests and fuzz targets): reads `der` as a leaf on both of the
/// verifier's paths, certgate's DER reader and x509-parser. `Ok(true)`: the DER reader read it
/// and x509-parser agrees on every fact and app id; `Ok(false)`: the DER reader left it to
/// x509-parser; `Err`: what differs.
#[doc(hidden)]
pub fn __leaf_fast_path_check(der: &[u8]) -> Result<bool, String> {
    crate::verify::leaf::compare_paths(der)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // A table, not `write!("{b:02x}")`: this runs for every event (a forwarded request on a
    // cache hit renders its leaf's fingerprint), where the formatter cost ~10 ns a byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            s.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

/// Formats a SHA-256 as a `sha256/<base64>` pin. Here rather than in `verify::pins`, so that
/// `verify::identity` (which serializes pins) and `verify::pins` (which names apps) do not
/// import each other.
pub(crate) fn spki_pin_string(sha256: &[u8; 32]) -> String {
    use base64::Engine;
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(sha256)
    )
}

pub(crate) fn rfc3339(time: rustls_pki_types::UnixTime) -> String {
    format_rfc3339(time)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(super::hex(&[]), "");
    }
}
