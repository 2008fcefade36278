//! Where the signals keep their state: the [`SignalStore`] trait, and the embedded store
//! (fixed-size, set-associative tables allocated once; no allocation per request).
//!
//! The Redis store (feature `redis`, [`RedisStore`](super::RedisStore)) shares the state
//! between the replicas of a fleet, over a local embedded view.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cloning::CloningConfig;
use super::quarantine::QuarantineConfig;
use super::rate::{RateKey, RateOver};

/// A client address's failure score after one refused verdict was added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Score {
    /// The current score (decayed to now, this verdict's weight included).
    pub score: u64,
    /// Every weight added to this address while it was tracked.
    pub total: u64,
    /// Seconds of quarantine this verdict started (`None`: no quarantine started now).
    pub quarantined_for: Option<u64>,
}

/// How one per-install certificate is being used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LeafUse {
    /// Distinct client addresses (or networks) seen within the window, counted up to 16.
    pub addresses: u32,
    /// Connections presenting it now.
    pub connections: u32,
    /// Seconds left of its cloning quarantine, if flagged.
    pub flagged_for: Option<u64>,
    /// Whether this observation flagged it.
    pub flagged_now: bool,
}

/// What a store holds, for tests and capacity planning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Client addresses tracked (scores and quarantines).
    pub addresses: u64,
    /// Per-install certificates tracked.
    pub certificates: u64,
    /// Bytes of state (fixed for the embedded store: allocated once).
    pub bytes: u64,
}

/// What the signals do while Redis is unreachable (`[signals.store] on_error`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnError {
    /// Requests proceed; the signals keep working on the replica's local view only (they
    /// pause across replicas). The default.
    #[default]
    Open,
    /// Every client is treated as quarantined (`quarantined`, 429, `Retry-After: 1`) until
    /// Redis answers again: refused when `quarantined` is enforced and `[signals.quarantine]`
    /// is on.
    Closed,
}

/// The state behind the failure score, the quarantine and the cloning detector.
///
/// Times are seconds since the Unix epoch, from the gate's clock: implementations never read
/// a clock. Every method must return in bounded time (an embedded table, or a networked store
/// with a short timeout that answers "nothing known" on timeout).
pub trait SignalStore: Send + Sync + 'static {
    /// Seconds left in `addr`'s quarantine at `now` (at least 1), if it is quarantined.
    /// `addr` is the source as the gate keys it: an IPv4 address or an IPv6 /64.
    fn quarantined(&self, addr: IpAddr, now: u64) -> Option<u64>;

    /// Adds `weight` to `addr`'s score (decayed to `now` under `rule`), and quarantines the
    /// address for `rule.duration_seconds` when the score reaches `rule.threshold`.
    fn add_failure(&self, addr: IpAddr, weight: u32, now: u64, rule: &QuarantineConfig) -> Score;

    /// Records that the per-install certificate `leaf` (its SHA-256) was seen from
    /// `network` (an address, or its /24 or /48) at `now`, on a newly opened connection
    /// when `opened`. Returns its use, flagging it (for `rule.quarantine_seconds`) when over
    /// `rule.max_addresses` or `rule.max_connections`.
    fn observe_leaf(
        &self,
        leaf: &[u8; 32],
        network: IpAddr,
        opened: bool,
        now: u64,
        rule: &CloningConfig,
    ) -> LeafUse;

    /// One connection that [`SignalStore::observe_leaf`] counted as opened has closed.
    fn connection_closed(&self, leaf: &[u8; 32]);

    /// The use of `leaf` if it is flagged at `now` (cheap when nothing is flagged).
    fn leaf_flagged(&self, leaf: &[u8; 32], now: u64) -> Option<LeafUse>;

    /// What the store holds.
    fn stats(&self) -> StoreStats;

    /// Counts one request of `key` in its fixed window of `window` seconds (the one holding
    /// `now`: windows start at multiples of `window`), and returns the seconds left in that
    /// window (at least 1) when the count is over `limit` (`[signals.rate]`).
    fn count_request(
        &self,
        key: RateKey<'_>,
        now: u64,
        window: u64,
        limit: u32,
    ) -> Option<RateOver>;

    /// Whether the leaf with this SHA-256 is on the store's denylist at `now` (a fleet-wide
    /// denylist: [`RedisStore`](super::RedisStore)); refused `denylisted` like any verify
    /// code, on every request, keep-alive connections included. The embedded store has none.
    fn denylisted(&self, leaf: &[u8; 32], now: u64) -> bool {
        let _ = (leaf, now);
        false
    }
}

/// Ways per bucket of the set-associative tables.
const WAYS: usize = 4;
/// Distinct addresses remembered per certificate (`cloning.max_addresses` is at most one less).
pub(crate) const LEAF_ADDRESSES: usize = 16;

#[derive(Clone, Copy, Default)]
struct AddrSlot {
    key: [u8; 16],
    used: bool,
    /// Milli-points, as of `updated`.
    score: u64,
    total: u64,
    updated: u64,
    until: u64,
}

/// One fixed-window request counter (`key` 0: empty).
#[derive(Clone, Copy, Default)]
struct RateSlot {
    key: u64,
    window: u64,
    count: u32,
}

#[derive(Clone, Copy, Default)]
struct LeafSlot {
    key: [u8; 32],
    used: bool,
    connections: u32,
    last: u64,
    until: u64,
    /// Hashes of the addresses (or networks) seen (0: empty) and when, in Unix seconds.
    seen: [u64; LEAF_ADDRESSES],
    seen_at: [u64; LEAF_ADDRESSES],
}

/// The embedded store: three fixed-size tables allocated when the store is built (lazily, on
/// a gate's first signal), so memory is bounded whatever the traffic.
///
/// - client addresses: [`EmbeddedStore::BYTES_PER_ADDRESS`] bytes each, `max_addresses`
///   of them (default 65 536: 3.6 MiB at 58 bytes each on x86_64);
/// - per-install certificates: [`EmbeddedStore::BYTES_PER_CERTIFICATE`] bytes each,
///   `max_certificates` of them (default 16 384: 4.9 MiB at 314 bytes each on x86_64);
/// - rate counters (`[signals.rate]`, one per certificate and per app):
///   [`EmbeddedStore::BYTES_PER_RATE_COUNTER`] bytes each, as many as `max_certificates`
///   (default 16 384: 416 KiB at 26 bytes each on x86_64). A counter evicted from a full
///   bucket (the oldest window first) starts again from zero.
///
/// Each table is set-associative (a key hashes, with a per-process random key, to one
/// bucket of 4 slots, each bucket behind its own lock). A new key in a full bucket evicts
/// the least valuable slot: an address with no running quarantine and the lowest score, a
/// certificate with no open connection and the oldest use (a running quarantine is evicted
/// only when the whole bucket is quarantined: the one ending first).
pub struct EmbeddedStore {
    addrs: Box<[Mutex<[AddrSlot; WAYS]>]>,
    leaves: Box<[Mutex<[LeafSlot; WAYS]>]>,
    rates: Box<[Mutex<[RateSlot; WAYS]>]>,
    hasher: std::hash::RandomState,
    /// The latest quarantine end ever set: at or after it, no address is quarantined (one
    /// atomic load answers the common case).
    addr_until: AtomicU64,
    /// The same for flagged certificates.
    leaf_until: AtomicU64,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("max_addresses", &self.addrs.len().saturating_mul(WAYS))
            .field("max_certificates", &self.leaves.len().saturating_mul(WAYS))
            .finish_non_exhaustive()
    }
}

impl Default for EmbeddedStore {
    fn default() -> Self {
        Self::new(65_536, 16_384)
    }
}

impl EmbeddedStore {
    /// Bytes per tracked client address (slot and its share of the bucket lock).
    pub const BYTES_PER_ADDRESS: usize =
        std::mem::size_of::<Mutex<[AddrSlot; WAYS]>>().div_ceil(WAYS);
    /// Bytes per tracked per-install certificate.
    pub const BYTES_PER_CERTIFICATE: usize =
        std::mem::size_of::<Mutex<[LeafSlot; WAYS]>>().div_ceil(WAYS);
    /// Bytes per rate counter (`[signals.rate]`: one per certificate and per app).
    pub const BYTES_PER_RATE_COUNTER: usize =
        std::mem::size_of::<Mutex<[RateSlot; WAYS]>>().div_ceil(WAYS);

    /// A store for at most `max_addresses` client addresses, `max_certificates` per-install
    /// certificates and as many rate counters (each rounded up to a power of two, at least
    /// 4).
    pub fn new(max_addresses: usize, max_certificates: usize) -> Self {
        let buckets = |n: usize| n.div_ceil(WAYS).max(1).next_power_of_two();
        Self {
            addrs: (0..buckets(max_addresses))
                .map(|_| Mutex::new([AddrSlot::default(); WAYS]))
                .collect(),
            leaves: (0..buckets(max_certificates))
                .map(|_| Mutex::new([LeafSlot::default(); WAYS]))
                .collect(),
            rates: (0..buckets(max_certificates))
                .map(|_| Mutex::new([RateSlot::default(); WAYS]))
                .collect(),
            hasher: std::hash::RandomState::new(),
            addr_until: AtomicU64::new(0),
            leaf_until: AtomicU64::new(0),
        }
    }

    /// The bytes this store holds, whatever the traffic.
    pub fn max_bytes(&self) -> u64 {
        let addrs = self
            .addrs
            .len()
            .saturating_mul(std::mem::size_of::<Mutex<[AddrSlot; WAYS]>>());
        let leaves = self
            .leaves
            .len()
            .saturating_mul(std::mem::size_of::<Mutex<[LeafSlot; WAYS]>>());
        let rates = self
            .rates
            .len()
            .saturating_mul(std::mem::size_of::<Mutex<[RateSlot; WAYS]>>());
        u64::try_from(addrs.saturating_add(leaves).saturating_add(rates)).unwrap_or(u64::MAX)
    }

    fn bucket<'a, T>(&self, table: &'a [Mutex<T>], key: &impl Hash) -> Option<&'a Mutex<T>> {
        let hash = self.hasher.hash_one(key);
        // `table.len()` is a power of two: the low bits pick the bucket.
        let mask = u64::try_from(table.len().saturating_sub(1)).unwrap_or(0);
        table.get(usize::try_from(hash & mask).unwrap_or(0))
    }

    /// Quarantines `addr` until `until` (another replica's quarantine): never shortens a
    /// running one.
    #[cfg(feature = "redis")]
    pub(crate) fn set_quarantine(&self, addr: IpAddr, until: u64) {
        let key = addr_key(addr);
        let Some(bucket) = self.bucket(&self.addrs, &key) else {
            return;
        };
        let mut bucket = lock(bucket);
        let index = bucket
            .iter()
            .position(|s| s.used && s.key == key)
            .or_else(|| {
                // A free slot, else the quarantine ending first (or none running).
                bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| (s.used, s.until))
                    .map(|(i, _)| i)
            });
        if let Some(slot) = index.and_then(|i| bucket.get_mut(i)) {
            if !(slot.used && slot.key == key) {
                *slot = AddrSlot {
                    key,
                    used: true,
                    ..AddrSlot::default()
                };
            }
            slot.until = slot.until.max(until);
            self.addr_until.fetch_max(slot.until, Ordering::AcqRel);
        }
    }

    /// Flags `leaf` until `until` (another replica's flag): never shortens a running one.
    #[cfg(feature = "redis")]
    pub(crate) fn set_flag(&self, leaf: &[u8; 32], until: u64) {
        let Some(bucket) = self.bucket(&self.leaves, leaf) else {
            return;
        };
        let mut bucket = lock(bucket);
        let index = bucket
            .iter()
            .position(|s| s.used && s.key == *leaf)
            .or_else(|| {
                bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| (s.used, s.connections > 0, s.until, s.last))
                    .map(|(i, _)| i)
            });
        if let Some(slot) = index.and_then(|i| bucket.get_mut(i)) {
            if !(slot.used && slot.key == *leaf) {
                *slot = LeafSlot {
                    key: *leaf,
                    used: true,
                    ..LeafSlot::default()
                };
            }
            slot.until = slot.until.max(until);
            self.leaf_until.fetch_max(slot.until, Ordering::AcqRel);
        }
    }

    pub(crate) fn hash_network(&self, network: IpAddr) -> u64 {
        self.hasher.hash_one(network) | 1
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn addr_key(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Milli-points lost per second: a score at the threshold falls to zero in one window.
fn decay_per_second(rule: &QuarantineConfig) -> u64 {
    (u64::from(rule.threshold).saturating_mul(1000) / rule.window_seconds.max(1)).max(1)
}

fn decayed(slot: &AddrSlot, now: u64, rule: &QuarantineConfig) -> u64 {
    let elapsed = now.saturating_sub(slot.updated);
    slot.score
        .saturating_sub(elapsed.saturating_mul(decay_per_second(rule)))
}

impl SignalStore for EmbeddedStore {
    fn quarantined(&self, addr: IpAddr, now: u64) -> Option<u64> {
        if now >= self.addr_until.load(Ordering::Acquire) {
            return None;
        }
        let key = addr_key(addr);
        let bucket = lock(self.bucket(&self.addrs, &key)?);
        bucket
            .iter()
            .find(|s| s.used && s.key == key && s.until > now)
            .map(|s| s.until.saturating_sub(now).max(1))
    }

    fn add_failure(&self, addr: IpAddr, weight: u32, now: u64, rule: &QuarantineConfig) -> Score {
        let key = addr_key(addr);
        let Some(bucket) = self.bucket(&self.addrs, &key) else {
            return Score::default();
        };
        let mut bucket = lock(bucket);
        let index = match bucket.iter().position(|s| s.used && s.key == key) {
            Some(i) => i,
            None => {
                // A free slot, else the one least worth keeping.
                let victim = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| {
                        let running = s.used && s.until > now;
                        (
                            s.used,
                            running,
                            if running {
                                s.until
                            } else {
                                decayed(s, now, rule)
                            },
                        )
                    })
                    .map_or(0, |(i, _)| i);
                if let Some(slot) = bucket.get_mut(victim) {
                    *slot = AddrSlot {
                        key,
                        used: true,
                        updated: now,
                        ..AddrSlot::default()
                    };
                }
                victim
            }
        };
        let Some(slot) = bucket.get_mut(index) else {
            return Score::default();
        };
        let add = u64::from(weight).saturating_mul(1000);
        slot.score = decayed(slot, now, rule).saturating_add(add);
        slot.updated = now;
        slot.total = slot.total.saturating_add(u64::from(weight));
        let mut quarantined_for = None;
        if slot.until <= now && slot.score >= u64::from(rule.threshold).saturating_mul(1000) {
            slot.until = now.saturating_add(rule.duration_seconds);
            self.addr_until.fetch_max(slot.until, Ordering::AcqRel);
            quarantined_for = Some(rule.duration_seconds);
        }
        Score {
            score: slot.score / 1000,
            total: slot.total,
            quarantined_for,
        }
    }

    fn observe_leaf(
        &self,
        leaf: &[u8; 32],
        network: IpAddr,
        opened: bool,
        now: u64,
        rule: &CloningConfig,
    ) -> LeafUse {
        let net = self.hash_network(network);
        let Some(bucket) = self.bucket(&self.leaves, leaf) else {
            return LeafUse::default();
        };
        let mut bucket = lock(bucket);
        let index = match bucket.iter().position(|s| s.used && s.key == *leaf) {
            Some(i) => i,
            None => {
                let victim = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| (s.used, s.connections > 0, s.until > now, s.last))
                    .map_or(0, |(i, _)| i);
                if let Some(slot) = bucket.get_mut(victim) {
                    *slot = LeafSlot {
                        key: *leaf,
                        used: true,
                        ..LeafSlot::default()
                    };
                }
                victim
            }
        };
        let Some(slot) = bucket.get_mut(index) else {
            return LeafUse::default();
        };
        slot.last = now;
        if opened {
            slot.connections = slot.connections.saturating_add(1);
        }
        let since = now.saturating_sub(rule.window_seconds);
        // This network: refresh its entry, else take an empty or the oldest one.
        let at = slot.seen.iter().position(|h| *h == net).unwrap_or_else(|| {
            slot.seen
                .iter()
                .zip(slot.seen_at.iter())
                .enumerate()
                .min_by_key(|(_, (h, t))| (**h != 0, **t))
                .map_or(0, |(i, _)| i)
        });
        if let (Some(h), Some(t)) = (slot.seen.get_mut(at), slot.seen_at.get_mut(at)) {
            *h = net;
            *t = now;
        }
        let addresses = slot
            .seen
            .iter()
            .zip(slot.seen_at.iter())
            .filter(|(h, t)| **h != 0 && **t >= since)
            .count();
        let addresses = u32::try_from(addresses).unwrap_or(u32::MAX);
        let flagged_now = slot.until <= now
            && (addresses > rule.max_addresses || slot.connections > rule.max_connections);
        if flagged_now {
            slot.until = now.saturating_add(rule.quarantine_seconds);
            self.leaf_until.fetch_max(slot.until, Ordering::AcqRel);
        }
        LeafUse {
            addresses,
            connections: slot.connections,
            flagged_for: (slot.until > now).then(|| slot.until.saturating_sub(now)),
            flagged_now,
        }
    }

    fn connection_closed(&self, leaf: &[u8; 32]) {
        if let Some(bucket) = self.bucket(&self.leaves, leaf) {
            let mut bucket = lock(bucket);
            if let Some(slot) = bucket.iter_mut().find(|s| s.used && s.key == *leaf) {
                slot.connections = slot.connections.saturating_sub(1);
            }
        }
    }

    fn leaf_flagged(&self, leaf: &[u8; 32], now: u64) -> Option<LeafUse> {
        if now >= self.leaf_until.load(Ordering::Acquire) {
            return None;
        }
        let bucket = lock(self.bucket(&self.leaves, leaf)?);
        let slot = bucket
            .iter()
            .find(|s| s.used && s.key == *leaf && s.until > now)?;
        let addresses = slot.seen.iter().filter(|h| **h != 0).count();
        Some(LeafUse {
            addresses: u32::try_from(addresses).unwrap_or(u32::MAX),
            connections: slot.connections,
            flagged_for: Some(slot.until.saturating_sub(now)),
            flagged_now: false,
        })
    }

    fn count_request(
        &self,
        key: RateKey<'_>,
        now: u64,
        window: u64,
        limit: u32,
    ) -> Option<RateOver> {
        let window = window.max(1);
        let id = self.hasher.hash_one(key) | 1;
        let start = now.saturating_sub(now % window);
        let mut bucket = lock(self.bucket(&self.rates, &id)?);
        let index = bucket.iter().position(|s| s.key == id).or_else(|| {
            // A free slot, else the oldest window.
            bucket
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| (s.key != 0, s.window))
                .map(|(i, _)| i)
        })?;
        let slot = bucket.get_mut(index)?;
        if slot.key != id || slot.window != start {
            *slot = RateSlot {
                key: id,
                window: start,
                count: 0,
            };
        }
        slot.count = slot.count.saturating_add(1);
        (slot.count > limit).then(|| {
            RateOver::new(
                start.saturating_add(window).saturating_sub(now).max(1),
                slot.count == limit.saturating_add(1),
            )
        })
    }

    fn stats(&self) -> StoreStats {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let addresses = self
            .addrs
            .iter()
            .map(|b| lock(b).iter().filter(|s| s.used).count())
            .sum();
        let certificates = self
            .leaves
            .iter()
            .map(|b| lock(b).iter().filter(|s| s.used).count())
            .sum();
        StoreStats {
            addresses: count(addresses),
            certificates: count(certificates),
            bytes: self.max_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn scores_decay_linearly_and_quarantine_at_the_threshold() {
        let store = EmbeddedStore::new(64, 8);
        let rule = QuarantineConfig::new(100, 100, 50).unwrap();
        let a = ip("192.0.2.1");
        assert_eq!(store.quarantined(a, 1000), None);
        let s = store.add_failure(a, 60, 1000, &rule);
        assert_eq!((s.score, s.total, s.quarantined_for), (60, 60, None));
        // One point a second (threshold 100 over 100 s): 60 − 30 + 60 = 90.
        let s = store.add_failure(a, 60, 1030, &rule);
        assert_eq!((s.score, s.total, s.quarantined_for), (90, 120, None));
        let s = store.add_failure(a, 10, 1030, &rule);
        assert_eq!((s.score, s.quarantined_for), (100, Some(50)));
        assert_eq!(store.quarantined(a, 1030), Some(50));
        assert_eq!(store.quarantined(a, 1079), Some(1));
        assert_eq!(store.quarantined(a, 1080), None);
        assert_eq!(store.quarantined(ip("192.0.2.2"), 1030), None);
        // IPv4 and its IPv4-mapped IPv6 form are one key.
        assert_eq!(store.quarantined(ip("::ffff:192.0.2.1"), 1030), Some(50));
    }

    #[test]
    fn the_table_never_grows() {
        let store = EmbeddedStore::new(8, 4);
        let rule = QuarantineConfig::new(100, 60, 60).unwrap();
        let bytes = store.max_bytes();
        for i in 0..10_000u32 {
            store.add_failure(IpAddr::from(i.to_be_bytes()), 1, 1, &rule);
        }
        let stats = store.stats();
        assert_eq!(stats.addresses, 8);
        assert_eq!(stats.bytes, bytes);
    }

    #[test]
    fn leaves_count_addresses_in_the_window_and_connections_until_closed() {
        let store = EmbeddedStore::new(8, 8);
        let rule = CloningConfig::new(2, 100, 2, 500).unwrap();
        let leaf = [7u8; 32];
        let u = store.observe_leaf(&leaf, ip("10.0.0.1"), true, 1000, &rule);
        assert_eq!((u.addresses, u.connections, u.flagged_for), (1, 1, None));
        let u = store.observe_leaf(&leaf, ip("10.0.0.2"), true, 1010, &rule);
        assert_eq!((u.addresses, u.connections, u.flagged_for), (2, 2, None));
        store.connection_closed(&leaf);
        store.connection_closed(&leaf);
        // The first address left the window: 2 addresses, not 3.
        let u = store.observe_leaf(&leaf, ip("10.0.0.3"), true, 1101, &rule);
        assert_eq!((u.addresses, u.connections, u.flagged_for), (2, 1, None));
        assert_eq!(store.leaf_flagged(&leaf, 1101), None);
        let u = store.observe_leaf(&leaf, ip("10.0.0.4"), false, 1102, &rule);
        assert_eq!(
            (u.addresses, u.flagged_for, u.flagged_now),
            (3, Some(500), true)
        );
        assert_eq!(
            store.leaf_flagged(&leaf, 1103).unwrap().flagged_for,
            Some(499)
        );
        assert_eq!(store.leaf_flagged(&leaf, 1602), None);
    }

    #[test]
    fn networks_mask_to_24_and_48() {
        let rule = CloningConfig::new(2, 100, 2, 500)
            .unwrap()
            .count_networks(true);
        assert_eq!(rule.network(ip("198.51.100.77")), ip("198.51.100.0"));
        assert_eq!(rule.network(ip("2001:db8:1:2:3::4")), ip("2001:db8:1::"));
    }
}
