//! Forwarded certificates: parse + XFCC hash check + `PeerChain` digest of a 2-certificate
//! chain (P-256 leaf and intermediate) arriving in each format's default header, against
//! `PeerChain::new` of the same DER chain (what the TLS path pays for its digest) in the same
//! group.
//!
//! Every format carries both certificates here, leaf-only ones too (their parsers accept
//! several PEM blocks or concatenated DER), so the figures compare like with like.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::convert::Infallible;
use std::future::{Future as _, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use certgate::forwarded::{ForwardedConfig, ForwardedFormat};
use certgate::{CertGateLayer, Gate, PeerAddr, PeerChain, Policy, TlsConnectInfo};
use common::{Alg, Hierarchy};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use tower::service_fn;
use tower_layer::Layer as _;
use tower_service::Service;

fn pem(certs: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for c in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = B64.encode(c.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// Escapes like AWS's "all escaped" form (everything but unreserved characters).
fn url(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn headers(format: ForwardedFormat, certs: &[CertificateDer<'_>]) -> HeaderMap {
    let b64 = |c: &CertificateDer<'_>| B64.encode(c.as_ref());
    let hex: String = Sha256::digest(certs[0].as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let concatenated: Vec<u8> = certs.iter().flat_map(|c| c.as_ref().to_vec()).collect();
    let pairs: Vec<(&str, String)> = match format {
        ForwardedFormat::Xfcc => vec![(
            "x-forwarded-client-cert",
            format!(
                "By=spiffe://prod/edge;Hash={hex};Chain=\"{}\";Subject=\"CN=bench\";URI=app://com.example.bench",
                url(&pem(certs))
            ),
        )],
        ForwardedFormat::Rfc9440 => vec![
            ("client-cert", format!(":{}:", b64(&certs[0]))),
            ("client-cert-chain", format!(":{}:", b64(&certs[1]))),
        ],
        ForwardedFormat::AwsAlb => vec![("x-amzn-mtls-clientcert", url(&pem(certs)))],
        ForwardedFormat::Nginx => vec![("x-client-cert", url(&pem(certs)))],
        ForwardedFormat::Traefik => vec![(
            "x-forwarded-tls-client-cert",
            certs.iter().map(b64).collect::<Vec<_>>().join(","),
        )],
        ForwardedFormat::Cloudflare => {
            vec![("cf-client-cert-der-base64", B64.encode(&concatenated))]
        }
        ForwardedFormat::Haproxy => vec![("x-ssl-client-cert", B64.encode(&concatenated))],
        ForwardedFormat::Azure => vec![("x-arr-clientcert", B64.encode(&concatenated))],
        other => panic!("no encoder for {other}"),
    };
    let mut map = HeaderMap::new();
    // Other request headers a proxy sends, as in a real request.
    map.insert("host", HeaderValue::from_static("api.example.com"));
    map.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    map
}

fn forwarded(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let certs: Vec<CertificateDer<'static>> = h.chain().certs().to_vec();
    let mut group = c.benchmark_group("forwarded");
    group.bench_function("baseline_peer_chain_digest", |b| {
        b.iter(|| PeerChain::new(black_box(&certs).clone()).digest())
    });
    for format in ForwardedFormat::ALL {
        let config = ForwardedConfig::new(format).trust_proxy("10.0.0.0/8".parse().unwrap());
        let map = headers(format, &certs);
        let chain = config.extract(&map).unwrap().unwrap();
        assert_eq!(chain.certs(), certs.as_slice(), "{format}");
        group.bench_function(format.as_str(), |b| {
            b.iter(|| config.extract(black_box(&map)).unwrap().unwrap().digest())
        });
    }
    group.finish();
}

/// Drives one request through `service` and returns its status (the futures are ready at once).
fn drive<S: Service<Request<()>, Response = Response<String>>>(
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

/// The inner service: an empty 200.
fn ok(_: Request<()>) -> Ready<Result<Response<String>, Infallible>> {
    ready(Ok(Response::new(String::new())))
}

/// A warm request through `CertGateLayer` whose chain arrives in each format from a trusted
/// proxy (parse + digest + verdict-cache hit + header removal), against the same chain over
/// TLS (the connection's memo), in the same group.
fn warm_request(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let certs: Vec<CertificateDer<'static>> = h.chain().certs().to_vec();
    let mut group = c.benchmark_group("forwarded_warm_request");
    let quiet = Arc::new(common::Quiet);
    let gate_for = |config: Option<ForwardedConfig>| {
        let policy = Policy::from_verifier(h.typical_verifier());
        let policy = match config {
            Some(config) => policy.with_forwarded(config).unwrap(),
            None => policy,
        };
        Gate::builder(policy)
            .event_sink(quiet.clone())
            .clock(|| {
                black_box(rustls_pki_types::UnixTime::now());
                common::now()
            })
            .build()
            .unwrap()
    };
    // Baseline: the TLS path, same other headers.
    let tls_gate = gate_for(None);
    let mut tls = CertGateLayer::new(tls_gate.clone()).layer(service_fn(ok));
    let conn = TlsConnectInfo::new(h.chain(), "127.0.0.1:50000".parse().unwrap());
    let mut plain = HeaderMap::new();
    plain.insert("host", HeaderValue::from_static("api.example.com"));
    plain.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
    let tls_request = || {
        let mut req = Request::new(());
        *req.headers_mut() = plain.clone();
        req.extensions_mut().insert(conn.clone());
        req
    };
    assert_eq!(drive(&mut tls, tls_request()), 200);
    group.bench_function("baseline_tls_memo", |b| {
        b.iter(|| drive(&mut tls, black_box(tls_request())))
    });
    assert_eq!(tls_gate.cache_stats().misses, 1);
    for format in ForwardedFormat::ALL {
        let config = ForwardedConfig::new(format).trust_proxy("10.0.0.0/8".parse().unwrap());
        let gate = gate_for(Some(config));
        let mut layered = CertGateLayer::new(gate.clone()).layer(service_fn(ok));
        let map = headers(format, &certs);
        let request = || {
            let mut req = Request::new(());
            *req.headers_mut() = map.clone();
            req.extensions_mut()
                .insert(PeerAddr("10.0.0.2:41000".parse().unwrap()));
            req
        };
        assert_eq!(drive(&mut layered, request()), 200, "{format}");
        group.bench_function(format.as_str(), |b| {
            b.iter(|| drive(&mut layered, black_box(request())))
        });
        // Parsed and judged by digest every time, verified once.
        let stats = gate.cache_stats();
        assert_eq!(stats.misses, 1, "{format}: {stats:?}");
    }
    group.finish();
}

criterion_group!(benches, forwarded, warm_request);
criterion_main!(benches);
