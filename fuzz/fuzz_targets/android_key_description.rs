//! Fuzz the Android KeyDescription parser: arbitrary bytes as the value of the attestation
//! extension (OID 1.3.6.1.4.1.11129.2.1.17) of a leaf.
//!
//! `KeyDescription::parse` must return, never panic, hang or allocate without bound; what it
//! accepts has a version of at least 1, lists within `MAX_LIST_ITEMS`, byte fields no longer
//! than the input, and parses the same way twice.
#![no_main]

use certgate::enroll::android::{
    AuthorizationList, KeyDescription, MAX_KEY_DESCRIPTION_BYTES, MAX_LIST_ITEMS,
};
use libfuzzer_sys::fuzz_target;

fn check_list(list: &AuthorizationList, input_len: usize) {
    assert!(list.purposes.len() <= MAX_LIST_ITEMS);
    assert!(list.digests.len() <= MAX_LIST_ITEMS);
    if let Some(app) = &list.attestation_application_id {
        assert!(app.packages.len() <= MAX_LIST_ITEMS);
        assert!(app.signature_digests.len() <= MAX_LIST_ITEMS);
        assert!(app.packages.iter().all(|p| p.name.len() <= input_len));
        assert!(app.signature_digests.iter().all(|d| d.len() <= input_len));
    }
    if let Some(rot) = &list.root_of_trust {
        assert!(rot.verified_boot_key.len() <= input_len);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(kd) = KeyDescription::parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_KEY_DESCRIPTION_BYTES);
    assert!(kd.attestation_version >= 1);
    assert!(kd.attestation_challenge.len() <= data.len());
    check_list(&kd.software_enforced, data.len());
    check_list(&kd.hardware_enforced, data.len());
    assert_eq!(KeyDescription::parse(data), Ok(kd));
});
