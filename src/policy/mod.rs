//! Policies: a file (TOML or JSON) or code, validated once into an immutable `Verifier`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, SignatureVerificationAlgorithm,
};

mod error;
mod file;
mod modes;
pub(crate) mod proxy;

pub use self::error::PolicyError;
pub use self::modes::{Mode, ModeRules};
pub(crate) use self::modes::{known_code, unobservable_message};
use crate::verify::facts::CertFacts;
use crate::verify::identity::IdentitySource;
use crate::verify::pins::{AppRule, Pin};
use crate::verify::profile;
use crate::verify::revocation::{
    ExpiredCrl, LoadedCrl, Revocation, RevocationDepth, UnknownRevocation,
};
use crate::verify::{Limits, Usage, Verifier};

/// Longest clock-skew tolerance accepted (one day): more is a broken clock, not skew.
const MAX_SKEW: Duration = Duration::from_secs(24 * 3600);
/// Longest grace past a CRL's nextUpdate (90 days): the point of a grace window is to survive
/// a late CRL publication, not to stop revoking.
const MAX_CRL_GRACE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Builds a [`Verifier`] in code. Every setting has a fail-closed default: strict profile,
/// client-auth usage, an app id required in the leaf, unknown revocation status denied and
/// expired CRLs enforced once CRLs are configured.
///
/// ```
/// # fn main() -> Result<(), certgate::PolicyError> {
/// # let root_der = rustls_pki_types::CertificateDer::from(Vec::new());
/// use certgate::{AppId, AppRule, VerifierBuilder};
///
/// let built = VerifierBuilder::new()
///     .trust_anchor(root_der)
///     .allow_app(AppRule::new(AppId::new("com.example.shop").unwrap()))
///     .build();
/// // An empty "certificate" is refused at build time, naming the field:
/// assert_eq!(built.unwrap_err().field(), "trust.anchors[0]");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct VerifierBuilder {
    anchors: Vec<(String, CertificateDer<'static>)>,
    intermediates: Vec<(String, CertificateDer<'static>)>,
    crls: Vec<(String, CertificateRevocationListDer<'static>)>,
    depth: RevocationDepth,
    unknown: UnknownRevocation,
    expired: ExpiredCrl,
    denylist: Vec<(String, [u8; 32])>,
    identity: IdentitySource,
    require_app_id: bool,
    apps: Vec<(String, AppRule)>,
    pins: Vec<(String, Pin)>,
    strict: bool,
    min_rsa_bits: usize,
    allow_missing_eku: bool,
    skew: Duration,
    limits: Limits,
    usage: Usage,
    algorithms: Option<&'static [&'static dyn SignatureVerificationAlgorithm]>,
    /// The `[modes]` of a policy file; carried to the [`Policy`], never read by the verifier.
    modes: ModeRules,
    /// The policy file this builder was read from, named by every error `build` returns.
    source: Option<PathBuf>,
    /// Field → the certificate or CRL file it was read from (as written in the policy).
    files: HashMap<String, String>,
    /// The `[forwarded]` section of a policy file; carried to the [`Policy`].
    forwarded: Option<crate::forwarded::ForwardedConfig>,
    /// The `[signals]` section and the apps' signal fields; carried to the [`Policy`].
    pub(crate) signals: Option<crate::signals::SignalsConfig>,
    /// The `[enroll]` section and the apps' enrollment rules; carried to the [`Policy`].
    #[cfg(feature = "enroll")]
    enroll: Option<crate::attest::EnrollPolicy>,
    /// The policy text and the files it read, when parsed from text.
    loaded: Option<Loaded>,
}

/// A file a policy named and read: the path as the policy writes it, where it was read from
/// (none for a snapshot in memory) and the SHA-256 of the bytes read.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "audit"), allow(dead_code))]
pub(crate) struct NamedFile {
    pub(crate) name: String,
    pub(crate) path: Option<PathBuf>,
    pub(crate) sha256: [u8; 32],
}

/// What a policy was parsed from: its text and the files it read, in reading order.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "audit"), allow(dead_code))]
pub(crate) struct Loaded {
    pub(crate) text: Arc<str>,
    pub(crate) json: bool,
    pub(crate) files: Vec<NamedFile>,
}

/// A policy's text and files, with the policy digest over them (see [`Policy::digest`]).
#[derive(Debug)]
#[cfg_attr(not(feature = "audit"), allow(dead_code))]
pub(crate) struct PolicyOrigin {
    pub(crate) loaded: Loaded,
    pub(crate) digest: [u8; 32],
}

/// The policy digest: SHA-256 over a version tag, the format (TOML or JSON), the policy text
/// and, for every file it read in reading order, the path as written and the SHA-256 of its
/// bytes; each variable-length part prefixed by its length (8 bytes, big endian).
pub(crate) fn policy_digest<'a>(
    text: &str,
    json: bool,
    files: impl IntoIterator<Item = (&'a str, &'a [u8; 32])>,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(bytes);
    };
    part(b"certgate-policy-v1");
    part(if json { b"json" } else { b"toml" });
    part(text.as_bytes());
    for (name, sha256) in files {
        part(name.as_bytes());
        part(sha256);
    }
    hasher.finalize().into()
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl VerifierBuilder {
    /// A builder with the fail-closed defaults.
    pub fn new() -> Self {
        Self {
            anchors: Vec::new(),
            intermediates: Vec::new(),
            crls: Vec::new(),
            depth: RevocationDepth::default(),
            unknown: UnknownRevocation::default(),
            expired: ExpiredCrl::default(),
            denylist: Vec::new(),
            identity: IdentitySource::default(),
            require_app_id: true,
            apps: Vec::new(),
            pins: Vec::new(),
            strict: true,
            min_rsa_bits: profile::DEFAULT_MIN_RSA_BITS,
            allow_missing_eku: false,
            skew: Duration::ZERO,
            limits: Limits::default(),
            usage: Usage::Client,
            algorithms: None,
            modes: ModeRules::default(),
            source: None,
            files: HashMap::new(),
            forwarded: None,
            signals: None,
            #[cfg(feature = "enroll")]
            enroll: None,
            loaded: None,
        }
    }

    /// Trusts `cert` as a root. At least one is required.
    pub fn trust_anchor(mut self, cert: CertificateDer<'static>) -> Self {
        let field = format!("trust.anchors[{}]", self.anchors.len());
        self.anchors.push((field, cert));
        self
    }

    /// Adds an intermediate CA that paths may use even when the peer does not present it.
    pub fn intermediate(mut self, cert: CertificateDer<'static>) -> Self {
        let field = format!("trust.intermediates[{}]", self.intermediates.len());
        self.intermediates.push((field, cert));
        self
    }

    /// Adds a CRL (DER). Once any CRL is configured, revocation is checked.
    pub fn crl(mut self, crl: CertificateRevocationListDer<'static>) -> Self {
        let field = format!("revocation.crls[{}]", self.crls.len());
        self.crls.push((field, crl));
        self
    }

    /// Which certificates must have a revocation status (default: the whole chain).
    pub fn revocation_depth(mut self, depth: RevocationDepth) -> Self {
        self.depth = depth;
        self
    }

    /// What to do when no CRL covers a certificate (default: deny).
    pub fn unknown_revocation(mut self, unknown: UnknownRevocation) -> Self {
        self.unknown = unknown;
        self
    }

    /// What to do with a CRL past its nextUpdate (default: enforce).
    pub fn expired_crl(mut self, expired: ExpiredCrl) -> Self {
        self.expired = expired;
        self
    }

    /// Refuses the leaf whose DER has this SHA-256, whatever else holds.
    pub fn deny_fingerprint(mut self, sha256: [u8; 32]) -> Self {
        let field = format!("revocation.denylist[{}]", self.denylist.len());
        self.denylist.push((field, sha256));
        self
    }

    /// Where the app id is read from (default: SAN URI `app://<app-id>`).
    pub fn identity_source(mut self, source: IdentitySource) -> Self {
        self.identity = source;
        self
    }

    /// Whether a leaf without an app id is refused (default: yes).
    pub fn require_app_id(mut self, required: bool) -> Self {
        self.require_app_id = required;
        self
    }

    /// Allows an app. Once any app is allowed, every other app is refused.
    pub fn allow_app(mut self, rule: AppRule) -> Self {
        let field = format!("apps[{}]", self.apps.len());
        self.apps.push((field, rule));
        self
    }

    /// Adds a global pin: when any are configured, one must match every accepted path.
    pub fn pin(mut self, pin: Pin) -> Self {
        let field = format!("pins[{}]", self.pins.len());
        self.pins.push((field, pin));
        self
    }

    /// Whether any global pin is configured. Adding one to a non-empty set widens it (any one
    /// must match), which a tool merging its own flags into a policy should refuse.
    pub fn has_pins(&self) -> bool {
        !self.pins.is_empty()
    }

    /// Whether `id` is already allowed (by [`VerifierBuilder::allow_app`] or a policy file).
    pub fn allows_app(&self, id: &crate::AppId) -> bool {
        self.apps.iter().any(|(_, rule)| rule.id == *id)
    }

    /// Turns the strict RFC 5280 profile on (the default) or off.
    pub fn strict_profile(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Smallest RSA modulus, in bits, on any certificate of a path (default 2048, at most
    /// 8192). A smaller anchor or configured intermediate fails the build; a smaller
    /// presented certificate is refused with `profile_violation` (`rsa_key_too_small`).
    pub fn min_rsa_bits(mut self, bits: usize) -> Self {
        self.min_rsa_bits = bits;
        self
    }

    /// Whether the policy lists any app (and so refuses every other one).
    pub fn has_apps(&self) -> bool {
        !self.apps.is_empty()
    }

    /// Accepts a leaf without any extendedKeyUsage (default: refused).
    pub fn allow_missing_eku(mut self, allow: bool) -> Self {
        self.allow_missing_eku = allow;
        self
    }

    /// Tolerates this much clock skew around every validity window (default 0, at most a day).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Replaces the input limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the leaf must be good for (default: client authentication).
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Uses these signature algorithms (for example a rustls `CryptoProvider`'s
    /// `signature_verification_algorithms.all`). Defaults to the enabled provider feature.
    pub fn signature_algorithms(
        mut self,
        algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    ) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// Uses the signature algorithms of a rustls crypto provider.
    pub fn crypto_provider(self, provider: &rustls::crypto::CryptoProvider) -> Self {
        self.signature_algorithms(provider.signature_verification_algorithms.all)
    }

    /// Validates everything and builds the [`Verifier`].
    ///
    /// # Errors
    ///
    /// Returns a [`PolicyError`] naming the first field that is wrong: an unparsable or
    /// non-conforming anchor, intermediate or CRL, a CRL whose signature does not verify under
    /// a configured issuer, duplicate apps, empty pin windows, out-of-range settings.
    pub fn build(self) -> Result<Verifier, PolicyError> {
        let (source, files) = (self.source.clone(), self.files.clone());
        self.build_unnamed().map_err(|e| {
            let e = match files.get(e.field()) {
                Some(file) => e.about_file(file),
                None => e,
            };
            match &source {
                Some(path) => e.in_file(path),
                None => e,
            }
        })
    }

    fn build_unnamed(self) -> Result<Verifier, PolicyError> {
        let algorithms = match self.algorithms.or_else(default_algorithms) {
            Some(algs) => algs,
            None => {
                return Err(PolicyError::new(
                    "crypto",
                    "no signature algorithms: enable the `ring` or `aws-lc-rs` feature, or pass a crypto provider",
                ));
            }
        };
        if self.anchors.is_empty() {
            return Err(PolicyError::new(
                "trust.anchors",
                "at least one trust anchor is required",
            ));
        }
        if !profile::RSA_BITS_RANGE.contains(&self.min_rsa_bits) {
            return Err(PolicyError::new(
                "profile.min_rsa_bits",
                format!(
                    "must be between {} and {}, is {}",
                    profile::RSA_BITS_RANGE.start(),
                    profile::RSA_BITS_RANGE.end(),
                    self.min_rsa_bits
                ),
            ));
        }
        let settings = profile::Settings {
            min_rsa_bits: self.min_rsa_bits,
            algorithms,
        };
        let mut anchors = Vec::with_capacity(self.anchors.len());
        let mut anchor_facts = Vec::with_capacity(self.anchors.len());
        for (field, der) in &self.anchors {
            let anchor = webpki::anchor_from_trusted_cert(der)
                .map_err(|e| {
                    PolicyError::new(field.clone(), format!("not a usable trust anchor: {e:?}"))
                })?
                .to_owned();
            let facts = CertFacts::parse(der).map_err(|e| {
                PolicyError::new(field.clone(), format!("malformed certificate: {e}"))
            })?;
            if self.strict {
                profile::check_anchor_structure(&facts, der, &settings)
                    .map_err(|r| PolicyError::new(field.clone(), r.to_string()))?;
            }
            anchors.push(anchor);
            anchor_facts.push(facts);
        }
        let mut intermediates = Vec::with_capacity(self.intermediates.len());
        let mut intermediate_facts = Vec::with_capacity(self.intermediates.len());
        for (field, der) in &self.intermediates {
            webpki::EndEntityCert::try_from(der).map_err(|e| {
                PolicyError::new(field.clone(), format!("malformed certificate: {e:?}"))
            })?;
            let facts = CertFacts::parse(der).map_err(|e| {
                PolicyError::new(field.clone(), format!("malformed certificate: {e}"))
            })?;
            if !facts.is_ca() {
                return Err(PolicyError::new(
                    field.clone(),
                    "not a CA certificate (basicConstraints cA=TRUE missing)",
                ));
            }
            if self.strict {
                profile::check_intermediate(&facts, &settings)
                    .map_err(|r| PolicyError::new(field.clone(), r.to_string()))?;
            }
            intermediates.push(der.clone());
            intermediate_facts.push(std::sync::Arc::new(facts));
        }

        let mut crls = Vec::with_capacity(self.crls.len());
        for (field, der) in &self.crls {
            let crl = LoadedCrl::parse(field.clone(), der, self.strict)
                .map_err(|e| PolicyError::new(field.clone(), e))?;
            // Structural checks against issuers known now; issuers only ever presented by peers
            // are checked (once per key, memoized) when first seen on a validated path.
            let known: Vec<&CertFacts> = anchor_facts
                .iter()
                .chain(intermediate_facts.iter().map(|f| &**f))
                .filter(|f| f.subject_raw == crl.issuer())
                .collect();
            if !known.is_empty() {
                let signer = known
                    .iter()
                    .find(|f| crl.verify_signature(&f.spki, algorithms))
                    .ok_or_else(|| PolicyError::new(field.clone(), "the CRL's signature does not verify under any configured certificate with its issuer's name"))?;
                if signer.crl_sign == Some(false) {
                    return Err(PolicyError::new(
                        field.clone(),
                        "the CRL's issuer has a keyUsage without cRLSign",
                    ));
                }
            }
            crls.push(crl);
        }
        if let ExpiredCrl::Grace(grace) = self.expired {
            if grace > MAX_CRL_GRACE {
                return Err(PolicyError::new(
                    "revocation.grace_hours",
                    format!("at most {} hours", MAX_CRL_GRACE.as_secs() / 3600),
                ));
            }
        }
        if self.skew > MAX_SKEW {
            return Err(PolicyError::new(
                "validity.skew_seconds",
                format!("at most {} seconds", MAX_SKEW.as_secs()),
            ));
        }
        check_limits(&self.limits)?;

        let mut warnings = Vec::new();
        if crls.is_empty() {
            warnings.push(
                "revocation.crls: no CRLs are configured, so revocation is not checked; only the denylist applies"
                    .to_string(),
            );
        }
        let mut apps = HashMap::with_capacity(self.apps.len());
        for (field, rule) in self.apps {
            for (i, pin) in rule.pins.iter().enumerate() {
                if pin.window_is_empty() {
                    return Err(PolicyError::new(
                        format!("{field}.pins[{i}]"),
                        "not_before is after not_after",
                    ));
                }
            }
            if rule.pins.len() == 1 {
                warnings.push(format!("{field}: app {} has a single pin and no backup pin; a key rotation will lock it out", rule.id));
            }
            if apps.contains_key(&rule.id) {
                return Err(PolicyError::new(
                    format!("{field}.id"),
                    format!("app {} is listed twice", rule.id),
                ));
            }
            apps.insert(rule.id.clone(), rule);
        }
        for (field, pin) in &self.pins {
            if pin.window_is_empty() {
                return Err(PolicyError::new(
                    field.clone(),
                    "not_before is after not_after",
                ));
            }
        }
        if self.pins.len() == 1 {
            warnings.push("pins: a single global pin and no backup pin; a key rotation will lock every app out".into());
        }
        let denylist: HashSet<[u8; 32]> = self.denylist.iter().map(|(_, fp)| *fp).collect();

        // Every instant at which a policy-level input flips, for cache expiry (see
        // `Verifier::verify_timed`).
        let skew = self.skew.as_secs();
        let mut boundaries: Vec<u64> = Vec::new();
        for facts in anchor_facts
            .iter()
            .chain(intermediate_facts.iter().map(|f| &**f))
        {
            boundaries.push(facts.not_before.as_secs().saturating_sub(skew));
            boundaries.push(facts.not_after.as_secs().saturating_add(skew));
        }
        for crl in &crls {
            boundaries.push(crl.next_update.as_secs());
            if let ExpiredCrl::Grace(grace) = self.expired {
                boundaries.push(crl.next_update.as_secs().saturating_add(grace.as_secs()));
            }
        }
        let all_pins = self
            .pins
            .iter()
            .map(|(_, p)| p)
            .chain(apps.values().flat_map(|rule| rule.pins.iter()));
        for pin in all_pins {
            boundaries.extend(pin.window().into_iter().flatten().map(|t| t.as_secs()));
        }
        boundaries.sort_unstable();
        boundaries.dedup();

        Ok(Verifier {
            algorithms,
            anchors,
            anchor_facts,
            intermediates,
            intermediate_facts,
            boundaries,
            presented_facts: Default::default(),
            issuer_names: Default::default(),
            revocation: Revocation {
                crls,
                depth: self.depth,
                unknown: self.unknown,
                expired: self.expired,
            },
            denylist,
            identity: self.identity,
            require_app_id: self.require_app_id,
            apps,
            pins: self.pins.into_iter().map(|(_, p)| p).collect(),
            strict: self.strict,
            profile: settings,
            allow_missing_eku: self.allow_missing_eku,
            skew: self.skew,
            limits: self.limits,
            usage: self.usage,
            warnings,
        })
    }

    /// Records that `field`'s certificates or CRLs came from `file` (as the policy writes it),
    /// so that errors about them name it.
    fn note_file(&mut self, field: &str, file: &str) {
        self.files.insert(field.to_string(), file.to_string());
    }

    /// Adds an input read from a policy file, naming the field it came from.
    fn push_anchor(&mut self, field: String, cert: CertificateDer<'static>) {
        self.anchors.push((field, cert));
    }

    fn push_intermediate(&mut self, field: String, cert: CertificateDer<'static>) {
        self.intermediates.push((field, cert));
    }

    fn push_crl(&mut self, field: String, crl: CertificateRevocationListDer<'static>) {
        self.crls.push((field, crl));
    }

    fn push_app(&mut self, field: String, rule: AppRule) {
        self.apps.push((field, rule));
    }

    fn push_pin(&mut self, field: String, pin: Pin) {
        self.pins.push((field, pin));
    }

    fn push_denied(&mut self, field: String, sha256: [u8; 32]) {
        self.denylist.push((field, sha256));
    }
}

fn check_limits(limits: &Limits) -> Result<(), PolicyError> {
    let checks = [
        ("limits.max_chain_len", limits.max_chain_len, 1, 16),
        ("limits.max_cert_bytes", limits.max_cert_bytes, 256, 1 << 20),
        (
            "limits.max_chain_bytes",
            limits.max_chain_bytes,
            256,
            4 << 20,
        ),
        ("limits.max_paths", limits.max_paths, 1, 64),
    ];
    for (field, value, min, max) in checks {
        if !(min..=max).contains(&value) {
            return Err(PolicyError::new(
                field,
                format!("must be between {min} and {max}, is {value}"),
            ));
        }
    }
    Ok(())
}

pub(crate) use crate::verify::default_algorithms;

/// Compiles `forwarded.proxy_identity` (if any) with `main`'s signature algorithms.
fn proxy_trust(
    forwarded: Option<&crate::forwarded::ForwardedConfig>,
    main: &Verifier,
) -> Result<Option<Arc<crate::policy::proxy::ProxyTrust>>, PolicyError> {
    forwarded
        .and_then(|f| f.proxy_identity_rule())
        .map(|identity| crate::policy::proxy::ProxyTrust::build(identity, main))
        .transpose()
}

/// A policy loaded from a file: the validated [`Verifier`] and where it came from.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let err = certgate::Policy::from_toml_str("[trust]\nanchors = [\"missing.pem\"]\n", std::path::Path::new("."))
///     .unwrap_err();
/// assert_eq!(err.field(), "trust.anchors[0]");
/// assert!(err.message().starts_with("no such file"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Policy {
    verifier: Arc<Verifier>,
    source: Option<PathBuf>,
    /// The `[modes]` section: gate settings, kept beside the verifier (which never reads them).
    modes: Arc<ModeRules>,
    forwarded: Option<Arc<crate::forwarded::ForwardedConfig>>,
    /// `forwarded.proxy_identity`, compiled (its own verifier).
    proxy: Option<Arc<crate::policy::proxy::ProxyTrust>>,
    /// Bot signal settings (`[signals]`, the apps' `per_install` and `tls_fingerprints`).
    signals: Option<Arc<crate::signals::SignalsConfig>>,
    /// The files the policy file names, `(field, path)`, sorted by field.
    files: Arc<[(String, PathBuf)]>,
    /// Enrollment settings (`[enroll]` and the apps' `android`/`ios` rules).
    #[cfg(feature = "enroll")]
    enroll: Option<Arc<crate::attest::EnrollPolicy>>,
    /// The text and files a loaded policy came from, and its digest.
    origin: Option<Arc<PolicyOrigin>>,
}

impl Policy {
    /// Loads, validates and builds the policy at `path` (TOML, or JSON when the file name ends
    /// in `.json`). Relative paths inside are relative to the policy file.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the file and the field.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let mut policy =
            Self::from_parsed(Self::builder_from_file(path)?).map_err(|e| e.in_file(path))?;
        policy.source = Some(path.to_path_buf());
        Ok(policy)
    }

    /// Builds `builder` into a policy, keeping what the builder read from a policy file beside
    /// the verifier (its `[modes]`). `Policy::from_verifier(builder.build()?)` would drop them.
    ///
    /// # Errors
    ///
    /// The [`PolicyError`] of [`VerifierBuilder::build`].
    pub fn from_builder(mut builder: VerifierBuilder) -> Result<Self, PolicyError> {
        // The caller may have changed the builder since it was read: its text no longer
        // describes it, so the policy gets no digest.
        builder.loaded = None;
        Self::from_parsed(builder)
    }

    /// [`Policy::from_builder`] for a builder straight from [`file::parse`]: the text and
    /// files it was read from are kept, with their digest.
    fn from_parsed(mut builder: VerifierBuilder) -> Result<Self, PolicyError> {
        let origin = builder.loaded.take().map(|loaded| {
            let digest = policy_digest(
                &loaded.text,
                loaded.json,
                loaded.files.iter().map(|f| (f.name.as_str(), &f.sha256)),
            );
            Arc::new(PolicyOrigin { loaded, digest })
        });
        let modes = Arc::new(std::mem::take(&mut builder.modes));
        let forwarded = builder.forwarded.take().map(Arc::new);
        let signals = builder.signals.take().map(Arc::new);
        #[cfg(feature = "enroll")]
        let enroll = builder.enroll.take().map(Arc::new);
        let source = builder.source.clone();
        let base = source
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        let mut files: Vec<(String, PathBuf)> = builder
            .files
            .iter()
            .map(|(field, file)| (field.clone(), base.join(file)))
            .collect();
        files.sort();
        let verifier = builder.build()?;
        let proxy = proxy_trust(forwarded.as_deref(), &verifier)?;
        Ok(Self {
            verifier: Arc::new(verifier),
            source,
            modes,
            forwarded,
            proxy,
            signals,
            files: files.into(),
            #[cfg(feature = "enroll")]
            enroll,
            origin,
        })
    }

    /// Reads the policy at `path` into a [`VerifierBuilder`], so code (or the CLI) can add to
    /// it before building.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the file and the field.
    pub fn builder_from_file(path: impl AsRef<Path>) -> Result<VerifierBuilder, PolicyError> {
        let path = path.as_ref();
        let text = crate::pem::read_bounded(path, 1 << 20)
            .map_err(|e| PolicyError::new("", e).in_file(path))?;
        let text =
            String::from_utf8(text).map_err(|_| PolicyError::new("", "not UTF-8").in_file(path))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut builder =
            file::parse(&text, json, file::Files::Dir(base)).map_err(|e| e.in_file(path))?;
        builder.source = Some(path.to_path_buf());
        Ok(builder)
    }

    /// Builds a policy from TOML text, resolving relative paths against `base`.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the field.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, PolicyError> {
        Self::from_parsed(file::parse(text, false, file::Files::Dir(base))?)
    }

    /// Builds a policy from its text and the bytes of the files it names (by the path as the
    /// policy writes it), touching no file system: the audit log's replay of a snapshot.
    #[cfg(feature = "audit")]
    pub(crate) fn from_snapshot(
        text: &str,
        json: bool,
        files: &HashMap<String, Vec<u8>>,
    ) -> Result<Self, PolicyError> {
        Self::from_parsed(file::parse(text, json, file::Files::Memory(files))?)
    }

    /// Parses and validates policy text (TOML, or JSON when `json`) without touching the file
    /// system: every file reference is an error. For linting and fuzzing policy files.
    ///
    /// ```
    /// let err = certgate::Policy::parse_offline("[trust]\nanchors = []\n[limits]\nmax_chain_len = 0\n", false)
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "limits.max_chain_len");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the field.
    pub fn parse_offline(text: &str, json: bool) -> Result<VerifierBuilder, PolicyError> {
        let builder = file::parse(text, json, file::Files::Offline)?;
        check_limits(&builder.limits)?;
        Ok(builder)
    }

    /// Wraps a verifier built in code.
    pub fn from_verifier(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            source: None,
            modes: Arc::default(),
            forwarded: None,
            proxy: None,
            signals: None,
            files: Arc::new([]),
            #[cfg(feature = "enroll")]
            enroll: None,
            origin: None,
        }
    }

    /// The policy digest: SHA-256 over the policy text and every file it named, as they were
    /// read when the policy was loaded (computed once, at load). `None` for a policy built in
    /// code or from a [`VerifierBuilder`] (its text no longer describes it). The audit log
    /// records it with every verdict.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.origin.as_ref().map(|o| o.digest)
    }

    /// The text and files the policy was loaded from, with the digest.
    #[cfg(feature = "audit")]
    pub(crate) fn origin(&self) -> Option<&Arc<PolicyOrigin>> {
        self.origin.as_ref()
    }

    /// The files the policy file names (anchors, intermediates, CRLs), as `(field, path)`
    /// pairs sorted by field (`trust.anchors[0]`, `revocation.crls[1]`, …), paths resolved
    /// against the policy file's directory. Empty for a policy built in code.
    pub fn files(&self) -> &[(String, PathBuf)] {
        &self.files
    }

    /// The same policy reading client certificates forwarded by trusted proxies (what a
    /// `[forwarded]` section sets in a file).
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] when the configuration's
    /// [`ProxyIdentity`](crate::forwarded::ProxyIdentity) has no anchor or no allowed name, or
    /// an anchor that is not a usable trust anchor (field `forwarded.proxy_identity.…`).
    pub fn with_forwarded(
        mut self,
        config: crate::forwarded::ForwardedConfig,
    ) -> Result<Self, PolicyError> {
        self.proxy = proxy_trust(Some(&config), &self.verifier)?;
        self.forwarded = Some(Arc::new(config));
        Ok(self)
    }

    /// The same policy with these bot signal settings (what `[signals]` and the apps'
    /// `per_install` / `tls_fingerprints` set in a file). Call it after
    /// [`Policy::with_forwarded`] when it reads a fingerprint header.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] (field `signals.fingerprint_header`) when the settings read a
    /// fingerprint header and the policy has no `[forwarded]` section, or (field
    /// `apps`) when an app is per-install without a cloning rule.
    pub fn with_signals(
        mut self,
        config: crate::signals::SignalsConfig,
    ) -> Result<Self, PolicyError> {
        if config.fingerprint_header.is_some() && self.forwarded.is_none() {
            return Err(PolicyError::new(
                "signals.fingerprint_header",
                "needs a [forwarded] section (the header is believed only from its trusted proxies)",
            ));
        }
        if config.cloning.is_none() {
            if let Some((id, _)) = config.apps.iter().find(|(_, a)| a.per_install) {
                return Err(PolicyError::new(
                    "apps",
                    format!("{} is per_install: needs a cloning rule", id.as_str()),
                ));
            }
        }
        self.signals = Some(Arc::new(config));
        Ok(self)
    }

    /// The bot signal settings, if the policy turns any signal on.
    pub fn signals(&self) -> Option<&crate::signals::SignalsConfig> {
        self.signals.as_deref()
    }

    /// [`Policy::signals`], shared.
    pub(crate) fn signals_shared(&self) -> Option<&Arc<crate::signals::SignalsConfig>> {
        self.signals.as_ref()
    }

    /// The `[forwarded]` section: how trusted proxies forward client certificates, if the
    /// policy accepts forwarded certificates at all.
    pub fn forwarded(&self) -> Option<&crate::forwarded::ForwardedConfig> {
        self.forwarded.as_deref()
    }

    /// The enrollment settings (`[enroll]` and the apps' `[apps.android]` / `[apps.ios]`), if
    /// the policy lets installs enroll at all.
    #[cfg(feature = "enroll")]
    #[cfg_attr(docsrs, doc(cfg(feature = "enroll")))]
    pub fn enrollment(&self) -> Option<&crate::attest::EnrollPolicy> {
        self.enroll.as_deref()
    }

    /// The same policy with these enrollment settings (what `[enroll]` sets in a file; for
    /// policies built in code, and tests with their own attestation roots).
    #[cfg(feature = "enroll")]
    #[cfg_attr(docsrs, doc(cfg(feature = "enroll")))]
    #[must_use]
    pub fn with_enrollment(mut self, enroll: crate::attest::EnrollPolicy) -> Self {
        self.enroll = Some(Arc::new(enroll));
        self
    }

    /// The compiled proxy identity rule, when `[forwarded]` has one.
    pub(crate) fn proxy_trust(&self) -> Option<&crate::policy::proxy::ProxyTrust> {
        self.proxy.as_deref()
    }

    /// [`Policy::forwarded`], shared.
    pub(crate) fn forwarded_shared(&self) -> Option<&Arc<crate::forwarded::ForwardedConfig>> {
        self.forwarded.as_ref()
    }

    /// The enforce/observe modes the policy file asks for (its `[modes]` section). A
    /// [`Gate`](crate::Gate) applies them, under any the gate's builder sets.
    pub fn modes(&self) -> &ModeRules {
        &self.modes
    }

    /// The verifier this policy built.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The file the policy came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Warnings found while building (for example an app with a single pin).
    pub fn warnings(&self) -> &[String] {
        self.verifier.warnings()
    }
}
