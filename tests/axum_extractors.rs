//! axum extractors `PeerIdentity`, `Option<PeerIdentity>` and `Verdict` behind `CertGateLayer`
//! (enforce and observe), and without the layer (a wiring bug: 500 `layer_missing`).
#![cfg(feature = "axum")]
// The helpers below unwrap on fixture data and on responses the tests build themselves;
// clippy.toml's test allowances only cover #[test] fns, so allow it for the helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use certgate::{
    CertGateLayer, Gate, Mode, PROBLEM_JSON, PeerChain, PeerIdentity, Policy, Verdict,
    VerifierBuilder,
};
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{Request, StatusCode, header};
use tower::ServiceExt;

// ---------------------------------------------------------------------------
// helpers

fn gate(mode: Mode) -> Gate {
    let policy = Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().crl(Crl::Intermediate))
            .crl(pki().crl(Crl::Root))
            .build()
            .unwrap(),
    );
    Gate::builder(policy)
        .mode(mode)
        .clock(|| NOW)
        .build()
        .unwrap()
}

async fn identity(identity: PeerIdentity) -> String {
    identity.app_id().unwrap().as_str().to_owned()
}

async fn optional(identity: Option<PeerIdentity>) -> String {
    identity.map_or_else(
        || "none".to_owned(),
        |i| i.app_id().unwrap().as_str().to_owned(),
    )
}

async fn verdict(verdict: Verdict) -> String {
    format!("{} refused={}", verdict.code(), verdict.is_refused())
}

fn routes() -> Router {
    Router::new()
        .route("/identity", get(identity))
        .route("/optional", get(optional))
        .route("/verdict", get(verdict))
}

fn request(path: &str, leaf: Option<Leaf>) -> Request<Body> {
    let mut req = Request::get(path).body(Body::empty()).unwrap();
    if let Some(leaf) = leaf {
        req.extensions_mut()
            .insert(PeerChain::new(pki().leaf(leaf).chain()));
    }
    req
}

/// Status, content type and body.
async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = tokio::time::timeout(Duration::from_secs(2), app.clone().oneshot(req))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

// ---------------------------------------------------------------------------
// enforce

#[tokio::test]
async fn enforce_genuine_reaches_every_extractor() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Enforce)));
    let (status, _, body) = send(&app, request("/identity", Some(Leaf::Genuine))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, SHOP));
    let (status, _, body) = send(&app, request("/optional", Some(Leaf::Genuine))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, SHOP));
    let (status, _, body) = send(&app, request("/verdict", Some(Leaf::Genuine))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "accept refused=false")
    );
}

#[tokio::test]
async fn enforce_refuses_before_any_handler() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Enforce)));
    for path in ["/identity", "/optional", "/verdict"] {
        let (status, content_type, body) = send(&app, request(path, Some(Leaf::Revoked))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(json(&body)["code"], "revoked");

        let (status, _, body) = send(&app, request(path, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(json(&body)["code"], "no_certificate");
    }
}

// ---------------------------------------------------------------------------
// observe

#[tokio::test]
async fn observe_revoked_identity_extractor_answers_403() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Observe)));
    let (status, content_type, body) = send(&app, request("/identity", Some(Leaf::Revoked))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    let body = json(&body);
    assert_eq!(body["code"], "revoked");
    assert_eq!(body["status"], 403);
    assert_eq!(body["type"], "tag:certgate,2026:reason/revoked");
}

#[tokio::test]
async fn observe_no_certificate_identity_extractor_answers_401() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Observe)));
    let (status, _, body) = send(&app, request("/identity", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["code"], "no_certificate");
}

#[tokio::test]
async fn observe_revoked_optional_identity_is_none() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Observe)));
    let (status, _, body) = send(&app, request("/optional", Some(Leaf::Revoked))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "none"));
    let (status, _, body) = send(&app, request("/optional", Some(Leaf::Genuine))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, SHOP));
}

#[tokio::test]
async fn observe_revoked_verdict_extractor_sees_the_code() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Observe)));
    let (status, _, body) = send(&app, request("/verdict", Some(Leaf::Revoked))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "revoked refused=false")
    );
    let (status, _, body) = send(&app, request("/verdict", Some(Leaf::Expired))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "expired refused=false")
    );
}

/// `hide_detail()` promises refusal bodies without the human `detail`. In observe mode the
/// refusal comes from the `PeerIdentity` extractor, which cannot see the layer's setting.
#[tokio::test]
async fn observe_hide_detail_also_hides_it_in_the_extractor_refusal() {
    let app = routes().layer(CertGateLayer::new(gate(Mode::Observe)).hide_detail());
    let (status, _, body) = send(&app, request("/identity", Some(Leaf::Revoked))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = json(&body);
    assert_eq!(body["code"], "revoked");
    assert!(
        body.get("detail").is_none(),
        "hide_detail() is set on the layer, but the extractor's refusal carries detail: {body}"
    );
}

// ---------------------------------------------------------------------------
// no layer

#[tokio::test]
async fn without_the_layer_every_extractor_answers_500_layer_missing() {
    let app = routes();
    for path in ["/identity", "/optional", "/verdict"] {
        for leaf in [Some(Leaf::Genuine), None] {
            let (status, content_type, body) = send(&app, request(path, leaf)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path} {leaf:?}");
            assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
            let body = json(&body);
            assert_eq!(body["code"], "layer_missing", "{path}");
            assert_eq!(body["status"], 500);
        }
    }
}

#[tokio::test]
async fn a_route_layer_covers_only_its_routes() {
    let app = Router::new()
        .route("/guarded", get(identity))
        .route_layer(CertGateLayer::new(gate(Mode::Enforce)))
        .route("/open", get(optional));
    let (status, _, body) = send(&app, request("/guarded", Some(Leaf::Genuine))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, SHOP));
    let (status, _, _) = send(&app, request("/guarded", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&app, request("/open", Some(Leaf::Genuine))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json(&body)["code"], "layer_missing");
}

#[tokio::test]
async fn an_inner_observing_gate_takes_back_the_identity_an_outer_gate_granted() {
    // Outer: enforcing, no CRLs (Revoked is accepted). Inner: observing, with the CRL that
    // revokes it. The handler must see the inner gate's word, not the outer identity.
    let loose = Gate::builder(Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .build()
            .unwrap(),
    ))
    .clock(|| NOW)
    .build()
    .unwrap();
    let app = routes()
        .route(
            "/raw",
            get(|req: Request<Body>| async move {
                format!(
                    "identity={}",
                    req.extensions().get::<PeerIdentity>().is_some()
                )
            }),
        )
        .layer(CertGateLayer::new(gate(Mode::Observe)))
        .layer(CertGateLayer::new(loose));

    let (status, _, body) = send(&app, request("/identity", Some(Leaf::Revoked))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["code"], "revoked");
    let (status, _, body) = send(&app, request("/optional", Some(Leaf::Revoked))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "none"));
    let (_, _, body) = send(&app, request("/verdict", Some(Leaf::Revoked))).await;
    assert_eq!(body, "revoked refused=false");
    let (_, _, body) = send(&app, request("/raw", Some(Leaf::Revoked))).await;
    assert_eq!(body, "identity=false");
    // A leaf both gates accept keeps its identity.
    let (status, _, body) = send(&app, request("/identity", Some(Leaf::Genuine))).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, SHOP));
}
