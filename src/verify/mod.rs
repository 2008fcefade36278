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

pub(crate) mod attestation;
pub(crate) mod der;
pub(crate) mod facts;
pub(crate) mod identity;
pub(crate) mod leaf;
pub(crate) mod pins;
pub(crate) mod profile;
pub(crate) mod revocation;
pub(crate) mod time;
mod twin;

use self::facts::{CertFacts, name_contents};
use self::identity::{AppId, IdentityFacts, IdentitySource, IssuerName, LeafRecord, PeerIdentity};
use self::pins::{AppRule, Pin, matching_pin};
use self::revocation::{CrlUse, PathNode, Revocation};
use crate::peer_chain::PeerChain;
use crate::rejection::{CertRole, Rejection, Rejections};

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

/// Most distinct leaf issuer names interned (see [`Verifier::issuer_name`]). Only names of
/// leaves whose chain was accepted get here; past the ceiling, each identity owns its issuer.
const MAX_ISSUER_NAMES: usize = 256;

/// Hashes a DER encoding by its length and last 16 bytes only (of a certificate: its
/// signature's), instead of SipHash over the whole of it, which is two hashes of the
/// intermediate's 0.5-1.5 KB per verification. Only the bucket depends on it: a lookup still
/// compares whole keys, and only certificates whose signatures verified (at most
/// [`MAX_PRESENTED_FACTS`]) are ever inserted, so crafted collisions cost at most that many
/// comparisons.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DerTailHash;

impl std::hash::BuildHasher for DerTailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(0)
    }
}

/// See [`DerTailHash`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TailHasher(u64);

impl std::hash::Hasher for TailHasher {
    fn finish(&self) -> u64 {
        // A final mix (splitmix64), so every bit of the state reaches the bucket index.
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(16)..).unwrap_or(bytes);
        for chunk in tail.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }
}

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
    pub(crate) presented_facts: RwLock<HashMap<Box<[u8]>, Arc<CertFacts>, DerTailHash>>,
    /// Issuer names of accepted leaves, interned: every leaf of one CA shares one (rendered
    /// once), so a cached identity does not carry its own copy.
    pub(crate) issuer_names: RwLock<HashMap<Box<[u8]>, Arc<IssuerName>, DerTailHash>>,
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
    matched: Option<Arc<str>>,
}

/// What path building found.
enum PathVerdict {
    /// A path passed every path-level check.
    Accepted(PathOutcome),
    /// The chain is genuine (a path's signatures lead to a trust anchor) and these checks
    /// failed on it, the first failing check first.
    Genuine(Vec<Rejection>),
    /// No path was shown to reach a trust anchor: this is what the chain is.
    NotGenuine(Rejection),
}

/// The leaf, read once.
struct LeafInput<'a> {
    cert: EndEntityCert<'a>,
    parts: identity::LeafParts<'a>,
    facts: CertFacts,
    fingerprint: [u8; 32],
}

impl Verifier {
    /// Verifies `chain` as it stands at `now`, and returns the first failing check's
    /// rejection. [`Verifier::verify_all`] returns every failing code.
    ///
    /// # Errors
    ///
    /// Returns the [`Rejection`] that applies; every failure path ends in one.
    pub fn verify(&self, chain: &PeerChain, now: UnixTime) -> Result<PeerIdentity, Rejection> {
        self.verify_all(chain, now)
            .map_err(Rejections::into_primary)
    }

    /// Verifies `chain` as it stands at `now`, and lists every failing code.
    ///
    /// The checks run in this order: input bounds; the denylist; parsing; path building and
    /// signatures (rustls-webpki), with every candidate path also checked for the validity
    /// of each certificate, the strict profile, revocation and pins; then the leaf's key
    /// usage, app identity and allowlists. Once a chain is proven genuine, every check runs
    /// and each failing code is listed ([`Rejections`]); a chain that is not proven genuine
    /// gets one code (after `denylisted`, when its leaf is listed).
    ///
    /// # Errors
    ///
    /// Every failing check's [`Rejection`], the first one first.
    pub fn verify_all(&self, chain: &PeerChain, now: UnixTime) -> Result<PeerIdentity, Rejections> {
        self.verify_timed(chain, now).0
    }

    /// [`Verifier::verify_all`], plus the first instant after `now` at which the outcome may
    /// change with time alone (`None`: never). An accept's [`PeerIdentity::valid_until`] is
    /// capped by it too. Time-dependent inputs are every validity bound (widened by the skew)
    /// of the anchors, the configured and presented intermediates and the leaf, every CRL's
    /// nextUpdate (and end of grace), and every pin window's bounds.
    pub(crate) fn verify_timed(
        &self,
        chain: &PeerChain,
        now: UnixTime,
    ) -> (Result<PeerIdentity, Rejections>, Option<UnixTime>) {
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

    /// The pipeline: bounds, denylist, parse, path, then the leaf's own checks. Failures are
    /// collected in `failed`; an accepted chain allocates nothing for them.
    fn verify_inner(
        &self,
        chain: &PeerChain,
        now: UnixTime,
        leaf_window: &mut Option<(UnixTime, UnixTime)>,
    ) -> Result<PeerIdentity, Rejections> {
        let (leaf_der, presented) = self.limits.split(chain)?;
        let fingerprint: [u8; 32] = Sha256::digest(leaf_der.as_ref()).into();
        let mut failed: Option<Rejections> = None;
        if !self.denylist.is_empty() && self.denylisted(leaf_der.as_ref(), &fingerprint) {
            record(&mut failed, Rejection::Denylisted);
        }
        // The app id is read now, judged after the chain: a forged certificate gets a chain
        // error first.
        let (leaf, app) = match read_leaf(leaf_der, fingerprint, &self.identity) {
            Ok(leaf) => leaf,
            Err(rejection) => return Err(finish(failed, rejection)),
        };
        *leaf_window = Some((leaf.facts.not_before, leaf.facts.not_after));
        let (app, rule) = match app {
            // The policy's own copy of a listed app id: an identity shares it, not a new one.
            Ok(Some(id)) => match self.apps.get_key_value(&id) {
                Some((key, rule)) => (Ok(Some(key.clone())), Some(rule)),
                None => (Ok(Some(id)), None),
            },
            other => (other, None),
        };

        let outcome = match self.build_path(&leaf, presented, rule, now) {
            PathVerdict::Accepted(outcome) => Some(outcome),
            PathVerdict::Genuine(rejections) => {
                for rejection in rejections {
                    record(&mut failed, rejection);
                }
                None
            }
            PathVerdict::NotGenuine(rejection) => {
                let rejection = self.explain_unknown_issuer(rejection, &leaf, presented.len());
                return Err(finish(failed, rejection));
            }
        };

        // The chain is genuine from here on: every remaining check runs.
        if let Err(rejection) = self.check_leaf_usage(&leaf.facts) {
            record(&mut failed, rejection);
        }
        if let Usage::Server(Some(name)) = &self.usage {
            if let Err(e) = leaf.cert.verify_is_valid_for_subject_name(name) {
                record(&mut failed, Rejection::from_webpki(e, CertRole::Leaf));
            }
        }
        let app = match app {
            Ok(app) => app,
            Err(rejection) => {
                record(&mut failed, rejection);
                None
            }
        };
        if let Err(rejection) = self.check_app(app.as_ref(), rule, &leaf.fingerprint) {
            record(&mut failed, rejection);
        }
        match (failed, outcome) {
            (Some(failed), _) => Err(failed),
            (None, None) => Err(Rejections::new(Rejection::InvalidChain {
                detail: "the path was refused without a reason".into(),
            })),
            (None, Some(outcome)) => {
                let matched = outcome
                    .matched
                    .or_else(|| rule.map(|rule| rule.id.shared()));
                Ok(PeerIdentity::new(IdentityFacts {
                    cert: LeafRecord::read(
                        &leaf.parts,
                        &leaf.facts,
                        app,
                        self.issuer_name(leaf.parts.issuer),
                        leaf.fingerprint,
                    ),
                    chain_len: u16::try_from(outcome.path_len).unwrap_or(u16::MAX),
                    matched,
                    crl_stale: outcome.stale,
                    valid_until: outcome.valid_until,
                }))
            }
        }
    }

    /// Path building and signatures with rustls-webpki at `now` (moved to the edge of a
    /// validity window within the clock skew, when one fails), every candidate path checked by
    /// [`Verifier::check_path`]. When webpki refuses for a reason it decides before the issuer
    /// (dates, extendedKeyUsage), the chain is proven genuine or not by
    /// [`Verifier::prove_genuine`].
    fn build_path(
        &self,
        leaf: &LeafInput<'_>,
        presented: &[CertificateDer<'static>],
        rule: Option<&AppRule>,
        now: UnixTime,
    ) -> PathVerdict {
        let candidates: Vec<CertificateDer<'_>> = presented
            .iter()
            .chain(&self.intermediates)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        let refused: RefCell<Option<Vec<Rejection>>> = RefCell::new(None);
        let accepted: RefCell<Option<PathOutcome>> = RefCell::new(None);
        let paths = Cell::new(0usize);
        let check = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
            paths.set(paths.get().saturating_add(1));
            let result = if paths.get() > self.limits.max_paths {
                Err(vec![Rejection::PathBudgetExceeded])
            } else {
                self.check_path(path, leaf, rule, now)
            };
            match result {
                Ok(outcome) => {
                    accepted.replace(Some(outcome));
                    Ok(())
                }
                Err(rejections) => {
                    refused.replace(Some(rejections));
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
            match leaf.cert.verify_for_usage(
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
                    if let Some(rejections) = refused.take() {
                        return match rejections.first() {
                            Some(Rejection::PathBudgetExceeded) | None => {
                                PathVerdict::NotGenuine(Rejection::PathBudgetExceeded)
                            }
                            Some(_) => PathVerdict::Genuine(rejections),
                        };
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
                    let role = role_of_time_error(&err, &leaf.facts);
                    let rejection = Rejection::from_webpki(err, role);
                    return self.prove_genuine(rejection, leaf, &candidates, rule, now);
                }
            }
        }
        match accepted.take() {
            Some(outcome) => PathVerdict::Accepted(outcome),
            None => PathVerdict::NotGenuine(Rejection::InvalidChain {
                detail: "a path was accepted without certgate's checks".into(),
            }),
        }
    }

    /// The app identity and allowlist, and the app's leaf fingerprints.
    fn check_app(
        &self,
        app: Option<&AppId>,
        rule: Option<&AppRule>,
        fingerprint: &[u8; 32],
    ) -> Result<(), Rejection> {
        match (app, self.apps.is_empty()) {
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
        if let Some(rule) = rule {
            if !rule.leaf_fingerprints.is_empty() && !rule.leaf_fingerprints.contains(fingerprint) {
                return Err(Rejection::PinMismatch {
                    detail: format!(
                        "the leaf is not one of app {}'s allowed certificates",
                        rule.id
                    ),
                });
            }
        }
        Ok(())
    }

    /// An `unknown_issuer` for a chain that could not reach an anchor, said so that a
    /// leaf-only client (one that sends no intermediates) learns what is missing.
    fn explain_unknown_issuer(
        &self,
        rejection: Rejection,
        leaf: &LeafInput<'_>,
        presented_intermediates: usize,
    ) -> Rejection {
        if !matches!(rejection, Rejection::UnknownIssuer { .. }) {
            return rejection;
        }
        let issuer = crate::rejection::bounded_to(&identity::render_name(leaf.parts.issuer), 96);
        let detail = if presented_intermediates == 0 {
            format!(
                "1 certificate presented; its issuer {issuer} was neither presented nor \
                 configured in trust.intermediates"
            )
        } else {
            format!(
                "{} certificates presented; none leads from the leaf's issuer {issuer} to a \
                 trust anchor",
                presented_intermediates.saturating_add(1)
            )
        };
        Rejection::UnknownIssuer { detail }
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

    /// The cRLNumber of every configured CRL, in load order, as `(field, lower-case hex)`
    /// (`None` for a CRL without one). For the audit log.
    #[cfg(feature = "audit")]
    pub(crate) fn crl_numbers(&self) -> Vec<(String, Option<String>)> {
        self.revocation
            .crls
            .iter()
            .map(|crl| (crl.origin.clone(), crl.number.clone()))
            .collect()
    }

    /// Checks one candidate path that rustls-webpki has validated (signatures, and validity
    /// and EKU at the path-building time): the validity of every certificate at `now`, the
    /// strict profile, revocation and pins. Every failing check is listed, the first first.
    fn check_path(
        &self,
        path: &VerifiedPath<'_>,
        leaf: &LeafInput<'_>,
        rule: Option<&AppRule>,
        now: UnixTime,
    ) -> Result<PathOutcome, Vec<Rejection>> {
        let anchor = path.anchor();
        let anchor_facts = self
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, anchor))
            .and_then(|i| self.anchor_facts.get(i))
            .ok_or_else(|| {
                vec![Rejection::InvalidChain {
                    detail: "the path ends in an unknown anchor".into(),
                }]
            })?;

        // Intermediates from the leaf upwards, with their facts.
        let mut inters: Vec<(&webpki::Cert<'_>, Arc<CertFacts>)> = Vec::new();
        for cert in path.intermediate_certificates() {
            let facts = self
                .intermediate_facts(cert.der().as_ref())
                .map_err(|e| vec![e])?;
            inters.push((cert, facts));
        }
        let mut failed: Vec<Rejection> = Vec::new();
        let mut fail = |result: Result<(), Rejection>| {
            if let Err(rejection) = result {
                failed.push(rejection);
            }
        };

        // Validity at `now`: webpki checked it at the path-building time, which differs from
        // `now` when this path is being proven genuine (see `prove_genuine`).
        fail(self.check_validity(&leaf.facts, CertRole::Leaf, now));
        for (_, facts) in &inters {
            fail(self.check_validity(facts, CertRole::Intermediate, now));
            fail(self.check_ca_usage(facts));
        }
        if self.strict {
            fail(profile::check_anchor_time(anchor_facts, now, self.skew));
            fail(profile::check_leaf(&leaf.facts, &self.profile));
            for (_, facts) in &inters {
                fail(profile::check_intermediate(facts, &self.profile));
            }
        }

        let skew = self.skew.as_secs();
        let mut valid_until = leaf.facts.not_after.as_secs().saturating_add(skew);
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
                serial: leaf.parts.serial,
                issuer_name: name_contents(leaf.parts.issuer),
                facts: &leaf.facts,
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
                match self.revocation.check(node, self.algorithms, now) {
                    Ok(CrlUse {
                        until,
                        stale: node_stale,
                    }) => {
                        stale |= node_stale;
                        if let Some(until) = until {
                            valid_until = valid_until.min(until.as_secs());
                        }
                    }
                    Err(rejection) => fail(Err(rejection)),
                }
            }
        }

        // Pins: any key on the path (leaf, intermediates, anchor) may match.
        let mut spkis: Vec<[u8; 32]> = Vec::with_capacity(inters.len().saturating_add(2));
        spkis.push(leaf.facts.spki_sha256);
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
                fail(Err(Rejection::PinMismatch {
                    detail: match what {
                        Some(rule) => format!("no active pin of app {} matches the path", rule.id),
                        None => "no active global pin matches the path".into(),
                    },
                }));
                continue;
            };
            if let Some(end) = pin.not_after() {
                valid_until = valid_until.min(end.as_secs());
            }
            matched = Some(pin.label());
        }

        if !failed.is_empty() {
            return Err(failed);
        }
        Ok(PathOutcome {
            path_len: inters.len().saturating_add(2),
            valid_until: UnixTime::since_unix_epoch(Duration::from_secs(valid_until)),
            stale,
            matched,
        })
    }

    /// `expired` / `not_yet_valid` for one certificate of a path at `now`, with the skew, as
    /// rustls-webpki judges them (`now` after notAfter, or before notBefore).
    fn check_validity(
        &self,
        facts: &CertFacts,
        role: CertRole,
        now: UnixTime,
    ) -> Result<(), Rejection> {
        let skew = self.skew.as_secs();
        if now.as_secs() > facts.not_after.as_secs().saturating_add(skew) {
            return Err(Rejection::Expired {
                role,
                not_after: facts.not_after,
                now,
            });
        }
        if now.as_secs() < facts.not_before.as_secs().saturating_sub(skew) {
            return Err(Rejection::NotYetValid {
                role,
                not_before: facts.not_before,
                now,
            });
        }
        Ok(())
    }

    /// An intermediate's extendedKeyUsage, when present, must allow the usage (as
    /// rustls-webpki requires on every certificate of the path).
    fn check_ca_usage(&self, facts: &CertFacts) -> Result<(), Rejection> {
        let (allowed, name) = match (&self.usage, facts.eku) {
            (_, None) => return Ok(()),
            (Usage::Client, Some((client, _))) => (client, "clientAuth"),
            (Usage::Server(_), Some((_, server))) => (server, "serverAuth"),
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::WrongKeyUsage {
                detail: format!("an intermediate's extendedKeyUsage does not include {name}"),
            })
        }
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

    /// The interned issuer name `raw` (a whole DER `Name`) of an accepted leaf.
    fn issuer_name(&self, raw: &[u8]) -> Arc<IssuerName> {
        if let Ok(names) = self.issuer_names.read() {
            if let Some(name) = names.get(raw) {
                return Arc::clone(name);
            }
        }
        let name = Arc::new(IssuerName::new(raw));
        if let Ok(mut names) = self.issuer_names.write() {
            // Bounded: past the ceiling, each identity owns its issuer name.
            if names.len() < MAX_ISSUER_NAMES {
                names.insert(raw.into(), Arc::clone(&name));
            }
        }
        name
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

    /// What a chain that rustls-webpki refused with `rejection` really is.
    ///
    /// rustls-webpki checks each certificate's dates and extendedKeyUsage before it looks for
    /// its issuer, so `expired`, `not_yet_valid` and `wrong_key_usage` from path building say
    /// nothing about whether the chain is genuine: a self-made certificate that is also expired
    /// gets `expired`. Those codes must mean "a genuine chain, but", or an operator observing
    /// one of them would let every forged certificate through. So the path is built again with
    /// any extendedKeyUsage accepted, at the edge of each validity window that fails (at most
    /// [`PROOF_ATTEMPTS`] times). Reaching a trust anchor proves the chain genuine: the code
    /// stands, and every other check runs on that path at `now` (a revoked certificate that
    /// has also expired is `expired` *and* `revoked`). Any other error is what the chain
    /// really is and is reported instead.
    fn prove_genuine(
        &self,
        rejection: Rejection,
        leaf: &LeafInput<'_>,
        candidates: &[CertificateDer<'_>],
        rule: Option<&AppRule>,
        now: UnixTime,
    ) -> PathVerdict {
        if !matches!(
            rejection,
            Rejection::Expired { .. }
                | Rejection::NotYetValid { .. }
                | Rejection::WrongKeyUsage { .. }
        ) {
            return PathVerdict::NotGenuine(rejection);
        }
        let path_failures: RefCell<Option<Vec<Rejection>>> = RefCell::new(None);
        let paths = Cell::new(0usize);
        let record_path = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
            paths.set(paths.get().saturating_add(1));
            if paths.get() > self.limits.max_paths {
                return Err(webpki::Error::MaximumPathBuildCallsExceeded);
            }
            let failures = self
                .check_path(path, leaf, rule, now)
                .err()
                .unwrap_or_default();
            path_failures.replace(Some(failures));
            Ok(())
        };
        let mut time = now;
        for _ in 0..PROOF_ATTEMPTS {
            path_failures.replace(None);
            match leaf.cert.verify_for_usage(
                self.algorithms,
                &self.anchors,
                candidates,
                time,
                AnyExtendedKeyUsage,
                None,
                Some(&record_path),
            ) {
                Ok(_) => {
                    let mut all = vec![rejection];
                    all.extend(path_failures.take().unwrap_or_default());
                    return PathVerdict::Genuine(all);
                }
                Err(webpki::Error::CertExpired { not_after, .. }) => time = not_after,
                Err(webpki::Error::CertNotValidYet { not_before, .. }) => time = not_before,
                Err(
                    webpki::Error::EmptyEkuExtension | webpki::Error::RequiredEkuNotFoundContext(_),
                ) => {
                    return PathVerdict::NotGenuine(Rejection::InvalidChain {
                        detail: "the chain could not be authenticated: an extendedKeyUsage \
                                 extension is unreadable"
                            .into(),
                    });
                }
                Err(err) => {
                    return PathVerdict::NotGenuine(Rejection::from_webpki(err, CertRole::Leaf));
                }
            }
        }
        PathVerdict::NotGenuine(Rejection::InvalidChain {
            detail: "the chain could not be authenticated: no instant found at which every \
                     certificate on it is valid"
                .into(),
        })
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

/// Adds `rejection` to the failures found so far.
fn record(failed: &mut Option<Rejections>, rejection: Rejection) {
    match failed {
        Some(all) => all.push(rejection),
        None => *failed = Some(Rejections::new(rejection)),
    }
}

/// The failures found so far, then `last`.
fn finish(failed: Option<Rejections>, last: Rejection) -> Rejections {
    let mut failed = failed;
    record(&mut failed, last);
    failed.unwrap_or_else(|| {
        Rejections::new(Rejection::InvalidChain {
            detail: "refused without a reason".into(),
        })
    })
}

/// Parses the leaf with rustls-webpki, reads its facts ([`leaf::read`]: certgate's DER
/// reader for the usual shape, x509-parser otherwise) and its app id.
fn read_leaf<'a>(
    der: &'a CertificateDer<'static>,
    fingerprint: [u8; 32],
    source: &IdentitySource,
) -> Result<(LeafInput<'a>, Result<Option<AppId>, Rejection>), Rejection> {
    let cert =
        EndEntityCert::try_from(der).map_err(|e| Rejection::from_webpki(e, CertRole::Leaf))?;
    let read = leaf::read(der.as_ref(), source).map_err(malformed)?;
    Ok((
        LeafInput {
            cert,
            parts: read.parts,
            facts: read.facts,
            fingerprint,
        },
        read.app,
    ))
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::MalformedCertificate {
        detail: detail.into(),
    }
}
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn default_algorithms() -> Option<&'static [&'static dyn SignatureVerificationAlgorithm]>
{
    #[cfg(feature = "ring")]
    {
        return Some(
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all,
        );
    }
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    {
        return Some(
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .all,
        );
    }
    #[allow(unreachable_code)]
    None
}
