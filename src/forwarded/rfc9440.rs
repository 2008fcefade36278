//! RFC 9440 `Client-Cert` and `Client-Cert-Chain`: RFC 8941 byte sequences (`:base64:`) of
//! DER certificates. `Client-Cert` is one item (the leaf); `Client-Cert-Chain` a list of items
//! (the rest of the chain, leaf excluded).
//!
//! Parameters on the items are refused rather than skipped (no proxy sends any).

use rustls_pki_types::CertificateDer;

use super::encoding::{base64_decode, check_count, occurrences, one_der};
use super::{ForwardedCertificates, ForwardedError, ForwardedLimits};

/// The leaf from a `Client-Cert` value and the rest of the chain from an optional
/// `Client-Cert-Chain` value (the header's field lines joined by `,`).
///
/// ```
/// use certgate::forwarded::parse_rfc9440;
/// let err = parse_rfc9440(b"MIIB", None, &Default::default()).unwrap_err();
/// assert_eq!(err.code(), "syntax");
/// ```
///
/// # Errors
///
/// [`ForwardedError::TooLarge`] when the two values together exceed the byte limit and
/// [`ForwardedError::TooManyCertificates`] when the list is too long (both before decoding);
/// [`ForwardedError::Syntax`] for anything but byte sequences; [`ForwardedError::Encoding`]
/// and [`ForwardedError::NotACertificate`] for bad base64 or DER.
pub fn parse_rfc9440(
    cert: &[u8],
    chain: Option<&[u8]>,
    limits: &ForwardedLimits,
) -> Result<ForwardedCertificates, ForwardedError> {
    limits.check_bytes(cert.len().saturating_add(chain.map_or(0, <[u8]>::len)))?;
    if let Some(chain) = chain {
        // Every member is one `:…:` pair; base64 has no `:`.
        check_count(
            occurrences(chain, b":").div_ceil(2).saturating_add(1),
            limits,
        )?;
    }
    let leaf = byte_sequence(cert.trim_ascii(), "Client-Cert")?;
    let mut certs = vec![leaf];
    if let Some(chain) = chain {
        for (i, member) in chain.split(|b| *b == b',').enumerate() {
            let member = member.trim_ascii();
            if member.is_empty() && chain.trim_ascii().is_empty() {
                break; // an empty list
            }
            certs.push(
                byte_sequence(member, "a Client-Cert-Chain member").map_err(|e| e.at_index(i))?,
            );
        }
    }
    Ok(ForwardedCertificates {
        certs,
        leaf_sha256: None,
    })
}

/// One RFC 8941 byte sequence holding one DER certificate.
fn byte_sequence(item: &[u8], what: &str) -> Result<CertificateDer<'static>, ForwardedError> {
    let inner = item
        .strip_prefix(b":")
        .and_then(|rest| rest.strip_suffix(b":"))
        .filter(|inner| !inner.contains(&b':'))
        .ok_or_else(|| ForwardedError::Syntax {
            detail: format!("{what} is not one byte sequence (:base64:)"),
        })?;
    if inner
        .iter()
        .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
    {
        return Err(ForwardedError::Syntax {
            detail: format!("{what} holds a character that is not base64"),
        });
    }
    one_der(base64_decode(inner, what)?, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sequences_are_strict() {
        let limits = ForwardedLimits::default();
        assert_eq!(
            parse_rfc9440(b":MAA=:", None, &limits).unwrap().certs.len(),
            1
        );
        assert_eq!(
            parse_rfc9440(b" :MAA=: ", Some(b":MAA=:, :MAA=:"), &limits)
                .unwrap()
                .certs
                .len(),
            3
        );
        assert_eq!(
            parse_rfc9440(b":MAA=:", Some(b""), &limits)
                .unwrap()
                .certs
                .len(),
            1
        );
        for (cert, chain) in [
            (&b"MAA="[..], None),
            (b":MAA=", None),
            (b":MAA=:;a=1", None),
            (b":MA A=:", None),
            (b":MAA=::MAA=:", None),
            (b":MAA=:", Some(&b":MAA=:,"[..])),
            (b":MAA=:", Some(b":MAA=: :MAA=:")),
            (b":MAA=:", Some(b"\"MAA=\"")),
            (b":AAAA:", None),
        ] {
            assert!(
                parse_rfc9440(cert, chain, &limits).is_err(),
                "{cert:?} {chain:?}"
            );
        }
    }
}
