//! [`CoarseClock`]: the system clock's Unix seconds, kept in an atomic that a background
//! thread ticks once a second, for a gate whose per-request clock read should cost one atomic
//! load instead of a `clock_gettime` call.
//!
//! Opt-in: a gate reads the exact system clock unless it is built with
//! [`GateBuilder::coarse_clock`](crate::GateBuilder::coarse_clock).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use rustls_pki_types::UnixTime;

/// How long after a second starts the ticker wakes to publish it: a margin so that a
/// wake-up a little early still lands in the new second.
const WAKE_MARGIN: Duration = Duration::from_millis(2);

/// The system clock to the second, read with one atomic load.
///
/// [`CoarseClock::start`] spawns a thread (a plain `std` thread, whatever the async runtime)
/// that wakes just after each second boundary and stores the system clock's Unix seconds; the
/// thread exits within a second of the last clone being dropped. [`CoarseClock::now`] returns
/// that value.
///
/// **Precision.** Certificate validity, CRL `nextUpdate` and cache expiry are all whole
/// seconds ([`UnixTime`] is seconds), so the exact clock (the default) rounds down to the
/// second too. The coarse clock is never ahead of the system clock and lags it by at most the
/// ticker's wake-up delay after each boundary: a few milliseconds on an idle machine, longer
/// when the thread waits to be scheduled on an overloaded one. A certificate whose `notAfter`
/// falls at second `T` is therefore refused from `T` plus that delay, not from `T`. Use it
/// when that is acceptable (a server handling many requests per second on keep-alive
/// connections, where the clock read is a measurable share of the layer's cost); keep the
/// default for anything that must decide at the exact instant.
///
/// ```
/// use certgate::{CoarseClock, Gate, Policy};
///
/// # fn build(policy: Policy) -> Result<Gate, Box<dyn std::error::Error>> {
/// // Started once by the server, shared by every gate that wants it.
/// let clock = CoarseClock::start()?;
/// let gate = Gate::builder(policy).coarse_clock(clock.clone()).build()?;
/// assert!(gate.now().as_secs() <= rustls_pki_types::UnixTime::now().as_secs());
/// # Ok(gate)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CoarseClock {
    secs: Arc<AtomicU64>,
}

impl CoarseClock {
    /// Reads the system clock once and starts the ticker thread (`certgate-clock`).
    ///
    /// # Errors
    ///
    /// The operating system's error when the thread cannot be spawned.
    pub fn start() -> io::Result<Self> {
        let secs = Arc::new(AtomicU64::new(system_secs()));
        let ticked = Arc::downgrade(&secs);
        std::thread::Builder::new()
            .name("certgate-clock".to_owned())
            .spawn(move || tick(&ticked))?;
        Ok(Self { secs })
    }

    /// The last second the ticker published.
    pub fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(self.secs.load(Ordering::Relaxed)))
    }
}

/// The ticker: sleeps to just past the next second boundary and publishes it, until every
/// [`CoarseClock`] clone is gone.
fn tick(secs: &Weak<AtomicU64>) {
    loop {
        std::thread::sleep(until_next_second(since_epoch()));
        let Some(secs) = secs.upgrade() else {
            return;
        };
        secs.store(system_secs(), Ordering::Relaxed);
    }
}

/// The sleep from `now` (since the epoch) to [`WAKE_MARGIN`] past the next second boundary.
fn until_next_second(now: Duration) -> Duration {
    Duration::from_secs(1)
        .saturating_sub(Duration::from_nanos(u64::from(now.subsec_nanos())))
        .saturating_add(WAKE_MARGIN)
}

/// The system clock since the Unix epoch (zero for a clock set before 1970).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

fn system_secs() -> u64 {
    since_epoch().as_secs()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_ticker_follows_the_system_clock_second_by_second() {
        let clock = CoarseClock::start().unwrap();
        let first = clock.now().as_secs();
        let system = UnixTime::now().as_secs();
        // Never ahead, and at most one tick behind (the read raced a boundary).
        assert!(
            first <= system && system - first <= 1,
            "{first} vs {system}"
        );
        // Two boundaries later the published second has moved on (polled: a loaded machine
        // may wake the ticker late), and it is never ahead of the system clock.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = vec![first];
        while seen.last().is_some_and(|&last| last < first + 2) {
            assert!(
                Instant::now() < deadline,
                "the clock did not tick twice in 10 s: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
            let now = clock.now().as_secs();
            assert!(
                now <= UnixTime::now().as_secs(),
                "ahead of the system clock"
            );
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        // Forward only, one tick per second (two seconds may pass between two polls when
        // the machine is overloaded).
        assert!(
            seen.iter().zip(seen.iter().skip(1)).all(|(a, b)| a < b),
            "{seen:?}"
        );
    }

    #[test]
    fn the_ticker_sleeps_to_just_past_the_next_boundary() {
        let at = |secs, nanos| Duration::new(secs, nanos);
        assert_eq!(
            until_next_second(at(10, 0)),
            Duration::from_secs(1) + WAKE_MARGIN
        );
        assert_eq!(
            until_next_second(at(10, 999_000_000)),
            Duration::from_millis(1) + WAKE_MARGIN
        );
        assert_eq!(
            until_next_second(at(10, 250_000_000)),
            Duration::from_millis(750) + WAKE_MARGIN
        );
    }

    #[test]
    fn the_ticker_stops_with_its_last_clock() {
        let clock = CoarseClock::start().unwrap();
        let watch = Arc::downgrade(&clock.secs);
        let copy = clock.clone();
        drop(clock);
        assert!(watch.upgrade().is_some(), "a clone keeps the value alive");
        drop(copy);
        // The thread only holds a weak reference (upgraded for the instant of a tick): the
        // value goes with the last clone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while watch.upgrade().is_some() {
            assert!(Instant::now() < deadline, "the ticker kept the clock");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
