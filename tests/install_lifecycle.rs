//! Per-install certificates through `certgate::issue`: an attested public key certified with
//! its install id and attestation facts (read back by the verifier into `PeerIdentity`), the
//! install recorded in the CA database, and `certgate revoke DIR --install-id` revoking every
//! certificate of that install (and the install itself) in one step.
#![cfg(all(feature = "issue", feature = "cli"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use certgate::issue::{
    Ca, CaConfig, InstallRecord, IssueError, IssueRequest, PublicKey, SubjectKey,
};
use certgate::{AttestationFacts, PeerChain, PeerIdentity, Platform, Policy, SecurityLevel};
use rcgen::PublicKeyData as _;
use rustls_pki_types::{CertificateDer, UnixTime};

const INSTALL: &str = "5a0c1c3e-8f6b-4d2a-9e4f-0b1c2d3e4f50";

fn facts() -> AttestationFacts {
    let mut facts = AttestationFacts::new(Platform::Android);
    facts.security_level = Some(SecurityLevel::StrongBox);
    facts.verified_boot = Some(true);
    facts.device_locked = Some(true);
    facts.app_version = Some(4_210);
    facts.os_patch_level = Some(202_611);
    facts
}

/// An attested key's SPKI (the private half stays "in the phone": here, dropped).
fn attested_spki() -> Vec<u8> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .subject_public_key_info()
}

fn request(spki: &[u8]) -> IssueRequest {
    IssueRequest::new("com.example.shop")
        .unwrap()
        .install_id(INSTALL)
        .unwrap()
        .key(SubjectKey::PublicKey(
            PublicKey::from_spki_der(spki).unwrap(),
        ))
        .attestation(facts())
}

fn record(spki: &[u8]) -> InstallRecord {
    let mut r = InstallRecord::new(INSTALL, "com.example.shop", spki.to_vec(), facts());
    r.enrolled_at = 1_765_000_000;
    r
}

fn verify(dir: &Path, chain: Vec<CertificateDer<'static>>) -> Result<PeerIdentity, String> {
    let policy = Policy::load(dir.join("policy.toml")).map_err(|e| format!("policy: {e}"))?;
    policy
        .verifier()
        .verify(&PeerChain::new(chain), UnixTime::now())
        .map_err(|r| r.code().to_owned())
}

fn certgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_enrolled_install_carries_its_id_and_facts_and_is_revoked_as_a_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = Ca::init(&dir, &CaConfig::new("Enroll Test")).unwrap();
    let spki = attested_spki();

    let first = ca.enroll(&request(&spki), &record(&spki)).unwrap();
    assert!(
        first.key_pkcs8().is_none(),
        "the CA never holds the attested private key"
    );
    // The certificate certifies the attested key.
    let (_, cert) = x509_parser::parse_x509_certificate(first.cert()).unwrap();
    assert_eq!(cert.public_key().raw, spki.as_slice());

    let peer = verify(&dir, first.chain()).unwrap();
    assert_eq!(peer.app_id().unwrap().as_str(), "com.example.shop");
    assert_eq!(peer.install_id(), Some(INSTALL));
    assert_eq!(peer.attestation(), Some(&facts()));
    assert!(
        peer.attestation()
            .unwrap()
            .at_least(SecurityLevel::StrongBox)
    );

    let stored = ca.store().install(INSTALL).unwrap().unwrap();
    assert_eq!(stored, record(&spki));
    // The same install enrolls once.
    assert!(ca.enroll(&request(&spki), &record(&spki)).is_err());

    // A renewal: a second certificate for the same install and key.
    let second = ca.issue(&request(&spki)).unwrap();
    assert_eq!(
        verify(&dir, second.chain()).unwrap().install_id(),
        Some(INSTALL)
    );

    // `certgate revoke DIR --install-id` (upper case accepted) revokes both at once.
    let out = certgate(&[
        "revoke",
        dir.to_str().unwrap(),
        "--install-id",
        &INSTALL.to_ascii_uppercase(),
        "--reason",
        "key_compromise",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "ok");
    assert_eq!(json["install_id"], INSTALL);
    let mut serials: Vec<&str> = json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    serials.sort_unstable();
    let mut expected = vec![
        first.record().serial.as_str(),
        second.record().serial.as_str(),
    ];
    expected.sort_unstable();
    assert_eq!(serials, expected);
    assert_eq!(verify(&dir, first.chain()).unwrap_err(), "revoked");
    assert_eq!(verify(&dir, second.chain()).unwrap_err(), "revoked");

    let ca = Ca::open(&dir, None).unwrap();
    assert!(
        ca.store()
            .install(INSTALL)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    // Again: nothing left to revoke → exit 2, a usable error.
    let out = certgate(&["revoke", dir.to_str().unwrap(), "--install-id", INSTALL]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(INSTALL));
    // Not a UUID → exit 2.
    let out = certgate(&["revoke", dir.to_str().unwrap(), "--install-id", "phone-1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn enroll_refuses_a_record_that_does_not_match_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path().join("ca"), &CaConfig::new("Enroll Test")).unwrap();
    let spki = attested_spki();
    let other = attested_spki();
    let mut wrong_facts = record(&spki);
    wrong_facts.facts.security_level = Some(SecurityLevel::Software);
    for bad in [
        record(&other),
        wrong_facts,
        InstallRecord::new(
            "00000000-0000-4000-8000-000000000000",
            "com.example.shop",
            spki.clone(),
            facts(),
        ),
    ] {
        assert!(matches!(
            ca.enroll(&request(&spki), &bad),
            Err(IssueError::Input(_))
        ));
    }
    // A request without the attested key.
    let generated = request(&spki).key(SubjectKey::Generate(certgate::issue::Algorithm::P256));
    assert!(ca.enroll(&generated, &record(&spki)).is_err());
    assert!(ca.store().install(INSTALL).unwrap().is_none());
}

#[test]
fn public_keys_are_checked_like_a_csr_s() {
    assert!(PublicKey::from_spki_der(&attested_spki()).is_ok());
    assert!(PublicKey::from_spki_der(b"not DER").is_err());
    let mut trailing = attested_spki();
    trailing.push(0);
    assert!(PublicKey::from_spki_der(&trailing).is_err());
    assert!(PublicKey::from_spki_der(&vec![0x30; 20_000]).is_err());
}
