//! Bot signals over real TLS on loopback (issue 13 §5), with certificates from `certgate::issue`
//! and the policy read from a file:
//!
//! - the genuine app's TLS stack (rustls) and a script's (curl on OpenSSL) present the same
//!   certificate: the JA4 learned from the app's traffic goes into the allowlist, and once
//!   `tls_fingerprint_mismatch` is enforced the script is refused while the app passes;
//! - one per-install certificate replayed from 50 loopback source addresses (127.0.0.10–59) at
//!   over 100 requests/s is flagged `cert_cloning_suspected` within the first 100 requests,
//!   while the genuine device (127.0.0.2) is never refused (the code is observed by default);
//! - with `HandshakeMode::Refuse`, forged certificates refused in the handshake score their
//!   source, which is then quarantined: its next connections are closed before any TLS or
//!   certificate work, while other sources are served.
#![cfg(all(
    feature = "server",
    feature = "axum",
    feature = "issue",
    feature = "ring"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use certgate::issue::{Ca, CaConfig, IssueRequest, Issued};
use certgate::{
    CertGateLayer, EventSink, Gate, HandshakeMode, Policy, Verdict, VerdictEvent, server,
};
use common::tls_client::{Http1, ServerPki, server_pki};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const APP: &str = "com.example.shop";
const INSTALL: &str = "0b7c3a52-9d3e-4c2f-8a61-2f4e5d6c7b8a";

#[derive(Default)]
struct Events(
    Mutex<Vec<VerdictEvent>>,
    Mutex<Vec<certgate::ConnectionEvent>>,
);

impl EventSink for Events {
    fn record(&self, event: &VerdictEvent) {
        self.0.lock().unwrap().push(event.clone());
    }

    fn record_connection(&self, event: &certgate::ConnectionEvent) {
        self.1.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn count(&self, code: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.code == code || e.codes.contains(&code))
            .count()
    }
}

fn policy_text(app_extra: &str, extra: &str) -> String {
    format!(
        "[trust]\nanchors = [\"root.pem\"]\nintermediates = [\"intermediate.pem\"]\n\n\
         [revocation]\ncrls = [\"intermediate.crl.pem\", \"root.crl.pem\"]\n\n\
         [[apps]]\nid = \"{APP}\"\n{app_extra}\n\n{extra}\n"
    )
}

struct World {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    issued: Issued,
    gate: Gate,
    events: Arc<Events>,
    pki: ServerPki,
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn world(app_extra: &str, extra: &str) -> World {
    world_in(app_extra, extra, HandshakeMode::Defer).await
}

async fn world_in(app_extra: &str, extra: &str, mode: HandshakeMode) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = Ca::init(&dir, &CaConfig::new("Signals E2E")).unwrap();
    let issued = ca
        .issue(&IssueRequest::new(APP).unwrap().install_id(INSTALL).unwrap())
        .unwrap();
    std::fs::write(dir.join("app.pem"), issued.chain_pem()).unwrap();
    std::fs::write(dir.join("app.key"), issued.key_pem().unwrap()).unwrap();
    std::fs::write(dir.join("policy.toml"), policy_text(app_extra, extra)).unwrap();
    let events = Arc::new(Events::default());
    let sink: Arc<dyn EventSink> = events.clone();
    let gate = Gate::builder(Policy::load(dir.join("policy.toml")).unwrap())
        .event_sink(sink)
        .build()
        .unwrap();
    let pki = server_pki();
    std::fs::write(dir.join("server-ca.pem"), &pki.ca_pem).unwrap();
    let tls = server::TlsConfig::new(
        &gate,
        Arc::new(rustls::crypto::ring::default_provider()),
        pki.chain.clone(),
        pki.key.clone_key(),
        mode,
    )
    .unwrap();
    let app = Router::new()
        .route("/", get(|verdict: Verdict| async move { verdict.code() }))
        .layer(CertGateLayer::new(gate.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, tls, app, async move {
        let _ = stopped.await;
    }));
    World {
        _tmp: tmp,
        dir,
        issued,
        gate,
        events,
        pki,
        addr,
        _stop: stop,
    }
}

impl World {
    fn client(
        &self,
    ) -> Option<(
        Vec<rustls_pki_types::CertificateDer<'static>>,
        PrivateKeyDer<'static>,
    )> {
        let key = PrivatePkcs8KeyDer::from(self.issued.key_pkcs8().unwrap().to_vec()).into();
        Some((self.issued.chain(), key))
    }

    async fn rustls_from(&self, from: Ipv4Addr) -> Http1 {
        Http1::connect_from(
            Some(IpAddr::V4(from)),
            self.addr,
            &self.pki.ca,
            self.client(),
        )
        .await
    }
}

/// curl (OpenSSL) with the same certificate: (status, body).
fn curl(dir: &Path, addr: SocketAddr) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--http1.1"])
        .args([
            "--cacert",
            "server-ca.pem",
            "--cert",
            "app.pem",
            "--key",
            "app.key",
        ])
        .args(["--write-out", "\n%{http_code}"])
        .arg(format!("https://127.0.0.1:{}/", addr.port()))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}; .ci/run installs it"));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_tells_the_apps_tls_stack_from_a_scripts() {
    let w = world("tls_fingerprints = { learn = true }", "").await;
    // Learning: the app's own traffic (rustls) and, for contrast, a script's (curl).
    let mut app = w.rustls_from(Ipv4Addr::new(127, 0, 0, 2)).await;
    assert_eq!(app.request("GET", "/", "").await.status, 200);
    let learned = w.gate.learned_fingerprints(APP);
    assert_eq!(learned.len(), 1, "{learned:?}");
    let app_ja4 = learned[0].0.clone();
    assert!(app_ja4.starts_with("t13"), "{app_ja4}");
    let dir = w.dir.clone();
    let addr = w.addr;
    let (status, _) = tokio::task::spawn_blocking(move || curl(&dir, addr))
        .await
        .unwrap();
    assert_eq!(status, 200, "learning refuses no one");
    let learned = w.gate.learned_fingerprints(APP);
    assert_eq!(
        learned.len(),
        2,
        "curl's stack has its own JA4: {learned:?}"
    );

    // The operator allows the app's JA4 and enforces the code; the policy is reloaded.
    std::fs::write(
        w.dir.join("policy.toml"),
        policy_text(
            &format!("tls_fingerprints = {{ allow = [\"{app_ja4}\"], learn = true }}"),
            "[modes]\nenforce = [\"tls_fingerprint_mismatch\"]",
        ),
    )
    .unwrap();
    w.gate.reload_from_file(w.dir.join("policy.toml")).unwrap();
    let mut app = w.rustls_from(Ipv4Addr::new(127, 0, 0, 2)).await;
    let reply = app.request("GET", "/", "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "accept"));
    let dir = w.dir.clone();
    let (status, body) = tokio::task::spawn_blocking(move || curl(&dir, addr))
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("\"code\":\"tls_fingerprint_mismatch\""),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_install_certificate_replayed_from_50_loopback_addresses_is_flagged() {
    let w = world(
        "per_install = true",
        "[signals.cloning]\nmax_addresses = 3\nwindow_seconds = 300\nmax_connections = 4\n\
         quarantine_seconds = 3600",
    )
    .await;
    let mut device = w.rustls_from(Ipv4Addr::new(127, 0, 0, 2)).await;
    let started = Instant::now();
    let mut requests = 0u32;
    let mut first_flag = None;
    let mut refused_genuine = 0;
    let mut bots = Vec::new();
    for i in 0..50u8 {
        // The genuine device keeps using its connection…
        let reply = device.request("GET", "/", "").await;
        requests += 1;
        if reply.status != 200 {
            refused_genuine += 1;
        }
        // …while a bot farm replays its extracted certificate from 50 source addresses.
        let mut bot = w.rustls_from(Ipv4Addr::new(127, 0, 0, 10 + i)).await;
        let reply = bot.request("GET", "/", "").await;
        requests += 1;
        assert_eq!(reply.status, 200, "observed by default: {}", reply.body);
        bots.push(bot);
        if first_flag.is_none() && w.events.count("cert_cloning_suspected") > 0 {
            first_flag = Some(requests);
        }
    }
    let rate = f64::from(requests) / started.elapsed().as_secs_f64();
    eprintln!(
        "{requests} requests at {rate:.0}/s over real TLS; flagged at request {first_flag:?}"
    );
    assert!(rate > 100.0, "{rate:.0} requests/s");
    let first_flag = first_flag.expect("the replay was never flagged");
    assert!(first_flag <= 100, "flagged only at request {first_flag}");
    assert_eq!(refused_genuine, 0);
    // Flagged for its addresses (not its connection count): the replays really came from
    // distinct loopback sources.
    let flagged = w
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|e| e.code == "cert_cloning_suspected")
        .cloned()
        .unwrap();
    let data = flagged.signal.unwrap();
    assert!(data.addresses.unwrap() > 3, "{data:?}");
    assert!(
        flagged
            .peer_addr
            .is_some_and(|p| p.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    // The genuine device's next request carries the observed signal, and is still served.
    let reply = device.request("GET", "/", "").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "cert_cloning_suspected")
    );
}

/// One request over a fresh connection from `from`: the status, or how it failed.
async fn attempt(
    w: &World,
    from: Ipv4Addr,
    client: (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        PrivateKeyDer<'static>,
    ),
) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(w.pki.ca.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(client.0, client.1)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let one = async {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::new(IpAddr::V4(from), 0))
            .map_err(|e| e.to_string())?;
        let tcp = socket.connect(w.addr).await.map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::IpAddress(w.addr.ip().into());
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut text = Vec::new();
        tls.read_to_end(&mut text)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&text).into_owned();
        text.get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status: {text:?}"))
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), one)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_handshakes_quarantine_their_source_before_any_tls_work() {
    let w = world_in(
        "",
        "[modes]\nenforce = [\"quarantined\"]\n\n[signals.quarantine]\nthreshold = 100\n",
        HandshakeMode::Refuse,
    )
    .await;
    // Forged: the same app id from a CA of the same name but another key (bad_signature,
    // weight 20).
    let forger = w.dir.parent().unwrap().join("forger");
    let mut fake = Ca::init(&forger, &CaConfig::new("Signals E2E")).unwrap();
    let forged = fake.issue(&IssueRequest::new(APP).unwrap()).unwrap();
    let forged_client = || {
        let key = PrivatePkcs8KeyDer::from(forged.key_pkcs8().unwrap().to_vec()).into();
        (forged.chain(), key)
    };
    let bot = Ipv4Addr::new(127, 0, 0, 77);
    for i in 0..5 {
        let outcome = attempt(&w, bot, forged_client()).await;
        assert!(outcome.is_err(), "attempt {i}: {outcome:?}");
    }
    let connection_codes = |w: &World| -> Vec<&'static str> {
        w.events.1.lock().unwrap().iter().map(|e| e.code).collect()
    };
    assert_eq!(
        connection_codes(&w),
        ["bad_signature"; 5],
        "each refused in the handshake"
    );
    // Quarantined now: even the genuine certificate from that source is closed before the
    // handshake (no verification: the verdict cache is not consulted), and reported.
    let before = w.gate.cache_stats();
    let outcome = attempt(&w, bot, w.client().unwrap()).await;
    assert!(outcome.is_err(), "{outcome:?}");
    let after = w.gate.cache_stats();
    assert_eq!(
        (after.hits, after.misses),
        (before.hits, before.misses),
        "no certificate work for a quarantined source"
    );
    let codes = connection_codes(&w);
    assert_eq!(codes.last(), Some(&"quarantined"), "{codes:?}");
    let events = w.events.0.lock().unwrap().clone();
    assert!(
        events.iter().any(
            |e| e.code == "quarantined" && e.peer_addr.map(|p| p.ip()) == Some(IpAddr::V4(bot))
        ),
        "the quarantine's start is reported with its source"
    );
    // Another source is served.
    let genuine = attempt(&w, Ipv4Addr::new(127, 0, 0, 2), w.client().unwrap()).await;
    assert_eq!(genuine, Ok(200));
}
