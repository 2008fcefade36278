//! The pure verification core: `Verifier::verify(&PeerChain, now)`.
//!
//! No I/O, no clock, no logging: a pure function of (policy snapshot, chain, time). The only
//! state that changes is a memo of CRL signature checks, which never changes an outcome.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls_pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use sha2::{Digest, Sha256};
use webpki::{EndEntityCert, KeyUsage, VerifiedPath};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

pub(crate) mod der;
pub(crate) mod facts;
pub(crate) mod identity;
pub(crate) mod pins;
pub(crate) mod profile;
pub(crate) mod revocation;
pub(crate) mod time;
mod twin;

use self::facts::{CertFacts, name_contents};
use self::identity::{
    AppId, CertificateInfo, IdentityFacts, IdentitySource, PeerIdentity, Warning,
};
use self::pins::{AppRule, Pin, matching_pin};
use self::revocation::{CrlUse, PathNode, Revocation};
use crate::peer_chain::PeerChain;
use crate::rejection::{CertRole, Rejection};

/// Ceilings checked before any parser sees the presented chain.
///
/// ```
/// let mut limits = certgate::Limits::default();
/// limits.max_chain_len = 3;
/// assert_eq!(limits.max_cert_bytes, 16 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Most certificates a peer may present, leaf included. Default 4: a leaf, two
    /// intermediates and one spare (app PKIs are shallow).
    pub max_chain_len: usize,
    /// Largest single presented certificate, in bytes. Default 16 KiB: ten times a typical
    /// P-256 leaf, and the size of one TLS record.
    pub max_cert_bytes: usize,
    /// Largest presented chain in total, in bytes. Default 32 KiB.
    pub max_chain_bytes: usize,
    /// Most candidate paths whose signatures all verify that certgate will check (pins,
    /// revocation, profile) before refusing with `path_budget_exceeded`. Default 8: one path is
    /// usual, two during a cross-signed CA rotation. rustls-webpki's own budgets (signature
    /// checks, path-building calls, depth) map to the same code.
    pub max_paths: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_chain_len: 4,
            max_cert_bytes: 16 * 1024,
            max_chain_bytes: 32 * 1024,
            max_paths: 8,
        }
    }
}

impl Limits {
    /// Splits `chain` into (leaf, presented intermediates), or refuses it before parsing.
    fn split<'c>(
        &self,
        chain: &'c PeerChain,
    ) -> Result<(&'c CertificateDer<'static>, &'c [CertificateDer<'static>]), Rejection> {
        let certs = chain.certs();
        if certs.len() > self.max_chain_len {
            return Err(Rejection::ChainTooLong {
                len: certs.len(),
                max: self.max_chain_len,
            });
        }
        let mut total = 0usize;
        for cert in certs {
            if cert.len() > self.max_cert_bytes {
                return Err(Rejection::CertificateTooLarge {
                    bytes: cert.len(),
                    max: self.max_cert_bytes,
                });
            }
            total = total.saturating_add(cert.len());
        }
        if total > self.max_chain_bytes {
            return Err(Rejection::ChainTooLarge {
                bytes: total,
                max: self.max_chain_bytes,
            });
        }
        certs.split_first().ok_or(Rejection::NoCertificate)
    }
}

/// Most presented intermediates whose facts are memoized. An intermediate only gets here after
/// rustls-webpki verified its signature under a trust anchor, so peers cannot fill it with
/// junk; 256 is far above the CAs of any app PKI.
const MAX_PRESENTED_FACTS: usize = 256;

/// What the leaf must be good for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usage {
    /// TLS client authentication (extendedKeyUsage clientAuth). The default.
    #[default]
    Client,
    /// TLS server authentication (serverAuth), optionally for a name. Lets the same verifier
    /// (and the CLI) check any chain.
    Server(Option<ServerName<'static>>),
}

/// Verifies presented chains under one immutable policy snapshot.
///
/// Build one with [`VerifierBuilder`](crate::VerifierBuilder) or load one from a policy file
/// with [`Policy`](crate::Policy). It is `Send + Sync`; share it behind an `Arc`.
pub struct Verifier {
    pub(crate) algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
    pub(crate) anchor_facts: Vec<CertFacts>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) intermediate_facts: Vec<Arc<CertFacts>>,
    /// Sorted instants (seconds) at which policy-level inputs flip: anchor and configured
    /// intermediate validity bounds (widened by the skew), CRL nextUpdates and ends of grace,
    /// pin window bounds.
    pub(crate) boundaries: Vec<u64>,
    /// Facts of intermediates that peers presented, by DER (only signature-checked ones).
    pub(crate) presented_facts: RwLock<HashMap<Box<[u8]>, Arc<CertFacts>>>,
    pub(crate) revocation: Revocation,
    pub(crate) denylist: HashSet<[u8; 32]>,
    pub(crate) identity: IdentitySource,
    pub(crate) require_app_id: bool,
    pub(crate) apps: HashMap<AppId, AppRule>,
    pub(crate) pins: Vec<Pin>,
    pub(crate) strict: bool,
    /// Settings of the strict profile's key rules.
    pub(crate) profile: profile::Settings,
    pub(crate) allow_missing_eku: bool,
    pub(crate) skew: Duration,
    pub(crate) limits: Limits,
    pub(crate) usage: Usage,
    pub(crate) warnings: Vec<String>,
}

/// What a path that passed certgate's own checks contributes to the verdict.
struct PathOutcome {
    path_len: usize,
    valid_until: UnixTime,
    stale: bool,
    matched: Option<String>,
}

impl Verifier {
    /// Verifies `chain` as it stands at `now`.
    ///
    /// The checks run in this order, and the first failure is returned: input bounds; the
    /// denylist; parsing; path building and signatures (rustls-webpki), with every candidate
    /// path also checked for the strict profile, revocation and pins; then the leaf's key
    /// usage, app identity and allowlists.
    ///
    /// # Errors
    ///
    /// Returns the [`Rejection`] that applies; every failure path ends in one.
    pub fn verify(&self, chain: &PeerChain, now: UnixTime) -> Result<PeerIdentity, Rejection> {
        self.verify_timed(chain, now).0
    }

    /// [`Verifier::verify`], plus the first instant after `now` at which the outcome may change
    /// with time alone (`None`: never). An accept's [`PeerIdentity::valid_until`] is capped by
    /// it too. Time-dependent inputs are every validity bound (widened by the skew) of the
    /// anchors, the configured and presented intermediates and the leaf, every CRL's nextUpdate
    /// (and end of grace), and every pin window's bounds.
    pub(crate) fn verify_timed(
        &self,
        chain: &PeerChain,
        now: UnixTime,
    ) -> (Result<PeerIdentity, Rejection>, Option<UnixTime>) {
        let mut leaf_window = None;
        let result = self.verify_inner(chain, now, &mut leaf_window);
        let next = self.next_boundary(now, chain, leaf_window);
        let result = match (result, next) {
            (Ok(identity), Some(next)) => Ok(identity.cap_valid_until(next)),
            (result, _) => result,
        };
        (result, next)
    }

    /// Whether the leaf is denylisted, in the encoding presented or in its ECDSA twin (the
    /// same certificate with signature (r, n − s): see [`twin`]).
    fn denylisted(&self, leaf: &[u8], fingerprint: &[u8; 32]) -> bool {
        self.denylist.contains(fingerprint)
            || twin::ecdsa_twins(leaf).iter().any(|twin| {
                self.denylist
                    .contains(&<[u8; 32]>::from(Sha256::digest(twin)))
            })
    }

    fn verify_inner(
        &self,
        chain: &PeerChain,
        now: UnixTime,
        leaf_window: &mut Option<(UnixTime, UnixTime)>,
    ) -> Result<PeerIdentity, Rejection> {
        let (leaf_der, presented) = self.limits.split(chain)?;
        let fingerprint: [u8; 32] = Sha256::digest(leaf_der.as_ref()).into();
        if !self.denylist.is_empty() && self.denylisted(leaf_der.as_ref(), &fingerprint) {
            return Err(Rejection::Denylisted);
        }
        let leaf = EndEntityCert::try_from(leaf_der)
            .map_err(|e| Rejection::from_webpki(e, CertRole::Leaf))?;
        let x509 = match X509Certificate::from_der(leaf_der.as_ref()) {
            Ok(([], cert)) => cert,
            Ok(_) => return Err(malformed("trailing data after the leaf")),
            Err(e) => return Err(malformed(e.to_string())),
        };
        let leaf_facts = CertFacts::from_cert(&x509).map_err(malformed)?;
        *leaf_window = Some((leaf_facts.not_before, leaf_facts.not_after));
        // Read now, judged after the chain: a forged certificate gets a chain error first.
        let app = self.identity.extract(&x509);
        let rule = app
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(|id| self.apps.get(id));

        let candidates: Vec<CertificateDer<'_>> = presented
            .iter()
            .chain(&self.intermediates)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        let leaf_serial = x509.raw_serial();
        let leaf_issuer = name_contents(x509.issuer().as_raw());
        let refused: RefCell<Option<Rejection>> = RefCell::new(None);
        let accepted: RefCell<Option<PathOutcome>> = RefCell::new(None);
        let paths = Cell::new(0usize);
        let check = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
            paths.set(paths.get().saturating_add(1));
            let result = if paths.get() > self.limits.max_paths {
                Err(Rejection::PathBudgetExceeded)
            } else {
                self.check_path(path, &leaf_facts, leaf_serial, leaf_issuer, rule, now)
            };
            match result {
                Ok(outcome) => {
                    accepted.replace(Some(outcome));
                    Ok(())
                }
                Err(rejection) => {
                    refused.replace(Some(rejection));
                    // Path building goes on to other candidates; this error only ranks.
                    Err(webpki::Error::CertRevoked)
                }
            }
        };

        let mut time = now;
        let mut retries = 0;
        loop {
            // Each attempt starts clean: only the attempt that webpki accepts may supply the
            // outcome.
            refused.replace(None);
            accepted.replace(None);
            let usage = match self.usage {
                Usage::Client => KeyUsage::client_auth(),
                Usage::Server(_) => KeyUsage::server_auth(),
            };
            match leaf.verify_for_usage(
                self.algorithms,
                &self.anchors,
                &candidates,
                time,
                usage,
                None,
                Some(&check),
            ) {
                Ok(_) => break,
                Err(err) => {
                    if let Some(rejection) = refused.take() {
                        return Err(rejection);
                    }
                    // Clock-skew tolerance: retry at the edge of the window that failed, if that
                    // edge is within `skew` of `now`. Each retry moves `time` strictly away from
                    // `now`, and there are at most as many edges as certificates on a path.
                    if let Some(edge) = self.skewed_time(&err, now, time) {
                        if retries < 8 {
                            retries += 1;
                            time = edge;
                            continue;
                        }
                    }
                    let role = role_of_time_error(&err, &leaf_facts);
                    let rejection = Rejection::from_webpki(err, role);
                    return Err(self.authenticated(rejection, &leaf, &candidates, now));
                }
            }
        }
        let Some(outcome) = accepted.take() else {
            return Err(Rejection::InvalidChain {
                detail: "path accepted without certgate's checks".into(),
            });
        };

        self.check_leaf_usage(&leaf_facts)?;
        if let Usage::Server(Some(name)) = &self.usage {
            leaf.verify_is_valid_for_subject_name(name)
                .map_err(|e| Rejection::from_webpki(e, CertRole::Leaf))?;
        }
        let app = app?;
        match (&app, self.apps.is_empty()) {
            (None, false) => {
                return Err(Rejection::NoAppId {
                    detail: format!(
                        "the policy allows listed apps only, and the leaf has no {}",
                        self.identity.describe()
                    ),
                });
            }
            (None, true) if self.require_app_id => {
                return Err(Rejection::NoAppId {
                    detail: format!("the leaf has no {}", self.identity.describe()),
                });
            }
            (Some(id), false) if rule.is_none() => {
                return Err(Rejection::AppNotAllowed {
                    app: id.to_string(),
                });
            }
            _ => {}
        }
        let mut matched = outcome.matched;
        if let Some(rule) = rule {
            if !rule.leaf_fingerprints.is_empty() && !rule.leaf_fingerprints.contains(&fingerprint)
            {
                return Err(Rejection::PinMismatch {
                    detail: format!(
                        "the leaf is not one of app {}'s allowed certificates",
                        rule.id
                    ),
                });
            }
            if matched.is_none() {
                matched = Some(rule.id.to_string());
            }
        }

        Ok(PeerIdentity::new(IdentityFacts {
            cert: CertificateInfo::read(&x509, app, leaf_facts.spki_sha256, fingerprint),
            chain_len: outcome.path_len,
            matched,
            warnings: if outcome.stale {
                vec![Warning::CrlStale]
            } else {
                Vec::new()
            },
            valid_until: outcome.valid_until,
        }))
    }

    /// Warnings found when the policy was built (for example an app with a single pin).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The subjects of the trust anchors, as TLS CertificateRequest hints.
    pub fn anchor_subjects(&self) -> Vec<rustls::DistinguishedName> {
        self.anchors
            .iter()
            .map(|a| rustls::DistinguishedName::in_sequence(a.subject.as_ref()))
            .collect()
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks one candidate path that rustls-webpki has validated (signatures, validity at the
    /// path-building time, EKU, name constraints): strict profile, revocation and pins.
    fn check_path(
        &self,
        path: &VerifiedPath<'_>,
        leaf: &CertFacts,
        leaf_serial: &[u8],
        leaf_issuer: &[u8],
        rule: Option<&AppRule>,
        now: UnixTime,
    ) -> Result<PathOutcome, Rejection> {
        let anchor = path.anchor();
        let anchor_facts = self
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, anchor))
            .and_then(|i| self.anchor_facts.get(i))
            .ok_or_else(|| Rejection::InvalidChain {
                detail: "path ends in an unknown anchor".into(),
            })?;

        // Intermediates from the leaf upwards, with their facts.
        let mut inters: Vec<(&webpki::Cert<'_>, Arc<CertFacts>)> = Vec::new();
        for cert in path.intermediate_certificates() {
            inters.push((cert, self.intermediate_facts(cert.der().as_ref())?));
        }

        if self.strict {
            profile::check_anchor_time(anchor_facts, now, self.skew)?;
            profile::check_leaf(leaf, &self.profile)?;
            for (_, facts) in &inters {
                profile::check_intermediate(facts, &self.profile)?;
            }
        }

        let skew = self.skew.as_secs();
        let mut valid_until = leaf.not_after.as_secs().saturating_add(skew);
        for (_, facts) in &inters {
            valid_until = valid_until.min(facts.not_after.as_secs().saturating_add(skew));
        }
        if self.strict {
            valid_until = valid_until.min(anchor_facts.not_after.as_secs().saturating_add(skew));
        }

        // Revocation, from the leaf up; each certificate's issuer is the next one on the path.
        let mut stale = false;
        if self.revocation.is_enabled() {
            let mut nodes: Vec<PathNode<'_>> = Vec::with_capacity(inters.len().saturating_add(1));
            let first_issuer = inters.first().map(|(_, f)| &**f).unwrap_or(anchor_facts);
            nodes.push(PathNode {
                role: CertRole::Leaf,
                serial: leaf_serial,
                issuer_name: leaf_issuer,
                facts: leaf,
                issuer_spki: &first_issuer.spki,
                issuer_crl_sign: first_issuer.crl_sign,
            });
            for (i, (cert, facts)) in inters.iter().enumerate() {
                let issuer = inters
                    .get(i.saturating_add(1))
                    .map(|(_, f)| &**f)
                    .unwrap_or(anchor_facts);
                nodes.push(PathNode {
                    role: CertRole::Intermediate,
                    serial: cert.serial(),
                    issuer_name: cert.issuer(),
                    facts,
                    issuer_spki: &issuer.spki,
                    issuer_crl_sign: issuer.crl_sign,
                });
            }
            for node in nodes.iter().filter(|n| self.revocation.covers(n.role)) {
                let CrlUse {
                    until,
                    stale: node_stale,
                } = self.revocation.check(node, self.algorithms, now)?;
                stale |= node_stale;
                if let Some(until) = until {
                    valid_until = valid_until.min(until.as_secs());
                }
            }
        }

        // Pins: any key on the path (leaf, intermediates, anchor) may match.
        let mut spkis: Vec<[u8; 32]> = Vec::with_capacity(inters.len().saturating_add(2));
        spkis.push(leaf.spki_sha256);
        spkis.extend(inters.iter().map(|(_, f)| f.spki_sha256));
        spkis.push(anchor_facts.spki_sha256);
        let mut matched = None;
        for (pins, what) in [
            (self.pins.as_slice(), None),
            (rule.map_or(&[][..], |r| r.pins.as_slice()), rule),
        ] {
            if pins.is_empty() {
                continue;
            }
            let Some(pin) = matching_pin(pins, &spkis, now) else {
                return Err(Rejection::PinMismatch {
                    detail: match what {
                        Some(rule) => format!("no active pin of app {} matches the path", rule.id),
                        None => "no active global pin matches the path".into(),
                    },
                });
            };
            if let Some(end) = pin.not_after() {
                valid_until = valid_until.min(end.as_secs());
            }
            matched = Some(pin.label());
        }

        Ok(PathOutcome {
            path_len: inters.len().saturating_add(2),
            valid_until: UnixTime::since_unix_epoch(Duration::from_secs(valid_until)),
            stale,
            matched,
        })
    }

    /// The first instant after `now` at which a time-dependent input flips (see
    /// [`Verifier::verify_timed`]).
    fn next_boundary(
        &self,
        now: UnixTime,
        chain: &PeerChain,
        leaf_window: Option<(UnixTime, UnixTime)>,
    ) -> Option<UnixTime> {
        let now_s = now.as_secs();
        let skew = self.skew.as_secs();
        let mut next = self
            .boundaries
            .get(self.boundaries.partition_point(|b| *b <= now_s))
            .copied();
        let mut consider = |not_before: UnixTime, not_after: UnixTime| {
            for b in [
                not_before.as_secs().saturating_sub(skew),
                not_after.as_secs().saturating_add(skew),
            ] {
                if b > now_s {
                    next = Some(next.map_or(b, |n| n.min(b)));
                }
            }
        };
        if let Some((not_before, not_after)) = leaf_window {
            consider(not_before, not_after);
        }
        // Presented intermediates: memoized facts when the CA is known, else a bounded parse
        // (at most `max_chain_len` certificates, each within `max_cert_bytes`).
        if leaf_window.is_some() {
            for der in chain.certs().iter().skip(1) {
                let memo = self
                    .presented_facts
                    .read()
                    .ok()
                    .and_then(|m| m.get(der.as_ref()).cloned());
                let facts = match memo {
                    Some(facts) => Some(facts),
                    None => CertFacts::parse(der.as_ref()).ok().map(Arc::new),
                };
                if let Some(facts) = facts {
                    consider(facts.not_before, facts.not_after);
                }
            }
        }
        next.map(|s| UnixTime::since_unix_epoch(Duration::from_secs(s)))
    }

    /// Facts of an intermediate on a path: configured ones were read at load; presented ones
    /// are read once and memoized (the same few CAs sign every app's certificate).
    fn intermediate_facts(&self, der: &[u8]) -> Result<Arc<CertFacts>, Rejection> {
        if let Some(i) = self.intermediates.iter().position(|c| c.as_ref() == der) {
            if let Some(facts) = self.intermediate_facts.get(i) {
                return Ok(Arc::clone(facts));
            }
        }
        if let Ok(memo) = self.presented_facts.read() {
            if let Some(facts) = memo.get(der) {
                return Ok(Arc::clone(facts));
            }
        }
        let facts = Arc::new(CertFacts::parse(der).map_err(malformed)?);
        if let Ok(mut memo) = self.presented_facts.write() {
            // Bounded: past the ceiling, intermediates are parsed on every use instead.
            if memo.len() < MAX_PRESENTED_FACTS {
                memo.insert(der.into(), Arc::clone(&facts));
            }
        }
        Ok(facts)
    }

    /// The leaf must say what it is for: rustls-webpki's `client_auth()` accepts a leaf without
    /// any extendedKeyUsage, certgate does not (unless the policy allows it).
    fn check_leaf_usage(&self, leaf: &CertFacts) -> Result<(), Rejection> {
        let (wanted, name) = match self.usage {
            Usage::Client => (0, "clientAuth"),
            Usage::Server(_) => (1, "serverAuth"),
        };
        match leaf.eku {
            None if self.allow_missing_eku => Ok(()),
            None => Err(Rejection::WrongKeyUsage {
                detail: format!("the leaf has no extendedKeyUsage; {name} is required"),
            }),
            Some((client, server)) if (if wanted == 0 { client } else { server }) => Ok(()),
            Some(_) => Err(Rejection::WrongKeyUsage {
                detail: format!("the leaf's extendedKeyUsage lacks {name}"),
            }),
        }
    }

    /// `rejection` if it may stand, else what the chain really is.
    ///
    /// rustls-webpki checks each certificate's dates and extendedKeyUsage before it looks for
    /// its issuer, so `expired`, `not_yet_valid` and `wrong_key_usage` from path building say
    /// nothing about whether the chain is genuine: a self-made certificate that is also expired
    /// gets `expired`. Those codes must mean "a genuine chain, but", or an operator observing
    /// one of them would let every forged certificate through. So the path is built again with
    /// any extendedKeyUsage accepted, at the edge of each validity window that fails (at most
    /// [`PROOF_ATTEMPTS`] times). Reaching a trust anchor proves the chain and the code stands;
    /// any other error is what the chain really is and is reported instead.
    fn authenticated(
        &self,
        rejection: Rejection,
        leaf: &EndEntityCert<'_>,
        candidates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Rejection {
        if !matches!(
            rejection,
            Rejection::Expired { .. }
                | Rejection::NotYetValid { .. }
                | Rejection::WrongKeyUsage { .. }
        ) {
            return rejection;
        }
        let mut time = now;
        for _ in 0..PROOF_ATTEMPTS {
            match leaf.verify_for_usage(
                self.algorithms,
                &self.anchors,
                candidates,
                time,
                AnyExtendedKeyUsage,
                None,
                None,
            ) {
                Ok(_) => return rejection,
                Err(webpki::Error::CertExpired { not_after, .. }) => time = not_after,
                Err(webpki::Error::CertNotValidYet { not_before, .. }) => time = not_before,
                Err(
                    err @ (webpki::Error::EmptyEkuExtension
                    | webpki::Error::RequiredEkuNotFoundContext(_)),
                ) => {
                    return Rejection::InvalidChain {
                        detail: format!("the chain could not be authenticated: {err:?}"),
                    };
                }
                Err(err) => return Rejection::from_webpki(err, CertRole::Leaf),
            }
        }
        Rejection::InvalidChain {
            detail: "the chain could not be authenticated: no instant found at which every \
                     certificate on it is valid"
                .into(),
        }
    }

    /// The time to retry path building at, when `err` is a validity failure within the skew.
    fn skewed_time(&self, err: &webpki::Error, now: UnixTime, tried: UnixTime) -> Option<UnixTime> {
        let skew = self.skew.as_secs();
        if skew == 0 {
            return None;
        }
        match err {
            webpki::Error::CertExpired { not_after, .. }
                if now.as_secs().saturating_sub(not_after.as_secs()) <= skew
                    && *not_after < tried =>
            {
                Some(*not_after)
            }
            webpki::Error::CertNotValidYet { not_before, .. }
                if not_before.as_secs().saturating_sub(now.as_secs()) <= skew
                    && *not_before > tried =>
            {
                Some(*not_before)
            }
            _ => None,
        }
    }
}

/// Path builds [`Verifier::authenticated`] may spend on one rejection: enough to step through
/// the validity windows of a leaf, two CAs and an anchor.
const PROOF_ATTEMPTS: usize = 4;

/// Accepts any extendedKeyUsage (or none): for proving a chain genuine, not for verdicts.
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("crls", &self.revocation.crls.len())
            .field("apps", &self.apps.len())
            .field("strict", &self.strict)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// Which certificate a webpki validity error is about: the leaf when its own dates match.
fn role_of_time_error(err: &webpki::Error, leaf: &CertFacts) -> CertRole {
    match err {
        webpki::Error::CertExpired { not_after, .. } if *not_after != leaf.not_after => {
            CertRole::Intermediate
        }
        webpki::Error::CertNotValidYet { not_before, .. } if *not_before != leaf.not_before => {
            CertRole::Intermediate
        }
        _ => CertRole::Leaf,
    }
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::MalformedCertificate {
        detail: detail.into(),
    }
}
