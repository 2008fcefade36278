//! Per-request overhead on a warm connection: a request through `CertGateLayer` around a
//! trivial service against the bare service, in the same criterion group. Every request is
//! built the same way for both (with the connection's `TlsConnectInfo` extension, as
//! `server::serve` inserts it, or a trusted proxy's headers) and its future driven to
//! completion.
//!
//! * `layer_warm_request` (issue 14 §2, first target): the layer with its defaults (the exact
//!   system clock, `PeerIdentity` and `Verdict` extensions), with a [`CoarseClock`], with the
//!   verdict as the only extension, with both; and a quarantined source's refusal.
//! * `layer_all_features` (issue 14 §2, second target): each feature alone on top of the layer
//!   (per-request metrics into a real Prometheus recorder, the bot signals on the embedded
//!   store, the audit log recording refusals only, a chain forwarded by a trusted proxy and
//!   served from the caches), then everything at once, against the bare service given the
//!   same request. Members need the `metrics` and `audit` features
//!   (`cargo bench --all-features --bench layer`); without them those members are left out.
//!
//! `CERTGATE_BENCH_PAIRED=ROUNDS` replaces criterion with paired rounds for both groups: each
//! round times a batch of requests of every member back to back (in a rotating order) and
//! the report gives, per member, the median over rounds of its difference to the group's
//! bare service in the same round, which a shared machine's minute-scale swings do not move.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::future::{Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use certgate::forwarded::{ClientAddressSource, ForwardedConfig, ForwardedFormat};
use certgate::signals::{
    AppSignals, CloningConfig, QuarantineConfig, RateConfig, SignalsConfig, TlsFingerprint,
};
use certgate::{
    CertGateLayer, CoarseClock, Gate, GateBuilder, Mode, PeerAddr, Policy, TlsConnectInfo,
};
use common::{Alg, Hierarchy};
use criterion::Criterion;
use http::{HeaderMap, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// The trivial service: an empty 200.
#[derive(Clone)]
struct Bare;

impl Service<Request<()>> for Bare {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Response<String>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        black_box(&req);
        ready(Ok(Response::new(String::new())))
    }
}

/// Drives `req` through `service` (the futures are ready at once) and returns the status.
fn drive_request<S: Service<Request<()>, Response = Response<String>>>(
    service: &mut S,
    req: Request<()>,
) -> u16 {
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(req));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status().as_u16(),
        _ => 0,
    }
}

/// A request on the TLS connection `conn`.
fn on(conn: &TlsConnectInfo) -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut().insert(conn.clone());
    req
}

fn drive<S: Service<Request<()>, Response = Response<String>>>(
    service: &mut S,
    conn: &TlsConnectInfo,
) -> u16 {
    drive_request(service, on(conn))
}

/// One member of a group: its name, and one request through it (the status).
type Member<'a> = (&'static str, Box<dyn FnMut() -> u16 + 'a>);

/// Runs `members` as one criterion group, or as paired rounds (`CERTGATE_BENCH_PAIRED`).
/// The first member is the group's bare service.
fn run_group(c: &mut Criterion, group: &str, mut members: Vec<Member<'_>>) {
    if let Some(rounds) = std::env::var("CERTGATE_BENCH_PAIRED")
        .ok()
        .and_then(|r| r.parse::<usize>().ok())
    {
        paired(group, &mut members, rounds);
        return;
    }
    let mut g = c.benchmark_group(group);
    for (name, f) in &mut members {
        g.bench_function(*name, |b| b.iter(&mut *f));
    }
    g.finish();
}

/// Paired rounds: each round runs a batch of every member (rotating which goes first) and
/// records ns per request; each member's added cost is the median over rounds of its
/// difference to the baseline it follows (a member named `baseline_*` starts a new one).
fn paired(group: &str, members: &mut [Member<'_>], rounds: usize) {
    const BATCH: u32 = 20_000;
    let n = members.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for (_, f) in members.iter_mut() {
        for _ in 0..BATCH {
            black_box(f());
        }
    }
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let f = &mut members[i].1;
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(f());
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH));
        }
    }
    let sorted = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let median = |v: &[f64]| {
        let v = sorted(v);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    };
    println!("{group}: {rounds} paired rounds of {BATCH} requests per member");
    let mut base = 0;
    for (i, ((name, _), own)) in members.iter().zip(&times).enumerate() {
        if name.starts_with("baseline") {
            base = i;
        }
        let added: Vec<f64> = own.iter().zip(&times[base]).map(|(t, b)| t - b).collect();
        let quartiles = sorted(&added);
        println!(
            "  {name:<44} {:>8.1} ns/request   vs {:<32} {:>+8.1} ns (median of round differences; quartiles {:+.1} .. {:+.1})",
            median(own),
            members[base].0,
            median(&added),
            quartiles[quartiles.len() / 4],
            quartiles[quartiles.len() * 3 / 4],
        );
    }
}

/// The genuine client's JA4.
const JA4: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";

/// The header a trusted proxy names the client's JA4 in.
const JA4_HEADER: &str = "cloudfront-viewer-ja4-fingerprint";

/// Every signal on for the bench app: the JA4 allowlist and learning tally, per-install
/// cloning detection, failure scoring and the quarantine.
fn signals(fingerprint_header: bool) -> SignalsConfig {
    let signals = SignalsConfig::new()
        .quarantine(QuarantineConfig::new(100, 60, 600).unwrap())
        .cloning(CloningConfig::new(3, 300, 4, 3600).unwrap())
        .app(
            common::APP,
            AppSignals::new()
                .per_install(true)
                .allow(JA4)
                .unwrap()
                .learn(true),
        )
        .unwrap();
    if fingerprint_header {
        signals.fingerprint_header(JA4_HEADER).unwrap()
    } else {
        signals
    }
}

/// A gate on `policy` at the system clock, events discarded, `enforce` codes enforced.
fn builder(policy: Policy, enforce: &[&str]) -> GateBuilder {
    let mut builder = Gate::builder(policy).event_sink(Arc::new(common::Quiet));
    for code in enforce {
        builder = builder.mode_for(code, Mode::Enforce);
    }
    builder
}

fn per_request(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let conn = TlsConnectInfo::new(h.chain(), "127.0.0.1:50000".parse().unwrap());
    let clock = CoarseClock::start().unwrap();
    let plain = || Policy::from_verifier(h.typical_verifier());
    let exact = builder(plain(), &[]).build().unwrap();
    let coarse = builder(plain(), &[])
        .coarse_clock(clock.clone())
        .build()
        .unwrap();
    let mut bare = Bare;
    let mut layered = CertGateLayer::new(exact.clone()).layer(Bare);
    let mut coarse_layered = CertGateLayer::new(coarse.clone()).layer(Bare);
    let mut verdict_only = CertGateLayer::new(exact.clone())
        .without_identity_extension()
        .layer(Bare);
    let mut coarse_verdict_only = CertGateLayer::new(coarse.clone())
        .without_identity_extension()
        .layer(Bare);
    // Warm the connection's memo, as the first request of a connection does (one per gate).
    assert_eq!(drive(&mut layered, &conn), 200);
    assert_eq!(drive(&mut coarse_layered, &conn), 200);

    // A quarantined source (5 forged chains from another hierarchy, unknown_issuer, 20 each).
    let (quarantine_gate, forged_conn, mut quarantine_layered) = {
        let policy = plain().with_signals(signals(false)).unwrap();
        let gate = builder(policy, &["quarantined"]).build().unwrap();
        let forger = Hierarchy::new(Alg::P256);
        let conn = TlsConnectInfo::new(forger.chain(), "127.0.0.9:50003".parse().unwrap());
        let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
        for _ in 0..5 {
            assert_eq!(drive(&mut layered, &conn), 403);
        }
        assert_eq!(drive(&mut layered, &conn), 429);
        (gate, conn, layered)
    };
    let before = quarantine_gate.cache_stats();

    run_group(
        c,
        "layer_warm_request",
        vec![
            (
                "baseline_bare_service",
                Box::new(|| drive(&mut bare, black_box(&conn))),
            ),
            (
                "certgate_layer",
                Box::new(|| drive(&mut layered, black_box(&conn))),
            ),
            (
                "certgate_layer_coarse_clock",
                Box::new(|| drive(&mut coarse_layered, black_box(&conn))),
            ),
            (
                "certgate_layer_verdict_only",
                Box::new(|| drive(&mut verdict_only, black_box(&conn))),
            ),
            (
                "certgate_layer_coarse_clock_verdict_only",
                Box::new(|| drive(&mut coarse_verdict_only, black_box(&conn))),
            ),
            (
                "quarantine_refusal",
                Box::new(|| drive(&mut quarantine_layered, black_box(&forged_conn))),
            ),
        ],
    );
    let after = quarantine_gate.cache_stats();
    assert_eq!(
        after.hits + after.misses,
        before.hits + before.misses,
        "a quarantined source costs no certificate work"
    );
    for gate in [&exact, &coarse] {
        assert_eq!(
            gate.cache_stats().misses,
            1,
            "every measured request must be served from the connection memo"
        );
    }
}

/// The trusted proxy's request for the bench leaf: its chain in the RFC 9440 headers, the
/// client's address in `x-forwarded-for` and its JA4 in [`JA4_HEADER`], from a proxy
/// address inside `10.0.0.0/8`.
fn proxy_headers(h: &Hierarchy) -> HeaderMap {
    let chain = h.chain();
    let certs = chain.certs();
    let mut map = HeaderMap::new();
    map.insert("host", HeaderValue::from_static("api.example.com"));
    map.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
    map.insert(
        "client-cert",
        HeaderValue::from_str(&format!(":{}:", B64.encode(certs[0].as_ref()))).unwrap(),
    );
    map.insert(
        "client-cert-chain",
        HeaderValue::from_str(&format!(":{}:", B64.encode(certs[1].as_ref()))).unwrap(),
    );
    map.insert(JA4_HEADER, HeaderValue::from_static(JA4));
    map
}

fn forwarded_config() -> ForwardedConfig {
    ForwardedConfig::new(ForwardedFormat::Rfc9440)
        .trust_proxy("10.0.0.0/8".parse().unwrap())
        .client_address(ClientAddressSource::XForwardedFor)
}

/// Each feature's share of a warm request, and all of them at once.
fn all_features(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let plain = || Policy::from_verifier(h.typical_verifier());
    let conn = TlsConnectInfo::new(h.chain(), "127.0.0.1:50000".parse().unwrap());
    let conn_ja4 = TlsConnectInfo::new(h.chain(), "127.0.0.1:50002".parse().unwrap())
        .with_fingerprint(TlsFingerprint::from_ja4(JA4));
    let headers = proxy_headers(&h);
    let proxied = || {
        let mut req = Request::new(());
        *req.headers_mut() = headers.clone();
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.2:41000".parse().unwrap()));
        req
    };
    let clock = CoarseClock::start().unwrap();
    let mut gates = Vec::new();

    let mut bare = Bare;
    let layer_gate = builder(plain(), &[]).build().unwrap();
    let mut layered = CertGateLayer::new(layer_gate.clone()).layer(Bare);
    assert_eq!(drive(&mut layered, &conn), 200);
    gates.push(layer_gate);

    // Per-request metrics: the gate and its handles are made under a real (Prometheus)
    // recorder, so every request increments `certgate_requests_total` through the handle its
    // connection memo holds; the other gates (no recorder) have no-op handles.
    #[cfg(feature = "metrics")]
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    #[cfg(feature = "metrics")]
    let mut metered = metrics::with_local_recorder(&recorder, || {
        let gate = builder(plain(), &[]).build().unwrap();
        let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
        assert_eq!(drive(&mut layered, &conn), 200);
        gates.push(gate);
        layered
    });

    // The bot signals on the embedded store, the JA4 from the TLS connection.
    let signals_gate = builder(plain().with_signals(signals(false)).unwrap(), &[])
        .build()
        .unwrap();
    let mut signalled = CertGateLayer::new(signals_gate.clone()).layer(Bare);
    assert_eq!(drive(&mut signalled, &conn_ja4), 200);
    gates.push(signals_gate);
    // The same, plus the request-rate ceilings (per certificate and per app: two counters
    // per request), set out of reach.
    let rate = RateConfig::new(1)
        .and_then(|r| r.per_certificate(1_000_000_000))
        .and_then(|r| r.per_app(1_000_000_000))
        .unwrap();
    let rated_gate = builder(
        plain().with_signals(signals(false).rate(rate)).unwrap(),
        &[],
    )
    .build()
    .unwrap();
    let mut rated = CertGateLayer::new(rated_gate.clone()).layer(Bare);
    assert_eq!(drive(&mut rated, &conn_ja4), 200);
    gates.push(rated_gate);

    // The audit log, recording refusals only (a warm accept records nothing).
    #[cfg(feature = "audit")]
    let audit_dir = tempfile::tempdir().unwrap();
    #[cfg(feature = "audit")]
    let audit_log = certgate::audit::AuditLog::open(
        audit_dir.path().join("verdicts.log"),
        certgate::audit::AuditConfig {
            record: certgate::audit::AuditFilter::Refusals,
            fsync: certgate::audit::Fsync::Never,
            ..certgate::audit::AuditConfig::default()
        },
    )
    .unwrap();
    #[cfg(feature = "audit")]
    let mut audited = {
        let gate = builder(plain(), &[]).audit_log(&audit_log).build().unwrap();
        let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
        assert_eq!(drive(&mut layered, &conn), 200);
        gates.push(gate);
        layered
    };

    // The chain forwarded by a trusted proxy: the parsed-header cache and the verdict cache.
    let forwarded_gate = builder(plain().with_forwarded(forwarded_config()).unwrap(), &[])
        .build()
        .unwrap();
    let mut forwarded = CertGateLayer::new(forwarded_gate.clone()).layer(Bare);
    assert_eq!(drive_request(&mut forwarded, proxied()), 200);
    gates.push(forwarded_gate);

    // Everything: forwarded chain, JA4 from the proxy's header, signals, metrics, audit.
    let everything = |coarse: bool| {
        let policy = plain()
            .with_forwarded(forwarded_config())
            .unwrap()
            .with_signals(signals(true))
            .unwrap();
        let mut builder = builder(policy, &[]);
        #[cfg(feature = "audit")]
        {
            builder = builder.audit_log(&audit_log);
        }
        if coarse {
            builder = builder.coarse_clock(clock.clone());
        }
        builder.build().unwrap()
    };
    #[cfg(feature = "metrics")]
    let (all_gate, all_fast_gate) =
        metrics::with_local_recorder(&recorder, || (everything(false), everything(true)));
    #[cfg(not(feature = "metrics"))]
    let (all_gate, all_fast_gate) = (everything(false), everything(true));
    let mut all = CertGateLayer::new(all_gate.clone()).layer(Bare);
    let mut all_fast = CertGateLayer::new(all_fast_gate.clone())
        .without_identity_extension()
        .layer(Bare);
    assert_eq!(drive_request(&mut all, proxied()), 200);
    assert_eq!(drive_request(&mut all_fast, proxied()), 200);
    gates.push(all_gate.clone());
    gates.push(all_fast_gate);

    let mut bare_proxied = Bare;
    let mut members: Vec<Member<'_>> = vec![
        (
            "baseline_bare_service",
            Box::new(|| drive(&mut bare, black_box(&conn))),
        ),
        ("layer", Box::new(|| drive(&mut layered, black_box(&conn)))),
    ];
    #[cfg(feature = "metrics")]
    members.push((
        "layer_metrics",
        Box::new(|| drive(&mut metered, black_box(&conn))),
    ));
    members.push((
        "layer_signals",
        Box::new(|| drive(&mut signalled, black_box(&conn_ja4))),
    ));
    members.push((
        "layer_signals_and_rate_ceilings",
        Box::new(|| drive(&mut rated, black_box(&conn_ja4))),
    ));
    #[cfg(feature = "audit")]
    members.push((
        "layer_audit_refusals",
        Box::new(|| drive(&mut audited, black_box(&conn))),
    ));
    members.push((
        "baseline_bare_service_proxied",
        Box::new(|| drive_request(&mut bare_proxied, black_box(proxied()))),
    ));
    members.push((
        "layer_forwarded",
        Box::new(|| drive_request(&mut forwarded, black_box(proxied()))),
    ));
    members.push((
        "all_features",
        Box::new(|| drive_request(&mut all, black_box(proxied()))),
    ));
    members.push((
        "all_features_coarse_clock_verdict_only",
        Box::new(|| drive_request(&mut all_fast, black_box(proxied()))),
    ));
    run_group(c, "layer_all_features", members);

    for gate in &gates {
        assert_eq!(
            gate.cache_stats().misses,
            1,
            "every measured request must be a warm one: {gate:?}"
        );
    }
    assert_eq!(all_gate.learned_fingerprints(common::APP)[0].0, JA4);
    #[cfg(feature = "metrics")]
    {
        let text = recorder.handle().render();
        assert!(
            text.contains("certgate_requests_total"),
            "the metered layer counted nothing: {text}"
        );
    }
    #[cfg(feature = "audit")]
    {
        audit_log.flush();
        assert_eq!(audit_log.stats().dropped, 0);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    per_request(&mut c);
    all_features(&mut c);
    c.final_summary();
}
