//! The policy file's `[signals]` section and the apps' `per_install` / `tls_fingerprints`
//! (serde wire types, `deny_unknown_fields`) → [`SignalsConfig`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{AppSignals, CloningConfig, QuarantineConfig, RateConfig, SignalsConfig};

/// A field of `[signals]` (or an app's signal fields) that does not validate; the policy
/// loader turns it into a `PolicyError` naming the file.
#[derive(Debug)]
pub(crate) struct SectionError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl SectionError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `[signals]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalsSection {
    #[serde(default)]
    fingerprint_header: Option<String>,
    #[serde(default)]
    quarantine: Option<QuarantineSection>,
    #[serde(default)]
    cloning: Option<CloningSection>,
    #[serde(default)]
    rate: Option<RateSection>,
    #[serde(default)]
    store: Option<StoreSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSection {
    #[serde(default = "d_rate_window")]
    window_seconds: u64,
    #[serde(default)]
    per_certificate: Option<u32>,
    #[serde(default)]
    per_app: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineSection {
    #[serde(default = "d_threshold")]
    threshold: u32,
    #[serde(default = "d_window")]
    window_seconds: u64,
    #[serde(default = "d_duration")]
    duration_seconds: u64,
    #[serde(default)]
    weights: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloningSection {
    #[serde(default = "d_max_addresses")]
    max_addresses: u32,
    #[serde(default = "d_cloning_window")]
    window_seconds: u64,
    #[serde(default = "d_max_connections")]
    max_connections: u32,
    #[serde(default)]
    count_networks: bool,
    #[serde(default = "d_cloning_quarantine")]
    quarantine_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    kind: StoreKind,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    on_error: Option<super::OnError>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum StoreKind {
    Embedded,
    Redis,
}

/// An app's `tls_fingerprints = { allow = [...], learn = true }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppFingerprints {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    learn: bool,
}

fn d_threshold() -> u32 {
    100
}
fn d_window() -> u64 {
    60
}
fn d_duration() -> u64 {
    600
}
fn d_max_addresses() -> u32 {
    3
}
fn d_cloning_window() -> u64 {
    300
}
fn d_max_connections() -> u32 {
    4
}
fn d_cloning_quarantine() -> u64 {
    3600
}
fn d_rate_window() -> u64 {
    1
}

/// One `[[apps]]` entry's signal fields: (field prefix `apps[i]`, app id, `per_install`,
/// `tls_fingerprints`).
pub(crate) type AppFields<'a> = (String, &'a str, bool, Option<&'a AppFingerprints>);

/// Validates `[signals]` and the apps' signal fields; `None` when the policy uses no signal.
pub(crate) fn validate(
    section: Option<SignalsSection>,
    apps: Vec<AppFields<'_>>,
    has_forwarded: bool,
) -> Result<Option<SignalsConfig>, SectionError> {
    let any_app = apps.iter().any(|(_, _, p, f)| *p || f.is_some());
    if section.is_none() && !any_app {
        return Ok(None);
    }
    let section = section.unwrap_or_default();
    let mut config = SignalsConfig::new();
    if let Some(store) = &section.store {
        match store.kind {
            #[cfg(not(feature = "redis"))]
            StoreKind::Redis => {
                return Err(SectionError::new(
                    "signals.store.kind",
                    "the redis store needs certgate built with feature `redis`; use kind = \"embedded\"",
                ));
            }
            #[cfg(feature = "redis")]
            StoreKind::Redis => {
                let url = store
                    .url
                    .clone()
                    .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
                crate::signals::redis::check_url(&url)
                    .map_err(|e| SectionError::new("signals.store.url", e))?;
                config.redis = Some((url, store.on_error.unwrap_or_default()));
            }
            StoreKind::Embedded if store.url.is_some() => {
                return Err(SectionError::new(
                    "signals.store.url",
                    "only for kind = \"redis\"",
                ));
            }
            StoreKind::Embedded if store.on_error.is_some() => {
                return Err(SectionError::new(
                    "signals.store.on_error",
                    "only for kind = \"redis\"",
                ));
            }
            StoreKind::Embedded => {}
        }
    }
    if let Some(name) = &section.fingerprint_header {
        if !has_forwarded {
            return Err(SectionError::new(
                "signals.fingerprint_header",
                "needs a [forwarded] section (the header is believed only from its trusted proxies)",
            ));
        }
        config = config
            .fingerprint_header(name)
            .map_err(|e| SectionError::new("signals.fingerprint_header", e))?;
    }
    if let Some(q) = section.quarantine {
        let mut rule = QuarantineConfig::new(q.threshold, q.window_seconds, q.duration_seconds)
            .map_err(|(field, e)| SectionError::new(format!("signals.quarantine.{field}"), e))?;
        for (code, weight) in &q.weights {
            rule = rule.weight(code, *weight).map_err(|e| {
                SectionError::new(
                    format!(
                        "signals.quarantine.weights.{}",
                        crate::rejection::bounded_to(code, 64)
                    ),
                    e,
                )
            })?;
        }
        config = config.quarantine(rule);
    }
    if let Some(c) = section.cloning {
        let rule = CloningConfig::new(
            c.max_addresses,
            c.window_seconds,
            c.max_connections,
            c.quarantine_seconds,
        )
        .map_err(|(field, e)| SectionError::new(format!("signals.cloning.{field}"), e))?
        .count_networks(c.count_networks);
        config = config.cloning(rule);
    }
    if let Some(r) = section.rate {
        let field = |(f, e): (&str, String)| SectionError::new(format!("signals.rate.{f}"), e);
        let mut rule = RateConfig::new(r.window_seconds).map_err(field)?;
        if r.per_certificate.is_none() && r.per_app.is_none() {
            return Err(SectionError::new(
                "signals.rate",
                "sets no ceiling: give per_certificate, per_app or both",
            ));
        }
        if let Some(limit) = r.per_certificate {
            rule = rule.per_certificate(limit).map_err(field)?;
        }
        if let Some(limit) = r.per_app {
            rule = rule.per_app(limit).map_err(field)?;
        }
        config = config.rate(rule);
    }
    for (field, id, per_install, fingerprints) in apps {
        if !per_install && fingerprints.is_none() {
            continue;
        }
        if per_install && config.cloning.is_none() {
            return Err(SectionError::new(
                format!("{field}.per_install"),
                "needs a [signals.cloning] section",
            ));
        }
        let mut app = AppSignals::new().per_install(per_install);
        if let Some(f) = fingerprints {
            for (j, ja4) in f.allow.iter().enumerate() {
                app = app.allow(ja4).map_err(|e| {
                    SectionError::new(format!("{field}.tls_fingerprints.allow[{j}]"), e)
                })?;
            }
            app = app.learn(f.learn);
        }
        config = config
            .app(id, app)
            .map_err(|e| SectionError::new(format!("{field}.id"), e))?;
    }
    Ok(Some(config))
}
