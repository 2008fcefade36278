//! The compact cached identity (issue 14 §3) says what the eager one said: for every leaf of the
//! test PKI that a permissive verifier accepts, the accessors and the JSON of `PeerIdentity`
//! equal `inspect()`'s `CertificateInfo` (which is still read eagerly), field by field and in
//! the same order, and repeated and concurrent reads agree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use certgate::{IdentitySource, PeerChain, VerifierBuilder, inspect};
use common::{Leaf, NOW, pki};

#[test]
fn identity_accessors_and_json_match_inspect() {
    let mut accepted = 0;
    for source in [
        IdentitySource::default(),
        IdentitySource::SubjectCn,
        IdentitySource::SubjectOu,
    ] {
        let verifier = VerifierBuilder::new()
            .trust_anchor(pki().root())
            .identity_source(source.clone())
            .build()
            .unwrap();
        for leaf in Leaf::ALL {
            let issued = pki().leaf(leaf);
            let Ok(identity) = verifier.verify(&PeerChain::new(issued.chain()), NOW) else {
                continue;
            };
            accepted += 1;
            let info = inspect(&issued.chain()[0], &source).unwrap();
            assert_eq!(identity.app_id(), info.app_id.as_ref(), "{leaf:?}");
            assert_eq!(identity.subject(), info.subject, "{leaf:?}");
            assert_eq!(identity.issuer(), info.issuer, "{leaf:?}");
            assert_eq!(identity.serial(), info.serial, "{leaf:?}");
            assert_eq!(identity.dns_names(), info.dns_names, "{leaf:?}");
            assert_eq!(identity.uris(), info.uris, "{leaf:?}");
            assert_eq!(identity.emails(), info.emails, "{leaf:?}");
            assert_eq!(identity.install_id(), info.install_id(), "{leaf:?}");
            assert_eq!(identity.spki_sha256(), info.spki_sha256, "{leaf:?}");
            assert_eq!(identity.fingerprint(), info.fingerprint, "{leaf:?}");
            assert_eq!(identity.not_before(), info.not_before, "{leaf:?}");
            assert_eq!(identity.not_after(), info.not_after, "{leaf:?}");
            assert_eq!(
                identity.attestation(),
                info.attestation.as_deref(),
                "{leaf:?}"
            );

            // JSON: the certificate's fields first, in `CertificateInfo`'s order, then the
            // verdict's.
            let json = serde_json::to_string(&identity).unwrap();
            let info_json = serde_json::to_string(&info).unwrap();
            let prefix = info_json.strip_suffix('}').unwrap();
            assert!(json.starts_with(prefix), "{leaf:?}\n{json}\n{info_json}");
            let rest = json.strip_prefix(prefix).unwrap();
            assert!(rest.starts_with(",\"chain_len\":"), "{leaf:?} {rest}");
            for key in ["\"matched\":", "\"warnings\":", "\"valid_until\":"] {
                assert!(rest.contains(key), "{leaf:?} {rest}");
            }

            // Rendered once, then the same from every thread.
            let clone = identity.clone();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| assert_eq!(clone.subject(), info.subject));
                }
            });
            assert_eq!(serde_json::to_string(&identity).unwrap(), json);
            assert_eq!(identity, clone);
        }
    }
    assert!(accepted >= 10, "only {accepted} accepted leaves compared");
}
