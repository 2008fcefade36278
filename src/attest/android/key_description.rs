//! The KeyDescription extension (OID 1.3.6.1.4.1.11129.2.1.17) of an Android attestation
//! certificate: a bounded DER parser for the fields enrollment needs.
//!
//! Schema: <https://source.android.com/docs/security/features/keystore/attestation#schema>.
//!
//! Decisions:
//! - Every attestation version of at least 1 is accepted (1, 2, 3, 4, 100, 200, 300, 400 and
//!   the 500 that real Android 17 devices already send); the known fields are read and the
//!   tags certgate does not know are skipped. Version 0 and negative versions are refused.
//! - Tags out of ascending order (or repeated) within an AuthorizationList are recorded in
//!   [`AuthorizationList::tags_ordered`], as the reference library (android/keyattestation)
//!   does with `areTagsOrdered`, rather than refused here; the verifier refuses them.
//! - A BOOLEAN must be DER (`0x00` or `0xff`): the non-DER `deviceLocked` of
//!   `invalid/malformed_rot_device_locked.pem`, which the reference library reads as true, is
//!   refused.
//! - Elements after `hardwareEnforced` are ignored (room for later schema versions).
//! - No recursion on the input: nesting depth is fixed by the schema, and every list is bounded
//!   by [`MAX_LIST_ITEMS`].

use std::fmt;

use crate::verify::der::{self, Reader, Tlv};

/// The KeyDescription extension's OID, as DER content octets (1.3.6.1.4.1.11129.2.1.17).
pub(crate) const OID_KEY_DESCRIPTION: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x01, 0x11];

/// The largest extension value [`KeyDescription::parse`] reads, in bytes.
pub const MAX_KEY_DESCRIPTION_BYTES: usize = 64 * 1024;

/// The most items read from one SET OF (purposes, digests, packages, signature digests).
pub const MAX_LIST_ITEMS: usize = 256;

const OCTET_STRING: u8 = 0x04;
const ENUMERATED: u8 = 0x0a;
const SET: u8 = 0x31;
const NULL: u8 = 0x05;

/// Why a KeyDescription did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDescriptionError(&'static str);

impl KeyDescriptionError {
    /// What was wrong, in a few words.
    pub const fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for KeyDescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed KeyDescription: {}", self.0)
    }
}

impl std::error::Error for KeyDescriptionError {}

fn err(reason: &'static str) -> impl Fn(der::BadDer) -> KeyDescriptionError {
    move |_| KeyDescriptionError(reason)
}

/// The security level of the attestation or of the KeyMint (Keymaster) implementation,
/// ordered from weakest to strongest: the crate's [`SecurityLevel`](crate::SecurityLevel), the
/// one certificates issued at enrollment record.
pub use crate::SecurityLevel;

/// The KeyDescription's `SecurityLevel ::= ENUMERATED { Software (0), TrustedEnvironment (1),
/// StrongBox (2) }`.
fn security_level(value: u64) -> Result<SecurityLevel, KeyDescriptionError> {
    match value {
        0 => Ok(SecurityLevel::Software),
        1 => Ok(SecurityLevel::TrustedEnvironment),
        2 => Ok(SecurityLevel::StrongBox),
        _ => Err(KeyDescriptionError("unknown security level")),
    }
}

/// The device's verified boot state, from the root of trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifiedBootState {
    /// The boot chain is verified with the OEM's key.
    Verified,
    /// Verified with a user-installed key.
    SelfSigned,
    /// Not verified (unlocked bootloader).
    Unverified,
    /// Verification failed.
    Failed,
}

impl VerifiedBootState {
    fn from_enumerated(value: u64) -> Result<Self, KeyDescriptionError> {
        match value {
            0 => Ok(Self::Verified),
            1 => Ok(Self::SelfSigned),
            2 => Ok(Self::Unverified),
            3 => Ok(Self::Failed),
            _ => Err(KeyDescriptionError("unknown verified boot state")),
        }
    }

    /// `verified`, `self_signed`, `unverified` or `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::SelfSigned => "self_signed",
            Self::Unverified => "unverified",
            Self::Failed => "failed",
        }
    }
}

/// The root of trust (tag 704).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootOfTrust {
    /// The digest of the key that verified the boot chain.
    pub verified_boot_key: Vec<u8>,
    /// Whether the bootloader is locked.
    pub device_locked: bool,
    /// The verified boot state.
    pub verified_boot_state: VerifiedBootState,
    /// The digest of the verified boot data (attestation version 3 and later).
    pub verified_boot_hash: Option<Vec<u8>>,
}

/// One package of the attestation application id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package name (bytes as attested; normally UTF-8).
    pub name: Vec<u8>,
    /// The package's version code.
    pub version: u64,
}

/// The attestation application id (tag 709): the packages of the calling UID and the
/// SHA-256 digests of their signing certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttestationApplicationId {
    /// The packages (several when packages share a UID).
    pub packages: Vec<PackageInfo>,
    /// The SHA-256 digests of the signing certificates.
    pub signature_digests: Vec<Vec<u8>>,
}

/// An AuthorizationList: the fields certgate reads; other tags are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationList {
    /// `[1]` purposes (2 is SIGN).
    pub purposes: Vec<u64>,
    /// `[2]` algorithm (1 RSA, 3 EC, …).
    pub algorithm: Option<u64>,
    /// `[3]` key size in bits.
    pub key_size: Option<u64>,
    /// `[5]` digests.
    pub digests: Vec<u64>,
    /// `[10]` EC curve.
    pub ec_curve: Option<u64>,
    /// `[200]` RSA public exponent.
    pub rsa_public_exponent: Option<u64>,
    /// `[503]` noAuthRequired.
    pub no_auth_required: bool,
    /// `[506]` allowWhileOnBody.
    pub allow_while_on_body: bool,
    /// `[701]` creation time, milliseconds since the epoch.
    pub creation_date_time: Option<u64>,
    /// `[702]` origin (0 generated, 1 derived, 2 imported, 3 unknown, 4 securely imported).
    pub origin: Option<u64>,
    /// `[703]` rollbackResistant.
    pub rollback_resistant: bool,
    /// `[704]` root of trust.
    pub root_of_trust: Option<RootOfTrust>,
    /// `[705]` OS version (e.g. 160000).
    pub os_version: Option<u64>,
    /// `[706]` OS patch level, YYYYMM.
    pub os_patch_level: Option<u64>,
    /// `[709]` attestation application id.
    pub attestation_application_id: Option<AttestationApplicationId>,
    /// `[718]` vendor patch level, YYYYMMDD.
    pub vendor_patch_level: Option<u64>,
    /// `[719]` boot patch level, YYYYMMDD.
    pub boot_patch_level: Option<u64>,
    /// `[724]` module hash.
    pub module_hash: Option<Vec<u8>>,
    /// Whether the tags were in strictly ascending order (the reference library's
    /// `areTagsOrdered`). DER requires it; the verifier refuses a list where it is false.
    pub tags_ordered: bool,
}

/// The parsed KeyDescription.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyDescription {
    /// The attestation (schema) version.
    pub attestation_version: u64,
    /// The security level of the attestation.
    pub attestation_security_level: SecurityLevel,
    /// The KeyMint (Keymaster) version.
    pub keymint_version: u64,
    /// The security level of KeyMint.
    pub keymint_security_level: SecurityLevel,
    /// The challenge the app passed to `setAttestationChallenge`.
    pub attestation_challenge: Vec<u8>,
    /// The unique id (empty unless requested by a system app).
    pub unique_id: Vec<u8>,
    /// Authorizations enforced by Android's software.
    pub software_enforced: AuthorizationList,
    /// Authorizations enforced by the secure hardware.
    pub hardware_enforced: AuthorizationList,
}

impl KeyDescription {
    /// Parses the KeyDescription extension's value (the contents of the extension's OCTET
    /// STRING). Bounded: at most [`MAX_KEY_DESCRIPTION_BYTES`] of input and
    /// [`MAX_LIST_ITEMS`] per list; never panics.
    pub fn parse(ext_value: &[u8]) -> Result<Self, KeyDescriptionError> {
        if ext_value.len() > MAX_KEY_DESCRIPTION_BYTES {
            return Err(KeyDescriptionError("too large"));
        }
        let seq = der::single(ext_value, der::SEQUENCE).map_err(err("not one SEQUENCE"))?;
        let mut r = Reader::new(seq.value);
        let attestation_version = integer(&mut r, der::INTEGER, "attestationVersion")?;
        if attestation_version == 0 {
            return Err(KeyDescriptionError("attestationVersion 0"));
        }
        let attestation_security_level =
            security_level(integer(&mut r, ENUMERATED, "attestationSecurityLevel")?)?;
        let keymint_version = integer(&mut r, der::INTEGER, "keyMintVersion")?;
        let keymint_security_level =
            security_level(integer(&mut r, ENUMERATED, "keyMintSecurityLevel")?)?;
        let attestation_challenge = r
            .expect(OCTET_STRING)
            .map_err(err("attestationChallenge"))?
            .value
            .to_vec();
        let unique_id = r
            .expect(OCTET_STRING)
            .map_err(err("uniqueId"))?
            .value
            .to_vec();
        let software_enforced =
            AuthorizationList::parse(r.expect(der::SEQUENCE).map_err(err("softwareEnforced"))?)?;
        let hardware_enforced =
            AuthorizationList::parse(r.expect(der::SEQUENCE).map_err(err("hardwareEnforced"))?)?;
        Ok(Self {
            attestation_version,
            attestation_security_level,
            keymint_version,
            keymint_security_level,
            attestation_challenge,
            unique_id,
            software_enforced,
            hardware_enforced,
        })
    }
}

impl AuthorizationList {
    fn parse(seq: Tlv<'_>) -> Result<Self, KeyDescriptionError> {
        let mut list = Self {
            purposes: Vec::new(),
            algorithm: None,
            key_size: None,
            digests: Vec::new(),
            ec_curve: None,
            rsa_public_exponent: None,
            no_auth_required: false,
            allow_while_on_body: false,
            creation_date_time: None,
            origin: None,
            rollback_resistant: false,
            root_of_trust: None,
            os_version: None,
            os_patch_level: None,
            attestation_application_id: None,
            vendor_patch_level: None,
            boot_patch_level: None,
            module_hash: None,
            tags_ordered: true,
        };
        let mut r = Reader::new(seq.value);
        let mut last: Option<u32> = None;
        while !r.is_empty() {
            let (number, tlv) = r.read_numbered().map_err(err("AuthorizationList entry"))?;
            // Every entry is an EXPLICIT context-specific tag: class 10, constructed.
            if tlv.tag & 0xe0 != 0xa0 {
                return Err(KeyDescriptionError(
                    "AuthorizationList entry is not [n] EXPLICIT",
                ));
            }
            if last.is_some_and(|l| number <= l) {
                list.tags_ordered = false;
            }
            last = Some(number);
            let inner = tlv.value;
            match number {
                1 => list.purposes = int_set(inner, "purpose")?,
                2 => list.algorithm = Some(explicit_int(inner, "algorithm")?),
                3 => list.key_size = Some(explicit_int(inner, "keySize")?),
                5 => list.digests = int_set(inner, "digest")?,
                10 => list.ec_curve = Some(explicit_int(inner, "ecCurve")?),
                200 => list.rsa_public_exponent = Some(explicit_int(inner, "rsaPublicExponent")?),
                503 => list.no_auth_required = explicit_null(inner, "noAuthRequired")?,
                506 => list.allow_while_on_body = explicit_null(inner, "allowWhileOnBody")?,
                701 => list.creation_date_time = Some(explicit_int(inner, "creationDateTime")?),
                702 => list.origin = Some(explicit_int(inner, "origin")?),
                703 => list.rollback_resistant = explicit_null(inner, "rollbackResistant")?,
                704 => list.root_of_trust = Some(RootOfTrust::parse(inner)?),
                705 => list.os_version = Some(explicit_int(inner, "osVersion")?),
                706 => list.os_patch_level = Some(explicit_int(inner, "osPatchLevel")?),
                709 => {
                    let octets = der::single(inner, OCTET_STRING)
                        .map_err(err("attestationApplicationId"))?;
                    list.attestation_application_id =
                        Some(AttestationApplicationId::parse(octets.value)?);
                }
                718 => list.vendor_patch_level = Some(explicit_int(inner, "vendorPatchLevel")?),
                719 => list.boot_patch_level = Some(explicit_int(inner, "bootPatchLevel")?),
                724 => {
                    let octets = der::single(inner, OCTET_STRING).map_err(err("moduleHash"))?;
                    list.module_hash = Some(octets.value.to_vec());
                }
                // Unknown (or not needed) tags: their TLV was read whole and is skipped.
                _ => {}
            }
        }
        Ok(list)
    }
}

impl RootOfTrust {
    fn parse(explicit: &[u8]) -> Result<Self, KeyDescriptionError> {
        let seq = der::single(explicit, der::SEQUENCE).map_err(err("rootOfTrust"))?;
        let mut r = Reader::new(seq.value);
        let verified_boot_key = r
            .expect(OCTET_STRING)
            .map_err(err("verifiedBootKey"))?
            .value
            .to_vec();
        let device_locked = match r.expect(der::BOOLEAN).map_err(err("deviceLocked"))?.value {
            [0x00] => false,
            [0xff] => true,
            _ => return Err(KeyDescriptionError("deviceLocked is not a DER BOOLEAN")),
        };
        let verified_boot_state =
            VerifiedBootState::from_enumerated(integer(&mut r, ENUMERATED, "verifiedBootState")?)?;
        let verified_boot_hash = r
            .optional(OCTET_STRING)
            .map_err(err("verifiedBootHash"))?
            .map(|t| t.value.to_vec());
        if !r.is_empty() {
            return Err(KeyDescriptionError("rootOfTrust has trailing data"));
        }
        Ok(Self {
            verified_boot_key,
            device_locked,
            verified_boot_state,
            verified_boot_hash,
        })
    }
}

impl AttestationApplicationId {
    fn parse(der_bytes: &[u8]) -> Result<Self, KeyDescriptionError> {
        let seq = der::single(der_bytes, der::SEQUENCE).map_err(err("attestationApplicationId"))?;
        let mut r = Reader::new(seq.value);
        let infos = r.expect(SET).map_err(err("packageInfos"))?;
        let digests = r.expect(SET).map_err(err("signatureDigests"))?;
        if !r.is_empty() {
            return Err(KeyDescriptionError(
                "attestationApplicationId has trailing data",
            ));
        }
        let mut packages = Vec::new();
        let mut items = Reader::new(infos.value);
        while !items.is_empty() {
            if packages.len() >= MAX_LIST_ITEMS {
                return Err(KeyDescriptionError("too many packages"));
            }
            let info = items.expect(der::SEQUENCE).map_err(err("packageInfo"))?;
            let mut f = Reader::new(info.value);
            let name = f
                .expect(OCTET_STRING)
                .map_err(err("packageName"))?
                .value
                .to_vec();
            let version = integer(&mut f, der::INTEGER, "package version")?;
            if !f.is_empty() {
                return Err(KeyDescriptionError("packageInfo has trailing data"));
            }
            packages.push(PackageInfo { name, version });
        }
        let mut signature_digests = Vec::new();
        let mut items = Reader::new(digests.value);
        while !items.is_empty() {
            if signature_digests.len() >= MAX_LIST_ITEMS {
                return Err(KeyDescriptionError("too many signature digests"));
            }
            let digest = items.expect(OCTET_STRING).map_err(err("signatureDigest"))?;
            signature_digests.push(digest.value.to_vec());
        }
        Ok(Self {
            packages,
            signature_digests,
        })
    }
}

/// A non-negative INTEGER (or ENUMERATED) of at most 64 bits.
fn integer(r: &mut Reader<'_>, tag: u8, what: &'static str) -> Result<u64, KeyDescriptionError> {
    let tlv = r.expect(tag).map_err(err(what))?;
    uint(tlv.value).ok_or(KeyDescriptionError(what))
}

fn uint(value: &[u8]) -> Option<u64> {
    let (&first, _) = value.split_first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    let mut n = 0u64;
    let mut significant = 0usize;
    for &b in value {
        if significant == 0 && b == 0 {
            continue;
        }
        significant += 1;
        if significant > 8 {
            return None;
        }
        n = (n << 8) | u64::from(b);
    }
    Some(n)
}

fn explicit_int(explicit: &[u8], what: &'static str) -> Result<u64, KeyDescriptionError> {
    let tlv = der::single(explicit, der::INTEGER).map_err(err(what))?;
    uint(tlv.value).ok_or(KeyDescriptionError(what))
}

fn explicit_null(explicit: &[u8], what: &'static str) -> Result<bool, KeyDescriptionError> {
    let tlv = der::single(explicit, NULL).map_err(err(what))?;
    if tlv.value.is_empty() {
        Ok(true)
    } else {
        Err(KeyDescriptionError(what))
    }
}

fn int_set(explicit: &[u8], what: &'static str) -> Result<Vec<u64>, KeyDescriptionError> {
    let set = der::single(explicit, SET).map_err(err(what))?;
    let mut r = Reader::new(set.value);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() >= MAX_LIST_ITEMS {
            return Err(KeyDescriptionError(what));
        }
        out.push(integer(&mut r, der::INTEGER, what)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(uint(&[0x00]), Some(0));
        assert_eq!(uint(&[0x00, 0xff]), Some(255));
        assert_eq!(uint(&[0x80]), None);
        assert_eq!(uint(&[]), None);
        assert_eq!(uint(&[0x01; 9]), None);
        assert_eq!(
            uint(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Some(u64::MAX)
        );
    }

    #[test]
    fn refuses_garbage_without_panic() {
        assert!(KeyDescription::parse(&[]).is_err());
        assert!(KeyDescription::parse(&[0x30, 0x00]).is_err());
        assert!(KeyDescription::parse(&vec![0x30; MAX_KEY_DESCRIPTION_BYTES + 1]).is_err());
    }
}
