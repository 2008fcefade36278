//! A small demo PKI for the examples, made with `certgate::issue` (ECDSA P-256): the CA, its
//! SQLite database, the app certificates, the PKCS#12 and the CRLs are what `certgate ca init`,
//! `certgate issue --p12`, `certgate revoke` and `certgate crl` make.
//!
//! ```text
//! root ── intermediate ── server     (localhost, 127.0.0.1; serverAuth)
//!                      ├─ app        (app://com.example.shop; clientAuth; also app.p12)
//!                      ├─ revoked    (app://com.example.shop; revoked in the CA database)
//!                      └─ other-app  (app://com.example.other)
//! ```
//!
//! The folder is generated once; after that only the CRLs are re-signed (fresh nextUpdate, next
//! CRL number) on every start, from the CA database and keys kept in the folder, so
//! certificates stay stable across restarts. Delete the folder to start over. The folder is a
//! `certgate` CA directory: `certgate revoke <folder> --cert <folder>/app.pem` works on it.
//!
//! Included by each example with `#[path = "common/demo_pki.rs"] mod demo_pki;`.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::error::Error;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use certgate::issue::{
    Ca, CaConfig, IssueRequest, Issued, P12Format, RevocationReason, RevokeTarget,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// The app the demo policy allows.
pub(crate) const APP_ID: &str = "com.example.shop";
/// Another app, genuine but not allowed by the demo policy.
pub(crate) const OTHER_APP_ID: &str = "com.example.other";

const DAY: Duration = Duration::from_secs(24 * 3600);
/// Leaf validity (the server's; the apps' is `certgate::issue`'s default, also a year).
const LEAF_DAYS: u32 = 365;
/// How long a freshly signed CRL is good for.
const CRL_DAYS: u32 = 30;
/// The password of the genuine app's `app.p12` (a demo: in real life, a secret per app build).
pub(crate) const P12_PASSWORD: &str = "demo";

/// The policy written into a new demo folder. Paths are relative to the policy file.
const POLICY_TOML: &str = r#"# Demo policy written by certgate's examples. Edit it and send SIGHUP to the server example
# to reload it; see examples/policy.toml for every setting.

[trust]
anchors = ["root.pem"]
# Lets clients that send their leaf alone (iOS code that passes no intermediates,
# `openssl s_client -cert` without `-cert_chain`) complete the path.
intermediates = ["intermediate.pem"]

[revocation]
# Revocation is checked for the whole chain by default: the intermediate needs the root's CRL.
crls = ["intermediate.crl.pem", "root.crl.pem"]

[[apps]]
id = "com.example.shop"

# Attested enrollment (the server example's --enroll): who may enroll as the shop app. The values
# are placeholders: put your app's package name, release signing certificate SHA-256, Apple team
# and bundle ids (see the README, "Attested enrollment").
[apps.android]
package_names = ["com.example.shop"]
signing_cert_sha256 = ["0000000000000000000000000000000000000000000000000000000000000000"]

[apps.ios]
team_id = "ABCDE12345"
bundle_id = "com.example.shop"
environment = "production"

[enroll]
certificate_days = 7
challenge_ttl_seconds = 300
"#;

/// The demo folder's files, by absolute path.
#[derive(Clone, Debug)]
pub(crate) struct DemoPki {
    /// The folder (canonical).
    pub(crate) dir: PathBuf,
    /// Whether this start generated it.
    pub(crate) created: bool,
}

impl DemoPki {
    /// Generates the PKI into `dir` if the folder does not exist yet, then re-signs the CRLs.
    pub(crate) fn ensure(dir: &Path) -> Result<Self, Box<dyn Error>> {
        let created = !dir.exists();
        if created {
            // Build it next door and move it into place: an interrupted run leaves no half PKI.
            let dir: PathBuf = dir.components().collect();
            let mut partial = dir.clone().into_os_string();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            if partial.exists() {
                fs::remove_dir_all(&partial)?;
            }
            generate(&partial)?;
            fs::rename(&partial, &dir)?;
        }
        let dir = fs::canonicalize(dir)?;
        let pki = Self { dir, created };
        pki.refresh_crls().map_err(|e| {
            format!(
                "demo PKI in {}: {e} (delete the folder to generate a new one)",
                pki.dir.display()
            )
        })?;
        Ok(pki)
    }

    /// `<dir>/<name>`.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The generated policy.
    pub(crate) fn policy(&self) -> PathBuf {
        self.path("policy.toml")
    }

    /// The server's chain (leaf, intermediate) and key.
    pub(crate) fn server_identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Box<dyn Error>> {
        // Checks that the key is the certificate's, naming both files if not.
        let provider = rustls::crypto::ring::default_provider();
        Ok(certgate::pem::read_identity(
            self.path("server.pem"),
            self.path("server.key"),
            &provider,
        )?)
    }

    /// Ready-to-paste curl commands (label, command, expected result), absolute paths quoted
    /// for POSIX shells.
    pub(crate) fn curl_commands(
        &self,
        port: u16,
        expect: &Expectations,
    ) -> Vec<(&'static str, String, &'static str)> {
        let url = format!("https://localhost:{port}/");
        let cacert = format!("--cacert {}", quote(&self.path("root.pem")));
        let with = |stem: &str| {
            format!(
                "curl {cacert} --cert {} --key {} {url}",
                quote(&self.path(&format!("{stem}.pem"))),
                quote(&self.path(&format!("{stem}.key"))),
            )
        };
        vec![
            ("genuine app", with("app"), expect.genuine),
            (
                "no certificate",
                format!("curl {cacert} {url}"),
                expect.no_certificate,
            ),
            ("revoked certificate", with("revoked"), expect.revoked),
            ("other app", with("other-app"), expect.other_app),
        ]
    }

    /// The genuine app's PKCS#12 (key, leaf and intermediate; password [`P12_PASSWORD`]).
    pub(crate) fn p12(&self) -> PathBuf {
        self.path("app.p12")
    }

    /// A ready-to-paste curl command for the genuine app with its PKCS#12.
    pub(crate) fn curl_p12_command(&self, port: u16) -> String {
        let cert = format!("{}:{P12_PASSWORD}", self.p12().display());
        format!(
            "curl --cacert {} --cert-type P12 --cert '{}' https://localhost:{port}/",
            quote(&self.path("root.pem")),
            cert.replace('\'', r"'\''"),
        )
    }

    /// Re-signs `intermediate.crl.pem` (listing every certificate revoked in the CA database:
    /// `revoked.pem`'s serial, and whatever `certgate revoke` added) and `root.crl.pem`, valid
    /// for [`CRL_DAYS`] from now, with the next CRL numbers.
    pub(crate) fn refresh_crls(&self) -> Result<(), Box<dyn Error>> {
        Ca::open(&self.dir, None)?.sign_crls(Some(DAY * CRL_DAYS))?;
        Ok(())
    }
}

/// What each curl command should return, per example.
pub(crate) struct Expectations {
    pub(crate) genuine: &'static str,
    pub(crate) no_certificate: &'static str,
    pub(crate) revoked: &'static str,
    pub(crate) other_app: &'static str,
}

/// Makes the CA (root, intermediate, database, CRLs) in a new folder `dir` with
/// `certgate::issue`, issues the app certificates (and `app.p12`), revokes `revoked.pem`, signs
/// a server certificate with the intermediate, and writes the demo policy.
fn generate(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut config = CaConfig::new("certgate demo");
    config.crl_next_update = DAY * CRL_DAYS;
    let mut ca = Ca::init(dir, &config)?;

    // Leaves: each PEM file holds the leaf then the intermediate, which is what a peer presents.
    let issue = |ca: &mut Ca, stem: &str, app: &str| -> Result<Issued, Box<dyn Error>> {
        let issued = ca.issue(&IssueRequest::new(app)?)?;
        write(&dir.join(format!("{stem}.pem")), &issued.chain_pem())?;
        let key = issued
            .key_pem()
            .ok_or("no key for a generated certificate")?;
        write_private(&dir.join(format!("{stem}.key")), key.as_bytes())?;
        Ok(issued)
    };
    let app = issue(&mut ca, "app", APP_ID)?;
    write_private(
        &dir.join("app.p12"),
        &app.to_pkcs12(P12_PASSWORD, P12Format::Modern)?,
    )?;
    let revoked = issue(&mut ca, "revoked", APP_ID)?;
    issue(&mut ca, "other-app", OTHER_APP_ID)?;
    // Revoking re-signs both CRLs.
    ca.revoke(
        &RevokeTarget::Serial(revoked.record().serial.clone()),
        RevocationReason::KeyCompromise,
    )?;

    // The server's certificate: certgate issues app (client) certificates only, so this one is
    // signed with rcgen, by the same intermediate, with its key from the CA folder.
    let intermediate_key = KeyPair::from_pem(&fs::read_to_string(dir.join("intermediate.key"))?)?;
    let intermediate_pem = fs::read_to_string(dir.join("intermediate.pem"))?;
    let intermediate = Issuer::from_ca_cert_pem(&intermediate_pem, intermediate_key)?;
    let now = OffsetDateTime::now_utc();
    let mut server = leaf_params("localhost", now, now + DAY * LEAF_DAYS);
    server.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let server_cert = server.signed_by(&server_key, &intermediate)?;
    write(
        &dir.join("server.pem"),
        &format!("{}{intermediate_pem}", server_cert.pem()),
    )?;
    write_private(
        &dir.join("server.key"),
        server_key.serialize_pem().as_bytes(),
    )?;

    // `issue` appended both apps to the starter policy; the demo allows only the shop.
    write(&dir.join("policy.toml"), POLICY_TOML)?;
    Ok(())
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "certgate demo");
    dn.push(DnType::CommonName, cn);
    dn
}

/// An end entity: critical basicConstraints cA=FALSE, keyUsage digitalSignature,
/// authorityKeyIdentifier. The serial is derived from the key, so it is unique per leaf.
fn leaf_params(cn: &str, from: OffsetDateTime, until: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.not_before = from;
    params.not_after = until;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params
}

fn write(path: &Path, contents: &str) -> Result<(), Box<dyn Error>> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// Writes a private key (or a PKCS#12 holding one), readable by the owner only where the
/// platform has modes.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), Box<dyn Error>> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// `path` in single quotes, for sh, bash, zsh and fish alike.
pub(crate) fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
