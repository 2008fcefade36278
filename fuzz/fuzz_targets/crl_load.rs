//! Fuzz CRL loading: arbitrary bytes as a DER CRL handed to `VerifierBuilder::crl`.
//!
//! `build()` parses every CRL (rustls-webpki's parser, then certgate's serial index, issuing
//! distribution point and cRLNumber checks) and checks its signature when its issuer is a
//! configured certificate. Whatever the bytes, `build()` must return, never panic, hang or
//! allocate without bound; and the strict profile only ever adds checks, so a CRL the strict
//! build accepts must load without it too.
#![no_main]

use std::sync::LazyLock;

use certgate::VerifierBuilder;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

/// A self-signed ECDSA P-256 CA whose private key was discarded (see the README).
static ROOT_DER: &[u8] = include_bytes!("../fixtures/root.der");

/// The root, as the builder takes it; built once.
static ROOT: LazyLock<CertificateDer<'static>> =
    LazyLock::new(|| CertificateDer::from(ROOT_DER.to_vec()));

fuzz_target!(|data: &[u8]| {
    let load = |strict: bool| {
        VerifierBuilder::new()
            .trust_anchor(ROOT.clone())
            .crl(CertificateRevocationListDer::from(data.to_vec()))
            .strict_profile(strict)
            .build()
    };
    let strict = load(true);
    let lax = load(false);
    if let Err(err) = &lax {
        assert!(
            strict.is_err(),
            "a CRL loads under the strict profile but not without it: {err}"
        );
    }
});
