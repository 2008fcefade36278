//! The app identity carried by a leaf, and the `PeerIdentity` a successful verification yields.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::attestation::AttestationFacts;
use rustls_pki_types::UnixTime;
use serde::{Serialize, Serializer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, SubjectAlternativeName};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::rejection::Rejection;

/// An app identifier such as `com.example.shop`.
///
/// Validated on construction: 1 to 255 bytes of ASCII letters, digits and `.-_:`, so it is safe
/// to log, to put in headers and to compare byte for byte.
///
/// ```
/// use certgate::AppId;
/// assert!(AppId::new("com.example.shop").is_ok());
/// assert!(AppId::new("com.example.shop/../x").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AppId(Arc<str>);

impl AppId {
    /// Longest accepted app id, in bytes (reverse-DNS bundle ids are far shorter).
    pub const MAX_LEN: usize = 255;

    /// Validates `id`.
    ///
    /// # Errors
    ///
    /// Returns a message naming the problem when `id` is empty, too long, or has a character
    /// outside `[A-Za-z0-9.\-_:]`.
    pub fn new(id: &str) -> Result<Self, String> {
        if id.is_empty() {
            return Err("app id is empty".into());
        }
        if id.len() > Self::MAX_LEN {
            return Err(format!("app id is longer than {} bytes", Self::MAX_LEN));
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-_:".contains(*c)))
        {
            return Err(format!("app id has an unsupported character {bad:?}"));
        }
        Ok(Self(id.into()))
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identifier, shared (no copy).
    pub(crate) fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the app id is read from in the leaf certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentitySource {
    /// The subject's common name.
    SubjectCn,
    /// The subject's organizational unit.
    SubjectOu,
    /// A subjectAltName URI starting with `prefix` (default `app://`); the rest is the app id.
    SanUri {
        /// The URI prefix, for example `app://`.
        prefix: String,
    },
}

impl Default for IdentitySource {
    fn default() -> Self {
        Self::SanUri {
            prefix: "app://".into(),
        }
    }
}

impl IdentitySource {
    /// Reads the app id from `cert`: `Ok(None)` when there is none, an error when it is
    /// ambiguous (two candidates) or not a valid [`AppId`].
    pub(crate) fn extract(&self, cert: &X509Certificate<'_>) -> Result<Option<AppId>, Rejection> {
        let candidates: Vec<&str> = match self {
            Self::SanUri { prefix } => san_uris(cert)?
                .into_iter()
                .filter_map(|uri| uri.strip_prefix(prefix.as_str()))
                .collect(),
            Self::SubjectCn => cert
                .subject()
                .iter_common_name()
                .map(|attr| attr.as_str().map_err(|_| ()))
                .collect::<Result<_, _>>()
                .map_err(|()| Rejection::NoAppId {
                    detail: "subject CN is not a string".into(),
                })?,
            Self::SubjectOu => cert
                .subject()
                .iter_organizational_unit()
                .map(|attr| attr.as_str().map_err(|_| ()))
                .collect::<Result<_, _>>()
                .map_err(|()| Rejection::NoAppId {
                    detail: "subject OU is not a string".into(),
                })?,
        };
        self.pick(candidates)
    }

    /// The app id among `candidates` (the identifiers the source found, prefix removed):
    /// `Ok(None)` when there is none, an error when two differ or it is not a valid [`AppId`].
    pub(crate) fn pick<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<AppId>, Rejection> {
        let mut found: Option<&str> = None;
        for candidate in candidates {
            if found.is_some_and(|f| f != candidate) {
                return Err(Rejection::NoAppId {
                    detail: format!("the leaf names more than one app ({})", self.describe()),
                });
            }
            found = Some(candidate);
        }
        match found {
            None => Ok(None),
            Some(id) => AppId::new(id).map(Some).map_err(|e| Rejection::NoAppId {
                detail: format!("{} in {}", e, self.describe()),
            }),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::SanUri { prefix } => format!("SAN URI {prefix}<app-id>"),
            Self::SubjectCn => "subject CN".into(),
            Self::SubjectOu => "subject OU".into(),
        }
    }
}

/// The subjectAltName URIs of `cert`. A subjectAltName that cannot be read (malformed, or
/// present twice) is an error, not "no URIs": the app id must not depend on which copy a
/// parser would have picked.
fn san_uris<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a str>, Rejection> {
    let mut out = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| Rejection::MalformedCertificate {
            detail: format!("the leaf's subjectAltName cannot be read: {e}"),
        })?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(uri) => out.push(*uri),
                // x509-parser keeps an entry it cannot decode (a URI that is not IA5 text) as
                // `Invalid` rather than failing: it could be the app id, so refuse.
                GeneralName::Invalid(tag, _) => {
                    return Err(Rejection::MalformedCertificate {
                        detail: format!(
                            "the leaf's subjectAltName has an undecodable entry (tag {})",
                            tag.0
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A peer whose chain passed every check. Only [`Verifier::verify`](crate::Verifier::verify)
/// can make one.
///
/// Cheap to clone (one `Arc`), and `Serialize` for logs and responses.
///
/// ```
/// # fn show(identity: &certgate::PeerIdentity) {
/// println!("{} ({})", identity.app_id().map(|a| a.as_str()).unwrap_or("-"), identity.serial());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    inner: Arc<IdentityFacts>,
    _verified: Verified,
}

/// The facts behind a [`PeerIdentity`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdentityFacts {
    pub(crate) cert: LeafRecord,
    /// Certificates on the path (at most webpki's depth limit, so it fits).
    pub(crate) chain_len: u16,
    /// The matched pin's label or app id, shared with the policy.
    pub(crate) matched: Option<Arc<str>>,
    /// A CRL used for the verdict is stale ([`Warning::CrlStale`], the only warning).
    pub(crate) crl_stale: bool,
    pub(crate) valid_until: UnixTime,
}

/// A DER `Name` (the whole TLV) kept raw and rendered as RFC 4514 text, as x509-parser writes
/// it, on first use. The issuer of every leaf of one CA is one shared `IssuerName`, rendered
/// once.
#[derive(Debug)]
pub(crate) struct IssuerName {
    raw: Box<[u8]>,
    rendered: OnceLock<String>,
}

impl IssuerName {
    pub(crate) fn new(raw: &[u8]) -> Self {
        Self {
            raw: raw.into(),
            rendered: OnceLock::new(),
        }
    }

    fn as_str(&self) -> &str {
        self.rendered.get_or_init(|| render_name(&self.raw))
    }

    /// Heap bytes held (raw bytes, and the text once rendered).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.raw
            .len()
            .saturating_add(self.rendered.get().map_or(0, String::capacity))
    }
}

/// RFC 4514 text of a DER `Name`, exactly as x509-parser's `X509Name` displays it (the raw
/// bytes come from a name x509-parser already parsed, so parsing them again cannot fail).
pub(crate) fn render_name(raw: &[u8]) -> String {
    match X509Name::from_der(raw) {
        Ok((_, name)) => name.to_string(),
        Err(_) => String::new(),
    }
}

/// What the verifier keeps of the leaf's encoding, borrowed from it (read by `super::leaf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeafParts<'a> {
    /// The issuer `Name`, whole TLV.
    pub(crate) issuer: &'a [u8],
    /// The subject `Name`, whole TLV.
    pub(crate) subject: &'a [u8],
    /// The serial's INTEGER contents.
    pub(crate) serial: &'a [u8],
    /// The subjectAltName extension's value, when there is one that x509-parser reads.
    pub(crate) san: Option<&'a [u8]>,
    /// The first attestation extension's value.
    pub(crate) attestation: Option<&'a [u8]>,
}

/// What an accepted identity keeps of its leaf: the raw subject, serial and subjectAltName in
/// one allocation, the issuer shared with every leaf of its CA, the digests and validity as
/// values. The strings the accessors return are rendered on first use, by the same code that
/// renders a [`CertificateInfo`], so they are the same values.
#[derive(Clone, Debug)]
pub(crate) struct LeafRecord {
    pub(crate) app_id: Option<AppId>,
    /// subject `Name` TLV, then the serial's INTEGER contents, then the subjectAltName
    /// extension's value (`GeneralNames`), when the leaf has one that x509-parser read.
    raw: Box<[u8]>,
    subject_end: u32,
    serial_end: u32,
    issuer: Arc<IssuerName>,
    pub(crate) spki_sha256: [u8; 32],
    pub(crate) fingerprint: [u8; 32],
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    pub(crate) attestation: Option<Box<AttestationFacts>>,
    rendered: OnceLock<Box<LeafStrings>>,
}

/// The leaf's strings, rendered on first use.
#[derive(Clone, Debug)]
struct LeafStrings {
    subject: String,
    serial: String,
    dns_names: Vec<String>,
    uris: Vec<String>,
    emails: Vec<String>,
}

impl PartialEq for LeafRecord {
    fn eq(&self, other: &Self) -> bool {
        // `rendered` is a cache of what the other fields say.
        self.app_id == other.app_id
            && self.raw == other.raw
            && self.subject_end == other.subject_end
            && self.serial_end == other.serial_end
            && self.issuer.raw == other.issuer.raw
            && self.spki_sha256 == other.spki_sha256
            && self.fingerprint == other.fingerprint
            && self.not_before == other.not_before
            && self.not_after == other.not_after
            && self.attestation == other.attestation
    }
}

impl Eq for LeafRecord {}

impl LeafRecord {
    /// Keeps what an identity needs of a read leaf; `issuer` is its issuer `Name` (interned
    /// by the verifier).
    pub(crate) fn read(
        leaf: &LeafParts<'_>,
        facts: &super::facts::CertFacts,
        app_id: Option<AppId>,
        issuer: Arc<IssuerName>,
        fingerprint: [u8; 32],
    ) -> Self {
        let subject = leaf.subject;
        let serial = leaf.serial;
        // Only a subjectAltName x509-parser reads: `CertificateInfo::read` lists nothing for
        // one it cannot read (a verified leaf always has a readable one, or none).
        let san = leaf.san.unwrap_or(&[]);
        // Within `Limits::max_cert_bytes`; a name or serial past 4 GiB would only render empty.
        let subject_end = u32::try_from(subject.len()).unwrap_or(u32::MAX);
        let serial_end =
            u32::try_from(subject.len().saturating_add(serial.len())).unwrap_or(u32::MAX);
        let mut raw = Vec::with_capacity(
            subject
                .len()
                .saturating_add(serial.len())
                .saturating_add(san.len()),
        );
        raw.extend_from_slice(subject);
        raw.extend_from_slice(serial);
        raw.extend_from_slice(san);
        Self {
            app_id,
            raw: raw.into_boxed_slice(),
            subject_end,
            serial_end,
            issuer,
            spki_sha256: facts.spki_sha256,
            fingerprint,
            not_before: facts.not_before,
            not_after: facts.not_after,
            attestation: leaf
                .attestation
                .and_then(AttestationFacts::from_der)
                .map(Box::new),
            rendered: OnceLock::new(),
        }
    }

    fn strings(&self) -> &LeafStrings {
        self.rendered.get_or_init(|| {
            let at = |end: u32| usize::try_from(end).unwrap_or(usize::MAX);
            let (subject_end, serial_end) = (at(self.subject_end), at(self.serial_end));
            let subject = self.raw.get(..subject_end).unwrap_or(&[]);
            let serial = self.raw.get(subject_end..serial_end).unwrap_or(&[]);
            let san = self.raw.get(serial_end..).unwrap_or(&[]);
            // Empty when the leaf has no subjectAltName: nothing to list.
            let names = match SubjectAlternativeName::from_der(san) {
                Ok((_, san)) => san.general_names,
                Err(_) => Vec::new(),
            };
            let pick = |f: fn(&GeneralName<'_>) -> Option<String>| -> Vec<String> {
                names.iter().filter_map(f).collect()
            };
            Box::new(LeafStrings {
                subject: render_name(subject),
                serial: colon_hex(serial),
                dns_names: pick(|n| match n {
                    GeneralName::DNSName(s) => Some((*s).to_owned()),
                    _ => None,
                }),
                uris: pick(|n| match n {
                    GeneralName::URI(s) => Some((*s).to_owned()),
                    _ => None,
                }),
                emails: pick(|n| match n {
                    GeneralName::RFC822Name(s) => Some((*s).to_owned()),
                    _ => None,
                }),
            })
        })
    }

    /// Heap bytes held; the shared issuer is counted as if owned.
    fn heap_bytes(&self) -> usize {
        let strings = |v: &[String]| {
            v.iter().fold(
                v.len().saturating_mul(std::mem::size_of::<String>()),
                |n, s| n.saturating_add(s.capacity()),
            )
        };
        let rendered = self.rendered.get().map_or(0, |r| {
            [
                std::mem::size_of::<LeafStrings>(),
                r.subject.capacity(),
                r.serial.capacity(),
                strings(&r.dns_names),
                strings(&r.uris),
                strings(&r.emails),
            ]
            .into_iter()
            .fold(0, usize::saturating_add)
        });
        [
            self.app_id
                .as_ref()
                .map_or(0, |a| a.as_str().len().saturating_add(16)),
            self.raw.len(),
            self.issuer.heap_bytes().saturating_add(32),
            self.attestation.as_ref().map_or(0, |a| a.heap_bytes()),
            rendered,
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }
}

/// `PeerIdentity`'s JSON: the fields of a [`CertificateInfo`], then the verdict's.
#[derive(Serialize)]
struct IdentityJson<'a> {
    app_id: Option<&'a AppId>,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    dns_names: &'a [String],
    uris: &'a [String],
    emails: &'a [String],
    #[serde(serialize_with = "ser_pin")]
    spki_sha256: [u8; 32],
    #[serde(serialize_with = "ser_hex")]
    fingerprint: [u8; 32],
    #[serde(serialize_with = "ser_time")]
    not_before: UnixTime,
    #[serde(serialize_with = "ser_time")]
    not_after: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation: Option<&'a AttestationFacts>,
    chain_len: u16,
    matched: Option<&'a str>,
    warnings: &'a [Warning],
    #[serde(serialize_with = "ser_time")]
    valid_until: UnixTime,
}

/// What one certificate says about itself, as [`inspect`] reports it; nothing here is verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// The app id found by the identity source, if any.
    pub app_id: Option<AppId>,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// subjectAltName URIs.
    pub uris: Vec<String>,
    /// subjectAltName email addresses.
    pub emails: Vec<String>,
    /// SHA-256 of the SubjectPublicKeyInfo, serialized as a `sha256/<base64>` pin.
    #[serde(serialize_with = "ser_pin")]
    pub spki_sha256: [u8; 32],
    /// SHA-256 of the DER, serialized as hex.
    #[serde(serialize_with = "ser_hex")]
    pub fingerprint: [u8; 32],
    /// notBefore, serialized as RFC 3339.
    #[serde(serialize_with = "ser_time")]
    pub not_before: UnixTime,
    /// notAfter, serialized as RFC 3339.
    #[serde(serialize_with = "ser_time")]
    pub not_after: UnixTime,
    /// The attestation facts certgate's enrollment wrote into the certificate (its
    /// [`ATTESTATION_OID`](crate::ATTESTATION_OID) extension), when present and well formed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Box<AttestationFacts>>,
}

impl CertificateInfo {
    /// Reads the facts of a parsed certificate.
    pub(crate) fn read(
        cert: &X509Certificate<'_>,
        app_id: Option<AppId>,
        spki_sha256: [u8; 32],
        fingerprint: [u8; 32],
    ) -> Self {
        let san = |pick: fn(&GeneralName<'_>) -> Option<String>| -> Vec<String> {
            match cert.subject_alternative_name() {
                Ok(Some(san)) => san.value.general_names.iter().filter_map(pick).collect(),
                _ => Vec::new(),
            }
        };
        Self {
            app_id,
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: colon_hex(cert.raw_serial()),
            dns_names: san(|n| match n {
                GeneralName::DNSName(s) => Some((*s).to_owned()),
                _ => None,
            }),
            uris: san(|n| match n {
                GeneralName::URI(s) => Some((*s).to_owned()),
                _ => None,
            }),
            emails: san(|n| match n {
                GeneralName::RFC822Name(s) => Some((*s).to_owned()),
                _ => None,
            }),
            spki_sha256,
            fingerprint,
            not_before: super::facts::unix(cert.validity().not_before.timestamp()),
            not_after: super::facts::unix(cert.validity().not_after.timestamp()),
            attestation: AttestationFacts::from_cert(cert).map(Box::new),
        }
    }

    /// The install id: the one `urn:uuid:` subjectAltName URI (lower-cased), `None` when there
    /// is none or more than one.
    pub fn install_id(&self) -> Option<&str> {
        install_id(&self.uris)
    }
}

/// The one `urn:uuid:` URI among `uris` (lower-cased), `None` when there is none or more
/// than one.
fn install_id(uris: &[String]) -> Option<&str> {
    let mut ids = uris
        .iter()
        .filter_map(|u| u.strip_prefix(INSTALL_ID_PREFIX));
    match (ids.next(), ids.next()) {
        (Some(id), None) => Some(id),
        _ => None,
    }
}

/// The SAN URI prefix of an install id (RFC 4122 §3: `urn:uuid:`).
pub(crate) const INSTALL_ID_PREFIX: &str = "urn:uuid:";

/// Reads what a certificate says about itself (app id by `source`, names, keys, validity)
/// without verifying anything. For tooling such as `certgate inspect`.
///
/// # Errors
///
/// [`Rejection::MalformedCertificate`] when the DER does not parse; [`Rejection::NoAppId`] when
/// the app id is ambiguous or invalid.
pub fn inspect(der: &[u8], source: &IdentitySource) -> Result<CertificateInfo, Rejection> {
    use sha2::{Digest, Sha256};
    use x509_parser::prelude::FromDer;
    let cert = match X509Certificate::from_der(der) {
        Ok(([], cert)) => cert,
        Ok(_) => {
            return Err(Rejection::MalformedCertificate {
                detail: "trailing data".into(),
            });
        }
        Err(e) => {
            return Err(Rejection::MalformedCertificate {
                detail: e.to_string(),
            });
        }
    };
    let app_id = source.extract(&cert)?;
    let spki = Sha256::digest(cert.public_key().raw).into();
    Ok(CertificateInfo::read(
        &cert,
        app_id,
        spki,
        Sha256::digest(der).into(),
    ))
}

/// Something an accepted verdict should be flagged with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// A CRL used for this verdict is past its nextUpdate but inside the policy's grace window.
    CrlStale,
}

impl Warning {
    /// Stable snake_case code, shared with events and metrics.
    pub const fn code(self) -> &'static str {
        match self {
            Self::CrlStale => "crl_stale",
        }
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl PeerIdentity {
    pub(crate) fn new(facts: IdentityFacts) -> Self {
        Self {
            inner: Arc::new(facts),
            _verified: Verified::assertion(),
        }
    }

    /// Heap bytes this identity holds (for the verdict cache's weigher); shared `Arc`s
    /// (the app id) are counted as if owned.
    pub(crate) fn heap_bytes(&self) -> usize {
        let facts = &self.inner;
        [
            std::mem::size_of::<IdentityFacts>().saturating_add(16),
            facts.cert.heap_bytes(),
            facts
                .matched
                .as_ref()
                .map_or(0, |m| m.len().saturating_add(16)),
        ]
        .into_iter()
        .fold(0, usize::saturating_add)
    }

    /// The same identity with `valid_until` no later than `at`.
    pub(crate) fn cap_valid_until(mut self, at: UnixTime) -> Self {
        if at < self.inner.valid_until {
            Arc::make_mut(&mut self.inner).valid_until = at;
        }
        self
    }

    /// The app id from the leaf, when the policy's identity source found one.
    pub fn app_id(&self) -> Option<&AppId> {
        self.inner.cert.app_id.as_ref()
    }

    /// The leaf's subject, as an RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.inner.cert.strings().subject
    }

    /// The leaf's issuer, as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        self.inner.cert.issuer.as_str()
    }

    /// The leaf's serial number in lower-case hex (colon-separated bytes).
    pub fn serial(&self) -> &str {
        &self.inner.cert.strings().serial
    }

    /// DNS names in the leaf's subjectAltName.
    pub fn dns_names(&self) -> &[String] {
        &self.inner.cert.strings().dns_names
    }

    /// URIs in the leaf's subjectAltName.
    pub fn uris(&self) -> &[String] {
        &self.inner.cert.strings().uris
    }

    /// The install id of a per-install certificate: its one `urn:uuid:` subjectAltName URI
    /// (enrollment writes it beside the app id). `None` for a shared app certificate, and when
    /// the leaf carries more than one.
    pub fn install_id(&self) -> Option<&str> {
        install_id(&self.inner.cert.strings().uris)
    }

    /// What the platform attested about this install's key (security level, boot state, app
    /// version, patch level), as certgate's enrollment recorded it in the certificate; `None`
    /// for certificates not issued by enrollment.
    ///
    /// ```
    /// use certgate::{PeerIdentity, SecurityLevel};
    /// // A route that needs a key in StrongBox:
    /// fn strong_box_only(peer: &PeerIdentity) -> bool {
    ///     peer.attestation()
    ///         .is_some_and(|facts| facts.at_least(SecurityLevel::StrongBox))
    /// }
    /// ```
    pub fn attestation(&self) -> Option<&AttestationFacts> {
        self.inner.cert.attestation.as_deref()
    }

    /// Email addresses in the leaf's subjectAltName.
    pub fn emails(&self) -> &[String] {
        &self.inner.cert.strings().emails
    }

    /// SHA-256 of the leaf's SubjectPublicKeyInfo (what a `sha256/<base64>` pin names).
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.inner.cert.spki_sha256
    }

    /// SHA-256 of the leaf's DER: its fingerprint, as used by denylists.
    ///
    /// It names an encoding: an ECDSA-signed certificate has a second valid encoding (signature
    /// (r, n − s)) with another fingerprint. The verifier's denylist matches both; to key your
    /// own records on the certificate itself, use issuer and serial.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.inner.cert.fingerprint
    }

    /// The leaf's notBefore.
    pub fn not_before(&self) -> UnixTime {
        self.inner.cert.not_before
    }

    /// The leaf's notAfter.
    pub fn not_after(&self) -> UnixTime {
        self.inner.cert.not_after
    }

    /// Number of certificates on the validated path, leaf and trust anchor included.
    pub fn chain_len(&self) -> usize {
        usize::from(self.inner.chain_len)
    }

    /// The name of the pin or app rule that matched, if the policy has one.
    pub fn matched(&self) -> Option<&str> {
        self.inner.matched.as_deref()
    }

    /// Warnings attached to this accept (for example [`Warning::CrlStale`]).
    pub fn warnings(&self) -> &[Warning] {
        if self.inner.crl_stale {
            &[Warning::CrlStale]
        } else {
            &[]
        }
    }

    /// The instant from which this verdict may no longer hold with time alone: the earliest of
    /// every notAfter on the path, every used CRL's nextUpdate (or end of grace), and every
    /// matched pin's end. Caches must not keep the verdict past it.
    pub fn valid_until(&self) -> UnixTime {
        self.inner.valid_until
    }
}

impl Serialize for PeerIdentity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let facts = &self.inner;
        let cert = &facts.cert;
        let strings = cert.strings();
        IdentityJson {
            app_id: cert.app_id.as_ref(),
            subject: &strings.subject,
            issuer: cert.issuer.as_str(),
            serial: &strings.serial,
            dns_names: &strings.dns_names,
            uris: &strings.uris,
            emails: &strings.emails,
            spki_sha256: cert.spki_sha256,
            fingerprint: cert.fingerprint,
            not_before: cert.not_before,
            not_after: cert.not_after,
            attestation: cert.attestation.as_deref(),
            chain_len: facts.chain_len,
            matched: facts.matched.as_deref(),
            warnings: self.warnings(),
            valid_until: facts.valid_until,
        }
        .serialize(s)
    }
}

// Zero-sized proof that `Verifier::verify` ran to the end. Grep for `assertion()` to find every
// place that may mint a `PeerIdentity`; there must be exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verified(());

impl Verified {
    fn assertion() -> Self {
        Self(())
    }
}

fn ser_hex<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::hex(bytes))
}

fn ser_pin<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::spki_pin_string(bytes))
}

fn ser_time<S: Serializer>(time: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::rfc3339(*time))
}

/// `01:ab:…`, as x509-parser's `raw_serial_as_string` writes it, without its per-byte
/// formatting cost.
fn colon_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(3));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(
                *DIGITS.get(usize::from(nibble)).unwrap_or(&b'0'),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_identity_stays_compact() {
        // One allocation of at most 200 bytes with its `Arc` counts (a 208-byte malloc chunk),
        // beside the raw subject/serial/subjectAltName and nothing else owned: the verdict
        // cache holds up to millions of these (BENCHMARKS.md, "Memory").
        assert!(
            std::mem::size_of::<IdentityFacts>() <= 184,
            "{}",
            std::mem::size_of::<IdentityFacts>()
        );
    }

    #[test]
    fn colon_hex_matches_x509_parser() {
        assert_eq!(colon_hex(&[0x00, 0x10, 0xab]), "00:10:ab");
        assert_eq!(colon_hex(&[]), "");
    }
}
