//! The verdict log (feature `audit`): an append-only, hash-chained JSON-lines file with one
//! record per verdict the gate computes or refuses, written by a background thread; and its
//! readers, [`verify`] (is every record there, unchanged, in order?) and [`replay`] (does
//! every recorded decision come out the same from the recorded chain, policy snapshot and
//! time?).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use certgate::audit::{AuditConfig, AuditLog};
//! use certgate::{Gate, Policy};
//!
//! let log = AuditLog::open("verdicts.log", AuditConfig::default())?;
//! let gate = Gate::builder(Policy::load("policy.toml")?).audit_log(&log).build()?;
//! # let _ = gate;
//! let report = certgate::audit::verify(&certgate::audit::log_files("verdicts.log")?, false)?;
//! assert!(report.intact);
//! # Ok(()) }
//! ```
//!
//! Every line is one JSON object starting with `seq` (0, 1, 2, … across files and restarts),
//! `prev` (hex SHA-256 of the previous line's bytes, without its newline; 64 zeros for the
//! first) and `kind`:
//!
//! - `start`: the writer opened the log (`reason` `open`) or rotated to a new file (`rotate`);
//! - `policy`: a policy snapshot, once per policy digest (and file): the policy text, every
//!   file it named (base64), the modes of every code, the CRL numbers;
//! - `chain`: a presented chain, once per chain digest (and file): the certificates, base64 DER;
//! - `verdict`: time, action, code and all codes, warnings, app id, leaf fingerprint, chain
//!   digest, peer address, cached, policy generation, policy digest, CRL numbers;
//! - `gap`: `dropped` verdict records were lost before this point (queue full on a stalled
//!   disk, or a failed write).
//!
//! What is recorded: every verdict [`Gate::check`](crate::Gate::check) computes or finds in
//! its cache (the verdicts that also go to the [`EventSink`](crate::EventSink)), every request
//! refused before a chain could be read, and every refused request on a connection whose
//! verdict is memoized. A memoized accept (the same connection, chain and policy generation as
//! a recorded one) is not recorded again. [`AuditFilter::Refusals`] records refusals only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::events::Action;
use crate::gate::{AuditedVerdict, GateBuilder, VerdictRecorder};

mod read;
mod record;
mod writer;

pub use self::read::{
    Difference, Gap, Problem, ProblemKind, ReadError, ReplayReport, VerifyReport, log_files,
    replay, replay_bytes, verify, verify_bytes,
};

/// When the writer forces records to disk (`fsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// Never: the OS writes back when it likes (fastest; a power cut loses the last seconds).
    Never,
    /// After every record (slowest: one disk sync per verdict).
    EveryRecord,
    /// At most this long after a record was written (the default: one second).
    Interval(Duration),
}

/// Which verdicts are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditFilter {
    /// Every verdict: accepts, observed rejections and refusals (the default).
    #[default]
    All,
    /// Refusals only (action `refuse`).
    Refusals,
}

/// Audit log settings.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Verdicts waiting for the writer; when full, new ones are dropped and counted (65,536).
    pub queue_capacity: usize,
    /// Bytes the waiting verdicts may hold, their chains' DER included (64 MiB): past it, new
    /// ones are dropped and counted like a full queue. With `queue_capacity`, this bounds the
    /// queue's memory while the disk stalls, whatever the clients send (a refused chain can
    /// be tens of KiB: 65,536 of them would be gigabytes).
    pub queue_max_bytes: usize,
    /// Rotate once the current file reaches this many bytes (64 MiB; 0: never). The full file
    /// `LOG` is renamed `LOG.N` (N = 1, 2, … in order of rotation) and a new `LOG` continues
    /// the hash chain.
    pub rotate_bytes: u64,
    /// When records are forced to disk.
    pub fsync: Fsync,
    /// Which verdicts are recorded.
    pub record: AuditFilter,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            queue_max_bytes: 64 << 20,
            rotate_bytes: 64 << 20,
            fsync: Fsync::Interval(Duration::from_secs(1)),
            record: AuditFilter::All,
        }
    }
}

/// Counters of an [`AuditLog`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditStats {
    /// Verdict records written.
    pub recorded: u64,
    /// Verdict records dropped (queue full, or a failed write); also the metric
    /// `certgate_audit_dropped_total`.
    pub dropped: u64,
    /// `gap` records written (each covers a run of dropped records).
    pub gaps: u64,
    /// Files rotated.
    pub rotations: u64,
    /// Writes (or syncs) that failed.
    pub write_errors: u64,
    /// Bytes of the verdicts waiting in the queue now, chains included (at most
    /// [`AuditConfig::queue_max_bytes`]).
    pub queued_bytes: u64,
}

#[derive(Default)]
pub(crate) struct Shared {
    /// Bytes of the verdicts in the queue (see [`queued_bytes`]).
    queued: std::sync::atomic::AtomicUsize,
    recorded: AtomicU64,
    dropped: AtomicU64,
    gaps: AtomicU64,
    rotations: AtomicU64,
    write_errors: AtomicU64,
}

impl Shared {
    /// The writer took `v` off the queue.
    pub(crate) fn dequeued(&self, v: &AuditedVerdict) {
        self.queued.fetch_sub(queued_bytes(v), Ordering::AcqRel);
    }

    fn drop_records(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::AcqRel);
        #[cfg(feature = "metrics")]
        ::metrics::counter!(crate::metrics::AUDIT_DROPPED_TOTAL).increment(n);
    }
}

pub(crate) enum Msg {
    Verdict(AuditedVerdict),
    Flush(std::sync::mpsc::Sender<()>),
    Shutdown,
}

/// What a queued verdict holds: the message and its chain's DER (counted even when the chain
/// is shared with a live connection: an upper bound).
pub(crate) fn queued_bytes(v: &AuditedVerdict) -> usize {
    let chain = v
        .chain
        .as_ref()
        .map_or(0, |c| c.certs().iter().map(|der| der.len()).sum::<usize>());
    std::mem::size_of::<Msg>().saturating_add(chain)
}

/// The sending side the gate holds.
struct Recorder {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    filter: AuditFilter,
    max_bytes: usize,
}

impl VerdictRecorder for Recorder {
    fn wants(&self, action: Action) -> bool {
        match self.filter {
            AuditFilter::All => true,
            AuditFilter::Refusals => action == Action::Refuse,
        }
    }

    fn record(&self, verdict: AuditedVerdict) {
        let bytes = queued_bytes(&verdict);
        let before = self.shared.queued.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.max_bytes {
            self.shared.queued.fetch_sub(bytes, Ordering::AcqRel);
            self.shared.drop_records(1);
            return;
        }
        match self.tx.try_send(Msg::Verdict(verdict)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(bytes, Ordering::AcqRel);
                self.shared.drop_records(1);
            }
        }
    }
}

/// The verdict log: a background writer thread fed through a bounded queue. Give it to gates
/// with [`GateBuilder::audit_log`]. Dropping it writes what is queued and stops the thread;
/// on a stalled disk it waits at most 10 seconds, then leaves the thread behind.
pub struct AuditLog {
    recorder: Arc<Recorder>,
    thread: Option<JoinHandle<()>>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path` and starts its writer. An existing log is
    /// continued: its hash chain goes on from its last complete record (an incomplete last line,
    /// from a crash mid-write, is cut off first and the `start` record says how many bytes).
    ///
    /// # Errors
    ///
    /// The file cannot be opened or created, or its last record cannot be read.
    pub fn open(path: impl AsRef<Path>, config: AuditConfig) -> std::io::Result<Self> {
        let output = writer::Output::open(path.as_ref(), &config)?;
        Ok(Self::start(output, config))
    }

    /// A log written to `writer` (no rotation, no fsync): for tests, pipes and sockets.
    pub fn to_writer(writer: impl Write + Send + 'static, config: AuditConfig) -> Self {
        Self::start(writer::Output::custom(Box::new(writer)), config)
    }

    fn start(output: writer::Output, config: AuditConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let filter = config.record;
        let max_bytes = config.queue_max_bytes;
        let mut writer = writer::Writer::new(output, config, Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("certgate-audit".into())
            .spawn(move || writer.run(&rx))
            .ok();
        if thread.is_none() {
            tracing::error!(target: "certgate", "audit log: cannot start the writer thread");
        }
        Self {
            recorder: Arc::new(Recorder {
                tx,
                shared,
                filter,
                max_bytes,
            }),
            thread,
        }
    }

    /// The counters.
    pub fn stats(&self) -> AuditStats {
        let s = &self.recorder.shared;
        AuditStats {
            recorded: s.recorded.load(Ordering::Acquire),
            dropped: s.dropped.load(Ordering::Acquire),
            gaps: s.gaps.load(Ordering::Acquire),
            rotations: s.rotations.load(Ordering::Acquire),
            write_errors: s.write_errors.load(Ordering::Acquire),
            queued_bytes: u64::try_from(s.queued.load(Ordering::Acquire)).unwrap_or(u64::MAX),
        }
    }

    /// Waits until every verdict queued before the call is written (and synced, unless
    /// [`Fsync::Never`]), a pending `gap` record included. Blocks while the disk stalls.
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.thread.is_some() && self.recorder.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// How long dropping an [`AuditLog`] waits for its writer (a stalled disk) before leaving the
/// thread behind.
const DROP_WAIT: Duration = Duration::from_secs(10);

impl Drop for AuditLog {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + DROP_WAIT;
        let stalled = || {
            tracing::warn!(
                target: "certgate",
                "audit log: the writer is stalled; not waiting for it (queued records may be lost)"
            );
        };
        loop {
            match self.recorder.tx.try_send(Msg::Shutdown) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(_)) => {
                    if std::time::Instant::now() >= deadline {
                        return stalled();
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        while !thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                return stalled();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = thread.join();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl GateBuilder {
    /// Records every verdict of the gate in `log` (feature `audit`). Several gates may share
    /// one log.
    pub fn audit_log(self, log: &AuditLog) -> Self {
        let recorder: Arc<dyn VerdictRecorder> = log.recorder.clone();
        self.recorder(recorder)
    }
}

/// `LOG.N`: the name rotated file number `n` of `path` gets.
pub(crate) fn rotated_name(path: &Path, n: u64) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
