//! The attestation facts certgate's enrollment writes into the per-install certificates it
//! issues, and reads back from a verified leaf (pure: DER in, facts out).
//!
//! The facts ride in a non-critical extension, so a verified chain carries them to the handler
//! with no database lookup on the request path; they are believed only as far as the leaf is
//! (a chain to the policy's anchors, whose CA wrote them after checking the attestation).
//!
//! ```text
//! id-certgate-attestation OBJECT IDENTIFIER ::= { 2 25 12031991181231728387 }
//!
//! AttestationFacts ::= SEQUENCE {
//!     platform       [0] IMPLICIT UTF8String,           -- "android" | "ios"
//!     securityLevel  [1] IMPLICIT UTF8String OPTIONAL,  -- "software" | "trusted_environment" | "strong_box"
//!     verifiedBoot   [2] IMPLICIT BOOLEAN OPTIONAL,     -- verifiedBootState was `verified`
//!     deviceLocked   [3] IMPLICIT BOOLEAN OPTIONAL,
//!     appVersion     [4] IMPLICIT INTEGER OPTIONAL,
//!     osPatchLevel   [5] IMPLICIT INTEGER OPTIONAL,     -- YYYYMM or YYYYMMDD, as attested
//!     environment    [6] IMPLICIT UTF8String OPTIONAL   -- App Attest: "production" | "development"
//! }
//! ```
//!
//! The OID is an arc under `2.25` (ITU-T X.667, UUID-derived OIDs) picked at random and kept
//! below 2^64 so that every X.509 writer (rcgen among them) can encode it.

use serde::Serialize;

use super::der::{Reader, SEQUENCE};

/// The extension's OID, as arcs.
pub const ATTESTATION_OID: &[u64] = &[2, 25, 12_031_991_181_231_728_387];

/// The extension's OID, DER-encoded contents (what x509-parser's `Oid::as_bytes` returns).
pub(crate) const ATTESTATION_OID_DER: &[u8] = &[
    0x69, // 2.25 = 2 * 40 + 25
    0x81, 0xa6, 0xfd, 0x8e, 0x87, 0xb2, 0xcf, 0xcc, 0xce, 0x03,
];

/// Which platform attested the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Platform {
    /// Android Key Attestation.
    Android,
    /// Apple App Attest.
    Ios,
}

impl Platform {
    /// `android` or `ios`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
        }
    }
}

/// Where an Android key lives, weakest first (so `<` compares strength).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecurityLevel {
    /// Keystore in software: no hardware protection.
    Software,
    /// A trusted execution environment (TEE).
    TrustedEnvironment,
    /// A discrete secure element (StrongBox).
    StrongBox,
}

impl SecurityLevel {
    /// The policy's spelling: `software`, `trusted_environment`, `strong_box`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::TrustedEnvironment => "trusted_environment",
            Self::StrongBox => "strong_box",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "software" => Some(Self::Software),
            "trusted_environment" => Some(Self::TrustedEnvironment),
            "strong_box" => Some(Self::StrongBox),
            _ => None,
        }
    }
}

/// What the platform attested about an install's key, as certgate's CA recorded it in the
/// certificate it issued at enrollment. [`PeerIdentity::attestation`](crate::PeerIdentity::attestation)
/// returns it for a verified leaf that carries it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct AttestationFacts {
    /// The platform.
    pub platform: Platform,
    /// Android: where the key lives.
    pub security_level: Option<SecurityLevel>,
    /// Android: the verified boot state was `verified`.
    pub verified_boot: Option<bool>,
    /// Android: the bootloader was locked.
    pub device_locked: Option<bool>,
    /// The app's version (Android `versionCode`).
    pub app_version: Option<u64>,
    /// The OS patch level (Android, YYYYMM).
    pub os_patch_level: Option<u32>,
    /// App Attest environment: `production` or `development`.
    pub environment: Option<String>,
}

impl AttestationFacts {
    /// Facts for `platform` with nothing else known.
    pub fn new(platform: Platform) -> Self {
        Self {
            platform,
            security_level: None,
            verified_boot: None,
            device_locked: None,
            app_version: None,
            os_patch_level: None,
            environment: None,
        }
    }

    /// Whether the key lives in hardware at `level` or stronger.
    pub fn at_least(&self, level: SecurityLevel) -> bool {
        self.security_level.is_some_and(|l| l >= level)
    }

    /// The extension's value (the DER of `AttestationFacts`).
    #[cfg(feature = "issue")]
    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut body = Vec::new();
        tlv(&mut body, 0x80, self.platform.as_str().as_bytes());
        if let Some(level) = self.security_level {
            tlv(&mut body, 0x81, level.as_str().as_bytes());
        }
        if let Some(b) = self.verified_boot {
            tlv(&mut body, 0x82, &[if b { 0xff } else { 0 }]);
        }
        if let Some(b) = self.device_locked {
            tlv(&mut body, 0x83, &[if b { 0xff } else { 0 }]);
        }
        if let Some(v) = self.app_version {
            tlv(&mut body, 0x84, &unsigned(v));
        }
        if let Some(v) = self.os_patch_level {
            tlv(&mut body, 0x85, &unsigned(u64::from(v)));
        }
        if let Some(e) = &self.environment {
            tlv(&mut body, 0x86, e.as_bytes());
        }
        let mut out = Vec::with_capacity(body.len().saturating_add(4));
        tlv(&mut out, SEQUENCE, &body);
        out
    }

    /// Reads the extension's value; `None` when it is not the structure above.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        let seq = super::der::single(der, SEQUENCE).ok()?;
        let mut r = Reader::new(seq.value);
        let platform = match r.expect(0x80).ok()?.value {
            b"android" => Platform::Android,
            b"ios" => Platform::Ios,
            _ => return None,
        };
        let mut facts = Self::new(platform);
        if let Some(t) = r.optional(0x81).ok()? {
            facts.security_level = Some(SecurityLevel::parse(std::str::from_utf8(t.value).ok()?)?);
        }
        if let Some(t) = r.optional(0x82).ok()? {
            facts.verified_boot = Some(boolean(t.value)?);
        }
        if let Some(t) = r.optional(0x83).ok()? {
            facts.device_locked = Some(boolean(t.value)?);
        }
        if let Some(t) = r.optional(0x84).ok()? {
            facts.app_version = Some(integer(t.value)?);
        }
        if let Some(t) = r.optional(0x85).ok()? {
            facts.os_patch_level = Some(u32::try_from(integer(t.value)?).ok()?);
        }
        if let Some(t) = r.optional(0x86).ok()? {
            let text = std::str::from_utf8(t.value).ok()?;
            if text.len() > 32 {
                return None;
            }
            facts.environment = Some(text.to_owned());
        }
        r.is_empty().then_some(facts)
    }

    /// Finds and reads the extension among a parsed certificate's extensions.
    pub(crate) fn from_cert(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<Self> {
        cert.extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == ATTESTATION_OID_DER)
            .and_then(|e| Self::from_der(e.value))
    }

    /// Heap bytes held (for the cache's weigher).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            .saturating_add(self.environment.as_ref().map_or(0, String::capacity))
    }
}

/// A DER BOOLEAN's contents (0x00 or 0xff only).
fn boolean(value: &[u8]) -> Option<bool> {
    match value {
        [0x00] => Some(false),
        [0xff] => Some(true),
        _ => None,
    }
}

/// A non-negative DER INTEGER's contents, at most 64 bits, minimally encoded.
fn integer(value: &[u8]) -> Option<u64> {
    let (&first, rest) = value.split_first()?;
    if first & 0x80 != 0 {
        return None;
    }
    if first == 0 && rest.first().is_some_and(|b| b & 0x80 == 0) {
        return None;
    }
    if value.len() > 9 || (value.len() == 9 && first != 0) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

#[cfg(feature = "issue")]
fn unsigned(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out: Vec<u8> = bytes.iter().skip(skip).copied().collect();
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    out
}

#[cfg(feature = "issue")]
fn tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let octets = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(octets.len()).unwrap_or(0));
        out.extend_from_slice(octets);
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_der_matches_the_arcs() {
        // Base-128 of the third arc, most significant group first, high bit on all but the last.
        let mut arc = ATTESTATION_OID[2];
        let mut groups = vec![u8::try_from(arc & 0x7f).unwrap()];
        arc >>= 7;
        while arc > 0 {
            groups.push(u8::try_from(arc & 0x7f).unwrap() | 0x80);
            arc >>= 7;
        }
        groups.reverse();
        let mut expected = vec![0x69];
        expected.extend(groups);
        assert_eq!(ATTESTATION_OID_DER, expected.as_slice());
    }

    #[cfg(feature = "issue")]
    #[test]
    fn round_trips() {
        let mut facts = AttestationFacts::new(Platform::Android);
        facts.security_level = Some(SecurityLevel::StrongBox);
        facts.verified_boot = Some(true);
        facts.device_locked = Some(false);
        facts.app_version = Some(0x80_0000_0001);
        facts.os_patch_level = Some(202_408);
        assert_eq!(AttestationFacts::from_der(&facts.to_der()), Some(facts));
        let mut ios = AttestationFacts::new(Platform::Ios);
        ios.environment = Some("production".into());
        assert_eq!(AttestationFacts::from_der(&ios.to_der()), Some(ios));
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        for bad in [
            &[][..],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x80, 0x01, b'x'],
            // A negative app version.
            &[
                0x30, 0x0c, 0x80, 0x07, b'a', b'n', b'd', b'r', b'o', b'i', b'd', 0x84, 0x01, 0x80,
            ],
            // Trailing data after the sequence.
            &[
                0x30, 0x09, 0x80, 0x07, b'a', b'n', b'd', b'r', b'o', b'i', b'd', 0x00,
            ],
        ] {
            assert_eq!(AttestationFacts::from_der(bad), None, "{bad:02x?}");
        }
        assert!(
            AttestationFacts::from_der(&[
                0x30, 0x09, 0x80, 0x07, b'a', b'n', b'd', b'r', b'o', b'i', b'd'
            ])
            .is_some()
        );
    }

    #[test]
    fn levels_order_by_strength() {
        assert!(SecurityLevel::Software < SecurityLevel::TrustedEnvironment);
        assert!(SecurityLevel::TrustedEnvironment < SecurityLevel::StrongBox);
        let mut facts = AttestationFacts::new(Platform::Android);
        assert!(!facts.at_least(SecurityLevel::Software));
        facts.security_level = Some(SecurityLevel::TrustedEnvironment);
        assert!(facts.at_least(SecurityLevel::TrustedEnvironment));
        assert!(!facts.at_least(SecurityLevel::StrongBox));
    }
}
