//! The lifecycle CLI checked by real third-party tools: OpenSSL, Python `cryptography` and
//! Java's keytool read its PKCS#12 files, OpenSSL verifies its CRLs, and bad input gets a clear
//! error. These tests FAIL when a tool is missing: `.ci/run` installs them (openssl,
//! default-jre-headless, a venv with `cryptography` whose python is in `CERTGATE_PYTHON`).
#![cfg(all(feature = "cli", feature = "issue"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn certgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certgate"))
}

fn python() -> String {
    std::env::var("CERTGATE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `cmd`, panicking with a pointer to `.ci/run` when the program is missing.
fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e}; .ci/run installs the tools these tests need")
    })
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a certgate command that must fail with exit 2; returns its stderr.
fn refused(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ca: PathBuf,
    password: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let ca = root.join("ca");
    let password = root.join("password");
    std::fs::write(&password, "p12 secret\n").unwrap();
    ok(certgate()
        .arg("ca")
        .arg("init")
        .arg(&ca)
        .args(["--name", "Tools"]));
    Setup {
        _tmp: tmp,
        root,
        ca,
        password,
    }
}

fn issue(s: &Setup, app: &str, prefix: &str, extra: &[&str]) -> serde_json::Value {
    let out = ok(certgate()
        .arg("issue")
        .arg(&s.ca)
        .args(["--app", app, "--json", "--out"])
        .arg(s.root.join(prefix))
        .args(extra));
    serde_json::from_str(&out).unwrap()
}

fn subject_cn(pem: &str) -> String {
    let certs = certgate::pem::parse_certificates(pem.as_bytes()).unwrap();
    let (_, c) = x509_parser::parse_x509_certificate(&certs[0]).unwrap();
    c.subject().to_string()
}

#[test]
fn pkcs12_in_both_formats_is_read_by_openssl_python_and_keytool() {
    let s = setup();
    for format in ["modern", "legacy"] {
        let p12 = s.root.join(format!("{format}.p12"));
        issue(
            &s,
            "com.example.shop",
            format,
            &[
                "--p12",
                p12.to_str().unwrap(),
                "--password-file",
                s.password.to_str().unwrap(),
                "--p12-format",
                format,
            ],
        );
        let pass = format!("file:{}", s.password.display());

        // OpenSSL 3 (its default provider reads both AES-256 and 3DES PKCS#12).
        let info = run(Command::new("openssl")
            .args(["pkcs12", "-info", "-noout", "-passin", &pass, "-in"])
            .arg(&p12));
        assert!(info.status.success(), "{format}: {info:?}");
        let info_text = String::from_utf8_lossy(&info.stderr).to_string();
        if format == "modern" {
            assert!(
                info_text.contains("PBES2") && info_text.contains("AES-256-CBC"),
                "{info_text}"
            );
            assert!(info_text.contains("sha256"), "{info_text}");
        } else {
            assert!(
                info_text.contains("pbeWithSHA1And3-KeyTripleDES-CBC"),
                "{info_text}"
            );
            assert!(info_text.contains("sha1"), "{info_text}");
        }
        let certs = ok(Command::new("openssl")
            .args(["pkcs12", "-nokeys", "-passin", &pass, "-in"])
            .arg(&p12));
        let chain = std::fs::read_to_string(s.root.join(format!("{format}.pem"))).unwrap();
        assert_eq!(
            certs.matches("BEGIN CERTIFICATE").count(),
            2,
            "{format}: leaf + intermediate"
        );
        assert!(subject_cn(&chain).contains("com.example.shop"));
        let key = ok(Command::new("openssl")
            .args(["pkcs12", "-nocerts", "-nodes", "-passin", &pass, "-in"])
            .arg(&p12));
        assert!(key.contains("BEGIN PRIVATE KEY"), "{format}: {key}");
        let wrong = run(Command::new("openssl")
            .args(["pkcs12", "-noout", "-passin", "pass:wrong", "-in"])
            .arg(&p12));
        assert!(
            !wrong.status.success(),
            "{format}: a wrong password must fail"
        );

        // Python cryptography.
        let script = "import sys\nfrom cryptography.hazmat.primitives.serialization import pkcs12\n\
                      data = open(sys.argv[1], 'rb').read()\n\
                      key, cert, extra = pkcs12.load_key_and_certificates(data, sys.argv[2].encode())\n\
                      assert key is not None and cert is not None\n\
                      print(cert.subject.rfc4514_string(), len(extra))\n\
                      try:\n    pkcs12.load_key_and_certificates(data, b'wrong')\n    print('WRONG PASSWORD ACCEPTED')\n\
                      except ValueError:\n    print('wrong password refused')\n";
        let py = ok(Command::new(python())
            .args(["-c", script])
            .arg(&p12)
            .arg("p12 secret"));
        assert!(py.contains("CN=com.example.shop 1"), "{format}: {py}");
        assert!(py.contains("wrong password refused"), "{format}: {py}");

        // Java keytool (Android's KeyStore comes from the same family).
        let list = ok(Command::new("keytool")
            .args([
                "-list",
                "-v",
                "-storetype",
                "PKCS12",
                "-storepass",
                "p12 secret",
                "-keystore",
            ])
            .arg(&p12));
        assert!(list.contains("PrivateKeyEntry"), "{format}: {list}");
        assert!(
            list.contains("Certificate chain length: 2"),
            "{format}: {list}"
        );
        let wrong = run(Command::new("keytool")
            .args([
                "-list",
                "-storetype",
                "PKCS12",
                "-storepass",
                "wrong",
                "-keystore",
            ])
            .arg(&p12));
        assert!(
            !wrong.status.success(),
            "{format}: keytool with a wrong password"
        );
    }
}

#[test]
fn crls_verify_with_openssl_and_certgate_and_refuse_the_revoked_leaf() {
    let s = setup();
    let issued = issue(&s, "com.example.shop", "leaf", &[]);
    let serial = issued["certificate"]["serial"].as_str().unwrap().to_owned();
    let leaf = s.root.join("leaf.pem");
    let verify_leaf = || {
        run(Command::new("openssl")
            .args([
                "verify",
                "-crl_check_all",
                "-purpose",
                "sslclient",
                "-CAfile",
            ])
            .arg(s.ca.join("root.pem"))
            .arg("-untrusted")
            .arg(s.ca.join("intermediate.pem"))
            .arg("-CRLfile")
            .arg(s.ca.join("intermediate.crl.pem"))
            .arg("-CRLfile")
            .arg(s.ca.join("root.crl.pem"))
            .arg(&leaf))
    };
    let before = verify_leaf();
    assert!(before.status.success(), "{before:?}");

    ok(certgate().arg("revoke").arg(&s.ca).args([
        "--serial",
        &serial,
        "--reason",
        "key_compromise",
    ]));
    for (crl, issuer) in [
        ("intermediate.crl.pem", "intermediate.pem"),
        ("root.crl.pem", "root.pem"),
    ] {
        let out = run(Command::new("openssl")
            .args(["crl", "-noout", "-verify", "-text", "-in"])
            .arg(s.ca.join(crl))
            .arg("-CAfile")
            .arg(s.ca.join(issuer)));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("verify OK"),
            "{crl}: {text}"
        );
        assert!(text.contains("X509v3 CRL Number"), "{text}");
        if crl == "intermediate.crl.pem" {
            assert!(
                text.to_uppercase().contains(&serial.to_uppercase()),
                "{text}"
            );
            assert!(text.contains("Key Compromise"), "{text}");
        }
    }
    let after = verify_leaf();
    let text = String::from_utf8_lossy(&after.stdout).to_string()
        + &String::from_utf8_lossy(&after.stderr);
    assert!(
        !after.status.success() && text.contains("certificate revoked"),
        "{text}"
    );

    // certgate's own loader takes the CRLs, and the CLI verdict is `revoked`.
    let out = run(certgate()
        .arg("verify")
        .arg("--policy")
        .arg(s.ca.join("policy.toml"))
        .arg(&leaf));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"code\":\"revoked\""),
        "{out:?}"
    );
}

#[test]
fn openssl_csrs_issue_and_bad_ones_are_refused() {
    let s = setup();
    let req = |name: &str, newkey: &[&str]| -> PathBuf {
        let csr = s.root.join(format!("{name}.csr"));
        ok(Command::new("openssl")
            .args(["req", "-new", "-nodes", "-subj", "/CN=ignored"])
            .args(newkey)
            .arg("-keyout")
            .arg(s.root.join(format!("{name}.key")))
            .arg("-out")
            .arg(&csr));
        csr
    };
    let good = req(
        "p256",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let issued = issue(
        &s,
        "com.example.csr",
        "fromcsr",
        &["--csr", good.to_str().unwrap()],
    );
    assert!(
        issued["files"].as_array().unwrap().len() == 1,
        "no key file for a CSR: {issued}"
    );
    // The certificate carries the CSR's key: the pins agree.
    let pin_csr = ok(certgate().arg("pin").arg(&good));
    let pin_key = ok(certgate().arg("pin").arg(s.root.join("p256.key")));
    let pin_cert = ok(certgate().arg("pin").arg(s.root.join("fromcsr.pem")));
    assert_eq!(pin_csr, pin_cert);
    assert_eq!(pin_key, pin_cert);
    assert_eq!(
        issued["certificate"]["spki_pin"].as_str().unwrap(),
        pin_cert.trim()
    );

    let weak = req("rsa1024", &["-newkey", "rsa:1024"]);
    let err = refused(
        certgate()
            .arg("issue")
            .arg(&s.ca)
            .args(["--app", "com.example.w", "--csr"])
            .arg(&weak),
    );
    assert!(
        err.contains("weak key: RSA 1024") && err.contains("rsa1024.csr"),
        "{err}"
    );

    let p521 = req(
        "p521",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
    );
    let err = refused(
        certgate()
            .arg("issue")
            .arg(&s.ca)
            .args(["--app", "com.example.w", "--csr"])
            .arg(&p521),
    );
    assert!(err.contains("unsupported key"), "{err}");

    // A CSR whose signature does not verify: flip the last byte of the DER.
    let der = ok(Command::new("openssl")
        .args(["req", "-outform", "DER", "-in"])
        .arg(&good)
        .arg("-out")
        .arg(s.root.join("p256.der")));
    let _ = der;
    let mut bytes = std::fs::read(s.root.join("p256.der")).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(s.root.join("bad.der"), &bytes).unwrap();
    let err = refused(
        certgate()
            .arg("issue")
            .arg(&s.ca)
            .args(["--app", "com.example.w", "--csr"])
            .arg(s.root.join("bad.der")),
    );
    assert!(err.contains("signature check failed"), "{err}");

    // Nothing was recorded for the refused requests.
    let list: serde_json::Value =
        serde_json::from_str(&ok(certgate().arg("list").arg(&s.ca).arg("--json"))).unwrap();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1);
}

#[test]
fn two_concurrent_revokes_both_land_with_distinct_crl_numbers() {
    let s = setup();
    let a = issue(&s, "com.example.a", "a", &[]);
    let b = issue(&s, "com.example.b", "b", &[]);
    let spawn = |serial: &str| {
        certgate()
            .arg("revoke")
            .arg(&s.ca)
            .args(["--serial", serial, "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let pa = spawn(a["certificate"]["serial"].as_str().unwrap());
    let pb = spawn(b["certificate"]["serial"].as_str().unwrap());
    let mut numbers = Vec::new();
    for p in [pa, pb] {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        numbers.push(v["crl"]["intermediate_number"].as_u64().unwrap());
    }
    numbers.sort_unstable();
    assert_ne!(numbers[0], numbers[1], "{numbers:?}");
    // The CRL on disk is the later one and lists both.
    let text = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(s.ca.join("intermediate.crl.pem")));
    for v in [&a, &b] {
        let serial = v["certificate"]["serial"].as_str().unwrap().to_uppercase();
        assert!(text.to_uppercase().contains(&serial), "{text}");
    }
    let list: serde_json::Value = serde_json::from_str(&ok(certgate()
        .arg("list")
        .arg(&s.ca)
        .args(["--revoked", "--json"])))
    .unwrap();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_gets_clear_errors_and_loses_nothing() {
    let s = setup();
    let a = issue(&s, "com.example.a", "a", &[]);

    // Unknown serial.
    let err = refused(
        certgate()
            .arg("revoke")
            .arg(&s.ca)
            .args(["--serial", "0123abcd"]),
    );
    assert!(
        err.contains("no issued certificate has serial 0123abcd"),
        "{err}"
    );
    // A wrong P12 password file: empty.
    std::fs::write(s.root.join("empty"), "").unwrap();
    let err = refused(
        certgate()
            .arg("issue")
            .arg(&s.ca)
            .args(["--app", "com.example.b", "--p12"])
            .arg(s.root.join("b.p12"))
            .arg("--password-file")
            .arg(s.root.join("empty")),
    );
    assert!(err.contains("empty password"), "{err}");

    // A CA key with a permissive mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = s.ca.join("intermediate.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = refused(
            certgate()
                .arg("issue")
                .arg(&s.ca)
                .args(["--app", "com.example.c", "--out"])
                .arg(s.root.join("c")),
        );
        assert!(
            err.contains("intermediate.key") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!s.root.join("c.pem").exists());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // A database locked by another process: the command waits its busy timeout, then fails
    // naming the file, and changes nothing.
    let db = s.ca.join("certgate.db");
    let mut locker = Command::new(python())
        .args(["-c", "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(30)\n"])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(locker.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
    }
    let err = refused(
        certgate()
            .arg("revoke")
            .arg(&s.ca)
            .args(["--serial", a["certificate"]["serial"].as_str().unwrap()]),
    );
    locker.kill().unwrap();
    let _ = locker.wait();
    assert!(
        err.contains("certgate.db") && err.contains("locked"),
        "{err}"
    );
    let list: serde_json::Value = serde_json::from_str(&ok(certgate()
        .arg("list")
        .arg(&s.ca)
        .args(["--revoked", "--json"])))
    .unwrap();
    assert_eq!(
        list["certificates"].as_array().unwrap().len(),
        0,
        "the failed revoke left nothing"
    );

    // A corrupt database.
    for name in ["certgate.db-wal", "certgate.db-shm"] {
        let _ = std::fs::remove_file(s.ca.join(name));
    }
    std::fs::write(&db, vec![0x5a; 4096]).unwrap();
    let err = refused(certgate().arg("list").arg(&s.ca));
    assert!(
        err.contains("certgate.db") && err.contains("not a SQLite database"),
        "{err}"
    );
    let out = run(certgate().arg("list").arg(&s.ca).arg("--json"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "error");
}

#[test]
fn policy_check_reports_expiry_and_exit_codes() {
    let s = setup();
    let out = run(certgate()
        .arg("policy")
        .arg("check")
        .arg(s.ca.join("policy.toml"))
        .arg("--json"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["expiries"].as_array().unwrap().len(), 4, "{v}");
    // The CRLs' nextUpdate (7 days) falls within a 30-day CRL horizon: exit 1.
    let out = run(certgate()
        .arg("policy")
        .arg("check")
        .arg(s.ca.join("policy.toml"))
        .args(["--crl-horizon", "30d"]));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A policy that does not load: exit 2.
    let missing = s.root.join("missing.toml");
    std::fs::write(&missing, "[trust]\nanchors = [\"nope.pem\"]\n").unwrap();
    let out = run(certgate().arg("policy").arg("check").arg(&missing));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let _ = Path::new("");
}
