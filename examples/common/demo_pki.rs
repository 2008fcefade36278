//! A small demo PKI for the examples, generated with rcgen (ECDSA P-256).
//!
//! ```text
//! root ── intermediate ── server     (localhost, 127.0.0.1; serverAuth)
//!                      ├─ app        (app://com.example.shop; clientAuth)
//!                      ├─ revoked    (app://com.example.shop; serial on the intermediate's CRL)
//!                      └─ other-app  (app://com.example.other)
//! ```
//!
//! The folder is generated once; after that only the CRLs are re-signed (fresh nextUpdate) on
//! every start, with the CA keys kept in the folder, so certificates stay stable across
//! restarts. Delete the folder to start over.
//!
//! Included by each example with `#[path = "common/demo_pki.rs"] mod demo_pki;`.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::error::Error;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// The app the demo policy allows.
pub(crate) const APP_ID: &str = "com.example.shop";
/// Another app, genuine but not allowed by the demo policy.
pub(crate) const OTHER_APP_ID: &str = "com.example.other";

const DAY: Duration = Duration::from_secs(24 * 3600);
/// CA validity.
const CA_DAYS: u32 = 3650;
/// Leaf validity.
const LEAF_DAYS: u32 = 365;
/// How long a freshly signed CRL is good for.
const CRL_DAYS: u32 = 30;

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

    /// Re-signs `intermediate.crl.pem` (revoking `revoked.pem`'s serial) and `root.crl.pem`
    /// (empty), both valid for [`CRL_DAYS`] from now.
    pub(crate) fn refresh_crls(&self) -> Result<(), Box<dyn Error>> {
        let now = OffsetDateTime::now_utc();
        let next = now + DAY * CRL_DAYS;
        // cRLNumber must grow with each issue: the current time does.
        let number = u64::try_from(now.unix_timestamp())?;
        let revoked = serial_of(&self.path("revoked.pem"))?;

        let root = load_issuer(&self.path("root.pem"), &self.path("root.key"))?;
        let intermediate = load_issuer(
            &self.path("intermediate.pem"),
            &self.path("intermediate.key"),
        )?;

        let crl = |serials: Vec<SerialNumber>| CertificateRevocationListParams {
            this_update: now,
            next_update: next,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .into_iter()
                .map(|serial_number| RevokedCertParams {
                    serial_number,
                    revocation_time: now,
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            // The same method rcgen used for the CAs' subjectKeyIdentifier, so the CRL's
            // authorityKeyIdentifier matches it.
            key_identifier_method: KeyIdMethod::Sha256,
        };
        write(
            &self.path("intermediate.crl.pem"),
            &crl(vec![revoked]).signed_by(&intermediate)?.pem()?,
        )?;
        write(
            &self.path("root.crl.pem"),
            &crl(Vec::new()).signed_by(&root)?.pem()?,
        )?;
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

/// Generates every key and certificate into a new folder `dir`, and the demo policy.
fn generate(dir: &Path) -> Result<(), Box<dyn Error>> {
    fs::create_dir_all(dir)?;
    let now = OffsetDateTime::now_utc();
    let ca_until = now + DAY * CA_DAYS;
    let leaf_until = now + DAY * LEAF_DAYS;

    // Root: self-signed, so no authorityKeyIdentifier.
    let root_key = new_key()?;
    let mut root_params = ca_params("certgate demo root CA", now, ca_until);
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.use_authority_key_identifier_extension = false;
    let root_cert = root_params.self_signed(&root_key)?;
    let root = Issuer::new(root_params, &root_key);

    // Intermediate: may issue leaves only.
    let intermediate_key = new_key()?;
    let mut intermediate_params = ca_params("certgate demo intermediate CA", now, ca_until);
    intermediate_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let intermediate_cert = intermediate_params.signed_by(&intermediate_key, &root)?;
    let intermediate = Issuer::new(intermediate_params, &intermediate_key);

    write(&dir.join("root.pem"), &root_cert.pem())?;
    write_key(&dir.join("root.key"), &root_key)?;
    write(&dir.join("intermediate.pem"), &intermediate_cert.pem())?;
    write_key(&dir.join("intermediate.key"), &intermediate_key)?;

    // Leaves: each file holds the leaf then the intermediate, which is what a peer presents.
    let issue = |stem: &str, params: CertificateParams| -> Result<(), Box<dyn Error>> {
        let key = new_key()?;
        let cert = params.signed_by(&key, &intermediate)?;
        write(
            &dir.join(format!("{stem}.pem")),
            &format!("{}{}", cert.pem(), intermediate_cert.pem()),
        )?;
        write_key(&dir.join(format!("{stem}.key")), &key)
    };

    let mut server = leaf_params("localhost", now, leaf_until);
    server.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    issue("server", server)?;
    issue("app", app_params(APP_ID, now, leaf_until)?)?;
    issue("revoked", app_params(APP_ID, now, leaf_until)?)?;
    issue("other-app", app_params(OTHER_APP_ID, now, leaf_until)?)?;

    write(&dir.join("policy.toml"), POLICY_TOML)?;
    Ok(())
}

fn new_key() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "certgate demo");
    dn.push(DnType::CommonName, cn);
    dn
}

/// A CA: critical basicConstraints (set by the caller), keyUsage keyCertSign + cRLSign,
/// subjectKeyIdentifier (rcgen writes it for every CA) and authorityKeyIdentifier.
fn ca_params(cn: &str, from: OffsetDateTime, until: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.not_before = from;
    params.not_after = until;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params
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

/// An app's client certificate: SAN URI `app://<id>`, EKU clientAuth.
fn app_params(
    id: &str,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = leaf_params(id, from, until);
    params.subject_alt_names = vec![SanType::URI(format!("app://{id}").try_into()?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// A CA from its certificate and key files, ready to sign CRLs.
fn load_issuer(cert: &Path, key: &Path) -> Result<Issuer<'static, KeyPair>, Box<dyn Error>> {
    let key = KeyPair::from_pem(&fs::read_to_string(key)?)?;
    Ok(Issuer::from_ca_cert_pem(&fs::read_to_string(cert)?, key)?)
}

/// The serial number of the first certificate in a PEM file.
fn serial_of(path: &Path) -> Result<SerialNumber, Box<dyn Error>> {
    let chain = certgate::pem::read_certificates(path)?;
    let leaf = chain.first().ok_or("empty certificate file")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)?;
    Ok(SerialNumber::from_slice(cert.raw_serial()))
}

fn write(path: &Path, contents: &str) -> Result<(), Box<dyn Error>> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()).into())
}

/// Writes a private key, readable by the owner only where the platform has modes.
fn write_key(path: &Path, key: &KeyPair) -> Result<(), Box<dyn Error>> {
    write(path, &key.serialize_pem())?;
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
