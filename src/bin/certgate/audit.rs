//! `certgate audit verify|replay LOG`: check a verdict log's hash chain, re-run its decisions.
//!
//! Exit status: `verify` 0 intact (gaps are listed, they are not tampering), 1 a record was
//! modified, deleted, inserted or reordered (the first one is named), 2 the log cannot be
//! read. `replay` 0 every decision reproduces, 1 one or more differ (each listed), 2 the log
//! cannot be read. `--json` prints one JSON document instead of text.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use certgate::audit::{ReplayReport, VerifyReport};

use crate::{Failure, fail, print_line};

#[derive(clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain: exit 0 intact (gaps listed), 1 a record was modified, deleted,
    /// inserted or reordered (the first bad record is named), 2 the log cannot be read.
    Verify(VerifyArgs),
    /// Re-run every recorded decision with its recorded chain, policy snapshot and time:
    /// exit 0 when all reproduce, 1 when any differs (each listed), 2 unreadable.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The log: one path (its rotated files LOG.1, LOG.2, … are read first), or several
    /// files in order.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// Accept a log that starts after its first record (older rotated files removed).
    #[arg(long)]
    allow_pruned: bool,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// The log: one path (its rotated files LOG.1, LOG.2, … are read first), or several
    /// files in order.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(args) => verify(&args),
        AuditCommand::Replay(args) => replay(&args),
    }
}

fn files(logs: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    match logs {
        [one] => certgate::audit::log_files(one)
            .map_err(|e| Failure::Input(format!("{}: {e}", one.display()))),
        many => Ok(many.to_vec()),
    }
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let report = match files(&args.logs).and_then(|files| {
        certgate::audit::verify(&files, args.allow_pruned)
            .map_err(|e| Failure::Input(e.to_string()))
    }) {
        Ok(report) => report,
        Err(failure) => return fail(failure),
    };
    if args.json {
        print_line(&report);
    } else {
        print_verify(&report);
    }
    if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_verify(report: &VerifyReport) {
    let mut out = std::io::stdout().lock();
    if let Some(p) = &report.problem {
        let seq = p.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{kind}: record at {} line {}{seq}: {}",
            p.file, p.line, p.detail
        );
        let _ = writeln!(out, "{} records before it are intact", report.records);
        return;
    }
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!(", seq {a}..={b}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "intact: {} records ({} verdicts) in {} file(s){range}, head {}",
        report.records,
        report.verdicts,
        report.files.len(),
        report.head.as_deref().unwrap_or("-"),
    );
    for gap in &report.gaps {
        let _ = writeln!(
            out,
            "gap: {} verdict records dropped before seq {} ({} line {})",
            gap.dropped, gap.seq, gap.file, gap.line
        );
    }
}

fn replay(args: &ReplayArgs) -> ExitCode {
    let report = match files(&args.logs).and_then(|files| {
        certgate::audit::replay(&files).map_err(|e| Failure::Input(e.to_string()))
    }) {
        Ok(report) => report,
        Err(failure) => return fail(failure),
    };
    if args.json {
        print_line(&report);
    } else {
        print_replay(&report);
    }
    if report.reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_replay(report: &ReplayReport) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: {} verdicts, {} replayed, {} skipped (no chain or no policy snapshot), {} differ",
        if report.reproduced {
            "reproduced"
        } else {
            "DIFFERENT"
        },
        report.verdicts,
        report.replayed,
        report.skipped,
        report.differences.len()
    );
    for d in &report.differences {
        let replayed = match &d.replayed_action {
            Some(action) => format!("replayed {action} {:?}", d.replayed_codes),
            None => format!(
                "not replayable: {}",
                d.detail.as_deref().unwrap_or_default()
            ),
        };
        let _ = writeln!(
            out,
            "differs: seq {} ({} line {}) at {}: recorded {} {:?}, {replayed}",
            d.seq, d.file, d.line, d.time, d.recorded_action, d.recorded_codes
        );
    }
}
