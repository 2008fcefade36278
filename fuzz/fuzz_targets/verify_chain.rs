//! Fuzz `Verifier::verify` with arbitrary presented chains.
//!
//! The verifier trusts one fixed root (`fixtures/root.der`) whose private key was discarded
//! when it was generated, so no input can be a genuine chain: every verdict must be a
//! rejection, and no input may panic, hang or allocate without bound.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use certgate::{PeerChain, Verifier, VerifierBuilder};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, UnixTime};

/// A self-signed ECDSA P-256 CA, valid 2025-01-01..2035-01-01, generated once with rcgen.
static ROOT_DER: &[u8] = include_bytes!("../fixtures/root.der");

/// 2026-06-01T00:00:00Z, inside the root's validity.
const NOW: UnixTime = UnixTime::since_unix_epoch(Duration::from_secs(1_780_272_000));

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    match VerifierBuilder::new()
        .trust_anchor(CertificateDer::from(ROOT_DER))
        // A non-empty denylist, so every input also goes through the ECDSA twin encoder.
        .deny_fingerprint([0; 32])
        .build()
    {
        Ok(verifier) => verifier,
        Err(err) => panic!("the fuzz root must build a verifier: {err}"),
    }
});

fuzz_target!(|certs: Vec<Vec<u8>>| {
    let chain = PeerChain::new(certs.into_iter().map(CertificateDer::from).collect());
    let verdict = VERIFIER.verify(&chain, NOW);
    assert!(
        verdict.is_err(),
        "accepted without the root's key: {verdict:?}"
    );
});
