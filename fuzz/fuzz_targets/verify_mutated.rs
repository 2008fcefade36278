//! Fuzz whole verifications built from the input: mutated real PKIs (seeded by `seed.sh`).
//!
//! Unlike `verify_chain`, the input carries its own trust anchor, so a seed that is a genuine
//! chain is accepted and mutations explore the accept path and every check after path building
//! (profile, revocation with real CRLs, app identity, skew). Input layout:
//!
//! ```text
//! flags: u8 | now: u64 BE (Unix seconds) | frames...
//! frame: kind: u8 | len: u16 BE | len bytes
//!   kind % 4: 0 trust anchor, 1 presented certificate (leaf first), 2 configured
//!   intermediate, 3 CRL. At most MAX_FRAMES frames are read; a short frame ends the input.
//! flags: bit 0 revocation depth leaf; bit 1 unknown revocation allowed; bits 2-3 expired CRL
//!   (0 enforce, 1 ignore, 2 grace 24 h, 3 enforce); bit 4 clock skew 300 s; bit 5 missing EKU
//!   allowed; bit 6 app id optional; bit 7 only app `com.example.fuzz` allowed.
//! ```
//!
//! What must hold: no panic; a verdict is deterministic (a second call, which uses the
//! memoized facts of presented intermediates, gives the same result); the strict profile only
//! adds checks (strict accepts => lax accepts the same leaf); an accepted identity matches what
//! `inspect` reads from the leaf, its path is no longer than the certificates available, and it
//! is not already past its `valid_until`.
//!
//! With `CERTGATE_FUZZ_TRACE=1` in the environment, each input's verdicts go to stderr (to check
//! that seeds are accepted, or to read a crash input).
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use certgate::{
    AppId, AppRule, ExpiredCrl, PeerChain, RevocationDepth, UnknownRevocation, Verifier,
    VerifierBuilder, inspect,
};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};

const MAX_FRAMES: usize = 8;

static TRACE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("CERTGATE_FUZZ_TRACE").is_some());

#[derive(Default)]
struct Input {
    flags: u8,
    now: u64,
    anchors: Vec<CertificateDer<'static>>,
    presented: Vec<CertificateDer<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    crls: Vec<CertificateRevocationListDer<'static>>,
}

fn decode(data: &[u8]) -> Option<Input> {
    let (&flags, rest) = data.split_first()?;
    let (now, mut rest) = rest.split_first_chunk::<8>()?;
    let mut input = Input {
        flags,
        now: u64::from_be_bytes(*now),
        ..Input::default()
    };
    for _ in 0..MAX_FRAMES {
        let Some((&kind, after)) = rest.split_first() else {
            break;
        };
        let Some((len, after)) = after.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if after.len() < len {
            break;
        }
        let (body, after) = after.split_at(len);
        rest = after;
        let body = body.to_vec();
        match kind % 4 {
            0 => input.anchors.push(CertificateDer::from(body)),
            1 => input.presented.push(CertificateDer::from(body)),
            2 => input.intermediates.push(CertificateDer::from(body)),
            _ => input.crls.push(CertificateRevocationListDer::from(body)),
        }
    }
    Some(input)
}

fn builder(input: &Input, strict: bool) -> VerifierBuilder {
    let f = input.flags;
    let mut b = VerifierBuilder::new()
        .strict_profile(strict)
        .revocation_depth(if f & 1 != 0 {
            RevocationDepth::Leaf
        } else {
            RevocationDepth::Chain
        })
        .unknown_revocation(if f & 2 != 0 {
            UnknownRevocation::Allow
        } else {
            UnknownRevocation::Deny
        })
        .expired_crl(match (f >> 2) & 3 {
            1 => ExpiredCrl::Ignore,
            2 => ExpiredCrl::Grace(Duration::from_secs(24 * 3600)),
            _ => ExpiredCrl::Enforce,
        })
        .clock_skew(Duration::from_secs(if f & 16 != 0 { 300 } else { 0 }))
        .allow_missing_eku(f & 32 != 0)
        .require_app_id(f & 64 == 0);
    if f & 128 != 0
        && let Ok(id) = AppId::new("com.example.fuzz")
    {
        b = b.allow_app(AppRule::new(id));
    }
    for cert in &input.anchors {
        b = b.trust_anchor(cert.clone());
    }
    for cert in &input.intermediates {
        b = b.intermediate(cert.clone());
    }
    for crl in &input.crls {
        b = b.crl(crl.clone());
    }
    b
}

fn check(verifier: &Verifier, input: &Input, chain: &PeerChain, now: UnixTime) -> bool {
    let first = verifier.verify(chain, now);
    let again = verifier.verify(chain, now);
    assert_eq!(first, again, "the same chain got two verdicts");
    let Ok(identity) = first else {
        return false;
    };
    let Some(leaf) = chain.leaf() else {
        panic!("accepted an empty chain: {identity:?}");
    };
    let source = certgate::IdentitySource::default();
    match inspect(leaf.as_ref(), &source) {
        Ok(info) => {
            assert_eq!(identity.fingerprint(), info.fingerprint, "leaf fingerprint");
            assert_eq!(identity.spki_sha256(), info.spki_sha256, "leaf SPKI");
            assert_eq!(identity.app_id(), info.app_id.as_ref(), "app id");
            assert_eq!(identity.serial(), info.serial, "serial");
        }
        Err(err) => panic!("accepted a leaf that inspect refuses: {err:?}"),
    }
    let available = chain
        .certs()
        .len()
        .saturating_add(input.intermediates.len())
        .saturating_add(1);
    assert!(
        (1..=available).contains(&identity.chain_len()),
        "path of {} certificates from {available} available",
        identity.chain_len()
    );
    assert!(
        identity.valid_until() >= now,
        "accepted at {now:?} but valid only until {:?}",
        identity.valid_until()
    );
    true
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = decode(data) else {
        return;
    };
    let now = UnixTime::since_unix_epoch(Duration::from_secs(input.now));
    let chain = PeerChain::new(input.presented.clone());

    if *TRACE {
        for strict in [true, false] {
            let verdict = builder(&input, strict)
                .build()
                .map(|verifier| verifier.verify(&chain, now));
            eprintln!(
                "strict={strict} flags={:#04x} now={}: {verdict:?}",
                input.flags, input.now
            );
        }
    }
    let strict_accepts = match builder(&input, true).build() {
        Ok(verifier) => check(&verifier, &input, &chain, now),
        Err(_) => false,
    };
    let lax = builder(&input, false).build();
    if strict_accepts {
        match &lax {
            Ok(verifier) => assert!(
                check(verifier, &input, &chain, now),
                "accepted under the strict profile, refused without it: {:?}",
                verifier.verify(&chain, now)
            ),
            Err(err) => panic!("the strict policy builds, the lax one does not: {err}"),
        }
    } else if let Ok(verifier) = &lax {
        check(verifier, &input, &chain, now);
    }
});
