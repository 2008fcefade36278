//! Hand-made DER edits of fixture certificates, for inputs rcgen will not produce.

use crate::common::pki::{Leaf, pki};

/// DER length bytes for `len`.
pub fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// The TLVs directly inside the SEQUENCE `der`.
pub fn children(der: &[u8]) -> Vec<&[u8]> {
    let (_, body) = tlv(der);
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (whole, _) = tlv(rest);
        out.push(whole);
        rest = &rest[whole.len()..];
    }
    out
}

/// (the whole TLV at the start of `der`, its contents).
pub fn tlv(der: &[u8]) -> (&[u8], &[u8]) {
    let (len, header) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (der[2] as usize, 3),
        0x82 => (((der[2] as usize) << 8) | der[3] as usize, 4),
        other => panic!("length form {other:#x}"),
    };
    (&der[..header + len], &der[header..header + len])
}

pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    out
}

/// The genuine leaf with its signature algorithm (inside the TBS and outside, which must
/// agree) replaced by ecdsa-with-SHA256 carrying `params_len` bytes of OCTET STRING
/// parameters (the first two set to `tag`).
pub fn leaf_with_huge_algorithm(params_len: usize, tag: u16) -> Vec<u8> {
    let leaf = pki().leaf(Leaf::Genuine).cert.as_ref().to_vec();
    let parts = children(&leaf);
    let mut params = vec![0u8; params_len];
    params[0] = (tag >> 8) as u8;
    params[1] = tag as u8;
    let mut octets = vec![0x04];
    octets.extend(der_len(params.len()));
    octets.extend(params);
    let oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let alg = sequence(&[&oid, &octets]);
    let mut tbs = children(parts[0]);
    tbs[2] = &alg;
    let tbs = sequence(&tbs);
    sequence(&[&tbs, &alg, parts[2]])
}
