//! Attested enrollment end to end: the `Enrollment` router mounted outside the gate, a CA made
//! by `certgate::issue`, test-only attestation roots injected through the policy (`[enroll]
//! android_roots`, `apple_root`: never a default), and real TLS on loopback.
//!
//! - Android: challenge → KeyDescription over the challenge → 201 certificate for the attested
//!   key → mTLS 200 with the install id and attestation facts → renewal → revoke the install →
//!   403 `revoked` on the same keep-alive connection.
//! - iOS: challenge → CSR → App Attest over SHA-256(challenge ‖ CSR) → 201 → mTLS 200 →
//!   renewal with an assertion (its counter must rise; a replayed one is refused).
//! - One test per refusal code, a replayed and an expired challenge, a CSR whose key is not the
//!   attested key, the rate limit.
#![cfg(all(feature = "enroll", feature = "server", feature = "ring"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certgate::enroll::Enrollment;
use certgate::issue::{Ca, CaConfig, RevocationReason};
use certgate::{CertGateLayer, Gate, HandshakeMode, PeerAddr, PeerIdentity, Policy, server};
use common::android_attest::{Kd, PACKAGE, SIGNER, Synthetic};
use common::app_attest::AppAttestCa;
use common::tls_client::{Http1, ServerPki, server_pki};
use common::{hex, pem};
use http::Request;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

const APP: &str = "com.example.shop";
const TEAM: &str = "ABCDE12345";

struct World {
    _tmp: tempfile::TempDir,
    ca_dir: PathBuf,
    policy: PathBuf,
    android: Synthetic,
    apple: AppAttestCa,
    gate: Gate,
    enrollment: Enrollment,
    /// Seconds added to the real clock (this world's gate only), so a test can let
    /// challenges expire.
    skew: Arc<AtomicU64>,
}

/// The CA, the test attestation roots, a policy allowing `APP` from both platforms, the gate.
fn world(extra_enroll: &str, files: &[(&str, &str)], rate_limit: u32) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    Ca::init(&ca_dir, &CaConfig::new("Enroll Flow")).unwrap();
    let android = Synthetic::new(true);
    let apple = AppAttestCa::new();
    std::fs::write(
        ca_dir.join("android-root.pem"),
        pem("CERTIFICATE", &android.root.cert),
    )
    .unwrap();
    std::fs::write(ca_dir.join("apple-root.pem"), &apple.root_pem).unwrap();
    for (name, contents) in files {
        std::fs::write(ca_dir.join(name), contents).unwrap();
    }
    let policy = ca_dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"[trust]
anchors = ["root.pem"]
intermediates = ["intermediate.pem"]

[revocation]
crls = ["intermediate.crl.pem", "root.crl.pem"]

[[apps]]
id = "{APP}"

[apps.android]
package_names = ["{PACKAGE}"]
signing_cert_sha256 = ["{signer}"]
min_security_level = "trusted_environment"
require_verified_boot = true

[apps.ios]
team_id = "{TEAM}"
bundle_id = "{APP}"
environment = "production"

[enroll]
android_roots = ["android-root.pem"]
apple_root = "apple-root.pem"
certificate_days = 7
challenge_ttl_seconds = 60
{extra_enroll}
"#,
            signer = hex(&SIGNER)
        ),
    )
    .unwrap();
    let skew = Arc::new(AtomicU64::new(0));
    let seconds = Arc::clone(&skew);
    let gate = Gate::builder(Policy::load(&policy).unwrap())
        .clock(move || {
            let now = UnixTime::now().as_secs() + seconds.load(Ordering::Relaxed);
            UnixTime::since_unix_epoch(Duration::from_secs(now))
        })
        .build()
        .unwrap();
    let enrollment = Enrollment::builder(gate.clone(), Ca::open(&ca_dir, None).unwrap())
        .rate_limit(rate_limit, Duration::from_secs(60))
        .show_detail()
        .build()
        .unwrap();
    World {
        _tmp: tmp,
        ca_dir,
        policy,
        android,
        apple,
        gate,
        enrollment,
        skew,
    }
}

async fn whoami(identity: PeerIdentity) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "app_id": identity.app_id().map(|a| a.as_str().to_owned()),
        "install_id": identity.install_id(),
        "attestation": identity.attestation(),
    }))
}

impl World {
    fn app(&self) -> Router {
        Router::new()
            .route("/", get(whoami))
            .layer(CertGateLayer::new(self.gate.clone()))
            .nest("/enroll", self.enrollment.router())
    }

    /// The router without TLS: one request from `peer`.
    async fn call(&self, path: &str, body: &str) -> (u16, serde_json::Value, http::HeaderMap) {
        self.call_from("127.0.0.2:40000".parse().unwrap(), path, body)
            .await
    }

    async fn call_from(
        &self,
        peer: SocketAddr,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value, http::HeaderMap) {
        self.call_via(peer, None, path, body).await
    }

    /// One request from `peer`, with an `X-Forwarded-For` if given.
    async fn call_via(
        &self,
        peer: SocketAddr,
        forwarded_for: Option<&str>,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value, http::HeaderMap) {
        let mut request = Request::post(path);
        if let Some(client) = forwarded_for {
            request = request.header("x-forwarded-for", client);
        }
        let request = request
            .header("content-type", "application/json")
            .extension(PeerAddr(peer))
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.app().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json, headers)
    }

    async fn challenge(&self) -> Vec<u8> {
        let (status, json, _) = self.call("/enroll/challenge", "{}").await;
        assert_eq!(status, 200, "{json}");
        let expires = json["expires_at"].as_u64().unwrap();
        assert!(expires > UnixTime::now().as_secs());
        let bytes = URL_SAFE_NO_PAD
            .decode(json["challenge"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 32);
        bytes
    }

    /// An Android enrollment body for a leaf over `kd` (the phone keeps the key).
    fn android_body(&self, challenge: &[u8], kd: &Kd) -> (String, rcgen::KeyPair) {
        let (chain, key) = self.android.leaf_with(&kd.encode(), |_| {});
        let body = serde_json::json!({
            "app_id": APP,
            "challenge": URL_SAFE_NO_PAD.encode(challenge),
            "chain": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
        });
        (body.to_string(), key)
    }

    async fn serve(&self, pki: &ServerPki) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let tls = server::TlsConfig::new(
            &self.gate,
            Arc::new(rustls::crypto::ring::default_provider()),
            pki.chain.clone(),
            pki.key.clone_key(),
            HandshakeMode::Defer,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(listener, tls, self.app(), async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }
}

fn kd_for(challenge: &[u8]) -> Kd {
    Kd {
        challenge: challenge.to_vec(),
        ..Kd::default()
    }
}

fn chain_of(pem_text: &str) -> Vec<CertificateDer<'static>> {
    certgate::pem::parse_certificates(pem_text.as_bytes()).unwrap()
}

fn key_der(key: &rcgen::KeyPair) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(key.serialize_der()).into()
}

fn spki_of(cert: &CertificateDer<'_>) -> Vec<u8> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    parsed.public_key().raw.to_vec()
}

#[tokio::test]
async fn android_enroll_call_renew_revoke_on_the_same_connection() {
    let w = world("", &[], 100);
    let pki = server_pki();
    let (addr, _stop) = w.serve(&pki).await;

    let challenge = w.challenge().await;
    let (body, key) = w.android_body(&challenge, &kd_for(&challenge));
    let mut anonymous = Http1::connect(addr, &pki.ca, None).await;
    let reply = anonymous.request("POST", "/enroll/android", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let issued = reply.json();
    let install_id = issued["install_id"].as_str().unwrap().to_owned();
    assert_eq!(install_id.len(), 36);
    assert!(
        issued["not_after"].as_i64().unwrap()
            <= (UnixTime::now().as_secs() + 7 * 86_400 + 60) as i64
    );
    let chain = chain_of(issued["certificate_chain"].as_str().unwrap());
    assert_eq!(chain.len(), 2, "leaf and intermediate");
    assert_eq!(
        spki_of(&chain[0]),
        rcgen::PublicKeyData::subject_public_key_info(&key),
        "the certificate certifies the attested key"
    );
    // Without a certificate, the gated route stays closed.
    assert_eq!(anonymous.request("GET", "/", "").await.status, 401);

    // The install calls the gated route with its certificate: 200, facts reach the handler.
    let mut phone = Http1::connect(addr, &pki.ca, Some((chain.clone(), key_der(&key)))).await;
    let reply = phone.request("GET", "/", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let who = reply.json();
    assert_eq!(who["app_id"], APP);
    assert_eq!(who["install_id"], install_id.as_str());
    assert_eq!(who["attestation"]["platform"], "android");
    assert_eq!(who["attestation"]["security_level"], "trusted_environment");
    assert_eq!(who["attestation"]["verified_boot"], true);
    assert_eq!(who["attestation"]["device_locked"], true);
    assert_eq!(who["attestation"]["app_version"], 42);
    assert_eq!(who["attestation"]["os_patch_level"], 202_511);

    // Renewal over mTLS: a fresh certificate for the same key and install.
    let reply = phone.request("POST", "/enroll/renew", "").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let renewed = reply.json();
    assert_eq!(renewed["install_id"], install_id.as_str());
    let renewed_chain = chain_of(renewed["certificate_chain"].as_str().unwrap());
    assert_ne!(renewed_chain[0], chain[0]);
    assert_eq!(spki_of(&renewed_chain[0]), spki_of(&chain[0]));

    // Revoke the install: every certificate of it; after the reload the same connection is
    // refused on its next request, and the renewed certificate too.
    let revoked = Ca::open(&w.ca_dir, None)
        .unwrap()
        .revoke_install(&install_id, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(revoked.records.len(), 2);
    w.gate.reload_from_file(&w.policy).unwrap();
    let reply = phone.request("GET", "/", "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["code"], "revoked");
    let mut renewed_phone =
        Http1::connect(addr, &pki.ca, Some((renewed_chain.clone(), key_der(&key)))).await;
    let reply = renewed_phone.request("GET", "/", "").await;
    assert_eq!(reply.json()["code"], "revoked");
    // …and it can no longer renew (a refusal closes an HTTP/1.1 connection: a new one).
    let mut renewed_phone =
        Http1::connect(addr, &pki.ca, Some((renewed_chain, key_der(&key)))).await;
    let reply = renewed_phone.request("POST", "/enroll/renew", "").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["code"], "revoked");
}

#[tokio::test]
async fn ios_enroll_call_and_renew_with_a_rising_counter() {
    let w = world("", &[], 100);
    let pki = server_pki();
    let (addr, _stop) = w.serve(&pki).await;

    let challenge = w.challenge().await;
    // The app's TLS key and its CSR; App Attest over SHA-256(challenge ‖ CSR).
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&tls_key)
        .unwrap();
    let csr_der = csr.der().to_vec();
    let client_data_hash: [u8; 32] =
        Sha256::digest([challenge.as_slice(), &csr_der].concat()).into();
    let attested = w.apple.attest(TEAM, APP, "production", &client_data_hash);
    let body = serde_json::json!({
        "app_id": APP,
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "key_id": STANDARD.encode(attested.key_id),
        "attestation": STANDARD.encode(&attested.attestation),
        "csr": STANDARD.encode(&csr_der),
    });
    let mut anonymous = Http1::connect(addr, &pki.ca, None).await;
    let reply = anonymous
        .request("POST", "/enroll/ios", &body.to_string())
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let issued = reply.json();
    let chain = chain_of(issued["certificate_chain"].as_str().unwrap());
    assert_eq!(
        spki_of(&chain[0]),
        rcgen::PublicKeyData::subject_public_key_info(&tls_key),
        "the certificate certifies the CSR's key"
    );
    let install_id = issued["install_id"].as_str().unwrap().to_owned();
    let stored = Ca::open(&w.ca_dir, None)
        .unwrap()
        .store()
        .install(&install_id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.counter, Some(0));
    assert_eq!(stored.key_id.as_deref(), Some(&attested.key_id[..]));
    assert_eq!(stored.receipt.as_deref(), Some(&b"test receipt"[..]));

    let mut phone = Http1::connect(addr, &pki.ca, Some((chain.clone(), key_der(&tls_key)))).await;
    let reply = phone.request("GET", "/", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let who = reply.json();
    assert_eq!(who["install_id"], install_id.as_str());
    assert_eq!(who["attestation"]["platform"], "ios");
    assert_eq!(who["attestation"]["environment"], "production");

    // Renewal: an assertion over SHA-256 of the presented leaf, counter 1.
    let leaf_hash: [u8; 32] = Sha256::digest(chain[0].as_ref()).into();
    let assertion = attested.assert(TEAM, APP, 1, &leaf_hash);
    let renew_body = serde_json::json!({ "assertion": STANDARD.encode(&assertion) }).to_string();
    let reply = phone.request("POST", "/enroll/renew", &renew_body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["install_id"], install_id.as_str());
    // The same assertion again: its counter is no longer above the stored one.
    let reply = phone.request("POST", "/enroll/renew", &renew_body).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["code"], "attestation_invalid");
    // No assertion at all: malformed.
    let reply = phone.request("POST", "/enroll/renew", "{}").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "malformed_enrollment");
    // Counter 2 over another leaf's hash: refused (the assertion is bound to the certificate).
    let assertion = attested.assert(TEAM, APP, 2, &[0u8; 32]);
    let body = serde_json::json!({ "assertion": STANDARD.encode(&assertion) }).to_string();
    let reply = phone.request("POST", "/enroll/renew", &body).await;
    assert_eq!(reply.json()["code"], "attestation_invalid");
}

#[tokio::test]
async fn each_android_refusal_has_its_code() {
    let w = world("", &[], 1000);
    let cases: Vec<(&str, Kd)> = vec![
        (
            "security_level_too_low",
            Kd {
                level: 0,
                keymint_level: 0,
                ..Kd::default()
            },
        ),
        (
            "boot_state_unverified",
            Kd {
                boot_state: 2,
                ..Kd::default()
            },
        ),
        (
            "boot_state_unverified",
            Kd {
                locked: false,
                ..Kd::default()
            },
        ),
        (
            "app_not_attested",
            Kd {
                packages: vec![("com.evil.clone".into(), 42)],
                ..Kd::default()
            },
        ),
        (
            "app_not_attested",
            Kd {
                digests: vec![vec![0x11; 32]],
                ..Kd::default()
            },
        ),
    ];
    for (code, kd) in cases {
        let challenge = w.challenge().await;
        let kd = Kd {
            challenge: challenge.clone(),
            ..kd
        };
        let (body, _) = w.android_body(&challenge, &kd);
        let (status, json, _) = w.call("/enroll/android", &body).await;
        assert_eq!((status, json["code"].as_str()), (403, Some(code)), "{json}");
        assert_eq!(json["type"], format!("tag:certgate,2026:enroll/{code}"));
    }

    // The attested challenge is not the posted one.
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(b"another challenge, attested"));
    let (status, json, _) = w.call("/enroll/android", &body).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("challenge_mismatch"))
    );

    // A chain from another attestation root.
    let challenge = w.challenge().await;
    let other = Synthetic::new(true);
    let (chain, _) = other.leaf_with(&kd_for(&challenge).encode(), |_| {});
    let body = serde_json::json!({
        "app_id": APP,
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "chain": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
    });
    let (status, json, _) = w.call("/enroll/android", &body.to_string()).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("attestation_invalid")),
        "{json}"
    );

    // An app the policy does not list.
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    let body = body.replace(APP, "com.example.other");
    let (status, json, _) = w.call("/enroll/android", &body).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("app_not_attested"))
    );

    // A CSR whose key is not the attested key.
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    let stranger = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&stranger)
        .unwrap();
    let mut json_body: serde_json::Value = serde_json::from_str(&body).unwrap();
    json_body["csr"] = STANDARD.encode(csr.der()).into();
    let (status, json, _) = w.call("/enroll/android", &json_body.to_string()).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("attestation_invalid")),
        "{json}"
    );
    assert!(json["detail"].as_str().unwrap().contains("CSR"));

    // Nothing was issued for any of them.
    let ca = Ca::open(&w.ca_dir, None).unwrap();
    assert_eq!(ca.store().counts().unwrap().0, 0);
}

#[tokio::test]
async fn challenges_are_single_use_and_expire() {
    let w = world("", &[], 1000);
    // Used once: the second enrollment with it is refused, whatever it attests.
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    assert_eq!(w.call("/enroll/android", &body).await.0, 201);
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    let (status, json, _) = w.call("/enroll/android", &body).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("challenge_mismatch"))
    );
    // Never issued.
    let forged = [7u8; 32];
    let (body, _) = w.android_body(&forged, &kd_for(&forged));
    let (_, json, _) = w.call("/enroll/android", &body).await;
    assert_eq!(json["code"], "challenge_mismatch");
    // A failed attempt consumes it too.
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(
        &challenge,
        &Kd {
            boot_state: 2,
            challenge: challenge.clone(),
            ..Kd::default()
        },
    );
    assert_eq!(
        w.call("/enroll/android", &body).await.1["code"],
        "boot_state_unverified"
    );
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    assert_eq!(
        w.call("/enroll/android", &body).await.1["code"],
        "challenge_mismatch"
    );
    // Expired: the policy's challenge_ttl_seconds is 60.
    let challenge = w.challenge().await;
    w.skew.fetch_add(61, Ordering::Relaxed);
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    let (status, json, _) = w.call("/enroll/android", &body).await;
    w.skew.fetch_sub(61, Ordering::Relaxed);
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("challenge_mismatch"))
    );
    assert!(
        json["detail"].as_str().unwrap().contains("expired"),
        "{json}"
    );
}

#[tokio::test]
async fn each_ios_refusal_has_its_code() {
    let w = world("", &[], 1000);
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let csr_der = rcgen::CertificateParams::default()
        .serialize_request(&tls_key)
        .unwrap()
        .der()
        .to_vec();
    let other_csr = rcgen::CertificateParams::default()
        .serialize_request(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .to_vec();
    for (code, team, environment, posted_csr) in [
        ("app_not_attested", "ZZZZZ99999", "production", &csr_der),
        ("attestation_invalid", TEAM, "development", &csr_der),
        // Attested over one CSR, posted with another: not what was attested.
        ("challenge_mismatch", TEAM, "production", &other_csr),
    ] {
        let challenge = w.challenge().await;
        let hash: [u8; 32] = Sha256::digest([challenge.as_slice(), &csr_der].concat()).into();
        let attested = w.apple.attest(team, APP, environment, &hash);
        let body = serde_json::json!({
            "app_id": APP,
            "challenge": URL_SAFE_NO_PAD.encode(&challenge),
            "key_id": STANDARD.encode(attested.key_id),
            "attestation": STANDARD.encode(&attested.attestation),
            "csr": STANDARD.encode(posted_csr),
        });
        let (status, json, _) = w.call("/enroll/ios", &body.to_string()).await;
        assert_eq!((status, json["code"].as_str()), (403, Some(code)), "{json}");
    }
    // An attestation by another App Attest root.
    let challenge = w.challenge().await;
    let hash: [u8; 32] = Sha256::digest([challenge.as_slice(), &csr_der].concat()).into();
    let attested = AppAttestCa::new().attest(TEAM, APP, "production", &hash);
    let body = serde_json::json!({
        "app_id": APP,
        "challenge": URL_SAFE_NO_PAD.encode(&challenge),
        "key_id": STANDARD.encode(attested.key_id),
        "attestation": STANDARD.encode(&attested.attestation),
        "csr": STANDARD.encode(&csr_der),
    });
    let (_, json, _) = w.call("/enroll/ios", &body.to_string()).await;
    assert_eq!(json["code"], "attestation_invalid");
}

#[tokio::test]
async fn the_status_list_refuses_a_revoked_attestation_certificate() {
    // The intermediate of the synthetic hierarchy has serial 2.
    let list = r#"{"entries": {"2": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}"#;
    let w = world(
        "android_status_list = \"status.json\"",
        &[("status.json", r#"{"entries": {}}"#)],
        1000,
    );
    // Accepted under the empty list…
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    assert_eq!(w.call("/enroll/android", &body).await.0, 201);
    // …refused once the operator's refreshed list is loaded (a reload, as the watcher does).
    std::fs::write(w.ca_dir.join("status.json"), list).unwrap();
    w.gate.reload_from_file(&w.policy).unwrap();
    let challenge = w.challenge().await;
    let (body, _) = w.android_body(&challenge, &kd_for(&challenge));
    let (status, json, _) = w.call("/enroll/android", &body).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("attestation_revoked")),
        "{json}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_and_the_rate_limit_is_429() {
    let w = world("", &[], 3);
    for body in [
        "not json",
        "{}",
        r#"{"app_id":"x","challenge":"!!","chain":["AA=="]}"#,
    ] {
        let (status, json, _) = w
            .call_from("127.0.0.9:1".parse().unwrap(), "/enroll/android", body)
            .await;
        assert_eq!(
            (status, json["code"].as_str()),
            (400, Some("malformed_enrollment")),
            "{body}"
        );
    }
    let (status, json, headers) = w
        .call_from("127.0.0.9:2".parse().unwrap(), "/enroll/challenge", "{}")
        .await;
    assert_eq!(
        (status, json["code"].as_str()),
        (429, Some("enroll_rate_limited"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Another address is not limited.
    let (status, _, _) = w
        .call_from("127.0.0.10:1".parse().unwrap(), "/enroll/challenge", "{}")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rate_limit_counts_each_client() {
    let w = world(
        "\n[forwarded]\nformat = \"nginx\"\ntrusted_proxies = [\"127.0.0.1/32\"]\nclient_address = \"x-forwarded-for\"",
        &[],
        2,
    );
    let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    for _ in 0..2 {
        let (status, _, _) = w
            .call_via(proxy, Some("203.0.113.7"), "/enroll/challenge", "{}")
            .await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = w
        .call_via(proxy, Some("203.0.113.7"), "/enroll/challenge", "{}")
        .await;
    assert_eq!(status, 429, "the third from one client");
    // Another client through the same proxy has its own budget.
    let (status, _, _) = w
        .call_via(proxy, Some("203.0.113.8"), "/enroll/challenge", "{}")
        .await;
    assert_eq!(status, 200);
    // An untrusted peer's X-Forwarded-For is not believed: it is counted as itself.
    let stranger: SocketAddr = "127.0.0.3:5000".parse().unwrap();
    for client in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            w.call_via(stranger, Some(client), "/enroll/challenge", "{}")
                .await
                .0,
            200
        );
    }
    let (status, _, _) = w
        .call_via(stranger, Some("198.51.100.3"), "/enroll/challenge", "{}")
        .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn renewal_needs_an_enrolled_certificate() {
    let w = world("", &[], 1000);
    let pki = server_pki();
    let (addr, _stop) = w.serve(&pki).await;
    // No certificate: the gate's 401.
    let mut anonymous = Http1::connect(addr, &pki.ca, None).await;
    let reply = anonymous.request("POST", "/enroll/renew", "").await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (401, Some("no_certificate"))
    );
    // A genuine shared app certificate (no install id): not an enrolled install.
    let issued = Ca::open(&w.ca_dir, None)
        .unwrap()
        .issue(&certgate::issue::IssueRequest::new(APP).unwrap())
        .unwrap();
    let key = PrivatePkcs8KeyDer::from(issued.key_pkcs8().unwrap().to_vec()).into();
    let mut shared = Http1::connect(addr, &pki.ca, Some((issued.chain(), key))).await;
    assert_eq!(shared.request("GET", "/", "").await.status, 200);
    let reply = shared.request("POST", "/enroll/renew", "").await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (403, Some("not_enrolled"))
    );
}

/// The policy file's enrollment section is validated like the rest, naming the field.
#[test]
fn enroll_policy_errors_name_the_field() {
    let w = world("", &[], 10);
    let text = std::fs::read_to_string(&w.policy).unwrap();
    for (from, to, field) in [
        (
            "certificate_days = 7",
            "certificate_days = 0",
            "enroll.certificate_days",
        ),
        (
            "challenge_ttl_seconds = 60",
            "challenge_ttl_seconds = 5",
            "enroll.challenge_ttl_seconds",
        ),
        (
            "apple_root = \"apple-root.pem\"",
            "apple_root = \"missing.pem\"",
            "enroll.apple_root",
        ),
        (
            &format!("signing_cert_sha256 = [\"{}\"]", hex(&SIGNER)),
            "signing_cert_sha256 = [\"xyz\"]",
            "apps[0].android",
        ),
        ("[enroll]", "[enrol]", ""),
    ] {
        let bad = text.replace(from, to);
        assert_ne!(bad, text, "{from}");
        std::fs::write(w.ca_dir.join("bad.toml"), bad).unwrap();
        let err = Policy::load(w.ca_dir.join("bad.toml")).unwrap_err();
        if field.is_empty() {
            assert!(err.to_string().contains("enrol"), "{err}");
        } else {
            assert_eq!(err.field(), field, "{err}");
        }
    }
    // Enrollment rules without an [enroll] section.
    let bad = text
        .replace("[enroll]", "[limits]")
        .replace("android_roots", "# android_roots")
        .replace("apple_root", "# apple_root")
        .replace("certificate_days", "# certificate_days")
        .replace("challenge_ttl_seconds", "# challenge_ttl_seconds");
    std::fs::write(w.ca_dir.join("bad.toml"), bad).unwrap();
    let err = Policy::load(w.ca_dir.join("bad.toml")).unwrap_err();
    assert_eq!(err.field(), "apps[0]", "{err}");
}
