//! Per-request overhead on a warm connection: a request through `CertGateLayer` around a
//! trivial service against the bare service. Both build the same request (with the
//! connection's `TlsConnectInfo` extension, as `server::serve` inserts it) and drive the future
//! to completion. With `--features metrics` the group adds the same layer over a gate whose
//! per-request counter goes to a real Prometheus recorder (`certgate_layer_with_metrics`), so
//! the metrics' cost is read from one run.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::{Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use certgate::signals::{
    AppSignals, CloningConfig, QuarantineConfig, SignalsConfig, TlsFingerprint,
};
use certgate::{CertGateLayer, Gate, Mode, Policy, TlsConnectInfo};
use common::{Alg, Hierarchy, now};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
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

fn drive<S: Service<Request<()>, Response = Response<String>>>(
    service: &mut S,
    conn: &TlsConnectInfo,
) -> u16 {
    let mut req = Request::new(());
    req.extensions_mut().insert(conn.clone());
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(req));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status().as_u16(),
        _ => 0,
    }
}

/// The genuine client's JA4.
const JA4: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";

/// A gate with every signal on for the bench app, `enforce` codes enforced.
fn gate_with_signals(h: &Hierarchy, enforce: &[&str]) -> Gate {
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
    let policy = Policy::from_verifier(h.typical_verifier())
        .with_signals(signals)
        .unwrap();
    let mut builder = Gate::builder(policy)
        .event_sink(Arc::new(common::Quiet))
        .clock(|| {
            black_box(rustls_pki_types::UnixTime::now());
            now()
        });
    for code in enforce {
        builder = builder.mode_for(code, Mode::Enforce);
    }
    builder.build().unwrap()
}

fn per_request(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let chain = TlsConnectInfo::new(h.chain(), "127.0.0.1:50000".parse().unwrap());
    let gate = Gate::builder(Policy::from_verifier(h.typical_verifier()))
        .event_sink(Arc::new(common::Quiet))
        // The real clock's cost (one read per request), pinned to the fixture's instant.
        .clock(|| {
            black_box(rustls_pki_types::UnixTime::now());
            now()
        })
        .build()
        .unwrap();
    let mut bare = Bare;
    let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
    // Warm the connection's memo, as the first request of a connection does.
    assert_eq!(drive(&mut layered, &chain), 200);

    // With the `metrics` feature: the same layer whose gate counts every request into a real
    // (Prometheus) recorder, in the same group. The gate and its handles are made under a
    // local recorder, so the layer above (no recorder: no-op handles) stays the baseline.
    #[cfg(feature = "metrics")]
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    #[cfg(feature = "metrics")]
    let (metered_gate, metered_chain, mut metered) =
        metrics::with_local_recorder(&recorder, || {
            let gate = Gate::builder(Policy::from_verifier(h.typical_verifier()))
                .event_sink(Arc::new(common::Quiet))
                .clock(|| {
                    black_box(rustls_pki_types::UnixTime::now());
                    now()
                })
                .build()
                .unwrap();
            let chain = TlsConnectInfo::new(h.chain(), "127.0.0.1:50001".parse().unwrap());
            let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
            // The first request registers the connection's counter handle.
            assert_eq!(drive(&mut layered, &chain), 200);
            (gate, chain, layered)
        });
    // All signals on (embedded store): the app's JA4 allowlist and learning tally, per-install
    // cloning detection, failure scoring and the quarantine check.
    let (signals_gate, signals_conn, mut signals_layered) = {
        let gate = gate_with_signals(&h, &[]);
        let conn = TlsConnectInfo::new(h.chain(), "127.0.0.1:50002".parse().unwrap())
            .with_fingerprint(TlsFingerprint::from_ja4(JA4));
        let mut layered = CertGateLayer::new(gate.clone()).layer(Bare);
        assert_eq!(drive(&mut layered, &conn), 200);
        (gate, conn, layered)
    };
    // A quarantined source (5 forged chains from another hierarchy, unknown_issuer, 20 each).
    let (quarantine_gate, forged_conn, mut quarantine_layered) = {
        let gate = gate_with_signals(&h, &["quarantined"]);
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

    let mut group = c.benchmark_group("layer_warm_request");
    group.bench_function("baseline_bare_service", |b| {
        b.iter(|| drive(&mut bare, black_box(&chain)))
    });
    group.bench_function("certgate_layer", |b| {
        b.iter(|| drive(&mut layered, black_box(&chain)))
    });
    #[cfg(feature = "metrics")]
    group.bench_function("certgate_layer_with_metrics", |b| {
        b.iter(|| drive(&mut metered, black_box(&metered_chain)))
    });
    group.bench_function("certgate_layer_all_signals", |b| {
        b.iter(|| drive(&mut signals_layered, black_box(&signals_conn)))
    });
    group.bench_function("quarantine_refusal", |b| {
        b.iter(|| drive(&mut quarantine_layered, black_box(&forged_conn)))
    });
    group.finish();
    #[cfg(feature = "metrics")]
    {
        let text = recorder.handle().render();
        assert!(
            text.contains("certgate_requests_total"),
            "the metered layer counted nothing: {text}"
        );
        assert_eq!(metered_gate.cache_stats().misses, 1);
    }
    assert_eq!(signals_gate.cache_stats().misses, 1);
    let after = quarantine_gate.cache_stats();
    assert_eq!(
        after.hits + after.misses,
        before.hits + before.misses,
        "a quarantined source costs no certificate work"
    );
    let stats = gate.cache_stats();
    assert_eq!(
        stats.misses, 1,
        "every measured request must be served from the connection memo"
    );
}

criterion_group!(benches, per_request);
criterion_main!(benches);
