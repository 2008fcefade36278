//! Fuzz the URL-encoded PEM parser (AWS ALB, nginx `$ssl_client_escaped_cert`, CloudFront):
//! `forwarded::parse_url_encoded_pem` on arbitrary bytes.
//!
//! Never panic; an accepted value gives at most the limit of non-empty DER SEQUENCEs, one per
//! `BEGIN CERTIFICATE` line; escaping `+`, `=` and `/` or not gives the same certificates;
//! extraction through the `nginx` and `aws_alb` configurations agrees.
#![no_main]

use certgate::forwarded::{
    ForwardedConfig, ForwardedFormat, ForwardedLimits, parse_url_encoded_pem,
};
use libfuzzer_sys::fuzz_target;

mod forwarded_common;

fuzz_target!(|data: &[u8]| {
    let limits = ForwardedLimits::default();
    if let Ok(found) = parse_url_encoded_pem(data, &limits) {
        forwarded_common::check_certs(found.certs(), &limits);
        // The other escaping of the base64 digits decodes to the same certificates.
        let mut escaped = Vec::with_capacity(data.len() * 3);
        for b in data {
            match b {
                b'+' => escaped.extend_from_slice(b"%2B"),
                b'=' => escaped.extend_from_slice(b"%3D"),
                b'/' => escaped.extend_from_slice(b"%2F"),
                b => escaped.push(*b),
            }
        }
        if escaped.len() <= limits.max_header_bytes {
            let again = parse_url_encoded_pem(&escaped, &limits).expect("escaped form refused");
            assert_eq!(again.certs(), found.certs());
        }
    }
    forwarded_common::through_config(ForwardedConfig::new(ForwardedFormat::Nginx), "x-client-cert", data);
    forwarded_common::through_config(
        ForwardedConfig::new(ForwardedFormat::AwsAlb),
        "x-amzn-mtls-clientcert",
        data,
    );
});
