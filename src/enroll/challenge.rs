//! Single-use enrollment challenges and the per-address rate limit, time as a parameter (the
//! router passes its clock's reading).
//!
//! Where the challenges live is pluggable ([`Challenges`]): in this process's memory
//! ([`ChallengeStore`], the default: bounded), or with feature `redis` in Redis
//! ([`RedisChallengeStore`], for a fleet: a challenge issued by one replica is redeemed on
//! any other, exactly once).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The length of a challenge, in bytes.
pub const CHALLENGE_BYTES: usize = 32;

/// Where outstanding enrollment challenges live: each is issued once, taken at most once, and
/// dies at its expiry.
///
/// Implementations: [`ChallengeStore`] (memory, one process) and, with feature `redis`,
/// [`RedisChallengeStore`] (shared by every replica). Give one to
/// [`EnrollmentBuilder::challenge_store`](crate::enroll::EnrollmentBuilder::challenge_store).
/// `challenge` bytes passed to [`take`](Challenges::take) come from the client: an
/// implementation must bound its work by their length (anything but
/// [`CHALLENGE_BYTES`] bytes is [`ChallengeError::Unknown`]).
pub trait Challenges: Send + Sync + std::fmt::Debug {
    /// Records `challenge` (fresh random bytes from the caller) as issued at `now`, living
    /// `ttl` seconds (both Unix seconds); returns its expiry.
    ///
    /// # Errors
    ///
    /// [`ChallengeError::Full`] when no more may be outstanding,
    /// [`ChallengeError::Unavailable`] when the store cannot be reached (the router refuses
    /// the request: fail closed).
    fn issue(
        &self,
        challenge: [u8; CHALLENGE_BYTES],
        now: u64,
        ttl: u64,
    ) -> Result<u64, ChallengeError>;

    /// Takes `challenge` for use at `now`: it is removed whatever the outcome, so a challenge
    /// is never accepted twice, by any replica sharing the store.
    ///
    /// # Errors
    ///
    /// [`ChallengeError::Unknown`] (never issued, already taken, or gone at its expiry),
    /// [`ChallengeError::Expired`], [`ChallengeError::Unavailable`].
    fn take(&self, challenge: &[u8], now: u64) -> Result<(), ChallengeError>;

    /// Challenges outstanding, when the store knows it cheaply (`None` for a shared store).
    fn outstanding(&self) -> Option<usize>;

    /// Whether [`issue`](Challenges::issue) and [`take`](Challenges::take) may block on I/O
    /// (the router then calls them on a blocking thread). Default: no.
    fn may_block(&self) -> bool {
        false
    }
}

/// Outstanding challenges: each is handed out once, taken once, and dies at its expiry.
///
/// At most `capacity` are outstanding; when full, expired ones are swept, and if none expired
/// the request for a new one is refused (the rate limit keeps one address from filling it).
#[derive(Debug)]
pub struct ChallengeStore {
    capacity: usize,
    outstanding: Mutex<HashMap<[u8; CHALLENGE_BYTES], u64>>,
    /// The second of the last sweep (`u64::MAX`: never): at most one sweep a second.
    swept: AtomicU64,
}

/// Why a challenge could not be issued or taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeError {
    /// Never issued, or already used.
    Unknown,
    /// Issued, but past its expiry (now consumed).
    Expired,
    /// Issuing: the store is full of live challenges.
    Full,
    /// The store cannot be reached (Redis down, timed out, or refusing): the request is
    /// refused, never let through.
    Unavailable,
}

impl ChallengeStore {
    /// A store with at most `capacity` challenges outstanding.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            outstanding: Mutex::new(HashMap::new()),
            swept: AtomicU64::new(u64::MAX),
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

impl Challenges for ChallengeStore {
    fn issue(
        &self,
        challenge: [u8; CHALLENGE_BYTES],
        now: u64,
        ttl: u64,
    ) -> Result<u64, ChallengeError> {
        let expires_at = now.saturating_add(ttl);
        let mut map = self.lock();
        // A sweep scans the whole map: at most once a second, not on every request while
        // the store is full (a client with many addresses would make each one a full scan).
        if map.len() >= self.capacity && self.swept.swap(now, Ordering::Relaxed) != now {
            map.retain(|_, expiry| *expiry > now);
        }
        if map.len() >= self.capacity {
            return Err(ChallengeError::Full);
        }
        map.insert(challenge, expires_at);
        Ok(expires_at)
    }

    fn take(&self, challenge: &[u8], now: u64) -> Result<(), ChallengeError> {
        let key: [u8; CHALLENGE_BYTES] =
            challenge.try_into().map_err(|_| ChallengeError::Unknown)?;
        match self.lock().remove(&key) {
            None => Err(ChallengeError::Unknown),
            Some(expiry) if expiry <= now => Err(ChallengeError::Expired),
            Some(_) => Ok(()),
        }
    }

    fn outstanding(&self) -> Option<usize> {
        Some(self.len())
    }
}

#[cfg(feature = "redis")]
pub use self::redis_store::RedisChallengeStore;

#[cfg(feature = "redis")]
mod redis_store {
    use std::sync::Mutex;

    use redis::Value;
    use sha2::{Digest as _, Sha256};

    use super::{CHALLENGE_BYTES, ChallengeError, Challenges};

    /// Key prefix; the rest is the hex SHA-256 of the challenge (Redis never holds the
    /// challenge itself).
    pub(super) const KEY_PREFIX: &str = "certgate:challenge:";
    /// Idle connections kept for reuse, at most.
    const MAX_IDLE: usize = 8;
    /// The longest reply value accepted (an expiry in decimal Unix seconds).
    const MAX_VALUE: usize = 20;

    /// Enrollment challenges in Redis (features `redis` and `enroll`), shared by every
    /// replica: a challenge issued by one replica is redeemed on any other, exactly once.
    ///
    /// - issue: `SET certgate:challenge:<sha256 hex> <expires_at> NX EX <ttl>`;
    /// - take: `GETDEL` (Redis 6.2 or later): atomic, so of two replicas redeeming the same
    ///   challenge at once exactly one gets it; the stored expiry is checked against the
    ///   gate's clock, and Redis drops the key at its TTL anyway.
    ///
    /// Every call is bounded: connect 250 ms, read and write 500 ms each (the timeouts of
    /// [`RedisStore`](crate::signals::RedisStore)); up to 8 idle connections are reused.
    /// **Fail closed**: when Redis is unreachable or refuses, issuing and redeeming fail with
    /// [`ChallengeError::Unavailable`] (the router answers `503`), and work again as soon as
    /// Redis answers. Replies are untrusted: anything but an absent key or a short decimal
    /// expiry is [`ChallengeError::Unknown`].
    ///
    /// ```no_run
    /// # type Error = Box<dyn std::error::Error>;
    /// # fn wire(gate: certgate::Gate, ca: certgate::issue::Ca) -> Result<(), Error> {
    /// use std::sync::Arc;
    /// use certgate::enroll::{Enrollment, challenge::RedisChallengeStore};
    /// let store = RedisChallengeStore::new("redis://127.0.0.1:6379")?;
    /// let enrollment = Enrollment::builder(gate, ca)
    ///     .challenge_store(Arc::new(store))
    ///     .build()?;
    /// # let _ = enrollment; Ok(()) }
    /// ```
    pub struct RedisChallengeStore {
        client: redis::Client,
        idle: Mutex<Vec<redis::Connection>>,
    }

    impl std::fmt::Debug for RedisChallengeStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisChallengeStore")
                .finish_non_exhaustive()
        }
    }

    impl RedisChallengeStore {
        /// A store on Redis at `url` (`redis://host:port[/db]`); nothing is contacted until
        /// the first challenge.
        ///
        /// # Errors
        ///
        /// The URL does not parse.
        pub fn new(url: &str) -> Result<Self, String> {
            Ok(Self {
                client: crate::signals::redis::open(url)?,
                idle: Mutex::new(Vec::new()),
            })
        }

        /// Runs `f` on an idle connection, else a new one; a connection that fails is
        /// dropped. A reused connection that fails (Redis restarted since) is retried once
        /// on a fresh one.
        fn with_conn<T>(
            &self,
            what: &str,
            f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
        ) -> Result<T, ChallengeError> {
            let pooled = self.lock().pop();
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.connect(what)?,
            };
            let result = match f(&mut conn) {
                Err(e)
                    if reused
                        && !e.is_timeout()
                        && (e.is_io_error() || e.is_connection_dropped()) =>
                {
                    conn = self.connect(what)?;
                    f(&mut conn)
                }
                other => other,
            };
            match result {
                Ok(value) => {
                    let mut idle = self.lock();
                    if idle.len() < MAX_IDLE {
                        idle.push(conn);
                    }
                    Ok(value)
                }
                Err(e) => {
                    tracing::warn!(target: "certgate::enroll", error = %e, "{what}: Redis failed");
                    Err(ChallengeError::Unavailable)
                }
            }
        }

        fn connect(&self, what: &str) -> Result<redis::Connection, ChallengeError> {
            crate::signals::redis::connect(&self.client).ok_or_else(|| {
                tracing::warn!(target: "certgate::enroll", "{what}: cannot reach Redis");
                ChallengeError::Unavailable
            })
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Vec<redis::Connection>> {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    /// The key of a challenge: the prefix and the hex SHA-256 of its bytes.
    pub(super) fn key(challenge: &[u8; CHALLENGE_BYTES]) -> String {
        format!("{KEY_PREFIX}{}", crate::hex(&Sha256::digest(challenge)))
    }

    /// A `GETDEL` reply: the stored expiry, or `None` for an absent key or anything else.
    pub(super) fn expiry(value: &Value) -> Option<u64> {
        let bytes = match value {
            Value::BulkString(bytes) => bytes.as_slice(),
            Value::SimpleString(text) => text.as_bytes(),
            _ => return None,
        };
        if bytes.is_empty() || bytes.len() > MAX_VALUE {
            return None;
        }
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }

    impl Challenges for RedisChallengeStore {
        fn issue(
            &self,
            challenge: [u8; CHALLENGE_BYTES],
            now: u64,
            ttl: u64,
        ) -> Result<u64, ChallengeError> {
            let expires_at = now.saturating_add(ttl);
            let key = key(&challenge);
            let stored = self.with_conn("issuing a challenge", |conn| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(expires_at)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl.max(1))
                    .query::<Value>(conn)
            })?;
            match stored {
                Value::Okay => Ok(expires_at),
                Value::SimpleString(text) if text == "OK" => Ok(expires_at),
                // NX refused: the key exists (32 random bytes do not collide; a retried SET
                // that had reached Redis). Refuse rather than hand out a shared challenge.
                other => {
                    tracing::warn!(
                        target: "certgate::enroll",
                        reply = ?other,
                        "issuing a challenge: SET NX did not store it"
                    );
                    Err(ChallengeError::Unavailable)
                }
            }
        }

        fn take(&self, challenge: &[u8], now: u64) -> Result<(), ChallengeError> {
            let challenge: &[u8; CHALLENGE_BYTES] =
                challenge.try_into().map_err(|_| ChallengeError::Unknown)?;
            let key = key(challenge);
            let taken = self.with_conn("redeeming a challenge", |conn| {
                redis::cmd("GETDEL").arg(&key).query::<Value>(conn)
            })?;
            match expiry(&taken) {
                None => Err(ChallengeError::Unknown),
                Some(expires_at) if expires_at <= now => Err(ChallengeError::Expired),
                Some(_) => Ok(()),
            }
        }

        fn outstanding(&self) -> Option<usize> {
            None
        }

        fn may_block(&self) -> bool {
            true
        }
    }
}

/// A fixed-window rate limit per client address (IPv4 address, IPv6 /64), bounded in memory:
/// at most `max_tracked` addresses; when full, finished windows are swept (at most once a
/// second), and if all are live one address is dropped.
#[derive(Debug)]
pub struct RateLimit {
    per_window: u32,
    window: Duration,
    max_tracked: usize,
    seen: Mutex<HashMap<IpAddr, (u64, u32)>>,
    /// The second of the last sweep (`u64::MAX`: never): at most one sweep a second.
    swept: AtomicU64,
}

impl RateLimit {
    /// `per_window` requests per `window` per address.
    pub fn new(per_window: u32, window: Duration, max_tracked: usize) -> Self {
        Self {
            per_window: per_window.max(1),
            window: Duration::from_secs(window.as_secs().max(1)),
            max_tracked: max_tracked.max(1),
            seen: Mutex::new(HashMap::new()),
            swept: AtomicU64::new(u64::MAX),
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
            // Full: finished windows are swept at most once a second, and an address is
            // dropped (any one: looking for the oldest scanned the whole map on every request
            // from a new address, which a client with many IPv6 /64s sends at will).
            if self.swept.swap(now, Ordering::Relaxed) != now {
                seen.retain(|_, (start, _)| start.saturating_add(window) > now);
            }
            if seen.len() >= self.max_tracked {
                let any = seen.keys().next().copied();
                if let Some(any) = any {
                    seen.remove(&any);
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
    // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`: its own bucket,
    // not the /64 `::` that every IPv4 client would share.
    match addr.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
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
        assert_eq!(store.issue([1; 32], 1000, 300), Ok(1300));
        assert_eq!(store.take(&[1; 32], 1100), Ok(()));
        assert_eq!(store.take(&[1; 32], 1100), Err(ChallengeError::Unknown));
        store.issue([2; 32], 1000, 300).unwrap();
        assert_eq!(store.take(&[2; 32], 1300), Err(ChallengeError::Expired));
        assert_eq!(store.take(&[2; 32], 1000), Err(ChallengeError::Unknown));
        assert_eq!(store.take(&[3; 31], 1000), Err(ChallengeError::Unknown));
        assert!(store.is_empty());
    }

    #[test]
    fn the_store_is_bounded_and_sweeps_expired_challenges() {
        let store = ChallengeStore::new(2);
        assert!(store.issue([1; 32], 0, 10).is_ok());
        assert!(store.issue([2; 32], 0, 10).is_ok());
        assert_eq!(
            store.issue([3; 32], 5, 10),
            Err(ChallengeError::Full),
            "full of live challenges"
        );
        assert!(
            store.issue([3; 32], 10, 10).is_ok(),
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

    /// A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6 addresses: each keeps its
    /// own bucket (not one `::/64` shared by every IPv4 client, which one client could
    /// exhaust for all), and the mapped and plain forms of an address are one client.
    #[test]
    fn ipv4_mapped_clients_are_their_ipv4_address() {
        let limit = RateLimit::new(1, Duration::from_secs(60), 100);
        let a: IpAddr = "::ffff:198.51.100.1".parse().unwrap();
        let b: IpAddr = "::ffff:198.51.100.2".parse().unwrap();
        assert_eq!(limit.check(a, 0), Ok(()));
        assert_eq!(limit.check(b, 0), Ok(()), "another IPv4 client");
        assert!(limit.check("198.51.100.1".parse().unwrap(), 0).is_err());
    }

    /// Full of live entries, a request from a new address (or for a new challenge) costs no
    /// scan of the whole map: one sweep a second at most. (Before: two scans of 100 000
    /// entries per request, several seconds for these 5 000.)
    #[test]
    fn a_full_table_costs_no_scan_per_request() {
        let limit = RateLimit::new(1, Duration::from_secs(60), 100_000);
        for i in 0..100_000u32 {
            assert_eq!(limit.check(IpAddr::from(i.to_be_bytes()), 0), Ok(()));
        }
        let store = ChallengeStore::new(100_000);
        for i in 0..100_000u32 {
            let mut challenge = [0u8; CHALLENGE_BYTES];
            challenge[..4].copy_from_slice(&i.to_be_bytes());
            assert!(store.issue(challenge, 0, 300).is_ok());
        }
        let started = std::time::Instant::now();
        for i in 0..5_000u32 {
            let addr = IpAddr::from((i | 0x8000_0000).to_be_bytes());
            assert_eq!(limit.check(addr, 1), Ok(()));
            assert_eq!(
                store.issue([0xff; CHALLENGE_BYTES], 1, 300),
                Err(ChallengeError::Full)
            );
        }
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        assert!(limit.seen.lock().unwrap().len() <= 100_000);
        assert_eq!(store.len(), 100_000);
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

    #[cfg(feature = "redis")]
    #[test]
    fn redis_replies_and_keys_are_bounded() {
        use ::redis::Value;
        use redis_store::{KEY_PREFIX, expiry, key};
        assert_eq!(
            expiry(&Value::BulkString(b"1700000000".to_vec())),
            Some(1_700_000_000)
        );
        assert_eq!(expiry(&Value::Nil), None);
        assert_eq!(expiry(&Value::BulkString(Vec::new())), None);
        assert_eq!(expiry(&Value::BulkString(vec![b'9'; 21])), None);
        assert_eq!(expiry(&Value::BulkString(b"-1".to_vec())), None);
        assert_eq!(expiry(&Value::BulkString(vec![0xff, 0xfe])), None);
        assert_eq!(expiry(&Value::Int(5)), None);
        let k = key(&[1; 32]);
        assert!(k.starts_with(KEY_PREFIX));
        assert_eq!(k.len(), KEY_PREFIX.len() + 64);
        assert!(
            !k.contains(&crate::hex(&[1; 32])),
            "the challenge itself is not the key"
        );
        // A client's over-long or short challenge never reaches Redis (the URL is a closed
        // port: reaching it would be Unavailable, not Unknown).
        let store = RedisChallengeStore::new("redis://127.0.0.1:1").unwrap();
        assert_eq!(store.take(&[0; 33], 0), Err(ChallengeError::Unknown));
        assert_eq!(
            store.take(&vec![0; 1 << 20], 0),
            Err(ChallengeError::Unknown)
        );
        assert_eq!(store.take(&[0; 32], 0), Err(ChallengeError::Unavailable));
        assert_eq!(
            store.issue([0; 32], 0, 60),
            Err(ChallengeError::Unavailable)
        );
        assert!(RedisChallengeStore::new("http://x").is_err());
    }
}
