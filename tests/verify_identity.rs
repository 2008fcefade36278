//! App identity, allowlists, SPKI pins (with rotation windows), leaf fingerprints, and the
//! strict RFC 5280 profile, each driven by a real certificate from the test PKI.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use certgate::{
    AppId, AppRule, CertRole, IdentitySource, PeerChain, PeerIdentity, Pin, Rejection, Verifier,
    VerifierBuilder,
};
use common::{CN_APP, Leaf, NOW, OTHER_APP, OU_APP, SHOP, at, pki};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

fn builder() -> VerifierBuilder {
    VerifierBuilder::new().trust_anchor(pki().root())
}

fn build(builder: VerifierBuilder) -> Verifier {
    builder.build().expect("verifier builds")
}

fn verify_leaf(verifier: &Verifier, leaf: Leaf) -> Result<PeerIdentity, Rejection> {
    verifier.verify(&PeerChain::new(pki().leaf(leaf).chain()), NOW)
}

fn accept(verifier: &Verifier, leaf: Leaf) -> PeerIdentity {
    verify_leaf(verifier, leaf).unwrap_or_else(|r| panic!("{leaf:?} rejected: {r:?}"))
}

fn reject(verifier: &Verifier, leaf: Leaf) -> Rejection {
    match verify_leaf(verifier, leaf) {
        Ok(identity) => panic!("{leaf:?} accepted: {identity:?}"),
        Err(rejection) => rejection,
    }
}

fn app(id: &str) -> AppId {
    AppId::new(id).expect("valid app id")
}

fn app_id(identity: &PeerIdentity) -> Option<&str> {
    identity.app_id().map(AppId::as_str)
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo, read with x509-parser.
fn spki_sha256(der: &CertificateDer<'_>) -> [u8; 32] {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).expect("fixture certificate parses");
    Sha256::digest(cert.public_key().raw).into()
}

fn spki_pin(der: &CertificateDer<'_>) -> Pin {
    Pin::from_spki_sha256(spki_sha256(der))
}

fn fingerprint(der: &CertificateDer<'_>) -> [u8; 32] {
    Sha256::digest(der.as_ref()).into()
}

/// A pin that matches no key in the test PKI.
fn stray_pin() -> Pin {
    Pin::from_spki_sha256([0x42; 32])
}

fn profile_rule(rejection: &Rejection) -> (&'static str, CertRole) {
    match rejection {
        Rejection::ProfileViolation { rule, role, .. } => (rule, *role),
        other => panic!("expected profile_violation, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// App identity and allowlist

#[test]
fn app_not_allowed_for_an_unlisted_app() {
    let verifier = build(builder().allow_app(AppRule::new(app(SHOP))));
    let rejection = reject(&verifier, Leaf::OtherApp);
    assert_eq!(rejection.code(), "app_not_allowed");
    assert_eq!(
        rejection,
        Rejection::AppNotAllowed {
            app: OTHER_APP.into()
        }
    );
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.matched(), Some(SHOP));
}

#[test]
fn every_app_is_allowed_when_none_is_listed() {
    let verifier = build(builder());
    assert_eq!(app_id(&accept(&verifier, Leaf::OtherApp)), Some(OTHER_APP));
    assert_eq!(accept(&verifier, Leaf::OtherApp).matched(), None);
}

#[test]
fn no_app_id_for_a_leaf_without_one() {
    let rejection = reject(&build(builder()), Leaf::NoAppId);
    assert_eq!(rejection.code(), "no_app_id");
    assert!(matches!(rejection, Rejection::NoAppId { .. }));
}

#[test]
fn no_app_id_for_a_leaf_with_two() {
    let rejection = reject(&build(builder()), Leaf::TwoAppIds);
    assert_eq!(rejection.code(), "no_app_id");
    let Rejection::NoAppId { detail } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains("more than one"), "{detail}");
    // Ambiguity is refused even when the app id is optional.
    let optional = build(builder().require_app_id(false));
    assert_eq!(reject(&optional, Leaf::TwoAppIds).code(), "no_app_id");
}

#[test]
fn leaf_without_app_id_is_accepted_when_not_required() {
    let verifier = build(builder().require_app_id(false));
    let identity = accept(&verifier, Leaf::NoAppId);
    assert_eq!(identity.app_id(), None);
    assert_eq!(identity.dns_names(), ["no-app.example.com"]);
}

#[test]
fn app_list_requires_an_app_id_even_when_optional() {
    let verifier = build(
        builder()
            .require_app_id(false)
            .allow_app(AppRule::new(app(SHOP))),
    );
    assert_eq!(reject(&verifier, Leaf::NoAppId).code(), "no_app_id");
}

#[test]
fn identity_from_the_subject_cn() {
    let verifier = build(builder().identity_source(IdentitySource::SubjectCn));
    assert_eq!(app_id(&accept(&verifier, Leaf::CnIdentity)), Some(CN_APP));
    // The default SAN URI source finds nothing in that leaf.
    assert_eq!(
        reject(&build(builder()), Leaf::CnIdentity).code(),
        "no_app_id"
    );
}

#[test]
fn identity_from_the_subject_ou() {
    let verifier = build(builder().identity_source(IdentitySource::SubjectOu));
    assert_eq!(app_id(&accept(&verifier, Leaf::OuIdentity)), Some(OU_APP));
    // The genuine leaf has no OU.
    assert_eq!(reject(&verifier, Leaf::Genuine).code(), "no_app_id");
}

#[test]
fn identity_from_a_custom_san_uri_prefix() {
    let verifier = build(builder().identity_source(IdentitySource::SanUri {
        prefix: "app://com.example.".into(),
    }));
    assert_eq!(app_id(&accept(&verifier, Leaf::Genuine)), Some("shop"));
    assert_eq!(app_id(&accept(&verifier, Leaf::OtherApp)), Some("other"));
    // A prefix nothing carries means no app id.
    let nothing = build(builder().identity_source(IdentitySource::SanUri {
        prefix: "ios://".into(),
    }));
    assert_eq!(reject(&nothing, Leaf::Genuine).code(), "no_app_id");
}

#[test]
fn inspect_reads_the_same_identity_without_verifying() {
    let genuine = &pki().leaf(Leaf::Genuine).cert;
    let info = certgate::inspect(genuine, &IdentitySource::default()).unwrap();
    assert_eq!(info.app_id, Some(app(SHOP)));
    assert_eq!(info.spki_sha256, spki_sha256(genuine));
    assert_eq!(info.fingerprint, fingerprint(genuine));
    // Even for a leaf no verifier would accept.
    let foreign = certgate::inspect(
        &pki().leaf(Leaf::ForeignCa).cert,
        &IdentitySource::default(),
    )
    .unwrap();
    assert_eq!(foreign.app_id, Some(app(SHOP)));
    assert_eq!(
        certgate::inspect(&[0x30, 0x00], &IdentitySource::default())
            .unwrap_err()
            .code(),
        "malformed_certificate"
    );
}

// ---------------------------------------------------------------------------
// Pins

#[test]
fn pin_mismatch_when_no_app_pin_matches() {
    let verifier = build(builder().allow_app(AppRule::new(app(SHOP)).pin(stray_pin())));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "pin_mismatch");
    let Rejection::PinMismatch { detail } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains(SHOP), "{detail}");
}

#[test]
fn app_pin_on_the_intermediate_accepts() {
    let verifier = build(
        builder().allow_app(
            AppRule::new(app(SHOP))
                .pin(stray_pin())
                .pin(spki_pin(&pki().intermediate()).named("issuing-ca")),
        ),
    );
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.matched(), Some("issuing-ca"));
}

#[test]
fn app_pin_on_the_root_accepts() {
    let pin = spki_pin(&pki().root());
    let label = pin.to_string();
    let verifier = build(builder().allow_app(AppRule::new(app(SHOP)).pin(pin)));
    let identity = accept(&verifier, Leaf::Genuine);
    // An unnamed pin is reported as its `sha256/<base64>` text.
    assert_eq!(identity.matched(), Some(label.as_str()));
    assert!(label.starts_with("sha256/"));
}

#[test]
fn app_pin_on_the_leaf_key_accepts() {
    let verifier = build(
        builder().allow_app(AppRule::new(app(SHOP)).pin(spki_pin(&pki().leaf(Leaf::Genuine).cert))),
    );
    accept(&verifier, Leaf::Genuine);
    // Another leaf of the same app has another key.
    assert_eq!(reject(&verifier, Leaf::Second).code(), "pin_mismatch");
}

#[test]
fn inspect_spki_matches_what_pins_compare() {
    let intermediate = pki().intermediate();
    let info = certgate::inspect(&intermediate, &IdentitySource::default()).unwrap();
    let verifier = build(
        builder().allow_app(AppRule::new(app(SHOP)).pin(Pin::from_spki_sha256(info.spki_sha256))),
    );
    accept(&verifier, Leaf::Genuine);
}

#[test]
fn pin_not_yet_active_does_not_match() {
    let starts = at("2026-06-15T00:00:00Z");
    let verifier = build(builder().allow_app(
        AppRule::new(app(SHOP)).pin(spki_pin(&pki().intermediate()).active_from(starts)),
    ));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "pin_mismatch");
    // From its first second on it matches.
    verifier
        .verify(&PeerChain::new(pki().leaf(Leaf::Genuine).chain()), starts)
        .unwrap();
}

#[test]
fn pin_active_since_before_now_matches() {
    let verifier = build(
        builder().allow_app(
            AppRule::new(app(SHOP))
                .pin(spki_pin(&pki().intermediate()).active_from(at("2026-05-01T00:00:00Z"))),
        ),
    );
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.valid_until(), at("2027-01-01T00:00:00Z"));
}

#[test]
fn pin_ending_caps_valid_until() {
    let ends = at("2026-06-10T00:00:00Z");
    let verifier = build(builder().allow_app(
        AppRule::new(app(SHOP)).pin(spki_pin(&pki().intermediate()).active_until(ends)),
    ));
    let identity = accept(&verifier, Leaf::Genuine);
    assert!(identity.valid_until() <= ends);
    assert_eq!(identity.valid_until(), ends);
    // Inclusive end; a second later it no longer counts.
    let chain = PeerChain::new(pki().leaf(Leaf::Genuine).chain());
    verifier.verify(&chain, ends).unwrap();
    let after = at("2026-06-10T00:00:01Z");
    assert_eq!(
        verifier.verify(&chain, after).unwrap_err().code(),
        "pin_mismatch"
    );
}

#[test]
fn pin_rotation_hands_over_from_old_to_new() {
    let handover = at("2026-06-15T00:00:00Z");
    let verifier = build(
        builder().allow_app(
            AppRule::new(app(SHOP))
                .pin(
                    spki_pin(&pki().intermediate())
                        .named("old")
                        .active_until(handover),
                )
                .pin(spki_pin(&pki().root()).named("new").active_from(handover)),
        ),
    );
    let chain = PeerChain::new(pki().leaf(Leaf::Genuine).chain());
    let before = verifier.verify(&chain, NOW).unwrap();
    assert_eq!(before.matched(), Some("old"));
    assert_eq!(before.valid_until(), handover);
    let after = verifier.verify(&chain, at("2026-06-16T00:00:00Z")).unwrap();
    assert_eq!(after.matched(), Some("new"));
}

#[test]
fn empty_pin_window_is_refused_at_build() {
    let err = builder()
        .allow_app(
            AppRule::new(app(SHOP)).pin(
                stray_pin()
                    .active_from(at("2026-07-01T00:00:00Z"))
                    .active_until(at("2026-06-01T00:00:00Z")),
            ),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "apps[0].pins[0]");
}

#[test]
fn leaf_fingerprint_allowlist() {
    let genuine = &pki().leaf(Leaf::Genuine).cert;
    let verifier =
        build(builder().allow_app(AppRule::new(app(SHOP)).leaf_fingerprint(fingerprint(genuine))));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.matched(), Some(SHOP));
    let rejection = reject(&verifier, Leaf::Second);
    assert_eq!(rejection.code(), "pin_mismatch");
    let Rejection::PinMismatch { detail } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains("allowed certificates"), "{detail}");
}

#[test]
fn global_pins() {
    let verifier = build(builder().pin(spki_pin(&pki().intermediate()).named("global")));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.matched(), Some("global"));
    // Global pins apply to every app.
    accept(&verifier, Leaf::OtherApp);

    let stray = build(builder().pin(stray_pin()));
    let rejection = reject(&stray, Leaf::Genuine);
    assert_eq!(rejection.code(), "pin_mismatch");
    let Rejection::PinMismatch { detail } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains("global"), "{detail}");
}

#[test]
fn global_and_app_pins_must_both_match() {
    let global = spki_pin(&pki().root()).named("global");
    let both = build(
        builder()
            .pin(global.clone())
            .allow_app(AppRule::new(app(SHOP)).pin(spki_pin(&pki().intermediate()).named("app"))),
    );
    assert_eq!(accept(&both, Leaf::Genuine).matched(), Some("app"));
    let app_fails = build(
        builder()
            .pin(global)
            .allow_app(AppRule::new(app(SHOP)).pin(stray_pin())),
    );
    assert_eq!(reject(&app_fails, Leaf::Genuine).code(), "pin_mismatch");
}

#[test]
fn single_pin_warnings() {
    // Without CRLs every policy also warns that revocation is not checked; that one is
    // tested in verify_profile.rs.
    let pin_warnings = |v: &certgate::Verifier| -> Vec<String> {
        v.warnings()
            .iter()
            .filter(|w| !w.starts_with("revocation.crls"))
            .cloned()
            .collect()
    };
    let single = build(builder().allow_app(AppRule::new(app(SHOP)).pin(stray_pin())));
    assert_eq!(
        pin_warnings(&single).len(),
        1,
        "{:?}",
        pin_warnings(&single)
    );
    assert!(
        pin_warnings(&single)[0].contains("single pin"),
        "{:?}",
        pin_warnings(&single)
    );
    assert!(
        pin_warnings(&single)[0].contains(SHOP),
        "{:?}",
        pin_warnings(&single)
    );

    let two = build(
        builder().allow_app(
            AppRule::new(app(SHOP))
                .pin(stray_pin())
                .pin(spki_pin(&pki().intermediate())),
        ),
    );
    assert!(pin_warnings(&two).is_empty(), "{:?}", pin_warnings(&two));

    let global = build(builder().pin(stray_pin()));
    assert_eq!(
        pin_warnings(&global).len(),
        1,
        "{:?}",
        pin_warnings(&global)
    );
    let global_two = build(builder().pin(stray_pin()).pin(spki_pin(&pki().root())));
    assert!(
        pin_warnings(&global_two).is_empty(),
        "{:?}",
        pin_warnings(&global_two)
    );

    // No pins at all is a choice, not a warning.
    assert!(pin_warnings(&build(builder())).is_empty());
}

#[test]
fn duplicate_app_is_refused_at_build() {
    let err = builder()
        .allow_app(AppRule::new(app(SHOP)))
        .allow_app(AppRule::new(app(SHOP)))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "apps[1].id");
}

// ---------------------------------------------------------------------------
// Strict profile

#[test]
fn profile_violation_aki_missing() {
    let rejection = reject(&build(builder()), Leaf::NoAki);
    assert_eq!(rejection.code(), "profile_violation");
    assert_eq!(profile_rule(&rejection), ("aki_missing", CertRole::Leaf));
}

#[test]
fn profile_violation_leaf_key_cert_sign() {
    let rejection = reject(&build(builder()), Leaf::KeyCertSign);
    assert_eq!(
        profile_rule(&rejection),
        ("leaf_key_cert_sign", CertRole::Leaf)
    );
}

#[test]
fn profile_violation_name_constraints_on_leaf() {
    let rejection = reject(&build(builder()), Leaf::NameConstraints);
    assert_eq!(
        profile_rule(&rejection),
        ("name_constraints_on_leaf", CertRole::Leaf)
    );
}

#[test]
fn profile_violation_san_not_critical() {
    let rejection = reject(&build(builder()), Leaf::EmptySubjectNonCriticalSan);
    assert_eq!(
        profile_rule(&rejection),
        ("san_not_critical", CertRole::Leaf)
    );
}

#[test]
fn profile_violation_ski_missing_on_an_intermediate() {
    let rejection = reject(&build(builder()), Leaf::ViaNoSkiIntermediate);
    assert_eq!(rejection.code(), "profile_violation");
    assert_eq!(
        profile_rule(&rejection),
        ("ski_missing", CertRole::Intermediate)
    );
    // Configuring that intermediate is refused at build, naming the field.
    let err = builder()
        .intermediate(pki().no_ski_intermediate())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.intermediates[0]");
    assert!(err.message().contains("ski_missing"), "{}", err.message());
}

#[test]
fn profile_violation_non_critical_basic_constraints_on_an_intermediate() {
    let chain = pki().non_critical_bc_chain();
    let rejection = build(builder())
        .verify(&PeerChain::new(chain.clone()), NOW)
        .unwrap_err();
    assert_eq!(rejection.code(), "profile_violation");
    assert_eq!(
        profile_rule(&rejection),
        ("ca_basic_constraints_not_critical", CertRole::Intermediate)
    );
    // Configured, it is refused at build; without the strict profile the chain is accepted.
    let err = builder()
        .intermediate(chain[1].clone())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.intermediates[0]");
    assert!(
        err.message().contains("ca_basic_constraints_not_critical"),
        "{}",
        err.message()
    );
    assert!(
        build(builder().strict_profile(false))
            .verify(&PeerChain::new(chain), NOW)
            .is_ok()
    );
}

#[test]
fn profile_violation_ca_without_key_cert_sign() {
    use rcgen::KeyUsagePurpose::{CrlSign, DigitalSignature, KeyCertSign};
    // An intermediate whose keyUsage is cRLSign only (a CRL-signing CA) issues a leaf:
    // webpki ignores keyUsage on issuers, the strict profile does not.
    let leaf = pki().leaf_via_ca_with_key_usages(&[CrlSign]);
    let rejection = build(builder())
        .verify(&PeerChain::new(leaf.chain()), NOW)
        .unwrap_err();
    assert_eq!(rejection.code(), "profile_violation");
    assert_eq!(
        profile_rule(&rejection),
        ("ca_key_cert_sign_missing", CertRole::Intermediate)
    );
    // Configured, that CA is refused at build.
    let err = builder()
        .intermediate(leaf.intermediates()[0].clone())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.intermediates[0]");
    assert!(
        err.message().contains("ca_key_cert_sign_missing"),
        "{}",
        err.message()
    );
    // Relaxed, the same chain is accepted; with keyCertSign it is accepted strictly too.
    assert!(
        build(builder().strict_profile(false))
            .verify(&PeerChain::new(leaf.chain()), NOW)
            .is_ok()
    );
    let good = pki().leaf_via_ca_with_key_usages(&[KeyCertSign]);
    assert!(
        build(builder())
            .verify(&PeerChain::new(good.chain()), NOW)
            .is_ok()
    );

    // The same rule for an anchor, at build.
    let (root, _) = pki().root_with_key_usages(&[DigitalSignature, CrlSign]);
    let err = VerifierBuilder::new()
        .trust_anchor(root)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.anchors[0]");
    assert!(
        err.message().contains("ca_key_cert_sign_missing"),
        "{}",
        err.message()
    );
    let (root, issued) = pki().root_with_key_usages(&[KeyCertSign, CrlSign]);
    let verifier = build(VerifierBuilder::new().trust_anchor(root));
    assert!(
        verifier
            .verify(&PeerChain::new(issued.chain()), NOW)
            .is_ok()
    );
}

#[test]
fn profile_violations_are_accepted_without_the_strict_profile() {
    let lenient = build(builder().strict_profile(false));
    for leaf in [
        Leaf::NoAki,
        Leaf::KeyCertSign,
        Leaf::NameConstraints,
        Leaf::EmptySubjectNonCriticalSan,
        Leaf::ViaNoSkiIntermediate,
    ] {
        let identity = accept(&lenient, leaf);
        assert_eq!(app_id(&identity), Some(SHOP), "{leaf:?}");
    }
}

#[test]
fn anchor_with_non_critical_basic_constraints_is_refused_at_build() {
    let err = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .trust_anchor(pki().non_ca_root())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.anchors[1]");
    let err = VerifierBuilder::new()
        .trust_anchor(pki().non_ca_root())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.anchors[0]");
    assert!(
        err.message()
            .contains("anchor_basic_constraints_not_critical"),
        "{}",
        err.message()
    );
    assert_eq!(err.file(), None);

    // Without the strict profile it is a usable anchor.
    let lenient = build(
        VerifierBuilder::new()
            .trust_anchor(pki().non_ca_root())
            .strict_profile(false),
    );
    lenient
        .verify(&PeerChain::new(pki().non_ca_root_leaf().chain()), NOW)
        .unwrap();
}

#[test]
fn anchor_with_an_unknown_critical_extension_is_refused_at_build() {
    let err = VerifierBuilder::new()
        .trust_anchor(pki().anchor_with_unknown_critical_ext())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.anchors[0]");
    assert!(
        err.message().contains("unknown_critical_extension"),
        "{}",
        err.message()
    );
}

#[test]
fn an_unreadable_subject_alt_name_is_malformed_not_absent() {
    // A SAN URI that is not IA5 text: webpki does not read the SAN for client use, so the
    // chain verifies; the app id must not quietly come out as "none".
    let optional = build(builder().require_app_id(false));
    for (serial, san) in [
        // A URI entry that is not IA5 text.
        (0x4_0001, vec![0x30, 0x03, 0x86, 0x01, 0xff]),
        // A SEQUENCE longer than its contents.
        (0x4_0003, vec![0x30, 0x05, 0x86, 0x01, 0x41]),
    ] {
        let leaf = pki().issue_with(serial, |params| {
            params.subject_alt_names.clear();
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[2, 5, 29, 17],
                    san,
                ));
        });
        let rejection = optional
            .verify(&PeerChain::new(leaf.chain()), NOW)
            .unwrap_err();
        assert_eq!(rejection.code(), "malformed_certificate", "{rejection}");
    }
    // The same leaf with a readable SAN is accepted: only the SAN differs.
    let good = pki().issue_with(0x4_0002, |_| {});
    assert!(optional.verify(&PeerChain::new(good.chain()), NOW).is_ok());
}
