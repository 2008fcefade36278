//! `certgate`: verify a certificate chain, or inspect a certificate, from the command line.
//!
//! Contract (scripts rely on it): exit status 0 accept, 1 reject, 2 usage or unreadable input;
//! `verify` prints exactly one JSON line on stdout.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use certgate::{AppId, AppRule, IdentitySource, PeerChain, Pin, Policy, Usage, VerifierBuilder};
use clap::{Parser, Subcommand, ValueEnum};
use rustls_pki_types::{ServerName, UnixTime};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "certgate",
    version,
    about = "Verify client certificate chains the way the certgate library does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify CHAIN.pem (leaf first, then the intermediates a peer would send).
    Verify(Box<VerifyArgs>),
    /// Print what a certificate says about itself (app id, names, pins, validity) as JSON.
    Inspect {
        /// The certificate (PEM or DER); every certificate in a PEM file is printed, one per line.
        cert: PathBuf,
    },
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Trusted roots (PEM, several per file, or DER). Repeatable.
    #[arg(long = "trust-anchors", value_name = "ROOTS.pem")]
    trust_anchors: Vec<PathBuf>,
    /// Intermediates the verifier may use besides those in CHAIN.pem. Repeatable.
    #[arg(long, value_name = "INTERS.pem")]
    intermediates: Vec<PathBuf>,
    /// CRLs (PEM or DER). Repeatable. Once any is given, revocation is checked.
    #[arg(long, value_name = "CRL.pem")]
    crl: Vec<PathBuf>,
    /// Verification time (RFC 3339); defaults to now.
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// What the leaf must be good for.
    #[arg(long, value_enum, default_value_t = UsageArg::Client)]
    usage: UsageArg,
    /// With --usage server: the DNS name the certificate must be valid for. Without it (or
    /// --ip-address) no name is checked, as with `openssl verify -purpose sslserver`.
    #[arg(long, value_name = "NAME", conflicts_with = "ip_address")]
    dns_name: Option<String>,
    /// With --usage server: the IP address the certificate must be valid for.
    #[arg(long, value_name = "IP")]
    ip_address: Option<IpAddr>,
    /// Allow this app id (and refuse every other). Repeatable. Added to a policy's apps; a
    /// policy that lists no apps (any app) is narrowed to these.
    #[arg(long = "allow-app", value_name = "APP_ID")]
    allow_app: Vec<String>,
    /// Require one of these SPKI pins on the path. Repeatable. Refused with a policy that has
    /// pins of its own (adding to "any one of" would widen them).
    #[arg(long = "pin-spki", value_name = "sha256/BASE64")]
    pin_spki: Vec<String>,
    /// A certgate policy file; the flags above add to it.
    #[arg(long, value_name = "POLICY.toml")]
    policy: Option<PathBuf>,
    /// The chain to verify: leaf first.
    chain: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UsageArg {
    Client,
    Server,
}

/// Usage or unreadable input: exit 2 with a message on stderr.
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => verify(*args),
        Command::Inspect { cert } => inspect(&cert),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("certgate: {message}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode, UsageError> {
    let now = match &args.time {
        Some(text) => {
            certgate::parse_rfc3339(text).map_err(|e| UsageError(format!("--time: {e}")))?
        }
        None => UnixTime::now(),
    };
    let usage = match (args.usage, &args.dns_name, &args.ip_address) {
        (UsageArg::Client, None, None) => Usage::Client,
        (UsageArg::Client, _, _) => {
            return Err(UsageError(
                "--dns-name and --ip-address need --usage server".into(),
            ));
        }
        (UsageArg::Server, Some(name), _) => Usage::Server(Some(
            ServerName::try_from(name.clone())
                .map_err(|e| UsageError(format!("--dns-name: {e}")))?,
        )),
        (UsageArg::Server, None, Some(ip)) => {
            Usage::Server(Some(ServerName::IpAddress((*ip).into())))
        }
        (UsageArg::Server, None, None) => Usage::Server(None),
    };

    let mut builder = match &args.policy {
        Some(path) => Policy::builder_from_file(path).map_err(|e| UsageError(e.to_string()))?,
        // Without a policy the CLI checks any chain: an app id is reported when present and
        // required only when --allow-app asks for one.
        None => VerifierBuilder::new().require_app_id(false),
    };
    for path in &args.trust_anchors {
        for cert in read_certs(path, "--trust-anchors")? {
            builder = builder.trust_anchor(cert);
        }
    }
    for path in &args.intermediates {
        for cert in read_certs(path, "--intermediates")? {
            builder = builder.intermediate(cert);
        }
    }
    for path in &args.crl {
        let crls = certgate::pem::read_crls(path).map_err(|e| UsageError(format!("--crl: {e}")))?;
        for crl in crls {
            builder = builder.crl(crl);
        }
    }
    for app in &args.allow_app {
        let id = AppId::new(app).map_err(|e| UsageError(format!("--allow-app {app:?}: {e}")))?;
        // Already allowed (with the policy's own pins for it): nothing to add.
        if !builder.allows_app(&id) {
            builder = builder.allow_app(AppRule::new(id));
        }
    }
    if !args.pin_spki.is_empty() && builder.has_pins() {
        return Err(UsageError(
            "--pin-spki cannot be added to a policy that has pins: one of the pins must match, \
             so adding one would widen the policy's; put it in the policy instead"
                .into(),
        ));
    }
    for pin in &args.pin_spki {
        let pin: Pin = pin
            .parse()
            .map_err(|e| UsageError(format!("--pin-spki: {e}")))?;
        builder = builder.pin(pin);
    }
    // A server certificate carries no app id; without a policy, do not ask for one. A policy
    // that requires one keeps requiring it (flags add, never relax).
    if usage != Usage::Client && args.policy.is_none() {
        builder = builder.require_app_id(false);
    }
    let verifier = builder
        .usage(usage)
        .build()
        .map_err(|e| UsageError(e.to_string()))?;
    let chain = read_certs(&args.chain, "CHAIN")?;

    let line = match verifier.verify(&PeerChain::new(chain), now) {
        Ok(identity) => {
            print_line(&Accept {
                verdict: "accept",
                identity: &identity,
            });
            ExitCode::SUCCESS
        }
        Err(rejection) => {
            let detail = rejection.to_string();
            print_line(&Reject {
                verdict: "reject",
                code: rejection.code(),
                detail: &detail,
            });
            ExitCode::from(1)
        }
    };
    Ok(line)
}

fn inspect(path: &Path) -> Result<ExitCode, UsageError> {
    let certs = read_certs(path, "CERT")?;
    let source = IdentitySource::default();
    let mut code = ExitCode::SUCCESS;
    for cert in certs {
        match certgate::inspect(&cert, &source) {
            Ok(info) => print_line(&info),
            Err(rejection) => {
                let detail = rejection.to_string();
                print_line(&Reject {
                    verdict: "reject",
                    code: rejection.code(),
                    detail: &detail,
                });
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

fn read_certs(
    path: &Path,
    what: &str,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, UsageError> {
    certgate::pem::read_certificates(path).map_err(|e| UsageError(format!("{what}: {e}")))
}

/// `{"verdict":"accept","identity":{...}}`, fields in that order.
#[derive(Serialize)]
struct Accept<'a> {
    verdict: &'static str,
    identity: &'a certgate::PeerIdentity,
}

/// `{"verdict":"reject","code":"...","detail":"..."}`, fields in that order.
#[derive(Serialize)]
struct Reject<'a> {
    verdict: &'static str,
    code: &'static str,
    detail: &'a str,
}

fn print_line(value: &impl Serialize) {
    let line = match serde_json::to_string(value) {
        Ok(line) => line,
        // Serializing these plain structs cannot fail; say so rather than print nothing.
        Err(e) => format!(
            "{{\"verdict\":\"reject\",\"code\":\"invalid_chain\",\"detail\":\"output: {e}\"}}"
        ),
    };
    // A closed stdout (`certgate verify ... | head -c0`) is not worth a panic: the exit
    // status still carries the verdict.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
