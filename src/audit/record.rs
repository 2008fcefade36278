//! The record bodies, as written. Every line is `{"seq":N,"prev":"<hex>","kind":"<kind>", …body}`.

use std::net::SocketAddr;

use serde::Serialize;

use crate::events::Action;
use crate::policy::Mode;

/// The version of the record format, in `start` records.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The `prev` of the very first record.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

pub(crate) const KIND_START: &str = "start";
pub(crate) const KIND_POLICY: &str = "policy";
pub(crate) const KIND_CHAIN: &str = "chain";
pub(crate) const KIND_VERDICT: &str = "verdict";
pub(crate) const KIND_GAP: &str = "gap";

#[derive(Serialize)]
pub(crate) struct Start {
    pub(crate) version: u32,
    /// `open` or `rotate`.
    pub(crate) reason: &'static str,
    /// Bytes of an incomplete last line cut off when the log was reopened.
    pub(crate) truncated_bytes: u64,
}

#[derive(Serialize)]
pub(crate) struct Verdict<'a> {
    pub(crate) time: u64,
    pub(crate) action: Action,
    pub(crate) code: &'static str,
    pub(crate) codes: Vec<&'static str>,
    pub(crate) warnings: Vec<&'static str>,
    pub(crate) app_id: Option<&'a str>,
    pub(crate) fingerprint: Option<String>,
    /// The chain digest (`null` when no chain could be read).
    pub(crate) chain: Option<String>,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) cached: bool,
    pub(crate) generation: u64,
    /// The policy digest (`null` for a policy built in code: not replayable).
    pub(crate) policy: Option<String>,
    pub(crate) crl_numbers: Vec<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct Chain {
    pub(crate) digest: String,
    /// Base64 (standard) DER, leaf first.
    pub(crate) certs: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct Policy<'a> {
    pub(crate) digest: String,
    /// `toml` or `json`.
    pub(crate) format: &'static str,
    pub(crate) text: &'a str,
    pub(crate) files: Vec<PolicyFile<'a>>,
    pub(crate) default_mode: &'static str,
    /// Every code's mode: `{"expired":"enforce",…}`.
    pub(crate) modes: serde_json::Map<String, serde_json::Value>,
    pub(crate) crls: Vec<Crl<'a>>,
}

#[derive(Serialize)]
pub(crate) struct PolicyFile<'a> {
    /// The path as the policy writes it.
    pub(crate) name: &'a str,
    pub(crate) sha256: String,
    /// Base64 (standard) of the bytes; `null` when they could not be captured (`omitted`).
    pub(crate) data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) omitted: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Crl<'a> {
    pub(crate) field: &'a str,
    pub(crate) number: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct Gap {
    /// Verdict records lost since the previous gap record (or the start).
    pub(crate) dropped: u64,
    /// Records lost since the writer started.
    pub(crate) dropped_total: u64,
}

pub(crate) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Observe => "observe",
        _ => "enforce",
    }
}

/// `{"seq":N,"prev":"<hex>","kind":"<kind>"` followed by `body`'s fields and `}`, into `out`.
pub(crate) fn line(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &[u8; 32],
    kind: &str,
    body: &impl Serialize,
) -> serde_json::Result<()> {
    use std::io::Write as _;
    let start = out.len();
    let _ = write!(
        out,
        "{{\"seq\":{seq},\"prev\":\"{}\",\"kind\":\"{kind}\"",
        crate::hex(prev)
    );
    let body_at = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, body) {
        out.truncate(start);
        return Err(e);
    }
    // The body is an object: `{…}` → `,…}` (or `{}` → `}`).
    match out.get(body_at..) {
        Some(b"{}") => {
            out.truncate(body_at);
            out.push(b'}');
        }
        _ => {
            if let Some(brace) = out.get_mut(body_at) {
                *brace = b',';
            }
        }
    }
    Ok(())
}
