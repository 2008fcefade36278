//! Attested enrollment figures (feature `enroll`).
//!
//! Group `android`: one Android Key Attestation verification of a real 5-certificate chain
//! (Pixel "tegu", Android 16, TEE, under Google's 2026 ECDSA P-384 root) at an instant inside
//! its validity, with the KeyDescription checks and a status list lookup; next to it, the
//! KeyDescription parse alone and, as the baseline, rustls-webpki's `verify_for_usage` of the
//! same chain (path and signatures only); and the full verification of a 5-certificate chain
//! to the RSA root (Pixel "akita", Android 14). The chains is read from `../shared/vectors/` (never
//! copied into the repository): the bench fails when the folder is missing.
//!
//! `cargo bench --features enroll --bench enroll -- android`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use certgate::enroll::android::{
    AndroidRule, AndroidSettings, KeyDescription, SecurityLevel, StatusList, verify_android,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::FromDer;

fn android(c: &mut Criterion) {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/android");
    let path = vectors.join("android-keyattestation/tegu/sdk36/TEE_EC_2026_ROOT.pem");
    let pem = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("the Android vectors are missing ({}): {e}", path.display()));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chain.len(), 5);
    // 2026-03-01: inside every certificate's validity (the leaf's CA lives 2026-02-22..03-08).
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_772_323_200));
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(chain[0].as_ref()).unwrap();
    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.1.17")
        .unwrap()
        .value
        .to_vec();
    let kd = KeyDescription::parse(&ext).unwrap();
    let app = kd
        .software_enforced
        .attestation_application_id
        .clone()
        .unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut rule = AndroidRule::new(
        ["com.google.android.attestation"],
        [hex(&app.signature_digests[0])],
    );
    rule.min_security_level = SecurityLevel::TrustedEnvironment;
    rule.min_patch_level = Some(202_601);
    let challenge = kd.attestation_challenge.clone();
    let settings = AndroidSettings::google().unwrap();
    // A status list of 10,000 entries (none of them this chain's).
    let mut json = String::from("{\"entries\": {");
    for i in 0..10_000u32 {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "\"{:x}\": {{\"status\": \"REVOKED\"}}",
            0xf000_0000u32 + i
        ));
    }
    json.push_str("}}");
    let status = StatusList::from_json(json.as_bytes()).unwrap();
    verify_android(&chain, &challenge, &rule, &settings, Some(&status), now).unwrap();

    // Baseline: rustls-webpki over the same chain (the root certificate as the anchor).
    #[cfg(feature = "ring")]
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    #[cfg(not(feature = "ring"))]
    let algorithms = rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all;
    let anchors = [webpki::anchor_from_trusted_cert(&chain[4])
        .unwrap()
        .to_owned()];
    let intermediates = &chain[1..4];
    let webpki_verify = |leaf: &CertificateDer<'_>| {
        webpki::EndEntityCert::try_from(leaf).is_ok_and(|cert| {
            cert.verify_for_usage(
                algorithms,
                &anchors,
                intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .is_ok()
        })
    };
    assert!(webpki_verify(&chain[0]));

    let mut group = c.benchmark_group("android");
    group.bench_function("baseline_webpki_chain", |b| {
        b.iter(|| webpki_verify(black_box(&chain[0])))
    });
    group.bench_function("key_description_parse", |b| {
        b.iter(|| KeyDescription::parse(black_box(&ext)).is_ok())
    });
    group.bench_function("verify_android", |b| {
        b.iter(|| {
            verify_android(
                black_box(&chain),
                &challenge,
                &rule,
                &settings,
                Some(&status),
                now,
            )
            .is_ok()
        })
    });
    // The same on a chain to the RSA root (Pixel "akita", Android 14, TEE; 2024-09-20).
    let akita = vectors.join("android-keyattestation/akita/sdk34/TEE_EC_NONE.pem");
    let akita: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&std::fs::read(akita).unwrap())
            .collect::<Result<_, _>>()
            .unwrap();
    let akita_now = UnixTime::since_unix_epoch(Duration::from_secs(1_726_790_400));
    let mut akita_rule = AndroidRule::new(
        ["com.google.wireless.android.security.attestationverifier.collector"],
        [hex(&app.signature_digests[0])],
    );
    akita_rule.require_verified_boot = false; // a development device
    let akita_challenge = b"challenge";
    verify_android(
        &akita,
        akita_challenge,
        &akita_rule,
        &settings,
        Some(&status),
        akita_now,
    )
    .unwrap();
    group.bench_function("verify_android_rsa_root", |b| {
        b.iter(|| {
            verify_android(
                black_box(&akita),
                akita_challenge,
                &akita_rule,
                &settings,
                Some(&status),
                akita_now,
            )
            .is_ok()
        })
    });
    group.finish();
}

/// Group `enroll_issue`: one whole Android enrollment as the router does it after the request
/// is parsed (verify the tegu chain, check the attested key, issue a 7-day certificate for it
/// with the install id and attestation facts, record certificate and install in one SQLite
/// transaction), into a CA made by `certgate::issue` in a temporary directory.
fn enroll_issue(c: &mut Criterion) {
    use certgate::issue::{Ca, CaConfig, InstallRecord, IssueRequest, PublicKey, SubjectKey};
    use certgate::{AttestationFacts, Platform};

    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/android");
    let pem = std::fs::read(vectors.join("android-keyattestation/tegu/sdk36/TEE_EC_2026_ROOT.pem"))
        .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_772_323_200));
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(chain[0].as_ref()).unwrap();
    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.11129.2.1.17")
        .unwrap()
        .value
        .to_vec();
    let kd = KeyDescription::parse(&ext).unwrap();
    let app = kd
        .software_enforced
        .attestation_application_id
        .clone()
        .unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rule = AndroidRule::new(
        ["com.google.android.attestation"],
        [hex(&app.signature_digests[0])],
    );
    let challenge = kd.attestation_challenge.clone();
    let settings = AndroidSettings::google().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path().join("ca"), &CaConfig::new("Bench")).unwrap();
    let mut n = 0u64;
    let mut enroll_one = || {
        let attested = verify_android(&chain, &challenge, &rule, &settings, None, now).unwrap();
        let mut facts = AttestationFacts::new(Platform::Android);
        facts.security_level = Some(attested.security_level);
        facts.app_version = Some(attested.app_version);
        n += 1;
        let install_id = format!("00000000-0000-4000-8000-{n:012x}");
        let request = IssueRequest::new("com.example.shop")
            .unwrap()
            .install_id(&install_id)
            .unwrap()
            .key(SubjectKey::PublicKey(
                PublicKey::from_spki_der(&attested.public_key_spki).unwrap(),
            ))
            .attestation(facts.clone())
            .validity(Duration::from_secs(7 * 86_400));
        let install = InstallRecord::new(
            &install_id,
            "com.example.shop",
            attested.public_key_spki.clone(),
            facts,
        );
        ca.enroll(&request, &install).unwrap()
    };
    enroll_one();
    let mut group = c.benchmark_group("enroll_issue");
    group.sample_size(30);
    group.bench_function("android_verify_and_issue", |b| {
        b.iter(|| black_box(enroll_one()))
    });
    group.finish();
}

criterion_group!(benches, android, enroll_issue);
criterion_main!(benches);
