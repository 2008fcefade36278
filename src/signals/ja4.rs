//! The TLS ClientHello fingerprints JA4 (FoxIO's published algorithm) and JA3: a bounded, pure
//! parser of the ClientHello and the two fingerprints of it.
//!
//! The `server` module reads the first TLS record(s) of each connection, before rustls, and
//! calls [`parse_records`]; a transport of your own can do the same, or call
//! [`ClientHello::parse`] on a handshake message it already has. JA4 and JA3 only: the other
//! JA4+ methods (JA4S, JA4H, JA4X, …) are under a non-commercial licence.
//!
//! GREASE values (RFC 8701) are ignored everywhere: ciphers, extensions, supported versions,
//! signature algorithms, groups.
//!
//! A resumed TLS 1.3 connection (and a 0-RTT one) sends a `pre_shared_key` extension (and
//! `early_data`) that a full handshake does not: the same client gets a different JA4 when it
//! resumes. A policy that allows JA4s lists both (or learns them from traffic).
//!
//! ```
//! use certgate::signals::ja4::{self, ClientHello};
//!
//! // A minimal TLS 1.2 ClientHello: no session id, one cipher, no extensions.
//! let mut hello = vec![0x01, 0x00, 0x00, 0x29, 0x03, 0x03];
//! hello.extend_from_slice(&[0u8; 32]); // random
//! hello.extend_from_slice(&[0x00, 0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
//! let hello = ClientHello::parse(&hello)?;
//! assert_eq!(ja4::ja4(&hello), "t12i010000_f06271c2b022_000000000000");
//! let (raw, md5) = ja4::ja3(&hello);
//! assert_eq!(raw, "771,49199,,,");
//! assert_eq!(md5.len(), 32);
//! # Ok::<(), certgate::signals::ja4::ClientHelloError>(())
//! ```

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256};

/// Largest ClientHello handshake message (and largest total of TLS records holding it) the
/// parser accepts: 16 KiB. Real ClientHellos, post-quantum key shares included, are under 2 KiB.
pub const MAX_CLIENT_HELLO_BYTES: usize = 16 * 1024;

/// Most entries the parser keeps in any one list (ciphers, extensions, signature algorithms,
/// groups, versions, point formats); a ClientHello with more is malformed to it. Real clients
/// send under a hundred.
pub const MAX_LIST_ITEMS: usize = 512;

/// TLS record header: content type, legacy version, length.
const RECORD_HEADER: usize = 5;
/// Handshake message header: type, 24-bit length.
const HANDSHAKE_HEADER: usize = 4;
/// Content type of a handshake record.
const CONTENT_HANDSHAKE: u8 = 0x16;
/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 0x01;
/// Largest TLS plaintext record fragment (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// Why bytes gave no ClientHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientHelloError {
    /// The bytes end before the ClientHello does: read more (up to
    /// [`MAX_CLIENT_HELLO_BYTES`]).
    #[error("the ClientHello is incomplete")]
    Incomplete,
    /// The first record is not a handshake record.
    #[error("not a TLS handshake record")]
    NotHandshake,
    /// The first handshake message is not a ClientHello.
    #[error("not a ClientHello")]
    NotClientHello,
    /// The ClientHello (or the records holding it) is over [`MAX_CLIENT_HELLO_BYTES`].
    #[error("the ClientHello is over 16 KiB")]
    TooLarge,
    /// A length or a field does not hold together.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// What JA4 and JA3 read from a ClientHello. Lists are in the order the client sent them,
/// GREASE values included (the fingerprints drop them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientHello {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3).
    pub legacy_version: u16,
    /// Cipher suites.
    pub cipher_suites: Vec<u16>,
    /// Extension types.
    pub extensions: Vec<u16>,
    /// The first ALPN protocol, when the ALPN extension names one.
    pub alpn_first: Option<Vec<u8>>,
    /// The `supported_versions` extension's versions.
    pub supported_versions: Vec<u16>,
    /// The `signature_algorithms` extension's schemes.
    pub signature_algorithms: Vec<u16>,
    /// The `supported_groups` (elliptic curves) extension's groups.
    pub supported_groups: Vec<u16>,
    /// The `ec_point_formats` extension's formats.
    pub ec_point_formats: Vec<u8>,
}

impl ClientHello {
    /// Parses one handshake message (type, 24-bit length, body: no record header). Bytes after
    /// the message are ignored.
    ///
    /// # Errors
    ///
    /// [`ClientHelloError::Incomplete`] when the bytes end before the declared length,
    /// [`NotClientHello`](ClientHelloError::NotClientHello),
    /// [`TooLarge`](ClientHelloError::TooLarge) over 16 KiB, else
    /// [`Malformed`](ClientHelloError::Malformed).
    pub fn parse(handshake_message: &[u8]) -> Result<Self, ClientHelloError> {
        let mut r = Reader(handshake_message);
        let kind = r.u8().map_err(|_| ClientHelloError::Incomplete)?;
        if kind != CLIENT_HELLO {
            return Err(ClientHelloError::NotClientHello);
        }
        let len = r.u24().map_err(|_| ClientHelloError::Incomplete)?;
        if len > MAX_CLIENT_HELLO_BYTES {
            return Err(ClientHelloError::TooLarge);
        }
        let body = r.take(len).map_err(|_| ClientHelloError::Incomplete)?;
        Self::parse_body(body)
    }

    fn parse_body(body: &[u8]) -> Result<Self, ClientHelloError> {
        let mut r = Reader(body);
        let mut hello = Self {
            legacy_version: r.u16()?,
            ..Self::default()
        };
        r.take(32)?; // random
        let session_id = r.u8()?;
        if session_id > 32 {
            return Err(ClientHelloError::Malformed("session id over 32 bytes"));
        }
        r.take(usize::from(session_id))?;
        let ciphers_len = usize::from(r.u16()?);
        hello.cipher_suites = u16_list(r.take(ciphers_len)?)?;
        let compression = r.u8()?;
        r.take(usize::from(compression))?;
        if r.0.is_empty() {
            // No extensions block at all (SSL 3.0 / early TLS clients).
            return Ok(hello);
        }
        let extensions_len = usize::from(r.u16()?);
        let mut exts = Reader(r.take(extensions_len)?);
        if !r.0.is_empty() {
            return Err(ClientHelloError::Malformed("bytes after the extensions"));
        }
        while !exts.0.is_empty() {
            if hello.extensions.len() >= MAX_LIST_ITEMS {
                return Err(ClientHelloError::Malformed("too many extensions"));
            }
            let kind = exts.u16()?;
            let len = usize::from(exts.u16()?);
            let data = exts.take(len)?;
            hello.extensions.push(kind);
            hello.read_extension(kind, data)?;
        }
        Ok(hello)
    }

    fn read_extension(&mut self, kind: u16, data: &[u8]) -> Result<(), ClientHelloError> {
        let mut r = Reader(data);
        match kind {
            EXT_ALPN => {
                let list_len = usize::from(r.u16()?);
                let mut list = Reader(r.take(list_len)?);
                if !list.0.is_empty() {
                    let first = usize::from(list.u8()?);
                    self.alpn_first = Some(list.take(first)?.to_vec());
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let len = usize::from(r.u8()?);
                self.supported_versions = u16_list(r.take(len)?)?;
            }
            EXT_SIGNATURE_ALGORITHMS => {
                let len = usize::from(r.u16()?);
                self.signature_algorithms = u16_list(r.take(len)?)?;
            }
            EXT_SUPPORTED_GROUPS => {
                let len = usize::from(r.u16()?);
                self.supported_groups = u16_list(r.take(len)?)?;
            }
            EXT_EC_POINT_FORMATS => {
                let len = usize::from(r.u8()?);
                let formats = r.take(len)?;
                if formats.len() > MAX_LIST_ITEMS {
                    return Err(ClientHelloError::Malformed("too many point formats"));
                }
                self.ec_point_formats = formats.to_vec();
            }
            _ => return Ok(()),
        }
        if r.0.is_empty() {
            Ok(())
        } else {
            Err(ClientHelloError::Malformed(
                "bytes after an extension's list",
            ))
        }
    }
}

/// The ClientHello in the first TLS records of a connection: reassembles a handshake message
/// spread over several handshake records. Bytes after the ClientHello are ignored.
///
/// # Errors
///
/// [`ClientHelloError::Incomplete`] when more records are needed (a reader reads on, up to
/// [`MAX_CLIENT_HELLO_BYTES`] of records), [`NotHandshake`](ClientHelloError::NotHandshake)
/// when the first record is not a handshake record, [`TooLarge`](ClientHelloError::TooLarge)
/// when the records would exceed 16 KiB, and the errors of [`ClientHello::parse`].
pub fn parse_records(records: &[u8]) -> Result<ClientHello, ClientHelloError> {
    let mut rest = records;
    let mut message: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let (header, after) = rest
            .split_at_checked(RECORD_HEADER)
            .ok_or(ClientHelloError::Incomplete)?;
        let mut h = Reader(header);
        let content_type = h.u8()?;
        let _version = h.u16()?;
        let len = usize::from(h.u16()?);
        if content_type != CONTENT_HANDSHAKE {
            return Err(if first {
                ClientHelloError::NotHandshake
            } else {
                ClientHelloError::Malformed("a non-handshake record inside the ClientHello")
            });
        }
        if len == 0 || len > MAX_FRAGMENT {
            return Err(ClientHelloError::Malformed("record length"));
        }
        let (fragment, after) = after
            .split_at_checked(len)
            .ok_or(ClientHelloError::Incomplete)?;
        rest = after;
        if first && (rest.is_empty() || fragment_complete(fragment)?) {
            // The common case, a ClientHello in one record: parsed in place.
            return ClientHello::parse(fragment);
        }
        first = false;
        if message.len().saturating_add(fragment.len()) > MAX_CLIENT_HELLO_BYTES + HANDSHAKE_HEADER
        {
            return Err(ClientHelloError::TooLarge);
        }
        message.extend_from_slice(fragment);
        if fragment_complete(&message)? {
            return ClientHello::parse(&message);
        }
    }
}

/// Whether `message` holds a whole handshake message (checking its type and size as soon as
/// its header is there).
fn fragment_complete(message: &[u8]) -> Result<bool, ClientHelloError> {
    let mut r = Reader(message);
    let (Ok(kind), Ok(len)) = (r.u8(), r.u24()) else {
        return Ok(false);
    };
    if kind != CLIENT_HELLO {
        return Err(ClientHelloError::NotClientHello);
    }
    if len > MAX_CLIENT_HELLO_BYTES {
        return Err(ClientHelloError::TooLarge);
    }
    Ok(r.0.len() >= len)
}

/// A bounds-checked cursor.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClientHelloError> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(ClientHelloError::Malformed("a length runs past its end"))?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, ClientHelloError> {
        match self.take(1)? {
            [b] => Ok(*b),
            _ => Err(ClientHelloError::Malformed("a length runs past its end")),
        }
    }

    fn u16(&mut self) -> Result<u16, ClientHelloError> {
        match self.take(2)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(ClientHelloError::Malformed("a length runs past its end")),
        }
    }

    fn u24(&mut self) -> Result<usize, ClientHelloError> {
        match self.take(3)? {
            [a, b, c] => Ok(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
            _ => Err(ClientHelloError::Malformed("a length runs past its end")),
        }
    }
}

/// A list of big-endian u16s (even length, at most [`MAX_LIST_ITEMS`]).
fn u16_list(bytes: &[u8]) -> Result<Vec<u16>, ClientHelloError> {
    if bytes.len() % 2 != 0 {
        return Err(ClientHelloError::Malformed("odd length of a 16-bit list"));
    }
    if bytes.len() / 2 > MAX_LIST_ITEMS {
        return Err(ClientHelloError::Malformed("too many items in a list"));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        })
        .collect())
}

/// A GREASE value (RFC 8701): 0x?a?a with both bytes equal.
pub fn is_grease(value: u16) -> bool {
    let [hi, lo] = value.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// The JA4 fingerprint (TCP: `t`), for example `t13d1516h2_8daaf6152771_e5627efa2ab1`.
pub fn ja4(hello: &ClientHello) -> String {
    let ciphers: Vec<u16> = non_grease(&hello.cipher_suites).collect();
    let extensions: Vec<u16> = non_grease(&hello.extensions).collect();
    let mut out = String::with_capacity(36);
    out.push('t');
    out.push_str(version_code(hello));
    out.push(if extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    });
    let _ = write!(
        out,
        "{:02}{:02}",
        ciphers.len().min(99),
        extensions.len().min(99)
    );
    push_alpn(&mut out, hello.alpn_first.as_deref());
    out.push('_');

    let mut sorted = ciphers;
    sorted.sort_unstable();
    push_hash12(&mut out, &hex_list(&sorted));
    out.push('_');

    let mut sorted: Vec<u16> = extensions
        .into_iter()
        .filter(|&e| e != EXT_SERVER_NAME && e != EXT_ALPN)
        .collect();
    sorted.sort_unstable();
    let mut text = hex_list(&sorted);
    let signatures: Vec<u16> = non_grease(&hello.signature_algorithms).collect();
    if !signatures.is_empty() {
        text.push('_');
        text.push_str(&hex_list(&signatures));
    }
    push_hash12(&mut out, &text);
    out
}

/// JA3: the raw string (`SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
/// decimal, `-` separated, GREASE removed) and its MD5 in lowercase hex.
pub fn ja3(hello: &ClientHello) -> (String, String) {
    let mut raw = String::with_capacity(256);
    let _ = write!(raw, "{},", hello.legacy_version);
    push_decimal_list(&mut raw, non_grease(&hello.cipher_suites));
    raw.push(',');
    push_decimal_list(&mut raw, non_grease(&hello.extensions));
    raw.push(',');
    push_decimal_list(&mut raw, non_grease(&hello.supported_groups));
    raw.push(',');
    push_decimal_list(
        &mut raw,
        hello.ec_point_formats.iter().map(|&f| u16::from(f)),
    );
    let digest = Md5::digest(raw.as_bytes());
    let md5 = hex(&digest);
    (raw, md5)
}

fn non_grease(values: &[u16]) -> impl Iterator<Item = u16> + '_ {
    values.iter().copied().filter(|&v| !is_grease(v))
}

/// The two-character TLS version: the highest non-GREASE `supported_versions` entry, else
/// `legacy_version`.
fn version_code(hello: &ClientHello) -> &'static str {
    let version = non_grease(&hello.supported_versions)
        .max()
        .unwrap_or(hello.legacy_version);
    match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 | 0x0200 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last characters of the first ALPN value; when either is not ASCII alphanumeric,
/// the first and last characters of the value's hex; `00` without ALPN.
fn push_alpn(out: &mut String, alpn: Option<&[u8]>) {
    let ends = alpn.and_then(|v| v.first().copied().zip(v.last().copied()));
    match ends {
        Some((first, last)) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() => {
            out.push(char::from(first));
            out.push(char::from(last));
        }
        Some((first, last)) => {
            out.push(hex_digit(first >> 4));
            out.push(hex_digit(last & 0x0f));
        }
        None => out.push_str("00"),
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 0x0f), 16).unwrap_or('0')
}

/// `0a0a,1301,…`: four lowercase hex digits each, comma separated.
fn hex_list(values: &[u16]) -> String {
    let mut text = String::with_capacity(values.len().saturating_mul(5));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{v:04x}");
    }
    text
}

fn push_decimal_list(out: &mut String, values: impl Iterator<Item = u16>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('-');
        }
        let _ = write!(out, "{v}");
    }
}

/// The first 12 hex digits of the text's SHA-256, or twelve zeros for an empty text.
fn push_hash12(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("000000000000");
        return;
    }
    let digest = Sha256::digest(text.as_bytes());
    out.push_str(&hex(digest.get(..6).unwrap_or_default()));
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        for v in [0x0a0a_u16, 0x1a1a, 0xaaaa, 0xfafa] {
            assert!(is_grease(v), "{v:04x}");
        }
        for v in [0x0a1a_u16, 0x1301, 0x000a, 0xabab] {
            assert!(!is_grease(v), "{v:04x}");
        }
    }

    #[test]
    fn alpn_rule() {
        let alpn = |v: Option<&[u8]>| {
            let mut s = String::new();
            push_alpn(&mut s, v);
            s
        };
        assert_eq!(alpn(Some(b"h2")), "h2");
        assert_eq!(alpn(Some(b"http/1.1")), "h1");
        assert_eq!(alpn(Some(b"h")), "hh");
        assert_eq!(alpn(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(alpn(Some(b"")), "00");
        assert_eq!(alpn(None), "00");
    }
}
