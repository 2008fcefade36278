//! Issuance and revocation figures (feature `issue`): one certificate with a modern PKCS#12,
//! 10,000 certificates, a CRL re-sign with 1M issued / 100k revoked, loading and querying the
//! 1M-row database, and revoke-to-refusal (revoke + CRL + policy reload + next verify).
//!
//! The large figures are one timed run each, printed before criterion starts (10 samples of
//! them would take minutes); criterion measures the per-certificate and per-CRL costs.
//! `cargo bench --features issue --bench issue`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use certgate::issue::{
    Ca, CaConfig, CertRecord, IssueRequest, ListFilter, P12Format, RevocationReason, RevokeTarget,
    Store,
};
use certgate::{PeerChain, Policy};
use criterion::{Criterion, criterion_group, criterion_main};

const ISSUED: u64 = 1_000_000;
const REVOKED: u64 = 100_000;

/// A synthetic row: `CertRecord` is `#[non_exhaustive]`, so start from a real issued record and
/// overwrite its fields, the way a user importing rows would.
fn synthetic(i: u64) -> CertRecord {
    let revoked = i % (ISSUED / REVOKED) == 0;
    let mut r = TEMPLATE.with(|t| t.clone());
    // Serials "4" + 31 hex digits: 16 bytes, like real ones.
    r.serial = format!("4{i:031x}");
    r.app_id = format!("com.example.app{}", i % 100);
    r.sha256 = format!("{i:064x}");
    r.revoked_at = revoked.then_some(1_800_000_000);
    r.reason = revoked.then_some(RevocationReason::KeyCompromise);
    r
}

thread_local! {
    static TEMPLATE: CertRecord = {
        let tmp = tempfile::tempdir().unwrap();
        let mut ca = Ca::init(tmp.path(), &CaConfig::new("Template")).unwrap();
        ca.issue(&IssueRequest::new("com.example.template").unwrap()).unwrap().record().clone()
    };
}

fn figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = Ca::init(&dir, &CaConfig::new("Bench")).unwrap();

    let t = Instant::now();
    for i in 0..10_000 {
        ca.issue(&IssueRequest::new(&format!("com.example.a{}", i % 10)).unwrap())
            .unwrap();
    }
    eprintln!(
        "figure: issue 10,000 certificates (P-256, PEM, one transaction each): {:?}",
        t.elapsed()
    );

    let genuine = ca
        .issue(&IssueRequest::new("com.example.a0").unwrap())
        .unwrap();
    let t = Instant::now();
    let records: Vec<CertRecord> = (1..=ISSUED).map(synthetic).collect();
    ca.store_mut().insert_many(&records).unwrap();
    drop(records);
    eprintln!(
        "figure: insert 1M rows ({REVOKED} revoked) in one transaction: {:?}",
        t.elapsed()
    );

    let db = dir.join("certgate.db");
    let t = Instant::now();
    let store = Store::open_existing(&db).unwrap();
    let (all, revoked) = store.counts().unwrap();
    let by_serial = store.by_serial(&genuine.record().serial).unwrap().unwrap();
    let by_fp = store
        .by_fingerprint(&genuine.record().sha256)
        .unwrap()
        .unwrap();
    let mut filter = ListFilter::default();
    filter.app_id = Some("com.example.app7".into());
    filter.limit = Some(100);
    let listed = store.list(&filter).unwrap();
    eprintln!(
        "figure: open the 1M-row database, count ({all} issued, {revoked} revoked), query by serial, \
         fingerprint and app (100 rows): {:?}",
        t.elapsed()
    );
    assert_eq!(by_serial, by_fp);
    assert_eq!(listed.len(), 100);
    let t = Instant::now();
    black_box(store.by_serial(&genuine.record().serial).unwrap());
    eprintln!("figure: one query by serial on 1M rows: {:?}", t.elapsed());
    drop(store);

    let t = Instant::now();
    let report = ca.sign_crls(None).unwrap();
    eprintln!(
        "figure: re-sign the CRLs with {} revoked of {} issued: {:?}",
        report.revoked,
        all,
        t.elapsed()
    );

    // Revoke-to-refusal: the genuine leaf is accepted, then revoked, the CRL re-signed, the
    // policy reloaded, and the next verification refuses it.
    let policy = Policy::load(dir.join("policy.toml")).unwrap();
    let chain = PeerChain::new(genuine.chain());
    let now = rustls_pki_types::UnixTime::now();
    policy.verifier().verify(&chain, now).unwrap();
    let t = Instant::now();
    let r = ca
        .revoke(
            &RevokeTarget::Serial(genuine.record().serial.clone()),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
    let revoke_crl = t.elapsed();
    let reloaded = Policy::load(dir.join("policy.toml")).unwrap();
    let reload = t.elapsed() - revoke_crl;
    let refusal = reloaded.verifier().verify(&chain, now).unwrap_err();
    let total = t.elapsed();
    assert_eq!(refusal.code(), "revoked");
    eprintln!(
        "figure: revoke-to-refusal with {} revoked: revoke + CRL {:?}, policy reload {:?}, total with the next verify {:?}",
        r.crl.revoked, revoke_crl, reload, total
    );
}

fn bench(c: &mut Criterion) {
    figures();
    let tmp = tempfile::tempdir().unwrap();
    let mut ca = Ca::init(tmp.path(), &CaConfig::new("Bench one")).unwrap();
    let mut group = c.benchmark_group("issue");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("one_p12_modern_10000_iterations", |b| {
        b.iter(|| {
            let issued = ca
                .issue(&IssueRequest::new("com.example.shop").unwrap())
                .unwrap();
            black_box(issued.to_pkcs12("password", P12Format::Modern).unwrap())
        })
    });
    group.bench_function("one_p12_legacy_2048_iterations", |b| {
        b.iter(|| {
            let issued = ca
                .issue(&IssueRequest::new("com.example.shop").unwrap())
                .unwrap();
            black_box(issued.to_pkcs12("password", P12Format::Legacy).unwrap())
        })
    });
    group.bench_function("one_pem", |b| {
        b.iter(|| {
            black_box(
                ca.issue(&IssueRequest::new("com.example.shop").unwrap())
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
