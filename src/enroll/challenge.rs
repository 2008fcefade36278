//! Single-use enrollment challenges and the per-address rate limit: bounded in memory, time
//! as a parameter (the router passes its clock's reading).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The length of a challenge, in bytes.
pub const CHALLENGE_BYTES: usize = 32;

/// Outstanding challenges: each is handed out once, taken once, and dies at its expiry.
///
/// At most `capacity` are outstanding; when full, expired ones are swept, and if none expired
/// the request for a new one is refused (the rate limit keeps one address from filling it).
#[derive(Debug)]
pub struct ChallengeStore {
    capacity: usize,
    outstanding: Mutex<HashMap<[u8; CHALLENGE_BYTES], u64>>,
}

/// Why a challenge could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// Never issued, or already used.
    Unknown,
    /// Issued, but past its expiry (now consumed).
    Expired,
}

impl ChallengeStore {
    /// A store with at most `capacity` challenges outstanding.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            outstanding: Mutex::new(HashMap::new()),
        }
    }

    /// Records `challenge` (fresh random bytes from the caller) as issued at `now`, living
    /// `ttl` seconds (both Unix seconds); returns its expiry, or `None` when the store is full
    /// of live challenges.
    pub fn issue(&self, challenge: [u8; CHALLENGE_BYTES], now: u64, ttl: u64) -> Option<u64> {
        let expires_at = now.saturating_add(ttl);
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.retain(|_, expiry| *expiry > now);
            if map.len() >= self.capacity {
                return None;
            }
        }
        map.insert(challenge, expires_at);
        Some(expires_at)
    }

    /// Takes `challenge` for use at `now`: it is removed whatever the outcome, so a challenge
    /// is never accepted twice.
    pub fn take(&self, challenge: &[u8], now: u64) -> Result<(), ChallengeError> {
        let key: [u8; CHALLENGE_BYTES] =
            challenge.try_into().map_err(|_| ChallengeError::Unknown)?;
        match self.lock().remove(&key) {
            None => Err(ChallengeError::Unknown),
            Some(expiry) if expiry <= now => Err(ChallengeError::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Challenges outstanding (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; CHALLENGE_BYTES], u64>> {
        // A poisoned lock only means a panic elsewhere held it; the map itself is consistent.
        self.outstanding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A fixed-window rate limit per client address (IPv4 address, IPv6 /64), bounded in memory:
/// at most `max_tracked` addresses; when full, finished windows are swept, and if all are live
/// the least recent window is dropped.
#[derive(Debug)]
pub struct RateLimit {
    per_window: u32,
    window: Duration,
    max_tracked: usize,
    seen: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl RateLimit {
    /// `per_window` requests per `window` per address.
    pub fn new(per_window: u32, window: Duration, max_tracked: usize) -> Self {
        Self {
            per_window: per_window.max(1),
            window: Duration::from_secs(window.as_secs().max(1)),
            max_tracked: max_tracked.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `addr` at `now` (Unix seconds): `Ok` when allowed, else the
    /// seconds until the address's window ends.
    pub fn check(&self, addr: IpAddr, now: u64) -> Result<(), u64> {
        let key = bucket(addr);
        let window = self.window.as_secs();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.contains_key(&key) && seen.len() >= self.max_tracked {
            seen.retain(|_, (start, _)| start.saturating_add(window) > now);
            if seen.len() >= self.max_tracked {
                let oldest = seen
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    seen.remove(&oldest);
                }
            }
        }
        let entry = seen.entry(key).or_insert((now, 0));
        if entry.0.saturating_add(window) <= now {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_window {
            return Err(entry.0.saturating_add(window).saturating_sub(now).max(1));
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(())
    }
}

/// IPv4 addresses count alone; IPv6 addresses by their /64 (one host usually holds a /64).
fn bucket(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_taken_once_and_expires() {
        let store = ChallengeStore::new(4);
        assert_eq!(store.issue([1; 32], 1000, 300), Some(1300));
        assert_eq!(store.take(&[1; 32], 1100), Ok(()));
        assert_eq!(store.take(&[1; 32], 1100), Err(ChallengeError::Unknown));
        store.issue([2; 32], 1000, 300);
        assert_eq!(store.take(&[2; 32], 1300), Err(ChallengeError::Expired));
        assert_eq!(store.take(&[2; 32], 1000), Err(ChallengeError::Unknown));
        assert_eq!(store.take(&[3; 31], 1000), Err(ChallengeError::Unknown));
        assert!(store.is_empty());
    }

    #[test]
    fn the_store_is_bounded_and_sweeps_expired_challenges() {
        let store = ChallengeStore::new(2);
        assert!(store.issue([1; 32], 0, 10).is_some());
        assert!(store.issue([2; 32], 0, 10).is_some());
        assert_eq!(store.issue([3; 32], 5, 10), None, "full of live challenges");
        assert!(
            store.issue([3; 32], 10, 10).is_some(),
            "the expired ones are swept"
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn the_rate_limit_counts_per_address_and_window() {
        let limit = RateLimit::new(2, Duration::from_secs(60), 100);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(limit.check(a, 0), Ok(()));
        assert_eq!(limit.check(a, 1), Ok(()));
        assert_eq!(limit.check(a, 10), Err(50));
        assert_eq!(limit.check(b, 10), Ok(()));
        assert_eq!(limit.check(a, 60), Ok(()), "a new window");
        // One IPv6 /64 is one client.
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let d: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert_eq!(limit.check(c, 0), Ok(()));
        assert_eq!(limit.check(d, 0), Ok(()));
        assert!(limit.check(c, 0).is_err());
    }

    #[test]
    fn the_rate_limit_is_bounded() {
        let limit = RateLimit::new(1, Duration::from_secs(60), 2);
        for i in 0..100u8 {
            let addr = IpAddr::from([10, 0, 0, i]);
            assert_eq!(limit.check(addr, 0), Ok(()));
        }
        assert!(limit.seen.lock().unwrap().len() <= 2);
    }
}
