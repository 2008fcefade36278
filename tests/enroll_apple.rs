//! `certgate::enroll::apple` against real App Attest data: the seven veehaitch iOS 14 samples
//! (development) and Apple's 2026 validation-guide example (production), read from
//! `../shared/vectors/apple/` (or `$CERTGATE_VECTORS/apple/`). A missing vectors folder fails
//! these tests; it never skips them.
#![cfg(feature = "enroll")]
// Helpers outside #[test] fns unwrap too: they only see the vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certgate::enroll::EnrollRejection;
use certgate::enroll::apple::{
    AppleSettings, AttestationObject, Environment, IosRule, client_data_hash, verify_assertion,
    verify_attestation, verify_attestation_raw,
};
use certgate::parse_rfc3339;
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};

fn vectors() -> PathBuf {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    let apple = dir.join("apple");
    assert!(
        apple.join("Apple_App_Attestation_Root_CA.pem").is_file(),
        "App Attest vectors not found at {} (set CERTGATE_VECTORS to the vectors folder)",
        apple.display()
    );
    apple
}

/// The YAML documents of a veehaitch file: `key: value` lines, documents split by `---`, a
/// `key: |` block collecting the indented lines after it.
fn documents(name: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(vectors().join(name)).unwrap();
    let mut docs = Vec::new();
    for part in text.split("\n---") {
        let mut doc = HashMap::new();
        let mut block: Option<String> = None;
        for line in part.lines() {
            if let Some(indented) = line.strip_prefix("  ") {
                if let Some(key) = &block {
                    doc.entry(key.clone())
                        .or_insert_with(String::new)
                        .push_str(&format!("{}\n", indented.trim()));
                }
                continue;
            }
            block = None;
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().trim_matches('\'');
            if value == "|" {
                block = Some(key.to_owned());
            } else {
                doc.insert(key.to_owned(), value.to_owned());
            }
        }
        if !doc.is_empty() {
            docs.push(doc);
        }
    }
    docs
}

const SAMPLES: [&str; 7] = [
    "veehaitch-ios-14.2.yaml",
    "veehaitch-ios-14.3-beta-2.yaml",
    "veehaitch-ios-14.3-beta-3.yaml",
    "veehaitch-ios-14.3.yaml",
    "veehaitch-ios-14.4-beta-1.yaml",
    "veehaitch-ios-14.4-beta-2.yaml",
    "veehaitch-ios-14.4.yaml",
];

/// One veehaitch attestation with what it must verify against.
struct Sample {
    name: &'static str,
    attestation: Vec<u8>,
    key_id: Vec<u8>,
    client_data_hash: [u8; 32],
    rule: IosRule,
    at: UnixTime,
    /// The attested key as the file states it (SubjectPublicKeyInfo DER).
    spki: Vec<u8>,
    /// (assertion, clientDataHash, counter) of each assertion in the file.
    assertions: Vec<(Vec<u8>, [u8; 32], u32)>,
}

fn b64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

fn pem_body(pem: &str) -> Vec<u8> {
    b64(&pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>())
}

fn sample(name: &'static str) -> Sample {
    let docs = documents(name);
    let attestation = docs
        .iter()
        .find(|d| d.get("type").map(String::as_str) == Some("attestation"))
        .unwrap();
    let environment = match attestation["environment"].as_str() {
        "development" => Environment::Development,
        "production" => Environment::Production,
        other => panic!("{other}"),
    };
    let client_data = b64(&attestation["clientDataBase64"]);
    let recorded: [u8; 32] = b64(&attestation["clientDataHashSha256Base64"])
        .try_into()
        .unwrap();
    assert_eq!(<[u8; 32]>::from(Sha256::digest(&client_data)), recorded);
    let assertions = docs
        .iter()
        .filter(|d| d.get("type").map(String::as_str) == Some("assertion"))
        .map(|d| {
            (
                b64(&d["assertionBase64"]),
                b64(&d["clientDataHashSha256Base64"]).try_into().unwrap(),
                d["counter"].parse().unwrap(),
            )
        })
        .collect::<Vec<_>>();
    assert!(!assertions.is_empty(), "{name}");
    Sample {
        name,
        attestation: b64(&attestation["attestationBase64"]),
        key_id: b64(&attestation["keyIdBase64"]),
        client_data_hash: recorded,
        rule: IosRule::new(
            &attestation["teamIdentifier"],
            &attestation["bundleIdentifier"],
            environment,
        ),
        at: parse_rfc3339(&attestation["timestamp"]).unwrap(),
        spki: pem_body(&attestation["publicKey"]),
        assertions,
    }
}

/// Apple's 2026 validation-guide example, as its meta file describes it.
struct Guide {
    attestation: Vec<u8>,
    key_id: Vec<u8>,
    rule: IosRule,
    at: UnixTime,
}

const GUIDE_CLIENT_DATA_HASH: &[u8] = b"example_server_challenge";

fn guide() -> Guide {
    let text =
        std::fs::read_to_string(vectors().join("apple-validation-guide-2026-attestation.b64"))
            .unwrap();
    Guide {
        attestation: b64(text.trim()),
        key_id: b64("zgSY9YSD+7TaDXssY6WlOPVS1K3Lmk+pFhlcSWE+ZV0="),
        rule: IosRule::new("1234567890", "com.example.myapp", Environment::Production),
        // Inside the leaf's validity, 2026-04-20T18:13:12Z .. 2026-04-23T18:13:12Z.
        at: parse_rfc3339("2026-04-21T12:00:00Z").unwrap(),
    }
}

fn settings() -> AppleSettings {
    AppleSettings::new()
}

fn code(result: Result<impl std::fmt::Debug, EnrollRejection>) -> &'static str {
    result.unwrap_err().code()
}

fn secs(s: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(s))
}

#[test]
fn built_in_root_is_the_vectors_copy() {
    let pem = std::fs::read_to_string(vectors().join("Apple_App_Attestation_Root_CA.pem")).unwrap();
    assert_eq!(
        pem_body(&pem),
        pem_body(certgate::enroll::apple::APPLE_APP_ATTESTATION_ROOT_CA_PEM)
    );
    assert_eq!(settings().root().as_ref(), pem_body(&pem).as_slice());
    // Loading the same file as `[enroll] apple_root` would.
    let from_file = AppleSettings::new().with_root_pem(pem.as_bytes()).unwrap();
    assert_eq!(from_file.root(), settings().root());
}

#[test]
fn every_veehaitch_attestation_verifies_at_its_timestamp() {
    for name in SAMPLES {
        let s = sample(name);
        let verified = verify_attestation(
            &s.key_id,
            &s.attestation,
            &s.client_data_hash,
            &s.rule,
            &settings(),
            s.at,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(verified.key_id.as_slice(), s.key_id.as_slice(), "{name}");
        assert_eq!(verified.public_key_spki, s.spki, "{name}");
        assert_eq!(verified.public_key.len(), 65);
        assert_eq!(verified.environment, Environment::Development);
        assert_eq!(verified.counter, 0);
        assert_eq!(verified.team_id, "6MURL8TA57");
        assert_eq!(verified.bundle_id, "de.vincent-haupert.apple-appattest-poc");
        let object = AttestationObject::parse(&s.attestation).unwrap();
        assert_eq!(verified.receipt, object.receipt());
        assert!(!verified.receipt.is_empty());
        assert!(object.trailing().is_empty(), "{name}");
    }
}

#[test]
fn apple_2026_example_verifies_with_its_trailing_bytes() {
    let g = guide();
    let verified = verify_attestation_raw(
        &g.key_id,
        &g.attestation,
        GUIDE_CLIENT_DATA_HASH,
        &g.rule,
        &settings(),
        g.at,
    )
    .unwrap();
    assert_eq!(verified.environment, Environment::Production);
    assert_eq!(verified.key_id.as_slice(), g.key_id.as_slice());
    let object = AttestationObject::parse(&g.attestation).unwrap();
    assert_eq!(object.flags(), 0x40, "no extension-data flag");
    assert_eq!(object.trailing().len(), 62);
    assert!(
        object
            .trailing()
            .windows(23)
            .any(|w| w == b"apple_bundle_version_01")
    );
    // Both ends of the leaf's validity are inside; a second outside is not.
    for at in ["2026-04-20T18:13:12Z", "2026-04-23T18:13:12Z"] {
        let at = parse_rfc3339(at).unwrap();
        verify_attestation_raw(
            &g.key_id,
            &g.attestation,
            GUIDE_CLIENT_DATA_HASH,
            &g.rule,
            &settings(),
            at,
        )
        .unwrap();
    }
    // The enrollment entry takes a SHA-256: the guide's 24 raw bytes hashed are not them.
    let hashed: [u8; 32] = Sha256::digest(GUIDE_CLIENT_DATA_HASH).into();
    assert_eq!(
        code(verify_attestation(
            &g.key_id,
            &g.attestation,
            &hashed,
            &g.rule,
            &settings(),
            g.at
        )),
        "challenge_mismatch"
    );
}

#[test]
fn every_veehaitch_assertion_verifies_and_its_counter_must_increase() {
    for name in SAMPLES {
        let s = sample(name);
        let verified = verify_attestation(
            &s.key_id,
            &s.attestation,
            &s.client_data_hash,
            &s.rule,
            &settings(),
            s.at,
        )
        .unwrap();
        for (assertion, cdh, counter) in &s.assertions {
            let key = &verified.public_key;
            for previous in [0, counter - 1] {
                assert_eq!(
                    verify_assertion(assertion, cdh, key, previous, &s.rule, &settings()),
                    Ok(*counter),
                    "{name}"
                );
            }
            for previous in [*counter, counter + 1, u32::MAX] {
                let refused = verify_assertion(assertion, cdh, key, previous, &s.rule, &settings());
                assert_eq!(code(refused), "attestation_invalid", "{name}");
            }
            // Another request's clientDataHash.
            let mut other = *cdh;
            other[0] ^= 1;
            let refused = verify_assertion(assertion, &other, key, 0, &s.rule, &settings());
            assert_eq!(code(refused), "attestation_invalid", "{name}");
            // Another app.
            let rule = IosRule::new("AAAAAAAAAA", &s.rule.bundle_id, s.rule.environment);
            let refused = verify_assertion(assertion, cdh, key, 0, &rule, &settings());
            assert_eq!(code(refused), "app_not_attested", "{name}");
            // Another key: the next sample's.
            let stranger =
                sample(SAMPLES[(SAMPLES.iter().position(|n| *n == name).unwrap() + 1) % 7]);
            let stranger = verify_attestation(
                &stranger.key_id,
                &stranger.attestation,
                &stranger.client_data_hash,
                &stranger.rule,
                &settings(),
                stranger.at,
            )
            .unwrap();
            let refused = verify_assertion(
                assertion,
                cdh,
                &stranger.public_key,
                0,
                &s.rule,
                &settings(),
            );
            assert_eq!(code(refused), "attestation_invalid", "{name}");
            // Not a key.
            let refused = verify_assertion(assertion, cdh, &key[1..], 0, &s.rule, &settings());
            assert_eq!(code(refused), "attestation_invalid", "{name}");
        }
    }
}

#[test]
fn a_changed_byte_of_an_assertion_is_refused() {
    let s = sample("veehaitch-ios-14.4.yaml");
    let verified = verify_attestation(
        &s.key_id,
        &s.attestation,
        &s.client_data_hash,
        &s.rule,
        &settings(),
        s.at,
    )
    .unwrap();
    let (assertion, cdh, _) = &s.assertions[0];
    for i in 0..assertion.len() {
        for flip in [0x01, 0x80] {
            let mut mutant = assertion.clone();
            mutant[i] ^= flip;
            let result =
                verify_assertion(&mutant, cdh, &verified.public_key, 0, &s.rule, &settings());
            assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
        }
    }
    // Truncations and an appended byte.
    for len in 0..assertion.len() {
        let result = verify_assertion(
            &assertion[..len],
            cdh,
            &verified.public_key,
            0,
            &s.rule,
            &settings(),
        );
        assert_eq!(code(result), "attestation_invalid");
    }
    let mut longer = assertion.clone();
    longer.push(0);
    assert_eq!(
        code(verify_assertion(
            &longer,
            cdh,
            &verified.public_key,
            0,
            &s.rule,
            &settings()
        )),
        "attestation_invalid"
    );
}

/// Flips bytes of an attestation object and asserts every mutant is refused and none panics.
///
/// Every byte outside the two certificates and the receipt (the CBOR structure and the whole
/// authData) is flipped twice (bit 0, then bit 7); in the certificates every third byte, bit 0
/// (a full pass over them takes over a minute in a debug build). A changed receipt byte is
/// accepted and stored as it came: the receipt is stored with the install, not validated (its
/// PKCS#7 signature is Apple's, for Apple's fraud-metric service); every 101st is checked for
/// that. Returns how many refused mutants were checked.
fn every_changed_byte_is_refused(
    attestation: &[u8],
    key_id: &[u8],
    client_data_hash: &[u8],
    rule: &IosRule,
    at: UnixTime,
) -> usize {
    let object = AttestationObject::parse(attestation).unwrap();
    let range = |part: &[u8]| {
        let start = attestation
            .windows(part.len())
            .position(|w| w == part)
            .unwrap();
        start..start + part.len()
    };
    let receipt = range(object.receipt());
    let certificates = [range(object.leaf()), range(object.intermediate())];
    let mut checked = 0;
    for i in 0..attestation.len() {
        let flips: &[u8] = if receipt.contains(&i) {
            if (i - receipt.start) % 101 == 0 {
                &[0x01]
            } else {
                &[]
            }
        } else if certificates.iter().any(|c| c.contains(&i)) {
            if i % 3 == 0 { &[0x01] } else { &[] }
        } else {
            &[0x01, 0x80]
        };
        for flip in flips {
            let mut mutant = attestation.to_vec();
            mutant[i] ^= flip;
            let result =
                verify_attestation_raw(key_id, &mutant, client_data_hash, rule, &settings(), at);
            if receipt.contains(&i) {
                let stored = result.unwrap_or_else(|e| panic!("receipt byte {i}: {e}"));
                assert_eq!(stored.receipt.as_slice(), &mutant[receipt.clone()]);
            } else {
                assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn a_changed_byte_of_the_2026_example_is_refused() {
    let g = guide();
    let checked = every_changed_byte_is_refused(
        &g.attestation,
        &g.key_id,
        GUIDE_CLIENT_DATA_HASH,
        &g.rule,
        g.at,
    );
    // authData (299 bytes with the trailing map) twice, a third of the 1,550 certificate bytes.
    assert!(checked > 2 * 299 + 500, "{checked}");
    for i in 0..g.key_id.len() {
        let mut key_id = g.key_id.clone();
        key_id[i] ^= 1;
        let result = verify_attestation_raw(
            &key_id,
            &g.attestation,
            GUIDE_CLIENT_DATA_HASH,
            &g.rule,
            &settings(),
            g.at,
        );
        assert_eq!(code(result), "attestation_invalid");
    }
    for i in 0..GUIDE_CLIENT_DATA_HASH.len() {
        let mut cdh = GUIDE_CLIENT_DATA_HASH.to_vec();
        cdh[i] ^= 1;
        let result =
            verify_attestation_raw(&g.key_id, &g.attestation, &cdh, &g.rule, &settings(), g.at);
        assert_eq!(code(result), "challenge_mismatch");
    }
}

#[test]
fn a_changed_byte_of_a_veehaitch_attestation_is_refused() {
    let s = sample("veehaitch-ios-14.4.yaml");
    every_changed_byte_is_refused(
        &s.attestation,
        &s.key_id,
        &s.client_data_hash,
        &s.rule,
        s.at,
    );
    for i in 0..32 {
        let mut key_id = s.key_id.clone();
        key_id[i] ^= 0x80;
        let result = verify_attestation(
            &key_id,
            &s.attestation,
            &s.client_data_hash,
            &s.rule,
            &settings(),
            s.at,
        );
        assert_eq!(code(result), "attestation_invalid");
        let mut cdh = s.client_data_hash;
        cdh[i] ^= 0x80;
        let result =
            verify_attestation(&s.key_id, &s.attestation, &cdh, &s.rule, &settings(), s.at);
        assert_eq!(code(result), "challenge_mismatch");
    }
    // A key id of another length.
    let result = verify_attestation(
        &s.key_id[..31],
        &s.attestation,
        &s.client_data_hash,
        &s.rule,
        &settings(),
        s.at,
    );
    assert_eq!(code(result), "attestation_invalid");
}

#[test]
fn policy_mismatches_have_their_codes() {
    let s = sample("veehaitch-ios-14.3.yaml");
    let run = |rule: &IosRule, cdh: &[u8; 32], at: UnixTime, settings: &AppleSettings| {
        verify_attestation(&s.key_id, &s.attestation, cdh, rule, settings, at)
    };
    let (team, bundle, env) = (&s.rule.team_id, &s.rule.bundle_id, s.rule.environment);
    let other_team = IosRule::new("6MURL8TA58", bundle, env);
    let other_bundle = IosRule::new(team, format!("{bundle}x"), env);
    let production = IosRule::new(team, bundle, Environment::Production);
    let ok = settings();
    assert!(run(&s.rule, &s.client_data_hash, s.at, &ok).is_ok());
    assert_eq!(
        code(run(&other_team, &s.client_data_hash, s.at, &ok)),
        "app_not_attested"
    );
    assert_eq!(
        code(run(&other_bundle, &s.client_data_hash, s.at, &ok)),
        "app_not_attested"
    );
    assert_eq!(
        code(run(&production, &s.client_data_hash, s.at, &ok)),
        "attestation_invalid"
    );

    // Another challenge: clientData "wurzelpfropf" with one more byte.
    let client_data = b"wurzelpfropfx";
    let other: [u8; 32] = Sha256::digest(client_data).into();
    assert_eq!(code(run(&s.rule, &other, s.at, &ok)), "challenge_mismatch");

    // The development 2026 guide rule on a production object: wrong environment.
    let g = guide();
    let development = IosRule::new("1234567890", "com.example.myapp", Environment::Development);
    let result = verify_attestation_raw(
        &g.key_id,
        &g.attestation,
        GUIDE_CLIENT_DATA_HASH,
        &development,
        &ok,
        g.at,
    );
    assert_eq!(code(result), "attestation_invalid");
}

#[test]
fn time_outside_the_chain_validity_is_refused() {
    let g = guide();
    let run = |at: &str| {
        verify_attestation_raw(
            &g.key_id,
            &g.attestation,
            GUIDE_CLIENT_DATA_HASH,
            &g.rule,
            &settings(),
            parse_rfc3339(at).unwrap(),
        )
    };
    assert!(run("2026-04-22T00:00:00Z").is_ok());
    for at in [
        "2026-04-20T18:13:11Z",
        "2026-04-23T18:13:13Z",
        "2019-01-01T00:00:00Z",
        "2046-01-01T00:00:00Z",
    ] {
        assert_eq!(code(run(at)), "attestation_invalid", "{at}");
    }
    let s = sample("veehaitch-ios-14.2.yaml");
    let result = verify_attestation(
        &s.key_id,
        &s.attestation,
        &s.client_data_hash,
        &s.rule,
        &settings(),
        secs(s.at.as_secs() + 4 * 24 * 3600),
    );
    assert_eq!(code(result), "attestation_invalid");
}

#[test]
fn a_root_that_is_not_apples_is_refused() {
    // A genuine self-signed CA that is not Apple's: the root of a Google attestation chain.
    let pem = std::fs::read_to_string(vectors().join(
        "../android/google-android-key-attestation/algorithm_EC_SecurityLevel_TEE.chain.pem",
    ))
    .unwrap();
    let last = pem.rfind("-----BEGIN CERTIFICATE-----").unwrap();
    let other = AppleSettings::new()
        .with_root_pem(&pem.as_bytes()[last..])
        .unwrap();
    let g = guide();
    let result = verify_attestation_raw(
        &g.key_id,
        &g.attestation,
        GUIDE_CLIENT_DATA_HASH,
        &g.rule,
        &other,
        g.at,
    );
    assert_eq!(code(result), "attestation_invalid");
    // A certificate that is not a CA is not accepted as the root at all.
    let object = AttestationObject::parse(&g.attestation).unwrap();
    let leaf = rustls_pki_types::CertificateDer::from(object.leaf().to_vec());
    let err = AppleSettings::new().with_root_der(leaf).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
    // Without signature algorithms nothing verifies.
    let none = AppleSettings::new().signature_algorithms(&[]);
    let result = verify_attestation_raw(
        &g.key_id,
        &g.attestation,
        GUIDE_CLIENT_DATA_HASH,
        &g.rule,
        &none,
        g.at,
    );
    assert_eq!(code(result), "attestation_invalid");
}

#[test]
fn hostile_cbor_is_refused_cheaply() {
    let g = guide();
    // Every truncation of a real object.
    for len in 0..g.attestation.len() {
        assert!(
            AttestationObject::parse(&g.attestation[..len]).is_err(),
            "{len}"
        );
    }
    // Huge declared lengths: a byte string, an array, a map of 2^64 - 1 (and 2^32 - 1).
    for head in [
        &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0xba, 0xff, 0xff, 0xff, 0xff],
        &[0x7a, 0xff, 0xff, 0xff, 0xff],
    ] {
        let mut input = head.to_vec();
        input.extend_from_slice(&[0; 64]);
        assert_eq!(
            code(AttestationObject::parse(&input)),
            "attestation_invalid"
        );
    }
    // authData inside a well-formed object claiming a 65,535-byte credential id.
    let mut object = vec![0xa3, 0x63];
    object.extend_from_slice(b"fmt");
    object.push(0x6f);
    object.extend_from_slice(b"apple-appattest");
    object.push(0x67);
    object.extend_from_slice(b"attStmt");
    object.extend_from_slice(&[0xa2, 0x63]);
    object.extend_from_slice(b"x5c");
    object.extend_from_slice(&[0x82, 0x41, 0x00, 0x41, 0x00, 0x67]);
    object.extend_from_slice(b"receipt");
    object.push(0x40);
    object.push(0x68);
    object.extend_from_slice(b"authData");
    let mut auth_data = vec![0u8; 32];
    auth_data.push(0x40);
    auth_data.extend_from_slice(&[0; 4]);
    auth_data.extend_from_slice(b"appattestdevelop");
    auth_data.extend_from_slice(&[0xff, 0xff]);
    object.extend_from_slice(&[0x58, u8::try_from(auth_data.len()).unwrap()]);
    object.extend_from_slice(&auth_data);
    let err = AttestationObject::parse(&object).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // Deep nesting: 100,000 nested arrays.
    let deep = vec![0x81; 100_000];
    assert!(AttestationObject::parse(&deep).is_err());
    // Nine levels: one more than the reader accepts.
    let mut nested = vec![0x81; 9];
    nested.push(0x00);
    assert!(AttestationObject::parse(&nested).is_err());
    // More than 64 KiB.
    let mut big = g.attestation.clone();
    big.resize(64 * 1024 + 1, 0);
    assert!(AttestationObject::parse(&big).is_err());
    // Tags, floats, indefinite lengths.
    for input in [
        &[0xc2, 0x40][..],
        &[0xfb, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0xbf, 0xff],
    ] {
        assert!(AttestationObject::parse(input).is_err());
    }
    // Assertions too.
    let s = settings();
    let rule = g.rule.clone();
    for input in [
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0x81; 1000],
    ] {
        let result = verify_assertion(input, &[0; 32], &[4; 65], 0, &rule, &s);
        assert_eq!(code(result), "attestation_invalid");
    }
}

#[test]
fn enrollment_client_data_hash_is_challenge_then_csr() {
    let challenge = b"challenge";
    let csr = [0x30, 0x03, 0x02, 0x01, 0x00];
    let mut joined = challenge.to_vec();
    joined.extend_from_slice(&csr);
    assert_eq!(
        client_data_hash(challenge, &csr),
        <[u8; 32]>::from(Sha256::digest(&joined))
    );
}

/// Each authData field of a real object, changed alone, reaches its own refusal.
#[test]
fn each_auth_data_field_has_its_refusal() {
    let g = guide();
    let object = AttestationObject::parse(&g.attestation).unwrap();
    let auth_data = object.authenticator_data();
    let at = g
        .attestation
        .windows(auth_data.len())
        .position(|w| w == auth_data)
        .unwrap();
    let x = &object.credential_public_key()[1..33];
    let x_at = at + auth_data.windows(32).position(|w| w == x).unwrap();
    let cases: [(usize, &str, &str); 8] = [
        (at, "app_not_attested", "rpIdHash"),
        (at + 31, "app_not_attested", "rpIdHash"),
        (at + 36, "attestation_invalid", "counter"),
        (at + 37, "attestation_invalid", "aaguid"),
        (at + 52, "attestation_invalid", "aaguid"),
        (at + 55, "attestation_invalid", "credential id"),
        (x_at, "attestation_invalid", "COSE key"),
        // The trailing map Apple's example carries: covered by the nonce.
        (at + auth_data.len() - 1, "challenge_mismatch", "nonce"),
    ];
    for (i, expected, words) in cases {
        let mut mutant = g.attestation.clone();
        mutant[i] ^= 0x01;
        let err = verify_attestation_raw(
            &g.key_id,
            &mutant,
            GUIDE_CLIENT_DATA_HASH,
            &g.rule,
            &settings(),
            g.at,
        )
        .unwrap_err();
        assert_eq!(err.code(), expected, "byte {i}: {err}");
        assert!(err.to_string().contains(words), "byte {i}: {err}");
    }
    // The flags without AT (bit 6): no attested credential data.
    let mut mutant = g.attestation.clone();
    mutant[at + 32] ^= 0x40;
    let err = AttestationObject::parse(&mutant).unwrap_err();
    assert!(
        err.to_string().contains("attested credential data"),
        "{err}"
    );
}

/// An assertion whose authenticatorData is not 37 bytes is refused before its signature.
#[test]
fn an_assertion_with_longer_authenticator_data_is_refused() {
    let s = sample("veehaitch-ios-14.4.yaml");
    let (assertion, cdh, _) = &s.assertions[0];
    let find = |key: &[u8]| {
        let at = assertion.windows(key.len()).position(|w| w == key).unwrap() + key.len();
        assert_eq!(assertion[at], 0x58);
        let len = usize::from(assertion[at + 1]);
        assertion[at + 2..at + 2 + len].to_vec()
    };
    let signature = find(b"signature");
    let mut auth_data = find(b"authenticatorData");
    assert_eq!(auth_data.len(), 37);
    auth_data.push(0);
    let mut encoded = vec![0xa2, 0x69];
    encoded.extend_from_slice(b"signature");
    encoded.extend_from_slice(&[0x58, u8::try_from(signature.len()).unwrap()]);
    encoded.extend_from_slice(&signature);
    encoded.push(0x71);
    encoded.extend_from_slice(b"authenticatorData");
    encoded.extend_from_slice(&[0x58, 38]);
    encoded.extend_from_slice(&auth_data);
    let key = verify_attestation(
        &s.key_id,
        &s.attestation,
        &s.client_data_hash,
        &s.rule,
        &settings(),
        s.at,
    )
    .unwrap()
    .public_key;
    let err = verify_assertion(&encoded, cdh, &key, 0, &s.rule, &settings()).unwrap_err();
    assert!(err.to_string().contains("37 bytes"), "{err}");
    // The same encoder, with the real 37 bytes, gives back a valid assertion.
    auth_data.pop();
    let len = encoded.len();
    encoded.truncate(len - 40);
    encoded.extend_from_slice(&[0x58, 37]);
    encoded.extend_from_slice(&auth_data);
    assert_eq!(
        verify_assertion(&encoded, cdh, &key, 0, &s.rule, &settings()),
        Ok(1)
    );
}
