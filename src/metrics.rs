//! Metrics through the [`metrics`] facade (feature `metrics`): the names, and the handles the
//! gate, the layer and the server update. The application installs the recorder (for example
//! `metrics-exporter-prometheus`) before it builds its [`Gate`](crate::Gate): handles are
//! registered on first use, against the recorder installed then.
//!
//! The per-request counter is counted where the gate hands the layer a verdict, memoized or
//! not. Its handles are registered once per (code, action, app) and policy snapshot, and a
//! connection's memo keeps the handle of its verdict: a memoized request adds one to a counter
//! it already holds, with no label formatting and no registry lookup.

use std::collections::HashMap;
use std::sync::OnceLock;

use ::metrics::Counter;
use rustls_pki_types::UnixTime;

use crate::rejection::Rejection;
use crate::verify::Verifier;
use crate::verify::identity::AppId;

/// Requests by verdict: labels `code` (`accept` or a reason code), `action` (`accept`,
/// `observe`, `refuse`) and `app` (the app id for apps the policy lists, else `other`).
pub const REQUESTS_TOTAL: &str = "certgate_requests_total";
/// Connections the server closed before any request, by `code` (a rejection code or a
/// [`ConnectionEvent`](crate::ConnectionEvent) code).
pub const CONNECTIONS_REFUSED_TOTAL: &str = "certgate_connections_refused_total";
/// Forwarded client-certificate headers that were refused, by `code`: a header from a trusted
/// proxy that does not parse (its rejection code), or a header from an untrusted peer that was
/// removed (`forwarded_untrusted`).
pub const FORWARDED_REFUSALS_TOTAL: &str = "certgate_forwarded_refusals_total";
/// Policy reloads by `result` (`ok`, `error`).
pub const RELOADS_TOTAL: &str = "certgate_reloads_total";
/// Time of one cold verification (a cache miss), in seconds.
pub const VERIFY_SECONDS: &str = "certgate_verify_seconds";
/// Time of one reload (loading and swapping the policy), in seconds.
pub const RELOAD_SECONDS: &str = "certgate_reload_seconds";
/// The current policy generation.
pub const POLICY_GENERATION: &str = "certgate_policy_generation";
/// Seconds until the earliest nextUpdate of the policy's CRLs (negative once past; absent
/// without CRLs).
pub const CRL_EXPIRY_SECONDS: &str = "certgate_crl_expiry_seconds";
/// Seconds until the earliest notAfter of the policy's trust anchors and configured
/// intermediates (negative once past).
pub const CERTIFICATE_EXPIRY_SECONDS: &str = "certgate_certificate_expiry_seconds";
/// Verdicts in the cache (approximate: moka counts lazily).
pub const CACHE_ENTRIES: &str = "certgate_cache_entries";
/// Bytes the cache's verdicts are weighed at.
pub const CACHE_BYTES: &str = "certgate_cache_bytes";
/// TLS connections the server holds open (`server::serve`).
pub const OPEN_CONNECTIONS: &str = "certgate_open_connections";
/// Verdict records the audit log dropped because its queue was full (a stalled disk) or a
/// write failed (feature `audit`); the log shows each run of them as a `gap` record.
pub const AUDIT_DROPPED_TOTAL: &str = "certgate_audit_dropped_total";

/// Requests by TLS fingerprint, for apps with `tls_fingerprints.learn = true`: labels `app`
/// and `ja4` (at most 64 distinct values per app, the rest counted as `other`).
pub const TLS_FINGERPRINTS_TOTAL: &str = "certgate_tls_fingerprints_total";
/// Quarantines started, by `kind`: `address` (the failure score reached the threshold) or
/// `certificate` (a per-install certificate flagged `cert_cloning_suspected`).
pub const QUARANTINES_TOTAL: &str = "certgate_quarantines_total";

/// Every metric name, for documentation and tests.
pub const NAMES: &[&str] = &[
    REQUESTS_TOTAL,
    CONNECTIONS_REFUSED_TOTAL,
    FORWARDED_REFUSALS_TOTAL,
    RELOADS_TOTAL,
    VERIFY_SECONDS,
    RELOAD_SECONDS,
    POLICY_GENERATION,
    CRL_EXPIRY_SECONDS,
    CERTIFICATE_EXPIRY_SECONDS,
    CACHE_ENTRIES,
    CACHE_BYTES,
    OPEN_CONNECTIONS,
    TLS_FINGERPRINTS_TOTAL,
    QUARANTINES_TOTAL,
    AUDIT_DROPPED_TOTAL,
];

/// Registers the `# HELP` text (and unit) of every metric with the installed recorder.
/// [`Gate`](crate::Gate) calls it when it is built; exporters such as Prometheus' need it
/// for a valid exposition.
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS_TOTAL, "Requests by verdict code, action and app.");
    describe_counter!(
        AUDIT_DROPPED_TOTAL,
        "Verdict records the audit log dropped (queue full or write failed)."
    );
    describe_counter!(
        CONNECTIONS_REFUSED_TOTAL,
        "Connections closed before any request, by reason code."
    );
    describe_counter!(
        FORWARDED_REFUSALS_TOTAL,
        "Forwarded client-certificate headers refused or removed, by code."
    );
    describe_counter!(RELOADS_TOTAL, "Policy reloads by result.");
    describe_histogram!(VERIFY_SECONDS, Unit::Seconds, "Cold verification time.");
    describe_histogram!(RELOAD_SECONDS, Unit::Seconds, "Policy reload time.");
    describe_gauge!(POLICY_GENERATION, "The current policy generation.");
    describe_gauge!(
        CRL_EXPIRY_SECONDS,
        Unit::Seconds,
        "Seconds until the earliest CRL nextUpdate."
    );
    describe_gauge!(
        CERTIFICATE_EXPIRY_SECONDS,
        Unit::Seconds,
        "Seconds until the earliest anchor or intermediate notAfter."
    );
    describe_gauge!(CACHE_ENTRIES, "Verdicts in the cache.");
    describe_gauge!(CACHE_BYTES, Unit::Bytes, "Bytes the cached verdicts weigh.");
    describe_gauge!(OPEN_CONNECTIONS, "TLS connections the server holds open.");
    describe_counter!(
        TLS_FINGERPRINTS_TOTAL,
        "Requests by app and TLS fingerprint (JA4), for learning apps."
    );
    describe_counter!(QUARANTINES_TOTAL, "Quarantines started, by kind.");
}

/// The `app` label of apps the policy does not list (and of peers without an app id).
const OTHER_APP: &str = "other";
/// `action` labels, by [`action_index`].
const ACTIONS: [&str; 3] = ["accept", "observe", "refuse"];

/// The per-request counters of one policy snapshot: one lazily registered handle per
/// (code, action, app). Bounded: (codes + 1) × 3 × (listed apps + 1).
pub(crate) struct RequestCounters {
    /// Listed apps and their label index (0 is `other`).
    apps: HashMap<AppId, usize>,
    labels: Vec<String>,
    table: Box<[OnceLock<Counter>]>,
}

impl RequestCounters {
    pub(crate) fn new(verifier: &Verifier) -> Self {
        let mut labels = vec![OTHER_APP.to_owned()];
        let mut ids: Vec<&AppId> = verifier.apps.keys().collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut apps = HashMap::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            apps.insert(id.clone(), i.saturating_add(1));
            labels.push(id.as_str().to_owned());
        }
        let size = Rejection::CODES
            .len()
            .saturating_add(1)
            .saturating_mul(ACTIONS.len())
            .saturating_mul(labels.len());
        Self {
            apps,
            labels,
            table: (0..size).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The handle for a verdict with `code`, `action` (see [`action_index`]) and `app`.
    pub(crate) fn counter(
        &self,
        code: &'static str,
        action: usize,
        app: Option<&AppId>,
    ) -> Counter {
        // 0 is `accept`; an unknown code (none today) counts as `accept`'s row would be
        // wrong, so it gets its own registration below.
        let code_index = if code == "accept" {
            Some(0)
        } else {
            Rejection::CODES
                .iter()
                .position(|c| *c == code)
                .map(|i| i.saturating_add(1))
        };
        let app_index = app.and_then(|id| self.apps.get(id)).copied().unwrap_or(0);
        let action_label = ACTIONS.get(action).copied().unwrap_or("refuse");
        let app_label = self.labels.get(app_index).map_or(OTHER_APP, String::as_str);
        let register = || {
            ::metrics::counter!(
                REQUESTS_TOTAL,
                "code" => code,
                "action" => action_label,
                "app" => app_label.to_owned()
            )
        };
        let slot = code_index.and_then(|c| {
            let row = c
                .saturating_mul(ACTIONS.len())
                .saturating_add(action)
                .saturating_mul(self.labels.len());
            self.table.get(row.saturating_add(app_index))
        });
        match slot {
            Some(slot) => slot.get_or_init(register).clone(),
            None => register(),
        }
    }
}

/// The index of an action label: 0 accept, 1 observe, 2 refuse.
pub(crate) fn action_index(action: crate::events::Action) -> usize {
    match action {
        crate::events::Action::Accept => 0,
        crate::events::Action::Observe => 1,
        crate::events::Action::Refuse => 2,
    }
}

/// Facts of one policy snapshot the time-dependent gauges are computed from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expiries {
    crl: Option<u64>,
    certificate: Option<u64>,
}

impl Expiries {
    pub(crate) fn of(verifier: &Verifier) -> Self {
        let crl = verifier
            .revocation
            .crls
            .iter()
            .map(|c| c.next_update.as_secs())
            .min();
        let certificate = verifier
            .anchor_facts
            .iter()
            .chain(verifier.intermediate_facts.iter().map(|f| &**f))
            .map(|f| f.not_after.as_secs())
            .min();
        Self { crl, certificate }
    }

    /// Sets the expiry gauges for `now`.
    pub(crate) fn publish(&self, now: UnixTime) {
        if let Some(at) = self.crl {
            ::metrics::gauge!(CRL_EXPIRY_SECONDS).set(seconds_until(at, now));
        }
        if let Some(at) = self.certificate {
            ::metrics::gauge!(CERTIFICATE_EXPIRY_SECONDS).set(seconds_until(at, now));
        }
    }
}

/// `at - now` in seconds, as a gauge value (negative once past).
fn seconds_until(at: u64, now: UnixTime) -> f64 {
    let now = now.as_secs();
    if at >= now {
        u64_to_f64(at.saturating_sub(now))
    } else {
        -u64_to_f64(now.saturating_sub(at))
    }
}

/// A count as a gauge value (exact up to 2^53, far beyond any count here).
pub(crate) fn u64_to_f64(n: u64) -> f64 {
    // No `as` (the crate denies it): via u32 halves, exact.
    let high = u32::try_from(n >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(n & 0xffff_ffff).unwrap_or(u32::MAX);
    f64::from(high) * 4_294_967_296.0 + f64::from(low)
}

/// A quarantine started (`kind`: `address` or `certificate`).
pub(crate) fn quarantine_started(kind: &'static str) {
    ::metrics::counter!(QUARANTINES_TOTAL, "kind" => kind).increment(1);
}

/// Counts a connection the server closed before any request.
#[cfg(feature = "server")]
pub(crate) fn connection_refused(code: &'static str) {
    ::metrics::counter!(CONNECTIONS_REFUSED_TOTAL, "code" => code).increment(1);
}

/// Counts a refused forwarded header.
pub(crate) fn forwarded_refused(code: &'static str) {
    ::metrics::counter!(FORWARDED_REFUSALS_TOTAL, "code" => code).increment(1);
}

/// Counts a reload and records its time.
pub(crate) fn reload(ok: bool, started: std::time::Instant) {
    let result = if ok { "ok" } else { "error" };
    ::metrics::counter!(RELOADS_TOTAL, "result" => result).increment(1);
    ::metrics::histogram!(RELOAD_SECONDS).record(started.elapsed().as_secs_f64());
}

/// Records one cold verification's time.
pub(crate) fn verified(started: std::time::Instant) {
    ::metrics::histogram!(VERIFY_SECONDS).record(started.elapsed().as_secs_f64());
}

/// One open server connection: the gauge goes up now and down when this drops.
#[cfg(feature = "server")]
#[derive(Debug)]
pub(crate) struct OpenConnection(());

#[cfg(feature = "server")]
impl OpenConnection {
    pub(crate) fn new() -> Self {
        ::metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
        Self(())
    }
}

#[cfg(feature = "server")]
impl Drop for OpenConnection {
    fn drop(&mut self) {
        ::metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_until_is_signed() {
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1000));
        assert_eq!(seconds_until(1500, now), 500.0);
        assert_eq!(seconds_until(400, now), -600.0);
        assert_eq!(u64_to_f64(1 << 40), 1_099_511_627_776.0);
    }
}
