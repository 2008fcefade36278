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
        let (&tag, rest) = self.input.split_first().ok_or(BadDer)?;
        // Multi-byte tags never occur in the structures read here.
        if tag & 0x1f == 0x1f {
            return Err(BadDer);
        }
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
        Ok(Tlv { tag, value, whole })
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
