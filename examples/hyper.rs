//! The same gate without axum: a plain hyper/Tower service behind `CertGateLayer`, with
//! rejected clients refused in the TLS handshake.
//!
//! ```text
//! cargo run --features server,issue --example hyper [-- --policy FILE] [--port N] [--dir DIR]
//! ```
//!
//! Uses the demo PKI in `./demo-pki` (the one the `server` example makes; generated here the
//! same way when missing) and listens on 127.0.0.1:8444.
//!
//! [`HandshakeMode::Refuse`] makes the certificate mandatory and turns a rejected chain into a
//! TLS alert: cheapest against floods, but the client sees only the alert (for example
//! `certificate_required` or `certificate_revoked`), not a reason code. The layer still runs on
//! every request (from the gate's cache) and puts the verified [`PeerIdentity`] into the
//! request extensions.

// A demo binary run by hand, never reachable from untrusted input: failing loudly on a broken
// setup is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/cli.rs"]
mod cli;
#[path = "common/demo_pki.rs"]
mod demo_pki;

use std::convert::Infallible;
use std::error::Error;
use std::sync::Arc;

use bytes::Bytes;
use certgate::{AppId, CertGateLayer, Gate, HandshakeMode, PeerIdentity, Policy, server};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::ServiceBuilder;

use self::cli::Args;
use self::demo_pki::{DemoPki, Expectations};

/// The application: answers with the verified identity the layer put into the extensions.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(identity) = req.extensions().get::<PeerIdentity>() else {
        // In enforce mode the layer lets only accepted peers through, each with an identity.
        let mut response = Response::new(Full::from("no PeerIdentity: is CertGateLayer in front?"));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(response);
    };
    let body = serde_json::json!({
        "app_id": identity.app_id().map(AppId::as_str),
        "identity": identity,
    });
    let mut response = Response::new(Full::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    cli::init_logging();
    let args = Args::parse("hyper", 8444);

    // The port first: a busy port fails before the PKI folder is touched.
    let listener = cli::bind(args.port).await?;
    let pki = DemoPki::ensure(&args.dir)?;
    let policy_path = args.policy_path(pki.policy())?;
    let gate = Gate::builder(Policy::load(&policy_path)?).build()?;

    let (chain, key) = pki.server_identity()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = server::TlsConfig::new(&gate, provider, chain, key, HandshakeMode::Refuse)?;

    // Any Tower service works: the layer needs only a response body that is `From<String>`
    // (for its problem+json refusals), which `Full<Bytes>` is.
    let service = ServiceBuilder::new()
        .layer(CertGateLayer::new(gate))
        .service_fn(handle);

    println!(
        "certgate hyper example on https://localhost:{}/ (handshake mode: refuse)",
        args.port
    );
    println!("  demo PKI: {}", pki.dir.display());
    println!("  policy:   {}", policy_path.display());
    let expect = Expectations {
        genuine: "200, {\"app_id\":\"com.example.shop\",\"identity\":{...}}",
        no_certificate: "TLS alert certificate_required (curl exit 56)",
        revoked: "TLS alert certificate_revoked (curl exit 56)",
        other_app: "TLS alert certificate_unknown (curl exit 56)",
    };
    for (label, command, result) in pki.curl_commands(args.port, &expect) {
        println!();
        println!("# {label} -> {result}");
        println!("{command}");
    }
    println!();
    println!(
        "(Over HTTP/2 curl may report the dropped connection, exit 55, instead of the alert.)"
    );
    println!("Stop: Ctrl-C");

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve(listener, tls, service, shutdown).await?;
    println!("stopped");
    Ok(())
}
