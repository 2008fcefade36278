//! Request-rate ceilings per certificate and per app: fixed windows of `window_seconds`,
//! counted in the gate's signal store (the same tables, eviction and clock as the other
//! signals). Over a ceiling, a request gets `rate_limited` (429 with `Retry-After`: the
//! seconds left in the window), observed by default like every signal.

/// Longest window, in seconds (one hour).
pub(crate) const MAX_WINDOW_SECONDS: u64 = 3600;
/// Highest ceiling.
pub(crate) const MAX_LIMIT: u32 = 1_000_000_000;

/// `[signals.rate]`: at most `per_certificate` requests per leaf and `per_app` requests per
/// app id (all its certificates together) in each window of `window_seconds`.
///
/// Counted per replica, also with the Redis store: behind a balancer spreading traffic over N
/// replicas, a fleet-wide ceiling of L is `L / N` per replica.
///
/// ```
/// use certgate::signals::RateConfig;
/// let rate = RateConfig::new(1).unwrap().per_certificate(20).unwrap().per_app(5000).unwrap();
/// assert_eq!((rate.per_certificate, rate.per_app), (Some(20), Some(5000)));
/// assert!(RateConfig::new(0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateConfig {
    /// Requests allowed per certificate (leaf) in a window.
    pub per_certificate: Option<u32>,
    /// Requests allowed per app id in a window.
    pub per_app: Option<u32>,
    /// The window, in seconds (windows start at multiples of it since the Unix epoch).
    pub window_seconds: u64,
}

impl RateConfig {
    /// Windows of `window_seconds`, no ceiling yet.
    ///
    /// # Errors
    ///
    /// The field and why, when the window is 0 or over an hour.
    pub fn new(window_seconds: u64) -> Result<Self, (&'static str, String)> {
        if window_seconds == 0 || window_seconds > MAX_WINDOW_SECONDS {
            return Err((
                "window_seconds",
                format!("must be 1 to {MAX_WINDOW_SECONDS} seconds"),
            ));
        }
        Ok(Self {
            per_certificate: None,
            per_app: None,
            window_seconds,
        })
    }

    /// At most `limit` requests per certificate in a window.
    ///
    /// # Errors
    ///
    /// The field and why, when `limit` is 0 or over 10⁹.
    pub fn per_certificate(mut self, limit: u32) -> Result<Self, (&'static str, String)> {
        self.per_certificate = Some(check("per_certificate", limit)?);
        Ok(self)
    }

    /// At most `limit` requests per app id in a window.
    ///
    /// # Errors
    ///
    /// The field and why, when `limit` is 0 or over 10⁹.
    pub fn per_app(mut self, limit: u32) -> Result<Self, (&'static str, String)> {
        self.per_app = Some(check("per_app", limit)?);
        Ok(self)
    }
}

fn check(field: &'static str, limit: u32) -> Result<u32, (&'static str, String)> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err((field, format!("must be 1 to {MAX_LIMIT}")));
    }
    Ok(limit)
}

/// What a rate ceiling counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateKey<'a> {
    /// One certificate, by the SHA-256 of its leaf.
    Certificate(&'a [u8; 32]),
    /// One app, by its id.
    App(&'a str),
}

impl RateKey<'_> {
    /// `certificate` or `app`: the `scope` of a `rate_limited` rejection.
    pub fn scope(&self) -> &'static str {
        match self {
            Self::Certificate(_) => "certificate",
            Self::App(_) => "app",
        }
    }
}

/// A request over a rate ceiling ([`SignalStore::count_request`](super::SignalStore)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateOver {
    /// Seconds left in the window (at least 1): the `Retry-After` value.
    pub retry_after_seconds: u64,
    /// Whether this is the window's first request over the ceiling (reported when observed).
    pub first: bool,
}

impl RateOver {
    /// Over, with `retry_after_seconds` left; `first` of its window or not.
    pub fn new(retry_after_seconds: u64, first: bool) -> Self {
        Self {
            retry_after_seconds,
            first,
        }
    }
}
