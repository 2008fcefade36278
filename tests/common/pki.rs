//! A complete test PKI, generated with rcgen at test time.
//!
//! Everything is built once per test binary by [`pki()`] (or afresh by [`TestPki::new`]).
//! Keys are random, but every other field (names, serials, dates, extensions) is fixed,
//! so the fixture is deterministic apart from key material and signatures.
//!
//! Hierarchy overview (all keys ECDSA P-256 unless stated otherwise):
//!
//! ```text
//! root ── intermediate ── Genuine, OtherApp, Second, Revoked, Expired, ... (most leaves)
//!   │                     Crl::Intermediate*, Crl::CriticalCrlNumber, Crl::NoCrlNumber
//!   ├── no_ski_intermediate ── ViaNoSkiIntermediate
//!   ├── no_crl_sign_ca ── ViaNoCrlSignCa, Crl::ByNoCrlSignCa
//!   ├── cross_a ─┐ (same subject "Cross CA" and key)
//!   │            ├── ViaCrossSigned
//! second_root ── cross_b ─┘
//!   └── chain CA 1 ── 2 ── 3 ── 4 ── long-chain leaf
//! impostor_root (same DN as root) ── impostor_intermediate (same DN as intermediate)
//!                                     ── ImpostorSameNames, Crl::ImpostorSigned
//! other_root ── other_intermediate ── ForeignCa
//! expired_root (2020..2021) ── expired-root intermediate ── expired-root leaf
//! non_ca_root (basicConstraints not critical) ── leaf
//! unknown_ext_root (unknown critical extension) ── leaf
//! ```

// Fixture code: it only ever sees inputs the tests themselves build, never untrusted
// input, so panicking on a broken fixture is the right behaviour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions,
    dead_code,
    missing_docs,
    unreachable_pub
)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CrlIssuingDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, RsaKeySize, SanType, SerialNumber, SigningKey,
};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The fixed "current time" of the test suite: 2026-06-01T00:00:00Z.
pub const NOW: UnixTime = UnixTime::since_unix_epoch(Duration::from_secs(1_780_272_000));

/// The app id of the happy-path leaves.
pub const SHOP: &str = "com.example.shop";
/// The app id of [`Leaf::OtherApp`].
pub const OTHER_APP: &str = "com.example.other";
/// The CN identity of [`Leaf::CnIdentity`].
pub const CN_APP: &str = "com.example.cn";
/// The OU identity of [`Leaf::OuIdentity`].
pub const OU_APP: &str = "com.example.ou";
/// The CRL distribution point URI carried by [`Leaf::WithCrlDp`].
pub const CRL_DP_URI: &str = "http://crl.example.com/intermediate.crl";
/// The issuing distribution point URI of [`Crl::IntermediateWithIdp`].
pub const OTHER_IDP_URI: &str = "http://crl.example.com/other.crl";
/// The OID of the unknown critical extension on [`TestPki::anchor_with_unknown_critical_ext`].
pub const UNKNOWN_CRITICAL_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 1];
/// The OID of the ~20 KiB non-critical padding extension on [`Leaf::Huge`].
pub const HUGE_EXT_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 2];
/// Size of the padding carried by [`Leaf::Huge`].
pub const HUGE_PADDING: usize = 20 * 1024;
/// Leaf serials are `LEAF_SERIAL_BASE + index in Leaf::ALL`; CA serials start at
/// `CA_SERIAL_BASE`. Serials passed to [`TestPki::issue`] should avoid both ranges
/// (`0x100..0x1100`) if they must not collide with fixture certificates.
pub const LEAF_SERIAL_BASE: u64 = 0x1000;
/// See [`LEAF_SERIAL_BASE`].
pub const CA_SERIAL_BASE: u64 = 0x100;

/// Parse an RFC 3339 timestamp such as `"2026-06-01T00:00:00Z"` into a [`UnixTime`].
pub fn at(rfc3339: &str) -> UnixTime {
    let dt = OffsetDateTime::parse(rfc3339, &Rfc3339)
        .unwrap_or_else(|e| panic!("bad RFC 3339 timestamp {rfc3339:?}: {e}"));
    let secs = u64::try_from(dt.unix_timestamp()).expect("timestamp before 1970");
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// The DER INTEGER contents (minimal, positive; what webpki's `Cert::serial()`
/// returns) of a `u64` serial number.
pub fn serial_bytes(serial: u64) -> Vec<u8> {
    let be = serial.to_be_bytes();
    let first = be.iter().position(|b| *b != 0).unwrap_or(be.len() - 1);
    let mut out = be[first..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

/// The shared PKI, built once per test binary.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::new)
}

/// The pre-generated leaf certificates. All are issued by the real intermediate unless
/// stated otherwise, valid 2026-01-01..2027-01-01, ECDSA P-256, with CN = app id,
/// SAN URI `app://<app id>`, EKU clientAuth, keyUsage digitalSignature (critical),
/// authorityKeyIdentifier, subjectKeyIdentifier and basicConstraints cA=FALSE (critical).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Leaf {
    /// `com.example.shop`, the happy path.
    Genuine,
    /// `com.example.other`, otherwise genuine.
    OtherApp,
    /// Another genuine `com.example.shop` leaf (other key and serial), never revoked.
    Second,
    /// `com.example.shop`; its serial is revoked by [`Crl::Intermediate`].
    Revoked,
    /// notAfter 2026-03-01 (before [`NOW`]).
    Expired,
    /// notBefore 2026-09-01 (after [`NOW`]).
    NotYetValid,
    /// No extendedKeyUsage extension at all.
    NoEku,
    /// EKU serverAuth only.
    ServerEku,
    /// SAN with DNS name `no-app.example.com` only; CN = `no-app`.
    NoAppId,
    /// Two `app://` SAN URIs: `app://com.example.shop` and `app://com.example.other`.
    TwoAppIds,
    /// No authorityKeyIdentifier.
    NoAki,
    /// Not a CA (cA=FALSE) but keyUsage has digitalSignature + keyCertSign.
    KeyCertSign,
    /// Carries a critical nameConstraints extension (permitted DNS `example.com`).
    NameConstraints,
    /// Empty subject DN with a NON-critical SAN (violates RFC 5280 4.2.1.6).
    EmptySubjectNonCriticalSan,
    /// Issued by an impostor intermediate with the same DN as the real one (other key),
    /// itself under an impostor root with the real root's DN. Chain presents the
    /// impostor intermediate.
    ImpostorSameNames,
    /// Issued by an unrelated hierarchy (other names); chain presents its intermediate.
    ForeignCa,
    /// Genuine `com.example.shop` leaf with an Ed25519 key.
    Ed25519,
    /// Genuine `com.example.shop` leaf with an ECDSA P-384 key.
    P384,
    /// Genuine `com.example.shop` leaf with an RSA 2048 key (PKCS#1 v1.5 SHA-256).
    Rsa2048,
    /// Genuine but with a ~20 KiB non-critical custom extension (DER > 16 KiB).
    Huge,
    /// No SAN URI; CN = `com.example.cn`; SAN DNS `cn.example.com`.
    CnIdentity,
    /// No SAN URI and no CN; subject O = `certgate tests`, OU = `com.example.ou`;
    /// SAN DNS `ou.example.com`.
    OuIdentity,
    /// Issued by an intermediate (signed by the real root) that lacks subjectKeyIdentifier.
    ViaNoSkiIntermediate,
    /// Issued by the cross-signed "Cross CA"; chain presents `[leaf, cross_a, cross_b]`.
    ViaCrossSigned,
    /// Genuine, with CRL distribution point [`CRL_DP_URI`].
    WithCrlDp,
    /// Server leaf: CN/SAN DNS `server.example.com`, EKU serverAuth, no app id.
    Server,
    /// Issued by the CA without cRLSign ([`TestPki::no_crl_sign_ca`]); chain presents it.
    ViaNoCrlSignCa,
}

impl Leaf {
    /// Every leaf kind, in serial order.
    pub const ALL: [Leaf; 27] = [
        Leaf::Genuine,
        Leaf::OtherApp,
        Leaf::Second,
        Leaf::Revoked,
        Leaf::Expired,
        Leaf::NotYetValid,
        Leaf::NoEku,
        Leaf::ServerEku,
        Leaf::NoAppId,
        Leaf::TwoAppIds,
        Leaf::NoAki,
        Leaf::KeyCertSign,
        Leaf::NameConstraints,
        Leaf::EmptySubjectNonCriticalSan,
        Leaf::ImpostorSameNames,
        Leaf::ForeignCa,
        Leaf::Ed25519,
        Leaf::P384,
        Leaf::Rsa2048,
        Leaf::Huge,
        Leaf::CnIdentity,
        Leaf::OuIdentity,
        Leaf::ViaNoSkiIntermediate,
        Leaf::ViaCrossSigned,
        Leaf::WithCrlDp,
        Leaf::Server,
        Leaf::ViaNoCrlSignCa,
    ];

    /// File stem used by [`TestPki::write_to`] (kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Leaf::Genuine => "genuine",
            Leaf::OtherApp => "other-app",
            Leaf::Second => "second",
            Leaf::Revoked => "revoked",
            Leaf::Expired => "expired",
            Leaf::NotYetValid => "not-yet-valid",
            Leaf::NoEku => "no-eku",
            Leaf::ServerEku => "server-eku",
            Leaf::NoAppId => "no-app-id",
            Leaf::TwoAppIds => "two-app-ids",
            Leaf::NoAki => "no-aki",
            Leaf::KeyCertSign => "key-cert-sign",
            Leaf::NameConstraints => "name-constraints",
            Leaf::EmptySubjectNonCriticalSan => "empty-subject-non-critical-san",
            Leaf::ImpostorSameNames => "impostor-same-names",
            Leaf::ForeignCa => "foreign-ca",
            Leaf::Ed25519 => "ed25519",
            Leaf::P384 => "p384",
            Leaf::Rsa2048 => "rsa2048",
            Leaf::Huge => "huge",
            Leaf::CnIdentity => "cn-identity",
            Leaf::OuIdentity => "ou-identity",
            Leaf::ViaNoSkiIntermediate => "via-no-ski-intermediate",
            Leaf::ViaCrossSigned => "via-cross-signed",
            Leaf::WithCrlDp => "with-crl-dp",
            Leaf::Server => "server",
            Leaf::ViaNoCrlSignCa => "via-no-crl-sign-ca",
        }
    }

    /// The serial number this leaf is issued with (`LEAF_SERIAL_BASE + index`).
    pub fn serial(self) -> u64 {
        let index = Self::ALL.iter().position(|l| *l == self).unwrap();
        LEAF_SERIAL_BASE + index as u64
    }
}

/// The pre-generated CRLs. All have thisUpdate 2026-05-01, nextUpdate 2026-07-01
/// unless stated otherwise, authorityKeyIdentifier and a (non-critical) cRLNumber
/// `1000 + index in Crl::ALL` unless stated otherwise, no issuingDistributionPoint
/// unless stated otherwise. Revoked entries carry reason keyCompromise and
/// revocationDate 2026-05-01.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Crl {
    /// By the intermediate; revokes [`Leaf::Revoked`].
    Intermediate,
    /// Like [`Crl::Intermediate`] but nextUpdate 2026-05-15 (before [`NOW`]).
    IntermediateExpired,
    /// By the intermediate; revokes nothing.
    IntermediateEmpty,
    /// By the root; revokes nothing.
    Root,
    /// By the root; revokes the real intermediate.
    RootRevokingIntermediate,
    /// By the intermediate, with issuingDistributionPoint [`OTHER_IDP_URI`]
    /// (so not authoritative for [`Leaf::WithCrlDp`]); revokes nothing.
    IntermediateWithIdp,
    /// Issuer DN and AKI of the real intermediate, but signed by the impostor
    /// intermediate's key (bad signature). Revokes [`Leaf::Genuine`], so wrongly
    /// accepting it is observable.
    ImpostorSigned,
    /// By the intermediate, revokes [`Leaf::Revoked`], cRLNumber marked critical
    /// (re-encoded and re-signed by the fixture).
    CriticalCrlNumber,
    /// By the intermediate, revokes [`Leaf::Revoked`], no cRLNumber extension at all
    /// (only AKI; re-encoded and re-signed by the fixture).
    NoCrlNumber,
    /// By [`TestPki::no_crl_sign_ca`] (keyUsage without cRLSign); revokes
    /// [`Leaf::ViaNoCrlSignCa`].
    ByNoCrlSignCa,
}

impl Crl {
    /// Every CRL kind.
    pub const ALL: [Crl; 10] = [
        Crl::Intermediate,
        Crl::IntermediateExpired,
        Crl::IntermediateEmpty,
        Crl::Root,
        Crl::RootRevokingIntermediate,
        Crl::IntermediateWithIdp,
        Crl::ImpostorSigned,
        Crl::CriticalCrlNumber,
        Crl::NoCrlNumber,
        Crl::ByNoCrlSignCa,
    ];

    /// File stem used by [`TestPki::write_to`] (`<name>.crl.pem`).
    pub fn name(self) -> &'static str {
        match self {
            Crl::Intermediate => "intermediate",
            Crl::IntermediateExpired => "intermediate-expired",
            Crl::IntermediateEmpty => "intermediate-empty",
            Crl::Root => "root",
            Crl::RootRevokingIntermediate => "root-revoking-intermediate",
            Crl::IntermediateWithIdp => "intermediate-with-idp",
            Crl::ImpostorSigned => "impostor-signed",
            Crl::CriticalCrlNumber => "critical-crl-number",
            Crl::NoCrlNumber => "no-crl-number",
            Crl::ByNoCrlSignCa => "by-no-crl-sign-ca",
        }
    }

    /// The cRLNumber this CRL is issued with (absent for [`Crl::NoCrlNumber`]).
    pub fn number(self) -> u64 {
        let index = Self::ALL.iter().position(|c| *c == self).unwrap();
        1000 + index as u64
    }
}

/// A generated end-entity certificate with its key.
#[derive(Debug)]
pub struct Issued {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// Its private key, PKCS#8.
    pub key: PrivateKeyDer<'static>,
    /// `cert` as PEM.
    pub cert_pem: String,
    /// `key` as PEM (`PRIVATE KEY`).
    pub key_pem: String,
    /// The serial as the DER INTEGER contents in the certificate (= webpki `Cert::serial()`).
    pub serial: Vec<u8>,
    /// The intermediates the peer presents after the leaf, issuer first.
    intermediates: Vec<CertificateDer<'static>>,
}

impl Issued {
    /// What the peer presents: the leaf first, then its intermediates (issuer first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        std::iter::once(self.cert.clone())
            .chain(self.intermediates.iter().cloned())
            .collect()
    }

    /// The intermediates presented after the leaf (issuer first).
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    /// [`Issued::chain`] as concatenated PEM.
    pub fn chain_pem(&self) -> String {
        self.chain().iter().map(|c| pem("CERTIFICATE", c)).collect()
    }

    /// A fresh copy of the private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

/// A CA: its parameters, key and certificate.
#[derive(Debug)]
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert: CertificateDer<'static>,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// The subjectKeyIdentifier value (also what rcgen puts in children's AKI).
    fn key_id(&self) -> Vec<u8> {
        self.params.key_identifier(&self.key)
    }

    fn pem(&self) -> String {
        pem("CERTIFICATE", &self.cert)
    }
}

/// The whole test PKI. See the module docs for the hierarchy.
#[derive(Debug)]
pub struct TestPki {
    root: Ca,
    intermediate: Ca,
    impostor_root: Ca,
    impostor_intermediate: Ca,
    other_root: Ca,
    other_intermediate: Ca,
    second_root: Ca,
    /// "Cross CA" as signed by the real root (`cross_a`).
    cross: Ca,
    cross_b: CertificateDer<'static>,
    no_ski_intermediate: Ca,
    no_crl_sign_ca: Ca,
    expired_root: Ca,
    expired_root_intermediate: Ca,
    non_ca_root: Ca,
    unknown_ext_root: Ca,
    leaves: HashMap<Leaf, Issued>,
    crls: HashMap<Crl, CertificateRevocationListDer<'static>>,
    long_chain_leaf: Issued,
    expired_root_leaf: Issued,
    non_ca_root_leaf: Issued,
    unknown_ext_root_leaf: Issued,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// Serials of the certificates the `*_with_key_usages` helpers make on demand.
const CUSTOM_SERIAL_BASE: u64 = 0x7a00_0000;

impl TestPki {
    /// Generate the whole PKI (all leaves and CRLs included).
    pub fn new() -> Self {
        let ca_from = dt("2025-01-01T00:00:00Z");
        let ca_to = dt("2030-01-01T00:00:00Z");
        let mut next_serial = CA_SERIAL_BASE;
        let mut serial = || {
            next_serial += 1;
            next_serial
        };

        let root = self_signed_ca(ca_params(
            "certgate Test Root CA",
            "certgate tests",
            serial(),
            ca_from,
            ca_to,
        ));
        let intermediate = sub_ca(
            ca_params(
                "certgate Test Intermediate CA",
                "certgate tests",
                serial(),
                ca_from,
                ca_to,
            ),
            &root,
        );

        // Same DNs as the real root/intermediate, other keys.
        let mut impostor_root_params = root.params.clone();
        impostor_root_params.serial_number = Some(serial_number(serial()));
        let impostor_root = self_signed_ca(impostor_root_params);
        let mut impostor_intermediate_params = intermediate.params.clone();
        impostor_intermediate_params.serial_number = Some(serial_number(serial()));
        let impostor_intermediate = sub_ca(impostor_intermediate_params, &impostor_root);

        let other_root = self_signed_ca(ca_params(
            "Unrelated Root CA",
            "Elsewhere Inc",
            serial(),
            ca_from,
            ca_to,
        ));
        let other_intermediate = sub_ca(
            ca_params(
                "Unrelated Issuing CA",
                "Elsewhere Inc",
                serial(),
                ca_from,
                ca_to,
            ),
            &other_root,
        );

        let second_root = self_signed_ca(ca_params(
            "certgate Second Root CA",
            "certgate tests",
            serial(),
            ca_from,
            ca_to,
        ));
        // One key, two certificates: cross_a under the root, cross_b under second_root.
        let cross_params = ca_params("Cross CA", "certgate tests", serial(), ca_from, ca_to);
        let cross = sub_ca(cross_params.clone(), &root);
        let mut cross_b_params = cross_params;
        cross_b_params.serial_number = Some(serial_number(serial()));
        let cross_b: CertificateDer<'static> = cross_b_params
            .signed_by(&cross.key, &second_root.issuer())
            .unwrap()
            .into();

        // A CA without subjectKeyIdentifier: rcgen always writes SKI for IsCa::Ca, so
        // use IsCa::NoCa and write basicConstraints ourselves.
        let mut no_ski_params = ca_params(
            "certgate No-SKI Intermediate CA",
            "certgate tests",
            serial(),
            ca_from,
            ca_to,
        );
        no_ski_params.is_ca = IsCa::NoCa;
        no_ski_params
            .custom_extensions
            .push(basic_constraints_ext(true, true));
        let no_ski_intermediate = sub_ca(no_ski_params, &root);

        let mut no_crl_sign_params = ca_params(
            "certgate No-CRL-Sign CA",
            "certgate tests",
            serial(),
            ca_from,
            ca_to,
        );
        no_crl_sign_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let no_crl_sign_ca = sub_ca(no_crl_sign_params, &root);

        let expired_root = self_signed_ca(ca_params(
            "certgate Expired Root CA",
            "certgate tests",
            serial(),
            dt("2020-01-01T00:00:00Z"),
            dt("2021-01-01T00:00:00Z"),
        ));
        let expired_root_intermediate = sub_ca(
            ca_params(
                "certgate Expired-Root Intermediate CA",
                "certgate tests",
                serial(),
                ca_from,
                ca_to,
            ),
            &expired_root,
        );

        // cA=TRUE but basicConstraints NOT critical (custom extension; SKI added by hand).
        let non_ca_root = {
            let mut params = ca_params(
                "certgate Non-Critical-BC Root CA",
                "certgate tests",
                serial(),
                ca_from,
                ca_to,
            );
            params.is_ca = IsCa::NoCa;
            let key = KeyPair::generate().unwrap();
            let ski = params.key_identifier(&key);
            params.custom_extensions.push(ski_ext(&ski));
            params
                .custom_extensions
                .push(basic_constraints_ext(true, false));
            let cert = params.self_signed(&key).unwrap().into();
            Ca { params, key, cert }
        };

        let unknown_ext_root = {
            let mut params = ca_params(
                "certgate Unknown-Critical-Extension Root CA",
                "certgate tests",
                serial(),
                ca_from,
                ca_to,
            );
            let mut ext = CustomExtension::from_oid_content(UNKNOWN_CRITICAL_OID, der(0x05, &[]));
            ext.set_criticality(true);
            params.custom_extensions.push(ext);
            self_signed_ca(params)
        };

        // leaf <- CA 4 <- CA 3 <- CA 2 <- CA 1 <- root
        let long_chain_leaf = {
            let mut cas: Vec<Ca> = Vec::new();
            for i in 1..=4 {
                let params = ca_params(
                    &format!("certgate Chain CA {i}"),
                    "certgate tests",
                    serial(),
                    ca_from,
                    ca_to,
                );
                let ca = sub_ca(params, cas.last().unwrap_or(&root));
                cas.push(ca);
            }
            let presented = cas.iter().rev().map(|c| c.cert.clone()).collect();
            let params = leaf_params(SHOP, LEAF_SERIAL_BASE - 1, leaf_from(), leaf_to());
            sign_leaf(
                &params,
                KeyPair::generate().unwrap(),
                cas.last().unwrap(),
                presented,
            )
        };

        let expired_root_leaf = sign_leaf(
            &leaf_params(SHOP, LEAF_SERIAL_BASE - 2, leaf_from(), leaf_to()),
            KeyPair::generate().unwrap(),
            &expired_root_intermediate,
            vec![expired_root_intermediate.cert.clone()],
        );
        let non_ca_root_leaf = sign_leaf(
            &leaf_params(SHOP, LEAF_SERIAL_BASE - 3, leaf_from(), leaf_to()),
            KeyPair::generate().unwrap(),
            &non_ca_root,
            Vec::new(),
        );
        let unknown_ext_root_leaf = sign_leaf(
            &leaf_params(SHOP, LEAF_SERIAL_BASE - 4, leaf_from(), leaf_to()),
            KeyPair::generate().unwrap(),
            &unknown_ext_root,
            Vec::new(),
        );

        let mut pki = TestPki {
            root,
            intermediate,
            impostor_root,
            impostor_intermediate,
            other_root,
            other_intermediate,
            second_root,
            cross,
            cross_b,
            no_ski_intermediate,
            no_crl_sign_ca,
            expired_root,
            expired_root_intermediate,
            non_ca_root,
            unknown_ext_root,
            leaves: HashMap::new(),
            crls: HashMap::new(),
            long_chain_leaf,
            expired_root_leaf,
            non_ca_root_leaf,
            unknown_ext_root_leaf,
        };
        for kind in Leaf::ALL {
            let issued = pki.build_leaf(kind);
            pki.leaves.insert(kind, issued);
        }
        for kind in Crl::ALL {
            let crl = pki.build_crl(kind);
            pki.crls.insert(kind, crl);
        }
        pki
    }

    fn build_leaf(&self, kind: Leaf) -> Issued {
        let mut params = leaf_params(SHOP, kind.serial(), leaf_from(), leaf_to());
        let mut issuer = &self.intermediate;
        let mut presented = vec![self.intermediate.cert.clone()];
        let mut key = None;

        match kind {
            Leaf::Genuine | Leaf::Second | Leaf::Revoked => {}
            Leaf::OtherApp => {
                params = leaf_params(OTHER_APP, kind.serial(), leaf_from(), leaf_to());
            }
            Leaf::Expired => params.not_after = dt("2026-03-01T00:00:00Z"),
            Leaf::NotYetValid => params.not_before = dt("2026-09-01T00:00:00Z"),
            Leaf::NoEku => params.extended_key_usages.clear(),
            Leaf::ServerEku => {
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            Leaf::NoAppId => {
                params.distinguished_name = dn(&[(DnType::CommonName, "no-app")]);
                params.subject_alt_names = vec![dns_san("no-app.example.com")];
            }
            Leaf::TwoAppIds => {
                params
                    .subject_alt_names
                    .push(uri_san(&format!("app://{OTHER_APP}")));
            }
            Leaf::NoAki => params.use_authority_key_identifier_extension = false,
            Leaf::KeyCertSign => params.key_usages.push(KeyUsagePurpose::KeyCertSign),
            Leaf::NameConstraints => {
                params.name_constraints = Some(rcgen::NameConstraints {
                    permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".to_owned())],
                    excluded_subtrees: Vec::new(),
                });
            }
            Leaf::EmptySubjectNonCriticalSan => {
                // rcgen marks its own SAN critical when the subject is empty, so write
                // the SAN as a custom (non-critical) extension instead.
                params.distinguished_name = DistinguishedName::new();
                params.subject_alt_names.clear();
                let uri = format!("app://{SHOP}");
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[2, 5, 29, 17],
                        der(0x30, &der(0x86, uri.as_bytes())),
                    ));
            }
            Leaf::ImpostorSameNames => {
                issuer = &self.impostor_intermediate;
                presented = vec![self.impostor_intermediate.cert.clone()];
            }
            Leaf::ForeignCa => {
                issuer = &self.other_intermediate;
                presented = vec![self.other_intermediate.cert.clone()];
            }
            Leaf::Ed25519 => key = Some(KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap()),
            Leaf::P384 => {
                key = Some(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap());
            }
            Leaf::Rsa2048 => {
                key = Some(
                    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap(),
                );
            }
            Leaf::Huge => {
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        HUGE_EXT_OID,
                        der(0x04, &vec![0x5a; HUGE_PADDING]),
                    ));
            }
            Leaf::CnIdentity => {
                params.distinguished_name = dn(&[(DnType::CommonName, CN_APP)]);
                params.subject_alt_names = vec![dns_san("cn.example.com")];
            }
            Leaf::OuIdentity => {
                params.distinguished_name = dn(&[
                    (DnType::OrganizationName, "certgate tests"),
                    (DnType::OrganizationalUnitName, OU_APP),
                ]);
                params.subject_alt_names = vec![dns_san("ou.example.com")];
            }
            Leaf::ViaNoSkiIntermediate => {
                issuer = &self.no_ski_intermediate;
                presented = vec![self.no_ski_intermediate.cert.clone()];
            }
            Leaf::ViaCrossSigned => {
                issuer = &self.cross;
                presented = vec![self.cross.cert.clone(), self.cross_b.clone()];
            }
            Leaf::WithCrlDp => {
                params.crl_distribution_points = vec![CrlDistributionPoint {
                    uris: vec![CRL_DP_URI.to_owned()],
                }];
            }
            Leaf::Server => {
                params.distinguished_name = dn(&[(DnType::CommonName, "server.example.com")]);
                params.subject_alt_names = vec![dns_san("server.example.com")];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            Leaf::ViaNoCrlSignCa => {
                issuer = &self.no_crl_sign_ca;
                presented = vec![self.no_crl_sign_ca.cert.clone()];
            }
        }

        let key = key.unwrap_or_else(|| KeyPair::generate().unwrap());
        sign_leaf(&params, key, issuer, presented)
    }

    fn build_crl(&self, kind: Crl) -> CertificateRevocationListDer<'static> {
        let this_update = dt("2026-05-01T00:00:00Z");
        let next_update = dt("2026-07-01T00:00:00Z");
        let revoked_leaf = serial_bytes(Leaf::Revoked.serial());
        let mut params = crl_params(kind.number(), &[], this_update, next_update);
        match kind {
            Crl::Intermediate => {
                params = crl_params(kind.number(), &[revoked_leaf], this_update, next_update);
            }
            Crl::IntermediateExpired => {
                params = crl_params(
                    kind.number(),
                    &[revoked_leaf],
                    this_update,
                    dt("2026-05-15T00:00:00Z"),
                );
            }
            Crl::IntermediateEmpty => {}
            Crl::Root | Crl::RootRevokingIntermediate => {
                if kind == Crl::RootRevokingIntermediate {
                    params = crl_params(
                        kind.number(),
                        &[serial_of(&self.intermediate)],
                        this_update,
                        next_update,
                    );
                }
                return params.signed_by(&self.root.issuer()).unwrap().into();
            }
            Crl::IntermediateWithIdp => {
                params.issuing_distribution_point = Some(CrlIssuingDistributionPoint {
                    distribution_point: CrlDistributionPoint {
                        uris: vec![OTHER_IDP_URI.to_owned()],
                    },
                    scope: None,
                });
            }
            Crl::ImpostorSigned => {
                params = crl_params(
                    kind.number(),
                    &[serial_bytes(Leaf::Genuine.serial())],
                    this_update,
                    next_update,
                );
                // AKI of the real intermediate, so it looks authoritative.
                params.key_identifier_method =
                    KeyIdMethod::PreSpecified(self.intermediate.key_id());
                return params
                    .signed_by(&self.impostor_intermediate.issuer())
                    .unwrap()
                    .into();
            }
            Crl::CriticalCrlNumber | Crl::NoCrlNumber => {
                params = crl_params(kind.number(), &[revoked_leaf], this_update, next_update);
                let crl = params.signed_by(&self.intermediate.issuer()).unwrap();
                let critical = kind == Crl::CriticalCrlNumber;
                return rewrite_crl_extensions(crl.der(), &self.intermediate.key, |ext| {
                    let parts = der_children(der_split(ext).1);
                    if parts[0].2 != CRL_NUMBER_OID_TLV {
                        return Some(ext.to_vec());
                    }
                    if !critical {
                        return None;
                    }
                    // extnID, critical TRUE, extnValue
                    let mut content = parts[0].2.to_vec();
                    content.extend_from_slice(&[0x01, 0x01, 0xff]);
                    content.extend_from_slice(parts.last().unwrap().2);
                    Some(der(0x30, &content))
                });
            }
            Crl::ByNoCrlSignCa => {
                params = crl_params(
                    kind.number(),
                    &[serial_bytes(Leaf::ViaNoCrlSignCa.serial())],
                    this_update,
                    next_update,
                );
                // rcgen refuses to sign a CRL for an issuer whose key usages lack
                // cRLSign, so hand it an issuer view without key usages.
                let mut issuer_params = self.no_crl_sign_ca.params.clone();
                issuer_params.key_usages.clear();
                let issuer = Issuer::new(issuer_params, &self.no_crl_sign_ca.key);
                return params.signed_by(&issuer).unwrap().into();
            }
        }
        params
            .signed_by(&self.intermediate.issuer())
            .unwrap()
            .into()
    }

    /// The real root (trust anchor).
    pub fn root(&self) -> CertificateDer<'static> {
        self.root.cert.clone()
    }

    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// The real intermediate, issuer of most leaves.
    pub fn intermediate(&self) -> CertificateDer<'static> {
        self.intermediate.cert.clone()
    }

    pub fn intermediate_pem(&self) -> String {
        self.intermediate.pem()
    }

    /// The real intermediate's serial (DER INTEGER contents).
    pub fn intermediate_serial(&self) -> Vec<u8> {
        serial_of(&self.intermediate)
    }

    pub fn leaf(&self, kind: Leaf) -> &Issued {
        &self.leaves[&kind]
    }

    pub fn crl(&self, kind: Crl) -> CertificateRevocationListDer<'static> {
        self.crls[&kind].clone()
    }

    pub fn crl_pem(&self, kind: Crl) -> String {
        pem("X509 CRL", &self.crls[&kind])
    }

    /// Self-signed, same DN as [`TestPki::root`], different key.
    pub fn impostor_root(&self) -> CertificateDer<'static> {
        self.impostor_root.cert.clone()
    }

    /// Same DN as [`TestPki::intermediate`], different key, signed by the impostor root.
    pub fn impostor_intermediate(&self) -> CertificateDer<'static> {
        self.impostor_intermediate.cert.clone()
    }

    /// An unrelated root with other names ("Unrelated Root CA", O=Elsewhere Inc).
    pub fn other_root(&self) -> CertificateDer<'static> {
        self.other_root.cert.clone()
    }

    /// The issuing CA under [`TestPki::other_root`] (issuer of [`Leaf::ForeignCa`]).
    pub fn other_intermediate(&self) -> CertificateDer<'static> {
        self.other_intermediate.cert.clone()
    }

    /// Second root ("certgate Second Root CA"), issuer of [`TestPki::cross_b`].
    pub fn second_root(&self) -> CertificateDer<'static> {
        self.second_root.cert.clone()
    }

    /// "Cross CA" (key K) signed by the real root.
    pub fn cross_a(&self) -> CertificateDer<'static> {
        self.cross.cert.clone()
    }

    /// "Cross CA" (same key K) signed by [`TestPki::second_root`].
    pub fn cross_b(&self) -> CertificateDer<'static> {
        self.cross_b.clone()
    }

    /// A genuine-looking leaf under an intermediate (signed by the real root) whose
    /// basicConstraints cA=TRUE is NOT critical; the chain presents that intermediate.
    /// Generated on each call.
    pub fn non_critical_bc_chain(&self) -> Vec<CertificateDer<'static>> {
        let mut params = ca_params(
            "certgate Non-Critical-BC CA",
            "certgate tests",
            0x1F00,
            to_dt(at("2025-01-01T00:00:00Z")),
            to_dt(at("2030-01-01T00:00:00Z")),
        );
        params.is_ca = IsCa::NoCa;
        params
            .custom_extensions
            .push(basic_constraints_ext(true, false));
        let ca = sub_ca(params, &self.root);
        let leaf = leaf_params(
            SHOP,
            0x1F01,
            to_dt(at("2026-01-01T00:00:00Z")),
            to_dt(at("2027-01-01T00:00:00Z")),
        );
        sign_leaf(
            &leaf,
            KeyPair::generate().unwrap(),
            &ca,
            vec![ca.cert.clone()],
        )
        .chain()
    }

    /// Intermediate signed by the real root that has no subjectKeyIdentifier.
    pub fn no_ski_intermediate(&self) -> CertificateDer<'static> {
        self.no_ski_intermediate.cert.clone()
    }

    /// Intermediate signed by the real root with keyUsage keyCertSign only (no cRLSign);
    /// signs [`Crl::ByNoCrlSignCa`] and issues [`Leaf::ViaNoCrlSignCa`].
    pub fn no_crl_sign_ca(&self) -> CertificateDer<'static> {
        self.no_crl_sign_ca.cert.clone()
    }

    /// `[leaf, CA 4, CA 3, CA 2, CA 1]`; CA 1 is signed by the real root. All genuine
    /// (the leaf is a `com.example.shop` client leaf).
    pub fn long_chain(&self) -> Vec<CertificateDer<'static>> {
        self.long_chain_leaf.chain()
    }

    /// The leaf of [`TestPki::long_chain`], with its key.
    pub fn long_chain_leaf(&self) -> &Issued {
        &self.long_chain_leaf
    }

    /// A separate root valid only 2020-01-01..2021-01-01 (expired at [`NOW`]).
    pub fn expired_root(&self) -> CertificateDer<'static> {
        self.expired_root.cert.clone()
    }

    /// `[leaf, intermediate]` under [`TestPki::expired_root`]; their own dates are fine.
    pub fn expired_root_chain(&self) -> Vec<CertificateDer<'static>> {
        self.expired_root_leaf.chain()
    }

    /// The leaf of [`TestPki::expired_root_chain`], with its key.
    pub fn expired_root_leaf(&self) -> &Issued {
        &self.expired_root_leaf
    }

    /// Self-signed root with basicConstraints cA=TRUE but NOT critical (keyUsage
    /// keyCertSign+cRLSign critical, SKI present).
    pub fn non_ca_root(&self) -> CertificateDer<'static> {
        self.non_ca_root.cert.clone()
    }

    /// A genuine `com.example.shop` leaf issued directly by [`TestPki::non_ca_root`].
    pub fn non_ca_root_leaf(&self) -> &Issued {
        &self.non_ca_root_leaf
    }

    /// Self-signed proper CA root that also carries an unknown critical extension
    /// ([`UNKNOWN_CRITICAL_OID`], value NULL).
    pub fn anchor_with_unknown_critical_ext(&self) -> CertificateDer<'static> {
        self.unknown_ext_root.cert.clone()
    }

    /// A genuine `com.example.shop` leaf issued directly by
    /// [`TestPki::anchor_with_unknown_critical_ext`].
    pub fn unknown_critical_ext_root_leaf(&self) -> &Issued {
        &self.unknown_ext_root_leaf
    }

    /// Issue a fresh genuine client leaf from the real intermediate with the given app id,
    /// serial and validity. Panics if `app` is not ASCII.
    pub fn issue(
        &self,
        app: &str,
        serial: u64,
        not_before: UnixTime,
        not_after: UnixTime,
    ) -> Issued {
        let params = leaf_params(app, serial, to_dt(not_before), to_dt(not_after));
        sign_leaf(
            &params,
            KeyPair::generate().unwrap(),
            &self.intermediate,
            vec![self.intermediate.cert.clone()],
        )
    }

    /// A fresh CA under the real root whose keyUsage is exactly `usages`, and a genuine
    /// [`SHOP`] leaf it issues (the chain presents the CA).
    pub fn leaf_via_ca_with_key_usages(&self, usages: &[KeyUsagePurpose]) -> Issued {
        let mut params = ca_params(
            "certgate Custom-KeyUsage CA",
            "certgate tests",
            CUSTOM_SERIAL_BASE + 1,
            dt("2025-01-01T00:00:00Z"),
            dt("2030-01-01T00:00:00Z"),
        );
        params.key_usages = usages.to_vec();
        let ca = sub_ca(params, &self.root);
        let leaf = leaf_params(SHOP, CUSTOM_SERIAL_BASE + 3, leaf_from(), leaf_to());
        sign_leaf(
            &leaf,
            KeyPair::generate().unwrap(),
            &ca,
            vec![ca.cert.clone()],
        )
    }

    /// A fresh self-signed root whose keyUsage is exactly `usages`, and a genuine [`SHOP`]
    /// leaf it issues directly.
    pub fn root_with_key_usages(
        &self,
        usages: &[KeyUsagePurpose],
    ) -> (CertificateDer<'static>, Issued) {
        let mut params = ca_params(
            "certgate Custom-KeyUsage Root CA",
            "certgate tests",
            CUSTOM_SERIAL_BASE + 2,
            dt("2025-01-01T00:00:00Z"),
            dt("2030-01-01T00:00:00Z"),
        );
        params.key_usages = usages.to_vec();
        let root = self_signed_ca(params);
        let leaf = leaf_params(SHOP, CUSTOM_SERIAL_BASE + 3, leaf_from(), leaf_to());
        let issued = sign_leaf(&leaf, KeyPair::generate().unwrap(), &root, Vec::new());
        (root.cert.clone(), issued)
    }

    /// A fresh self-signed root with a `alg` key, and a genuine [`SHOP`] leaf it issues
    /// directly (so the leaf's signature is made with `alg`).
    pub fn root_with_key(
        &self,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (CertificateDer<'static>, Issued) {
        let params = ca_params(
            "certgate Custom-Key Root CA",
            "certgate tests",
            CUSTOM_SERIAL_BASE + 4,
            dt("2025-01-01T00:00:00Z"),
            dt("2030-01-01T00:00:00Z"),
        );
        let mut params = params;
        params.use_authority_key_identifier_extension = false;
        let key = KeyPair::generate_for(alg).unwrap();
        let cert: CertificateDer<'static> = params.self_signed(&key).unwrap().into();
        let root = Ca {
            params,
            key,
            cert: cert.clone(),
        };
        let leaf = leaf_params(SHOP, CUSTOM_SERIAL_BASE + 5, leaf_from(), leaf_to());
        let issued = sign_leaf(&leaf, KeyPair::generate().unwrap(), &root, Vec::new());
        (cert, issued)
    }

    /// A genuine [`SHOP`] leaf from the real intermediate, valid like the fixture leaves,
    /// after `edit` has changed its parameters.
    pub fn issue_with(&self, serial: u64, edit: impl FnOnce(&mut CertificateParams)) -> Issued {
        let mut params = leaf_params(SHOP, serial, leaf_from(), leaf_to());
        edit(&mut params);
        sign_leaf(
            &params,
            KeyPair::generate().unwrap(),
            &self.intermediate,
            vec![self.intermediate.cert.clone()],
        )
    }

    /// `cert` (issued by the real intermediate) with its TBSCertificate fields passed through
    /// `rewrite` (see [`rewrite_tbs`]), signed again by the real intermediate: a correctly
    /// signed certificate with, for example, another SubjectPublicKeyInfo or serial.
    pub fn resign_by_intermediate(
        &self,
        cert: &[u8],
        rewrite: impl Fn(usize, &[u8]) -> Option<Vec<u8>>,
    ) -> CertificateDer<'static> {
        rewrite_tbs(cert, &self.intermediate.key, rewrite)
    }

    /// A fresh CA under the real root with a `key_alg` key (RSA keys: 2048 bits), made from
    /// [`ca_params`] after `edit`, its TBSCertificate then passed through `rewrite` and signed
    /// again by the root; and a genuine [`SHOP`] leaf it issues (the chain presents the CA).
    pub fn leaf_via_custom_ca(
        &self,
        key_alg: &'static rcgen::SignatureAlgorithm,
        edit: impl FnOnce(&mut CertificateParams),
        rewrite: impl Fn(usize, &[u8]) -> Option<Vec<u8>>,
    ) -> Issued {
        let mut params = ca_params(
            "certgate Custom CA",
            "certgate tests",
            CUSTOM_SERIAL_BASE + 6,
            dt("2025-01-01T00:00:00Z"),
            dt("2030-01-01T00:00:00Z"),
        );
        edit(&mut params);
        let key = if key_alg == &rcgen::PKCS_RSA_SHA256 {
            KeyPair::generate_rsa_for(key_alg, RsaKeySize::_2048).unwrap()
        } else {
            KeyPair::generate_for(key_alg).unwrap()
        };
        let cert: CertificateDer<'static> =
            params.signed_by(&key, &self.root.issuer()).unwrap().into();
        let cert = rewrite_tbs(&cert, &self.root.key, rewrite);
        let ca = Ca { params, key, cert };
        let leaf = leaf_params(SHOP, CUSTOM_SERIAL_BASE + 7, leaf_from(), leaf_to());
        sign_leaf(
            &leaf,
            KeyPair::generate().unwrap(),
            &ca,
            vec![ca.cert.clone()],
        )
    }

    /// A fresh self-signed root made from [`ca_params`] after `edit` (which also gets the
    /// root's key, e.g. for [`CertificateParams::key_identifier`]), its TBSCertificate then
    /// passed through `rewrite` and signed again by its own key; and a genuine [`SHOP`] leaf
    /// it issues directly.
    pub fn custom_root(
        &self,
        edit: impl FnOnce(&mut CertificateParams, &KeyPair),
        rewrite: impl Fn(usize, &[u8]) -> Option<Vec<u8>>,
    ) -> (CertificateDer<'static>, Issued) {
        let mut params = ca_params(
            "certgate Custom Root CA",
            "certgate tests",
            CUSTOM_SERIAL_BASE + 8,
            dt("2025-01-01T00:00:00Z"),
            dt("2030-01-01T00:00:00Z"),
        );
        params.use_authority_key_identifier_extension = false;
        let key = KeyPair::generate().unwrap();
        edit(&mut params, &key);
        let cert: CertificateDer<'static> = params.self_signed(&key).unwrap().into();
        let cert = rewrite_tbs(&cert, &key, rewrite);
        let root = Ca {
            params,
            key,
            cert: cert.clone(),
        };
        let leaf = leaf_params(SHOP, CUSTOM_SERIAL_BASE + 9, leaf_from(), leaf_to());
        let issued = sign_leaf(&leaf, KeyPair::generate().unwrap(), &root, Vec::new());
        (cert, issued)
    }

    /// A CRL by the real intermediate revoking `serials` (DER INTEGER contents, e.g.
    /// [`Issued::serial`] or [`serial_bytes`]). cRLNumber = `this_update` in seconds.
    /// Panics unless `next_update > this_update`.
    pub fn intermediate_crl(
        &self,
        serials: &[Vec<u8>],
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> CertificateRevocationListDer<'static> {
        crl_params(
            this_update.as_secs(),
            serials,
            to_dt(this_update),
            to_dt(next_update),
        )
        .signed_by(&self.intermediate.issuer())
        .unwrap()
        .into()
    }

    /// Like [`TestPki::intermediate_crl`], but by the real root.
    pub fn root_crl(
        &self,
        serials: &[Vec<u8>],
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> CertificateRevocationListDer<'static> {
        crl_params(
            this_update.as_secs(),
            serials,
            to_dt(this_update),
            to_dt(next_update),
        )
        .signed_by(&self.root.issuer())
        .unwrap()
        .into()
    }

    /// Write everything as PEM into `dir`: `root.pem`, `intermediate.pem`, for each leaf
    /// `<name>.pem` (the leaf alone), `<name>.chain.pem` (leaf + intermediates) and
    /// `<name>.key.pem`, for each CRL `<name>.crl.pem` (names from [`Leaf::name`] and
    /// [`Crl::name`]), plus the other CAs: `impostor-root.pem`, `impostor-intermediate.pem`,
    /// `other-root.pem`, `other-intermediate.pem`, `second-root.pem`, `cross-a.pem`,
    /// `cross-b.pem`, `no-ski-intermediate.pem`, `no-crl-sign-ca.pem`, `expired-root.pem`,
    /// `non-ca-root.pem`, `unknown-critical-ext-root.pem`.
    pub fn write_to(&self, dir: &Path) {
        let write = |name: &str, contents: &str| {
            let path = dir.join(name);
            std::fs::write(&path, contents)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        };
        write("root.pem", &self.root_pem());
        write("intermediate.pem", &self.intermediate_pem());
        for kind in Leaf::ALL {
            let leaf = self.leaf(kind);
            write(&format!("{}.pem", kind.name()), &leaf.cert_pem);
            write(&format!("{}.chain.pem", kind.name()), &leaf.chain_pem());
            write(&format!("{}.key.pem", kind.name()), &leaf.key_pem);
        }
        for kind in Crl::ALL {
            write(&format!("{}.crl.pem", kind.name()), &self.crl_pem(kind));
        }
        let others = [
            ("impostor-root.pem", &self.impostor_root),
            ("impostor-intermediate.pem", &self.impostor_intermediate),
            ("other-root.pem", &self.other_root),
            ("other-intermediate.pem", &self.other_intermediate),
            ("second-root.pem", &self.second_root),
            ("cross-a.pem", &self.cross),
            ("no-ski-intermediate.pem", &self.no_ski_intermediate),
            ("no-crl-sign-ca.pem", &self.no_crl_sign_ca),
            ("expired-root.pem", &self.expired_root),
            ("non-ca-root.pem", &self.non_ca_root),
            ("unknown-critical-ext-root.pem", &self.unknown_ext_root),
        ];
        for (name, ca) in others {
            write(name, &ca.pem());
        }
        write("cross-b.pem", &pem("CERTIFICATE", &self.cross_b));
    }
}

// ---------------------------------------------------------------------------
// Builders

fn dt(rfc3339: &str) -> OffsetDateTime {
    to_dt(at(rfc3339))
}

fn to_dt(t: UnixTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(i64::try_from(t.as_secs()).unwrap()).unwrap()
}

fn leaf_from() -> OffsetDateTime {
    dt("2026-01-01T00:00:00Z")
}

fn leaf_to() -> OffsetDateTime {
    dt("2027-01-01T00:00:00Z")
}

fn serial_number(serial: u64) -> SerialNumber {
    SerialNumber::from_slice(&serial_bytes(serial))
}

/// A fixture CA's serial as DER INTEGER contents. Fixture serials come from
/// `serial_bytes`, which is already the minimal positive encoding rcgen writes.
fn serial_of(ca: &Ca) -> Vec<u8> {
    ca.params.serial_number.as_ref().unwrap().to_bytes()
}

fn dn(entries: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in entries {
        dn.push(ty.clone(), *value);
    }
    dn
}

fn uri_san(uri: &str) -> SanType {
    SanType::URI(uri.try_into().unwrap())
}

fn dns_san(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// A proper RFC 5280 CA: basicConstraints critical cA=TRUE, keyUsage keyCertSign+cRLSign
/// (critical), SKI (rcgen always adds it for `IsCa::Ca`), AKI when not self-signed.
fn ca_params(
    cn: &str,
    org: &str,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[(DnType::OrganizationName, org), (DnType::CommonName, cn)]);
    params.serial_number = Some(serial_number(serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params
}

fn self_signed_ca(mut params: CertificateParams) -> Ca {
    // rcgen would otherwise write an AKI equal to the SKI on a self-signed cert.
    params.use_authority_key_identifier_extension = false;
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().into();
    Ca { params, key, cert }
}

fn sub_ca(params: CertificateParams, parent: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer()).unwrap().into();
    Ca { params, key, cert }
}

fn leaf_params(
    app: &str,
    serial: u64,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[(DnType::CommonName, app)]);
    params.subject_alt_names = vec![uri_san(&format!("app://{app}"))];
    params.serial_number = Some(serial_number(serial));
    params.not_before = not_before;
    params.not_after = not_after;
    // Writes SKI + critical basicConstraints cA=FALSE.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

fn sign_leaf(
    params: &CertificateParams,
    key: KeyPair,
    issuer: &Ca,
    intermediates: Vec<CertificateDer<'static>>,
) -> Issued {
    let cert: CertificateDer<'static> = params.signed_by(&key, &issuer.issuer()).unwrap().into();
    let serial = params.serial_number.as_ref().unwrap().to_bytes();
    Issued {
        cert_pem: pem("CERTIFICATE", &cert),
        key_pem: key.serialize_pem(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert,
        serial,
        intermediates,
    }
}

fn crl_params(
    number: u64,
    serials: &[Vec<u8>],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> CertificateRevocationListParams {
    CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: serial_number(number),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: this_update,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
}

/// basicConstraints (2.5.29.19) as a custom extension: `SEQUENCE { cA BOOLEAN }`.
fn basic_constraints_ext(ca: bool, critical: bool) -> CustomExtension {
    let content = if ca {
        der(0x30, &[0x01, 0x01, 0xff])
    } else {
        der(0x30, &[])
    };
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 19], content);
    ext.set_criticality(critical);
    ext
}

/// subjectKeyIdentifier (2.5.29.14) as a custom extension.
fn ski_ext(key_id: &[u8]) -> CustomExtension {
    CustomExtension::from_oid_content(&[2, 5, 29, 14], der(0x04, key_id))
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------------------
// Minimal DER, enough to re-encode a CRL's extensions.

/// `OBJECT IDENTIFIER 2.5.29.20` (cRLNumber), as a full TLV.
const CRL_NUMBER_OID_TLV: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x14];

/// Encode one TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let first = be.iter().position(|b| *b != 0).unwrap();
        out.push(0x80 | (be.len() - first) as u8);
        out.extend_from_slice(&be[first..]);
    }
    out.extend_from_slice(content);
    out
}

/// The same certificate with its ECDSA signature (r, s) replaced by (r, order − s): a second,
/// equally valid encoding with another fingerprint. `order` is the signing curve's group order,
/// in hex (see [`P256_ORDER`]). Independent of the crate's own implementation on purpose.
pub fn ecdsa_twin(cert: &[u8], order_hex: &str) -> Vec<u8> {
    let order: Vec<u8> = (0..order_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&order_hex[i..i + 2], 16).unwrap())
        .collect();
    let (_, body, _, _) = der_split(cert);
    let parts = der_children(body);
    assert_eq!(parts.len(), 3, "tbs, algorithm, signature");
    let (_, bits, _) = parts[2];
    assert_eq!(bits[0], 0, "no unused bits");
    let (_, pair, _, _) = der_split(&bits[1..]);
    let ints = der_children(pair);
    let (_, s, _) = ints[1];
    // order − s, by schoolbook subtraction on padded bytes.
    let s: Vec<u8> = s.iter().copied().skip_while(|b| *b == 0).collect();
    let mut padded = vec![0u8; order.len() - s.len()];
    padded.extend_from_slice(&s);
    let mut diff = vec![0u8; order.len()];
    let mut borrow = 0i32;
    for i in (0..order.len()).rev() {
        let mut d = i32::from(order[i]) - i32::from(padded[i]) - borrow;
        borrow = i32::from(d < 0);
        if d < 0 {
            d += 256;
        }
        diff[i] = d as u8;
    }
    assert_eq!(borrow, 0, "s < order");
    let mut twin_s: Vec<u8> = diff.into_iter().skip_while(|b| *b == 0).collect();
    if twin_s[0] & 0x80 != 0 {
        twin_s.insert(0, 0);
    }
    let new_pair = der(0x30, &[ints[0].2, &der(0x02, &twin_s)].concat());
    let new_bits = der(0x03, &[&[0u8][..], &new_pair].concat());
    der(0x30, &[parts[0].2, parts[1].2, &new_bits].concat())
}

/// Group orders, big endian hex, for [`ecdsa_twin`] (from `openssl ecparam -param_enc explicit`).
pub const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// See [`P256_ORDER`].
pub const P384_ORDER: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
/// See [`P256_ORDER`].
pub const P521_ORDER: &str = "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";

/// Split the first TLV off `input`: `(tag, content, whole TLV, rest)`.
fn der_split(input: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1];
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    let end = header + len;
    (tag, &input[header..end], &input[..end], &input[end..])
}

/// The TLVs inside a constructed value: `(tag, content, whole TLV)` each.
fn der_children(mut content: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, inner, whole, rest) = der_split(content);
        out.push((tag, inner, whole));
        content = rest;
    }
    out
}

/// Encode one TLV (short or long form length).
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    der(tag, content)
}

/// TBSCertificate field indexes for [`rewrite_tbs`] (version 3 certificates).
pub const TBS_SERIAL: usize = 1;
/// See [`TBS_SERIAL`].
pub const TBS_ISSUER: usize = 3;
/// See [`TBS_SERIAL`].
pub const TBS_SPKI: usize = 6;

/// Rebuild a certificate with each TBSCertificate field (by index, as a whole TLV) passed
/// through `rewrite` (`None` keeps it), then sign the new TBS with `key` (the algorithm of
/// the original signature).
pub fn rewrite_tbs(
    cert: &[u8],
    key: &KeyPair,
    rewrite: impl Fn(usize, &[u8]) -> Option<Vec<u8>>,
) -> CertificateDer<'static> {
    let (_, content, _, _) = der_split(cert);
    let parts = der_children(content);
    let (_, tbs_content, _) = parts[0];
    let signature_algorithm = parts[1].2;
    let mut fields = Vec::new();
    for (i, (_, _, whole)) in der_children(tbs_content).into_iter().enumerate() {
        match rewrite(i, whole) {
            Some(replacement) => fields.extend(replacement),
            None => fields.extend_from_slice(whole),
        }
    }
    let tbs = der(0x30, &fields);
    let signature = key.sign(&tbs).unwrap();
    let mut bit_string = vec![0u8];
    bit_string.extend(signature);
    let mut body = tbs;
    body.extend_from_slice(signature_algorithm);
    body.extend(der(0x03, &bit_string));
    CertificateDer::from(der(0x30, &body))
}

/// Rebuild a CRL with each crlExtensions entry passed through `edit` (which gets the
/// whole `Extension` TLV and returns its replacement, or `None` to drop it), then
/// re-sign the new TBSCertList with `key` (same algorithm as the original).
fn rewrite_crl_extensions(
    crl: &[u8],
    key: &KeyPair,
    edit: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> CertificateRevocationListDer<'static> {
    let (_, crl_content, _, _) = der_split(crl);
    let parts = der_children(crl_content);
    let (_, tbs_content, _) = parts[0];
    let signature_algorithm = parts[1].2;

    let mut tbs_fields = Vec::new();
    for (tag, content, whole) in der_children(tbs_content) {
        if tag == 0xa0 {
            // crlExtensions [0] EXPLICIT SEQUENCE OF Extension
            let (_, extensions, _, _) = der_split(content);
            let mut new_extensions = Vec::new();
            for (_, _, extension) in der_children(extensions) {
                if let Some(replacement) = edit(extension) {
                    new_extensions.extend(replacement);
                }
            }
            tbs_fields.extend(der(0xa0, &der(0x30, &new_extensions)));
        } else {
            tbs_fields.extend_from_slice(whole);
        }
    }
    let tbs = der(0x30, &tbs_fields);
    let signature = key.sign(&tbs).unwrap();
    let mut bit_string = vec![0u8];
    bit_string.extend(signature);

    let mut body = tbs;
    body.extend_from_slice(signature_algorithm);
    body.extend(der(0x03, &bit_string));
    CertificateRevocationListDer::from(der(0x30, &body))
}
