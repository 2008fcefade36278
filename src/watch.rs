//! Reload on file change: watches the policy file and every file it names, and reloads the
//! [`Gate`] when their contents really change.
//!
//! Parent directories are watched (not the files), so Kubernetes' `..data` symlink swaps,
//! editors' rename-on-save and `certgate crl`'s atomic rename are all seen. Events are
//! debounced, contents re-hashed (SHA-256) and the policy reloaded only when a hash changed.
//! A poll every [`WatchConfig::poll_interval`] catches filesystems that give no events (and is
//! all there is when `notify` cannot start). A failed reload keeps the last good policy.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use certgate::{Gate, Policy};
//! use certgate::watch::{WatchConfig, Watcher};
//!
//! let gate = Gate::new(Policy::load("policy.toml")?);
//! let watcher = Watcher::new(gate.clone(), "policy.toml", WatchConfig::default())?;
//! println!("{:?}", watcher.stats());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::Watcher as _;
use sha2::{Digest, Sha256};

use crate::Gate;

/// A callback for [`WatchEvent`]s.
pub type WatchHook = Arc<dyn Fn(&WatchEvent) + Send + Sync + 'static>;

/// Watcher settings.
#[derive(Clone)]
pub struct WatchConfig {
    /// Quiet time after the last filesystem event before contents are re-hashed (200 ms).
    pub debounce: Duration,
    /// Contents are also re-hashed this often, events or not (10 s).
    pub poll_interval: Duration,
    /// An alarm fires when a CRL's nextUpdate or an anchor's notAfter is closer than this (24 h).
    pub expiry_horizon: Duration,
    /// How often the expiry alarms are re-checked besides after each reload (1 h).
    pub expiry_check_interval: Duration,
    /// `false`: poll only, never start `notify` (true).
    pub use_notify: bool,
    /// Called for every event (they also go to `tracing`).
    pub hook: Option<WatchHook>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(200),
            poll_interval: Duration::from_secs(10),
            expiry_horizon: Duration::from_secs(24 * 3600),
            expiry_check_interval: Duration::from_secs(3600),
            use_notify: true,
            hook: None,
        }
    }
}

impl std::fmt::Debug for WatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchConfig")
            .field("debounce", &self.debounce)
            .field("poll_interval", &self.poll_interval)
            .field("expiry_horizon", &self.expiry_horizon)
            .field("expiry_check_interval", &self.expiry_check_interval)
            .field("use_notify", &self.use_notify)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A changed policy was loaded; the gate is now at `generation`.
    Reloaded {
        /// The gate's generation after the reload.
        generation: u64,
    },
    /// A changed policy failed to load; the last good policy stays.
    ReloadFailed {
        /// The [`PolicyError`](crate::PolicyError), as text.
        error: String,
    },
    /// A CRL's nextUpdate or an anchor's notAfter is within the horizon (or past).
    Expiring {
        /// The policy field naming the file (`revocation.crls[0]`, `trust.anchors[1]`).
        field: String,
        /// The file.
        path: PathBuf,
        /// `crl_next_update` or `anchor_not_after`.
        what: &'static str,
        /// Seconds from the gate's clock to the instant (negative when past).
        seconds_left: i64,
    },
}

/// Reload counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchStats {
    /// Reloads that swapped in a new policy.
    pub reloads_ok: u64,
    /// Reloads that failed (the last good policy stayed).
    pub reloads_failed: u64,
    /// `true` when `notify` is not running and only polling finds changes.
    pub polling_only: bool,
}

#[derive(Default)]
struct Shared {
    ok: AtomicU64,
    failed: AtomicU64,
    polling_only: AtomicBool,
}

enum Msg {
    Fs,
    Stop,
}

/// Watches a policy and the files it names; reloads its [`Gate`] on real changes. Stops when
/// dropped.
pub struct Watcher {
    shared: Arc<Shared>,
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Gate {
    /// Watches `policy_path` with the default [`WatchConfig`]: see [`Watcher::new`].
    ///
    /// # Errors
    ///
    /// When the watcher thread cannot be spawned.
    pub fn watch(&self, policy_path: impl AsRef<Path>) -> std::io::Result<Watcher> {
        Watcher::new(self.clone(), policy_path, WatchConfig::default())
    }
}

impl Watcher {
    /// Starts watching `policy_path` (the file `gate`'s policy was loaded from) on a thread of
    /// its own. When `notify` cannot start, the watcher polls.
    ///
    /// # Errors
    ///
    /// When the watcher thread cannot be spawned.
    pub fn new(
        gate: Gate,
        policy_path: impl AsRef<Path>,
        config: WatchConfig,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = channel();
        let fs_tx = Mutex::new(tx.clone());
        let notifier = if config.use_notify {
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                // Our own reads show up as access events: only changes count.
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                if let Ok(tx) = fs_tx.lock() {
                    let _ = tx.send(Msg::Fs);
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "certgate watch: notify failed, polling"))
            .ok()
        } else {
            None
        };
        shared
            .polling_only
            .store(notifier.is_none(), Ordering::Relaxed);
        let state = Loop {
            gate,
            policy_path: policy_path.as_ref().to_path_buf(),
            config,
            shared: shared.clone(),
            notifier,
            dirs: BTreeSet::new(),
            files: Vec::new(),
            seen: BTreeMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("certgate-watch".into())
            .spawn(move || state.run(&rx))?;
        Ok(Self {
            shared,
            tx,
            thread: Some(thread),
        })
    }

    /// The reload counters.
    pub fn stats(&self) -> WatchStats {
        WatchStats {
            reloads_ok: self.shared.ok.load(Ordering::Relaxed),
            reloads_failed: self.shared.failed.load(Ordering::Relaxed),
            polling_only: self.shared.polling_only.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Files larger than this are hashed as "too large" (the policy load refuses them anyway).
const MAX_HASHED_BYTES: u64 = crate::pem::MAX_CRL_FILE_BYTES;

type Hashes = BTreeMap<PathBuf, Option<[u8; 32]>>;

struct Loop {
    gate: Gate,
    policy_path: PathBuf,
    config: WatchConfig,
    shared: Arc<Shared>,
    notifier: Option<notify::RecommendedWatcher>,
    dirs: BTreeSet<PathBuf>,
    /// The policy file first, then every file it names: `(field, path)`.
    files: Vec<(String, PathBuf)>,
    seen: Hashes,
}

impl Loop {
    fn run(mut self, rx: &Receiver<Msg>) {
        self.resolve();
        self.seen = self.hash_all();
        self.check_expiry();
        let mut last_expiry = Instant::now();
        loop {
            match rx.recv_timeout(self.config.poll_interval) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Fs) => {
                    // Debounce: wait for a quiet period (bounded, so a storm cannot starve us).
                    let start = Instant::now();
                    let cap = self.config.debounce.saturating_mul(10);
                    loop {
                        match rx.recv_timeout(self.config.debounce) {
                            Ok(Msg::Fs) if start.elapsed() < cap => {}
                            Ok(Msg::Fs) | Err(RecvTimeoutError::Timeout) => break,
                            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = self.hash_all();
            if now != self.seen {
                self.reload(now);
            }
            if last_expiry.elapsed() >= self.config.expiry_check_interval {
                self.check_expiry();
                last_expiry = Instant::now();
            }
        }
    }

    fn emit(&self, event: &WatchEvent) {
        if let Some(hook) = &self.config.hook {
            hook(event);
        }
    }

    fn reload(&mut self, hashes: Hashes) {
        match self.gate.reload_from_file(&self.policy_path) {
            Ok(()) => {
                self.shared.ok.fetch_add(1, Ordering::Relaxed);
                let generation = self.gate.generation();
                tracing::info!(generation, path = %self.policy_path.display(), "certgate watch: policy reloaded");
                // The policy may name new files: watch and hash them too.
                self.resolve();
                self.seen = self.hash_all();
                self.emit(&WatchEvent::Reloaded { generation });
                self.check_expiry();
            }
            Err(e) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, path = %self.policy_path.display(), "certgate watch: reload failed, keeping the last good policy");
                // Remember what failed, so the same bytes are not retried on every poll.
                self.seen = hashes;
                self.emit(&WatchEvent::ReloadFailed {
                    error: e.to_string(),
                });
            }
        }
    }

    fn resolve(&mut self) {
        let policy = self.gate.policy();
        let mut files = vec![(String::new(), self.policy_path.clone())];
        files.extend(policy.files().iter().cloned());
        self.files = files;
        let dirs: BTreeSet<PathBuf> = self
            .files
            .iter()
            .map(|(_, p)| match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        if let Some(notifier) = &mut self.notifier {
            for gone in self.dirs.difference(&dirs) {
                let _ = notifier.unwatch(gone);
            }
            for new in dirs.difference(&self.dirs) {
                if let Err(e) = notifier.watch(new, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!(error = %e, dir = %new.display(), "certgate watch: cannot watch, polling");
                    self.shared.polling_only.store(true, Ordering::Relaxed);
                }
            }
        }
        self.dirs = dirs;
    }

    fn hash_all(&self) -> Hashes {
        self.files
            .iter()
            .map(|(_, p)| {
                let hash = crate::pem::read_bounded(p, MAX_HASHED_BYTES)
                    .ok()
                    .map(|bytes| Sha256::digest(&bytes).into());
                (p.clone(), hash)
            })
            .collect()
    }

    fn check_expiry(&self) {
        let now = i64::try_from(self.gate.now().as_secs()).unwrap_or(i64::MAX);
        let horizon = i64::try_from(self.config.expiry_horizon.as_secs()).unwrap_or(i64::MAX);
        for (field, path) in &self.files {
            let instants: Vec<(&'static str, i64)> = if field.starts_with("trust.anchors") {
                crate::pem::read_certificates(path)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| x509_parser::parse_x509_certificate(c).ok())
                    .map(|(_, c)| ("anchor_not_after", c.validity().not_after.timestamp()))
                    .collect()
            } else if field.starts_with("revocation.crls") {
                crate::pem::read_crls(path)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| x509_parser::parse_x509_crl(c).ok())
                    .filter_map(|(_, c)| c.next_update().map(|t| t.timestamp()))
                    .map(|t| ("crl_next_update", t))
                    .collect()
            } else {
                Vec::new()
            };
            for (what, at) in instants {
                let seconds_left = at.saturating_sub(now);
                if seconds_left < horizon {
                    tracing::warn!(field = %field, path = %path.display(), what, seconds_left, "certgate watch: expiring within the horizon");
                    self.emit(&WatchEvent::Expiring {
                        field: field.clone(),
                        path: path.clone(),
                        what,
                        seconds_left,
                    });
                }
            }
        }
    }
}
