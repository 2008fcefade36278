//! Self-check of the shared test PKI (`tests/common`): proves every fixture certificate
//! and CRL is what it claims to be, using only rustls-webpki, x509-parser and rcgen
//! (deliberately not certgate's own API).

// Helper functions below unwrap on fixture data the tests built themselves; clippy.toml's
// test allowances only cover #[test] fns, so allow it for the helpers too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{
    CRL_DP_URI, Crl, HUGE_EXT_OID, Issued, Leaf, NOW, OTHER_APP, OTHER_IDP_URI, SHOP, TestPki,
    UNKNOWN_CRITICAL_OID, at, pki, serial_bytes,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use webpki::{
    ALL_VERIFICATION_ALGS, BorrowedCertRevocationList, CertRevocationList, EndEntityCert,
    ExpirationPolicy, KeyUsage, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy, anchor_from_trusted_cert,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_DISTRIBUTION_POINTS,
    OID_X509_EXT_CRL_NUMBER, OID_X509_EXT_NAME_CONSTRAINTS, OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

// ---------------------------------------------------------------------------
// helpers

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty(), "trailing data after certificate");
    cert
}

fn parse_crl(der: &[u8]) -> CertificateRevocationList<'_> {
    let (rest, crl) = CertificateRevocationList::from_der(der).unwrap();
    assert!(rest.is_empty(), "trailing data after CRL");
    crl
}

fn ext<'a>(cert: &'a X509Certificate<'_>, oid: &Oid<'_>) -> Option<&'a X509Extension<'a>> {
    cert.get_extension_unique(oid).unwrap()
}

fn oid(arcs: &[u64]) -> Oid<'static> {
    Oid::from(arcs).unwrap()
}

fn ski(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

fn aki(extensions: &[X509Extension<'_>]) -> Option<Vec<u8>> {
    extensions.iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            Some(aki.key_identifier.as_ref().unwrap().0.to_vec())
        }
        _ => None,
    })
}

fn san_uris(cert: &X509Certificate<'_>) -> Vec<String> {
    match cert.subject_alternative_name().unwrap() {
        None => Vec::new(),
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(uri) => Some((*uri).to_owned()),
                _ => None,
            })
            .collect(),
    }
}

fn san_dns(cert: &X509Certificate<'_>) -> Vec<String> {
    match cert.subject_alternative_name().unwrap() {
        None => Vec::new(),
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some((*name).to_owned()),
                _ => None,
            })
            .collect(),
    }
}

fn cns(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// webpki path validation of `chain` (leaf first) against `anchor` at `time`.
fn verify_at(
    chain: &[CertificateDer<'static>],
    anchor: &CertificateDer<'_>,
    usage: KeyUsage,
    time: UnixTime,
    crls: &[CertificateRevocationListDer<'static>],
    expiration: ExpirationPolicy,
) -> Result<(), webpki::Error> {
    let ee = EndEntityCert::try_from(&chain[0])?;
    let anchors = [anchor_from_trusted_cert(anchor)?];
    let crls = crls
        .iter()
        .map(|der| {
            BorrowedCertRevocationList::from_der(der)
                .map(CertRevocationList::from)
                .unwrap()
        })
        .collect::<Vec<_>>();
    let crl_refs = crls.iter().collect::<Vec<_>>();
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        Some(
            RevocationOptionsBuilder::new(&crl_refs)
                .unwrap()
                .with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(UnknownStatusPolicy::Deny)
                .with_expiration_policy(expiration)
                .build(),
        )
    };
    ee.verify_for_usage(
        ALL_VERIFICATION_ALGS,
        &anchors,
        &chain[1..],
        time,
        usage,
        revocation,
        None,
    )
    .map(|_| ())
}

fn verify(
    chain: &[CertificateDer<'static>],
    anchor: &CertificateDer<'_>,
) -> Result<(), webpki::Error> {
    verify_at(
        chain,
        anchor,
        KeyUsage::client_auth(),
        NOW,
        &[],
        ExpirationPolicy::Ignore,
    )
}

fn verify_leaf(leaf: Leaf) -> Result<(), webpki::Error> {
    verify(&pki().leaf(leaf).chain(), &pki().root())
}

fn verify_with_crls(leaf: &Issued, crls: &[Crl]) -> Result<(), webpki::Error> {
    let crls = crls.iter().map(|c| pki().crl(*c)).collect::<Vec<_>>();
    verify_at(
        &leaf.chain(),
        &pki().root(),
        KeyUsage::client_auth(),
        NOW,
        &crls,
        ExpirationPolicy::Enforce,
    )
}

/// Every CA certificate in the fixture, with whether it is self-signed.
fn proper_cas(p: &TestPki) -> Vec<(&'static str, CertificateDer<'static>, bool)> {
    let mut cas = vec![
        ("root", p.root(), true),
        ("intermediate", p.intermediate(), false),
        ("impostor root", p.impostor_root(), true),
        ("impostor intermediate", p.impostor_intermediate(), false),
        ("other root", p.other_root(), true),
        ("other intermediate", p.other_intermediate(), false),
        ("second root", p.second_root(), true),
        ("cross a", p.cross_a(), false),
        ("cross b", p.cross_b(), false),
        ("no-cRLSign CA", p.no_crl_sign_ca(), false),
        ("expired root", p.expired_root(), true),
        (
            "expired-root intermediate",
            p.expired_root_chain()[1].clone(),
            false,
        ),
        (
            "unknown-ext root",
            p.anchor_with_unknown_critical_ext(),
            true,
        ),
    ];
    for (i, ca) in p.long_chain()[1..].iter().enumerate() {
        let name = ["chain CA 4", "chain CA 3", "chain CA 2", "chain CA 1"][i];
        cas.push((name, ca.clone(), false));
    }
    cas
}

// ---------------------------------------------------------------------------
// webpki path validation

#[test]
fn genuine_leaves_verify_against_the_root() {
    for leaf in [
        Leaf::Genuine,
        Leaf::OtherApp,
        Leaf::Second,
        Leaf::Revoked,
        Leaf::Ed25519,
        Leaf::P384,
        Leaf::Rsa2048,
        Leaf::NoAppId,
        Leaf::CnIdentity,
        Leaf::OuIdentity,
        Leaf::TwoAppIds,
        Leaf::WithCrlDp,
        Leaf::ViaCrossSigned,
        Leaf::ViaNoSkiIntermediate,
        Leaf::ViaNoCrlSignCa,
        Leaf::Huge,
        Leaf::NoAki,
        Leaf::NoEku,
    ] {
        assert_eq!(verify_leaf(leaf), Ok(()), "{leaf:?}");
    }
    assert_eq!(verify(&pki().long_chain(), &pki().root()), Ok(()));
    assert_eq!(pki().long_chain().len(), 5);
}

#[test]
fn broken_leaves_fail_with_the_expected_webpki_error() {
    assert!(matches!(
        verify_leaf(Leaf::Expired),
        Err(webpki::Error::CertExpired { .. })
    ));
    assert!(matches!(
        verify_leaf(Leaf::NotYetValid),
        Err(webpki::Error::CertNotValidYet { .. })
    ));
    assert!(matches!(
        verify_leaf(Leaf::ServerEku),
        Err(webpki::Error::RequiredEkuNotFoundContext(_))
    ));
    assert_eq!(
        verify_leaf(Leaf::ImpostorSameNames),
        Err(webpki::Error::InvalidSignatureForPublicKey)
    );
    assert_eq!(
        verify_leaf(Leaf::ForeignCa),
        Err(webpki::Error::UnknownIssuer)
    );
    // Server leaf is fine for server auth but not for client auth.
    assert!(verify_leaf(Leaf::Server).is_err());
}

#[test]
fn leaves_validate_only_their_documented_defect() {
    let p = pki();
    // The impostor and foreign chains are well-formed under their own roots.
    assert_eq!(
        verify(&p.leaf(Leaf::ImpostorSameNames).chain(), &p.impostor_root()),
        Ok(())
    );
    assert_eq!(
        verify(&p.leaf(Leaf::ForeignCa).chain(), &p.other_root()),
        Ok(())
    );
    // Expired / not-yet-valid leaves are fine inside their windows.
    let chain = p.leaf(Leaf::Expired).chain();
    let usage = KeyUsage::client_auth;
    let ok_at = |chain: &[CertificateDer<'static>], t: &str| {
        verify_at(
            chain,
            &p.root(),
            usage(),
            at(t),
            &[],
            ExpirationPolicy::Ignore,
        )
    };
    assert_eq!(ok_at(&chain, "2026-02-01T00:00:00Z"), Ok(()));
    assert_eq!(
        ok_at(&p.leaf(Leaf::NotYetValid).chain(), "2026-10-01T00:00:00Z"),
        Ok(())
    );
    // Server leaf verifies for server auth.
    let server = p.leaf(Leaf::Server).chain();
    assert_eq!(
        verify_at(
            &server,
            &p.root(),
            KeyUsage::server_auth(),
            NOW,
            &[],
            ExpirationPolicy::Ignore
        ),
        Ok(())
    );
    // The cross-signed leaf also verifies via the second root (through cross_b).
    assert_eq!(
        verify(&p.leaf(Leaf::ViaCrossSigned).chain(), &p.second_root()),
        Ok(())
    );
    // The expired root: webpki does not check anchor validity, so the chain (whose own
    // dates are fine) verifies; detecting the expired anchor is certgate's job.
    assert_eq!(verify(&p.expired_root_chain(), &p.expired_root()), Ok(()));
    assert_eq!(p.expired_root_chain().len(), 2);
    // Leaves under the odd anchors are otherwise genuine.
    assert_eq!(
        verify(&p.non_ca_root_leaf().chain(), &p.non_ca_root()),
        Ok(())
    );
    assert_eq!(
        verify(
            &p.unknown_critical_ext_root_leaf().chain(),
            &p.anchor_with_unknown_critical_ext()
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------------------
// certificate contents (x509-parser)

#[test]
fn genuine_leaf_profile() {
    let p = pki();
    let inter_der = p.intermediate();
    let inter = parse(&inter_der);
    let inter_ski = ski(&inter).unwrap();
    for leaf in [Leaf::Genuine, Leaf::Second, Leaf::Revoked, Leaf::OtherApp] {
        let issued = p.leaf(leaf);
        let cert = parse(issued.cert.as_ref());
        let app = if leaf == Leaf::OtherApp {
            OTHER_APP
        } else {
            SHOP
        };
        assert_eq!(san_uris(&cert), vec![format!("app://{app}")], "{leaf:?}");
        assert_eq!(cns(&cert), vec![app.to_owned()], "{leaf:?}");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(
            eku.client_auth && !eku.server_auth && eku.other.is_empty(),
            "{leaf:?}"
        );
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign(), "{leaf:?}");
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(!bc.value.ca, "{leaf:?}");
        assert_eq!(aki(cert.extensions()), Some(inter_ski.clone()), "{leaf:?}");
        assert_eq!(cert.issuer(), inter.subject(), "{leaf:?}");
        assert_eq!(
            cert.validity().not_before.timestamp(),
            i64::try_from(at("2026-01-01T00:00:00Z").as_secs()).unwrap()
        );
        assert_eq!(
            cert.validity().not_after.timestamp(),
            i64::try_from(at("2027-01-01T00:00:00Z").as_secs()).unwrap()
        );
        assert_eq!(issued.chain(), vec![issued.cert.clone(), p.intermediate()]);
    }
}

#[test]
fn leaf_defects_are_present() {
    let p = pki();
    let cert_of = |leaf: Leaf| p.leaf(leaf).cert.clone();

    let der = cert_of(Leaf::Huge);
    assert!(der.len() > 16 * 1024, "Huge is only {} bytes", der.len());
    assert!(ext(&parse(&der), &oid(HUGE_EXT_OID)).is_some_and(|e| !e.critical));

    let der = cert_of(Leaf::NoEku);
    assert!(parse(&der).extended_key_usage().unwrap().is_none());

    let der = cert_of(Leaf::NoAki);
    let cert = parse(&der);
    assert!(ext(&cert, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER).is_none());
    assert_eq!(san_uris(&cert), vec![format!("app://{SHOP}")]);

    let der = cert_of(Leaf::ServerEku);
    let cert = parse(&der);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);

    let der = cert_of(Leaf::NoAppId);
    let cert = parse(&der);
    assert!(san_uris(&cert).is_empty());
    assert_eq!(san_dns(&cert), vec!["no-app.example.com".to_owned()]);
    assert_eq!(cns(&cert), vec!["no-app".to_owned()]);

    let der = cert_of(Leaf::TwoAppIds);
    assert_eq!(
        san_uris(&parse(&der)),
        vec![format!("app://{SHOP}"), format!("app://{OTHER_APP}")]
    );

    let der = cert_of(Leaf::KeyCertSign);
    let cert = parse(&der);
    assert!(cert.key_usage().unwrap().unwrap().value.key_cert_sign());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);

    let der = cert_of(Leaf::NameConstraints);
    let cert = parse(&der);
    assert!(ext(&cert, &OID_X509_EXT_NAME_CONSTRAINTS).is_some());
    assert!(cert.name_constraints().unwrap().is_some());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);

    let der = cert_of(Leaf::EmptySubjectNonCriticalSan);
    let cert = parse(&der);
    assert_eq!(cert.subject().iter().count(), 0);
    let san = ext(&cert, &OID_X509_EXT_SUBJECT_ALT_NAME).unwrap();
    assert!(!san.critical);
    assert_eq!(san_uris(&cert), vec![format!("app://{SHOP}")]);

    let der = cert_of(Leaf::CnIdentity);
    let cert = parse(&der);
    assert!(san_uris(&cert).is_empty());
    assert_eq!(cns(&cert), vec!["com.example.cn".to_owned()]);
    assert_eq!(san_dns(&cert), vec!["cn.example.com".to_owned()]);

    let der = cert_of(Leaf::OuIdentity);
    let cert = parse(&der);
    assert!(san_uris(&cert).is_empty());
    assert!(cns(&cert).is_empty());
    let ous = cert
        .subject()
        .iter_organizational_unit()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(ous, vec!["com.example.ou".to_owned()]);

    let der = cert_of(Leaf::WithCrlDp);
    let cert = parse(&der);
    let dp = ext(&cert, &OID_X509_EXT_CRL_DISTRIBUTION_POINTS).unwrap();
    let ParsedExtension::CRLDistributionPoints(points) = dp.parsed_extension() else {
        panic!("unparsed CRL DP");
    };
    let uris = points
        .iter()
        .filter_map(|p| match &p.distribution_point {
            Some(x509_parser::extensions::DistributionPointName::FullName(names)) => {
                Some(names.clone())
            }
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => Some(uri.to_owned()),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(uris, vec![CRL_DP_URI.to_owned()]);

    let der = cert_of(Leaf::Server);
    let cert = parse(&der);
    assert_eq!(san_dns(&cert), vec!["server.example.com".to_owned()]);
    assert!(san_uris(&cert).is_empty());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
}

#[test]
fn leaf_key_types_and_keys_match_certificates() {
    let p = pki();
    for leaf in Leaf::ALL {
        let issued = p.leaf(leaf);
        let cert = parse(issued.cert.as_ref());
        assert!(matches!(issued.key, PrivateKeyDer::Pkcs8(_)), "{leaf:?}");
        let key = rcgen::KeyPair::try_from(&issued.key).unwrap();
        use rcgen::PublicKeyData as _;
        assert_eq!(
            key.subject_public_key_info(),
            cert.tbs_certificate.subject_pki.raw,
            "{leaf:?}: key does not match certificate"
        );
        let spki = cert.public_key();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match leaf {
            Leaf::Ed25519 => assert_eq!(spki.algorithm.algorithm, OID_SIG_ED25519),
            Leaf::Rsa2048 => {
                assert_eq!(spki.algorithm.algorithm, OID_PKCS1_RSAENCRYPTION);
                let x509_parser::public_key::PublicKey::RSA(rsa) = spki.parsed().unwrap() else {
                    panic!("not RSA");
                };
                assert_eq!(rsa.key_size(), 2048);
            }
            Leaf::P384 => {
                assert_eq!(spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
                assert_eq!(curve, Some(OID_NIST_EC_P384));
            }
            _ => {
                assert_eq!(
                    spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY,
                    "{leaf:?}"
                );
                assert_eq!(curve, Some(OID_EC_P256), "{leaf:?}");
            }
        }
        // PEM forms round-trip to the DER forms.
        assert_eq!(
            CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap(),
            issued.cert
        );
        assert_eq!(
            PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
                .unwrap()
                .secret_der(),
            issued.key.secret_der()
        );
    }
}

#[test]
fn ca_certificates_are_proper_rfc5280_cas() {
    let p = pki();
    for (name, der, self_signed) in proper_cas(p) {
        let cert = parse(der.as_ref());
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca, "{name}: basicConstraints");
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign(), "{name}: keyUsage");
        if name == "no-cRLSign CA" {
            assert!(!ku.value.crl_sign(), "{name}: has cRLSign");
        } else {
            assert!(ku.value.crl_sign(), "{name}: lacks cRLSign");
        }
        let ski_ext = cert
            .iter_extensions()
            .find(|e| {
                matches!(
                    e.parsed_extension(),
                    ParsedExtension::SubjectKeyIdentifier(_)
                )
            })
            .unwrap_or_else(|| panic!("{name}: no SKI"));
        assert!(!ski_ext.critical, "{name}: SKI critical");
        let aki_ext = ext(&cert, &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER);
        assert_eq!(aki_ext.is_none(), self_signed, "{name}: AKI presence");
        assert!(aki_ext.is_none_or(|e| !e.critical), "{name}: AKI critical");
        assert_eq!(
            cert.subject() == cert.issuer(),
            self_signed,
            "{name}: self-signed"
        );
    }

    // The deliberately improper ones.
    let no_ski_der = p.no_ski_intermediate();
    let no_ski = parse(&no_ski_der);
    assert!(ski(&no_ski).is_none());
    let bc = no_ski.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    let root_der = p.root();
    assert_eq!(aki(no_ski.extensions()), ski(&parse(&root_der)));

    let non_ca = p.non_ca_root();
    let cert = parse(non_ca.as_ref());
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(!bc.critical && bc.value.ca);
    assert!(ski(&cert).is_some());
    assert!(cert.key_usage().unwrap().unwrap().value.key_cert_sign());

    let unknown = p.anchor_with_unknown_critical_ext();
    let cert = parse(unknown.as_ref());
    assert!(ext(&cert, &oid(UNKNOWN_CRITICAL_OID)).unwrap().critical);

    let expired = p.expired_root();
    let cert = parse(expired.as_ref());
    assert_eq!(
        cert.validity().not_after.timestamp(),
        i64::try_from(at("2021-01-01T00:00:00Z").as_secs()).unwrap()
    );
}

#[test]
fn impostors_and_cross_signed_cas_have_the_claimed_names_and_keys() {
    let p = pki();
    let (root, impostor_root) = (p.root(), p.impostor_root());
    let (root, impostor_root) = (parse(&root), parse(&impostor_root));
    assert_eq!(root.subject(), impostor_root.subject());
    assert_ne!(root.public_key().raw, impostor_root.public_key().raw);

    let (inter, impostor_inter) = (p.intermediate(), p.impostor_intermediate());
    let (inter, impostor_inter) = (parse(&inter), parse(&impostor_inter));
    assert_eq!(inter.subject(), impostor_inter.subject());
    assert_eq!(inter.issuer(), impostor_inter.issuer());
    assert_ne!(inter.public_key().raw, impostor_inter.public_key().raw);
    let chain = p.leaf(Leaf::ImpostorSameNames).chain();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], p.impostor_intermediate());
    assert_eq!(parse(&chain[0]).issuer(), inter.subject());

    let (other, foreign) = (p.other_root(), p.leaf(Leaf::ForeignCa).chain());
    let other = parse(&other);
    assert_ne!(other.subject(), root.subject());
    assert_ne!(parse(&foreign[0]).issuer(), inter.subject());

    let (a, b, second) = (p.cross_a(), p.cross_b(), p.second_root());
    let (a, b, second) = (parse(&a), parse(&b), parse(&second));
    assert_eq!(a.subject(), b.subject());
    assert_eq!(a.public_key().raw, b.public_key().raw);
    assert_eq!(a.issuer(), root.subject());
    assert_eq!(b.issuer(), second.subject());
    assert_ne!(second.subject(), root.subject());
    assert_ne!(a.raw_serial(), b.raw_serial());
    assert_eq!(
        p.leaf(Leaf::ViaCrossSigned).chain(),
        vec![
            p.leaf(Leaf::ViaCrossSigned).cert.clone(),
            p.cross_a(),
            p.cross_b()
        ]
    );
}

#[test]
fn serials_match_certificates_and_are_distinct() {
    let p = pki();
    let mut seen = HashSet::new();
    for leaf in Leaf::ALL {
        let issued = p.leaf(leaf);
        let ee = EndEntityCert::try_from(&issued.cert).unwrap();
        assert_eq!(ee.serial(), issued.serial.as_slice(), "{leaf:?}");
        assert_eq!(
            parse(issued.cert.as_ref()).raw_serial(),
            issued.serial.as_slice()
        );
        assert_eq!(issued.serial, serial_bytes(leaf.serial()));
        assert!(
            seen.insert(issued.serial.clone()),
            "{leaf:?}: duplicate serial"
        );
    }
    let mut others = proper_cas(p)
        .into_iter()
        .map(|(_, c, _)| c)
        .collect::<Vec<_>>();
    others.extend([
        p.no_ski_intermediate(),
        p.non_ca_root(),
        p.long_chain()[0].clone(),
        p.expired_root_chain()[0].clone(),
        p.non_ca_root_leaf().cert.clone(),
        p.unknown_critical_ext_root_leaf().cert.clone(),
    ]);
    for cert in others {
        let serial = parse(cert.as_ref()).raw_serial().to_vec();
        assert!(serial[0] & 0x80 == 0 && serial != [0]);
        assert!(seen.insert(serial), "duplicate serial");
    }
    assert_eq!(
        p.intermediate_serial(),
        parse(p.intermediate().as_ref()).raw_serial()
    );
}

// ---------------------------------------------------------------------------
// CRLs

#[test]
fn crl_contents() {
    let p = pki();
    let inter_ski = ski(&parse(p.intermediate().as_ref())).unwrap();
    let root_ski = ski(&parse(p.root().as_ref())).unwrap();
    let inter_name = parse(p.intermediate().as_ref()).subject().to_string();
    let no_crl_sign = p.no_crl_sign_ca();
    let no_crl_sign = parse(&no_crl_sign);
    let revoked = &p.leaf(Leaf::Revoked).serial;
    let genuine = &p.leaf(Leaf::Genuine).serial;

    for kind in Crl::ALL {
        let der = p.crl(kind);
        // webpki accepts every one of them syntactically.
        let crl = CertRevocationList::from(BorrowedCertRevocationList::from_der(&der).unwrap());
        let x = parse_crl(&der);
        assert_eq!(
            x.last_update().timestamp(),
            i64::try_from(at("2026-05-01T00:00:00Z").as_secs()).unwrap(),
            "{kind:?}"
        );
        let next = if kind == Crl::IntermediateExpired {
            "2026-05-15T00:00:00Z"
        } else {
            "2026-07-01T00:00:00Z"
        };
        assert_eq!(
            x.next_update().unwrap().timestamp(),
            i64::try_from(at(next).as_secs()).unwrap(),
            "{kind:?}"
        );
        let (expected_aki, expected_issuer) = match kind {
            Crl::Root | Crl::RootRevokingIntermediate => (
                root_ski.clone(),
                parse(p.root().as_ref()).subject().to_string(),
            ),
            Crl::ByNoCrlSignCa => (
                ski(&no_crl_sign).unwrap(),
                no_crl_sign.subject().to_string(),
            ),
            _ => (inter_ski.clone(), inter_name.clone()),
        };
        assert_eq!(aki(x.extensions()), Some(expected_aki), "{kind:?}");
        assert_eq!(x.issuer().to_string(), expected_issuer, "{kind:?}");

        let crl_number = x
            .extensions()
            .iter()
            .find(|e| e.oid == OID_X509_EXT_CRL_NUMBER);
        match kind {
            Crl::NoCrlNumber => {
                assert!(crl_number.is_none());
                assert_eq!(x.extensions().len(), 1, "only AKI remains");
            }
            Crl::CriticalCrlNumber => assert!(crl_number.unwrap().critical),
            _ => assert!(!crl_number.unwrap().critical, "{kind:?}"),
        }

        let revokes = |serial: &[u8]| crl.find_serial(serial).unwrap().is_some();
        match kind {
            Crl::Intermediate
            | Crl::IntermediateExpired
            | Crl::CriticalCrlNumber
            | Crl::NoCrlNumber => {
                assert!(revokes(revoked), "{kind:?}");
                assert!(!revokes(genuine), "{kind:?}");
                assert_eq!(x.iter_revoked_certificates().count(), 1);
            }
            Crl::IntermediateEmpty | Crl::Root | Crl::IntermediateWithIdp => {
                assert_eq!(x.iter_revoked_certificates().count(), 0, "{kind:?}");
            }
            Crl::RootRevokingIntermediate => {
                assert!(revokes(&p.intermediate_serial()));
                assert_eq!(x.iter_revoked_certificates().count(), 1);
            }
            Crl::ImpostorSigned => assert!(revokes(genuine)),
            Crl::ByNoCrlSignCa => assert!(revokes(&p.leaf(Leaf::ViaNoCrlSignCa).serial)),
        }

        let idp = x
            .extensions()
            .iter()
            .find(|e| e.oid == oid(&[2, 5, 29, 28]));
        assert_eq!(idp.is_some(), kind == Crl::IntermediateWithIdp, "{kind:?}");
        if let Some(idp) = idp {
            assert!(idp.critical);
            let raw = String::from_utf8_lossy(idp.value);
            assert!(raw.contains(OTHER_IDP_URI));
        }

        // PEM round-trip.
        assert_eq!(
            CertificateRevocationListDer::from_pem_slice(p.crl_pem(kind).as_bytes()).unwrap(),
            der
        );
    }
}

#[test]
fn crl_signatures_check_out_in_webpki() {
    let p = pki();
    let leaf = |l| p.leaf(l);
    // Properly signed CRLs: revocation applies.
    assert_eq!(
        verify_with_crls(leaf(Leaf::Revoked), &[Crl::Intermediate, Crl::Root]),
        Err(webpki::Error::CertRevoked)
    );
    assert_eq!(
        verify_with_crls(leaf(Leaf::Genuine), &[Crl::Intermediate, Crl::Root]),
        Ok(())
    );
    assert_eq!(
        verify_with_crls(leaf(Leaf::Second), &[Crl::IntermediateEmpty, Crl::Root]),
        Ok(())
    );
    assert_eq!(
        verify_with_crls(
            leaf(Leaf::Genuine),
            &[Crl::IntermediateEmpty, Crl::RootRevokingIntermediate]
        ),
        Err(webpki::Error::CertRevoked)
    );
    // The re-encoded CRLs carry valid signatures.
    assert_eq!(
        verify_with_crls(leaf(Leaf::Revoked), &[Crl::CriticalCrlNumber, Crl::Root]),
        Err(webpki::Error::CertRevoked)
    );
    assert_eq!(
        verify_with_crls(leaf(Leaf::Revoked), &[Crl::NoCrlNumber, Crl::Root]),
        Err(webpki::Error::CertRevoked)
    );
    assert_eq!(
        verify_with_crls(leaf(Leaf::Genuine), &[Crl::CriticalCrlNumber, Crl::Root]),
        Ok(())
    );
    // Expired CRL.
    assert!(matches!(
        verify_with_crls(leaf(Leaf::Genuine), &[Crl::IntermediateExpired, Crl::Root]),
        Err(webpki::Error::CrlExpired { .. })
    ));
    // Bad signature.
    assert_eq!(
        verify_with_crls(leaf(Leaf::Genuine), &[Crl::ImpostorSigned, Crl::Root]),
        Err(webpki::Error::InvalidCrlSignatureForPublicKey)
    );
    // Issuer without cRLSign.
    assert_eq!(
        verify_with_crls(leaf(Leaf::ViaNoCrlSignCa), &[Crl::ByNoCrlSignCa, Crl::Root]),
        Err(webpki::Error::IssuerNotCrlSigner)
    );
    // The IDP CRL is not authoritative for the leaf with another distribution point...
    assert_eq!(
        verify_with_crls(
            leaf(Leaf::WithCrlDp),
            &[Crl::IntermediateWithIdp, Crl::Root]
        ),
        Err(webpki::Error::UnknownRevocationStatus)
    );
    // ...but a full CRL is.
    assert_eq!(
        verify_with_crls(leaf(Leaf::WithCrlDp), &[Crl::Intermediate, Crl::Root]),
        Ok(())
    );
}

// ---------------------------------------------------------------------------
// ad-hoc issuance

#[test]
fn issue_and_adhoc_crls() {
    let p = pki();
    let (from, to) = (at("2026-05-01T00:00:00Z"), at("2026-08-01T00:00:00Z"));
    let a = p.issue("com.example.fresh", 0x8000_0000_0000_0001, from, to);
    let b = p.issue("com.example.fresh", 7, from, to);
    assert_eq!(a.serial, vec![0, 0x80, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(b.serial, vec![7]);
    for issued in [&a, &b] {
        let ee = EndEntityCert::try_from(&issued.cert).unwrap();
        assert_eq!(ee.serial(), issued.serial.as_slice());
        let cert = parse(issued.cert.as_ref());
        assert_eq!(san_uris(&cert), vec!["app://com.example.fresh".to_owned()]);
        assert_eq!(
            cert.validity().not_before.timestamp(),
            i64::try_from(from.as_secs()).unwrap()
        );
        assert_eq!(
            cert.validity().not_after.timestamp(),
            i64::try_from(to.as_secs()).unwrap()
        );
        assert_eq!(verify(&issued.chain(), &p.root()), Ok(()));
    }

    let crl = p.intermediate_crl(
        &[a.serial.clone(), vec![0x42]],
        at("2026-05-20T00:00:00Z"),
        at("2026-06-20T00:00:00Z"),
    );
    let root_crl = p.root_crl(&[], at("2026-05-20T00:00:00Z"), at("2026-06-20T00:00:00Z"));
    let check = |issued: &Issued| {
        verify_at(
            &issued.chain(),
            &p.root(),
            KeyUsage::client_auth(),
            NOW,
            &[crl.clone(), root_crl.clone()],
            ExpirationPolicy::Enforce,
        )
    };
    assert_eq!(check(&a), Err(webpki::Error::CertRevoked));
    assert_eq!(check(&b), Ok(()));
    let x = parse_crl(&crl);
    let serials = x
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect::<Vec<_>>();
    assert_eq!(serials, vec![a.serial.clone(), vec![0x42]]);
}

#[test]
fn write_to_writes_every_file() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    p.write_to(dir.path());
    let root = CertificateDer::from_pem_file(dir.path().join("root.pem")).unwrap();
    assert_eq!(root, p.root());
    let inter = CertificateDer::from_pem_file(dir.path().join("intermediate.pem")).unwrap();
    assert_eq!(inter, p.intermediate());
    for leaf in Leaf::ALL {
        let cert =
            CertificateDer::from_pem_file(dir.path().join(format!("{}.pem", leaf.name()))).unwrap();
        assert_eq!(cert, p.leaf(leaf).cert);
        let chain =
            CertificateDer::pem_file_iter(dir.path().join(format!("{}.chain.pem", leaf.name())))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        assert_eq!(chain, p.leaf(leaf).chain());
        let key = PrivateKeyDer::from_pem_file(dir.path().join(format!("{}.key.pem", leaf.name())))
            .unwrap();
        assert_eq!(key.secret_der(), p.leaf(leaf).key.secret_der());
    }
    for crl in Crl::ALL {
        let der = CertificateRevocationListDer::from_pem_file(
            dir.path().join(format!("{}.crl.pem", crl.name())),
        )
        .unwrap();
        assert_eq!(der, p.crl(crl));
    }
    for name in [
        "impostor-root",
        "other-root",
        "second-root",
        "cross-a",
        "cross-b",
        "expired-root",
    ] {
        assert!(dir.path().join(format!("{name}.pem")).is_file(), "{name}");
    }
}

#[test]
fn clock_helpers_and_generation_speed() {
    assert_eq!(at("2026-06-01T00:00:00Z"), NOW);
    assert_eq!(serial_bytes(0), vec![0]);
    assert_eq!(serial_bytes(0x1000), vec![0x10, 0]);
    assert_eq!(serial_bytes(0xff), vec![0, 0xff]);
    let start = Instant::now();
    let fresh = TestPki::new();
    let elapsed = start.elapsed();
    eprintln!("TestPki::new() took {elapsed:?}");
    // A second PKI has the same names and serials but fresh keys.
    assert_eq!(
        parse(fresh.root().as_ref()).subject(),
        parse(pki().root().as_ref()).subject()
    );
    assert_ne!(fresh.root(), pki().root());
}
