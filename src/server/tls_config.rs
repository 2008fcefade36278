//! [`TlsConfig`]: the rustls server configuration, rebuilt when the gate's trust anchors change.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::{DistinguishedName, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::events::EventSink;
use crate::gate::Gate;
use crate::tls::{GateClientVerifier, HandshakeMode};

/// A hook applied to every rustls configuration [`TlsConfig`] builds.
type Customize = Arc<dyn Fn(&mut ServerConfig) + Send + Sync>;

/// The TLS configuration [`serve`](super::serve) and [`TlsListener`](super::TlsListener)
/// accept connections with.
///
/// Built with [`TlsConfig::new`], it follows its gate: after a [`Gate::reload`] that changes
/// the trust anchors, the next accepted connection gets a rebuilt rustls `ServerConfig`. Its
/// CertificateRequest names the current CAs (Android's and Java's key managers pick the
/// client certificate by those names, so stale names make them send none during a CA
/// rotation), and it has a fresh session store and fresh ticket keys, so no session of the old
/// trust resumes. The check costs one atomic load per connection; the anchor names are compared
/// only after a reload.
///
/// A fixed `Arc<ServerConfig>` converts into a `TlsConfig` too (`.into()`); it is used as is,
/// never rebuilt, and its connection events only reach the log.
///
/// ```no_run
/// # fn run(gate: certgate::Gate, chain: Vec<rustls_pki_types::CertificateDer<'static>>, key: rustls_pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
/// use std::sync::Arc;
/// use certgate::HandshakeMode;
/// use certgate::server::TlsConfig;
///
/// let provider = Arc::new(rustls::crypto::ring::default_provider());
/// let tls = TlsConfig::new(&gate, provider, chain, key, HandshakeMode::Refuse)?
///     // Applied to every rebuilt configuration as well: here, no resumption at all.
///     .customize(|config| {
///         config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
///         config.send_tls13_tickets = 0;
///     });
/// # let _ = tls; Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Fixed(Arc<ServerConfig>),
    Gate(Arc<Following>),
}

/// The inputs of the configuration, kept to rebuild it, and the current build.
struct Following {
    gate: Gate,
    provider: Arc<CryptoProvider>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: HandshakeMode,
    customize: Option<Customize>,
    current: ArcSwap<Built>,
    /// Serializes rebuilds: connections racing past a reload build once.
    rebuild: Mutex<()>,
}

struct Built {
    generation: u64,
    anchors: Vec<DistinguishedName>,
    config: Arc<ServerConfig>,
}

impl TlsConfig {
    /// A configuration whose client-certificate verifier is `gate` (see
    /// [`server_config`](super::server_config)), rebuilt whenever the gate's anchors change.
    ///
    /// # Errors
    ///
    /// rustls' error when the certificate and key do not fit the provider.
    pub fn new(
        gate: &Gate,
        provider: Arc<CryptoProvider>,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        mode: HandshakeMode,
    ) -> Result<Self, rustls::Error> {
        Following::start(gate.clone(), provider, cert_chain, key, mode, None)
    }

    /// Applies `customize` to the configuration, and to every configuration rebuilt after a
    /// reload (session storage, ticketer, ALPN, key log…).
    pub fn customize(self, customize: impl Fn(&mut ServerConfig) + Send + Sync + 'static) -> Self {
        match self.source {
            Source::Fixed(config) => {
                let mut config = Arc::unwrap_or_clone(config);
                customize(&mut config);
                Self {
                    source: Source::Fixed(Arc::new(config)),
                }
            }
            Source::Gate(following) => {
                let hook: Customize = Arc::new(customize);
                let current = following.current.load_full();
                // The current configuration went through the earlier hooks: only the new one.
                let mut config = ServerConfig::clone(&current.config);
                hook(&mut config);
                // Rebuilds run every hook, in order.
                let customize: Customize = match following.customize.clone() {
                    Some(first) => Arc::new(move |config: &mut ServerConfig| {
                        first(config);
                        hook(config);
                    }),
                    None => hook,
                };
                let following = Following {
                    gate: following.gate.clone(),
                    provider: Arc::clone(&following.provider),
                    cert_chain: following.cert_chain.clone(),
                    key: following.key.clone_key(),
                    mode: following.mode,
                    customize: Some(customize),
                    current: ArcSwap::from_pointee(Built {
                        generation: current.generation,
                        anchors: current.anchors.clone(),
                        config: Arc::new(config),
                    }),
                    rebuild: Mutex::new(()),
                };
                Self {
                    source: Source::Gate(Arc::new(following)),
                }
            }
        }
    }

    /// The configuration for the next handshake: rebuilt first when the gate was reloaded
    /// with other trust anchors.
    pub fn current(&self) -> Arc<ServerConfig> {
        match &self.source {
            Source::Fixed(config) => Arc::clone(config),
            Source::Gate(following) => following.current(),
        }
    }

    /// The gate, when it refuses in the handshake ([`HandshakeMode::Refuse`]): the server
    /// checks the quarantine before a handshake and scores the refused ones.
    pub(crate) fn refusing_gate(&self) -> Option<Gate> {
        match &self.source {
            Source::Gate(following) if following.mode == HandshakeMode::Refuse => {
                Some(following.gate.clone())
            }
            _ => None,
        }
    }

    /// The gate's event sink, for connection events (none for a fixed configuration).
    pub(crate) fn event_sink(&self) -> Option<Arc<dyn EventSink>> {
        match &self.source {
            Source::Fixed(_) => None,
            Source::Gate(following) => Some(Arc::clone(following.gate.event_sink())),
        }
    }
}

impl From<Arc<ServerConfig>> for TlsConfig {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self {
            source: Source::Fixed(config),
        }
    }
}

impl From<ServerConfig> for TlsConfig {
    fn from(config: ServerConfig) -> Self {
        Arc::new(config).into()
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Fixed(_) => f
                .debug_struct("TlsConfig")
                .field("follows_gate", &false)
                .finish(),
            Source::Gate(following) => f
                .debug_struct("TlsConfig")
                .field("follows_gate", &true)
                .field("generation", &following.current.load().generation)
                .field("mode", &following.mode)
                .finish_non_exhaustive(),
        }
    }
}

impl Following {
    fn start(
        gate: Gate,
        provider: Arc<CryptoProvider>,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        mode: HandshakeMode,
        customize: Option<Customize>,
    ) -> Result<TlsConfig, rustls::Error> {
        let generation = gate.generation();
        let anchors = gate.verifier().anchor_subjects();
        let config = build(
            &gate,
            &provider,
            &cert_chain,
            &key,
            mode,
            customize.as_ref(),
        )?;
        Ok(TlsConfig {
            source: Source::Gate(Arc::new(Self {
                gate,
                provider,
                cert_chain,
                key,
                mode,
                customize,
                current: ArcSwap::from_pointee(Built {
                    generation,
                    anchors,
                    config,
                }),
                rebuild: Mutex::new(()),
            })),
        })
    }

    fn current(&self) -> Arc<ServerConfig> {
        let generation = self.gate.generation();
        let built = self.current.load();
        if built.generation == generation {
            return Arc::clone(&built.config);
        }
        drop(built);
        self.refresh()
    }

    /// After a reload: rebuild when the anchors changed, else only note the generation.
    fn refresh(&self) -> Arc<ServerConfig> {
        let _rebuilding = self.rebuild.lock().unwrap_or_else(PoisonError::into_inner);
        // Read the generation before the anchors: a reload in between leaves a newer
        // snapshot under an older generation number, and the next connection looks again.
        let generation = self.gate.generation();
        let built = self.current.load_full();
        if built.generation == generation {
            return Arc::clone(&built.config);
        }
        let anchors = self.gate.verifier().anchor_subjects();
        let same = anchors.len() == built.anchors.len()
            && anchors
                .iter()
                .zip(&built.anchors)
                .all(|(a, b)| a.as_ref() == b.as_ref());
        let config = if same {
            Arc::clone(&built.config)
        } else {
            match build(
                &self.gate,
                &self.provider,
                &self.cert_chain,
                &self.key,
                self.mode,
                self.customize.as_ref(),
            ) {
                Ok(config) => {
                    tracing::info!(target: "certgate::server", generation, anchors = anchors.len(), "trust anchors changed: TLS configuration rebuilt");
                    config
                }
                // The certificate and key built once already; a provider that refuses them now
                // leaves the last configuration in force.
                Err(e) => {
                    tracing::error!(target: "certgate::server", generation, error = %e, "rebuilding the TLS configuration failed; keeping the previous one");
                    Arc::clone(&built.config)
                }
            }
        };
        self.current.store(Arc::new(Built {
            generation,
            anchors,
            config: Arc::clone(&config),
        }));
        config
    }
}

/// A fresh rustls configuration (and so a fresh session store and ticketer) verifying client
/// certificates with `gate`, offering h2 and http/1.1.
pub(crate) fn build(
    gate: &Gate,
    provider: &Arc<CryptoProvider>,
    cert_chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    mode: HandshakeMode,
    customize: Option<&Customize>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let verifier = Arc::new(GateClientVerifier::new(
        gate.clone(),
        Arc::clone(provider),
        mode,
    ));
    let mut config = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain.to_vec(), key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if let Some(customize) = customize {
        customize(&mut config);
    }
    Ok(Arc::new(config))
}
