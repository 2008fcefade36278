//! Checks shared by the forwarded-header targets.
#![allow(dead_code)] // each target uses a different subset

use certgate::forwarded::{ForwardedConfig, ForwardedLimits};
use rustls_pki_types::CertificateDer;
use sha2::Digest;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// Every certificate is a DER SEQUENCE of at least two bytes, and there are 1..=limit.
pub fn check_certs(certs: &[CertificateDer<'static>], limits: &ForwardedLimits) {
    assert!(!certs.is_empty(), "Ok with no certificate");
    assert!(
        certs.len() <= limits.max_certificates,
        "{} certificates",
        certs.len()
    );
    for cert in certs {
        assert_eq!(cert.first(), Some(&0x30), "not a SEQUENCE");
        assert!(cert.len() >= 2);
    }
}

/// `value` in `header` through `config.extract`: never panics; an accepted chain has the same
/// guarantees and, where the format states a leaf hash, it matched.
pub fn through_config(config: ForwardedConfig, header: &str, value: &[u8]) {
    let Ok(value) = http::HeaderValue::from_bytes(value) else {
        return;
    };
    let Ok(name) = http::HeaderName::from_bytes(header.as_bytes()) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(name, value);
    if let Ok(Some(chain)) = config.extract(&headers) {
        check_certs(chain.certs(), config.parse_limits());
    }
}
