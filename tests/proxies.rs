//! Real proxies in front of the axum app (issue 10 §4): nginx, HAProxy and Caddy terminate TLS
//! on loopback, request the client's certificate without verifying it, and forward it in a
//! header to a plain-HTTP axum backend wrapped in `CertGateLayer`, which trusts 127.0.0.1 only.
//!
//! Each proxy runs from its shipped template under `examples/proxies/` (placeholders filled in)
//! as a foreground child process with its own temporary directory; it is killed on drop. A
//! missing proxy binary FAILS the test (`.ci/run` installs them): nothing here is skipped.
//!
//! The matrix per proxy: genuine app 200 with its app id; revoked 403 `revoked`; other app 403
//! `app_not_allowed`; no certificate 401 `no_certificate`; a spoofed header (the genuine app's
//! certificate, correctly encoded) sent through the proxy is overwritten by it (no certificate
//! → 401, other app's certificate → 403 `app_not_allowed`); the same spoofed header sent
//! straight to the backend from 127.0.0.2 (not a trusted proxy) → 401 `no_certificate`.
#![cfg(all(feature = "axum", feature = "ring"))]
// Test code: panics are failures. clippy.toml's allowances only cover #[test] fns, so the
// helpers below need the file-level allow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use certgate::forwarded::{ClientAddressSource, ForwardedConfig, ForwardedFormat};
use certgate::{AppId, AppRule, CertGateLayer, Gate, PeerIdentity, Policy, VerifierBuilder};
use common::{Crl, Issued, Leaf, NOW, SHOP, pki};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

/// Every network step must finish within this.
const STEP: Duration = Duration::from_secs(5);
/// A proxy must listen within this after being started.
const STARTUP: Duration = Duration::from_secs(20);
const SERVER_NAME: &str = "server.example.com";

// ---------------------------------------------------------------------------
// the proxies

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Haproxy,
    Caddy,
}

impl Kind {
    /// The template under `examples/proxies/`.
    fn template(self) -> &'static str {
        match self {
            Self::Nginx => "nginx.conf",
            Self::Haproxy => "haproxy.cfg",
            Self::Caddy => "Caddyfile",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Haproxy => "haproxy",
            Self::Caddy => "caddy",
        }
    }

    /// The header the proxy's config sets.
    fn header(self) -> &'static str {
        match self {
            Self::Nginx | Self::Caddy => "x-client-cert",
            Self::Haproxy => "x-ssl-client-cert",
        }
    }

    /// The backend's forwarded configuration for this proxy.
    fn forwarded(self) -> ForwardedConfig {
        let config = match self {
            Self::Nginx => ForwardedConfig::new(ForwardedFormat::Nginx),
            Self::Haproxy => ForwardedConfig::new(ForwardedFormat::Haproxy),
            Self::Caddy => ForwardedConfig::new(ForwardedFormat::Haproxy)
                .header("x-client-cert".parse().unwrap())
                .unwrap(),
        };
        config
            .trust_proxy("127.0.0.1/32".parse().unwrap())
            .client_address(ClientAddressSource::XForwardedFor)
    }

    /// `leaf` encoded as this proxy forwards it: what a spoofing client would send.
    fn encode(self, leaf: &Issued) -> String {
        match self {
            Self::Nginx => url_encode(&leaf.cert_pem),
            Self::Haproxy | Self::Caddy => {
                base64::engine::general_purpose::STANDARD.encode(leaf.cert.as_ref())
            }
        }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running proxy. Dropping it kills the process.
struct Proxy {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    /// SIGTERM first: a SIGKILLed nginx master leaves its workers running (and listening).
    /// Then SIGKILL whatever is left after a few seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Everything the proxy logged, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["stdout.log", "stderr.log", "error.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join(name)) {
                out.push_str(&format!("--- {name}\n{text}\n"));
            }
        }
        out
    }
}

/// The proxy's executable: from `PATH`, else from the sbin directories (Debian installs nginx
/// and haproxy in /usr/sbin, which a non-root `PATH` may lack). Not found: the bare name, so
/// that spawning it fails the test with a clear message.
fn binary(kind: Kind) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(kind.binary()))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(kind.binary()))
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Starts `kind` from its template in front of `backend` and waits until it listens.
fn start_proxy(kind: Kind, backend: SocketAddr) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    // nginx's workers run as `nobody`: let them into the directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let server = pki().leaf(Leaf::Server);
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    let both = dir.path().join("server-and-key.pem");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&cert, server.chain_pem()).unwrap();
    std::fs::write(&key, &server.key_pem).unwrap();
    std::fs::write(&both, format!("{}{}", server.chain_pem(), server.key_pem)).unwrap();
    std::fs::write(&ca, pki().root_pem()).unwrap();

    let port = free_port();
    let template_path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "examples", "proxies"]
        .iter()
        .collect::<PathBuf>()
        .join(kind.template());
    let template = std::fs::read_to_string(&template_path)
        .unwrap_or_else(|e| panic!("{}: {e}", template_path.display()));
    let config_text = template
        .replace("__DIR__", path(dir.path()))
        .replace("__LISTEN_PORT__", &port.to_string())
        .replace("__BACKEND_PORT__", &backend.port().to_string())
        .replace("__CERT_AND_KEY__", path(&both))
        .replace("__CERT__", path(&cert))
        .replace("__KEY__", path(&key))
        .replace("__CA__", path(&ca));
    assert!(
        !config_text.contains("__"),
        "{}: a placeholder was left unfilled",
        kind.template()
    );
    let config = dir.path().join(kind.template());
    std::fs::write(&config, config_text).unwrap();

    let mut command = Command::new(binary(kind));
    match kind {
        Kind::Nginx => {
            command
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&config);
        }
        Kind::Haproxy => {
            command
                .arg("-db")
                .arg("-f")
                .arg(&config)
                .arg("-p")
                .arg(dir.path().join("haproxy.pid"));
        }
        Kind::Caddy => {
            command
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&config)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"));
        }
    }
    let stdout = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = command
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` ({e}): install it (`apt-get install -y nginx haproxy caddy`, as .ci/run does)",
                kind.binary()
            )
        });
    let mut proxy = Proxy {
        kind,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };

    let deadline = Instant::now() + STARTUP;
    loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            panic!("{kind:?} exited at startup ({status}):\n{}", proxy.logs());
        }
        if std::net::TcpStream::connect(proxy.addr).is_ok() {
            return proxy;
        }
        if Instant::now() > deadline {
            panic!(
                "{kind:?} did not listen on {} within {STARTUP:?}:\n{}",
                proxy.addr,
                proxy.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// the backend

/// `GET /`: the app id through the `PeerIdentity` extractor.
async fn whoami(identity: PeerIdentity) -> String {
    format!("app={}", identity.app_id().unwrap())
}

/// The axum app behind `CertGateLayer` on plain HTTP, trusting 127.0.0.1 as a proxy for
/// `kind`'s header; allows only `com.example.shop`, revokes `Leaf::Revoked`. The proxies
/// forward the leaf only: the policy's intermediate completes the path.
async fn start_backend(kind: Kind) -> SocketAddr {
    let verifier = VerifierBuilder::new()
        .trust_anchor(pki().root())
        .intermediate(pki().intermediate())
        .crl(pki().crl(Crl::Intermediate))
        .crl(pki().crl(Crl::Root))
        .allow_app(AppRule::new(AppId::new(SHOP).unwrap()))
        .build()
        .unwrap();
    let gate = Gate::builder(
        Policy::from_verifier(verifier)
            .with_forwarded(kind.forwarded())
            .unwrap(),
    )
    .clock(|| NOW)
    .build()
    .unwrap();
    let app = Router::new()
        .route("/", get(whoami))
        .layer(CertGateLayer::new(gate));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

// ---------------------------------------------------------------------------
// the client

/// The client's clock for checking the proxy's certificate: the fixture's `NOW`.
#[derive(Debug)]
struct FixedTime;

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(NOW)
    }
}

/// A client trusting the fixture root (the proxy's server certificate), presenting `leaf`'s
/// chain (or nothing).
fn client_config(leaf: Option<Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki().root()).unwrap();
    let builder = ClientConfig::builder_with_details(
        Arc::new(rustls::crypto::ring::default_provider()),
        Arc::new(FixedTime),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match leaf.map(|l| pki().leaf(l)) {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A response off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    /// The rejection's reason code (the JSON body's `code`).
    fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not a JSON rejection ({e}): {self:?}"));
        body["code"].as_str().unwrap().to_owned()
    }
}

/// One HTTP/1.1 request (`Connection: close`) with `extra` header lines, the whole response.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    extra: &[(&str, &str)],
) -> Reply {
    let mut request = format!("GET / HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tokio::time::timeout(STEP, stream.write_all(request.as_bytes()))
        .await
        .expect("write timed out")
        .unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("read timed out")
        {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            // A peer closing without close_notify: the response is complete by then.
            Err(_) if !raw.is_empty() => break,
            Err(e) => panic!("read failed: {e}"),
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply { status, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// A request through `proxy` over TLS, presenting `leaf` (or nothing), with `extra` headers.
async fn through(proxy: &Proxy, leaf: Option<Leaf>, extra: &[(&str, &str)]) -> Reply {
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(proxy.addr))
        .await
        .expect("connect timed out")
        .unwrap();
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let tls = tokio::time::timeout(
        STEP,
        TlsConnector::from(client_config(leaf)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake timed out")
    .unwrap_or_else(|e| panic!("TLS to {:?}: {e}\n{}", proxy.kind, proxy.logs()));
    exchange(tls, extra).await
}

/// A plain-HTTP request straight to the backend from 127.0.0.2 (not a trusted proxy).
async fn straight(backend: SocketAddr, extra: &[(&str, &str)]) -> Reply {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let tcp = tokio::time::timeout(STEP, socket.connect(backend))
        .await
        .expect("connect timed out")
        .unwrap();
    assert_eq!(tcp.local_addr().unwrap().ip().to_string(), "127.0.0.2");
    exchange(tcp, extra).await
}

// ---------------------------------------------------------------------------
// the matrix

async fn matrix(kind: Kind) {
    let backend = start_backend(kind).await;
    let proxy = start_proxy(kind, backend);
    let ctx = |what: &str, reply: &Reply| format!("{kind:?}, {what}: {reply:?}\n{}", proxy.logs());

    let genuine = through(&proxy, Some(Leaf::Genuine), &[]).await;
    assert_eq!(genuine.status, 200, "{}", ctx("genuine", &genuine));
    assert_eq!(
        genuine.body,
        format!("app={SHOP}"),
        "{}",
        ctx("genuine", &genuine)
    );

    let revoked = through(&proxy, Some(Leaf::Revoked), &[]).await;
    assert_eq!(revoked.status, 403, "{}", ctx("revoked", &revoked));
    assert_eq!(revoked.code(), "revoked", "{}", ctx("revoked", &revoked));

    let other = through(&proxy, Some(Leaf::OtherApp), &[]).await;
    assert_eq!(other.status, 403, "{}", ctx("other app", &other));
    assert_eq!(
        other.code(),
        "app_not_allowed",
        "{}",
        ctx("other app", &other)
    );

    let none = through(&proxy, None, &[]).await;
    assert_eq!(none.status, 401, "{}", ctx("no certificate", &none));
    assert_eq!(
        none.code(),
        "no_certificate",
        "{}",
        ctx("no certificate", &none)
    );

    // The spoof: the genuine app's certificate, encoded exactly as the proxy would forward it.
    let spoof = kind.encode(pki().leaf(Leaf::Genuine));
    let spoofed = [(kind.header(), spoof.as_str())];

    let through_no_cert = through(&proxy, None, &spoofed).await;
    assert_eq!(
        through_no_cert.status,
        401,
        "{}",
        ctx("spoof through the proxy, no certificate", &through_no_cert)
    );
    assert_eq!(through_no_cert.code(), "no_certificate");

    let through_other = through(&proxy, Some(Leaf::OtherApp), &spoofed).await;
    assert_eq!(
        through_other.status,
        403,
        "{}",
        ctx(
            "spoof through the proxy, other app's certificate",
            &through_other
        )
    );
    assert_eq!(through_other.code(), "app_not_allowed");

    let direct = straight(backend, &spoofed).await;
    assert_eq!(
        direct.status,
        401,
        "{}",
        ctx("spoof straight to the backend", &direct)
    );
    assert_eq!(direct.code(), "no_certificate");

    // Control: the same spoofed value is a valid forwarded certificate for this backend — from
    // a trusted address it would be believed (so the refusals above are the trust rule).
    let trusted = exchange(TcpStream::connect(backend).await.unwrap(), &spoofed).await;
    assert_eq!(
        trusted.status,
        200,
        "{}",
        ctx("control from 127.0.0.1", &trusted)
    );
    assert_eq!(trusted.body, format!("app={SHOP}"));

    // The proxy is still up (no crash along the way).
    let again = through(&proxy, Some(Leaf::Genuine), &[]).await;
    assert_eq!(again.status, 200, "{}", ctx("genuine again", &again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_forwards_the_client_certificate() {
    matrix(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_forwards_the_client_certificate() {
    matrix(Kind::Haproxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forwards_the_client_certificate() {
    matrix(Kind::Caddy).await;
}
