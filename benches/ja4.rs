//! JA4 + JA3 of a real ClientHello (a Chrome one from FoxIO's `latest.pcapng`, in
//! `../shared/vectors/ja4/`): parse, JA4, JA3 and `TlsFingerprint::from_client_hello`, against
//! a SHA-256 of the same bytes in the same group (JA4 hashes twice, JA3 once with MD5).
//! Target: parse + JA4 + JA3 ≤ 5 µs per handshake.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::path::PathBuf;

use certgate::signals::TlsFingerprint;
use certgate::signals::ja4::{self, ClientHello};
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

/// The 4th vector (Chrome, TLS 1.3, h2, 16 extensions) as a handshake message.
fn chrome_hello() -> Vec<u8> {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    let file = dir.join("ja4/foxio-pcap-clienthellos.jsonl");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (set CERTGATE_VECTORS)", file.display()));
    let line = text.lines().nth(3).expect("8 vectors");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let hex = v["client_hello_handshake_hex"].as_str().unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn ja4_bench(c: &mut Criterion) {
    let hello = chrome_hello();
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hello.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&hello);
    let parsed = ClientHello::parse(&hello).unwrap();
    assert_eq!(ja4::ja4(&parsed), "t13d1516h2_8daaf6152771_e5627efa2ab1");

    let mut group = c.benchmark_group("ja4");
    group.bench_function("baseline_sha256_of_hello", |b| {
        b.iter(|| Sha256::digest(black_box(&hello)))
    });
    group.bench_function("parse", |b| {
        b.iter(|| ClientHello::parse(black_box(&hello)).unwrap())
    });
    group.bench_function("ja4", |b| b.iter(|| ja4::ja4(black_box(&parsed))));
    group.bench_function("ja3", |b| b.iter(|| ja4::ja3(black_box(&parsed))));
    // What the server pays per handshake: the record in, both fingerprints out.
    group.bench_function("records_parse_ja4_ja3", |b| {
        b.iter(|| {
            let hello = ja4::parse_records(black_box(&record)).unwrap();
            TlsFingerprint::from_client_hello(&hello)
        })
    });
    group.finish();
}

criterion_group!(benches, ja4_bench);
criterion_main!(benches);
