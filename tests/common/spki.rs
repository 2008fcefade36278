//! SubjectPublicKeyInfo builders for keys rcgen cannot make (RSA of any size, Ed448, DSA,
//! P-192). The keys need not be usable: a certificate carrying one is signed by its issuer,
//! so only the key rules can refuse it.

use super::pki::tlv;

pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub const SECP192R1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01];
pub const ED448: &[u8] = &[0x2b, 0x65, 0x71];
pub const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];

pub fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    tlv(0x30, &[tlv(0x30, algorithm), tlv(0x03, &bits)].concat())
}

/// A positive INTEGER whose value has exactly `bits` bits (pattern bytes, odd).
pub fn integer_of_bits(bits: usize) -> Vec<u8> {
    let len = bits.div_ceil(8);
    let mut value = vec![0xa5u8; len];
    let top_bits = bits - (len - 1) * 8;
    value[0] = 0xff >> (8 - top_bits) | 1 << (top_bits - 1);
    value[len - 1] |= 1;
    if value[0] & 0x80 != 0 {
        value.insert(0, 0);
    }
    tlv(0x02, &value)
}

pub fn rsa_spki(bits: usize) -> Vec<u8> {
    let key = tlv(
        0x30,
        &[integer_of_bits(bits), tlv(0x02, &[0x01, 0x00, 0x01])].concat(),
    );
    spki(&[tlv(0x06, RSA_ENCRYPTION), tlv(0x05, &[])].concat(), &key)
}

pub fn ed448_spki() -> Vec<u8> {
    spki(&tlv(0x06, ED448), &[0x5a; 57])
}

pub fn p192_spki() -> Vec<u8> {
    let mut point = vec![0x04];
    point.extend_from_slice(&[0x3c; 48]);
    spki(
        &[tlv(0x06, EC_PUBLIC_KEY), tlv(0x06, SECP192R1)].concat(),
        &point,
    )
}

pub fn dsa_spki() -> Vec<u8> {
    let params = tlv(
        0x30,
        &[
            integer_of_bits(2048),
            integer_of_bits(256),
            integer_of_bits(2047),
        ]
        .concat(),
    );
    spki(&[tlv(0x06, DSA), params].concat(), &integer_of_bits(2040))
}

/// A genuine [`super::SHOP`] leaf from the real intermediate with its SubjectPublicKeyInfo
/// replaced by `spki`, signed again by the intermediate: `[leaf, intermediate]`.
pub fn leaf_with_spki(spki: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    let pki = super::pki();
    let issued = pki.issue_with(0x7b00, |_| {});
    let leaf = pki.resign_by_intermediate(&issued.cert, |i, _| {
        (i == super::TBS_SPKI).then(|| spki.to_vec())
    });
    vec![leaf, pki.intermediate()]
}
