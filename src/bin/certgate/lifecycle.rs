//! `ca init`, `issue`, `revoke`, `crl`, `list` and `pin`: the certificate lifecycle over
//! `certgate::issue`. Human text on stdout by default, one JSON document with `--json`; errors
//! on stderr (and as `{"verdict":"error",...}` on stdout with `--json`), exit 2.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use certgate::issue::{
    Algorithm, Ca, CaConfig, Csr, IssueRequest, ListFilter, P12Format, RevocationReason,
    RevokeTarget, Store, SubjectKey,
};
use serde::Serialize;
use sha2::Digest as _;

/// A failure of a lifecycle command: exit 2, the message names the file.
pub(crate) struct Failure {
    code: &'static str,
    detail: String,
}

impl Failure {
    pub(crate) fn usage(detail: impl Into<String>) -> Self {
        Self {
            code: "usage",
            detail: detail.into(),
        }
    }

    pub(crate) fn input(detail: impl std::fmt::Display) -> Self {
        Self {
            code: "input",
            detail: detail.to_string(),
        }
    }

    pub(crate) fn policy(detail: impl std::fmt::Display) -> Self {
        Self {
            code: "policy",
            detail: detail.to_string(),
        }
    }
}

impl From<certgate::issue::IssueError> for Failure {
    fn from(e: certgate::issue::IssueError) -> Self {
        Self::input(e)
    }
}

/// Prints the failure the way `--json` asks and returns exit status 2.
pub(crate) fn fail(json: bool, failure: Failure) -> ExitCode {
    eprintln!("certgate: {}", failure.detail);
    if json {
        emit_json(&serde_json::json!({
            "verdict": "error",
            "code": failure.code,
            "detail": failure.detail,
        }));
    }
    ExitCode::from(2)
}

pub(crate) fn emit_json(value: &impl Serialize) {
    let text = serde_json::to_string(value).unwrap_or_else(|e| {
        format!("{{\"verdict\":\"error\",\"code\":\"input\",\"detail\":\"output: {e}\"}}")
    });
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

#[derive(clap::Subcommand)]
pub(crate) enum CaCommand {
    /// Make a root and an issuing intermediate in DIR, the database, the CRLs and a starter
    /// policy.toml.
    Init(CaInitArgs),
}

#[derive(clap::Args)]
pub(crate) struct CaInitArgs {
    /// The CA directory (created if missing; refused if it holds a CA).
    dir: PathBuf,
    /// Key algorithm of the root and the intermediate.
    #[arg(long, default_value = "p256", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Organization name in the CA certificates.
    #[arg(long, default_value = "certgate")]
    name: String,
    /// Root lifetime in years (the intermediate gets 5, never past the root).
    #[arg(long, default_value_t = 20)]
    root_years: u32,
    /// CRL distribution point URL written into every issued certificate.
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
    /// Encrypt the CA keys with the passphrase in this file (first line).
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub(crate) struct IssueArgs {
    /// The CA directory.
    dir: PathBuf,
    /// The app id (SAN URI app://APP_ID).
    #[arg(long = "app", value_name = "APP_ID")]
    app: String,
    /// An install id (UUID), written as SAN URI urn:uuid:ID.
    #[arg(long, value_name = "ID")]
    install_id: Option<String>,
    /// Validity in days (capped by the intermediate).
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Certify the public key of this PKCS#10 request (PEM or DER) instead of a new key.
    #[arg(long, value_name = "FILE")]
    csr: Option<PathBuf>,
    /// Write PREFIX.pem (certificate + intermediate) and PREFIX.key (new key, mode 0600).
    /// Default: the app id, in the current directory.
    #[arg(long, value_name = "PREFIX")]
    out: Option<PathBuf>,
    /// Also write a PKCS#12 file with the key and chain.
    #[arg(long, value_name = "FILE", requires = "password_file")]
    p12: Option<PathBuf>,
    /// The PKCS#12 password, first line of this file.
    #[arg(long, value_name = "F", requires = "p12")]
    password_file: Option<PathBuf>,
    /// PKCS#12 encryption: modern (AES-256, HMAC-SHA256) or legacy (3DES, HMAC-SHA1).
    #[arg(long, default_value = "modern", value_parser = parse_p12_format)]
    p12_format: P12Format,
    /// Passphrase of encrypted CA keys.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["serial", "fingerprint", "cert", "install_id"])))]
pub(crate) struct RevokeArgs {
    /// The CA directory.
    dir: PathBuf,
    /// Serial number, hex (colons allowed).
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// SHA-256 of the certificate, 64 hex digits (colons allowed).
    #[arg(long, value_name = "HEX")]
    fingerprint: Option<String>,
    /// The certificate file (PEM or DER; the first certificate).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Every certificate of an enrolled install (its `urn:uuid` install id), and the install
    /// itself: it can no longer renew.
    #[arg(long, value_name = "UUID")]
    install_id: Option<String>,
    /// CRL reason code.
    #[arg(long, default_value = "unspecified", value_parser = parse_reason)]
    reason: RevocationReason,
    /// Passphrase of encrypted CA keys.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub(crate) struct CrlArgs {
    /// The CA directory.
    dir: PathBuf,
    /// nextUpdate from now: 7d, 36h, 90m, 3600s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    next_update: Option<Duration>,
    /// Passphrase of encrypted CA keys.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// The CA directory.
    dir: PathBuf,
    /// Only this app id.
    #[arg(long = "app", value_name = "APP_ID")]
    app: Option<String>,
    /// Only revoked certificates.
    #[arg(long)]
    revoked: bool,
    /// Only unrevoked certificates expiring within this duration (30d, 12h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    expiring: Option<Duration>,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub(crate) struct PinArgs {
    /// A certificate, private key, public key or CSR (PEM or DER).
    file: PathBuf,
    /// One JSON document on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn ca(command: CaCommand) -> ExitCode {
    let CaCommand::Init(args) = command;
    let json = args.json;
    match ca_init(args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn ca_init(args: CaInitArgs) -> Result<ExitCode, Failure> {
    let mut config = CaConfig::new(args.name);
    config.algorithm = args.algorithm;
    config.root_years = args.root_years;
    config.crl_url = args.crl_url;
    config.key_passphrase =
        read_password(args.key_password_file.as_deref(), "--key-password-file")?;
    let ca = Ca::init(&args.dir, &config)?;
    let dir = ca.dir().display().to_string();
    if args.json {
        emit_json(&serde_json::json!({
            "verdict": "ok",
            "dir": dir,
            "algorithm": ca.algorithm().name(),
            "root": args.dir.join("root.pem"),
            "intermediate": args.dir.join("intermediate.pem"),
            "policy": ca.policy_path(),
            "crls": [args.dir.join("intermediate.crl.pem"), args.dir.join("root.crl.pem")],
            "database": ca.store().path(),
        }));
    } else {
        say(&format!(
            "CA ({}) created in {dir}\n  root:         {dir}/root.pem (key root.key, mode 0600)\n  intermediate: {dir}/intermediate.pem (key intermediate.key, mode 0600)\n  CRLs:         {dir}/intermediate.crl.pem, {dir}/root.crl.pem\n  database:     {dir}/certgate.db\n  policy:       {dir}/policy.toml\nNext: certgate issue {dir} --app APP_ID --p12 app.p12 --password-file PASSWORD_FILE",
            ca.algorithm()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn issue(args: IssueArgs) -> ExitCode {
    let json = args.json;
    match issue_inner(args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn issue_inner(args: IssueArgs) -> Result<ExitCode, Failure> {
    let mut request = IssueRequest::new(&args.app)?;
    if let Some(id) = &args.install_id {
        request = request.install_id(id)?;
    }
    if args.days == 0 || args.days > 3660 {
        return Err(Failure::usage("--days: 1 to 3660"));
    }
    request = request.validity(Duration::from_secs(args.days * 86400));
    if let Some(path) = &args.csr {
        if args.p12.is_some() {
            return Err(Failure::usage(
                "--p12 needs the private key, which a CSR does not carry; leave out --csr or --p12",
            ));
        }
        let bytes = read_file(path)?;
        let csr =
            Csr::parse(&bytes).map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        request = request.key(SubjectKey::Csr(csr));
    }
    let password = read_password(args.password_file.as_deref(), "--password-file")?;
    let prefix = args.out.clone().unwrap_or_else(|| PathBuf::from(&args.app));
    let pem_path = with_suffix(&prefix, "pem");
    let key_path = with_suffix(&prefix, "key");
    // Refuse before issuing, so a refusal leaves nothing half-done.
    let mut outputs = vec![pem_path.clone()];
    if args.csr.is_none() {
        outputs.push(key_path.clone());
    }
    outputs.extend(args.p12.clone());
    for path in &outputs {
        if path.exists() {
            return Err(Failure::input(format!(
                "{} exists; refusing to overwrite it (choose another --out or --p12)",
                path.display()
            )));
        }
    }
    let key_password = read_password(args.key_password_file.as_deref(), "--key-password-file")?;
    let mut ca = Ca::open(&args.dir, key_password.as_deref())?;
    let issued = ca.issue(&request)?;
    let p12 = match (&args.p12, &password) {
        (Some(_), Some(password)) => Some(issued.to_pkcs12(password, args.p12_format)?),
        _ => None,
    };
    write_file(&pem_path, issued.chain_pem().as_bytes(), 0o644)?;
    let mut written = vec![pem_path.display().to_string()];
    if let Some(key) = issued.key_pem() {
        write_file(&key_path, key.as_bytes(), 0o600)?;
        written.push(key_path.display().to_string());
    }
    if let (Some(path), Some(bytes)) = (&args.p12, &p12) {
        write_file(path, bytes, 0o600)?;
        written.push(path.display().to_string());
    }
    let record = issued.record();
    if args.json {
        emit_json(&serde_json::json!({
            "verdict": "ok",
            "certificate": record,
            "files": written,
            "p12_format": args.p12.as_ref().map(|_| args.p12_format),
        }));
    } else {
        say(&format!(
            "issued {} for app {}{}\n  serial:      {}\n  fingerprint: {}\n  pin:         {}\n  valid:       {} .. {}\n  files:       {}",
            record.subject,
            record.app_id,
            record
                .install_id
                .as_ref()
                .map(|i| format!(" (install {i})"))
                .unwrap_or_default(),
            record.serial,
            record.sha256,
            record.spki_pin,
            rfc3339(record.not_before),
            rfc3339(record.not_after),
            written.join(", ")
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn revoke(args: RevokeArgs) -> ExitCode {
    let json = args.json;
    match revoke_inner(args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn revoke_inner(args: RevokeArgs) -> Result<ExitCode, Failure> {
    if let Some(install_id) = &args.install_id {
        return revoke_install(&args, install_id);
    }
    let target = match (&args.serial, &args.fingerprint, &args.cert) {
        (Some(serial), _, _) => RevokeTarget::Serial(serial.clone()),
        (_, Some(fp), _) => RevokeTarget::Fingerprint(fp.clone()),
        (_, _, Some(path)) => {
            let mut certs = certgate::pem::read_certificates(path)
                .map_err(|e| Failure::input(format!("--cert {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Failure::input(format!(
                    "--cert {}: no certificate",
                    path.display()
                )));
            }
            RevokeTarget::Certificate(certs.swap_remove(0))
        }
        _ => return Err(Failure::usage("one of --serial, --fingerprint, --cert")),
    };
    let key_password = read_password(args.key_password_file.as_deref(), "--key-password-file")?;
    let mut ca = Ca::open(&args.dir, key_password.as_deref())?;
    let revoked = ca.revoke(&target, args.reason)?;
    if args.json {
        emit_json(&serde_json::json!({
            "verdict": "ok",
            "certificate": revoked.record,
            "crl": revoked.crl,
        }));
    } else {
        say(&format!(
            "revoked {} (app {}, reason {})\nCRL {} number {} lists {} revoked; {} number {}\nnext update {}; reload the servers (SIGHUP) to refuse it now",
            revoked.record.serial,
            revoked.record.app_id,
            args.reason,
            revoked.crl.intermediate_crl.display(),
            revoked.crl.intermediate_number,
            revoked.crl.revoked,
            revoked.crl.root_crl.display(),
            revoked.crl.root_number,
            rfc3339(revoked.crl.next_update),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke_install(args: &RevokeArgs, install_id: &str) -> Result<ExitCode, Failure> {
    let key_password = read_password(args.key_password_file.as_deref(), "--key-password-file")?;
    let mut ca = Ca::open(&args.dir, key_password.as_deref())?;
    let revoked = ca.revoke_install(install_id, args.reason)?;
    if args.json {
        emit_json(&serde_json::json!({
            "verdict": "ok",
            "install_id": install_id.to_ascii_lowercase(),
            "certificates": revoked.records,
            "crl": revoked.crl,
        }));
    } else {
        let serials: Vec<&str> = revoked.records.iter().map(|r| r.serial.as_str()).collect();
        say(&format!(
            "revoked install {} ({} certificate(s): {}; reason {})\nCRL {} number {} lists {} revoked; {} number {}\nnext update {}; reload the servers (SIGHUP) to refuse it now",
            install_id.to_ascii_lowercase(),
            serials.len(),
            if serials.is_empty() {
                "none live".to_owned()
            } else {
                serials.join(", ")
            },
            args.reason,
            revoked.crl.intermediate_crl.display(),
            revoked.crl.intermediate_number,
            revoked.crl.revoked,
            revoked.crl.root_crl.display(),
            revoked.crl.root_number,
            rfc3339(revoked.crl.next_update),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn crl(args: CrlArgs) -> ExitCode {
    let json = args.json;
    match crl_inner(args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn crl_inner(args: CrlArgs) -> Result<ExitCode, Failure> {
    let key_password = read_password(args.key_password_file.as_deref(), "--key-password-file")?;
    let mut ca = Ca::open(&args.dir, key_password.as_deref())?;
    let report = ca.sign_crls(args.next_update)?;
    if args.json {
        emit_json(&serde_json::json!({ "verdict": "ok", "crl": report }));
    } else {
        say(&format!(
            "{} (number {}, {} revoked)\n{} (number {})\nthis update {}, next update {}",
            report.intermediate_crl.display(),
            report.intermediate_number,
            report.revoked,
            report.root_crl.display(),
            report.root_number,
            rfc3339(report.this_update),
            rfc3339(report.next_update),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn list(args: ListArgs) -> ExitCode {
    let json = args.json;
    match list_inner(args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn list_inner(args: ListArgs) -> Result<ExitCode, Failure> {
    let store = Store::open_existing(args.dir.join("certgate.db"))?;
    let mut filter = ListFilter::default();
    filter.app_id = args.app.clone();
    filter.revoked = args.revoked;
    if let Some(within) = args.expiring {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        filter.expiring_before = i64::try_from(now.saturating_add(within).as_secs()).ok();
    }
    let records = store.list(&filter)?;
    if args.json {
        emit_json(&serde_json::json!({ "verdict": "ok", "certificates": records }));
    } else {
        say(&format!(
            "{:<32}  {:<28}  {:<20}  {:<20}  status",
            "serial", "app", "not before", "not after"
        ));
        for r in &records {
            let status = match (&r.revoked_at, &r.reason) {
                (Some(at), reason) => format!(
                    "revoked {} ({})",
                    rfc3339(*at),
                    reason.map(|r| r.name()).unwrap_or("unspecified")
                ),
                (None, _) => "valid".to_owned(),
            };
            say(&format!(
                "{:<32}  {:<28}  {:<20}  {:<20}  {status}",
                r.serial,
                r.app_id,
                rfc3339(r.not_before),
                rfc3339(r.not_after)
            ));
        }
        say(&format!("{} certificate(s)", records.len()));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pin(args: PinArgs) -> ExitCode {
    let json = args.json;
    match pin_inner(&args) {
        Ok(code) => code,
        Err(f) => fail(json, f),
    }
}

fn pin_inner(args: &PinArgs) -> Result<ExitCode, Failure> {
    let bytes = read_file(&args.file)?;
    let (kind, spki) =
        spki_of(&bytes).map_err(|e| Failure::input(format!("{}: {e}", args.file.display())))?;
    let pin = format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&spki))
    );
    if args.json {
        emit_json(&serde_json::json!({ "verdict": "ok", "kind": kind, "pin": pin }));
    } else {
        say(&pin);
    }
    Ok(ExitCode::SUCCESS)
}

/// The SubjectPublicKeyInfo of a certificate, CSR, public key or private key, and which it was.
fn spki_of(bytes: &[u8]) -> Result<(&'static str, Vec<u8>), String> {
    use x509_parser::prelude::FromDer as _;
    let (label, der) = match std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN "))
    {
        Some(text) => {
            let start = text.find("-----BEGIN ").unwrap_or(0);
            let label = text
                .get(start + 11..)
                .and_then(|t| t.split("-----").next())
                .unwrap_or_default()
                .to_owned();
            let der = pem_body(text, &label).ok_or("unreadable PEM block")?;
            (Some(label), der)
        }
        None => (None, bytes.to_vec()),
    };
    let try_cert = || {
        x509_parser::parse_x509_certificate(&der)
            .ok()
            .map(|(_, c)| c.public_key().raw.to_vec())
    };
    let try_csr = || {
        x509_parser::certification_request::X509CertificationRequest::from_der(&der)
            .ok()
            .map(|(_, c)| c.certification_request_info.subject_pki.raw.to_vec())
    };
    let try_spki = || {
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&der)
            .ok()
            .filter(|(rest, _)| rest.is_empty())
            .map(|(_, k)| k.raw.to_vec())
    };
    let try_key = || {
        rcgen::KeyPair::try_from(der.as_slice())
            .ok()
            .map(|k| rcgen::PublicKeyData::subject_public_key_info(&k))
    };
    let found = match label.as_deref() {
        Some("CERTIFICATE") => try_cert().map(|s| ("certificate", s)),
        Some("CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") => try_csr().map(|s| ("csr", s)),
        Some("PUBLIC KEY") => try_spki().map(|s| ("public_key", s)),
        Some("PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY") => {
            try_key().map(|s| ("private_key", s))
        }
        Some(other) => {
            return Err(format!(
                "PEM label {other:?} is not a certificate, key or CSR"
            ));
        }
        None => try_cert()
            .map(|s| ("certificate", s))
            .or_else(|| try_csr().map(|s| ("csr", s)))
            .or_else(|| try_spki().map(|s| ("public_key", s)))
            .or_else(|| try_key().map(|s| ("private_key", s))),
    };
    found.ok_or_else(|| "not a certificate, public or private key, or CSR".to_owned())
}

fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text.get(start..)?.find(&end)? + start;
    let b64: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(Failure::input(format!(
            "{}: not a regular file of at most 1 MiB",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// The first line of a password file (without its line ending); an empty one is refused.
fn read_password(path: Option<&Path>, flag: &str) -> Result<Option<String>, Failure> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bytes = read_file(path).map_err(|f| Failure::input(format!("{flag} {}", f.detail)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::input(format!("{flag} {}: not UTF-8", path.display())))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        return Err(Failure::input(format!(
            "{flag} {}: empty password",
            path.display()
        )));
    }
    Ok(Some(line))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_os_string();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn rfc3339(secs: i64) -> String {
    u64::try_from(secs)
        .map(|s| {
            certgate::format_rfc3339(rustls_pki_types::UnixTime::since_unix_epoch(
                Duration::from_secs(s),
            ))
        })
        .unwrap_or_else(|_| secs.to_string())
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

fn parse_p12_format(s: &str) -> Result<P12Format, String> {
    s.parse()
}

fn parse_reason(s: &str) -> Result<RevocationReason, String> {
    s.parse()
}

/// `7d`, `36h`, `90m`, `3600s`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: a number and a unit, like 7d, 36h, 90m or 3600s"))?;
    let factor = match unit {
        "d" => 86400,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{s:?}: the unit is d, h, m or s")),
    };
    n.checked_mul(factor)
        .filter(|secs| *secs <= 100 * 365 * 86400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?}: too long"))
}
