//! Full mTLS handshakes (resumption off) in memory: a rustls server whose client verifier is
//! certgate's `GateClientVerifier` against one with rustls' `WebPkiClientVerifier`, for a
//! returning app (chain verdict cached), a first-time app (every verdict a miss), and with a
//! 10k-entry CRL on both sides. Client and server CPU are both in the figure.

// Benchmark code: a panic is a broken benchmark, not a reachable failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use certgate::{ExpiredCrl, Gate, GateClientVerifier, HandshakeMode, Policy, RevocationDepth};
use common::{Alg, Hierarchy};
use criterion::{Criterion, criterion_group, criterion_main};
use rustls::client::Resumption;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    h: &Hierarchy,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> Arc<ServerConfig> {
    let (chain, key) = h.server();
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

fn client_config(h: &Hierarchy) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(h.root.clone()).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![h.leaf.clone(), h.intermediate.clone()],
            h.leaf_key.clone_key(),
        )
        .unwrap();
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// One full handshake; true when both sides finished without error.
fn handshake(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> bool {
    let mut c = ClientConnection::new(Arc::clone(client), "server.example.com".try_into().unwrap())
        .unwrap();
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    let mut buf = Vec::with_capacity(8192);
    for _ in 0..8 {
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        s.read_tls(&mut buf.as_slice()).unwrap();
        if s.process_new_packets().is_err() {
            return false;
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        c.read_tls(&mut buf.as_slice()).unwrap();
        if c.process_new_packets().is_err() {
            return false;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return true;
        }
    }
    false
}

fn quiet_gate(policy: Policy) -> Gate {
    Gate::builder(policy)
        .event_sink(Arc::new(common::Quiet))
        .build()
        .unwrap()
}

fn handshakes(c: &mut Criterion) {
    let h = Hierarchy::new(Alg::P256);
    let client = client_config(&h);
    let mut roots = RootCertStore::empty();
    roots.add(h.root.clone()).unwrap();
    let roots = Arc::new(roots);
    let crl = h.crl(10_000);

    let webpki = server_config(
        &h,
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider())
            .build()
            .unwrap(),
    );
    let webpki_crl = server_config(
        &h,
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider())
            .with_crls([crl.clone()])
            .only_check_end_entity_revocation()
            .build()
            .unwrap(),
    );
    let gate = quiet_gate(Policy::from_verifier(h.typical_verifier()));
    let certgate = server_config(
        &h,
        Arc::new(GateClientVerifier::new(
            gate.clone(),
            provider(),
            HandshakeMode::Refuse,
        )),
    );
    let gate_crl = quiet_gate(Policy::from_verifier(
        h.typical()
            .crl(crl)
            .revocation_depth(RevocationDepth::Leaf)
            // rustls' WebPkiClientVerifier ignores CRL expiry unless told otherwise; match it.
            .expired_crl(ExpiredCrl::Ignore)
            .build()
            .unwrap(),
    ));
    let certgate_crl = server_config(
        &h,
        Arc::new(GateClientVerifier::new(
            gate_crl.clone(),
            provider(),
            HandshakeMode::Refuse,
        )),
    );
    for config in [&webpki, &webpki_crl, &certgate, &certgate_crl] {
        assert!(handshake(config, &client), "fixture handshake must succeed");
    }

    let mut group = c.benchmark_group("handshake/returning_app");
    group.bench_function("baseline_webpki_verifier", |b| {
        b.iter(|| handshake(&webpki, &client))
    });
    group.bench_function("certgate_verifier", |b| {
        b.iter(|| handshake(&certgate, &client))
    });
    group.finish();

    let mut group = c.benchmark_group("handshake/first_time_app");
    let policy = gate.policy();
    group.bench_function("baseline_webpki_verifier", |b| {
        b.iter(|| handshake(&webpki, &client))
    });
    group.bench_function("certgate_verifier", |b| {
        b.iter(|| {
            // A new generation: the chain's verdict is not cached, as for a first-time app.
            gate.reload(policy.clone());
            handshake(&certgate, &client)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("handshake/crl_10k");
    group.bench_function("baseline_webpki_verifier", |b| {
        b.iter(|| handshake(&webpki_crl, &client))
    });
    group.bench_function("certgate_verifier", |b| {
        b.iter(|| handshake(&certgate_crl, &client))
    });
    group.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
