//! Revocation: CRLs from the test PKI (revoked leaves and intermediates, unknown status,
//! expired CRLs with and without grace, issuing-distribution-point scope, forged and
//! non-conforming CRLs) and the fingerprint denylist.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use certgate::{
    CertRole, ExpiredCrl, PeerChain, PeerIdentity, Rejection, RevocationDepth, UnknownRevocation,
    Verifier, VerifierBuilder, Warning,
};
use common::{Crl, Leaf, NOW, at, pki};
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};

/// A verifier trusting the real root with `crls` configured, in order.
fn with_crls(crls: &[Crl]) -> VerifierBuilder {
    crls.iter().fold(
        VerifierBuilder::new().trust_anchor(pki().root()),
        |b, kind| b.crl(pki().crl(*kind)),
    )
}

fn build(builder: VerifierBuilder) -> Verifier {
    builder.build().expect("verifier builds")
}

fn verify_at(verifier: &Verifier, leaf: Leaf, now: UnixTime) -> Result<PeerIdentity, Rejection> {
    verifier.verify(&PeerChain::new(pki().leaf(leaf).chain()), now)
}

fn accept(verifier: &Verifier, leaf: Leaf) -> PeerIdentity {
    verify_at(verifier, leaf, NOW).unwrap_or_else(|r| panic!("{leaf:?} rejected: {r:?}"))
}

fn reject(verifier: &Verifier, leaf: Leaf) -> Rejection {
    match verify_at(verifier, leaf, NOW) {
        Ok(identity) => panic!("{leaf:?} accepted: {identity:?}"),
        Err(rejection) => rejection,
    }
}

fn unknown_role(rejection: &Rejection) -> CertRole {
    match rejection {
        Rejection::RevocationUnknown { role, .. } => *role,
        other => panic!("expected revocation_unknown, got {other:?}"),
    }
}

const DAY: u64 = 24 * 3600;

#[test]
fn revoked_leaf() {
    let verifier = build(with_crls(&[Crl::Intermediate, Crl::Root]));
    let rejection = reject(&verifier, Leaf::Revoked);
    assert_eq!(rejection.code(), "revoked");
    assert_eq!(
        rejection,
        Rejection::Revoked {
            role: CertRole::Leaf
        }
    );
    // Its siblings are fine under the same CRLs.
    accept(&verifier, Leaf::Genuine);
    accept(&verifier, Leaf::Second);
}

#[test]
fn crl_order_does_not_matter() {
    let verifier = build(with_crls(&[Crl::Root, Crl::Intermediate]));
    assert_eq!(
        reject(&verifier, Leaf::Revoked),
        Rejection::Revoked {
            role: CertRole::Leaf
        }
    );
    accept(&verifier, Leaf::Genuine);
}

#[test]
fn valid_until_is_the_crl_next_update() {
    let verifier = build(with_crls(&[Crl::Intermediate, Crl::Root]));
    let identity = accept(&verifier, Leaf::Genuine);
    // Leaf notAfter is 2027-01-01; both CRLs' nextUpdate is 2026-07-01.
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
    assert!(identity.warnings().is_empty());
}

#[test]
fn revocation_unknown_for_an_intermediate_without_a_crl() {
    let verifier = build(with_crls(&[Crl::Intermediate]));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "revocation_unknown");
    assert_eq!(unknown_role(&rejection), CertRole::Intermediate);
}

#[test]
fn leaf_depth_needs_only_the_leaf_crl() {
    let verifier = build(with_crls(&[Crl::Intermediate]).revocation_depth(RevocationDepth::Leaf));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
    assert_eq!(
        reject(&verifier, Leaf::Revoked),
        Rejection::Revoked {
            role: CertRole::Leaf
        }
    );
}

#[test]
fn unknown_status_allowed_by_name() {
    let verifier =
        build(with_crls(&[Crl::Intermediate]).unknown_revocation(UnknownRevocation::Allow));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
    // Allowing unknown status does not ignore a CRL that does cover the leaf.
    assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");
}

#[test]
fn revoked_intermediate() {
    let verifier = build(with_crls(&[
        Crl::Intermediate,
        Crl::RootRevokingIntermediate,
    ]));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "revoked");
    assert_eq!(
        rejection,
        Rejection::Revoked {
            role: CertRole::Intermediate
        }
    );
    // With leaf depth the intermediate's status is not asked for.
    let leaf_only = build(
        with_crls(&[Crl::Intermediate, Crl::RootRevokingIntermediate])
            .revocation_depth(RevocationDepth::Leaf),
    );
    accept(&leaf_only, Leaf::Genuine);
}

#[test]
fn crl_expired_by_default() {
    let verifier = build(with_crls(&[Crl::IntermediateExpired, Crl::Root]));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "crl_expired");
    assert_eq!(
        rejection,
        Rejection::CrlExpired {
            role: CertRole::Leaf,
            next_update: at("2026-05-15T00:00:00Z"),
            now: NOW,
        }
    );
    // One second before nextUpdate the same CRL is current.
    let before = verify_at(&verifier, Leaf::Genuine, at("2026-05-14T23:59:59Z")).unwrap();
    assert_eq!(before.valid_until(), at("2026-05-15T00:00:00Z"));
    // At nextUpdate exactly it has expired (webpki: `time >= next_update`).
    assert_eq!(
        verify_at(&verifier, Leaf::Genuine, at("2026-05-15T00:00:00Z"))
            .unwrap_err()
            .code(),
        "crl_expired"
    );
}

#[test]
fn expired_crl_ignored_by_name() {
    let verifier =
        build(with_crls(&[Crl::IntermediateExpired, Crl::Root]).expired_crl(ExpiredCrl::Ignore));
    let identity = accept(&verifier, Leaf::Genuine);
    assert!(identity.warnings().is_empty());
    // The ignored CRL sets no deadline; the root's CRL still does.
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
    // An ignored-when-stale CRL still revokes.
    assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");
}

#[test]
fn expired_crl_within_grace_is_accepted_with_a_warning() {
    let grace = Duration::from_secs(30 * DAY);
    let verifier = build(
        with_crls(&[Crl::IntermediateExpired, Crl::Root]).expired_crl(ExpiredCrl::Grace(grace)),
    );
    // nextUpdate 2026-05-15 + 30 days = 2026-06-14.
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.warnings(), [Warning::CrlStale]);
    assert_eq!(Warning::CrlStale.code(), "crl_stale");
    assert_eq!(identity.valid_until(), at("2026-06-14T00:00:00Z"));
    assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");

    let last = verify_at(&verifier, Leaf::Genuine, at("2026-06-13T23:59:59Z")).unwrap();
    assert_eq!(last.warnings(), [Warning::CrlStale]);

    let end = at("2026-06-14T00:00:00Z");
    let rejection = verify_at(&verifier, Leaf::Genuine, end).unwrap_err();
    assert_eq!(
        rejection,
        Rejection::CrlExpired {
            role: CertRole::Leaf,
            next_update: at("2026-05-15T00:00:00Z"),
            now: end,
        }
    );
}

#[test]
fn current_crls_carry_no_stale_warning_under_grace() {
    let verifier = build(
        with_crls(&[Crl::Intermediate, Crl::Root])
            .expired_crl(ExpiredCrl::Grace(Duration::from_secs(30 * DAY))),
    );
    let identity = accept(&verifier, Leaf::Genuine);
    assert!(identity.warnings().is_empty());
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
}

#[test]
fn grace_over_ninety_days_is_refused_at_build() {
    let err = with_crls(&[Crl::Intermediate, Crl::Root])
        .expired_crl(ExpiredCrl::Grace(Duration::from_secs(91 * DAY)))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "revocation.grace_hours");
}

#[test]
fn idp_scope_excludes_a_leaf_with_another_distribution_point() {
    let verifier = build(with_crls(&[Crl::IntermediateWithIdp, Crl::Root]));
    let rejection = reject(&verifier, Leaf::WithCrlDp);
    assert_eq!(rejection.code(), "revocation_unknown");
    assert_eq!(unknown_role(&rejection), CertRole::Leaf);
    // The full, unscoped intermediate CRL does cover it.
    let full = build(with_crls(&[
        Crl::IntermediateWithIdp,
        Crl::Intermediate,
        Crl::Root,
    ]));
    accept(&full, Leaf::WithCrlDp);
}

#[test]
fn idp_crl_is_authoritative_for_a_leaf_without_distribution_points() {
    // rustls-webpki's rule (IssuingDistributionPoint::authoritative_for): when the certificate
    // has no cRLDistributionPoints, a same-issuer CRL whose scope includes its role covers it.
    let verifier = build(with_crls(&[Crl::IntermediateWithIdp, Crl::Root]));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
}

#[test]
fn crl_with_a_forged_signature_gives_unknown_status() {
    // The impostor-signed CRL names the real intermediate and revokes Genuine. The real
    // intermediate is only presented by the peer, so the signature is checked at verify time,
    // and a CRL that does not verify gives no status at all.
    let verifier = build(with_crls(&[Crl::ImpostorSigned, Crl::Root]));
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "revocation_unknown");
    assert_eq!(unknown_role(&rejection), CertRole::Leaf);
    let Rejection::RevocationUnknown { detail, .. } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains("signature"), "{detail}");
    // Asked again (memoized signature check), the answer is the same.
    assert_eq!(reject(&verifier, Leaf::Genuine), rejection);
    // The leaf it does not revoke is no better off: the CRL is unusable for every leaf.
    assert_eq!(reject(&verifier, Leaf::Second).code(), "revocation_unknown");
}

#[test]
fn every_covering_crl_counts_not_just_the_first() {
    // A CA's earlier CRL (still in its window) listed before the current one must not hide a
    // revocation the current one carries; neither must a partitioned CRL listed first.
    for earlier in [Crl::IntermediateEmpty, Crl::IntermediateWithIdp] {
        let verifier = build(with_crls(&[earlier, Crl::Intermediate, Crl::Root]));
        assert_eq!(
            reject(&verifier, Leaf::Revoked),
            Rejection::Revoked {
                role: CertRole::Leaf
            },
            "{earlier:?} listed first"
        );
        accept(&verifier, Leaf::Genuine);
    }
}

#[test]
fn forged_crl_beside_the_real_one_is_ignored() {
    // The impostor-signed CRL revokes Genuine under the real intermediate's name; the real
    // intermediate CRL beside it decides, both ways.
    let verifier = build(with_crls(&[
        Crl::ImpostorSigned,
        Crl::Intermediate,
        Crl::Root,
    ]));
    accept(&verifier, Leaf::Genuine);
    assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");
}

#[test]
fn freshness_comes_from_the_latest_crl_and_revocations_from_all() {
    // The expired CRL revokes Leaf::Revoked; the current empty one does not list it.
    let verifier = build(with_crls(&[
        Crl::IntermediateExpired,
        Crl::IntermediateEmpty,
        Crl::Root,
    ]));
    let identity = accept(&verifier, Leaf::Genuine);
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));
    assert!(identity.warnings().is_empty());
    assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");
}

#[test]
fn forged_crl_is_refused_at_build_under_a_configured_intermediate() {
    let err = with_crls(&[Crl::ImpostorSigned, Crl::Root])
        .intermediate(pki().intermediate())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "revocation.crls[0]");
    assert!(err.message().contains("signature"), "{}", err.message());
    assert_eq!(err.file(), None);
}

#[test]
fn crl_number_problems_are_refused_at_build_under_the_strict_profile() {
    for kind in [Crl::CriticalCrlNumber, Crl::NoCrlNumber] {
        let err = with_crls(&[kind, Crl::Root]).build().unwrap_err();
        assert_eq!(err.field(), "revocation.crls[0]", "{kind:?}");
        assert!(
            err.message().contains("crl_number"),
            "{kind:?}: {}",
            err.message()
        );
    }
    let critical = with_crls(&[Crl::CriticalCrlNumber]).build().unwrap_err();
    assert!(
        critical.message().contains("crl_number_critical"),
        "{}",
        critical.message()
    );
    let missing = with_crls(&[Crl::NoCrlNumber]).build().unwrap_err();
    assert!(
        missing.message().contains("crl_number_missing"),
        "{}",
        missing.message()
    );
}

#[test]
fn crl_number_problems_are_tolerated_without_the_strict_profile() {
    for kind in [Crl::CriticalCrlNumber, Crl::NoCrlNumber] {
        let verifier = build(with_crls(&[kind, Crl::Root]).strict_profile(false));
        // Still a working CRL: it revokes what it lists.
        assert_eq!(
            reject(&verifier, Leaf::Revoked),
            Rejection::Revoked {
                role: CertRole::Leaf
            },
            "{kind:?}"
        );
        accept(&verifier, Leaf::Genuine);
    }
}

#[test]
fn crl_from_an_issuer_without_crl_sign_gives_unknown_status() {
    let verifier = build(with_crls(&[Crl::ByNoCrlSignCa]).revocation_depth(RevocationDepth::Leaf));
    let rejection = reject(&verifier, Leaf::ViaNoCrlSignCa);
    assert_eq!(rejection.code(), "revocation_unknown");
    assert_eq!(unknown_role(&rejection), CertRole::Leaf);
    let Rejection::RevocationUnknown { detail, .. } = &rejection else {
        unreachable!()
    };
    assert!(detail.contains("cRLSign"), "{detail}");
}

#[test]
fn crl_from_an_issuer_without_crl_sign_is_refused_at_build_when_configured() {
    let err = with_crls(&[Crl::ByNoCrlSignCa])
        .intermediate(pki().no_crl_sign_ca())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "revocation.crls[0]");
    assert!(err.message().contains("cRLSign"), "{}", err.message());
}

#[test]
fn denylisted_leaf_is_refused_whatever_else_holds() {
    let genuine = &pki().leaf(Leaf::Genuine).cert;
    let fingerprint: [u8; 32] = Sha256::digest(genuine.as_ref()).into();
    let verifier = build(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .deny_fingerprint(fingerprint),
    );
    let rejection = reject(&verifier, Leaf::Genuine);
    assert_eq!(rejection.code(), "denylisted");
    assert_eq!(rejection, Rejection::Denylisted);
    // Another leaf of the same app is not affected.
    accept(&verifier, Leaf::Second);

    // With current CRLs that do not list it, the denylist still wins.
    let with_crls = build(with_crls(&[Crl::Intermediate, Crl::Root]).deny_fingerprint(fingerprint));
    assert_eq!(reject(&with_crls, Leaf::Genuine), Rejection::Denylisted);
}

#[test]
fn denylisted_leaf_is_refused_in_its_ecdsa_twin_encoding_too() {
    use common::{P256_ORDER, P384_ORDER, P521_ORDER, ecdsa_twin};
    let sha = |der: &[u8]| -> [u8; 32] { Sha256::digest(der).into() };

    // P-256, the fixture's own chain: the twin is a valid certificate (accepted when nothing is
    // denylisted), so only the denylist could tell the two apart.
    let chain = pki().leaf(Leaf::Genuine).chain();
    let twin = ecdsa_twin(chain[0].as_ref(), P256_ORDER);
    assert_ne!(twin, chain[0].as_ref());
    let mut twin_chain = chain.clone();
    twin_chain[0] = twin.clone().into();
    let open = build(VerifierBuilder::new().trust_anchor(pki().root()));
    let identity = open
        .verify(&PeerChain::new(twin_chain.clone()), NOW)
        .expect("the twin encoding verifies");
    assert_eq!(identity.fingerprint(), sha(&twin));
    for (denied, presented) in [(&chain, &twin_chain), (&twin_chain, &chain)] {
        let verifier = build(
            VerifierBuilder::new()
                .trust_anchor(pki().root())
                .deny_fingerprint(sha(denied[0].as_ref())),
        );
        let rejection = verifier
            .verify(&PeerChain::new(presented.clone()), NOW)
            .unwrap_err();
        assert_eq!(rejection, Rejection::Denylisted);
        accept(&verifier, Leaf::Second);
    }

    // P-384 (verifiable with the default provider) and P-521 (a P-521 anchor needs a provider
    // that verifies P-521: aws-lc-rs does, ring does not, and the policy refuses the anchor).
    for (alg, order) in [
        (&rcgen::PKCS_ECDSA_P384_SHA384, P384_ORDER),
        (&rcgen::PKCS_ECDSA_P521_SHA512, P521_ORDER),
    ] {
        let (root, issued) = pki().root_with_key(alg);
        let twin = ecdsa_twin(issued.cert.as_ref(), order);
        let twin_chain = vec![twin.clone().into()];
        let provider = |b: VerifierBuilder| -> Option<VerifierBuilder> {
            if order == P384_ORDER {
                return Some(b);
            }
            #[cfg(feature = "aws-lc-rs")]
            return Some(b.crypto_provider(&rustls::crypto::aws_lc_rs::default_provider()));
            #[cfg(not(feature = "aws-lc-rs"))]
            {
                let refused = b.build().unwrap_err();
                assert!(refused.message().contains("P-521"), "{refused}");
                None
            }
        };
        let Some(open) = provider(VerifierBuilder::new().trust_anchor(root.clone())) else {
            continue;
        };
        let open = build(open);
        assert!(open.verify(&PeerChain::new(issued.chain()), NOW).is_ok());
        assert!(
            open.verify(&PeerChain::new(twin_chain.clone()), NOW)
                .is_ok()
        );
        let verifier = build(
            provider(
                VerifierBuilder::new()
                    .trust_anchor(root)
                    .deny_fingerprint(sha(issued.cert.as_ref())),
            )
            .unwrap(),
        );
        for presented in [issued.chain(), twin_chain] {
            assert_eq!(
                verifier
                    .verify(&PeerChain::new(presented), NOW)
                    .unwrap_err(),
                Rejection::Denylisted,
                "{order}"
            );
        }
    }
}

#[test]
fn denylist_applies_before_anything_is_parsed() {
    // Even bytes that are no certificate at all: the denylist is checked first.
    let junk = vec![0xde, 0xad, 0xbe, 0xef];
    let fingerprint: [u8; 32] = Sha256::digest(&junk).into();
    let verifier = build(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .deny_fingerprint(fingerprint),
    );
    let chain = PeerChain::new(vec![junk.into()]);
    assert_eq!(verifier.verify(&chain, NOW), Err(Rejection::Denylisted));
}

#[test]
fn revocation_status_holds_across_many_verifications() {
    // The CRL index is built once; repeated verifications must keep giving the same answers.
    let verifier = build(with_crls(&[Crl::Intermediate, Crl::Root]));
    for _ in 0..50 {
        assert_eq!(reject(&verifier, Leaf::Revoked).code(), "revoked");
        accept(&verifier, Leaf::Genuine);
    }
}

#[test]
fn issued_serials_are_found_in_fresh_crls() {
    // CRLs made on the fly by the fixture, for a freshly issued leaf.
    let issued = pki().issue(
        "com.example.shop",
        0x3_0000,
        at("2026-01-01T00:00:00Z"),
        at("2027-01-01T00:00:00Z"),
    );
    let this_update = at("2026-05-01T00:00:00Z");
    let next_update = at("2026-06-15T00:00:00Z");
    let build_with = |serials: &[Vec<u8>]| {
        build(
            VerifierBuilder::new()
                .trust_anchor(pki().root())
                .crl(pki().intermediate_crl(serials, this_update, next_update))
                .crl(pki().root_crl(&[], this_update, next_update)),
        )
    };
    let chain = PeerChain::new(issued.chain());
    let revoking = build_with(std::slice::from_ref(&issued.serial));
    assert_eq!(
        revoking.verify(&chain, NOW),
        Err(Rejection::Revoked {
            role: CertRole::Leaf
        })
    );
    let other = build_with(&[common::serial_bytes(0x3_0001)]);
    let identity = other.verify(&chain, NOW).unwrap();
    assert_eq!(identity.valid_until(), next_update);
}
