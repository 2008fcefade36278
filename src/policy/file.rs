//! The policy file: serde wire types (`deny_unknown_fields`) turned into a `VerifierBuilder`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sha2::Digest as _;

use super::{PolicyError, VerifierBuilder};
use crate::verify::Limits;
use crate::verify::identity::{AppId, IdentitySource};
use crate::verify::pins::{AppRule, Pin, parse_fingerprint};
use crate::verify::revocation::{ExpiredCrl, RevocationDepth, UnknownRevocation};
use crate::verify::time::parse_rfc3339;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    /// Global pins: one must match every accepted path.
    #[serde(default)]
    pins: Vec<PinSpec>,
    trust: Trust,
    #[serde(default)]
    revocation: RevocationSection,
    #[serde(default)]
    validity: Validity,
    #[serde(default)]
    identity: Identity,
    #[serde(default)]
    profile: Profile,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    apps: Vec<App>,
    #[serde(default)]
    modes: super::modes::ModesSection,
    #[serde(default)]
    forwarded: Option<crate::forwarded::ForwardedSection>,
    /// Bot signals: `[signals]`, `[signals.quarantine]`, `[signals.cloning]`,
    /// `[signals.store]`.
    #[serde(default)]
    signals: Option<crate::signals::section::SignalsSection>,
    /// Enrollment settings (feature `enroll`; read and ignored without it: they change
    /// nothing the gate decides).
    #[cfg(feature = "enroll")]
    #[serde(default)]
    enroll: Option<crate::attest::policy::EnrollSection>,
    #[cfg(not(feature = "enroll"))]
    #[serde(default)]
    #[allow(dead_code, reason = "accepted and ignored without the enroll feature")]
    enroll: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trust {
    anchors: Vec<String>,
    #[serde(default)]
    intermediates: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationSection {
    #[serde(default)]
    crls: Vec<String>,
    #[serde(default)]
    depth: RevocationDepth,
    #[serde(default)]
    unknown: UnknownRevocation,
    #[serde(default)]
    expired_crl: ExpiredMode,
    grace_hours: Option<u64>,
    #[serde(default)]
    denylist: Vec<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ExpiredMode {
    #[default]
    Enforce,
    Grace,
    Ignore,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Validity {
    #[serde(default)]
    skew_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(default)]
    source: SourceKind,
    uri_prefix: Option<String>,
    #[serde(default = "yes")]
    required: bool,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            source: SourceKind::default(),
            uri_prefix: None,
            required: true,
        }
    }
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    #[default]
    SanUri,
    SubjectCn,
    SubjectOu,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    #[serde(default = "yes")]
    strict: bool,
    #[serde(default)]
    allow_missing_eku: bool,
    #[serde(default = "default_min_rsa_bits")]
    min_rsa_bits: usize,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            strict: true,
            allow_missing_eku: false,
            min_rsa_bits: default_min_rsa_bits(),
        }
    }
}

fn default_min_rsa_bits() -> usize {
    crate::verify::profile::DEFAULT_MIN_RSA_BITS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct App {
    id: String,
    #[serde(default)]
    pins: Vec<PinSpec>,
    #[serde(default)]
    leaf_fingerprints: Vec<String>,
    /// Each leaf of this app is one device's: cloning detection applies.
    #[serde(default)]
    per_install: bool,
    /// `{ allow = ["t13d…"], learn = true }`: the app's JA4 allowlist and learning.
    #[serde(default)]
    tls_fingerprints: Option<crate::signals::section::AppFingerprints>,
    /// `[apps.android]`: who may enroll as this app from Android (feature `enroll`).
    #[cfg(feature = "enroll")]
    #[serde(default)]
    android: Option<crate::attest::android::AndroidRule>,
    #[cfg(not(feature = "enroll"))]
    #[serde(default)]
    #[allow(dead_code, reason = "accepted and ignored without the enroll feature")]
    android: Option<serde::de::IgnoredAny>,
    /// `[apps.ios]`: who may enroll as this app from iOS (feature `enroll`).
    #[cfg(feature = "enroll")]
    #[serde(default)]
    ios: Option<crate::attest::apple::IosRule>,
    #[cfg(not(feature = "enroll"))]
    #[serde(default)]
    #[allow(dead_code, reason = "accepted and ignored without the enroll feature")]
    ios: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PinSpec {
    Plain(String),
    Full(FullPin),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullPin {
    pin: String,
    name: Option<String>,
    not_before: Option<String>,
    not_after: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where the files a policy names are read from.
#[derive(Clone, Copy)]
pub(crate) enum Files<'a> {
    /// Offline parsing: every file reference is an error.
    Offline,
    /// The file system, relative paths against this directory.
    Dir(&'a Path),
    /// A snapshot in memory (the audit log's replay): the file's bytes by the path as the
    /// policy writes it. Never touches the file system.
    #[cfg_attr(not(feature = "audit"), allow(dead_code))]
    Memory(&'a std::collections::HashMap<String, Vec<u8>>),
}

/// Reads the files a policy names, within one byte budget, and remembers what it read: the
/// path as written, the resolved path (file system only) and the SHA-256 of the bytes.
struct Loader<'a> {
    files: Files<'a>,
    budget: u64,
    read: Vec<super::NamedFile>,
}

/// Parses policy text (TOML, or JSON when `json`) into a builder, reading the files it names
/// from `files`.
pub(super) fn parse(
    text: &str,
    json: bool,
    files: Files<'_>,
) -> Result<VerifierBuilder, PolicyError> {
    let file: PolicyFile = if json {
        serde_json::from_str(text).map_err(|e| {
            PolicyError::new(
                format!("line {}, column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?
    } else {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let before = text.get(..span.start).unwrap_or("");
                    let line = before.matches('\n').count().saturating_add(1);
                    format!("line {line}")
                })
                .unwrap_or_default();
            PolicyError::new(at, e.message().to_string())
        })?
    };
    let mut b = VerifierBuilder::new();
    b.modes = file.modes.validate()?;
    // Each file has its own cap; this bounds them together (a policy can name one large CRL
    // thousands of times).
    let mut loader = Loader {
        files,
        budget: MAX_REFERENCED_BYTES,
        read: Vec::new(),
    };

    for (i, path) in file.trust.anchors.iter().enumerate() {
        let field = format!("trust.anchors[{i}]");
        b.note_file(&field, path);
        for cert in loader.read(path, &field, crate::pem::MAX_CERT_FILE_BYTES, |b| {
            crate::pem::parse_certificates(b)
        })? {
            b.push_anchor(field.clone(), cert);
        }
    }
    for (i, path) in file.trust.intermediates.iter().enumerate() {
        let field = format!("trust.intermediates[{i}]");
        b.note_file(&field, path);
        for cert in loader.read(path, &field, crate::pem::MAX_CERT_FILE_BYTES, |b| {
            crate::pem::parse_certificates(b)
        })? {
            b.push_intermediate(field.clone(), cert);
        }
    }

    let rev = file.revocation;
    for (i, path) in rev.crls.iter().enumerate() {
        let field = format!("revocation.crls[{i}]");
        b.note_file(&field, path);
        for crl in loader.read(path, &field, crate::pem::MAX_CRL_FILE_BYTES, |b| {
            crate::pem::parse_crls(b)
        })? {
            b.push_crl(field.clone(), crl);
        }
    }
    b = b
        .revocation_depth(rev.depth)
        .unknown_revocation(rev.unknown);
    b = b.expired_crl(match (rev.expired_crl, rev.grace_hours) {
        (ExpiredMode::Enforce, None) => ExpiredCrl::Enforce,
        (ExpiredMode::Ignore, None) => ExpiredCrl::Ignore,
        (ExpiredMode::Grace, Some(hours)) => {
            ExpiredCrl::Grace(Duration::from_secs(hours.saturating_mul(3600)))
        }
        (ExpiredMode::Grace, None) => {
            return Err(PolicyError::new(
                "revocation.grace_hours",
                "required when expired_crl = \"grace\"",
            ));
        }
        (_, Some(_)) => {
            return Err(PolicyError::new(
                "revocation.grace_hours",
                "only allowed with expired_crl = \"grace\"",
            ));
        }
    });
    for (i, text) in rev.denylist.iter().enumerate() {
        let field = format!("revocation.denylist[{i}]");
        let fp = parse_fingerprint(text).map_err(|e| PolicyError::new(field.clone(), e))?;
        b.push_denied(field, fp);
    }

    b = b.clock_skew(Duration::from_secs(file.validity.skew_seconds));

    let source = match (file.identity.source, file.identity.uri_prefix) {
        (SourceKind::SanUri, prefix) => {
            let prefix = prefix.unwrap_or_else(|| "app://".into());
            if prefix.is_empty() {
                return Err(PolicyError::new("identity.uri_prefix", "must not be empty"));
            }
            IdentitySource::SanUri { prefix }
        }
        (_, Some(_)) => {
            return Err(PolicyError::new(
                "identity.uri_prefix",
                "only allowed with source = \"san_uri\"",
            ));
        }
        (SourceKind::SubjectCn, None) => IdentitySource::SubjectCn,
        (SourceKind::SubjectOu, None) => IdentitySource::SubjectOu,
    };
    b = b
        .identity_source(source)
        .require_app_id(file.identity.required);
    b = b
        .strict_profile(file.profile.strict)
        .min_rsa_bits(file.profile.min_rsa_bits)
        .allow_missing_eku(file.profile.allow_missing_eku);
    b = b.limits(file.limits);
    let has_forwarded = file.forwarded.is_some();
    if let Some(section) = file.forwarded {
        b.forwarded = Some(forwarded(section, &mut loader)?);
    }
    b.signals = crate::signals::section::validate(
        file.signals,
        file.apps
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("apps[{i}]"),
                    a.id.as_str(),
                    a.per_install,
                    a.tls_fingerprints.as_ref(),
                )
            })
            .collect(),
        has_forwarded,
    )
    .map_err(|e| PolicyError::new(e.field, e.message))?;

    for (i, spec) in file.pins.iter().enumerate() {
        let field = format!("pins[{i}]");
        let pin = pin(spec, &field)?;
        b.push_pin(field, pin);
    }
    for (i, app) in file.apps.iter().enumerate() {
        let field = format!("apps[{i}]");
        let id = AppId::new(&app.id).map_err(|e| PolicyError::new(format!("{field}.id"), e))?;
        let mut rule = AppRule::new(id);
        for (j, spec) in app.pins.iter().enumerate() {
            rule = rule.pin(pin(spec, &format!("{field}.pins[{j}]"))?);
        }
        for (j, text) in app.leaf_fingerprints.iter().enumerate() {
            let fp = parse_fingerprint(text)
                .map_err(|e| PolicyError::new(format!("{field}.leaf_fingerprints[{j}]"), e))?;
            rule = rule.leaf_fingerprint(fp);
        }
        b.push_app(field, rule);
    }
    #[cfg(feature = "enroll")]
    {
        b.enroll = enroll(file.enroll, &file.apps, &mut loader, &mut b)?;
    }
    b.loaded = Some(super::Loaded {
        text: text.into(),
        json,
        files: loader.read,
    });
    Ok(b)
}

/// Reads `[enroll]` and the apps' `android`/`ios` rules into an
/// [`EnrollPolicy`](crate::attest::EnrollPolicy); `None` without an `[enroll]` section.
#[cfg(feature = "enroll")]
fn enroll(
    section: Option<crate::attest::policy::EnrollSection>,
    apps: &[App],
    loader: &mut Loader<'_>,
    b: &mut VerifierBuilder,
) -> Result<Option<crate::attest::EnrollPolicy>, PolicyError> {
    use crate::attest::android::{AndroidSettings, StatusList};
    use crate::attest::apple::AppleSettings;
    let Some(section) = section else {
        if let Some(i) = apps
            .iter()
            .position(|a| a.android.is_some() || a.ios.is_some())
        {
            return Err(PolicyError::new(
                format!("apps[{i}]"),
                "android and ios rules need an [enroll] section",
            ));
        }
        return Ok(None);
    };
    section
        .check()
        .map_err(|(field, message)| PolicyError::new(format!("enroll.{field}"), message))?;
    let no_provider = |field: &str| {
        PolicyError::new(
            field,
            "no signature algorithms: enable the `ring` or `aws-lc-rs` feature",
        )
    };
    let algorithms =
        super::default_algorithms().ok_or_else(|| no_provider("enroll.android_roots"))?;
    let android = if section.android_roots.is_empty() {
        AndroidSettings::google()
            .map_err(|e| PolicyError::new("enroll.android_roots", e.to_string()))?
    } else {
        let mut roots = Vec::new();
        for (i, path) in section.android_roots.iter().enumerate() {
            let field = format!("enroll.android_roots[{i}]");
            b.note_file(&field, path);
            roots.extend(
                loader.read(path, &field, crate::pem::MAX_CERT_FILE_BYTES, |b| {
                    crate::pem::parse_certificates(b)
                })?,
            );
        }
        AndroidSettings::with_roots(&roots, algorithms)
            .map_err(|e| PolicyError::new("enroll.android_roots", e.to_string()))?
    };
    let android = android
        .allow_non_ca_issuers(section.allow_non_ca_issuers)
        .allow_ecdsa_null_params(section.allow_ecdsa_null_params);
    let apple = match &section.apple_root {
        None => AppleSettings::new(),
        Some(path) => {
            let field = "enroll.apple_root";
            b.note_file(field, path);
            let mut certs = loader.read(path, field, crate::pem::MAX_CERT_FILE_BYTES, |b| {
                crate::pem::parse_certificates(b)
            })?;
            if certs.len() != 1 {
                return Err(PolicyError::new(
                    field,
                    format!("{path}: exactly one certificate, found {}", certs.len()),
                ));
            }
            AppleSettings::new()
                .with_root_der(certs.swap_remove(0))
                .map_err(|e| PolicyError::new(field, format!("{path}: {e}")))?
        }
    };
    let mut policy = crate::attest::EnrollPolicy::with_settings(android, apple)
        .certificate_validity(Duration::from_secs(
            section.certificate_days.saturating_mul(86_400),
        ))
        .challenge_ttl(Duration::from_secs(section.challenge_ttl_seconds));
    if let Some(path) = &section.android_status_list {
        let field = "enroll.android_status_list";
        b.note_file(field, path);
        let max = u64::try_from(crate::attest::android::MAX_STATUS_LIST_BYTES).unwrap_or(u64::MAX);
        let list = loader
            .read(path, field, max, |b| {
                StatusList::from_json(b)
                    .map(|list| vec![list])
                    .map_err(|e| e.to_string())
            })?
            .pop()
            .ok_or_else(|| PolicyError::new(field, format!("{path}: empty")))?;
        policy = policy.status_list(list);
    }
    for (i, app) in apps.iter().enumerate() {
        if let Some(rule) = &app.android {
            rule.validate()
                .map_err(|e| PolicyError::new(format!("apps[{i}].android"), e))?;
            policy = policy.android_app(&app.id, rule.clone());
        }
        if let Some(rule) = &app.ios {
            if rule.team_id.is_empty() || rule.bundle_id.is_empty() {
                return Err(PolicyError::new(
                    format!("apps[{i}].ios"),
                    "team_id and bundle_id must not be empty",
                ));
            }
            policy = policy.ios_app(&app.id, rule.clone());
        }
    }
    Ok(Some(policy))
}

/// Validates `[forwarded]` and reads its proxy identity anchors, each checked as a trust anchor.
fn forwarded(
    section: crate::forwarded::ForwardedSection,
    loader: &mut Loader<'_>,
) -> Result<crate::forwarded::ForwardedConfig, PolicyError> {
    let mut config = section
        .validate()
        .map_err(|(field, message)| PolicyError::new(format!("forwarded.{field}"), message))?;
    if let Some(identity) = config.proxy_identity_mut() {
        for (i, path) in identity.anchor_files().to_vec().iter().enumerate() {
            let field = format!("forwarded.proxy_identity.anchors[{i}]");
            for cert in loader.read(path, &field, crate::pem::MAX_CERT_FILE_BYTES, |b| {
                crate::pem::parse_certificates(b)
            })? {
                // The checks `trust.anchors` get under the strict profile, always.
                let unusable = |why: String| {
                    PolicyError::new(
                        field.clone(),
                        format!("{path}: not a usable trust anchor: {why}"),
                    )
                };
                webpki::anchor_from_trusted_cert(&cert).map_err(|e| unusable(format!("{e:?}")))?;
                let facts = crate::verify::facts::CertFacts::parse(&cert).map_err(unusable)?;
                crate::verify::profile::check_anchor_structure(
                    &facts,
                    &cert,
                    &crate::verify::profile::Settings {
                        min_rsa_bits: 2048,
                        // Without a provider the policy fails to build anyway ("no signature
                        // algorithms"); with one, its keys are the ones a proxy's may use.
                        algorithms: super::default_algorithms().unwrap_or(&[]),
                    },
                )
                .map_err(|r| unusable(r.to_string()))?;
                identity.push_anchor(cert);
            }
        }
    }
    Ok(config)
}

fn pin(spec: &PinSpec, field: &str) -> Result<Pin, PolicyError> {
    let (text, name, not_before, not_after) = match spec {
        PinSpec::Plain(text) => (text, None, None, None),
        PinSpec::Full(full) => (
            &full.pin,
            full.name.as_ref(),
            full.not_before.as_ref(),
            full.not_after.as_ref(),
        ),
    };
    let mut pin: Pin = text
        .parse()
        .map_err(|e: String| PolicyError::new(field, e))?;
    if let Some(name) = name {
        pin = pin.named(name.clone());
    }
    if let Some(at) = not_before {
        pin = pin.active_from(
            parse_rfc3339(at).map_err(|e| PolicyError::new(format!("{field}.not_before"), e))?,
        );
    }
    if let Some(at) = not_after {
        pin = pin.active_until(
            parse_rfc3339(at).map_err(|e| PolicyError::new(format!("{field}.not_after"), e))?,
        );
    }
    Ok(pin)
}

/// The most a policy's certificate and CRL files may add up to, in bytes.
pub(crate) const MAX_REFERENCED_BYTES: u64 = 1 << 30;

impl Loader<'_> {
    /// Reads the file at `path` (relative to the policy's directory), at most `max` bytes,
    /// and parses it with `parse`, naming `field` on error.
    fn read<T>(
        &mut self,
        path: &str,
        field: &str,
        max: u64,
        parse: fn(&[u8]) -> Result<Vec<T>, String>,
    ) -> Result<Vec<T>, PolicyError> {
        let (bytes, resolved) = match self.files {
            Files::Offline => {
                return Err(PolicyError::new(
                    field,
                    format!("file access is disabled: {path}"),
                ));
            }
            Files::Dir(base) => {
                let full = base.join(path);
                // Sized before reading (the reader reports a missing file itself); a file that
                // grows in between is still held to its own cap.
                if let Ok(metadata) = std::fs::metadata(&full) {
                    self.charge(metadata.len(), path, field)?;
                }
                let bytes = crate::pem::read_bounded(&full, max).map_err(|e| {
                    // Name the path as written in the policy, which is what the operator will
                    // look for.
                    PolicyError::new(field, e.replace(&full.display().to_string(), path))
                })?;
                (bytes, Some(full))
            }
            Files::Memory(map) => {
                let bytes = map.get(path).ok_or_else(|| {
                    PolicyError::new(field, format!("no such file in the snapshot: {path}"))
                })?;
                let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                self.charge(len, path, field)?;
                if len > max {
                    return Err(PolicyError::new(
                        field,
                        format!("{path} is larger than {max} bytes"),
                    ));
                }
                (bytes.clone(), None)
            }
        };
        let parsed = parse(&bytes).map_err(|e| PolicyError::new(field, format!("{path}: {e}")))?;
        self.read.push(super::NamedFile {
            name: path.to_string(),
            path: resolved,
            sha256: sha2::Sha256::digest(&bytes).into(),
        });
        Ok(parsed)
    }

    fn charge(&mut self, len: u64, path: &str, field: &str) -> Result<(), PolicyError> {
        self.budget = self.budget.checked_sub(len).ok_or_else(|| {
            PolicyError::new(
                field,
                format!(
                    "{path}: the files this policy names exceed {MAX_REFERENCED_BYTES} bytes together"
                ),
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_a_policy_names_share_one_byte_budget() {
        let dir = std::env::temp_dir().join(format!("certgate-budget-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.pem"), b"0123456789").unwrap();
        let parse: fn(&[u8]) -> Result<Vec<u8>, String> = |b| Ok(b.to_vec());
        let mut loader = Loader {
            files: Files::Dir(&dir),
            budget: 25,
            read: Vec::new(),
        };
        for _ in 0..2 {
            assert!(loader.read("a.pem", "trust.anchors[0]", 100, parse).is_ok());
        }
        assert_eq!(loader.budget, 5);
        let err = loader
            .read("a.pem", "trust.anchors[2]", 100, parse)
            .unwrap_err();
        assert_eq!(err.field(), "trust.anchors[2]");
        assert!(err.message().contains("exceed"), "{err}");
        // What was read is remembered, with its hash.
        assert_eq!(loader.read.len(), 2);
        assert_eq!(loader.read[0].name, "a.pem");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
