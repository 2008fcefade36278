//! `certgate`: verify a certificate chain, or inspect a certificate, from the command line.
//!
//! Contract (scripts rely on it): exit status 0 accept (or observe: every failing code is
//! observed by the policy's `[modes]`), 1 reject, 2 error. `verify` prints
//! exactly one JSON line on stdout, and so does every error:
//! `{"verdict":"error","code":"usage"|"input"|"policy","detail":"…"}` (the detail is also
//! written to stderr, with any policy warnings). `inspect` prints one JSON line per certificate
//! or CRL. `--help` and `--version` print human text and exit 0.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use certgate::{AppId, AppRule, IdentitySource, PeerChain, Pin, Policy, Usage, VerifierBuilder};
use clap::{Parser, Subcommand, ValueEnum};
use rustls_pki_types::{ServerName, UnixTime};
use serde::Serialize;

#[cfg(feature = "audit")]
mod audit;
mod inspect;
#[cfg(feature = "issue")]
mod lifecycle;
#[cfg(feature = "issue")]
mod policy_check;

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
    /// Print what a certificate or CRL says about itself as JSON, one line each: for
    /// certificates app id, names, pins, validity, keyUsage, extendedKeyUsage and
    /// basicConstraints; for CRLs issuer, number, this/next update and entry count.
    Inspect {
        /// The certificates or CRLs (PEM or DER); every one in a PEM file is printed.
        cert: PathBuf,
    },
    /// Certificate authority: `ca init DIR`.
    #[cfg(feature = "issue")]
    #[command(subcommand)]
    Ca(lifecycle::CaCommand),
    /// Issue an app certificate (PEM, and PKCS#12 with --p12).
    #[cfg(feature = "issue")]
    Issue(Box<lifecycle::IssueArgs>),
    /// Revoke a certificate and re-sign the CRLs.
    #[cfg(feature = "issue")]
    Revoke(lifecycle::RevokeArgs),
    /// Re-sign the CRLs now (cron-friendly); prints where they went.
    #[cfg(feature = "issue")]
    Crl(lifecycle::CrlArgs),
    /// List issued certificates.
    #[cfg(feature = "issue")]
    List(lifecycle::ListArgs),
    /// Policy tools: `policy check POLICY.toml`.
    #[cfg(feature = "issue")]
    #[command(subcommand)]
    Policy(policy_check::PolicyCommand),
    /// The sha256/<base64> SPKI pin of a certificate, key or CSR.
    #[cfg(feature = "issue")]
    Pin(lifecycle::PinArgs),
    /// Verdict log tools: `audit verify LOG`, `audit replay LOG`.
    #[cfg(feature = "audit")]
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Put a leaf on the fleet-wide denylist in Redis (or take it off with --remove): every
    /// replica on that Redis refuses it `denylisted` within a second.
    #[cfg(feature = "redis")]
    Deny(DenyArgs),
}

#[cfg(feature = "redis")]
#[derive(clap::Args)]
struct DenyArgs {
    /// The Redis the replicas share (`[signals.store] url`).
    #[arg(long, value_name = "redis://HOST:PORT")]
    store: String,
    /// The leaf's SHA-256 (64 hex digits, as in events and `certgate list`).
    #[arg(long, value_name = "HEX")]
    fingerprint: String,
    /// How long the entry lasts: seconds, or a number with s, m, h or d (at most 3650d).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30d",
        conflicts_with = "remove"
    )]
    ttl: String,
    /// Take the leaf off the denylist instead.
    #[arg(long)]
    remove: bool,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Trusted roots (PEM, several per file, or DER). Repeatable. Not with --policy.
    #[arg(long = "trust-anchors", value_name = "ROOTS.pem")]
    trust_anchors: Vec<PathBuf>,
    /// Intermediates the verifier may use besides those in CHAIN.pem. Repeatable. Not with
    /// --policy.
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
    /// Allow this app id (and refuse every other). Repeatable. With --policy: a policy that
    /// lists no apps (any app) is narrowed to these; one that lists apps only takes its own.
    #[arg(long = "allow-app", value_name = "APP_ID")]
    allow_app: Vec<String>,
    /// Require one of these SPKI pins on the path. Repeatable. Refused with a policy that has
    /// pins of its own (adding to "any one of" would widen them).
    #[arg(long = "pin-spki", value_name = "sha256/BASE64")]
    pin_spki: Vec<String>,
    /// A certgate policy file. Flags may only narrow it (--crl, --pin-spki when it has no
    /// pins, --allow-app when it lists no apps); --trust-anchors and --intermediates are
    /// refused with it.
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

/// Why the command could not run: exit 2 with one JSON line on stdout.
enum Failure {
    /// The command line is wrong (clap's own errors included).
    Usage(String),
    /// A file named on the command line cannot be read, or is refused as given.
    Input(String),
    /// The policy file (or the verifier configuration built from it) is refused.
    Policy(String),
    /// The shared store (Redis) is unreachable or refused the change.
    #[cfg(feature = "redis")]
    Store(String),
}

/// `{"verdict":"error","code":"...","detail":"..."}`, fields in that order.
#[derive(Serialize)]
struct ErrorLine<'a> {
    verdict: &'static str,
    code: &'static str,
    detail: &'a str,
}

fn fail(failure: Failure) -> ExitCode {
    let (code, detail) = match &failure {
        Failure::Usage(d) => ("usage", d),
        Failure::Input(d) => ("input", d),
        Failure::Policy(d) => ("policy", d),
        #[cfg(feature = "redis")]
        Failure::Store(d) => ("store", d),
    };
    let detail = detail.trim_end();
    eprintln!("certgate: {detail}");
    print_line(&ErrorLine {
        verdict: "error",
        code,
        detail,
    });
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            return match err.kind() {
                // Asked for: human text on stdout, success.
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = err.print();
                    ExitCode::SUCCESS
                }
                _ => fail(Failure::Usage(err.render().to_string())),
            };
        }
    };
    let result = match cli.command {
        Command::Verify(args) => verify(*args),
        Command::Inspect { cert } => inspect(&cert),
        #[cfg(feature = "issue")]
        Command::Ca(c) => return lifecycle::ca(c),
        #[cfg(feature = "issue")]
        Command::Issue(a) => return lifecycle::issue(*a),
        #[cfg(feature = "issue")]
        Command::Revoke(a) => return lifecycle::revoke(a),
        #[cfg(feature = "issue")]
        Command::Crl(a) => return lifecycle::crl(a),
        #[cfg(feature = "issue")]
        Command::List(a) => return lifecycle::list(a),
        #[cfg(feature = "issue")]
        Command::Policy(c) => return policy_check::policy(c),
        #[cfg(feature = "issue")]
        Command::Pin(a) => return lifecycle::pin(a),
        #[cfg(feature = "audit")]
        Command::Audit(c) => return audit::run(c),
        #[cfg(feature = "redis")]
        Command::Deny(a) => deny(&a),
    };
    result.unwrap_or_else(fail)
}

/// `{"action":"deny"|"remove","fingerprint":"…","until":"RFC 3339"|null}`.
#[cfg(feature = "redis")]
#[derive(Serialize)]
struct DenyLine<'a> {
    action: &'static str,
    fingerprint: &'a str,
    until: Option<String>,
}

#[cfg(feature = "redis")]
fn deny(args: &DenyArgs) -> Result<ExitCode, Failure> {
    let leaf = parse_fingerprint(&args.fingerprint)
        .ok_or_else(|| Failure::Usage("--fingerprint: 64 hex digits (a SHA-256)".into()))?;
    let fingerprint = args.fingerprint.trim().to_ascii_lowercase();
    if args.remove {
        certgate::signals::undeny(&args.store, &leaf).map_err(Failure::Store)?;
        print_line(&DenyLine {
            action: "remove",
            fingerprint: &fingerprint,
            until: None,
        });
        return Ok(ExitCode::SUCCESS);
    }
    let ttl = parse_duration(&args.ttl).map_err(|e| Failure::Usage(format!("--ttl: {e}")))?;
    let now = UnixTime::now().as_secs();
    let until = certgate::signals::deny(&args.store, &leaf, ttl, now).map_err(Failure::Store)?;
    print_line(&DenyLine {
        action: "deny",
        fingerprint: &fingerprint,
        until: Some(certgate::format_rfc3339(UnixTime::since_unix_epoch(
            std::time::Duration::from_secs(until),
        ))),
    });
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "redis")]
fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `90`, `90s`, `15m`, `12h`, `30d` → seconds.
#[cfg(feature = "redis")]
fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (text.get(..i).unwrap_or(""), c),
        _ => (text, 's'),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (30d, 12h, 15m, 90s)"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    let seconds = number.saturating_mul(unit);
    if seconds == 0 || seconds > certgate::signals::MAX_DENY_SECONDS {
        return Err("must be 1 s to 3650 days".into());
    }
    Ok(seconds)
}

fn verify(args: VerifyArgs) -> Result<ExitCode, Failure> {
    let now = match &args.time {
        Some(text) => {
            certgate::parse_rfc3339(text).map_err(|e| Failure::Usage(format!("--time: {e}")))?
        }
        None => UnixTime::now(),
    };
    let usage = match (args.usage, &args.dns_name, &args.ip_address) {
        (UsageArg::Client, None, None) => Usage::Client,
        (UsageArg::Client, _, _) => {
            return Err(Failure::Usage(
                "--dns-name and --ip-address need --usage server".into(),
            ));
        }
        (UsageArg::Server, Some(name), _) => Usage::Server(Some(
            ServerName::try_from(name.clone())
                .map_err(|e| Failure::Usage(format!("--dns-name: {e}")))?,
        )),
        (UsageArg::Server, None, Some(ip)) => {
            Usage::Server(Some(ServerName::IpAddress((*ip).into())))
        }
        (UsageArg::Server, None, None) => Usage::Server(None),
    };

    let mut builder = match &args.policy {
        Some(path) => {
            // Flags narrow a policy, never widen it: another anchor or intermediate would
            // accept chains the policy refuses.
            for (flag, given) in [
                ("--trust-anchors", !args.trust_anchors.is_empty()),
                ("--intermediates", !args.intermediates.is_empty()),
            ] {
                if given {
                    return Err(Failure::Usage(format!(
                        "{flag} cannot be used with --policy: it would widen the policy's trust; \
                         put it in the policy's [trust] section instead"
                    )));
                }
            }
            Policy::builder_from_file(path).map_err(|e| Failure::Policy(e.to_string()))?
        }
        // Without a policy the CLI checks any chain: an app id is reported when present and
        // required only when --allow-app asks for one.
        None => {
            if args.trust_anchors.is_empty() {
                return Err(Failure::Usage(
                    "no trust anchor: pass --trust-anchors ROOTS.pem or --policy POLICY.toml"
                        .into(),
                ));
            }
            VerifierBuilder::new().require_app_id(false)
        }
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
        let crls =
            certgate::pem::read_crls(path).map_err(|e| Failure::Input(format!("--crl: {e}")))?;
        for crl in crls {
            builder = builder.crl(crl);
        }
    }
    for app in &args.allow_app {
        let id =
            AppId::new(app).map_err(|e| Failure::Usage(format!("--allow-app {app:?}: {e}")))?;
        // Already allowed (with the policy's own pins for it): nothing to add.
        if builder.allows_app(&id) {
            continue;
        }
        // A policy that lists apps refuses every other: adding one would widen it.
        if args.policy.is_some() && builder.has_apps() {
            return Err(Failure::Usage(format!(
                "--allow-app {app}: the policy does not list this app, and flags cannot add to \
                 its list; add it to the policy's [[apps]] instead"
            )));
        }
        builder = builder.allow_app(AppRule::new(id));
    }
    if !args.pin_spki.is_empty() && builder.has_pins() {
        return Err(Failure::Usage(
            "--pin-spki cannot be added to a policy that has pins: one of the pins must match, \
             so adding one would widen the policy's; put it in the policy instead"
                .into(),
        ));
    }
    for pin in &args.pin_spki {
        let pin: Pin = pin
            .parse()
            .map_err(|e| Failure::Usage(format!("--pin-spki: {e}")))?;
        builder = builder.pin(pin);
    }
    // A server certificate carries no app id; without a policy, do not ask for one. A policy
    // that requires one keeps requiring it (flags add, never relax).
    if usage != Usage::Client && args.policy.is_none() {
        builder = builder.require_app_id(false);
    }
    // From the builder, so the policy file's `[modes]` come along.
    let policy = Policy::from_builder(builder.usage(usage)).map_err(|e| match &args.policy {
        Some(path) if e.file().is_none() => Failure::Policy(format!("{}: {e}", path.display())),
        Some(_) => Failure::Policy(e.to_string()),
        None => Failure::Input(e.to_string()),
    })?;
    for warning in policy.warnings() {
        eprintln!("certgate: warning: {warning}");
    }
    let chain = read_certs(&args.chain, "CHAIN")?;

    // Judged as a gate with the policy's `[modes]` judges it: a rejection whose every code is
    // observed is reported as "observe" and exits 0, like a request the server lets through.
    let gate = certgate::Gate::new(policy);
    let verdict = gate.check(&PeerChain::new(chain), now);
    let line = match (verdict.identity(), verdict.rejection()) {
        (Some(identity), _) => {
            print_line(&Accept {
                verdict: "accept",
                identity,
            });
            ExitCode::SUCCESS
        }
        (None, Some(rejection)) => {
            let detail = rejection.to_string();
            let refused = verdict.is_refused();
            print_line(&Reject {
                verdict: if refused { "reject" } else { "observe" },
                code: rejection.code(),
                detail: &detail,
                codes: verdict.codes(),
            });
            if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        (None, None) => {
            return Err(Failure::Input(
                "the verdict has neither identity nor rejection".into(),
            ));
        }
    };
    Ok(line)
}

fn inspect(path: &Path) -> Result<ExitCode, Failure> {
    let input = |e: String| Failure::Input(format!("CERT {}: {e}", path.display()));
    let bytes = read_file(path, certgate::pem::MAX_CRL_FILE_BYTES)?;
    // A PEM file may hold both: certificates are printed first, then CRLs.
    let has_crls = is_crl_file(&bytes);
    let has_certs = !has_crls || contains(&bytes, b"-----BEGIN CERTIFICATE-----");
    // Everything is read before anything is printed: an error is the only line.
    let certs = if has_certs {
        certgate::pem::parse_certificates(&bytes).map_err(input)?
    } else {
        Vec::new()
    };
    let mut crls = Vec::new();
    if has_crls {
        for crl in certgate::pem::parse_crls(&bytes).map_err(input)? {
            crls.push(inspect::crl(crl.as_ref()).map_err(input)?);
        }
    }
    let source = IdentitySource::default();
    let mut code = ExitCode::SUCCESS;
    for cert in certs {
        match certgate::inspect(&cert, &source) {
            Ok(info) => print_line(&inspect::Certificate::new(info, &cert)),
            Err(rejection) => {
                let detail = rejection.to_string();
                print_line(&Reject {
                    verdict: "reject",
                    code: rejection.code(),
                    detail: &detail,
                    codes: vec![rejection.code()],
                });
                code = ExitCode::from(1);
            }
        }
    }
    for crl in &crls {
        print_line(crl);
    }
    Ok(code)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `bytes` hold CRLs: PEM `X509 CRL` blocks, or DER that parses as a CRL and not as a
/// certificate.
fn is_crl_file(bytes: &[u8]) -> bool {
    use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};
    if contains(bytes, b"-----BEGIN X509 CRL-----") {
        return true;
    }
    bytes.first() == Some(&0x30)
        && X509Certificate::from_der(bytes).is_err()
        && CertificateRevocationList::from_der(bytes).is_ok()
}

/// Reads a regular file of at most `max` bytes.
fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let input = |e: String| Failure::Input(format!("CERT {}: {e}", path.display()));
    let metadata = std::fs::metadata(path).map_err(|e| {
        input(match e.kind() {
            std::io::ErrorKind::NotFound => format!("no such file: {}", path.display()),
            _ => e.to_string(),
        })
    })?;
    if !metadata.is_file() {
        return Err(input("not a regular file".into()));
    }
    if metadata.len() > max {
        return Err(input(format!("larger than {max} bytes")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max).read_to_end(&mut bytes))
        .map_err(|e| input(e.to_string()))?;
    Ok(bytes)
}

fn read_certs(
    path: &Path,
    what: &str,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, Failure> {
    certgate::pem::read_certificates(path).map_err(|e| Failure::Input(format!("{what}: {e}")))
}

/// `{"verdict":"accept","identity":{...}}`, fields in that order.
#[derive(Serialize)]
struct Accept<'a> {
    verdict: &'static str,
    identity: &'a certgate::PeerIdentity,
}

/// `{"verdict":"reject"|"observe","code":"...","detail":"...","codes":[...]}`, fields in
/// that order: `code` is the first failing check, `codes` every failing code.
#[derive(Serialize)]
struct Reject<'a> {
    verdict: &'static str,
    code: &'static str,
    detail: &'a str,
    codes: Vec<&'static str>,
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
