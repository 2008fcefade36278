//! Arbitrary bytes into the App Attest verifier: `AttestationObject::parse`, then
//! `verify_attestation_raw` with a fixed rule, key id, clientDataHash and time (Apple's 2026
//! validation-guide example's, so seeds from `seed.sh` reach the chain, key and nonce checks),
//! and `verify_assertion` with the same bytes as an assertion.
//!
//! Nothing may panic, hang or allocate without bound. An accepted attestation is the guide's
//! key, in production, with counter 0 (only its unvalidated receipt can differ); the assertion
//! path can accept nothing, as no input is signed by the fixed key.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use certgate::enroll::apple::{
    AppleSettings, AttestationObject, Environment, IosRule, verify_assertion,
    verify_attestation_raw,
};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};

/// The guide's key id: SHA-256 of its credential key, base64 zgSY9YSD+7TaDXssY6WlOPVS1K3Lmk+pFhlcSWE+ZV0=.
const KEY_ID: [u8; 32] = [
    0xce, 0x04, 0x98, 0xf5, 0x84, 0x83, 0xfb, 0xb4, 0xda, 0x0d, 0x7b, 0x2c, 0x63, 0xa5, 0xa5, 0x38,
    0xf5, 0x52, 0xd4, 0xad, 0xcb, 0x9a, 0x4f, 0xa9, 0x16, 0x19, 0x5c, 0x49, 0x61, 0x3e, 0x65, 0x5d,
];

/// The guide's clientDataHash: the 24 raw challenge bytes.
const CLIENT_DATA_HASH: &[u8] = b"example_server_challenge";

/// 2026-04-21T12:00:00Z, inside the guide leaf's validity.
const NOW: UnixTime = UnixTime::since_unix_epoch(Duration::from_secs(1_776_772_800));

static RULE: LazyLock<IosRule> =
    LazyLock::new(|| IosRule::new("1234567890", "com.example.myapp", Environment::Production));
static SETTINGS: LazyLock<AppleSettings> = LazyLock::new(AppleSettings::new);

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = AttestationObject::parse(data) {
        assert!(object.authenticator_data().len() >= 55);
        assert_eq!(object.credential_public_key().len(), 65);
        assert_eq!(object.flags() & 0x40, 0x40);
    }
    if let Ok(verified) =
        verify_attestation_raw(&KEY_ID, data, CLIENT_DATA_HASH, &RULE, &SETTINGS, NOW)
    {
        assert_eq!(verified.key_id, KEY_ID);
        assert_eq!(
            <[u8; 32]>::from(Sha256::digest(&verified.public_key)),
            KEY_ID
        );
        assert_eq!(verified.counter, 0);
        assert_eq!(verified.environment, Environment::Production);
    }
    let mut point = [0x04; 65];
    point[1..].copy_from_slice(&[0x5a; 64]);
    let assertion = verify_assertion(data, &KEY_ID, &point, 0, &RULE, &SETTINGS);
    assert!(
        assertion.is_err(),
        "an assertion verified under a made-up key"
    );
});
