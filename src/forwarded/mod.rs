//! Client certificates forwarded by a trusted TLS-terminating proxy, and the trusted-proxy
//! rule.
//!
//! Behind AWS ALB, Cloudflare, Envoy, nginx, HAProxy, Traefik or Azure the backend never sees
//! the handshake: the proxy forwards the client certificate in a header. This module turns
//! such a header into a [`PeerChain`], judged afterwards by the same
//! [`Verifier`](crate::Verifier) as a TLS chain. It is pure: no I/O, no clock.
//!
//! - One parser per format ([`ForwardedFormat`]), each bounded by [`ForwardedLimits`]
//!   (header bytes and certificates counted before anything is decoded) and never panicking.
//! - [`ForwardedConfig`]: the format, its header, the trusted proxy networks
//!   ([`ForwardedConfig::is_trusted`]), the client address rule
//!   ([`ForwardedConfig::client_address_of`]) and the headers to strip
//!   ([`ForwardedConfig::consumed_headers`]).
//! - Errors are [`ForwardedError`]s with a stable [`ForwardedError::code`]; they become the
//!   reason codes `malformed_forwarded_certificate` and `forwarded_mismatch`
//!   ([`ForwardedError::to_rejection`]).
//!
//! A proxy's own verdict headers (`cf-cert-verified`, ALB's verify-mode fields, …) are never
//! read: the certificate itself is re-verified.
//!
//! ```
//! use certgate::forwarded::{ForwardedConfig, ForwardedFormat};
//! use http::HeaderMap;
//!
//! let config = ForwardedConfig::new(ForwardedFormat::Cloudflare)
//!     .trust_proxy("173.245.48.0/20".parse().unwrap());
//! let peer = "173.245.48.7".parse().unwrap();
//! assert!(config.is_trusted(peer));
//! // No header: no forwarded chain (the request is judged on its own TLS chain).
//! assert!(config.extract(&HeaderMap::new()).unwrap().is_none());
//! let mut headers = HeaderMap::new();
//! headers.insert("cf-client-cert-der-base64", "bm90IGEgY2VydA==".parse().unwrap());
//! let err = config.extract(&headers).unwrap_err();
//! assert_eq!(err.to_rejection().code(), "malformed_forwarded_certificate");
//! ```

use http::HeaderMap;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::peer_chain::PeerChain;
use crate::rejection::Rejection;

mod address;
mod config;
mod encoding;
mod rfc9440;
mod xfcc;

pub(crate) use self::config::ForwardedSection;
pub use self::config::{Cidr, ClientAddressSource, ForwardedConfig, ProxyIdentity, ProxyName};
pub use self::rfc9440::parse_rfc9440;
pub use self::xfcc::{XfccElement, parse_xfcc, parse_xfcc_elements};

const CLIENT_CERT_CHAIN: &str = "client-cert-chain";

/// The header formats proxies forward client certificates in (`format` in `[forwarded]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ForwardedFormat {
    /// Envoy, Istio, Contour, Consul: `x-forwarded-client-cert`; `Cert`/`Chain` URL-encoded
    /// PEM, `Hash` checked against the leaf; only the last element is believed.
    Xfcc,
    /// RFC 9440 `Client-Cert` (the leaf) and `Client-Cert-Chain` (the rest): byte sequences.
    Rfc9440,
    /// AWS ALB: `X-Amzn-Mtls-Clientcert` (passthrough, the whole chain) or
    /// `X-Amzn-Mtls-Clientcert-Leaf` (verify mode, the leaf); URL-encoded PEM.
    AwsAlb,
    /// Cloudflare: `Cf-Client-Cert-Der-Base64`, the leaf as base64 DER.
    Cloudflare,
    /// nginx: a header set to `$ssl_client_escaped_cert` (URL-encoded PEM of the leaf);
    /// default `x-client-cert`.
    Nginx,
    /// Traefik: `X-Forwarded-Tls-Client-Cert`, base64 DER per certificate joined by `,`.
    Traefik,
    /// HAProxy: a header set to `%[ssl_c_der,base64]`; default `x-ssl-client-cert`.
    Haproxy,
    /// Azure App Service: `X-ARR-ClientCert`, base64 DER.
    Azure,
}

impl ForwardedFormat {
    /// Every format.
    pub const ALL: [Self; 8] = [
        Self::Xfcc,
        Self::Rfc9440,
        Self::AwsAlb,
        Self::Cloudflare,
        Self::Nginx,
        Self::Traefik,
        Self::Haproxy,
        Self::Azure,
    ];

    /// The name used in the policy file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Xfcc => "xfcc",
            Self::Rfc9440 => "rfc9440",
            Self::AwsAlb => "aws_alb",
            Self::Cloudflare => "cloudflare",
            Self::Nginx => "nginx",
            Self::Traefik => "traefik",
            Self::Haproxy => "haproxy",
            Self::Azure => "azure",
        }
    }

    /// The headers read by default, lower case.
    pub const fn default_headers(self) -> &'static [&'static str] {
        match self {
            Self::Xfcc => &["x-forwarded-client-cert"],
            Self::Rfc9440 => &["client-cert", CLIENT_CERT_CHAIN],
            Self::AwsAlb => &["x-amzn-mtls-clientcert", "x-amzn-mtls-clientcert-leaf"],
            Self::Cloudflare => &["cf-client-cert-der-base64"],
            Self::Nginx => &["x-client-cert"],
            Self::Traefik => &["x-forwarded-tls-client-cert"],
            Self::Haproxy => &["x-ssl-client-cert"],
            Self::Azure => &["x-arr-clientcert"],
        }
    }
}

impl std::fmt::Display for ForwardedFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ceilings checked before a forwarded header is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardedLimits {
    /// Most bytes of certificate headers in one request, every consumed header and field line
    /// together. Default 64 KiB (a 32 KiB chain, the verifier's default ceiling, is about
    /// 45 KiB as URL-encoded PEM).
    pub max_header_bytes: usize,
    /// Most certificates in one forwarded chain. Default 16 (the highest
    /// `limits.max_chain_len` a policy may set; the verifier then applies the policy's own).
    pub max_certificates: usize,
}

impl Default for ForwardedLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_certificates: 16,
        }
    }
}

impl ForwardedLimits {
    fn check_bytes(&self, bytes: usize) -> Result<(), ForwardedError> {
        if bytes > self.max_header_bytes {
            return Err(ForwardedError::TooLarge {
                bytes,
                max: self.max_header_bytes,
            });
        }
        Ok(())
    }
}

/// A forwarded header that cannot be believed. [`ForwardedError::code`] is stable; every
/// error maps to a [`Rejection`] with [`ForwardedError::to_rejection`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardedError {
    /// The certificate headers are larger than [`ForwardedLimits::max_header_bytes`].
    #[error("the forwarded certificate headers are {bytes} bytes, over the limit of {max}")]
    TooLarge {
        /// Their size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// More certificates than [`ForwardedLimits::max_certificates`].
    #[error("the forwarded chain has {count} certificates or more, over the limit of {max}")]
    TooManyCertificates {
        /// How many were counted (at least).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A single-valued certificate header came more than once, or two alternative headers
    /// came together.
    #[error("the header {header} came more than once (or with an alternative)")]
    DuplicateHeader {
        /// The header.
        header: String,
    },
    /// The header does not follow its format's grammar.
    #[error("forwarded certificate header syntax: {detail}")]
    Syntax {
        /// What is wrong.
        detail: String,
    },
    /// Bad percent or base64 encoding.
    #[error("forwarded certificate encoding: {detail}")]
    Encoding {
        /// What is wrong.
        detail: String,
    },
    /// Bad PEM.
    #[error("forwarded certificate PEM: {detail}")]
    Pem {
        /// What is wrong.
        detail: String,
    },
    /// The decoded bytes are not one DER certificate (a SEQUENCE).
    #[error("forwarded certificate DER: {detail}")]
    NotACertificate {
        /// What is wrong.
        detail: String,
    },
    /// The header is present but carries no certificate (XFCC with `Hash` only, a
    /// `Client-Cert-Chain` without `Client-Cert`).
    #[error("no certificate in the forwarded header: {detail}")]
    MissingCertificate {
        /// What is missing.
        detail: String,
    },
    /// The header contradicts itself: XFCC `Hash` is not the SHA-256 of the leaf, or `Cert`
    /// is not the first certificate of `Chain`.
    #[error("the forwarded header contradicts itself: {detail}")]
    Mismatch {
        /// What disagrees.
        detail: String,
    },
}

impl ForwardedError {
    /// Stable snake_case code (finer than the reason code, for events and tests).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "header_too_large",
            Self::TooManyCertificates { .. } => "too_many_certificates",
            Self::DuplicateHeader { .. } => "duplicate_header",
            Self::Syntax { .. } => "syntax",
            Self::Encoding { .. } => "encoding",
            Self::Pem { .. } => "pem",
            Self::NotACertificate { .. } => "not_der",
            Self::MissingCertificate { .. } => "no_certificate_in_header",
            Self::Mismatch { .. } => "mismatch",
        }
    }

    /// The rejection: `forwarded_mismatch` for [`ForwardedError::Mismatch`],
    /// `malformed_forwarded_certificate` for every other error (both 403).
    pub fn to_rejection(&self) -> Rejection {
        let detail = crate::rejection::bounded(&self.to_string());
        match self {
            Self::Mismatch { .. } => Rejection::ForwardedMismatch { detail },
            _ => Rejection::MalformedForwardedCertificate { detail },
        }
    }
}

impl ForwardedError {
    /// The same error, its detail saying which list member (0-based) it is about. Built only
    /// on the error path.
    fn at_index(self, i: usize) -> Self {
        let add = |detail: String| format!("{detail} (member {i})");
        match self {
            Self::Syntax { detail } => Self::Syntax {
                detail: add(detail),
            },
            Self::Encoding { detail } => Self::Encoding {
                detail: add(detail),
            },
            Self::NotACertificate { detail } => Self::NotACertificate {
                detail: add(detail),
            },
            other => other,
        }
    }
}

impl From<ForwardedError> for Rejection {
    fn from(err: ForwardedError) -> Self {
        err.to_rejection()
    }
}

/// The certificates a header carried (leaf first) and, for XFCC, the SHA-256 of the leaf the
/// proxy stated (`Hash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedCertificates {
    certs: Vec<CertificateDer<'static>>,
    leaf_sha256: Option<[u8; 32]>,
}

impl ForwardedCertificates {
    /// The certificates, leaf first (for leaf-only formats, just the leaf: the policy's
    /// `trust.intermediates` complete the path).
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The leaf's SHA-256 as the proxy stated it (XFCC `Hash`), if it did.
    pub fn stated_leaf_sha256(&self) -> Option<[u8; 32]> {
        self.leaf_sha256
    }

    /// Checks the stated leaf hash, if any, against the leaf.
    ///
    /// # Errors
    ///
    /// [`ForwardedError::Mismatch`] when they differ.
    pub fn check(&self) -> Result<(), ForwardedError> {
        match (self.leaf_sha256, self.certs.first()) {
            (Some(stated), Some(leaf)) => {
                let actual: [u8; 32] = Sha256::digest(leaf.as_ref()).into();
                if actual != stated {
                    return Err(ForwardedError::Mismatch {
                        detail: format!(
                            "XFCC Hash {} is not the SHA-256 of the leaf ({})",
                            crate::hex(&stated),
                            crate::hex(&actual)
                        ),
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The chain for the verifier, after [`ForwardedCertificates::check`].
    ///
    /// # Errors
    ///
    /// [`ForwardedError::Mismatch`] when the stated leaf hash is wrong.
    pub fn into_peer_chain(self) -> Result<PeerChain, ForwardedError> {
        self.check()?;
        Ok(PeerChain::new(self.certs))
    }
}

/// Percent-encoded PEM, one or more certificates in order (AWS ALB, nginx
/// `$ssl_client_escaped_cert`, CloudFront). `+`, `=` and `/` may be escaped or not.
///
/// # Errors
///
/// [`ForwardedError::TooLarge`] and [`ForwardedError::TooManyCertificates`] before decoding;
/// [`ForwardedError::Encoding`], [`ForwardedError::Pem`], [`ForwardedError::NotACertificate`].
pub fn parse_url_encoded_pem(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<ForwardedCertificates, ForwardedError> {
    limits.check_bytes(value.len())?;
    Ok(plain(encoding::url_encoded_pem(value, limits)?))
}

/// Base64 DER: one certificate, or several DER certificates concatenated (Cloudflare,
/// HAProxy `%[ssl_c_der,base64]` or `%[ssl_c_chain_der,base64]`, Azure `X-ARR-ClientCert`).
///
/// # Errors
///
/// As [`parse_url_encoded_pem`].
pub fn parse_base64_der(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<ForwardedCertificates, ForwardedError> {
    limits.check_bytes(value.len())?;
    // A DER certificate is at least 2 bytes; base64 of a chain of n of them is longer than
    // 4n/3 characters, so the count is bounded before decoding by the byte limit alone.
    Ok(plain(encoding::base64_der(value, limits)?))
}

/// Base64 DER per certificate joined by `,`, leaf first (Traefik).
///
/// # Errors
///
/// As [`parse_url_encoded_pem`].
pub fn parse_comma_joined_base64(
    value: &[u8],
    limits: &ForwardedLimits,
) -> Result<ForwardedCertificates, ForwardedError> {
    limits.check_bytes(value.len())?;
    Ok(plain(encoding::comma_joined_base64(value, limits)?))
}

fn plain(certs: Vec<CertificateDer<'static>>) -> ForwardedCertificates {
    ForwardedCertificates {
        certs,
        leaf_sha256: None,
    }
}

impl ForwardedConfig {
    /// The forwarded chain of a request, for a request the caller has established came from
    /// a trusted proxy ([`ForwardedConfig::is_trusted`] or a proxy identity). `Ok(None)` when
    /// the header is absent or empty (no client certificate: not an error).
    ///
    /// The XFCC `Hash` is checked. Field lines of list-valued headers (XFCC,
    /// `Client-Cert-Chain`) are joined with `,` in order, so the last XFCC element is still the
    /// nearest proxy's; any other certificate header given twice is refused, as are ALB's two
    /// headers together.
    ///
    /// # Errors
    ///
    /// A [`ForwardedError`]; the size limit applies to all consumed headers together, before
    /// any parsing.
    pub fn extract(&self, headers: &HeaderMap) -> Result<Option<PeerChain>, ForwardedError> {
        match self.extract_certificates(headers)? {
            Some(certs) => certs.into_peer_chain().map(Some),
            None => Ok(None),
        }
    }

    /// The exact bytes [`ForwardedConfig::extract`] reads from `headers` (every value of every
    /// consumed header, length-prefixed, in order), as a cache key: equal keys mean equal
    /// input, so the same configuration extracts the same chain. `None` when the headers are
    /// over the size limit (they are refused by `extract`, never cached).
    pub(crate) fn raw_input(&self, headers: &HeaderMap) -> Option<Vec<u8>> {
        let limit = self.parse_limits().max_header_bytes;
        let mut key = Vec::new();
        for name in self.consumed_headers() {
            // A name boundary no value length can equal (values are checked below the limit).
            key.extend_from_slice(&u32::MAX.to_le_bytes());
            for value in headers.get_all(&name) {
                let bytes = value.as_bytes();
                if key.len().saturating_add(bytes.len()) > limit.saturating_add(64) {
                    return None;
                }
                let len = u32::try_from(bytes.len()).ok()?;
                key.extend_from_slice(&len.to_le_bytes());
                key.extend_from_slice(bytes);
            }
        }
        Some(key)
    }

    /// [`ForwardedConfig::extract`] before the chain is wrapped (the XFCC `Hash` is checked).
    ///
    /// # Errors
    ///
    /// As [`ForwardedConfig::extract`].
    pub fn extract_certificates(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<ForwardedCertificates>, ForwardedError> {
        let limits = self.parse_limits();
        let names = self.consumed_headers();
        let total = names
            .iter()
            .flat_map(|name| headers.get_all(name))
            .fold(0usize, |sum, v| sum.saturating_add(v.len()));
        limits.check_bytes(total)?;

        let single = |name: &http::HeaderName| -> Result<Option<&[u8]>, ForwardedError> {
            let mut values = headers.get_all(name).iter();
            let first = values.next();
            if values.next().is_some() {
                return Err(ForwardedError::DuplicateHeader {
                    header: name.as_str().to_owned(),
                });
            }
            Ok(first
                .map(http::HeaderValue::as_bytes)
                .filter(|v| !v.trim_ascii().is_empty()))
        };
        let joined = |name: &http::HeaderName| {
            config::joined_lines(headers, name.as_str(), limits.max_header_bytes)
                .filter(|v| !v.trim_ascii().is_empty())
        };

        let found = match (self.format(), names.as_slice()) {
            (ForwardedFormat::Xfcc, [name]) => match joined(name) {
                Some(value) => Some(parse_xfcc(&value, limits)?),
                None => None,
            },
            (ForwardedFormat::Rfc9440, [cert, chain]) => {
                let chain = joined(chain);
                match (single(cert)?, chain) {
                    (Some(cert), chain) => Some(parse_rfc9440(cert, chain.as_deref(), limits)?),
                    (None, Some(_)) => {
                        return Err(ForwardedError::MissingCertificate {
                            detail: "Client-Cert-Chain came without Client-Cert".into(),
                        });
                    }
                    (None, None) => None,
                }
            }
            (ForwardedFormat::AwsAlb, [chain, leaf]) => match (single(chain)?, single(leaf)?) {
                (Some(_), Some(_)) => {
                    return Err(ForwardedError::DuplicateHeader {
                        header: format!("{} and {}", chain.as_str(), leaf.as_str()),
                    });
                }
                (Some(value), None) | (None, Some(value)) => {
                    Some(parse_url_encoded_pem(value, limits)?)
                }
                (None, None) => None,
            },
            (format, [name]) => match single(name)? {
                Some(value) => Some(match format {
                    ForwardedFormat::Xfcc => parse_xfcc(value, limits)?,
                    ForwardedFormat::Rfc9440 => parse_rfc9440(value, None, limits)?,
                    ForwardedFormat::AwsAlb | ForwardedFormat::Nginx => {
                        parse_url_encoded_pem(value, limits)?
                    }
                    ForwardedFormat::Traefik => parse_comma_joined_base64(value, limits)?,
                    ForwardedFormat::Cloudflare
                    | ForwardedFormat::Haproxy
                    | ForwardedFormat::Azure => parse_base64_der(value, limits)?,
                }),
                None => None,
            },
            // consumed_headers gives one name, or two for rfc9440 and the default aws_alb.
            (_, _) => None,
        };
        match found {
            Some(certs) => {
                certs.check()?;
                Ok(Some(certs))
            }
            None => Ok(None),
        }
    }
}
