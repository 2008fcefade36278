//! A server identity for loopback TLS tests and a rustls client speaking HTTP/1.1 by hand, so
//! one keep-alive connection carries several requests (and a revocation can be seen on it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const STEP: Duration = Duration::from_secs(10);

/// The server's CA (what clients trust) and its leaf for 127.0.0.1 and localhost.
pub struct ServerPki {
    pub ca: CertificateDer<'static>,
    /// The CA as PEM, for curl's `--cacert`.
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn server_pki() -> ServerPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test server CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let key = KeyPair::generate().unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    ServerPki {
        ca: ca_cert.der().clone(),
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// An HTTP/1.1 keep-alive connection over rustls.
pub struct Http1 {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

impl Http1 {
    /// Connects to `addr`, trusting `server_ca`, presenting `client` (chain and key) if given.
    pub async fn connect(
        addr: SocketAddr,
        server_ca: &CertificateDer<'static>,
        client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Self {
        Self::connect_from(None, addr, server_ca, client).await
    }

    /// [`Http1::connect`] from the local address `from` (any of 127.0.0.0/8 on Linux).
    pub async fn connect_from(
        from: Option<IpAddr>,
        addr: SocketAddr,
        server_ca: &CertificateDer<'static>,
        client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(server_ca.clone()).unwrap();
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let mut config = match client {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = match from {
            None => within("TCP connect", TcpStream::connect(addr))
                .await
                .unwrap(),
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(ip, 0)).unwrap();
                within("TCP connect", socket.connect(addr)).await.unwrap()
            }
        };
        let name = ServerName::IpAddress(addr.ip().into());
        let tls = within(
            "TLS connect",
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .unwrap();
        Self {
            tls,
            buf: Vec::new(),
        }
    }

    /// Sends one request and reads its response.
    pub async fn request(&mut self, method: &str, path: &str, body: &str) -> Reply {
        within("HTTP/1.1 exchange", self.exchange(method, path, body)).await
    }

    async fn exchange(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.tls.write_all(request.as_bytes()).await.unwrap();
        self.tls.flush().await.unwrap();
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        let length: usize = head
            .split("\r\n")
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no content-length: {head}"));
        while self.buf.len() < head_end + length {
            self.fill().await;
        }
        let body = String::from_utf8(self.buf[head_end..head_end + length].to_vec()).unwrap();
        self.buf.drain(..head_end + length);
        Reply { status, head, body }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = self.tls.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}
