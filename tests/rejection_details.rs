//! Refusal details are sentences for an operator: bounded (at most
//! `Rejection::MAX_DETAIL` bytes), never `Debug` output of upstream types, never sized by the
//! attacker (issue 8 §3).

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use certgate::{Gate, PeerChain, Policy, Rejection, VerifierBuilder};
use common::der::leaf_with_huge_algorithm;
use common::{Leaf, NOW, pki};

fn verifier() -> certgate::Verifier {
    VerifierBuilder::new()
        .trust_anchor(pki().root())
        .build()
        .unwrap()
}

#[test]
fn an_oversized_algorithm_identifier_gives_a_short_sentence() {
    let leaf = leaf_with_huge_algorithm(7_100, 0);
    assert!(leaf.len() > 14_500, "{}", leaf.len());
    let chain = PeerChain::new(vec![leaf.into(), pki().intermediate()]);
    let rejection = verifier().verify(&chain, NOW).unwrap_err();
    assert_eq!(rejection.code(), "unsupported_algorithm", "{rejection:?}");
    let text = rejection.to_string();
    assert!(text.len() <= Rejection::MAX_DETAIL, "{} bytes", text.len());
    assert_eq!(
        text,
        "unsupported algorithm: the signature algorithm ecdsa-with-SHA256 with 7104 bytes of \
         parameters is not supported"
    );
}

#[test]
fn every_fixture_rejection_is_a_bounded_sentence_without_debug_output() {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .crl(pki().crl(common::Crl::Intermediate))
        .crl(pki().crl(common::Crl::Root))
        .build()
        .unwrap();
    let mut seen = 0;
    for leaf in Leaf::ALL {
        let chain = PeerChain::new(pki().leaf(leaf).chain());
        if let Err(all) = verifier.verify_all(&chain, NOW) {
            for rejection in all.iter() {
                seen += 1;
                let text = rejection.to_string();
                assert!(text.len() <= Rejection::MAX_DETAIL, "{leaf:?}: {text}");
                // Debug output of upstream types looks like `Name { field: … }` or
                // `Variant(…)`: none of that in a sentence.
                for marker in ["Context", " { ", "([", "KeyPurposeId", "DerTypeId", "Some("] {
                    assert!(!text.contains(marker), "{leaf:?}: {text}");
                }
            }
        }
    }
    assert!(seen > 10, "only {seen} rejections");
    // The serverAuth-only leaf, in words.
    let chain = PeerChain::new(pki().leaf(Leaf::ServerEku).chain());
    let rejection = verifier.verify(&chain, NOW).unwrap_err();
    assert_eq!(
        rejection.to_string(),
        "wrong key usage: a certificate's extendedKeyUsage has serverAuth, not clientAuth"
    );
}

#[test]
fn a_leaf_only_client_learns_which_issuer_is_missing_and_the_intermediate_fixes_it() {
    let leaf_only = PeerChain::new(vec![pki().leaf(Leaf::Genuine).cert.clone()]);
    let rejection = verifier().verify(&leaf_only, NOW).unwrap_err();
    assert_eq!(
        rejection.to_string(),
        "the chain does not lead to a trusted issuer: 1 certificate presented; its issuer \
         O=certgate tests, CN=certgate Test Intermediate CA was neither presented nor \
         configured in trust.intermediates"
    );
    let configured = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .intermediate(pki().intermediate())
        .build()
        .unwrap();
    assert!(configured.verify(&leaf_only, NOW).is_ok());
}

#[test]
fn a_cached_rejection_is_weighed_in_bytes() {
    let gate = Gate::new(Policy::from_verifier(verifier()));
    let leaf = leaf_with_huge_algorithm(7_100, 1);
    let verdict = gate.check(
        &PeerChain::new(vec![leaf.into(), pki().intermediate()]),
        NOW,
    );
    assert!(verdict.is_refused());
    gate.cache().run_pending_tasks();
    let stats = gate.cache_stats();
    assert_eq!(stats.entries, 1);
    // One entry at the default sizes weighs the per-entry floor (128 MiB / 100 000), not the
    // 14 KB the attacker sent.
    assert!(stats.bytes <= 2_000, "{} bytes", stats.bytes);
}
