//! Envoy's `x-forwarded-client-cert` (XFCC): elements joined by `,`, each `;`-separated
//! `Key=Value` pairs, values quoted (with `\"` escapes) when they hold `,;=`.
//!
//! Only the **last** element is believed: it is the one the nearest proxy appended (in
//! `APPEND_FORWARD` mode the elements before it are whatever the client or earlier hops sent).
//! The grammar is strict so that a client-supplied prefix (an unclosed quote, say) cannot shift
//! where the last element starts: a quoted value must be a whole value, followed by `;`, `,` or
//! the end, and every quote must close.

use super::encoding::url_encoded_pem;
use super::{ForwardedCertificates, ForwardedError, ForwardedLimits};

/// One XFCC element, as written (values unquoted and unescaped).
///
/// ```
/// let elements = certgate::forwarded::parse_xfcc_elements(
///     br#"By=spiffe://prod/edge;Hash=ab12;Subject="CN=app,O=Shop";URI=spiffe://prod/app"#,
///     &Default::default(),
/// )
/// .unwrap();
/// assert_eq!(elements[0].by(), ["spiffe://prod/edge"]);
/// assert_eq!(elements[0].subject(), Some("CN=app,O=Shop"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XfccElement {
    by: Vec<String>,
    hash: Option<String>,
    cert: Option<String>,
    chain: Option<String>,
    subject: Option<String>,
    uri: Vec<String>,
    dns: Vec<String>,
}

impl XfccElement {
    /// The `By` values: the SAN URIs of the proxy that wrote the element.
    pub fn by(&self) -> &[String] {
        &self.by
    }

    /// The `Hash` value as written (hex SHA-256 of the leaf, when it is well formed).
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// The `Subject` value, as written.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `URI` values (SAN URIs of the client certificate, as the proxy states them).
    pub fn uris(&self) -> &[String] {
        &self.uri
    }

    /// The `DNS` values.
    pub fn dns(&self) -> &[String] {
        &self.dns
    }

    /// Whether the element carries the certificate itself (`Cert` or `Chain`).
    pub fn has_certificate(&self) -> bool {
        self.cert.is_some() || self.chain.is_some()
    }
}

/// Splits an XFCC header value into its elements (grammar only: nothing is decoded, the
/// `Hash` is not checked). Unknown keys are ignored, as Envoy may add more.
///
/// # Errors
///
/// [`ForwardedError::TooLarge`] over [`ForwardedLimits::max_header_bytes`] (before anything
/// else), [`ForwardedError::Syntax`] for an unclosed quote, a quote in the middle of a value,
/// a pair without `=`, an empty element, or `Hash`, `Cert`, `Chain` or `Subject` given twice in
/// one element.
pub fn parse_xfcc_elements(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<Vec<XfccElement>, ForwardedError> {
    limits.check_bytes(value.len())?;
    let mut elements = Vec::new();
    let mut element = XfccElement::default();
    let mut pairs_in_element = 0usize;
    let mut i = 0usize;
    loop {
        // Optional whitespace, then a key up to `=`.
        while value.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i = i.saturating_add(1);
        }
        let key_start = i;
        while let Some(&b) = value.get(i) {
            if b == b'=' || b == b';' || b == b',' || b == b'"' {
                break;
            }
            i = i.saturating_add(1);
        }
        let key = value.get(key_start..i).unwrap_or_default().trim_ascii();
        if value.get(i) != Some(&b'=') || key.is_empty() {
            return Err(syntax(i, "expected Key=Value"));
        }
        i = i.saturating_add(1);
        // The value: quoted, or bare up to `;`/`,`/end.
        let mut text = Vec::new();
        if value.get(i) == Some(&b'"') {
            i = i.saturating_add(1);
            loop {
                match value.get(i) {
                    None => return Err(syntax(i, "a quoted value is not closed")),
                    Some(b'"') => {
                        i = i.saturating_add(1);
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&escaped) = value.get(i.saturating_add(1)) else {
                            return Err(syntax(i, "a quoted value ends in a backslash"));
                        };
                        text.push(escaped);
                        i = i.saturating_add(2);
                    }
                    Some(_) => {
                        // A run without quote or backslash is copied at once.
                        let rest = value.get(i..).unwrap_or_default();
                        let run = rest
                            .iter()
                            .take_while(|b| **b != b'"' && **b != b'\\')
                            .count();
                        text.extend_from_slice(rest.get(..run).unwrap_or_default());
                        i = i.saturating_add(run);
                    }
                }
            }
        } else {
            let start = i;
            while let Some(&b) = value.get(i) {
                if b == b';' || b == b',' {
                    break;
                }
                if b == b'"' {
                    return Err(syntax(i, "a quote inside an unquoted value"));
                }
                i = i.saturating_add(1);
            }
            text.extend_from_slice(value.get(start..i).unwrap_or_default());
        }
        // After a value: `;`, `,` or the end, and nothing else (spaces allowed).
        while value.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i = i.saturating_add(1);
        }
        let text = text_of(text, i)?;
        set(&mut element, key, text, i)?;
        pairs_in_element = pairs_in_element.saturating_add(1);
        match value.get(i) {
            Some(b';') => i = i.saturating_add(1),
            Some(b',') => {
                elements.push(std::mem::take(&mut element));
                pairs_in_element = 0;
                i = i.saturating_add(1);
            }
            None => {
                elements.push(element);
                return Ok(elements);
            }
            Some(_) => return Err(syntax(i, "expected ';' or ',' after a value")),
        }
        if pairs_in_element == 0 && value.get(i).is_none() {
            return Err(syntax(i, "the header ends in ','"));
        }
    }
}

/// A value's bytes as text: control characters are refused.
fn text_of(bytes: Vec<u8>, at: usize) -> Result<String, ForwardedError> {
    if bytes.iter().any(u8::is_ascii_control) {
        return Err(syntax(at, "a control character in a value"));
    }
    String::from_utf8(bytes).map_err(|_| syntax(at, "a value is not UTF-8"))
}

fn set(
    element: &mut XfccElement,
    key: &[u8],
    text: String,
    at: usize,
) -> Result<(), ForwardedError> {
    let once = |slot: &mut Option<String>, name: &str, text: String| {
        if slot.is_some() {
            return Err(syntax(at, &format!("{name} given twice in one element")));
        }
        *slot = Some(text);
        Ok(())
    };
    if key.eq_ignore_ascii_case(b"By") {
        element.by.push(text);
    } else if key.eq_ignore_ascii_case(b"Hash") {
        once(&mut element.hash, "Hash", text)?;
    } else if key.eq_ignore_ascii_case(b"Cert") {
        once(&mut element.cert, "Cert", text)?;
    } else if key.eq_ignore_ascii_case(b"Chain") {
        once(&mut element.chain, "Chain", text)?;
    } else if key.eq_ignore_ascii_case(b"Subject") {
        once(&mut element.subject, "Subject", text)?;
    } else if key.eq_ignore_ascii_case(b"URI") {
        element.uri.push(text);
    } else if key.eq_ignore_ascii_case(b"DNS") {
        element.dns.push(text);
    }
    Ok(())
}

fn syntax(at: usize, what: &str) -> ForwardedError {
    ForwardedError::Syntax {
        detail: format!("XFCC: {what} (at byte {at})"),
    }
}

/// The certificates of the last XFCC element (`Chain` when present, which includes the leaf,
/// else `Cert`), with its `Hash` for [`ForwardedCertificates::check`].
///
/// ```
/// use certgate::forwarded::{ForwardedError, parse_xfcc};
/// // Hash only: Envoy was not told to forward the certificate itself (`cert: true`).
/// let err = parse_xfcc(b"By=spiffe://edge;Hash=00", &Default::default()).unwrap_err();
/// assert_eq!(err.code(), "no_certificate_in_header");
/// ```
///
/// # Errors
///
/// Every error of [`parse_xfcc_elements`]; [`ForwardedError::MissingCertificate`] when the last
/// element has neither `Cert` nor `Chain`; [`ForwardedError::Syntax`] for a `Hash` that is not
/// 64 hex digits; [`ForwardedError::Mismatch`] when `Cert` is not the first certificate of
/// `Chain`; the decoding errors of the URL-encoded PEM.
pub fn parse_xfcc(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<ForwardedCertificates, ForwardedError> {
    let elements = parse_xfcc_elements(value, limits)?;
    let Some(last) = elements.last() else {
        return Err(syntax(0, "no element"));
    };
    if !last.has_certificate() {
        return Err(ForwardedError::MissingCertificate {
            detail: "the last XFCC element has no Cert or Chain (set Envoy's \
                     set_current_client_cert_details cert or chain)"
                .into(),
        });
    }
    let hash = match &last.hash {
        None => None,
        Some(hex) => Some(parse_sha256_hex(hex).ok_or_else(|| ForwardedError::Syntax {
            detail: "XFCC: the last element's Hash is not 64 hex digits".into(),
        })?),
    };
    let cert = match &last.cert {
        Some(pem) => {
            let mut certs = url_encoded_pem(pem.as_bytes(), limits)?;
            if certs.len() != 1 {
                return Err(ForwardedError::Pem {
                    detail: format!("XFCC: Cert holds {} certificates, not 1", certs.len()),
                });
            }
            certs.pop()
        }
        None => None,
    };
    let certs = match (&last.chain, cert) {
        (Some(chain), cert) => {
            let chain = url_encoded_pem(chain.as_bytes(), limits)?;
            if let Some(cert) = cert {
                if chain.first() != Some(&cert) {
                    return Err(ForwardedError::Mismatch {
                        detail: "XFCC: Cert is not the first certificate of Chain".into(),
                    });
                }
            }
            chain
        }
        (None, Some(cert)) => vec![cert],
        (None, None) => {
            return Err(ForwardedError::MissingCertificate {
                detail: "the last XFCC element has no Cert or Chain (set Envoy's \
                         set_current_client_cert_details cert or chain)"
                    .into(),
            });
        }
    };
    Ok(ForwardedCertificates {
        certs,
        leaf_sha256: hash,
    })
}

/// 64 hex digits (either case) as 32 bytes.
fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        let hi = char::from(*hi).to_digit(16)?;
        let lo = char::from(*lo).to_digit(16)?;
        *slot = u8::try_from(hi.checked_mul(16)?.checked_add(lo)?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(v: &str) -> Result<Vec<XfccElement>, ForwardedError> {
        parse_xfcc_elements(v.as_bytes(), &ForwardedLimits::default())
    }

    #[test]
    fn quoted_values_and_escapes() {
        let e = elements(r#"Subject="CN=a\"b,O=c";URI=x,By=y"#).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].subject(), Some(r#"CN=a"b,O=c"#));
        assert_eq!(e[0].uris(), ["x"]);
        assert_eq!(e[1].by(), ["y"]);
        // HTTP list combination puts a space after the comma.
        assert_eq!(elements("By=a, By=b").unwrap().len(), 2);
    }

    #[test]
    fn the_grammar_is_strict() {
        for bad in [
            r#"Subject="unclosed"#,
            r#"Subject="a"b;URI=x"#,
            r#"Subject=a"b"#,
            "Hash",
            "=x",
            "By=a,,By=b",
            "By=a,",
            "By=a;",
            "Hash=a;Hash=b",
            "Cert=a;Cert=b",
            "By=a\u{1}",
            r#"Subject="a\"#,
        ] {
            assert!(elements(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn hex_hashes() {
        let h = "bfaf1f7e070f9fa8dd62905f158da73f84a1136624fbafcc9393c8f7287a69eb";
        assert_eq!(parse_sha256_hex(h).unwrap()[0], 0xbf);
        assert_eq!(parse_sha256_hex(&h.to_uppercase()), parse_sha256_hex(h));
        assert!(parse_sha256_hex(&h[1..]).is_none());
        assert!(parse_sha256_hex(&h.replace('b', "g")).is_none());
        assert!(parse_sha256_hex("+f".repeat(32).as_str()).is_none());
    }
}
