//! What certgate needs to know about one certificate, read once with x509-parser.

use std::borrow::Cow;

use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_NAME_CONSTRAINTS, OID_X509_EXT_SUBJECT_ALT_NAME,
    OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::prelude::FromDer;

/// Facts about one certificate, owned, so they can be computed once and kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertFacts {
    /// The raw subject DN (SEQUENCE contents), as webpki compares names.
    pub(crate) subject_raw: Vec<u8>,
    pub(crate) subject_empty: bool,
    /// Subject and issuer are the same name (self-issued).
    pub(crate) self_issued: bool,
    /// basicConstraints: `Some(critical)` when present with cA=TRUE.
    pub(crate) ca: Option<bool>,
    /// keyUsage is present and asserts keyCertSign.
    pub(crate) key_cert_sign: bool,
    /// `Some(has cRLSign)` when a keyUsage extension is present.
    pub(crate) crl_sign: Option<bool>,
    /// `Some((client_auth, server_auth))` when an EKU extension is present.
    pub(crate) eku: Option<(bool, bool)>,
    /// `Some(critical)` for the authorityKeyIdentifier.
    pub(crate) aki: Option<bool>,
    /// authorityKeyIdentifier contents, when present.
    pub(crate) aki_fields: Option<AkiFields>,
    /// `Some(critical)` for the subjectKeyIdentifier.
    pub(crate) ski: Option<bool>,
    /// The subjectKeyIdentifier value, when present.
    pub(crate) ski_value: Option<Vec<u8>>,
    pub(crate) name_constraints: bool,
    /// nameConstraints with neither permittedSubtrees nor excludedSubtrees.
    pub(crate) name_constraints_empty: bool,
    /// The first dNSName constraint (permitted or excluded) that starts with a period.
    pub(crate) name_constraints_dot_dns: Option<String>,
    /// The serial number as the DER INTEGER contents (sign octet included).
    pub(crate) serial: Vec<u8>,
    /// What the subject public key is.
    pub(crate) key: KeyFacts,
    /// `Some(critical)` for the subjectAltName.
    pub(crate) san: Option<bool>,
    /// The OID of the first critical extension webpki does not process, if any.
    pub(crate) unknown_critical: Option<String>,
    /// The certificate's CRL distribution point URIs that can match an issuing distribution
    /// point, by webpki's rules: `None` when the extension is absent.
    pub(crate) crl_dp_uris: Option<Vec<Vec<u8>>>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    /// SHA-256 of the DER SubjectPublicKeyInfo, as in `sha256/<base64>` pins.
    pub(crate) spki_sha256: [u8; 32],
    /// The DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
}

/// The parts of an authorityKeyIdentifier the anchor rule looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AkiFields {
    /// The keyIdentifier, when present.
    pub(crate) key_id: Option<Vec<u8>>,
    /// authorityCertIssuer is present.
    pub(crate) cert_issuer: bool,
    /// authorityCertSerialNumber is present.
    pub(crate) cert_serial: bool,
}

/// The subject public key, as far as the key rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyFacts {
    /// For messages: `RSA`, `EC P-256`, `Ed448`, `DSA`, or the algorithm OID.
    pub(crate) name: Cow<'static, str>,
    /// The RSA modulus length in bits, for rsaEncryption keys whose key can be read.
    pub(crate) rsa_bits: Option<usize>,
}

/// `OBJECT IDENTIFIER` encodings (whole TLVs) of the key algorithms named in messages.
const KEY_ALGORITHMS: [(&[u8], &str); 6] = [
    (
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ],
        "RSA",
    ),
    (
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ],
        "RSASSA-PSS",
    ),
    (
        &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
        "EC",
    ),
    (&[0x06, 0x03, 0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x06, 0x03, 0x2b, 0x65, 0x71], "Ed448"),
    (
        &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01],
        "DSA",
    ),
];

/// Named curves (whole OID TLVs) for EC keys.
const CURVES: [(&[u8], &str); 5] = [
    (
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01],
        "EC P-192",
    ),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21], "EC P-224"),
    (
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        "EC P-256",
    ),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "EC P-384"),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "EC P-521"),
];

impl KeyFacts {
    /// Reads the key facts of a certificate's SubjectPublicKeyInfo. Allocates only for an
    /// algorithm it cannot name (its OID then names it).
    fn read(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Self {
        Self::read_raw(spki.raw, || {
            Cow::Owned(spki.algorithm.algorithm.to_id_string())
        })
    }

    /// Reads the key facts of a DER SubjectPublicKeyInfo; `unknown` names an algorithm that
    /// has no name here.
    pub(crate) fn read_raw(raw: &[u8], unknown: impl FnOnce() -> Cow<'static, str>) -> Self {
        let Ok((algorithm, key)) = super::der::spki_parts(raw) else {
            return Self {
                name: unknown(),
                rsa_bits: None,
            };
        };
        let mut reader = super::der::Reader::new(algorithm);
        let id = reader
            .expect(super::der::OID)
            .map(|t| t.whole)
            .unwrap_or(&[]);
        let params = reader.read().ok();
        let named = KEY_ALGORITHMS
            .iter()
            .find(|(encoded, _)| *encoded == id)
            .map(|(_, name)| *name);
        match named {
            Some("RSA") => Self {
                name: Cow::Borrowed("RSA"),
                rsa_bits: rsa_modulus_bits(key),
            },
            Some("EC") => {
                let curve = params.map_or(&[][..], |p| p.whole);
                let name = CURVES
                    .iter()
                    .find(|(encoded, _)| *encoded == curve)
                    .map_or("EC on an unknown curve", |(_, name)| name);
                Self {
                    name: Cow::Borrowed(name),
                    rsa_bits: None,
                }
            }
            Some(name) => Self {
                name: Cow::Borrowed(name),
                rsa_bits: None,
            },
            None => Self {
                name: unknown(),
                rsa_bits: None,
            },
        }
    }
}

/// The bit length of an RSAPublicKey's modulus (`SEQUENCE { modulus, publicExponent }`).
fn rsa_modulus_bits(key: &[u8]) -> Option<usize> {
    use super::der::{INTEGER, SEQUENCE, single};
    let seq = single(key, SEQUENCE).ok()?;
    let modulus = super::der::Reader::new(seq.value)
        .expect(INTEGER)
        .ok()?
        .value;
    let start = modulus.iter().position(|b| *b != 0)?;
    let significant = modulus.get(start..)?;
    let first = significant.first()?;
    let leading = usize::try_from(first.leading_zeros()).ok()?;
    significant.len().checked_mul(8)?.checked_sub(leading)
}

/// Extensions rustls-webpki understands in a certificate; any other critical one is "unknown".
/// (webpki `x509::remember_extension`: keyUsage, subjectAltName, basicConstraints,
/// nameConstraints, cRLDistributionPoints, extKeyUsage.) SKI and AKI are known to certgate.
const KNOWN_EXTENSIONS: [&x509_parser::der_parser::Oid<'static>; 8] = [
    &OID_X509_EXT_KEY_USAGE,
    &OID_X509_EXT_SUBJECT_ALT_NAME,
    &OID_X509_EXT_BASIC_CONSTRAINTS,
    &OID_X509_EXT_NAME_CONSTRAINTS,
    &OID_X509_EXT_CRL_DISTRIBUTION_POINTS,
    &OID_X509_EXT_EXTENDED_KEY_USAGE,
    &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
    &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
];

impl CertFacts {
    /// Parses `der` and reads the facts; the error is the parser's message.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err("trailing data after the certificate".into());
        }
        Self::from_cert(&cert)
    }

    pub(crate) fn from_cert(cert: &X509Certificate<'_>) -> Result<Self, String> {
        let subject_raw = name_contents(cert.subject().as_raw());
        let issuer_raw = name_contents(cert.issuer().as_raw());
        let mut facts = Self {
            subject_empty: cert.subject().iter().next().is_none(),
            self_issued: subject_raw == issuer_raw,
            subject_raw: subject_raw.to_vec(),
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
            serial: cert.raw_serial().to_vec(),
            key: KeyFacts::read(cert.public_key()),
            san: None,
            unknown_critical: None,
            crl_dp_uris: None,
            not_before: unix(cert.validity().not_before.timestamp()),
            not_after: unix(cert.validity().not_after.timestamp()),
            spki_sha256: Sha256::digest(cert.public_key().raw).into(),
            spki: cert.public_key().raw.to_vec(),
        };
        for ext in cert.extensions() {
            if ext.critical
                && facts.unknown_critical.is_none()
                && !KNOWN_EXTENSIONS.contains(&&ext.oid)
            {
                facts.unknown_critical = Some(ext.oid.to_id_string());
            }
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) if bc.ca => facts.ca = Some(ext.critical),
                ParsedExtension::KeyUsage(ku) => {
                    facts.key_cert_sign = ku.key_cert_sign();
                    facts.crl_sign = Some(ku.crl_sign());
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    facts.eku = Some((eku.client_auth, eku.server_auth));
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    facts.aki = Some(ext.critical);
                    facts.aki_fields = Some(AkiFields {
                        key_id: aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
                        cert_issuer: aki.authority_cert_issuer.is_some(),
                        cert_serial: aki.authority_cert_serial.is_some(),
                    });
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    facts.ski = Some(ext.critical);
                    facts.ski_value = Some(ski.0.to_vec());
                }
                ParsedExtension::NameConstraints(nc) => {
                    facts.name_constraints = true;
                    let subtrees = || {
                        nc.permitted_subtrees
                            .iter()
                            .chain(nc.excluded_subtrees.iter())
                            .flatten()
                    };
                    facts.name_constraints_empty = subtrees().next().is_none();
                    facts.name_constraints_dot_dns = subtrees().find_map(|t| match t.base {
                        GeneralName::DNSName(name) if name.starts_with('.') => {
                            Some(name.to_string())
                        }
                        _ => None,
                    });
                }
                ParsedExtension::SubjectAlternativeName(_) => facts.san = Some(ext.critical),
                ParsedExtension::CRLDistributionPoints(points) => {
                    facts.crl_dp_uris = Some(matchable_dp_uris(points));
                }
                ParsedExtension::ParseError { error } => {
                    // A known extension we cannot read: refuse rather than guess.
                    return Err(format!("extension {}: {error}", ext.oid.to_id_string()));
                }
                _ => {
                    if ext.oid == OID_X509_EXT_NAME_CONSTRAINTS {
                        facts.name_constraints = true;
                    }
                }
            }
        }
        Ok(facts)
    }

    /// Whether the certificate may be used as a CA at all (basicConstraints cA=TRUE).
    pub(crate) fn is_ca(&self) -> bool {
        self.ca.is_some()
    }
}

/// The URIs of the certificate's distribution points that webpki would try to match against a
/// CRL's issuing distribution point: full names only, skipping points with a cRLIssuer or
/// reasons (`IssuingDistributionPoint::authoritative_for` in rustls-webpki 0.103).
fn matchable_dp_uris(points: &x509_parser::extensions::CRLDistributionPoints<'_>) -> Vec<Vec<u8>> {
    let mut uris = Vec::new();
    for point in points.iter() {
        if point.crl_issuer.is_some() || point.reasons.is_some() {
            continue;
        }
        if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
            for name in names {
                if let GeneralName::URI(uri) = name {
                    uris.push(uri.as_bytes().to_vec());
                }
            }
        }
    }
    uris
}

/// The contents of a DER `Name` (without the SEQUENCE header), as webpki stores names.
pub(crate) fn name_contents(raw: &[u8]) -> &[u8] {
    let mut reader = super::der::Reader::new(raw);
    match reader.expect(super::der::SEQUENCE) {
        Ok(tlv) => tlv.value,
        Err(_) => raw,
    }
}

/// Converts an x509 timestamp; times before 1970 clamp to the epoch (already expired, or
/// valid since forever, which the other bound decides).
pub(crate) fn unix(timestamp: i64) -> UnixTime {
    let secs = u64::try_from(timestamp).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}
