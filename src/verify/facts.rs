//! What certgate needs to know about one certificate, read once with x509-parser.

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
#[derive(Clone, Debug)]
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
    /// `Some(critical)` for the subjectKeyIdentifier.
    pub(crate) ski: Option<bool>,
    pub(crate) name_constraints: bool,
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
            ski: None,
            name_constraints: false,
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
                ParsedExtension::AuthorityKeyIdentifier(_) => facts.aki = Some(ext.critical),
                ParsedExtension::SubjectKeyIdentifier(_) => facts.ski = Some(ext.critical),
                ParsedExtension::NameConstraints(_) => facts.name_constraints = true,
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
