//! Observe mode never lets through a failure that is enforced: once a chain is proven genuine,
//! the verifier lists every failing code, and the gate lets the chain pass only when each of
//! them is observed (issue 8 §1). Every chain here is a real certificate from the test PKI.

// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use certgate::{
    AppId, AppRule, Gate, Mode, PeerChain, Pin, Policy, Rejection, RevocationDepth, VerifierBuilder,
};
use common::{Issued, NOW, OTHER_APP, SHOP, at, pki, serial_bytes};
use proptest::prelude::*;
use rcgen::{ExtendedKeyUsagePurpose, SanType};

/// What is wrong with one test leaf (each a real defect of a real certificate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Defects {
    expired: bool,
    revoked: bool,
    server_eku: bool,
    no_aki: bool,
    other_app: bool,
    /// The policy's global pin matches nothing on the path.
    pin_mismatch: bool,
}

impl Defects {
    fn from_bits(bits: u8) -> Self {
        Self {
            expired: bits & 1 != 0,
            revoked: bits & 2 != 0,
            server_eku: bits & 4 != 0,
            no_aki: bits & 8 != 0,
            other_app: bits & 16 != 0,
            pin_mismatch: bits & 32 != 0,
        }
    }

    fn leaf_bits(self) -> u8 {
        u8::from(self.expired)
            | u8::from(self.revoked) << 1
            | u8::from(self.server_eku) << 2
            | u8::from(self.no_aki) << 3
            | u8::from(self.other_app) << 4
    }

    /// The codes this combination must produce, exactly.
    fn codes(self) -> BTreeSet<&'static str> {
        let mut codes = BTreeSet::new();
        let mut add = |on: bool, code| {
            if on {
                codes.insert(code);
            }
        };
        add(self.expired, "expired");
        add(self.revoked, "revoked");
        add(self.server_eku, "wrong_key_usage");
        add(self.no_aki, "profile_violation");
        add(self.other_app, "app_not_allowed");
        add(self.pin_mismatch, "pin_mismatch");
        codes
    }
}

/// Serial of the leaf with `bits`: away from the fixture's ranges.
fn serial_of(bits: u8) -> u64 {
    0x7000 + u64::from(bits)
}

/// One real leaf per combination of leaf defects, made once per test binary.
fn leaf(defects: Defects) -> &'static Issued {
    static LEAVES: OnceLock<Mutex<HashMap<u8, &'static Issued>>> = OnceLock::new();
    let bits = defects.leaf_bits();
    let mut leaves = LEAVES.get_or_init(Default::default).lock().unwrap();
    leaves.entry(bits).or_insert_with(|| {
        let issued = pki().issue_with(serial_of(bits), |p| {
            if defects.expired {
                p.not_after = time::macros::datetime!(2026-03-01 0:00 UTC);
            }
            if defects.server_eku {
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            if defects.no_aki {
                p.use_authority_key_identifier_extension = false;
            }
            if defects.other_app {
                p.subject_alt_names = vec![SanType::URI(
                    format!("app://{OTHER_APP}").try_into().unwrap(),
                )];
            }
        });
        Box::leak(Box::new(issued))
    })
}

/// The policy: the real root, a CRL revoking every "revoked" test leaf, `SHOP` allowed, and
/// (for `pin_mismatch`) a global pin that matches no key of the path.
fn policy(pin_mismatch: bool) -> Policy {
    static POLICIES: OnceLock<[Policy; 2]> = OnceLock::new();
    let policies = POLICIES.get_or_init(|| {
        let revoked: Vec<Vec<u8>> = (0u8..32)
            .filter(|bits| Defects::from_bits(*bits).revoked)
            .map(|bits| serial_bytes(serial_of(bits)))
            .collect();
        let crl = pki().intermediate_crl(
            &revoked,
            at("2026-01-01T00:00:00Z"),
            at("2027-01-01T00:00:00Z"),
        );
        let build = |pin: bool| {
            let mut b = VerifierBuilder::new()
                .trust_anchor(pki().root())
                .crl(crl.clone())
                .revocation_depth(RevocationDepth::Leaf)
                .allow_app(AppRule::new(AppId::new(SHOP).unwrap()));
            if pin {
                b = b.pin(Pin::from_spki_sha256([7; 32]));
            }
            Policy::from_verifier(b.build().unwrap())
        };
        [build(false), build(true)]
    });
    policies[usize::from(pin_mismatch)].clone()
}

fn chain(defects: Defects) -> PeerChain {
    PeerChain::new(leaf(defects).chain())
}

fn codes_of(defects: Defects) -> BTreeSet<&'static str> {
    let verifier = policy(defects.pin_mismatch).verifier().clone();
    match verifier.verify_all(&chain(defects), NOW) {
        Ok(_) => BTreeSet::new(),
        Err(all) => all.codes().collect(),
    }
}

/// Whether a gate observing exactly `observed` (enforcing the rest) refuses the chain.
fn refused(defects: Defects, observed: &[&str]) -> bool {
    let gate = observed
        .iter()
        .fold(Gate::builder(policy(defects.pin_mismatch)), |b, code| {
            b.mode_for(code, Mode::Observe)
        })
        .build()
        .unwrap();
    let verdict = gate.check(&chain(defects), NOW);
    assert!(verdict.rejection().is_some(), "{defects:?} accepted");
    verdict.is_refused()
}

/// The issue's combinations: each is refused when only one of its codes is observed, and
/// passes (observed) only when all are.
#[test]
fn each_combination_is_refused_unless_every_code_is_observed() {
    let combinations = [
        // A leaked, revoked certificate that has also expired.
        Defects {
            revoked: true,
            expired: true,
            ..Defects::default()
        },
        // Another app's certificate, expired.
        Defects {
            other_app: true,
            expired: true,
            ..Defects::default()
        },
        // A pin mismatch on an expired certificate.
        Defects {
            pin_mismatch: true,
            expired: true,
            ..Defects::default()
        },
        // Revoked, with a serverAuth-only EKU.
        Defects {
            revoked: true,
            server_eku: true,
            ..Defects::default()
        },
        // Revoked, without authorityKeyIdentifier.
        Defects {
            revoked: true,
            no_aki: true,
            ..Defects::default()
        },
        // An unlisted app whose path matches no pin.
        Defects {
            other_app: true,
            pin_mismatch: true,
            ..Defects::default()
        },
    ];
    for defects in combinations {
        let codes = codes_of(defects);
        assert_eq!(codes, defects.codes(), "{defects:?}");
        assert_eq!(codes.len(), 2);
        for code in &codes {
            assert!(
                refused(defects, &[code]),
                "{defects:?} passed with only {code} observed"
            );
        }
        let all: Vec<&str> = codes.iter().copied().collect();
        assert!(
            !refused(defects, &all),
            "{defects:?} refused with all observed"
        );
    }
}

#[test]
fn the_primary_code_is_the_first_failing_check_as_before() {
    // `verify` keeps answering with the first failing check: webpki's date check comes first.
    let defects = Defects {
        revoked: true,
        expired: true,
        ..Defects::default()
    };
    let verifier = policy(false).verifier().clone();
    let primary = verifier.verify(&chain(defects), NOW).unwrap_err();
    assert_eq!(primary.code(), "expired");
    let all = verifier.verify_all(&chain(defects), NOW).unwrap_err();
    assert_eq!(all.primary(), &primary);
    assert_eq!(all.codes().collect::<Vec<_>>(), ["expired", "revoked"]);
    assert_eq!(all.len(), 2);
}

#[test]
fn events_and_verdicts_list_every_code() {
    #[derive(Default)]
    struct Collect(Mutex<Vec<Vec<&'static str>>>);
    impl certgate::EventSink for Collect {
        fn record(&self, event: &certgate::VerdictEvent) {
            self.0.lock().unwrap().push(event.codes.clone());
        }
    }
    let sink = std::sync::Arc::new(Collect::default());
    let gate = Gate::builder(policy(false))
        .mode_for("expired", Mode::Observe)
        .event_sink(sink.clone())
        .build()
        .unwrap();
    let defects = Defects {
        revoked: true,
        expired: true,
        ..Defects::default()
    };
    let verdict = gate.check(&chain(defects), NOW);
    assert!(verdict.is_refused());
    assert_eq!(verdict.codes(), ["expired", "revoked"]);
    assert_eq!(
        sink.0.lock().unwrap().as_slice(),
        [vec!["expired", "revoked"]]
    );
}

#[test]
fn a_forged_chain_gets_one_code_and_stays_unobservable() {
    // Not proven genuine: one code, whatever else is wrong with it.
    let forged = PeerChain::new(pki().leaf(common::Leaf::ImpostorSameNames).chain());
    let all = policy(false)
        .verifier()
        .verify_all(&forged, NOW)
        .unwrap_err();
    assert_eq!(all.codes().collect::<Vec<_>>(), ["bad_signature"]);
}

#[test]
fn modes_from_the_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root_pem()).unwrap();
    let write = |modes: &str| {
        let path = dir.path().join("policy.toml");
        std::fs::write(
            &path,
            format!(
                "[trust]\nanchors = [\"root.pem\"]\n[[apps]]\nid = \"{SHOP}\"\n\n[modes]\n{modes}\n"
            ),
        )
        .unwrap();
        Policy::load(&path)
    };
    let expired_other = Defects {
        expired: true,
        other_app: true,
        ..Defects::default()
    };
    let check = |policy: Policy, builder: fn(certgate::GateBuilder) -> certgate::GateBuilder| {
        builder(Gate::builder(policy))
            .build()
            .unwrap()
            .check(&chain(expired_other), NOW)
            .is_refused()
    };
    let keep = |b| b;

    // Observing one of the two codes refuses; observing both lets it through.
    assert!(check(write("observe = [\"expired\"]").unwrap(), keep));
    assert!(!check(
        write("observe = [\"expired\", \"app_not_allowed\"]").unwrap(),
        keep
    ));
    // The builder's settings override the policy's.
    assert!(check(
        write("observe = [\"expired\", \"app_not_allowed\"]").unwrap(),
        |b| b.mode_for("expired", Mode::Enforce)
    ));
    assert!(!check(write("observe = [\"expired\"]").unwrap(), |b| {
        b.mode_for("app_not_allowed", Mode::Observe)
    }));
    // default = "observe" with an enforce list.
    assert!(!check(write("default = \"observe\"").unwrap(), keep));
    assert!(check(
        write("default = \"observe\"\nenforce = [\"app_not_allowed\"]").unwrap(),
        keep
    ));
    let gate = Gate::new(write("default = \"observe\"\nenforce = [\"expired\"]").unwrap());
    assert_eq!(gate.mode_for("expired"), Mode::Enforce);
    assert_eq!(gate.mode_for("revoked"), Mode::Observe);

    // Errors name the file and the field.
    let err = write("observe = [\"bad_signature\"]").unwrap_err();
    assert_eq!(err.field(), "modes.observe[0]");
    assert!(err.to_string().contains("policy.toml"), "{err}");
    assert!(err.message().contains("cannot be observed alone"), "{err}");
    let err = write("observe = [\"expird\"]").unwrap_err();
    assert_eq!(err.field(), "modes.observe[0]");
    assert!(err.message().starts_with("unknown reason code"), "{err}");
    let err = write("observe = [\"expired\"]\nenforce = [\"expired\"]").unwrap_err();
    assert_eq!(err.field(), "modes.enforce[0]");
    let err = write("default = \"sometimes\"").unwrap_err();
    assert!(err.to_string().contains("policy.toml"), "{err}");
    let err = write("observ = []").unwrap_err();
    assert!(err.message().contains("unknown field"), "{err}");
}

#[test]
fn a_reload_applies_the_new_policy_modes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root_pem()).unwrap();
    let path = dir.path().join("policy.toml");
    let write = |modes: &str| {
        std::fs::write(
            &path,
            format!("[trust]\nanchors = [\"root.pem\"]\n[modes]\n{modes}\n"),
        )
        .unwrap();
    };
    write("observe = [\"expired\"]");
    let gate = Gate::new(Policy::load(&path).unwrap());
    let expired = chain(Defects {
        expired: true,
        ..Defects::default()
    });
    assert!(!gate.check(&expired, NOW).is_refused());
    write("");
    gate.reload_from_file(&path).unwrap();
    assert!(gate.check(&expired, NOW).is_refused());
}

/// Every code that a gate with an enforcing default may observe.
fn observable_codes() -> Vec<&'static str> {
    Rejection::CODES
        .iter()
        .copied()
        .filter(|c| !Rejection::UNAUTHENTICATED_CODES.contains(c))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// For random observed codes and random defects, a chain passes iff all its codes are
    /// observed, and its codes are exactly its defects'.
    #[test]
    fn passes_iff_every_code_is_observed(bits in 1u8..64, mask in any::<u32>()) {
        let defects = Defects::from_bits(bits);
        let observable = observable_codes();
        let observed: Vec<&str> = observable
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 32)) != 0)
            .map(|(_, c)| *c)
            .collect();
        let codes = codes_of(defects);
        prop_assert_eq!(&codes, &defects.codes());
        let all_observed = codes.iter().all(|c| observed.contains(c));
        prop_assert_eq!(refused(defects, &observed), !all_observed);
    }
}
