//! The policy's enrollment settings: the `[enroll]` section and each app's `[apps.android]`
//! and `[apps.ios]` rules, carried by [`Policy`](crate::Policy) like `[forwarded]` is, so a
//! reload (or the watcher) updates them with the rest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::android::{AndroidRule, AndroidSettings, StatusList};
use super::apple::{AppleSettings, IosRule};

/// Default lifetime of an enrolled install's certificate (`certificate_days = 7`).
pub const DEFAULT_CERTIFICATE_DAYS: u64 = 7;
/// Default lifetime of a challenge (`challenge_ttl_seconds = 300`).
pub const DEFAULT_CHALLENGE_TTL_SECONDS: u64 = 300;
/// Longest certificate lifetime enrollment issues (`certificate_days`), in days.
pub const MAX_CERTIFICATE_DAYS: u64 = 90;
/// Longest challenge lifetime (`challenge_ttl_seconds`), in seconds.
pub const MAX_CHALLENGE_TTL_SECONDS: u64 = 3600;

/// What enrollment accepts and issues: trust for each platform's attestations, the Android
/// attestation status list, lifetimes, and the rule of each app that may enroll.
///
/// Loaded from a policy file's `[enroll]` section and the apps' `[apps.android]` /
/// `[apps.ios]` tables, or built in code:
///
/// ```
/// use certgate::enroll::EnrollPolicy;
/// use certgate::enroll::android::AndroidRule;
/// use certgate::enroll::apple::{Environment, IosRule};
///
/// let policy = EnrollPolicy::new()?
///     .android_app(
///         "com.example.shop",
///         AndroidRule::new(["com.example.shop"], ["ab".repeat(32)]),
///     )
///     .ios_app(
///         "com.example.shop",
///         IosRule::new("ABCDE12345", "com.example.shop", Environment::Production),
///     );
/// assert!(policy.app("com.example.shop").is_some_and(|a| a.android.is_some() && a.ios.is_some()));
/// # Ok::<(), certgate::enroll::android::AndroidSettingsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct EnrollPolicy {
    android: AndroidSettings,
    status_list: Option<Arc<StatusList>>,
    apple: AppleSettings,
    certificate_validity: Duration,
    challenge_ttl: Duration,
    apps: BTreeMap<String, AppEvidence>,
}

/// One app's enrollment rules: which Android packages and which iOS app may enroll as it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppEvidence {
    /// `[apps.android]`: the packages, signing certificates and device state required.
    pub android: Option<AndroidRule>,
    /// `[apps.ios]`: the team, bundle and App Attest environment required.
    pub ios: Option<IosRule>,
}

impl EnrollPolicy {
    /// Google's and Apple's built-in roots, no status list, 7-day certificates, 5-minute
    /// challenges, no apps.
    ///
    /// # Errors
    ///
    /// Without a crypto provider feature (`ring` or `aws-lc-rs`): build the settings with
    /// explicit algorithms and use [`EnrollPolicy::with_settings`].
    pub fn new() -> Result<Self, super::android::AndroidSettingsError> {
        Ok(Self::with_settings(
            AndroidSettings::google()?,
            AppleSettings::new(),
        ))
    }

    /// These platform settings (test roots, tolerances, algorithms), with the defaults above.
    pub fn with_settings(android: AndroidSettings, apple: AppleSettings) -> Self {
        Self {
            android,
            status_list: None,
            apple,
            certificate_validity: Duration::from_secs(DEFAULT_CERTIFICATE_DAYS * 86_400),
            challenge_ttl: Duration::from_secs(DEFAULT_CHALLENGE_TTL_SECONDS),
            apps: BTreeMap::new(),
        }
    }

    /// Checks Android chains against this attestation status list.
    #[must_use]
    pub fn status_list(mut self, list: StatusList) -> Self {
        self.status_list = Some(Arc::new(list));
        self
    }

    /// Sets the lifetime of issued certificates.
    #[must_use]
    pub fn certificate_validity(mut self, validity: Duration) -> Self {
        self.certificate_validity = validity;
        self
    }

    /// Sets the lifetime of challenges.
    #[must_use]
    pub fn challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }

    /// Lets `app_id` enroll from Android under `rule`.
    #[must_use]
    pub fn android_app(mut self, app_id: &str, rule: AndroidRule) -> Self {
        self.apps.entry(app_id.to_owned()).or_default().android = Some(rule);
        self
    }

    /// Lets `app_id` enroll from iOS under `rule`.
    #[must_use]
    pub fn ios_app(mut self, app_id: &str, rule: IosRule) -> Self {
        self.apps.entry(app_id.to_owned()).or_default().ios = Some(rule);
        self
    }

    /// The rules of `app_id`, if it may enroll at all.
    pub fn app(&self, app_id: &str) -> Option<&AppEvidence> {
        self.apps.get(app_id)
    }

    /// The Android verifier's settings.
    pub fn android(&self) -> &AndroidSettings {
        &self.android
    }

    /// The App Attest verifier's settings.
    pub fn apple(&self) -> &AppleSettings {
        &self.apple
    }

    /// The attestation status list, when the policy names one.
    pub fn attestation_status(&self) -> Option<&StatusList> {
        self.status_list.as_deref()
    }

    /// The lifetime of issued certificates.
    pub fn validity(&self) -> Duration {
        self.certificate_validity
    }

    /// The lifetime of challenges.
    pub fn ttl(&self) -> Duration {
        self.challenge_ttl
    }
}

/// `[enroll]` as written in a policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollSection {
    #[serde(default)]
    pub(crate) android_roots: Vec<String>,
    pub(crate) android_status_list: Option<String>,
    pub(crate) apple_root: Option<String>,
    #[serde(default = "default_days")]
    pub(crate) certificate_days: u64,
    #[serde(default = "default_ttl")]
    pub(crate) challenge_ttl_seconds: u64,
    #[serde(default)]
    pub(crate) allow_non_ca_issuers: bool,
    #[serde(default)]
    pub(crate) allow_ecdsa_null_params: bool,
}

fn default_days() -> u64 {
    DEFAULT_CERTIFICATE_DAYS
}

fn default_ttl() -> u64 {
    DEFAULT_CHALLENGE_TTL_SECONDS
}

impl EnrollSection {
    /// Checks the numbers; the error is `(field, message)`.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_CERTIFICATE_DAYS).contains(&self.certificate_days) {
            return Err((
                "certificate_days",
                format!("1 to {MAX_CERTIFICATE_DAYS} days"),
            ));
        }
        if !(10..=MAX_CHALLENGE_TTL_SECONDS).contains(&self.challenge_ttl_seconds) {
            return Err((
                "challenge_ttl_seconds",
                format!("10 to {MAX_CHALLENGE_TTL_SECONDS} seconds"),
            ));
        }
        Ok(())
    }
}
