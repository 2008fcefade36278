//! `VerdictCache`: verdicts by (policy generation, chain digest), bounded, each entry expiring
//! when its verdict could change with time alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use rustls_pki_types::UnixTime;

use crate::rejection::{Rejection, Rejections};
use crate::verify::identity::PeerIdentity;

/// Identifies one chain under one policy snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerdictKey {
    /// Bumped on every policy reload, so a reload invalidates every cached verdict.
    pub generation: u64,
    /// SHA-256 over the presented chain ([`PeerChain::digest`](crate::PeerChain::digest)).
    pub digest: [u8; 32],
}

/// Sizes and lifetimes of the verdict cache.
///
/// ```
/// let mut config = certgate::CacheConfig::default();
/// config.capacity = 10_000;
/// assert_eq!(config.negative_ttl.as_secs(), 30);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Most verdicts kept (default 100 000).
    pub capacity: u64,
    /// Most bytes the kept verdicts may weigh (default 128 MiB). Each entry weighs what it
    /// holds (see [`VerdictCache`]) but at least `max_bytes / capacity`, so both bounds hold.
    pub max_bytes: u64,
    /// Longest an accept is kept (default 1 hour). It is also dropped at the leaf's notAfter,
    /// a used CRL's nextUpdate, or a matched pin's end, whichever comes first.
    pub ttl: Duration,
    /// How long a rejection is kept (default 30 s): a bot hammering with a bad certificate
    /// costs one verification per window, and a fixed certificate is accepted soon after.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            max_bytes: 128 * 1024 * 1024,
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(30),
        }
    }
}

/// Longest TTL accepted: moka panics on TTLs near 1000 years; a day is plenty for a verdict.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A verdict as stored: the result and until when it holds. Kept small (a cache holds up to
/// millions): rejections are boxed with the leaf fingerprint events need (an accept's is in
/// its identity), and moka's expiry is kept in whole seconds.
#[derive(Debug)]
pub(crate) struct VerdictEntry {
    result: Result<PeerIdentity, Box<Rejected>>,
    /// The instant the verdict was computed for: it says nothing about earlier instants (a
    /// clock stepped back, or a `Gate::check` asked about the future).
    valid_from: UnixTime,
    /// The verdict must not be used at or after this instant.
    pub(crate) valid_until: UnixTime,
    /// moka's own expiry for this entry, in seconds (at most `MAX_TTL`).
    ttl_secs: u32,
}

#[derive(Debug)]
struct Rejected {
    rejections: Rejections,
    fingerprint: Option<[u8; 32]>,
}

impl VerdictEntry {
    pub(crate) fn result(&self) -> Result<&PeerIdentity, &Rejection> {
        match &self.result {
            Ok(identity) => Ok(identity),
            Err(rejected) => Err(rejected.rejections.primary()),
        }
    }

    pub(crate) fn identity(&self) -> Option<&PeerIdentity> {
        self.result.as_ref().ok()
    }

    pub(crate) fn rejection(&self) -> Option<&Rejection> {
        self.rejections().map(Rejections::primary)
    }

    /// Every failing code of a rejection.
    pub(crate) fn rejections(&self) -> Option<&Rejections> {
        self.result.as_ref().err().map(|r| &r.rejections)
    }

    /// What the entry weighs in the cache, in bytes: moka's own bookkeeping per entry (about
    /// [`MOKA_ENTRY_BYTES`]), the key, the entry and everything it owns on the heap.
    pub(crate) fn weight(&self) -> usize {
        let owned = match &self.result {
            Ok(identity) => identity.heap_bytes(),
            Err(rejected) => {
                std::mem::size_of::<Rejected>().saturating_add(rejected.rejections.heap_bytes())
            }
        };
        MOKA_ENTRY_BYTES
            .saturating_add(std::mem::size_of::<VerdictKey>())
            .saturating_add(std::mem::size_of::<Self>())
            .saturating_add(owned)
    }

    /// Whether the verdict may answer for `now`: not before the instant it was computed for,
    /// not at or after `valid_until`.
    pub(crate) fn holds_at(&self, now: UnixTime) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    /// SHA-256 of the presented leaf, when there was one.
    pub(crate) fn fingerprint(&self) -> Option<[u8; 32]> {
        match &self.result {
            Ok(identity) => Some(identity.fingerprint()),
            Err(rejected) => rejected.fingerprint,
        }
    }
}

/// Hit, miss and eviction counts of a [`VerdictCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to verify (including entries found but past their `valid_until`).
    pub misses: u64,
    /// Entries removed for size or expiry.
    pub evictions: u64,
    /// Entries currently held (moka's estimate).
    pub entries: u64,
    /// What the entries weigh, in bytes (each at least `max_bytes / capacity`; see
    /// [`VerdictCache`]).
    pub bytes: u64,
}

/// moka's own memory per entry, measured (`benches/memory.rs`): its hash table slot, the
/// entry's metadata, deque nodes and timer wheel node.
pub(crate) const MOKA_ENTRY_BYTES: usize = 465;

/// A bounded verdict cache over moka.
///
/// Bounded in entries and in bytes: an entry weighs moka's bookkeeping (about 465 bytes), the
/// key and the entry (about 90 bytes), plus what the verdict owns: for an accept the identity
/// (subject, issuer, serial and SAN strings, typically 400-700 bytes), for a rejection its
/// details (each at most 192 bytes). A typical accept weighs about 1.1 KB, a rejection
/// 0.6-1.4 KB: at the defaults the entry count binds first.
///
/// moka decides eviction on its own clock; every hit is also re-checked against the caller's
/// `now`, so an injected clock (tests) or a slow eviction never serves a stale verdict.
#[derive(Clone)]
pub struct VerdictCache {
    cache: Cache<VerdictKey, Arc<VerdictEntry>>,
    config: CacheConfig,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct EntryExpiry;

impl moka::Expiry<VerdictKey, Arc<VerdictEntry>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _: &VerdictKey,
        value: &Arc<VerdictEntry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(value.ttl_secs)))
    }
}

impl VerdictCache {
    /// A cache with `config`; TTLs are clamped to one day (moka panics on huge ones).
    pub fn new(config: CacheConfig) -> Self {
        let config = CacheConfig {
            ttl: config.ttl.min(MAX_TTL),
            negative_ttl: config.negative_ttl.min(MAX_TTL),
            ..config
        };
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        // Every entry weighs at least `floor`, so at most `capacity` entries fit in `max_bytes`.
        let floor = config
            .max_bytes
            .checked_div(config.capacity.max(1))
            .unwrap_or(u64::MAX)
            .max(1);
        let cache = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(move |_: &VerdictKey, entry: &Arc<VerdictEntry>| -> u32 {
                let bytes = u64::try_from(entry.weight()).unwrap_or(u64::MAX);
                u32::try_from(bytes.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(EntryExpiry)
            .eviction_listener(move |_, _, cause| {
                if cause.was_evicted() {
                    listener_counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            cache,
            config,
            counters,
        }
    }

    /// The verdict for `key` if one is cached and holds at `now`.
    pub(crate) fn get(&self, key: &VerdictKey, now: UnixTime) -> Option<Arc<VerdictEntry>> {
        match self.cache.get(key) {
            Some(entry) if entry.holds_at(now) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry)
            }
            _ => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores a fresh verdict computed at `now`, and returns it as an entry.
    ///
    /// An accept holds until its identity's `valid_until` (at most the TTL); a rejection for
    /// the negative TTL, but never past `changes_at`, the instant its inputs flip with time.
    pub(crate) fn insert(
        &self,
        key: VerdictKey,
        result: Result<PeerIdentity, Rejections>,
        changes_at: Option<UnixTime>,
        fingerprint: Option<[u8; 32]>,
        now: UnixTime,
    ) -> Arc<VerdictEntry> {
        let (valid_until, ttl) = match &result {
            Ok(identity) => {
                let left = identity
                    .valid_until()
                    .as_secs()
                    .saturating_sub(now.as_secs());
                let ttl = self.config.ttl.min(Duration::from_secs(left));
                (
                    UnixTime::since_unix_epoch(Duration::from_secs(
                        now.as_secs().saturating_add(ttl.as_secs()),
                    )),
                    ttl,
                )
            }
            Err(_) => {
                let left =
                    changes_at.map_or(u64::MAX, |at| at.as_secs().saturating_sub(now.as_secs()));
                let ttl = self.config.negative_ttl.min(Duration::from_secs(left));
                (
                    UnixTime::since_unix_epoch(Duration::from_secs(
                        now.as_secs().saturating_add(ttl.as_secs()),
                    )),
                    ttl,
                )
            }
        };
        let result = result.map_err(|rejections| {
            Box::new(Rejected {
                rejections,
                fingerprint,
            })
        });
        // TTLs are clamped to MAX_TTL (a day), which fits in u32 seconds.
        let ttl_secs = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
        let entry = Arc::new(VerdictEntry {
            result,
            valid_from: now,
            valid_until,
            ttl_secs,
        });
        if !ttl.is_zero() {
            self.cache.insert(key, Arc::clone(&entry));
        }
        entry
    }

    /// A verdict that is not cached (a forwarded header that does not parse): it answers for
    /// `now` only.
    pub(crate) fn uncached(
        rejections: Rejections,
        fingerprint: Option<[u8; 32]>,
        now: UnixTime,
    ) -> Arc<VerdictEntry> {
        Arc::new(VerdictEntry {
            result: Err(Box::new(Rejected {
                rejections,
                fingerprint,
            })),
            valid_from: now,
            valid_until: UnixTime::since_unix_epoch(Duration::from_secs(
                now.as_secs().saturating_add(1),
            )),
            ttl_secs: 0,
        })
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
        }
    }

    /// Runs moka's pending maintenance (evictions, counts); useful in tests and benchmarks.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// The configuration in force.
    pub fn config(&self) -> CacheConfig {
        self.config
    }
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}
