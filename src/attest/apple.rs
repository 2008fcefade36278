//! Apple App Attest: the attestation object of an enrollment and the assertion of a renewal.
//!
//! Follows Apple's "Validating apps that connect to your server"
//! (developer.apple.com/documentation/devicecheck/validating-apps-that-connect-to-your-server):
//!
//! 1. the x5c chain (credential certificate ← App Attestation CA 1) verifies to the App
//!    Attestation root at `now` (rustls-webpki, with the provider's signature algorithms);
//! 2. the credential certificate's public key hashes (SHA-256 of the uncompressed point) to the
//!    key id, which is also the authenticator data's credential id;
//! 3. the authenticator data's rpIdHash is SHA-256(`"<team id>.<bundle id>"`) of the policy's app;
//! 4. its counter is 0 and its aaguid names the policy's environment;
//! 5. the certificate's nonce extension (1.2.840.113635.100.8.2) is
//!    SHA-256(authenticator data ‖ clientDataHash).
//!
//! Enrollment: the app computes clientDataHash = SHA-256(challenge ‖ CSR DER)
//! ([`client_data_hash`]) and passes it to `attestKey`. Renewal: an assertion over the
//! request's clientDataHash, signed by the attested key, with a counter above the stored one
//! ([`verify_assertion`]). The receipt is returned for storage, not validated.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime, alg_id};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::EnrollRejection;
use super::cbor::{self, Value};
use crate::verify::der;

/// Apple's App Attestation Root CA (P-384, valid 2020-03-18 .. 2045-03-15), Apple's public
/// trust anchor for App Attest, as published at
/// <https://www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem>.
pub const APPLE_APP_ATTESTATION_ROOT_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICITCCAaegAwIBAgIQC/O+DvHN0uD7jG5yH2IXmDAKBggqhkjOPQQDAzBSMSYw
JAYDVQQDDB1BcHBsZSBBcHAgQXR0ZXN0YXRpb24gUm9vdCBDQTETMBEGA1UECgwK
QXBwbGUgSW5jLjETMBEGA1UECAwKQ2FsaWZvcm5pYTAeFw0yMDAzMTgxODMyNTNa
Fw00NTAzMTUwMDAwMDBaMFIxJjAkBgNVBAMMHUFwcGxlIEFwcCBBdHRlc3RhdGlv
biBSb290IENBMRMwEQYDVQQKDApBcHBsZSBJbmMuMRMwEQYDVQQIDApDYWxpZm9y
bmlhMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERTHhmLW07ATaFQIEVwTtT4dyctdh
NbJhFs/Ii2FdCgAHGbpphY3+d8qjuDngIN3WVhQUBHAoMeQ/cLiP1sOUtgjqK9au
Yen1mMEvRq9Sk3Jm5X8U62H+xTD3FE9TgS41o0IwQDAPBgNVHRMBAf8EBTADAQH/
MB0GA1UdDgQWBBSskRBTM72+aEH/pwyp5frq5eWKoTAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwMDaAAwZQIwQgFGnByvsiVbpTKwSga0kP0e8EeDS4+sQmTvb7vn
53O5+FRXgeLhpJ06ysC5PrOyAjEAp5U4xDgEgllF7En3VcE3iexZZtKeYnpqtijV
oyFraWVIyd/dganmrduC1bmTBGwD
-----END CERTIFICATE-----
";

/// The App Attest environment a key was attested in, named by the authenticator data's aaguid.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// aaguid "appattestdevelop": an app built with the development entitlement.
    Development,
    /// aaguid "appattest" followed by seven zero bytes: App Store, TestFlight, enterprise.
    Production,
}

impl Environment {
    /// The 16-byte aaguid Apple writes for this environment.
    pub const fn aaguid(self) -> &'static [u8; 16] {
        match self {
            Self::Development => b"appattestdevelop",
            Self::Production => b"appattest\0\0\0\0\0\0\0",
        }
    }

    /// `"development"` or `"production"`, as in the policy.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}

/// The policy's rule for one iOS app: `[apps.ios] team_id`, `bundle_id`, `environment`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IosRule {
    /// The Apple Developer team identifier, for example `"6MURL8TA57"`.
    pub team_id: String,
    /// The bundle identifier, for example `"com.example.app"`.
    pub bundle_id: String,
    /// Which aaguid the attestation must carry.
    pub environment: Environment,
}

impl IosRule {
    /// A rule for the app `team_id.bundle_id` in `environment`.
    pub fn new(
        team_id: impl Into<String>,
        bundle_id: impl Into<String>,
        environment: Environment,
    ) -> Self {
        Self {
            team_id: team_id.into(),
            bundle_id: bundle_id.into(),
            environment,
        }
    }

    /// The App ID, `"<team id>.<bundle id>"`, whose SHA-256 is the rpIdHash.
    pub fn app_id(&self) -> String {
        format!("{}.{}", self.team_id, self.bundle_id)
    }

    fn rp_id_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.team_id.as_bytes());
        hasher.update(b".");
        hasher.update(self.bundle_id.as_bytes());
        hasher.finalize().into()
    }
}

/// What App Attest verification trusts: the App Attestation root and the signature algorithms.
///
/// [`AppleSettings::new`] (and `Default`) use Apple's root
/// ([`APPLE_APP_ATTESTATION_ROOT_CA_PEM`]) and the algorithms of the enabled provider feature
/// (`ring` or `aws-lc-rs`). Without a provider feature, pass algorithms with
/// [`AppleSettings::signature_algorithms`] or [`AppleSettings::crypto_provider`]; until then
/// every verification is refused.
#[derive(Clone, Debug)]
pub struct AppleSettings {
    root: CertificateDer<'static>,
    algorithms: Option<&'static [&'static dyn SignatureVerificationAlgorithm]>,
}

impl AppleSettings {
    /// Apple's App Attestation root and the enabled provider's signature algorithms.
    pub fn new() -> Self {
        // The constant is checked to parse by a unit test; were it ever not to, the empty
        // root refuses every attestation (fail closed) rather than panicking.
        let root = CertificateDer::from_pem_slice(APPLE_APP_ATTESTATION_ROOT_CA_PEM.as_bytes())
            .unwrap_or_else(|_| CertificateDer::from(Vec::new()));
        Self {
            root,
            algorithms: crate::verify::default_algorithms(),
        }
    }

    /// Trusts `root` (DER) instead of Apple's root: a self-signed CA certificate, as the
    /// policy's `[enroll] apple_root` names it.
    ///
    /// # Errors
    ///
    /// When `root` is not a certificate webpki accepts as a trust anchor, or not a CA.
    pub fn with_root_der(
        mut self,
        root: impl Into<CertificateDer<'static>>,
    ) -> Result<Self, AppleRootError> {
        let root = root.into();
        root_checks(&root)?;
        self.root = root;
        Ok(self)
    }

    /// Trusts the first certificate of `pem` instead of Apple's root.
    ///
    /// # Errors
    ///
    /// When `pem` holds no certificate, or as [`AppleSettings::with_root_der`].
    pub fn with_root_pem(self, pem: &[u8]) -> Result<Self, AppleRootError> {
        let root = CertificateDer::from_pem_slice(pem)
            .map_err(|_| AppleRootError("no PEM certificate"))?;
        self.with_root_der(root)
    }

    /// Verifies signatures with these algorithms (for example a rustls `CryptoProvider`'s
    /// `signature_verification_algorithms.all`).
    pub fn signature_algorithms(
        mut self,
        algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    ) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// Verifies signatures with a rustls crypto provider's algorithms.
    pub fn crypto_provider(self, provider: &rustls::crypto::CryptoProvider) -> Self {
        self.signature_algorithms(provider.signature_verification_algorithms.all)
    }

    /// The trusted root certificate (DER).
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    fn algorithms(
        &self,
    ) -> Result<&'static [&'static dyn SignatureVerificationAlgorithm], EnrollRejection> {
        self.algorithms.ok_or_else(|| {
            invalid("no signature algorithms: enable a provider feature or pass a provider's")
        })
    }
}

impl Default for AppleSettings {
    fn default() -> Self {
        Self::new()
    }
}

/// The App Attest root given to [`AppleSettings`] is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the App Attest root is not usable: {0}")]
pub struct AppleRootError(&'static str);

/// A verified App Attest attestation: what the enrollment stores with the install.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppAttestation {
    /// The attested key's public key: the SEC1 uncompressed P-256 point (65 bytes, `04 ‖ x ‖ y`).
    /// [`verify_assertion`] takes it back.
    pub public_key: Vec<u8>,
    /// The same key as a SubjectPublicKeyInfo (DER), from the credential certificate.
    pub public_key_spki: Vec<u8>,
    /// The key id: SHA-256 of [`AppAttestation::public_key`].
    pub key_id: [u8; 32],
    /// The environment the aaguid names (the policy's).
    pub environment: Environment,
    /// The App Attest receipt (a PKCS#7 blob), stored for fraud-metric queries, not validated.
    pub receipt: Vec<u8>,
    /// The sign counter: always 0 for an attestation; assertions must exceed the stored value.
    pub counter: u32,
    /// The team identifier of the attested app.
    pub team_id: String,
    /// The bundle identifier of the attested app.
    pub bundle_id: String,
}

/// An App Attest attestation object, parsed but not verified.
///
/// `{"fmt": "apple-appattest", "attStmt": {"x5c": [leaf, intermediate], "receipt": bytes},
/// "authData": bytes}` (CBOR, at most 64 KiB), where authData is WebAuthn authenticator data
/// with attested credential data: rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian) ‖
/// aaguid (16) ‖ credentialIdLength (2, big-endian) ‖ credentialId ‖ COSE_Key (an EC2 P-256
/// map).
///
/// Bytes after the COSE key are tolerated and ignored (they are still covered by the nonce):
/// Apple's own 2026 validation-guide example carries a 62-byte CBOR map
/// `{"apple_bundle_version_01": …, "apple_validation_category_01": …}` there without setting
/// the extension-data flag (0x80), so a WebAuthn-strict parser would refuse a genuine object.
#[derive(Clone, Debug)]
pub struct AttestationObject<'a> {
    leaf: &'a [u8],
    intermediate: &'a [u8],
    receipt: &'a [u8],
    auth_data: &'a [u8],
    rp_id_hash: [u8; 32],
    flags: u8,
    counter: u32,
    aaguid: [u8; 16],
    credential_id: &'a [u8],
    x: &'a [u8],
    y: &'a [u8],
    trailing: &'a [u8],
}

impl<'a> AttestationObject<'a> {
    /// Parses an attestation object.
    ///
    /// # Errors
    ///
    /// `attestation_invalid` for anything but the format above.
    pub fn parse(input: &'a [u8]) -> Result<Self, EnrollRejection> {
        let top = cbor::decode(input).map_err(bad_cbor)?;
        let top = top.as_map().ok_or_else(|| invalid("not a CBOR map"))?;
        if top.len() != 3 {
            return Err(invalid(
                "the attestation object is not {fmt, attStmt, authData}",
            ));
        }
        let fmt = cbor::get(top, &Value::Text("fmt")).and_then(Value::as_text);
        if fmt != Some("apple-appattest") {
            return Err(invalid("fmt is not apple-appattest"));
        }
        let statement = cbor::get(top, &Value::Text("attStmt"))
            .and_then(Value::as_map)
            .ok_or_else(|| invalid("no attStmt map"))?;
        if statement.len() != 2 {
            return Err(invalid("attStmt is not {x5c, receipt}"));
        }
        let x5c = cbor::get(statement, &Value::Text("x5c"))
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("no x5c array"))?;
        let (leaf, intermediate) = match x5c {
            [leaf, intermediate] => (leaf.as_bytes(), intermediate.as_bytes()),
            _ => return Err(invalid("x5c does not hold two certificates")),
        };
        let (Some(leaf), Some(intermediate)) = (leaf, intermediate) else {
            return Err(invalid("an x5c entry is not a byte string"));
        };
        let receipt = cbor::get(statement, &Value::Text("receipt"))
            .and_then(Value::as_bytes)
            .ok_or_else(|| invalid("no receipt byte string"))?;
        let auth_data = cbor::get(top, &Value::Text("authData"))
            .and_then(Value::as_bytes)
            .ok_or_else(|| invalid("no authData byte string"))?;

        let mut rest = auth_data;
        let rp_id_hash = fixed::<32>(&mut rest)?;
        let [flags] = fixed::<1>(&mut rest)?;
        let counter = u32::from_be_bytes(fixed::<4>(&mut rest)?);
        // WebAuthn §6.1: bit 6 (AT) says attested credential data follows.
        if flags & FLAG_ATTESTED_CREDENTIAL_DATA == 0 {
            return Err(invalid("authData has no attested credential data"));
        }
        let aaguid = fixed::<16>(&mut rest)?;
        let id_len = usize::from(u16::from_be_bytes(fixed::<2>(&mut rest)?));
        let (credential_id, after_id) = rest
            .split_at_checked(id_len)
            .ok_or_else(|| invalid("authData is truncated"))?;
        let (key, trailing) = cbor::decode_prefix(after_id).map_err(bad_cbor)?;
        let (x, y) = cose_p256(&key)?;
        Ok(Self {
            leaf,
            intermediate,
            receipt,
            auth_data,
            rp_id_hash,
            flags,
            counter,
            aaguid,
            credential_id,
            x,
            y,
            trailing,
        })
    }

    /// The credential certificate (x5c\[0\], DER).
    pub fn leaf(&self) -> &'a [u8] {
        self.leaf
    }

    /// The intermediate certificate (x5c\[1\], DER): Apple App Attestation CA 1.
    pub fn intermediate(&self) -> &'a [u8] {
        self.intermediate
    }

    /// The receipt.
    pub fn receipt(&self) -> &'a [u8] {
        self.receipt
    }

    /// The whole authenticator data, as the nonce covers it.
    pub fn authenticator_data(&self) -> &'a [u8] {
        self.auth_data
    }

    /// The rpIdHash: SHA-256 of the App ID.
    pub fn rp_id_hash(&self) -> &[u8; 32] {
        &self.rp_id_hash
    }

    /// The authenticator data flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The sign counter.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The aaguid: the environment.
    pub fn aaguid(&self) -> &[u8; 16] {
        &self.aaguid
    }

    /// The credential id (the key id, for a genuine object).
    pub fn credential_id(&self) -> &'a [u8] {
        self.credential_id
    }

    /// The COSE key's public point, SEC1 uncompressed (`04 ‖ x ‖ y`).
    pub fn credential_public_key(&self) -> Vec<u8> {
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(self.x);
        point.extend_from_slice(self.y);
        point
    }

    /// The bytes after the COSE key (see the type's documentation); usually empty.
    pub fn trailing(&self) -> &'a [u8] {
        self.trailing
    }
}

/// clientDataHash for an enrollment: SHA-256(challenge ‖ CSR DER), what the app passes to
/// `attestKey`.
pub fn client_data_hash(challenge: &[u8], csr_der: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(challenge);
    hasher.update(csr_der);
    hasher.finalize().into()
}

/// Verifies an enrollment's App Attest attestation object for `key_id` (the 32 raw bytes, not
/// base64) against `client_data_hash` (see [`client_data_hash`]), the policy's `rule` and
/// `settings`, at `now`.
///
/// # Errors
///
/// - `challenge_mismatch`: the nonce is not SHA-256(authData ‖ `client_data_hash`) — not the
///   challenge and CSR that were attested;
/// - `app_not_attested`: the rpIdHash is not the rule's team and bundle id;
/// - `attestation_invalid`: everything else — format, chain (signatures, validity at `now`, CA
///   constraints), key id, credential id, counter not 0, aaguid not the rule's environment.
pub fn verify_attestation(
    key_id: &[u8],
    attestation: &[u8],
    client_data_hash: &[u8; 32],
    rule: &IosRule,
    settings: &AppleSettings,
    now: UnixTime,
) -> Result<AppAttestation, EnrollRejection> {
    verify_attestation_raw(key_id, attestation, client_data_hash, rule, settings, now)
}

/// [`verify_attestation`] with a clientDataHash of any length, exactly as the app passed it to
/// `attestKey`. Apple's validation-guide example passes 24 raw challenge bytes instead of a
/// SHA-256; enrollments use [`verify_attestation`].
///
/// # Errors
///
/// As [`verify_attestation`].
pub fn verify_attestation_raw(
    key_id: &[u8],
    attestation: &[u8],
    client_data_hash: &[u8],
    rule: &IosRule,
    settings: &AppleSettings,
    now: UnixTime,
) -> Result<AppAttestation, EnrollRejection> {
    let object = AttestationObject::parse(attestation)?;

    // 1. The chain, with the provider's algorithms. The credential certificate carries no EKU
    //    (2020) or Apple's App Attest EKU 1.2.840.113635.100.4.24 (2026).
    let algorithms = settings.algorithms()?;
    let (anchor, root_validity) = anchor(&settings.root)?;
    if !root_validity.contains(now) {
        return Err(invalid("the App Attestation root is outside its validity"));
    }
    let leaf = CertificateDer::from(object.leaf);
    let end_entity = EndEntityCert::try_from(&leaf)
        .map_err(|e| invalid(format!("the credential certificate does not parse: {e:?}")))?;
    let intermediates = [CertificateDer::from(object.intermediate)];
    end_entity
        .verify_for_usage(
            algorithms,
            std::slice::from_ref(&anchor),
            &intermediates,
            now,
            KeyUsage::required_if_present(APP_ATTEST_EKU),
            None,
            None,
        )
        .map_err(|e| invalid(format!("the x5c chain does not verify: {e:?}")))?;

    // 2. The key: the certificate's, the key id's and the authenticator data's.
    let (_, certificate) = X509Certificate::from_der(object.leaf)
        .map_err(|_| invalid("the credential certificate does not parse"))?;
    let spki = certificate.public_key().raw;
    let (key_algorithm, public_key) =
        der::spki_parts(spki).map_err(|_| invalid("the credential key does not parse"))?;
    if key_algorithm != alg_id::ECDSA_P256.as_ref() || public_key.len() != 65 {
        return Err(invalid("the credential key is not a P-256 key"));
    }
    let key_hash: [u8; 32] = Sha256::digest(public_key).into();
    if key_id != key_hash {
        return Err(invalid(
            "the key id is not the SHA-256 of the credential key",
        ));
    }
    if object.credential_id != key_hash {
        return Err(invalid("the credential id is not the key id"));
    }
    if object.credential_public_key() != public_key {
        return Err(invalid(
            "the COSE key is not the credential certificate's key",
        ));
    }

    // 3. The app.
    if object.rp_id_hash != rule.rp_id_hash() {
        return Err(EnrollRejection::AppNotAttested {
            detail: EnrollRejection::detail(format!(
                "the rpIdHash is not SHA-256(\"{}\")",
                rule.app_id()
            )),
        });
    }

    // 4. A fresh key in the rule's environment.
    if object.counter != 0 {
        return Err(invalid(format!("the counter is {}, not 0", object.counter)));
    }
    if &object.aaguid != rule.environment.aaguid() {
        return Err(invalid(format!(
            "the aaguid is not App Attest's {} aaguid",
            rule.environment.as_str()
        )));
    }

    // 5. The nonce: what was attested. Checked last, so that a changed rpIdHash, counter or
    //    aaguid reaches its own refusal rather than `challenge_mismatch` (the nonce covers them).
    let nonce = nonce(object.auth_data, client_data_hash);
    let attested = nonce_extension(&certificate)?;
    if attested != nonce {
        return Err(EnrollRejection::ChallengeMismatch {
            detail: EnrollRejection::detail(
                "the attested nonce is not SHA-256(authData ‖ clientDataHash)",
            ),
        });
    }

    Ok(AppAttestation {
        public_key: public_key.to_vec(),
        public_key_spki: spki.to_vec(),
        key_id: key_hash,
        environment: rule.environment,
        receipt: object.receipt.to_vec(),
        counter: object.counter,
        team_id: rule.team_id.clone(),
        bundle_id: rule.bundle_id.clone(),
    })
}

/// Verifies a renewal's App Attest assertion (`{"signature": bytes, "authenticatorData":
/// bytes}`, CBOR) over `client_data_hash`, with the stored `public_key` (SEC1 uncompressed
/// P-256, [`AppAttestation::public_key`]) and counter. Returns the new counter, to store.
///
/// The signature is ECDSA P-256 with SHA-256 over the nonce SHA-256(authenticatorData ‖
/// clientDataHash) — so the digest signed is SHA-256(nonce).
///
/// # Errors
///
/// - `app_not_attested`: the rpIdHash is not the rule's app;
/// - `attestation_invalid`: malformed, a signature that does not verify (a different
///   clientDataHash or key, or any changed byte), or a counter not above `previous_counter`.
pub fn verify_assertion(
    assertion: &[u8],
    client_data_hash: &[u8; 32],
    public_key: &[u8],
    previous_counter: u32,
    rule: &IosRule,
    settings: &AppleSettings,
) -> Result<u32, EnrollRejection> {
    let top = cbor::decode(assertion).map_err(bad_cbor)?;
    let top = top.as_map().ok_or_else(|| invalid("not a CBOR map"))?;
    let signature = cbor::get(top, &Value::Text("signature")).and_then(Value::as_bytes);
    let auth_data = cbor::get(top, &Value::Text("authenticatorData")).and_then(Value::as_bytes);
    let (Some(signature), Some(auth_data), 2) = (signature, auth_data, top.len()) else {
        return Err(invalid(
            "the assertion is not {signature, authenticatorData}",
        ));
    };
    // rpIdHash (32) ‖ flags (1) ‖ counter (4): no attested credential data, no extensions.
    let mut rest = auth_data;
    let rp_id_hash = fixed::<32>(&mut rest)?;
    let [_flags] = fixed::<1>(&mut rest)?;
    let counter = u32::from_be_bytes(fixed::<4>(&mut rest)?);
    if !rest.is_empty() {
        return Err(invalid("the assertion's authenticatorData is not 37 bytes"));
    }
    if public_key.len() != 65 || public_key.first() != Some(&0x04) {
        return Err(invalid("the stored key is not an uncompressed P-256 point"));
    }

    let algorithm = settings
        .algorithms()?
        .iter()
        .find(|alg| {
            alg.public_key_alg_id() == alg_id::ECDSA_P256
                && alg.signature_alg_id() == alg_id::ECDSA_SHA256
        })
        .ok_or_else(|| invalid("the provider has no ECDSA P-256 SHA-256"))?;
    let nonce = nonce(auth_data, client_data_hash);
    algorithm
        .verify_signature(public_key, &nonce, signature)
        .map_err(|_| invalid("the assertion's signature does not verify"))?;

    if rp_id_hash != rule.rp_id_hash() {
        return Err(EnrollRejection::AppNotAttested {
            detail: EnrollRejection::detail(format!(
                "the rpIdHash is not SHA-256(\"{}\")",
                rule.app_id()
            )),
        });
    }
    if counter <= previous_counter {
        return Err(invalid(format!(
            "the counter {counter} is not above the stored {previous_counter}"
        )));
    }
    Ok(counter)
}

/// The validity of a root, in seconds since the epoch.
#[derive(Clone, Copy, Debug)]
struct Validity {
    not_before: i64,
    not_after: i64,
}

impl Validity {
    fn contains(self, now: UnixTime) -> bool {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.not_before <= now && now <= self.not_after
    }
}

fn anchor<'a>(
    root: &'a CertificateDer<'a>,
) -> Result<(rustls_pki_types::TrustAnchor<'a>, Validity), EnrollRejection> {
    let anchor = webpki::anchor_from_trusted_cert(root)
        .map_err(|_| invalid("the App Attestation root does not parse"))?;
    let (_, certificate) = X509Certificate::from_der(root)
        .map_err(|_| invalid("the App Attestation root does not parse"))?;
    let validity = certificate.validity();
    Ok((
        anchor,
        Validity {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        },
    ))
}

fn root_checks(root: &CertificateDer<'_>) -> Result<(), AppleRootError> {
    webpki::anchor_from_trusted_cert(root)
        .map_err(|_| AppleRootError("not a certificate webpki accepts as a trust anchor"))?;
    let (rest, certificate) =
        X509Certificate::from_der(root).map_err(|_| AppleRootError("not an X.509 certificate"))?;
    if !rest.is_empty() {
        return Err(AppleRootError("bytes after the certificate"));
    }
    if !certificate.is_ca() {
        return Err(AppleRootError("not a CA certificate"));
    }
    Ok(())
}

/// SHA-256(authenticator data ‖ clientDataHash).
fn nonce(auth_data: &[u8], client_data_hash: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(auth_data);
    hasher.update(client_data_hash);
    hasher.finalize().into()
}

/// The credential certificate's nonce: extension 1.2.840.113635.100.8.2, whose value is
/// `SEQUENCE { [1] EXPLICIT OCTET STRING (32 bytes) }`.
fn nonce_extension(certificate: &X509Certificate<'_>) -> Result<[u8; 32], EnrollRejection> {
    let mut found = certificate
        .extensions()
        .iter()
        .filter(|ext| ext.oid.as_bytes() == NONCE_EXTENSION);
    let (Some(extension), None) = (found.next(), found.next()) else {
        return Err(invalid(
            "the credential certificate has no single nonce extension",
        ));
    };
    let malformed = |_| invalid("the nonce extension does not parse");
    let sequence = der::single(extension.value, der::SEQUENCE).map_err(malformed)?;
    let tagged = der::single(sequence.value, CONTEXT_1).map_err(malformed)?;
    let octets = der::single(tagged.value, OCTET_STRING).map_err(malformed)?;
    <[u8; 32]>::try_from(octets.value).map_err(|_| invalid("the nonce is not 32 bytes"))
}

/// The EC2 P-256 COSE key (RFC 9053 §7.1.1): kty 2, alg −7 (ES256) if present, crv 1, x and y
/// 32 bytes each. Returns (x, y).
fn cose_p256<'a>(key: &Value<'a>) -> Result<(&'a [u8], &'a [u8]), EnrollRejection> {
    let entries = key
        .as_map()
        .ok_or_else(|| invalid("the credential public key is not a COSE map"))?;
    let label = |n: i128| cbor::get(entries, &Value::Integer(n));
    let known = entries
        .iter()
        .all(|(k, _)| matches!(k.as_integer(), Some(1 | 3 | -1 | -2 | -3)));
    let kty = label(1).and_then(Value::as_integer);
    let alg = label(3).map(Value::as_integer);
    let crv = label(-1).and_then(Value::as_integer);
    let x = label(-2).and_then(Value::as_bytes);
    let y = label(-3).and_then(Value::as_bytes);
    match (known, kty, alg, crv, x, y) {
        (true, Some(2), None | Some(Some(-7)), Some(1), Some(x), Some(y))
            if x.len() == 32 && y.len() == 32 =>
        {
            Ok((x, y))
        }
        _ => Err(invalid(
            "the credential public key is not an EC2 P-256 COSE key",
        )),
    }
}

/// Takes `N` bytes off the front of `rest`.
fn fixed<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], EnrollRejection> {
    let (head, tail) = rest
        .split_first_chunk::<N>()
        .ok_or_else(|| invalid("authenticator data is truncated"))?;
    *rest = tail;
    Ok(*head)
}

fn invalid(detail: impl AsRef<str>) -> EnrollRejection {
    EnrollRejection::AttestationInvalid {
        detail: EnrollRejection::detail(detail),
    }
}

fn bad_cbor(e: cbor::BadCbor) -> EnrollRejection {
    invalid(format!("malformed CBOR: {}", e.0))
}

/// WebAuthn authenticator data flag AT: attested credential data included.
const FLAG_ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

/// OID 1.2.840.113635.100.8.2 (Apple App Attest nonce), DER contents.
const NONCE_EXTENSION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x08, 0x02];

/// OID 1.2.840.113635.100.4.24 (Apple App Attest EKU of the 2026 credential certificates),
/// DER contents.
const APP_ATTEST_EKU: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x04, 0x18];

/// `[1]` constructed (EXPLICIT).
const CONTEXT_1: u8 = 0xa1;
const OCTET_STRING: u8 = 0x04;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_root_is_a_usable_anchor() {
        let settings = AppleSettings::new();
        assert!(!settings.root().is_empty());
        root_checks(settings.root()).unwrap();
        let (_, validity) = anchor(settings.root()).unwrap();
        // 2020-03-18T18:32:53Z .. 2045-03-15T00:00:00Z.
        assert_eq!(validity.not_before, 1_584_556_373);
        assert_eq!(validity.not_after, 2_373_148_800);
    }

    #[test]
    fn aaguids_and_rp_id_hash() {
        assert_eq!(Environment::Production.aaguid().len(), 16);
        assert_eq!(&Environment::Development.aaguid()[..], b"appattestdevelop");
        let rule = IosRule::new("1234567890", "com.example.myapp", Environment::Production);
        // From the 2026 example's meta file.
        assert_eq!(
            rule.rp_id_hash()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "f4466d68f91eb6c10620cb7e63c7283244685ee1d6467b54160e753172057f03"
        );
    }

    #[test]
    fn rule_names_are_exact() {
        let rule: IosRule =
            toml::from_str("team_id = \"T\"\nbundle_id = \"b\"\nenvironment = \"development\"\n")
                .unwrap();
        assert_eq!(rule, IosRule::new("T", "b", Environment::Development));
        assert!(
            toml::from_str::<IosRule>(
                "team_id = \"T\"\nbundle_id = \"b\"\nenvironment = \"production\"\nextra = 1\n"
            )
            .is_err()
        );
        assert!(
            toml::from_str::<IosRule>(
                "team_id = \"T\"\nbundle_id = \"b\"\nenvironment = \"Production\"\n"
            )
            .is_err()
        );
    }

    #[test]
    fn bad_roots_are_refused() {
        assert!(AppleSettings::new().with_root_pem(b"nothing").is_err());
        assert!(
            AppleSettings::new()
                .with_root_der(CertificateDer::from(vec![0x30, 0x00]))
                .is_err()
        );
        let pem = APPLE_APP_ATTESTATION_ROOT_CA_PEM.as_bytes();
        assert!(AppleSettings::new().with_root_pem(pem).is_ok());
    }

    #[test]
    fn cose_keys_other_than_p256_are_refused() {
        let x = [1u8; 32];
        let y = [2u8; 32];
        let key = |entries: Vec<(i128, Value<'static>)>| {
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::Integer(k), v))
                    .collect(),
            )
        };
        fn leak(b: [u8; 32]) -> &'static [u8] {
            Box::leak(Box::new(b))
        }
        let good = vec![
            (1, Value::Integer(2)),
            (3, Value::Integer(-7)),
            (-1, Value::Integer(1)),
            (-2, Value::Bytes(leak(x))),
            (-3, Value::Bytes(leak(y))),
        ];
        assert!(cose_p256(&key(good.clone())).is_ok());
        for (i, bad) in [
            (0, Value::Integer(3)),  // kty RSA
            (1, Value::Integer(-8)), // EdDSA
            (2, Value::Integer(2)),  // P-384
            (3, Value::Bytes(&[1u8; 31])),
            (4, Value::Text("y")),
        ] {
            let mut entries = good.clone();
            entries[i].1 = bad;
            assert!(cose_p256(&key(entries)).is_err(), "{i}");
        }
        let mut extra = good.clone();
        extra.push((-4, Value::Bytes(&[])));
        assert!(cose_p256(&key(extra)).is_err());
        assert!(cose_p256(&Value::Integer(1)).is_err());
    }
}
