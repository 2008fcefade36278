//! Revocation without per-call CRL cost: CRLs parsed once into serial indexes, each CRL's
//! signature checked once per issuer key, plus a leaf fingerprint denylist.
//!
//! rustls-webpki's own CRL path re-verifies a CRL's signature and walks its entries on every
//! verification. Here the structure is validated at load by webpki's own parser
//! (`BorrowedCertRevocationList::from_der`: no delta CRLs, no indirect CRLs, no
//! reason-partitioned CRLs, a full-name issuing distribution point only), and the scope test
//! (`authoritative`) mirrors webpki's: same issuer name, then the issuing distribution point's
//! role flags and URIs against the certificate's distribution points.

use std::sync::RwLock;
use std::time::Duration;

use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};

use super::der::{self, Reader};
use super::facts::CertFacts;
use crate::rejection::{CertRole, Rejection};

/// Which certificates of a validated path must have a revocation status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationDepth {
    /// Every certificate but the trust anchor (the default, as in rustls-webpki).
    #[default]
    Chain,
    /// The leaf only.
    Leaf,
}

/// What to do when no CRL covers a certificate that must have a status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnknownRevocation {
    /// Accept the certificate. Weakens revocation; opt in by name.
    Allow,
    /// Refuse with `revocation_unknown`. The default.
    #[default]
    Deny,
}

/// What to do with a CRL past its nextUpdate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiredCrl {
    /// Refuse with `crl_expired`. The default.
    #[default]
    Enforce,
    /// Accept for this long past nextUpdate, flagging the verdict
    /// [`Warning::CrlStale`](crate::Warning); refuse after that.
    Grace(Duration),
    /// Use the CRL however old it is.
    Ignore,
}

/// A CRL after load: its scope, its serial index, and a memo of issuer keys it verified under.
#[derive(Debug)]
pub(crate) struct LoadedCrl {
    pub(crate) origin: String,
    der: Box<[u8]>,
    issuer: Box<[u8]>,
    scope: Option<IdpScope>,
    pub(crate) next_update: UnixTime,
    /// The cRLNumber, lower-case hex of its INTEGER content octets, when the CRL has one.
    #[cfg_attr(not(feature = "audit"), allow(dead_code))]
    pub(crate) number: Option<String>,
    serials: SerialIndex,
    /// Issuer SPKIs (DER) this CRL's signature was checked under, and the outcome.
    verified: RwLock<Vec<(Box<[u8]>, bool)>>,
}

/// At most this many issuer keys are remembered per CRL; more (a re-keyed CA presented under
/// many keys) are verified each time rather than grow the memo without bound.
const MAX_MEMO_KEYS: usize = 8;

/// The issuing distribution point of a CRL, as far as scope goes.
#[derive(Debug)]
struct IdpScope {
    only_user: bool,
    only_ca: bool,
    uris: Vec<Vec<u8>>,
}

impl LoadedCrl {
    /// Parses and indexes a DER CRL. Structural problems are errors (refused at load).
    pub(crate) fn parse(origin: String, der: &[u8], strict: bool) -> Result<Self, String> {
        let crl = webpki::BorrowedCertRevocationList::from_der(der)
            .map_err(|e| format!("not a supported CRL: {e:?}"))?;
        let as_crl = webpki::CertRevocationList::from(crl);
        let issuer: Box<[u8]> = as_crl.issuer().into();
        let scope = match as_crl.issuing_distribution_point() {
            Some(idp) => Some(
                IdpScope::parse(idp)
                    .map_err(|_| "malformed issuing distribution point".to_string())?,
            ),
            None => None,
        };
        let webpki::CertRevocationList::Borrowed(crl) = as_crl else {
            return Err("unexpected owned CRL".into());
        };
        let mut serials = SerialIndex::default();
        for entry in &crl {
            let entry = entry.map_err(|e| format!("malformed revoked entry: {e:?}"))?;
            serials.insert(entry.serial_number);
        }
        serials.seal();
        let (next_update, crl_number) = tbs_facts(der).map_err(|_| "malformed CRL".to_string())?;
        if strict {
            match crl_number.as_ref().map(|(critical, _)| *critical) {
                None => {
                    return Err(
                        "profile violation (crl_number_missing): the CRL has no cRLNumber".into(),
                    );
                }
                Some(true) => return Err(
                    "profile violation (crl_number_critical): the cRLNumber extension is critical"
                        .into(),
                ),
                Some(false) => {}
            }
        }
        Ok(Self {
            origin,
            der: der.into(),
            issuer,
            scope,
            next_update,
            number: crl_number
                .filter(|(_, number)| !number.is_empty())
                .map(|(_, number)| crate::hex(&number)),
            serials,
            verified: RwLock::new(Vec::new()),
        })
    }

    /// The CRL issuer's name, as SEQUENCE contents.
    pub(crate) fn issuer(&self) -> &[u8] {
        &self.issuer
    }

    /// Whether this CRL speaks for `cert` (issued under the name `cert_issuer`) in `role`.
    fn authoritative(&self, cert_issuer: &[u8], cert: &CertFacts, role: CertRole) -> bool {
        if *self.issuer != *cert_issuer {
            return false;
        }
        let Some(scope) = &self.scope else {
            return true;
        };
        let is_issuer = role != CertRole::Leaf;
        if scope.only_ca && !is_issuer || scope.only_user && is_issuer {
            return false;
        }
        match &cert.crl_dp_uris {
            None => true,
            Some(uris) => uris.iter().any(|uri| scope.uris.contains(uri)),
        }
    }

    /// Checks (once per issuer key, then memoized) that the CRL is signed by `issuer_spki`.
    pub(crate) fn verify_signature(
        &self,
        issuer_spki: &[u8],
        algorithms: &[&dyn SignatureVerificationAlgorithm],
    ) -> bool {
        if let Ok(memo) = self.verified.read() {
            if let Some((_, ok)) = memo.iter().find(|(key, _)| **key == *issuer_spki) {
                return *ok;
            }
        }
        let ok = verify_signed(&self.der, issuer_spki, algorithms).is_ok();
        if let Ok(mut memo) = self.verified.write() {
            if memo.len() < MAX_MEMO_KEYS && !memo.iter().any(|(key, _)| **key == *issuer_spki) {
                memo.push((issuer_spki.into(), ok));
            }
        }
        ok
    }
}

/// The revocation part of a policy: CRLs, how deep, what unknown and expired mean.
#[derive(Debug, Default)]
pub(crate) struct Revocation {
    pub(crate) crls: Vec<LoadedCrl>,
    pub(crate) depth: RevocationDepth,
    pub(crate) unknown: UnknownRevocation,
    pub(crate) expired: ExpiredCrl,
}

/// One certificate on a validated path, with what revocation needs of it and its issuer.
pub(crate) struct PathNode<'a> {
    pub(crate) role: CertRole,
    pub(crate) serial: &'a [u8],
    pub(crate) issuer_name: &'a [u8],
    pub(crate) facts: &'a CertFacts,
    pub(crate) issuer_spki: &'a [u8],
    /// `Some(has cRLSign)` when the issuer has a keyUsage extension.
    pub(crate) issuer_crl_sign: Option<bool>,
}

/// How a CRL took part in an accepted verdict.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrlUse {
    /// Until when the outcome holds with time alone.
    pub(crate) until: Option<UnixTime>,
    pub(crate) stale: bool,
}

impl Revocation {
    /// Whether revocation is configured at all.
    pub(crate) fn is_enabled(&self) -> bool {
        !self.crls.is_empty()
    }

    /// Whether `role` needs a status under the configured depth.
    pub(crate) fn covers(&self, role: CertRole) -> bool {
        self.is_enabled()
            && !matches!(
                (self.depth, role),
                (_, CertRole::Anchor) | (RevocationDepth::Leaf, CertRole::Intermediate)
            )
    }

    /// The revocation status of `node` at `now`.
    ///
    /// Every configured CRL that speaks for `node` and verifies under its issuer's key counts,
    /// not just the first one found: a CA's previous CRL still within its window, or a
    /// partitioned CRL, must not hide the full CRL that lists the serial. A serial listed by any
    /// of them is revoked; freshness is that of the CRL with the latest nextUpdate. CRLs that
    /// claim the issuer's name but do not verify under its key say nothing.
    pub(crate) fn check(
        &self,
        node: &PathNode<'_>,
        algorithms: &[&dyn SignatureVerificationAlgorithm],
        now: UnixTime,
    ) -> Result<CrlUse, Rejection> {
        let role = node.role;
        let mut candidates = self
            .crls
            .iter()
            .filter(|crl| crl.authoritative(node.issuer_name, node.facts, role))
            .peekable();
        let Some(first) = candidates.peek().copied() else {
            return match self.unknown {
                UnknownRevocation::Allow => Ok(CrlUse {
                    until: None,
                    stale: false,
                }),
                UnknownRevocation::Deny => Err(Rejection::RevocationUnknown {
                    role,
                    detail: "no configured CRL covers this certificate".into(),
                }),
            };
        };
        // RFC 5280 §4.2.1.3: a key that signs CRLs must assert cRLSign when keyUsage is present.
        if node.issuer_crl_sign == Some(false) {
            return Err(Rejection::RevocationUnknown {
                role,
                detail: format!(
                    "CRL {} is signed by an issuer whose keyUsage lacks cRLSign",
                    first.origin
                ),
            });
        }
        let mut freshest: Option<&LoadedCrl> = None;
        let mut listed = false;
        for crl in candidates {
            if !crl.verify_signature(node.issuer_spki, algorithms) {
                continue;
            }
            listed |= crl.serials.contains(node.serial);
            if freshest.is_none_or(|best| crl.next_update > best.next_update) {
                freshest = Some(crl);
            }
        }
        let Some(crl) = freshest else {
            return Err(Rejection::RevocationUnknown {
                role,
                detail: format!(
                    "the signature of CRL {} does not verify under the issuer's key",
                    first.origin
                ),
            });
        };
        let mut used = CrlUse {
            until: Some(crl.next_update),
            stale: false,
        };
        // webpki: expired when `time >= next_update`.
        if now >= crl.next_update {
            match self.expired {
                ExpiredCrl::Enforce => {
                    return Err(Rejection::CrlExpired {
                        role,
                        next_update: crl.next_update,
                        now,
                    });
                }
                ExpiredCrl::Ignore => used.until = None,
                ExpiredCrl::Grace(grace) => {
                    let end = crl.next_update.as_secs().saturating_add(grace.as_secs());
                    if now.as_secs() >= end {
                        return Err(Rejection::CrlExpired {
                            role,
                            next_update: crl.next_update,
                            now,
                        });
                    }
                    used = CrlUse {
                        until: Some(secs(end)),
                        stale: true,
                    };
                }
            }
        }
        if listed {
            return Err(Rejection::Revoked { role });
        }
        Ok(used)
    }
}

/// Revoked serials, sorted for binary search: fixed-width keys for the usual serials (RFC 5280:
/// at most 20 octets, plus a sign octet), a side list for anything longer.
#[derive(Debug, Default)]
struct SerialIndex {
    short: Vec<[u8; KEY_LEN]>,
    long: Vec<Box<[u8]>>,
}

/// One length octet plus up to 21 serial octets.
const KEY_LEN: usize = 22;

impl SerialIndex {
    fn key(serial: &[u8]) -> Option<[u8; KEY_LEN]> {
        let len = u8::try_from(serial.len()).ok()?;
        let mut key = [0u8; KEY_LEN];
        let (head, rest) = key.split_first_mut()?;
        *head = len;
        rest.get_mut(..serial.len())?.copy_from_slice(serial);
        Some(key)
    }

    fn insert(&mut self, serial: &[u8]) {
        match Self::key(serial) {
            Some(key) => self.short.push(key),
            None => self.long.push(serial.into()),
        }
    }

    fn seal(&mut self) {
        self.short.sort_unstable();
        self.short.dedup();
        self.short.shrink_to_fit();
        self.long.sort_unstable();
        self.long.dedup();
    }

    fn contains(&self, serial: &[u8]) -> bool {
        match Self::key(serial) {
            Some(key) => self.short.binary_search(&key).is_ok(),
            None => self.long.binary_search_by(|s| (**s).cmp(serial)).is_ok(),
        }
    }
}

impl IdpScope {
    /// RFC 5280 §5.2.5 IssuingDistributionPoint. webpki has already refused every form it does
    /// not support, so only the fields that decide scope are read here.
    fn parse(idp: &[u8]) -> Result<Self, der::BadDer> {
        let mut scope = Self {
            only_user: false,
            only_ca: false,
            uris: Vec::new(),
        };
        let mut outer = Reader::new(idp);
        let seq = outer.expect(der::SEQUENCE)?;
        let mut fields = Reader::new(seq.value);
        while !fields.is_empty() {
            let field = fields.read()?;
            match field.tag {
                // [0] distributionPoint: DistributionPointName, whose [0] fullName is GeneralNames.
                0xa0 => {
                    let mut name = Reader::new(field.value);
                    let full = name.expect(0xa0)?;
                    let mut names = Reader::new(full.value);
                    while !names.is_empty() {
                        let general = names.read()?;
                        // [6] uniformResourceIdentifier
                        if general.tag == 0x86 {
                            scope.uris.push(general.value.to_vec());
                        }
                    }
                }
                0x81 => scope.only_user = field.value == [0xff],
                0x82 => scope.only_ca = field.value == [0xff],
                _ => {}
            }
        }
        Ok(scope)
    }
}

/// Reads nextUpdate and the cRLNumber's criticality (`None` when absent) from a CRL.
/// The CRL's nextUpdate, and its cRLNumber extension when present: (critical, the INTEGER's
/// content octets).
#[allow(clippy::type_complexity)]
fn tbs_facts(crl: &[u8]) -> Result<(UnixTime, Option<(bool, Vec<u8>)>), der::BadDer> {
    let parts = der::signed_parts(crl)?;
    let mut tbs = Reader::new(parts.tbs.value);
    tbs.expect(der::INTEGER)?; // version (webpki insists on v2)
    tbs.expect(der::SEQUENCE)?; // signature
    tbs.expect(der::SEQUENCE)?; // issuer
    tbs.read()?; // thisUpdate
    let next_update = tbs.read()?; // nextUpdate (webpki insists it is present)
    let next_update = crate::verify::time::parse_der_time(next_update).ok_or(der::BadDer)?;
    tbs.optional(der::SEQUENCE)?; // revokedCertificates
    let mut crl_number = None;
    if let Some(exts) = tbs.optional(der::CONTEXT_0)? {
        let mut list = Reader::new(Reader::new(exts.value).expect(der::SEQUENCE)?.value);
        while !list.is_empty() {
            let ext = list.expect(der::SEQUENCE)?;
            let mut ext = Reader::new(ext.value);
            let oid = ext.expect(der::OID)?;
            let critical = ext
                .optional(der::BOOLEAN)?
                .is_some_and(|b| b.value == [0xff]);
            // id-ce-cRLNumber 2.5.29.20
            if oid.value == [0x55, 0x1d, 0x14] {
                // Read leniently: the number is reported (audit log), never judged here.
                let number = ext
                    .expect(der::OCTET_STRING)
                    .and_then(|value| Reader::new(value.value).expect(der::INTEGER))
                    .map(|n| n.value.to_vec())
                    .unwrap_or_default();
                crl_number = Some((critical, number));
            }
        }
    }
    Ok((next_update, crl_number))
}

/// Verifies a signed structure's signature under `spki` (a DER SubjectPublicKeyInfo), the way
/// rustls-webpki's `signed_data::verify_signed_data` does.
pub(crate) fn verify_signed(
    signed: &[u8],
    spki: &[u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Result<(), &'static str> {
    let parts = der::signed_parts(signed).map_err(|_| "malformed signed structure")?;
    verify_signature_parts(
        parts.algorithm,
        parts.tbs.whole,
        parts.signature,
        spki,
        algorithms,
    )
}

/// Verifies `signature` over `message` with the key `spki` (a whole SubjectPublicKeyInfo),
/// using the algorithm of `algorithms` whose signature algorithm identifier (contents, without
/// the SEQUENCE header) is `algorithm` and whose public key algorithm is the key's.
pub(crate) fn verify_signature_parts(
    algorithm: &[u8],
    message: &[u8],
    signature: &[u8],
    spki: &[u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Result<(), &'static str> {
    let (key_alg, key) = der::spki_parts(spki).map_err(|_| "malformed public key")?;
    let mut known_signature_alg = false;
    for alg in algorithms
        .iter()
        .filter(|alg| alg.signature_alg_id().as_ref() == algorithm)
    {
        known_signature_alg = true;
        if alg.public_key_alg_id().as_ref() != key_alg {
            continue;
        }
        return alg
            .verify_signature(key, message, signature)
            .map_err(|_| "invalid signature");
    }
    Err(if known_signature_alg {
        "signature algorithm does not fit the key"
    } else {
        "unsupported signature algorithm"
    })
}

fn secs(s: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(s))
}
