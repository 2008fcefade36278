//! Bot signals beyond the certificate: the TLS ClientHello fingerprint (JA4, JA3), cloned
//! per-install certificates, failure scores with timed quarantine.
//!
//! Each signal gives its own reason code, under the gate's observe/enforce modes like any
//! other, but **observed by default** ([`Rejection::OBSERVED_BY_DEFAULT`](crate::Rejection)):
//! switching a signal on refuses no one until the operator enforces its code.
//!
//! - `tls_fingerprint_mismatch` (403): a genuine certificate through a TLS stack whose JA4 is
//!   not on its app's allowlist ([`AppSignals`]);
//! - `cert_cloning_suspected` (403): a per-install certificate used from too many addresses or
//!   connections ([`CloningConfig`]);
//! - `quarantined` (429 with `Retry-After`): a client address whose failure score reached the
//!   threshold, refused before any certificate work ([`QuarantineConfig`]);
//! - `rate_limited` (429 with `Retry-After`): a certificate or an app over its request-rate
//!   ceiling in the current window ([`RateConfig`]).
//!
//! The settings are part of the policy ([`SignalsConfig`], `[signals]` in a file) and follow
//! reloads; the state lives in the gate's [`SignalStore`] and survives them.

use std::collections::HashMap;
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

pub(crate) mod cloning;
pub(crate) mod fingerprint;
pub(crate) mod quarantine;
pub(crate) mod rate;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod section;
pub mod store;

pub use self::cloning::CloningConfig;
pub use self::fingerprint::{AppSignals, MAX_LEARNED};
pub use self::quarantine::QuarantineConfig;
pub use self::rate::{RateConfig, RateKey, RateOver};
#[cfg(feature = "redis")]
pub use self::redis::{
    DENY_CHANNEL, MAX_DENY_SECONDS, MAX_DENYLIST, QUEUE_CAPACITY, RedisStore, SIGNALS_CHANNEL,
    deny, undeny,
};
pub use self::store::{EmbeddedStore, LeafUse, OnError, Score, SignalStore, StoreStats};

use crate::verify::identity::AppId;

/// The signal settings of a policy: `[signals]` and the apps' `per_install` and
/// `tls_fingerprints` (see the README's "Bot signals").
///
/// ```
/// use certgate::signals::{AppSignals, CloningConfig, QuarantineConfig, SignalsConfig};
/// let config = SignalsConfig::new()
///     .quarantine(QuarantineConfig::new(100, 60, 600).unwrap())
///     .cloning(CloningConfig::new(3, 300, 4, 3600).unwrap())
///     .app("com.example.shop", AppSignals::new().per_install(true).learn(true))
///     .unwrap();
/// assert!(config.cloning_rule().is_some());
/// ```
#[derive(Clone, Debug, Default)]
pub struct SignalsConfig {
    pub(crate) quarantine: Option<QuarantineConfig>,
    pub(crate) cloning: Option<CloningConfig>,
    pub(crate) rate: Option<RateConfig>,
    pub(crate) fingerprint_header: Option<http::HeaderName>,
    pub(crate) apps: HashMap<AppId, AppSignals>,
    /// `[signals.store] kind = "redis"`: its URL and `on_error`.
    pub(crate) redis: Option<(String, OnError)>,
}

impl SignalsConfig {
    /// No signal on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the failure score and quarantine on.
    #[must_use]
    pub fn quarantine(mut self, rule: QuarantineConfig) -> Self {
        self.quarantine = Some(rule);
        self
    }

    /// Turns cloning detection on (for apps marked per-install and leaves with an install id).
    #[must_use]
    pub fn cloning(mut self, rule: CloningConfig) -> Self {
        self.cloning = Some(rule);
        self
    }

    /// Turns the request-rate ceilings on (per certificate and per app, on accepted chains).
    #[must_use]
    pub fn rate(mut self, rule: RateConfig) -> Self {
        self.rate = Some(rule);
        self
    }

    /// Reads the JA4 from this header on requests from a trusted proxy
    /// (`forwarded.trusted_proxies`); the header is removed from every request.
    ///
    /// # Errors
    ///
    /// `name` is not a valid header name.
    pub fn fingerprint_header(mut self, name: &str) -> Result<Self, String> {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            format!(
                "{:?} is not a header name",
                crate::rejection::bounded_to(name, 64)
            )
        })?;
        self.fingerprint_header = Some(name);
        Ok(self)
    }

    /// One app's settings.
    ///
    /// # Errors
    ///
    /// `app` is not a valid app id.
    pub fn app(mut self, app: &str, settings: AppSignals) -> Result<Self, String> {
        let id = AppId::new(app)?;
        self.apps.insert(id, settings);
        Ok(self)
    }

    /// The quarantine rule, if on.
    pub fn quarantine_rule(&self) -> Option<&QuarantineConfig> {
        self.quarantine.as_ref()
    }

    /// The cloning rule, if on.
    pub fn cloning_rule(&self) -> Option<&CloningConfig> {
        self.cloning.as_ref()
    }

    /// The request-rate ceilings, if on.
    pub fn rate_rule(&self) -> Option<&RateConfig> {
        self.rate.as_ref()
    }

    /// The Redis store the policy names (`[signals.store] kind = "redis"`): its URL and
    /// `on_error`. [`GateBuilder::build`](crate::GateBuilder::build) connects it unless the
    /// builder was given a store.
    pub fn redis_store(&self) -> Option<(&str, OnError)> {
        self.redis
            .as_ref()
            .map(|(url, on_error)| (url.as_str(), *on_error))
    }

    /// The header a trusted proxy gives the JA4 in, if any.
    pub fn fingerprint_header_name(&self) -> Option<&http::HeaderName> {
        self.fingerprint_header.as_ref()
    }

    /// An app's settings, if it has any.
    pub fn app_settings(&self, app: &str) -> Option<&AppSignals> {
        self.apps
            .iter()
            .find(|(id, _)| id.as_str() == app)
            .map(|(_, s)| s)
    }
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
