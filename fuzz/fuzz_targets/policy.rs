//! Fuzz policy files: arbitrary text into `certgate::Policy::parse_offline` as TOML and as JSON.
//!
//! Parsing must never panic. Offline parsing reads no file, so every parsed builder comes back
//! without trust anchors; with the fixture root added, `build()` runs every other validation
//! (limits, skew, CRL grace, pin windows, duplicate apps) and must return, never panic. A
//! verifier that builds must refuse an empty chain.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use certgate::{PeerChain, Policy, Rejection};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, UnixTime};

/// A self-signed ECDSA P-256 CA whose private key was discarded (see the README).
static ROOT_DER: &[u8] = include_bytes!("../fixtures/root.der");

static ROOT: LazyLock<CertificateDer<'static>> =
    LazyLock::new(|| CertificateDer::from(ROOT_DER.to_vec()));

/// 2026-06-01T00:00:00Z, inside the root's validity.
const NOW: UnixTime = UnixTime::since_unix_epoch(Duration::from_secs(1_780_272_000));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for json in [false, true] {
        let Ok(builder) = Policy::parse_offline(text, json) else {
            continue;
        };
        // No file was read, so no anchor can have been configured.
        let err = match builder.clone().build() {
            Ok(_) => panic!("an offline policy built without any trust anchor"),
            Err(err) => err,
        };
        assert_eq!(
            err.field(),
            "trust.anchors",
            "unexpected first error: {err}"
        );

        if let Ok(verifier) = builder.trust_anchor(ROOT.clone()).build() {
            let verdict = verifier.verify(&PeerChain::new(Vec::new()), NOW);
            assert_eq!(verdict, Err(Rejection::NoCertificate));
        }
    }
});
