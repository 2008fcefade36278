//! The `[forwarded]` configuration and the trusted-proxy rule.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::{HeaderMap, HeaderName};
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use super::{ForwardedFormat, ForwardedLimits, address};

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare address
/// is a single host (`/32` or `/128`). Host bits must be zero (`10.0.0.1/8` is refused as a
/// likely typo).
///
/// ```
/// use certgate::forwarded::Cidr;
/// let net: Cidr = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// assert!(net.contains("::ffff:10.1.2.3".parse().unwrap())); // IPv4-mapped
/// assert!(!net.contains("11.0.0.1".parse().unwrap()));
/// assert!("10.0.0.1/8".parse::<Cidr>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// The network's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a
    /// dual-stack socket reports) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_u32(u32::from(ip), self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_u128(u128::from(ip), self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_u32(value: u32, prefix: u8) -> u32 {
    value
        & u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(prefix)))
            .unwrap_or(0)
}

fn mask_u128(value: u128, prefix: u8) -> u128 {
    value
        & u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(prefix)))
            .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!(
                "{:?} is not an IP address",
                crate::rejection::bounded_to(addr_text, 64)
            )
        })?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix_text {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("the prefix length must be between 0 and {max}"))?,
            Some(_) => return Err(format!("the prefix length must be between 0 and {max}")),
        };
        let masked = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask_u32(u32::from(a), prefix_len).into()),
            IpAddr::V6(a) => IpAddr::V6(mask_u128(u128::from(a), prefix_len).into()),
        };
        if masked != addr {
            return Err(format!(
                "{text} has host bits set (the network is {masked}/{prefix_len})"
            ));
        }
        Ok(Self { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Where the client address for events comes from, when the request came from a trusted
/// proxy (`client_address` in `[forwarded]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ClientAddressSource {
    /// The rightmost `X-Forwarded-For` entry that is not a trusted proxy.
    XForwardedFor,
    /// The rightmost RFC 7239 `Forwarded` `for=` node that is not a trusted proxy.
    Forwarded,
    /// The TCP peer (the proxy) itself. The default.
    #[default]
    None,
}

/// A name a proxy's own TLS client certificate must carry (a SAN URI such as
/// `spiffe://prod/edge`, or a DNS name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyName {
    /// A SAN URI, compared exactly.
    Uri(String),
    /// A SAN DNS name, compared case-insensitively.
    Dns(String),
}

impl FromStr for ProxyName {
    type Err = String;

    /// A value with a scheme (`scheme:...`, for example `spiffe://prod/edge`) is a URI;
    /// anything else must be a DNS name.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.len() > 2048 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces, at most 2048 bytes".into());
        }
        if let Some((scheme, rest)) = text.split_once(':') {
            let mut chars = scheme.bytes();
            let scheme_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
                && chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if !scheme_ok || rest.is_empty() {
                return Err(format!(
                    "{:?} is neither a URI nor a DNS name",
                    crate::rejection::bounded_to(text, 64)
                ));
            }
            return Ok(Self::Uri(text.to_owned()));
        }
        rustls_pki_types::DnsName::try_from(text).map_err(|_| {
            format!(
                "{:?} is neither a URI nor a DNS name",
                crate::rejection::bounded_to(text, 64)
            )
        })?;
        if text.parse::<IpAddr>().is_ok() {
            return Err("an IP address is not a proxy name".into());
        }
        Ok(Self::Dns(text.to_ascii_lowercase()))
    }
}

/// Mesh trust: a connection whose own TLS client certificate chains to one of `anchors` and
/// names one of `allow` is a trusted proxy, wherever it connects from. The chain is verified
/// by a verifier of its own (these anchors only, the strict profile, clientAuth, validity at
/// the gate's clock); a SAN URI must equal an allowed URI, a SAN DNS name an allowed DNS name
/// (ASCII case-insensitively). The layer decides once per connection and policy generation.
/// It needs the connection's TLS chain ([`TlsConnectInfo`](crate::TlsConnectInfo)): a request
/// with only a bare [`PeerChain`](crate::PeerChain) is never trusted by identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyIdentity {
    anchor_files: Vec<String>,
    anchors: Vec<CertificateDer<'static>>,
    allow: Vec<ProxyName>,
}

impl ProxyIdentity {
    /// An empty proxy identity: add at least one anchor and one allowed name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trust anchor for proxies' certificates (DER).
    pub fn anchor(mut self, cert: CertificateDer<'static>) -> Self {
        self.anchors.push(cert);
        self
    }

    /// Allows a proxy name.
    pub fn allow(mut self, name: ProxyName) -> Self {
        self.allow.push(name);
        self
    }

    /// The anchor files as the policy names them (empty when built in code).
    pub fn anchor_files(&self) -> &[String] {
        &self.anchor_files
    }

    /// The anchors' certificates (loaded from [`ProxyIdentity::anchor_files`] by the policy).
    pub fn anchors(&self) -> &[CertificateDer<'static>] {
        &self.anchors
    }

    /// The allowed proxy names.
    pub fn allowed(&self) -> &[ProxyName] {
        &self.allow
    }

    pub(crate) fn push_anchor(&mut self, cert: CertificateDer<'static>) {
        self.anchors.push(cert);
    }
}

/// How a deployment behind a TLS-terminating proxy forwards client certificates: the format,
/// the header, and which proxies may send it. Read from the policy's `[forwarded]` section
/// ([`Policy::forwarded`](crate::Policy::forwarded)) or built in code.
///
/// ```
/// use certgate::forwarded::{ClientAddressSource, ForwardedConfig, ForwardedFormat};
/// let config = ForwardedConfig::new(ForwardedFormat::Nginx)
///     .trust_proxy("127.0.0.1/32".parse().unwrap())
///     .client_address(ClientAddressSource::XForwardedFor);
/// assert!(config.is_trusted("127.0.0.1".parse().unwrap()));
/// assert!(!config.is_trusted("192.0.2.1".parse().unwrap()));
/// assert_eq!(config.consumed_headers(), ["x-client-cert"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ForwardedSection")]
pub struct ForwardedConfig {
    format: ForwardedFormat,
    header: Option<HeaderName>,
    trusted_proxies: Vec<Cidr>,
    client_address: ClientAddressSource,
    proxy_identity: Option<ProxyIdentity>,
    limits: ForwardedLimits,
}

impl ForwardedConfig {
    /// `format` with its default header, no trusted proxy yet, the client address from the
    /// TCP peer, and the default limits.
    pub fn new(format: ForwardedFormat) -> Self {
        Self {
            format,
            header: None,
            trusted_proxies: Vec::new(),
            client_address: ClientAddressSource::None,
            proxy_identity: None,
            limits: ForwardedLimits::default(),
        }
    }

    /// Reads the certificate from `header` instead of the format's default (for `rfc9440`,
    /// the `Client-Cert` header; `Client-Cert-Chain` keeps its name; for `aws_alb`, one header
    /// replacing both of ALB's).
    ///
    /// # Errors
    ///
    /// A message when the name is one the layer must never strip or read as a certificate
    /// (`host`, `authorization`, `cookie`, hop-by-hop and framing headers, the client-address
    /// headers).
    pub fn header(mut self, header: HeaderName) -> Result<Self, String> {
        check_header_name(&header)?;
        self.header = Some(header);
        Ok(self)
    }

    /// Trusts requests whose TCP peer is in `net`.
    pub fn trust_proxy(mut self, net: Cidr) -> Self {
        self.trusted_proxies.push(net);
        self
    }

    /// Where the client address comes from.
    pub fn client_address(mut self, source: ClientAddressSource) -> Self {
        self.client_address = source;
        self
    }

    /// Trusts connections whose own TLS client certificate is an allowed proxy's (see
    /// [`ProxyIdentity`]); [`Policy::with_forwarded`](crate::Policy::with_forwarded) compiles it.
    pub fn proxy_identity(mut self, identity: ProxyIdentity) -> Self {
        self.proxy_identity = Some(identity);
        self
    }

    /// Replaces the header size and chain length limits.
    pub fn limits(mut self, limits: ForwardedLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The format.
    pub fn format(&self) -> ForwardedFormat {
        self.format
    }

    /// The custom header name, if one is set.
    pub fn custom_header(&self) -> Option<&HeaderName> {
        self.header.as_ref()
    }

    /// The trusted proxy networks.
    pub fn trusted_proxies(&self) -> &[Cidr] {
        &self.trusted_proxies
    }

    /// Where the client address comes from.
    pub fn client_address_source(&self) -> ClientAddressSource {
        self.client_address
    }

    /// The proxy identity rule, if any.
    pub fn proxy_identity_rule(&self) -> Option<&ProxyIdentity> {
        self.proxy_identity.as_ref()
    }

    /// The parsing limits.
    pub fn parse_limits(&self) -> &ForwardedLimits {
        &self.limits
    }

    pub(crate) fn proxy_identity_mut(&mut self) -> Option<&mut ProxyIdentity> {
        self.proxy_identity.as_mut()
    }

    /// Whether a request whose TCP peer is `peer` may carry the forwarded header (by address;
    /// a proxy identity is checked by the layer on the connection's own certificate).
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(peer))
    }

    /// The header names this configuration reads a certificate from, lower case: the layer
    /// removes them from every request (from an untrusted peer: ignored and removed; from a
    /// trusted proxy: consumed and removed).
    pub fn consumed_headers(&self) -> Vec<HeaderName> {
        match (&self.header, self.format) {
            (Some(custom), ForwardedFormat::Rfc9440) => {
                vec![
                    custom.clone(),
                    HeaderName::from_static(super::CLIENT_CERT_CHAIN),
                ]
            }
            (Some(custom), _) => vec![custom.clone()],
            (None, format) => format
                .default_headers()
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
        }
    }

    /// The client address for events: for a request from a trusted proxy (by address), read
    /// from its `Forwarded` or `X-Forwarded-For` header as configured; otherwise, and with
    /// `client_address = "none"`, the TCP peer itself. Never from a client: see
    /// [`ForwardedConfig::client_address_via`].
    pub fn client_address_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.is_trusted(peer) {
            self.client_address_via(peer, headers)
        } else {
            peer
        }
    }

    /// The client address stated by `proxy`, which the caller has established is trusted (by
    /// address or by proxy identity). Reads the configured header right to left and returns
    /// the first address that is not in `trusted_proxies`; every address to its right was
    /// written by a trusted proxy. When it meets an entry that names no address (`unknown`, an
    /// obfuscated name, garbage), or every entry is trusted, it returns the last trusted
    /// address it passed (at worst `proxy` itself), never an address only a client wrote.
    pub fn client_address_via(&self, proxy: IpAddr, headers: &HeaderMap) -> IpAddr {
        let (name, nodes) = match self.client_address {
            ClientAddressSource::None => return proxy,
            ClientAddressSource::XForwardedFor => ("x-forwarded-for", None),
            ClientAddressSource::Forwarded => ("forwarded", Some(())),
        };
        let Some(joined) = joined_lines(headers, name, self.limits.max_header_bytes) else {
            return proxy;
        };
        let nodes = match nodes {
            None => address::x_forwarded_for(&joined),
            Some(()) => match address::forwarded_for(&joined) {
                Some(nodes) => nodes,
                None => return proxy,
            },
        };
        let mut current = proxy;
        for node in nodes.iter().rev() {
            match node {
                Some(ip) if self.is_trusted(*ip) => current = *ip,
                Some(ip) => return *ip,
                None => return current,
            }
        }
        current
    }
}

/// Every field line of `name` joined by `,` (how HTTP combines list-valued fields); `None`
/// when absent or larger than `max` in total.
pub(super) fn joined_lines(headers: &HeaderMap, name: &str, max: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    for value in headers.get_all(name) {
        if !out.is_empty() {
            out.push(b',');
        }
        if out.len().saturating_add(value.len()) > max {
            return None;
        }
        out.extend_from_slice(value.as_bytes());
    }
    (!out.is_empty()).then_some(out)
}

/// Header names that may never carry a certificate: the layer strips the consumed headers,
/// and these mean something else to every server.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

fn check_header_name(name: &HeaderName) -> Result<(), String> {
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "{} cannot carry a forwarded certificate",
            name.as_str()
        ));
    }
    Ok(())
}

/// The `[forwarded]` section as written (exact names; unknown fields refused).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardedSection {
    format: ForwardedFormat,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    client_address: ClientAddressSource,
    #[serde(default)]
    proxy_identity: Option<ProxyIdentitySection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyIdentitySection {
    anchors: Vec<String>,
    allow: Vec<String>,
}

impl ForwardedSection {
    /// Validates everything but the anchor files (which the policy reads). Errors name the
    /// field relative to the section, for example `trusted_proxies[1]`.
    pub(crate) fn validate(self) -> Result<ForwardedConfig, (String, String)> {
        let mut config = ForwardedConfig::new(self.format).client_address(self.client_address);
        if let Some(header) = self.header {
            let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                (
                    "header".to_owned(),
                    format!(
                        "{:?} is not a header name",
                        crate::rejection::bounded_to(&header, 64)
                    ),
                )
            })?;
            config = config.header(name).map_err(|e| ("header".to_owned(), e))?;
        }
        for (i, text) in self.trusted_proxies.iter().enumerate() {
            let net = text
                .parse::<Cidr>()
                .map_err(|e| (format!("trusted_proxies[{i}]"), e))?;
            config = config.trust_proxy(net);
        }
        if let Some(section) = self.proxy_identity {
            if section.anchors.is_empty() {
                return Err((
                    "proxy_identity.anchors".into(),
                    "at least one anchor is required".into(),
                ));
            }
            if section.allow.is_empty() {
                return Err((
                    "proxy_identity.allow".into(),
                    "at least one proxy name is required (an empty allowlist would trust every certificate under the anchors)".into(),
                ));
            }
            let mut identity = ProxyIdentity {
                anchor_files: section.anchors,
                ..ProxyIdentity::default()
            };
            for (i, text) in section.allow.iter().enumerate() {
                let name = text
                    .parse::<ProxyName>()
                    .map_err(|e| (format!("proxy_identity.allow[{i}]"), e))?;
                identity = identity.allow(name);
            }
            config = config.proxy_identity(identity);
        }
        if config.trusted_proxies.is_empty() && config.proxy_identity.is_none() {
            return Err((
                "trusted_proxies".into(),
                "at least one trusted proxy network (or a proxy_identity) is required".into(),
            ));
        }
        Ok(config)
    }
}

impl TryFrom<ForwardedSection> for ForwardedConfig {
    type Error = String;

    /// Validates a section read on its own (not from a policy file): proxy identity anchor
    /// files are not read, so [`ProxyIdentity::anchors`] stays empty.
    fn try_from(section: ForwardedSection) -> Result<Self, Self::Error> {
        section
            .validate()
            .map_err(|(field, message)| format!("forwarded.{field}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("255.1.2.3".parse().unwrap()));
        let host: Cidr = "::1".parse().unwrap();
        assert_eq!(host.prefix_len(), 128);
        assert!(host.contains("::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/08x",
            "x/8",
            "10.0.0.1/24",
            "",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn proxy_names() {
        assert_eq!(
            "spiffe://prod/edge".parse(),
            Ok(ProxyName::Uri("spiffe://prod/edge".into()))
        );
        assert_eq!(
            "Edge.Example.com".parse(),
            Ok(ProxyName::Dns("edge.example.com".into()))
        );
        for bad in ["", "a b", "1.2.3.4", "://x", "x:", "bad_name!"] {
            assert!(bad.parse::<ProxyName>().is_err(), "{bad}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn client_address_is_the_rightmost_untrusted_hop() {
        let config = ForwardedConfig::new(ForwardedFormat::Nginx)
            .trust_proxy("10.0.0.0/8".parse().unwrap())
            .client_address(ClientAddressSource::XForwardedFor);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("x-forwarded-for", "10.2.2.2"),
        ]);
        assert_eq!(
            config.client_address_of(proxy, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // From an untrusted peer: the header is never read.
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(config.client_address_of(client, &h), client);
        // Garbage right of any untrusted address: the last trusted hop.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, junk, 10.3.3.3")]);
        assert_eq!(
            config.client_address_of(proxy, &h),
            "10.3.3.3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(config.client_address_of(proxy, &HeaderMap::new()), proxy);

        let config = config.client_address(ClientAddressSource::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:443\";proto=https, for=10.9.9.9",
        )]);
        assert_eq!(
            config.client_address_of(proxy, &h),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("forwarded", "for=6.6.6.6, for=unknown")]);
        assert_eq!(config.client_address_of(proxy, &h), proxy);
        let h = headers(&[("forwarded", "for=6.6.6.6 garbage")]);
        assert_eq!(config.client_address_of(proxy, &h), proxy);

        let config = config.client_address(ClientAddressSource::None);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(config.client_address_of(proxy, &h), proxy);
    }

    #[test]
    fn reserved_headers_cannot_be_configured() {
        let config = ForwardedConfig::new(ForwardedFormat::Haproxy);
        assert!(
            config
                .clone()
                .header(HeaderName::from_static("authorization"))
                .is_err()
        );
        assert!(config.header(HeaderName::from_static("x-ssl-cert")).is_ok());
    }
}
