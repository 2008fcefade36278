//! The other encoding of an ECDSA-signed certificate.
//!
//! An ECDSA signature (r, s) has a twin, (r, n − s), that verifies just as well, and the
//! verifier does not insist on either (no "low-s" rule in X.509). Anyone holding a certificate
//! can therefore present a second DER encoding of it, with a different SHA-256 fingerprint and
//! the same key, names and serial. A fingerprint denylist that only hashed the presented bytes
//! would let a denylisted leaf through in its twin encoding; [`ecdsa_twins`] gives the
//! encodings to hash as well. (Ed25519 signatures are canonical and RSA signatures are unique,
//! so only ECDSA has twins.)

use super::der::{self, Reader};

/// 1.2.840.10045.4.3 (ecdsa-with-SHA*), as OID contents.
const ECDSA_WITH_SHA: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];

/// The group orders of P-256, P-384 and P-521, big endian. The signing curve is that of the
/// issuer's key, which is not known before path building, so each order under which `s` is a
/// valid scalar yields a candidate; the wrong curve's candidate matches nothing.
const ORDERS: [&[u8]; 3] = [
    &[
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ],
    &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37,
        0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc,
        0xc5, 0x29, 0x73,
    ],
    &[
        0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01,
        0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f,
        0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09,
    ],
];

/// The twin encodings of an ECDSA-signed certificate (at most one per supported curve),
/// or none when `cert` is not a well-formed ECDSA-signed certificate. Bounded: the output is
/// at most a few octets longer than `cert`, and `cert` has already passed the size limits.
pub(crate) fn ecdsa_twins(cert: &[u8]) -> Vec<Vec<u8>> {
    parts(cert)
        .map(|parts| {
            ORDERS
                .iter()
                .filter_map(|order| negate(parts.s, order))
                .map(|twin_s| parts.encode(&twin_s))
                .collect()
        })
        .unwrap_or_default()
}

/// The pieces of an ECDSA-signed certificate that a twin keeps or changes.
struct Parts<'a> {
    /// tbsCertificate, whole encoding.
    tbs: &'a [u8],
    /// The signatureAlgorithm's contents.
    algorithm: &'a [u8],
    /// r, whole INTEGER encoding.
    r: &'a [u8],
    /// s, INTEGER contents.
    s: &'a [u8],
}

fn parts(cert: &[u8]) -> Option<Parts<'_>> {
    let signed = der::signed_parts(cert).ok()?;
    let oid = Reader::new(signed.algorithm).expect(der::OID).ok()?;
    if !oid.value.starts_with(&ECDSA_WITH_SHA) {
        return None;
    }
    let pair = der::single(signed.signature, der::SEQUENCE).ok()?;
    let mut pair = Reader::new(pair.value);
    let r = pair.expect(der::INTEGER).ok()?;
    let s = pair.expect(der::INTEGER).ok()?;
    if !pair.is_empty() {
        return None;
    }
    Some(Parts {
        tbs: signed.tbs.whole,
        algorithm: signed.algorithm,
        r: r.whole,
        s: s.value,
    })
}

impl Parts<'_> {
    /// The certificate with `s` (INTEGER contents) in place of the original. Every length is
    /// written in the shortest form, the only one `der::Reader` accepts, so the unchanged
    /// parts come out byte for byte as they went in.
    fn encode(&self, s: &[u8]) -> Vec<u8> {
        let mut pair = Vec::with_capacity(self.r.len() + s.len() + 4);
        pair.extend_from_slice(self.r);
        push_tlv(&mut pair, der::INTEGER, s);
        let mut signature = Vec::with_capacity(pair.len() + 6);
        signature.push(0); // no unused bits
        push_tlv(&mut signature, der::SEQUENCE, &pair);
        let mut body =
            Vec::with_capacity(self.tbs.len() + self.algorithm.len() + signature.len() + 12);
        body.extend_from_slice(self.tbs);
        push_tlv(&mut body, der::SEQUENCE, self.algorithm);
        push_tlv(&mut body, der::BIT_STRING, &signature);
        let mut cert = Vec::with_capacity(body.len() + 6);
        push_tlv(&mut cert, der::SEQUENCE, &body);
        cert
    }
}

/// `order − s` as minimal positive INTEGER contents, when `0 < s < order`.
fn negate(s: &[u8], order: &[u8]) -> Option<Vec<u8>> {
    // A negative INTEGER is no ECDSA scalar.
    if s.first().is_none_or(|&first| first & 0x80 != 0) {
        return None;
    }
    let s = strip_zeros(s);
    if s.is_empty() || s.len() > order.len() {
        return None;
    }
    let mut padded = vec![0u8; order.len()];
    let start = order.len() - s.len();
    padded.get_mut(start..)?.copy_from_slice(s);
    if padded.as_slice() >= order {
        return None;
    }
    let mut out = vec![0u8; order.len()];
    let mut borrow = 0u16;
    for ((o, &a), &b) in out.iter_mut().zip(order).zip(&padded).rev() {
        let subtrahend = u16::from(b) + borrow;
        let minuend = u16::from(a);
        if minuend >= subtrahend {
            *o = u8::try_from(minuend - subtrahend).ok()?;
            borrow = 0;
        } else {
            *o = u8::try_from(minuend + 256 - subtrahend).ok()?;
            borrow = 1;
        }
    }
    let magnitude = strip_zeros(&out);
    let mut contents = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_some_and(|&first| first & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(magnitude);
    Some(contents)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    // Definite, shortest form (what der::Reader accepts back).
    let octets = len.to_be_bytes();
    let significant = strip_zeros(&octets);
    if len < 0x80 {
        out.push(significant.first().copied().unwrap_or(0));
    } else {
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_round_trips_and_stays_in_range() {
        let order = ORDERS[0];
        // n − 1, as positive INTEGER contents.
        let mut largest = vec![0];
        largest.extend_from_slice(order);
        if let Some(last) = largest.last_mut() {
            *last -= 1;
        }
        for s in [&[1u8][..], &[0x00, 0x80], &[0x7f; 32], &largest] {
            let twin = negate(s, order).expect("a valid scalar has a twin");
            let back = negate(&twin, order).expect("and the twin has one too");
            assert_eq!(strip_zeros(&back), strip_zeros(s));
            assert!(twin.first().is_none_or(|b| b & 0x80 == 0));
        }
        // Zero, negative and out-of-range values have none.
        assert_eq!(negate(&[0], order), None);
        assert_eq!(negate(&[0x80], order), None);
        let mut at_order = vec![0];
        at_order.extend_from_slice(order);
        assert_eq!(negate(&at_order, order), None);
        assert_eq!(negate(&[0x01; 33], order), None);
    }

    #[test]
    fn a_twin_of_a_twin_is_the_original() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["twin.example".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = cert.der().to_vec();
        let parts = parts(&der).expect("an ECDSA-signed certificate");
        // Re-encoding with the same s gives back the same bytes.
        assert_eq!(parts.encode(parts.s), der);
        let twins = ecdsa_twins(&der);
        // s < n for P-256, hence for P-384 and P-521 too: three candidates.
        assert_eq!(twins.len(), 3);
        assert!(twins.iter().all(|twin| *twin != der));
        assert!(twins.iter().all(|twin| ecdsa_twins(twin).contains(&der)));
    }

    #[test]
    fn twins_of_garbage_are_none() {
        assert!(ecdsa_twins(&[]).is_empty());
        assert!(ecdsa_twins(&[0x30, 0x00]).is_empty());
        assert!(ecdsa_twins(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_empty());
    }

    #[test]
    fn lengths_are_encoded_in_shortest_form() {
        for len in [0usize, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000] {
            let mut out = Vec::new();
            push_tlv(&mut out, der::SEQUENCE, &vec![0; len]);
            let tlv = Reader::new(&out).expect(der::SEQUENCE).expect("reads back");
            assert_eq!(tlv.value.len(), len);
        }
    }
}
