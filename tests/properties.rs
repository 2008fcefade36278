//! Property tests over real certificates: verdicts are deterministic, validity windows hold at
//! every instant, CRLs revoke exactly what they list, pins are required, and no bytes that are
//! not a genuine chain are ever accepted.
//!
//! Issuing certificates is expensive, so a small pool is issued once per binary and the
//! strategies pick from it; 32 cases per property keep the whole file to a few seconds.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use certgate::{AppId, AppRule, CertRole, PeerChain, Pin, Rejection, Verifier, VerifierBuilder};
use common::{Crl, Issued, Leaf, NOW, SHOP, at, pki, serial_bytes};
use proptest::prelude::*;
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const DAY: u64 = 24 * 3600;
const YEAR: u64 = 365 * DAY;

/// A leaf of the pool with its validity window.
struct PoolLeaf {
    issued: Issued,
    not_before: UnixTime,
    not_after: UnixTime,
}

/// First serial of the pool: clear of the fixture's `0x100..0x1100`.
const POOL_SERIAL: u64 = 0x4_0000;
const POOL_LEN: usize = 6;

/// Six leaves from the real intermediate, with different windows that all contain
/// 2026-04-01..2026-08-01 (so every CRL window used below).
fn pool() -> &'static [PoolLeaf] {
    static POOL: OnceLock<Vec<PoolLeaf>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..POOL_LEN)
            .map(|i| {
                let i = u64::try_from(i).unwrap();
                let not_before = secs(at("2026-01-01T00:00:00Z").as_secs() + i * 7 * DAY + i * 13);
                let not_after = secs(at("2026-09-01T00:00:00Z").as_secs() + i * 31 * DAY + i * 17);
                PoolLeaf {
                    issued: pki().issue(SHOP, POOL_SERIAL + i, not_before, not_after),
                    not_before,
                    not_after,
                }
            })
            .collect()
    })
}

fn secs(s: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(s))
}

fn plain_verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .build()
            .unwrap()
    })
}

/// The fixture CRL window, and the serial-list CRLs built for one case.
fn crl_this_update() -> UnixTime {
    at("2026-05-01T00:00:00Z")
}

fn crl_next_update() -> UnixTime {
    at("2026-07-01T00:00:00Z")
}

fn crl_verifier(revoked: &[Vec<u8>]) -> Verifier {
    VerifierBuilder::new()
        .trust_anchor(pki().root())
        .crl(pki().intermediate_crl(revoked, crl_this_update(), crl_next_update()))
        .crl(pki().root_crl(&[], crl_this_update(), crl_next_update()))
        .build()
        .unwrap()
}

fn spki_sha256(der: &CertificateDer<'_>) -> [u8; 32] {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
    Sha256::digest(cert.public_key().raw).into()
}

/// The chains the determinism property draws from: every fixture leaf, plus the pool.
fn any_chain(index: usize) -> Vec<CertificateDer<'static>> {
    match Leaf::ALL.get(index) {
        Some(leaf) => pki().leaf(*leaf).chain(),
        None => pool()[index - Leaf::ALL.len()].issued.chain(),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verdicts_are_deterministic(
        index in 0..(Leaf::ALL.len() + POOL_LEN),
        at_secs in at("2025-06-01T00:00:00Z").as_secs()..at("2027-06-01T00:00:00Z").as_secs(),
    ) {
        let chain = PeerChain::new(any_chain(index));
        let now = secs(at_secs);
        // A verifier with revocation, so the CRL memo is exercised too.
        let build = || {
            VerifierBuilder::new()
                .trust_anchor(pki().root())
                .crl(pki().crl(Crl::Intermediate))
                .crl(pki().crl(Crl::Root))
                .build()
                .unwrap()
        };
        let verifier = build();
        let first = verifier.verify(&chain, now);
        let second = verifier.verify(&chain, now);
        prop_assert_eq!(&first, &second);
        // A verifier built afresh from the same inputs agrees.
        prop_assert_eq!(&first, &build().verify(&chain, now));
        // As does the same chain wrapped again.
        prop_assert_eq!(&first, &verifier.verify(&PeerChain::new(any_chain(index)), now));
    }

    #[test]
    fn leaf_is_expired_at_every_instant_after_not_after(
        index in 0..POOL_LEN,
        after in 1..(5 * YEAR),
    ) {
        let leaf = &pool()[index];
        let now = secs(leaf.not_after.as_secs() + after);
        let verdict = plain_verifier().verify(&PeerChain::new(leaf.issued.chain()), now);
        prop_assert_eq!(
            verdict,
            Err(Rejection::Expired { role: CertRole::Leaf, not_after: leaf.not_after, now })
        );
    }

    #[test]
    fn leaf_is_not_yet_valid_at_every_instant_before_not_before(
        index in 0..POOL_LEN,
        before in 1..(5 * YEAR),
    ) {
        let leaf = &pool()[index];
        let now = secs(leaf.not_before.as_secs() - before);
        let verdict = plain_verifier().verify(&PeerChain::new(leaf.issued.chain()), now);
        prop_assert_eq!(
            verdict,
            Err(Rejection::NotYetValid { role: CertRole::Leaf, not_before: leaf.not_before, now })
        );
    }

    #[test]
    fn leaf_is_accepted_at_every_instant_inside_its_window(
        index in 0..POOL_LEN,
        fraction in 0u64..=1000,
    ) {
        let leaf = &pool()[index];
        let span = leaf.not_after.as_secs() - leaf.not_before.as_secs();
        let now = secs(leaf.not_before.as_secs() + span / 1000 * fraction);
        let identity = plain_verifier()
            .verify(&PeerChain::new(leaf.issued.chain()), now)
            .unwrap();
        prop_assert_eq!(identity.valid_until(), leaf.not_after);
    }

    #[test]
    fn listing_the_leaf_serial_always_revokes(
        index in 0..POOL_LEN,
        others in proptest::collection::vec(1u64..u64::MAX, 0..20),
        position in any::<proptest::sample::Index>(),
        at_secs in crl_this_update().as_secs()..crl_next_update().as_secs(),
    ) {
        let leaf = &pool()[index];
        let mut serials: Vec<Vec<u8>> = others.iter().map(|s| serial_bytes(*s)).collect();
        serials.insert(position.index(serials.len() + 1), leaf.issued.serial.clone());
        let verdict = crl_verifier(&serials)
            .verify(&PeerChain::new(leaf.issued.chain()), secs(at_secs));
        prop_assert_eq!(verdict, Err(Rejection::Revoked { role: CertRole::Leaf }));
    }

    #[test]
    fn unrelated_serials_never_turn_an_accept_into_a_reject(
        index in 0..POOL_LEN,
        others in proptest::collection::vec(1u64..u64::MAX, 0..20),
        at_secs in crl_this_update().as_secs()..crl_next_update().as_secs(),
    ) {
        let leaf = &pool()[index];
        let serials: Vec<Vec<u8>> = others
            .iter()
            .map(|s| serial_bytes(*s))
            .filter(|s| *s != leaf.issued.serial)
            .collect();
        let chain = PeerChain::new(leaf.issued.chain());
        let now = secs(at_secs);
        let baseline = crl_verifier(&[]).verify(&chain, now).unwrap();
        let listed = crl_verifier(&serials).verify(&chain, now);
        prop_assert_eq!(listed, Ok(baseline));
    }

    #[test]
    fn removing_the_only_matching_pin_rejects(
        index in 0..POOL_LEN,
        strays in proptest::collection::vec(any::<[u8; 32]>(), 1..5),
        position in any::<proptest::sample::Index>(),
        pinned in 0usize..3,
    ) {
        let leaf = &pool()[index];
        let key = match pinned {
            0 => spki_sha256(&leaf.issued.cert),
            1 => spki_sha256(&pki().intermediate()),
            _ => spki_sha256(&pki().root()),
        };
        let stray_pins: Vec<Pin> = strays
            .iter()
            .filter(|s| **s != key)
            .map(|s| Pin::from_spki_sha256(*s))
            .collect();
        prop_assume!(!stray_pins.is_empty());
        let rule = |pins: &[Pin]| {
            pins.iter().fold(AppRule::new(AppId::new(SHOP).unwrap()), |rule, pin| {
                rule.pin(pin.clone())
            })
        };
        let build = |pins: &[Pin]| {
            VerifierBuilder::new()
                .trust_anchor(pki().root())
                .allow_app(rule(pins))
                .build()
                .unwrap()
        };
        let chain = PeerChain::new(leaf.issued.chain());

        let mut with_match = stray_pins.clone();
        with_match.insert(
            position.index(with_match.len() + 1),
            Pin::from_spki_sha256(key).named("the-one"),
        );
        let identity = build(&with_match).verify(&chain, NOW).unwrap();
        prop_assert_eq!(identity.matched(), Some("the-one"));

        let verdict = build(&stray_pins).verify(&chain, NOW);
        prop_assert_eq!(verdict.map_err(|r| r.code()), Err("pin_mismatch"));
    }

    #[test]
    fn random_bytes_are_never_accepted(
        certs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 0..5),
    ) {
        let chain = PeerChain::new(certs.into_iter().map(CertificateDer::from).collect());
        prop_assert!(plain_verifier().verify(&chain, NOW).is_err());
    }

    #[test]
    fn random_der_framing_is_never_accepted(
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        // A SEQUENCE header in front of the bytes gets past the first parser check.
        let mut der = vec![0x30, 0x82];
        der.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        der.extend_from_slice(&body);
        let chain = PeerChain::new(vec![CertificateDer::from(der), pki().intermediate()]);
        prop_assert!(plain_verifier().verify(&chain, NOW).is_err());
    }

    #[test]
    fn one_changed_byte_is_never_accepted(
        which in 0usize..2,
        position in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut chain = pki().leaf(Leaf::Genuine).chain();
        let mut der = chain[which].to_vec();
        let at = position.index(der.len());
        der[at] ^= xor;
        chain[which] = CertificateDer::from(der);
        let verdict = plain_verifier().verify(&PeerChain::new(chain), NOW);
        prop_assert!(verdict.is_err(), "byte {} of certificate {} ^ {:#04x} accepted", at, which, xor);
    }
}
