//! `certgate::issue` through the library: CA init, issuance, revocation, CRLs, PKCS#12, and
//! certgate's own policy loader and verifier accepting (and then refusing) what it issued.
#![cfg(feature = "issue")]
// Helpers outside #[test] fns unwrap too: they only see what the tests build.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Duration;

use certgate::issue::{
    Algorithm, Ca, CaConfig, Csr, IssueError, IssueRequest, ListFilter, P12Format,
    RevocationReason, RevokeTarget, SubjectKey, read_pkcs12,
};
use certgate::{PeerChain, Policy};
use rustls_pki_types::UnixTime;

fn verify(
    dir: &Path,
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> Result<String, String> {
    let policy = Policy::load(dir.join("policy.toml")).map_err(|e| format!("policy: {e}"))?;
    policy
        .verifier()
        .verify(&PeerChain::new(chain), UnixTime::now())
        .map(|id| id.app_id().map(|a| a.to_string()).unwrap_or_default())
        .map_err(|r| r.code().to_owned())
}

fn lifecycle(algorithm: Algorithm) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut config = CaConfig::new("Example Apps");
    config.algorithm = algorithm;
    let mut ca = Ca::init(&dir, &config).unwrap();
    // The starter policy loads as the server would, with the CA's CRLs, before any issue.
    Policy::load(dir.join("policy.toml")).unwrap();

    let issued = ca
        .issue(
            &IssueRequest::new("com.example.shop")
                .unwrap()
                .install_id("123E4567-E89B-12D3-A456-426614174000")
                .unwrap()
                .key(SubjectKey::Generate(algorithm)),
        )
        .unwrap();
    assert_eq!(
        verify(&dir, issued.chain()),
        Ok("com.example.shop".into()),
        "{algorithm}"
    );
    // Leaf only: the policy configures the intermediate.
    assert_eq!(
        verify(&dir, vec![issued.cert().clone()]),
        Ok("com.example.shop".into())
    );

    let info = certgate::inspect(issued.cert(), &certgate::IdentitySource::default()).unwrap();
    let json = serde_json::to_value(&info).unwrap();
    let text = json.to_string();
    assert!(
        text.contains("urn:uuid:123e4567-e89b-12d3-a456-426614174000"),
        "{text}"
    );
    let record = issued.record();
    assert_eq!(record.serial.len(), 32, "16-byte serial");
    assert_eq!(
        ca.store().by_serial(&record.serial).unwrap().as_ref(),
        Some(record)
    );
    assert_eq!(
        ca.store().by_fingerprint(&record.sha256).unwrap().as_ref(),
        Some(record)
    );

    let revoked = ca
        .revoke(
            &RevokeTarget::Serial(record.serial.clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    assert_eq!(revoked.crl.revoked, 1);
    assert_eq!(verify(&dir, issued.chain()), Err("revoked".into()));
}

#[test]
fn p256_lifecycle_passes_the_strict_profile_and_revokes() {
    lifecycle(Algorithm::P256);
}

#[test]
fn p384_lifecycle() {
    lifecycle(Algorithm::P384);
}

#[test]
fn ed25519_lifecycle() {
    lifecycle(Algorithm::Ed25519);
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn rsa2048_lifecycle() {
    lifecycle(Algorithm::Rsa2048);
}

#[test]
fn crl_numbers_strictly_increase_and_unknown_serials_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path(), &CaConfig::new("Numbers")).unwrap();
    let first = ca.sign_crls(None).unwrap();
    let second = ca.sign_crls(Some(Duration::from_secs(3600))).unwrap();
    assert_eq!(first.intermediate_number, 2, "init signed number 1");
    assert_eq!(second.intermediate_number, 3);
    assert_eq!(second.root_number, 3);
    assert_eq!(second.next_update - second.this_update, 3600);

    let err = ca
        .revoke(
            &RevokeTarget::Serial("4abc".into()),
            RevocationReason::Superseded,
        )
        .unwrap_err();
    assert!(matches!(err, IssueError::UnknownCertificate(_)), "{err}");
    // Nothing was signed for the failed revoke.
    assert_eq!(ca.sign_crls(None).unwrap().intermediate_number, 4);

    let issued = ca
        .issue(&IssueRequest::new("com.example.a").unwrap())
        .unwrap();
    ca.revoke(
        &RevokeTarget::Certificate(issued.cert().clone()),
        RevocationReason::Superseded,
    )
    .unwrap();
    let again = ca
        .revoke(
            &RevokeTarget::Fingerprint(issued.record().sha256.clone()),
            RevocationReason::Superseded,
        )
        .unwrap_err();
    assert!(
        matches!(again, IssueError::AlreadyRevoked { .. }),
        "{again}"
    );
    let mut filter = ListFilter::default();
    filter.revoked = true;
    let listed = ca.store().list(&filter).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, Some(RevocationReason::Superseded));
}

#[test]
fn validity_is_capped_by_the_intermediate() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = CaConfig::new("Short");
    config.intermediate_years = 1;
    let mut ca = Ca::init(tmp.path(), &config).unwrap();
    let issued = ca
        .issue(
            &IssueRequest::new("com.example.long")
                .unwrap()
                .validity(Duration::from_secs(3000 * 24 * 3600)),
        )
        .unwrap();
    let (_, inter) = x509_parser::parse_x509_certificate(ca.intermediate()).unwrap();
    assert_eq!(
        issued.record().not_after,
        inter.validity().not_after.timestamp()
    );
}

#[cfg(unix)]
#[test]
fn a_group_readable_ca_key_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    Ca::init(tmp.path(), &CaConfig::new("Perms")).unwrap();
    let key = tmp.path().join("intermediate.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    Ca::open(tmp.path(), None).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = Ca::open(tmp.path(), None).unwrap_err();
    assert!(
        matches!(err, IssueError::KeyPermissions { mode: 0o640, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("intermediate.key"), "{err}");
}

#[test]
fn encrypted_ca_keys_need_their_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = CaConfig::new("Secret");
    config.key_passphrase = Some("correct horse".into());
    Ca::init(tmp.path(), &config).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("root.key")).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    let none = Ca::open(tmp.path(), None).unwrap_err();
    assert!(none.to_string().contains("encrypted"), "{none}");
    let wrong = Ca::open(tmp.path(), Some("wrong")).unwrap_err();
    assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
    let mut ca = Ca::open(tmp.path(), Some("correct horse")).unwrap();
    ca.issue(&IssueRequest::new("com.example.enc").unwrap())
        .unwrap();
}

#[test]
fn init_refuses_an_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    Ca::init(tmp.path(), &CaConfig::new("Once")).unwrap();
    let err = Ca::init(tmp.path(), &CaConfig::new("Twice")).unwrap_err();
    assert!(matches!(err, IssueError::Exists(_)), "{err}");
}

#[test]
fn pkcs12_round_trips_in_both_formats_and_refuses_a_wrong_password() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path(), &CaConfig::new("P12")).unwrap();
    let issued = ca
        .issue(&IssueRequest::new("com.example.p12").unwrap())
        .unwrap();
    for format in [P12Format::Modern, P12Format::Legacy] {
        let p12 = issued.to_pkcs12("s3cret", format).unwrap();
        let read = read_pkcs12(&p12, "s3cret").unwrap();
        assert_eq!(read.chain, issued.chain(), "{format:?}");
        assert_eq!(read.key_pkcs8, issued.key_pkcs8().unwrap());
        assert!(read_pkcs12(&p12, "wrong").is_err(), "{format:?}");
    }
    assert!(issued.to_pkcs12("", P12Format::Modern).is_err());
}

#[test]
fn issues_from_a_csr_using_only_its_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path(), &CaConfig::new("Csr")).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["evil.example.com".to_owned()]).unwrap();
    let csr_der = params.serialize_request(&key).unwrap().der().to_vec();
    let csr = Csr::parse(&csr_der).unwrap();
    assert_eq!(csr.key_kind(), "p256");
    let issued = ca
        .issue(
            &IssueRequest::new("com.example.csr")
                .unwrap()
                .key(SubjectKey::Csr(csr)),
        )
        .unwrap();
    assert!(issued.key_pkcs8().is_none());
    let (_, cert) = x509_parser::parse_x509_certificate(issued.cert()).unwrap();
    assert_eq!(
        cert.public_key().raw,
        &rcgen::PublicKeyData::subject_public_key_info(&key)[..]
    );
    // The requested SAN was ignored; the chain verifies as a plain app leaf.
    assert_eq!(
        verify(tmp.path(), issued.chain()),
        Ok("com.example.csr".into())
    );

    // One flipped bit in the signature: refused.
    let mut bad = csr_der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = Csr::parse(&bad).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(Csr::parse(b"not a csr").is_err());
}

#[test]
fn a_corrupt_database_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    Ca::init(tmp.path(), &CaConfig::new("Corrupt")).unwrap();
    let db = tmp.path().join("certgate.db");
    for name in ["certgate.db-wal", "certgate.db-shm"] {
        let _ = std::fs::remove_file(tmp.path().join(name));
    }
    std::fs::write(&db, vec![0x42; 8192]).unwrap();
    let err = Ca::open(tmp.path(), None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("certgate.db") && text.contains("not a SQLite database"),
        "{text}"
    );
}

#[test]
fn issue_adds_the_app_to_the_starter_policy_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path(), &CaConfig::new("Apps")).unwrap();
    ca.issue(&IssueRequest::new("com.example.one").unwrap())
        .unwrap();
    ca.issue(&IssueRequest::new("com.example.one").unwrap())
        .unwrap();
    let other = ca
        .issue(&IssueRequest::new("com.example.two").unwrap())
        .unwrap();
    let text = std::fs::read_to_string(tmp.path().join("policy.toml")).unwrap();
    assert_eq!(
        text.matches("id = \"com.example.one\"").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("id = \"com.example.two\"").count(),
        1,
        "{text}"
    );
    assert_eq!(
        verify(tmp.path(), other.chain()),
        Ok("com.example.two".into())
    );
    // An app the policy does not list is refused: remove "two" from the allowlist.
    let narrowed = text.replace("[[apps]]\nid = \"com.example.two\"\n", "");
    std::fs::write(tmp.path().join("policy.toml"), narrowed).unwrap();
    assert_eq!(
        verify(tmp.path(), other.chain()),
        Err("app_not_allowed".into())
    );
}
