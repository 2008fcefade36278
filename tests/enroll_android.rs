//! Android Key Attestation (`certgate::enroll::android`): every real chain of the shared vectors
//! parsed against its reference JSON and verified (or refused for the reason its analysis
//! gives), the status list, and one test per refusal with a synthetic attestation PKI whose
//! test-only root is injected through the settings.
//!
//! The vectors are read from `../shared/vectors/android` (relative to the crate root) and are
//! never copied into the repository; the tests fail loudly when the folder is missing.
#![cfg(feature = "enroll")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use certgate::enroll::EnrollRejection;
use certgate::enroll::android::{
    AndroidRule, AndroidSettings, AttestationStatus, AuthorizationList, KeyDescription,
    SecurityLevel, StatusList, VerifiedBootState, verify_android,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use sha2::Digest;
use x509_parser::prelude::FromDer;

mod common;
use common::android_attest::*;
use common::hex;

// ------------------------------------------------------------------------------------------
// Vectors
// ------------------------------------------------------------------------------------------

fn vectors() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/android");
    assert!(
        dir.join("android-keyattestation").is_dir(),
        "the Android vectors are missing: expected them at {} (shared/vectors next to the repo)",
        dir.display()
    );
    dir
}

fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    #[cfg(feature = "ring")]
    let provider = rustls::crypto::ring::default_provider();
    #[cfg(not(feature = "ring"))]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.signature_verification_algorithms.all
}

fn google() -> AndroidSettings {
    AndroidSettings::google().unwrap()
}

fn load_chain(rel: &str) -> Vec<CertificateDer<'static>> {
    let bytes = std::fs::read(vectors().join(rel)).unwrap();
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The reference JSON next to a chain (its `//` comment lines removed), if there is one.
fn reference(rel: &str) -> Option<serde_json::Value> {
    let path = vectors().join(rel).with_extension("json");
    let text = std::fs::read_to_string(path).ok()?;
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(serde_json::from_str(&text).unwrap())
}

const KD_OID: &str = "1.3.6.1.4.1.11129.2.1.17";

fn key_description_bytes(leaf: &CertificateDer<'_>) -> Vec<u8> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref()).unwrap();
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == KD_OID)
        .expect("a KeyDescription extension")
        .value
        .to_vec()
}

/// An instant inside every certificate's validity: the middle of their intersection.
fn inside(chain: &[CertificateDer<'_>]) -> UnixTime {
    let (from, to) = window(chain);
    assert!(from <= to, "the chain has no common validity window");
    UnixTime::since_unix_epoch(Duration::from_secs(((from + to) / 2) as u64))
}

fn window(chain: &[CertificateDer<'_>]) -> (i64, i64) {
    let mut from = i64::MIN;
    let mut to = i64::MAX;
    for c in chain {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(c.as_ref()).unwrap();
        from = from.max(cert.validity().not_before.timestamp());
        to = to.min(cert.validity().not_after.timestamp());
    }
    (from, to)
}

fn level(name: &str) -> SecurityLevel {
    match name {
        "SOFTWARE" => SecurityLevel::Software,
        "TRUSTED_ENVIRONMENT" => SecurityLevel::TrustedEnvironment,
        "STRONG_BOX" => SecurityLevel::StrongBox,
        other => panic!("level {other}"),
    }
}

fn num(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        serde_json::Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

fn opt_num(j: &serde_json::Value, key: &str) -> Option<u64> {
    j.get(key).map(num)
}

fn nums(j: &serde_json::Value, key: &str) -> Vec<u64> {
    let mut v: Vec<u64> = j
        .get(key)
        .map(|a| a.as_array().unwrap().iter().map(num).collect())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn flag(j: &serde_json::Value, key: &str) -> bool {
    j.get(key).is_some_and(|v| v.as_bool().unwrap())
}

fn compare_list(name: &str, which: &str, list: &AuthorizationList, j: &serde_json::Value) {
    let ctx = format!("{name} {which}");
    let mut purposes = list.purposes.clone();
    purposes.sort_unstable();
    assert_eq!(purposes, nums(j, "purposes"), "{ctx} purposes");
    assert_eq!(list.algorithm, opt_num(j, "algorithms"), "{ctx} algorithm");
    assert_eq!(list.key_size, opt_num(j, "keySize"), "{ctx} keySize");
    let mut digests = list.digests.clone();
    digests.sort_unstable();
    assert_eq!(digests, nums(j, "digests"), "{ctx} digests");
    assert_eq!(list.ec_curve, opt_num(j, "ecCurve"), "{ctx} ecCurve");
    assert_eq!(
        list.rsa_public_exponent,
        opt_num(j, "rsaPublicExponent"),
        "{ctx} rsaPublicExponent"
    );
    assert_eq!(
        list.no_auth_required,
        flag(j, "noAuthRequired"),
        "{ctx} noAuthRequired"
    );
    assert_eq!(
        list.allow_while_on_body,
        flag(j, "allowWhileOnBody"),
        "{ctx}"
    );
    assert_eq!(
        list.rollback_resistant,
        flag(j, "rollbackResistant"),
        "{ctx}"
    );
    assert_eq!(
        list.creation_date_time,
        opt_num(j, "creationDateTime"),
        "{ctx} creationDateTime"
    );
    let origin = j.get("origin").map(|o| match o.as_str().unwrap() {
        "GENERATED" => 0,
        "DERIVED" => 1,
        "IMPORTED" => 2,
        "UNKNOWN" => 3,
        "SECURELY_IMPORTED" => 4,
        other => panic!("origin {other}"),
    });
    assert_eq!(list.origin, origin, "{ctx} origin");
    assert_eq!(list.os_version, opt_num(j, "osVersion"), "{ctx} osVersion");
    assert_eq!(
        list.os_patch_level,
        opt_num(j, "osPatchLevel"),
        "{ctx} osPatchLevel"
    );
    assert_eq!(
        list.vendor_patch_level,
        opt_num(j, "vendorPatchLevel"),
        "{ctx} vendorPatchLevel"
    );
    assert_eq!(
        list.boot_patch_level,
        opt_num(j, "bootPatchLevel"),
        "{ctx} bootPatchLevel"
    );
    assert_eq!(
        list.module_hash,
        j.get("moduleHash").map(b64),
        "{ctx} moduleHash"
    );
    assert_eq!(
        list.tags_ordered,
        j.get("areTagsOrdered").is_none_or(|v| v.as_bool().unwrap()),
        "{ctx} areTagsOrdered"
    );
    match (&list.root_of_trust, j.get("rootOfTrust")) {
        (None, None) => {}
        (Some(rot), Some(jr)) => {
            assert_eq!(rot.verified_boot_key, b64(&jr["verifiedBootKey"]), "{ctx}");
            assert_eq!(
                rot.device_locked,
                jr["deviceLocked"].as_bool().unwrap(),
                "{ctx}"
            );
            let state = match jr["verifiedBootState"].as_str().unwrap() {
                "VERIFIED" => VerifiedBootState::Verified,
                "SELF_SIGNED" => VerifiedBootState::SelfSigned,
                "UNVERIFIED" => VerifiedBootState::Unverified,
                "FAILED" => VerifiedBootState::Failed,
                other => panic!("state {other}"),
            };
            assert_eq!(rot.verified_boot_state, state, "{ctx}");
            assert_eq!(
                rot.verified_boot_hash,
                jr.get("verifiedBootHash").map(b64),
                "{ctx} verifiedBootHash"
            );
        }
        (a, b) => panic!("{ctx}: rootOfTrust {a:?} vs {b:?}"),
    }
    match (
        &list.attestation_application_id,
        j.get("attestationApplicationId"),
    ) {
        (None, None) => {}
        (Some(app), Some(ja)) => {
            let packages: Vec<(String, u64)> = ja["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["name"].as_str().unwrap().to_owned(), num(&p["version"])))
                .collect();
            let parsed: Vec<(String, u64)> = app
                .packages
                .iter()
                .map(|p| (String::from_utf8(p.name.clone()).unwrap(), p.version))
                .collect();
            assert_eq!(parsed, packages, "{ctx} packages");
            let sigs: Vec<Vec<u8>> = ja["signatures"]
                .as_array()
                .unwrap()
                .iter()
                .map(b64)
                .collect();
            assert_eq!(app.signature_digests, sigs, "{ctx} signatures");
        }
        (a, b) => panic!("{ctx}: attestationApplicationId {a:?} vs {b:?}"),
    }
}

fn compare(name: &str, kd: &KeyDescription, j: &serde_json::Value) {
    assert_eq!(
        kd.attestation_version,
        num(&j["attestationVersion"]),
        "{name}"
    );
    assert_eq!(kd.keymint_version, num(&j["keyMintVersion"]), "{name}");
    assert_eq!(
        kd.attestation_security_level,
        level(j["attestationSecurityLevel"].as_str().unwrap()),
        "{name}"
    );
    assert_eq!(
        kd.keymint_security_level,
        level(j["keyMintSecurityLevel"].as_str().unwrap()),
        "{name}"
    );
    assert_eq!(
        kd.attestation_challenge,
        b64(&j["attestationChallenge"]),
        "{name}"
    );
    assert_eq!(kd.unique_id, b64(&j["uniqueId"]), "{name}");
    compare_list(
        name,
        "softwareEnforced",
        &kd.software_enforced,
        &j["softwareEnforced"],
    );
    compare_list(
        name,
        "hardwareEnforced",
        &kd.hardware_enforced,
        &j["hardwareEnforced"],
    );
}

/// What the verifier must make of each real chain, at an instant inside its validity, with a
/// rule built from its own reference data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Accepted under the strict defaults (Google's roots).
    Ok,
    /// Refused with this code under the strict defaults and with every switch.
    Refused(&'static str),
    /// An OEM intermediate with cA=FALSE: `attestation_invalid` by default, accepted with
    /// `allow_non_ca_issuers`.
    NonCaIssuer,
    /// Not under Google's roots (`attestation_invalid`); accepted when the chain's own root is
    /// configured (and, with `null_params`, ECDSA with NULL parameters tolerated).
    OtherRoot { null_params: bool },
    /// Not under Google's roots, and refused with its own root configured too (keys too
    /// weak for the provider's algorithms).
    OtherRootWeakKey,
}

const CASES: &[(&str, Expect)] = &[
    (
        "android-keyattestation/akita/sdk34/SB_RSA_NONE.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/akita/sdk34/TEE_EC_NONE.pem",
        Expect::Ok,
    ),
    // The key belongs to "AndroidSystem", attested without any signing certificate digest.
    (
        "android-keyattestation/akita/sdk34/TEE_RSA_BASE+IMEI.pem",
        Expect::Refused("app_not_attested"),
    ),
    (
        "android-keyattestation/akita/sdk34/TEE_RSA_NONE.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/akita/sdk34/TEE_RSA_NONE_USERAUTH.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/blueline/sdk28/SB_RSA_NONE.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/blueline/sdk28/SB_RSA_NONE_USERAUTH.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/blueline/sdk28/TEE_EC_NONE.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/blueline/sdk28/TEE_RSA_BASE+IMEI.pem",
        Expect::Refused("app_not_attested"),
    ),
    (
        "android-keyattestation/blueline/sdk28/TEE_RSA_NONE.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/caiman/sdk36/SB_EC_RKP.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/caiman/sdk36/TEE_EC_RKP.pem",
        Expect::Ok,
    ),
    // AOSP's software attestation root, not Google's hardware roots.
    (
        "android-keyattestation/marlin/sdk29/TEE_EC_NONE.pem",
        Expect::OtherRoot { null_params: false },
    ),
    // The same, with 1024-bit RSA keys: the provider's algorithms (2048 bits at least) refuse
    // the signatures even when that root is configured.
    (
        "android-keyattestation/marlin/sdk29/TEE_RSA_NONE.pem",
        Expect::OtherRootWeakKey,
    ),
    (
        "android-keyattestation/sony-xperia10-iii/sdk33/TEE_EC.pem",
        Expect::NonCaIssuer,
    ),
    (
        "android-keyattestation/tegu/sdk36/SB_EC_2026_ROOT.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/tegu/sdk36/TEE_EC_2026_ROOT.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/tegu/sdk37/TEE_MAX_USAGE_COUNT.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/tegu/sdk37/TEE_TRUSTED_CONF.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/tokay/sdk37/TEE_MLDSA_FACTORY.pem",
        Expect::Ok,
    ),
    (
        "android-keyattestation/tokay/sdk37/TEE_MLDSA_RKP.pem",
        Expect::Ok,
    ),
    // A lone leaf (no chain), kept by the reference library for its KeyDescription.
    (
        "android-keyattestation/allow_while_on_body.pem",
        Expect::Refused("attestation_invalid"),
    ),
    // A test PKI whose leaf carries a 6-byte stand-in for the extension.
    (
        "android-keyattestation/p256_sha384_intermediate.pem",
        Expect::Refused("attestation_invalid"),
    ),
    // deviceLocked encoded as 0x01 (not DER): refused at parse.
    (
        "android-keyattestation/invalid/malformed_rot_device_locked.pem",
        Expect::Refused("attestation_invalid"),
    ),
    // The leaf was edited after signing (tags reordered): bad signature.
    (
        "android-keyattestation/invalid/tags_not_in_ascending_order.pem",
        Expect::Refused("attestation_invalid"),
    ),
    (
        "google-android-key-attestation/algorithm_EC_SecurityLevel_TEE.chain.pem",
        Expect::Ok,
    ),
    (
        "google-android-key-attestation/algorithm_RSA_SecurityLevel_TEE.chain.pem",
        Expect::Ok,
    ),
    // Early StrongBox chains under a root (serialNumber e35d38c6897d47e8) that is not one of
    // Google's published roots. The EC one's leaf is signed "ecdsa-with-SHA256, NULL" by the
    // second certificate but names the third as its issuer: refused whatever the settings
    // (see `ecdsa_with_null_parameters_needs_the_switch`).
    (
        "google-android-key-attestation/algorithm_EC_SecurityLevel_StrongBox.chain.pem",
        Expect::Refused("attestation_invalid"),
    ),
    (
        "google-android-key-attestation/algorithm_RSA_SecurityLevel_StrongBox.chain.pem",
        Expect::OtherRoot { null_params: false },
    ),
];

/// Every PEM under the Android vectors, relative to `vectors()`.
fn all_pems() -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "pem") {
                out.insert(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    let base = vectors();
    let mut out = BTreeSet::new();
    walk(&base, &base, &mut out);
    out
}

#[test]
fn every_vector_chain_has_an_expectation() {
    let listed: BTreeSet<String> = CASES.iter().map(|(p, _)| (*p).to_owned()).collect();
    assert_eq!(all_pems(), listed);
}

/// The rule and challenge a genuine enrollment of this chain would have: from the reference
/// JSON where there is one, else from the chain's own KeyDescription.
fn rule_for(rel: &str, chain: &[CertificateDer<'_>]) -> (AndroidRule, Vec<u8>) {
    let kd = KeyDescription::parse(&key_description_bytes(&chain[0])).ok();
    if let Some(j) = reference(rel) {
        let sw = &j["softwareEnforced"];
        let app = &sw["attestationApplicationId"];
        let names: Vec<String> = app["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let digests: Vec<String> = app["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| hex(&b64(s)))
            .collect();
        let mut rule = AndroidRule::new(names, digests);
        rule.min_security_level = level(j["attestationSecurityLevel"].as_str().unwrap());
        let hw = &j["hardwareEnforced"];
        rule.require_verified_boot = hw.get("rootOfTrust").is_some_and(|r| {
            r["verifiedBootState"] == "VERIFIED" && r["deviceLocked"].as_bool().unwrap()
        });
        rule.min_app_version = Some(num(&app["packages"][0]["version"]));
        rule.min_patch_level = opt_num(hw, "osPatchLevel").map(|p| p as u32);
        (rule, b64(&j["attestationChallenge"]))
    } else if let Some(kd) = kd {
        let app = kd
            .software_enforced
            .attestation_application_id
            .clone()
            .unwrap();
        let mut rule = AndroidRule::new(
            app.packages
                .iter()
                .map(|p| String::from_utf8(p.name.clone()).unwrap()),
            app.signature_digests.iter().map(|d| hex(d)),
        );
        rule.min_security_level = kd.attestation_security_level;
        rule.require_verified_boot = kd
            .hardware_enforced
            .root_of_trust
            .as_ref()
            .is_some_and(|r| {
                r.verified_boot_state == VerifiedBootState::Verified && r.device_locked
            });
        (rule, kd.attestation_challenge)
    } else {
        (
            AndroidRule::new(["x"], [hex(&[0; 32])]),
            b"challenge".to_vec(),
        )
    }
}

#[test]
fn key_descriptions_equal_the_reference_parse() {
    let mut compared = 0;
    for (rel, _) in CASES {
        let chain = load_chain(rel);
        let ext = key_description_bytes(&chain[0]);
        let parsed = KeyDescription::parse(&ext);
        match *rel {
            "android-keyattestation/invalid/malformed_rot_device_locked.pem" => {
                let e = parsed.unwrap_err();
                assert!(e.reason().contains("deviceLocked"), "{e}");
                continue;
            }
            "android-keyattestation/p256_sha384_intermediate.pem" => {
                assert!(parsed.is_err());
                continue;
            }
            "android-keyattestation/invalid/tags_not_in_ascending_order.pem" => {
                // Parsed like the reference library: the order is recorded, not fatal here.
                let kd = parsed.unwrap();
                assert!(!kd.software_enforced.tags_ordered || !kd.hardware_enforced.tags_ordered);
                continue;
            }
            _ => {}
        }
        let kd = parsed.unwrap_or_else(|e| panic!("{rel}: {e}"));
        if let Some(j) = reference(rel) {
            compare(rel, &kd, &j);
            compared += 1;
        }
    }
    assert_eq!(
        compared, 21,
        "every chain with a reference JSON was compared"
    );
}

#[test]
fn allow_while_on_body_and_complete_authlist_fields() {
    let chain = load_chain("android-keyattestation/allow_while_on_body.pem");
    let kd = KeyDescription::parse(&key_description_bytes(&chain[0])).unwrap();
    assert!(kd.software_enforced.allow_while_on_body || kd.hardware_enforced.allow_while_on_body);
}

fn settings_with_root(chain: &[CertificateDer<'static>]) -> AndroidSettings {
    AndroidSettings::with_roots(&chain[chain.len() - 1..], algorithms()).unwrap()
}

#[test]
fn real_chains_verify_or_are_refused_for_the_analysed_reason() {
    let status = StatusList::from_json(
        &std::fs::read(vectors().join("google-android-key-attestation/status.sample.json"))
            .unwrap(),
    )
    .unwrap();
    for (rel, expect) in CASES {
        let chain = load_chain(rel);
        let (rule, challenge) = rule_for(rel, &chain);
        let (from, to) = window(&chain);
        let now = if from <= to {
            inside(&chain)
        } else {
            UnixTime::since_unix_epoch(Duration::from_secs(from as u64))
        };
        let strict = verify_android(&chain, &challenge, &rule, &google(), Some(&status), now);
        match expect {
            Expect::Ok => {
                let facts = strict.unwrap_or_else(|e| panic!("{rel}: {e}"));
                let (_, leaf) =
                    x509_parser::certificate::X509Certificate::from_der(chain[0].as_ref()).unwrap();
                assert_eq!(facts.public_key_spki, leaf.public_key().raw, "{rel}");
                assert!(rule.package_names.contains(&facts.package_name), "{rel}");
                assert!(facts.security_level >= rule.min_security_level, "{rel}");
                // Outside the window of the shortest-lived certificate: refused.
                let after = UnixTime::since_unix_epoch(Duration::from_secs(to as u64 + 86_400));
                let late = verify_android(&chain, &challenge, &rule, &google(), None, after);
                assert_eq!(late.unwrap_err().code(), "attestation_invalid", "{rel}");
            }
            Expect::Refused(code) => {
                let err = strict.expect_err(rel);
                assert_eq!(err.code(), *code, "{rel}: {err}");
                // No switch makes it acceptable.
                let lax = google()
                    .allow_non_ca_issuers(true)
                    .allow_ecdsa_null_params(true);
                let err = verify_android(&chain, &challenge, &rule, &lax, None, now).unwrap_err();
                assert_eq!(err.code(), *code, "{rel}: {err}");
            }
            Expect::NonCaIssuer => {
                let err = strict.expect_err(rel);
                assert_eq!(err.code(), "attestation_invalid", "{rel}");
                assert!(err.to_string().contains("not a CA"), "{rel}: {err}");
                let lax = google().allow_non_ca_issuers(true);
                verify_android(&chain, &challenge, &rule, &lax, None, now)
                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
            }
            Expect::OtherRootWeakKey => {
                let err = strict.expect_err(rel);
                assert_eq!(err.code(), "attestation_invalid", "{rel}");
                let own = settings_with_root(&chain);
                let err = verify_android(&chain, &challenge, &rule, &own, None, now).unwrap_err();
                assert!(
                    err.to_string().contains("invalid signature"),
                    "{rel}: {err}"
                );
            }
            Expect::OtherRoot { null_params } => {
                let err = strict.expect_err(rel);
                assert_eq!(err.code(), "attestation_invalid", "{rel}");
                assert!(
                    err.to_string().contains("configured attestation root"),
                    "{rel}: {err}"
                );
                let own = settings_with_root(&chain);
                let with_root = verify_android(&chain, &challenge, &rule, &own, None, now);
                if *null_params {
                    let err = with_root.unwrap_err();
                    assert!(
                        err.to_string().contains("unsupported signature"),
                        "{rel}: {err}"
                    );
                    let own = own.allow_ecdsa_null_params(true);
                    verify_android(&chain, &challenge, &rule, &own, None, now)
                        .unwrap_or_else(|e| panic!("{rel}: {e}"));
                } else {
                    with_root.unwrap_or_else(|e| panic!("{rel}: {e}"));
                }
            }
        }
    }
}

#[test]
fn built_in_roots_are_googles_published_roots() {
    let published: Vec<String> = serde_json::from_slice(
        &std::fs::read(vectors().join("android-keyattestation/roots.json")).unwrap(),
    )
    .unwrap();
    let published: Vec<CertificateDer<'static>> = published
        .iter()
        .map(|p| CertificateDer::from_pem_slice(p.as_bytes()).unwrap())
        .collect();
    assert_eq!(AndroidSettings::google_roots(), published);
}

#[test]
fn the_2026_root_alone_refuses_rsa_rooted_chains() {
    let ecdsa_root = AndroidSettings::google_roots()[1].clone();
    let only_2026 = AndroidSettings::with_roots(&[ecdsa_root], algorithms()).unwrap();
    let ok = "android-keyattestation/tegu/sdk36/TEE_EC_2026_ROOT.pem";
    let chain = load_chain(ok);
    let (rule, challenge) = rule_for(ok, &chain);
    verify_android(&chain, &challenge, &rule, &only_2026, None, inside(&chain)).unwrap();
    let rsa = "android-keyattestation/caiman/sdk36/TEE_EC_RKP.pem";
    let chain = load_chain(rsa);
    let (rule, challenge) = rule_for(rsa, &chain);
    let err = verify_android(&chain, &challenge, &rule, &only_2026, None, inside(&chain));
    assert_eq!(err.unwrap_err().code(), "attestation_invalid");
}

#[test]
fn a_chain_without_its_root_certificate_verifies_against_the_configured_root() {
    let rel = "android-keyattestation/tegu/sdk36/SB_EC_2026_ROOT.pem";
    let chain = load_chain(rel);
    let (rule, challenge) = rule_for(rel, &chain);
    let now = inside(&chain);
    verify_android(&chain[..4], &challenge, &rule, &google(), None, now).unwrap();
}

// ------------------------------------------------------------------------------------------
// Status list
// ------------------------------------------------------------------------------------------

fn serial_hex(cert: &CertificateDer<'_>) -> String {
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).unwrap();
    let hex = hex(c.raw_serial());
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

#[test]
fn status_sample_loads() {
    let list = StatusList::from_json(
        &std::fs::read(vectors().join("google-android-key-attestation/status.sample.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(
        list.status("6681152659205225093"),
        Some(AttestationStatus::Revoked)
    );
    assert_eq!(
        list.status("CC66E9A93713B6E643B26C15879786F7"),
        Some(AttestationStatus::Suspended)
    );
    assert_eq!(list.status("1"), None);
}

#[test]
fn a_listed_certificate_of_the_chain_refuses_with_attestation_revoked() {
    let rel = "android-keyattestation/caiman/sdk36/TEE_EC_RKP.pem";
    let chain = load_chain(rel);
    let (rule, challenge) = rule_for(rel, &chain);
    let now = inside(&chain);
    for index in 0..chain.len() {
        for state in ["REVOKED", "SUSPENDED", "SOMETHING_NEW"] {
            // Upper case and leading zeros in the list: normalised at load.
            let serial = format!("00{}", serial_hex(&chain[index]).to_uppercase());
            let json = format!(r#"{{"entries": {{"{serial}": {{"status": "{state}"}}}}}}"#);
            let list = StatusList::from_json(json.as_bytes()).unwrap();
            let err =
                verify_android(&chain, &challenge, &rule, &google(), Some(&list), now).unwrap_err();
            assert_eq!(err.code(), "attestation_revoked", "{index} {state}: {err}");
            assert!(
                err.to_string().contains(&format!("certificate {index}")),
                "{err}"
            );
        }
    }
    // An unrelated entry does not refuse.
    let list = StatusList::from_json(br#"{"entries": {"abc": {"status": "REVOKED"}}}"#).unwrap();
    verify_android(&chain, &challenge, &rule, &google(), Some(&list), now).unwrap();
}

#[test]
fn malformed_status_lists_are_refused() {
    for bad in [
        &b""[..],
        b"[]",
        b"{\"entries\": []}",
        b"{\"entries\": {\"-1\": {\"status\": \"REVOKED\"}}}",
        b"{\"entries\": {\"1\": {\"status\": 1}}}",
    ] {
        assert!(StatusList::from_json(bad).is_err());
    }
    let deep = "[".repeat(100_000);
    assert!(StatusList::from_json(deep.as_bytes()).is_err());
}

// ------------------------------------------------------------------------------------------
// Synthetic attestation PKI (test-only root injected through the settings)
// ------------------------------------------------------------------------------------------

fn rule() -> AndroidRule {
    AndroidRule::new([PACKAGE], [hex(&SIGNER)])
}

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(1_780_000_000)) // 2026-05-28
}

fn check(
    chain: &[CertificateDer<'_>],
    rule: &AndroidRule,
    settings: &AndroidSettings,
) -> Result<certgate::enroll::android::AndroidAttestation, EnrollRejection> {
    verify_android(chain, CHALLENGE, rule, settings, None, now())
}

fn code(r: Result<certgate::enroll::android::AndroidAttestation, EnrollRejection>) -> &'static str {
    r.map(|_| "ok").unwrap_or_else(|e| e.code())
}

#[test]
fn synthetic_genuine_enrollment_is_accepted_with_its_facts() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd::default());
    let facts = check(&chain, &rule(), &pki.settings()).unwrap();
    assert_eq!(facts.package_name, PACKAGE);
    assert_eq!(facts.app_version, 42);
    assert_eq!(facts.security_level, SecurityLevel::TrustedEnvironment);
    assert_eq!(facts.verified_boot_state, Some(VerifiedBootState::Verified));
    assert_eq!(facts.device_locked, Some(true));
    assert_eq!(facts.os_patch_level, Some(202_511));
    assert_eq!(facts.attestation_version, 400);
    let (_, leaf) = x509_parser::certificate::X509Certificate::from_der(chain[0].as_ref()).unwrap();
    assert_eq!(facts.public_key_spki, leaf.public_key().raw);
    // The test root is never a default: Google's roots refuse the synthetic chain.
    assert_eq!(
        code(check(&chain, &rule(), &google())),
        "attestation_invalid"
    );
    // A TOML rule with the exact names gives the same answer.
    let toml_rule: AndroidRule = toml::from_str(&format!(
        "package_names = [\"{PACKAGE}\"]\nsigning_cert_sha256 = [\"{}\"]\nmin_security_level = \"trusted_environment\"\nrequire_verified_boot = true\nmin_app_version = 42\nmin_patch_level = 202511",
        hex(&SIGNER).to_uppercase()
    ))
    .unwrap();
    toml_rule.validate().unwrap();
    check(&chain, &toml_rule, &pki.settings()).unwrap();
}

#[test]
fn wrong_challenge_is_challenge_mismatch() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        challenge: b"another challenge".to_vec(),
        ..Kd::default()
    });
    assert_eq!(
        code(check(&chain, &rule(), &pki.settings())),
        "challenge_mismatch"
    );
    let chain = pki.chain(&Kd::default());
    let r = verify_android(
        &chain,
        &CHALLENGE[..10],
        &rule(),
        &pki.settings(),
        None,
        now(),
    );
    assert_eq!(code(r), "challenge_mismatch");
}

#[test]
fn security_levels() {
    let pki = Synthetic::new(true);
    let software = pki.chain(&Kd {
        level: 0,
        keymint_level: 0,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&software, &rule(), &pki.settings())),
        "security_level_too_low"
    );
    // A software attestation of a TEE KeyMint is still software.
    let mixed = pki.chain(&Kd {
        level: 0,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&mixed, &rule(), &pki.settings())),
        "security_level_too_low"
    );
    // Only where the policy says so.
    let mut lax = rule();
    lax.min_security_level = SecurityLevel::Software;
    lax.require_verified_boot = false;
    assert_eq!(code(check(&software, &lax, &pki.settings())), "ok");
    // StrongBox required, TEE attested.
    let mut strongbox = rule();
    strongbox.min_security_level = SecurityLevel::StrongBox;
    let tee = pki.chain(&Kd::default());
    assert_eq!(
        code(check(&tee, &strongbox, &pki.settings())),
        "security_level_too_low"
    );
    let sb = pki.chain(&Kd {
        level: 2,
        keymint_level: 2,
        ..Kd::default()
    });
    assert_eq!(code(check(&sb, &strongbox, &pki.settings())), "ok");
    // An unknown level does not parse.
    let bad = pki.chain(&Kd {
        level: 7,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&bad, &rule(), &pki.settings())),
        "attestation_invalid"
    );
}

#[test]
fn boot_state_and_bootloader_lock() {
    let pki = Synthetic::new(true);
    for state in [1, 2, 3] {
        let chain = pki.chain(&Kd {
            boot_state: state,
            ..Kd::default()
        });
        assert_eq!(
            code(check(&chain, &rule(), &pki.settings())),
            "boot_state_unverified"
        );
    }
    let unlocked = pki.chain(&Kd {
        locked: false,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&unlocked, &rule(), &pki.settings())),
        "boot_state_unverified"
    );
    let mut lax = rule();
    lax.require_verified_boot = false;
    let facts = check(&unlocked, &lax, &pki.settings()).unwrap();
    assert_eq!(facts.device_locked, Some(false));
}

#[test]
fn app_identity() {
    let pki = Synthetic::new(true);
    let other = pki.chain(&Kd {
        packages: vec![("com.evil".into(), 42)],
        ..Kd::default()
    });
    assert_eq!(
        code(check(&other, &rule(), &pki.settings())),
        "app_not_attested"
    );
    let resigned = pki.chain(&Kd {
        digests: vec![vec![0x11; 32]],
        ..Kd::default()
    });
    assert_eq!(
        code(check(&resigned, &rule(), &pki.settings())),
        "app_not_attested"
    );
    let unsigned = pki.chain(&Kd {
        digests: vec![],
        ..Kd::default()
    });
    assert_eq!(
        code(check(&unsigned, &rule(), &pki.settings())),
        "app_not_attested"
    );
    // A shared UID: one of the packages is listed, one of the digests too.
    let shared = pki.chain(&Kd {
        packages: vec![("com.example.other".into(), 1), (PACKAGE.into(), 43)],
        digests: vec![vec![0x11; 32], SIGNER.to_vec()],
        ..Kd::default()
    });
    let facts = check(&shared, &rule(), &pki.settings()).unwrap();
    assert_eq!(
        (facts.package_name.as_str(), facts.app_version),
        (PACKAGE, 43)
    );
}

#[test]
fn minimum_app_version_and_patch_level() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd::default());
    let mut r = rule();
    r.min_app_version = Some(43);
    assert_eq!(code(check(&chain, &r, &pki.settings())), "app_not_attested");
    r.min_app_version = Some(42);
    assert_eq!(code(check(&chain, &r, &pki.settings())), "ok");
    r.min_patch_level = Some(202_512);
    assert_eq!(
        code(check(&chain, &r, &pki.settings())),
        "security_level_too_low"
    );
    r.min_patch_level = Some(202_511);
    assert_eq!(code(check(&chain, &r, &pki.settings())), "ok");
    let no_patch = pki.chain(&Kd {
        os_patch_level: None,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&no_patch, &r, &pki.settings())),
        "security_level_too_low"
    );
}

#[test]
fn a_key_without_the_sign_purpose_is_refused() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        purposes: vec![0, 1],
        ..Kd::default()
    });
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(err.to_string().contains("SIGN"));
}

#[test]
fn unordered_tags_are_refused() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        unordered: true,
        ..Kd::default()
    });
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert!(err.to_string().contains("ascending"), "{err}");
}

#[test]
fn attestation_versions() {
    let pki = Synthetic::new(true);
    for version in [1, 2, 3, 4, 100, 200, 300, 400, 500] {
        let chain = pki.chain(&Kd {
            version,
            ..Kd::default()
        });
        assert_eq!(
            code(check(&chain, &rule(), &pki.settings())),
            "ok",
            "{version}"
        );
    }
    let chain = pki.chain(&Kd {
        version: 0,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&chain, &rule(), &pki.settings())),
        "attestation_invalid"
    );
}

#[test]
fn chain_refusals() {
    let pki = Synthetic::new(true);
    let good = pki.chain(&Kd::default());
    // Expired and not yet valid (the CAs live 2025..2035).
    let late = UnixTime::since_unix_epoch(Duration::from_secs(2_100_000_000)); // 2036
    let early = UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)); // 2023
    for at in [late, early] {
        let r = verify_android(&good, CHALLENGE, &rule(), &pki.settings(), None, at);
        assert_eq!(code(r), "attestation_invalid");
    }
    // An expired leaf.
    let (expired, _) = pki.leaf_with(&Kd::default().encode(), |p| {
        p.not_after = rcgen::date_time_ymd(2026, 1, 1);
    });
    let err = check(&expired, &rule(), &pki.settings()).unwrap_err();
    assert!(
        err.to_string().contains("certificate 0 has expired"),
        "{err}"
    );
    // Another root (same names, other keys).
    let impostor = Synthetic::new(true);
    assert_eq!(
        code(check(&good, &rule(), &impostor.settings())),
        "attestation_invalid"
    );
    // Without the root certificate: anchored by the configured root's name and signature.
    check(&good[..2], &rule(), &pki.settings()).unwrap();
    let err = check(&good[..2], &rule(), &impostor.settings()).unwrap_err();
    assert!(err.to_string().contains("(signature)"), "{err}");
    // A chain mixing the two hierarchies: the impostor's leaf under the genuine CAs.
    let mut mixed = impostor.chain(&Kd::default());
    mixed[1] = good[1].clone();
    mixed[2] = good[2].clone();
    let err = check(&mixed, &rule(), &pki.settings()).unwrap_err();
    assert!(err.to_string().contains("invalid signature"), "{err}");
    // A flipped signature bit.
    let mut bad = good.clone();
    let mut leaf = bad[0].as_ref().to_vec();
    let last = leaf.len() - 1;
    leaf[last] ^= 1;
    bad[0] = CertificateDer::from(leaf);
    assert_eq!(
        code(check(&bad, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    // Wrong order, missing leaf, empty, too long.
    let reversed: Vec<_> = good.iter().rev().cloned().collect();
    assert_eq!(
        code(check(&reversed, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    assert_eq!(
        code(check(&good[1..], &rule(), &pki.settings())),
        "attestation_invalid"
    );
    assert_eq!(
        code(check(&[], &rule(), &pki.settings())),
        "attestation_invalid"
    );
    let long: Vec<_> = std::iter::repeat_n(good[0].clone(), 11).collect();
    assert_eq!(
        code(check(&long, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    // Garbage certificate.
    let garbage = vec![CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])];
    assert_eq!(
        code(check(&garbage, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    // A leaf without a KeyDescription.
    let (plain, _) = pki.leaf_with(&Kd::default().encode(), |p| p.custom_extensions.clear());
    let err = check(&plain, &rule(), &pki.settings()).unwrap_err();
    assert!(err.to_string().contains("no KeyDescription"), "{err}");
}

#[test]
fn a_non_ca_issuer_is_refused_unless_allowed() {
    let pki = Synthetic::new(false);
    let chain = pki.chain(&Kd::default());
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(err.to_string().contains("not a CA"), "{err}");
    let lax = pki.settings().allow_non_ca_issuers(true);
    check(&chain, &rule(), &lax).unwrap();
}

#[test]
fn a_certificate_below_the_attested_key_is_refused_even_with_the_switch() {
    // A genuine attested key (its certificate under the test CAs) signs a forged leaf that
    // claims whatever it likes: the attacker's chain is forged → attested → CAs.
    let pki = Synthetic::new(true);
    let (genuine, attested_key) = pki.leaf_with(&Kd::default().encode(), |_| {});
    let mut attested_params = CertificateParams::default();
    attested_params.distinguished_name = name("Android Keystore Key");
    let attested_issuer = Issuer::new(attested_params, &attested_key);
    let mut forged = CertificateParams::default();
    forged.distinguished_name = name("Forged");
    forged.not_before = rcgen::date_time_ymd(2025, 1, 1);
    forged.not_after = rcgen::date_time_ymd(2030, 1, 1);
    forged
        .custom_extensions
        .push(kd_extension(&Kd::default().encode()));
    let forged_key = KeyPair::generate().unwrap();
    let forged = forged
        .signed_by(&forged_key, &attested_issuer)
        .unwrap()
        .der()
        .clone();
    let mut chain = vec![forged];
    chain.extend(genuine);
    for settings in [pki.settings(), pki.settings().allow_non_ca_issuers(true)] {
        let err = check(&chain, &rule(), &settings).unwrap_err();
        assert_eq!(err.code(), "attestation_invalid");
    }
    let err = check(&chain, &rule(), &pki.settings().allow_non_ca_issuers(true)).unwrap_err();
    assert!(err.to_string().contains("below the attested key"), "{err}");
}

#[test]
fn huge_and_nested_key_descriptions_are_refused_without_panic() {
    let pki = Synthetic::new(true);
    // An unknown tag is skipped...
    let chain = pki.chain(&Kd {
        unknown_tag_len: 1000,
        ..Kd::default()
    });
    assert_eq!(code(check(&chain, &rule(), &pki.settings())), "ok");
    // ...but a KeyDescription past the size bounds is refused.
    let chain = pki.chain(&Kd {
        unknown_tag_len: 40_000,
        ..Kd::default()
    });
    assert_eq!(
        code(check(&chain, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    // Deep nesting where the schema has flat fields.
    let mut nested = vec![0x05, 0x00];
    for _ in 0..2000 {
        nested = der(&[0x30], &nested);
    }
    let (chain, _) = pki.leaf_with(&nested, |_| {});
    assert_eq!(
        code(check(&chain, &rule(), &pki.settings())),
        "attestation_invalid"
    );
    assert!(KeyDescription::parse(&nested).is_err());
    // Many packages: bounded.
    let many = Kd {
        packages: (0..300).map(|i| (format!("p{i}"), 1)).collect(),
        ..Kd::default()
    };
    assert!(KeyDescription::parse(&many.encode()).is_err());
    // Every truncation of a genuine encoding is refused.
    let full = Kd::default().encode();
    for cut in 0..full.len() {
        assert!(KeyDescription::parse(&full[..cut]).is_err(), "{cut}");
    }
}

#[test]
fn a_leaf_digest_is_what_the_rule_compares() {
    // signing_cert_sha256 is the SHA-256 of the app's signing certificate: the rule takes it
    // in hex, with or without colons.
    let digest = sha2::Sha256::digest(b"signing certificate");
    let colons: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        digests: vec![digest.to_vec()],
        ..Kd::default()
    });
    let r = AndroidRule::new([PACKAGE], [colons.join(":")]);
    r.validate().unwrap();
    check(&chain, &r, &pki.settings()).unwrap();
}

#[test]
fn ecdsa_with_null_parameters_needs_the_switch() {
    // The leaf is signed "ecdsa-with-SHA256, NULL" by the second certificate's key, but names
    // the third one as its issuer (an early StrongBox quirk): with the switch, the signature
    // verifies and the name mismatch refuses.
    let rel = "google-android-key-attestation/algorithm_EC_SecurityLevel_StrongBox.chain.pem";
    let chain = load_chain(rel);
    let (rule, challenge) = rule_for(rel, &chain);
    let now = inside(&chain);
    let own = settings_with_root(&chain);
    let err = verify_android(&chain, &challenge, &rule, &own, None, now).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(
        err.to_string().contains("unsupported signature algorithm"),
        "{err}"
    );
    let lax = own.allow_ecdsa_null_params(true).allow_non_ca_issuers(true);
    let err = verify_android(&chain, &challenge, &rule, &lax, None, now).unwrap_err();
    assert!(
        err.to_string().contains("issuer is not certificate 1"),
        "{err}"
    );
}

#[test]
fn issuer_constraints() {
    let cases: [(&str, Synthetic); 4] = [
        (
            "no basicConstraints",
            Synthetic::build(|_| {}, |p| p.is_ca = IsCa::NoCa),
        ),
        (
            "keyUsage without keyCertSign",
            Synthetic::build(
                |_| {},
                |p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature],
            ),
        ),
        // The root allows no intermediate CA below it; the chain has one.
        (
            "pathLenConstraint",
            Synthetic::build(
                |p| p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0)),
                |_| {},
            ),
        ),
        ("cA=FALSE", Synthetic::new(false)),
    ];
    for (why, pki) in cases {
        let chain = pki.chain(&Kd::default());
        let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{why}");
        assert!(err.to_string().contains(why), "{why}: {err}");
        check(&chain, &rule(), &pki.settings().allow_non_ca_issuers(true)).unwrap();
    }
    // A pathLenConstraint that leaves room is fine.
    let pki = Synthetic::build(
        |p| p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1)),
        |_| {},
    );
    check(&pki.chain(&Kd::default()), &rule(), &pki.settings()).unwrap();
}

#[test]
fn missing_root_of_trust_or_application_id() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        no_root_of_trust: true,
        ..Kd::default()
    });
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert_eq!(err.code(), "boot_state_unverified");
    assert!(err.to_string().contains("no root of trust"), "{err}");
    let mut lax = rule();
    lax.require_verified_boot = false;
    let facts = check(&chain, &lax, &pki.settings()).unwrap();
    assert_eq!(facts.verified_boot_state, None);
    let chain = pki.chain(&Kd {
        no_app_id: true,
        ..Kd::default()
    });
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert_eq!(err.code(), "app_not_attested");
    assert!(
        err.to_string().contains("no attestation application id"),
        "{err}"
    );
}

#[test]
fn oversized_certificates_and_duplicate_key_descriptions() {
    let pki = Synthetic::new(true);
    let chain = pki.chain(&Kd {
        unknown_tag_len: 40_000,
        ..Kd::default()
    });
    let err = check(&chain, &rule(), &pki.settings()).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    let content = Kd::default().encode();
    let (chain, _) = pki.leaf_with(&content, |p| {
        p.custom_extensions.push(kd_extension(&content))
    });
    assert_eq!(
        code(check(&chain, &rule(), &pki.settings())),
        "attestation_invalid"
    );
}

#[test]
fn settings_from_pem_roots_and_tolerances() {
    let pki = Synthetic::new(false);
    let b64 = B64.encode(pki.root.cert.as_ref());
    let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
    let settings = AndroidSettings::from_pem_roots(pem.as_bytes(), algorithms()).unwrap();
    let chain = pki.chain(&Kd::default());
    assert_eq!(
        code(check(&chain, &rule(), &settings)),
        "attestation_invalid"
    );
    let settings = settings.allow_non_ca_issuers(true);
    check(&chain, &rule(), &settings).unwrap();
    assert!(AndroidSettings::from_pem_roots(b"", algorithms()).is_err());
    assert!(
        AndroidSettings::from_pem_roots(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            algorithms()
        )
        .is_err()
    );
}
