//! Fuzz the Android attestation status list loader: arbitrary bytes as Google's JSON
//! (`{"entries": {"<serial hex>": {"status": …}}}`).
//!
//! `StatusList::from_json` must return, never panic; every serial it keeps is lowercase hex
//! without leading zeros, and is found again under any spelling (upper case, leading zeros).
#![no_main]

use certgate::enroll::android::StatusList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(list) = StatusList::from_json(data) else {
        return;
    };
    let mut count = 0usize;
    for (serial, status) in list.iter() {
        count += 1;
        assert!(!serial.is_empty());
        assert!(serial.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(serial == "0" || !serial.starts_with('0'));
        assert_eq!(list.status(serial), Some(status));
        assert_eq!(list.status(&format!("00{}", serial.to_ascii_uppercase())), Some(status));
    }
    assert_eq!(count, list.len());
});
