//! The strict RFC 5280 profile certgate checks on top of rustls-webpki, which deliberately skips
//! these rules. Each violation names its rule; the rule names are stable.

use std::time::Duration;

use rustls_pki_types::UnixTime;

use super::facts::CertFacts;
use crate::rejection::{CertRole, Rejection};

/// Checks a trust anchor at load: structural rules that no clock can change.
pub(crate) fn check_anchor_structure(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    // RFC 5280 §4.2.1.9: a CA certificate carries basicConstraints with cA=TRUE, marked critical.
    match facts.ca {
        None => {
            return Err((
                "anchor_not_ca",
                "basicConstraints cA=TRUE is missing".into(),
            ));
        }
        Some(false) => {
            return Err((
                "anchor_basic_constraints_not_critical",
                "basicConstraints is not critical".into(),
            ));
        }
        Some(true) => {}
    }
    if let Some(oid) = &facts.unknown_critical {
        return Err((
            "unknown_critical_extension",
            format!("critical extension {oid} is not understood"),
        ));
    }
    check_ca_common(facts)
}

/// Checks a CA certificate below the anchor (configured at load, or presented on a path).
pub(crate) fn check_intermediate(facts: &CertFacts) -> Result<(), Rejection> {
    // RFC 5280 §4.2.1.9: conforming CAs MUST mark basicConstraints critical. (webpki already
    // refuses an issuer without cA=TRUE.)
    if facts.ca == Some(false) {
        return Err(violation(
            "ca_basic_constraints_not_critical",
            CertRole::Intermediate,
            "basicConstraints is not critical",
        ));
    }
    check_ca_common(facts).map_err(|(rule, detail)| violation(rule, CertRole::Intermediate, detail))
}

/// Checks the leaf.
pub(crate) fn check_leaf(facts: &CertFacts) -> Result<(), Rejection> {
    let role = CertRole::Leaf;
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
    check_key_identifiers(facts, false).map_err(|(rule, detail)| violation(rule, role, detail))?;
    check_san_criticality(facts).map_err(|(rule, detail)| violation(rule, role, detail))
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

fn check_ca_common(facts: &CertFacts) -> Result<(), (&'static str, String)> {
    // RFC 5280 §4.2.1.3: with a keyUsage extension, a key verifies certificate signatures only
    // if keyCertSign is set. webpki ignores keyUsage on issuers, so a CRL-signing-only CA
    // would otherwise issue leaves.
    if facts.crl_sign.is_some() && !facts.key_cert_sign {
        return Err((
            "ca_key_cert_sign_missing",
            "keyUsage is present without keyCertSign".into(),
        ));
    }
    check_key_identifiers(facts, true)?;
    check_san_criticality(facts)
}

/// RFC 5280 §4.2.1.1 and §4.2.1.2: AKI present and non-critical unless self-signed; SKI
/// present on CA certificates and non-critical.
fn check_key_identifiers(facts: &CertFacts, ca: bool) -> Result<(), (&'static str, String)> {
    match facts.aki {
        None if !facts.self_issued => {
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

fn violation(rule: &'static str, role: CertRole, detail: impl Into<String>) -> Rejection {
    Rejection::ProfileViolation {
        rule,
        role,
        detail: detail.into(),
    }
}
