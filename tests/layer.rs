//! `CertGateLayer` as plain Tower middleware: what reaches the inner service, the RFC 9457
//! refusals, observe mode, readiness forwarding and composition with `ServiceBuilder`.

// The helpers below unwrap on fixture data and on responses the tests build themselves;
// clippy.toml's test allowances only cover #[test] fns, so allow it for the helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use certgate::{
    Action, CertGateLayer, EventSink, Gate, Mode, PROBLEM_JSON, PeerAddr, PeerChain, PeerIdentity,
    Policy, TlsConnectInfo, Verdict, VerdictEvent, VerifierBuilder,
};
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{Request, Response, StatusCode, header};
use rustls_pki_types::UnixTime;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

// ---------------------------------------------------------------------------
// helpers

/// The fixture policy: trusts the root, fixture CRLs (`Leaf::Revoked` revoked).
fn policy() -> Policy {
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().crl(Crl::Intermediate))
            .crl(pki().crl(Crl::Root))
            .build()
            .unwrap(),
    )
}

/// A gate at the fixture's time, pinned.
fn gate(mode: Mode) -> Gate {
    let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
    Gate::builder(policy())
        .mode(mode)
        .clock(move || {
            UnixTime::since_unix_epoch(Duration::from_secs(clock.load(Ordering::SeqCst)))
        })
        .build()
        .unwrap()
}

/// What the inner service saw, echoed as its body: `identity=<app|-> verdict=<code|->`.
async fn echo(req: Request<()>) -> Result<Response<String>, Infallible> {
    let identity = req
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|i| i.app_id().map(|a| a.as_str().to_owned()))
        .unwrap_or_else(|| "-".to_owned());
    let verdict = req.extensions().get::<Verdict>().map_or("-", Verdict::code);
    Ok(Response::new(format!(
        "identity={identity} verdict={verdict}"
    )))
}

fn request(leaf: Option<Leaf>) -> Request<()> {
    let mut req = Request::get("/").body(()).unwrap();
    if let Some(leaf) = leaf {
        req.extensions_mut()
            .insert(PeerChain::new(pki().leaf(leaf).chain()));
    }
    req
}

async fn call(layer: CertGateLayer, req: Request<()>) -> Response<String> {
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(echo));
    service.oneshot(req).await.unwrap()
}

fn problem(response: &Response<String>) -> serde_json::Value {
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        PROBLEM_JSON
    );
    serde_json::from_str(response.body()).unwrap()
}

/// Records every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<VerdictEvent>>);

impl EventSink for Recorder {
    fn record(&self, event: &VerdictEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// A service that is ready only when its flag says so, and fails readiness when told to.
#[derive(Clone)]
struct Gated {
    ready: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
}

impl Service<Request<()>> for Gated {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.fail.load(Ordering::SeqCst) {
            Poll::Ready(Err("inner broke"))
        } else if self.ready.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new("inner".to_owned())))
    }
}

// ---------------------------------------------------------------------------
// enforce

#[tokio::test]
async fn genuine_peer_reaches_the_handler_with_identity_and_verdict() {
    let response = call(
        CertGateLayer::new(gate(Mode::Enforce)),
        request(Some(Leaf::Genuine)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), &format!("identity={SHOP} verdict=accept"));
}

#[tokio::test]
async fn no_peer_chain_is_401_no_certificate() {
    let response = call(CertGateLayer::new(gate(Mode::Enforce)), request(None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let body = problem(&response);
    assert_eq!(body["type"], "tag:certgate,2026:reason/no_certificate");
    assert_eq!(body["title"], "Client certificate required");
    assert_eq!(body["status"], 401);
    assert_eq!(body["code"], "no_certificate");
    // The human detail is off by default: the stable code is the contract.
    assert!(body.get("detail").is_none(), "{body}");
    // The rejection rides along for logging middleware.
    assert_eq!(
        response
            .extensions()
            .get::<certgate::Rejection>()
            .unwrap()
            .code(),
        "no_certificate"
    );
}

#[tokio::test]
async fn an_empty_peer_chain_is_401_too() {
    let mut req = request(None);
    req.extensions_mut().insert(PeerChain::new(Vec::new()));
    let response = call(CertGateLayer::new(gate(Mode::Enforce)), req).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&response)["code"], "no_certificate");
}

#[tokio::test]
async fn revoked_peer_is_403_revoked() {
    let response = call(
        CertGateLayer::new(gate(Mode::Enforce)).show_detail(),
        request(Some(Leaf::Revoked)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = problem(&response);
    assert_eq!(body["type"], "tag:certgate,2026:reason/revoked");
    assert_eq!(body["title"], "Client certificate refused");
    assert_eq!(body["status"], 403);
    assert_eq!(body["code"], "revoked");
    assert_eq!(body["detail"], "the leaf certificate is revoked", "{body}");
}

#[tokio::test]
async fn other_rejections_are_403_with_their_code() {
    let layer = CertGateLayer::new(gate(Mode::Enforce));
    for (leaf, code) in [
        (Leaf::Expired, "expired"),
        (Leaf::NotYetValid, "not_yet_valid"),
        (Leaf::ForeignCa, "unknown_issuer"),
        (Leaf::ServerEku, "wrong_key_usage"),
    ] {
        let response = call(layer.clone(), request(Some(leaf))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{leaf:?}");
        assert_eq!(problem(&response)["code"], code, "{leaf:?}");
    }
}

#[tokio::test]
async fn hide_detail_leaves_out_the_detail_but_keeps_the_code() {
    let layer = CertGateLayer::new(gate(Mode::Enforce)).hide_detail();
    let response = call(layer.clone(), request(Some(Leaf::Revoked))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = problem(&response);
    assert_eq!(body["code"], "revoked");
    assert!(body.get("detail").is_none(), "{body}");

    let response = call(layer, request(None)).await;
    let body = problem(&response);
    assert_eq!(body["code"], "no_certificate");
    assert!(body.get("detail").is_none(), "{body}");
}

#[tokio::test]
async fn without_identity_extension_the_identity_is_reached_through_the_verdict() {
    let inner = tower::service_fn(|req: Request<()>| async move {
        let separate = req.extensions().get::<PeerIdentity>().is_some();
        let through_verdict = req
            .extensions()
            .get::<Verdict>()
            .and_then(Verdict::identity)
            .and_then(|i| i.app_id().map(|a| a.as_str().to_owned()))
            .unwrap_or_else(|| "-".to_owned());
        Ok::<_, Infallible>(Response::new(format!(
            "separate={separate} verdict_identity={through_verdict}"
        )))
    });
    let layer = CertGateLayer::new(gate(Mode::Enforce)).without_identity_extension();
    // An outer layer's identity does not survive either (this gate's verdict decides).
    let mut req = request(Some(Leaf::Genuine));
    let outer = certgate::Verdict::identity(
        &gate(Mode::Enforce).check(&PeerChain::new(pki().leaf(Leaf::Genuine).chain()), NOW),
    )
    .cloned()
    .unwrap();
    req.extensions_mut().insert(outer);
    let response = layer.clone().layer(inner).oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.body(),
        &format!("separate=false verdict_identity={SHOP}")
    );
    // The default still puts both.
    let response = call(
        layer.with_identity_extension(),
        request(Some(Leaf::Genuine)),
    )
    .await;
    assert_eq!(response.body(), &format!("identity={SHOP} verdict=accept"));
    // A refusal is unchanged.
    let response = call(
        CertGateLayer::new(gate(Mode::Enforce)).without_identity_extension(),
        request(Some(Leaf::Revoked)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(&response)["code"], "revoked");
}

#[tokio::test]
async fn a_gate_on_the_coarse_clock_judges_at_the_current_second() {
    // The gate reads the ticker's second (never ahead of the system clock), not the system
    // clock itself.
    let clock = certgate::CoarseClock::start().unwrap();
    let gate = Gate::builder(policy())
        .coarse_clock(clock.clone())
        .build()
        .unwrap();
    let now = gate.now().as_secs();
    let system = UnixTime::now().as_secs();
    assert!(now <= system && system - now <= 1, "{now} vs {system}");
    assert_eq!(clock.now().as_secs(), now);
}

// ---------------------------------------------------------------------------
// observe

#[tokio::test]
async fn observe_mode_lets_a_revoked_peer_through_without_identity() {
    let response = call(
        CertGateLayer::new(gate(Mode::Observe)),
        request(Some(Leaf::Revoked)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "identity=- verdict=revoked");

    let response = call(CertGateLayer::new(gate(Mode::Observe)), request(None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "identity=- verdict=no_certificate");
}

#[tokio::test]
async fn the_handler_sees_the_full_verdict() {
    let service = CertGateLayer::new(gate(Mode::Observe)).layer(tower::service_fn(
        |req: Request<()>| async move {
            let verdict = req.extensions().get::<Verdict>().unwrap();
            let rejection = verdict.rejection().unwrap();
            Ok::<_, Infallible>(Response::new(format!(
                "{} refused={} status={}",
                rejection.code(),
                verdict.is_refused(),
                rejection.http_status().as_u16()
            )))
        },
    ));
    let response = service.oneshot(request(Some(Leaf::Revoked))).await.unwrap();
    assert_eq!(response.body(), "revoked refused=false status=403");
}

// ---------------------------------------------------------------------------
// Tower plumbing

#[tokio::test]
async fn poll_ready_is_forwarded() {
    let ready = Arc::new(AtomicBool::new(false));
    let fail = Arc::new(AtomicBool::new(false));
    let mut service = CertGateLayer::new(gate(Mode::Enforce)).layer(Gated {
        ready: Arc::clone(&ready),
        fail: Arc::clone(&fail),
    });
    let mut cx = Context::from_waker(Waker::noop());

    assert!(service.poll_ready(&mut cx).is_pending());
    // ServiceExt::ready does not resolve either.
    let waited = tokio::time::timeout(Duration::from_millis(20), service.ready()).await;
    assert!(
        waited.is_err(),
        "the layer must not be ready before its inner service"
    );

    ready.store(true, Ordering::SeqCst);
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(Leaf::Genuine)))
        .await
        .unwrap();
    assert_eq!(response.body(), "inner");

    fail.store(true, Ordering::SeqCst);
    assert!(matches!(
        service.poll_ready(&mut cx),
        Poll::Ready(Err("inner broke"))
    ));
}

#[tokio::test]
async fn refusal_does_not_call_the_inner_service() {
    let called = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&called);
    let service =
        CertGateLayer::new(gate(Mode::Enforce)).layer(tower::service_fn(move |_: Request<()>| {
            seen.store(true, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(String::new())) }
        }));
    let response = service.oneshot(request(Some(Leaf::Revoked))).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!called.load(Ordering::SeqCst));
}

#[tokio::test]
async fn composes_with_service_builder() {
    let recorder = Arc::new(Recorder::default());
    let gate = Gate::builder(policy())
        .clock(|| NOW)
        .event_sink(recorder.clone())
        .build()
        .unwrap();
    let chain = PeerChain::new(pki().leaf(Leaf::Genuine).chain());
    let peer = "127.0.0.1:50000".parse().unwrap();
    let connection = TlsConnectInfo::new(chain.clone(), peer);

    // An outer layer attaches the connection (as a TLS acceptor would), the gate checks it,
    // and an inner layer adds a header to the response.
    let service = ServiceBuilder::new()
        .map_request(move |mut req: Request<()>| {
            req.extensions_mut().insert(connection.clone());
            req
        })
        .layer(CertGateLayer::new(gate.clone()).hide_detail())
        .map_response(|mut res: Response<String>| {
            res.headers_mut()
                .insert("x-inner", http::HeaderValue::from_static("yes"));
            res
        })
        .service_fn(echo);

    for round in 0..3 {
        let response = service.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        assert_eq!(response.headers().get("x-inner").unwrap(), "yes");
        assert_eq!(response.body(), &format!("identity={SHOP} verdict=accept"));
    }
    // The connection's memo answers: one verification, no cache lookups after it.
    let stats = gate.cache_stats();
    assert_eq!((stats.hits, stats.misses), (0, 1));
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, Action::Accept);
    assert_eq!(events[0].peer_addr, Some(peer));

    // A bare PeerChain and PeerAddr (a transport without per-connection state) are judged
    // through the cache: hits, with the address in the events.
    let bare = ServiceBuilder::new()
        .map_request(move |mut req: Request<()>| {
            req.extensions_mut().insert(chain.clone());
            req.extensions_mut().insert(PeerAddr(peer));
            req
        })
        .layer(CertGateLayer::new(gate.clone()))
        .service_fn(echo);
    for _ in 0..2 {
        let response = bare.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(gate.cache_stats().hits, 2);
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 3);
    assert!(events[1].cached && events[2].cached);
    assert_eq!(events[2].peer_addr, Some(peer));
}
