//! Fuzz the base64 DER parsers: comma-joined (Traefik) and single or concatenated (Cloudflare,
//! HAProxy, Azure) on arbitrary bytes.
//!
//! Never panic; accepted values give at most the limit of non-empty DER SEQUENCEs; a Traefik
//! list has one certificate per `,`-separated member; a value without `,` that both parsers
//! accept as one certificate gives the same certificate; extraction through each format's
//! configuration agrees.
#![no_main]

use certgate::forwarded::{
    ForwardedConfig, ForwardedFormat, ForwardedLimits, parse_base64_der,
    parse_comma_joined_base64,
};
use libfuzzer_sys::fuzz_target;

mod forwarded_common;

fuzz_target!(|data: &[u8]| {
    let limits = ForwardedLimits::default();
    let joined = parse_comma_joined_base64(data, &limits);
    if let Ok(found) = &joined {
        forwarded_common::check_certs(found.certs(), &limits);
        if !data.contains(&b'%') {
            assert_eq!(found.certs().len(), data.split(|b| *b == b',').count());
        }
    }
    let single = parse_base64_der(data, &limits);
    if let Ok(found) = &single {
        forwarded_common::check_certs(found.certs(), &limits);
    }
    if let (Ok(a), Ok(b)) = (&joined, &single) {
        if a.certs().len() == 1 && b.certs().len() == 1 {
            assert_eq!(a.certs(), b.certs());
        }
    }
    forwarded_common::through_config(
        ForwardedConfig::new(ForwardedFormat::Traefik),
        "x-forwarded-tls-client-cert",
        data,
    );
    for format in [ForwardedFormat::Cloudflare, ForwardedFormat::Haproxy, ForwardedFormat::Azure] {
        let header = format.default_headers()[0];
        forwarded_common::through_config(ForwardedConfig::new(format), header, data);
    }
});
