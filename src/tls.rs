//! A rustls `ClientCertVerifier` backed by a [`Gate`]: refuse in the handshake (cheapest
//! against floods), or request a certificate and let the HTTP layer answer (clearer for app
//! developers).
//!
//! Either way rustls itself checks the client's CertificateVerify signature (possession of the
//! key). The chain verdict comes from the gate's cache, so a returning app skips chain
//! verification.
//!
//! The handshake check is a first filter, not the enforcement: a resumed TLS session (a TLS 1.3
//! ticket, a TLS 1.2 session id) restores the chain of its first handshake without calling the
//! verifier again, for as long as the ticket lives. Always put
//! [`CertGateLayer`](crate::CertGateLayer) behind it: it judges every request with the current
//! policy, so a certificate revoked or denylisted since the first handshake is refused on its
//! next request, resumed or not. To make the handshake check itself apply to every connection,
//! turn resumption off:
//!
//! ```
//! # fn no_resumption(config: &mut rustls::ServerConfig) {
//! config.session_storage = std::sync::Arc::new(rustls::server::NoServerSessionStorage {});
//! config.send_tls13_tickets = 0;
//! # }
//! ```

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::gate::Gate;
use crate::peer_chain::PeerChain;
use crate::policy::Mode;
use crate::rejection::Rejection;

/// Where a rejected client is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeMode {
    /// Require a certificate and refuse a rejected one with a TLS alert. The default.
    #[default]
    Refuse,
    /// Ask for a certificate but complete the handshake whatever it is (or without one); the
    /// [`CertGateLayer`](crate::CertGateLayer) then answers with a 401/403 problem body.
    Defer,
}

/// rustls client-certificate verifier backed by a [`Gate`].
///
/// ```
/// # fn config(gate: certgate::Gate) {
/// use std::sync::Arc;
/// use certgate::{GateClientVerifier, HandshakeMode};
///
/// let provider = Arc::new(rustls::crypto::ring::default_provider());
/// let verifier = GateClientVerifier::new(gate, provider, HandshakeMode::Refuse);
/// let _ = Arc::new(verifier);
/// # }
/// ```
#[derive(Debug)]
pub struct GateClientVerifier {
    gate: Gate,
    provider: Arc<CryptoProvider>,
    mode: HandshakeMode,
    hints: Vec<DistinguishedName>,
}

impl GateClientVerifier {
    /// A verifier that consults `gate` and checks handshake signatures with `provider`.
    pub fn new(gate: Gate, provider: Arc<CryptoProvider>, mode: HandshakeMode) -> Self {
        // Hints name the trust anchors a client should pick a certificate for. Mobile apps
        // carry one certificate, so the hints are informative only; they are fixed at
        // construction (a reload that changes anchors should rebuild the ServerConfig).
        let hints = gate.verifier().anchor_subjects();
        Self {
            gate,
            provider,
            mode,
            hints,
        }
    }
}

impl ClientCertVerifier for GateClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // In observe mode for `no_certificate`, a client without one must get through to the
        // layer (which reports it) rather than be cut off by rustls.
        self.mode == HandshakeMode::Refuse && self.gate.mode_for("no_certificate") == Mode::Enforce
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.mode == HandshakeMode::Defer {
            return Ok(ClientCertVerified::assertion());
        }
        let chain = PeerChain::new(
            std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect(),
        );
        // The gate's clock, like the layer, so one injected clock governs every verdict. The
        // peer's address is not known to a rustls verifier: handshake events carry none.
        let verdict = self.gate.check(&chain, self.gate.now());
        match verdict.rejection() {
            Some(rejection) if verdict.is_refused() => Err(rustls::Error::InvalidCertificate(
                certificate_error(rejection),
            )),
            _ => Ok(ClientCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls error (and so the TLS alert) for a rejection.
fn certificate_error(rejection: &Rejection) -> CertificateError {
    match rejection {
        Rejection::Expired { .. } => CertificateError::Expired,
        Rejection::NotYetValid { .. } => CertificateError::NotValidYet,
        Rejection::Revoked { .. } => CertificateError::Revoked,
        Rejection::UnknownIssuer { .. } => CertificateError::UnknownIssuer,
        Rejection::BadSignature => CertificateError::BadSignature,
        Rejection::WrongKeyUsage { .. } => CertificateError::InvalidPurpose,
        Rejection::RevocationUnknown { .. } | Rejection::CrlExpired { .. } => {
            CertificateError::UnknownRevocationStatus
        }
        other => CertificateError::Other(OtherError(Arc::new(other.clone()))),
    }
}
