//! A minimal, bounded DER reader: just enough to split signed structures and SPKIs.
//!
//! Only definite lengths of at most four length octets are accepted (as in rustls-webpki), so
//! every length is checked against the remaining input before any slice is taken.

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OID: u8 = 0x06;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
/// `[0]` constructed: the version of a TBSCertificate.
pub(crate) const CONTEXT_0: u8 = 0xa0;

/// One tag-length-value read from a [`Reader`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    /// The contents, without tag and length.
    pub(crate) value: &'a [u8],
    /// The whole encoding, tag and length included.
    pub(crate) whole: &'a [u8],
}

/// Reads consecutive TLVs from a byte slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

/// The input is not the DER this reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadDer;

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Reads one TLV of any tag.
    pub(crate) fn read(&mut self) -> Result<Tlv<'a>, BadDer> {
        let (&tag, _) = self.input.split_first().ok_or(BadDer)?;
        // Multi-byte tags never occur in the structures read with this method.
        if tag & 0x1f == 0x1f {
            return Err(BadDer);
        }
        self.read_numbered().map(|(_, tlv)| tlv)
    }

    /// Reads one TLV whose tag may use the high-tag-number form (tag numbers of 31 and more,
    /// as in Android's KeyDescription). Returns the tag number with the TLV, whose `tag` is
    /// the first identifier octet (class and constructed bits; `0x1f` in its low bits for the
    /// high form). Tag numbers are limited to four base-128 octets and must be minimal.
    pub(crate) fn read_numbered(&mut self) -> Result<(u32, Tlv<'a>), BadDer> {
        let (&tag, mut rest) = self.input.split_first().ok_or(BadDer)?;
        let number = if tag & 0x1f == 0x1f {
            let mut number = 0u32;
            let mut count = 0usize;
            loop {
                let (&octet, after) = rest.split_first().ok_or(BadDer)?;
                rest = after;
                // DER: no leading 0x80 octet; at most four octets (numbers below 2^28).
                if count == 0 && octet == 0x80 {
                    return Err(BadDer);
                }
                count += 1;
                if count > 4 {
                    return Err(BadDer);
                }
                number = (number << 7) | u32::from(octet & 0x7f);
                if octet & 0x80 == 0 {
                    break;
                }
            }
            // The high form is only for numbers that do not fit the low form.
            if number < 0x1f {
                return Err(BadDer);
            }
            number
        } else {
            u32::from(tag & 0x1f)
        };
        let (&first, mut rest) = rest.split_first().ok_or(BadDer)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is the indefinite form (not DER); more than 4 octets is more than we accept.
            if count == 0 || count > 4 {
                return Err(BadDer);
            }
            let (octets, after) = rest.split_at_checked(count).ok_or(BadDer)?;
            rest = after;
            let mut len = 0usize;
            for &octet in octets {
                len = len
                    .checked_mul(256)
                    .ok_or(BadDer)?
                    .checked_add(usize::from(octet))
                    .ok_or(BadDer)?;
            }
            // DER: the shortest form must be used.
            if len < 0x80 || octets.first() == Some(&0) {
                return Err(BadDer);
            }
            len
        };
        let (value, after) = rest.split_at_checked(len).ok_or(BadDer)?;
        let header = self.input.len().checked_sub(rest.len()).ok_or(BadDer)?;
        let whole_len = header.checked_add(len).ok_or(BadDer)?;
        let whole = self.input.get(..whole_len).ok_or(BadDer)?;
        self.input = after;
        Ok((number, Tlv { tag, value, whole }))
    }

    /// Reads one TLV that must carry `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, BadDer> {
        let tlv = self.read()?;
        if tlv.tag == tag { Ok(tlv) } else { Err(BadDer) }
    }

    /// Reads a TLV with `tag` if the next one has it.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, BadDer> {
        match self.input.first() {
            Some(&t) if t == tag => self.read().map(Some),
            _ => Ok(None),
        }
    }
}

/// The three parts of a signed structure (certificate or CRL), as webpki's `SignedData` has
/// them: the signed bytes (whole TLV), the algorithm identifier's contents and the signature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignedParts<'a> {
    pub(crate) tbs: Tlv<'a>,
    pub(crate) algorithm: &'a [u8],
    pub(crate) signature: &'a [u8],
}

/// Reads `input` as exactly one TLV carrying `tag`, with nothing after it.
pub(crate) fn single(input: &[u8], tag: u8) -> Result<Tlv<'_>, BadDer> {
    let mut reader = Reader::new(input);
    let tlv = reader.expect(tag)?;
    if reader.is_empty() {
        Ok(tlv)
    } else {
        Err(BadDer)
    }
}

/// Splits `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }`.
pub(crate) fn signed_parts(der: &[u8]) -> Result<SignedParts<'_>, BadDer> {
    let seq = single(der, SEQUENCE)?;
    let mut inner = Reader::new(seq.value);
    let tbs = inner.expect(SEQUENCE)?;
    let algorithm = inner.expect(SEQUENCE)?.value;
    let signature = bit_string_bytes(inner.expect(BIT_STRING)?.value)?;
    if !inner.is_empty() {
        return Err(BadDer);
    }
    Ok(SignedParts {
        tbs,
        algorithm,
        signature,
    })
}

/// The parts of a `SubjectPublicKeyInfo` that signature algorithms need: the algorithm
/// identifier's contents and the key bits. `spki` is the whole SEQUENCE.
pub(crate) fn spki_parts(spki: &[u8]) -> Result<(&[u8], &[u8]), BadDer> {
    let seq = single(spki, SEQUENCE)?;
    let mut inner = Reader::new(seq.value);
    let algorithm = inner.expect(SEQUENCE)?.value;
    let key = bit_string_bytes(inner.expect(BIT_STRING)?.value)?;
    if !inner.is_empty() {
        return Err(BadDer);
    }
    Ok((algorithm, key))
}

/// The bytes of a BIT STRING whose unused-bits count is zero (all keys and signatures).
fn bit_string_bytes(value: &[u8]) -> Result<&[u8], BadDer> {
    match value.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(BadDer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_overlong_lengths() {
        assert_eq!(Reader::new(&[0x30]).read().unwrap_err(), BadDer);
        assert_eq!(Reader::new(&[0x30, 0x02, 0x00]).read().unwrap_err(), BadDer);
        assert_eq!(Reader::new(&[0x30, 0x80]).read().unwrap_err(), BadDer);
        // Non-minimal long form.
        assert_eq!(
            Reader::new(&[0x30, 0x81, 0x01, 0x00]).read().unwrap_err(),
            BadDer
        );
        assert_eq!(
            Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1])
                .read()
                .unwrap_err(),
            BadDer
        );
    }

    #[test]
    fn reads_high_tag_numbers() {
        // [704] constructed (Android's rootOfTrust), empty.
        let der = [0xbf, 0x85, 0x40, 0x00];
        let (number, tlv) = Reader::new(&der).read_numbered().unwrap();
        assert_eq!(number, 704);
        assert_eq!(tlv.tag, 0xbf);
        assert!(tlv.value.is_empty());
        // `read` keeps refusing the high form.
        assert_eq!(Reader::new(&der).read().unwrap_err(), BadDer);
        // Non-minimal: leading 0x80, or a low number in the high form.
        assert!(
            Reader::new(&[0xbf, 0x80, 0x01, 0x00])
                .read_numbered()
                .is_err()
        );
        assert!(Reader::new(&[0xbf, 0x05, 0x00]).read_numbered().is_err());
        // Too many octets, and truncated.
        assert!(
            Reader::new(&[0xbf, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00])
                .read_numbered()
                .is_err()
        );
        assert!(Reader::new(&[0xbf, 0x85]).read_numbered().is_err());
        let (number, _) = Reader::new(&[0xa1, 0x00]).read_numbered().unwrap();
        assert_eq!(number, 1);
    }

    #[test]
    fn reads_nested_values() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05, 0x04, 0x00];
        let mut r = Reader::new(&der);
        let seq = r.expect(SEQUENCE).unwrap();
        assert_eq!(seq.whole.len(), 5);
        let int = Reader::new(seq.value).expect(INTEGER).unwrap();
        assert_eq!(int.value, &[5]);
        assert!(r.optional(SEQUENCE).unwrap().is_none());
        assert!(r.expect(0x04).unwrap().value.is_empty());
        assert!(r.is_empty());
    }
}
