//! A test-only App Attest "authority": a root and intermediate of our own (injected through the
//! policy's `apple_root`, never a default) that attest fresh P-256 keys exactly as Apple's
//! service does (x5c, nonce extension, authData, COSE key), and the app side's assertions.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SigningKey as _,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// Apple's nonce extension, 1.2.840.113635.100.8.2.
const NONCE_OID: &[u64] = &[1, 2, 840, 113_635, 100, 8, 2];

/// The test authority: root (the anchor the policy pins) and intermediate.
pub struct AppAttestCa {
    pub root: CertificateDer<'static>,
    pub root_pem: String,
    intermediate: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// One attested App Attest key, as the app holds it.
pub struct AttestedKey {
    pub key: KeyPair,
    pub key_id: [u8; 32],
    pub attestation: Vec<u8>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name.push(DnType::OrganizationName, "certgate tests");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    params
}

impl AppAttestCa {
    pub fn new() -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_cert = ca_params("Test App Attestation Root CA")
            .self_signed(&root_key)
            .unwrap();
        let root_issuer = Issuer::new(ca_params("Test App Attestation Root CA"), root_key);
        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let inter_params = ca_params("Test App Attestation CA 1");
        let inter_cert = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
        Self {
            root: root_cert.der().clone(),
            root_pem: root_cert.pem(),
            intermediate: inter_cert.der().clone(),
            issuer: Issuer::new(inter_params, inter_key),
        }
    }

    /// Attests a fresh key for `team_id.bundle_id` in `environment` ("production" or
    /// "development") over `client_data_hash`, as `DCAppAttestService.attestKey` would.
    pub fn attest(
        &self,
        team_id: &str,
        bundle_id: &str,
        environment: &str,
        client_data_hash: &[u8],
    ) -> AttestedKey {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let point = key.public_key_raw().to_vec();
        assert_eq!(point.len(), 65);
        let key_id: [u8; 32] = Sha256::digest(&point).into();
        let aaguid: &[u8; 16] = match environment {
            "production" => b"appattest\0\0\0\0\0\0\0",
            _ => b"appattestdevelop",
        };
        let mut auth_data = Vec::new();
        auth_data.extend_from_slice(&Sha256::digest(format!("{team_id}.{bundle_id}")));
        auth_data.push(0x40); // AT: attested credential data present
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(aaguid);
        auth_data.extend_from_slice(&32u16.to_be_bytes());
        auth_data.extend_from_slice(&key_id);
        auth_data.extend_from_slice(&cose_p256(&point));
        let mut hasher = Sha256::new();
        hasher.update(&auth_data);
        hasher.update(client_data_hash);
        let nonce: [u8; 32] = hasher.finalize().into();

        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            key_id
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        );
        params.distinguished_name = name;
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3);
        let mut extension = vec![0x30, 0x24, 0xa1, 0x22, 0x04, 0x20];
        extension.extend_from_slice(&nonce);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(NONCE_OID, extension));
        let leaf = params.signed_by(&key, &self.issuer).unwrap();

        let attestation = map(&[
            (text("fmt"), text("apple-appattest")),
            (
                text("attStmt"),
                map(&[
                    (
                        text("x5c"),
                        array(&[bytes(leaf.der()), bytes(&self.intermediate)]),
                    ),
                    (text("receipt"), bytes(b"test receipt")),
                ]),
            ),
            (text("authData"), bytes(&auth_data)),
        ]);
        AttestedKey {
            key,
            key_id,
            attestation,
        }
    }
}

impl AttestedKey {
    /// An assertion with `counter` over `client_data_hash`, as
    /// `DCAppAttestService.generateAssertion` makes it.
    pub fn assert(
        &self,
        team_id: &str,
        bundle_id: &str,
        counter: u32,
        client_data_hash: &[u8],
    ) -> Vec<u8> {
        let mut auth_data = Vec::new();
        auth_data.extend_from_slice(&Sha256::digest(format!("{team_id}.{bundle_id}")));
        auth_data.push(0x00);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let mut hasher = Sha256::new();
        hasher.update(&auth_data);
        hasher.update(client_data_hash);
        let nonce: [u8; 32] = hasher.finalize().into();
        // ECDSA P-256 with SHA-256 over the nonce (DER signature).
        let signature = self.key.sign(&nonce).unwrap();
        map(&[
            (text("signature"), bytes(&signature)),
            (text("authenticatorData"), bytes(&auth_data)),
        ])
    }
}

/// The EC2 P-256 COSE key of an uncompressed point, labels in canonical order.
fn cose_p256(point: &[u8]) -> Vec<u8> {
    map(&[
        (uint(1), uint(2)),
        (uint(3), negative(7)),
        (negative(1), uint(1)),
        (negative(2), bytes(&point[1..33])),
        (negative(3), bytes(&point[33..65])),
    ])
}

fn head(major: u8, n: usize) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn uint(n: usize) -> Vec<u8> {
    head(0, n)
}

/// CBOR −n.
fn negative(n: usize) -> Vec<u8> {
    head(1, n - 1)
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len());
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len());
    v.extend_from_slice(s.as_bytes());
    v
}

fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = head(4, items.len());
    for item in items {
        v.extend_from_slice(item);
    }
    v
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut v = head(5, entries.len());
    for (k, value) in entries {
        v.extend_from_slice(k);
        v.extend_from_slice(value);
    }
    v
}
