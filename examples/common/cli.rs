//! What every example shares besides the PKI: the flags (`--policy FILE`, `--port N`,
//! `--dir DIR`) and logging.
//!
//! Included by each example with `#[path = "common/cli.rs"] mod cli;`.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

/// Logs to stdout with `RUST_LOG`, or `certgate=info` when unset: refusals (logged at `warn` by
/// certgate's default `TracingSink`) show, accepts (`debug`) do not.
pub(crate) fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("certgate=info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// Binds 127.0.0.1:`port`. Each example binds before it touches the demo PKI folder, so a second
/// instance on a busy port stops here without re-signing the first one's CRLs.
pub(crate) async fn bind(port: u16) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            format!(
                "binding 127.0.0.1:{port}: {e} (is another instance running? pass --port N); \
                 the demo PKI was not touched"
            )
        })
}

/// Parsed command line.
#[derive(Debug)]
pub(crate) struct Args {
    /// A policy file to use instead of the demo folder's `policy.toml`.
    pub(crate) policy: Option<PathBuf>,
    /// The port to listen on (127.0.0.1).
    pub(crate) port: u16,
    /// The demo PKI folder (default `./demo-pki`).
    pub(crate) dir: PathBuf,
    /// Plain HTTP (HTTP/1.1 and h2c) behind a TLS-terminating proxy, for a policy with a
    /// `[forwarded]` section (server example only).
    pub(crate) plain: bool,
    /// Serve Prometheus text at `http://127.0.0.1:N/metrics` (server example only).
    pub(crate) metrics_port: Option<u16>,
    /// Record every verdict in this hash-chained audit log (server example only).
    pub(crate) audit_log: Option<PathBuf>,
    /// Mount the attested-enrollment router at `/enroll`, outside the gate, issuing from the
    /// demo CA (server example only; the policy needs an `[enroll]` section).
    pub(crate) enroll: bool,
}

impl Args {
    /// The policy to load: `--policy` (made absolute, so a SIGHUP reload finds the same file),
    /// else `default`.
    pub(crate) fn policy_path(&self, default: PathBuf) -> Result<PathBuf, String> {
        match &self.policy {
            Some(path) => {
                std::fs::canonicalize(path).map_err(|e| format!("--policy {}: {e}", path.display()))
            }
            None => Ok(default),
        }
    }

    /// Parses `std::env::args()`; on `--help` or a bad flag prints usage and exits.
    pub(crate) fn parse(example: &str, default_port: u16) -> Self {
        let usage = format!(
            "usage: cargo run --example {example} -- [--policy FILE] [--port N] [--dir DIR]\n\
             \n  --policy FILE  policy file (TOML or JSON); default: DIR/policy.toml\
             \n  --port N       port on 127.0.0.1 (default {default_port})\
             \n  --dir DIR      demo PKI folder, generated when missing (default ./demo-pki)\
             \n  --plain        plain HTTP behind a proxy (server example; the policy needs [forwarded])\
             \n  --metrics-port N  Prometheus text at http://127.0.0.1:N/metrics (server example)\
             \n  --audit-log PATH  hash-chained verdict log (server example; `certgate audit verify PATH`)\
             \n  --enroll       attested enrollment at /enroll (server example; the policy needs [enroll])"
        );
        let mut parsed = Self {
            policy: None,
            port: default_port,
            dir: PathBuf::from("demo-pki"),
            plain: false,
            metrics_port: None,
            audit_log: None,
            enroll: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next().unwrap_or_else(|| {
                    eprintln!("{flag} needs a value\n\n{usage}");
                    std::process::exit(2)
                })
            };
            match arg.as_str() {
                "--policy" => parsed.policy = Some(PathBuf::from(value("--policy"))),
                "--dir" => parsed.dir = PathBuf::from(value("--dir")),
                "--audit-log" => parsed.audit_log = Some(PathBuf::from(value("--audit-log"))),
                "--plain" => parsed.plain = true,
                "--enroll" => parsed.enroll = true,
                "--port" => {
                    let text = value("--port");
                    parsed.port = text.parse().unwrap_or_else(|_| {
                        eprintln!("--port: not a port number: {text:?}\n\n{usage}");
                        std::process::exit(2)
                    });
                }
                "--metrics-port" => {
                    let text = value("--metrics-port");
                    parsed.metrics_port = Some(text.parse().unwrap_or_else(|_| {
                        eprintln!("--metrics-port: not a port number: {text:?}\n\n{usage}");
                        std::process::exit(2)
                    }));
                }
                "-h" | "--help" => {
                    println!("{usage}");
                    std::process::exit(0)
                }
                other => {
                    eprintln!("unknown argument {other:?}\n\n{usage}");
                    std::process::exit(2)
                }
            }
        }
        parsed
    }
}
