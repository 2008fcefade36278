//! What a new user trips over: every error names the file it is about, a key that is not the
//! certificate's says so, and a placeholder pin is called a placeholder.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use certgate::{Pin, Policy, pem};
use common::{Leaf, pki};
use tempfile::TempDir;

fn fixture_dir() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    pki().write_to(dir.path());
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[test]
fn pem_readers_take_any_path_and_their_errors_name_the_file() {
    let dir = fixture_dir();
    // `&str`, `String`, `&Path`, `PathBuf`: whatever the caller has.
    let root = dir.path().join("root.pem");
    assert_eq!(pem::read_certificates(&root).unwrap().len(), 1);
    assert_eq!(pem::read_certificates(root.clone()).unwrap().len(), 1);
    assert_eq!(
        pem::read_certificates(root.to_str().unwrap())
            .unwrap()
            .len(),
        1
    );
    let key = format!("{}/genuine.key.pem", dir.path().display());
    assert!(pem::read_private_key(key).is_ok());

    let garbage = write(dir.path(), "notes.txt", "hello");
    let shown = garbage.display().to_string();
    for err in [
        pem::read_certificates(&garbage).unwrap_err(),
        pem::read_crls(&garbage).unwrap_err(),
        pem::read_private_key(&garbage).unwrap_err(),
    ] {
        assert!(err.starts_with(&format!("{shown}: ")), "{err}");
    }
    // A key file where the certificate belongs, and the other way round.
    let key = dir.path().join("genuine.key.pem");
    let err = pem::read_certificates(&key).unwrap_err();
    assert_eq!(
        err,
        format!("{}: no CERTIFICATE block in the PEM", key.display())
    );
    let err = pem::read_private_key(&root).unwrap_err();
    assert!(err.starts_with(&format!("{}: ", root.display())), "{err}");
    // A missing file is named once, not twice.
    let missing = dir.path().join("missing.pem");
    let err = pem::read_certificates(&missing).unwrap_err();
    assert_eq!(err, format!("no such file: {}", missing.display()));
}

#[test]
fn read_identity_returns_a_matching_chain_and_key() {
    let dir = fixture_dir();
    let (chain, key) = pem::read_identity(
        dir.path().join("server.chain.pem"),
        dir.path().join("server.key.pem"),
        &provider(),
    )
    .unwrap();
    assert_eq!(chain, pki().leaf(Leaf::Server).chain());
    assert_eq!(
        key.secret_der(),
        pki().leaf(Leaf::Server).key().secret_der()
    );
    // What it returns is what rustls takes.
    let config = rustls::ServerConfig::builder_with_provider(provider().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key);
    assert!(config.is_ok());
}

#[test]
fn a_key_that_is_not_the_certificates_says_so_naming_both_files() {
    let dir = fixture_dir();
    let cert = dir.path().join("server.chain.pem");
    let key = dir.path().join("genuine.key.pem");
    let err = pem::read_identity(&cert, &key, &provider()).unwrap_err();
    assert!(err.contains("does not belong to the certificate"), "{err}");
    assert!(err.contains(&cert.display().to_string()), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");

    // Swapped arguments (the key file given as the certificate) name the file at fault.
    let err = pem::read_identity(&key, &cert, &provider()).unwrap_err();
    assert!(
        err.starts_with(&format!("{}: no CERTIFICATE block", key.display())),
        "{err}"
    );
}

#[test]
fn an_empty_anchor_list_names_the_policy_file_when_the_builder_came_from_it() {
    // The CLI reads a policy into a builder, adds its flags, then builds: the error from
    // `build` must still name the policy file.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "policy.toml", "[trust]\nanchors = []\n");
    let err = Policy::builder_from_file(&path)
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "trust.anchors");
    assert_eq!(err.file(), Some(path.as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: trust.anchors: at least one trust anchor is required",
            path.display()
        )
    );
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.file(), Some(path.as_path()));
}

#[test]
fn an_anchor_profile_error_names_the_anchor_file() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\", \"non-ca-root.pem\"]\n",
    );
    for err in [
        Policy::load(&path).unwrap_err(),
        Policy::builder_from_file(&path)
            .unwrap()
            .build()
            .unwrap_err(),
    ] {
        assert_eq!(err.field(), "trust.anchors[1]");
        assert_eq!(err.file(), Some(path.as_path()));
        assert!(
            err.message()
                .starts_with("non-ca-root.pem: profile violation"),
            "{}",
            err.message()
        );
        assert!(
            err.to_string().starts_with(&format!(
                "{}: trust.anchors[1]: non-ca-root.pem: profile violation",
                path.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn intermediate_and_crl_errors_name_their_files() {
    let dir = fixture_dir();
    // A leaf where an intermediate belongs.
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\nintermediates = [\"genuine.pem\"]\n",
    );
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.field(), "trust.intermediates[0]");
    assert!(err.message().starts_with("genuine.pem: "), "{err}");
    // A certificate where a CRL belongs.
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n[revocation]\ncrls = [\"root.pem\"]\n",
    );
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.field(), "revocation.crls[0]");
    assert!(err.message().starts_with("root.pem: "), "{err}");
}

#[test]
fn a_placeholder_pin_is_not_a_pin_without_decoder_noise() {
    for placeholder in [
        "sha256/<base64>",
        "sha256/AAAA…=",
        "sha256/BBBB…=",
        "sha256/base64 of the SPKI",
    ] {
        let err = placeholder.parse::<Pin>().unwrap_err();
        assert_eq!(
            err,
            format!(
                "not a sha256/<base64> pin: {placeholder:?} (what follows sha256/ is not base64)"
            )
        );
        assert!(!err.to_lowercase().contains("invalid"), "{err}");
        assert!(!err.contains("offset"), "{err}");
    }
    // The README's placeholder in a policy file, named with its field.
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n[[apps]]\nid = \"com.example.shop\"\npins = [\"sha256/<base64>\"]\n",
    );
    let err = Policy::load(&path).unwrap_err();
    assert_eq!(err.field(), "apps[0].pins[0]");
    assert!(
        err.message()
            .starts_with("not a sha256/<base64> pin: \"sha256/<base64>\""),
        "{err}"
    );
}
