//! SPKI pins with activation windows, leaf fingerprints, and per-app rules.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::UnixTime;

use super::identity::AppId;
use crate::spki_pin_string;

/// An SPKI pin: `sha256/<base64>` of a DER SubjectPublicKeyInfo, optionally active only within
/// a window (so a key rotation can ship to apps long before it is used).
///
/// A pin matches when any certificate on the validated path (leaf, intermediates or trust
/// anchor) has that key. Pinning the intermediate is the common mobile practice.
///
/// ```
/// use certgate::Pin;
/// let pin: Pin = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".parse().unwrap();
/// assert_eq!(pin.to_string(), "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// assert!("sha1/AAAA".parse::<Pin>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    spki_sha256: [u8; 32],
    name: Option<String>,
    not_before: Option<UnixTime>,
    not_after: Option<UnixTime>,
    /// What a verdict's `matched` says for this pin (its name, or `sha256/<base64>`), made
    /// once and shared by every identity it matches.
    label: std::sync::Arc<str>,
}

impl Pin {
    /// A pin on the SHA-256 of a SubjectPublicKeyInfo, always active.
    pub fn from_spki_sha256(spki_sha256: [u8; 32]) -> Self {
        Self {
            spki_sha256,
            name: None,
            not_before: None,
            not_after: None,
            label: spki_pin_string(&spki_sha256).into(),
        }
    }

    /// Names the pin; the name is reported in [`PeerIdentity::matched`](crate::PeerIdentity).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.label = name.as_str().into();
        self.name = Some(name);
        self
    }

    /// Makes the pin count only from `not_before` (inclusive) on.
    pub fn active_from(mut self, not_before: UnixTime) -> Self {
        self.not_before = Some(not_before);
        self
    }

    /// Makes the pin count only until `not_after` (inclusive).
    pub fn active_until(mut self, not_after: UnixTime) -> Self {
        self.not_after = Some(not_after);
        self
    }

    /// The pinned SHA-256.
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.spki_sha256
    }

    /// The pin's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the pin counts at `now`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.not_before.is_none_or(|nb| now >= nb) && self.not_after.is_none_or(|na| now <= na)
    }

    /// The window's bounds (`None` where open).
    pub(crate) fn window(&self) -> [Option<UnixTime>; 2] {
        [self.not_before, self.not_after]
    }

    /// When the pin stops counting, if it ever does.
    pub(crate) fn not_after(&self) -> Option<UnixTime> {
        self.not_after
    }

    /// The window as text, for messages.
    pub(crate) fn window_is_empty(&self) -> bool {
        matches!((self.not_before, self.not_after), (Some(nb), Some(na)) if nb > na)
    }

    /// The label used in messages and in `matched`.
    pub(crate) fn label(&self) -> std::sync::Arc<str> {
        std::sync::Arc::clone(&self.label)
    }
}

impl FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s
            .strip_prefix("sha256/")
            .ok_or_else(|| format!("not a sha256/<base64> pin: {s:?}"))?;
        // The decoder's own message ("Invalid symbol 60, offset 0.") helps nobody who copied a
        // placeholder such as `sha256/<base64>` or `sha256/AAAA…=`.
        let bytes = STANDARD.decode(b64).map_err(|_| {
            format!("not a sha256/<base64> pin: {s:?} (what follows sha256/ is not base64)")
        })?;
        let spki_sha256 = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| format!("a sha256 pin has 32 bytes, this one {}: {s:?}", bytes.len()))?;
        Ok(Self::from_spki_sha256(spki_sha256))
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&spki_pin_string(&self.spki_sha256))
    }
}

/// Parses a SHA-256 fingerprint written as 64 hex digits, colons allowed between bytes.
///
/// ```
/// let fp = certgate::parse_fingerprint(&"ab".repeat(32)).unwrap();
/// assert_eq!(fp, [0xab; 32]);
/// assert!(certgate::parse_fingerprint("abc").is_err());
/// // Two hex digits per byte, nothing else.
/// assert!(certgate::parse_fingerprint(&format!("+f{}", "ab".repeat(31))).is_err());
/// ```
///
/// # Errors
///
/// Returns a message when the text is not 32 hex-encoded bytes.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.len() != 64 {
        return Err(format!(
            "a SHA-256 fingerprint has 64 hex digits, this one {}",
            digits.len()
        ));
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        // Exactly two hex digits: `from_str_radix` alone would also take a sign ("+f").
        let pair = std::str::from_utf8(pair)
            .ok()
            .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("not hex: {:?}", String::from_utf8_lossy(pair)))?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| format!("not hex: {pair:?}"))?;
    }
    Ok(out)
}

/// What the policy says about one app: it is allowed, and (optionally) which keys and leaf
/// certificates it must present.
///
/// ```
/// use certgate::{AppId, AppRule, Pin};
/// let rule = AppRule::new(AppId::new("com.example.shop").unwrap())
///     .pin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".parse::<Pin>().unwrap());
/// assert_eq!(rule.id().as_str(), "com.example.shop");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRule {
    pub(crate) id: AppId,
    pub(crate) pins: Vec<Pin>,
    pub(crate) leaf_fingerprints: Vec<[u8; 32]>,
}

impl AppRule {
    /// Allows `id`, with no pins of its own.
    pub fn new(id: AppId) -> Self {
        Self {
            id,
            pins: Vec::new(),
            leaf_fingerprints: Vec::new(),
        }
    }

    /// Adds a pin: when the rule has pins, one active pin must match the path.
    pub fn pin(mut self, pin: Pin) -> Self {
        self.pins.push(pin);
        self
    }

    /// Adds an allowed leaf fingerprint: when the rule has any, the leaf must be one of them.
    pub fn leaf_fingerprint(mut self, sha256: [u8; 32]) -> Self {
        self.leaf_fingerprints.push(sha256);
        self
    }

    /// The app this rule is about.
    pub fn id(&self) -> &AppId {
        &self.id
    }
}

/// Finds the first active pin of `pins` that one of `path_spkis` matches.
pub(crate) fn matching_pin<'p>(
    pins: &'p [Pin],
    path_spkis: &[[u8; 32]],
    now: UnixTime,
) -> Option<&'p Pin> {
    pins.iter()
        .find(|pin| pin.is_active(now) && path_spkis.contains(&pin.spki_sha256))
}
