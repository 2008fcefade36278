//! The strict RFC 5280 profile certgate checks on top of rustls-webpki, which deliberately skips
//! these rules. Each violation names its rule; the rule names are stable.

use std::time::Duration;

use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};

use super::facts::CertFacts;
use crate::rejection::{CertRole, Rejection};

/// The default for `profile.min_rsa_bits`.
pub(crate) const DEFAULT_MIN_RSA_BITS: usize = 2048;
/// The range `profile.min_rsa_bits` may take: below 2048 no provider verifies an RSA
/// signature, and above 8192 none does either (ring and aws-lc-rs take 2048 to 8192 bits).
pub(crate) const RSA_BITS_RANGE: std::ops::RangeInclusive<usize> = 2048..=MAX_RSA_BITS;
/// The largest RSA modulus the providers verify with (`RSA_PKCS1_2048_8192_*`).
const MAX_RSA_BITS: usize = 8192;

/// What the profile rules need besides the certificate: the policy's settings and the
/// provider's algorithms.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    /// Smallest RSA modulus accepted on any certificate of a path, in bits.
    pub(crate) min_rsa_bits: usize,
    /// The provider's signature verification algorithms: a key none of them takes cannot sign
    /// a certificate or a TLS CertificateVerify.
    pub(crate) algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("min_rsa_bits", &self.min_rsa_bits)
            .field("algorithms", &self.algorithms.len())
            .finish()
    }
}

/// Checks a trust anchor at load: structural rules that no clock can change. `der` is the
/// anchor itself: whether its signature verifies under its own key decides whether it is
/// self-issued for the key identifier rules.
pub(crate) fn check_anchor_structure(
    facts: &CertFacts,
    der: &[u8],
    settings: &Settings,
) -> Result<(), Rejection> {
    let role = CertRole::Anchor;
    // RFC 5280 §4.2.1.9: a CA certificate carries basicConstraints with cA=TRUE, marked critical.
    match facts.ca {
        None => {
            return Err(violation(
                "anchor_not_ca",
                role,
                "basicConstraints cA=TRUE is missing",
            ));
        }
        Some(false) => {
            return Err(violation(
                "anchor_basic_constraints_not_critical",
                role,
                "basicConstraints is not critical",
            ));
        }
        Some(true) => {}
    }
    if let Some(oid) = &facts.unknown_critical {
        return Err(violation(
            "unknown_critical_extension",
            role,
            format!("critical extension {oid} is not understood"),
        ));
    }
    check_key(facts, role, settings)?;
    // A root whose issuer name differs from its subject but whose signature verifies under
    // its own key is self-signed all the same: it has no other authority to identify.
    let self_issued = facts.self_issued
        || super::revocation::verify_signed(der, &facts.spki, settings.algorithms).is_ok();
    if self_issued {
        check_anchor_aki(facts).map_err(|(rule, detail)| violation(rule, role, detail))?;
    }
    check_ca_common(facts, self_issued).map_err(|(rule, detail)| violation(rule, role, detail))
}

/// Checks a CA certificate below the anchor (configured at load, or presented on a path).
pub(crate) fn check_intermediate(facts: &CertFacts, settings: &Settings) -> Result<(), Rejection> {
    let role = CertRole::Intermediate;
    // RFC 5280 §4.2.1.9: conforming CAs MUST mark basicConstraints critical. (webpki already
    // refuses an issuer without cA=TRUE.)
    if facts.ca == Some(false) {
        return Err(violation(
            "ca_basic_constraints_not_critical",
            role,
            "basicConstraints is not critical",
        ));
    }
    check_key(facts, role, settings)?;
    check_serial(facts).map_err(|(rule, detail)| violation(rule, role, detail))?;
    check_ca_common(facts, facts.self_issued)
        .map_err(|(rule, detail)| violation(rule, role, detail))
}

/// Checks the leaf.
pub(crate) fn check_leaf(facts: &CertFacts, settings: &Settings) -> Result<(), Rejection> {
    let role = CertRole::Leaf;
    check_key(facts, role, settings)?;
    check_serial(facts).map_err(|(rule, detail)| violation(rule, role, detail))?;
    // RFC 5280 §4.2.1.3: keyCertSign only when cA=TRUE.
    if facts.key_cert_sign && !facts.is_ca() {
        return Err(violation(
            "leaf_key_cert_sign",
            role,
            "keyCertSign asserted without cA=TRUE",
        ));
    }
    // RFC 5280 §4.2.1.10: nameConstraints only in CA certificates.
    if facts.name_constraints {
        return Err(violation(
            "name_constraints_on_leaf",
            role,
            "nameConstraints in an end-entity certificate",
        ));
    }
    check_key_identifiers(facts, false, facts.self_issued)
        .map_err(|(rule, detail)| violation(rule, role, detail))?;
    check_san_criticality(facts).map_err(|(rule, detail)| violation(rule, role, detail))
}

/// The subject key must be one the provider can use, and RSA moduli at least
/// `min_rsa_bits` long and a whole number of bytes. A key no provider algorithm takes
/// (DSA, P-192, Ed448, …) can sign neither a certificate nor a TLS CertificateVerify, so a
/// handshake would fail on it whatever the verdict: refuse it here, with a reason.
fn check_key(facts: &CertFacts, role: CertRole, settings: &Settings) -> Result<(), Rejection> {
    let key = &facts.key;
    let unsupported = |why: String| Rejection::UnsupportedAlgorithm {
        detail: format!("the {} has {why}", role.as_str()),
    };
    let algorithm = super::der::spki_parts(&facts.spki)
        .map(|(algorithm, _)| algorithm)
        .unwrap_or(&[]);
    let usable = settings
        .algorithms
        .iter()
        .any(|alg| alg.public_key_alg_id().as_ref() == algorithm);
    if !usable {
        return Err(unsupported(format!(
            "a {} key, which the crypto provider cannot verify signatures with",
            key.name
        )));
    }
    if key.name == "RSA" {
        let Some(bits) = key.rsa_bits else {
            return Err(unsupported(
                "an RSA key whose modulus cannot be read".into(),
            ));
        };
        if bits > MAX_RSA_BITS {
            return Err(unsupported(format!(
                "a {bits}-bit RSA key; the crypto providers verify with at most {MAX_RSA_BITS} bits"
            )));
        }
        if bits < settings.min_rsa_bits {
            return Err(violation(
                "rsa_key_too_small",
                role,
                format!(
                    "the RSA modulus has {bits} bits; the policy requires at least {}",
                    settings.min_rsa_bits
                ),
            ));
        }
        if bits % 8 != 0 {
            return Err(violation(
                "rsa_modulus_not_multiple_of_8",
                role,
                format!("the RSA modulus has {bits} bits, not a multiple of 8"),
            ));
        }
    }
    Ok(())
}

/// RFC 5280 §4.1.2.2: the serial number is a positive integer of at most 20 octets.
fn check_serial(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    let serial = facts.serial.as_slice();
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(("serial_negative", "the serial number is negative".into()));
    }
    if serial.iter().all(|b| *b == 0) {
        return Err(("serial_zero", "the serial number is zero".into()));
    }
    // The value's octets: the 0x00 that keeps a positive INTEGER positive is not one of them.
    let value = match serial {
        [0, rest @ ..] => rest,
        all => all,
    };
    if value.len() > 20 {
        return Err((
            "serial_too_long",
            format!(
                "the serial number has {} octets; at most 20 are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// RFC 5280 §4.2.1.1: a self-issued anchor's authorityKeyIdentifier, when present, identifies
/// its own key (keyIdentifier = its subjectKeyIdentifier) and nothing else.
fn check_anchor_aki(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    let Some(aki) = &facts.aki_fields else {
        return Ok(());
    };
    if aki.cert_issuer || aki.cert_serial {
        return Err((
            "anchor_aki_issuer_serial",
            "authorityKeyIdentifier carries authorityCertIssuer or authorityCertSerialNumber"
                .into(),
        ));
    }
    match (&aki.key_id, &facts.ski_value) {
        (None, _) => Err((
            "anchor_aki_key_id_missing",
            "authorityKeyIdentifier has no keyIdentifier".into(),
        )),
        (Some(key_id), Some(ski)) if key_id == ski => Ok(()),
        (Some(_), _) => Err((
            "anchor_aki_mismatch",
            "authorityKeyIdentifier's keyIdentifier is not the anchor's own subjectKeyIdentifier"
                .into(),
        )),
    }
}

/// RFC 5280 §4.2.1.10: nameConstraints name at least one subtree, and a dNSName constraint is
/// a domain name (no leading period; that form is for URIs only).
fn check_name_constraints(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    if !facts.name_constraints {
        return Ok(());
    }
    if facts.name_constraints_empty {
        return Err((
            "name_constraints_empty",
            "nameConstraints has neither permittedSubtrees nor excludedSubtrees".into(),
        ));
    }
    if let Some(name) = &facts.name_constraints_dot_dns {
        return Err((
            "name_constraints_dns_leading_period",
            format!(
                "the dNSName constraint {:?} starts with a period",
                shortened(name)
            ),
        ));
    }
    Ok(())
}

/// Checks the anchor's validity window at `now`, widened by `skew` on both sides.
pub(crate) fn check_anchor_time(
    facts: &CertFacts,
    now: UnixTime,
    skew: Duration,
) -> Result<(), Rejection> {
    let role = CertRole::Anchor;
    if now.as_secs().saturating_add(skew.as_secs()) < facts.not_before.as_secs() {
        return Err(Rejection::NotYetValid {
            role,
            not_before: facts.not_before,
            now,
        });
    }
    if now.as_secs() > facts.not_after.as_secs().saturating_add(skew.as_secs()) {
        return Err(Rejection::Expired {
            role,
            not_after: facts.not_after,
            now,
        });
    }
    Ok(())
}

fn check_ca_common(facts: &CertFacts, self_issued: bool) -> Result<(), (&'static str, String)> {
    // RFC 5280 §4.2.1.3: with a keyUsage extension, a key verifies certificate signatures only
    // if keyCertSign is set. webpki ignores keyUsage on issuers, so a CRL-signing-only CA
    // would otherwise issue leaves.
    if facts.crl_sign.is_some() && !facts.key_cert_sign {
        return Err((
            "ca_key_cert_sign_missing",
            "keyUsage is present without keyCertSign".into(),
        ));
    }
    check_key_identifiers(facts, true, self_issued)?;
    check_name_constraints(facts)?;
    check_san_criticality(facts)
}

/// RFC 5280 §4.2.1.1 and §4.2.1.2: AKI present and non-critical unless self-signed; SKI
/// present on CA certificates and non-critical.
fn check_key_identifiers(
    facts: &CertFacts,
    ca: bool,
    self_issued: bool,
) -> Result<(), (&'static str, String)> {
    match facts.aki {
        None if !self_issued => {
            return Err(("aki_missing", "authorityKeyIdentifier is missing".into()));
        }
        Some(true) => return Err(("aki_critical", "authorityKeyIdentifier is critical".into())),
        _ => {}
    }
    match facts.ski {
        None if ca => Err((
            "ski_missing",
            "subjectKeyIdentifier is missing on a CA certificate".into(),
        )),
        Some(true) => Err(("ski_critical", "subjectKeyIdentifier is critical".into())),
        _ => Ok(()),
    }
}

/// RFC 5280 §4.2.1.6: subjectAltName is critical exactly when the subject is empty.
fn check_san_criticality(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    match (facts.subject_empty, facts.san) {
        (true, None) => Err((
            "san_missing",
            "the subject is empty and there is no subjectAltName".into(),
        )),
        (true, Some(false)) => Err((
            "san_not_critical",
            "the subject is empty but subjectAltName is not critical".into(),
        )),
        (false, Some(true)) => Err((
            "san_critical",
            "subjectAltName is critical but the subject is not empty".into(),
        )),
        _ => Ok(()),
    }
}

/// At most 64 characters of certificate-derived text, for details (printed with `{:?}`,
/// which escapes it).
fn shortened(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn violation(rule: &'static str, role: CertRole, detail: impl Into<String>) -> Rejection {
    Rejection::ProfileViolation {
        rule,
        role,
        detail: detail.into(),
    }
}
