//! The Redis store (feature `redis`): the signals' state shared by a fleet of replicas, and
//! the fleet-wide instant denylist.
//!
//! The request path never waits on Redis: every decision reads a local [`EmbeddedStore`]
//! (the replica's view), every update goes into a bounded queue that a background thread
//! drains in batches (pipelines) to Redis, and a second thread subscribed to the channels
//! applies the other replicas' quarantines, flags and denylist entries to the local view.
//! A resync every 500 ms (the quarantine and flag sets) and every 5 s (the denylist, read by
//! `ZSCAN` pages) covers missed messages.
//!
//! Keys (all under `certgate:`) and channels:
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `certgate:score:<addr>:<n>` | counter, `EXPIRE` 2 windows | failure weights of one source in window `n` (`now / window_seconds`); the fleet's score is this window's plus the previous one's |
//! | `certgate:quarantine` | sorted set | source address → quarantine end (Unix seconds) |
//! | `certgate:leaf:<sha256>` | sorted set, `EXPIRE` 1 window | address (or network) → last seen; at most 64 kept |
//! | `certgate:flagged` | sorted set | per-install leaf SHA-256 → cloning flag end |
//! | `certgate:deny` | sorted set | leaf SHA-256 → denylist entry end |
//!
//! `certgate:signals` carries `q <addr> <until>` and `c <sha256> <until>`; `certgate:deny`
//! carries `+<sha256> <until>` and `-<sha256>`. Every reply is untrusted input: parsed with
//! bounds, anything else ignored.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::Value;

use super::cloning::CloningConfig;
use super::quarantine::{MAX_SECONDS, QuarantineConfig};
use super::rate::{RateKey, RateOver};
use super::store::{EmbeddedStore, LeafUse, OnError, Score, SignalStore, StoreStats};

/// The channel of quarantines and cloning flags.
pub const SIGNALS_CHANNEL: &str = "certgate:signals";
/// The channel of denylist changes.
pub const DENY_CHANNEL: &str = "certgate:deny";
const QUARANTINE_KEY: &str = "certgate:quarantine";
const FLAGGED_KEY: &str = "certgate:flagged";
const DENY_KEY: &str = "certgate:deny";

/// Updates queued for Redis, at most (more are dropped and counted).
pub const QUEUE_CAPACITY: usize = 65_536;
/// Updates sent in one pipeline, at most.
const BATCH: usize = 1024;
/// Denylist entries held, at most.
pub const MAX_DENYLIST: usize = 1_000_000;
/// Quarantines or flags read per resync, at most.
const MAX_RESYNC: usize = 65_536;
/// Addresses remembered per leaf in Redis.
const LEAF_KEEP: i64 = 64;
/// Longest denylist entry: ten years.
pub const MAX_DENY_SECONDS: u64 = 10 * 365 * 24 * 3600;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const IO_TIMEOUT: Duration = Duration::from_millis(500);
const RESYNC_EVERY: Duration = Duration::from_millis(500);
const DENY_RESYNC_EVERY: Duration = Duration::from_secs(5);

enum Update {
    Failure {
        addr: IpAddr,
        weight: u32,
        now: u64,
        threshold: u32,
        window: u64,
        duration: u64,
    },
    Quarantine {
        addr: IpAddr,
        until: u64,
        now: u64,
    },
    Leaf {
        leaf: [u8; 32],
        network: IpAddr,
        now: u64,
        window: u64,
        max_addresses: u32,
        quarantine: u64,
    },
    Flag {
        leaf: [u8; 32],
        until: u64,
        now: u64,
    },
}

struct Shared {
    local: EmbeddedStore,
    client: redis::Client,
    on_error: OnError,
    /// Whether the last exchange with Redis succeeded.
    up: AtomicBool,
    /// Whether the subscriber holds its subscription.
    subscribed: AtomicBool,
    stop: AtomicBool,
    /// Set by the subscriber on (re)subscribing: the writer resyncs everything.
    resync: AtomicBool,
    deny: RwLock<HashMap<[u8; 32], u64>>,
    deny_len: AtomicUsize,
    /// The denylist messages applied while a resync reads the list (`None`: no resync
    /// running, or more than `MAX_DENY_CHANGES` of them): replayed onto its result, which
    /// may miss them (`ZSCAN` does not promise entries added during the scan).
    deny_changes: std::sync::Mutex<Option<Vec<DenyChange>>>,
    dropped: AtomicU64,
    sent: AtomicU64,
    /// The latest time the gate passed in (the background threads' clock: the store reads
    /// none of its own once the gate has called it).
    now: AtomicU64,
}

impl Shared {
    fn saw(&self, now: u64) {
        if now > self.now.load(Ordering::Relaxed) {
            self.now.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// The gate's latest time, else the system clock (before the first request).
    fn clock(&self) -> u64 {
        match self.now.load(Ordering::Relaxed) {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            now => now,
        }
    }
}

/// The signals' state shared through Redis by every replica, over a local embedded view (see
/// the module documentation and the README's "Redis store").
///
/// ```no_run
/// # fn wire(policy: certgate::Policy) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use certgate::signals::{OnError, RedisStore};
/// let store = RedisStore::new("redis://127.0.0.1:6379", OnError::Open)?;
/// let gate = certgate::Gate::builder(policy).signal_store(Arc::new(store)).build()?;
/// # let _ = gate; Ok(()) }
/// ```
pub struct RedisStore {
    shared: Arc<Shared>,
    queue: SyncSender<Update>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("on_error", &self.shared.on_error)
            .field("connected", &self.connected())
            .field("subscribed", &self.subscribed())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on Redis at `url` (`redis://host:port[/db]`) with a local view of the default
    /// size; starts its two background threads and returns at once (it connects, and
    /// reconnects, in the background).
    ///
    /// # Errors
    ///
    /// The URL does not parse, or a thread cannot be started.
    pub fn new(url: &str, on_error: OnError) -> Result<Self, String> {
        Self::with_local(url, on_error, EmbeddedStore::default())
    }

    /// [`RedisStore::new`] over a local view of the given size.
    ///
    /// # Errors
    ///
    /// The URL does not parse, or a thread cannot be started.
    pub fn with_local(url: &str, on_error: OnError, local: EmbeddedStore) -> Result<Self, String> {
        let client = open(url)?;
        let shared = Arc::new(Shared {
            local,
            client,
            on_error,
            up: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            resync: AtomicBool::new(true),
            deny: RwLock::new(HashMap::new()),
            deny_len: AtomicUsize::new(0),
            deny_changes: std::sync::Mutex::new(None),
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            now: AtomicU64::new(0),
        });
        let (queue, updates) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("certgate-redis-writer".into())
            .spawn(move || write_loop(&writer, &updates))
            .map_err(|e| format!("cannot start the Redis writer thread: {e}"))?;
        let subscriber = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("certgate-redis-subscriber".into())
            .spawn(move || subscribe_loop(&subscriber))
            .map_err(|e| format!("cannot start the Redis subscriber thread: {e}"))?;
        Ok(Self { shared, queue })
    }

    /// Whether the last exchange with Redis succeeded.
    pub fn connected(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Whether the subscriber holds its subscription to the channels (the other replicas'
    /// quarantines, flags and denylist changes reach this one within the second only then;
    /// otherwise through the resyncs). A readiness check waits for both this and
    /// [`connected`](Self::connected).
    pub fn subscribed(&self) -> bool {
        self.shared.subscribed.load(Ordering::Acquire)
    }

    /// Updates dropped because the queue was full or Redis unreachable.
    pub fn dropped_updates(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Updates sent to Redis.
    pub fn sent_updates(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Denylist entries held locally.
    pub fn denylist_len(&self) -> usize {
        self.shared.deny_len.load(Ordering::Acquire)
    }

    fn send(&self, update: Update) {
        match self.queue.try_send(update) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn closed_and_down(&self) -> bool {
        self.shared.on_error == OnError::Closed && !self.shared.up.load(Ordering::Acquire)
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

impl SignalStore for RedisStore {
    fn quarantined(&self, addr: IpAddr, now: u64) -> Option<u64> {
        self.shared.saw(now);
        match self.shared.local.quarantined(addr, now) {
            Some(left) => Some(left),
            None if self.closed_and_down() => Some(1),
            None => None,
        }
    }

    fn add_failure(&self, addr: IpAddr, weight: u32, now: u64, rule: &QuarantineConfig) -> Score {
        self.shared.saw(now);
        let score = self.shared.local.add_failure(addr, weight, now, rule);
        self.send(Update::Failure {
            addr,
            weight,
            now,
            threshold: rule.threshold,
            window: rule.window_seconds,
            duration: rule.duration_seconds,
        });
        if let Some(duration) = score.quarantined_for {
            self.send(Update::Quarantine {
                addr,
                until: now.saturating_add(duration),
                now,
            });
        }
        score
    }

    fn observe_leaf(
        &self,
        leaf: &[u8; 32],
        network: IpAddr,
        opened: bool,
        now: u64,
        rule: &CloningConfig,
    ) -> LeafUse {
        self.shared.saw(now);
        let used = self
            .shared
            .local
            .observe_leaf(leaf, network, opened, now, rule);
        self.send(Update::Leaf {
            leaf: *leaf,
            network,
            now,
            window: rule.window_seconds,
            max_addresses: rule.max_addresses,
            quarantine: rule.quarantine_seconds,
        });
        if used.flagged_now {
            if let Some(left) = used.flagged_for {
                self.send(Update::Flag {
                    leaf: *leaf,
                    until: now.saturating_add(left),
                    now,
                });
            }
        }
        used
    }

    fn connection_closed(&self, leaf: &[u8; 32]) {
        self.shared.local.connection_closed(leaf);
    }

    fn leaf_flagged(&self, leaf: &[u8; 32], now: u64) -> Option<LeafUse> {
        self.shared.saw(now);
        self.shared.local.leaf_flagged(leaf, now)
    }

    fn stats(&self) -> StoreStats {
        self.shared.local.stats()
    }

    /// Per replica: the local view's counters (see [`RateConfig`](super::RateConfig)).
    fn count_request(
        &self,
        key: RateKey<'_>,
        now: u64,
        window: u64,
        limit: u32,
    ) -> Option<RateOver> {
        self.shared.saw(now);
        self.shared.local.count_request(key, now, window, limit)
    }

    fn denylisted(&self, leaf: &[u8; 32], now: u64) -> bool {
        if self.shared.deny_len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let deny = self
            .shared
            .deny
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        deny.get(leaf).is_some_and(|until| *until > now)
    }
}

pub(crate) fn open(url: &str) -> Result<redis::Client, String> {
    if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
        return Err(format!(
            "{:?} is not a redis:// URL",
            crate::rejection::bounded_to(url, 128)
        ));
    }
    redis::Client::open(url).map_err(|e| {
        format!(
            "{:?} is not a Redis URL: {e}",
            crate::rejection::bounded_to(url, 128)
        )
    })
}

/// Whether `url` is a Redis URL the store can use (parsed only, nothing is contacted).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    open(url).map(drop)
}

/// A connection with the store's bounded timeouts (connect 250 ms, read and write 500 ms).
pub(crate) fn connect(client: &redis::Client) -> Option<redis::Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT).ok()?;
    conn.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    conn.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    Some(conn)
}

fn write_loop(shared: &Shared, updates: &Receiver<Update>) {
    let mut conn: Option<redis::Connection> = None;
    let mut last_resync: Option<Instant> = None;
    let mut last_deny: Option<Instant> = None;
    let mut last_attempt: Option<Instant> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while !shared.stop.load(Ordering::Acquire) {
        match updates.recv_timeout(Duration::from_millis(100)) {
            Ok(update) => batch.push(update),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while batch.len() < BATCH {
            match updates.try_recv() {
                Ok(update) => batch.push(update),
                Err(_) => break,
            }
        }
        if conn.is_none() && last_attempt.is_none_or(|t| t.elapsed() >= CONNECT_TIMEOUT) {
            last_attempt = Some(Instant::now());
            conn = connect(&shared.client);
            if conn.is_some() {
                shared.resync.store(true, Ordering::Release);
            }
        }
        let Some(c) = conn.as_mut() else {
            shared.up.store(false, Ordering::Release);
            let lost = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            shared.dropped.fetch_add(lost, Ordering::Relaxed);
            batch.clear();
            continue;
        };
        let mut ok = true;
        if !batch.is_empty() {
            ok = flush(shared, c, &batch).is_ok();
            if ok {
                let sent = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                shared.sent.fetch_add(sent, Ordering::Relaxed);
            } else {
                let lost = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                shared.dropped.fetch_add(lost, Ordering::Relaxed);
            }
            batch.clear();
        }
        let full = shared.resync.swap(false, Ordering::AcqRel);
        if ok && (full || last_resync.is_none_or(|t| t.elapsed() >= RESYNC_EVERY)) {
            last_resync = Some(Instant::now());
            ok = resync(shared, c).is_ok();
            if ok && (full || last_deny.is_none_or(|t| t.elapsed() >= DENY_RESYNC_EVERY)) {
                last_deny = Some(Instant::now());
                ok = resync_deny(shared, c).is_ok();
            }
            if !ok && full {
                shared.resync.store(true, Ordering::Release);
            }
        }
        shared.up.store(ok, Ordering::Release);
        if !ok {
            conn = None;
        }
    }
}

fn int(value: Option<Value>) -> i64 {
    value
        .and_then(|v| redis::from_redis_value::<Option<i64>>(v).ok().flatten())
        .unwrap_or(0)
}

/// Sends one batch; quarantines and flags the fleet's counts call for follow in a second
/// pipeline.
fn flush(
    shared: &Shared,
    conn: &mut redis::Connection,
    batch: &[Update],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut publish = redis::pipe();
    for update in batch {
        match update {
            Update::Failure {
                addr,
                weight,
                now,
                window,
                ..
            } => {
                let n = now / (*window).max(1);
                let key = format!("certgate:score:{addr}:{n}");
                pipe.cmd("INCRBY").arg(&key).arg(*weight);
                pipe.cmd("EXPIRE")
                    .arg(&key)
                    .arg(window.saturating_mul(2))
                    .ignore();
                pipe.cmd("GET")
                    .arg(format!("certgate:score:{addr}:{}", n.saturating_sub(1)));
            }
            Update::Quarantine { addr, until, now } => {
                quarantine(&mut publish, *addr, *until, *now);
            }
            Update::Leaf {
                leaf,
                network,
                now,
                window,
                ..
            } => {
                let key = format!("certgate:leaf:{}", crate::hex(leaf));
                pipe.cmd("ZADD")
                    .arg(&key)
                    .arg(*now)
                    .arg(network.to_string())
                    .ignore();
                pipe.cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(format!("({}", now.saturating_sub(*window)))
                    .ignore();
                pipe.cmd("ZREMRANGEBYRANK")
                    .arg(&key)
                    .arg(0)
                    .arg(-LEAF_KEEP - 1)
                    .ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(*window).ignore();
                pipe.cmd("ZCARD").arg(&key);
            }
            Update::Flag { leaf, until, now } => flag(&mut publish, leaf, *until, *now),
        }
    }
    // A batch of quarantines and flags alone (the writer woke between a failure and the
    // quarantine it started) leaves this pipeline empty: querying an empty pipeline fails,
    // which dropped the quarantine and never published it.
    let values: Vec<Value> = if pipe.is_empty() {
        Vec::new()
    } else {
        pipe.query(conn)?
    };
    let mut values = values.into_iter();
    for update in batch {
        match update {
            Update::Failure {
                addr,
                now,
                threshold,
                duration,
                ..
            } => {
                let score = int(values.next()).saturating_add(int(values.next()));
                if score >= i64::from(*threshold) && shared.local.quarantined(*addr, *now).is_none()
                {
                    let until = now.saturating_add(*duration);
                    shared.local.set_quarantine(*addr, until);
                    quarantine(&mut publish, *addr, until, *now);
                }
            }
            Update::Leaf {
                leaf,
                now,
                max_addresses,
                quarantine,
                ..
            } => {
                let addresses = int(values.next());
                if addresses > i64::from(*max_addresses)
                    && shared.local.leaf_flagged(leaf, *now).is_none()
                {
                    let until = now.saturating_add(*quarantine);
                    shared.local.set_flag(leaf, until);
                    flag(&mut publish, leaf, until, *now);
                }
            }
            Update::Quarantine { .. } | Update::Flag { .. } => {}
        }
    }
    if !publish.is_empty() {
        publish.query::<()>(conn)?;
    }
    Ok(())
}

fn quarantine(pipe: &mut redis::Pipeline, addr: IpAddr, until: u64, now: u64) {
    let member = addr.to_string();
    add_live(pipe, QUARANTINE_KEY, &member, until, now);
    pipe.cmd("PUBLISH")
        .arg(SIGNALS_CHANNEL)
        .arg(format!("q {member} {until}"))
        .ignore();
}

fn flag(pipe: &mut redis::Pipeline, leaf: &[u8; 32], until: u64, now: u64) {
    let member = crate::hex(leaf);
    add_live(pipe, FLAGGED_KEY, &member, until, now);
    pipe.cmd("PUBLISH")
        .arg(SIGNALS_CHANNEL)
        .arg(format!("c {member} {until}"))
        .ignore();
}

/// Adds `member` until `until` to the sorted set `key`, and prunes the set: entries over at
/// `now` (the time of the request that caused the write, so the writer's clock), and beyond
/// the `MAX_RESYNC` latest-ending ones. Only writes prune: a reader's clock never deletes
/// what another replica wrote.
fn add_live(pipe: &mut redis::Pipeline, key: &str, member: &str, until: u64, now: u64) {
    pipe.cmd("ZADD")
        .arg(key)
        .arg("GT")
        .arg(until)
        .arg(member)
        .ignore();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(key)
        .arg("-inf")
        .arg(now)
        .ignore();
    pipe.cmd("ZREMRANGEBYRANK")
        .arg(key)
        .arg(0)
        .arg(-(i64::try_from(MAX_RESYNC).unwrap_or(i64::MAX)) - 1)
        .ignore();
}

/// Members of a sorted set whose score is after now, with their scores, at most `limit`.
/// Read only: expired members are pruned by writers (`add_live`, `deny`), never by a
/// reader, whose clock may differ from the writer's.
fn live_members(
    conn: &mut redis::Connection,
    key: &str,
    now: u64,
    limit: usize,
) -> redis::RedisResult<Vec<(String, u64)>> {
    let mut pipe = redis::pipe();
    pipe.cmd("ZRANGE")
        .arg(key)
        .arg(format!("({now}"))
        .arg("+inf")
        .arg("BYSCORE")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .arg("WITHSCORES");
    let values: Vec<Value> = pipe.query(conn)?;
    let Some(Value::Array(items)) = values.into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len().min(limit) / 2);
    let mut items = items.into_iter();
    while let (Some(member), Some(score)) = (items.next(), items.next()) {
        if out.len() >= limit {
            break;
        }
        let member = redis::from_redis_value::<String>(member).ok();
        let score = redis::from_redis_value::<f64>(score).ok().and_then(seconds);
        if let (Some(member), Some(score)) = (member, score) {
            out.push((member, score));
        }
    }
    Ok(out)
}

/// A sorted-set score as whole Unix seconds (anything else: none).
fn seconds(score: f64) -> Option<u64> {
    if !score.is_finite() || score < 0.0 {
        return None;
    }
    format!("{score:.0}").parse().ok()
}

fn resync(shared: &Shared, conn: &mut redis::Connection) -> redis::RedisResult<()> {
    let now = shared.clock();
    let limit = now.saturating_add(MAX_SECONDS);
    for (member, until) in live_members(conn, QUARANTINE_KEY, now, MAX_RESYNC)? {
        if let Ok(addr) = member.parse::<IpAddr>() {
            shared.local.set_quarantine(addr, until.min(limit));
        }
    }
    for (member, until) in live_members(conn, FLAGGED_KEY, now, MAX_RESYNC)? {
        if let Some(leaf) = parse_hex32(&member) {
            shared.local.set_flag(&leaf, until.min(limit));
        }
    }
    Ok(())
}

/// One denylist message: an entry until a time, or a removal.
type DenyChange = ([u8; 32], Option<u64>);
/// Denylist messages remembered during one resync, at most (more: its result is dropped).
const MAX_DENY_CHANGES: usize = 65_536;

fn deny_changes(shared: &Shared) -> std::sync::MutexGuard<'_, Option<Vec<DenyChange>>> {
    shared
        .deny_changes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Denylist entries asked for per `ZSCAN` of the resync.
const DENY_PAGE: usize = 10_000;
/// Most `ZSCAN` rounds of one resync (a set of `MAX_DENYLIST` takes about a hundred).
const DENY_ROUNDS: usize = 4 * MAX_DENYLIST / DENY_PAGE + 16;

/// Reads the whole denylist by pages (`ZSCAN`), never in one command: one `ZRANGE` of a few
/// hundred thousand entries blocks Redis past the 500 ms read timeout, so the resync failed
/// every time, took the store down (with `on_error = "closed"`: every client refused) and
/// stalled Redis for every replica. An incomplete scan (a malformed reply, too many rounds)
/// keeps the last known denylist.
fn resync_deny(shared: &Shared, conn: &mut redis::Connection) -> redis::RedisResult<()> {
    *deny_changes(shared) = Some(Vec::new());
    let mut fresh = match scan_deny(shared, conn) {
        Ok(Some(fresh)) => fresh,
        other => {
            *deny_changes(shared) = None;
            return other.map(drop);
        }
    };
    let mut deny = shared
        .deny
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Taken under the denylist's lock, which `apply` records under: no message falls between.
    let Some(changes) = deny_changes(shared).take() else {
        // Too many messages to replay: keep the list they kept up to date.
        return Ok(());
    };
    for (leaf, until) in changes {
        match until {
            Some(until) if fresh.len() < MAX_DENYLIST || fresh.contains_key(&leaf) => {
                fresh.insert(leaf, until);
            }
            Some(_) => {}
            None => {
                fresh.remove(&leaf);
            }
        }
    }
    *deny = fresh;
    shared.deny_len.store(deny.len(), Ordering::Release);
    Ok(())
}

/// The whole denylist, or `None` when the scan was incomplete.
fn scan_deny(
    shared: &Shared,
    conn: &mut redis::Connection,
) -> redis::RedisResult<Option<HashMap<[u8; 32], u64>>> {
    let now = shared.clock();
    let limit = now.saturating_add(MAX_DENY_SECONDS);
    let mut fresh = HashMap::new();
    let mut cursor = 0u64;
    let mut complete = false;
    for _ in 0..DENY_ROUNDS {
        let reply: Value = redis::cmd("ZSCAN")
            .arg(DENY_KEY)
            .arg(cursor)
            .arg("COUNT")
            .arg(DENY_PAGE)
            .query(conn)?;
        let Value::Array(parts) = reply else {
            break;
        };
        let mut parts = parts.into_iter();
        let (Some(next), Some(Value::Array(items))) = (parts.next(), parts.next()) else {
            break;
        };
        let Ok(next) = redis::from_redis_value::<u64>(next) else {
            break;
        };
        let mut items = items.into_iter();
        while let (Some(member), Some(score)) = (items.next(), items.next()) {
            if fresh.len() >= MAX_DENYLIST {
                break;
            }
            let member = redis::from_redis_value::<String>(member).ok();
            let until = redis::from_redis_value::<f64>(score).ok().and_then(seconds);
            if let (Some(leaf), Some(until)) = (member.as_deref().and_then(parse_hex32), until) {
                if until > now {
                    fresh.insert(leaf, until.min(limit));
                }
            }
        }
        if next == 0 || fresh.len() >= MAX_DENYLIST {
            complete = true;
            break;
        }
        cursor = next;
    }
    Ok(complete.then_some(fresh))
}

fn subscribe_loop(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        let Some(mut conn) = connect(&shared.client) else {
            std::thread::sleep(CONNECT_TIMEOUT);
            continue;
        };
        let mut pubsub = conn.as_pubsub();
        if pubsub.subscribe(&[SIGNALS_CHANNEL, DENY_CHANNEL]).is_err()
            || pubsub
                .set_read_timeout(Some(Duration::from_millis(200)))
                .is_err()
        {
            std::thread::sleep(CONNECT_TIMEOUT);
            continue;
        }
        // Whatever was missed while unsubscribed.
        shared.resync.store(true, Ordering::Release);
        shared.subscribed.store(true, Ordering::Release);
        while !shared.stop.load(Ordering::Acquire) {
            match pubsub.get_message() {
                Ok(msg) => apply(shared, msg.get_channel_name(), msg.get_payload_bytes()),
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
        shared.subscribed.store(false, Ordering::Release);
    }
}

/// Applies one message (untrusted: anything malformed or over-long is ignored).
fn apply(shared: &Shared, channel: &str, payload: &[u8]) {
    if payload.len() > 256 {
        return;
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let now = shared.clock();
    let mut words = text.split(' ');
    match (channel, words.next(), words.next(), words.next()) {
        (SIGNALS_CHANNEL, Some("q"), Some(addr), Some(until)) => {
            if let (Ok(addr), Ok(until)) = (addr.parse::<IpAddr>(), until.parse::<u64>()) {
                shared
                    .local
                    .set_quarantine(addr, until.min(now.saturating_add(MAX_SECONDS)));
            }
        }
        (SIGNALS_CHANNEL, Some("c"), Some(leaf), Some(until)) => {
            if let (Some(leaf), Ok(until)) = (parse_hex32(leaf), until.parse::<u64>()) {
                shared
                    .local
                    .set_flag(&leaf, until.min(now.saturating_add(MAX_SECONDS)));
            }
        }
        (DENY_CHANNEL, Some(entry), until, None) => {
            let mut deny = shared
                .deny
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut change = None;
            if let Some(hex) = entry.strip_prefix('+') {
                let until = until.and_then(|u| u.parse::<u64>().ok());
                if let (Some(leaf), Some(until)) = (parse_hex32(hex), until) {
                    let until = until.min(now.saturating_add(MAX_DENY_SECONDS));
                    if deny.len() >= MAX_DENYLIST && !deny.contains_key(&leaf) {
                        // Full: the newest entry is the most urgent; the one ending first
                        // (or already over) makes room, unless it outlasts the new one.
                        // A scan of the full table, only when it is full.
                        let first = deny.iter().min_by_key(|(_, u)| **u).map(|(l, u)| (*l, *u));
                        if let Some((old, old_until)) = first {
                            if old_until <= now || old_until < until {
                                deny.remove(&old);
                            }
                        }
                    }
                    if deny.len() < MAX_DENYLIST || deny.contains_key(&leaf) {
                        deny.insert(leaf, until);
                    }
                    change = Some((leaf, Some(until)));
                }
            } else if let Some(hex) = entry.strip_prefix('-') {
                if let Some(leaf) = parse_hex32(hex) {
                    deny.remove(&leaf);
                    change = Some((leaf, None));
                }
            }
            shared.deny_len.store(deny.len(), Ordering::Release);
            // Recorded under the denylist's lock, for a resync running now.
            if let Some(change) = change {
                let mut changes = deny_changes(shared);
                let overflow = changes
                    .as_ref()
                    .is_some_and(|c| c.len() >= MAX_DENY_CHANGES);
                if overflow {
                    *changes = None;
                } else if let Some(changes) = changes.as_mut() {
                    changes.push(change);
                }
            }
        }
        _ => {}
    }
}

/// 64 hex digits → 32 bytes.
pub(crate) fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Puts the leaf with SHA-256 `leaf` on the fleet's denylist at `url` for `ttl_seconds`
/// (from `now`), and tells every replica (`PUBLISH certgate:deny`). `certgate deny` calls it.
///
/// # Errors
///
/// A bad URL or TTL, or Redis unreachable or refusing (the message says which).
pub fn deny(url: &str, leaf: &[u8; 32], ttl_seconds: u64, now: u64) -> Result<u64, String> {
    if ttl_seconds == 0 || ttl_seconds > MAX_DENY_SECONDS {
        return Err(format!("the TTL must be 1 to {MAX_DENY_SECONDS} seconds"));
    }
    let until = now.saturating_add(ttl_seconds);
    let hex = crate::hex(leaf);
    let mut pipe = redis::pipe();
    pipe.cmd("ZADD").arg(DENY_KEY).arg(until).arg(&hex).ignore();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(DENY_KEY)
        .arg("-inf")
        .arg(now)
        .ignore();
    pipe.cmd("PUBLISH")
        .arg(DENY_CHANNEL)
        .arg(format!("+{hex} {until}"))
        .ignore();
    run(url, &pipe)?;
    Ok(until)
}

/// Takes the leaf off the fleet's denylist at `url`, and tells every replica.
///
/// # Errors
///
/// A bad URL, or Redis unreachable or refusing.
pub fn undeny(url: &str, leaf: &[u8; 32]) -> Result<(), String> {
    let hex = crate::hex(leaf);
    let mut pipe = redis::pipe();
    pipe.cmd("ZREM").arg(DENY_KEY).arg(&hex).ignore();
    pipe.cmd("PUBLISH")
        .arg(DENY_CHANNEL)
        .arg(format!("-{hex}"))
        .ignore();
    run(url, &pipe)
}

fn run(url: &str, pipe: &redis::Pipeline) -> Result<(), String> {
    let client = open(url)?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| format!("cannot reach Redis: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .and_then(|()| conn.set_write_timeout(Some(Duration::from_secs(2))))
        .map_err(|e| format!("cannot reach Redis: {e}"))?;
    pipe.query::<()>(&mut conn)
        .map_err(|e| format!("Redis refused: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            local: EmbeddedStore::new(8, 8),
            client: open("redis://127.0.0.1:1").unwrap(),
            on_error: OnError::Open,
            up: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            deny: RwLock::new(HashMap::new()),
            deny_len: AtomicUsize::new(0),
            deny_changes: std::sync::Mutex::new(None),
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            now: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_full_denylist_takes_the_newest_entry() {
        let shared = shared();
        let now = shared.clock();
        {
            let mut deny = shared.deny.write().unwrap();
            for i in 0..u64::try_from(MAX_DENYLIST).unwrap() {
                let mut leaf = [0u8; 32];
                leaf[..8].copy_from_slice(&i.to_be_bytes());
                let ends = if i == 0 {
                    now + 50
                } else {
                    now + 100 + i % 1000
                };
                deny.insert(leaf, ends);
            }
            shared.deny_len.store(deny.len(), Ordering::Release);
        }
        let newest = [0xab; 32];
        let message = format!("+{} {}", "ab".repeat(32), now + 86_400);
        apply(&shared, DENY_CHANNEL, message.as_bytes());
        let deny = shared.deny.read().unwrap();
        assert_eq!(deny.len(), MAX_DENYLIST);
        assert_eq!(deny.get(&newest), Some(&(now + 86_400)));
        // The entry ending first made room.
        assert!(!deny.contains_key(&[0u8; 32]));
    }

    #[test]
    fn hostile_messages_are_ignored() {
        let shared = shared();
        for (channel, payload) in [
            (SIGNALS_CHANNEL, &b"q not-an-ip 99999999999"[..]),
            (SIGNALS_CHANNEL, b"c zz 1"),
            (SIGNALS_CHANNEL, b"q 10.0.0.1 18446744073709551615"),
            (DENY_CHANNEL, b"+00 1"),
            (DENY_CHANNEL, b"\xff\xfe"),
            (DENY_CHANNEL, &[b'+'; 10_000]),
            ("other", b"q 10.0.0.2 99999999999"),
        ] {
            apply(&shared, channel, payload);
        }
        assert_eq!(shared.deny_len.load(Ordering::Acquire), 0);
        let now = shared.clock();
        // The absurd end was clamped to a week.
        let left = shared.local.quarantined("10.0.0.1".parse().unwrap(), now);
        assert!(left.is_some_and(|l| l <= MAX_SECONDS));
        assert_eq!(
            shared.local.quarantined("10.0.0.2".parse().unwrap(), now),
            None
        );
        let hex = "ab".repeat(32);
        apply(
            &shared,
            DENY_CHANNEL,
            format!("+{hex} {}", now + 60).as_bytes(),
        );
        assert_eq!(shared.deny_len.load(Ordering::Acquire), 1);
        apply(&shared, DENY_CHANNEL, format!("-{hex}").as_bytes());
        assert_eq!(shared.deny_len.load(Ordering::Acquire), 0);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(1.7e9), Some(1_700_000_000));
        assert!(open("http://x").is_err());
    }
}
