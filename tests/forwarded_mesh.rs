//! Mesh trust (issue 10 §2): a connection is a trusted proxy when its own TLS client
//! certificate verifies under `forwarded.proxy_identity`'s anchors and names an allowed proxy
//! (a SAN URI such as `spiffe://prod/edge`, or a DNS name). Anyone else's forwarded header is
//! ignored and removed, and the proxy's own certificate is never taken for an app's.

// Test code: panics are failures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Arc, Mutex};

use certgate::forwarded::{ForwardedConfig, ForwardedFormat, ProxyIdentity};
use certgate::{
    CertGateLayer, ConnectionEvent, EventSink, Gate, PeerChain, PeerIdentity, Policy,
    TlsConnectInfo, VerdictEvent, VerifierBuilder,
};
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{Request, Response, StatusCode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
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

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn now_secs() -> i64 {
    i64::try_from(NOW.as_secs()).unwrap()
}

/// A mesh CA (self-signed) and its key.
struct MeshCa {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn mesh_ca(name: &str) -> MeshCa {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = at(now_secs() - 86_400 * 365);
    params.not_after = at(now_secs() + 86_400 * 365);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().der().clone();
    MeshCa {
        cert,
        issuer: Issuer::new(params, key),
    }
}

/// A sidecar's client certificate with `sans`, valid `from..until` (unix seconds).
fn sidecar(ca: &MeshCa, sans: Vec<SanType>, from: i64, until: i64) -> PeerChain {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "sidecar");
    params.subject_alt_names = sans;
    params.not_before = at(from);
    params.not_after = at(until);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap().der().clone();
    PeerChain::new(vec![cert])
}

fn uri(u: &str) -> SanType {
    SanType::URI(u.try_into().unwrap())
}

fn dns(d: &str) -> SanType {
    SanType::DnsName(d.try_into().unwrap())
}

fn valid(ca: &MeshCa, sans: Vec<SanType>) -> PeerChain {
    sidecar(ca, sans, now_secs() - 3600, now_secs() + 86_400)
}

/// A gate whose only trusted proxies are mesh identities (no trusted network at all).
fn gate(mesh: &MeshCa, recorder: Arc<Recorder>) -> Gate {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .crl(pki().crl(Crl::Intermediate))
        .crl(pki().crl(Crl::Root))
        .allow_app(certgate::AppRule::new(certgate::AppId::new(SHOP).unwrap()))
        .build()
        .unwrap();
    let identity = ProxyIdentity::new()
        .anchor(mesh.cert.clone())
        .allow("spiffe://prod/edge".parse().unwrap())
        .allow("edge.mesh.example".parse().unwrap());
    let config = ForwardedConfig::new(ForwardedFormat::Nginx).proxy_identity(identity);
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

fn code(response: &Response<String>) -> String {
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// One request on `conn` (a TLS connection as `certgate::server` describes it), forwarding
/// `leaf` when given.
fn on(conn: &TlsConnectInfo, leaf: Option<Leaf>) -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut().insert(conn.clone());
    if let Some(leaf) = leaf {
        let value = url_encode(&pki().leaf(leaf).chain_pem());
        req.headers_mut().insert(HEADER, value.parse().unwrap());
    }
    req
}

fn conn(chain: PeerChain) -> TlsConnectInfo {
    // Loopback, and not in any trusted network: only the certificate can make it a proxy.
    TlsConnectInfo::new(chain, "127.0.0.1:45000".parse().unwrap())
}

async fn call(gate: &Gate, req: Request<()>) -> Response<String> {
    let mut service = tower::ServiceBuilder::new()
        .layer(CertGateLayer::new(gate.clone()))
        .service_fn(echo);
    service.ready().await.unwrap().call(req).await.unwrap()
}

#[tokio::test]
async fn an_allowed_sidecar_forwards_each_clients_chain() {
    let mesh = mesh_ca("mesh root");
    let recorder = Arc::new(Recorder::default());
    let gate = gate(&mesh, recorder.clone());
    for sans in [
        vec![uri("spiffe://prod/edge")],
        vec![dns("EDGE.mesh.example")],
    ] {
        let proxy = conn(valid(&mesh, sans));
        let ok = call(&gate, on(&proxy, Some(Leaf::Genuine))).await;
        assert_eq!(ok.status(), StatusCode::OK, "{}", ok.body());
        assert_eq!(
            ok.body(),
            &format!("identity={SHOP} header_seen=false"),
            "the forwarded app, never the proxy"
        );
        let revoked = call(&gate, on(&proxy, Some(Leaf::Revoked))).await;
        assert_eq!(revoked.status(), StatusCode::FORBIDDEN);
        assert_eq!(code(&revoked), "revoked");
        let other = call(&gate, on(&proxy, Some(Leaf::OtherApp))).await;
        assert_eq!(code(&other), "app_not_allowed");
        // The proxy forwards no certificate: no client certificate, not the sidecar's own.
        let none = call(&gate, on(&proxy, None)).await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&none), "no_certificate");
    }
    assert!(recorder.connections.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sidecars_that_are_not_allowed_proxies_have_the_header_removed() {
    let mesh = mesh_ca("mesh root");
    let impostor_ca = mesh_ca("mesh root"); // same name, another key
    let recorder = Arc::new(Recorder::default());
    let gate = gate(&mesh, recorder.clone());
    let cases = [
        (
            "name not allowed",
            valid(&mesh, vec![uri("spiffe://prod/billing")]),
        ),
        (
            "prefix of an allowed name",
            valid(&mesh, vec![uri("spiffe://prod/edge/x")]),
        ),
        (
            "dns suffix",
            valid(&mesh, vec![dns("evil.edge.mesh.example")]),
        ),
        (
            "another CA",
            valid(&impostor_ca, vec![uri("spiffe://prod/edge")]),
        ),
        (
            "expired",
            sidecar(
                &mesh,
                vec![uri("spiffe://prod/edge")],
                now_secs() - 86_400 * 30,
                now_secs() - 86_400,
            ),
        ),
        ("no certificate", PeerChain::new(Vec::new())),
        (
            "an app certificate",
            PeerChain::new(vec![pki().leaf(Leaf::Genuine).cert.clone()]),
        ),
    ];
    for (what, chain) in cases {
        let proxy = conn(chain);
        let response = call(&gate, on(&proxy, Some(Leaf::Genuine))).await;
        // Judged on the connection's own chain, never as the spoofed app.
        assert_ne!(response.status(), StatusCode::OK, "{what}");
        assert_ne!(code(&response), "accept", "{what}");
        let before = recorder.connections.lock().unwrap().len();
        assert!(before > 0, "{what}: the removal is reported");
        assert_eq!(
            recorder.connections.lock().unwrap().last().unwrap().code,
            ConnectionEvent::FORWARDED_UNTRUSTED,
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_decision_is_memoized_per_connection_and_follows_reloads() {
    let mesh = mesh_ca("mesh root");
    let recorder = Arc::new(Recorder::default());
    let gate = gate(&mesh, recorder.clone());
    let proxy = conn(valid(&mesh, vec![uri("spiffe://prod/edge")]));
    for _ in 0..5 {
        let ok = call(&gate, on(&proxy, Some(Leaf::Genuine))).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
    // A reload that drops the proxy identity: the same connection is no longer a proxy.
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .allow_app(certgate::AppRule::new(certgate::AppId::new(SHOP).unwrap()))
        .build()
        .unwrap();
    let other_mesh = mesh_ca("another mesh");
    let identity = ProxyIdentity::new()
        .anchor(other_mesh.cert.clone())
        .allow("spiffe://prod/edge".parse().unwrap());
    let config = ForwardedConfig::new(ForwardedFormat::Nginx).proxy_identity(identity);
    gate.reload(
        Policy::from_verifier(verifier)
            .with_forwarded(config)
            .unwrap(),
    );
    let after = call(&gate, on(&proxy, Some(Leaf::Genuine))).await;
    assert_ne!(after.status(), StatusCode::OK);
    assert_eq!(
        recorder.connections.lock().unwrap().last().unwrap().code,
        ConnectionEvent::FORWARDED_UNTRUSTED
    );
}

#[test]
fn a_proxy_identity_without_a_usable_anchor_is_an_error() {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .build()
        .unwrap();
    let no_anchor = ForwardedConfig::new(ForwardedFormat::Nginx)
        .proxy_identity(ProxyIdentity::new().allow("spiffe://prod/edge".parse().unwrap()));
    let err = Policy::from_verifier(verifier)
        .with_forwarded(no_anchor)
        .unwrap_err();
    assert_eq!(err.field(), "forwarded.proxy_identity.anchors");
    // A leaf is not a trust anchor.
    let leaf_anchor = ForwardedConfig::new(ForwardedFormat::Nginx).proxy_identity(
        ProxyIdentity::new()
            .anchor(pki().leaf(Leaf::Genuine).cert.clone())
            .allow("spiffe://prod/edge".parse().unwrap()),
    );
    let err = Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .build()
            .unwrap(),
    )
    .with_forwarded(leaf_anchor)
    .unwrap_err();
    assert!(err.field().starts_with("forwarded.proxy_identity"), "{err}");
}
