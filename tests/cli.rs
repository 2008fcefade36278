//! The `certgate` binary's contract: exit 0 accept, 1 reject, 2 error; `verify` and every
//! error print exactly one JSON line; `inspect` prints one JSON line per certificate or CRL.
#![cfg(feature = "cli")]
// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use certgate::Pin;
use common::{OTHER_APP, SHOP, pki};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Every run pins the clock to the fixture's "now".
const TIME: &str = "2026-06-01T00:00:00Z";

fn fixture_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    pki().write_to(dir.path());
    dir
}

/// Runs `certgate` in `dir` with `args`.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certgate"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run certgate")
}

/// `certgate verify --time TIME --trust-anchors root.pem <extra...> <chain>`.
fn verify(dir: &Path, extra: &[&str], chain: &str) -> Output {
    let mut args = vec!["verify", "--time", TIME, "--trust-anchors", "root.pem"];
    args.extend_from_slice(extra);
    args.push(chain);
    run(dir, &args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 stderr")
}

/// The single JSON line of a `verify` run, checking the exit code.
fn verdict(out: &Output, code: i32) -> (String, Value) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let text = stdout(out);
    assert!(text.ends_with('\n'), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {text:?}");
    let json: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    (lines[0].to_owned(), json)
}

fn rejected_with(out: &Output, code: &str) -> Value {
    let (line, json) = verdict(out, 1);
    assert!(
        line.starts_with(&format!(r#"{{"verdict":"reject","code":"{code}","#)),
        "{line}"
    );
    assert!(
        json["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{line}"
    );
    json
}

/// Errors: exit 2, exactly one line `{"verdict":"error","code":CODE,"detail":…}` on
/// stdout, the detail on stderr too. Returns the detail.
fn error_with(out: &Output, code: &str) -> String {
    let (line, json) = verdict(out, 2);
    assert!(
        line.starts_with(&format!(r#"{{"verdict":"error","code":"{code}","detail":"#)),
        "{line}"
    );
    let detail = json["detail"].as_str().unwrap().to_owned();
    assert!(!detail.trim().is_empty(), "{line}");
    let first = detail.lines().next().unwrap();
    assert!(stderr(out).contains(first), "stderr: {}", stderr(out));
    detail
}

fn spki_pin(der: &[u8]) -> String {
    let (_, cert) = X509Certificate::from_der(der).expect("fixture certificate parses");
    Pin::from_spki_sha256(Sha256::digest(cert.public_key().raw).into()).to_string()
}

#[test]
fn genuine_chain_is_accepted() {
    let dir = fixture_dir();
    let out = verify(dir.path(), &[], "genuine.chain.pem");
    let (line, json) = verdict(&out, 0);
    assert!(line.starts_with(r#"{"verdict":"accept","#), "{line}");
    assert_eq!(json["identity"]["app_id"], SHOP);
    assert_eq!(json["identity"]["chain_len"], 3);
    assert_eq!(json["identity"]["valid_until"], "2027-01-01T00:00:00Z");
    // No CRLs: the one thing on stderr is the warning that revocation is not checked.
    assert_eq!(
        stderr(&out),
        "certgate: warning: revocation.crls: no CRLs are configured, so revocation is not \
         checked; only the denylist applies\n"
    );
}

#[test]
fn revoked_leaf_with_crls() {
    let dir = fixture_dir();
    let out = verify(
        dir.path(),
        &["--crl", "intermediate.crl.pem", "--crl", "root.crl.pem"],
        "revoked.chain.pem",
    );
    rejected_with(&out, "revoked");
    // The same CRLs accept the genuine leaf, with the CRLs' deadline.
    let out = verify(
        dir.path(),
        &["--crl", "intermediate.crl.pem", "--crl", "root.crl.pem"],
        "genuine.chain.pem",
    );
    let (_, json) = verdict(&out, 0);
    assert_eq!(json["identity"]["valid_until"], "2026-07-01T00:00:00Z");
}

#[test]
fn allow_app_refuses_other_apps() {
    let dir = fixture_dir();
    let out = verify(dir.path(), &["--allow-app", OTHER_APP], "genuine.chain.pem");
    rejected_with(&out, "app_not_allowed");
    let out = verify(
        dir.path(),
        &["--allow-app", OTHER_APP],
        "other-app.chain.pem",
    );
    verdict(&out, 0);
}

#[test]
fn pins() {
    let dir = fixture_dir();
    let wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    rejected_with(
        &verify(dir.path(), &["--pin-spki", wrong], "genuine.chain.pem"),
        "pin_mismatch",
    );
    let right = spki_pin(&pki().intermediate());
    let out = verify(
        dir.path(),
        &["--pin-spki", wrong, "--pin-spki", &right],
        "genuine.chain.pem",
    );
    let (_, json) = verdict(&out, 0);
    assert_eq!(json["identity"]["matched"], right.as_str());
    // A pin that is not sha256/<base64> is a usage error.
    error_with(
        &verify(dir.path(), &["--pin-spki", "md5/xyz"], "genuine.chain.pem"),
        "usage",
    );
}

#[test]
fn server_usage_with_a_dns_name() {
    let dir = fixture_dir();
    let out = verify(
        dir.path(),
        &["--usage", "server", "--dns-name", "server.example.com"],
        "server.chain.pem",
    );
    let (_, json) = verdict(&out, 0);
    assert_eq!(json["identity"]["dns_names"][0], "server.example.com");
    assert_eq!(json["identity"]["app_id"], Value::Null);

    let out = verify(
        dir.path(),
        &["--usage", "server", "--dns-name", "other.example.com"],
        "server.chain.pem",
    );
    rejected_with(&out, "name_mismatch");

    // A client leaf is refused for server use, and vice versa.
    let out = verify(dir.path(), &["--usage", "server"], "genuine.chain.pem");
    rejected_with(&out, "wrong_key_usage");
    rejected_with(
        &verify(dir.path(), &[], "server.chain.pem"),
        "wrong_key_usage",
    );
    // --dns-name without --usage server is a usage error.
    error_with(
        &verify(
            dir.path(),
            &["--dns-name", "server.example.com"],
            "server.chain.pem",
        ),
        "usage",
    );
}

#[test]
fn rejections_from_the_fixture() {
    let dir = fixture_dir();
    for (chain, code) in [
        ("expired.chain.pem", "expired"),
        ("not-yet-valid.chain.pem", "not_yet_valid"),
        ("foreign-ca.chain.pem", "unknown_issuer"),
        ("impostor-same-names.chain.pem", "bad_signature"),
        ("no-eku.chain.pem", "wrong_key_usage"),
        ("no-aki.chain.pem", "profile_violation"),
        ("two-app-ids.chain.pem", "no_app_id"),
        ("huge.chain.pem", "certificate_too_large"),
    ] {
        let out = verify(dir.path(), &[], chain);
        assert_eq!(out.status.code(), Some(1), "{chain}: {}", stdout(&out));
        rejected_with(&out, code);
    }
}

#[test]
fn text_garbage_chain_is_a_usage_error() {
    let dir = fixture_dir();
    std::fs::write(dir.path().join("garbage.pem"), "hello, world\n").unwrap();
    let err = error_with(&verify(dir.path(), &[], "garbage.pem"), "input");
    assert!(err.contains("garbage.pem"), "{err}");
}

#[test]
fn der_looking_garbage_is_a_malformed_certificate() {
    let dir = fixture_dir();
    std::fs::write(
        dir.path().join("garbage.der"),
        [0x30, 0x03, 0x01, 0x02, 0x03],
    )
    .unwrap();
    rejected_with(
        &verify(dir.path(), &[], "garbage.der"),
        "malformed_certificate",
    );
}

#[test]
fn broken_pem_is_a_usage_error() {
    let dir = fixture_dir();
    std::fs::write(
        dir.path().join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    error_with(&verify(dir.path(), &[], "broken.pem"), "input");
}

#[test]
fn missing_files_are_usage_errors() {
    let dir = fixture_dir();
    let err = error_with(&verify(dir.path(), &[], "nope.pem"), "input");
    assert!(err.contains("no such file"), "{err}");
    error_with(
        &run(
            dir.path(),
            &[
                "verify",
                "--time",
                TIME,
                "--trust-anchors",
                "nope.pem",
                "genuine.chain.pem",
            ],
        ),
        "input",
    );
    error_with(
        &verify(dir.path(), &["--crl", "nope.crl.pem"], "genuine.chain.pem"),
        "input",
    );
}

#[test]
fn bad_time_is_a_usage_error() {
    let dir = fixture_dir();
    let out = run(
        dir.path(),
        &[
            "verify",
            "--time",
            "next tuesday",
            "--trust-anchors",
            "root.pem",
            "genuine.chain.pem",
        ],
    );
    let err = error_with(&out, "usage");
    assert!(err.contains("--time"), "{err}");
}

#[test]
fn no_trust_anchor_is_a_usage_error() {
    let dir = fixture_dir();
    let out = run(dir.path(), &["verify", "--time", TIME, "genuine.chain.pem"]);
    let err = error_with(&out, "usage");
    assert!(err.contains("trust"), "{err}");
}

#[test]
fn non_conforming_crl_is_a_usage_error() {
    let dir = fixture_dir();
    let err = error_with(
        &verify(
            dir.path(),
            &["--crl", "no-crl-number.crl.pem"],
            "genuine.chain.pem",
        ),
        "input",
    );
    assert!(err.contains("crl_number"), "{err}");
}

#[test]
fn policy_file_plus_flags() {
    let dir = fixture_dir();
    std::fs::write(
        dir.path().join("policy.toml"),
        format!(
            "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ncrls = [\"intermediate.crl.pem\", \"root.crl.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\n"
        ),
    )
    .unwrap();
    let with_policy = |extra: &[&str], chain: &str| {
        let mut args = vec!["verify", "--time", TIME, "--policy", "policy.toml"];
        args.extend_from_slice(extra);
        args.push(chain);
        run(dir.path(), &args)
    };
    // The policy alone: its anchors, CRLs and app list apply.
    let (_, json) = verdict(&with_policy(&[], "genuine.chain.pem"), 0);
    assert_eq!(json["identity"]["matched"], SHOP);
    rejected_with(&with_policy(&[], "revoked.chain.pem"), "revoked");
    rejected_with(&with_policy(&[], "other-app.chain.pem"), "app_not_allowed");
    // Flags narrow it: another app is not theirs to add (a usage error), a pin is.
    let err = error_with(
        &with_policy(&["--allow-app", OTHER_APP], "other-app.chain.pem"),
        "usage",
    );
    assert!(err.contains("--allow-app"), "{err}");
    rejected_with(
        &with_policy(
            &[
                "--pin-spki",
                "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ],
            "genuine.chain.pem",
        ),
        "pin_mismatch",
    );
    // A policy error is a usage error naming the file and field.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[trust]\nanchors = [\"root.pem\", \"missing.pem\"]\n",
    )
    .unwrap();
    let err = error_with(
        &run(
            dir.path(),
            &[
                "verify",
                "--time",
                TIME,
                "--policy",
                "bad.toml",
                "genuine.chain.pem",
            ],
        ),
        "policy",
    );
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("trust.anchors[1]"), "{err}");
}

#[test]
fn flags_never_widen_or_relax_a_policy() {
    let dir = fixture_dir();
    let wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let intermediate = spki_pin(&pki().intermediate());
    std::fs::write(
        dir.path().join("pinned.toml"),
        format!("pins = [\"{wrong}\"]\n\n[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\n"),
    )
    .unwrap();
    let with_policy = |extra: &[&str], chain: &str| {
        let mut args = vec!["verify", "--time", TIME, "--policy", "pinned.toml"];
        args.extend_from_slice(extra);
        args.push(chain);
        run(dir.path(), &args)
    };
    // The policy's pin does not match: rejected, and a --pin-spki that does match cannot
    // rescue it (adding to "any one of" would widen the policy): usage error.
    rejected_with(&with_policy(&[], "genuine.chain.pem"), "pin_mismatch");
    let err = error_with(
        &with_policy(&["--pin-spki", &intermediate], "genuine.chain.pem"),
        "usage",
    );
    assert!(err.contains("--pin-spki"), "{err}");
    // --allow-app for an app the policy already lists is a no-op, not an error.
    rejected_with(
        &with_policy(&["--allow-app", SHOP], "genuine.chain.pem"),
        "pin_mismatch",
    );
    // --usage server keeps a policy's app-id requirement (the server leaf has no app id).
    std::fs::write(
        dir.path().join("plain.toml"),
        "[trust]\nanchors = [\"root.pem\"]\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "verify",
            "--time",
            TIME,
            "--policy",
            "plain.toml",
            "--usage",
            "server",
            "--dns-name",
            "server.example.com",
            "server.chain.pem",
        ],
    );
    rejected_with(&out, "no_app_id");
}

#[test]
fn a_closed_stdout_is_no_crash() {
    let dir = fixture_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certgate"))
        .current_dir(dir.path())
        .args([
            "verify",
            "--time",
            TIME,
            "--trust-anchors",
            "root.pem",
            "genuine.chain.pem",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn inspect_prints_one_json_line_per_certificate() {
    let dir = fixture_dir();
    let out = run(dir.path(), &["inspect", "genuine.pem"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let json: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(json["app_id"], SHOP);
    assert_eq!(
        json["spki_sha256"],
        spki_pin(&pki().leaf(common::Leaf::Genuine).cert).as_str()
    );
    assert_eq!(json["serial"], "10:00");

    // A chain file: the leaf and then its intermediate (no app id).
    let out = run(dir.path(), &["inspect", "genuine.chain.pem"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let inter: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(inter["app_id"], Value::Null);
    assert_eq!(
        inter["spki_sha256"],
        spki_pin(&pki().intermediate()).as_str()
    );

    // A leaf with two app ids: exit 1 and a reject line.
    let out = run(dir.path(), &["inspect", "two-app-ids.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with(r#"{"verdict":"reject","code":"no_app_id""#));

    error_with(&run(dir.path(), &["inspect", "nope.pem"]), "input");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[]);
    error_with(&out, "usage");
}

#[test]
fn a_policy_refused_at_load_prints_one_error_line() {
    let dir = fixture_dir();
    // An anchor that breaks the profile (basicConstraints not critical).
    std::fs::write(
        dir.path().join("bad-anchor.toml"),
        "[trust]\nanchors = [\"non-ca-root.pem\"]\n",
    )
    .unwrap();
    let with = |policy: &str| {
        run(
            dir.path(),
            &[
                "verify",
                "--time",
                TIME,
                "--policy",
                policy,
                "genuine.chain.pem",
            ],
        )
    };
    let err = error_with(&with("bad-anchor.toml"), "policy");
    assert!(err.contains("bad-anchor.toml"), "{err}");
    assert!(err.contains("trust.anchors[0]"), "{err}");
    assert!(
        err.contains("anchor_basic_constraints_not_critical"),
        "{err}"
    );
    // A CRL that breaks the profile (no cRLNumber).
    std::fs::write(
        dir.path().join("bad-crl.toml"),
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ncrls = [\"no-crl-number.crl.pem\"]\n",
    )
    .unwrap();
    let err = error_with(&with("bad-crl.toml"), "policy");
    assert!(err.contains("bad-crl.toml"), "{err}");
    assert!(err.contains("revocation.crls[0]"), "{err}");
}

#[test]
fn command_line_errors_are_json_lines_too() {
    let dir = fixture_dir();
    let err = error_with(
        &verify(dir.path(), &["--bogus"], "genuine.chain.pem"),
        "usage",
    );
    assert!(err.contains("--bogus"), "{err}");
    // Missing CHAIN, unknown subcommand, a bad value for a typed flag.
    error_with(
        &run(dir.path(), &["verify", "--trust-anchors", "root.pem"]),
        "usage",
    );
    error_with(&run(dir.path(), &["frobnicate"]), "usage");
    let err = error_with(
        &verify(dir.path(), &["--usage", "sideways"], "genuine.chain.pem"),
        "usage",
    );
    assert!(err.contains("sideways"), "{err}");
    // Asked-for help and version are human text, exit 0.
    for args in [&["--help"][..], &["verify", "--help"], &["--version"]] {
        let out = run(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!stdout(&out).starts_with('{'), "{}", stdout(&out));
    }
}

#[test]
fn flags_cannot_add_trust_to_a_policy() {
    let dir = fixture_dir();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[trust]\nanchors = [\"root.pem\"]\n",
    )
    .unwrap();
    let with_policy = |extra: &[&str], chain: &str| {
        let mut args = vec!["verify", "--time", TIME, "--policy", "policy.toml"];
        args.extend_from_slice(extra);
        args.push(chain);
        run(dir.path(), &args)
    };
    rejected_with(&with_policy(&[], "foreign-ca.chain.pem"), "unknown_issuer");
    // Another anchor would accept what the policy refuses: a usage error, never a verdict.
    let err = error_with(
        &with_policy(
            &["--trust-anchors", "other-root.pem"],
            "foreign-ca.chain.pem",
        ),
        "usage",
    );
    assert!(err.contains("--trust-anchors"), "{err}");
    let err = error_with(
        &with_policy(&["--intermediates", "intermediate.pem"], "genuine.pem"),
        "usage",
    );
    assert!(err.contains("--intermediates"), "{err}");
    // A policy that lists no apps is narrowed by --allow-app.
    rejected_with(
        &with_policy(&["--allow-app", OTHER_APP], "genuine.chain.pem"),
        "app_not_allowed",
    );
    verdict(
        &with_policy(&["--allow-app", OTHER_APP], "other-app.chain.pem"),
        0,
    );
}

#[test]
fn policy_warnings_go_to_stderr() {
    let dir = fixture_dir();
    let root = spki_pin(&pki().root());
    std::fs::write(
        dir.path().join("policy.toml"),
        format!("pins = [\"{root}\"]\n\n[trust]\nanchors = [\"root.pem\"]\n"),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "verify",
            "--time",
            TIME,
            "--policy",
            "policy.toml",
            "genuine.chain.pem",
        ],
    );
    verdict(&out, 0);
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings
            .iter()
            .all(|w| w.starts_with("certgate: warning: ")),
        "{err}"
    );
    assert!(err.contains("revocation is not checked"), "{err}");
    assert!(err.contains("single global pin"), "{err}");
}

#[test]
fn inspect_reads_crls() {
    let dir = fixture_dir();
    let out = run(dir.path(), &["inspect", "intermediate.crl.pem"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let json: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(json["kind"], "crl");
    assert!(
        json["issuer"].as_str().unwrap().contains("Intermediate"),
        "{json}"
    );
    let crl_der = pki().crl(common::Crl::Intermediate);
    let (_, crl) =
        x509_parser::prelude::CertificateRevocationList::from_der(crl_der.as_ref()).unwrap();
    assert_eq!(json["crl_number"], crl.crl_number().unwrap().to_string());
    assert_eq!(
        json["entries"],
        u64::try_from(crl.iter_revoked_certificates().count()).unwrap()
    );
    assert!(json["entries"].as_u64().unwrap() >= 1, "{json}");
    assert!(
        json["this_update"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    assert!(
        json["next_update"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    // DER works too.
    std::fs::write(
        dir.path().join("crl.der"),
        pki().crl(common::Crl::Intermediate).as_ref(),
    )
    .unwrap();
    let out = run(dir.path(), &["inspect", "crl.der"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let der: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(der, json);
    // A PEM file with both: the certificates, then the CRLs.
    std::fs::write(
        dir.path().join("both.pem"),
        format!(
            "{}{}",
            pki().crl_pem(common::Crl::Intermediate),
            pki().intermediate_pem()
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["inspect", "both.pem"]);
    let kinds: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(kinds, [r#""certificate""#, r#""crl""#]);
}

#[test]
fn inspect_shows_key_usage_eku_and_basic_constraints() {
    let dir = fixture_dir();
    let out = run(dir.path(), &["inspect", "genuine.chain.pem"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (leaf, ca) = (&lines[0], &lines[1]);
    assert_eq!(leaf["kind"], "certificate");
    assert_eq!(leaf["key_usage"], serde_json::json!(["digitalSignature"]));
    assert_eq!(
        leaf["extended_key_usage"],
        serde_json::json!(["clientAuth"])
    );
    assert_eq!(
        leaf["basic_constraints"],
        serde_json::json!({"ca": false, "path_len": null, "critical": true})
    );
    assert_eq!(
        ca["key_usage"],
        serde_json::json!(["keyCertSign", "cRLSign"])
    );
    assert_eq!(ca["extended_key_usage"], Value::Null);
    assert_eq!(ca["basic_constraints"]["ca"], true);
    assert_eq!(ca["basic_constraints"]["critical"], true);
}

#[test]
fn leaves_whose_keys_a_handshake_would_refuse_are_refused() {
    use common::spki::{ed448_spki, leaf_with_spki, rsa_spki};
    let dir = fixture_dir();
    for (name, spki, code) in [
        ("rsa1024", rsa_spki(1024), "profile_violation"),
        ("ed448", ed448_spki(), "unsupported_algorithm"),
    ] {
        let chain: String = leaf_with_spki(&spki)
            .iter()
            .map(|c| common::pem("CERTIFICATE", c))
            .collect();
        let file = format!("{name}.chain.pem");
        std::fs::write(dir.path().join(&file), chain).unwrap();
        let json = rejected_with(&verify(dir.path(), &[], &file), code);
        assert!(json["detail"].as_str().unwrap().contains("leaf"), "{json}");
    }
}

#[test]
fn verify_honours_the_policy_modes() {
    let dir = fixture_dir();
    let write = |observe: &str| {
        std::fs::write(
            dir.path().join("policy.toml"),
            format!(
                "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\n\n[modes]\nobserve = [{observe}]\n"
            ),
        )
        .unwrap();
    };
    let at = |time: &str, chain: &str| {
        run(
            dir.path(),
            &["verify", "--time", time, "--policy", "policy.toml", chain],
        )
    };
    // After the fixture leaves' notAfter (2027-01-01), another app's leaf is expired and not
    // allowed: two codes. Observing one of them still refuses.
    let later = "2027-02-01T00:00:00Z";
    write("\"expired\"");
    let json = rejected_with(&at(later, "other-app.chain.pem"), "expired");
    assert_eq!(
        json["codes"],
        serde_json::json!(["expired", "app_not_allowed"])
    );
    // The genuine app's expired leaf has one code, observed: "observe", exit 0.
    let (line, json) = verdict(&at(later, "genuine.chain.pem"), 0);
    assert!(
        line.starts_with(r#"{"verdict":"observe","code":"expired","#),
        "{line}"
    );
    assert_eq!(json["codes"], serde_json::json!(["expired"]));
    // Both observed: the other app passes as observed too.
    write("\"expired\", \"app_not_allowed\"");
    let (_, json) = verdict(&at(later, "other-app.chain.pem"), 0);
    assert_eq!(json["verdict"], "observe");
    // Unobservable codes are a policy error naming the file and field.
    write("\"unknown_issuer\"");
    let detail = error_with(&at(TIME, "genuine.chain.pem"), "policy");
    assert!(
        detail.contains("policy.toml") && detail.contains("modes.observe[0]"),
        "{detail}"
    );
}
