//! The Redis store (feature `redis`, issue 13 §4): two replicas sharing one real
//! `redis-server` (started here on a free loopback port, killed at the end; the test FAILS when
//! `redis-server` is missing). The two replicas are two `Gate`s with two `RedisStore`s in this
//! process (two connections each to Redis, exactly as two processes would have). Real
//! certificates from the fixture PKI; connections simulated with `TlsConnectInfo` reused
//! across requests, as a keep-alive connection does.

#![cfg(feature = "redis")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod common;

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use certgate::signals::{
    AppSignals, CloningConfig, EmbeddedStore, OnError, QuarantineConfig, RedisStore, SignalStore,
    SignalsConfig,
};
use certgate::{
    CertGateLayer, Gate, Mode, PeerChain, Policy, TlsConnectInfo, Verdict, VerifierBuilder,
};
use common::redis_server::RedisServer;
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{Request, Response, StatusCode};

use tower::{Layer, Service};

// ---------------------------------------------------------------------------
// replicas

fn signals() -> SignalsConfig {
    SignalsConfig::new()
        .quarantine(QuarantineConfig::new(100, 60, 600).unwrap())
        .cloning(CloningConfig::new(3, 300, 4, 3600).unwrap())
        .app(SHOP, AppSignals::new().per_install(true))
        .unwrap()
}

fn policy() -> Policy {
    Policy::from_verifier(
        VerifierBuilder::new()
            .trust_anchor(pki().root())
            .crl(pki().crl(Crl::Intermediate))
            .crl(pki().crl(Crl::Root))
            .build()
            .unwrap(),
    )
    .with_signals(signals())
    .unwrap()
}

struct Replica {
    gate: Gate,
    store: Arc<RedisStore>,
}

impl Replica {
    fn new(url: &str, on_error: OnError) -> Self {
        let store = Arc::new(RedisStore::new(url, on_error).unwrap());
        let dyn_store: Arc<dyn SignalStore> = store.clone();
        let gate = Gate::builder(policy())
            .signal_store(dyn_store)
            .mode_for("quarantined", Mode::Enforce)
            .mode_for("cert_cloning_suspected", Mode::Enforce)
            .clock(|| NOW)
            .build()
            .unwrap();
        Self { gate, store }
    }

    fn service(
        &self,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible> {
        CertGateLayer::new(self.gate.clone()).layer(tower::service_fn(echo))
    }

    /// One request on `conn`: its code (`accept`, or the refusal's).
    fn code(&self, conn: &TlsConnectInfo) -> String {
        code_of(&drive(&mut self.service(), on(conn)))
    }

    fn wait_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        // Subscribed too: a message published before the subscription would be seen only by
        // the next resync, racing a 1 s assertion.
        while !(self.store.connected() && self.store.subscribed()) {
            assert!(Instant::now() < deadline, "the store never connected");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

async fn echo(req: Request<()>) -> Result<Response<String>, Infallible> {
    let verdict = req.extensions().get::<Verdict>().map_or("-", Verdict::code);
    Ok(Response::new(verdict.to_owned()))
}

fn drive<S>(service: &mut S, req: Request<()>) -> Response<String>
where
    S: Service<Request<()>, Response = Response<String>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(service.call(req)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("the service was not ready at once"),
    }
}

fn on(conn: &TlsConnectInfo) -> Request<()> {
    let mut req = Request::new(());
    req.extensions_mut().insert(conn.clone());
    req
}

fn connect(leaf: Leaf, addr: &str) -> TlsConnectInfo {
    TlsConnectInfo::new(
        PeerChain::new(pki().leaf(leaf).chain()),
        addr.parse().unwrap(),
    )
}

fn code_of(response: &Response<String>) -> String {
    if response.status() == StatusCode::OK {
        return response.body().clone();
    }
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// Polls `f` until it is true, for at most `limit`; the time it took.
fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if f() {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pki_fingerprint(leaf: Leaf) -> [u8; 32] {
    let verdict = Gate::new(policy()).check(&PeerChain::new(pki().leaf(leaf).chain()), NOW);
    verdict.identity().unwrap().fingerprint()
}

fn leaf_hex(leaf: Leaf) -> String {
    pki_fingerprint(leaf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `certgate deny` (the real binary with feature `cli`; the library call it wraps without).
fn deny(url: &str, hex: &str, remove: bool) {
    #[cfg(feature = "cli")]
    {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"));
        cmd.args(["deny", "--store", url, "--fingerprint", hex]);
        if remove {
            cmd.arg("--remove");
        } else {
            cmd.args(["--ttl", "30d"]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let line: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(line["action"], if remove { "remove" } else { "deny" });
        assert_eq!(line["fingerprint"], hex);
    }
    #[cfg(not(feature = "cli"))]
    {
        let mut leaf = [0u8; 32];
        for (i, b) in leaf.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        if remove {
            certgate::signals::undeny(url, &leaf).unwrap();
        } else {
            let now = rustls_pki_types::UnixTime::now().as_secs();
            certgate::signals::deny(url, &leaf, 30 * 86_400, now).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// two replicas, one Redis

#[test]
fn quarantine_flag_and_denylist_reach_the_other_replica_within_a_second() {
    let redis = RedisServer::start();
    let a = Replica::new(&redis.url(), OnError::Open);
    let b = Replica::new(&redis.url(), OnError::Open);
    a.wait_connected();
    b.wait_connected();

    // 1. A source quarantined through A (five forged certificates, 20 points each) is refused
    //    by B, which never saw it fail.
    for _ in 0..5 {
        let forged = connect(Leaf::ImpostorSameNames, "192.0.2.66:1000");
        assert_ne!(a.code(&forged), "quarantined");
    }
    assert_eq!(
        a.code(&connect(Leaf::Genuine, "192.0.2.66:1001")),
        "quarantined"
    );
    let took = within(Duration::from_secs(1), "quarantine on B", || {
        b.code(&connect(Leaf::Genuine, "192.0.2.66:1002")) == "quarantined"
    });
    eprintln!("quarantine A → B: {took:?}");

    // 2. The fleet's score: 60 points through A and 40 through B, neither enough alone,
    //    quarantine the source on both.
    for i in 0..5 {
        let replica = if i < 3 { &a } else { &b };
        let forged = connect(Leaf::ImpostorSameNames, "192.0.2.77:1000");
        assert_ne!(replica.code(&forged), "quarantined", "attempt {i}");
    }
    let took = within(Duration::from_secs(1), "fleet score", || {
        a.code(&connect(Leaf::Genuine, "192.0.2.77:2000")) == "quarantined"
            && b.code(&connect(Leaf::Genuine, "192.0.2.77:2001")) == "quarantined"
    });
    eprintln!("fleet score quarantine: {took:?}");

    // 3. A per-install certificate seen from 2 addresses on A and 2 on B (4 > max_addresses
    //    3; each replica alone saw 2) is flagged on both, open connections included.
    let a1 = connect(Leaf::Second, "198.51.100.1:1000");
    let a2 = connect(Leaf::Second, "198.51.100.2:1000");
    let b1 = connect(Leaf::Second, "198.51.100.3:1000");
    let b2 = connect(Leaf::Second, "198.51.100.4:1000");
    for (replica, conn) in [(&a, &a1), (&a, &a2), (&b, &b1), (&b, &b2)] {
        assert_eq!(replica.code(conn), "accept");
    }
    let took = within(Duration::from_secs(1), "cloning flag", || {
        a.code(&a1) == "cert_cloning_suspected" && b.code(&b1) == "cert_cloning_suspected"
    });
    eprintln!("cloning flag across replicas: {took:?}");

    // 4. `certgate deny` on a genuine leaf: both replicas refuse it `denylisted`, on the
    //    already-open connections' next request; `--remove` lets it back.
    let ka = connect(Leaf::Genuine, "203.0.113.1:1000");
    let kb = connect(Leaf::Genuine, "203.0.113.2:1000");
    assert_eq!(a.code(&ka), "accept");
    assert_eq!(b.code(&kb), "accept");
    let hex = leaf_hex(Leaf::Genuine);
    let started = Instant::now();
    deny(&redis.url(), &hex, false);
    within(Duration::from_secs(1), "denylist", || {
        a.code(&ka) == "denylisted" && b.code(&kb) == "denylisted"
    });
    eprintln!("certgate deny → both replicas: {:?}", started.elapsed());
    let response = drive(&mut a.service(), on(&ka));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A new connection too, and another leaf is untouched.
    assert_eq!(
        b.code(&connect(Leaf::Genuine, "203.0.113.3:1000")),
        "denylisted"
    );
    assert_eq!(
        b.code(&connect(Leaf::OtherApp, "203.0.113.4:1000")),
        "accept"
    );
    assert_eq!(a.store.denylist_len(), 1);
    // A replica started later loads it from Redis.
    let c = Replica::new(&redis.url(), OnError::Open);
    within(Duration::from_secs(1), "denylist at start", || {
        c.code(&connect(Leaf::Genuine, "203.0.113.5:1000")) == "denylisted"
    });
    deny(&redis.url(), &hex, true);
    // (Not `accept` again on those connections: each denylisted request weighed 20 on its
    // source's score, and the leaf is flagged for cloning by now, from 5 addresses.)
    let leaf: [u8; 32] = pki_fingerprint(Leaf::Genuine);
    within(Duration::from_secs(1), "denylist removal", || {
        !a.store.denylisted(&leaf, NOW.as_secs()) && !b.store.denylisted(&leaf, NOW.as_secs())
    });
    assert_ne!(b.code(&kb), "denylisted");
}

#[test]
fn a_replica_with_another_clock_does_not_erase_the_fleets_quarantines() {
    // B is started before A's quarantine and has had no request yet, so its background
    // threads run on the system clock (today), long after the test clock `NOW` + 10 min when
    // the quarantine ends. Its resyncs must read the fleet's state, never prune it.
    let redis = RedisServer::start();
    let a = Replica::new(&redis.url(), OnError::Open);
    a.wait_connected();
    for _ in 0..5 {
        let forged = connect(Leaf::ImpostorSameNames, "192.0.2.88:1000");
        assert_ne!(a.code(&forged), "quarantined");
    }
    let b = Replica::new(&redis.url(), OnError::Open);
    b.wait_connected();
    // B's subscription may have missed A's message; what B knows comes from its resyncs,
    // two of which (every 500 ms) run on the system clock before B's first request.
    std::thread::sleep(Duration::from_millis(1200));
    let took = within(
        Duration::from_secs(2),
        "quarantine on a replica with another clock",
        || b.code(&connect(Leaf::Genuine, "192.0.2.88:1002")) == "quarantined",
    );
    eprintln!("quarantine read by a late replica: {took:?}");
    // And it is still in Redis for the next replica.
    let c = Replica::new(&redis.url(), OnError::Open);
    within(
        Duration::from_secs(2),
        "quarantine on a third replica",
        || c.code(&connect(Leaf::Genuine, "192.0.2.88:1003")) == "quarantined",
    );
}

#[test]
fn redis_killed_mid_load_loses_no_request_and_recovers() {
    let mut redis = RedisServer::start();
    let a = Replica::new(&redis.url(), OnError::Open);
    let b = Replica::new(&redis.url(), OnError::Open);
    a.wait_connected();
    b.wait_connected();
    let genuine = [
        connect(Leaf::Genuine, "203.0.113.10:1000"),
        connect(Leaf::Genuine, "203.0.113.11:1000"),
    ];
    let mut slowest = Duration::ZERO;
    let mut answered = 0u32;
    let mut down_seen = false;
    for i in 0..1500u32 {
        if i == 300 {
            redis.kill();
        }
        if i == 900 {
            down_seen = !a.store.connected() && !b.store.connected();
            redis.restart();
        }
        let replica = if i % 2 == 0 { &a } else { &b };
        let started = Instant::now();
        // A keep-alive connection, a new connection, and a failure that feeds a score.
        let code = replica.code(&genuine[(i % 2) as usize]);
        assert_eq!(code, "accept", "request {i}");
        let fresh = connect(
            Leaf::Second,
            &format!("198.18.{}.{}:1000", i / 200, i % 200),
        );
        let code = replica.code(&fresh);
        assert!(
            code == "accept" || code == "cert_cloning_suspected",
            "{code}"
        );
        let forged = connect(
            Leaf::ForeignCa,
            &format!("198.19.{}.{}:1000", i / 200, i % 200),
        );
        assert_eq!(replica.code(&forged), "unknown_issuer", "request {i}");
        slowest = slowest.max(started.elapsed());
        answered += 3;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(answered, 4500);
    assert!(down_seen, "the stores noticed Redis was down");
    eprintln!("slowest of 3 requests while Redis was killed and restarted: {slowest:?}");
    // No request waits on Redis: one that did would sit out the store's connect (250 ms) or
    // I/O (500 ms) timeout and exceed this bound, which is otherwise loose for scheduler pauses
    // on two shared cores (the figure is printed above).
    assert!(slowest < Duration::from_millis(200), "{slowest:?}");
    // During the outage A decided alone (signals pause across replicas); after the restart the
    // propagation works again.
    a.wait_connected();
    b.wait_connected();
    for _ in 0..5 {
        a.code(&connect(Leaf::ImpostorSameNames, "192.0.2.99:1000"));
    }
    // Recovery (no 1 s promise here: the store reconnects on its own schedule).
    within(
        Duration::from_secs(10),
        "quarantine after the restart",
        || b.code(&connect(Leaf::Genuine, "192.0.2.99:1001")) == "quarantined",
    );
    assert!(a.store.dropped_updates() > 0);
}

#[test]
fn locally_decided_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let a = Replica::new(&redis.url(), OnError::Open);
    a.wait_connected();
    redis.kill();
    within(Duration::from_secs(3), "store sees Redis down", || {
        !a.store.connected()
    });
    for _ in 0..5 {
        a.code(&connect(Leaf::ImpostorSameNames, "192.0.2.55:1000"));
    }
    assert_eq!(
        a.code(&connect(Leaf::Genuine, "192.0.2.55:1001")),
        "quarantined"
    );
    assert_eq!(a.code(&connect(Leaf::Genuine, "192.0.2.56:1001")), "accept");
}

#[test]
fn on_error_closed_refuses_while_redis_is_unreachable() {
    let mut redis = RedisServer::start();
    let closed = Replica::new(&redis.url(), OnError::Closed);
    let open = Replica::new(&redis.url(), OnError::Open);
    closed.wait_connected();
    open.wait_connected();
    let conn = connect(Leaf::Genuine, "203.0.113.20:1000");
    assert_eq!(closed.code(&conn), "accept");
    // The denylist keeps its last known state either way.
    let hex = leaf_hex(Leaf::Second);
    deny(&redis.url(), &hex, false);
    within(Duration::from_secs(1), "denylist", || {
        closed.store.denylist_len() == 1 && open.store.denylist_len() == 1
    });
    redis.kill();
    within(Duration::from_secs(3), "stores see Redis down", || {
        !closed.store.connected() && !open.store.connected()
    });
    let response = drive(&mut closed.service(), on(&conn));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code_of(&response), "quarantined");
    assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    assert_eq!(open.code(&conn), "accept");
    let second = connect(Leaf::Second, "203.0.113.21:1000");
    assert_eq!(open.code(&second), "denylisted");
    // Back: accepted again.
    redis.restart();
    closed.wait_connected();
    assert_eq!(closed.code(&conn), "accept");
}

// ---------------------------------------------------------------------------
// the policy

fn load(extra: &str) -> Result<Policy, certgate::PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root_pem()).unwrap();
    let text = format!(
        "[trust]\nanchors = [\"root.pem\"]\n\n[[apps]]\nid = \"{SHOP}\"\nper_install = true\n\n[signals.cloning]\n\n{extra}\n"
    );
    Policy::from_toml_str(&text, dir.path())
}

#[test]
fn the_policy_names_the_redis_store() {
    let redis = RedisServer::start();
    let policy = load(&format!(
        "[signals.store]\nkind = \"redis\"\nurl = \"{}\"\non_error = \"closed\"",
        redis.url()
    ))
    .unwrap();
    let url = redis.url();
    assert_eq!(
        policy.signals().unwrap().redis_store(),
        Some((url.as_str(), OnError::Closed))
    );
    let default = load("[signals.store]\nkind = \"redis\"").unwrap();
    assert_eq!(
        default.signals().unwrap().redis_store(),
        Some(("redis://127.0.0.1:6379", OnError::Open))
    );
    // The builder connects the store the policy names: a denylist entry reaches the gate.
    let gate = Gate::builder(policy).clock(|| NOW).build().unwrap();
    let conn = connect(Leaf::Second, "203.0.113.30:1000");
    let mut service = CertGateLayer::new(gate).layer(tower::service_fn(echo));
    assert_eq!(code_of(&drive(&mut service, on(&conn))), "accept");
    deny(&redis.url(), &leaf_hex(Leaf::Second), false);
    within(
        Duration::from_secs(2),
        "denylist via the policy's store",
        || code_of(&drive(&mut service, on(&conn))) == "denylisted",
    );

    for (extra, field, message) in [
        (
            "[signals.store]\nkind = \"redis\"\nurl = \"http://127.0.0.1:6379\"",
            "signals.store.url",
            "not a redis:// URL",
        ),
        (
            "[signals.store]\nkind = \"redis\"\nurl = \"redis://\"",
            "signals.store.url",
            "Redis URL",
        ),
        (
            "[signals.store]\nkind = \"embedded\"\non_error = \"closed\"",
            "signals.store.on_error",
            "only for kind",
        ),
    ] {
        let err = load(extra).unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert!(err.message().contains(message), "{err}");
    }
    for (extra, name) in [
        ("[signals.store]\nkind = \"memcached\"", "memcached"),
        (
            "[signals.store]\nkind = \"redis\"\non_error = \"maybe\"",
            "maybe",
        ),
    ] {
        let err = load(extra).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
}

/// `Gate::new` (the README's first example) honours the store the policy names like the
/// builder does: otherwise a fleet denylist entry never reaches a gate made that way, and the
/// denylisted leaf is accepted. (`Gate::new` runs on the system clock: a certificate issued
/// now by the crate's own CA, not the fixture's.)
#[cfg(feature = "issue")]
#[test]
fn gate_new_connects_the_policys_redis_store() {
    use certgate::issue::{Ca, CaConfig, IssueRequest};
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = Ca::init(&dir, &CaConfig::new("Gate::new Redis")).unwrap();
    let issued = ca.issue(&IssueRequest::new(SHOP).unwrap()).unwrap();
    let text = format!(
        "[trust]\nanchors = [\"root.pem\"]\nintermediates = [\"intermediate.pem\"]\n\n\
         [[apps]]\nid = \"{SHOP}\"\n\n\
         [signals.store]\nkind = \"redis\"\nurl = \"{}\"\n",
        redis.url()
    );
    let policy = Policy::from_toml_str(&text, &dir).unwrap();
    let gate = Gate::new(policy);
    let chain = PeerChain::new(issued.chain());
    let peer = Some("203.0.113.31:1000".parse().unwrap());
    let verdict = gate.check_request(&chain, peer);
    assert_eq!(verdict.code(), "accept");
    let hex: String = verdict
        .identity()
        .unwrap()
        .fingerprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    deny(&redis.url(), &hex, false);
    within(
        Duration::from_secs(2),
        "denylist via the policy's store, Gate::new",
        || gate.check_request(&chain, peer).code() == "denylisted",
    );
}

/// A denylist of 600 000 entries (`MAX_DENYLIST` is a million): read by every replica at its
/// start and every 5 s. Read in one command it blocked Redis past the store's 500 ms read
/// timeout: the resync failed every time, the local denylist stayed empty, and the store
/// counted as down (with `on_error = "closed"`, every client refused).
#[test]
fn a_large_denylist_resyncs_and_the_store_stays_up() {
    const ENTRIES: u64 = 1_000_000;
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let until = rustls_pki_types::UnixTime::now().as_secs() + 86_400;
    for chunk in 0..ENTRIES / 10_000 {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg("certgate:deny");
        for i in 0..10_000 {
            zadd.arg(until).arg(format!("{:064x}", chunk * 10_000 + i));
        }
        zadd.query::<i64>(&mut conn).unwrap();
    }
    let store = RedisStore::new(&redis.url(), OnError::Closed).unwrap();
    within(Duration::from_secs(30), "the whole denylist loaded", || {
        store.denylist_len() == usize::try_from(ENTRIES).unwrap()
    });
    let leaf = [0u8; 32];
    assert!(store.denylisted(&leaf, until - 60));
    // Up through the next periodic resyncs.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        assert!(store.connected(), "down after {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.denylist_len(), usize::try_from(ENTRIES).unwrap());
}

/// Entries denied while a replica reads the denylist (a resync of a large list takes seconds)
/// stay denied when the resync's result replaces the local list: the resync may not have seen
/// them (`ZSCAN` does not promise elements added during the scan), but their messages did.
#[test]
fn entries_denied_during_a_resync_survive_it() {
    // Under MAX_DENYLIST: a full local list takes no new entry.
    const ENTRIES: u64 = 900_000;
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let now = rustls_pki_types::UnixTime::now().as_secs();
    for chunk in 0..ENTRIES / 10_000 {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg("certgate:deny");
        for i in 0..10_000 {
            zadd.arg(now + 86_400)
                .arg(format!("{:064x}", chunk * 10_000 + i));
        }
        zadd.query::<i64>(&mut conn).unwrap();
    }
    let store = RedisStore::new(&redis.url(), OnError::Open).unwrap();
    within(Duration::from_secs(60), "the whole denylist loaded", || {
        store.denylist_len() == usize::try_from(ENTRIES).unwrap()
    });
    within(Duration::from_secs(5), "subscribed", || store.subscribed());
    // Over more than one resync period (5 s), deny a new leaf every 100 ms; each must stay
    // denied from when its message arrived to the end.
    let mut denied: Vec<[u8; 32]> = Vec::new();
    let started = Instant::now();
    let mut n = 0u8;
    while started.elapsed() < Duration::from_secs(12) {
        if denied.len() < 100 {
            n += 1;
            let mut leaf = [0xee; 32];
            leaf[0] = n;
            certgate::signals::deny(&redis.url(), &leaf, 86_400, now).unwrap();
            within(Duration::from_secs(1), "the deny message", || {
                store.denylisted(&leaf, now)
            });
            denied.push(leaf);
        }
        for leaf in &denied {
            assert!(
                store.denylisted(leaf, now),
                "leaf {} lost after {:?}",
                leaf[0],
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// figures (printed, not asserted)

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

#[test]
fn figures_layer_time_with_the_redis_store_and_the_embedded_one() {
    let redis = RedisServer::start();
    let redis_replica = Replica::new(&redis.url(), OnError::Open);
    redis_replica.wait_connected();
    let embedded: Arc<dyn SignalStore> = Arc::new(EmbeddedStore::default());
    let embedded_gate = Gate::builder(policy())
        .signal_store(embedded)
        .clock(|| NOW)
        .build()
        .unwrap();
    let n = 20_000u32;
    for (name, gate) in [
        ("embedded", embedded_gate),
        ("redis", redis_replica.gate.clone()),
    ] {
        let mut service = CertGateLayer::new(gate).layer(tower::service_fn(echo));
        let keep_alive = connect(Leaf::Genuine, "203.0.113.40:1000");
        let mut same = Vec::with_capacity(n as usize);
        let mut fresh = Vec::with_capacity(n as usize);
        let started = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            drive(&mut service, on(&keep_alive));
            same.push(t.elapsed());
            let conn = connect(Leaf::Second, &format!("10.{}.{}.1:1000", i / 250, i % 250));
            let t = Instant::now();
            drive(&mut service, on(&conn));
            fresh.push(t.elapsed());
        }
        let total = started.elapsed();
        let (p50, p99) = percentiles(same);
        let (f50, f99) = percentiles(fresh);
        eprintln!(
            "FIGURES {name}: keep-alive request p50 {p50:?} p99 {p99:?}; new connection (cloning \
             update) p50 {f50:?} p99 {f99:?}; {:.0} requests/s",
            f64::from(2 * n) / total.as_secs_f64()
        );
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reload_that_names_another_redis_store_says_the_gate_keeps_its_own() {
    let redis = RedisServer::start();
    let with_redis = format!(
        "[signals.store]\nkind = \"redis\"\nurl = \"{}\"",
        redis.url()
    );
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Built on the embedded store, reloaded into a Redis policy: warned.
        let gate = Gate::builder(load("").unwrap()).build().unwrap();
        gate.reload(load(&with_redis).unwrap());
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("was not built with"), "{text}");
        assert!(text.contains(&redis.url()), "{text}");
        logs.0.lock().unwrap().clear();
        // Built on that Redis store, reloaded with the same one (or back to none): silent.
        let gate = Gate::builder(load(&with_redis).unwrap()).build().unwrap();
        gate.reload(load(&with_redis).unwrap());
        gate.reload(load("").unwrap());
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("was not built with"), "{text}");
    });
}

#[test]
fn gate_check_and_the_handshake_verifier_see_the_fleet_denylist() {
    // `Gate::check` is what `GateClientVerifier` (HandshakeMode::Refuse) and custom
    // transports call: a leaf on the fleet's denylist must be refused there too, not only
    // through the layer.
    let redis = RedisServer::start();
    let replica = Replica::new(&redis.url(), OnError::Open);
    replica.wait_connected();
    let chain = PeerChain::new(pki().leaf(Leaf::OtherApp).chain());
    assert!(replica.gate.check(&chain, NOW).identity().is_some());
    deny(&redis.url(), &leaf_hex(Leaf::OtherApp), false);
    within(
        Duration::from_secs(1),
        "denylist through Gate::check",
        || replica.gate.check(&chain, NOW).code() == "denylisted",
    );
    let verdict = replica.gate.check(&chain, NOW);
    assert!(verdict.is_refused());
    // Another leaf is untouched.
    let other = PeerChain::new(pki().leaf(Leaf::Second).chain());
    assert!(replica.gate.check(&other, NOW).identity().is_some());
}
