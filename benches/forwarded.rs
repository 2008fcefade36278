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

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use certgate::PeerChain;
use certgate::forwarded::{ForwardedConfig, ForwardedFormat};
use common::{Alg, Hierarchy};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

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

criterion_group!(benches, forwarded);
criterion_main!(benches);
