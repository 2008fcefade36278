//! Differential property: whenever certgate accepts a chain, raw rustls-webpki with the same
//! anchors, intermediates, time and CRLs accepts it too. certgate is never more lenient.
//!
//! Chains are drawn from the fixture (genuine, expired, not yet valid, revoked, forged,
//! foreign, cross-signed, odd profiles), optionally with one byte flipped, at times spread
//! over two years, with and without CRLs.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use certgate::{PeerChain, Verifier, VerifierBuilder};
use common::{Crl, Leaf, pki};
use proptest::prelude::*;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy, anchor_from_trusted_cert,
};

fn algorithms() -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

fn anchors() -> Vec<CertificateDer<'static>> {
    vec![pki().root(), pki().second_root()]
}

fn certgate(with_crls: bool) -> Verifier {
    let mut b = VerifierBuilder::new().require_app_id(false);
    for anchor in anchors() {
        b = b.trust_anchor(anchor);
    }
    if with_crls {
        b = b
            .crl(pki().crl(Crl::Intermediate))
            .crl(pki().crl(Crl::Root));
    }
    b.build().unwrap()
}

/// Raw webpki on the same inputs; CRLs with the same semantics certgate applies by default
/// (whole chain, unknown status denied, expiry enforced).
fn webpki_accepts(chain: &[CertificateDer<'static>], time: UnixTime, with_crls: bool) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let Ok(cert) = EndEntityCert::try_from(leaf) else {
        return false;
    };
    let anchor_ders = anchors();
    let anchors: Vec<TrustAnchor<'_>> = anchor_ders
        .iter()
        .map(|a| anchor_from_trusted_cert(a).unwrap())
        .collect();
    let crls: Vec<CertRevocationList<'static>> = if with_crls {
        [Crl::Intermediate, Crl::Root]
            .into_iter()
            .map(|c| {
                OwnedCertRevocationList::from_der(&pki().crl(c))
                    .unwrap()
                    .into()
            })
            .collect()
    } else {
        Vec::new()
    };
    let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::Chain)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build()
    });
    cert.verify_for_usage(
        algorithms(),
        &anchors,
        intermediates,
        time,
        KeyUsage::client_auth(),
        revocation,
        None,
    )
    .is_ok()
}

/// 2025-06-01 .. 2027-06-01: before, inside and after the fixture's validity windows.
fn times() -> impl Strategy<Value = UnixTime> {
    (1_748_736_000u64..1_811_808_000)
        .prop_map(|s| UnixTime::since_unix_epoch(Duration::from_secs(s)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn certgate_is_never_more_lenient_than_webpki(
        kind in 0..Leaf::ALL.len(),
        flip in proptest::option::of((0usize..3, any::<prop::sample::Index>(), 1u8..=255)),
        time in times(),
        with_crls in any::<bool>(),
    ) {
        let mut chain = pki().leaf(Leaf::ALL[kind]).chain();
        if let Some((which, index, xor)) = flip {
            if let Some(cert) = chain.get_mut(which) {
                let mut bytes = cert.to_vec();
                let i = index.index(bytes.len());
                bytes[i] ^= xor;
                *cert = CertificateDer::from(bytes);
            }
        }
        let verdict = certgate(with_crls).verify(&PeerChain::new(chain.clone()), time);
        if verdict.is_ok() {
            prop_assert!(
                webpki_accepts(&chain, time, with_crls),
                "certgate accepted {:?} (flip {:?}, crls {}) at {} but webpki refuses",
                Leaf::ALL[kind], flip, with_crls, time.as_secs()
            );
        }
    }
}

/// The property has teeth: certgate does accept genuine chains at fixture time, so the
/// implication above is exercised, not vacuous.
#[test]
fn genuine_chains_are_accepted_by_both() {
    for with_crls in [false, true] {
        let chain = pki().leaf(Leaf::Genuine).chain();
        assert!(
            certgate(with_crls)
                .verify(&PeerChain::new(chain.clone()), common::NOW)
                .is_ok()
        );
        assert!(webpki_accepts(&chain, common::NOW, with_crls));
    }
}
