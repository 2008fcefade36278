//! The writer thread: formats and hashes records, writes them in batches, rotates, syncs.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::record::{self, GENESIS};
use super::{AuditConfig, Fsync, Msg, Shared};
use crate::gate::{AuditSnapshot, AuditedVerdict};

/// The longest line a reader accepts; the writer never embeds a file that would pass it.
pub(crate) const MAX_LINE: usize = 64 << 20;
/// Buffered bytes that trigger a write.
const BATCH_BYTES: usize = 256 << 10;
/// Chain digests remembered as written; past this the set restarts (chains are re-written).
const MAX_KNOWN_CHAINS: usize = 200_000;

pub(crate) enum Output {
    File {
        file: File,
        path: PathBuf,
        /// Bytes in the file (written, not buffered).
        len: u64,
        /// The number the next rotated file gets.
        next_index: u64,
        /// The chain position after the file's last complete record, when continuing a log.
        resume: Option<(u64, [u8; 32])>,
        truncated: u64,
    },
    Custom(Box<dyn Write + Send>),
}

impl Output {
    pub(crate) fn open(path: &Path, _config: &AuditConfig) -> std::io::Result<Self> {
        let next_index = last_rotated(path)?.map_or(1, |n| n.saturating_add(1));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let (mut resume, truncated, len) = tail(&mut file)?;
        if resume.is_none() && next_index > 1 {
            // An empty `LOG` after a rotation: continue from the newest rotated file.
            let last = super::rotated_name(path, next_index.saturating_sub(1));
            let mut rotated = File::open(&last)?;
            resume = tail(&mut rotated)?.0;
        }
        Ok(Self::File {
            file,
            path: path.to_path_buf(),
            len,
            next_index,
            resume,
            truncated,
        })
    }

    pub(crate) fn custom(writer: Box<dyn Write + Send>) -> Self {
        Self::Custom(writer)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::File { file, len, .. } => {
                file.write_all(bytes)?;
                *len = len.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                Ok(())
            }
            Self::Custom(w) => {
                w.write_all(bytes)?;
                w.flush()
            }
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Self::File { file, .. } => file.sync_data(),
            Self::Custom(w) => w.flush(),
        }
    }

    /// After a failed write: cut the file back to `len` bytes (what was there before).
    fn restore(&mut self, good_len: u64) {
        if let Self::File { file, len, .. } = self {
            if file.set_len(good_len).is_ok() {
                *len = good_len;
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            Self::File { len, .. } => *len,
            Self::Custom(_) => 0,
        }
    }
}

/// The highest `N` of an existing `path.N`.
fn last_rotated(path: &Path) -> std::io::Result<Option<u64>> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let prefix = format!("{base}.");
    let mut max = None;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        max = max.max(Some(n));
    }
    Ok(max)
}

/// The chain position after the last complete record of `file` (`None`: no record), cutting
/// an incomplete last line off; and the bytes cut, and the file's length after.
#[allow(clippy::type_complexity)]
fn tail(file: &mut File) -> std::io::Result<(Option<(u64, [u8; 32])>, u64, u64)> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((None, 0, 0));
    }
    // Read at most MAX_LINE + 1 bytes from the end: enough for one whole line and the newline
    // before it.
    let window = u64::try_from(MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(2)
        .min(len);
    let from = len.saturating_sub(window);
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.take(window).read_to_end(&mut bytes)?;
    // Cut an incomplete last line.
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i.saturating_add(1));
    let mut truncated = 0;
    let mut new_len = len;
    if complete < bytes.len() {
        let cut = u64::try_from(bytes.len().saturating_sub(complete)).unwrap_or(0);
        new_len = len.saturating_sub(cut);
        file.set_len(new_len)?;
        truncated = cut;
        bytes.truncate(complete);
    }
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Ok((None, truncated, new_len));
    };
    let start = body
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i.saturating_add(1));
    let line = body.get(start..).unwrap_or_default();
    if start == 0 && from > 0 {
        return Err(invalid(
            "the log's last record is longer than the line limit",
        ));
    }
    let head: super::read::Head = serde_json::from_slice(line)
        .map_err(|e| invalid(&format!("the log's last record does not parse: {e}")))?;
    Ok((
        Some((head.seq, Sha256::digest(line).into())),
        truncated,
        new_len,
    ))
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

pub(crate) struct Writer {
    out: Output,
    config: AuditConfig,
    shared: Arc<Shared>,
    /// Lines formatted but not yet written.
    buf: Vec<u8>,
    /// Verdict records in `buf`.
    buf_verdicts: u64,
    /// The chain position after the last line in `buf` (or written).
    seq: u64,
    prev: [u8; 32],
    /// The position after the last line written: where a failed write falls back to.
    durable: (u64, [u8; 32]),
    /// Chains and policy snapshots already in the current file.
    chains: HashSet<[u8; 32]>,
    policies: HashMap<[u8; 32], usize>,
    /// The snapshot of the last verdict, whose policy record is known to be in the file.
    last_snapshot: Option<Arc<AuditSnapshot>>,
    /// Dropped records already covered by a gap record.
    reported_drops: u64,
    /// Written but not yet synced.
    unsynced: bool,
    last_sync: Instant,
}

impl Writer {
    pub(crate) fn new(mut out: Output, config: AuditConfig, shared: Arc<Shared>) -> Self {
        let (resume, truncated) = match &mut out {
            Output::File {
                resume, truncated, ..
            } => (resume.take(), *truncated),
            Output::Custom(_) => (None, 0),
        };
        let (seq, prev) = match resume {
            Some((seq, hash)) => (seq.saturating_add(1), hash),
            None => (0, GENESIS),
        };
        let mut writer = Self {
            out,
            config,
            shared,
            buf: Vec::with_capacity(BATCH_BYTES.saturating_mul(2)),
            buf_verdicts: 0,
            seq,
            prev,
            durable: (seq, prev),
            chains: HashSet::new(),
            policies: HashMap::new(),
            last_snapshot: None,
            reported_drops: 0,
            unsynced: false,
            last_sync: Instant::now(),
        };
        writer.push(
            record::KIND_START,
            &record::Start {
                version: record::FORMAT_VERSION,
                reason: "open",
                truncated_bytes: truncated,
            },
        );
        writer
    }

    pub(crate) fn run(&mut self, rx: &Receiver<Msg>) {
        let tick = match self.config.fsync {
            Fsync::Interval(d) => d.clamp(Duration::from_millis(1), Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        };
        loop {
            // Drain what is queued, then write the batch.
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => {
                    self.note_drops();
                    self.write_out();
                    self.maybe_sync(false);
                    match rx.recv_timeout(tick) {
                        Ok(msg) => msg,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            match msg {
                Msg::Verdict(v) => {
                    self.shared.dequeued(&v);
                    self.verdict(&v);
                    if self.config.fsync == Fsync::EveryRecord {
                        self.write_out();
                        self.maybe_sync(true);
                    } else if self.buf.len() >= BATCH_BYTES {
                        self.write_out();
                    }
                    self.note_drops();
                }
                Msg::Flush(reply) => {
                    self.note_drops();
                    self.write_out();
                    self.maybe_sync(self.config.fsync != Fsync::Never);
                    let _ = reply.send(());
                }
                Msg::Shutdown => break,
            }
        }
        self.note_drops();
        self.write_out();
        self.maybe_sync(self.config.fsync != Fsync::Never);
    }

    /// A gap record when records were dropped since the last one.
    fn note_drops(&mut self) {
        let dropped = self.shared.dropped.load(Ordering::Acquire);
        if dropped > self.reported_drops {
            let gap = record::Gap {
                dropped: dropped.saturating_sub(self.reported_drops),
                dropped_total: dropped,
            };
            self.reported_drops = dropped;
            self.push(record::KIND_GAP, &gap);
            self.shared.gaps.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Formats one line into the buffer and advances the chain.
    fn push(&mut self, kind: &str, body: &impl serde::Serialize) {
        let start = self.buf.len();
        if record::line(&mut self.buf, self.seq, &self.prev, kind, body).is_err() {
            self.buf.truncate(start);
            return;
        }
        let line = self.buf.get(start..).unwrap_or_default();
        self.prev = Sha256::digest(line).into();
        self.seq = self.seq.saturating_add(1);
        self.buf.push(b'\n');
    }

    fn verdict(&mut self, v: &AuditedVerdict) {
        self.maybe_rotate();
        let snapshot = &v.snapshot;
        let policy = snapshot.origin.as_ref().map(|o| o.digest);
        if let Some(digest) = policy {
            if !self
                .last_snapshot
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, snapshot))
            {
                self.ensure_policy(digest, snapshot);
                self.last_snapshot = Some(Arc::clone(snapshot));
            }
        }
        let chain = v.chain.as_ref().map(|c| {
            let digest = c.digest();
            if !self.chains.contains(&digest) {
                if self.chains.len() >= MAX_KNOWN_CHAINS {
                    self.chains.clear();
                }
                self.chains.insert(digest);
                let b64 = base64::engine::general_purpose::STANDARD;
                self.push(
                    record::KIND_CHAIN,
                    &record::Chain {
                        digest: crate::hex(&digest),
                        certs: c.certs().iter().map(|cert| b64.encode(cert)).collect(),
                    },
                );
            }
            crate::hex(&digest)
        });
        let verdict = &v.verdict;
        let identity = verdict.identity();
        let body = record::Verdict {
            time: v.time.as_secs(),
            action: verdict.action(),
            code: verdict.code(),
            codes: verdict.codes(),
            warnings: verdict.warnings().iter().map(|w| w.code()).collect(),
            app_id: identity.and_then(|i| i.app_id()).map(|a| a.as_str()),
            fingerprint: verdict.fingerprint().map(|f| crate::hex(&f)),
            chain,
            peer_addr: v.peer,
            cached: verdict.is_cached(),
            generation: verdict.generation(),
            policy: policy.map(|d| crate::hex(&d)),
            crl_numbers: snapshot
                .crl_numbers
                .iter()
                .filter_map(|(_, n)| n.as_deref())
                .collect(),
        };
        self.push(record::KIND_VERDICT, &body);
        self.buf_verdicts = self.buf_verdicts.saturating_add(1);
    }

    /// The policy record, unless this snapshot (digest and modes) is already in the file.
    fn ensure_policy(&mut self, digest: [u8; 32], snapshot: &Arc<AuditSnapshot>) {
        // The same policy under other modes (another gate on the same log) is written again.
        let modes_key = modes_fingerprint(snapshot);
        if self.policies.get(&digest) == Some(&modes_key) {
            return;
        }
        let Some(origin) = &snapshot.origin else {
            return;
        };
        self.policies.insert(digest, modes_key);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut budget = MAX_LINE.saturating_sub(origin.loaded.text.len().saturating_add(64 << 10));
        let files = origin
            .loaded
            .files
            .iter()
            .map(|f| {
                // The bytes as loaded: re-read, and kept only when they still hash the same.
                let data = match &f.path {
                    Some(path) => crate::pem::read_bounded(path, crate::pem::MAX_CRL_FILE_BYTES)
                        .map_err(|e| format!("cannot read it again: {e}"))
                        .and_then(|bytes| {
                            if <[u8; 32]>::from(Sha256::digest(&bytes)) == f.sha256 {
                                Ok(bytes)
                            } else {
                                Err("changed since the policy was loaded".to_string())
                            }
                        })
                        .and_then(|bytes| {
                            let encoded = bytes.len().div_ceil(3).saturating_mul(4);
                            if encoded > budget {
                                Err("too large for one log line".to_string())
                            } else {
                                budget = budget.saturating_sub(encoded);
                                Ok(b64.encode(bytes))
                            }
                        }),
                    None => Err("not read from a file".to_string()),
                };
                let (data, omitted) = match data {
                    Ok(d) => (Some(d), None),
                    Err(e) => (None, Some(e)),
                };
                record::PolicyFile {
                    name: &f.name,
                    sha256: crate::hex(&f.sha256),
                    data,
                    omitted,
                }
            })
            .collect();
        let body = record::Policy {
            digest: crate::hex(&digest),
            format: if origin.loaded.json { "json" } else { "toml" },
            text: &origin.loaded.text,
            files,
            default_mode: record::mode_name(snapshot.default_mode),
            modes: snapshot
                .modes
                .iter()
                .map(|(code, mode)| {
                    (
                        (*code).to_string(),
                        serde_json::Value::from(record::mode_name(*mode)),
                    )
                })
                .collect(),
            crls: snapshot
                .crl_numbers
                .iter()
                .map(|(field, number)| record::Crl {
                    field,
                    number: number.as_deref(),
                })
                .collect(),
        };
        self.push(record::KIND_POLICY, &body);
    }

    /// Rotates before a verdict's records when the file has reached its size.
    fn maybe_rotate(&mut self) {
        let limit = self.config.rotate_bytes;
        let size = self
            .out
            .len()
            .saturating_add(u64::try_from(self.buf.len()).unwrap_or(u64::MAX));
        if limit == 0 || size < limit || !matches!(self.out, Output::File { .. }) {
            return;
        }
        self.write_out();
        if self.config.fsync != Fsync::Never {
            self.maybe_sync(true);
        }
        let Output::File {
            file,
            path,
            len,
            next_index,
            ..
        } = &mut self.out
        else {
            return;
        };
        let rotated = super::rotated_name(path, *next_index);
        let reopened = std::fs::rename(&*path, &rotated).and_then(|()| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&*path)
        });
        match reopened {
            Ok(new) => {
                *file = new;
                *len = 0;
                *next_index = next_index.saturating_add(1);
                self.shared.rotations.fetch_add(1, Ordering::AcqRel);
                // Each file carries the chains and policies its verdicts use.
                self.chains.clear();
                self.policies.clear();
                self.last_snapshot = None;
                self.push(
                    record::KIND_START,
                    &record::Start {
                        version: record::FORMAT_VERSION,
                        reason: "rotate",
                        truncated_bytes: 0,
                    },
                );
            }
            Err(e) => {
                self.shared.write_errors.fetch_add(1, Ordering::AcqRel);
                tracing::error!(target: "certgate", error = %e, "audit log: rotation failed");
            }
        }
    }

    /// Writes the buffer. On failure its verdict records count as dropped (a gap record
    /// follows), the file is cut back and the chain goes on from the last line written.
    fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let good_len = self.out.len();
        match self.out.write_all(&self.buf) {
            Ok(()) => {
                self.shared
                    .recorded
                    .fetch_add(self.buf_verdicts, Ordering::AcqRel);
                self.durable = (self.seq, self.prev);
                self.unsynced = true;
            }
            Err(e) => {
                self.shared.write_errors.fetch_add(1, Ordering::AcqRel);
                tracing::error!(target: "certgate", error = %e, "audit log: write failed");
                self.out.restore(good_len);
                (self.seq, self.prev) = self.durable;
                self.shared.drop_records(self.buf_verdicts);
                // What the lost lines carried must be written again.
                self.chains.clear();
                self.policies.clear();
                self.last_snapshot = None;
            }
        }
        self.buf.clear();
        self.buf_verdicts = 0;
    }

    fn maybe_sync(&mut self, force: bool) {
        if !self.unsynced {
            return;
        }
        let due = match self.config.fsync {
            Fsync::Never => false,
            Fsync::EveryRecord => true,
            Fsync::Interval(d) => self.last_sync.elapsed() >= d,
        };
        if force || due {
            if self.out.sync().is_err() {
                self.shared.write_errors.fetch_add(1, Ordering::AcqRel);
            }
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
    }
}

/// A key for the modes of a snapshot (the same policy digest may be used by gates with
/// different modes).
fn modes_fingerprint(snapshot: &AuditSnapshot) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    record::mode_name(snapshot.default_mode).hash(&mut h);
    for (code, mode) in &snapshot.modes {
        code.hash(&mut h);
        record::mode_name(*mode).hash(&mut h);
    }
    usize::try_from(h.finish() & 0xffff_ffff).unwrap_or(0)
}
