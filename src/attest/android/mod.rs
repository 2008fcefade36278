//! Android Key Attestation: the attestation certificate chain of a key generated in
//! AndroidKeyStore, verified to Google's roots, against the attestation status list, and its
//! KeyDescription extension against the policy's rule for the app.
//!
//! [`verify_android`] is pure: the chain, the expected challenge, the rule, the settings, the
//! status list and the time are parameters; it does no I/O and reads no clock.
//!
//! What it checks, in order (the first failure is the refusal):
//! 1. bounds: 1 to [`MAX_CHAIN_LEN`] certificates of at most [`MAX_CERT_BYTES`] each, every one
//!    parsing as X.509 (`attestation_invalid`);
//! 2. the chain, leaf first: every certificate valid at `now`; each one's issuer name equal to
//!    the next one's subject and its signature verified with the next one's key (the
//!    provider's algorithms); every issuer a CA (basicConstraints cA=TRUE, keyCertSign when
//!    keyUsage is present, pathLenConstraint) unless
//!    [`allow_non_ca_issuers`](AndroidSettings::allow_non_ca_issuers); no certificate but the
//!    leaf carrying a KeyDescription (a certificate below the attested key's is a forgery
//!    signed with an attested key: refused even with `allow_non_ca_issuers`); the last one's
//!    key equal to a configured root's key, or the last one issued and signed by a configured
//!    root (`attestation_invalid`);
//! 3. every certificate's serial against the status list: REVOKED, SUSPENDED and unknown
//!    statuses refuse (`attestation_revoked`);
//! 4. the leaf's KeyDescription: present, parsing, tags in ascending order
//!    (`attestation_invalid`); the challenge, compared in constant time
//!    (`challenge_mismatch`); the attestation and KeyMint security levels at least the rule's
//!    (`security_level_too_low`); the root of trust `verified` with the bootloader locked
//!    when the rule requires verified boot (`boot_state_unverified`); a package the rule
//!    lists and a signing-certificate digest the rule lists (`app_not_attested`); the minimum
//!    app version (`app_not_attested`) and OS patch level (`security_level_too_low`); the
//!    SIGN purpose (`attestation_invalid`).
//!
//! The root of trust, purposes and patch level are read from the list that matches the
//! KeyMint security level (hardwareEnforced, or softwareEnforced for a software KeyMint: a
//! software attestation of a TEE key, as on the marlin vectors, still lists the TEE's
//! authorizations in hardwareEnforced); the attestation application id from softwareEnforced (where Keystore puts
//! it), or hardwareEnforced.

mod key_description;
mod roots;
mod status;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

pub use self::key_description::{
    AttestationApplicationId, AuthorizationList, KeyDescription, KeyDescriptionError,
    MAX_KEY_DESCRIPTION_BYTES, MAX_LIST_ITEMS, PackageInfo, RootOfTrust, SecurityLevel,
    VerifiedBootState,
};
pub use self::status::{AttestationStatus, MAX_STATUS_LIST_BYTES, StatusList, StatusListError};
use super::EnrollRejection;
use crate::verify::der;

/// The most certificates in an attestation chain.
pub const MAX_CHAIN_LEN: usize = 10;

/// The largest certificate of an attestation chain, in bytes.
pub const MAX_CERT_BYTES: usize = 32 * 1024;

/// The KeyMint purpose SIGN.
const PURPOSE_SIGN: u64 = 2;

/// The policy's rule for one app's Android enrollments (`[apps.android]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidRule {
    /// The package names the app may attest as (any one of them).
    pub package_names: Vec<String>,
    /// The SHA-256 digests of the app's signing certificates, in hex (`:` separators and
    /// either case allowed); the attestation must carry at least one of them.
    pub signing_cert_sha256: Vec<String>,
    /// The lowest acceptable security level: `trusted_environment` (the default),
    /// `strong_box`, or `software` (no hardware protection: only if the policy says so).
    #[serde(default = "default_level")]
    pub min_security_level: SecurityLevel,
    /// Require the root of trust's verifiedBootState `verified` and deviceLocked (default
    /// true).
    #[serde(default = "default_true")]
    pub require_verified_boot: bool,
    /// The lowest acceptable version code of the attested package.
    #[serde(default)]
    pub min_app_version: Option<u64>,
    /// The lowest acceptable OS patch level, YYYYMM (as attested in osPatchLevel).
    #[serde(default)]
    pub min_patch_level: Option<u32>,
}

fn default_level() -> SecurityLevel {
    SecurityLevel::TrustedEnvironment
}

fn default_true() -> bool {
    true
}

impl AndroidRule {
    /// A rule for these packages and signing-certificate digests (hex), with the defaults:
    /// TEE or better, verified boot required, no version or patch minimum.
    pub fn new(
        package_names: impl IntoIterator<Item = impl Into<String>>,
        signing_cert_sha256: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            package_names: package_names.into_iter().map(Into::into).collect(),
            signing_cert_sha256: signing_cert_sha256.into_iter().map(Into::into).collect(),
            min_security_level: default_level(),
            require_verified_boot: true,
            min_app_version: None,
            min_patch_level: None,
        }
    }

    /// Checks the rule: at least one package name and one digest, every digest 32 bytes of
    /// hex. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.package_names.is_empty() || self.package_names.iter().any(String::is_empty) {
            return Err("package_names: at least one non-empty package name".into());
        }
        if self.signing_cert_sha256.is_empty() {
            return Err("signing_cert_sha256: at least one digest".into());
        }
        for digest in &self.signing_cert_sha256 {
            if decode_hex_digest(digest).is_none() {
                return Err(EnrollRejection::detail(format!(
                    "signing_cert_sha256: not a SHA-256 digest in hex: {digest:?}"
                )));
            }
        }
        Ok(())
    }

    fn digest_listed(&self, digest: &[u8]) -> bool {
        self.signing_cert_sha256
            .iter()
            .filter_map(|d| decode_hex_digest(d))
            .any(|d| d == digest)
    }
}

/// 32 bytes from 64 hex digits, `:` separators ignored.
fn decode_hex_digest(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut digits = text.bytes().filter(|&b| b != b':');
    for byte in &mut out {
        let hi = hex_value(digits.next()?)?;
        let lo = hex_value(digits.next()?)?;
        *byte = (hi << 4) | lo;
    }
    if digits.next().is_some() {
        return None;
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A trust anchor: its subject (raw Name) and key (whole SubjectPublicKeyInfo).
#[derive(Clone, Debug)]
struct Root {
    subject: Vec<u8>,
    spki: Vec<u8>,
}

/// Why [`AndroidSettings`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("android attestation settings: {0}")]
pub struct AndroidSettingsError(String);

/// The verifier's settings: trust anchors, tolerances, signature algorithms.
#[derive(Clone, Debug)]
pub struct AndroidSettings {
    roots: Vec<Root>,
    allow_non_ca_issuers: bool,
    allow_ecdsa_null_params: bool,
    algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
}

impl AndroidSettings {
    /// Google's roots (built in: the RSA root and the 2026 ECDSA P-384 root), strict
    /// tolerances, and the enabled provider feature's signature algorithms (an error without
    /// `ring` or `aws-lc-rs`: use [`AndroidSettings::with_roots`]).
    pub fn google() -> Result<Self, AndroidSettingsError> {
        let algorithms = crate::verify::default_algorithms().ok_or_else(|| {
            AndroidSettingsError(
                "no crypto provider feature: pass the provider's signature algorithms".into(),
            )
        })?;
        let mut pem = String::from(roots::GOOGLE_RSA_ROOT_PEM);
        pem.push_str(roots::GOOGLE_ECDSA_ROOT_PEM);
        Self::from_pem_roots(pem.as_bytes(), algorithms)
    }

    /// The built-in Google roots as DER certificates (RSA root first).
    pub fn google_roots() -> Vec<CertificateDer<'static>> {
        [roots::GOOGLE_RSA_ROOT_PEM, roots::GOOGLE_ECDSA_ROOT_PEM]
            .iter()
            .filter_map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).ok())
            .collect()
    }

    /// These roots (PEM, one or more certificates) instead of Google's.
    pub fn from_pem_roots(
        pem: &[u8],
        algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    ) -> Result<Self, AndroidSettingsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AndroidSettingsError(format!("roots: not PEM certificates: {e}")))?;
        Self::with_roots(&certs, algorithms)
    }

    /// These roots (DER certificates) instead of Google's.
    pub fn with_roots(
        certs: &[CertificateDer<'_>],
        algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    ) -> Result<Self, AndroidSettingsError> {
        if certs.is_empty() {
            return Err(AndroidSettingsError("roots: no certificate".into()));
        }
        let mut roots = Vec::with_capacity(certs.len());
        for (i, cert) in certs.iter().enumerate() {
            let (_, parsed) = X509Certificate::from_der(cert.as_ref())
                .map_err(|e| AndroidSettingsError(format!("root {i}: not a certificate: {e}")))?;
            roots.push(Root {
                subject: parsed.subject().as_raw().to_vec(),
                spki: parsed.public_key().raw.to_vec(),
            });
        }
        Ok(Self {
            roots,
            allow_non_ca_issuers: false,
            allow_ecdsa_null_params: false,
            algorithms,
        })
    }

    /// Accept issuers that are not CAs (`allow_non_ca_issuers`; default false).
    #[must_use]
    pub fn allow_non_ca_issuers(mut self, allow: bool) -> Self {
        self.allow_non_ca_issuers = allow;
        self
    }

    /// Accept `ecdsa-with-SHA*` algorithm identifiers with NULL parameters
    /// (`allow_ecdsa_null_params`; default false).
    #[must_use]
    pub fn allow_ecdsa_null_params(mut self, allow: bool) -> Self {
        self.allow_ecdsa_null_params = allow;
        self
    }
}

/// What a verified Android attestation establishes: the facts enrollment records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AndroidAttestation {
    /// The attested key (the leaf's SubjectPublicKeyInfo, DER): the key to certify.
    pub public_key_spki: Vec<u8>,
    /// The attestation's security level.
    pub security_level: SecurityLevel,
    /// The KeyMint security level.
    pub keymint_security_level: SecurityLevel,
    /// The attestation (schema) version.
    pub attestation_version: u64,
    /// The verified boot state, when a root of trust is attested.
    pub verified_boot_state: Option<VerifiedBootState>,
    /// Whether the bootloader is locked, when a root of trust is attested.
    pub device_locked: Option<bool>,
    /// The attested package the rule lists.
    pub package_name: String,
    /// That package's version code.
    pub app_version: u64,
    /// The OS patch level, YYYYMM, when attested.
    pub os_patch_level: Option<u64>,
    /// The whole KeyDescription.
    pub key_description: KeyDescription,
}

fn invalid(text: impl AsRef<str>) -> EnrollRejection {
    EnrollRejection::AttestationInvalid {
        detail: EnrollRejection::detail(text),
    }
}

/// One parsed certificate of the chain.
struct Cert<'a> {
    x509: X509Certificate<'a>,
    signed: der::SignedParts<'a>,
    key_description: Option<&'a [u8]>,
}

/// Verifies an Android Key Attestation certificate chain (leaf first, as
/// `KeyStore.getCertificateChain` returns it) for an enrollment with `challenge`, under
/// `rule`, at `now`. See the [module documentation](self) for every check and its refusal.
pub fn verify_android(
    chain: &[CertificateDer<'_>],
    challenge: &[u8],
    rule: &AndroidRule,
    settings: &AndroidSettings,
    status: Option<&StatusList>,
    now: UnixTime,
) -> Result<AndroidAttestation, EnrollRejection> {
    let certs = parse_chain(chain)?;
    verify_chain(&certs, settings, now)?;
    if let Some(list) = status {
        for (i, cert) in certs.iter().enumerate() {
            if let Some((serial, state)) = list.status_of_der_serial(cert.x509.raw_serial()) {
                return Err(EnrollRejection::AttestationRevoked {
                    detail: EnrollRejection::detail(format!(
                        "certificate {i} (serial {serial}) is {} in the attestation status list",
                        state.as_str()
                    )),
                });
            }
        }
    }
    let leaf = certs
        .first()
        .ok_or_else(|| invalid("empty attestation chain"))?;
    let ext = leaf
        .key_description
        .ok_or_else(|| invalid("the leaf has no KeyDescription extension"))?;
    let kd = KeyDescription::parse(ext).map_err(|e| invalid(e.to_string()))?;
    check_key_description(&kd, challenge, rule).map(|facts| AndroidAttestation {
        public_key_spki: leaf.x509.public_key().raw.to_vec(),
        security_level: kd.attestation_security_level,
        keymint_security_level: kd.keymint_security_level,
        attestation_version: kd.attestation_version,
        verified_boot_state: facts.root_of_trust.map(|r| r.0),
        device_locked: facts.root_of_trust.map(|r| r.1),
        package_name: facts.package_name,
        app_version: facts.app_version,
        os_patch_level: facts.os_patch_level,
        key_description: kd.clone(),
    })
}

fn parse_chain<'a>(chain: &'a [CertificateDer<'_>]) -> Result<Vec<Cert<'a>>, EnrollRejection> {
    if chain.is_empty() {
        return Err(invalid("empty attestation chain"));
    }
    if chain.len() > MAX_CHAIN_LEN {
        return Err(invalid(format!(
            "the chain has {} certificates, more than {MAX_CHAIN_LEN}",
            chain.len()
        )));
    }
    let mut certs = Vec::with_capacity(chain.len());
    for (i, der_cert) in chain.iter().enumerate() {
        let bytes: &'a [u8] = der_cert.as_ref();
        if bytes.len() > MAX_CERT_BYTES {
            return Err(invalid(format!(
                "certificate {i} is larger than {MAX_CERT_BYTES} bytes"
            )));
        }
        let x509 = match X509Certificate::from_der(bytes) {
            Ok(([], cert)) => cert,
            _ => return Err(invalid(format!("certificate {i} is not DER X.509"))),
        };
        let signed = der::signed_parts(bytes)
            .map_err(|_| invalid(format!("certificate {i} is not DER X.509")))?;
        let mut key_description = None;
        for ext in x509.extensions() {
            if ext.oid.as_bytes() == key_description::OID_KEY_DESCRIPTION {
                if key_description.is_some() {
                    return Err(invalid(format!("certificate {i} has two KeyDescriptions")));
                }
                key_description = Some(ext.value);
            }
        }
        certs.push(Cert {
            x509,
            signed,
            key_description,
        });
    }
    Ok(certs)
}

fn verify_chain(
    certs: &[Cert<'_>],
    settings: &AndroidSettings,
    now: UnixTime,
) -> Result<(), EnrollRejection> {
    let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    for (i, cert) in certs.iter().enumerate() {
        let validity = cert.x509.validity();
        if now_secs < validity.not_before.timestamp() {
            return Err(invalid(format!("certificate {i} is not yet valid")));
        }
        if now_secs > validity.not_after.timestamp() {
            return Err(invalid(format!("certificate {i} has expired")));
        }
        if i > 0 && cert.key_description.is_some() {
            return Err(invalid(format!(
                "certificate {i} carries a KeyDescription: a certificate below the attested key"
            )));
        }
    }
    // The anchor first (cheap: no signature), so that a chain to nowhere costs no signature
    // verification: the last certificate is a configured root (same key), or names one as
    // its issuer (then that root's signature on it is checked after the chain's).
    let last = certs
        .last()
        .ok_or_else(|| invalid("empty attestation chain"))?;
    let last_spki = last.x509.public_key().raw;
    let issuing_root = if settings.roots.iter().any(|r| r.spki == last_spki) {
        None
    } else {
        let candidates: Vec<&Root> = settings
            .roots
            .iter()
            .filter(|r| last.x509.issuer().as_raw() == r.subject.as_slice())
            .collect();
        if candidates.is_empty() {
            return Err(invalid(
                "the chain does not lead to a configured attestation root",
            ));
        }
        Some(candidates)
    };
    for (i, pair) in certs.windows(2).enumerate() {
        let [cert, issuer] = pair else {
            continue;
        };
        let issuer_index = i.saturating_add(1);
        check_signature(cert, issuer.x509.public_key().raw, settings)
            .map_err(|e| invalid(format!("certificate {i}: {e}")))?;
        if cert.x509.issuer().as_raw() != issuer.x509.subject().as_raw() {
            return Err(invalid(format!(
                "certificate {i}'s issuer is not certificate {issuer_index}'s subject"
            )));
        }
        if !settings.allow_non_ca_issuers {
            // The CAs between this issuer and the leaf: certificates 1..issuer_index.
            check_ca(&issuer.x509, i)
                .map_err(|e| invalid(format!("certificate {issuer_index} {e}")))?;
        }
    }
    match issuing_root {
        None => Ok(()),
        // The root is a configured anchor: whether it is a CA is the operator's choice.
        Some(candidates) => candidates
            .iter()
            .any(|root| check_signature(last, &root.spki, settings).is_ok())
            .then_some(())
            .ok_or_else(|| {
                invalid("the chain does not lead to a configured attestation root (signature)")
            }),
    }
}

/// The issuer is a CA: basicConstraints cA=TRUE, keyCertSign if keyUsage is present, and a
/// pathLenConstraint of at least `cas_below` (the intermediate CAs between it and the leaf).
fn check_ca(issuer: &X509Certificate<'_>, cas_below: usize) -> Result<(), &'static str> {
    let bc = issuer
        .basic_constraints()
        .map_err(|_| "has a malformed basicConstraints")?
        .ok_or("is not a CA (no basicConstraints)")?;
    if !bc.value.ca {
        return Err("is not a CA (basicConstraints cA=FALSE)");
    }
    if let Some(limit) = bc.value.path_len_constraint {
        if usize::try_from(limit).unwrap_or(usize::MAX) < cas_below {
            return Err("exceeds its pathLenConstraint");
        }
    }
    if let Some(ku) = issuer.key_usage().map_err(|_| "has a malformed keyUsage")? {
        if !ku.value.key_cert_sign() {
            return Err("may not sign certificates (keyUsage without keyCertSign)");
        }
    }
    Ok(())
}

/// The `ecdsa-with-SHA256/384/512` OIDs (DER, tag and length included) share this prefix.
const ECDSA_WITH_SHA_PREFIX: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];

fn check_signature(
    cert: &Cert<'_>,
    issuer_spki: &[u8],
    settings: &AndroidSettings,
) -> Result<(), &'static str> {
    let mut algorithm = cert.signed.algorithm;
    if settings.allow_ecdsa_null_params {
        if let Some(oid) = algorithm.strip_suffix(&[0x05, 0x00]) {
            if oid.len() == 10 && oid.starts_with(ECDSA_WITH_SHA_PREFIX) {
                algorithm = oid;
            }
        }
    }
    crate::verify::revocation::verify_signature_parts(
        algorithm,
        cert.signed.tbs.whole,
        cert.signed.signature,
        issuer_spki,
        settings.algorithms,
    )
}

/// What the KeyDescription checks establish.
struct Facts {
    root_of_trust: Option<(VerifiedBootState, bool)>,
    package_name: String,
    app_version: u64,
    os_patch_level: Option<u64>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn check_key_description(
    kd: &KeyDescription,
    challenge: &[u8],
    rule: &AndroidRule,
) -> Result<Facts, EnrollRejection> {
    if !kd.software_enforced.tags_ordered || !kd.hardware_enforced.tags_ordered {
        return Err(invalid(
            "the KeyDescription's tags are not in ascending order",
        ));
    }
    if !constant_time_eq(&kd.attestation_challenge, challenge) {
        return Err(EnrollRejection::ChallengeMismatch {
            detail: "the attested challenge is not the enrollment's".into(),
        });
    }
    let level = kd.attestation_security_level.min(kd.keymint_security_level);
    if level < rule.min_security_level {
        return Err(EnrollRejection::SecurityLevelTooLow {
            detail: EnrollRejection::detail(format!(
                "attested {} (KeyMint {}), the policy requires {}",
                kd.attestation_security_level.as_str(),
                kd.keymint_security_level.as_str(),
                rule.min_security_level.as_str()
            )),
        });
    }
    let (main, other) = if kd.keymint_security_level == SecurityLevel::Software {
        (&kd.software_enforced, &kd.hardware_enforced)
    } else {
        (&kd.hardware_enforced, &kd.software_enforced)
    };
    let root_of_trust = main
        .root_of_trust
        .as_ref()
        .map(|r| (r.verified_boot_state, r.device_locked));
    if rule.require_verified_boot {
        match root_of_trust {
            Some((VerifiedBootState::Verified, true)) => {}
            Some((state, locked)) => {
                return Err(EnrollRejection::BootStateUnverified {
                    detail: EnrollRejection::detail(format!(
                        "verifiedBootState {}, deviceLocked {locked}",
                        state.as_str()
                    )),
                });
            }
            None => {
                return Err(EnrollRejection::BootStateUnverified {
                    detail: "no root of trust is attested".into(),
                });
            }
        }
    }
    let app_id = kd
        .software_enforced
        .attestation_application_id
        .as_ref()
        .or(kd.hardware_enforced.attestation_application_id.as_ref())
        .ok_or_else(|| EnrollRejection::AppNotAttested {
            detail: "no attestation application id".into(),
        })?;
    let package = app_id
        .packages
        .iter()
        .find(|p| rule.package_names.iter().any(|n| n.as_bytes() == p.name))
        .ok_or_else(|| {
            let names: Vec<String> = app_id
                .packages
                .iter()
                .map(|p| String::from_utf8_lossy(&p.name).into_owned())
                .collect();
            EnrollRejection::AppNotAttested {
                detail: EnrollRejection::detail(format!(
                    "attested package(s) {names:?} not listed for this app"
                )),
            }
        })?;
    if !app_id
        .signature_digests
        .iter()
        .any(|d| rule.digest_listed(d))
    {
        return Err(EnrollRejection::AppNotAttested {
            detail: EnrollRejection::detail(format!(
                "none of the {} attested signing certificate digest(s) is listed for this app",
                app_id.signature_digests.len()
            )),
        });
    }
    if let Some(min) = rule.min_app_version {
        if package.version < min {
            return Err(EnrollRejection::AppNotAttested {
                detail: EnrollRejection::detail(format!(
                    "app version {} is below the policy's minimum {min}",
                    package.version
                )),
            });
        }
    }
    let os_patch_level = main.os_patch_level.or(other.os_patch_level);
    if let Some(min) = rule.min_patch_level {
        match os_patch_level {
            Some(level) if level >= u64::from(min) => {}
            Some(level) => {
                return Err(EnrollRejection::SecurityLevelTooLow {
                    detail: EnrollRejection::detail(format!(
                        "OS patch level {level} is below the policy's minimum {min}"
                    )),
                });
            }
            None => {
                return Err(EnrollRejection::SecurityLevelTooLow {
                    detail: "no OS patch level is attested".into(),
                });
            }
        }
    }
    if !main.purposes.contains(&PURPOSE_SIGN) {
        return Err(invalid("the attested key may not SIGN"));
    }
    Ok(Facts {
        root_of_trust,
        package_name: String::from_utf8_lossy(&package.name).into_owned(),
        app_version: package.version,
        os_patch_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests() {
        let hex = "10:39:38:EE".to_owned() + &"00".repeat(28);
        let d = decode_hex_digest(&hex).unwrap();
        assert_eq!(&d[..4], &[0x10, 0x39, 0x38, 0xee]);
        assert!(decode_hex_digest("00").is_none());
        assert!(decode_hex_digest(&"0".repeat(66)).is_none());
        assert!(decode_hex_digest(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn rule_from_toml_uses_exact_names_and_defaults() {
        let rule: AndroidRule = toml::from_str(
            r#"
            package_names = ["com.example.app"]
            signing_cert_sha256 = ["1039"]
            "#,
        )
        .unwrap();
        assert_eq!(rule.min_security_level, SecurityLevel::TrustedEnvironment);
        assert!(rule.require_verified_boot);
        assert!(rule.validate().is_err());
        assert!(
            toml::from_str::<AndroidRule>(
                "package_names = []\nsigning_cert_sha256 = []\nbogus = 1"
            )
            .is_err()
        );
    }
}
