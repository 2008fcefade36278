//! Reading a log: [`verify`] the hash chain, [`replay`] the decisions. Both read a possibly
//! hostile file: every line is bounded ([`MAX_LINE`] bytes) and nothing panics.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::{self, GENESIS};
use super::writer::MAX_LINE;
use crate::peer_chain::PeerChain;
use crate::policy::Policy;

/// The fields every record starts with.
#[derive(Deserialize)]
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) prev: String,
    pub(crate) kind: String,
    #[serde(default)]
    dropped: Option<u64>,
}

/// A log that cannot be read at all (exit status 2 of `certgate audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The file.
    pub file: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ReadError {}

/// What is wrong with a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The record's bytes changed: its hash no longer matches the next record's `prev`.
    Modified,
    /// Records are missing (their sequence numbers are skipped), or the log does not start at
    /// the first record.
    Deleted,
    /// A record that the writer did not write was added.
    Inserted,
    /// Records are out of order.
    Reordered,
    /// A line that is not a record (not JSON, no `seq`/`prev`/`kind`, over the line limit).
    Malformed,
    /// The last line is incomplete (no newline): a crash mid-write, or a cut file.
    Truncated,
}

/// The first bad record of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The file holding the record.
    pub file: String,
    /// Its line number in that file (from 1).
    pub line: u64,
    /// Its sequence number, when it has one.
    pub seq: Option<u64>,
    /// For an operator.
    pub detail: String,
}

/// A `gap` record: records the writer dropped (a stalled or failing disk). Not tampering: the
/// hash chain around it is intact, and the gap says how many verdicts are missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The file.
    pub file: String,
    /// The gap record's line.
    pub line: u64,
    /// The gap record's sequence number.
    pub seq: u64,
    /// Verdict records lost before it.
    pub dropped: u64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// No record was modified, deleted, inserted or reordered (gaps are allowed).
    pub intact: bool,
    /// The files read, in order.
    pub files: Vec<String>,
    /// Records read (up to the first problem).
    pub records: u64,
    /// Verdict records among them.
    pub verdicts: u64,
    /// The first and last sequence numbers read.
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// SHA-256 of the last record read (keep it elsewhere to detect a cut tail later).
    pub head: Option<String>,
    /// The gap records.
    pub gaps: Vec<Gap>,
    /// Verdict records the gaps say were dropped.
    pub dropped: u64,
    /// The first bad record.
    pub problem: Option<Problem>,
}

/// The files of the log at `path` in order: its rotated files `path.1`, `path.2`, … (by
/// number), then `path` itself.
///
/// # Errors
///
/// The directory cannot be listed, or there is no such log.
pub fn log_files(path: impl AsRef<Path>) -> std::io::Result<Vec<PathBuf>> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut rotated = Vec::new();
    if let Some(base) = path.file_name().and_then(|n| n.to_str()) {
        let prefix = format!("{base}.");
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some(n) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix(&prefix))
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    rotated.push((n, super::rotated_name(path, n)));
                }
            }
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if path.exists() || files.is_empty() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

enum Input<'a> {
    Path(PathBuf),
    Bytes(&'a [u8]),
}

enum LineState {
    Complete,
    /// The input ended without a newline.
    Incomplete,
    /// Longer than [`MAX_LINE`].
    TooLong,
}

struct Item {
    file: String,
    line: u64,
    bytes: Vec<u8>,
    state: LineState,
}

/// The lines of several inputs, in order, each bounded.
struct Lines<'a> {
    inputs: std::vec::IntoIter<Input<'a>>,
    current: Option<(String, Box<dyn BufRead + 'a>, u64)>,
    names: Vec<String>,
}

impl<'a> Lines<'a> {
    fn new(inputs: Vec<Input<'a>>) -> Self {
        Self {
            inputs: inputs.into_iter(),
            current: None,
            names: Vec::new(),
        }
    }

    fn next(&mut self) -> Result<Option<Item>, ReadError> {
        loop {
            if self.current.is_none() {
                let Some(input) = self.inputs.next() else {
                    return Ok(None);
                };
                let (name, reader): (String, Box<dyn BufRead + 'a>) = match input {
                    Input::Path(path) => {
                        let name = path.display().to_string();
                        let file = File::open(&path).map_err(|e| ReadError {
                            file: name.clone(),
                            message: format!("cannot open: {e}"),
                        })?;
                        (name, Box::new(BufReader::with_capacity(1 << 16, file)))
                    }
                    Input::Bytes(bytes) => ("<bytes>".to_string(), Box::new(bytes)),
                };
                self.names.push(name.clone());
                self.current = Some((name, reader, 0));
            }
            let Some((name, reader, line)) = self.current.as_mut() else {
                continue;
            };
            let mut bytes = Vec::new();
            let limit = u64::try_from(MAX_LINE)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let n = reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut bytes)
                .map_err(|e| ReadError {
                    file: name.clone(),
                    message: format!("cannot read: {e}"),
                })?;
            if n == 0 {
                self.current = None;
                continue;
            }
            *line = line.saturating_add(1);
            let state = if bytes.last() == Some(&b'\n') {
                bytes.pop();
                LineState::Complete
            } else if bytes.len() > MAX_LINE {
                LineState::TooLong
            } else {
                LineState::Incomplete
            };
            let item = Item {
                file: name.clone(),
                line: *line,
                bytes,
                state,
            };
            if matches!(item.state, LineState::TooLong) {
                // Nothing after an over-long line is read.
                self.current = None;
                self.inputs = Vec::new().into_iter();
            }
            return Ok(Some(item));
        }
    }
}

struct Parsed {
    seq: u64,
    prev: [u8; 32],
    kind: String,
    dropped: Option<u64>,
}

fn parse_head(bytes: &[u8]) -> Result<Parsed, String> {
    let head: Head = serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))?;
    let prev = parse_hex32(&head.prev).ok_or("prev is not a hex SHA-256")?;
    Ok(Parsed {
        seq: head.seq,
        prev,
        kind: head.kind,
        dropped: head.dropped,
    })
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Checks the hash chain of the log whose files are `files` (in order; see [`log_files`]).
/// With `allow_pruned`, a log may start after its first record (older files removed on
/// purpose); otherwise that is reported as deleted records.
///
/// # Errors
///
/// A file cannot be opened or read.
pub fn verify(files: &[PathBuf], allow_pruned: bool) -> Result<VerifyReport, ReadError> {
    let inputs = files.iter().cloned().map(Input::Path).collect();
    check(Lines::new(inputs), allow_pruned)
}

/// [`verify`] of one log held in memory (for fuzzing: never panics, whatever the bytes).
pub fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let lines = Lines::new(vec![Input::Bytes(bytes)]);
    check(lines, false).unwrap_or_else(|e| VerifyReport {
        intact: false,
        files: vec![e.file.clone()],
        records: 0,
        verdicts: 0,
        first_seq: None,
        last_seq: None,
        head: None,
        gaps: Vec::new(),
        dropped: 0,
        problem: Some(Problem {
            kind: ProblemKind::Malformed,
            file: e.file,
            line: 0,
            seq: None,
            detail: e.message,
        }),
    })
}

/// Where a record was: file, line, sequence number.
#[derive(Clone)]
struct Loc {
    file: String,
    line: u64,
    seq: u64,
}

fn check(mut lines: Lines<'_>, allow_pruned: bool) -> Result<VerifyReport, ReadError> {
    let mut report = VerifyReport {
        intact: true,
        files: Vec::new(),
        records: 0,
        verdicts: 0,
        first_seq: None,
        last_seq: None,
        head: None,
        gaps: Vec::new(),
        dropped: 0,
        problem: None,
    };
    let mut peeked: Option<Item> = None;
    // The hashes of the previous two lines, and where the previous one was.
    let mut last: Option<([u8; 32], Loc)> = None;
    let mut before_last: Option<[u8; 32]> = None;
    let problem = loop {
        let item = match peeked.take() {
            Some(item) => item,
            None => match lines.next()? {
                Some(item) => item,
                None => break None,
            },
        };
        let at = |kind, seq, detail: String| Problem {
            kind,
            file: item.file.clone(),
            line: item.line,
            seq,
            detail,
        };
        match item.state {
            LineState::Complete => {}
            LineState::Incomplete => {
                break Some(at(
                    ProblemKind::Truncated,
                    None,
                    "the last line is incomplete (no newline): cut off mid-record".into(),
                ));
            }
            LineState::TooLong => {
                break Some(at(
                    ProblemKind::Malformed,
                    None,
                    format!("the line is longer than {MAX_LINE} bytes"),
                ));
            }
        }
        let head = match parse_head(&item.bytes) {
            Ok(head) => head,
            Err(e) => break Some(at(ProblemKind::Malformed, None, e)),
        };
        let hash: [u8; 32] = Sha256::digest(&item.bytes).into();
        let seq = Some(head.seq);
        match &last {
            None => {
                if head.seq == 0 && head.prev != GENESIS {
                    break Some(at(
                        ProblemKind::Modified,
                        seq,
                        "the first record's prev is not the genesis value".into(),
                    ));
                }
                if head.seq != 0 && !allow_pruned {
                    break Some(at(
                        ProblemKind::Deleted,
                        seq,
                        format!(
                            "the log starts at seq {}: the records before it are missing \
                             (--allow-pruned accepts a log whose older files were removed)",
                            head.seq
                        ),
                    ));
                }
            }
            Some((last_hash, last_loc)) => {
                let expected = last_loc.seq.saturating_add(1);
                let linked = head.prev == *last_hash;
                if !(head.seq == expected && linked) {
                    if head.seq == last_loc.seq && Some(head.prev) == before_last {
                        break Some(Problem {
                            kind: ProblemKind::Inserted,
                            file: last_loc.file.clone(),
                            line: last_loc.line,
                            seq: Some(last_loc.seq),
                            detail: "this record was not written by the log: the next one \
                                     links to the record before it"
                                .into(),
                        });
                    }
                    if head.seq == last_loc.seq {
                        break Some(at(
                            ProblemKind::Inserted,
                            seq,
                            format!("a second record with seq {}", head.seq),
                        ));
                    }
                    peeked = lines.next()?;
                    let next = peeked
                        .as_ref()
                        .filter(|p| matches!(p.state, LineState::Complete))
                        .and_then(|p| parse_head(&p.bytes).ok());
                    if head.seq == expected {
                        if next.as_ref().is_some_and(|n| n.seq == head.seq) {
                            break Some(at(
                                ProblemKind::Inserted,
                                seq,
                                "this record was not written by the log: the next record has \
                                 the same seq"
                                    .into(),
                            ));
                        }
                        break Some(Problem {
                            kind: ProblemKind::Modified,
                            file: last_loc.file.clone(),
                            line: last_loc.line,
                            seq: Some(last_loc.seq),
                            detail: "the record's bytes changed: its SHA-256 no longer matches \
                                     the next record's prev"
                                .into(),
                        });
                    }
                    if head.seq > expected {
                        if next.as_ref().is_some_and(|n| n.seq == expected) {
                            break Some(at(
                                ProblemKind::Reordered,
                                seq,
                                format!("seq {} where seq {expected} was due", head.seq),
                            ));
                        }
                        if next.as_ref().is_some_and(|n| n.prev != hash) {
                            break Some(at(
                                ProblemKind::Modified,
                                seq,
                                format!(
                                    "seq {} where seq {expected} was due, and the next \
                                     record does not link to it",
                                    head.seq
                                ),
                            ));
                        }
                        break Some(at(
                            ProblemKind::Deleted,
                            seq,
                            format!(
                                "records {expected}..={} are missing before this one",
                                head.seq.saturating_sub(1)
                            ),
                        ));
                    }
                    break Some(at(
                        ProblemKind::Reordered,
                        seq,
                        format!("seq {} after seq {}", head.seq, last_loc.seq),
                    ));
                }
            }
        }
        // The record is good.
        report.records = report.records.saturating_add(1);
        report.first_seq = report.first_seq.or(seq);
        report.last_seq = seq;
        report.head = Some(crate::hex(&hash));
        match head.kind.as_str() {
            record::KIND_VERDICT => report.verdicts = report.verdicts.saturating_add(1),
            record::KIND_GAP => {
                let dropped = head.dropped.unwrap_or(0);
                report.dropped = report.dropped.saturating_add(dropped);
                report.gaps.push(Gap {
                    file: item.file.clone(),
                    line: item.line,
                    seq: head.seq,
                    dropped,
                });
            }
            _ => {}
        }
        before_last = last.as_ref().map(|(h, _)| *h);
        last = Some((
            hash,
            Loc {
                file: item.file,
                line: item.line,
                seq: head.seq,
            },
        ));
    };
    // Read the rest of the inputs' names (for the report), not their contents.
    report.files = lines.names;
    for input in lines.inputs {
        if let Input::Path(p) = input {
            report.files.push(p.display().to_string());
        }
    }
    report.intact = problem.is_none();
    report.problem = problem;
    Ok(report)
}

/// A recorded decision that came out differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The file holding the verdict record.
    pub file: String,
    /// Its line.
    pub line: u64,
    /// Its sequence number.
    pub seq: u64,
    /// The verdict's time (seconds since the epoch).
    pub time: u64,
    /// The chain digest.
    pub chain: Option<String>,
    /// The recorded action and codes.
    pub recorded_action: String,
    /// See `recorded_action`.
    pub recorded_codes: Vec<String>,
    /// The action and codes of the replay (`None` when it could not run).
    pub replayed_action: Option<String>,
    /// See `replayed_action`.
    pub replayed_codes: Vec<String>,
    /// Why it could not run, when it could not.
    pub detail: Option<String>,
}

/// What [`replay`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Every replayable decision came out the same.
    pub reproduced: bool,
    /// Verdict records read.
    pub verdicts: u64,
    /// Verdicts re-run.
    pub replayed: u64,
    /// Verdicts that cannot be replayed by design: refused before a chain was read, or under
    /// a policy built in code (no snapshot).
    pub skipped: u64,
    /// The decisions that came out differently (or whose chain or policy is missing).
    pub differences: Vec<Difference>,
}

/// A policy snapshot, rebuilt.
struct Snapshot {
    policy: Policy,
    default_mode: String,
    modes: HashMap<String, String>,
}

/// Re-runs every recorded decision of the log whose files are `files` with the recorded
/// chain, policy snapshot and time, and compares action and codes. It does not check the hash
/// chain: that is [`verify`].
///
/// # Errors
///
/// A file cannot be read, or a line is not a record.
pub fn replay(files: &[PathBuf]) -> Result<ReplayReport, ReadError> {
    replay_lines(Lines::new(files.iter().cloned().map(Input::Path).collect()))
}

/// [`replay`] of one log held in memory (for fuzzing: never panics, whatever the bytes).
///
/// # Errors
///
/// A line is not a record.
pub fn replay_bytes(bytes: &[u8]) -> Result<ReplayReport, ReadError> {
    replay_lines(Lines::new(vec![Input::Bytes(bytes)]))
}

fn replay_lines(mut lines: Lines<'_>) -> Result<ReplayReport, ReadError> {
    let mut report = ReplayReport {
        reproduced: true,
        verdicts: 0,
        replayed: 0,
        skipped: 0,
        differences: Vec::new(),
    };
    let mut chains: HashMap<String, Vec<CertificateDer<'static>>> = HashMap::new();
    let mut raw_policies: HashMap<String, serde_json::Value> = HashMap::new();
    let mut built: HashMap<String, Result<std::sync::Arc<Snapshot>, String>> = HashMap::new();
    let mut memo: HashMap<(String, String, u64), (String, Vec<String>)> = HashMap::new();
    while let Some(item) = lines.next()? {
        let bad = |message: String| ReadError {
            file: item.file.clone(),
            message: format!("line {}: {message}", item.line),
        };
        if !matches!(item.state, LineState::Complete) {
            return Err(bad("incomplete or over-long line".into()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&item.bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        match kind {
            record::KIND_CHAIN => {
                let digest = str_field(&value, "digest").unwrap_or_default();
                let certs = value.get("certs").and_then(|c| c.as_array()).map(|certs| {
                    certs
                        .iter()
                        .map(|c| {
                            let b64 = base64::engine::general_purpose::STANDARD;
                            c.as_str()
                                .and_then(|s| b64.decode(s).ok())
                                .map(CertificateDer::from)
                        })
                        .collect::<Option<Vec<_>>>()
                });
                if let Some(Some(certs)) = certs {
                    chains.insert(digest, certs);
                } else {
                    return Err(bad("a chain record without its certificates".into()));
                }
            }
            record::KIND_POLICY => {
                let digest = str_field(&value, "digest").unwrap_or_default();
                built.remove(&digest);
                raw_policies.insert(digest, value);
            }
            record::KIND_VERDICT => {
                report.verdicts = report.verdicts.saturating_add(1);
                let seq = value.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
                let time = value.get("time").and_then(|s| s.as_u64()).unwrap_or(0);
                let recorded_action = str_field(&value, "action").unwrap_or_default();
                let recorded_codes: Vec<String> = value
                    .get("codes")
                    .and_then(|c| c.as_array())
                    .map(|c| {
                        c.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let (Some(chain_digest), Some(policy_digest)) =
                    (str_field(&value, "chain"), str_field(&value, "policy"))
                else {
                    report.skipped = report.skipped.saturating_add(1);
                    continue;
                };
                let difference = |replayed: Option<(String, Vec<String>)>, detail| Difference {
                    file: item.file.clone(),
                    line: item.line,
                    seq,
                    time,
                    chain: Some(chain_digest.clone()),
                    recorded_action: recorded_action.clone(),
                    recorded_codes: recorded_codes.clone(),
                    replayed_action: replayed.as_ref().map(|(a, _)| a.clone()),
                    replayed_codes: replayed.map(|(_, c)| c).unwrap_or_default(),
                    detail,
                };
                let key = (policy_digest.clone(), chain_digest.clone(), time);
                let outcome = if let Some(outcome) = memo.get(&key) {
                    Ok(outcome.clone())
                } else {
                    let snapshot = match built.get(&policy_digest) {
                        Some(s) => s.clone(),
                        None => {
                            let s = match raw_policies.get(&policy_digest) {
                                Some(raw) => rebuild(raw, &policy_digest).map(std::sync::Arc::new),
                                None => Err(format!("no policy record {policy_digest} before it")),
                            };
                            built.insert(policy_digest.clone(), s.clone());
                            s
                        }
                    };
                    let certs = chains
                        .get(&chain_digest)
                        .ok_or_else(|| format!("no chain record {chain_digest} before it"));
                    match (snapshot, certs) {
                        (Ok(snapshot), Ok(certs)) => {
                            let chain = PeerChain::new(certs.clone());
                            if crate::hex(&chain.digest()) == chain_digest {
                                let outcome = decide(&snapshot, &chain, time);
                                if memo.len() < 100_000 {
                                    memo.insert(key, outcome.clone());
                                }
                                Ok(outcome)
                            } else {
                                Err("the chain record does not match its digest".to_string())
                            }
                        }
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    }
                };
                match outcome {
                    Ok(outcome) => {
                        report.replayed = report.replayed.saturating_add(1);
                        if outcome.0 != recorded_action || outcome.1 != recorded_codes {
                            report.differences.push(difference(Some(outcome), None));
                        }
                    }
                    Err(detail) => report.differences.push(difference(None, Some(detail))),
                }
            }
            _ => {}
        }
    }
    report.reproduced = report.differences.is_empty();
    Ok(report)
}

fn str_field(value: &serde_json::Value, name: &str) -> Option<String> {
    value.get(name).and_then(|v| v.as_str()).map(String::from)
}

/// The policy of a snapshot record, checked against its digest.
fn rebuild(raw: &serde_json::Value, digest: &str) -> Result<Snapshot, String> {
    let text = raw
        .get("text")
        .and_then(|t| t.as_str())
        .ok_or("the policy record has no text")?;
    let json = raw.get("format").and_then(|f| f.as_str()) == Some("json");
    let mut files = HashMap::new();
    let mut named = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    for file in raw
        .get("files")
        .and_then(|f| f.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = file
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or("a policy file without a name")?;
        let Some(data) = file.get("data").and_then(|d| d.as_str()) else {
            let why = file.get("omitted").and_then(|o| o.as_str()).unwrap_or("");
            return Err(format!("the snapshot lacks {name}: {why}"));
        };
        let bytes = b64
            .decode(data)
            .map_err(|_| format!("{name}: bad base64"))?;
        named.push((name.to_string(), <[u8; 32]>::from(Sha256::digest(&bytes))));
        files.insert(name.to_string(), bytes);
    }
    let computed = crate::policy::policy_digest(
        text,
        json,
        named.iter().map(|(name, sha)| (name.as_str(), sha)),
    );
    if crate::hex(&computed) != digest {
        return Err("the policy snapshot does not match its digest".into());
    }
    let policy = Policy::from_snapshot(text, json, &files)
        .map_err(|e| format!("the policy snapshot does not load: {e}"))?;
    let default_mode = str_field(raw, "default_mode").unwrap_or_else(|| "enforce".into());
    let modes = raw
        .get("modes")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Snapshot {
        policy,
        default_mode,
        modes,
    })
}

/// Action and codes of `chain` at `time` under `snapshot`.
fn decide(snapshot: &Snapshot, chain: &PeerChain, time: u64) -> (String, Vec<String>) {
    let now = UnixTime::since_unix_epoch(Duration::from_secs(time));
    match snapshot.policy.verifier().verify_all(chain, now) {
        Ok(_) => ("accept".into(), Vec::new()),
        Err(rejections) => {
            let codes: Vec<String> = rejections.codes().map(String::from).collect();
            let refused = codes.iter().any(|code| {
                snapshot
                    .modes
                    .get(code)
                    .unwrap_or(&snapshot.default_mode)
                    .as_str()
                    != "observe"
            });
            let action = if refused { "refuse" } else { "observe" };
            (action.into(), codes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bytes_are_reported_never_panic() {
        let deep = "[".repeat(100_000);
        let cases: Vec<&[u8]> = vec![
            b"",
            b"\n",
            b"{}\n",
            b"\xff\xfe\n",
            b"{\"seq\":18446744073709551615,\"prev\":\"00\",\"kind\":\"x\"}\n",
            b"{\"seq\":0,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"kind\":\"gap\",\"dropped\":18446744073709551615}\n{\"seq\":1",
            deep.as_bytes(),
        ];
        for bytes in cases {
            let report = verify_bytes(bytes);
            assert_eq!(report.intact, report.problem.is_none(), "{report:?}");
            let _ = replay_bytes(bytes);
        }
        // An empty log is intact, with nothing in it.
        assert!(verify_bytes(b"").intact);
        // A policy record whose snapshot does not match its digest is listed, not trusted.
        let log = b"{\"seq\":0,\"prev\":\"00\",\"kind\":\"policy\",\"digest\":\"ab\",\"text\":\"[trust]\\nanchors = [\\\"/etc/passwd\\\"]\\n\",\"files\":[]}\n\
{\"seq\":1,\"prev\":\"00\",\"kind\":\"chain\",\"digest\":\"cd\",\"certs\":[]}\n\
{\"seq\":2,\"prev\":\"00\",\"kind\":\"verdict\",\"time\":1,\"action\":\"accept\",\"codes\":[],\"chain\":\"cd\",\"policy\":\"ab\"}\n";
        let report = replay_bytes(log).unwrap();
        assert!(!report.reproduced);
        assert_eq!(
            report.differences[0].detail.as_deref(),
            Some("the policy snapshot does not match its digest")
        );
    }

    #[test]
    fn a_snapshot_loads_from_memory_only() {
        // The file the text names exists on disk, but not in the snapshot: refused.
        let text = "[trust]\nanchors = [\"/etc/hostname\"]\n";
        let err = Policy::from_snapshot(text, false, &HashMap::new()).unwrap_err();
        assert!(
            err.message().contains("no such file in the snapshot"),
            "{err}"
        );
    }
}
