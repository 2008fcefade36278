//! Forwarded client certificates: every format's parser on the real and constructed vectors in
//! `../shared/vectors/` (read in place, never copied), the XFCC last-element rule against the
//! injected-element spoof, the two new reason codes driven by real (rcgen) certificates, size
//! limits checked before decoding, and the `[forwarded]` policy section.
//!
//! The vector folder must exist (CI has it beside the checkout): a missing folder fails these
//! tests, unless `CERTGATE_SKIP_VECTORS=1` is set, which leaves out only the tests that read
//! vectors (documented in the README's Development section).

// Test code: panics are failures (helpers need the file-level allow, clippy.toml covers only
// #[test] fns).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use certgate::forwarded::{
    ClientAddressSource, ForwardedConfig, ForwardedError, ForwardedFormat, ForwardedLimits,
    ProxyName, parse_base64_der, parse_comma_joined_base64, parse_rfc9440, parse_url_encoded_pem,
    parse_xfcc, parse_xfcc_elements,
};
use certgate::{PeerChain, Policy, Rejection, Verifier, VerifierBuilder};
use common::{Crl, Leaf, NOW, SHOP, pki};
use http::{HeaderMap, HeaderName, HeaderValue};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// SHA-256 of the RFC 9440 example leaf, as the vectors' README states it.
const RFC9440_LEAF_SHA256: &str =
    "bfaf1f7e070f9fa8dd62905f158da73f84a1136624fbafcc9393c8f7287a69eb";

/// The vectors folder, or `None` when `CERTGATE_SKIP_VECTORS=1` (the test then checks
/// nothing and says so). A missing folder otherwise fails the test.
fn vectors() -> Option<PathBuf> {
    let dir = std::env::var_os("CERTGATE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    );
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CERTGATE_SKIP_VECTORS").is_some_and(|v| v == "1") {
        eprintln!("CERTGATE_SKIP_VECTORS=1: vector test left out");
        return None;
    }
    panic!(
        "test vectors not found at {} (set CERTGATE_VECTORS, or CERTGATE_SKIP_VECTORS=1 to leave these tests out)",
        dir.display()
    );
}

/// A one-line vector file, without its final newline.
fn vector(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    bytes.trim_ascii_end().to_vec()
}

/// The non-comment lines of a multi-line vector file.
fn vector_lines(dir: &std::path::Path, rel: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn limits() -> ForwardedLimits {
    ForwardedLimits::default()
}

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

fn config(format: ForwardedFormat) -> ForwardedConfig {
    ForwardedConfig::new(format).trust_proxy("127.0.0.1/32".parse().unwrap())
}

/// The certificates `format`'s default headers carry in `pairs`.
fn extract(format: ForwardedFormat, pairs: &[(&str, &[u8])]) -> Vec<CertificateDer<'static>> {
    config(format)
        .extract(&headers(pairs))
        .unwrap_or_else(|e| panic!("{format}: {e}"))
        .unwrap_or_else(|| panic!("{format}: no chain"))
        .certs()
        .to_vec()
}

fn extract_err(format: ForwardedFormat, pairs: &[(&str, &[u8])]) -> ForwardedError {
    match config(format).extract(&headers(pairs)) {
        Err(e) => e,
        Ok(chain) => panic!("{format}: accepted {chain:?}"),
    }
}

/// The RFC 9440 example chain (leaf, intermediate, root) from its PEM file.
fn example_chain(dir: &std::path::Path) -> Vec<CertificateDer<'static>> {
    let certs = certgate::pem::parse_certificates(
        &std::fs::read(dir.join("rfc9440/example-chain.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(certs.len(), 3);
    assert_eq!(sha256_hex(&certs[0]), RFC9440_LEAF_SHA256);
    certs
}

// --- Every vector parses; each leaf has the digest its README states ------------------------

/// Vectors: `rfc9440/Client-Cert.txt`, `rfc9440/Client-Cert-Chain.txt`,
/// `rfc9440/example-chain.pem` (real, RFC 9440 Appendix A).
#[test]
fn rfc9440_vectors() {
    let Some(dir) = vectors() else { return };
    let cert = vector(&dir, "rfc9440/Client-Cert.txt");
    let chain = vector(&dir, "rfc9440/Client-Cert-Chain.txt");
    let parsed = parse_rfc9440(&cert, Some(&chain), &limits()).unwrap();
    assert_eq!(parsed.certs(), example_chain(&dir));
    let certs = extract(
        ForwardedFormat::Rfc9440,
        &[("client-cert", &cert), ("client-cert-chain", &chain)],
    );
    assert_eq!(certs, example_chain(&dir));
    // The leaf alone (Client-Cert-Chain is optional).
    let certs = extract(ForwardedFormat::Rfc9440, &[("client-cert", &cert)]);
    assert_eq!(sha256_hex(&certs[0]), RFC9440_LEAF_SHA256);
    assert_eq!(certs.len(), 1);
}

/// Vectors (constructed): `constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.all-escaped.txt`,
/// `constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.safe-plus-eq-slash.txt`,
/// `constructed/alb-verify.X-Amzn-Mtls-Clientcert-Leaf.safe-plus-eq-slash.txt`.
#[test]
fn aws_alb_vectors_in_both_escapings() {
    let Some(dir) = vectors() else { return };
    let expected = example_chain(&dir);
    for file in [
        "constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.all-escaped.txt",
        "constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.safe-plus-eq-slash.txt",
    ] {
        let value = vector(&dir, file);
        assert_eq!(
            parse_url_encoded_pem(&value, &limits()).unwrap().certs(),
            expected,
            "{file}"
        );
        let certs = extract(
            ForwardedFormat::AwsAlb,
            &[("x-amzn-mtls-clientcert", &value)],
        );
        assert_eq!(certs, expected, "{file}");
    }
    let leaf = vector(
        &dir,
        "constructed/alb-verify.X-Amzn-Mtls-Clientcert-Leaf.safe-plus-eq-slash.txt",
    );
    let certs = extract(
        ForwardedFormat::AwsAlb,
        &[("x-amzn-mtls-clientcert-leaf", &leaf)],
    );
    assert_eq!(certs, expected[..1]);
    // Both ALB headers at once: ambiguous, refused.
    let passthrough = vector(
        &dir,
        "constructed/alb-passthrough.X-Amzn-Mtls-Clientcert.all-escaped.txt",
    );
    let err = extract_err(
        ForwardedFormat::AwsAlb,
        &[
            ("x-amzn-mtls-clientcert", &passthrough),
            ("x-amzn-mtls-clientcert-leaf", &leaf),
        ],
    );
    assert_eq!(err.code(), "duplicate_header");
    assert_eq!(err.to_rejection().code(), "malformed_forwarded_certificate");
}

/// Vectors (constructed): `constructed/cloudflare.Cf-Client-Cert-Der-Base64.txt`,
/// `constructed/cloudflare.Cf-Client-Cert-Sha256.txt`, `constructed/azure.X-ARR-ClientCert.txt`,
/// `constructed/haproxy.ssl_c_der_base64.txt`, `constructed/haproxy.ssl_c_chain_der_base64.txt`.
#[test]
fn base64_der_vectors() {
    let Some(dir) = vectors() else { return };
    let expected = example_chain(&dir);
    for (format, header, file) in [
        (
            ForwardedFormat::Cloudflare,
            "cf-client-cert-der-base64",
            "constructed/cloudflare.Cf-Client-Cert-Der-Base64.txt",
        ),
        (
            ForwardedFormat::Azure,
            "x-arr-clientcert",
            "constructed/azure.X-ARR-ClientCert.txt",
        ),
        (
            ForwardedFormat::Haproxy,
            "x-ssl-client-cert",
            "constructed/haproxy.ssl_c_der_base64.txt",
        ),
    ] {
        let value = vector(&dir, file);
        let certs = extract(format, &[(header, &value)]);
        assert_eq!(certs, expected[..1], "{file}");
        assert_eq!(sha256_hex(&certs[0]), RFC9440_LEAF_SHA256, "{file}");
    }
    // Cloudflare's own digest header agrees, but it is a verdict header: never read.
    let stated = vector(&dir, "constructed/cloudflare.Cf-Client-Cert-Sha256.txt");
    assert_eq!(stated, RFC9440_LEAF_SHA256.as_bytes());
    assert!(
        !config(ForwardedFormat::Cloudflare)
            .consumed_headers()
            .iter()
            .any(|h| h.as_str() == "cf-client-cert-sha256")
    );
    // HAProxy's ssl_c_chain_der: the chain without the leaf, DER concatenated.
    let chain = vector(&dir, "constructed/haproxy.ssl_c_chain_der_base64.txt");
    assert_eq!(
        parse_base64_der(&chain, &limits()).unwrap().certs(),
        &expected[1..]
    );
}

/// Vectors: `constructed/cloudfront.CloudFront-Viewer-Cert-Pem.txt` (constructed; read as the
/// nginx format under a custom header, the same encoding).
#[test]
fn url_encoded_pem_vector_under_a_custom_header() {
    let Some(dir) = vectors() else { return };
    let value = vector(
        &dir,
        "constructed/cloudfront.CloudFront-Viewer-Cert-Pem.txt",
    );
    let config = config(ForwardedFormat::Nginx)
        .header(HeaderName::from_static("cloudfront-viewer-cert-pem"))
        .unwrap();
    let chain = config
        .extract(&headers(&[("cloudfront-viewer-cert-pem", &value)]))
        .unwrap()
        .unwrap();
    assert_eq!(sha256_hex(&chain.certs()[0]), RFC9440_LEAF_SHA256);
    // The default header is then not read at all.
    assert!(
        config
            .extract(&headers(&[("x-client-cert", &value)]))
            .unwrap()
            .is_none()
    );
    assert_eq!(config.consumed_headers(), ["cloudfront-viewer-cert-pem"]);
}

/// Vectors: `traefik/X-Forwarded-Tls-Client-Cert.leaf.txt`,
/// `traefik/X-Forwarded-Tls-Client-Cert.leaf+ca.txt`, `traefik/minimalCheeseCrt.pem`,
/// `traefik/signingCA.pem` (real, Traefik's tests) and
/// `constructed/traefik.X-Forwarded-Tls-Client-Cert.leaf+intermediate.txt`.
#[test]
fn traefik_vectors() {
    let Some(dir) = vectors() else { return };
    let read_pem = |rel: &str| {
        certgate::pem::parse_certificates(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
    };
    let cheese = read_pem("traefik/minimalCheeseCrt.pem");
    let ca = read_pem("traefik/signingCA.pem");
    let leaf = vector(&dir, "traefik/X-Forwarded-Tls-Client-Cert.leaf.txt");
    let both = vector(&dir, "traefik/X-Forwarded-Tls-Client-Cert.leaf+ca.txt");
    let header = "x-forwarded-tls-client-cert";
    assert_eq!(
        extract(ForwardedFormat::Traefik, &[(header, &leaf)]),
        cheese
    );
    let certs = extract(ForwardedFormat::Traefik, &[(header, &both)]);
    assert_eq!(certs, [cheese[0].clone(), ca[0].clone()]);
    let constructed = vector(
        &dir,
        "constructed/traefik.X-Forwarded-Tls-Client-Cert.leaf+intermediate.txt",
    );
    let certs = parse_comma_joined_base64(&constructed, &limits()).unwrap();
    assert_eq!(certs.certs(), &example_chain(&dir)[..2]);
}

/// Vectors: `constructed/envoy.XFCC.hash-cert-chain.txt` (constructed),
/// `xfcc/envoy-docs-examples.txt` and `xfcc/envoy-integration-test-expected.txt` (real: Envoy's
/// docs and integration tests; no `Cert`, illustrative hashes).
#[test]
fn xfcc_vectors() {
    let Some(dir) = vectors() else { return };
    let value = vector(&dir, "constructed/envoy.XFCC.hash-cert-chain.txt");
    let parsed = parse_xfcc(&value, &limits()).unwrap();
    // Chain includes the leaf; Hash is the leaf's digest.
    assert_eq!(parsed.certs(), &example_chain(&dir)[..2]);
    assert_eq!(sha256_hex(&parsed.certs()[0]), RFC9440_LEAF_SHA256);
    assert_eq!(
        parsed.stated_leaf_sha256().map(|h| sha256_hex_raw(&h)),
        Some(RFC9440_LEAF_SHA256.into())
    );
    parsed.check().unwrap();
    let certs = extract(
        ForwardedFormat::Xfcc,
        &[("x-forwarded-client-cert", &value)],
    );
    assert_eq!(certs, example_chain(&dir)[..2]);

    // Envoy's own examples: the grammar parses every line (quoted subjects with `,` and `=`,
    // several elements, repeated DNS); none carries the certificate itself.
    let docs = vector_lines(&dir, "xfcc/envoy-docs-examples.txt");
    let counts: Vec<usize> = docs
        .iter()
        .map(|line| parse_xfcc_elements(line, &limits()).unwrap().len())
        .collect();
    assert_eq!(counts, [1, 2, 1]);
    let third = &parse_xfcc_elements(&docs[2], &limits()).unwrap()[0];
    assert_eq!(
        third.subject(),
        Some("/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client")
    );
    assert_eq!(third.dns(), ["lyft.com", "www.lyft.com"]);
    for line in &docs {
        assert_eq!(
            parse_xfcc(line, &limits()).unwrap_err().code(),
            "no_certificate_in_header"
        );
    }
    let integration = vector_lines(&dir, "xfcc/envoy-integration-test-expected.txt");
    let elements: Vec<_> = integration
        .iter()
        .map(|line| parse_xfcc_elements(line, &limits()).unwrap())
        .collect();
    assert_eq!(elements.iter().map(Vec::len).collect::<Vec<_>>(), [1, 2, 1]);
    // APPEND_FORWARD: the last element is the proxy's.
    assert_eq!(elements[1][1].by(), ["spiffe://lyft.com/backend-team"]);
    assert_eq!(
        elements[1][1].subject(),
        Some(
            "emailAddress=frontend-team@lyft.com,CN=Test Frontend Team,OU=Lyft Engineering,O=Lyft,L=San Francisco,ST=California,C=US"
        )
    );
}

fn sha256_hex_raw(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Vector (constructed): `constructed/envoy.XFCC.injected-by-client-then-APPEND_FORWARD.txt`.
/// A client sent its own XFCC element (Hash of zeros, `URI=spiffe://evil/app`, a quoted subject
/// with an escaped quote); the edge proxy appended the real one. Only the last element counts.
#[test]
fn xfcc_injected_element_is_never_believed() {
    let Some(dir) = vectors() else { return };
    let value = vector(
        &dir,
        "constructed/envoy.XFCC.injected-by-client-then-APPEND_FORWARD.txt",
    );
    let elements = parse_xfcc_elements(&value, &limits()).unwrap();
    assert_eq!(elements.len(), 2);
    assert_eq!(elements[0].uris(), ["spiffe://evil/app"]);
    assert_eq!(elements[0].subject(), Some("CN=attacker,O=Evil\"Corp"));
    assert_eq!(elements[0].hash(), Some("0".repeat(64).as_str()));
    assert_eq!(elements[1].by(), ["spiffe://prod/edge"]);

    let chain = config(ForwardedFormat::Xfcc)
        .extract(&headers(&[("x-forwarded-client-cert", &value)]))
        .unwrap()
        .unwrap();
    assert_eq!(chain.certs().len(), 1);
    assert_eq!(sha256_hex(&chain.certs()[0]), RFC9440_LEAF_SHA256);

    // The same spoof on two field lines (the client's line first): still the proxy's element.
    let boundary = b",By=spiffe://prod/edge;";
    let split = value
        .windows(boundary.len())
        .position(|w| w == boundary)
        .unwrap();
    let (client, proxy) = (&value[..split], &value[split + 1..]);
    let chain = config(ForwardedFormat::Xfcc)
        .extract(&headers(&[
            ("x-forwarded-client-cert", client),
            ("x-forwarded-client-cert", proxy),
        ]))
        .unwrap()
        .unwrap();
    assert_eq!(sha256_hex(&chain.certs()[0]), RFC9440_LEAF_SHA256);

    // A client prefix with an unclosed quote cannot swallow the proxy's element boundary: the
    // header is refused, never read as the client's certificate.
    let mut unbalanced = b"Hash=00;Subject=\"x".to_vec();
    unbalanced.extend_from_slice(&value[split..]);
    let err = parse_xfcc(&unbalanced, &limits()).unwrap_err();
    assert_eq!(err.to_rejection().code(), "malformed_forwarded_certificate");
    // An unclosed quote anywhere refuses the whole header.
    let mut trailing = value.clone();
    trailing.extend_from_slice(b",Hash=00;Cert=\"");
    assert!(parse_xfcc(&trailing, &limits()).is_err());
}

// --- The new reason codes, on real certificates ----------------------------------------------

/// Percent-encodes everything but unreserved characters (as AWS's "all escaped" form).
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

fn pem_of(certs: &[CertificateDer<'_>]) -> String {
    certs
        .iter()
        .map(|c| common::pem("CERTIFICATE", c))
        .collect()
}

/// `certs` (leaf first) encoded as `format`'s default headers would carry them.
fn encode(format: ForwardedFormat, certs: &[CertificateDer<'_>]) -> Vec<(&'static str, Vec<u8>)> {
    let b64 = |c: &CertificateDer<'_>| B64.encode(c.as_ref());
    match format {
        ForwardedFormat::Xfcc => vec![(
            "x-forwarded-client-cert",
            format!(
                "By=spiffe://prod/edge;Hash={};Cert=\"{}\";Chain=\"{}\";Subject=\"CN=x\"",
                sha256_hex(&certs[0]),
                url_encode(&pem_of(&certs[..1])),
                url_encode(&pem_of(certs))
            )
            .into_bytes(),
        )],
        ForwardedFormat::Rfc9440 => {
            let mut out = vec![("client-cert", format!(":{}:", b64(&certs[0])).into_bytes())];
            if certs.len() > 1 {
                let rest: Vec<String> =
                    certs[1..].iter().map(|c| format!(":{}:", b64(c))).collect();
                out.push(("client-cert-chain", rest.join(", ").into_bytes()));
            }
            out
        }
        ForwardedFormat::AwsAlb => vec![(
            "x-amzn-mtls-clientcert",
            url_encode(&pem_of(certs)).into_bytes(),
        )],
        ForwardedFormat::Cloudflare => {
            vec![("cf-client-cert-der-base64", b64(&certs[0]).into_bytes())]
        }
        ForwardedFormat::Nginx => vec![(
            "x-client-cert",
            url_encode(&pem_of(&certs[..1])).into_bytes(),
        )],
        ForwardedFormat::Traefik => vec![(
            "x-forwarded-tls-client-cert",
            certs
                .iter()
                .map(b64)
                .collect::<Vec<_>>()
                .join(",")
                .into_bytes(),
        )],
        ForwardedFormat::Haproxy => vec![("x-ssl-client-cert", b64(&certs[0]).into_bytes())],
        ForwardedFormat::Azure => vec![("x-arr-clientcert", b64(&certs[0]).into_bytes())],
        other => panic!("no encoder for {other}"),
    }
}

fn header_map(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let refs: Vec<(&str, &[u8])> = pairs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    headers(&refs)
}

/// The test PKI's verifier with CRLs, and the intermediate configured (for leaf-only formats).
fn verifier() -> Verifier {
    VerifierBuilder::new()
        .trust_anchor(pki().root())
        .intermediate(pki().intermediate())
        .crl(pki().crl(Crl::Intermediate))
        .crl(pki().crl(Crl::Root))
        .build()
        .unwrap()
}

/// The verdict for `leaf`'s chain forwarded in `format`, judged by the same verifier as TLS.
fn verdict(format: ForwardedFormat, leaf: Leaf) -> Result<certgate::PeerIdentity, Rejection> {
    let chain = pki().leaf(leaf).chain();
    let chain = config(format)
        .extract(&header_map(&encode(format, &chain)))
        .map_err(Rejection::from)?
        .expect("a forwarded chain");
    verifier().verify(&chain, NOW)
}

#[test]
fn every_format_forwards_a_real_chain_to_the_same_verifier() {
    for format in ForwardedFormat::ALL {
        let identity = verdict(format, Leaf::Genuine).unwrap_or_else(|r| panic!("{format}: {r:?}"));
        assert_eq!(
            identity.app_id().map(|a| a.as_str()),
            Some(SHOP),
            "{format}"
        );
        let tls = verifier()
            .verify(&PeerChain::new(pki().leaf(Leaf::Genuine).chain()), NOW)
            .unwrap();
        assert_eq!(identity.app_id(), tls.app_id(), "{format}");
        let revoked = verdict(format, Leaf::Revoked).unwrap_err();
        assert_eq!(revoked.code(), "revoked", "{format}");
        let other = verdict(format, Leaf::OtherApp);
        // No allowlist here: another app is accepted as itself, never as the shop.
        assert_ne!(
            other.unwrap().app_id().map(|a| a.as_str()),
            Some(SHOP),
            "{format}"
        );
    }
}

#[test]
fn xfcc_hash_mismatch_is_forwarded_mismatch() {
    let certs = pki().leaf(Leaf::Genuine).chain();
    let other = pki().leaf(Leaf::Second).cert.clone();
    let value = format!(
        "By=spiffe://prod/edge;Hash={};Cert=\"{}\"",
        sha256_hex(&other),
        url_encode(&pem_of(&certs[..1]))
    );
    let err = extract_err(
        ForwardedFormat::Xfcc,
        &[("x-forwarded-client-cert", value.as_bytes())],
    );
    assert_eq!(err.code(), "mismatch");
    let rejection = Rejection::from(err);
    assert_eq!(rejection.code(), "forwarded_mismatch");
    assert_eq!(rejection.http_status(), 403);
    assert!(rejection.is_unauthenticated());
    // The same header with the right hash is accepted by the verifier.
    let value = value.replace(&sha256_hex(&other), &sha256_hex(&certs[0]));
    let chain = config(ForwardedFormat::Xfcc)
        .extract(&headers(&[("x-forwarded-client-cert", value.as_bytes())]))
        .unwrap()
        .unwrap();
    assert!(verifier().verify(&chain, NOW).is_ok());
    // Cert that is not Chain's first certificate: a mismatch too.
    let value = format!(
        "Cert=\"{}\";Chain=\"{}\"",
        url_encode(&pem_of(&[other])),
        url_encode(&pem_of(&certs))
    );
    let err = extract_err(
        ForwardedFormat::Xfcc,
        &[("x-forwarded-client-cert", value.as_bytes())],
    );
    assert_eq!(Rejection::from(err).code(), "forwarded_mismatch");
}

#[test]
fn malformed_headers_of_every_format_are_malformed_forwarded_certificate() {
    let leaf = pki().leaf(Leaf::Genuine).chain();
    for format in ForwardedFormat::ALL {
        let good = encode(format, &leaf);
        let (name, value) = good[0].clone();
        let text = String::from_utf8(value).unwrap();
        let mut bad: Vec<Vec<u8>> = vec![
            b"garbage!".to_vec(),
            text.as_bytes()[..text.len() / 2].to_vec(), // truncated
            text.replacen('M', "!", 1).into_bytes(),    // one bad character
        ];
        // Valid encoding of bytes that are not a certificate.
        bad.push(match format {
            ForwardedFormat::Xfcc => {
                b"Cert=\"-----BEGIN%20CERTIFICATE-----%0ATUFB%0A-----END%20CERTIFICATE-----%0A\""
                    .to_vec()
            }
            ForwardedFormat::Rfc9440 => b":TUFB:".to_vec(),
            ForwardedFormat::AwsAlb | ForwardedFormat::Nginx => {
                b"-----BEGIN%20CERTIFICATE-----%0ATUFB%0A-----END%20CERTIFICATE-----%0A".to_vec()
            }
            _ => b"TUFB".to_vec(),
        });
        for value in bad {
            let err = extract_err(format, &[(name, &value)]);
            let rejection = err.to_rejection();
            assert_eq!(
                rejection.code(),
                "malformed_forwarded_certificate",
                "{format}: {err}"
            );
            assert_eq!(rejection.http_status(), 403);
            assert!(rejection.is_unauthenticated());
            assert!(
                rejection.to_string().len() <= Rejection::MAX_DETAIL,
                "{rejection}"
            );
        }
        // A single-valued certificate header twice (a client copy the proxy did not strip).
        if format != ForwardedFormat::Xfcc {
            let err = extract_err(format, &[(name, &good[0].1), (name, &good[0].1)]);
            assert_eq!(err.code(), "duplicate_header", "{format}");
        }
    }
    let err = extract_err(
        ForwardedFormat::Rfc9440,
        &[("client-cert-chain", b":TUFB:")],
    );
    assert_eq!(err.code(), "no_certificate_in_header");
}

#[test]
fn no_header_or_an_empty_one_is_no_forwarded_chain() {
    for format in ForwardedFormat::ALL {
        let config = config(format);
        assert!(
            config.extract(&HeaderMap::new()).unwrap().is_none(),
            "{format}"
        );
        for name in config.consumed_headers() {
            // HAProxy sends `%[ssl_c_der,base64]` empty when the client sent no certificate.
            let map = headers(&[(name.as_str(), b"")]);
            if format == ForwardedFormat::Rfc9440 && name == "client-cert-chain" {
                continue;
            }
            assert!(config.extract(&map).unwrap().is_none(), "{format} {name}");
        }
    }
}

#[test]
fn oversized_headers_are_refused_before_decoding() {
    let max = ForwardedLimits::default().max_header_bytes;
    // Bytes that would fail decoding at the first byte: the size check must come first.
    let huge = vec![b'%'; max + 1];
    for format in ForwardedFormat::ALL {
        let name = config(format).consumed_headers()[0].clone();
        let err = extract_err(format, &[(name.as_str(), &huge)]);
        assert_eq!(err.code(), "header_too_large", "{format}");
        assert_eq!(err.to_rejection().code(), "malformed_forwarded_certificate");
        // Two field lines under the limit each, over it together.
        let half = vec![b'%'; max / 2 + 1];
        let err = extract_err(format, &[(name.as_str(), &half), (name.as_str(), &half)]);
        assert_eq!(err.code(), "header_too_large", "{format}");
    }
    // Each parser on its own checks the size too.
    let l = limits();
    assert_eq!(
        parse_xfcc(&huge, &l).unwrap_err().code(),
        "header_too_large"
    );
    assert_eq!(
        parse_rfc9440(&huge, None, &l).unwrap_err().code(),
        "header_too_large"
    );
    assert_eq!(
        parse_url_encoded_pem(&huge, &l).unwrap_err().code(),
        "header_too_large"
    );
    assert_eq!(
        parse_base64_der(&huge, &l).unwrap_err().code(),
        "header_too_large"
    );
    assert_eq!(
        parse_comma_joined_base64(&huge, &l).unwrap_err().code(),
        "header_too_large"
    );
}

#[test]
fn too_many_certificates_are_counted_before_decoding() {
    let l = ForwardedLimits::default();
    let n = l.max_certificates + 1;
    // Members whose base64 is broken: counting must refuse them before any is decoded.
    let broken_pem =
        "-----BEGIN%20CERTIFICATE-----%0A!!!!%0A-----END%20CERTIFICATE-----%0A".repeat(n);
    let err = parse_url_encoded_pem(broken_pem.as_bytes(), &l).unwrap_err();
    assert_eq!(err.code(), "too_many_certificates");
    let err = parse_xfcc(format!("Chain=\"{broken_pem}\"").as_bytes(), &l).unwrap_err();
    assert_eq!(err.code(), "too_many_certificates");
    let list = vec!["!!!!"; n].join(",");
    assert_eq!(
        parse_comma_joined_base64(list.as_bytes(), &l)
            .unwrap_err()
            .code(),
        "too_many_certificates"
    );
    let members = vec![":!!!!:"; n - 1].join(", ");
    assert_eq!(
        parse_rfc9440(b":!!!!:", Some(members.as_bytes()), &l)
            .unwrap_err()
            .code(),
        "too_many_certificates"
    );
    // Real certificates: one over the limit refused, the limit itself accepted.
    let leaf = pki().leaf(Leaf::Genuine).cert.clone();
    let b64 = B64.encode(leaf.as_ref());
    let at_limit = vec![b64.as_str(); l.max_certificates].join(",");
    assert_eq!(
        parse_comma_joined_base64(at_limit.as_bytes(), &l)
            .unwrap()
            .certs()
            .len(),
        l.max_certificates
    );
    let over = vec![b64.as_str(); n].join(",");
    let err = parse_comma_joined_base64(over.as_bytes(), &l).unwrap_err();
    assert_eq!(err.to_rejection().code(), "malformed_forwarded_certificate");
    let der: Vec<u8> = leaf.as_ref().repeat(n);
    assert_eq!(
        parse_base64_der(B64.encode(der).as_bytes(), &l)
            .unwrap_err()
            .code(),
        "too_many_certificates"
    );
}

// --- Trust rule ------------------------------------------------------------------------------

#[test]
fn trusted_proxies_and_consumed_headers() {
    let config = ForwardedConfig::new(ForwardedFormat::Rfc9440)
        .trust_proxy("10.0.0.0/8".parse().unwrap())
        .trust_proxy("2001:db8::/32".parse().unwrap())
        .client_address(ClientAddressSource::XForwardedFor);
    assert!(config.is_trusted("10.9.8.7".parse().unwrap()));
    assert!(config.is_trusted("::ffff:10.9.8.7".parse().unwrap()));
    assert!(config.is_trusted("2001:db8::1".parse().unwrap()));
    assert!(!config.is_trusted("192.0.2.1".parse().unwrap()));
    assert!(!config.is_trusted("2001:db9::1".parse().unwrap()));
    assert_eq!(
        config.consumed_headers(),
        ["client-cert", "client-cert-chain"]
    );
    let custom = config
        .clone()
        .header(HeaderName::from_static("x-mesh-cert"))
        .unwrap();
    assert_eq!(
        custom.consumed_headers(),
        ["x-mesh-cert", "client-cert-chain"]
    );
    let alb = ForwardedConfig::new(ForwardedFormat::AwsAlb);
    assert_eq!(
        alb.consumed_headers(),
        ["x-amzn-mtls-clientcert", "x-amzn-mtls-clientcert-leaf"]
    );

    // The client address comes from the trusted proxy's header, never a client's.
    let map = headers(&[("x-forwarded-for", b"6.6.6.6, 203.0.113.5, 10.1.1.1")]);
    let proxy = "10.0.0.2".parse().unwrap();
    assert_eq!(
        config.client_address_of(proxy, &map),
        "203.0.113.5".parse::<std::net::IpAddr>().unwrap()
    );
    let stranger = "192.0.2.1".parse().unwrap();
    assert_eq!(config.client_address_of(stranger, &map), stranger);
}

// --- The [forwarded] policy section ----------------------------------------------------------

fn policy(section: &str) -> Result<Policy, certgate::PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    pki().write_to(dir.path());
    Policy::from_toml_str(
        &format!("[trust]\nanchors = [\"root.pem\"]\n\n{section}"),
        dir.path(),
    )
}

#[test]
fn policy_forwarded_section() {
    assert!(policy("").unwrap().forwarded().is_none());
    let p = policy(
        r#"[forwarded]
format = "nginx"
header = "X-Client-Cert"
trusted_proxies = ["127.0.0.1/32", "::1", "10.0.0.0/8"]
client_address = "x-forwarded-for"
proxy_identity = { anchors = ["root.pem"], allow = ["spiffe://prod/edge", "edge.example.com"] }
"#,
    )
    .unwrap();
    let f = p.forwarded().unwrap();
    assert_eq!(f.format(), ForwardedFormat::Nginx);
    assert_eq!(f.consumed_headers(), ["x-client-cert"]);
    assert_eq!(f.trusted_proxies().len(), 3);
    assert!(f.is_trusted("::1".parse().unwrap()));
    assert_eq!(
        f.client_address_source(),
        ClientAddressSource::XForwardedFor
    );
    let identity = f.proxy_identity_rule().unwrap();
    assert_eq!(identity.anchors(), [pki().root()]);
    assert_eq!(identity.anchor_files(), ["root.pem"]);
    assert_eq!(
        identity.allowed(),
        [
            ProxyName::Uri("spiffe://prod/edge".into()),
            ProxyName::Dns("edge.example.com".into())
        ]
    );
    // Every format name of the table, and the defaults.
    for format in ForwardedFormat::ALL {
        let p = policy(&format!(
            "[forwarded]\nformat = \"{format}\"\ntrusted_proxies = [\"127.0.0.1\"]\n"
        ))
        .unwrap();
        let f = p.forwarded().unwrap();
        assert_eq!(f.format(), format);
        assert_eq!(f.client_address_source(), ClientAddressSource::None);
        assert!(f.custom_header().is_none());
    }
    for source in ["forwarded", "none"] {
        policy(&format!("[forwarded]\nformat = \"xfcc\"\ntrusted_proxies = [\"127.0.0.1\"]\nclient_address = \"{source}\"\n")).unwrap();
    }
}

#[test]
fn policy_forwarded_errors_name_the_field() {
    let cases = [
        (
            "format = \"nginx\"\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.1/8\"]",
            "forwarded.trusted_proxies[1]",
            "host bits",
        ),
        (
            "format = \"nginx\"\ntrusted_proxies = [\"not-an-ip\"]",
            "forwarded.trusted_proxies[0]",
            "not an IP",
        ),
        (
            "format = \"nginx\"\ntrusted_proxies = [\"::/129\"]",
            "forwarded.trusted_proxies[0]",
            "prefix",
        ),
        (
            "format = \"nginx\"\ntrusted_proxies = []",
            "forwarded.trusted_proxies",
            "at least one",
        ),
        (
            "format = \"nginx\"\nheader = \"bad header\"\ntrusted_proxies = [\"::1\"]",
            "forwarded.header",
            "not a header name",
        ),
        (
            "format = \"nginx\"\nheader = \"Authorization\"\ntrusted_proxies = [\"::1\"]",
            "forwarded.header",
            "cannot carry",
        ),
        (
            "format = \"xfcc\"\nproxy_identity = { anchors = [\"root.pem\"], allow = [\"not a name\"] }",
            "forwarded.proxy_identity.allow[0]",
            "",
        ),
        (
            "format = \"xfcc\"\nproxy_identity = { anchors = [\"root.pem\"], allow = [] }",
            "forwarded.proxy_identity.allow",
            "at least one",
        ),
        (
            "format = \"xfcc\"\nproxy_identity = { anchors = [\"missing.pem\"], allow = [\"spiffe://prod/edge\"] }",
            "forwarded.proxy_identity.anchors[0]",
            "no such file",
        ),
        (
            "format = \"xfcc\"\nproxy_identity = { anchors = [\"genuine.pem\"], allow = [\"spiffe://prod/edge\"] }",
            "forwarded.proxy_identity.anchors[0]",
            "trust anchor",
        ),
    ];
    for (body, field, message) in cases {
        let err = policy(&format!("[forwarded]\n{body}\n")).unwrap_err();
        assert_eq!(err.field(), field, "{body}: {err}");
        assert!(err.message().contains(message), "{body}: {err}");
    }
    // Unknown formats and fields are refused by the file parser (with the line).
    for body in [
        "format = \"f5\"\ntrusted_proxies = [\"::1\"]",
        "format = \"nginx\"\ntrusted_proxies = [\"::1\"]\nstrip = false",
        "format = \"nginx\"\ntrusted_proxies = [\"::1\"]\nclient_address = \"x-real-ip\"",
    ] {
        let err = policy(&format!("[forwarded]\n{body}\n")).unwrap_err();
        assert!(err.field().starts_with("line "), "{body}: {err}");
    }
}

#[test]
fn forwarded_config_deserializes_on_its_own() {
    let config: ForwardedConfig =
        toml::from_str("format = \"traefik\"\ntrusted_proxies = [\"192.168.0.0/16\"]\n").unwrap();
    assert_eq!(config.format(), ForwardedFormat::Traefik);
    let err = toml::from_str::<ForwardedConfig>(
        "format = \"traefik\"\ntrusted_proxies = [\"192.168.0.1/16\"]\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("forwarded.trusted_proxies[0]"),
        "{err}"
    );
}
