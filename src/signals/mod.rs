//! Bot signals beyond the certificate: the TLS ClientHello fingerprint (JA4, JA3), cloned
//! per-install certificates, failure scores with timed quarantine.

use std::fmt;

pub mod ja4;

/// The TLS client's fingerprint, from its ClientHello (the `server` module reads it before
/// handing the stream to rustls) or from a trusted proxy's header.
///
/// JA4 and JA3 only: the other JA4+ methods are under a non-commercial licence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub struct TlsFingerprint {
    /// JA4 (FoxIO), for example `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub ja4: String,
    /// JA3's MD5 in hex; `None` when the fingerprint came from a proxy's JA4 header.
    pub ja3: Option<String>,
}

impl TlsFingerprint {
    /// A fingerprint known only by its JA4 (a trusted proxy's header).
    pub fn from_ja4(ja4: impl Into<String>) -> Self {
        Self {
            ja4: ja4.into(),
            ja3: None,
        }
    }

    /// JA4 and JA3 (MD5) of a parsed ClientHello ([`ja4::parse_records`],
    /// [`ja4::ClientHello::parse`]).
    pub fn from_client_hello(hello: &ja4::ClientHello) -> Self {
        Self {
            ja4: ja4::ja4(hello),
            ja3: Some(ja4::ja3(hello).1),
        }
    }
}

impl fmt::Display for TlsFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ja4)
    }
}
