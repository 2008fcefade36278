//! The strict profile's rules on keys, serial numbers, nameConstraints and trust anchors'
//! authorityKeyIdentifier: each rule driven by a real, correctly signed certificate (rcgen,
//! then re-signed by the fixture CA after a TBS field was replaced where rcgen cannot make
//! the key or serial), and the policy's warning when revocation is not checked.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use certgate::{CertRole, PeerChain, PeerIdentity, Policy, Rejection, Verifier, VerifierBuilder};
use common::spki::{dsa_spki, ed448_spki, leaf_with_spki, p192_spki, rsa_spki};
use common::{Crl, Leaf, NOW, TBS_ISSUER, TBS_SERIAL, TBS_SPKI, pki, tlv};
use rcgen::{CertificateParams, CustomExtension, GeneralSubtree, KeyPair, NameConstraints};
use rustls_pki_types::CertificateDer;

fn builder() -> VerifierBuilder {
    VerifierBuilder::new().trust_anchor(pki().root())
}

fn verify(
    verifier: &Verifier,
    chain: Vec<CertificateDer<'static>>,
) -> Result<PeerIdentity, Rejection> {
    verifier.verify(&PeerChain::new(chain), NOW)
}

fn reject(verifier: &Verifier, chain: Vec<CertificateDer<'static>>) -> Rejection {
    match verify(verifier, chain) {
        Ok(identity) => panic!("accepted: {identity:?}"),
        Err(rejection) => rejection,
    }
}

/// The rule and role of a `profile_violation`.
fn violation(rejection: &Rejection) -> (&'static str, CertRole) {
    match rejection {
        Rejection::ProfileViolation { rule, role, .. } => (rule, *role),
        other => panic!("expected profile_violation, got {other:?}"),
    }
}

fn unsupported(rejection: &Rejection) -> String {
    match rejection {
        Rejection::UnsupportedAlgorithm { detail } => detail.clone(),
        other => panic!("expected unsupported_algorithm, got {other:?}"),
    }
}

/// A real key's SubjectPublicKeyInfo.
fn real_spki(key: &KeyPair) -> Vec<u8> {
    rcgen::PublicKeyData::subject_public_key_info(key)
}

/// The genuine leaf's chain with TBS field `index` replaced by `tlv`, re-signed by the real
/// intermediate.
fn leaf_with_field(index: usize, field: &[u8]) -> Vec<CertificateDer<'static>> {
    let issued = pki().issue_with(0x7b00, |_| {});
    let leaf =
        pki().resign_by_intermediate(&issued.cert, |i, _| (i == index).then(|| field.to_vec()));
    vec![leaf, pki().intermediate()]
}

fn leaf_with_serial(content: &[u8]) -> Vec<CertificateDer<'static>> {
    leaf_with_field(TBS_SERIAL, &tlv(0x02, content))
}

fn keep(_: usize, _: &[u8]) -> Option<Vec<u8>> {
    None
}

// ---------------------------------------------------------------------------
// Keys

#[test]
fn rsa_1024_leaf_is_refused() {
    let verifier = builder().build().unwrap();
    // Control: the same leaf re-signed with a 2048-bit modulus passes.
    verify(&verifier, leaf_with_spki(&rsa_spki(2048))).unwrap();
    let rejection = reject(&verifier, leaf_with_spki(&rsa_spki(1024)));
    assert_eq!(rejection.code(), "profile_violation");
    assert_eq!(violation(&rejection), ("rsa_key_too_small", CertRole::Leaf));
    assert!(rejection.to_string().contains("1024"), "{rejection}");
}

#[test]
fn rsa_modulus_must_be_a_multiple_of_8_bits() {
    let verifier = builder().build().unwrap();
    let rejection = reject(&verifier, leaf_with_spki(&rsa_spki(2052)));
    assert_eq!(
        violation(&rejection),
        ("rsa_modulus_not_multiple_of_8", CertRole::Leaf)
    );
}

#[test]
fn rsa_above_what_providers_verify_is_unsupported() {
    let verifier = builder().build().unwrap();
    verify(&verifier, leaf_with_spki(&rsa_spki(8192))).unwrap();
    let detail = unsupported(&reject(&verifier, leaf_with_spki(&rsa_spki(8200))));
    assert!(detail.contains("8200"), "{detail}");
}

#[test]
fn min_rsa_bits_is_a_policy_setting() {
    let rsa = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let chain = leaf_with_spki(&real_spki(&rsa));
    verify(&builder().build().unwrap(), chain.clone()).unwrap();
    let strict = builder().min_rsa_bits(3072).build().unwrap();
    let rejection = reject(&strict, chain);
    assert_eq!(violation(&rejection), ("rsa_key_too_small", CertRole::Leaf));
    assert!(rejection.to_string().contains("3072"), "{rejection}");

    // Out of range: no provider verifies below 2048 or above 8192 bits.
    for bits in [1024, 2047, 8193] {
        let err = builder().min_rsa_bits(bits).build().unwrap_err();
        assert_eq!(err.field(), "profile.min_rsa_bits", "{err}");
    }

    // The policy file's [profile] min_rsa_bits.
    let dir = tempfile::tempdir().unwrap();
    pki().write_to(dir.path());
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "[trust]\nanchors = [\"root.pem\"]\n\n[profile]\nmin_rsa_bits = 3072\n",
    )
    .unwrap();
    let policy = Policy::load(&path).unwrap();
    let rsa_chain = leaf_with_spki(&real_spki(&rsa));
    assert_eq!(
        violation(&reject(policy.verifier(), rsa_chain)).0,
        "rsa_key_too_small"
    );
    std::fs::write(
        &path,
        "[trust]\nanchors = [\"root.pem\"]\n\n[profile]\nmin_rsa_bits = 1024\n",
    )
    .unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.field(), "profile.min_rsa_bits");
    assert!(err.to_string().contains("policy.toml"), "{err}");
}

#[test]
fn keys_no_provider_can_use_are_unsupported() {
    let verifier = builder().build().unwrap();
    for (spki, name) in [
        (ed448_spki(), "Ed448"),
        (dsa_spki(), "DSA"),
        (p192_spki(), "P-192"),
    ] {
        let rejection = reject(&verifier, leaf_with_spki(&spki));
        assert_eq!(rejection.code(), "unsupported_algorithm", "{name}");
        let detail = unsupported(&rejection);
        assert!(detail.contains(name) && detail.contains("leaf"), "{detail}");
    }
}

#[test]
fn ed25519_p256_and_p384_leaves_are_fine() {
    let verifier = builder().build().unwrap();
    verify(&verifier, pki().leaf(Leaf::Ed25519).chain()).unwrap();
    verify(&verifier, pki().leaf(Leaf::Genuine).chain()).unwrap();
    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    verify(&verifier, leaf_with_spki(&real_spki(&p384))).unwrap();
}

#[test]
fn p521_only_where_the_provider_verifies_it() {
    let p521 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let chain = leaf_with_spki(&real_spki(&p521));
    #[cfg(feature = "ring")]
    {
        let ring = builder()
            .crypto_provider(&rustls::crypto::ring::default_provider())
            .build()
            .unwrap();
        let detail = unsupported(&reject(&ring, chain.clone()));
        assert!(detail.contains("P-521"), "{detail}");
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        let aws = builder()
            .crypto_provider(&rustls::crypto::aws_lc_rs::default_provider())
            .build()
            .unwrap();
        verify(&aws, chain).unwrap();
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    drop(chain);
}

#[test]
fn intermediate_keys_are_checked_on_the_path_and_at_load() {
    let issued = pki().leaf_via_custom_ca(&rcgen::PKCS_RSA_SHA256, |_| {}, keep);
    let ca = issued.intermediates()[0].clone();
    verify(&builder().build().unwrap(), issued.chain()).unwrap();
    let strict = builder().min_rsa_bits(3072).build().unwrap();
    assert_eq!(
        violation(&reject(&strict, issued.chain())),
        ("rsa_key_too_small", CertRole::Intermediate)
    );
    // Configured, it is refused when the policy loads.
    let err = builder()
        .min_rsa_bits(3072)
        .intermediate(ca)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.intermediates[0]");
    assert!(err.message().contains("rsa_key_too_small"), "{err}");
}

#[test]
fn anchor_keys_are_checked_at_load() {
    for (spki, expect) in [
        (ed448_spki(), "Ed448"),
        (dsa_spki(), "DSA"),
        (p192_spki(), "P-192"),
        (rsa_spki(1024), "rsa_key_too_small"),
    ] {
        let (root, _) = pki().custom_root(|_, _| {}, |i, _| (i == TBS_SPKI).then(|| spki.clone()));
        let err = VerifierBuilder::new()
            .trust_anchor(root.clone())
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "trust.anchors[0]", "{err}");
        assert!(err.message().contains(expect), "{err}");

        // From a file, the error names the file too.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("root.pem"),
            common::pem("CERTIFICATE", &root),
        )
        .unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[trust]\nanchors = [\"root.pem\"]\n").unwrap();
        let err = Policy::load(&path).unwrap_err();
        assert!(
            err.to_string().contains("policy.toml: trust.anchors[0]"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------
// Serial numbers

#[test]
fn leaf_serial_numbers_are_positive_nonzero_and_short() {
    let verifier = builder().build().unwrap();
    for (content, rule) in [
        (vec![0x00], "serial_zero"),
        (vec![0xff, 0x01], "serial_negative"),
        (vec![0x81; 20], "serial_negative"),
        (vec![0x11; 21], "serial_too_long"),
        ([vec![0x00], vec![0x81; 21]].concat(), "serial_too_long"),
    ] {
        let rejection = reject(&verifier, leaf_with_serial(&content));
        assert_eq!(
            violation(&rejection),
            (rule, CertRole::Leaf),
            "{content:02x?}"
        );
    }
    // Twenty octets of value, with the sign octet that keeps it positive: fine.
    verify(
        &verifier,
        leaf_with_serial(&[vec![0x00], vec![0x81; 20]].concat()),
    )
    .unwrap();
    verify(&verifier, leaf_with_serial(&[0x11; 20])).unwrap();
    verify(&verifier, leaf_with_serial(&[0x01])).unwrap();
}

#[test]
fn intermediate_serial_numbers_are_checked() {
    let verifier = builder().build().unwrap();
    for (content, rule) in [
        (vec![0x00], "serial_zero"),
        (vec![0x80, 0x00], "serial_negative"),
        (vec![0x22; 21], "serial_too_long"),
    ] {
        let issued = pki().leaf_via_custom_ca(
            &rcgen::PKCS_ECDSA_P256_SHA256,
            |_| {},
            |i, _| (i == TBS_SERIAL).then(|| tlv(0x02, &content)),
        );
        let rejection = reject(&verifier, issued.chain());
        assert_eq!(violation(&rejection), (rule, CertRole::Intermediate));
    }
}

// ---------------------------------------------------------------------------
// nameConstraints

/// nameConstraints (2.5.29.30), critical, with this DER value.
fn name_constraints_ext(value: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 30], value);
    ext.set_criticality(true);
    ext
}

fn constrained_ca(edit: impl FnOnce(&mut CertificateParams)) -> Vec<CertificateDer<'static>> {
    pki()
        .leaf_via_custom_ca(&rcgen::PKCS_ECDSA_P256_SHA256, edit, keep)
        .chain()
}

#[test]
fn name_constraints_with_no_subtrees_are_refused() {
    let verifier = builder().build().unwrap();
    let chain = constrained_ca(|p| {
        p.custom_extensions
            .push(name_constraints_ext(tlv(0x30, &[])));
    });
    assert_eq!(
        violation(&reject(&verifier, chain)),
        ("name_constraints_empty", CertRole::Intermediate)
    );
    // On an anchor, at load.
    let (root, _) = pki().custom_root(
        |p, _| {
            p.custom_extensions
                .push(name_constraints_ext(tlv(0x30, &[])));
        },
        keep,
    );
    let err = VerifierBuilder::new()
        .trust_anchor(root)
        .build()
        .unwrap_err();
    assert!(err.message().contains("name_constraints_empty"), "{err}");
}

#[test]
fn dns_name_constraints_with_a_leading_period_are_refused() {
    let verifier = builder().build().unwrap();
    for (permitted, excluded) in [
        (vec![".example.com"], vec![]),
        (vec![], vec![".evil.example"]),
    ] {
        let chain = constrained_ca(|p| {
            p.name_constraints = Some(NameConstraints {
                permitted_subtrees: permitted
                    .iter()
                    .map(|n| GeneralSubtree::DnsName((*n).into()))
                    .collect(),
                excluded_subtrees: excluded
                    .iter()
                    .map(|n| GeneralSubtree::DnsName((*n).into()))
                    .collect(),
            });
        });
        assert_eq!(
            violation(&reject(&verifier, chain)),
            (
                "name_constraints_dns_leading_period",
                CertRole::Intermediate
            )
        );
    }
    // The same constraint without the period is fine.
    let chain = constrained_ca(|p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![],
            excluded_subtrees: vec![GeneralSubtree::DnsName("evil.example".into())],
        });
    });
    verify(&verifier, chain).unwrap();
}

// ---------------------------------------------------------------------------
// Trust anchors' authorityKeyIdentifier

/// authorityKeyIdentifier (2.5.29.35) with these fields (`[0]`, `[1]`, `[2]` TLVs).
fn aki_ext(fields: &[Vec<u8>]) -> CustomExtension {
    CustomExtension::from_oid_content(&[2, 5, 29, 35], tlv(0x30, &fields.concat()))
}

fn key_id(value: &[u8]) -> Vec<u8> {
    tlv(0x80, value)
}

fn anchor_error(edit: impl FnOnce(&mut CertificateParams, &KeyPair)) -> String {
    let (root, _) = pki().custom_root(edit, keep);
    VerifierBuilder::new()
        .trust_anchor(root)
        .build()
        .unwrap_err()
        .to_string()
}

#[test]
fn anchor_aki_must_name_its_own_key_and_nothing_else() {
    let err = anchor_error(|p, _| p.custom_extensions.push(aki_ext(&[key_id(&[0x42; 20])])));
    assert!(err.contains("anchor_aki_mismatch"), "{err}");

    let err = anchor_error(|p, key| {
        let own = p.key_identifier(key);
        p.custom_extensions
            .push(aki_ext(&[key_id(&own), tlv(0x82, &[0x01])]));
    });
    assert!(err.contains("anchor_aki_issuer_serial"), "{err}");

    let err = anchor_error(|p, _| p.custom_extensions.push(aki_ext(&[])));
    assert!(err.contains("anchor_aki_key_id_missing"), "{err}");

    // rcgen's own AKI on a self-signed certificate is the subjectKeyIdentifier: accepted.
    let (root, issued) =
        pki().custom_root(|p, _| p.use_authority_key_identifier_extension = true, keep);
    let verifier = VerifierBuilder::new().trust_anchor(root).build().unwrap();
    verify(&verifier, issued.chain()).unwrap();
}

#[test]
fn a_self_signed_anchor_with_another_issuer_name_counts_as_self_issued() {
    let other_name = tlv(
        0x30,
        &tlv(
            0x31,
            &tlv(
                0x30,
                &[
                    tlv(0x06, &[0x55, 0x04, 0x03]),
                    tlv(0x0c, b"Some Other Name"),
                ]
                .concat(),
            ),
        ),
    );
    let rename = |i: usize, _: &[u8]| (i == TBS_ISSUER).then(|| other_name.clone());
    // No AKI: a self-signed root needs none, whatever its issuer name says.
    let (root, issued) = pki().custom_root(|_, _| {}, rename);
    let verifier = VerifierBuilder::new().trust_anchor(root).build().unwrap();
    verify(&verifier, issued.chain()).unwrap();
    // An AKI naming another key is refused, as on any self-issued anchor.
    let (root, _) = pki().custom_root(
        |p, _| p.custom_extensions.push(aki_ext(&[key_id(&[0x42; 20])])),
        rename,
    );
    let err = VerifierBuilder::new()
        .trust_anchor(root)
        .build()
        .unwrap_err();
    assert!(err.message().contains("anchor_aki_mismatch"), "{err}");
}

// ---------------------------------------------------------------------------
// Revocation off

#[test]
fn a_policy_without_crls_warns_that_revocation_is_not_checked() {
    let verifier = builder().build().unwrap();
    assert_eq!(verifier.warnings().len(), 1, "{:?}", verifier.warnings());
    assert!(
        verifier.warnings()[0].contains("revocation is not checked")
            && verifier.warnings()[0].contains("denylist"),
        "{:?}",
        verifier.warnings()
    );
    let with_crls = builder()
        .crl(pki().crl(Crl::Intermediate))
        .crl(pki().crl(Crl::Root))
        .build()
        .unwrap();
    assert!(
        with_crls.warnings().is_empty(),
        "{:?}",
        with_crls.warnings()
    );
}
