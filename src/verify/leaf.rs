//! The leaf, read once: a fast path with the bounded DER reader ([`super::der`]) for the
//! usual shape of an app leaf, and x509-parser for everything else.
//!
//! The fast path accepts a strict subset of what x509-parser accepts and reads the same facts
//! from it (`compare_paths`, exercised by `tests/leaf_fast_path.rs` and the `inspect` fuzz
//! target). Its shape: a v3 certificate with a known signature algorithm (ECDSA P-256/P-384
//! with SHA-256/384, Ed25519, RSA PKCS#1 with SHA-256/384/512), names of RFC 4514 attributes
//! with string values, `YYMMDDHHMMSSZ`/`YYYYMMDDHHMMSSZ` times, an RSA, P-256, P-384 or
//! Ed25519 key, no unique identifiers, and at most one each of keyUsage, extKeyUsage
//! (serverAuth, clientAuth), subjectAltName (DNS, URI and email names), basicConstraints
//! without cA, subjectKeyIdentifier, authorityKeyIdentifier (keyIdentifier only) and
//! certgate's attestation extension (not critical). Anything else (and any doubt) goes to
//! x509-parser, so no verdict depends on which path read the leaf.

use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::der::{BIT_STRING, BOOLEAN, CONTEXT_0, INTEGER, OCTET_STRING, OID, Reader, SEQUENCE};
use super::facts::{AkiFields, CertFacts, KeyFacts};
use super::identity::{AppId, IdentitySource, LeafParts};
use crate::rejection::Rejection;

impl<'a> LeafParts<'a> {
    fn from_x509(cert: &X509Certificate<'a>) -> Self {
        let san = match cert.subject_alternative_name() {
            Ok(Some(_)) => cert
                .extensions()
                .iter()
                .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME)
                .map(|e| e.value),
            _ => None,
        };
        Self {
            issuer: cert.tbs_certificate.issuer.as_raw(),
            subject: cert.tbs_certificate.subject.as_raw(),
            serial: cert.raw_serial(),
            san,
            attestation: cert
                .extensions()
                .iter()
                .find(|e| e.oid.as_bytes() == super::attestation::ATTESTATION_OID_DER)
                .map(|e| e.value),
        }
    }
}

/// The leaf read, and its app id read by the identity source.
pub(crate) struct ReadLeaf<'a> {
    pub(crate) parts: LeafParts<'a>,
    pub(crate) facts: CertFacts,
    pub(crate) app: Result<Option<AppId>, Rejection>,
}

/// Reads the leaf: the fast path when it applies, x509-parser otherwise. The error is the
/// `malformed_certificate` detail, exactly as x509-parser's path words it.
pub(crate) fn read<'a>(der: &'a [u8], source: &IdentitySource) -> Result<ReadLeaf<'a>, String> {
    if let IdentitySource::SanUri { prefix } = source {
        if let Some((parts, facts)) = read_fast(der) {
            let app = source.pick(
                san_names(parts.san)
                    .filter(|(tag, _)| *tag == SAN_URI)
                    .filter_map(|(_, uri)| uri.strip_prefix(prefix.as_str())),
            );
            return Ok(ReadLeaf { parts, facts, app });
        }
    }
    read_x509(der, source)
}

/// The x509-parser path.
fn read_x509<'a>(der: &'a [u8], source: &IdentitySource) -> Result<ReadLeaf<'a>, String> {
    let x509 = match X509Certificate::from_der(der) {
        Ok(([], cert)) => cert,
        Ok(_) => return Err("the leaf has data after its end".into()),
        Err(e) => return Err(format!("the leaf cannot be parsed: {e}")),
    };
    let facts = CertFacts::from_cert(&x509)?;
    let app = source.extract(&x509);
    Ok(ReadLeaf {
        parts: LeafParts::from_x509(&x509),
        facts,
        app,
    })
}

/// Reads both paths and compares them: `Ok(true)` when the fast path read the leaf and
/// x509-parser agrees on every fact, `Ok(false)` when the fast path declined, `Err` with what
/// differs otherwise. For tests and fuzzing.
pub(crate) fn compare_paths(der: &[u8]) -> Result<bool, String> {
    let Some((parts, facts)) = read_fast(der) else {
        return Ok(false);
    };
    let sources = [
        IdentitySource::default(),
        IdentitySource::SanUri {
            prefix: String::new(),
        },
        IdentitySource::SanUri {
            prefix: "urn:uuid:".into(),
        },
    ];
    let slow = read_x509(der, &IdentitySource::default())
        .map_err(|e| format!("the fast path read a leaf x509-parser refuses: {e}"))?;
    if slow.parts != parts {
        return Err(format!(
            "parts differ: fast {parts:?}, x509-parser {:?}",
            slow.parts
        ));
    }
    if slow.facts != facts {
        return Err(format!(
            "facts differ: fast {facts:?}, x509-parser {:?}",
            slow.facts
        ));
    }
    for source in &sources {
        let fast = read(der, source).map(|r| r.app);
        let slow = read_x509(der, source).map(|r| r.app);
        if fast != slow {
            return Err(format!(
                "app ids differ for {source:?}: fast {fast:?}, x509-parser {slow:?}"
            ));
        }
    }
    Ok(true)
}

/// GeneralName tags the fast path reads (context-specific, primitive).
const SAN_EMAIL: u8 = 0x81;
const SAN_DNS: u8 = 0x82;
const SAN_URI: u8 = 0x86;

/// The entries of a subjectAltName value the fast path accepted (each one of the three tags,
/// valid UTF-8); nothing for `None` or anything else.
fn san_names(san: Option<&[u8]>) -> impl Iterator<Item = (u8, &str)> {
    let mut reader = san
        .and_then(|v| super::der::single(v, SEQUENCE).ok())
        .map(|seq| Reader::new(seq.value));
    std::iter::from_fn(move || {
        let tlv = reader.as_mut()?.read().ok()?;
        let text = std::str::from_utf8(tlv.value).ok()?;
        Some((tlv.tag, text))
    })
}

/// AlgorithmIdentifier encodings (whole TLVs) of the signature algorithms the fast path reads.
const SIGNATURE_ALGORITHMS: [&[u8]; 6] = [
    // ecdsa-with-SHA256, ecdsa-with-SHA384
    &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ],
    &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
    ],
    // Ed25519
    &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
    // sha256/384/512WithRSAEncryption, NULL parameters
    &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
    ],
    &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
    ],
    &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
    ],
];

/// SubjectPublicKeyInfo algorithm identifiers (whole TLVs) the fast path reads.
const KEY_ALGORITHMS: [&[u8]; 4] = [
    // rsaEncryption, NULL
    &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ],
    // id-ecPublicKey, P-256
    &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ],
    // id-ecPublicKey, P-384
    &[
        0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81,
        0x04, 0x00, 0x22,
    ],
    // Ed25519
    &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
];

/// Extensions the fast path reads (whole OID TLVs, `id-ce` arc).
const EXT_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x0f];
const EXT_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
const EXT_BASIC_CONSTRAINTS: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x13];
const EXT_EKU: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x25];
const EXT_SKI: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x0e];
const EXT_AKI: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x23];

const EKU_SERVER_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const EKU_CLIENT_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// Attribute types outside `id-at` (2.5.4.x) that names may carry: emailAddress,
/// domainComponent, userId.
const NAME_ATTRIBUTES: [&[u8]; 3] = [
    &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01,
    ],
    &[
        0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19,
    ],
    &[
        0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01,
    ],
];

/// The fast path: `None` for anything outside its shape (x509-parser reads it then).
fn read_fast(der: &[u8]) -> Option<(LeafParts<'_>, CertFacts)> {
    let parts = super::der::signed_parts(der).ok()?;
    if !SIGNATURE_ALGORITHMS.contains(&whole_algorithm(der)?) {
        return None;
    }
    let mut tbs = Reader::new(parts.tbs.value);
    // [0] EXPLICIT INTEGER 2 (v3).
    if tbs.expect(CONTEXT_0).ok()?.whole != [0xa0, 0x03, 0x02, 0x01, 0x02] {
        return None;
    }
    let serial = tbs.expect(INTEGER).ok()?.value;
    if serial.is_empty() || serial.len() > 20 {
        return None;
    }
    if !SIGNATURE_ALGORITHMS.contains(&tbs.expect(SEQUENCE).ok()?.whole) {
        return None;
    }
    let issuer = tbs.expect(SEQUENCE).ok()?;
    name_ok(issuer.value)?;
    let validity = tbs.expect(SEQUENCE).ok()?;
    let mut times = Reader::new(validity.value);
    let not_before = time(times.read().ok()?)?;
    let not_after = time(times.read().ok()?)?;
    if !times.is_empty() {
        return None;
    }
    let subject = tbs.expect(SEQUENCE).ok()?;
    name_ok(subject.value)?;
    let spki = tbs.expect(SEQUENCE).ok()?;
    let mut spki_reader = Reader::new(spki.value);
    if !KEY_ALGORITHMS.contains(&spki_reader.expect(SEQUENCE).ok()?.whole) {
        return None;
    }
    let key_bits = spki_reader.expect(BIT_STRING).ok()?.value;
    if key_bits.first() != Some(&0) || key_bits.len() < 2 || !spki_reader.is_empty() {
        return None;
    }
    // The extensions, last; no unique identifiers.
    let extensions = tbs.expect(0xa3).ok()?;
    if !tbs.is_empty() {
        return None;
    }
    let list = super::der::single(extensions.value, SEQUENCE).ok()?;

    let subject_raw = subject.value;
    let mut facts = CertFacts {
        subject_raw: subject_raw.to_vec(),
        subject_empty: subject_raw.is_empty(),
        self_issued: subject_raw == issuer.value,
        ca: None,
        key_cert_sign: false,
        crl_sign: None,
        eku: None,
        aki: None,
        aki_fields: None,
        ski: None,
        ski_value: None,
        name_constraints: false,
        name_constraints_empty: false,
        name_constraints_dot_dns: None,
        serial: serial.to_vec(),
        key: KeyFacts::read_raw(spki.whole, || std::borrow::Cow::Borrowed("")),
        san: None,
        unknown_critical: None,
        crl_dp_uris: None,
        not_before,
        not_after,
        spki_sha256: Sha256::digest(spki.whole).into(),
        spki: spki.whole.to_vec(),
    };
    let mut leaf = LeafParts {
        issuer: issuer.whole,
        subject: subject.whole,
        serial,
        san: None,
        attestation: None,
    };
    let mut seen_basic_constraints = false;
    let mut extensions = Reader::new(list.value);
    while !extensions.is_empty() {
        let ext = extensions.expect(SEQUENCE).ok()?;
        let mut fields = Reader::new(ext.value);
        let oid_tlv = fields.expect(OID).ok()?;
        let oid = oid_tlv.whole;
        let critical = match fields.optional(BOOLEAN).ok()? {
            None => false,
            // DER: a default FALSE is left out, so only TRUE is written.
            Some(flag) if flag.value == [0xff] => true,
            Some(_) => return None,
        };
        let value = fields.expect(OCTET_STRING).ok()?.value;
        if !fields.is_empty() {
            return None;
        }
        match oid {
            EXT_KEY_USAGE if facts.crl_sign.is_none() => {
                let first = key_usage(value)?;
                facts.key_cert_sign = first & 0x04 != 0;
                facts.crl_sign = Some(first & 0x02 != 0);
            }
            EXT_EKU if facts.eku.is_none() => facts.eku = Some(eku(value)?),
            EXT_SAN if facts.san.is_none() => {
                san_ok(value)?;
                facts.san = Some(critical);
                leaf.san = Some(value);
            }
            // cA FALSE (left out as DER has it, or written out as rcgen and certgate's
            // issuer write it), no pathLenConstraint.
            EXT_BASIC_CONSTRAINTS
                if !seen_basic_constraints
                    && (value == [0x30, 0x00] || value == [0x30, 0x03, 0x01, 0x01, 0x00]) =>
            {
                seen_basic_constraints = true;
            }
            EXT_SKI if facts.ski.is_none() => {
                let id = super::der::single(value, OCTET_STRING).ok()?.value;
                key_id_ok(id)?;
                facts.ski = Some(critical);
                facts.ski_value = Some(id.to_vec());
            }
            EXT_AKI if facts.aki.is_none() => {
                let seq = super::der::single(value, SEQUENCE).ok()?;
                let id = super::der::single(seq.value, 0x80).ok()?.value;
                key_id_ok(id)?;
                facts.aki = Some(critical);
                facts.aki_fields = Some(AkiFields {
                    key_id: Some(id.to_vec()),
                    cert_issuer: false,
                    cert_serial: false,
                });
            }
            _ if oid_tlv.value == super::attestation::ATTESTATION_OID_DER
                && !critical
                && leaf.attestation.is_none() =>
            {
                leaf.attestation = Some(value);
            }
            // Anything else, or a second copy: x509-parser decides.
            _ => return None,
        }
    }
    Some((leaf, facts))
}

/// The certificate's outer signatureAlgorithm, whole TLV.
fn whole_algorithm(der: &[u8]) -> Option<&[u8]> {
    let seq = super::der::single(der, SEQUENCE).ok()?;
    let mut inner = Reader::new(seq.value);
    inner.expect(SEQUENCE).ok()?;
    Some(inner.expect(SEQUENCE).ok()?.whole)
}

/// A `Name`'s contents of the shape the fast path reads: RDNs of one or more attributes, each
/// a known type with a string value.
fn name_ok(contents: &[u8]) -> Option<()> {
    let mut rdns = Reader::new(contents);
    while !rdns.is_empty() {
        let set = rdns.expect(0x31).ok()?;
        let mut attributes = Reader::new(set.value);
        if attributes.is_empty() {
            return None;
        }
        while !attributes.is_empty() {
            let atv = attributes.expect(SEQUENCE).ok()?;
            let mut fields = Reader::new(atv.value);
            let kind = fields.expect(OID).ok()?.whole;
            let known = matches!(kind, [0x06, 0x03, 0x55, 0x04, n] if *n < 0x80)
                || NAME_ATTRIBUTES.contains(&kind);
            if !known {
                return None;
            }
            let value = fields.read().ok()?;
            if !fields.is_empty() || !string_ok(value.tag, value.value) {
                return None;
            }
        }
    }
    Some(())
}

/// A name attribute's string: UTF8String, PrintableString (its character set) or IA5String
/// (ASCII), nothing else.
fn string_ok(tag: u8, value: &[u8]) -> bool {
    match tag {
        0x0c => std::str::from_utf8(value).is_ok(),
        0x13 => value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)),
        0x16 => value.is_ascii(),
        _ => false,
    }
}

/// keyUsage: a BIT STRING of one or two octets in DER form (unused bits zero, no trailing
/// zero octet). Returns the first octet (digitalSignature is 0x80).
fn key_usage(value: &[u8]) -> Option<u8> {
    let bits = super::der::single(value, BIT_STRING).ok()?.value;
    let (&unused, data) = bits.split_first()?;
    let (&last, _) = data.split_last()?;
    if data.len() > 2 || unused > 7 || last == 0 || u32::from(unused) > last.trailing_zeros() {
        return None;
    }
    data.first().copied()
}

/// extKeyUsage: `(clientAuth, serverAuth)` of a non-empty list of those two purposes.
fn eku(value: &[u8]) -> Option<(bool, bool)> {
    let seq = super::der::single(value, SEQUENCE).ok()?;
    let mut purposes = Reader::new(seq.value);
    let (mut client, mut server) = (false, false);
    if purposes.is_empty() {
        return None;
    }
    while !purposes.is_empty() {
        match purposes.expect(OID).ok()?.whole {
            EKU_CLIENT_AUTH => client = true,
            EKU_SERVER_AUTH => server = true,
            _ => return None,
        }
    }
    Some((client, server))
}

/// subjectAltName: a non-empty list of email, DNS and URI names, each valid UTF-8.
fn san_ok(value: &[u8]) -> Option<()> {
    let seq = super::der::single(value, SEQUENCE).ok()?;
    let mut names = Reader::new(seq.value);
    if names.is_empty() {
        return None;
    }
    while !names.is_empty() {
        let name = names.read().ok()?;
        if ![SAN_EMAIL, SAN_DNS, SAN_URI].contains(&name.tag) {
            return None;
        }
        std::str::from_utf8(name.value).ok()?;
    }
    Some(())
}

/// A key identifier of 1 to 64 octets.
fn key_id_ok(id: &[u8]) -> Option<()> {
    (1..=64).contains(&id.len()).then_some(())
}

/// A UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime `YYYYMMDDHHMMSSZ` (years
/// 1950-9999), as a Unix time (before 1970: the epoch, as [`super::facts::unix`] clamps).
fn time(tlv: super::der::Tlv<'_>) -> Option<UnixTime> {
    let (year, rest) = match (tlv.tag, tlv.value.len()) {
        (0x17, 13) => {
            let (yy, rest) = tlv.value.split_at_checked(2)?;
            let yy = digits(yy)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
        }
        (0x18, 15) => {
            let (yyyy, rest) = tlv.value.split_at_checked(4)?;
            // Years before UTCTime's range are left to x509-parser.
            (digits(yyyy).filter(|year| *year >= 1950)?, rest)
        }
        _ => return None,
    };
    let [m0, m1, d0, d1, h0, h1, n0, n1, s0, s1, b'Z'] = *rest else {
        return None;
    };
    let month = digits(&[m0, m1])?;
    let day = digits(&[d0, d1])?;
    let hour = digits(&[h0, h1])?;
    let minute = digits(&[n0, n1])?;
    let second = digits(&[s0, s1])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(super::facts::unix(secs))
}

/// Two or four ASCII digits as a number.
fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`);
/// `year` is 1950-9999, `month` 1-12, `day` 1-31, so nothing overflows.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn times() {
        let tlv = |tag, value: &'static [u8]| super::super::der::Tlv {
            tag,
            value,
            whole: value,
        };
        let t = |tag, value| time(tlv(tag, value)).map(|t| t.as_secs());
        assert_eq!(t(0x17, b"700101000000Z"), Some(0));
        assert_eq!(t(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(t(0x17, b"500101000000Z"), Some(0));
        assert_eq!(t(0x18, b"20240229120000Z"), Some(1_709_208_000));
        assert_eq!(t(0x18, b"20230229120000Z"), None);
        assert_eq!(t(0x18, b"19491231235959Z"), None);
        assert_eq!(t(0x17, b"2402291200Z"), None);
        assert_eq!(t(0x17, b"240229120060Z"), None);
        assert_eq!(t(0x17, b"240229120000+"), None);
    }
}
