//! Benchmark fixtures: a root → intermediate → leaf hierarchy per signature algorithm, CRLs of
//! any size, and the policies the benches compare. Generated once, deterministically in shape.

// Benchmark fixture code: not reachable from untrusted input; a panic is a broken benchmark.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    missing_docs,
    unreachable_pub
)]

use certgate::{AppId, AppRule, PeerChain, Pin, RevocationDepth, Verifier, VerifierBuilder};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The time every bench verifies at: the system time when the benchmark started, so the same
/// certificates also pass real rustls handshakes (which read the system clock).
pub fn now() -> UnixTime {
    static NOW: std::sync::OnceLock<UnixTime> = std::sync::OnceLock::new();
    *NOW.get_or_init(UnixTime::now)
}

fn rel(days: i64) -> OffsetDateTime {
    let now = i64::try_from(now().as_secs()).unwrap();
    dt(now + days * 86_400)
}
pub const APP: &str = "com.example.shop";
/// The serial every bench CRL revokes.
pub const REVOKED_SERIAL: u64 = 0x5151;

#[derive(Clone, Copy, Debug)]
pub enum Alg {
    P256,
    P384,
    Ed25519,
    Rsa2048,
    Rsa4096,
}

impl Alg {
    pub const ALL: [Alg; 5] = [
        Alg::P256,
        Alg::P384,
        Alg::Ed25519,
        Alg::Rsa2048,
        Alg::Rsa4096,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::P256 => "ecdsa_p256",
            Alg::P384 => "ecdsa_p384",
            Alg::Ed25519 => "ed25519",
            Alg::Rsa2048 => "rsa2048",
            Alg::Rsa4096 => "rsa4096",
        }
    }

    fn key(self) -> KeyPair {
        match self {
            Alg::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            Alg::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
            Alg::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            Alg::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                    .unwrap()
            }
            // RSA-4096 keys: aws-lc-rs (rcgen's backend here) generates them.
            Alg::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
                    .unwrap()
            }
        }
    }

    fn signature(self) -> &'static SignatureAlgorithm {
        match self {
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
            Alg::Rsa2048 | Alg::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// root → intermediate → leaf, all keys of one algorithm.
pub struct Hierarchy {
    pub alg: Alg,
    pub root: CertificateDer<'static>,
    pub intermediate: CertificateDer<'static>,
    pub leaf: CertificateDer<'static>,
    pub leaf_key: PrivateKeyDer<'static>,
    pub leaf_serial: Vec<u8>,
    root_params: CertificateParams,
    root_key: KeyPair,
    inter_params: CertificateParams,
    inter_key: KeyPair,
    leaf_key_pair: KeyPair,
}

fn dt(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn ca(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = rel(-365);
    params.not_after = rel(5 * 365);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

pub fn leaf_params(app: &str, serial: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, app);
    params.subject_alt_names = vec![SanType::URI(format!("app://{app}").try_into().unwrap())];
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = rel(-30);
    params.not_after = rel(365);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

impl Hierarchy {
    pub fn new(alg: Alg) -> Self {
        let root_key = alg.key();
        let root_params = ca(&format!("bench root {}", alg.name()));
        let root: CertificateDer<'static> = root_params.self_signed(&root_key).unwrap().into();
        let inter_key = alg.key();
        let mut inter_params = ca(&format!("bench intermediate {}", alg.name()));
        inter_params.use_authority_key_identifier_extension = true;
        let intermediate: CertificateDer<'static> = inter_params
            .signed_by(&inter_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap()
            .into();
        let leaf_key_pair = alg.key();
        let params = leaf_params(APP, 0x4242);
        let leaf: CertificateDer<'static> = params
            .signed_by(
                &leaf_key_pair,
                &Issuer::from_params(&inter_params, &inter_key),
            )
            .unwrap()
            .into();
        let leaf_serial = params.serial_number.unwrap().to_bytes();
        let leaf_key = PrivateKeyDer::try_from(leaf_key_pair.serialize_der()).unwrap();
        Self {
            alg,
            root,
            intermediate,
            leaf,
            leaf_key,
            leaf_serial,
            root_params,
            root_key,
            inter_params,
            inter_key,
            leaf_key_pair,
        }
    }

    /// The chain an app presents: leaf, intermediate.
    pub fn chain(&self) -> PeerChain {
        PeerChain::new(vec![self.leaf.clone(), self.intermediate.clone()])
    }

    /// Another leaf from the same intermediate (same key, other app id and serial).
    pub fn issue(&self, app: &str, serial: u64) -> CertificateDer<'static> {
        leaf_params(app, serial)
            .signed_by(
                &self.leaf_key_pair,
                &Issuer::from_params(&self.inter_params, &self.inter_key),
            )
            .unwrap()
            .into()
    }

    /// A CRL by the intermediate revoking `count` serials unrelated to the leaf, plus
    /// [`REVOKED_SERIAL`] (see [`Hierarchy::revoked_chain`]), nextUpdate in 30 days.
    pub fn crl(&self, count: usize) -> CertificateRevocationListDer<'static> {
        let mut revoked: Vec<RevokedCertParams> = (0..count)
            .map(|i| RevokedCertParams {
                // 16 random-looking bytes, as CAs issue them (RFC 5280 allows up to 20).
                serial_number: SerialNumber::from_slice(
                    &Sha256::digest(u64::try_from(i).unwrap().to_be_bytes())[..16],
                ),
                revocation_time: rel(-1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        {
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from(REVOKED_SERIAL),
                revocation_time: rel(-1),
                reason_code: None,
                invalidity_date: None,
            });
        }
        CertificateRevocationListParams {
            this_update: rel(-1),
            next_update: rel(30),
            crl_number: SerialNumber::from(7u64),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&Issuer::from_params(&self.inter_params, &self.inter_key))
        .unwrap()
        .into()
    }

    /// A server certificate for `server.example.com` from the intermediate: (chain, key).
    pub fn server(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params = leaf_params("server", 0x5e4);
        params.subject_alt_names = vec![SanType::DnsName("server.example.com".try_into().unwrap())];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = self.alg.key();
        let cert: CertificateDer<'static> = params
            .signed_by(
                &key,
                &Issuer::from_params(&self.inter_params, &self.inter_key),
            )
            .unwrap()
            .into();
        (
            vec![cert, self.intermediate.clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }

    /// A chain whose leaf's serial is in every [`Hierarchy::crl`].
    pub fn revoked_chain(&self) -> PeerChain {
        PeerChain::new(vec![
            self.issue(APP, REVOKED_SERIAL),
            self.intermediate.clone(),
        ])
    }

    /// SHA-256 of the intermediate's SubjectPublicKeyInfo, as a pin.
    pub fn intermediate_pin(&self) -> Pin {
        let info =
            certgate::inspect(&self.intermediate, &certgate::IdentitySource::default()).unwrap();
        Pin::from_spki_sha256(info.spki_sha256)
    }

    /// The "typical policy" of the benches: the app allowlist, one SPKI pin on the
    /// intermediate, strict profile (the default).
    pub fn typical(&self) -> VerifierBuilder {
        VerifierBuilder::new()
            .trust_anchor(self.root.clone())
            .allow_app(AppRule::new(AppId::new(APP).unwrap()).pin(self.intermediate_pin()))
    }

    pub fn typical_verifier(&self) -> Verifier {
        self.typical().build().unwrap()
    }

    /// The typical policy plus `crl` for the leaf.
    pub fn with_crl(&self, crl: CertificateRevocationListDer<'static>) -> Verifier {
        self.typical()
            .crl(crl)
            .revocation_depth(RevocationDepth::Leaf)
            .build()
            .unwrap()
    }

    pub fn signature(&self) -> &'static SignatureAlgorithm {
        self.alg.signature()
    }
}

/// The provider's signature algorithms, the same for certgate and the baseline.
pub fn algorithms() -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

/// Resident set size of this process, in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// An event sink that drops events: events are not what the benches measure.
pub struct Quiet;

impl certgate::EventSink for Quiet {
    fn record(&self, _: &certgate::VerdictEvent) {}
}

/// The default cache configuration with room for `n` verdicts.
pub fn capacity(n: u64) -> certgate::CacheConfig {
    let mut config = certgate::CacheConfig::default();
    config.capacity = n;
    // Room in bytes too: the default 128 MiB would evict most of 1M verdicts, and the
    // memory bench would divide the growth by the entries that happen to remain.
    config.max_bytes = n.saturating_mul(4096);
    config
}

/// The baseline of the cold-verification benches: raw rustls-webpki on the hierarchy's chain,
/// client-auth usage, the intermediate supplied as the peer would present it.
pub struct WebpkiBaseline {
    anchors: [rustls_pki_types::TrustAnchor<'static>; 1],
    intermediates: [CertificateDer<'static>; 1],
}

impl WebpkiBaseline {
    pub fn new(h: &Hierarchy) -> Self {
        Self {
            anchors: [webpki::anchor_from_trusted_cert(&h.root)
                .unwrap()
                .to_owned()],
            intermediates: [h.intermediate.clone()],
        }
    }

    /// Parses `leaf` and verifies it with `verify_for_usage`, as a webpki user does per call.
    pub fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        revocation: Option<webpki::RevocationOptions<'_>>,
    ) -> bool {
        let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
            return false;
        };
        cert.verify_for_usage(
            algorithms(),
            &self.anchors,
            &self.intermediates,
            now(),
            webpki::KeyUsage::client_auth(),
            revocation,
            None,
        )
        .is_ok()
    }
}
