//! App Attest figures (feature `enroll`): verifying one attestation object (Apple's 2026
//! validation-guide example: CBOR parse, x5c chain with one P-256 and one P-384 signature,
//! key id, rpIdHash, aaguid, nonce) and one renewal assertion (a veehaitch iOS 14.4 sample:
//! one P-256 signature). Reads the vectors from `../shared/vectors/apple/` at run time.
//!
//! `cargo bench --features enroll --bench enroll_apple -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certgate::enroll::apple::{
    AppleSettings, Environment, IosRule, verify_assertion, verify_attestation,
    verify_attestation_raw,
};
use certgate::parse_rfc3339;
use criterion::{Criterion, criterion_group, criterion_main};

fn vector(name: &str) -> String {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    let path = dir.join("apple").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set CERTGATE_VECTORS)", path.display()))
}

/// The base64 `key: value` line of the veehaitch YAML document of type `document`, decoded.
fn field(text: &str, key: &str, document: &str) -> Vec<u8> {
    let doc = text
        .split("\n---")
        .find(|d| d.contains(&format!("type: {document}")))
        .unwrap();
    let line = doc
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap();
    STANDARD.decode(line.trim()).unwrap()
}

fn bench(c: &mut Criterion) {
    let settings = AppleSettings::new();

    let guide = STANDARD
        .decode(vector("apple-validation-guide-2026-attestation.b64").trim())
        .unwrap();
    let key_id = STANDARD
        .decode("zgSY9YSD+7TaDXssY6WlOPVS1K3Lmk+pFhlcSWE+ZV0=")
        .unwrap();
    let rule = IosRule::new("1234567890", "com.example.myapp", Environment::Production);
    let at = parse_rfc3339("2026-04-21T12:00:00Z").unwrap();
    let client_data_hash = b"example_server_challenge";
    verify_attestation_raw(&key_id, &guide, client_data_hash, &rule, &settings, at).unwrap();
    c.bench_function("enroll_apple/attestation_2026_example", |b| {
        b.iter(|| {
            verify_attestation_raw(
                black_box(&key_id),
                black_box(&guide),
                client_data_hash,
                &rule,
                &settings,
                at,
            )
            .unwrap()
        })
    });

    let text = vector("veehaitch-ios-14.4.yaml");
    let attestation = field(&text, "attestationBase64", "attestation");
    let key_id = field(&text, "keyIdBase64", "attestation");
    let cdh: [u8; 32] = field(&text, "clientDataHashSha256Base64", "attestation")
        .try_into()
        .unwrap();
    let rule = IosRule::new(
        "6MURL8TA57",
        "de.vincent-haupert.apple-appattest-poc",
        Environment::Development,
    );
    let at = parse_rfc3339("2021-01-23T12:13:33Z").unwrap();
    let key = verify_attestation(&key_id, &attestation, &cdh, &rule, &settings, at)
        .unwrap()
        .public_key;
    let assertion = field(&text, "assertionBase64", "assertion");
    let cdh: [u8; 32] = field(&text, "clientDataHashSha256Base64", "assertion")
        .try_into()
        .unwrap();
    assert_eq!(
        verify_assertion(&assertion, &cdh, &key, 0, &rule, &settings),
        Ok(1)
    );
    c.bench_function("enroll_apple/assertion_ios_14_4", |b| {
        b.iter(|| verify_assertion(black_box(&assertion), &cdh, &key, 0, &rule, &settings).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
