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

/// One whole iOS enrollment as the router does it after the request is parsed: the CSR parsed
/// and its signature checked, the attestation verified (Apple's 2026 example), a 7-day
/// certificate issued for the CSR's key and the install recorded (App Attest key, counter,
/// receipt) in one SQLite transaction, into a CA in a temporary directory.
fn verify_and_issue(c: &mut Criterion) {
    use certgate::issue::{Ca, CaConfig, Csr, InstallRecord, IssueRequest, PublicKey, SubjectKey};
    use certgate::{AttestationFacts, Platform};

    let settings = AppleSettings::new();
    let guide = STANDARD
        .decode(vector("apple-validation-guide-2026-attestation.b64").trim())
        .unwrap();
    let key_id = STANDARD
        .decode("zgSY9YSD+7TaDXssY6WlOPVS1K3Lmk+pFhlcSWE+ZV0=")
        .unwrap();
    let rule = IosRule::new("1234567890", "com.example.myapp", Environment::Production);
    let at = parse_rfc3339("2026-04-21T12:00:00Z").unwrap();
    let tls_key = rcgen::KeyPair::generate().unwrap();
    let csr_der = rcgen::CertificateParams::default()
        .serialize_request(&tls_key)
        .unwrap()
        .der()
        .to_vec();
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path().join("ca"), &CaConfig::new("Bench")).unwrap();
    let mut n = 0u64;
    let mut enroll_one = || {
        let csr = Csr::parse(&csr_der).unwrap();
        let attested = verify_attestation_raw(
            &key_id,
            &guide,
            b"example_server_challenge",
            &rule,
            &settings,
            at,
        )
        .unwrap();
        let mut facts = AttestationFacts::new(Platform::Ios);
        facts.environment = Some(attested.environment.as_str().to_owned());
        n += 1;
        let install_id = format!("00000000-0000-4000-8000-{n:012x}");
        let request = IssueRequest::new("com.example.shop")
            .unwrap()
            .install_id(&install_id)
            .unwrap()
            .key(SubjectKey::PublicKey(
                PublicKey::from_spki_der(csr.spki_der()).unwrap(),
            ))
            .attestation(facts.clone())
            .validity(std::time::Duration::from_secs(7 * 86_400));
        let mut install = InstallRecord::new(
            &install_id,
            "com.example.shop",
            csr.spki_der().to_vec(),
            facts,
        );
        install.key_id = Some(attested.key_id.to_vec());
        install.attest_key = Some(attested.public_key.clone());
        install.counter = Some(0);
        install.receipt = Some(attested.receipt.clone());
        ca.enroll(&request, &install).unwrap()
    };
    enroll_one();
    let mut group = c.benchmark_group("enroll_issue");
    group.sample_size(30);
    group.bench_function("ios_verify_and_issue", |b| {
        b.iter(|| black_box(enroll_one()))
    });
    group.finish();
}

criterion_group!(benches, bench, verify_and_issue);
criterion_main!(benches);
