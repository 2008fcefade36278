//! The encodings proxies use for certificates: percent-encoded PEM, base64 DER (one, several
//! concatenated, or several joined by `,`). Pure, bounded, never panicking.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rustls_pki_types::CertificateDer;

use super::{ForwardedError, ForwardedLimits};

/// Standard base64 alphabet; padding may be present or absent (RFC 8941 allows parsers to
/// accept either, and some proxies drop it). Non-canonical trailing bits are refused.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const PEM_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END: &[u8] = b"-----END CERTIFICATE-----";

/// Refuses `count` certificates over the limit.
pub(super) fn check_count(count: usize, limits: &ForwardedLimits) -> Result<(), ForwardedError> {
    if count > limits.max_certificates {
        return Err(ForwardedError::TooManyCertificates {
            count,
            max: limits.max_certificates,
        });
    }
    Ok(())
}

/// How often `needle` occurs in `haystack` (non-overlapping).
pub(super) fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    let mut count = 0usize;
    let mut rest = haystack;
    while let Some(at) = find(rest, needle) {
        count = count.saturating_add(1);
        rest = rest
            .get(at.saturating_add(needle.len())..)
            .unwrap_or_default();
    }
    count
}

/// Position of the first `needle` in `haystack`: scans for its first byte, then compares
/// (the needles here start with `-` or `:`, rare in base64 text).
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0usize;
    loop {
        let rest = haystack.get(from..)?;
        let at = from.checked_add(rest.iter().position(|b| *b == first)?)?;
        if haystack.get(at..at.checked_add(needle.len())?) == Some(needle) {
            return Some(at);
        }
        from = at.checked_add(1)?;
    }
}

/// Decodes `%XX` escapes. `+` stays a plus (this is not form encoding: AWS and nginx leave
/// `+` unescaped or write `%2B`, and both mean the base64 digit). Anything but printable
/// ASCII, before or after decoding, is refused.
pub(super) fn percent_decode(value: &[u8]) -> Result<Vec<u8>, ForwardedError> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0usize;
    while let Some(&b) = value.get(i) {
        // A run without escapes is copied at once.
        let run = value
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| **b != b'%' && (b.is_ascii_graphic() || **b == b' ' || **b == b'\t'))
            .count();
        if run > 0 {
            out.extend_from_slice(value.get(i..i.saturating_add(run)).unwrap_or_default());
            i = i.saturating_add(run);
            continue;
        }
        if b == b'%' {
            let hi = value.get(i.saturating_add(1)).copied().and_then(hex_digit);
            let lo = value.get(i.saturating_add(2)).copied().and_then(hex_digit);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(ForwardedError::Encoding {
                    detail: format!("a bad percent escape at byte {i}"),
                });
            };
            let decoded = hi.wrapping_mul(16).wrapping_add(lo);
            if !(decoded.is_ascii_graphic() || matches!(decoded, b' ' | b'\t' | b'\r' | b'\n')) {
                return Err(ForwardedError::Encoding {
                    detail: format!("a percent escape at byte {i} decodes to a non-text byte"),
                });
            }
            out.push(decoded);
            i = i.saturating_add(3);
        } else if b.is_ascii_graphic() || b == b' ' || b == b'\t' {
            out.push(b);
            i = i.saturating_add(1);
        } else {
            return Err(ForwardedError::Encoding {
                detail: format!("a non-text byte at byte {i}"),
            });
        }
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// Decodes base64 (standard alphabet, padding optional) after trimming spaces around it.
pub(super) fn base64_decode(text: &[u8], what: &str) -> Result<Vec<u8>, ForwardedError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(ForwardedError::Encoding {
            detail: format!("{what} is empty"),
        });
    }
    BASE64.decode(text).map_err(|_| ForwardedError::Encoding {
        detail: format!("{what} is not valid base64"),
    })
}

/// One DER certificate: must be a single SEQUENCE with nothing after it.
pub(super) fn one_der(der: Vec<u8>, what: &str) -> Result<CertificateDer<'static>, ForwardedError> {
    match der_sequence_len(&der) {
        Some(len) if len == der.len() => Ok(CertificateDer::from(der)),
        _ => Err(ForwardedError::NotACertificate {
            detail: format!("{what} is not one DER SEQUENCE"),
        }),
    }
}

/// Splits concatenated DER SEQUENCEs (HAProxy's `ssl_c_chain_der`); refuses trailing bytes
/// and more than the limit. A single certificate is the usual case.
pub(super) fn split_der(
    der: &[u8],
    limits: &ForwardedLimits,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ForwardedError> {
    let mut certs = Vec::new();
    let mut rest = der;
    while !rest.is_empty() {
        check_count(certs.len().saturating_add(1), limits)?;
        let Some(len) = der_sequence_len(rest) else {
            return Err(ForwardedError::NotACertificate {
                detail: format!("{what} is not a DER SEQUENCE"),
            });
        };
        let (one, tail) = rest
            .split_at_checked(len)
            .ok_or(ForwardedError::NotACertificate {
                detail: format!("{what} is a truncated DER SEQUENCE"),
            })?;
        certs.push(CertificateDer::from(one.to_vec()));
        rest = tail;
    }
    if certs.is_empty() {
        return Err(ForwardedError::NotACertificate {
            detail: format!("{what} is empty"),
        });
    }
    Ok(certs)
}

/// Total length (header + contents) of the DER SEQUENCE at the start of `der`, if its header
/// is well formed and its length fits in `der`. Definite lengths up to four bytes only.
fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (header, len) = if first < 0x80 {
        (2usize, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        if bytes.first() == Some(&0) {
            return None; // not minimal
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| acc.wrapping_shl(8) | usize::from(*b));
        if len < 0x80 {
            return None; // not minimal
        }
        (n.checked_add(2)?, len)
    };
    let total = header.checked_add(len)?;
    (total <= der.len()).then_some(total)
}

/// Certificates from PEM text: only `CERTIFICATE` blocks and whitespace, nothing else (no
/// other block types, no text between blocks). Lines may end in `\r\n` or `\n` and carry
/// surrounding spaces or tabs (nginx's legacy `$ssl_client_cert` indents with tabs).
pub(super) fn pem_certificates(
    text: &[u8],
    limits: &ForwardedLimits,
) -> Result<Vec<CertificateDer<'static>>, ForwardedError> {
    // Counted before any base64 is decoded.
    check_count(occurrences(text, PEM_BEGIN), limits)?;
    let mut certs = Vec::new();
    let mut body: Option<Vec<u8>> = None;
    for line in text.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match body.as_mut() {
            None if line == PEM_BEGIN => body = Some(Vec::new()),
            None => {
                return Err(ForwardedError::Pem {
                    detail: "text outside a CERTIFICATE block".into(),
                });
            }
            Some(b64) if line == PEM_END => {
                let der = base64_decode(b64, "a PEM block")?;
                certs.push(one_der(der, "a PEM block")?);
                body = None;
            }
            Some(_) if line.starts_with(b"-----") => {
                return Err(ForwardedError::Pem {
                    detail: "a PEM armour line inside a CERTIFICATE block".into(),
                });
            }
            Some(b64) => b64.extend_from_slice(line),
        }
    }
    if body.is_some() {
        return Err(ForwardedError::Pem {
            detail: "a CERTIFICATE block without its END line".into(),
        });
    }
    if certs.is_empty() {
        return Err(ForwardedError::Pem {
            detail: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Percent-encoded PEM (AWS ALB, nginx `$ssl_client_escaped_cert`, CloudFront, Envoy's XFCC
/// `Cert`/`Chain`): one or more certificates, in the order written.
pub(super) fn url_encoded_pem(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<Vec<CertificateDer<'static>>, ForwardedError> {
    // The BEGIN lines are counted in the raw value (space escaped or not) before decoding.
    // (Dashes are not base64 digits; the decoded text is counted again before its base64.)
    check_count(occurrences(value, b"-----BEGIN"), limits)?;
    let text = percent_decode(value)?;
    pem_certificates(&text, limits)
}

/// Base64 DER (Cloudflare, HAProxy `%[ssl_c_der,base64]`, Azure `X-ARR-ClientCert`): one
/// certificate, or several concatenated.
pub(super) fn base64_der(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<Vec<CertificateDer<'static>>, ForwardedError> {
    let der = base64_decode(value, "the header")?;
    split_der(&der, limits, "the decoded header")
}

/// Base64 DER per certificate joined by `,` (Traefik's `X-Forwarded-Tls-Client-Cert`), leaf
/// first. Old Traefik versions percent-encoded the whole value (`,` as `%2C`): decoded first.
pub(super) fn comma_joined_base64(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<Vec<CertificateDer<'static>>, ForwardedError> {
    let decoded;
    let value = if value.contains(&b'%') {
        decoded = percent_decode(value)?;
        &decoded[..]
    } else {
        value
    };
    check_count(occurrences(value, b",").saturating_add(1), limits)?;
    value
        .split(|b| *b == b',')
        .enumerate()
        .map(|(i, part)| {
            one_der(
                base64_decode(part, "a certificate of the list")?,
                "a certificate of the list",
            )
            .map_err(|e| e.at_index(i))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_plus_and_refuses_bad_escapes() {
        assert_eq!(percent_decode(b"a+b%2Bc%3D%2f").unwrap(), b"a+b+c=/");
        assert!(percent_decode(b"%").is_err());
        assert!(percent_decode(b"%4").is_err());
        assert!(percent_decode(b"%zz").is_err());
        assert!(percent_decode(b"%00").is_err());
        assert!(percent_decode(b"%FF").is_err());
        assert!(percent_decode("é".as_bytes()).is_err());
    }

    #[test]
    fn der_lengths_are_checked() {
        assert_eq!(der_sequence_len(&[0x30, 0x00]), Some(2));
        assert_eq!(der_sequence_len(&[0x30, 0x01]), None);
        assert_eq!(der_sequence_len(&[0x30, 0x81, 0x05]), None);
        assert_eq!(der_sequence_len(&[0x30, 0x80]), None);
        assert_eq!(der_sequence_len(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_sequence_len(&[0x31, 0x00]), None);
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert_eq!(der_sequence_len(&long), Some(0x83));
        let limits = ForwardedLimits::default();
        assert_eq!(
            split_der(&[0x30, 0, 0x30, 0], &limits, "x").unwrap().len(),
            2
        );
        assert!(split_der(&[0x30, 0, 0x01], &limits, "x").is_err());
        let many: Vec<u8> = [0x30u8, 0].repeat(limits.max_certificates + 1);
        assert!(matches!(
            split_der(&many, &limits, "x"),
            Err(ForwardedError::TooManyCertificates { .. })
        ));
    }

    #[test]
    fn pem_refuses_anything_but_certificate_blocks() {
        let limits = ForwardedLimits::default();
        let ok = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(ok, &limits).unwrap().len(), 1);
        let tabs = b"-----BEGIN CERTIFICATE-----\r\n\tMAA=\r\n\t-----END CERTIFICATE-----";
        assert_eq!(pem_certificates(tabs, &limits).unwrap().len(), 1);
        for bad in [
            &b"junk\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"[..],
            b"-----BEGIN CERTIFICATE-----\nMAA=\n",
            b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            b"-----BEGIN CERTIFICATE-----\nMA!=\n-----END CERTIFICATE-----\n",
            b"",
        ] {
            assert!(pem_certificates(bad, &limits).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
