//! The policy side of TLS fingerprints: each app's JA4 allowlist, and the learning tally of
//! the fingerprints seen per app (at most [`MAX_LEARNED`] distinct ones per app; the rest
//! are counted as `other`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::verify::identity::AppId;

/// Distinct fingerprints learned per app; the rest count as `other`.
pub const MAX_LEARNED: usize = 64;
/// The label of fingerprints past [`MAX_LEARNED`].
pub(crate) const OTHER: &str = "other";
/// Longest JA4 accepted (in the policy and from a proxy's header), in bytes.
pub(crate) const MAX_JA4_BYTES: usize = 64;

/// One app's signal settings (`per_install` and `tls_fingerprints` of its `[[apps]]` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppSignals {
    /// Each leaf of this app is one device's: cloning detection applies.
    pub per_install: bool,
    /// The JA4 fingerprints allowed (empty: no check).
    pub allow: Vec<String>,
    /// Count the fingerprints seen for this app (`certgate_tls_fingerprints_total`,
    /// [`Gate::learned_fingerprints`](crate::Gate::learned_fingerprints)).
    pub learn: bool,
}

impl AppSignals {
    /// No signal settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the app's leaves per-install.
    #[must_use]
    pub fn per_install(mut self, yes: bool) -> Self {
        self.per_install = yes;
        self
    }

    /// Allows one more JA4.
    ///
    /// # Errors
    ///
    /// Why `ja4` is not a plausible JA4 (1 to 64 ASCII letters, digits and `_`).
    pub fn allow(mut self, ja4: &str) -> Result<Self, String> {
        if !plausible_ja4(ja4) {
            return Err(format!(
                "{:?} is not a JA4 fingerprint (1 to {MAX_JA4_BYTES} ASCII letters, digits and _)",
                crate::rejection::bounded_to(ja4, 80)
            ));
        }
        self.allow.push(ja4.to_owned());
        Ok(self)
    }

    /// Counts the fingerprints seen for the app.
    #[must_use]
    pub fn learn(mut self, yes: bool) -> Self {
        self.learn = yes;
        self
    }

    /// Whether a client with fingerprint `ja4` (`None`: none captured) passes the allowlist.
    pub(crate) fn allows(&self, ja4: Option<&str>) -> bool {
        self.allow.is_empty() || ja4.is_some_and(|j| self.allow.iter().any(|a| a == j))
    }
}

/// 1 to 64 ASCII letters, digits and `_`.
pub(crate) fn plausible_ja4(ja4: &str) -> bool {
    !ja4.is_empty()
        && ja4.len() <= MAX_JA4_BYTES
        && ja4.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One (app, fingerprint) count.
pub(crate) struct Tally {
    count: AtomicU64,
    #[cfg(feature = "metrics")]
    counter: ::metrics::Counter,
}

impl Tally {
    pub(crate) fn add(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.counter.increment(1);
    }
}

#[derive(Default)]
struct Learned {
    seen: HashMap<Arc<str>, Arc<Tally>>,
}

/// The fingerprints seen per learning app. Lives in the gate: survives reloads. Bounded:
/// (apps with `learn = true`) × ([`MAX_LEARNED`] + 1) tallies.
#[derive(Default)]
pub(crate) struct Learner {
    apps: Mutex<HashMap<AppId, Learned>>,
}

impl Learner {
    /// The tally of (`app`, `ja4`): a connection keeps it, so its requests count with one
    /// atomic add. `ja4` past the app's [`MAX_LEARNED`]th distinct one counts as `other`.
    pub(crate) fn tally(&self, app: &AppId, ja4: &str) -> Arc<Tally> {
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let learned = apps.entry(app.clone()).or_default();
        if let Some(t) = learned.seen.get(ja4) {
            return Arc::clone(t);
        }
        let distinct = learned.seen.keys().filter(|k| &***k != OTHER).count();
        let label: Arc<str> = if distinct < MAX_LEARNED && ja4 != OTHER {
            Arc::from(ja4)
        } else {
            Arc::from(OTHER)
        };
        Arc::clone(learned.seen.entry(Arc::clone(&label)).or_insert_with(|| {
            Arc::new(Tally {
                count: AtomicU64::new(0),
                #[cfg(feature = "metrics")]
                counter: ::metrics::counter!(
                    crate::metrics::TLS_FINGERPRINTS_TOTAL,
                    "app" => app.as_str().to_owned(),
                    "ja4" => label.to_string()
                ),
            })
        }))
    }

    /// `(ja4, count)` of `app`, most seen first.
    pub(crate) fn counts(&self, app: &str) -> Vec<(String, u64)> {
        let apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<(String, u64)> = apps
            .iter()
            .filter(|(id, _)| id.as_str() == app)
            .flat_map(|(_, l)| l.seen.iter())
            .map(|(k, t)| (k.to_string(), t.count.load(Ordering::Relaxed)))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}
