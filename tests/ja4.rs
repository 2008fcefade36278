//! JA4 and JA3 on the 8 real ClientHellos of `../shared/vectors/ja4/` (read in place, never
//! copied), and the parser against hostile input: truncations, huge lengths, empty and
//! GREASE-only lists, records split at every byte.

// Test code: panics are failures (helpers need the file-level allow, clippy.toml covers only
// #[test] fns).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use certgate::signals::TlsFingerprint;
use certgate::signals::ja4::{self, ClientHello, ClientHelloError, MAX_CLIENT_HELLO_BYTES};

/// One line of `foxio-pcap-clienthellos.jsonl`.
struct Vector {
    source: String,
    hello: Vec<u8>,
    ja4: String,
    ja3_string: String,
    ja3_md5: String,
}

/// The vectors folder. A missing folder fails the test, unless `CERTGATE_SKIP_VECTORS=1`.
fn vectors() -> Option<Vec<Vector>> {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    let file = dir.join("ja4/foxio-pcap-clienthellos.jsonl");
    if !file.is_file() {
        if std::env::var_os("CERTGATE_SKIP_VECTORS").is_some_and(|v| v == "1") {
            eprintln!("CERTGATE_SKIP_VECTORS=1: vector test left out");
            return None;
        }
        panic!(
            "ClientHello vectors not found at {} (set CERTGATE_VECTORS, or CERTGATE_SKIP_VECTORS=1 to leave these tests out)",
            file.display()
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let list: Vec<Vector> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let s = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("{k} missing in {line}"))
                    .to_owned()
            };
            Vector {
                source: format!("{} {}", s("source_pcap"), v["tcp_ports"]),
                hello: unhex(&s("client_hello_handshake_hex")),
                ja4: s("ja4_spec"),
                ja3_string: s("ja3_string"),
                ja3_md5: s("ja3_md5"),
            }
        })
        .collect();
    assert_eq!(list.len(), 8, "expected the 8 FoxIO ClientHellos");
    Some(list)
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The handshake message as TLS records of at most `fragment` bytes each.
fn records(message: &[u8], fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in message.chunks(fragment) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn the_eight_real_client_hellos_give_their_ja4_and_ja3() {
    let Some(vectors) = vectors() else { return };
    for v in &vectors {
        let hello = ClientHello::parse(&v.hello).unwrap_or_else(|e| panic!("{}: {e}", v.source));
        assert_eq!(ja4::ja4(&hello), v.ja4, "JA4 of {}", v.source);
        let (raw, md5) = ja4::ja3(&hello);
        assert_eq!(raw, v.ja3_string, "JA3 string of {}", v.source);
        assert_eq!(md5, v.ja3_md5, "JA3 of {}", v.source);
        let fp = TlsFingerprint::from_client_hello(&hello);
        assert_eq!(fp.ja4, v.ja4);
        assert_eq!(fp.ja3.as_deref(), Some(v.ja3_md5.as_str()));
        // The same through records: one, and split into small fragments.
        for fragment in [16384, 512, 100, 7, 1] {
            let got = ja4::parse_records(&records(&v.hello, fragment))
                .unwrap_or_else(|e| panic!("{} in {fragment}-byte records: {e}", v.source));
            assert_eq!(got, hello, "{} in {fragment}-byte records", v.source);
        }
        // Bytes after the ClientHello (the client's next flight) are ignored.
        let mut more = records(&v.hello, 16384);
        more.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
        assert_eq!(ja4::parse_records(&more).unwrap(), hello);
    }
}

#[test]
fn every_truncation_of_a_real_hello_is_an_error_never_a_panic() {
    let Some(vectors) = vectors() else { return };
    for v in &vectors {
        for cut in 0..v.hello.len() {
            let got = ClientHello::parse(&v.hello[..cut]);
            assert_eq!(
                got,
                Err(ClientHelloError::Incomplete),
                "{} cut at {cut}",
                v.source
            );
        }
        let recs = records(&v.hello, 300);
        for cut in 0..recs.len() {
            assert_eq!(
                ja4::parse_records(&recs[..cut]),
                Err(ClientHelloError::Incomplete),
                "{} records cut at {cut}",
                v.source
            );
        }
        // Truncating the body while keeping the header's length consistent: malformed (or,
        // where the cut lands on a field boundary, a smaller ClientHello), never a panic.
        for cut in 0..v.hello.len().saturating_sub(4) {
            let mut short = vec![0x01];
            short.extend_from_slice(&u32::try_from(cut).unwrap().to_be_bytes()[1..]);
            short.extend_from_slice(&v.hello[4..4 + cut]);
            if let Ok(hello) = ClientHello::parse(&short) {
                let _ = ja4::ja4(&hello);
                let _ = ja4::ja3(&hello);
            }
        }
        // Every single-byte corruption: whatever it gives, fingerprints are well formed.
        for i in 0..v.hello.len() {
            for flip in [0xff_u8, 0x80, 0x01] {
                let mut bad = v.hello.clone();
                bad[i] ^= flip;
                if let Ok(hello) = ClientHello::parse(&bad) {
                    assert_shape(&ja4::ja4(&hello));
                    assert_eq!(ja4::ja3(&hello).1.len(), 32);
                }
            }
        }
    }
}

/// `t` + version + `d`/`i` + two counts + ALPN, then two 12-hex hashes.
fn assert_shape(ja4: &str) {
    let parts: Vec<&str> = ja4.split('_').collect();
    assert_eq!(parts.len(), 3, "{ja4}");
    assert_eq!(parts[0].len(), 10, "{ja4}");
    assert!(parts[0].starts_with('t'), "{ja4}");
    assert!(parts[0][4..8].bytes().all(|b| b.is_ascii_digit()), "{ja4}");
    for hash in &parts[1..] {
        assert_eq!(hash.len(), 12, "{ja4}");
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{ja4}"
        );
    }
}

/// A ClientHello handshake message with the given lists (GREASE and all).
fn build(version: u16, ciphers: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&u16::try_from(ciphers.len() * 2).unwrap().to_be_bytes());
    for c in ciphers {
        body.extend_from_slice(&c.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    for (kind, data) in extensions {
        exts.extend_from_slice(&kind.to_be_bytes());
        exts.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        exts.extend_from_slice(data);
    }
    body.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&exts);
    let mut msg = vec![0x01];
    msg.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

fn u16s(prefix_len: usize, values: &[u16]) -> Vec<u8> {
    let len = values.len() * 2;
    let mut out = if prefix_len == 1 {
        vec![u8::try_from(len).unwrap()]
    } else {
        u16::try_from(len).unwrap().to_be_bytes().to_vec()
    };
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[test]
fn empty_and_grease_only_lists_have_well_defined_fingerprints() {
    // No cipher, no extension.
    let hello = ClientHello::parse(&build(0x0303, &[], &[])).unwrap();
    assert_eq!(ja4::ja4(&hello), "t12i000000_000000000000_000000000000");
    assert_eq!(ja4::ja3(&hello).0, "771,,,,");
    // GREASE-only lists: as if empty, everywhere (versions included: legacy version).
    let grease = [0x0a0a, 0x1a1a, 0xfafa];
    let hello = ClientHello::parse(&build(
        0x0303,
        &grease,
        &[
            (0x2a2a, vec![]),
            (0x002b, u16s(1, &grease)),
            (0x000a, u16s(2, &grease)),
        ],
    ))
    .unwrap();
    let fp = ja4::ja4(&hello);
    assert!(fp.starts_with("t12i0002"), "{fp}");
    assert_eq!(&fp[10..24], "_000000000000_", "{fp}");
    assert_eq!(ja4::ja3(&hello).0, "771,,43-10,,");
    // Only GREASE signature algorithms: no `_` part.
    let with_sigs = ClientHello::parse(&build(
        0x0303,
        &[0x1301],
        &[(0x000d, u16s(2, &grease)), (0x002b, u16s(1, &[0x0304]))],
    ))
    .unwrap();
    let without_sigs = ClientHello::parse(&build(
        0x0303,
        &[0x1301],
        &[(0x000d, u16s(2, &[])), (0x002b, u16s(1, &[0x0304]))],
    ))
    .unwrap();
    assert_eq!(ja4::ja4(&with_sigs), ja4::ja4(&without_sigs));
    assert!(ja4::ja4(&with_sigs).starts_with("t13i0102"));
    // Counts are capped at 99.
    let many: Vec<u16> = (1..=150).collect();
    let exts: Vec<(u16, Vec<u8>)> = (0x100..0x100 + 120).map(|k| (k, vec![])).collect();
    let hello = ClientHello::parse(&build(0x0303, &many, &exts)).unwrap();
    assert!(ja4::ja4(&hello).starts_with("t12i9999"));
}

#[test]
fn hostile_lengths_are_errors() {
    // Declared handshake length over 16 KiB.
    assert_eq!(
        ClientHello::parse(&[0x01, 0xff, 0xff, 0xff, 0x03, 0x03]),
        Err(ClientHelloError::TooLarge)
    );
    // Not a ClientHello; not a handshake record.
    assert_eq!(
        ClientHello::parse(&[0x02, 0, 0, 0]),
        Err(ClientHelloError::NotClientHello)
    );
    assert_eq!(
        ja4::parse_records(b"GET / HTTP/1.1\r\n\r\n"),
        Err(ClientHelloError::NotHandshake)
    );
    // A record over 2^14 bytes, a zero-length record.
    assert!(matches!(
        ja4::parse_records(&[0x16, 3, 1, 0x40, 0x01, 1]),
        Err(ClientHelloError::Malformed(_))
    ));
    assert!(matches!(
        ja4::parse_records(&[0x16, 3, 1, 0, 0]),
        Err(ClientHelloError::Malformed(_))
    ));
    // Records that would exceed 16 KiB before the message completes.
    let mut big = vec![0x01, 0x00, 0x40, 0x00]; // a 16 KiB ClientHello...
    big.resize(MAX_CLIENT_HELLO_BYTES + 4, 0);
    let mut recs = records(&big, 16384);
    recs.extend_from_slice(&records(&[0; 64], 64)); // ...and more
    let _ = ja4::parse_records(&recs); // an error or a parse, not a panic
    // Lists with huge declared lengths inside a small message.
    let mut msg = build(0x0303, &[0x1301], &[]);
    let ciphers_at = 4 + 2 + 32 + 1;
    msg[ciphers_at] = 0xff;
    assert!(matches!(
        ClientHello::parse(&msg),
        Err(ClientHelloError::Malformed(_))
    ));
    // An odd cipher list, an oversized session id.
    let mut odd = build(0x0303, &[0x1301], &[]);
    odd[ciphers_at + 1] = 3;
    assert!(ClientHello::parse(&odd).is_err());
    let mut sid = build(0x0303, &[0x1301], &[]);
    sid[4 + 2 + 32] = 33;
    assert!(ClientHello::parse(&sid).is_err());
    // An extension whose length runs past the block; an ALPN list with a huge inner length.
    let alpn = build(
        0x0303,
        &[0x1301],
        &[(0x0010, vec![0x00, 0x03, 0xff, b'h', b'2'])],
    );
    assert!(ClientHello::parse(&alpn).is_err());
    // Over MAX_LIST_ITEMS extensions.
    let exts: Vec<(u16, Vec<u8>)> = (0x100..0x100 + 600).map(|k| (k, vec![])).collect();
    assert!(ClientHello::parse(&build(0x0303, &[0x1301], &exts)).is_err());
    // Arbitrary garbage.
    let mut x: u32 = 0x1234_5678;
    for len in 0..400 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        let _ = ClientHello::parse(&bytes);
        let _ = ja4::parse_records(&bytes);
    }
}

#[test]
fn alpn_sni_and_version_rules() {
    let alpn = |value: &[u8]| {
        let mut list = vec![0, u8::try_from(value.len() + 1).unwrap()];
        list.push(u8::try_from(value.len()).unwrap());
        list.extend_from_slice(value);
        list
    };
    let sni = vec![0, 4, 0, 0, 1, b'x'];
    let fp = |exts: &[(u16, Vec<u8>)]| {
        ja4::ja4(&ClientHello::parse(&build(0x0303, &[0x1301], exts)).unwrap())
    };
    assert!(fp(&[(0x0010, alpn(b"h2"))]).starts_with("t12i0101h2_"));
    assert!(fp(&[(0x0010, alpn(b"http/1.1"))]).starts_with("t12i0101h1_"));
    assert!(fp(&[(0x0000, sni.clone())]).starts_with("t12d010100_"));
    // Non-alphanumeric first or last byte: first and last hex digits.
    assert!(fp(&[(0x0010, alpn(&[0xab, 0x63, 0xcd]))]).starts_with("t12i0101ad_"));
    assert!(fp(&[(0x0010, alpn(b"h2-"))]).starts_with("t12i01016d_"));
    // SNI and ALPN are counted but not hashed: the third part is the same with or without.
    let third = |s: String| s.rsplit('_').next().unwrap().to_owned();
    assert_eq!(
        third(fp(&[
            (0x0000, sni),
            (0x0010, alpn(b"h2")),
            (0x0017, vec![])
        ])),
        third(fp(&[(0x0017, vec![])]))
    );
    // Highest non-GREASE supported version wins; unknown versions are `00`.
    let v = |versions: &[u16]| {
        ja4::ja4(&ClientHello::parse(&build(0x0303, &[], &[(0x002b, u16s(1, versions))])).unwrap())
    };
    assert!(v(&[0x7a7a, 0x0303, 0x0304]).starts_with("t13"));
    assert!(v(&[0x0302, 0x0301]).starts_with("t11"));
    assert!(v(&[0x1234]).starts_with("t00"));
}
