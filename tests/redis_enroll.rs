//! The enrollment challenge store in Redis (features `redis` and `enroll`, issue 13 §4): two
//! replicas (two `Gate`s and two `Enrollment`s over one policy whose `[signals.store]` names a
//! real `redis-server` started here) share their challenges.
//!
//! - a challenge issued by replica A is redeemed on replica B (201), and only once: a second
//!   redemption on either is `challenge_mismatch`, and of two concurrent ones exactly one wins;
//! - an expired challenge is refused (the gate's clock past `expires_at`; and Redis itself
//!   drops the key at its TTL);
//! - Redis killed: issuing and redeeming are refused `503 enroll_failed` (fail closed, never a
//!   certificate); Redis back: both work again at once.
#![cfg(all(feature = "redis", feature = "enroll", feature = "ring"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certgate::enroll::Enrollment;
use certgate::enroll::challenge::{ChallengeError, Challenges, RedisChallengeStore};
use certgate::issue::{Ca, CaConfig};
use certgate::{Gate, PeerAddr, Policy};
use common::android_attest::{Kd, PACKAGE, SIGNER, Synthetic};
use common::redis_server::RedisServer;
use common::{hex, pem};
use http::Request;
use rustls_pki_types::UnixTime;
use tower::ServiceExt as _;

const APP: &str = "com.example.shop";

/// One replica: its own gate (with a clock skew the test can move) and enrollment router.
struct Replica {
    enrollment: Enrollment,
    skew: Arc<AtomicU64>,
}

struct Fleet {
    _tmp: tempfile::TempDir,
    android: Synthetic,
    a: Replica,
    b: Replica,
}

/// A CA, the test Android root, and a policy with `[enroll]` and `[signals.store] kind =
/// "redis"`; two replicas built from it with nothing but the defaults.
fn fleet(redis_url: &str) -> Fleet {
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    Ca::init(&ca_dir, &CaConfig::new("Redis Enroll")).unwrap();
    let android = Synthetic::new(true);
    std::fs::write(
        ca_dir.join("android-root.pem"),
        pem("CERTIFICATE", &android.root.cert),
    )
    .unwrap();
    let policy = ca_dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"[trust]
anchors = ["root.pem"]
intermediates = ["intermediate.pem"]

[[apps]]
id = "{APP}"

[apps.android]
package_names = ["{PACKAGE}"]
signing_cert_sha256 = ["{signer}"]
min_security_level = "trusted_environment"
require_verified_boot = true

[enroll]
android_roots = ["android-root.pem"]
certificate_days = 7
challenge_ttl_seconds = 60

[signals.store]
kind = "redis"
url = "{redis_url}"
"#,
            signer = hex(&SIGNER)
        ),
    )
    .unwrap();
    let replica = || {
        let skew = Arc::new(AtomicU64::new(0));
        let seconds = Arc::clone(&skew);
        let gate = Gate::builder(Policy::load(&policy).unwrap())
            .clock(move || {
                let now = UnixTime::now().as_secs() + seconds.load(Ordering::Relaxed);
                UnixTime::since_unix_epoch(Duration::from_secs(now))
            })
            .build()
            .unwrap();
        let enrollment = Enrollment::builder(gate, Ca::open(&ca_dir, None).unwrap())
            .rate_limit(10_000, Duration::from_secs(60))
            .show_detail()
            .build()
            .unwrap();
        Replica { enrollment, skew }
    };
    let (a, b) = (replica(), replica());
    Fleet {
        _tmp: tmp,
        android,
        a,
        b,
    }
}

impl Replica {
    fn app(&self) -> Router {
        Router::new().nest("/enroll", self.enrollment.router())
    }

    async fn call(&self, path: &str, body: &str) -> (u16, serde_json::Value, http::HeaderMap) {
        let peer: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let request = Request::post(path)
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

    /// A fresh challenge's bytes (200 expected).
    async fn challenge(&self) -> Vec<u8> {
        let (status, json, _) = self.call("/enroll/challenge", "{}").await;
        assert_eq!(status, 200, "{json}");
        URL_SAFE_NO_PAD
            .decode(json["challenge"].as_str().unwrap())
            .unwrap()
    }

    /// Posts an Android enrollment over `challenge`: (status, code).
    async fn enroll(&self, android: &Synthetic, challenge: &[u8]) -> (u16, String) {
        let kd = Kd {
            challenge: challenge.to_vec(),
            ..Kd::default()
        };
        let (chain, _key) = android.leaf_with(&kd.encode(), |_| {});
        let body = serde_json::json!({
            "app_id": APP,
            "challenge": URL_SAFE_NO_PAD.encode(challenge),
            "chain": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
        });
        let (status, json, _) = self.call("/enroll/android", &body.to_string()).await;
        (status, json["code"].as_str().unwrap_or_default().to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_from_one_replica_is_redeemed_once_on_another() {
    let redis = RedisServer::start();
    let f = fleet(&redis.url());
    // The policy's Redis store was picked: no local count.
    assert_eq!(f.a.enrollment.outstanding_challenges(), None);

    // Issued by A, redeemed by B: the certificate is issued.
    let challenge = f.a.challenge().await;
    assert_eq!(
        f.b.enroll(&f.android, &challenge).await,
        (201, String::new())
    );
    // Single use across the fleet: neither replica takes it again.
    assert_eq!(
        f.b.enroll(&f.android, &challenge).await,
        (403, "challenge_mismatch".into())
    );
    assert_eq!(
        f.a.enroll(&f.android, &challenge).await,
        (403, "challenge_mismatch".into())
    );
    // Never issued.
    assert_eq!(
        f.a.enroll(&f.android, &[9u8; 32]).await,
        (403, "challenge_mismatch".into())
    );

    // Two replicas redeeming the same challenge at once: exactly one wins (GETDEL is atomic).
    for _ in 0..5 {
        let challenge = f.b.challenge().await;
        let (ra, rb) = tokio::join!(
            f.a.enroll(&f.android, &challenge),
            f.b.enroll(&f.android, &challenge)
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 403], "{ra:?} {rb:?}");
    }

    // Expired by the redeeming replica's clock: challenge_ttl_seconds is 60.
    let challenge = f.a.challenge().await;
    f.b.skew.store(61, Ordering::Relaxed);
    let (status, json, _) = {
        let kd = Kd {
            challenge: challenge.clone(),
            ..Kd::default()
        };
        let (chain, _) = f.android.leaf_with(&kd.encode(), |_| {});
        let body = serde_json::json!({
            "app_id": APP,
            "challenge": URL_SAFE_NO_PAD.encode(&challenge),
            "chain": chain.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
        });
        f.b.call("/enroll/android", &body.to_string()).await
    };
    f.b.skew.store(0, Ordering::Relaxed);
    assert_eq!(
        (status, json["code"].as_str()),
        (403, Some("challenge_mismatch"))
    );
    assert!(
        json["detail"].as_str().unwrap().contains("expired"),
        "{json}"
    );
    // … and consumed: not redeemable once the clock is back either.
    assert_eq!(
        f.a.enroll(&f.android, &challenge).await,
        (403, "challenge_mismatch".into())
    );
}

#[test]
fn redis_drops_a_challenge_at_its_ttl() {
    let redis = RedisServer::start();
    let store = RedisChallengeStore::new(&redis.url()).unwrap();
    let now = UnixTime::now().as_secs();
    assert_eq!(store.issue([1; 32], now, 1), Ok(now + 1));
    assert_eq!(store.issue([2; 32], now, 60), Ok(now + 60));
    // The same bytes cannot be outstanding twice (SET NX).
    assert_eq!(
        store.issue([2; 32], now, 60),
        Err(ChallengeError::Unavailable)
    );
    std::thread::sleep(Duration::from_millis(2100));
    // Gone from Redis (were it there, the stored expiry would make it `Expired`).
    assert_eq!(store.take(&[1; 32], now + 2), Err(ChallengeError::Unknown));
    assert_eq!(store.take(&[2; 32], now + 2), Ok(()));
    assert_eq!(store.take(&[2; 32], now + 2), Err(ChallengeError::Unknown));
    // Client bytes of the wrong length never reach Redis.
    assert_eq!(store.take(&[2; 31], now), Err(ChallengeError::Unknown));
    assert_eq!(store.outstanding(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_enrollment_fails_closed_and_recovers() {
    let mut redis = RedisServer::start();
    let f = fleet(&redis.url());
    let issued_before = f.a.challenge().await;

    redis.kill();
    // Issuing: 503 enroll_failed with Retry-After, no challenge handed out.
    let started = Instant::now();
    let (status, json, headers) = f.a.call("/enroll/challenge", "{}").await;
    let took = started.elapsed();
    assert_eq!(
        (status, json["code"].as_str()),
        (503, Some("enroll_failed")),
        "{json}"
    );
    assert!(json.get("challenge").is_none());
    assert_eq!(headers["retry-after"], "1");
    // Redeeming: refused the same way on both replicas, never a certificate.
    assert_eq!(
        f.b.enroll(&f.android, &issued_before).await,
        (503, "enroll_failed".into())
    );
    assert_eq!(
        f.a.enroll(&f.android, &issued_before).await,
        (503, "enroll_failed".into())
    );
    // Bounded: a refused connection, or at worst the connect timeout.
    assert!(took < Duration::from_secs(2), "{took:?}");
    println!("FIGURES: challenge refused with Redis down in {took:?}");

    redis.restart();
    // Back at once: the first request after the restart works (a stale pooled connection is
    // retried on a fresh one).
    let started = Instant::now();
    let challenge = f.a.challenge().await;
    println!(
        "FIGURES: first challenge after the Redis restart in {:?}",
        started.elapsed()
    );
    assert_eq!(
        f.b.enroll(&f.android, &challenge).await,
        (201, String::new())
    );
    // The challenge issued before the kill died with that Redis (no persistence here): refused,
    // never accepted.
    assert_eq!(
        f.b.enroll(&f.android, &issued_before).await,
        (403, "challenge_mismatch".into())
    );
}
