//! A loopback load test: certgate's server-side cost under real TLS connections.
//!
//! ```text
//! cargo bench --bench loadgen --features axum,server -- \
//!     [--seconds N] [--connections C] [--rounds R] [--scenario all|keepalive|handshake|mixed] \
//!     [--verify-server] [--fast-layer]
//! ```
//!
//! Everything stays on 127.0.0.1. The server runs in a child process (this binary re-executed
//! with `--serve <config> --dir <temp dir>`, the PKI written to a temporary folder), so the
//! generator and the server are separate processes and the server's CPU time can be read from
//! `/proc/<pid>/stat` around each measured window. Every run is a 1 s warm-up then N seconds
//! measured (default 5); the child is killed at the end of each run, and exits on its own when
//! its stdin closes or after 30 minutes. The keep-alive and handshake pairs run `--rounds` times
//! (default 2), baseline and candidate alternating, each run in a fresh child; the table sums
//! the rounds and shows the per-run range of server CPU per request (the run-to-run spread on a
//! small VM is ±10–20%, so a 3% difference needs `--rounds 10`).
//!
//! The generator does not check the server's certificate (as h2load and wrk do not), leaving
//! more of the machine to the server; `--verify-server` turns the check on. Client leaves all
//! share one key, so a client certificate costs one signature to issue.
//!
//! Scenarios (one table at the end):
//!
//! * **keepalive**: C HTTP/1.1 keep-alive connections hammering `GET /` on the same TLS server
//!   (handshake verifier in [`HandshakeMode::Defer`]) without, then with, `CertGateLayer`.
//!   Target: the layer adds at most 3% server CPU per request, judged on the median of the
//!   per-round ratios (each round's two runs are back to back, their order alternating from
//!   round to round). `--fast-layer`: the layer's gate reads a `CoarseClock` and the layer
//!   puts only the `Verdict` into the extensions.
//! * **handshake**: new connections, a full mTLS handshake each (resumption off on both sides),
//!   one request, close. certgate's `GateClientVerifier` ([`HandshakeMode::Refuse`]) against
//!   rustls' `WebPkiClientVerifier`, for a returning app (same chain every time), a first-time
//!   app (2,000 distinct leaves cycled; certgate's cache TTL is 1 ms in these runs so a leaf's
//!   verdict has expired before it comes round again and every handshake verifies: the
//!   server's `/stats` line shows `cache_hits=0`), and both again with a 10,000-entry CRL
//!   (certgate: leaf depth, CRL expiry ignored as rustls does by default; webpki:
//!   `only_check_end_entity_revocation`). Targets (new connections/s, certgate ÷ webpki): returning ≥ 1.3×, first-time ≥ 0.95×,
//!   with CRL ≥ 2×.
//! * **mixed**: 10,000 distinct client certificates (10 app ids, one shared leaf key), 5% of
//!   them on the CRL; the parent re-signs and rewrites the CRL every second and the server
//!   reloads its policy file every second. C workers connect with the certificates in a
//!   shuffled order, 3 requests per connection. Every revoked certificate must get 403 with code
//!   `revoked`, every other 200; the server's RSS is sampled every second.
//!
//! * **signals** (only when named, and built with feature `redis`): the keep-alive load through
//!   the layer with every bot signal on (learning JA4s, per-install cloning detection,
//!   quarantine, rate ceilings; all observed, so every request is answered 200), on the
//!   embedded store and on the Redis store (a `redis-server` the parent starts on 127.0.0.1),
//!   alternating per round. Targets (issue 13): Redis's p99 request latency at most 2 ms above
//!   the embedded store's, and its request rate within 10% of it.
//!
//! CPU time is in clock ticks; the tick rate comes from `getconf CLK_TCK` (100 when that fails).

// Load-generator code, run by hand against its own child process on 127.0.0.1 and not reachable
// from untrusted input: a panic is a broken run, and the `as` casts turn counters into floats
// for the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use certgate::{
    AppId, AppRule, CacheConfig, CertGateLayer, ExpiredCrl, Gate, GateClientVerifier,
    HandshakeMode, IdentitySource, Pin, Policy, RevocationDepth, VerifierBuilder,
};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn Error + Send + Sync>;

/// The app of the keep-alive and handshake scenarios.
const APP: &str = "com.example.shop";
/// The returning app's leaf serial.
const RETURNING_SERIAL: u64 = 0x4242;
/// Distinct leaves cycled by the first-time-app handshake runs.
const FIRST_TIME_POOL: usize = 2_000;
/// Entries of the CRL in the handshake scenario's CRL variants.
const CRL_ENTRIES: usize = 10_000;
/// Distinct client certificates of the mixed scenario.
const MIXED_POOL: usize = 10_000;
/// App ids the mixed pool spreads over (all allowed by the mixed policy).
const MIXED_APPS: usize = 10;
/// Revoked certificates in the mixed pool: 5%.
const MIXED_REVOKED: usize = MIXED_POOL / 20;
/// Requests per connection in the mixed scenario.
const MIXED_REQUESTS_PER_CONNECTION: usize = 3;
/// Unmeasured load before each measured window.
const WARMUP: Duration = Duration::from_secs(1);
/// Longest any single connect, handshake or request may take.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest measured window accepted on the command line.
const MAX_SECONDS: u64 = 600;
/// Most workers accepted on the command line.
const MAX_CONNECTIONS: usize = 1_024;
/// The child server exits by itself after this long, whatever happens to the parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Per-worker bound on loop iterations (the deadline normally ends them long before).
const MAX_ITERATIONS: u64 = 100_000_000;

#[tokio::main]
async fn main() {
    // `cargo bench` appends `--bench` to the arguments of every bench binary: not ours.
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = if argv.first().map(String::as_str) == Some("--serve") {
        child_main(&argv).await
    } else {
        match Args::parse(&argv) {
            Ok(args) => parent_main(args).await,
            Err(usage) => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    All,
    Keepalive,
    Handshake,
    Mixed,
    Signals,
}

#[derive(Clone, Copy, Debug)]
struct Args {
    seconds: u64,
    connections: usize,
    rounds: usize,
    scenario: Scenario,
    verify_server: bool,
    /// The keep-alive layer server with a `CoarseClock` and the verdict as the only extension.
    fast_layer: bool,
}

impl Args {
    fn parse(argv: &[String]) -> Result<Self, String> {
        let usage = "usage: cargo bench --bench loadgen --features axum,server -- \
                     [--seconds N] [--connections C] [--rounds R] \
                     [--scenario all|keepalive|handshake|mixed|signals] [--verify-server]\n\
                     \n  --seconds N     measured seconds per run, after a 1 s warm-up (default 5, max 600)\
                     \n  --connections C concurrent client workers (default 32, max 1024)\
                     \n  --rounds R      repeat each keep-alive/handshake pair R times, alternating (default 2)\
                     \n  --scenario S    which scenarios to run (default all: every one but signals,\
                     \n                  which needs feature redis and a redis-server)\
                     \n  --verify-server the generator checks the server's certificate (default: it does not,\
                     \n                  like h2load and wrk, to leave the cores to the server)\
                     \n  --fast-layer    keep-alive: the layer's gate reads a CoarseClock and the layer puts\
                     \n                  only the Verdict into the extensions (default: the gate's defaults)";
        let mut args = Self {
            seconds: 5,
            connections: 32,
            rounds: 2,
            scenario: Scenario::All,
            verify_server: false,
            fast_layer: false,
        };
        let mut it = argv.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value\n\n{usage}"))
            };
            match flag.as_str() {
                "--seconds" => {
                    args.seconds = value()?
                        .parse()
                        .ok()
                        .filter(|s| (1..=MAX_SECONDS).contains(s))
                        .ok_or_else(|| format!("--seconds: 1 to {MAX_SECONDS}\n\n{usage}"))?;
                }
                "--connections" => {
                    args.connections = value()?
                        .parse()
                        .ok()
                        .filter(|c| (1..=MAX_CONNECTIONS).contains(c))
                        .ok_or_else(|| {
                            format!("--connections: 1 to {MAX_CONNECTIONS}\n\n{usage}")
                        })?;
                }
                "--rounds" => {
                    args.rounds = value()?
                        .parse()
                        .ok()
                        .filter(|r| (1..=10).contains(r))
                        .ok_or_else(|| format!("--rounds: 1 to 10\n\n{usage}"))?;
                }
                "--scenario" => {
                    args.scenario = match value()?.as_str() {
                        "all" => Scenario::All,
                        "keepalive" => Scenario::Keepalive,
                        "handshake" => Scenario::Handshake,
                        "mixed" => Scenario::Mixed,
                        "signals" => Scenario::Signals,
                        other => return Err(format!("unknown scenario {other:?}\n\n{usage}")),
                    };
                }
                "--verify-server" => args.verify_server = true,
                "--fast-layer" => args.fast_layer = true,
                "-h" | "--help" => {
                    println!("{usage}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n\n{usage}")),
            }
        }
        Ok(args)
    }

    fn runs(&self, scenario: Scenario) -> bool {
        self.scenario == scenario
            || (self.scenario == Scenario::All && scenario != Scenario::Signals)
    }
}

// ---------------------------------------------------------------------------------------------
// Server configurations (what the child builds)

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verifier {
    Webpki,
    Certgate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Returning,
    FirstTime,
}

/// Every server the child can run, named on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerKind {
    /// Defer-mode TLS, no layer.
    KeepaliveBaseline,
    /// Defer-mode TLS, `CertGateLayer`.
    KeepaliveLayer,
    /// Defer-mode TLS, `CertGateLayer` over a `CoarseClock` gate, verdict-only extensions.
    KeepaliveLayerFast,
    /// Resumption off; the verifier refuses in the handshake; no layer.
    Handshake {
        verifier: Verifier,
        client: Client,
        crl: bool,
    },
    /// Defer-mode TLS, layer, policy file reloaded every second.
    Mixed,
    /// Defer-mode TLS, layer, every signal on (observed), on the embedded store.
    SignalsEmbedded,
    /// The same on the Redis store at the URL in `files::REDIS_URL`.
    SignalsRedis,
}

impl ServerKind {
    fn all() -> Vec<Self> {
        let mut all = vec![
            Self::KeepaliveBaseline,
            Self::KeepaliveLayer,
            Self::KeepaliveLayerFast,
            Self::Mixed,
            Self::SignalsEmbedded,
            Self::SignalsRedis,
        ];
        for crl in [false, true] {
            for client in [Client::Returning, Client::FirstTime] {
                for verifier in [Verifier::Webpki, Verifier::Certgate] {
                    all.push(Self::Handshake {
                        verifier,
                        client,
                        crl,
                    });
                }
            }
        }
        all
    }

    fn name(self) -> String {
        match self {
            Self::KeepaliveBaseline => "keepalive-baseline".into(),
            Self::KeepaliveLayer => "keepalive-layer".into(),
            Self::KeepaliveLayerFast => "keepalive-layer-fast".into(),
            Self::Mixed => "mixed".into(),
            Self::SignalsEmbedded => "signals-embedded".into(),
            Self::SignalsRedis => "signals-redis".into(),
            Self::Handshake {
                verifier,
                client,
                crl,
            } => format!(
                "handshake-{}-{}{}",
                match verifier {
                    Verifier::Webpki => "webpki",
                    Verifier::Certgate => "certgate",
                },
                match client {
                    Client::Returning => "returning",
                    Client::FirstTime => "first-time",
                },
                if crl { "-crl" } else { "" }
            ),
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::all().into_iter().find(|kind| kind.name() == name)
    }
}

// ---------------------------------------------------------------------------------------------
// PKI (rcgen, ECDSA P-256): root → intermediate → leaves, CRLs by the intermediate

/// Files in the temporary folder, shared by parent and child.
mod files {
    pub(crate) const ROOT: &str = "root.der";
    pub(crate) const INTERMEDIATE: &str = "intermediate.der";
    pub(crate) const SERVER_CERT: &str = "server.der";
    pub(crate) const SERVER_KEY: &str = "server.key.der";
    pub(crate) const CRL_10K: &str = "crl-10k.der";
    pub(crate) const MIXED_CRL: &str = "mixed-crl.der";
    pub(crate) const MIXED_POLICY: &str = "mixed-policy.toml";
    pub(crate) const REDIS_URL: &str = "redis-url.txt";
}

fn at_days(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(days)
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = at_days(-365);
    params.not_after = at_days(5 * 365);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn leaf_params(app: &str, serial: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, app);
    params.subject_alt_names = vec![SanType::URI(format!("app://{app}").try_into().unwrap())];
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = at_days(-30);
    params.not_after = at_days(365);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

struct Pki {
    root: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    inter_params: CertificateParams,
    inter_key: KeyPair,
    /// One key for every client leaf: issuing is then one signature per leaf.
    leaf_key: KeyPair,
}

impl Pki {
    fn new() -> Self {
        let root_key = p256();
        let root_params = ca_params("loadgen root");
        let root = root_params.self_signed(&root_key).unwrap().into();
        let inter_key = p256();
        let mut inter_params = ca_params("loadgen intermediate");
        inter_params.use_authority_key_identifier_extension = true;
        let intermediate = inter_params
            .signed_by(&inter_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap()
            .into();
        Self {
            root,
            intermediate,
            inter_params,
            inter_key,
            leaf_key: p256(),
        }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.inter_params, &self.inter_key)
    }

    /// Client leaves for `(app, serial)` pairs, one signature each.
    fn leaves(&self, specs: impl Iterator<Item = (String, u64)>) -> Vec<CertificateDer<'static>> {
        let issuer = self.issuer();
        specs
            .map(|(app, serial)| {
                leaf_params(&app, serial)
                    .signed_by(&self.leaf_key, &issuer)
                    .unwrap()
                    .into()
            })
            .collect()
    }

    /// A server certificate for `localhost` and its key.
    fn server(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = leaf_params("server", 0x5e4);
        params.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = p256();
        let cert = params.signed_by(&key, &self.issuer()).unwrap().into();
        (cert, PrivateKeyDer::try_from(key.serialize_der()).unwrap())
    }

    /// A CRL by the intermediate revoking `serials`, nextUpdate in 30 days.
    fn crl(&self, serials: &[SerialNumber], number: u64) -> CertificateRevocationListDer<'static> {
        CertificateRevocationListParams {
            this_update: at_days(-1),
            next_update: at_days(30),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: serial.clone(),
                    revocation_time: at_days(-1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer())
        .unwrap()
        .into()
    }
}

/// `count` random-looking 16-byte serials (as CAs issue them), none of them a leaf's here.
fn unrelated_serials(count: usize) -> Vec<SerialNumber> {
    (0..count as u64)
        .map(|i| SerialNumber::from_slice(&Sha256::digest(i.to_be_bytes())[..16]))
        .collect()
}

/// The pin on the intermediate's key that every policy here carries.
fn intermediate_pin(intermediate: &CertificateDer<'_>) -> Result<Pin, BoxError> {
    let info = certgate::inspect(intermediate, &IdentitySource::default())
        .map_err(|e| format!("inspecting the intermediate: {e}"))?;
    Ok(Pin::from_spki_sha256(info.spki_sha256))
}

fn mixed_app(i: usize) -> String {
    format!("com.example.app{}", i % MIXED_APPS)
}

fn mixed_serial(i: usize) -> u64 {
    1_000_000 + i as u64
}

/// A tiny deterministic PRNG (xorshift64): the load pattern is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// 0..n, shuffled.
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// The child: one server, built from its `ServerKind`

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_cert(dir: &Path, name: &str) -> Result<CertificateDer<'static>, BoxError> {
    Ok(CertificateDer::from(std::fs::read(dir.join(name))?))
}

/// Policy reload counters, shown by `/stats`.
#[derive(Default)]
struct Reloads {
    ok: AtomicU64,
    failed: AtomicU64,
}

fn stats_text(gate: Option<&Gate>, reloads: &Reloads) -> String {
    let Some(gate) = gate else {
        return "verifier=webpki (no gate)".into();
    };
    gate.cache().run_pending_tasks();
    let s = gate.cache_stats();
    format!(
        "generation={} cache_hits={} cache_misses={} cache_entries={} reloads_ok={} reloads_failed={}",
        gate.generation(),
        s.hits,
        s.misses,
        s.entries,
        reloads.ok.load(Ordering::Relaxed),
        reloads.failed.load(Ordering::Relaxed),
    )
}

/// `GET /` answers `ok`; `GET /stats` the gate's counters.
fn app(gate: Option<Gate>, reloads: Arc<Reloads>) -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/stats",
        get(move || async move { stats_text(gate.as_ref(), &reloads) }),
    )
}

async fn child_main(argv: &[String]) -> Result<(), BoxError> {
    let (Some(name), Some("--dir"), Some(dir)) =
        (argv.get(1), argv.get(2).map(String::as_str), argv.get(3))
    else {
        return Err("usage: loadgen --serve <config> --dir <dir>".into());
    };
    let kind = ServerKind::parse(name).ok_or_else(|| format!("unknown server config {name:?}"))?;
    let dir = PathBuf::from(dir);
    let provider = provider();
    let chain = vec![
        read_cert(&dir, files::SERVER_CERT)?,
        read_cert(&dir, files::INTERMEDIATE)?,
    ];
    let key = PrivateKeyDer::try_from(std::fs::read(dir.join(files::SERVER_KEY))?)?;
    let root = read_cert(&dir, files::ROOT)?;
    let pin = intermediate_pin(&read_cert(&dir, files::INTERMEDIATE)?)?;
    let typical = || {
        VerifierBuilder::new()
            .trust_anchor(root.clone())
            .allow_app(AppRule::new(AppId::new(APP).unwrap()).pin(pin.clone()))
    };
    let reloads = Arc::new(Reloads::default());

    let (tls, app) = match kind {
        ServerKind::KeepaliveBaseline
        | ServerKind::KeepaliveLayer
        | ServerKind::KeepaliveLayerFast => {
            let policy = Policy::from_verifier(typical().build()?);
            let gate = if kind == ServerKind::KeepaliveLayerFast {
                Gate::builder(policy)
                    .coarse_clock(certgate::CoarseClock::start()?)
                    .build()?
            } else {
                Gate::new(policy)
            };
            let tls =
                certgate::server::server_config(&gate, provider, chain, key, HandshakeMode::Defer)?;
            let app = app(Some(gate.clone()), reloads);
            let app = match kind {
                ServerKind::KeepaliveLayer => app.layer(CertGateLayer::new(gate)),
                ServerKind::KeepaliveLayerFast => {
                    app.layer(CertGateLayer::new(gate).without_identity_extension())
                }
                _ => app,
            };
            (tls, app)
        }
        ServerKind::Handshake {
            verifier,
            client,
            crl,
        } => {
            let crl = if crl {
                Some(CertificateRevocationListDer::from(std::fs::read(
                    dir.join(files::CRL_10K),
                )?))
            } else {
                None
            };
            let (verifier, gate): (Arc<dyn ClientCertVerifier>, Option<Gate>) = match verifier {
                Verifier::Webpki => {
                    let mut roots = RootCertStore::empty();
                    roots.add(root.clone())?;
                    let mut builder = WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        Arc::clone(&provider),
                    );
                    if let Some(crl) = crl {
                        builder = builder.with_crls([crl]).only_check_end_entity_revocation();
                    }
                    (builder.build()?, None)
                }
                Verifier::Certgate => {
                    let mut builder = typical();
                    if let Some(crl) = crl {
                        builder = builder
                            .crl(crl)
                            .revocation_depth(RevocationDepth::Leaf)
                            // rustls' WebPkiClientVerifier ignores CRL expiry unless told
                            // otherwise; match it.
                            .expired_crl(ExpiredCrl::Ignore);
                    }
                    let mut cache = CacheConfig::default();
                    if client == Client::FirstTime {
                        // A verdict expires before its leaf comes round again, so every
                        // handshake is a miss: lookup, verification and insert, as for an app
                        // never seen before.
                        cache.ttl = Duration::from_millis(1);
                    }
                    let gate = Gate::builder(Policy::from_verifier(builder.build()?))
                        .cache(cache)
                        .build()?;
                    let verifier = GateClientVerifier::new(
                        gate.clone(),
                        Arc::clone(&provider),
                        HandshakeMode::Refuse,
                    );
                    (Arc::new(verifier), Some(gate))
                }
            };
            let mut config = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?;
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            (Arc::new(config), app(gate, reloads))
        }
        ServerKind::Mixed => {
            let path = dir.join(files::MIXED_POLICY);
            let gate = Gate::new(Policy::load(&path)?);
            let tls =
                certgate::server::server_config(&gate, provider, chain, key, HandshakeMode::Defer)?;
            let reloader = gate.clone();
            let counters = Arc::clone(&reloads);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                for _ in 0..CHILD_LIFETIME.as_secs() {
                    tick.tick().await;
                    match reloader.reload_from_file(&path) {
                        Ok(()) => counters.ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("[server] reload failed: {e}");
                            counters.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
            let app = app(Some(gate.clone()), reloads).layer(CertGateLayer::new(gate));
            (tls, app)
        }
        ServerKind::SignalsEmbedded | ServerKind::SignalsRedis => {
            let policy = Policy::from_verifier(typical().build()?).with_signals(all_signals()?)?;
            let mut builder = Gate::builder(policy);
            if kind == ServerKind::SignalsRedis {
                builder = builder.signal_store(redis_store(&dir)?);
            }
            let gate = builder.build()?;
            let tls =
                certgate::server::server_config(&gate, provider, chain, key, HandshakeMode::Defer)?;
            let app = app(Some(gate.clone()), reloads).layer(CertGateLayer::new(gate));
            (tls, app)
        }
    };

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "PORT {port}")?;
        out.flush()?;
    }
    let shutdown = async {
        tokio::select! {
            () = stdin_closed() => {}
            () = tokio::time::sleep(CHILD_LIFETIME) => {}
        }
    };
    certgate::server::serve(listener, tls, app, shutdown).await?;
    Ok(())
}

/// Every signal on, none refusing: learning JA4s, per-install cloning detection (ceilings
/// above what the load does), quarantine, rate ceilings (both counted on every request).
fn all_signals() -> Result<certgate::signals::SignalsConfig, BoxError> {
    use certgate::signals::{
        AppSignals, CloningConfig, QuarantineConfig, RateConfig, SignalsConfig,
    };
    let err = |(field, e): (&str, String)| format!("{field}: {e}");
    Ok(SignalsConfig::new()
        .quarantine(QuarantineConfig::new(100, 60, 600).map_err(err)?)
        .cloning(CloningConfig::new(3, 300, 4096, 3600).map_err(err)?)
        .rate(
            RateConfig::new(1)
                .and_then(|r| r.per_certificate(1_000_000_000))
                .and_then(|r| r.per_app(1_000_000_000))
                .map_err(err)?,
        )
        .app(APP, AppSignals::new().per_install(true).learn(true))?)
}

#[cfg(feature = "redis")]
fn redis_store(dir: &Path) -> Result<Arc<dyn certgate::signals::SignalStore>, BoxError> {
    let url = std::fs::read_to_string(dir.join(files::REDIS_URL))?;
    let store = certgate::signals::RedisStore::new(url.trim(), certgate::signals::OnError::Open)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.connected() {
        if Instant::now() >= deadline {
            return Err("the Redis store did not connect".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_dir: &Path) -> Result<Arc<dyn certgate::signals::SignalStore>, BoxError> {
    Err("the signals-redis server needs feature `redis`".into())
}

/// Completes when the parent closes our stdin (or dies).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    for _ in 0..MAX_ITERATIONS {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: the child process, /proc readings

/// `getconf NAME` as a number, if it answers.
fn getconf(name: &str) -> Option<u64> {
    let out = Command::new("getconf").arg(name).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

struct Sys {
    clk_tck: f64,
    page_size: u64,
}

impl Sys {
    fn read() -> Self {
        let clk_tck = getconf("CLK_TCK").filter(|t| *t > 0).unwrap_or_else(|| {
            println!("note: `getconf CLK_TCK` failed, assuming 100 clock ticks per second");
            100
        });
        let page_size = getconf("PAGESIZE").filter(|p| *p > 0).unwrap_or(4096);
        Self {
            clk_tck: clk_tck as f64,
            page_size,
        }
    }

    /// User + system CPU seconds of process `pid` (all its threads), from `/proc/<pid>/stat`.
    fn cpu_seconds(&self, pid: &str) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return f64::NAN;
        };
        // Fields after the command name, which is in parentheses and may hold spaces: state is
        // field 3, utime 14, stime 15.
        let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
            return f64::NAN;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (ticks(11) + ticks(12)) as f64 / self.clk_tck
    }

    /// Resident set size of process `pid`, in bytes, from `/proc/<pid>/statm`.
    fn rss_bytes(&self, pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * self.page_size
    }
}

/// The server child process. Dropping it kills the child.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    port: u16,
}

impl ServerProcess {
    fn start(dir: &Path, kind: ServerKind) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve")
            .arg(kind.name())
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the port, then passes on whatever else the child prints until it exits.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().take(100_000) {
                let Ok(line) = line else { break };
                match (line.strip_prefix("PORT "), tx.take()) {
                    (Some(port), Some(tx)) => {
                        let _ = tx.send(port.trim().parse::<u16>());
                    }
                    (_, tx_back) => {
                        tx = tx_back;
                        println!("[server] {line}");
                    }
                }
            }
        });
        let mut server = Self {
            child,
            stdin,
            pid,
            port: 0,
        };
        server.port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(port)) => port,
            Ok(Err(e)) => return Err(format!("child {}: bad port: {e}", kind.name()).into()),
            Err(_) => return Err(format!("child {} did not start", kind.name()).into()),
        };
        Ok(server)
    }

    fn cpu_seconds(&self, sys: &Sys) -> f64 {
        sys.cpu_seconds(&self.pid.to_string())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The client side

/// Always presents the one certificate it holds (all leaves share one signing key).
#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesClientCert for OneCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts any server certificate and handshake signature, as load generators such as h2load
/// and wrk do: the generator shares the machine with the server, and checking the server is
/// client work the comparison is not about. `--verify-server` checks it instead.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

struct Clients {
    roots: Arc<RootCertStore>,
    key: Arc<dyn SigningKey>,
    intermediate: CertificateDer<'static>,
    verify_server: bool,
}

impl Clients {
    /// HTTP/1.1 over TLS 1.3 with resumption off, presenting `leaf` + the intermediate.
    fn config(&self, leaf: CertificateDer<'static>) -> Arc<ClientConfig> {
        let certified =
            CertifiedKey::new(vec![leaf, self.intermediate.clone()], Arc::clone(&self.key));
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if self.verify_server {
            builder.with_root_certificates(Arc::clone(&self.roots))
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        };
        let mut config = builder.with_client_cert_resolver(Arc::new(OneCert(Arc::new(certified))));
        config.resumption = Resumption::disabled();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

async fn connect(
    port: u16,
    config: Arc<ClientConfig>,
) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(config)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One `GET path`; `close` asks the server to close the connection after answering.
async fn request(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    close: bool,
) -> Result<(http::StatusCode, Bytes), BoxError> {
    sender.ready().await?;
    let mut req = http::Request::get(path).header(http::header::HOST, "localhost");
    if close {
        req = req.header(http::header::CONNECTION, "close");
    }
    let resp = sender.send_request(req.body(Empty::new())?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// The server's `/stats` line, fetched with `config`.
async fn server_stats(port: u16, config: Arc<ClientConfig>) -> String {
    let fetch = async {
        let mut sender = connect(port, config).await?;
        let (status, body) = request(&mut sender, "/stats", true).await?;
        Ok::<_, BoxError>(format!("{status} {}", String::from_utf8_lossy(&body)))
    };
    match tokio::time::timeout(OP_TIMEOUT, fetch).await {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => format!("stats unavailable: {e}"),
        Err(_) => "stats unavailable: timed out".into(),
    }
}

#[derive(Default)]
struct Counters {
    /// Requests answered as expected.
    ok: AtomicU64,
    /// Transport errors, timeouts, unexpected statuses.
    errors: AtomicU64,
    /// Mixed scenario: a verdict other than the expected one.
    wrong: AtomicU64,
    /// Mixed scenario: 200s for good certificates.
    accepted: AtomicU64,
    /// Mixed scenario: 403 `revoked` for revoked certificates.
    refused_revoked: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One measured run's numbers.
struct Measurement {
    requests: u64,
    seconds: f64,
    server_cpu: f64,
    generator_cpu: f64,
    errors: u64,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu * 1e6 / self.requests.max(1) as f64
    }
}

/// Runs `workers` copies of `worker` for the warm-up plus the measured window, and reads the
/// request counter and both processes' CPU time at the window's edges.
async fn measure<F, Fut>(
    sys: &Sys,
    server: &ServerProcess,
    seconds: u64,
    workers: usize,
    counters: &Arc<Counters>,
    worker: F,
) -> Measurement
where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let stop_at = start + WARMUP + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(stop_at)))
        .collect();
    tokio::time::sleep(WARMUP).await;
    let t0 = Instant::now();
    let (r0, e0) = (
        counters.ok.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    let (s0, g0) = (server.cpu_seconds(sys), sys.cpu_seconds("self"));
    tokio::time::sleep_until(stop_at.into()).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (r1, e1) = (
        counters.ok.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    let (s1, g1) = (server.cpu_seconds(sys), sys.cpu_seconds("self"));
    for handle in handles {
        // Workers stop at `stop_at`; a request in flight then ends within OP_TIMEOUT.
        let _ = tokio::time::timeout(OP_TIMEOUT + Duration::from_secs(1), handle).await;
    }
    Measurement {
        requests: r1 - r0,
        seconds: elapsed,
        server_cpu: s1 - s0,
        generator_cpu: g1 - g0,
        errors: e1 - e0,
    }
}

fn report(label: &str, m: &Measurement, extra: &str) {
    println!(
        "  {label}: {} requests in {:.2} s = {:.0}/s; server CPU {:.2} s ({:.0}% of a core, {:.1} µs/request); \
         generator CPU {:.2} s; errors {}{extra}",
        m.requests,
        m.seconds,
        m.rate(),
        m.server_cpu,
        100.0 * m.server_cpu / m.seconds,
        m.cpu_us_per_request(),
        m.generator_cpu,
        m.errors,
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct Fixture {
    dir: PathBuf,
    sys: Sys,
    pki: Pki,
    clients: Clients,
    returning: Arc<ClientConfig>,
}

struct Row {
    scenario: &'static str,
    variant: String,
    count: u64,
    rate: f64,
    /// Server CPU µs per request, with the per-run range when there were several runs.
    cpu_us: String,
    ratio: String,
    target: String,
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// Sums over the rounds of one variant.
#[derive(Default)]
struct Totals {
    requests: u64,
    seconds: f64,
    server_cpu: f64,
    errors: u64,
    /// Each run's server CPU µs per request.
    runs: Vec<f64>,
    /// Each run's requests per second.
    runs_rate: Vec<f64>,
}

impl Totals {
    fn add(&mut self, m: &Measurement) {
        self.runs.push(m.cpu_us_per_request());
        self.runs_rate.push(m.rate());
        self.requests += m.requests;
        self.seconds += m.seconds;
        self.server_cpu += m.server_cpu;
        self.errors += m.errors;
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn cpu_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.requests.max(1) as f64
    }

    /// The overall figure, and the range over the runs when there were several.
    fn cpu_text(&self) -> String {
        let min = self.runs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.runs.len() > 1 {
            format!("{:.1} (runs {min:.1}–{max:.1})", self.cpu_us())
        } else {
            format!("{:.1}", self.cpu_us())
        }
    }

    fn row(&self, scenario: &'static str, variant: String, ratio: String, target: String) -> Row {
        Row {
            scenario,
            variant,
            count: self.requests,
            rate: self.rate(),
            cpu_us: self.cpu_text(),
            ratio,
            target,
        }
    }
}

/// `target`, plus the error count when there were errors.
fn with_errors(target: String, errors: u64) -> String {
    if errors == 0 {
        target
    } else {
        format!("{target} ({errors} errors)")
    }
}

/// Measures the baseline and the candidate of `pair`, alternating, `args.rounds` times, each
/// run against a fresh child server.
async fn run_pair<F, Fut>(
    fx: &Fixture,
    args: &Args,
    pair: [ServerKind; 2],
    worker: F,
) -> Result<[Totals; 2], BoxError>
where
    F: Fn(u16, Instant, Arc<Counters>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut totals = [Totals::default(), Totals::default()];
    for round in 1..=args.rounds {
        // Alternate which side runs first, so a drift within a round favours neither.
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for i in order {
            let (total, kind) = (&mut totals[i], pair[i]);
            let server = ServerProcess::start(&fx.dir, kind)?;
            let port = server.port;
            let counters = Arc::new(Counters::default());
            let m = measure(
                &fx.sys,
                &server,
                args.seconds,
                args.connections,
                &counters,
                |stop_at| worker(port, stop_at, Arc::clone(&counters)),
            )
            .await;
            let stats = server_stats(port, Arc::clone(&fx.returning)).await;
            drop(server);
            report(
                &format!("round {round} {}", kind.name()),
                &m,
                &format!("; server: {stats}"),
            );
            total.add(&m);
        }
    }
    Ok(totals)
}

/// (a) Keep-alive requests without and with the layer.
async fn keepalive(fx: &Fixture, args: &Args) -> Result<Vec<Row>, BoxError> {
    println!(
        "\n== keepalive: {} keep-alive connections, GET /, {} s per run, {} round(s)",
        args.connections, args.seconds, args.rounds
    );
    let config = Arc::clone(&fx.returning);
    let candidate = if args.fast_layer {
        ServerKind::KeepaliveLayerFast
    } else {
        ServerKind::KeepaliveLayer
    };
    let [base, layer] = run_pair(
        fx,
        args,
        [ServerKind::KeepaliveBaseline, candidate],
        |port, stop_at, counters| keepalive_worker(port, Arc::clone(&config), stop_at, counters),
    )
    .await?;
    let cpu_ratio = layer.cpu_us() / base.cpu_us();
    let rate_ratio = layer.rate() / base.rate();
    let errors = base.errors + layer.errors;
    // Each round's runs are back to back, so their ratio shares the machine's state of the
    // moment; the median of those ratios resists the minute-scale swings of a shared VM.
    let mut paired: Vec<f64> = layer
        .runs
        .iter()
        .zip(&base.runs)
        .map(|(l, b)| l / b)
        .collect();
    paired.sort_by(f64::total_cmp);
    let median = match paired.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => paired[n / 2],
        n => (paired[n / 2 - 1] + paired[n / 2]) / 2.0,
    };
    Ok(vec![
        base.row(
            "keep-alive",
            "no layer (baseline)".into(),
            "1.00".into(),
            String::new(),
        ),
        layer.row(
            "keep-alive",
            if args.fast_layer {
                "CertGateLayer (coarse clock, verdict only)".into()
            } else {
                "CertGateLayer".into()
            },
            format!(
                "CPU/req median of {} per-round ratios {median:.3}× (summed {cpu_ratio:.3}×), req/s {rate_ratio:.3}×",
                paired.len()
            ),
            with_errors(
                format!(
                    "CPU/req ≤ 1.03× (median of paired rounds): {}",
                    verdict(median <= 1.03)
                ),
                errors,
            ),
        ),
    ])
}

async fn keepalive_worker(
    port: u16,
    config: Arc<ClientConfig>,
    stop_at: Instant,
    counters: Arc<Counters>,
) {
    for _ in 0..MAX_ITERATIONS {
        if Instant::now() >= stop_at {
            return;
        }
        let Ok(Ok(mut sender)) =
            tokio::time::timeout(OP_TIMEOUT, connect(port, Arc::clone(&config))).await
        else {
            bump(&counters.errors);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        for _ in 0..MAX_ITERATIONS {
            if Instant::now() >= stop_at {
                return;
            }
            match tokio::time::timeout(OP_TIMEOUT, request(&mut sender, "/", false)).await {
                Ok(Ok((status, _))) if status == http::StatusCode::OK => bump(&counters.ok),
                _ => {
                    bump(&counters.errors);
                    break;
                }
            }
        }
    }
}

/// (b) New connections: full mTLS handshake, one request, close.
async fn handshakes(fx: &Fixture, args: &Args) -> Result<Vec<Row>, BoxError> {
    println!(
        "\n== handshake: {} concurrent workers, a new connection per request, {} s per run, {} round(s)",
        args.connections, args.seconds, args.rounds
    );
    let started = Instant::now();
    let first_time: Arc<Vec<Arc<ClientConfig>>> = Arc::new(
        fx.pki
            .leaves((0..FIRST_TIME_POOL).map(|i| (APP.to_owned(), 0x10_0000 + i as u64)))
            .into_iter()
            .map(|leaf| fx.clients.config(leaf))
            .collect(),
    );
    println!(
        "  {FIRST_TIME_POOL} first-time leaves issued in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let next = Arc::new(AtomicUsize::new(0));
    let mut rows = Vec::new();
    for crl in [false, true] {
        for client in [Client::Returning, Client::FirstTime] {
            let kind = |verifier| ServerKind::Handshake {
                verifier,
                client,
                crl,
            };
            let [webpki, certgate] = run_pair(
                fx,
                args,
                [kind(Verifier::Webpki), kind(Verifier::Certgate)],
                |port, stop_at, counters| {
                    let pool = (client == Client::FirstTime).then(|| Arc::clone(&first_time));
                    let returning = Arc::clone(&fx.returning);
                    handshake_worker(port, returning, pool, Arc::clone(&next), stop_at, counters)
                },
            )
            .await?;
            let rate_ratio = certgate.rate() / webpki.rate();
            let cpu_ratio = certgate.cpu_us() / webpki.cpu_us();
            let (label, min) = match (client, crl) {
                (Client::Returning, false) => ("returning app", 1.3),
                (Client::FirstTime, false) => ("first-time app", 0.95),
                (Client::Returning, true) => ("returning app, 10k CRL", 2.0),
                (Client::FirstTime, true) => ("first-time app, 10k CRL", 2.0),
            };
            rows.push(webpki.row(
                "new connections",
                format!("{label}: webpki (baseline)"),
                "1.00".into(),
                String::new(),
            ));
            rows.push(certgate.row(
                "new connections",
                format!("{label}: certgate"),
                format!(
                    "conn/s {rate_ratio:.2}×; server CPU/conn {cpu_ratio:.2}× \
                     (= {:.2}× conn per server CPU-second)",
                    1.0 / cpu_ratio
                ),
                with_errors(
                    format!(
                        "conn/s ≥ {min}×: {} (per server CPU-second: {})",
                        verdict(rate_ratio >= min),
                        verdict(1.0 / cpu_ratio >= min)
                    ),
                    webpki.errors + certgate.errors,
                ),
            ));
        }
    }
    Ok(rows)
}

/// A `redis-server` on 127.0.0.1 for the signals scenario, killed on drop.
struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    fn start() -> Result<Self, BoxError> {
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("redis-server (Debian package redis-server): {e}"))?;
        let server = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong =
                std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).and_then(|mut s| {
                    use std::io::Read;
                    s.write_all(b"PING\r\n")?;
                    let mut buf = [0u8; 7];
                    s.read_exact(&mut buf)?;
                    Ok(&buf == b"+PONG\r\n")
                });
            if matches!(pong, Ok(true)) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err("redis-server did not answer PING".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The latency percentile `p` (0 to 1) of `samples` (µs), sorted in place.
fn percentile(samples: &mut [u32], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let at = ((samples.len() - 1) as f64 * p).round() as usize;
    f64::from(samples[at.min(samples.len() - 1)])
}

/// (d) Keep-alive load with every signal on: the embedded store, then the Redis store.
async fn signals(fx: &Fixture, args: &Args) -> Result<Vec<Row>, BoxError> {
    println!(
        "\n== signals: {} keep-alive connections, GET /, every signal on (observed), \
         embedded vs Redis store, {} s per run, {} round(s)",
        args.connections, args.seconds, args.rounds
    );
    let redis = RedisServer::start()?;
    std::fs::write(fx.dir.join(files::REDIS_URL), &redis.url)?;
    let kinds = [ServerKind::SignalsEmbedded, ServerKind::SignalsRedis];
    let mut totals = [Totals::default(), Totals::default()];
    // Per round and store: (p50, p99) in µs.
    let mut latencies: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (i, kind) in kinds.into_iter().enumerate() {
            let server = ServerProcess::start(&fx.dir, kind)?;
            let port = server.port;
            let counters = Arc::new(Counters::default());
            let samples = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
            let config = Arc::clone(&fx.returning);
            let seconds = args.seconds;
            let m = measure(
                &fx.sys,
                &server,
                args.seconds,
                args.connections,
                &counters,
                |stop_at| {
                    latency_worker(
                        port,
                        Arc::clone(&config),
                        stop_at,
                        stop_at - Duration::from_secs(seconds),
                        Arc::clone(&counters),
                        Arc::clone(&samples),
                    )
                },
            )
            .await;
            let stats = server_stats(port, Arc::clone(&fx.returning)).await;
            drop(server);
            let mut all = std::mem::take(&mut *samples.lock().unwrap());
            let (p50, p99) = (percentile(&mut all, 0.50), percentile(&mut all, 0.99));
            report(
                &format!("round {round} {}", kind.name()),
                &m,
                &format!(
                    "; latency p50 {:.2} ms, p99 {:.2} ms ({} samples); server: {stats}",
                    p50 / 1e3,
                    p99 / 1e3,
                    all.len()
                ),
            );
            latencies[i].push((p50, p99));
            totals[i].add(&m);
        }
    }
    drop(redis);
    let [embedded, redis] = totals;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    };
    let p99 = |i: usize| median(latencies[i].iter().map(|l| l.1).collect());
    let p50 = |i: usize| median(latencies[i].iter().map(|l| l.0).collect());
    // Paired per round (the two runs of a round are back to back, sharing the machine's state
    // of the moment): the median of the rounds' differences and ratios.
    let added_p99_ms = median(
        latencies[1]
            .iter()
            .zip(&latencies[0])
            .map(|(r, e)| r.1 - e.1)
            .collect(),
    ) / 1e3;
    let rate_ratio = median(
        redis
            .runs_rate
            .iter()
            .zip(&embedded.runs_rate)
            .map(|(r, e)| r / e)
            .collect(),
    );
    let errors = embedded.errors + redis.errors;
    Ok(vec![
        embedded.row(
            "signals, keep-alive",
            format!(
                "embedded store (baseline): p50 {:.2} ms, p99 {:.2} ms",
                p50(0) / 1e3,
                p99(0) / 1e3
            ),
            "1.00".into(),
            String::new(),
        ),
        redis.row(
            "signals, keep-alive",
            format!(
                "Redis store: p50 {:.2} ms, p99 {:.2} ms",
                p50(1) / 1e3,
                p99(1) / 1e3
            ),
            format!(
                "req/s {rate_ratio:.3}×, CPU/req {:.3}×, p99 {added_p99_ms:+.2} ms (medians of per-round pairs)",
                redis.cpu_us() / embedded.cpu_us()
            ),
            with_errors(
                format!(
                    "p99 added ≤ 2 ms: {}; req/s ≥ 0.90×: {}",
                    verdict(added_p99_ms <= 2.0),
                    verdict(rate_ratio >= 0.90)
                ),
                errors,
            ),
        ),
    ])
}

/// The keep-alive worker, recording each request's latency (µs) in the measured window
/// (bounded: at most 1M samples per worker).
async fn latency_worker(
    port: u16,
    config: Arc<ClientConfig>,
    stop_at: Instant,
    measured_from: Instant,
    counters: Arc<Counters>,
    samples: Arc<std::sync::Mutex<Vec<u32>>>,
) {
    const MAX_SAMPLES: usize = 1_000_000;
    let mut mine = Vec::new();
    'outer: for _ in 0..MAX_ITERATIONS {
        if Instant::now() >= stop_at {
            break;
        }
        let Ok(Ok(mut sender)) =
            tokio::time::timeout(OP_TIMEOUT, connect(port, Arc::clone(&config))).await
        else {
            bump(&counters.errors);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        for _ in 0..MAX_ITERATIONS {
            let sent = Instant::now();
            if sent >= stop_at {
                break 'outer;
            }
            match tokio::time::timeout(OP_TIMEOUT, request(&mut sender, "/", false)).await {
                Ok(Ok((status, _))) if status == http::StatusCode::OK => {
                    bump(&counters.ok);
                    if sent >= measured_from && mine.len() < MAX_SAMPLES {
                        mine.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                }
                _ => {
                    bump(&counters.errors);
                    break;
                }
            }
        }
    }
    samples.lock().unwrap().extend(mine);
}

async fn handshake_worker(
    port: u16,
    returning: Arc<ClientConfig>,
    pool: Option<Arc<Vec<Arc<ClientConfig>>>>,
    next: Arc<AtomicUsize>,
    stop_at: Instant,
    counters: Arc<Counters>,
) {
    for _ in 0..MAX_ITERATIONS {
        if Instant::now() >= stop_at {
            return;
        }
        let config = match &pool {
            Some(pool) => Arc::clone(&pool[next.fetch_add(1, Ordering::Relaxed) % pool.len()]),
            None => Arc::clone(&returning),
        };
        let one = async {
            let mut sender = connect(port, config).await?;
            request(&mut sender, "/", true).await
        };
        match tokio::time::timeout(OP_TIMEOUT, one).await {
            Ok(Ok((status, _))) if status == http::StatusCode::OK => bump(&counters.ok),
            _ => {
                bump(&counters.errors);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// (c) Mixed: 10k certificates, 5% revoked, policy reloaded every second.
async fn mixed(fx: &Fixture, args: &Args) -> Result<Vec<Row>, BoxError> {
    println!(
        "\n== mixed: {MIXED_POOL} certificates ({MIXED_REVOKED} revoked), {} workers, \
         {MIXED_REQUESTS_PER_CONNECTION} requests per connection, reload every second, {} s",
        args.connections, args.seconds
    );
    let started = Instant::now();
    let leaves = fx
        .pki
        .leaves((0..MIXED_POOL).map(|i| (mixed_app(i), mixed_serial(i))));
    let configs: Arc<Vec<Arc<ClientConfig>>> = Arc::new(
        leaves
            .into_iter()
            .map(|leaf| fx.clients.config(leaf))
            .collect(),
    );
    let mut revoked = vec![false; MIXED_POOL];
    for &i in &Rng(0x9e37_79b9_7f4a_7c15).permutation(MIXED_POOL)[..MIXED_REVOKED] {
        revoked[i] = true;
    }
    let revoked = Arc::new(revoked);
    let revoked_serials: Arc<Vec<SerialNumber>> = Arc::new(
        (0..MIXED_POOL)
            .filter(|&i| revoked[i])
            .map(|i| SerialNumber::from(mixed_serial(i)))
            .collect(),
    );
    write_atomically(
        &fx.dir.join(files::MIXED_CRL),
        fx.pki.crl(&revoked_serials, 1).as_ref(),
    )?;
    let pin = intermediate_pin(&fx.pki.intermediate)?;
    let mut policy = String::from(
        "[trust]\nanchors = [\"root.der\"]\n\n[revocation]\ncrls = [\"mixed-crl.der\"]\ndepth = \"leaf\"\n",
    );
    for app in 0..MIXED_APPS {
        policy.push_str(&format!(
            "\n[[apps]]\nid = \"{}\"\npins = [\"{pin}\"]\n",
            mixed_app(app)
        ));
    }
    std::fs::write(fx.dir.join(files::MIXED_POLICY), policy)?;
    println!(
        "  {MIXED_POOL} leaves issued and client configs built in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let server = ServerProcess::start(&fx.dir, ServerKind::Mixed)?;
    let port = server.port;
    let pid = server.pid;
    let counters = Arc::new(Counters::default());
    let order = Arc::new(Rng(0x2545_f491_4f6c_dd1d).permutation(MIXED_POOL));
    let next = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Vec<AtomicBool>> =
        Arc::new((0..MIXED_POOL).map(|_| AtomicBool::new(false)).collect());
    let run_for = WARMUP + Duration::from_secs(args.seconds);

    // RSS every second, from the start of the load to its end.
    let rss = {
        let page_size = fx.sys.page_size;
        tokio::spawn(async move {
            let sys = Sys {
                clk_tck: 100.0,
                page_size,
            };
            let mut samples = Vec::new();
            let end = Instant::now() + run_for;
            for _ in 0..=MAX_SECONDS + 2 {
                samples.push(sys.rss_bytes(pid));
                if Instant::now() >= end {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            samples
        })
    };
    // A freshly signed CRL with the same revoked set every second (written atomically).
    let rewriter = {
        let pki_crl = {
            let serials = Arc::clone(&revoked_serials);
            move |n: u64| fx.pki.crl(&serials, n)
        };
        let path = fx.dir.join(files::MIXED_CRL);
        let end = Instant::now() + run_for;
        let mut written = 0u64;
        async move {
            for n in 2..2 + MAX_SECONDS + 2 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if Instant::now() >= end {
                    break;
                }
                let crl = pki_crl(n);
                if write_atomically(&path, crl.as_ref()).is_ok() {
                    written += 1;
                }
            }
            written
        }
    };
    let load = measure(
        &fx.sys,
        &server,
        args.seconds,
        args.connections,
        &counters,
        |stop_at| {
            mixed_worker(
                port,
                Arc::clone(&configs),
                Arc::clone(&revoked),
                Arc::clone(&order),
                Arc::clone(&next),
                Arc::clone(&seen),
                stop_at,
                Arc::clone(&counters),
            )
        },
    );
    let (m, crl_writes) = tokio::join!(load, rewriter);
    let samples = rss.await.unwrap_or_default();
    let good_config = (0..MIXED_POOL)
        .find(|&i| !revoked[i])
        .map(|i| Arc::clone(&configs[i]));
    let stats = match good_config {
        Some(config) => server_stats(port, config).await,
        None => "no good certificate".into(),
    };
    drop(server);

    let accepted = counters.accepted.load(Ordering::Relaxed);
    let refused = counters.refused_revoked.load(Ordering::Relaxed);
    let wrong = counters.wrong.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let seen_revoked = (0..MIXED_POOL)
        .filter(|&i| revoked[i] && seen[i].load(Ordering::Relaxed))
        .count();
    let seen_good = (0..MIXED_POOL)
        .filter(|&i| !revoked[i] && seen[i].load(Ordering::Relaxed))
        .count();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (first, last, max) = (
        samples.first().copied().unwrap_or(0),
        samples.last().copied().unwrap_or(0),
        samples.iter().copied().max().unwrap_or(0),
    );
    // Flat: RSS grows by at most 0.1 MiB/s (360 MiB an hour) over the run's second half; the
    // first seconds fill connection buffers and the allocator's pools.
    let half = samples.get(samples.len() / 2).copied().unwrap_or(0);
    let half_span = samples.len().saturating_sub(1 + samples.len() / 2).max(1) as f64;
    let growth = (mb(last) - mb(half)) / half_span;
    let flat = growth <= 0.1;
    report("mixed", &m, &format!("; server: {stats}"));
    println!(
        "  whole run: {accepted} × 200 for good certificates, {refused} × 403 revoked for revoked ones, \
         {wrong} wrong verdicts, {errors} errors; certificates used: {seen_good}/{} good, \
         {seen_revoked}/{MIXED_REVOKED} revoked; CRL rewritten {crl_writes} times",
        MIXED_POOL - MIXED_REVOKED
    );
    println!(
        "  server RSS (MiB, every second): {}",
        samples
            .iter()
            .map(|&b| format!("{:.1}", mb(b)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(vec![Row {
        scenario: "mixed",
        variant: format!(
            "10k certs, 5% revoked, reload/s; RSS MiB first {:.1} / last {:.1} / max {:.1}",
            mb(first),
            mb(last),
            mb(max)
        ),
        count: m.requests,
        rate: m.rate(),
        cpu_us: format!("{:.1}", m.cpu_us_per_request()),
        ratio: "—".into(),
        target: format!(
            "0 wrong, 0 errors: {} ({wrong} wrong, {errors} errors); RSS flat: {} \
             ({:+.2} MiB/s over the second half)",
            verdict(wrong == 0 && errors == 0 && accepted > 0 && refused > 0),
            verdict(flat),
            growth
        ),
    }])
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// What the server answered, against what it should have.
enum Outcome {
    Right,
    Wrong,
    Error,
}

fn judge(revoked: bool, status: http::StatusCode, body: &[u8]) -> Outcome {
    let code = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("code")?.as_str().map(str::to_owned))
    };
    match (status.as_u16(), revoked) {
        (200, false) => Outcome::Right,
        (200, true) => Outcome::Wrong,
        (401 | 403, _) => match code() {
            Some(code) if revoked && status == http::StatusCode::FORBIDDEN && code == "revoked" => {
                Outcome::Right
            }
            // A verdict, but not the expected one.
            Some(_) => Outcome::Wrong,
            None => Outcome::Error,
        },
        _ => Outcome::Error,
    }
}

#[allow(clippy::too_many_arguments)]
async fn mixed_worker(
    port: u16,
    configs: Arc<Vec<Arc<ClientConfig>>>,
    revoked: Arc<Vec<bool>>,
    order: Arc<Vec<usize>>,
    next: Arc<AtomicUsize>,
    seen: Arc<Vec<AtomicBool>>,
    stop_at: Instant,
    counters: Arc<Counters>,
) {
    for _ in 0..MAX_ITERATIONS {
        if Instant::now() >= stop_at {
            return;
        }
        let i = order[next.fetch_add(1, Ordering::Relaxed) % order.len()];
        seen[i].store(true, Ordering::Relaxed);
        let is_revoked = revoked[i];
        let one = async {
            let mut sender = connect(port, Arc::clone(&configs[i])).await?;
            for k in 0..MIXED_REQUESTS_PER_CONNECTION {
                let last = k + 1 == MIXED_REQUESTS_PER_CONNECTION;
                let (status, body) = request(&mut sender, "/", last).await?;
                match judge(is_revoked, status, &body) {
                    Outcome::Right => {
                        bump(&counters.ok);
                        bump(if is_revoked {
                            &counters.refused_revoked
                        } else {
                            &counters.accepted
                        });
                    }
                    Outcome::Wrong => bump(&counters.wrong),
                    Outcome::Error => {
                        return Err::<(), BoxError>(
                            format!("unexpected {status}: {}", String::from_utf8_lossy(&body))
                                .into(),
                        );
                    }
                }
            }
            Ok(())
        };
        match tokio::time::timeout(OP_TIMEOUT, one).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if counters.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("  mixed: certificate {i}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {
                bump(&counters.errors);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Main

async fn parent_main(args: Args) -> Result<(), BoxError> {
    let started = Instant::now();
    let load_before = load_average();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_path_buf();
    let sys = Sys::read();

    let pki = Pki::new();
    let (server_cert, server_key) = pki.server();
    std::fs::write(dir.join(files::ROOT), pki.root.as_ref())?;
    std::fs::write(dir.join(files::INTERMEDIATE), pki.intermediate.as_ref())?;
    std::fs::write(dir.join(files::SERVER_CERT), server_cert.as_ref())?;
    std::fs::write(dir.join(files::SERVER_KEY), server_key.secret_der())?;
    if args.runs(Scenario::Handshake) {
        std::fs::write(
            dir.join(files::CRL_10K),
            pki.crl(&unrelated_serials(CRL_ENTRIES), 7).as_ref(),
        )?;
    }

    let mut roots = RootCertStore::empty();
    roots.add(pki.root.clone())?;
    let key = provider()
        .key_provider
        .load_private_key(PrivateKeyDer::try_from(pki.leaf_key.serialize_der())?)?;
    let clients = Clients {
        roots: Arc::new(roots),
        key,
        intermediate: pki.intermediate.clone(),
        verify_server: args.verify_server,
    };
    let returning = clients.config(
        pki.leaves(std::iter::once((APP.to_owned(), RETURNING_SERIAL)))
            .remove(0),
    );
    let fx = Fixture {
        dir,
        sys,
        pki,
        clients,
        returning,
    };
    println!(
        "loadgen: {} core(s), {} s per measured run (after {} s warm-up), {} connections; \
         PKI in {} ({:.2} s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.seconds,
        WARMUP.as_secs(),
        args.connections,
        fx.dir.display(),
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    if args.runs(Scenario::Keepalive) {
        rows.extend(keepalive(&fx, &args).await?);
    }
    if args.runs(Scenario::Handshake) {
        rows.extend(handshakes(&fx, &args).await?);
    }
    if args.runs(Scenario::Mixed) {
        rows.extend(mixed(&fx, &args).await?);
    }
    if args.runs(Scenario::Signals) {
        rows.extend(signals(&fx, &args).await?);
    }

    println!(
        "\nSummary ({} s measured per run, {} connections, {} core(s); total {:.0} s):\n",
        args.seconds,
        args.connections,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        started.elapsed().as_secs_f64()
    );
    println!(
        "Load average (1/5/15 min) before: {load_before}, after: {}. Other processes on the \
         machine compete with the server and the generator.\n",
        load_average()
    );
    println!(
        "| scenario | variant | requests or handshakes | req/s | server CPU µs per request | ratio vs baseline | target |"
    );
    println!("|---|---|---:|---:|---:|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} |",
            row.scenario, row.variant, row.count, row.rate, row.cpu_us, row.ratio, row.target
        );
    }
    drop(tmp);
    Ok(())
}
