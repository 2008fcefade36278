//! `certgate policy check POLICY`: load a policy exactly as the server does, print its
//! warnings and what expires when. Exit 0 when nothing is wrong or expiring within the
//! horizon, 1 otherwise, 2 when the policy does not load.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::lifecycle::{Failure, emit_json, fail, parse_duration, rfc3339};

#[derive(clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Load POLICY as the server would; print warnings and an expiry table.
    Check(CheckArgs),
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The policy file (TOML, or JSON when the name ends in .json).
    policy: PathBuf,
    /// Flag certificates and pin windows that end within this duration.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    horizon: Duration,
    /// Flag CRLs whose nextUpdate is within this duration. CRLs are re-signed every few days,
    /// so they get a horizon of their own.
    #[arg(long, default_value = "2d", value_parser = parse_duration)]
    crl_horizon: Duration,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    kind: &'static str,
    name: String,
    file: String,
    expires: String,
    seconds_left: i64,
    status: &'static str,
}

pub(crate) fn policy(command: PolicyCommand) -> ExitCode {
    let PolicyCommand::Check(args) = command;
    let json = args.json;
    match check(&args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn check(args: &CheckArgs) -> Result<ExitCode, Failure> {
    let policy = certgate::Policy::load(&args.policy).map_err(Failure::policy)?;
    let warnings: Vec<String> = policy.warnings().to_vec();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX);
    let rows = expiries(&args.policy, now, args)?;
    let problems = !warnings.is_empty() || rows.iter().any(|r| r.status != "ok");
    if args.json {
        emit_json(&serde_json::json!({
            "verdict": if problems { "attention" } else { "ok" },
            "policy": args.policy,
            "warnings": warnings,
            "expiries": rows,
        }));
    } else {
        println!("policy {} loads", args.policy.display());
        for w in &warnings {
            println!("warning: {w}");
        }
        println!(
            "{:<13} {:<9} {:<20} {:<40} file",
            "kind", "status", "expires", "name"
        );
        for r in &rows {
            println!(
                "{:<13} {:<9} {:<20} {:<40} {}",
                r.kind, r.status, r.expires, r.name, r.file
            );
        }
        println!(
            "{}",
            if problems {
                "attention: see warnings and rows not ok"
            } else {
                "ok: nothing expires within the horizon"
            }
        );
    }
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The expiry table. The policy already loaded, so every file it names is readable; they are
/// read again here only for their dates.
fn expiries(path: &Path, now: i64, args: &CheckArgs) -> Result<Vec<Row>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::policy(format!("{}: {e}", path.display())))?;
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)
            .map_err(|e| Failure::policy(format!("{}: {e}", path.display())))?
    } else {
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Failure::policy(format!("{}: {e}", path.display())))?;
        serde_json::to_value(table).map_err(|e| Failure::policy(e.to_string()))?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let horizon = i64::try_from(args.horizon.as_secs()).unwrap_or(i64::MAX);
    let crl_horizon = i64::try_from(args.crl_horizon.as_secs()).unwrap_or(i64::MAX);
    let row = |kind, name: String, file: String, at: i64, horizon: i64| Row {
        kind,
        name,
        file,
        expires: rfc3339(at),
        seconds_left: at.saturating_sub(now),
        status: if at <= now {
            "expired"
        } else if at.saturating_sub(now) <= horizon {
            "expiring"
        } else {
            "ok"
        },
    };
    let mut rows = Vec::new();
    for (kind, pointer) in [
        ("anchor", "/trust/anchors"),
        ("intermediate", "/trust/intermediates"),
    ] {
        for file in strings(&value, pointer) {
            let full = base.join(&file);
            let certs = certgate::pem::read_certificates(&full)
                .map_err(|e| Failure::policy(format!("{}: {e}", full.display())))?;
            for cert in certs {
                if let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) {
                    rows.push(row(
                        kind,
                        parsed.subject().to_string(),
                        file.clone(),
                        parsed.validity().not_after.timestamp(),
                        horizon,
                    ));
                }
            }
        }
    }
    for file in strings(&value, "/revocation/crls") {
        let full = base.join(&file);
        let crls = certgate::pem::read_crls(&full)
            .map_err(|e| Failure::policy(format!("{}: {e}", full.display())))?;
        for crl in crls {
            if let Ok((_, parsed)) = x509_parser::parse_x509_crl(crl.as_ref()) {
                if let Some(next) = parsed.next_update() {
                    rows.push(row(
                        "crl",
                        parsed.issuer().to_string(),
                        file.clone(),
                        next.timestamp(),
                        crl_horizon,
                    ));
                }
            }
        }
    }
    let mut pins: Vec<(String, &serde_json::Value)> = Vec::new();
    if let Some(list) = value.get("pins").and_then(|p| p.as_array()) {
        pins.extend(list.iter().map(|p| ("global".to_owned(), p)));
    }
    if let Some(apps) = value.get("apps").and_then(|a| a.as_array()) {
        for app in apps {
            let id = app
                .get("id")
                .and_then(|i| i.as_str())
                .unwrap_or("?")
                .to_owned();
            if let Some(list) = app.get("pins").and_then(|p| p.as_array()) {
                pins.extend(list.iter().map(|p| (format!("app {id}"), p)));
            }
        }
    }
    for (scope, pin) in pins {
        let Some(end) = pin.get("not_after").and_then(|t| t.as_str()) else {
            continue;
        };
        let Ok(at) = certgate::parse_rfc3339(end) else {
            continue;
        };
        let name = pin
            .get("name")
            .and_then(|n| n.as_str())
            .or_else(|| pin.get("pin").and_then(|n| n.as_str()))
            .unwrap_or("pin");
        rows.push(row(
            "pin window",
            format!("{scope}: {name}"),
            path.display().to_string(),
            i64::try_from(at.as_secs()).unwrap_or(i64::MAX),
            horizon,
        ));
    }
    rows.sort_by_key(|r| r.seconds_left);
    Ok(rows)
}

fn strings(value: &serde_json::Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
