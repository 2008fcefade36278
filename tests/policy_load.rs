//! Policy files (TOML and JSON) over the test PKI written to disk: a full policy loads and
//! verifies, and every kind of mistake names the file and the exact field.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use certgate::{AppId, AppRule, PeerChain, Pin, Policy, PolicyError, Rejection, Verifier};
use common::{Leaf, NOW, OTHER_APP, SHOP, at, pki};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A temporary directory holding the whole test PKI as PEM files.
fn fixture_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    pki().write_to(dir.path());
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write policy");
    path
}

fn spki_pin(der: &CertificateDer<'_>) -> String {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).expect("fixture certificate parses");
    let sha: [u8; 32] = Sha256::digest(cert.public_key().raw).into();
    Pin::from_spki_sha256(sha).to_string()
}

fn fingerprint_hex(der: &CertificateDer<'_>) -> String {
    Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn verify(verifier: &Verifier, leaf: Leaf) -> Result<certgate::PeerIdentity, Rejection> {
    verifier.verify(&PeerChain::new(pki().leaf(leaf).chain()), NOW)
}

fn load_err(path: &Path) -> PolicyError {
    match Policy::load(path) {
        Ok(policy) => panic!("{} loaded: {:?}", path.display(), policy.verifier()),
        Err(err) => err,
    }
}

/// A policy using every section, with files named relative to the policy.
fn full_policy() -> String {
    let intermediate = spki_pin(&pki().intermediate());
    let root = spki_pin(&pki().root());
    let revoked = fingerprint_hex(&pki().leaf(Leaf::Second).cert);
    format!(
        r#"
pins = [{{ pin = "{root}", name = "root-key" }}, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]

[trust]
anchors = ["root.pem"]
intermediates = ["intermediate.pem"]

[revocation]
crls = ["intermediate.crl.pem", "root.crl.pem"]
depth = "chain"
unknown = "deny"
expired_crl = "enforce"
denylist = ["{revoked}"]

[validity]
skew_seconds = 60

[identity]
source = "san_uri"
uri_prefix = "app://"
required = true

[profile]
strict = true
allow_missing_eku = false

[limits]
max_chain_len = 4
max_cert_bytes = 16384
max_chain_bytes = 32768
max_paths = 8

[[apps]]
id = "com.example.shop"
pins = [
  {{ pin = "{intermediate}", name = "issuing-ca", not_before = "2026-01-01T00:00:00Z", not_after = "2026-12-31T00:00:00Z" }},
  "{root}",
]
"#
    )
}

#[test]
fn full_toml_policy_loads_and_verifies() {
    let dir = fixture_dir();
    let path = write(dir.path(), "policy.toml", &full_policy());
    let policy = Policy::load(&path).unwrap();
    assert_eq!(policy.source(), Some(path.as_path()));
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    let verifier = policy.verifier();

    let identity = verify(verifier, Leaf::Genuine).unwrap();
    assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP));
    assert_eq!(identity.matched(), Some("issuing-ca"));
    // The CRLs' nextUpdate comes before the leaf's and the pin's end.
    assert_eq!(identity.valid_until(), at("2026-07-01T00:00:00Z"));

    // Each section takes effect.
    assert_eq!(
        verify(verifier, Leaf::Revoked).unwrap_err().code(),
        "revoked"
    );
    assert_eq!(
        verify(verifier, Leaf::Second).unwrap_err().code(),
        "denylisted"
    );
    assert_eq!(
        verify(verifier, Leaf::OtherApp).unwrap_err().code(),
        "app_not_allowed"
    );
    assert_eq!(
        verify(verifier, Leaf::NoAki).unwrap_err().code(),
        "profile_violation"
    );
    assert_eq!(
        verify(verifier, Leaf::NoEku).unwrap_err().code(),
        "wrong_key_usage"
    );
    // The configured intermediate lets a peer send its leaf alone.
    let leaf_only = PeerChain::new(vec![pki().leaf(Leaf::Genuine).cert.clone()]);
    verifier.verify(&leaf_only, NOW).unwrap();
}

#[test]
fn minimal_toml_policy_loads() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n",
    );
    let policy = Policy::load(&path).unwrap();
    let identity = verify(policy.verifier(), Leaf::Genuine).unwrap();
    assert_eq!(identity.valid_until(), at("2027-01-01T00:00:00Z"));
}

#[test]
fn paths_are_relative_to_the_policy_file() {
    let dir = fixture_dir();
    let nested = dir.path().join("conf");
    std::fs::create_dir(&nested).unwrap();
    let path = write(
        &nested,
        "policy.toml",
        "[trust]\nanchors = [\"../root.pem\"]\n",
    );
    let policy = Policy::load(&path).unwrap();
    verify(policy.verifier(), Leaf::Genuine).unwrap();
}

#[test]
fn missing_anchor_file_names_the_file_and_field() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\", \"missing.pem\"]\n",
    );
    let err = load_err(&path);
    assert_eq!(err.file(), Some(path.as_path()));
    assert_eq!(err.field(), "trust.anchors[1]");
    assert!(
        err.message().starts_with("no such file"),
        "{}",
        err.message()
    );
    // The path is named as the policy writes it.
    assert!(err.message().contains("missing.pem"), "{}", err.message());
    let text = err.to_string();
    assert!(text.contains("trust.anchors[1]"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn missing_policy_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = load_err(&path);
    assert_eq!(err.file(), Some(path.as_path()));
    assert!(
        err.message().starts_with("no such file"),
        "{}",
        err.message()
    );
}

#[test]
fn bad_pin_names_its_index() {
    let dir = fixture_dir();
    let good = spki_pin(&pki().intermediate());
    let path = write(
        dir.path(),
        "policy.toml",
        &format!(
            "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\npins = [\"{good}\", \"{good}\", \"sha1/AAAA\"]\n"
        ),
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "apps[0].pins[2]");
    assert_eq!(err.file(), Some(path.as_path()));
}

#[test]
fn bad_pin_time_names_the_subfield() {
    let dir = fixture_dir();
    let good = spki_pin(&pki().intermediate());
    let path = write(
        dir.path(),
        "policy.toml",
        &format!(
            "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\npins = [{{ pin = \"{good}\", not_before = \"yesterday\" }}]\n"
        ),
    );
    assert_eq!(load_err(&path).field(), "apps[0].pins[0].not_before");
}

#[test]
fn unknown_field_is_refused() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\ncolour = \"red\"\n",
    );
    let err = load_err(&path);
    assert!(err.message().contains("colour"), "{}", err.message());
    assert_eq!(err.file(), Some(path.as_path()));
    // TOML syntax errors are located by line.
    assert_eq!(err.field(), "line 3");
}

#[test]
fn bad_fingerprint_names_the_denylist_entry() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ndenylist = [\"abcd\"]\n",
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "revocation.denylist[0]");
}

#[test]
fn grace_needs_grace_hours() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ncrls = [\"intermediate.crl.pem\", \"root.crl.pem\"]\nexpired_crl = \"grace\"\n",
    );
    assert_eq!(load_err(&path).field(), "revocation.grace_hours");

    // With grace_hours it loads, and a stale CRL is accepted with a warning.
    let path = write(
        dir.path(),
        "grace.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ncrls = [\"intermediate-expired.crl.pem\", \"root.crl.pem\"]\nexpired_crl = \"grace\"\ngrace_hours = 720\n",
    );
    let policy = Policy::load(&path).unwrap();
    let identity = verify(policy.verifier(), Leaf::Genuine).unwrap();
    assert_eq!(identity.warnings(), [certgate::Warning::CrlStale]);

    // grace_hours without grace is refused too.
    let path = write(
        dir.path(),
        "stray.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ngrace_hours = 1\n",
    );
    assert_eq!(load_err(&path).field(), "revocation.grace_hours");
}

#[test]
fn limits_out_of_range_name_the_limit() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[limits]\nmax_chain_len = 0\n",
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "limits.max_chain_len");
    assert_eq!(err.file(), Some(path.as_path()));

    let path = write(
        dir.path(),
        "big.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[limits]\nmax_chain_len = 100\n",
    );
    assert_eq!(load_err(&path).field(), "limits.max_chain_len");
}

#[test]
fn crl_profile_problem_names_the_crl() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[revocation]\ncrls = [\"root.crl.pem\", \"no-crl-number.crl.pem\"]\n",
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "revocation.crls[1]");
    assert!(err.message().contains("crl_number"), "{}", err.message());
}

#[test]
fn non_conforming_anchor_names_the_anchor() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\", \"non-ca-root.pem\"]\n",
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "trust.anchors[1]");
    assert!(
        err.message()
            .contains("anchor_basic_constraints_not_critical"),
        "{}",
        err.message()
    );
    // `profile.strict = false` accepts it.
    let path = write(
        dir.path(),
        "lenient.toml",
        "[trust]\nanchors = [\"root.pem\", \"non-ca-root.pem\"]\n\n[profile]\nstrict = false\n",
    );
    Policy::load(&path).unwrap();
}

#[test]
fn identity_section_selects_the_source() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[identity]\nsource = \"subject_cn\"\n",
    );
    let policy = Policy::load(&path).unwrap();
    let identity = verify(policy.verifier(), Leaf::CnIdentity).unwrap();
    assert_eq!(identity.app_id().map(AppId::as_str), Some(common::CN_APP));
    // A URI prefix only goes with the SAN URI source.
    let path = write(
        dir.path(),
        "bad.toml",
        "[trust]\nanchors = [\"root.pem\"]\n\n[identity]\nsource = \"subject_cn\"\nuri_prefix = \"x://\"\n",
    );
    assert_eq!(load_err(&path).field(), "identity.uri_prefix");
}

#[test]
fn json_policy_works() {
    let dir = fixture_dir();
    let intermediate = spki_pin(&pki().intermediate());
    let root = spki_pin(&pki().root());
    let json = format!(
        r#"{{
  "trust": {{ "anchors": ["root.pem"] }},
  "revocation": {{ "crls": ["intermediate.crl.pem", "root.crl.pem"], "depth": "chain" }},
  "apps": [
    {{ "id": "{SHOP}", "pins": [{{ "pin": "{intermediate}", "name": "issuing-ca" }}, "{root}"] }}
  ]
}}"#
    );
    let path = write(dir.path(), "policy.json", &json);
    let policy = Policy::load(&path).unwrap();
    let identity = verify(policy.verifier(), Leaf::Genuine).unwrap();
    assert_eq!(identity.matched(), Some("issuing-ca"));
    assert_eq!(
        verify(policy.verifier(), Leaf::Revoked).unwrap_err().code(),
        "revoked"
    );
    assert_eq!(
        verify(policy.verifier(), Leaf::OtherApp)
            .unwrap_err()
            .code(),
        "app_not_allowed"
    );
}

#[test]
fn json_errors_name_the_file_and_position() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.json",
        "{ \"trust\": { \"anchors\": [\"root.pem\"] }, \"colour\": 1 }",
    );
    let err = load_err(&path);
    assert_eq!(err.file(), Some(path.as_path()));
    assert!(err.message().contains("colour"), "{}", err.message());
    assert!(err.field().starts_with("line 1"), "{}", err.field());

    let path = write(
        dir.path(),
        "missing.json",
        "{ \"trust\": { \"anchors\": [\"root.pem\", \"gone.pem\"] } }",
    );
    let err = load_err(&path);
    assert_eq!(err.field(), "trust.anchors[1]");
    assert!(
        err.message().starts_with("no such file"),
        "{}",
        err.message()
    );
}

#[test]
fn builder_from_file_then_add_an_app_in_code() {
    let dir = fixture_dir();
    let path = write(
        dir.path(),
        "policy.toml",
        &format!("[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\n"),
    );
    let verifier = Policy::builder_from_file(&path)
        .unwrap()
        .allow_app(AppRule::new(AppId::new(OTHER_APP).unwrap()))
        .build()
        .unwrap();
    assert_eq!(
        verify(&verifier, Leaf::OtherApp)
            .unwrap()
            .app_id()
            .map(AppId::as_str),
        Some(OTHER_APP)
    );
    verify(&verifier, Leaf::Genuine).unwrap();
    // Apps added in code are numbered after the file's.
    let err = Policy::builder_from_file(&path)
        .unwrap()
        .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "apps[1].id");
}

#[test]
fn from_toml_str_resolves_against_the_base() {
    let dir = fixture_dir();
    let policy = Policy::from_toml_str("[trust]\nanchors = [\"root.pem\"]\n", dir.path()).unwrap();
    assert_eq!(policy.source(), None);
    verify(policy.verifier(), Leaf::Genuine).unwrap();
}

#[test]
fn example_policy_loads_over_the_fixture() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let Ok(text) = std::fs::read_to_string(&example) else {
        eprintln!("skipped: {} does not exist", example.display());
        return;
    };
    // The example names `../demo-pki/{root.pem, intermediate.crl.pem, root.crl.pem}`; the
    // fixture writes files of those names, so lay them out the same way.
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo-pki");
    std::fs::create_dir(&demo).unwrap();
    pki().write_to(&demo);
    let examples = dir.path().join("examples");
    std::fs::create_dir(&examples).unwrap();
    let path = write(&examples, "policy.toml", &text);

    let policy = Policy::load(&path).unwrap_or_else(|e| panic!("examples/policy.toml: {e}"));
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    let verifier = policy.verifier();
    let identity = verify(verifier, Leaf::Genuine).unwrap();
    assert_eq!(identity.app_id().map(AppId::as_str), Some(SHOP));
    assert_eq!(
        verify(verifier, Leaf::Revoked).unwrap_err().code(),
        "revoked"
    );
    assert_eq!(
        verify(verifier, Leaf::OtherApp).unwrap_err().code(),
        "app_not_allowed"
    );
}

#[test]
fn pins_in_table_form() {
    // The array-of-tables forms documented in examples/policy.toml.
    let dir = fixture_dir();
    let intermediate = spki_pin(&pki().intermediate());
    let root = spki_pin(&pki().root());
    let path = write(
        dir.path(),
        "policy.toml",
        &format!(
            r#"[trust]
anchors = ["root.pem"]

[[apps]]
id = "{SHOP}"

[[apps.pins]]
name = "intermediate-2026"
pin = "{intermediate}"
not_after = "2026-06-30T23:59:59Z"

[[apps.pins]]
name = "root-backup"
pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
not_before = "2027-01-01T00:00:00Z"

[[pins]]
name = "demo-root"
pin = "{root}"

[[pins]]
pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
"#
        ),
    );
    let policy = Policy::load(&path).unwrap();
    // No CRLs: the one warning says revocation is not checked.
    assert_eq!(policy.warnings().len(), 1, "{:?}", policy.warnings());
    assert!(policy.warnings()[0].contains("revocation is not checked"));
    let identity = verify(policy.verifier(), Leaf::Genuine).unwrap();
    assert_eq!(identity.matched(), Some("intermediate-2026"));
    assert_eq!(identity.valid_until(), at("2026-06-30T23:59:59Z"));
}
