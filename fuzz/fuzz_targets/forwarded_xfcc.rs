//! Fuzz the XFCC parser: `forwarded::parse_xfcc_elements` and `parse_xfcc` on arbitrary bytes.
//!
//! Never panic; `parse_xfcc` succeeds only when the grammar parses and the last element carries
//! a certificate; its certificates are non-empty DER SEQUENCEs within the limit; the header
//! extracted through a `ForwardedConfig` agrees with the parser, and a stated `Hash` that
//! passes `check` is the leaf's SHA-256.
#![no_main]

use certgate::forwarded::{
    ForwardedConfig, ForwardedFormat, ForwardedLimits, parse_xfcc, parse_xfcc_elements,
};
use libfuzzer_sys::fuzz_target;

mod forwarded_common;

fuzz_target!(|data: &[u8]| {
    let limits = ForwardedLimits::default();
    let elements = parse_xfcc_elements(data, &limits);
    match parse_xfcc(data, &limits) {
        Ok(found) => {
            let elements = elements.expect("parse_xfcc accepted what the grammar refused");
            assert!(elements.last().is_some_and(|e| e.has_certificate()));
            forwarded_common::check_certs(found.certs(), &limits);
            if found.check().is_ok() {
                if let Some(stated) = found.stated_leaf_sha256() {
                    assert_eq!(stated, forwarded_common::sha256(&found.certs()[0]));
                }
            }
        }
        Err(_) => {}
    }
    forwarded_common::through_config(
        ForwardedConfig::new(ForwardedFormat::Xfcc),
        "x-forwarded-client-cert",
        data,
    );
});
