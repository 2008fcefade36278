//! `certgate inspect`: what a certificate or CRL says about itself, as one JSON object each.
//! Nothing here is verified.

use rustls_pki_types::UnixTime;
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{CertificateRevocationList, FromDer};

/// A certificate: the library's [`certgate::CertificateInfo`] plus its CA and usage
/// extensions.
#[derive(Serialize)]
pub(crate) struct Certificate {
    kind: &'static str,
    #[serde(flatten)]
    info: certgate::CertificateInfo,
    /// keyUsage bits by their RFC 5280 names; `null` without the extension.
    key_usage: Option<Vec<&'static str>>,
    /// extendedKeyUsage purposes by name (`clientAuth`, …) or OID; `null` without it.
    extended_key_usage: Option<Vec<String>>,
    /// basicConstraints; `null` without the extension.
    basic_constraints: Option<BasicConstraints>,
}

#[derive(Serialize)]
struct BasicConstraints {
    ca: bool,
    path_len: Option<u32>,
    critical: bool,
}

impl Certificate {
    /// `info` with the extensions read from `der` (already parsed once by `certgate::inspect`).
    pub(crate) fn new(info: certgate::CertificateInfo, der: &[u8]) -> Self {
        let mut out = Self {
            kind: "certificate",
            info,
            key_usage: None,
            extended_key_usage: None,
            basic_constraints: None,
        };
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return out;
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    let bits = [
                        (ku.digital_signature(), "digitalSignature"),
                        (ku.non_repudiation(), "nonRepudiation"),
                        (ku.key_encipherment(), "keyEncipherment"),
                        (ku.data_encipherment(), "dataEncipherment"),
                        (ku.key_agreement(), "keyAgreement"),
                        (ku.key_cert_sign(), "keyCertSign"),
                        (ku.crl_sign(), "cRLSign"),
                        (ku.encipher_only(), "encipherOnly"),
                        (ku.decipher_only(), "decipherOnly"),
                    ];
                    out.key_usage = Some(
                        bits.iter()
                            .filter(|(set, _)| *set)
                            .map(|(_, n)| *n)
                            .collect(),
                    );
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let named = [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ];
                    let mut purposes: Vec<String> = named
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, n)| (*n).to_string())
                        .collect();
                    purposes.extend(eku.other.iter().map(|oid| oid.to_id_string()));
                    out.extended_key_usage = Some(purposes);
                }
                ParsedExtension::BasicConstraints(bc) => {
                    out.basic_constraints = Some(BasicConstraints {
                        ca: bc.ca,
                        path_len: bc.path_len_constraint,
                        critical: ext.critical,
                    });
                }
                _ => {}
            }
        }
        out
    }
}

/// A CRL.
#[derive(Serialize)]
pub(crate) struct Crl {
    kind: &'static str,
    /// Issuer, RFC 4514.
    issuer: String,
    /// cRLNumber in decimal; `null` without the extension.
    crl_number: Option<String>,
    /// thisUpdate, RFC 3339.
    this_update: String,
    /// nextUpdate, RFC 3339; `null` when absent.
    next_update: Option<String>,
    /// Number of revoked certificates listed.
    entries: usize,
}

/// Reads one DER CRL.
pub(crate) fn crl(der: &[u8]) -> Result<Crl, String> {
    let crl = match CertificateRevocationList::from_der(der) {
        Ok(([], crl)) => crl,
        Ok(_) => return Err("trailing data after the CRL".into()),
        Err(e) => return Err(format!("not a CRL: {e}")),
    };
    let time = |t: x509_parser::time::ASN1Time| {
        let secs = u64::try_from(t.timestamp()).unwrap_or(0);
        certgate::format_rfc3339(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            secs,
        )))
    };
    Ok(Crl {
        kind: "crl",
        issuer: crl.issuer().to_string(),
        crl_number: crl.crl_number().map(ToString::to_string),
        this_update: time(crl.last_update()),
        next_update: crl.next_update().map(time),
        entries: crl.iter_revoked_certificates().count(),
    })
}
