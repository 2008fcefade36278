//! Bot signals (issue 13): cloned per-install certificates, TLS fingerprint allowlists,
//! failure-driven timed quarantine, the embedded store's bounds, the `[signals]` policy, and
//! the observe-by-default modes of the three signal codes. Real certificates (the fixture
//! PKI) through a real `Gate` and `CertGateLayer`; connections simulated with
//! `TlsConnectInfo` (one per connection, cloned into each of its requests, as the server does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use certgate::forwarded::{ClientAddressSource, ForwardedConfig, ForwardedFormat};
use certgate::signals::{
    AppSignals, CloningConfig, EmbeddedStore, QuarantineConfig, RateConfig, SignalStore,
    SignalsConfig, TlsFingerprint,
};
use certgate::{
    Action, CertGateLayer, EventSink, Gate, Mode, PeerAddr, PeerChain, Policy, Rejection,
    TlsConnectInfo, Verdict, VerdictEvent, VerifierBuilder,
};
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{Request, Response, StatusCode, header};
use rustls_pki_types::UnixTime;
use tower::{Layer, Service};

/// The genuine client's TLS stack and a script's.
const GENUINE_JA4: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";
const SCRIPT_JA4: &str = "t13d0912h1_76e208dd3e22_2dd8b6ba0f1b";

// ---------------------------------------------------------------------------
// helpers

#[derive(Default)]
struct Events(Mutex<Vec<VerdictEvent>>);

impl EventSink for Events {
    fn record(&self, event: &VerdictEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn with_code(&self, code: &str) -> Vec<VerdictEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.code == code)
            .cloned()
            .collect()
    }
}

fn base_policy() -> Policy {
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().crl(Crl::Intermediate))
            .crl(pki().crl(Crl::Root))
            .build()
            .unwrap(),
    )
}

fn shop_signals() -> SignalsConfig {
    SignalsConfig::new()
        .quarantine(
            QuarantineConfig::new(100, 60, 600)
                .unwrap()
                .weight("expired", 2)
                .unwrap(),
        )
        .cloning(CloningConfig::new(3, 300, 4, 3600).unwrap())
        .app(
            SHOP,
            AppSignals::new()
                .per_install(true)
                .allow(GENUINE_JA4)
                .unwrap()
                .learn(true),
        )
        .unwrap()
}

/// A gate on a clock the test moves (seconds since the epoch).
struct Rig {
    gate: Gate,
    clock: Arc<AtomicU64>,
    events: Arc<Events>,
}

impl Rig {
    fn new(signals: SignalsConfig, enforce: &[&str]) -> Self {
        Self::with_policy(base_policy().with_signals(signals).unwrap(), enforce)
    }

    fn with_policy(policy: Policy, enforce: &[&str]) -> Self {
        let clock = Arc::new(AtomicU64::new(NOW.as_secs()));
        let events = Arc::new(Events::default());
        let c = Arc::clone(&clock);
        let sink: Arc<dyn EventSink> = events.clone();
        let mut builder = Gate::builder(policy).event_sink(sink).clock(move || {
            UnixTime::since_unix_epoch(Duration::from_secs(c.load(Ordering::SeqCst)))
        });
        for code in enforce {
            builder = builder.mode_for(code, Mode::Enforce);
        }
        Self {
            gate: builder.build().unwrap(),
            clock,
            events,
        }
    }

    fn advance(&self, seconds: u64) {
        self.clock.fetch_add(seconds, Ordering::SeqCst);
    }

    fn service(
        &self,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> {
        CertGateLayer::new(self.gate.clone()).layer(tower::service_fn(echo))
    }
}

/// The inner service: the verdict's code.
async fn echo(req: Request<()>) -> Result<Response<String>, Infallible> {
    let verdict = req.extensions().get::<Verdict>().map_or("-", Verdict::code);
    Ok(Response::new(verdict.to_owned()))
}

/// Calls the service once (everything here is ready at once).
fn drive<S>(service: &mut S, req: Request<()>) -> Response<String>
where
    S: Service<Request<()>, Response = Response<String>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(service.call(req)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("the service was not ready at once"),
    }
}

fn on(conn: &TlsConnectInfo) -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut().insert(conn.clone());
    req
}

fn connect(leaf: Leaf, addr: &str, ja4: Option<&str>) -> TlsConnectInfo {
    let conn = TlsConnectInfo::new(
        PeerChain::new(pki().leaf(leaf).chain()),
        addr.parse().unwrap(),
    );
    match ja4 {
        Some(ja4) => conn.with_fingerprint(TlsFingerprint::from_ja4(ja4)),
        None => conn,
    }
}

fn code_of(response: &Response<String>) -> String {
    if response.status() == StatusCode::OK {
        return response.body().clone();
    }
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    body.get("code")
        .and_then(|c| c.as_str())
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------
// §5: a genuine per-install certificate replayed from 50 addresses

#[test]
fn replayed_per_install_certificate_is_flagged_within_100_requests_and_no_one_refused() {
    let rig = Rig::new(shop_signals(), &[]);
    let mut service = rig.service();
    let genuine = connect(Leaf::Genuine, "10.1.2.3:40000", Some(GENUINE_JA4));
    let started = Instant::now();
    let mut first_flag = None;
    let mut refused_genuine = 0;
    let mut replays = Vec::new();
    for i in 0..400u32 {
        let response = if i % 2 == 0 {
            drive(&mut service, on(&genuine))
        } else {
            // A new connection from one of 50 addresses, each kept open (a bot farm).
            let addr = format!("127.0.0.{}:{}", (i / 2) % 50 + 1, 20000 + i);
            let conn = connect(Leaf::Genuine, &addr, Some(GENUINE_JA4));
            let response = drive(&mut service, on(&conn));
            replays.push(conn);
            response
        };
        if i % 2 == 0 && response.status() != StatusCode::OK {
            refused_genuine += 1;
        }
        if first_flag.is_none() && !rig.events.with_code("cert_cloning_suspected").is_empty() {
            first_flag = Some(i + 1);
        }
    }
    let elapsed = started.elapsed();
    let rate = 400.0 / elapsed.as_secs_f64();
    assert!(rate > 100.0, "{rate:.0} requests/s");
    let first_flag = first_flag.expect("never flagged");
    assert!(first_flag <= 100, "flagged only at request {first_flag}");
    assert_eq!(
        refused_genuine, 0,
        "observe by default: no genuine request refused"
    );
    let event = &rig.events.with_code("cert_cloning_suspected")[0];
    assert_eq!(event.action, Action::Observe);
    let data = event.signal.unwrap();
    assert!(
        data.addresses.unwrap() > 3 || data.connections.unwrap() > 4,
        "{data:?}"
    );
    assert_eq!(data.duration_seconds, Some(3600));
    // What `certgate revoke` takes: the leaf's SHA-256.
    assert_eq!(event.fingerprint.as_deref().map(str::len), Some(64));
    assert_eq!(event.tls_fingerprint.as_deref(), Some(GENUINE_JA4));
    // The genuine connection's requests now carry the observed signal.
    assert_eq!(
        code_of(&drive(&mut service, on(&genuine))),
        "cert_cloning_suspected"
    );
    eprintln!("flagged at request {first_flag}; {rate:.0} requests/s");
}

#[test]
fn enforced_cloning_quarantines_the_certificate() {
    let rig = Rig::new(shop_signals(), &["cert_cloning_suspected"]);
    let mut service = rig.service();
    let mut open = Vec::new();
    for i in 1..=3 {
        let conn = connect(
            Leaf::Genuine,
            &format!("127.0.0.{i}:1000"),
            Some(GENUINE_JA4),
        );
        assert_eq!(
            drive(&mut service, on(&conn)).status(),
            StatusCode::OK,
            "address {i}"
        );
        open.push(conn);
    }
    // A fourth address within the window: over max_addresses = 3.
    let fourth = connect(Leaf::Genuine, "127.0.0.4:1000", Some(GENUINE_JA4));
    let response = drive(&mut service, on(&fourth));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&response), "cert_cloning_suspected");
    // Quarantined: the earlier connections are refused too, for quarantine_seconds.
    assert_eq!(
        code_of(&drive(&mut service, on(&open[0]))),
        "cert_cloning_suspected"
    );
    // The connections close; after the quarantine (and the window) the certificate works.
    drop(open);
    drop(fourth);
    rig.advance(3600);
    let later = connect(Leaf::Genuine, "127.0.0.1:2000", Some(GENUINE_JA4));
    assert_eq!(drive(&mut service, on(&later)).status(), StatusCode::OK);
    // Another app's certificate is untouched throughout.
    let other = connect(Leaf::Second, "127.0.0.5:1000", Some(GENUINE_JA4));
    let response = drive(&mut service, on(&other));
    assert_ne!(code_of(&response), "cert_cloning_suspected");
}

#[test]
fn concurrent_connections_are_counted_and_released_on_close() {
    let rig = Rig::new(shop_signals(), &["cert_cloning_suspected"]);
    let mut service = rig.service();
    for round in 0..3 {
        // Four connections at once from one address: at max_connections, not over.
        let conns: Vec<_> = (0..4)
            .map(|i| {
                connect(
                    Leaf::Genuine,
                    &format!("10.0.0.1:{}", 3000 + i),
                    Some(GENUINE_JA4),
                )
            })
            .collect();
        for conn in &conns {
            for _ in 0..3 {
                assert_eq!(
                    drive(&mut service, on(conn)).status(),
                    StatusCode::OK,
                    "round {round}"
                );
            }
        }
        // Closing them (dropping the last clone) releases them.
        drop(conns);
    }
    let conns: Vec<_> = (0..5)
        .map(|i| {
            connect(
                Leaf::Genuine,
                &format!("10.0.0.1:{}", 4000 + i),
                Some(GENUINE_JA4),
            )
        })
        .collect();
    let codes: Vec<String> = conns
        .iter()
        .map(|c| code_of(&drive(&mut service, on(c))))
        .collect();
    assert_eq!(codes[..4], ["accept"; 4]);
    assert_eq!(codes[4], "cert_cloning_suspected");
    let event = &rig.events.with_code("cert_cloning_suspected")[0];
    assert_eq!(event.signal.unwrap().connections, Some(5));
}

#[test]
fn count_networks_counts_a_slash_24_once() {
    let signals = SignalsConfig::new()
        .cloning(
            CloningConfig::new(3, 300, 100, 3600)
                .unwrap()
                .count_networks(true),
        )
        .app(SHOP, AppSignals::new().per_install(true))
        .unwrap();
    let rig = Rig::new(signals, &["cert_cloning_suspected"]);
    let mut service = rig.service();
    let mut open = Vec::new();
    for i in 1..=50 {
        let conn = connect(Leaf::Genuine, &format!("198.51.100.{i}:1000"), None);
        assert_eq!(drive(&mut service, on(&conn)).status(), StatusCode::OK);
        open.push(conn);
    }
    for net in 1..=3 {
        let conn = connect(Leaf::Genuine, &format!("203.0.{net}.7:1000"), None);
        let response = drive(&mut service, on(&conn));
        let expected = if net < 3 {
            "accept"
        } else {
            "cert_cloning_suspected"
        };
        assert_eq!(code_of(&response), expected, "network {net}");
        open.push(conn);
    }
}

/// A dual-stack listener (`[::]:443`) sees IPv4 clients as IPv4-mapped IPv6 addresses: they
/// are counted by their IPv4 /24, not all as the one /48 `::` (which would never flag).
#[test]
fn count_networks_counts_ipv4_mapped_clients_by_their_slash_24() {
    let signals = SignalsConfig::new()
        .cloning(
            CloningConfig::new(3, 300, 100, 3600)
                .unwrap()
                .count_networks(true),
        )
        .app(SHOP, AppSignals::new().per_install(true))
        .unwrap();
    let rig = Rig::new(signals, &["cert_cloning_suspected"]);
    let mut service = rig.service();
    let mut open = Vec::new();
    for net in 1..=4 {
        let conn = connect(Leaf::Genuine, &format!("[::ffff:203.0.{net}.7]:1000"), None);
        let response = drive(&mut service, on(&conn));
        let expected = if net < 4 {
            "accept"
        } else {
            "cert_cloning_suspected"
        };
        assert_eq!(code_of(&response), expected, "network {net}");
        open.push(conn);
    }
}

// ---------------------------------------------------------------------------
// §5: a genuine certificate through another TLS stack

#[test]
fn fingerprint_mismatch_is_observed_then_enforced() {
    for enforce in [false, true] {
        let codes: &[&str] = if enforce {
            &["tls_fingerprint_mismatch"]
        } else {
            &[]
        };
        let rig = Rig::new(shop_signals(), codes);
        let mut service = rig.service();
        let app = connect(Leaf::Genuine, "10.0.0.1:1000", Some(GENUINE_JA4));
        let script = connect(Leaf::Genuine, "10.0.0.1:1001", Some(SCRIPT_JA4));
        let unknown = connect(Leaf::Genuine, "10.0.0.1:1002", None);
        for _ in 0..3 {
            assert_eq!(code_of(&drive(&mut service, on(&app))), "accept");
            let response = drive(&mut service, on(&script));
            assert_eq!(code_of(&response), "tls_fingerprint_mismatch");
            let expected = if enforce {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            assert_eq!(response.status(), expected);
            // No fingerprint captured: fail closed (a mismatch, `none`).
            assert_eq!(
                code_of(&drive(&mut service, on(&unknown))),
                "tls_fingerprint_mismatch"
            );
        }
        let events = rig.events.with_code("tls_fingerprint_mismatch");
        let script_events: Vec<_> = events
            .iter()
            .filter(|e| e.tls_fingerprint.as_deref() == Some(SCRIPT_JA4))
            .collect();
        if enforce {
            assert_eq!(script_events.len(), 3, "every refusal reported");
            assert!(script_events.iter().all(|e| e.action == Action::Refuse));
        } else {
            assert_eq!(
                script_events.len(),
                1,
                "observed: reported once per connection"
            );
            assert_eq!(script_events[0].action, Action::Observe);
        }
        // Learning: counted per request, by JA4.
        let learned = rig.gate.learned_fingerprints(SHOP);
        assert!(
            learned.contains(&(GENUINE_JA4.to_owned(), 3)),
            "{learned:?}"
        );
        assert!(learned.contains(&(SCRIPT_JA4.to_owned(), 3)), "{learned:?}");
        assert!(learned.contains(&("none".to_owned(), 3)), "{learned:?}");
    }
}

#[test]
fn learning_keeps_64_fingerprints_per_app_and_counts_the_rest_as_other() {
    let signals = SignalsConfig::new()
        .app(SHOP, AppSignals::new().learn(true))
        .unwrap();
    let rig = Rig::new(signals, &[]);
    let mut service = rig.service();
    for i in 0..100 {
        let conn = connect(
            Leaf::Genuine,
            "10.0.0.1:1000",
            Some(&format!("t13d{i:04}h2_aaaa_bbbb")),
        );
        assert_eq!(code_of(&drive(&mut service, on(&conn))), "accept");
    }
    let learned = rig.gate.learned_fingerprints(SHOP);
    assert_eq!(learned.len(), 65, "64 JA4s and `other`");
    assert!(learned.contains(&("other".to_owned(), 36)), "{learned:?}");
}

#[test]
fn fingerprint_from_a_trusted_proxy_header_only() {
    let forwarded = ForwardedConfig::new(ForwardedFormat::Nginx)
        .trust_proxy("127.0.0.1/32".parse().unwrap())
        .client_address(ClientAddressSource::XForwardedFor);
    let policy = base_policy()
        .with_forwarded(forwarded)
        .unwrap()
        .with_signals(
            shop_signals()
                .fingerprint_header("cloudfront-viewer-ja4-fingerprint")
                .unwrap(),
        )
        .unwrap();
    let rig = Rig::with_policy(policy, &["tls_fingerprint_mismatch"]);
    let mut service = rig.service();
    let leaf = pki().leaf(Leaf::Genuine);
    let pem: String = leaf
        .chain_pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let proxied = |ja4: &str, client: &str| {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(PeerAddr("127.0.0.1:5000".parse().unwrap()));
        req.headers_mut()
            .insert("x-client-cert", pem.parse().unwrap());
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        req.headers_mut()
            .insert("cloudfront-viewer-ja4-fingerprint", ja4.parse().unwrap());
        req
    };
    assert_eq!(
        code_of(&drive(&mut service, proxied(GENUINE_JA4, "198.51.100.1"))),
        "accept"
    );
    let response = drive(&mut service, proxied(SCRIPT_JA4, "198.51.100.2"));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&response), "tls_fingerprint_mismatch");
    let event = rig
        .events
        .with_code("tls_fingerprint_mismatch")
        .pop()
        .unwrap();
    assert_eq!(
        event.peer_addr.map(|a| a.ip().to_string()).as_deref(),
        Some("198.51.100.2")
    );
    // From an untrusted peer the header is not believed (its own TLS stack counts) and is
    // removed before the inner service.
    let conn = connect(Leaf::Genuine, "192.0.2.9:1000", Some(GENUINE_JA4));
    let mut req = on(&conn);
    req.headers_mut().insert(
        "cloudfront-viewer-ja4-fingerprint",
        SCRIPT_JA4.parse().unwrap(),
    );
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    let mut inner =
        CertGateLayer::new(rig.gate.clone()).layer(tower::service_fn(move |req: Request<()>| {
            *s.lock().unwrap() = Some(
                req.headers()
                    .contains_key("cloudfront-viewer-ja4-fingerprint"),
            );
            async { Ok::<_, Infallible>(Response::new("accept".to_owned())) }
        }));
    assert_eq!(drive(&mut inner, req).status(), StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), Some(false));
}

// ---------------------------------------------------------------------------
// §5: a source sending forged certificates

#[test]
fn forged_certificate_source_is_quarantined_and_then_costs_no_verification() {
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    let forged = [Leaf::ImpostorSameNames, Leaf::ForeignCa];
    // bad_signature and unknown_issuer weigh 20: the fifth reaches the threshold of 100.
    for i in 0..5 {
        let conn = connect(forged[i % 2], "127.0.0.66:1000", Some(SCRIPT_JA4));
        let response = drive(&mut service, on(&conn));
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "attempt {i}");
        assert_ne!(code_of(&response), "quarantined");
    }
    let started = rig.events.with_code("quarantined");
    assert_eq!(started.len(), 1);
    let data = started[0].signal.unwrap();
    assert_eq!(
        (data.score, data.total_score, data.duration_seconds),
        (Some(100), Some(100), Some(600))
    );
    assert_eq!(started[0].action, Action::Refuse);

    let before = rig.gate.cache_stats();
    let n = 10_000u32;
    let conns: Vec<_> = (0..n)
        .map(|i| {
            connect(
                forged[usize::try_from(i % 2).unwrap()],
                "127.0.0.66:1000",
                None,
            )
        })
        .collect();
    let t = Instant::now();
    for conn in &conns {
        let response = drive(&mut service, on(conn));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let per_request = t.elapsed() / n;
    let after = rig.gate.cache_stats();
    assert_eq!(
        (after.hits + after.misses, after.misses),
        (before.hits + before.misses, before.misses),
        "no certificate work while quarantined"
    );
    eprintln!("quarantine refusal: {per_request:?} per request (this build)");
    assert!(per_request < Duration::from_millis(1), "{per_request:?}");

    let response = drive(&mut service, on(&conns[0]));
    assert_eq!(response.headers()[header::RETRY_AFTER], "600");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(code_of(&response), "quarantined");
    // The genuine app at another address is untouched.
    let app = connect(Leaf::Genuine, "127.0.0.67:1000", Some(GENUINE_JA4));
    assert_eq!(drive(&mut service, on(&app)).status(), StatusCode::OK);
    // Retry-After counts down; the quarantine ends after duration_seconds.
    rig.advance(599);
    assert_eq!(
        drive(&mut service, on(&conns[0])).headers()[header::RETRY_AFTER],
        "1"
    );
    rig.advance(1);
    assert_eq!(
        drive(&mut service, on(&conns[0])).status(),
        StatusCode::FORBIDDEN
    );
}

#[test]
fn observed_quarantine_lets_requests_through_and_reports_them() {
    let rig = Rig::new(shop_signals(), &[]);
    let mut service = rig.service();
    for _ in 0..5 {
        let conn = connect(Leaf::ImpostorSameNames, "127.0.0.66:1000", None);
        drive(&mut service, on(&conn));
    }
    assert_eq!(
        rig.events.with_code("quarantined")[0].action,
        Action::Observe
    );
    // The quarantined address's genuine request still passes, with the observed signal.
    let app = connect(Leaf::Genuine, "127.0.0.66:1001", Some(GENUINE_JA4));
    let response = drive(&mut service, on(&app));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "quarantined");
}

#[test]
fn score_decays_over_the_window() {
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    let forged = || connect(Leaf::ImpostorSameNames, "127.0.0.70:1000", None);
    for _ in 0..4 {
        drive(&mut service, on(&forged()));
    }
    // 80 points; a score at the threshold (100) decays to zero in 60 s: after 60 s, 0.
    rig.advance(60);
    for _ in 0..4 {
        assert_eq!(
            drive(&mut service, on(&forged())).status(),
            StatusCode::FORBIDDEN
        );
    }
    assert!(
        rig.events.with_code("quarantined").is_empty(),
        "decayed below the threshold"
    );
    // Halfway through the window: 80 − 50 = 30, + 20 × 3 = 90, + 20 = 110 ≥ 100.
    rig.advance(30);
    for _ in 0..3 {
        drive(&mut service, on(&forged()));
    }
    assert!(rig.events.with_code("quarantined").is_empty());
    drive(&mut service, on(&forged()));
    assert_eq!(rig.events.with_code("quarantined").len(), 1);
    assert_eq!(
        drive(&mut service, on(&forged())).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn weights_follow_the_policy() {
    // expired weighs 2 here: 49 expired certificates stay under 100.
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    for _ in 0..49 {
        let conn = connect(Leaf::Expired, "127.0.0.71:1000", None);
        assert_eq!(code_of(&drive(&mut service, on(&conn))), "expired");
    }
    let conn = connect(Leaf::Expired, "127.0.0.71:1000", None);
    drive(&mut service, on(&conn));
    assert_eq!(
        drive(&mut service, on(&conn)).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn reload_keeps_the_signal_state() {
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    for _ in 0..5 {
        drive(
            &mut service,
            on(&connect(Leaf::ForeignCa, "127.0.0.72:1000", None)),
        );
    }
    let conn = connect(Leaf::Genuine, "127.0.0.72:1001", None);
    assert_eq!(
        drive(&mut service, on(&conn)).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    rig.gate
        .reload(base_policy().with_signals(shop_signals()).unwrap());
    assert_eq!(
        drive(&mut service, on(&conn)).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A reload without signals turns them off (the state stays for a later reload).
    rig.gate.reload(base_policy());
    assert_eq!(drive(&mut service, on(&conn)).status(), StatusCode::OK);
    rig.gate
        .reload(base_policy().with_signals(shop_signals()).unwrap());
    assert_eq!(
        drive(&mut service, on(&conn)).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

// ---------------------------------------------------------------------------
// §4: bounded memory

#[test]
fn embedded_store_stays_bounded_under_a_million_addresses() {
    let store = EmbeddedStore::new(4096, 1024);
    let expected = 4096 * EmbeddedStore::BYTES_PER_ADDRESS
        + 1024 * EmbeddedStore::BYTES_PER_CERTIFICATE
        + 1024 * EmbeddedStore::BYTES_PER_RATE_COUNTER;
    let expected = u64::try_from(expected).unwrap();
    assert_eq!(store.max_bytes(), expected);
    let rule = QuarantineConfig::new(100, 60, 600).unwrap();
    let cloning = CloningConfig::new(3, 300, 4, 3600).unwrap();
    let now = NOW.as_secs();
    for i in 0..1_000_000u32 {
        let addr = std::net::IpAddr::V6(std::net::Ipv6Addr::from(
            (0x2001_0db8_u128 << 96) | u128::from(i),
        ));
        store.add_failure(addr, 20, now, &rule);
        if i % 8 == 0 {
            let mut leaf = [0u8; 32];
            leaf[..4].copy_from_slice(&i.to_be_bytes());
            store.observe_leaf(&leaf, addr, false, now, &cloning);
        }
    }
    let stats = store.stats();
    assert!(stats.addresses <= 4096, "{stats:?}");
    assert!(stats.certificates <= 1024, "{stats:?}");
    assert_eq!(stats.bytes, expected);
    eprintln!(
        "bytes per address {}, per certificate {}, default store {} bytes",
        EmbeddedStore::BYTES_PER_ADDRESS,
        EmbeddedStore::BYTES_PER_CERTIFICATE,
        EmbeddedStore::default().max_bytes()
    );
}

#[test]
fn a_running_quarantine_survives_a_flood_of_new_addresses() {
    let store = EmbeddedStore::new(4096, 16);
    let rule = QuarantineConfig::new(100, 60, 600).unwrap();
    let now = NOW.as_secs();
    let bad: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(
        store.add_failure(bad, 100, now, &rule).quarantined_for,
        Some(600)
    );
    for i in 0..100_000u32 {
        store.add_failure(
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i) + 1)),
            1,
            now,
            &rule,
        );
    }
    assert_eq!(store.quarantined(bad, now + 10), Some(590));
}

// ---------------------------------------------------------------------------
// request-rate ceilings

fn rate_signals(rate: RateConfig) -> SignalsConfig {
    SignalsConfig::new().rate(rate)
}

#[test]
fn a_certificate_over_its_ceiling_is_rate_limited_until_the_window_ends() {
    let rate = RateConfig::new(10).unwrap().per_certificate(5).unwrap();
    let rig = Rig::new(rate_signals(rate), &["rate_limited"]);
    // Start at a window boundary: windows are multiples of 10 s since the epoch.
    rig.advance(10 - NOW.as_secs() % 10);
    let mut service = rig.service();
    let genuine = connect(Leaf::Genuine, "10.0.0.1:1000", None);
    let other = connect(Leaf::Second, "10.0.0.2:1000", None);
    for i in 0..5 {
        assert_eq!(code_of(&drive(&mut service, on(&genuine))), "accept", "{i}");
    }
    rig.advance(3);
    let refused = drive(&mut service, on(&genuine));
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code_of(&refused), "rate_limited");
    assert_eq!(refused.headers()[header::RETRY_AFTER], "7");
    // The same leaf on a new connection from elsewhere: the ceiling is the certificate's.
    let elsewhere = connect(Leaf::Genuine, "10.0.0.3:1000", None);
    assert_eq!(
        code_of(&drive(&mut service, on(&elsewhere))),
        "rate_limited"
    );
    // Another certificate of the same app has its own ceiling.
    assert_eq!(code_of(&drive(&mut service, on(&other))), "accept");
    // Each enforced refusal is reported, with the window's rest.
    let events = rig.events.with_code("rate_limited");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.action == Action::Refuse));
    // The next window: accepted again.
    rig.advance(7);
    assert_eq!(code_of(&drive(&mut service, on(&genuine))), "accept");
}

#[test]
fn an_app_ceiling_counts_all_its_certificates() {
    let rate = RateConfig::new(60).unwrap().per_app(4).unwrap();
    let rig = Rig::new(rate_signals(rate), &["rate_limited"]);
    rig.advance(60 - NOW.as_secs() % 60);
    let mut service = rig.service();
    let a = connect(Leaf::Genuine, "10.0.0.1:1000", None);
    let b = connect(Leaf::Second, "10.0.0.2:1000", None);
    let other_app = connect(Leaf::OtherApp, "10.0.0.3:1000", None);
    for conn in [&a, &b, &a, &b] {
        assert_eq!(code_of(&drive(&mut service, on(conn))), "accept");
    }
    let refused = drive(&mut service, on(&b));
    assert_eq!(code_of(&refused), "rate_limited");
    assert_eq!(refused.headers()[header::RETRY_AFTER], "60");
    assert_eq!(code_of(&drive(&mut service, on(&a))), "rate_limited");
    // Another app is not counted with it; a rejected chain is never counted (nor helped).
    assert_eq!(code_of(&drive(&mut service, on(&other_app))), "accept");
    let forged = connect(Leaf::ForeignCa, "10.0.0.4:1000", None);
    assert_eq!(code_of(&drive(&mut service, on(&forged))), "unknown_issuer");
}

#[test]
fn an_observed_ceiling_refuses_no_one_and_reports_once_per_window() {
    let rate = RateConfig::new(10).unwrap().per_certificate(2).unwrap();
    let rig = Rig::new(rate_signals(rate), &[]);
    rig.advance(10 - NOW.as_secs() % 10);
    let mut service = rig.service();
    let genuine = connect(Leaf::Genuine, "10.0.0.1:1000", None);
    let mut codes = Vec::new();
    for _ in 0..6 {
        let response = drive(&mut service, on(&genuine));
        assert_eq!(response.status(), StatusCode::OK);
        codes.push(code_of(&response));
    }
    assert_eq!(
        codes,
        [
            "accept",
            "accept",
            "rate_limited",
            "rate_limited",
            "rate_limited",
            "rate_limited"
        ]
    );
    let events = rig.events.with_code("rate_limited");
    assert_eq!(
        events.len(),
        1,
        "reported on the window's first request over"
    );
    assert_eq!(events[0].action, Action::Observe);
    rig.advance(10);
    for _ in 0..3 {
        drive(&mut service, on(&genuine));
    }
    assert_eq!(
        rig.events.with_code("rate_limited").len(),
        2,
        "once more in the next window"
    );
}

#[test]
fn rate_counters_stay_bounded() {
    // A small store: 16 counters. A flood of distinct certificates evicts the oldest windows
    // and never grows the table.
    let store = EmbeddedStore::new(4, 16);
    let before = store.max_bytes();
    for i in 0u32..10_000 {
        let mut leaf = [0u8; 32];
        leaf[..4].copy_from_slice(&i.to_be_bytes());
        let over = store.count_request(
            certgate::signals::RateKey::Certificate(&leaf),
            1_000 + u64::from(i / 100),
            1,
            1,
        );
        assert_eq!(over, None, "each certificate counted once");
    }
    assert_eq!(store.max_bytes(), before);
    let leaf = [7u8; 32];
    let key = certgate::signals::RateKey::Certificate(&leaf);
    assert_eq!(store.count_request(key, 5_000, 10, 2), None);
    assert_eq!(store.count_request(key, 5_001, 10, 2), None);
    let over = store.count_request(key, 5_002, 10, 2).unwrap();
    assert_eq!((over.retry_after_seconds, over.first), (8, true));
    let over = store.count_request(key, 5_009, 10, 2).unwrap();
    assert_eq!((over.retry_after_seconds, over.first), (1, false));
    assert_eq!(store.count_request(key, 5_010, 10, 2), None, "a new window");
    eprintln!(
        "bytes per rate counter: {}",
        certgate::signals::EmbeddedStore::BYTES_PER_RATE_COUNTER
    );
    // Four addresses, 16 certificates, 16 rate counters: nothing else.
    let expected = 4 * EmbeddedStore::BYTES_PER_ADDRESS
        + 16 * EmbeddedStore::BYTES_PER_CERTIFICATE
        + 16 * EmbeddedStore::BYTES_PER_RATE_COUNTER;
    assert_eq!(store.max_bytes(), u64::try_from(expected).unwrap());
}

// ---------------------------------------------------------------------------
// modes and policy

#[test]
fn the_signal_codes_are_observed_by_default() {
    for code in [
        "tls_fingerprint_mismatch",
        "cert_cloning_suspected",
        "quarantined",
        "rate_limited",
    ] {
        assert!(Rejection::CODES.contains(&code));
        assert!(Rejection::OBSERVED_BY_DEFAULT.contains(&code));
        assert!(!Rejection::UNAUTHENTICATED_CODES.contains(&code));
        let gate = Gate::builder(base_policy())
            .mode(Mode::Enforce)
            .build()
            .unwrap();
        assert_eq!(gate.mode_for(code), Mode::Observe, "{code}");
        let gate = Gate::builder(base_policy())
            .mode_for(code, Mode::Enforce)
            .build()
            .unwrap();
        assert_eq!(gate.mode_for(code), Mode::Enforce, "{code}");
    }
    assert_eq!(
        Rejection::Quarantined {
            retry_after_seconds: 5
        }
        .http_status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn policy_text(extra_app: &str, extra: &str) -> String {
    format!(
        "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\n{extra_app}\n\n{extra}\n"
    )
}

fn load(text: &str) -> Result<Policy, certgate::PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root_pem()).unwrap();
    Policy::from_toml_str(text, dir.path())
}

#[test]
fn the_issue_policy_loads_and_modes_enforce_signals() {
    let text = policy_text(
        "per_install = true\ntls_fingerprints = { allow = [\"t13d1516h2_8daaf6152771_e5627efa2ab1\"], learn = true }",
        r#"
[forwarded]
format = "nginx"
trusted_proxies = ["127.0.0.1/32"]

[modes]
enforce = ["cert_cloning_suspected", "quarantined"]

[signals]
fingerprint_header = "cloudfront-viewer-ja4-fingerprint"

[signals.quarantine]
threshold = 100
window_seconds = 60
duration_seconds = 600
weights = { bad_signature = 20, unknown_issuer = 20, revoked = 20, expired = 2 }

[signals.cloning]
max_addresses = 3
window_seconds = 300
max_connections = 4
count_networks = false
quarantine_seconds = 3600

[signals.rate]
window_seconds = 10
per_certificate = 50
per_app = 5000

[signals.store]
kind = "embedded"
"#,
    );
    let policy = load(&text).unwrap();
    let signals = policy.signals().unwrap();
    assert_eq!(signals.quarantine_rule().unwrap().weight_of("expired"), 2);
    assert_eq!(signals.cloning_rule().unwrap().max_addresses, 3);
    assert!(signals.app_settings(SHOP).unwrap().per_install);
    let rate = signals.rate_rule().unwrap();
    assert_eq!(
        (rate.window_seconds, rate.per_certificate, rate.per_app),
        (10, Some(50), Some(5000))
    );
    assert_eq!(
        signals.fingerprint_header_name().map(|h| h.as_str()),
        Some("cloudfront-viewer-ja4-fingerprint")
    );
    let gate = Gate::new(policy);
    assert_eq!(gate.mode_for("cert_cloning_suspected"), Mode::Enforce);
    assert_eq!(gate.mode_for("quarantined"), Mode::Enforce);
    assert_eq!(gate.mode_for("tls_fingerprint_mismatch"), Mode::Observe);
    // No [signals] and no app signal fields: no signal settings at all.
    assert!(load(&policy_text("", "")).unwrap().signals().is_none());
}

#[test]
fn policy_errors_name_the_field() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "",
            "[signals.cloning]\nmax_addresses = 0",
            "signals.cloning.max_addresses",
            "1 to 15",
        ),
        (
            "",
            "[signals.cloning]\nmax_addresses = 16",
            "signals.cloning.max_addresses",
            "1 to 15",
        ),
        (
            "",
            "[signals.cloning]\nmax_connections = 0",
            "signals.cloning.max_connections",
            "at least 1",
        ),
        (
            "",
            "[signals.rate]\nwindow_seconds = 0\nper_app = 1",
            "signals.rate.window_seconds",
            "seconds",
        ),
        (
            "",
            "[signals.rate]\nwindow_seconds = 3601\nper_app = 1",
            "signals.rate.window_seconds",
            "seconds",
        ),
        (
            "",
            "[signals.rate]\nper_certificate = 0",
            "signals.rate.per_certificate",
            "1 to",
        ),
        (
            "",
            "[signals.rate]\nper_app = 1000000001",
            "signals.rate.per_app",
            "1 to",
        ),
        (
            "",
            "[signals.rate]\nwindow_seconds = 5",
            "signals.rate",
            "no ceiling",
        ),
        (
            "",
            "[signals.quarantine]\nthreshold = 0",
            "signals.quarantine.threshold",
            "at least 1",
        ),
        (
            "",
            "[signals.quarantine]\nwindow_seconds = 0",
            "signals.quarantine.window_seconds",
            "seconds",
        ),
        (
            "",
            "[signals.quarantine]\nweights = { bogus = 1 }",
            "signals.quarantine.weights.bogus",
            "unknown reason code",
        ),
        (
            "",
            "[signals.quarantine]\nweights = { quarantined = 1 }",
            "signals.quarantine.weights.quarantined",
            "weight must be 0",
        ),
        // With the feature: tests/redis_signals.rs.
        #[cfg(not(feature = "redis"))]
        (
            "",
            "[signals.store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"",
            "signals.store.kind",
            "needs feature `redis`",
        ),
        (
            "",
            "[signals.store]\nkind = \"embedded\"\nurl = \"redis://x\"",
            "signals.store.url",
            "only for kind",
        ),
        (
            "",
            "[signals]\nfingerprint_header = \"x-ja4\"",
            "signals.fingerprint_header",
            "[forwarded]",
        ),
        (
            "per_install = true",
            "",
            "apps[0].per_install",
            "[signals.cloning]",
        ),
        (
            "tls_fingerprints = { allow = [\"t13d…\"] }",
            "",
            "apps[0].tls_fingerprints.allow[0]",
            "not a JA4",
        ),
    ];
    for (app, extra, field, message) in cases {
        let err = load(&policy_text(app, extra)).unwrap_err();
        assert_eq!(err.field(), *field, "{err}");
        assert!(err.message().contains(message), "{err}");
    }
    // Unknown fields, named by serde.
    for (app, extra, name) in [
        ("", "[signals.cloning]\nmax_adresses = 3", "max_adresses"),
        ("", "[signals]\nbogus = 1", "bogus"),
        ("", "[signals.quarantine]\ntreshold = 1", "treshold"),
        (
            "",
            "[signals.store]\nkind = \"embedded\"\ncapacity = 1",
            "capacity",
        ),
        ("tls_fingerprints = { alow = [] }", "", "alow"),
        (
            "",
            "[signals.rate]\nper_app = 5\nper_minute = 3",
            "per_minute",
        ),
    ] {
        let err = load(&policy_text(app, extra)).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn no_address_no_score() {
    // Without an address (no transport info at all) nothing is scored or quarantined.
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    for _ in 0..20 {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(PeerChain::new(pki().leaf(Leaf::ForeignCa).chain()));
        assert_eq!(drive(&mut service, req).status(), StatusCode::FORBIDDEN);
    }
    assert!(rig.events.with_code("quarantined").is_empty());
}

// ---------------------------------------------------------------------------
// edge cases

#[test]
fn a_trusted_proxy_that_names_no_client_is_never_quarantined() {
    // No `client_address` source: every client behind the proxy has the proxy's address;
    // scoring it would quarantine everyone.
    let forwarded =
        ForwardedConfig::new(ForwardedFormat::Nginx).trust_proxy("127.0.0.1/32".parse().unwrap());
    let policy = base_policy()
        .with_forwarded(forwarded)
        .unwrap()
        .with_signals(shop_signals())
        .unwrap();
    let rig = Rig::with_policy(policy, &["quarantined"]);
    let mut service = rig.service();
    let forged: String = pki()
        .leaf(Leaf::ForeignCa)
        .chain_pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    for _ in 0..20 {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(PeerAddr("127.0.0.1:5000".parse().unwrap()));
        req.headers_mut()
            .insert("x-client-cert", forged.parse().unwrap());
        assert_eq!(drive(&mut service, req).status(), StatusCode::FORBIDDEN);
    }
    assert!(rig.events.with_code("quarantined").is_empty());
}

#[test]
fn a_reload_does_not_count_open_connections_twice() {
    let rig = Rig::new(shop_signals(), &["cert_cloning_suspected"]);
    let mut service = rig.service();
    let conns: Vec<_> = (0..4)
        .map(|i| {
            connect(
                Leaf::Genuine,
                &format!("10.0.0.1:{}", 6000 + i),
                Some(GENUINE_JA4),
            )
        })
        .collect();
    for round in 0..3 {
        for conn in &conns {
            assert_eq!(
                code_of(&drive(&mut service, on(conn))),
                "accept",
                "round {round}"
            );
        }
        rig.gate
            .reload(base_policy().with_signals(shop_signals()).unwrap());
    }
}

/// A signal on an accepted chain is counted under its own action: `refuse` when enforced,
/// `observe` when observed, never `accept` (and `Verdict::action` says the same).
#[cfg(feature = "metrics")]
#[test]
fn signal_refusals_are_counted_as_refusals() {
    for enforce in [true, false] {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let codes: &[&str] = if enforce {
            &["tls_fingerprint_mismatch"]
        } else {
            &[]
        };
        metrics::with_local_recorder(&recorder, || {
            let rig = Rig::new(shop_signals(), codes);
            let mut service = rig.service();
            let script = connect(Leaf::Genuine, "10.0.0.1:1001", Some(SCRIPT_JA4));
            for _ in 0..2 {
                drive(&mut service, on(&script));
            }
            // What the inner service sees when the signal is observed.
            let mut actions = CertGateLayer::new(rig.gate.clone()).layer(tower::service_fn(
                |req: Request<()>| async move {
                    let action = req.extensions().get::<Verdict>().map(Verdict::action);
                    Ok::<_, Infallible>(Response::new(format!("{action:?}")))
                },
            ));
            let response = drive(&mut actions, on(&script));
            if enforce {
                assert_eq!(response.status(), StatusCode::FORBIDDEN);
            } else {
                assert_eq!(response.body(), "Some(Observe)");
            }
        });
        let text = handle.render();
        let action = if enforce { "refuse" } else { "observe" };
        let counted: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("certgate_requests_total")
                    && l.contains("code=\"tls_fingerprint_mismatch\"")
            })
            .collect();
        assert_eq!(counted.len(), 1, "{text}");
        // Two requests above and one through `actions`, none of them counted as accepted.
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("certgate_requests_total")
                    && l.contains("code=\"accept\"")
                    && !l.ends_with(" 0")),
            "{text}"
        );
        assert!(
            counted[0].contains(&format!("action=\"{action}\"")) && counted[0].ends_with(" 3"),
            "{text}"
        );
    }
}

/// `certgate_tls_fingerprints_total{app,ja4}` and `certgate_quarantines_total{kind}`.
#[cfg(feature = "metrics")]
#[test]
fn fingerprints_and_quarantines_are_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let rig = Rig::new(shop_signals(), &["quarantined"]);
        let mut service = rig.service();
        let app = connect(Leaf::Genuine, "10.0.0.1:1000", Some(GENUINE_JA4));
        for _ in 0..3 {
            drive(&mut service, on(&app));
        }
        for _ in 0..6 {
            drive(
                &mut service,
                on(&connect(Leaf::ForeignCa, "10.0.0.2:1000", None)),
            );
        }
    });
    let text = handle.render();
    let line = format!("certgate_tls_fingerprints_total{{app=\"{SHOP}\",ja4=\"{GENUINE_JA4}\"}} 3");
    assert!(text.contains(&line), "{text}");
    assert!(
        text.contains("certgate_quarantines_total{kind=\"address\"} 1"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("certgate_requests_total")
                && l.contains("code=\"quarantined\"")
                && l.contains("action=\"refuse\"")
                && l.ends_with(" 1")),
        "{text}"
    );
}

#[test]
fn an_ipv6_source_is_its_slash_64() {
    let rig = Rig::new(shop_signals(), &["quarantined"]);
    let mut service = rig.service();
    // Five forged attempts from five addresses of one /64.
    for i in 1..=5 {
        let conn = connect(Leaf::ForeignCa, &format!("[2001:db8:1:2::{i}]:1000"), None);
        assert_eq!(
            drive(&mut service, on(&conn)).status(),
            StatusCode::FORBIDDEN
        );
    }
    let same = connect(Leaf::Genuine, "[2001:db8:1:2:ffff::9]:1000", None);
    assert_eq!(
        drive(&mut service, on(&same)).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = connect(Leaf::Genuine, "[2001:db8:1:3::1]:1000", None);
    assert_eq!(drive(&mut service, on(&other)).status(), StatusCode::OK);
}

/// A store whose denylist holds one leaf (as the Redis store's fleet denylist would).
struct DenyOne {
    local: EmbeddedStore,
    leaf: [u8; 32],
}

impl SignalStore for DenyOne {
    fn quarantined(&self, addr: std::net::IpAddr, now: u64) -> Option<u64> {
        self.local.quarantined(addr, now)
    }
    fn add_failure(
        &self,
        addr: std::net::IpAddr,
        weight: u32,
        now: u64,
        rule: &QuarantineConfig,
    ) -> certgate::signals::Score {
        self.local.add_failure(addr, weight, now, rule)
    }
    fn observe_leaf(
        &self,
        leaf: &[u8; 32],
        network: std::net::IpAddr,
        opened: bool,
        now: u64,
        rule: &CloningConfig,
    ) -> certgate::signals::LeafUse {
        self.local.observe_leaf(leaf, network, opened, now, rule)
    }
    fn connection_closed(&self, leaf: &[u8; 32]) {
        self.local.connection_closed(leaf);
    }
    fn leaf_flagged(&self, leaf: &[u8; 32], now: u64) -> Option<certgate::signals::LeafUse> {
        self.local.leaf_flagged(leaf, now)
    }
    fn stats(&self) -> certgate::signals::StoreStats {
        self.local.stats()
    }
    fn count_request(
        &self,
        key: certgate::signals::RateKey<'_>,
        now: u64,
        window: u64,
        limit: u32,
    ) -> Option<certgate::signals::RateOver> {
        self.local.count_request(key, now, window, limit)
    }
    fn denylisted(&self, leaf: &[u8; 32], _now: u64) -> bool {
        *leaf == self.leaf
    }
}

/// The `denylisted` event names the client and its TLS fingerprint on the connection's first
/// request (a memo miss) as on the later ones: an operator acting on it must see who it was.
#[test]
fn a_denylisted_event_names_the_peer_and_fingerprint_on_the_first_request() {
    let leaf = Gate::new(base_policy())
        .check(&PeerChain::new(pki().leaf(Leaf::Genuine).chain()), NOW)
        .identity()
        .unwrap()
        .fingerprint();
    let events = Arc::new(Events::default());
    let sink: Arc<dyn EventSink> = events.clone();
    let store: Arc<dyn SignalStore> = Arc::new(DenyOne {
        local: EmbeddedStore::new(64, 64),
        leaf,
    });
    let gate = Gate::builder(base_policy().with_signals(shop_signals()).unwrap())
        .event_sink(sink)
        .signal_store(store)
        .clock(|| NOW)
        .build()
        .unwrap();
    let mut service = CertGateLayer::new(gate).layer(tower::service_fn(echo));
    let conn = connect(Leaf::Genuine, "198.51.100.7:1000", Some(GENUINE_JA4));
    for request in ["first", "second"] {
        let response = drive(&mut service, on(&conn));
        assert_eq!(code_of(&response), "denylisted", "{request}");
    }
    let denied = events.with_code("denylisted");
    assert_eq!(denied.len(), 2);
    for event in denied {
        assert_eq!(event.peer_addr, Some("198.51.100.7:1000".parse().unwrap()));
        assert_eq!(event.tls_fingerprint.as_deref(), Some(GENUINE_JA4));
    }
}

/// A proxy that appends its JA4 header (Envoy's `request_headers_to_add` appends by default)
/// after one the client sent itself: the first value is the client's. Two values are no
/// fingerprint (the allowlist then refuses), never the client's claim.
#[test]
fn a_duplicated_fingerprint_header_is_no_fingerprint() {
    let forwarded = ForwardedConfig::new(ForwardedFormat::Nginx)
        .trust_proxy("127.0.0.1/32".parse().unwrap())
        .client_address(ClientAddressSource::XForwardedFor);
    let policy = base_policy()
        .with_forwarded(forwarded)
        .unwrap()
        .with_signals(
            shop_signals()
                .fingerprint_header("cloudfront-viewer-ja4-fingerprint")
                .unwrap(),
        )
        .unwrap();
    let rig = Rig::with_policy(policy, &["tls_fingerprint_mismatch"]);
    let mut service = rig.service();
    let pem: String = pki()
        .leaf(Leaf::Genuine)
        .chain_pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(PeerAddr("127.0.0.1:5000".parse().unwrap()));
    req.headers_mut()
        .insert("x-client-cert", pem.parse().unwrap());
    req.headers_mut()
        .insert("x-forwarded-for", "198.51.100.3".parse().unwrap());
    // The client's claim first, the proxy's measurement appended.
    req.headers_mut().append(
        "cloudfront-viewer-ja4-fingerprint",
        GENUINE_JA4.parse().unwrap(),
    );
    req.headers_mut().append(
        "cloudfront-viewer-ja4-fingerprint",
        SCRIPT_JA4.parse().unwrap(),
    );
    let response = drive(&mut service, req);
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(&response), "tls_fingerprint_mismatch");
}
