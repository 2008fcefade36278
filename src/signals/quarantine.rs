//! Failure-driven, timed quarantine: every rejected verdict adds its code's weight to the
//! client address's score, which decays linearly (a score at the threshold falls to zero in
//! `window_seconds`); at the threshold the address is quarantined for `duration_seconds`,
//! refused `quarantined` (429) before any certificate work.

use std::collections::HashMap;

use crate::rejection::Rejection;

/// `[signals.quarantine]`.
///
/// ```
/// use certgate::signals::QuarantineConfig;
/// let q = QuarantineConfig::new(100, 60, 600).unwrap().weight("expired", 2).unwrap();
/// assert_eq!(q.weight_of("bad_signature"), 20);
/// assert_eq!(q.weight_of("expired"), 2);
/// assert_eq!(q.weight_of("quarantined"), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuarantineConfig {
    /// The score at which an address is quarantined.
    pub threshold: u32,
    /// Decay: a score at the threshold falls to zero in this many seconds.
    pub window_seconds: u64,
    /// How long a quarantine lasts.
    pub duration_seconds: u64,
    weights: HashMap<&'static str, u32>,
}

/// Longest window or quarantine, in seconds (one week).
pub(crate) const MAX_SECONDS: u64 = 7 * 24 * 3600;

impl QuarantineConfig {
    /// A quarantine at `threshold` points, decaying over `window_seconds`, lasting
    /// `duration_seconds`, with the default weights (see [`QuarantineConfig::weight_of`]).
    ///
    /// # Errors
    ///
    /// The field (`threshold`, `window_seconds`, `duration_seconds`) and why, when one is
    /// zero or a duration is over a week.
    pub fn new(
        threshold: u32,
        window_seconds: u64,
        duration_seconds: u64,
    ) -> Result<Self, (&'static str, String)> {
        if threshold == 0 {
            return Err(("threshold", "must be at least 1".into()));
        }
        for (field, value) in [
            ("window_seconds", window_seconds),
            ("duration_seconds", duration_seconds),
        ] {
            if value == 0 || value > MAX_SECONDS {
                return Err((field, format!("must be 1 to {MAX_SECONDS} seconds")));
            }
        }
        Ok(Self {
            threshold,
            window_seconds,
            duration_seconds,
            weights: HashMap::new(),
        })
    }

    /// Sets the weight of one reason code (0 turns it off).
    ///
    /// # Errors
    ///
    /// An unknown code, a weight over 1 000 000, or a non-zero weight for `quarantined`
    /// (a quarantined request must not extend its own quarantine).
    pub fn weight(mut self, code: &str, weight: u32) -> Result<Self, String> {
        let known = crate::rejection::known_code(code)?;
        if known == "quarantined" && weight != 0 {
            return Err("quarantined refusals add no score (weight must be 0)".into());
        }
        if weight > 1_000_000 {
            return Err("weights are at most 1000000".into());
        }
        self.weights.insert(known, weight);
        Ok(self)
    }

    /// The weight a rejection with `code` adds: the configured one, else 20 for the codes a
    /// forged certificate gets ([`Rejection::UNAUTHENTICATED_CODES`]), `revoked` and
    /// `denylisted`; 0 for the signal codes ([`Rejection::OBSERVED_BY_DEFAULT`]); 1 for the
    /// rest.
    pub fn weight_of(&self, code: &str) -> u32 {
        if let Some(w) = self.weights.get(code) {
            return *w;
        }
        if Rejection::OBSERVED_BY_DEFAULT.contains(&code) {
            0
        } else if Rejection::UNAUTHENTICATED_CODES.contains(&code)
            || code == "revoked"
            || code == "denylisted"
        {
            20
        } else {
            1
        }
    }
}
