//! Fuzz the RFC 9440 parser: the input split at its first newline into a `Client-Cert` and a
//! `Client-Cert-Chain` value (no newline: `Client-Cert` only).
//!
//! Never panic; an accepted header gives the leaf plus one certificate per list member, each a
//! non-empty DER SEQUENCE, within the limit; extraction through a `ForwardedConfig` agrees.
#![no_main]

use certgate::forwarded::{ForwardedConfig, ForwardedFormat, ForwardedLimits, parse_rfc9440};
use libfuzzer_sys::fuzz_target;

mod forwarded_common;

fuzz_target!(|data: &[u8]| {
    let limits = ForwardedLimits::default();
    let (cert, chain) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    if let Ok(found) = parse_rfc9440(cert, chain, &limits) {
        forwarded_common::check_certs(found.certs(), &limits);
        let members = chain.map_or(0, |c| {
            if c.trim_ascii().is_empty() { 0 } else { c.split(|b| *b == b',').count() }
        });
        assert_eq!(found.certs().len(), 1 + members);
        assert!(found.stated_leaf_sha256().is_none());
    }
    if chain.is_none() {
        forwarded_common::through_config(
            ForwardedConfig::new(ForwardedFormat::Rfc9440),
            "client-cert",
            cert,
        );
    }
});
