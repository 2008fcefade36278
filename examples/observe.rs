//! Rolling certgate out: observe mode lets every peer through and reports what enforcement
//! would have refused, with a custom `EventSink` counting verdicts per reason code.
//!
//! ```text
//! cargo run --features axum,server,issue --example observe [-- --policy FILE] [--port N] [--dir DIR]
//! ```
//!
//! Uses the demo PKI in `./demo-pki` (generated when missing) and listens on 127.0.0.1:8445.
//! Every reason code is observed except `no_certificate`, which stays enforced: a client that
//! sends no certificate at all gets a 401. A revoked certificate or another app gets a 200 whose
//! body says which code would have refused it.
//!
//! The handler reads the [`Verdict`] (always present behind the layer) and an
//! `Option<PeerIdentity>` (`None` for a rejected peer let through).

// A demo binary run by hand, never reachable from untrusted input: failing loudly on a broken
// setup is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/cli.rs"]
mod cli;
#[path = "common/demo_pki.rs"]
mod demo_pki;

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use certgate::{
    AppId, CertGateLayer, EventSink, Gate, HandshakeMode, Mode, PeerIdentity, Policy, Verdict,
    VerdictEvent, server,
};
use serde_json::{Value, json};

use self::cli::Args;
use self::demo_pki::{DemoPki, Expectations};

/// Counts verdict events per reason code and prints each one. A real sink would feed metrics
/// (a counter labelled by `code` and `action`); it must stay cheap and never block, because it
/// runs on the request path.
#[derive(Debug, Default)]
struct CountingSink {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl CountingSink {
    fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl EventSink for CountingSink {
    fn record(&self, event: &VerdictEvent) {
        let seen = {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(event.code).or_default();
            *count = count.saturating_add(1);
            *count
        };
        // The event serializes to one JSON object: code, action, app_id, fingerprint, ...
        let json = serde_json::to_string(event).unwrap_or_default();
        println!("event {}#{seen}: {json}", event.code);
    }
}

/// `GET /`: the verdict, and what enforcement would have done.
async fn report(
    State(sink): State<Arc<CountingSink>>,
    verdict: Verdict,
    identity: Option<PeerIdentity>,
) -> Json<Value> {
    let (message, would_refuse) = match verdict.rejection() {
        Some(rejection) => (
            format!(
                "observe mode let this request through; enforce mode would have refused it: {}",
                rejection.code()
            ),
            json!({
                "code": rejection.code(),
                "status": rejection.http_status().as_u16(),
                "detail": rejection.to_string(),
            }),
        ),
        None => ("accepted".to_owned(), Value::Null),
    };
    Json(json!({
        "verdict": verdict.code(),
        "app_id": identity.as_ref().and_then(PeerIdentity::app_id).map(AppId::as_str),
        "message": message,
        "would_have_been_refused": would_refuse,
        "events_by_code": sink.counts(),
    }))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let args = Args::parse("observe", 8445);

    // The port first: a busy port fails before the PKI folder is touched.
    let listener = cli::bind(args.port).await?;
    let pki = DemoPki::ensure(&args.dir)?;
    let policy_path = args.policy_path(pki.policy())?;
    let sink = Arc::new(CountingSink::default());
    let gate = Gate::builder(Policy::load(&policy_path)?)
        .mode(Mode::Observe)
        .mode_for("no_certificate", Mode::Enforce)
        .event_sink(sink.clone())
        .build()?;

    let (chain, key) = pki.server_identity()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Defer: the handshake completes whatever the client presents, and the layer decides.
    let tls = server::TlsConfig::new(&gate, provider, chain, key, HandshakeMode::Defer)?;

    let app = Router::new()
        .route("/", get(report))
        .layer(CertGateLayer::new(gate))
        .with_state(sink);

    println!(
        "certgate observe example on https://localhost:{}/ (observe, no_certificate enforced)",
        args.port
    );
    println!("  demo PKI: {}", pki.dir.display());
    println!("  policy:   {}", policy_path.display());
    let expect = Expectations {
        genuine: "200, verdict accept",
        no_certificate: "401 application/problem+json, code no_certificate (still enforced)",
        revoked: "200, would have been refused: revoked",
        other_app: "200, would have been refused: app_not_allowed",
    };
    for (label, command, result) in pki.curl_commands(args.port, &expect) {
        println!();
        println!("# {label} -> {result}");
        println!("{command}");
    }
    println!();
    println!("Stop: Ctrl-C");

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve(listener, tls, app, shutdown).await?;
    println!("stopped");
    Ok(())
}
