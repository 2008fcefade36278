//! Fuzz the TLS ClientHello parser behind JA4/JA3: arbitrary bytes as a handshake message
//! (`signals::ja4::ClientHello::parse`) and as TLS records (`signals::ja4::parse_records`).
//!
//! Neither may panic, hang or allocate without bound. A parsed ClientHello gives a JA4 of the
//! published shape and a 32-hex-digit JA3, and the same message cut into 100-byte handshake
//! records parses to the same ClientHello.
#![no_main]

use certgate::signals::TlsFingerprint;
use certgate::signals::ja4::{self, ClientHello};
use libfuzzer_sys::fuzz_target;

fn check(hello: &ClientHello) {
    let fp = ja4::ja4(hello);
    let parts: Vec<&str> = fp.split('_').collect();
    assert_eq!(parts.len(), 3, "{fp}");
    assert_eq!(parts[0].len(), 10, "{fp}");
    assert!(parts[0].starts_with('t'), "{fp}");
    for hash in &parts[1..] {
        assert_eq!(hash.len(), 12, "{fp}");
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{fp}");
    }
    let (raw, md5) = ja4::ja3(hello);
    assert_eq!(raw.split(',').count(), 5, "{raw}");
    assert_eq!(md5.len(), 32);
    assert_eq!(TlsFingerprint::from_client_hello(hello).ja4, fp);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = ClientHello::parse(data) {
        check(&hello);
        // The message alone (the parser ignores what follows it), as 100-byte records.
        let len = usize::from(data[1]) << 16 | usize::from(data[2]) << 8 | usize::from(data[3]);
        let message = &data[..4 + len];
        let mut records = Vec::new();
        for chunk in message.chunks(100) {
            records.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, u8::try_from(chunk.len()).unwrap()]);
            records.extend_from_slice(chunk);
        }
        assert_eq!(ja4::parse_records(&records).as_ref(), Ok(&hello));
    }
    if let Ok(hello) = ja4::parse_records(data) {
        check(&hello);
    }
});
