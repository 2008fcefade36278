//! Google's attestation status list (the revocation list of attestation certificates):
//! `{"entries": {"<serial hex>": {"status": "REVOKED" | "SUSPENDED", "reason": …}}}`, as
//! served at <https://android.googleapis.com/attestation/status>. The operator downloads and
//! refreshes it; certgate only parses the bytes it is given.

use std::collections::HashMap;
use std::fmt;

/// The largest status list [`StatusList::from_json`] reads, in bytes.
pub const MAX_STATUS_LIST_BYTES: usize = 64 * 1024 * 1024;

/// The longest serial accepted as a key, in hex digits (X.509 serials are at most 20 octets;
/// some slack for sign octets).
const MAX_SERIAL_HEX: usize = 64;
/// The longest spelling of a serial accepted, leading zeros included.
const MAX_SERIAL_SPELLING: usize = 256;

/// The status of one listed certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestationStatus {
    /// `REVOKED`.
    Revoked,
    /// `SUSPENDED`.
    Suspended,
    /// A status this version of certgate does not know: refused like a revocation
    /// (fail closed).
    Other,
}

impl AttestationStatus {
    /// The status as the list spells it (`OTHER` for an unknown one).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "REVOKED",
            Self::Suspended => "SUSPENDED",
            Self::Other => "OTHER",
        }
    }
}

/// Why a status list did not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusListError(String);

impl fmt::Display for StatusListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid attestation status list: {}", self.0)
    }
}

impl std::error::Error for StatusListError {}

/// A loaded status list: serials (lowercase hex, no leading zeros) to their status.
#[derive(Clone, Debug, Default)]
pub struct StatusList {
    entries: HashMap<String, AttestationStatus>,
}

#[derive(serde::Deserialize)]
struct File {
    entries: HashMap<String, Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    status: String,
}

impl StatusList {
    /// Parses Google's JSON. Refuses input over [`MAX_STATUS_LIST_BYTES`], a missing
    /// `entries` object, an entry without a `status` string, and keys that are not hex serials.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StatusListError> {
        if bytes.len() > MAX_STATUS_LIST_BYTES {
            return Err(StatusListError(format!(
                "larger than {MAX_STATUS_LIST_BYTES} bytes"
            )));
        }
        let file: File = serde_json::from_slice(bytes)
            .map_err(|e| StatusListError(crate::attest::EnrollRejection::detail(e.to_string())))?;
        let mut entries = HashMap::with_capacity(file.entries.len());
        for (serial, entry) in file.entries {
            let key = normalize_serial(&serial).ok_or_else(|| {
                StatusListError(crate::attest::EnrollRejection::detail(format!(
                    "not a hex serial: {serial:?}"
                )))
            })?;
            let status = match entry.status.as_str() {
                "REVOKED" => AttestationStatus::Revoked,
                "SUSPENDED" => AttestationStatus::Suspended,
                _ => AttestationStatus::Other,
            };
            // The same serial spelled twice (with leading zeros or in upper case): keep the
            // stronger refusal (any status refuses, so any one will do).
            entries.insert(key, status);
        }
        Ok(Self { entries })
    }

    /// The number of listed serials.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every listed serial (lowercase hex, no leading zeros) with its status, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, AttestationStatus)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The status of the certificate with this serial (hex in any case, leading zeros
    /// allowed), if listed.
    pub fn status(&self, serial_hex: &str) -> Option<AttestationStatus> {
        let key = normalize_serial(serial_hex)?;
        self.entries.get(&key).copied()
    }

    /// The status of the certificate whose DER serial INTEGER contents are `serial`.
    pub(crate) fn status_of_der_serial(
        &self,
        serial: &[u8],
    ) -> Option<(String, AttestationStatus)> {
        let hex = serial_to_hex(serial);
        self.entries.get(&hex).map(|s| (hex, *s))
    }
}

/// Lowercase hex without leading zeros (`"0"` for zero); `None` if not hex or too long.
fn normalize_serial(serial: &str) -> Option<String> {
    // Leading zeros do not count toward the limit (the same serial may be spelled with them),
    // but the whole spelling is still bounded.
    if serial.is_empty()
        || serial.len() > MAX_SERIAL_SPELLING
        || !serial.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let trimmed = serial.trim_start_matches('0');
    if trimmed.len() > MAX_SERIAL_HEX {
        return None;
    }
    Some(if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_ascii_lowercase()
    })
}

/// A DER INTEGER's contents as the list spells serials.
pub(crate) fn serial_to_hex(serial: &[u8]) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(serial.len().saturating_mul(2));
    for b in serial {
        let _ = write!(hex, "{b:02x}");
    }
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_do_not_count_toward_the_serial_limit() {
        // Found by the fuzz smoke run: a 63-digit serial looked up as "00" + serial (65 digits).
        let serial = format!("9{}", "a".repeat(62));
        let json = format!("{{\"entries\": {{\"{serial}\": {{\"status\": \"REVOKED\"}}}}}}");
        let list = StatusList::from_json(json.as_bytes()).unwrap();
        assert_eq!(list.status(&serial), Some(AttestationStatus::Revoked));
        let spelled = format!("00{}", serial.to_ascii_uppercase());
        assert_eq!(list.status(&spelled), Some(AttestationStatus::Revoked));
        // Over 64 significant digits, or an absurdly long spelling: not a serial.
        assert_eq!(list.status(&format!("1{serial}a")), None);
        assert_eq!(list.status(&"0".repeat(300)), None);
    }

    #[test]
    fn serials_are_normalized() {
        assert_eq!(normalize_serial("00ABc").as_deref(), Some("abc"));
        assert_eq!(normalize_serial("000").as_deref(), Some("0"));
        assert_eq!(normalize_serial("xyz"), None);
        assert_eq!(normalize_serial(""), None);
        assert_eq!(serial_to_hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_to_hex(&[0x00]), "0");
    }

    #[test]
    fn loads_and_looks_up() {
        let list = StatusList::from_json(
            br#"{"entries": {"0A1b": {"status": "REVOKED", "reason": "KEY_COMPROMISE"},
                 "2": {"status": "SUSPENDED"}, "3": {"status": "NEW"}}}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list.status("a1B"), Some(AttestationStatus::Revoked));
        assert_eq!(list.status("0002"), Some(AttestationStatus::Suspended));
        assert_eq!(list.status("3"), Some(AttestationStatus::Other));
        assert_eq!(list.status("4"), None);
        assert!(StatusList::from_json(b"{}").is_err());
        assert!(StatusList::from_json(br#"{"entries": {"zz": {"status": "REVOKED"}}}"#).is_err());
        assert!(StatusList::from_json(br#"{"entries": {"1": {}}}"#).is_err());
    }
}
