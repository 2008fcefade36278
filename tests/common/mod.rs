//! Shared helpers for certgate's integration tests.
//!
//! Each integration test binary that wants the test PKI declares `mod common;`
//! and then uses `common::pki()` (built once per binary) or `common::TestPki::new()`.

// Fixture code: it only ever sees inputs the tests themselves build, never untrusted
// input, so panicking on a broken fixture is the right behaviour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions,
    dead_code,
    missing_docs,
    unreachable_pub
)]

#[cfg(feature = "enroll")]
pub mod android_attest;
#[cfg(feature = "enroll")]
pub mod app_attest;
pub mod der;
pub mod pki;
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod spki;
#[cfg(all(feature = "server", feature = "ring"))]
pub mod tls_client;

pub use pki::*;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `der` as one PEM block labelled `label` (64-column base64).
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
