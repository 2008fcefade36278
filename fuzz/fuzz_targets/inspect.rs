//! Fuzz `certgate::inspect` (what `certgate inspect` prints) on arbitrary bytes as a DER
//! certificate, under each identity source.
//!
//! It must never panic. Sources only change where the app id is read from: when two sources
//! both succeed, everything but the app id agrees, and a SAN-URI app id is the rest of one of
//! the reported URIs after the prefix.
//!
//! The input is also read as a leaf on both of the verifier's paths (certgate's DER reader
//! for the usual leaf shape, x509-parser for the rest): when the DER reader takes it,
//! x509-parser must accept it too and read the same facts and app ids.
#![no_main]

use std::sync::LazyLock;

use certgate::{CertificateInfo, IdentitySource, inspect};
use libfuzzer_sys::fuzz_target;

static SOURCES: LazyLock<Vec<IdentitySource>> = LazyLock::new(|| {
    vec![
        IdentitySource::default(),
        IdentitySource::SubjectCn,
        IdentitySource::SubjectOu,
        IdentitySource::SanUri {
            prefix: "https://apps.example.com/id/".into(),
        },
        // Refused by the policy file, but constructible in code.
        IdentitySource::SanUri {
            prefix: String::new(),
        },
    ]
});

fn without_app_id(info: &CertificateInfo) -> CertificateInfo {
    let mut info = info.clone();
    info.app_id = None;
    info
}

fuzz_target!(|data: &[u8]| {
    if let Err(diff) = certgate::__leaf_fast_path_check(data) {
        panic!("the verifier's two leaf readers disagree: {diff}");
    }
    let mut first: Option<CertificateInfo> = None;
    for source in SOURCES.iter() {
        let Ok(info) = inspect(data, source) else {
            continue;
        };
        if let (IdentitySource::SanUri { prefix }, Some(id)) = (source, &info.app_id) {
            let uri = format!("{prefix}{id}");
            assert!(
                info.uris.contains(&uri),
                "app id {id} from prefix {prefix:?} is not in the URIs {:?}",
                info.uris
            );
        }
        match &first {
            None => first = Some(without_app_id(&info)),
            Some(seen) => assert_eq!(
                seen,
                &without_app_id(&info),
                "inspect disagrees across identity sources"
            ),
        }
    }
});
