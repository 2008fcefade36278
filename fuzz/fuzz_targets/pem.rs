//! Fuzz the PEM/DER readers: `certgate::pem::parse_certificates`, `parse_crls` and
//! `parse_private_key` on arbitrary bytes.
//!
//! They must never panic, and what they return must be usable: every certificate or CRL is
//! non-empty, a success is never an empty list, and bytes without a PEM header are taken as one
//! DER object exactly when they start with a SEQUENCE tag, as documented.
#![no_main]

use certgate::pem::{parse_certificates, parse_crls, parse_private_key};
use libfuzzer_sys::fuzz_target;

fn has_pem_header(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

fuzz_target!(|data: &[u8]| {
    let pem = has_pem_header(data);

    match parse_certificates(data) {
        Ok(certs) => {
            assert!(!certs.is_empty(), "Ok with no certificate");
            for (i, cert) in certs.iter().enumerate() {
                assert!(
                    !cert.is_empty(),
                    "certificate {i} of {} is empty",
                    certs.len()
                );
            }
            if !pem {
                assert_eq!(certs.len(), 1, "DER input must give one certificate");
                assert_eq!(
                    certs[0].as_ref(),
                    data,
                    "DER input must come back unchanged"
                );
            }
        }
        Err(_) => {
            assert!(
                pem || data.first() != Some(&0x30),
                "DER-looking input refused as a certificate"
            );
        }
    }

    match parse_crls(data) {
        Ok(crls) => {
            assert!(!crls.is_empty(), "Ok with no CRL");
            for (i, crl) in crls.iter().enumerate() {
                assert!(!crl.is_empty(), "CRL {i} of {} is empty", crls.len());
            }
            if !pem {
                assert_eq!(crls.len(), 1, "DER input must give one CRL");
                assert_eq!(crls[0].as_ref(), data, "DER input must come back unchanged");
            }
        }
        Err(_) => {
            assert!(
                pem || data.first() != Some(&0x30),
                "DER-looking input refused as a CRL"
            );
        }
    }

    if let Ok(key) = parse_private_key(data) {
        assert!(!key.secret_der().is_empty(), "empty private key");
    }
});
