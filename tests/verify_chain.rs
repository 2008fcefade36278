//! Chain verification against the rcgen test PKI: what is accepted, and the exact rejection
//! code (and variant) for every chain-level failure.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use certgate::{
    AppId, AppRule, Limits, PeerChain, PeerIdentity, Pin, Rejection, Usage, Verifier,
    VerifierBuilder,
};
use common::{Leaf, NOW, SHOP, at, pki};
use rustls_pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A builder trusting the real root, with every other setting at its default.
fn builder() -> VerifierBuilder {
    VerifierBuilder::new().trust_anchor(pki().root())
}

fn verifier() -> Verifier {
    builder().build().expect("default verifier builds")
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

fn reject_chain(verifier: &Verifier, chain: Vec<CertificateDer<'static>>) -> Rejection {
    match verifier.verify(&PeerChain::new(chain), NOW) {
        Ok(identity) => panic!("chain accepted: {identity:?}"),
        Err(rejection) => rejection,
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of the certificate's DER SubjectPublicKeyInfo, read with x509-parser.
fn spki_sha256(der: &[u8]) -> [u8; 32] {
    let (_, cert) = X509Certificate::from_der(der).expect("fixture certificate parses");
    sha256(cert.public_key().raw)
}

fn limits(edit: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    edit(&mut limits);
    limits
}

#[test]
fn genuine_is_accepted_with_its_identity() {
    let leaf = pki().leaf(Leaf::Genuine);
    let identity = accept(&verifier(), Leaf::Genuine);

    assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP));
    // Serial 0x1000, colon-separated lower-case hex.
    assert_eq!(identity.serial(), "10:00");
    assert_eq!(identity.fingerprint(), sha256(&leaf.cert));
    assert_eq!(identity.spki_sha256(), spki_sha256(&leaf.cert));
    assert_ne!(identity.spki_sha256(), identity.fingerprint());
    assert_eq!(identity.chain_len(), 3, "leaf, intermediate, root");
    assert!(identity.dns_names().is_empty());
    assert_eq!(identity.uris(), ["app://com.example.shop"]);
    assert!(identity.emails().is_empty());
    assert_eq!(identity.subject(), "CN=com.example.shop");
    assert!(
        identity.issuer().contains("certgate Test Intermediate CA"),
        "{}",
        identity.issuer()
    );
    assert_eq!(identity.not_before(), at("2026-01-01T00:00:00Z"));
    assert_eq!(identity.not_after(), at("2027-01-01T00:00:00Z"));
    // No CRL, no pin: the verdict holds until the leaf expires (the CAs outlive it).
    assert_eq!(identity.valid_until(), identity.not_after());
    assert_eq!(identity.matched(), None);
    assert!(identity.warnings().is_empty());
}

#[test]
fn identity_serializes_for_logs() {
    let identity = accept(&verifier(), Leaf::Genuine);
    let json = serde_json::to_value(&identity).unwrap();
    assert_eq!(json["app_id"], SHOP);
    assert_eq!(json["serial"], "10:00");
    assert_eq!(json["chain_len"], 3);
    assert_eq!(json["not_after"], "2027-01-01T00:00:00Z");
    assert_eq!(json["valid_until"], "2027-01-01T00:00:00Z");
    let pin = json["spki_sha256"].as_str().unwrap();
    assert!(pin.starts_with("sha256/"), "{pin}");
    assert_eq!(
        json["fingerprint"].as_str().unwrap().len(),
        64,
        "hex SHA-256"
    );
}

#[test]
fn other_key_types_are_accepted() {
    let verifier = verifier();
    for leaf in [Leaf::Ed25519, Leaf::P384, Leaf::Rsa2048, Leaf::Second] {
        let identity = accept(&verifier, leaf);
        assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP), "{leaf:?}");
        assert_eq!(
            identity.spki_sha256(),
            spki_sha256(&pki().leaf(leaf).cert),
            "{leaf:?}"
        );
    }
}

#[test]
fn verdicts_do_not_depend_on_a_configured_intermediate() {
    // The intermediate may come from the peer or from the policy; with both it is still one
    // path of three certificates.
    let configured = builder()
        .intermediate(pki().intermediate())
        .build()
        .unwrap();
    assert_eq!(accept(&configured, Leaf::Genuine).chain_len(), 3);
    let leaf_only = configured
        .verify(
            &PeerChain::new(vec![pki().leaf(Leaf::Genuine).cert.clone()]),
            NOW,
        )
        .unwrap();
    assert_eq!(leaf_only.chain_len(), 3);

    // Without it, a leaf presented alone leads nowhere.
    let rejection = reject_chain(&verifier(), vec![pki().leaf(Leaf::Genuine).cert.clone()]);
    let Rejection::UnknownIssuer { detail } = &rejection else {
        panic!("expected unknown_issuer, got {rejection:?}");
    };
    // The detail tells a leaf-only client what is missing, naming the issuer.
    assert!(
        detail.starts_with("1 certificate presented; its issuer ")
            && detail.contains("CN=")
            && detail.ends_with("was neither presented nor configured in trust.intermediates"),
        "{detail}"
    );
    assert!(rejection.to_string().len() <= Rejection::MAX_DETAIL);
}

#[test]
fn unrelated_extra_certificates_in_the_chain_are_skipped() {
    // Path building picks the issuer it needs from whatever was presented, in any order.
    let genuine = pki().leaf(Leaf::Genuine);
    let chain = vec![
        genuine.cert.clone(),
        pki().other_intermediate(),
        pki().intermediate(),
    ];
    let identity = verifier().verify(&PeerChain::new(chain), NOW).unwrap();
    assert_eq!(identity.chain_len(), 3);
}

#[test]
fn unknown_issuer_for_a_foreign_ca() {
    let rejection = reject(&verifier(), Leaf::ForeignCa);
    assert_eq!(rejection.code(), "unknown_issuer");
    assert!(matches!(rejection, Rejection::UnknownIssuer { .. }));
    assert_eq!(rejection.http_status(), 403);

    // Trusting only an unrelated root refuses the genuine leaf the same way.
    let other = VerifierBuilder::new()
        .trust_anchor(pki().other_root())
        .build()
        .unwrap();
    assert_eq!(reject(&other, Leaf::Genuine).code(), "unknown_issuer");
}

#[test]
fn bad_signature_for_an_impostor_with_the_same_names() {
    let rejection = reject(&verifier(), Leaf::ImpostorSameNames);
    assert_eq!(rejection.code(), "bad_signature");
    assert_eq!(rejection, Rejection::BadSignature);

    // The impostor intermediate presented under the genuine leaf: the leaf's signature does
    // not verify under the impostor's key.
    let chain = vec![
        pki().leaf(Leaf::Genuine).cert.clone(),
        pki().impostor_intermediate(),
    ];
    assert_eq!(reject_chain(&verifier(), chain), Rejection::BadSignature);
}

#[test]
fn wrong_key_usage_for_a_server_eku() {
    let rejection = reject(&verifier(), Leaf::ServerEku);
    assert_eq!(rejection.code(), "wrong_key_usage");
    assert!(matches!(rejection, Rejection::WrongKeyUsage { .. }));
}

#[test]
fn wrong_key_usage_for_a_missing_eku_unless_allowed() {
    let rejection = reject(&verifier(), Leaf::NoEku);
    assert_eq!(rejection.code(), "wrong_key_usage");
    let Rejection::WrongKeyUsage { detail } = &rejection else {
        panic!("{rejection:?}");
    };
    assert!(detail.contains("no extendedKeyUsage"), "{detail}");

    let lenient = builder().allow_missing_eku(true).build().unwrap();
    let identity = accept(&lenient, Leaf::NoEku);
    assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP));
    // Allowing a missing EKU does not allow a wrong one.
    assert_eq!(reject(&lenient, Leaf::ServerEku).code(), "wrong_key_usage");
}

#[test]
fn chain_too_long_under_default_limits() {
    let chain = pki().long_chain();
    assert_eq!(chain.len(), 5);
    let rejection = reject_chain(&verifier(), chain);
    assert_eq!(rejection.code(), "chain_too_long");
    assert_eq!(rejection, Rejection::ChainTooLong { len: 5, max: 4 });
}

#[test]
fn long_chain_accepted_with_a_higher_limit() {
    let verifier = builder()
        .limits(limits(|l| l.max_chain_len = 5))
        .build()
        .unwrap();
    let identity = verifier
        .verify(&PeerChain::new(pki().long_chain()), NOW)
        .unwrap();
    assert_eq!(identity.chain_len(), 6, "leaf, four CAs, root");
    assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP));
}

#[test]
fn certificate_too_large_for_the_huge_leaf() {
    let huge = pki().leaf(Leaf::Huge).cert.len();
    assert!(huge > 16 * 1024);
    let rejection = reject(&verifier(), Leaf::Huge);
    assert_eq!(rejection.code(), "certificate_too_large");
    assert_eq!(
        rejection,
        Rejection::CertificateTooLarge {
            bytes: huge,
            max: 16 * 1024
        }
    );

    // Within a raised per-certificate limit (and chain limit) it verifies.
    let roomy = builder()
        .limits(limits(|l| {
            l.max_cert_bytes = 64 * 1024;
            l.max_chain_bytes = 128 * 1024;
        }))
        .build()
        .unwrap();
    accept(&roomy, Leaf::Huge);
}

#[test]
fn chain_too_large_under_a_small_byte_budget() {
    let chain = pki().leaf(Leaf::Genuine).chain();
    let total: usize = chain.iter().map(|c| c.len()).sum();
    let verifier = builder()
        .limits(limits(|l| l.max_chain_bytes = total - 1))
        .build()
        .unwrap();
    let rejection = reject_chain(&verifier, chain.clone());
    assert_eq!(rejection.code(), "chain_too_large");
    assert_eq!(
        rejection,
        Rejection::ChainTooLarge {
            bytes: total,
            max: total - 1
        }
    );

    // Exactly at the budget is fine.
    let exact = builder()
        .limits(limits(|l| l.max_chain_bytes = total))
        .build()
        .unwrap();
    exact.verify(&PeerChain::new(chain), NOW).unwrap();
}

#[test]
fn malformed_certificate_for_garbage_and_truncated_der() {
    let verifier = verifier();
    let garbage = reject_chain(&verifier, vec![CertificateDer::from(vec![1, 2, 3, 4, 5])]);
    assert_eq!(garbage.code(), "malformed_certificate");
    assert!(matches!(garbage, Rejection::MalformedCertificate { .. }));

    let genuine = pki().leaf(Leaf::Genuine).chain();
    let der = genuine[0].as_ref();
    let truncated = CertificateDer::from(der[..der.len() - 10].to_vec());
    let rejection = reject_chain(&verifier, vec![truncated, genuine[1].clone()]);
    assert_eq!(rejection.code(), "malformed_certificate");

    // Trailing bytes after a complete certificate are refused too.
    let mut padded = der.to_vec();
    padded.extend_from_slice(&[0, 0]);
    let rejection = reject_chain(
        &verifier,
        vec![CertificateDer::from(padded), genuine[1].clone()],
    );
    assert_eq!(rejection.code(), "malformed_certificate");
}

#[test]
fn no_certificate_for_an_empty_chain() {
    let rejection = reject_chain(&verifier(), Vec::new());
    assert_eq!(rejection, Rejection::NoCertificate);
    assert_eq!(rejection.code(), "no_certificate");
    assert_eq!(rejection.http_status(), 401);
}

/// Which root path building reaches first for `ViaCrossSigned` (`[leaf, cross_a, cross_b]`).
///
/// rustls-webpki tries the trust anchors for the current certificate before the candidate
/// intermediates, and the candidates in the order presented: `cross_a` (under the real root)
/// comes first, so the real root's path is checked first and `second_root`'s second. This is
/// checked below rather than assumed: with a single path budget and a pin on only one root,
/// exactly the pin on the first-reached root accepts.
fn cross_signed_verifier(pinned_root: CertificateDer<'static>, max_paths: usize) -> Verifier {
    builder()
        .trust_anchor(pki().second_root())
        .pin(Pin::from_spki_sha256(spki_sha256(&pinned_root)).named("pinned-root"))
        .limits(limits(|l| l.max_paths = max_paths))
        .build()
        .unwrap()
}

#[test]
fn cross_signed_leaf_is_accepted_through_either_root() {
    let verifier = builder().trust_anchor(pki().second_root()).build().unwrap();
    let identity = accept(&verifier, Leaf::ViaCrossSigned);
    assert_eq!(identity.chain_len(), 3);
    // Through the second root alone, too.
    let second_only = VerifierBuilder::new()
        .trust_anchor(pki().second_root())
        .build()
        .unwrap();
    accept(&second_only, Leaf::ViaCrossSigned);
}

#[test]
fn webpki_reaches_the_real_root_first_for_the_cross_signed_leaf() {
    // The real root is reached first: pinned, one path suffices.
    let verifier = cross_signed_verifier(pki().root(), 1);
    let identity = accept(&verifier, Leaf::ViaCrossSigned);
    assert_eq!(identity.matched(), Some("pinned-root"));
}

#[test]
fn path_budget_exceeded_when_the_pinned_root_is_reached_second() {
    let verifier = cross_signed_verifier(pki().second_root(), 1);
    let rejection = reject(&verifier, Leaf::ViaCrossSigned);
    assert_eq!(rejection.code(), "path_budget_exceeded");
    assert_eq!(rejection, Rejection::PathBudgetExceeded);

    // Two paths are enough, and the identity names the pin that matched.
    let verifier = cross_signed_verifier(pki().second_root(), 2);
    let identity = accept(&verifier, Leaf::ViaCrossSigned);
    assert_eq!(identity.matched(), Some("pinned-root"));
}

/// A verifier that knows P-256 keys (so the fixture's anchor loads) but only ECDSA with
/// SHA-384 and Ed25519 signatures: every signature in the fixture's main hierarchy is ECDSA
/// P-256 with SHA-256.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
fn ed25519_only() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    #[cfg(feature = "ring")]
    let algs = [webpki::ring::ECDSA_P256_SHA384, webpki::ring::ED25519];
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    let algs = [
        webpki::aws_lc_rs::ECDSA_P256_SHA384,
        webpki::aws_lc_rs::ED25519,
    ];
    Box::leak(Box::new(algs))
}

#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#[test]
fn unsupported_algorithm_when_the_provider_lacks_the_chain_signature() {
    let verifier = builder()
        .signature_algorithms(ed25519_only())
        .build()
        .unwrap();
    // The Ed25519 leaf's key is supported, but its issuer signed it with ECDSA P-256.
    let rejection = reject(&verifier, Leaf::Ed25519);
    assert_eq!(rejection.code(), "unsupported_algorithm");
    assert!(matches!(rejection, Rejection::UnsupportedAlgorithm { .. }));
    assert_eq!(
        reject(&verifier, Leaf::Genuine).code(),
        "unsupported_algorithm"
    );
}

#[test]
fn name_mismatch_for_a_server_leaf_with_another_name() {
    let server = |name: &'static str| {
        builder()
            .usage(Usage::Server(Some(ServerName::try_from(name).unwrap())))
            .require_app_id(false)
            .build()
            .unwrap()
    };
    let rejection = reject(&server("other.example.com"), Leaf::Server);
    assert_eq!(rejection.code(), "name_mismatch");
    assert_eq!(rejection, Rejection::NameMismatch);

    let identity = accept(&server("server.example.com"), Leaf::Server);
    assert_eq!(identity.dns_names(), ["server.example.com"]);
    assert_eq!(identity.app_id(), None);

    // Server usage without a name checks the EKU only.
    let any_name = builder()
        .usage(Usage::Server(None))
        .require_app_id(false)
        .build()
        .unwrap();
    accept(&any_name, Leaf::Server);
    assert_eq!(reject(&any_name, Leaf::Genuine).code(), "wrong_key_usage");
    // And a client verifier refuses the server leaf.
    assert_eq!(reject(&verifier(), Leaf::Server).code(), "wrong_key_usage");
}

#[test]
fn invalid_chain_for_a_ca_certificate_presented_as_the_leaf() {
    // The real intermediate presented as a client certificate: webpki refuses a CA used as
    // an end entity (CaUsedAsEndEntity), which has no more specific code.
    let rejection = reject_chain(&verifier(), vec![pki().intermediate()]);
    assert_eq!(rejection.code(), "invalid_chain");
    let Rejection::InvalidChain { detail } = &rejection else {
        panic!("{rejection:?}");
    };
    assert_eq!(detail, "a CA certificate was presented as the leaf");
}

#[test]
fn app_rules_see_the_cross_signed_leaf_as_any_other() {
    let verifier = builder()
        .trust_anchor(pki().second_root())
        .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
        .build()
        .unwrap();
    let identity = accept(&verifier, Leaf::ViaCrossSigned);
    assert_eq!(identity.matched(), Some(SHOP));
}
