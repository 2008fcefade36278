//! An axum server over mTLS that only answers genuine apps: the README's main example.
//!
//! ```text
//! cargo run --features axum,server,issue,watch,metrics,audit,enroll,redis --example server [-- --policy FILE] [--port N] [--dir DIR] [--plain] [--metrics-port N] [--audit-log PATH] [--enroll]
//! ```
//!
//! It binds the port first (a second instance on a busy port fails before it touches anything),
//! then, on first start, makes a demo PKI with `certgate::issue` into `./demo-pki` under the
//! current directory, or `--dir DIR` (root, intermediate, the CA database, a server
//! certificate, app certificates, the genuine app's `app.p12` and CRLs) and a `policy.toml`
//! allowing `com.example.shop`, then prints curl commands for a genuine app (PEM and PKCS#12),
//! no certificate, a revoked certificate and another app.
//! Later starts reuse the certificates and re-sign the CRLs (they are good for 30 days, so a
//! demo server running longer than that needs a restart).
//!
//! The handshake asks for a client certificate but completes without one
//! ([`HandshakeMode::Defer`]), so refusals are HTTP 401/403 `application/problem+json` bodies
//! with a stable reason code rather than TLS alerts. `kill -HUP <pid>` reloads the policy (a
//! policy that fails to load leaves the old one in force; a policy with other trust anchors
//! also rebuilds the TLS configuration, so the next handshakes name the new CAs); Ctrl-C
//! stops the server.
//!
//! `--plain` serves plain HTTP (HTTP/1.1 and h2c) for a TLS-terminating proxy in front, with a
//! policy whose `[forwarded]` section names the proxy's header and address.
//!
//! `--metrics-port N` serves the gate's metrics as Prometheus text at
//! `http://127.0.0.1:N/metrics` (`metrics-exporter-prometheus`'s recorder, rendered by an axum
//! route; see the README's "Metrics").
//!
//! `--enroll` mounts the attested-enrollment router (`certgate::enroll`) at `/enroll`, outside
//! the gate, issuing from the demo CA: an install that enrolls (Android Key Attestation or App
//! Attest against the demo policy's `[apps.android]` / `[apps.ios]`, placeholders to replace
//! with your app's) can call `/` with its certificate at once. With a policy whose
//! `[signals.store]` names Redis, the challenges live in that Redis, shared by every replica
//! (unreachable Redis: `503 enroll_failed`, never a challenge).
//!
//! `--audit-log PATH` records every verdict in a hash-chained JSON-lines log (rotated at
//! 64 MiB into `PATH.1`, `PATH.2`, …; see the README's "Audit log"): check it with
//! `certgate audit verify PATH`, re-run its decisions with `certgate audit replay PATH`.
//!
//! Refusals are logged at `warn` under the `certgate` target; `RUST_LOG=certgate=debug` logs
//! accepts too.

// A demo binary run by hand, never reachable from untrusted input: failing loudly on a broken
// setup is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// `pub(crate)`: tests/demo_example.rs drives `run` with its own `Args`.
#[path = "common/cli.rs"]
pub(crate) mod cli;
#[path = "common/demo_pki.rs"]
mod demo_pki;

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use certgate::audit::{AuditConfig, AuditLog};
use certgate::enroll::Enrollment;
use certgate::issue::Ca;
use certgate::{AppId, CertGateLayer, Gate, HandshakeMode, PeerIdentity, Policy, server};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};

use self::cli::Args;
use self::demo_pki::{DemoPki, Expectations};

/// `GET /`: who the (verified) peer is. The layer has already refused everyone else, so the
/// `PeerIdentity` extractor always succeeds here.
async fn whoami(identity: PeerIdentity) -> Json<Value> {
    Json(json!({
        "app_id": identity.app_id().map(AppId::as_str),
        "identity": identity,
    }))
}

#[tokio::main]
async fn main() {
    cli::init_logging();
    let args = Args::parse("server", 8443);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = run(&args, shutdown).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Serves until `shutdown` completes.
pub(crate) async fn run(
    args: &Args,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn Error>> {
    // The port first: a second instance on a busy port must fail before it touches the PKI
    // folder the first one is serving from.
    let listener = cli::bind(args.port).await?;
    let port = listener.local_addr()?.port();
    // The metrics port too, and the recorder before the gate: the gate's handles register
    // against the recorder installed when they are first used.
    let metrics = match args.metrics_port {
        Some(port) => Some((cli::bind(port).await?, install_recorder()?)),
        None => None,
    };

    let pki = DemoPki::ensure(&args.dir)?;
    let policy_path = args.policy_path(pki.policy())?;
    let policy = Policy::load(&policy_path)?;
    for warning in policy.warnings() {
        println!("policy warning: {warning}");
    }
    if args.plain && policy.forwarded().is_none() {
        return Err(format!(
            "--plain serves plain HTTP behind a TLS-terminating proxy: {} needs a [forwarded] \
             section naming the proxy's header and trusted_proxies (see the README, \
             \"Deploying behind a proxy\")",
            policy_path.display()
        )
        .into());
    }
    // The verdict log: a background writer; requests never wait for its disk.
    let audit = match &args.audit_log {
        Some(path) => Some(
            AuditLog::open(path, AuditConfig::default())
                .map_err(|e| format!("--audit-log {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut builder = Gate::builder(policy);
    if let Some(log) = &audit {
        builder = builder.audit_log(log);
        println!(
            "  audit log: {}",
            args.audit_log.as_deref().unwrap_or(Path::new("")).display()
        );
    }
    let gate = builder.build()?;
    // The enrollment router (outside the gate: an install enrolls before it has a certificate).
    let enroll = if args.enroll {
        let enrollment = Enrollment::builder(gate.clone(), Ca::open(&pki.dir, None)?)
            .show_detail()
            .build()
            .map_err(|e| format!("--enroll: {} ({e})", policy_path.display()))?;
        Some(enrollment.router())
    } else {
        None
    };
    // Reload on file change (the policy and every file it names); SIGHUP keeps working too.
    let _watcher = gate.watch(&policy_path)?;
    // Stops serving metrics when `run` returns.
    let _metrics = match metrics {
        Some((listener, handle)) => Some(serve_metrics(listener, handle, gate.clone())?),
        None => None,
    };

    if args.plain {
        // Behind a proxy: plain HTTP/1.1 and h2c; the layer reads the TCP peer from axum's
        // ConnectInfo to decide whether the forwarded header may be believed.
        let app = with_enrollment(
            Router::new()
                .route("/", get(whoami))
                .layer(CertGateLayer::new(gate.clone()).show_detail()),
            enroll,
        );
        #[cfg(unix)]
        reload_on_sighup(gate.clone(), &policy_path)?;
        println!("certgate demo server (plain HTTP, behind a proxy) on http://127.0.0.1:{port}/");
        println!("  policy: {}", policy_path.display());
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        );
        tokio::select! {
            served = async { serve.await } => served?,
            () = shutdown => {}
        }
        println!("stopped");
        return Ok(());
    }

    let (chain, key) = pki.server_identity()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = server::TlsConfig::new(&gate, provider, chain, key, HandshakeMode::Defer)?;

    let enrolling = enroll.is_some();
    let app = with_enrollment(
        Router::new()
            .route("/", get(whoami))
            .layer(CertGateLayer::new(gate.clone()).show_detail()),
        enroll,
    );

    // Install the SIGHUP handler before telling anyone the pid: SIGHUP's default is to exit.
    #[cfg(unix)]
    reload_on_sighup(gate.clone(), &policy_path)?;

    print_banner(&pki, &policy_path, port);
    if enrolling {
        println!();
        println!("Attested enrollment (no client certificate needed):");
        println!(
            "curl --cacert {} -X POST https://localhost:{port}/enroll/challenge",
            demo_pki::quote(&pki.path("root.pem"))
        );
    }

    server::serve(listener, tls, app, shutdown).await?;
    println!("stopped");
    Ok(())
}

/// The Prometheus recorder, installed as the process's global recorder (once per process: a
/// second `run` in the same process reuses the first one's).
fn install_recorder() -> Result<PrometheusHandle, Box<dyn Error>> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Histograms as Prometheus histograms (buckets in seconds), not summaries.
    let buckets = [
        0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)?
        .install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Serves `GET /metrics` on `listener` until the returned guard drops.
fn serve_metrics(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    gate: Gate,
) -> std::io::Result<AbortOnDrop> {
    let addr = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            let gate = gate.clone();
            async move {
                // The time-dependent gauges (seconds until the CRL expires) as of now.
                gate.publish_metrics();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    println!("  metrics:  http://{addr}/metrics");
    Ok(AbortOnDrop(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })))
}

/// `gated` with the enrollment routes nested at `/enroll`, outside its layer.
fn with_enrollment(gated: Router, enroll: Option<Router>) -> Router {
    match enroll {
        Some(routes) => gated.nest("/enroll", routes),
        None => gated,
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reloads the policy file on every SIGHUP. A policy that fails to load is reported and the
/// gate keeps the last good one.
#[cfg(unix)]
fn reload_on_sighup(gate: Gate, path: &Path) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut hangups = signal(SignalKind::hangup())?;
    let path = path.to_path_buf();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match gate.reload_from_file(&path) {
                Ok(()) => {
                    println!(
                        "SIGHUP: reloaded {} (policy generation {})",
                        path.display(),
                        gate.generation()
                    );
                    for warning in gate.policy().warnings() {
                        println!("policy warning: {warning}");
                    }
                }
                Err(e) => println!(
                    "SIGHUP: reload failed, still serving policy generation {}: {e}",
                    gate.generation()
                ),
            }
        }
    });
    Ok(())
}

fn print_banner(pki: &DemoPki, policy: &Path, port: u16) {
    let verb = if pki.created { "generated" } else { "reusing" };
    println!("certgate demo server on https://localhost:{port}/");
    println!("  demo PKI: {verb} {}", pki.dir.display());
    println!("  policy:   {}", policy.display());
    println!();
    println!("Try it (from any directory):");
    let expect = Expectations {
        genuine: "200, {\"app_id\":\"com.example.shop\",\"identity\":{...}}",
        no_certificate: "401 application/problem+json, code no_certificate",
        revoked: "403 application/problem+json, code revoked",
        other_app: "403 application/problem+json, code app_not_allowed",
    };
    for (label, command, result) in pki.curl_commands(port, &expect) {
        println!();
        println!("# {label} -> {result}");
        println!("{command}");
        if label == "genuine app" {
            println!();
            println!("# genuine app, PKCS#12 (what the app embeds) -> {result}");
            println!("{}", pki.curl_p12_command(port));
        }
    }
    println!();
    #[cfg(unix)]
    println!(
        "Reload the policy: kill -HUP {}   Stop: Ctrl-C",
        std::process::id()
    );
    #[cfg(not(unix))]
    println!("Stop: Ctrl-C");
}
