//! The trusted-proxy rule in `CertGateLayer` (issue 10 §2): forwarded chains are read only
//! from trusted proxies, judged by the same verifier, keyed by the forwarded chain (never the
//! proxy connection's memo), and the headers never reach the inner service.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use certgate::forwarded::{ClientAddressSource, ForwardedConfig, ForwardedFormat};
use certgate::{
    CertGateLayer, ConnectionEvent, EventSink, Gate, PeerAddr, PeerChain, PeerIdentity, Policy,
    TlsConnectInfo, VerdictEvent, VerifierBuilder,
};
use common::{Crl, Issued, Leaf, NOW, SHOP, pki};
use http::{Request, Response, StatusCode};
use tower::{Service, ServiceExt};

const HEADER: &str = "x-client-cert";

#[derive(Default)]
struct Recorder {
    verdicts: Mutex<Vec<VerdictEvent>>,
    connections: Mutex<Vec<ConnectionEvent>>,
}

impl EventSink for Recorder {
    fn record(&self, event: &VerdictEvent) {
        self.verdicts.lock().unwrap().push(event.clone());
    }
    fn record_connection(&self, event: &ConnectionEvent) {
        self.connections.lock().unwrap().push(event.clone());
    }
}

fn gate(recorder: Arc<Recorder>) -> Gate {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .crl(pki().crl(Crl::Intermediate))
        .crl(pki().crl(Crl::Root))
        .allow_app(certgate::AppRule::new(certgate::AppId::new(SHOP).unwrap()))
        .build()
        .unwrap();
    let config = ForwardedConfig::new(ForwardedFormat::Nginx)
        .trust_proxy("127.0.0.1/32".parse().unwrap())
        .client_address(ClientAddressSource::XForwardedFor);
    Gate::builder(
        Policy::from_verifier(verifier)
            .with_forwarded(config)
            .unwrap(),
    )
    .clock(|| NOW)
    .event_sink(recorder)
    .build()
    .unwrap()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `$ssl_client_escaped_cert` of `leaf`: the URL-encoded PEM leaf (nginx forwards the leaf;
/// the chain is the leaf plus its intermediate here, as the fixture presents it).
fn nginx_value(leaf: &Issued) -> String {
    url_encode(&leaf.chain_pem())
}

/// The inner service: says who it sees, and whether the forwarded header reached it.
async fn echo(req: Request<()>) -> Result<Response<String>, std::convert::Infallible> {
    let who = req
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|id| id.app_id().map(|a| a.to_string()))
        .unwrap_or_else(|| "-".into());
    let leaked = req.headers().contains_key(HEADER);
    Ok(Response::new(format!(
        "identity={who} header_seen={leaked}"
    )))
}

fn request(from: &str, header: Option<String>, xff: Option<&str>) -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(PeerAddr(from.parse::<SocketAddr>().unwrap()));
    if let Some(value) = header {
        req.headers_mut().insert(HEADER, value.parse().unwrap());
    }
    if let Some(xff) = xff {
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
    }
    req
}

fn code(response: &Response<String>) -> String {
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_trusted_proxy_forwards_genuine_revoked_and_other_apps() {
    let recorder = Arc::new(Recorder::default());
    let service = tower::ServiceBuilder::new()
        .layer(CertGateLayer::new(gate(recorder.clone())))
        .service_fn(echo);
    let genuine = nginx_value(pki().leaf(Leaf::Genuine));

    let ok = service
        .clone()
        .oneshot(request(
            "127.0.0.1:40000",
            Some(genuine.clone()),
            Some("203.0.113.7"),
        ))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.body(), &format!("identity={SHOP} header_seen=false"));
    // The client address comes from the trusted proxy's X-Forwarded-For.
    let events = recorder.verdicts.lock().unwrap().clone();
    assert_eq!(
        events.last().unwrap().peer_addr,
        Some("203.0.113.7:0".parse().unwrap())
    );

    for (leaf, status, expected) in [
        (Leaf::Revoked, StatusCode::FORBIDDEN, "revoked"),
        (Leaf::OtherApp, StatusCode::FORBIDDEN, "app_not_allowed"),
    ] {
        let response = service
            .clone()
            .oneshot(request(
                "127.0.0.1:40000",
                Some(nginx_value(pki().leaf(leaf))),
                None,
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{leaf:?}");
        assert_eq!(code(&response), expected);
    }
    // A trusted proxy without the header: the client had no certificate.
    let none = service
        .clone()
        .oneshot(request("127.0.0.1:40000", None, None))
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&none), "no_certificate");
    // A header that does not parse.
    let bad = service
        .clone()
        .oneshot(request("127.0.0.1:40000", Some("%ZZnot-pem".into()), None))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&bad), "malformed_forwarded_certificate");
}

#[tokio::test]
async fn a_header_from_an_untrusted_peer_is_removed_and_never_an_identity() {
    let recorder = Arc::new(Recorder::default());
    let service = tower::ServiceBuilder::new()
        .layer(CertGateLayer::new(gate(recorder.clone())).show_detail())
        .service_fn(echo);
    // Straight to the backend from 127.0.0.2 with the genuine app's forwarded certificate.
    let spoof = nginx_value(pki().leaf(Leaf::Genuine));
    let response = service
        .clone()
        .oneshot(request("127.0.0.2:40000", Some(spoof), None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&response), "no_certificate");
    let events = recorder.connections.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].code, "forwarded_untrusted");
    assert_eq!(events[0].peer_addr, "127.0.0.2:40000".parse().unwrap());

    // In observe mode the request passes, without identity and without the header.
    let observe = Gate::builder(gate(recorder).policy())
        .mode(certgate::Mode::Observe)
        .build()
        .unwrap();
    let service = tower::ServiceBuilder::new()
        .layer(CertGateLayer::new(observe))
        .service_fn(echo);
    let response = service
        .oneshot(request(
            "127.0.0.2:40000",
            Some(nginx_value(pki().leaf(Leaf::Genuine))),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "identity=- header_seen=false");
}

#[tokio::test]
async fn clients_interleaved_on_one_proxy_connection_each_get_their_own_verdict() {
    let recorder = Arc::new(Recorder::default());
    let gate = gate(recorder);
    let mut service = tower::ServiceBuilder::new()
        .layer(CertGateLayer::new(gate.clone()))
        .service_fn(echo);
    // One keep-alive TLS connection from the proxy (it presents no certificate of its own).
    let proxy = TlsConnectInfo::new(
        PeerChain::new(Vec::new()),
        "127.0.0.1:45000".parse().unwrap(),
    );
    let on_proxy = |leaf: Leaf| {
        let mut req = Request::new(());
        req.extensions_mut().insert(proxy.clone());
        req.headers_mut()
            .insert(HEADER, nginx_value(pki().leaf(leaf)).parse().unwrap());
        req
    };
    for round in 0..3 {
        for (leaf, status) in [
            (Leaf::Genuine, StatusCode::OK),
            (Leaf::Revoked, StatusCode::FORBIDDEN),
            (Leaf::Second, StatusCode::OK),
            (Leaf::OtherApp, StatusCode::FORBIDDEN),
        ] {
            let response = service
                .ready()
                .await
                .unwrap()
                .call(on_proxy(leaf))
                .await
                .unwrap();
            assert_eq!(response.status(), status, "round {round}: {leaf:?}");
        }
    }
    // Each chain was verified once, then answered by the cache by its digest.
    let stats = gate.cache_stats();
    assert_eq!(stats.misses, 4, "{stats:?}");
    assert_eq!(stats.hits, 8, "{stats:?}");
}
