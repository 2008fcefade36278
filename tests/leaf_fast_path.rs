//! The verifier reads a usual app leaf with certgate's own DER reader and any other leaf with
//! x509-parser. The fast path must accept only leaves x509-parser accepts and read the same
//! facts (profile facts, names, serial, validity, key, subjectAltName, attestation) and app
//! ids from them: `certgate::__leaf_fast_path_check` reads both and compares.
//!
//! Leaves here: rcgen leaves with varied algorithms, names and extensions (the fast path must
//! take the usual ones), every certificate in `../shared/vectors` (real-world certificates,
//! most outside the fast path's shape: they must not disagree), and byte mutations of both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm,
};

fn check(der: &[u8]) -> bool {
    certgate::__leaf_fast_path_check(der).unwrap_or_else(|diff| {
        panic!("fast path and x509-parser disagree: {diff}\nleaf: {der:02x?}")
    })
}

/// A leaf built from `params`, signed with `alg` by a CA named `Test CA`.
fn leaf(alg: &'static SignatureAlgorithm, params: CertificateParams) -> Vec<u8> {
    let ca_key = KeyPair::generate_for(alg).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "Test CA");
    let key = KeyPair::generate_for(alg).unwrap();
    params
        .signed_by(&key, &rcgen::Issuer::from_params(&ca, &ca_key))
        .unwrap()
        .der()
        .to_vec()
}

fn app_params(app: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, app);
    params.subject_alt_names = vec![SanType::URI(format!("app://{app}").try_into().unwrap())];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(rcgen::SerialNumber::from(0x0102_0304u64));
    params
}

const ALGS: [&SignatureAlgorithm; 4] = [
    &rcgen::PKCS_ECDSA_P256_SHA256,
    &rcgen::PKCS_ECDSA_P384_SHA384,
    &rcgen::PKCS_ED25519,
    &rcgen::PKCS_RSA_SHA256,
];

/// The usual app leaf of every algorithm takes the fast path, and agrees.
#[test]
fn usual_leaves_take_the_fast_path() {
    for alg in ALGS {
        let der = leaf(alg, app_params("com.example.app"));
        assert!(check(&der), "{alg:?}: the usual leaf left the fast path");
    }
}

/// Variations inside and outside the fast path's shape: each either takes it and agrees, or is
/// left to x509-parser; the ones listed as usual must take it.
#[test]
fn variations_agree() {
    let mut cases: Vec<(&str, CertificateParams, bool)> = Vec::new();
    let base = || app_params("com.example.app");
    cases.push(("base", base(), true));
    let mut p = base();
    p.subject_alt_names = vec![
        SanType::URI("app://a.b".try_into().unwrap()),
        SanType::URI("app://c.d".try_into().unwrap()),
    ];
    cases.push(("two app ids", p, true));
    let mut p = base();
    p.subject_alt_names = vec![
        SanType::DnsName("x.example.com".try_into().unwrap()),
        SanType::Rfc822Name("a@example.com".try_into().unwrap()),
        SanType::URI(
            "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
                .try_into()
                .unwrap(),
        ),
        SanType::URI("app://com.example.app".try_into().unwrap()),
    ];
    cases.push(("mixed SANs", p, true));
    let mut p = base();
    p.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    cases.push(("IP SAN", p, false));
    let mut p = base();
    p.subject_alt_names = vec![SanType::URI("app://not valid!".try_into().unwrap())];
    cases.push(("invalid app id", p, true));
    let mut p = base();
    p.subject_alt_names = Vec::new();
    cases.push(("no SAN", p, true));
    let mut p = base();
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DecipherOnly,
    ];
    cases.push(("two-octet key usage", p, true));
    let mut p = base();
    p.key_usages = Vec::new();
    p.extended_key_usages = Vec::new();
    cases.push(("no key usages", p, true));
    let mut p = base();
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    cases.push(("server and client", p, true));
    let mut p = base();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    cases.push(("code signing", p, false));
    let mut p = base();
    p.is_ca = IsCa::ExplicitNoCa;
    cases.push(("basicConstraints without cA", p, true));
    let mut p = base();
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    cases.push(("a CA as leaf", p, false));
    let mut p = base();
    p.use_authority_key_identifier_extension = false;
    cases.push(("no AKI", p, true));
    let mut p = base();
    p.distinguished_name = DistinguishedName::new();
    cases.push(("empty subject", p, true));
    let mut p = base();
    p.distinguished_name
        .push(DnType::OrganizationName, "Ex ample, Inc.");
    p.distinguished_name.push(DnType::CountryName, "SE");
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, "Ünïcode");
    cases.push(("longer subject", p, true));
    let mut p = base();
    p.not_before = rcgen::date_time_ymd(1960, 2, 29);
    p.not_after = rcgen::date_time_ymd(2080, 12, 31);
    cases.push(("old and far dates", p, true));
    let mut p = base();
    p.not_before = rcgen::date_time_ymd(2049, 12, 31);
    p.not_after = rcgen::date_time_ymd(2050, 1, 1);
    cases.push(("UTCTime to GeneralizedTime", p, true));
    let mut p = base();
    p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec!["http://crl.example.com/ca.crl".into()],
    }];
    cases.push(("CRL distribution point", p, false));
    let mut p = base();
    p.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 2, 3, 4],
        vec![0x05, 0x00],
    )];
    cases.push(("unknown extension", p, false));
    let mut p = base();
    let mut critical = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    critical.set_criticality(true);
    p.custom_extensions = vec![critical];
    cases.push(("unknown critical extension", p, false));
    let mut p = base();
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x7f; 20]));
    cases.push(("20-byte serial", p, true));
    let mut p = base();
    // rcgen writes it as 21 octets (a 0x00 first, to keep it positive): past 20.
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x80; 20]));
    cases.push(("serial of 21 octets", p, false));

    for alg in ALGS {
        for (name, params, usual) in &cases {
            let der = leaf(alg, params.clone());
            let fast = check(&der);
            if *usual {
                assert!(fast, "{name} ({alg:?}) left the fast path");
            } else {
                assert!(!fast, "{name} ({alg:?}) took the fast path");
            }
        }
    }
}

/// The shared real-world vectors (`../shared/vectors`, or `$CERTGATE_VECTORS`): every
/// certificate either is left to x509-parser or agrees. A missing folder fails the test
/// unless `CERTGATE_SKIP_VECTORS=1`.
#[test]
fn shared_vectors_agree() {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    if !dir.join("README.md").is_file() {
        if std::env::var_os("CERTGATE_SKIP_VECTORS").is_some_and(|v| v == "1") {
            eprintln!("CERTGATE_SKIP_VECTORS=1: vector test left out");
            return;
        }
        panic!(
            "test vectors not found at {} (set CERTGATE_VECTORS, or CERTGATE_SKIP_VECTORS=1)",
            dir.display()
        );
    }
    let mut stack = vec![dir];
    let mut certificates = 0usize;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let Ok(certs) = certgate::pem::parse_certificates(&bytes) else {
                continue;
            };
            for cert in certs {
                certificates += 1;
                check(cert.as_ref());
                for mutated in mutations(cert.as_ref()).take(64) {
                    check(&mutated);
                }
            }
        }
    }
    assert!(certificates > 20, "only {certificates} certificates read");
}

/// Some deterministic byte mutations of `der`: each byte flipped in its low bit, at a stride.
fn mutations(der: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let stride = (der.len() / 64).max(1);
    (0..der.len()).step_by(stride).map(move |i| {
        let mut m = der.to_vec();
        m[i] ^= 1;
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Mutations of usual leaves (a byte set, a byte removed or inserted, a truncation) never
    /// make the two paths disagree.
    #[test]
    fn mutated_leaves_agree(
        alg in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..4),
    ) {
        let mut der = USUAL[alg].clone();
        for (at, byte, kind) in edits {
            if der.is_empty() {
                break;
            }
            let at = at % der.len();
            match kind {
                0 => der[at] = byte,
                1 => { der.remove(at); }
                2 => der.insert(at, byte),
                _ => der.truncate(at),
            }
        }
        check(&der);
    }
}

static USUAL: std::sync::LazyLock<Vec<Vec<u8>>> = std::sync::LazyLock::new(|| {
    ALGS.iter()
        .map(|alg| {
            let mut p = app_params("com.example.app");
            p.subject_alt_names
                .push(SanType::DnsName("a.example".try_into().unwrap()));
            p.is_ca = IsCa::ExplicitNoCa;
            leaf(alg, p)
        })
        .collect()
});
