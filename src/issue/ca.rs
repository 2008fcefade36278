//! The CA: a root and an issuing intermediate on disk, issuing app certificates, revoking them
//! and signing CRLs, with every issued certificate in the [`Store`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;

use super::csr::PublicKey;
use super::keys::RcgenSigner;
use super::p12::{P12Format, write_pkcs12};
use super::store::{CertRecord, InstallRecord, RevocationReason, Store, Writer};
use super::{Algorithm, Csr, IssueError, KeySigner, Signer};
use crate::AppId;

/// Default lifetime of an issued app certificate (one year).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Default time from a CRL's thisUpdate to its nextUpdate (7 days).
pub const DEFAULT_CRL_NEXT_UPDATE: Duration = Duration::from_secs(7 * 24 * 3600);
/// An issued certificate's notBefore is this far in the past, so a phone whose clock is a few
/// minutes behind can use it at once.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Longest validity accepted for an app certificate (about 10 years).
const MAX_VALIDITY: Duration = Duration::from_secs(3660 * 24 * 3600);
/// Largest CRL nextUpdate distance (366 days).
const MAX_CRL_NEXT_UPDATE: Duration = Duration::from_secs(366 * 24 * 3600);
/// The marker line after which `issue` appends the apps it issued for to `policy.toml`.
pub(crate) const APPS_MARKER: &str = "# certgate: apps issued by this CA are appended below.";

const META_FILE: &str = "ca.json";
const DB_FILE: &str = "certgate.db";
const ROOT_CERT: &str = "root.pem";
const ROOT_KEY: &str = "root.key";
const INTERMEDIATE_CERT: &str = "intermediate.pem";
const INTERMEDIATE_KEY: &str = "intermediate.key";
const ROOT_CRL: &str = "root.crl.pem";
const INTERMEDIATE_CRL: &str = "intermediate.crl.pem";
const POLICY_FILE: &str = "policy.toml";

/// How [`Ca::init`] makes a CA.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaConfig {
    /// Key algorithm of the root and the intermediate (default P-256).
    pub algorithm: Algorithm,
    /// Organization name; the CNs are `<name> Root CA` and `<name> Issuing CA`.
    pub name: String,
    /// Root lifetime in years (default 20).
    pub root_years: u32,
    /// Intermediate lifetime in years (default 5; never past the root).
    pub intermediate_years: u32,
    /// A CRL distribution point URL written into every issued certificate.
    pub crl_url: Option<String>,
    /// Encrypts both CA keys with this passphrase.
    pub key_passphrase: Option<String>,
    /// nextUpdate − thisUpdate of the CRLs (default 7 days).
    pub crl_next_update: Duration,
}

impl CaConfig {
    /// The defaults with this organization name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            algorithm: Algorithm::default(),
            name: name.into(),
            root_years: 20,
            intermediate_years: 5,
            crl_url: None,
            key_passphrase: None,
            crl_next_update: DEFAULT_CRL_NEXT_UPDATE,
        }
    }
}

/// `ca.json`: what a CA directory is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    version: u32,
    algorithm: Algorithm,
    name: String,
    crl_url: Option<String>,
    crl_next_update_secs: u64,
    encrypted_keys: bool,
}

/// Where an issued certificate's key comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SubjectKey {
    /// A fresh key of this algorithm, returned in [`Issued`].
    Generate(Algorithm),
    /// The public key of a checked CSR (the caller keeps the private key).
    Csr(Csr),
    /// A public key whose possession was proven another way (a platform attestation of a key
    /// that never leaves the phone's hardware).
    PublicKey(PublicKey),
}

/// What to issue.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IssueRequest {
    /// The app id, written as SAN URI `app://<app id>` and as the subject CN.
    pub app_id: AppId,
    /// An install id (a UUID), written as a second SAN URI `urn:uuid:<id>`.
    pub install_id: Option<String>,
    /// How long the certificate is valid (default one year); capped by the intermediate.
    pub validity: Duration,
    /// The key.
    pub key: SubjectKey,
    /// Attestation facts, written into the certificate's
    /// [`ATTESTATION_OID`](crate::ATTESTATION_OID) extension (enrollment sets them).
    pub attestation: Option<crate::AttestationFacts>,
}

impl IssueRequest {
    /// A request for `app_id` with a fresh P-256 key, valid one year.
    pub fn new(app_id: &str) -> Result<Self, IssueError> {
        let app_id = AppId::new(app_id).map_err(|e| IssueError::Input(format!("app id: {e}")))?;
        Ok(Self {
            app_id,
            install_id: None,
            validity: DEFAULT_VALIDITY,
            key: SubjectKey::Generate(Algorithm::P256),
            attestation: None,
        })
    }

    /// Sets the install id: a UUID (`8-4-4-4-12` hex digits), stored lower-case.
    pub fn install_id(mut self, id: &str) -> Result<Self, IssueError> {
        self.install_id = Some(parse_uuid(id)?);
        Ok(self)
    }

    /// Sets the validity.
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// Sets where the key comes from.
    pub fn key(mut self, key: SubjectKey) -> Self {
        self.key = key;
        self
    }

    /// Sets the attestation facts the certificate carries.
    pub fn attestation(mut self, facts: crate::AttestationFacts) -> Self {
        self.attestation = Some(facts);
        self
    }
}

/// A freshly issued certificate.
#[derive(Clone)]
pub struct Issued {
    cert: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    key_pkcs8: Option<Vec<u8>>,
    record: CertRecord,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// The certificate.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The chain an app presents: the certificate, then the intermediate.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone(), self.intermediate.clone()]
    }

    /// [`Issued::chain`] as PEM.
    pub fn chain_pem(&self) -> String {
        self.chain()
            .iter()
            .map(|c| pem_block("CERTIFICATE", c))
            .collect()
    }

    /// The generated private key, PKCS#8 DER (`None` when issued from a CSR).
    pub fn key_pkcs8(&self) -> Option<&[u8]> {
        self.key_pkcs8.as_deref()
    }

    /// The generated private key as PEM `PRIVATE KEY`.
    pub fn key_pem(&self) -> Option<String> {
        self.key_pkcs8
            .as_deref()
            .map(|k| pem_block("PRIVATE KEY", k))
    }

    /// A PKCS#12 file with the key and [`Issued::chain`], under `password`, named after the
    /// app id. Needs the generated key (not for a CSR).
    pub fn to_pkcs12(&self, password: &str, format: P12Format) -> Result<Vec<u8>, IssueError> {
        let key = self.key_pkcs8.as_deref().ok_or_else(|| {
            IssueError::Pkcs12("issued from a CSR: the CA has no private key to put in it".into())
        })?;
        write_pkcs12(&self.record.app_id, key, &self.chain(), password, format)
    }

    /// The database record.
    pub fn record(&self) -> &CertRecord {
        &self.record
    }
}

/// Which certificate to revoke.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RevokeTarget {
    /// By serial: hex, colons and a leading `00` allowed.
    Serial(String),
    /// By SHA-256 of the certificate: 64 hex digits, colons allowed.
    Fingerprint(String),
    /// The certificate itself (DER).
    Certificate(CertificateDer<'static>),
}

/// What [`Ca::revoke_install`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RevokedInstall {
    /// The install's certificates that were live and are now revoked (may be none: all had
    /// expired or were revoked one by one).
    pub records: Vec<CertRecord>,
    /// The CRLs signed after them.
    pub crl: CrlReport,
}

/// What [`Ca::revoke`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Revoked {
    /// The record, now revoked.
    pub record: CertRecord,
    /// The CRLs signed after it.
    pub crl: CrlReport,
}

/// What [`Ca::sign_crls`] wrote.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct CrlReport {
    /// The intermediate's CRL (the app certificates).
    pub intermediate_crl: PathBuf,
    /// Its CRL number.
    pub intermediate_number: u64,
    /// How many serials it lists.
    pub revoked: usize,
    /// The root's CRL (the intermediate).
    pub root_crl: PathBuf,
    /// Its CRL number.
    pub root_number: u64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
}

/// Everything of the CA but the database, so signing can borrow it inside a transaction.
struct Core {
    dir: PathBuf,
    meta: Meta,
    root: CertificateDer<'static>,
    intermediate: CertificateDer<'static>,
    intermediate_not_before: i64,
    intermediate_not_after: i64,
    root_signer: Box<dyn Signer>,
    intermediate_signer: Box<dyn Signer>,
}

/// A CA directory, opened.
pub struct Ca {
    core: Core,
    store: Store,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.core.dir)
            .field("algorithm", &self.core.meta.algorithm)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Creates a CA in `dir` (created if missing): root and intermediate keys (mode 0600) and
    /// certificates, `ca.json`, the database, the first CRLs and a starter `policy.toml`.
    /// Refuses a directory that already holds a CA.
    pub fn init(dir: impl AsRef<Path>, config: &CaConfig) -> Result<Self, IssueError> {
        let dir = dir.as_ref().to_path_buf();
        if config.name.trim().is_empty() || config.name.len() > 64 {
            return Err(IssueError::Input("--name: 1 to 64 characters".into()));
        }
        if !(1..=50).contains(&config.root_years) || config.intermediate_years == 0 {
            return Err(IssueError::Input(
                "root years 1..=50 and intermediate years at least 1".into(),
            ));
        }
        if let Some(url) = &config.crl_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 512 {
                return Err(IssueError::Input(format!(
                    "--crl-url {url:?}: an http:// or https:// URL (CRLs are fetched over HTTP)"
                )));
            }
        }
        check_next_update(config.crl_next_update)?;
        std::fs::create_dir_all(&dir).map_err(|e| IssueError::io(&dir, e))?;
        let meta_path = dir.join(META_FILE);
        if meta_path.exists() {
            return Err(IssueError::Exists(dir));
        }
        let now = now();
        let root_key = KeySigner::generate(config.algorithm)?;
        let inter_key = KeySigner::generate(config.algorithm)?;

        let root_not_after = now + years(config.root_years);
        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = dn(&config.name, &format!("{} Root CA", config.name));
        root_params.serial_number = Some(random_serial()?);
        root_params.not_before = now - time::Duration::minutes(5);
        root_params.not_after = root_not_after;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Self-issued: no AKI (certgate's strict profile wants none, or one equal to the SKI).
        root_params.use_authority_key_identifier_extension = false;
        let root_cert = root_params
            .self_signed(root_key.key_pair())
            .map_err(IssueError::signing)?;
        let root_issuer = Issuer::new(root_params, root_key.key_pair());

        let mut inter_params = CertificateParams::default();
        inter_params.distinguished_name = dn(&config.name, &format!("{} Issuing CA", config.name));
        inter_params.serial_number = Some(random_serial()?);
        inter_params.not_before = now - time::Duration::minutes(5);
        inter_params.not_after = (now + years(config.intermediate_years)).min(root_not_after);
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        inter_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        inter_params.use_authority_key_identifier_extension = true;
        let inter_cert = inter_params
            .signed_by(inter_key.key_pair(), &root_issuer)
            .map_err(IssueError::signing)?;

        let passphrase = config.key_passphrase.as_deref();
        root_key.write(&dir.join(ROOT_KEY), passphrase)?;
        inter_key.write(&dir.join(INTERMEDIATE_KEY), passphrase)?;
        let root_der: CertificateDer<'static> = root_cert.der().clone();
        let inter_der: CertificateDer<'static> = inter_cert.der().clone();
        super::files::write_new(
            &dir.join(ROOT_CERT),
            pem_block("CERTIFICATE", &root_der).as_bytes(),
            0o644,
        )?;
        super::files::write_new(
            &dir.join(INTERMEDIATE_CERT),
            pem_block("CERTIFICATE", &inter_der).as_bytes(),
            0o644,
        )?;
        let meta = Meta {
            version: 1,
            algorithm: config.algorithm,
            name: config.name.clone(),
            crl_url: config.crl_url.clone(),
            crl_next_update_secs: config.crl_next_update.as_secs(),
            encrypted_keys: passphrase.is_some(),
        };
        let meta_json = serde_json::to_string_pretty(&meta)
            .map_err(|e| IssueError::malformed(&meta_path, e.to_string()))?;
        super::files::write_new(&meta_path, meta_json.as_bytes(), 0o644)?;
        let policy_path = dir.join(POLICY_FILE);
        if !policy_path.exists() {
            super::files::write_new(&policy_path, starter_policy(&config.name).as_bytes(), 0o644)?;
        }
        let store = Store::open(dir.join(DB_FILE))?;
        let (inb, ina) = validity_of(&inter_der, &dir.join(INTERMEDIATE_CERT))?;
        let mut ca = Self {
            core: Core {
                dir,
                meta,
                root: root_der,
                intermediate: inter_der,
                intermediate_not_before: inb,
                intermediate_not_after: ina,
                root_signer: Box::new(root_key),
                intermediate_signer: Box::new(inter_key),
            },
            store,
        };
        ca.sign_crls(None)?;
        Ok(ca)
    }

    /// Opens the CA in `dir` with its key files; `passphrase` for encrypted keys. Refuses key
    /// files that group or others may read, and keys that do not match their certificates.
    pub fn open(dir: impl AsRef<Path>, passphrase: Option<&str>) -> Result<Self, IssueError> {
        let dir = dir.as_ref();
        let meta = read_meta(dir)?;
        let root: Box<dyn Signer> = Box::new(KeySigner::read(
            &dir.join(ROOT_KEY),
            meta.algorithm,
            passphrase,
        )?);
        let intermediate: Box<dyn Signer> = Box::new(KeySigner::read(
            &dir.join(INTERMEDIATE_KEY),
            meta.algorithm,
            passphrase,
        )?);
        Self::open_inner(dir, meta, root, intermediate)
    }

    /// Opens the CA in `dir` with signers of your own (a KMS, an HSM) instead of its key
    /// files. Each signer's public key must be its certificate's.
    pub fn open_with_signers(
        dir: impl AsRef<Path>,
        root: Box<dyn Signer>,
        intermediate: Box<dyn Signer>,
    ) -> Result<Self, IssueError> {
        let dir = dir.as_ref();
        let meta = read_meta(dir)?;
        Self::open_inner(dir, meta, root, intermediate)
    }

    fn open_inner(
        dir: &Path,
        meta: Meta,
        root_signer: Box<dyn Signer>,
        intermediate_signer: Box<dyn Signer>,
    ) -> Result<Self, IssueError> {
        let root = read_one_cert(&dir.join(ROOT_CERT))?;
        let intermediate = read_one_cert(&dir.join(INTERMEDIATE_CERT))?;
        check_key_matches(
            &root,
            &*root_signer,
            &dir.join(ROOT_CERT),
            &dir.join(ROOT_KEY),
        )?;
        check_key_matches(
            &intermediate,
            &*intermediate_signer,
            &dir.join(INTERMEDIATE_CERT),
            &dir.join(INTERMEDIATE_KEY),
        )?;
        let (inb, ina) = validity_of(&intermediate, &dir.join(INTERMEDIATE_CERT))?;
        let store = Store::open_existing(dir.join(DB_FILE))?;
        Ok(Self {
            core: Core {
                dir: dir.to_path_buf(),
                meta,
                root,
                intermediate,
                intermediate_not_before: inb,
                intermediate_not_after: ina,
                root_signer,
                intermediate_signer,
            },
            store,
        })
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }

    /// The root certificate.
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.core.root
    }

    /// The intermediate certificate.
    pub fn intermediate(&self) -> &CertificateDer<'static> {
        &self.core.intermediate
    }

    /// The key algorithm of the CA.
    pub fn algorithm(&self) -> Algorithm {
        self.core.meta.algorithm
    }

    /// The starter policy's path (`policy.toml` in the CA directory).
    pub fn policy_path(&self) -> PathBuf {
        self.core.dir.join(POLICY_FILE)
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database, for writes of your own (bulk imports).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Issues an app certificate and records it. When the CA directory's `policy.toml` still
    /// carries the starter marker line, the app id is appended to its `[[apps]]`.
    pub fn issue(&mut self, request: &IssueRequest) -> Result<Issued, IssueError> {
        self.issue_inner(request, None)
    }

    /// Enrolls an install: issues `request` (which must carry the install id, a
    /// [`SubjectKey::PublicKey`] and attestation facts) and records the install, in one
    /// transaction. `install` gives the App Attest key id, counter and receipt (iOS); its
    /// install id, app id, key and facts must equal the request's.
    pub fn enroll(
        &mut self,
        request: &IssueRequest,
        install: &InstallRecord,
    ) -> Result<Issued, IssueError> {
        let consistent = request.install_id.as_deref() == Some(install.install_id.as_str())
            && request.app_id.as_str() == install.app_id
            && request.attestation.as_ref() == Some(&install.facts)
            && matches!(&request.key, SubjectKey::PublicKey(k) if k.spki_der() == install.spki);
        if !consistent {
            return Err(IssueError::Input(
                "the install record does not match the request (install id, app id, key, facts)"
                    .into(),
            ));
        }
        self.issue_inner(request, Some(install))
    }

    /// Revokes every live certificate of an install and the install itself (no renewal after
    /// this), then re-signs both CRLs, in one transaction.
    pub fn revoke_install(
        &mut self,
        install_id: &str,
        reason: RevocationReason,
    ) -> Result<RevokedInstall, IssueError> {
        let install_id = parse_uuid(install_id)?;
        let now = now();
        let at = now.unix_timestamp();
        let core = &self.core;
        self.store.write(|w| {
            let records = w.live_certs_of_install(&install_id)?;
            let install = w.revoke_install(&install_id, at)?;
            if records.is_empty() && !install {
                return Err(IssueError::UnknownCertificate(format!(
                    "install {install_id} (no live certificate, no enrolled install)"
                )));
            }
            for r in &records {
                w.mark_revoked(&r.serial, at, reason)?;
            }
            let crl = sign_crls(core, w, now, None)?;
            let records = records
                .into_iter()
                .map(|mut r| {
                    r.revoked_at = Some(at);
                    r.reason = Some(reason);
                    r
                })
                .collect();
            Ok(RevokedInstall { records, crl })
        })
    }

    fn issue_inner(
        &mut self,
        request: &IssueRequest,
        install: Option<&InstallRecord>,
    ) -> Result<Issued, IssueError> {
        let now = now();
        let core = &self.core;
        let not_before = (now - BACKDATE).max(from_unix(core.intermediate_not_before)?);
        if request.validity.is_zero() || request.validity > MAX_VALIDITY {
            return Err(IssueError::Input(format!(
                "validity: 1 second to {} days",
                MAX_VALIDITY.as_secs() / 86400
            )));
        }
        let wanted = now + request.validity;
        let not_after = wanted.min(from_unix(core.intermediate_not_after)?);
        if not_after <= now {
            return Err(IssueError::Input(
                "the intermediate has expired: make a new CA (certgate ca init)".into(),
            ));
        }
        let app = request.app_id.as_str();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, app);
        params.distinguished_name = name;
        let mut sans = vec![SanType::URI(
            format!("app://{app}")
                .try_into()
                .map_err(|e| IssueError::Input(format!("app id: {e}")))?,
        )];
        if let Some(install) = &request.install_id {
            sans.push(SanType::URI(
                format!("urn:uuid:{install}")
                    .try_into()
                    .map_err(|e| IssueError::Input(format!("install id: {e}")))?,
            ));
        }
        params.subject_alt_names = sans;
        let serial = random_serial()?;
        let serial_hex = crate::hex(serial.as_ref());
        params.serial_number = Some(serial);
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        if let Some(facts) = &request.attestation {
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    crate::ATTESTATION_OID,
                    facts.to_der(),
                ));
        }
        if let Some(url) = &core.meta.crl_url {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        let signer = RcgenSigner(&*core.intermediate_signer);
        let issuer =
            Issuer::from_ca_cert_der(&core.intermediate, signer).map_err(IssueError::signing)?;
        let (cert, key_pkcs8, spki) = match &request.key {
            SubjectKey::Generate(algorithm) => {
                let key = KeySigner::generate(*algorithm)?;
                let cert = params
                    .signed_by(key.key_pair(), &issuer)
                    .map_err(IssueError::signing)?;
                (cert, Some(key.pkcs8_der().to_vec()), key.spki_der())
            }
            SubjectKey::Csr(Csr { spki, .. }) | SubjectKey::PublicKey(PublicKey { spki, .. }) => {
                let public = rcgen::SubjectPublicKeyInfo::from_der(spki)
                    .map_err(|e| IssueError::Csr(format!("public key: {e}")))?;
                let cert = params
                    .signed_by(&public, &issuer)
                    .map_err(IssueError::signing)?;
                (cert, None, spki.clone())
            }
        };
        let der: CertificateDer<'static> = cert.der().clone();
        let record = CertRecord {
            serial: serial_hex,
            app_id: app.to_owned(),
            install_id: request.install_id.clone(),
            subject: format!("CN={app}"),
            not_before: not_before.unix_timestamp(),
            not_after: not_after.unix_timestamp(),
            sha256: crate::hex(&sha2::Sha256::digest(der.as_ref())),
            spki_pin: format!(
                "sha256/{}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&spki))
            ),
            issued_at: now.unix_timestamp(),
            revoked_at: None,
            reason: None,
        };
        let dir = core.dir.clone();
        self.store.write(|w| {
            w.insert(&record)?;
            if let Some(install) = install {
                w.insert_install(install)?;
            }
            allow_app_in_policy(&dir.join(POLICY_FILE), app)
        })?;
        Ok(Issued {
            cert: der,
            intermediate: self.core.intermediate.clone(),
            key_pkcs8,
            record,
        })
    }

    /// Revokes a certificate and re-signs both CRLs, in one transaction: a concurrent revoke
    /// waits, then signs a CRL with the next number that lists both.
    pub fn revoke(
        &mut self,
        target: &RevokeTarget,
        reason: RevocationReason,
    ) -> Result<Revoked, IssueError> {
        let now = now();
        let core = &self.core;
        self.store.write(|w| {
            let record = find(w, target)?;
            if record.revoked_at.is_some() {
                return Err(IssueError::AlreadyRevoked {
                    serial: record.serial,
                });
            }
            w.mark_revoked(&record.serial, now.unix_timestamp(), reason)?;
            let crl = sign_crls(core, w, now, None)?;
            let mut record = record;
            record.revoked_at = Some(now.unix_timestamp());
            record.reason = Some(reason);
            Ok(Revoked { record, crl })
        })
    }

    /// Re-signs both CRLs now (thisUpdate now, nextUpdate `next_update` later, default from
    /// `ca.json`), each with the next CRL number, written atomically.
    pub fn sign_crls(&mut self, next_update: Option<Duration>) -> Result<CrlReport, IssueError> {
        if let Some(d) = next_update {
            check_next_update(d)?;
        }
        let now = now();
        let core = &self.core;
        self.store.write(|w| sign_crls(core, w, now, next_update))
    }
}

fn sign_crls(
    core: &Core,
    w: &Writer<'_>,
    now: OffsetDateTime,
    next_update: Option<Duration>,
) -> Result<CrlReport, IssueError> {
    let next = now + next_update.unwrap_or(Duration::from_secs(core.meta.crl_next_update_secs));
    let revoked = w.revoked()?;
    let entries = revoked
        .iter()
        .map(|(serial, at, reason)| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&parse_hex(serial).ok_or_else(|| {
                    IssueError::malformed(w_path(core), format!("bad serial {serial:?}"))
                })?),
                revocation_time: from_unix(*at)?,
                reason_code: reason.rcgen(),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, IssueError>>()?;
    let count = entries.len();
    let inter_number = w.next_crl_number("intermediate", 0)?;
    let inter_crl = sign_crl(
        &core.intermediate,
        &*core.intermediate_signer,
        inter_number,
        entries,
        now,
        next,
    )?;
    let root_number = w.next_crl_number("root", 0)?;
    let root_crl = sign_crl(
        &core.root,
        &*core.root_signer,
        root_number,
        Vec::new(),
        now,
        next,
    )?;
    let inter_path = core.dir.join(INTERMEDIATE_CRL);
    let root_path = core.dir.join(ROOT_CRL);
    super::files::write_atomic(&inter_path, inter_crl.as_bytes(), 0o644)?;
    super::files::write_atomic(&root_path, root_crl.as_bytes(), 0o644)?;
    Ok(CrlReport {
        intermediate_crl: inter_path,
        intermediate_number: inter_number,
        revoked: count,
        root_crl: root_path,
        root_number,
        this_update: now.unix_timestamp(),
        next_update: next.unix_timestamp(),
    })
}

fn w_path(core: &Core) -> PathBuf {
    core.dir.join(DB_FILE)
}

fn sign_crl(
    issuer_cert: &CertificateDer<'static>,
    signer: &dyn Signer,
    number: u64,
    revoked_certs: Vec<RevokedCertParams>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String, IssueError> {
    let ski = subject_key_id(issuer_cert)?;
    let issuer =
        Issuer::from_ca_cert_der(issuer_cert, RcgenSigner(signer)).map_err(IssueError::signing)?;
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(ski),
    };
    let crl = params.signed_by(&issuer).map_err(IssueError::signing)?;
    Ok(pem_block("X509 CRL", crl.der()))
}

fn find(w: &Writer<'_>, target: &RevokeTarget) -> Result<CertRecord, IssueError> {
    match target {
        RevokeTarget::Serial(text) => {
            let serial = normalize_serial(text)?;
            w.by_serial(&serial)?
                .ok_or_else(|| IssueError::UnknownCertificate(format!("serial {serial}")))
        }
        RevokeTarget::Fingerprint(text) => {
            let sha256 = crate::parse_fingerprint(text)
                .map_err(|e| IssueError::Input(format!("fingerprint: {e}")))?;
            let hex = crate::hex(&sha256);
            w.by_fingerprint(&hex)?
                .ok_or_else(|| IssueError::UnknownCertificate(format!("fingerprint {hex}")))
        }
        RevokeTarget::Certificate(cert) => {
            let hex = crate::hex(&sha2::Sha256::digest(cert.as_ref()));
            w.by_fingerprint(&hex)?.ok_or_else(|| {
                IssueError::UnknownCertificate(format!("fingerprint {hex} (that certificate)"))
            })
        }
    }
}

/// Lower-case hex without colons or leading zero bytes, as the database keeps serials.
fn normalize_serial(text: &str) -> Result<String, IssueError> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = parse_hex(&digits)
        .filter(|b| !b.is_empty() && b.len() <= 21)
        .ok_or_else(|| {
            IssueError::Input(format!("serial {text:?}: hex digits, at most 20 bytes"))
        })?;
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    Ok(crate::hex(&trimmed))
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// Appends `[[apps]] id = "<app>"` after the starter marker of `policy.toml`, once per app.
/// A policy without the marker (edited by hand, or none) is left alone.
fn allow_app_in_policy(path: &Path, app: &str) -> Result<(), IssueError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    if !text.contains(APPS_MARKER) || text.contains(&format!("\nid = \"{app}\"\n")) {
        return Ok(());
    }
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("\n[[apps]]\nid = \"{app}\"\n"));
    super::files::write_atomic(path, text.as_bytes(), 0o644)
}

fn starter_policy(name: &str) -> String {
    format!(
        r#"# certgate policy for the CA "{name}", written by `certgate ca init`.
# Load it as the server would: certgate policy check policy.toml
# Relative paths are relative to this file.

[trust]
# The root this CA made. Add a second root here before a CA rotation.
anchors = ["root.pem"]
# The issuing intermediate, so apps that send only their leaf still verify.
intermediates = ["intermediate.pem"]

[revocation]
# Re-signed by `certgate revoke` and `certgate crl` (run `certgate crl` from cron well before
# the nextUpdate; an expired CRL refuses every app with crl_expired).
crls = ["intermediate.crl.pem", "root.crl.pem"]

[identity]
source = "san_uri"
uri_prefix = "app://"
required = true

[profile]
strict = true

# Allowed apps. Until `certgate issue` has issued a certificate, no certificate of this CA
# exists, so nothing is accepted; from then on only the apps listed here are. `certgate issue`
# appends each new app id below the marker line; delete the marker to manage the list by hand.
{APPS_MARKER}
"#
    )
}

fn read_meta(dir: &Path) -> Result<Meta, IssueError> {
    let path = dir.join(META_FILE);
    if !path.is_file() {
        return Err(IssueError::malformed(
            &path,
            "no such file: not a CA directory (run `certgate ca init` first)",
        ));
    }
    let bytes = super::files::read_small(&path)?;
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| IssueError::malformed(&path, format!("not a ca.json: {e}")))?;
    if meta.version != 1 {
        return Err(IssueError::malformed(
            &path,
            format!("version {} (this certgate knows 1)", meta.version),
        ));
    }
    Ok(meta)
}

fn read_one_cert(path: &Path) -> Result<CertificateDer<'static>, IssueError> {
    let mut certs = crate::pem::read_certificates(path)
        .map_err(|message| IssueError::malformed(path, message))?;
    if certs.len() != 1 {
        return Err(IssueError::malformed(
            path,
            format!("{} certificates, expected one", certs.len()),
        ));
    }
    certs
        .pop()
        .ok_or_else(|| IssueError::malformed(path, "no certificate"))
}

fn check_key_matches(
    cert: &CertificateDer<'_>,
    signer: &dyn Signer,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), IssueError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| IssueError::malformed(cert_path, e.to_string()))?;
    if parsed.public_key().subject_public_key.data.as_ref() != signer.public_key() {
        return Err(IssueError::Key {
            path: key_path.to_path_buf(),
            message: format!("not the key of {}", cert_path.display()),
        });
    }
    Ok(())
}

fn validity_of(cert: &CertificateDer<'_>, path: &Path) -> Result<(i64, i64), IssueError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| IssueError::malformed(path, e.to_string()))?;
    Ok((
        parsed.validity().not_before.timestamp(),
        parsed.validity().not_after.timestamp(),
    ))
}

fn subject_key_id(cert: &CertificateDer<'_>) -> Result<Vec<u8>, IssueError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| IssueError::Signing(format!("CA certificate: {e}")))?;
    for ext in parsed.extensions() {
        if let x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) =
            ext.parsed_extension()
        {
            return Ok(id.0.to_vec());
        }
    }
    Err(IssueError::Signing(
        "the CA certificate has no subjectKeyIdentifier".into(),
    ))
}

fn dn(org: &str, cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, org);
    name.push(DnType::CommonName, cn);
    name
}

/// 16 random bytes, top bit clear (a positive INTEGER of exactly 16 octets) and the next bit
/// set (no leading zero octet to strip): 126 random bits, above CA/B's 64.
fn random_serial() -> Result<SerialNumber, IssueError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| IssueError::Signing(format!("random: {e}")))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn from_unix(secs: i64) -> Result<OffsetDateTime, IssueError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| IssueError::Input(format!("time {secs}: {e}")))
}

fn years(n: u32) -> time::Duration {
    time::Duration::days(i64::from(n) * 365 + i64::from(n / 4))
}

fn check_next_update(d: Duration) -> Result<(), IssueError> {
    if d < Duration::from_secs(60) || d > MAX_CRL_NEXT_UPDATE {
        return Err(IssueError::Input(format!(
            "next update: 1 minute to {} days",
            MAX_CRL_NEXT_UPDATE.as_secs() / 86400
        )));
    }
    Ok(())
}

fn parse_uuid(id: &str) -> Result<String, IssueError> {
    let lower = id.to_ascii_lowercase();
    let groups: Vec<&str> = lower.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let ok = lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(lower)
    } else {
        Err(IssueError::Input(format!(
            "install id {id:?}: a UUID like 123e4567-e89b-12d3-a456-426614174000"
        )))
    }
}

pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_normalize() {
        assert_eq!(normalize_serial("00:4a:bc").unwrap(), "4abc");
        assert_eq!(normalize_serial("4ABC").unwrap(), "4abc");
        assert!(normalize_serial("xyz").is_err());
        assert!(normalize_serial("").is_err());
    }

    #[test]
    fn uuids_parse() {
        assert!(parse_uuid("123E4567-e89b-12d3-a456-426614174000").is_ok());
        assert!(parse_uuid("123e4567e89b12d3a456426614174000").is_err());
        assert!(parse_uuid("123e4567-e89b-12d3-a456-42661417400g").is_err());
    }

    #[test]
    fn random_serials_are_positive_16_octets() {
        for _ in 0..100 {
            let s = random_serial().unwrap().to_bytes();
            assert_eq!(s.len(), 16);
            assert_eq!(s[0] & 0xc0, 0x40);
        }
    }
}
