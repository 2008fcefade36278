//! `Gate`: the one shared handle a server holds. Current policy snapshot (swapped atomically on
//! reload), generation, verdict cache, mode, event sink and clock.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::{ArcSwap, ArcSwapOption};
use rustls_pki_types::UnixTime;
use sha2::{Digest, Sha256};

use crate::cache::{CacheConfig, CacheStats, MAX_TTL, VerdictCache, VerdictEntry, VerdictKey};
use crate::events::SignalData;
use crate::events::{Action, EventSink, TracingSink, VerdictEvent};
use crate::peer_chain::PeerChain;
use crate::policy::{Mode, Policy, PolicyError, known_code, unobservable_message};
use crate::rejection::{Rejection, Rejections};
use crate::signals::fingerprint::{Learner, Tally};
use crate::signals::{EmbeddedStore, SignalStore, SignalsConfig, StoreStats, TlsFingerprint};
use crate::verify::Verifier;
use crate::verify::identity::{PeerIdentity, Warning};

/// The outcome of a check: the verdict (accept or rejection), and whether the gate refuses
/// the peer under its mode.
///
/// Cheap to clone. In observe mode the layer puts it into request extensions.
#[derive(Clone)]
pub struct Verdict {
    entry: Arc<VerdictEntry>,
    refused: bool,
    cached: bool,
    generation: u64,
    /// A bot signal's rejection on top of the chain's verdict (the enforced one when any is,
    /// else the first observed): `tls_fingerprint_mismatch`, `cert_cloning_suspected` or
    /// `quarantined`.
    signal: Option<Arc<Rejection>>,
    /// Whether refusals built from this verdict (the axum extractor's) may carry the detail;
    /// set by the layer.
    pub(crate) show_detail: bool,
}

impl Verdict {
    /// The verified identity, when the chain was accepted.
    pub fn identity(&self) -> Option<&PeerIdentity> {
        self.entry.identity()
    }

    /// Why the chain was rejected, when it was: the first failing check; else the bot
    /// signal that applies to the request, if any (see [`Verdict::signal`]).
    pub fn rejection(&self) -> Option<&Rejection> {
        self.entry.rejection().or(self.signal.as_deref())
    }

    /// The bot signal that applies to this request, when one does: enforced (the request
    /// is refused with it) or observed (it passed).
    pub fn signal(&self) -> Option<&Rejection> {
        self.signal.as_deref()
    }

    /// Every failing check, when the chain was rejected (see [`Rejections`]).
    pub fn rejections(&self) -> Option<&Rejections> {
        self.entry.rejections()
    }

    /// `accept`, or the primary rejection's reason code (a bot signal's on an accepted
    /// chain).
    pub fn code(&self) -> &'static str {
        self.rejection().map_or("accept", Rejection::code)
    }

    /// Every failing reason code, primary first, then the bot signal's (empty on an accept
    /// without signal).
    pub fn codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = self
            .entry
            .rejections()
            .map(|r| r.codes().collect())
            .unwrap_or_default();
        if let Some(signal) = &self.signal {
            codes.push(signal.code());
        }
        codes
    }

    /// Whether the gate refuses this peer: rejected, and at least one of its codes is
    /// enforced. A rejected chain passes (observe) only when every one of its codes is
    /// observed.
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    /// Whether the verdict came from the cache (or the connection's memo).
    pub fn is_cached(&self) -> bool {
        self.cached
    }

    /// The policy generation the verdict was computed under.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Warnings on an accept (for example `crl_stale`).
    pub fn warnings(&self) -> &[Warning] {
        self.identity().map_or(&[], PeerIdentity::warnings)
    }

    /// The instant from which the verdict must be recomputed.
    pub fn valid_until(&self) -> UnixTime {
        self.entry.valid_until
    }

    /// What the gate does with this verdict: `Refuse` when it is refused (a rejected chain,
    /// or an enforced bot signal on an accepted one), `Observe` when a rejection or a signal
    /// was observed and the request passed, else `Accept`.
    pub fn action(&self) -> Action {
        if self.refused {
            Action::Refuse
        } else if self.rejection().is_some() {
            Action::Observe
        } else {
            Action::Accept
        }
    }

    /// SHA-256 of the presented leaf, when there was one.
    #[cfg(feature = "audit")]
    pub(crate) fn fingerprint(&self) -> Option<[u8; 32]> {
        self.entry.fingerprint()
    }

    /// Whether this verdict may answer for `now` (from the instant it was computed for, up to
    /// `valid_until`).
    pub(crate) fn holds_at(&self, now: UnixTime) -> bool {
        self.entry.holds_at(now)
    }
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict")
            .field("identity", &self.entry.identity())
            .field("rejection", &self.entry.rejection())
            .field("refused", &self.refused)
            .field("cached", &self.cached)
            .field("generation", &self.generation)
            .field("signal", &self.signal)
            .finish()
    }
}

/// A clock: returns the current time. Tests pin or advance it.
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// Builds a [`Gate`].
///
/// ```
/// # fn build(policy: certgate::Policy) -> Result<certgate::Gate, certgate::PolicyError> {
/// use certgate::{Gate, Mode};
/// // Enforce everything, but only report expired certificates during a migration week.
/// Gate::builder(policy).mode(Mode::Enforce).mode_for("expired", Mode::Observe).build()
/// # }
/// ```
pub struct GateBuilder {
    policy: Policy,
    mode: Option<Mode>,
    overrides: Vec<(String, Mode)>,
    cache: CacheConfig,
    sink: Arc<dyn EventSink>,
    clock: Clock,
    store: Option<Arc<dyn SignalStore>>,
    #[cfg(feature = "audit")]
    recorder: Option<Arc<dyn VerdictRecorder>>,
}

impl GateBuilder {
    /// Where every verdict goes besides the event sink: the audit log.
    #[cfg(feature = "audit")]
    pub(crate) fn recorder(mut self, recorder: Arc<dyn VerdictRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The mode for every reason code without an override (default: the policy's
    /// `[modes] default`, else enforce). Overrides the policy's default.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Overrides the mode for one reason code (see [`Rejection::CODES`]), over the policy's
    /// `[modes]`.
    ///
    /// Under an enforcing gate, only codes given to genuine chains may be observed: `expired`,
    /// `not_yet_valid` and `wrong_key_usage` (proven genuine by the verifier), `revoked`,
    /// `app_not_allowed` and the others after path validation, and `no_certificate`
    /// (certificates optional). [`Rejection::UNAUTHENTICATED_CODES`] are refused at
    /// [`GateBuilder::build`]: a client picks those at will with a self-made certificate.
    pub fn mode_for(mut self, code: &str, mode: Mode) -> Self {
        self.overrides.push((code.to_owned(), mode));
        self
    }

    /// Cache sizes and lifetimes.
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = config;
        self
    }

    /// Where verdict events go (default: [`TracingSink`]).
    pub fn event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = sink;
        self
    }

    /// Where the bot signals keep their state (default: an [`EmbeddedStore`] of the default
    /// size, allocated on the first signal). The store belongs to the gate: it survives
    /// reloads.
    pub fn signal_store(mut self, store: Arc<dyn SignalStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock the gate reads (default: the system clock).
    pub fn clock(mut self, clock: impl Fn() -> UnixTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reads `clock` instead of the system clock: one atomic load per request instead of a
    /// `clock_gettime` call, at the price of deciding expiry up to the ticker's wake-up delay
    /// after the second it falls on (see [`CoarseClock`](crate::CoarseClock)).
    pub fn coarse_clock(self, clock: crate::CoarseClock) -> Self {
        self.clock(move || clock.now())
    }

    /// Builds the gate.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] when an override names an unknown reason code or observes an
    /// unauthenticated one under an enforcing gate, or a cache TTL is over a day.
    pub fn build(self) -> Result<Gate, PolicyError> {
        let mut overrides = HashMap::new();
        let default = self
            .mode
            .or(self.policy.modes().default_mode())
            .unwrap_or_default();
        for (code, mode) in self.overrides {
            let known = known_code(&code).map_err(|e| PolicyError::new("gate.mode_for", e))?;
            if default == Mode::Enforce
                && mode == Mode::Observe
                && Rejection::UNAUTHENTICATED_CODES.contains(&known)
            {
                return Err(PolicyError::new(
                    "gate.mode_for",
                    unobservable_message(known),
                ));
            }
            overrides.insert(known, mode);
        }
        if self.cache.ttl > MAX_TTL || self.cache.negative_ttl > MAX_TTL {
            return Err(PolicyError::new(
                "gate.cache",
                "TTLs are limited to one day",
            ));
        }
        let gate = Gate::assemble(
            self.policy,
            GateModes {
                default: self.mode,
                overrides,
            },
            self.cache,
            self.sink,
            self.clock,
            #[cfg(feature = "audit")]
            self.recorder,
        );
        #[cfg(feature = "redis")]
        let given = self.store.is_some();
        #[cfg(feature = "redis")]
        let store = match self.store {
            Some(store) => Some(store),
            None => match gate.policy().signals().and_then(|s| s.redis_store()) {
                Some((url, on_error)) => {
                    let store: Arc<dyn SignalStore> = Arc::new(
                        crate::signals::RedisStore::new(url, on_error)
                            .map_err(|e| PolicyError::new("signals.store.url", e))?,
                    );
                    let _ = gate.inner.store_url.set(url.to_owned());
                    Some(store)
                }
                None => None,
            },
        };
        #[cfg(feature = "redis")]
        if given {
            let _ = gate.inner.store_url.set(String::new());
        }
        #[cfg(not(feature = "redis"))]
        let store = self.store;
        if let Some(store) = store {
            // A fresh gate: nothing has initialized the store yet.
            let _ = gate.inner.store.set(store);
        }
        Ok(gate)
    }
}

/// One verdict, as the gate hands it to the audit log (feature `audit`): cheap to build (a
/// few reference-count increments), formatted and hashed on the log's own thread.
#[cfg(feature = "audit")]
pub(crate) struct AuditedVerdict {
    /// When the check was made (the gate's clock).
    pub(crate) time: UnixTime,
    pub(crate) verdict: Verdict,
    /// The chain judged; `None` when the request was refused before a chain could be read.
    pub(crate) chain: Option<PeerChain>,
    pub(crate) peer: Option<SocketAddr>,
    /// The policy snapshot the verdict was computed under.
    pub(crate) snapshot: Arc<AuditSnapshot>,
}

/// What the audit log needs of a policy snapshot, computed once per load or reload.
#[cfg(feature = "audit")]
pub(crate) struct AuditSnapshot {
    /// The policy's text, files and digest (`None` for a policy built in code).
    pub(crate) origin: Option<Arc<crate::policy::PolicyOrigin>>,
    /// `(field, cRLNumber hex)` of every configured CRL.
    pub(crate) crl_numbers: Vec<(String, Option<String>)>,
    /// The gate's default mode and the mode of every reason code under this snapshot.
    pub(crate) default_mode: Mode,
    pub(crate) modes: Vec<(&'static str, Mode)>,
}

/// Receives every verdict the gate computes or refuses (feature `audit`). Must not block.
#[cfg(feature = "audit")]
pub(crate) trait VerdictRecorder: Send + Sync + 'static {
    /// Whether a verdict with this action is recorded at all (checked before building one).
    fn wants(&self, action: Action) -> bool;
    /// Takes one verdict.
    fn record(&self, verdict: AuditedVerdict);
}

/// The modes the gate's builder set; the policy's `[modes]` fill in the rest.
#[derive(Debug, Default)]
struct GateModes {
    default: Option<Mode>,
    overrides: HashMap<&'static str, Mode>,
}

impl GateModes {
    /// The mode of every code under `policy`: the builder's per-code override, else the
    /// policy's, else the code's built-in default ([`Rejection::OBSERVED_BY_DEFAULT`]), else
    /// the builder's default, else the policy's, else enforce. Fail closed: under an
    /// enforcing default an unauthenticated code is always enforced.
    fn resolve(&self, policy: &Policy) -> ResolvedModes {
        let rules = policy.modes();
        let default = self.default.or(rules.default_mode()).unwrap_or_default();
        let per_code = Rejection::CODES
            .iter()
            .map(|code| {
                let mode = self
                    .overrides
                    .get(code)
                    .copied()
                    .or(rules.mode_for(code))
                    .or(Rejection::OBSERVED_BY_DEFAULT
                        .contains(code)
                        .then_some(Mode::Observe))
                    .unwrap_or(default);
                let mode = if default == Mode::Enforce
                    && Rejection::UNAUTHENTICATED_CODES.contains(code)
                {
                    Mode::Enforce
                } else {
                    mode
                };
                (*code, mode)
            })
            .collect();
        ResolvedModes { default, per_code }
    }
}

/// The mode of every code, for one policy snapshot.
#[derive(Debug)]
struct ResolvedModes {
    default: Mode,
    per_code: HashMap<&'static str, Mode>,
}

impl ResolvedModes {
    fn mode_for(&self, code: &str) -> Mode {
        self.per_code.get(code).copied().unwrap_or(self.default)
    }

    /// Whether `entry` is refused: rejected, with at least one of its codes enforced.
    fn refuses(&self, entry: &VerdictEntry) -> bool {
        entry
            .rejections()
            .is_some_and(|all| all.codes().any(|code| self.mode_for(code) == Mode::Enforce))
    }
}

/// The shared verification handle: `Clone`, `Send + Sync`.
///
/// [`Gate::check`] runs snapshot → cache → verify on a miss → insert → event.
/// [`Gate::reload`] swaps the policy and bumps the generation, so every verdict from before
/// (cached, or memoized on an open connection) is recomputed on its next use.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

struct GateInner {
    /// Unique in the process: a connection's memo names the gate it came from, so a chain
    /// checked by two gates (two layers with different policies) never borrows a verdict.
    id: u64,
    current: ArcSwap<Snapshot>,
    /// The current snapshot's generation, readable with one atomic load.
    generation: AtomicU64,
    /// Whether the current snapshot has neither signals nor a `[forwarded]` section (the
    /// layer's plain path), readable with one atomic load.
    plain: AtomicBool,
    cache: VerdictCache,
    /// Forwarded chains by the exact header bytes they were parsed from (and the generation
    /// whose `[forwarded]` parsed them): a returning client's header is not decoded again.
    parsed: moka::sync::Cache<(u64, Arc<[u8]>), PeerChain>,
    modes: GateModes,
    sink: Arc<dyn EventSink>,
    clock: Clock,
    /// Serializes reloads so generations are handed out in order.
    reload: Mutex<()>,
    /// The bot signals' state (created on first use unless the builder gave one).
    store: OnceLock<Arc<dyn SignalStore>>,
    /// The Redis URL the builder connected `store` to from the policy; `None` when the
    /// builder was given a store or the policy named none (a reload cannot change the store).
    #[cfg(feature = "redis")]
    store_url: OnceLock<String>,
    /// The TLS fingerprints seen per learning app.
    learner: Learner,
    #[cfg(feature = "audit")]
    recorder: Option<Arc<dyn VerdictRecorder>>,
}

/// The memory the forwarded-header parse cache may weigh (header bytes plus DER bytes).
const PARSED_MAX_BYTES: u64 = 16 << 20;

/// Whether `policy` asks the layer for nothing but the transport's chain (see
/// [`Gate::is_plain`]).
fn is_plain(policy: &Policy) -> bool {
    policy.signals_shared().is_none() && policy.forwarded_shared().is_none()
}

/// Gate ids: never reused, so a memo outliving its gate cannot match a later one.
static NEXT_GATE_ID: AtomicU64 = AtomicU64::new(1);

struct Snapshot {
    policy: Policy,
    generation: u64,
    modes: ResolvedModes,
    /// The per-request counters of this policy (its listed apps name the `app` label).
    #[cfg(feature = "metrics")]
    counters: crate::metrics::RequestCounters,
    #[cfg(feature = "metrics")]
    expiries: crate::metrics::Expiries,
    #[cfg(feature = "audit")]
    audit: Arc<AuditSnapshot>,
}

impl Snapshot {
    fn new(policy: Policy, generation: u64, modes: ResolvedModes) -> Self {
        Self {
            #[cfg(feature = "audit")]
            audit: Arc::new(AuditSnapshot {
                origin: policy.origin().cloned(),
                crl_numbers: policy.verifier().crl_numbers(),
                default_mode: modes.default,
                modes: {
                    let mut all: Vec<_> = modes.per_code.iter().map(|(c, m)| (*c, *m)).collect();
                    all.sort_unstable_by_key(|(code, _)| *code);
                    all
                },
            }),
            #[cfg(feature = "metrics")]
            counters: crate::metrics::RequestCounters::new(policy.verifier()),
            #[cfg(feature = "metrics")]
            expiries: crate::metrics::Expiries::of(policy.verifier()),
            policy,
            generation,
            modes,
        }
    }

    /// The per-request counter for `verdict` under this snapshot's labels.
    #[cfg(feature = "metrics")]
    fn request_counter(&self, verdict: &Verdict) -> ::metrics::Counter {
        let action = crate::metrics::action_index(verdict.action());
        self.counters.counter(
            verdict.code(),
            action,
            verdict.identity().and_then(PeerIdentity::app_id),
        )
    }
}

impl Gate {
    /// A builder with the defaults: enforce, default cache, tracing events, system clock.
    pub fn builder(policy: Policy) -> GateBuilder {
        GateBuilder {
            policy,
            mode: None,
            overrides: Vec::new(),
            cache: CacheConfig::default(),
            sink: Arc::new(TracingSink),
            clock: Arc::new(UnixTime::now),
            store: None,
            #[cfg(feature = "audit")]
            recorder: None,
        }
    }

    /// A gate with the defaults. Like [`GateBuilder::build`], it connects the Redis store the
    /// policy names (`[signals.store] kind = "redis"`): the fleet's denylist and signals
    /// apply to a gate made either way.
    pub fn new(policy: Policy) -> Self {
        #[cfg(feature = "redis")]
        if policy.signals().and_then(|s| s.redis_store()).is_some() {
            match Self::builder(policy.clone()).build() {
                Ok(gate) => return gate,
                // The URL was checked when the policy loaded: only a thread that cannot start.
                Err(e) => tracing::error!(
                    target: "certgate",
                    error = %e,
                    "the policy's Redis store cannot start: signals on the embedded store"
                ),
            }
        }
        Self::assemble(
            policy,
            GateModes::default(),
            CacheConfig::default(),
            Arc::new(TracingSink),
            Arc::new(UnixTime::now),
            #[cfg(feature = "audit")]
            None,
        )
    }

    fn assemble(
        policy: Policy,
        modes: GateModes,
        cache: CacheConfig,
        sink: Arc<dyn EventSink>,
        clock: Clock,
        #[cfg(feature = "audit")] recorder: Option<Arc<dyn VerdictRecorder>>,
    ) -> Self {
        let resolved = modes.resolve(&policy);
        let plain = is_plain(&policy);
        #[cfg(feature = "metrics")]
        crate::metrics::describe();
        let gate = Self {
            inner: Arc::new(GateInner {
                id: NEXT_GATE_ID.fetch_add(1, Ordering::Relaxed),
                current: ArcSwap::from_pointee(Snapshot::new(policy, 1, resolved)),
                generation: AtomicU64::new(1),
                plain: AtomicBool::new(plain),
                cache: VerdictCache::new(cache),
                parsed: moka::sync::Cache::builder()
                    .max_capacity(PARSED_MAX_BYTES)
                    .weigher(|key: &(u64, Arc<[u8]>), chain: &PeerChain| {
                        let bytes = chain
                            .certs()
                            .iter()
                            .fold(key.1.len(), |n, c| n.saturating_add(c.as_ref().len()));
                        u32::try_from(bytes.saturating_add(128)).unwrap_or(u32::MAX)
                    })
                    .build(),
                modes,
                sink,
                clock,
                reload: Mutex::new(()),
                store: OnceLock::new(),
                #[cfg(feature = "redis")]
                store_url: OnceLock::new(),
                learner: Learner::default(),
                #[cfg(feature = "audit")]
                recorder,
            }),
        };
        #[cfg(feature = "metrics")]
        gate.publish_metrics();
        gate
    }

    /// Checks `chain` at `now`: from the cache when possible, else by verifying; then
    /// against the signal store's denylist (the fleet-wide one of a Redis store), so a
    /// denylisted leaf is `denylisted` here too (the handshake verifier calls this).
    pub fn check(&self, chain: &PeerChain, now: UnixTime) -> Verdict {
        self.check_from(chain, now, None)
    }

    /// Like [`Gate::check`], naming the peer's address in the event.
    pub fn check_from(
        &self,
        chain: &PeerChain,
        now: UnixTime,
        peer: Option<SocketAddr>,
    ) -> Verdict {
        let verdict = self.check_with_fingerprint(chain, now, peer, None);
        // The store's denylist too (the fleet-wide one): `check` is what the handshake
        // verifier (`HandshakeMode::Refuse`) and custom transports call.
        self.denylist(verdict, now, chain, || peer, None)
    }

    /// [`Gate::check_from`], naming the client's TLS fingerprint in the event.
    fn check_with_fingerprint(
        &self,
        chain: &PeerChain,
        now: UnixTime,
        peer: Option<SocketAddr>,
        tls: Option<&TlsFingerprint>,
    ) -> Verdict {
        let snapshot = self.inner.current.load();
        let key = VerdictKey {
            generation: snapshot.generation,
            digest: chain.digest(),
        };
        let (entry, cached) = match self.inner.cache.get(&key, now) {
            Some(entry) => (entry, true),
            None => {
                #[cfg(feature = "metrics")]
                let started = std::time::Instant::now();
                let (result, changes_at) = snapshot.policy.verifier().verify_timed(chain, now);
                #[cfg(feature = "metrics")]
                crate::metrics::verified(started);
                let fingerprint = match &result {
                    Ok(identity) => Some(identity.fingerprint()),
                    Err(_) => chain
                        .leaf()
                        .map(|leaf| Sha256::digest(leaf.as_ref()).into()),
                };
                (
                    self.inner
                        .cache
                        .insert(key, result, changes_at, fingerprint, now),
                    false,
                )
            }
        };
        let verdict = Verdict {
            refused: snapshot.modes.refuses(&entry),
            entry,
            cached,
            generation: snapshot.generation,
            signal: None,
            show_detail: false,
        };
        #[cfg(feature = "metrics")]
        if !cached {
            self.publish_metrics_at(&snapshot, now);
        }
        self.emit(&verdict, now, peer, tls);
        #[cfg(feature = "audit")]
        self.audit(&verdict, now, Some(chain), peer, &snapshot);
        verdict
    }

    /// The verdict for a request refused before any chain could be read (a forwarded header
    /// from a trusted proxy that does not parse): not cached, judged by the modes like any
    /// other, with an event.
    pub(crate) fn refuse_unread(
        &self,
        rejection: Rejection,
        peer: Option<SocketAddr>,
        tls: Option<&TlsFingerprint>,
        count: bool,
    ) -> Verdict {
        let snapshot = self.inner.current.load();
        let now = (self.inner.clock)();
        let entry = VerdictCache::uncached(Rejections::new(rejection), None, now);
        let verdict = Verdict {
            refused: snapshot.modes.refuses(&entry),
            entry,
            cached: false,
            generation: snapshot.generation,
            signal: None,
            show_detail: false,
        };
        #[cfg(feature = "metrics")]
        {
            if count {
                snapshot.request_counter(&verdict).increment(1);
            }
            crate::metrics::forwarded_refused(verdict.code());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = count;
        self.emit(&verdict, now, peer, tls);
        #[cfg(feature = "audit")]
        self.audit(&verdict, now, None, peer, &snapshot);
        verdict
    }

    /// Reports a forwarded-certificate header that came from an untrusted peer and was
    /// removed (someone trying to present an identity without a certificate).
    pub(crate) fn untrusted_forwarded_header(&self, peer: Option<SocketAddr>) {
        #[cfg(feature = "metrics")]
        crate::metrics::forwarded_refused(crate::events::ConnectionEvent::FORWARDED_UNTRUSTED);
        if let Some(peer_addr) = peer {
            self.inner.sink.record_connection(&crate::events::ConnectionEvent {
                code: crate::events::ConnectionEvent::FORWARDED_UNTRUSTED,
                peer_addr,
                detail: Some(
                    "a forwarded client-certificate header from a peer outside                      forwarded.trusted_proxies was removed"
                        .into(),
                ),
            });
        }
        // Debug, not warn: any client can send the header, and logs must not be its to fill.
        tracing::debug!(
            target: "certgate",
            peer = peer.map(tracing::field::display),
            "forwarded certificate header from an untrusted peer removed"
        );
    }

    /// The current policy's `[forwarded]` section.
    /// Whether a connection whose own TLS chain is `chain` is a trusted proxy by identity
    /// (`forwarded.proxy_identity`): the chain verifies under the proxy anchors and names an
    /// allowed proxy. Decided once per connection, chain and policy generation (the memo).
    pub(crate) fn is_proxy_identity(&self, chain: &PeerChain, memo: &ConnectionMemo) -> bool {
        let snapshot = self.inner.current.load();
        let Some(trust) = snapshot.policy.proxy_trust() else {
            return false;
        };
        let now = (self.inner.clock)();
        let digest = chain.digest();
        if let Some(m) = &*memo.proxy.load() {
            if m.gate == self.inner.id
                && m.generation == snapshot.generation
                && m.digest == digest
                && now.as_secs() < m.decision.until.as_secs()
            {
                return m.decision.trusted;
            }
        }
        let decision = trust.decide(chain, now);
        memo.proxy.store(Some(Arc::new(ProxyMemo {
            gate: self.inner.id,
            generation: snapshot.generation,
            digest,
            decision,
        })));
        decision.trusted
    }

    /// [`ForwardedConfig::extract`](crate::forwarded::ForwardedConfig::extract) through a
    /// cache keyed by the exact bytes of the consumed headers: the same header value from the
    /// same configuration always yields the same chain, so a hit skips the decoding (and the
    /// digest). Errors are not cached.
    ///
    /// The configuration is the current snapshot's, and the key carries that snapshot's
    /// generation, so a reload (which may change format, header or limits) never reuses a
    /// parse made under another configuration.
    pub(crate) fn forwarded_chain(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<PeerChain>, crate::forwarded::ForwardedError> {
        let snapshot = self.inner.current.load();
        let Some(config) = snapshot.policy.forwarded() else {
            return Ok(None);
        };
        let Some(raw) = config.raw_input(headers) else {
            return config.extract(headers);
        };
        let key = (snapshot.generation, Arc::from(raw));
        if let Some(chain) = self.inner.parsed.get(&key) {
            return Ok(Some(chain));
        }
        let chain = config.extract(headers)?;
        if let Some(chain) = &chain {
            self.inner.parsed.insert(key, chain.clone());
        }
        Ok(chain)
    }

    /// The verdict for one request whose chain is not tied to a connection (a chain a
    /// trusted proxy forwarded, or a transport without per-connection state): the verdict
    /// cache, at the gate's clock.
    pub fn check_request(&self, chain: &PeerChain, peer: Option<SocketAddr>) -> Verdict {
        self.check_with_memo(chain, None, || peer, None, true)
    }

    /// The verdict for one request on a connection: the connection's memo when it holds this
    /// chain's verdict at the current generation and within its `valid_until` (one atomic
    /// load and a clock read), otherwise [`Gate::check_from`] at the gate's clock, memoized.
    pub fn check_connection(
        &self,
        chain: &PeerChain,
        memo: &ConnectionMemo,
        peer: Option<SocketAddr>,
    ) -> Verdict {
        self.check_with_memo(chain, Some(memo), || peer, None, true)
    }

    /// [`Gate::check_connection`] (or, without a memo, [`Gate::check_request`]) with the
    /// peer's address looked up only when needed (a miss).
    pub(crate) fn check_with_memo(
        &self,
        chain: &PeerChain,
        memo: Option<&ConnectionMemo>,
        peer: impl FnOnce() -> Option<SocketAddr>,
        tls: Option<&TlsFingerprint>,
        count: bool,
    ) -> Verdict {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let now = (self.inner.clock)();
        // Counted once per request, with the final verdict: here when nothing can change it
        // later (no denylisting store; the layer passes `count = false` when signals apply
        // and counts after them, see `count_request`).
        let count_now = count && self.inner.store.get().is_none();
        if let Some(memo) = memo {
            if let Some(mut verdict) = memo.get(self.inner.id, generation, chain, now, count_now) {
                verdict.cached = true;
                // A memoized accept (or observe) is the verdict already recorded on the
                // connection's first request; each refusal is recorded, memoized or not.
                #[cfg(feature = "audit")]
                if verdict.refused {
                    let snapshot = self.inner.current.load();
                    self.audit(&verdict, now, Some(chain), peer(), &snapshot);
                    if count && !count_now {
                        self.count_request(&verdict, Some(memo));
                    }
                    return verdict;
                }
                let verdict = self.denylist(verdict, now, chain, peer, tls);
                if count && !count_now {
                    self.count_request(&verdict, Some(memo));
                }
                return verdict;
            }
        }
        let peer = peer();
        let verdict = self.check_with_fingerprint(chain, now, peer, tls);
        #[cfg(feature = "metrics")]
        let counter = {
            let counter = self.inner.current.load().request_counter(&verdict);
            if count_now {
                counter.increment(1);
            }
            counter
        };
        if let Some(memo) = memo {
            memo.set(Memo {
                gate: self.inner.id,
                generation: verdict.generation,
                digest: chain.digest(),
                verdict: verdict.clone(),
                #[cfg(feature = "metrics")]
                counter,
            });
        }
        // The peer and fingerprint of the miss: the denylist's event names them too.
        let verdict = self.denylist(verdict, now, chain, || peer, tls);
        if count && !count_now {
            self.count_request(&verdict, memo);
        }
        verdict
    }

    /// Counts one request under its final verdict (`certgate_requests_total`): the
    /// connection memo's handle when the verdict is the memoized one, else a table lookup.
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    pub(crate) fn count_request(&self, verdict: &Verdict, memo: Option<&ConnectionMemo>) {
        #[cfg(feature = "metrics")]
        {
            if let Some(memo) = memo {
                let slot = memo.slot.load();
                if let Some(m) = &*slot {
                    if m.gate == self.inner.id
                        && m.generation == verdict.generation
                        && m.verdict.refused == verdict.refused
                        && m.verdict.code() == verdict.code()
                    {
                        m.counter.increment(1);
                        return;
                    }
                }
            }
            self.inner
                .current
                .load()
                .request_counter(verdict)
                .increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (verdict, memo);
    }

    /// The store's denylist (a fleet-wide one: the Redis store), checked on every request
    /// against the leaf the verdict already knows: an entry reaches open keep-alive
    /// connections on their next request. `denylisted`, like the policy's own denylist.
    fn denylist(
        &self,
        verdict: Verdict,
        now: UnixTime,
        chain: &PeerChain,
        peer: impl FnOnce() -> Option<SocketAddr>,
        tls: Option<&TlsFingerprint>,
    ) -> Verdict {
        let Some(store) = self.inner.store.get() else {
            return verdict;
        };
        if verdict.refused {
            return verdict;
        }
        let Some(leaf) = verdict.entry.fingerprint() else {
            return verdict;
        };
        if !store.denylisted(&leaf, now.as_secs()) {
            return verdict;
        }
        let snapshot = self.inner.current.load();
        let entry = VerdictCache::uncached(Rejections::new(Rejection::Denylisted), Some(leaf), now);
        let verdict = Verdict {
            refused: snapshot.modes.refuses(&entry),
            entry,
            cached: false,
            generation: snapshot.generation,
            signal: None,
            show_detail: false,
        };
        let peer = peer();
        self.emit(&verdict, now, peer, tls);
        #[cfg(feature = "audit")]
        self.audit(&verdict, now, Some(chain), peer, &snapshot);
        #[cfg(not(feature = "audit"))]
        let _ = chain;
        verdict
    }

    /// Replaces the policy. Every verdict from before is recomputed on its next use, and the
    /// cached verdicts of the old policy are dropped.
    pub fn reload(&self, policy: Policy) {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        self.swap(policy);
        #[cfg(feature = "metrics")]
        crate::metrics::reload(true, started);
    }

    fn swap(&self, policy: Policy) {
        let _guard = self
            .inner
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = self
            .inner
            .generation
            .load(Ordering::Acquire)
            .saturating_add(1);
        // Publish the snapshot before the generation: a reader that sees the new generation
        // and misses its memo then loads the new snapshot.
        #[cfg(feature = "redis")]
        self.warn_store_change(&policy);
        let modes = self.inner.modes.resolve(&policy);
        let plain = is_plain(&policy);
        self.inner
            .current
            .store(Arc::new(Snapshot::new(policy, generation, modes)));
        self.inner.plain.store(plain, Ordering::Release);
        self.inner.generation.store(generation, Ordering::Release);
        // Entries of older generations can never be served again: drop them now rather than
        // letting them hold memory until their TTL (a check racing this reload may still insert
        // one old-generation entry; it is ignored and ages out).
        self.inner.cache.clear();
        #[cfg(feature = "metrics")]
        self.publish_metrics();
    }

    /// The signal store is the gate's, built once: a reload whose `[signals.store]` names
    /// another Redis store than the one the builder connected (or none) keeps the old one,
    /// and says so.
    #[cfg(feature = "redis")]
    fn warn_store_change(&self, policy: &Policy) {
        let wanted = policy
            .signals()
            .and_then(|s| s.redis_store())
            .map(|(u, _)| u);
        let built = self.inner.store_url.get().map(String::as_str);
        let differs = match (wanted, built) {
            // A store the builder was given: the application chose it.
            (_, Some("")) => false,
            (Some(w), Some(b)) => w != b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if differs {
            tracing::warn!(
                target: "certgate",
                wanted = wanted.unwrap_or_default(),
                "the reloaded policy names a Redis store this gate was not built with; the \
                 signals keep the gate's store (build a new Gate to change it)"
            );
        }
    }

    /// Loads the policy at `path` and, if it is valid, swaps it in.
    ///
    /// # Errors
    ///
    /// The [`PolicyError`]; the gate keeps serving with the last good policy.
    pub fn reload_from_file(&self, path: impl AsRef<Path>) -> Result<(), PolicyError> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let policy = match Policy::load(path) {
            Ok(policy) => policy,
            Err(e) => {
                #[cfg(feature = "metrics")]
                crate::metrics::reload(false, started);
                return Err(e);
            }
        };
        self.swap(policy);
        #[cfg(feature = "metrics")]
        crate::metrics::reload(true, started);
        Ok(())
    }

    /// Sets the gauges (feature `metrics`): policy generation, seconds until the earliest CRL
    /// nextUpdate and anchor or intermediate notAfter (at the gate's clock), cache entries
    /// and bytes. The gate sets them itself on build, reload and every cold verification;
    /// call this before rendering a scrape so the time-dependent ones are current.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn publish_metrics(&self) {
        let snapshot = self.inner.current.load();
        self.publish_metrics_at(&snapshot, (self.inner.clock)());
    }

    #[cfg(feature = "metrics")]
    fn publish_metrics_at(&self, snapshot: &Snapshot, now: UnixTime) {
        use crate::metrics::{CACHE_BYTES, CACHE_ENTRIES, POLICY_GENERATION, u64_to_f64};
        ::metrics::gauge!(POLICY_GENERATION).set(u64_to_f64(snapshot.generation));
        snapshot.expiries.publish(now);
        let stats = self.inner.cache.stats();
        ::metrics::gauge!(CACHE_ENTRIES).set(u64_to_f64(stats.entries));
        ::metrics::gauge!(CACHE_BYTES).set(u64_to_f64(stats.bytes));
    }

    /// The event sink events go to (the `server` module reports connection events to it).
    #[cfg(feature = "server")]
    pub(crate) fn event_sink(&self) -> &Arc<dyn EventSink> {
        &self.inner.sink
    }

    /// The current policy generation (starts at 1, +1 per reload).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The current verifier.
    pub fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(self.inner.current.load().policy.verifier())
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        self.inner.current.load().policy.clone()
    }

    /// The mode that applies to `code` under the current policy (the builder's settings over
    /// the policy's `[modes]`).
    pub fn mode_for(&self, code: &str) -> Mode {
        self.inner.current.load().modes.mode_for(code)
    }

    /// The gate's clock reading.
    pub fn now(&self) -> UnixTime {
        (self.inner.clock)()
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// The verdict cache.
    pub fn cache(&self) -> &VerdictCache {
        &self.inner.cache
    }

    /// Hands `verdict` to the audit log, if the gate has one and it records this action.
    #[cfg(feature = "audit")]
    fn audit(
        &self,
        verdict: &Verdict,
        now: UnixTime,
        chain: Option<&PeerChain>,
        peer: Option<SocketAddr>,
        snapshot: &Snapshot,
    ) {
        if let Some(recorder) = &self.inner.recorder {
            if recorder.wants(verdict.action()) {
                recorder.record(AuditedVerdict {
                    time: now,
                    verdict: verdict.clone(),
                    chain: chain.cloned(),
                    peer,
                    snapshot: Arc::clone(&snapshot.audit),
                });
            }
        }
    }

    fn emit(
        &self,
        verdict: &Verdict,
        now: UnixTime,
        peer: Option<SocketAddr>,
        tls: Option<&TlsFingerprint>,
    ) {
        let action = verdict.action();
        if !self.inner.sink.wants(action) {
            return;
        }
        let (app_id, detail) = match verdict.entry.result() {
            Ok(identity) => (
                identity.app_id().cloned(),
                verdict.signal().map(ToString::to_string),
            ),
            Err(rejection) => (None, Some(rejection.to_string())),
        };
        self.inner.sink.record(&VerdictEvent {
            code: verdict.code(),
            codes: verdict.codes(),
            action,
            warnings: verdict.warnings().iter().map(|w| w.code()).collect(),
            app_id,
            fingerprint: verdict.entry.fingerprint().map(|f| crate::hex(&f)),
            peer_addr: peer,
            cached: verdict.cached,
            generation: verdict.generation,
            time: now,
            detail,
            tls_fingerprint: tls.map(|t| t.ja4.clone()),
            signal: None,
        });
    }
}

/// The gate's state for one connection: the last verdict of the connection's chain, with the
/// gate, policy generation and chain digest it belongs to. One slot, shared by every clone: a
/// connection alternating between two gates (or two chains) falls back to the caches.
///
/// Only for a chain that belongs to the connection (its TLS chain): a proxy's connection
/// carries many clients, and their forwarded chains are judged through the cache by digest.
#[derive(Clone, Default)]
pub struct ConnectionMemo {
    slot: Arc<ArcSwapOption<Memo>>,
    /// Whether the connection's own chain is a trusted proxy's (`forwarded.proxy_identity`).
    proxy: Arc<ArcSwapOption<ProxyMemo>>,
    /// The bot signals' per-connection state (fingerprint decision, learning tally, the
    /// per-install certificate's connection registration, released when the connection's
    /// last memo clone is dropped).
    signals: Arc<ArcSwapOption<SignalMemo>>,
}

/// What the signals decided once for a connection's chain under one policy generation.
struct SignalMemo {
    gate: u64,
    generation: u64,
    digest: [u8; 32],
    /// `tls_fingerprint_mismatch`, when the app's allowlist refuses the connection's JA4.
    mismatch: Option<Arc<Rejection>>,
    /// The learning tally of (app, JA4).
    tally: Option<Arc<Tally>>,
    /// The leaf's SHA-256 when it is per-install and cloning detection is on.
    per_install: Option<[u8; 32]>,
    /// The connection's registration with the store (dropped: the connection closed).
    _use: Option<crate::signals::cloning::ConnectionUse>,
}

struct ProxyMemo {
    gate: u64,
    generation: u64,
    digest: [u8; 32],
    decision: crate::policy::proxy::ProxyDecision,
}

struct Memo {
    gate: u64,
    generation: u64,
    digest: [u8; 32],
    verdict: Verdict,
    /// The per-request counter of this verdict, registered on the miss that made the memo.
    #[cfg(feature = "metrics")]
    counter: ::metrics::Counter,
}

impl ConnectionMemo {
    /// The memoized verdict when it is `chain`'s, from `gate` at `generation`, and holds at
    /// `now` (a guard, no reference-count round trip on the hot path).
    fn get(
        &self,
        gate: u64,
        generation: u64,
        chain: &PeerChain,
        now: UnixTime,
        count: bool,
    ) -> Option<Verdict> {
        let memo = self.slot.load();
        match &*memo {
            Some(memo)
                if memo.gate == gate
                    && memo.generation == generation
                    && memo.digest == chain.digest()
                    && memo.verdict.holds_at(now) =>
            {
                // The request is counted here: one add to a handle the memo already holds.
                #[cfg(feature = "metrics")]
                if count {
                    memo.counter.increment(1);
                }
                #[cfg(not(feature = "metrics"))]
                let _ = count;
                Some(memo.verdict.clone())
            }
            _ => None,
        }
    }

    fn set(&self, memo: Memo) {
        self.slot.store(Some(Arc::new(memo)));
    }
}

impl fmt::Debug for ConnectionMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memo = self.slot.load();
        f.debug_struct("ConnectionMemo")
            .field("generation", &memo.as_ref().map(|m| m.generation))
            .finish()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("generation", &self.generation())
            .field("modes", &self.inner.current.load().modes)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// What a request's signals look at, besides its verdict.
pub(crate) struct SignalInput<'a> {
    /// The client address: the TLS peer, or the address a trusted proxy forwarded.
    pub(crate) client: Option<SocketAddr>,
    /// The connection's own chain and memo (the TLS memo path); `None` for forwarded chains.
    pub(crate) connection: Option<(&'a PeerChain, &'a ConnectionMemo)>,
    /// The client's TLS fingerprint (the transport's, or the trusted proxy's header).
    pub(crate) tls: Option<&'a TlsFingerprint>,
    /// A quarantine found by [`Gate::quarantine_check`] and only observed.
    pub(crate) observed: Option<Rejection>,
}

/// One signal that applies to a request.
struct Found {
    rejection: Arc<Rejection>,
    data: SignalData,
}

impl Gate {
    /// Whether the current policy has neither bot signals nor a `[forwarded]` section: the
    /// layer then judges the transport's chain alone (one atomic load, no snapshot guard).
    /// During a reload it may answer for the policy being replaced, like a snapshot loaded a
    /// moment earlier would.
    pub(crate) fn is_plain(&self) -> bool {
        self.inner.plain.load(Ordering::Acquire)
    }

    /// The current policy's signal settings and `[forwarded]` section (one snapshot load).
    #[allow(clippy::type_complexity)]
    pub(crate) fn request_settings(
        &self,
    ) -> (
        Option<Arc<SignalsConfig>>,
        Option<Arc<crate::forwarded::ForwardedConfig>>,
    ) {
        let snapshot = self.inner.current.load();
        (
            snapshot.policy.signals_shared().cloned(),
            snapshot.policy.forwarded_shared().cloned(),
        )
    }

    fn store(&self) -> &Arc<dyn SignalStore> {
        self.inner
            .store
            .get_or_init(|| Arc::new(EmbeddedStore::default()))
    }

    /// What the bot signals' store holds (tracked addresses and certificates, bytes).
    pub fn signal_store_stats(&self) -> StoreStats {
        self.store().stats()
    }

    /// The TLS fingerprints seen for `app` (an app with `tls_fingerprints.learn = true`) and
    /// how many requests each, most seen first: at most
    /// [`MAX_LEARNED`](crate::signals::MAX_LEARNED) JA4s, the rest as `other`, and `none`
    /// for requests without a fingerprint. Survives reloads.
    pub fn learned_fingerprints(&self, app: &str) -> Vec<(String, u64)> {
        self.inner.learner.counts(app)
    }

    /// Whether `client` is quarantined: the rejection, and whether it is enforced. Enforced
    /// refusals are counted (`certgate_requests_total{code="quarantined"}`), not reported
    /// one by one (the quarantine's start is); an observed one is reported with the
    /// request's verdict, once per connection. One atomic load when no address is
    /// quarantined.
    pub(crate) fn quarantine_check(
        &self,
        sig: &SignalsConfig,
        client: Option<SocketAddr>,
        now: UnixTime,
    ) -> Option<(Rejection, bool)> {
        sig.quarantine.as_ref()?;
        let client = client?;
        let left = self
            .store()
            .quarantined(source_key(client.ip()), now.as_secs())?;
        let rejection = Rejection::Quarantined {
            retry_after_seconds: left,
        };
        let snapshot = self.inner.current.load();
        let enforced = snapshot.modes.mode_for(rejection.code()) == Mode::Enforce;
        // Counted, not reported one by one: a flood must cost almost nothing (the event that
        // matters, with the score, is the quarantine's start).
        #[cfg(feature = "metrics")]
        if enforced {
            snapshot
                .counters
                .counter(
                    rejection.code(),
                    crate::metrics::action_index(Action::Refuse),
                    None,
                )
                .increment(1);
        }
        Some((rejection, enforced))
    }

    /// Applies the signals to a request's verdict: a rejected chain adds to the client's
    /// failure score; an accepted one is checked against its app's fingerprint allowlist and,
    /// per-install, the cloning detector. The verdict gets the signal that applies (refused
    /// when its code is enforced).
    pub(crate) fn after_verdict(
        &self,
        verdict: Verdict,
        sig: &SignalsConfig,
        input: SignalInput<'_>,
        now: UnixTime,
    ) -> Verdict {
        let secs = now.as_secs();
        let mut quarantine = input.observed.map(|r| Found {
            data: SignalData {
                duration_seconds: match &r {
                    Rejection::Quarantined {
                        retry_after_seconds,
                    } => Some(*retry_after_seconds),
                    _ => None,
                },
                ..SignalData::default()
            },
            rejection: Arc::new(r),
        });
        if let Some(rejections) = verdict.entry.rejections() {
            self.score(sig, rejections, input.client, now, input.tls);
        }
        let identity = verdict.entry.identity();
        let mut mismatch = None;
        let mut cloning = None;
        let mut rate = None;
        // Whether this request is the first of its connection under this policy (or has no
        // connection): observed signals are reported then, not on every request.
        let mut first = true;
        if let Some(identity) = identity {
            let app = identity.app_id();
            // Looked up once per connection (a memo miss), not on every request.
            let lookup = || {
                let app_cfg = app.and_then(|a| sig.apps.get(a));
                let rule = sig.cloning.as_ref().filter(|_| {
                    app_cfg.is_some_and(|a| a.per_install) || identity.install_id().is_some()
                });
                (app_cfg, rule)
            };
            let ja4 = input.tls.map(|t| t.ja4.as_str());
            let leaf_use = match input.connection {
                Some((chain, memo)) => {
                    // The memo's decisions, when they are this chain's under this policy.
                    let hit = {
                        let current = memo.signals.load();
                        match &*current {
                            Some(m)
                                if m.gate == self.inner.id
                                    && m.generation == verdict.generation
                                    && m.digest == chain.digest() =>
                            {
                                if let Some(t) = &m.tally {
                                    t.add();
                                }
                                Some((m.mismatch.clone(), m.per_install))
                            }
                            _ => None,
                        }
                    };
                    match hit {
                        Some((memo_mismatch, per_install)) => {
                            first = false;
                            mismatch = memo_mismatch;
                            per_install.and_then(|leaf| self.store().leaf_flagged(&leaf, secs))
                        }
                        None => {
                            // Release the connection's old registration (another policy
                            // generation) before registering again: never counted twice.
                            drop(memo.signals.swap(None));
                            let (app_cfg, rule) = lookup();
                            mismatch = app_cfg.filter(|a| !a.allows(ja4)).map(|_| {
                                Arc::new(Rejection::TlsFingerprintMismatch {
                                    ja4: ja4.unwrap_or("none").to_owned(),
                                })
                            });
                            let tally = match (app, app_cfg) {
                                (Some(app), Some(a)) if a.learn => {
                                    Some(self.inner.learner.tally(app, ja4.unwrap_or("none")))
                                }
                                _ => None,
                            };
                            if let Some(t) = &tally {
                                t.add();
                            }
                            let mut registration = None;
                            let mut leaf_use = None;
                            let mut per_install = None;
                            if let (Some(rule), Some(client)) = (rule, input.client) {
                                let leaf = identity.fingerprint();
                                let store = self.store();
                                let used = store.observe_leaf(
                                    &leaf,
                                    rule.network(client.ip()),
                                    true,
                                    secs,
                                    rule,
                                );
                                registration = Some(crate::signals::cloning::ConnectionUse::new(
                                    Arc::clone(store),
                                    leaf,
                                ));
                                per_install = Some(leaf);
                                leaf_use = used.flagged_for.is_some().then_some(used);
                            }
                            memo.signals.store(Some(Arc::new(SignalMemo {
                                gate: self.inner.id,
                                generation: verdict.generation,
                                digest: chain.digest(),
                                mismatch: mismatch.clone(),
                                tally,
                                per_install,
                                _use: registration,
                            })));
                            leaf_use
                        }
                    }
                }
                None => {
                    let (app_cfg, rule) = lookup();
                    mismatch = app_cfg.filter(|a| !a.allows(ja4)).map(|_| {
                        Arc::new(Rejection::TlsFingerprintMismatch {
                            ja4: ja4.unwrap_or("none").to_owned(),
                        })
                    });
                    if let (Some(app), Some(a)) = (app, app_cfg) {
                        if a.learn {
                            self.inner.learner.tally(app, ja4.unwrap_or("none")).add();
                        }
                    }
                    match (rule, input.client) {
                        (Some(rule), Some(client)) => {
                            let used = self.store().observe_leaf(
                                &identity.fingerprint(),
                                rule.network(client.ip()),
                                false,
                                secs,
                                rule,
                            );
                            used.flagged_for.is_some().then_some(used)
                        }
                        _ => None,
                    }
                }
            };
            if let Some(rule) = &sig.rate {
                if let Some((found, first_over)) = self.rate_check(rule, identity, secs) {
                    // Observed: reported on the window's first request over the ceiling.
                    first |= first_over;
                    rate = Some(found);
                }
            }
            if let Some(used) = leaf_use {
                #[cfg(feature = "metrics")]
                if used.flagged_now {
                    crate::metrics::quarantine_started("certificate");
                }
                first |= used.flagged_now;
                cloning = Some(Found {
                    rejection: Arc::new(Rejection::CertCloningSuspected {
                        addresses: used.addresses,
                        connections: used.connections,
                    }),
                    data: SignalData {
                        duration_seconds: used.flagged_for,
                        addresses: Some(used.addresses),
                        connections: Some(used.connections),
                        ..SignalData::default()
                    },
                });
            }
        }
        let mismatch = mismatch.map(|rejection| Found {
            rejection,
            data: SignalData::default(),
        });
        if quarantine.is_none() && mismatch.is_none() && cloning.is_none() && rate.is_none() {
            return verdict;
        }
        let snapshot = self.inner.current.load();
        let found: Vec<Found> = [quarantine.take(), mismatch, cloning, rate]
            .into_iter()
            .flatten()
            .collect();
        let enforced = |f: &Found| snapshot.modes.mode_for(f.rejection.code()) == Mode::Enforce;
        let refused_by_signal = found.iter().any(enforced);
        let Some(chosen) = found.iter().find(|f| enforced(f)).or_else(|| found.first()) else {
            return verdict;
        };
        if refused_by_signal || first {
            self.emit_signal(
                &chosen.rejection,
                found.iter().map(|f| f.rejection.code()).collect(),
                refused_by_signal,
                verdict.identity().and_then(|i| i.app_id().cloned()),
                SignalEvent {
                    now,
                    leaf: verdict.identity().map(PeerIdentity::fingerprint),
                    peer: input.client,
                    tls: input.tls,
                    data: chosen.data,
                },
            );
        }
        let mut verdict = verdict;
        verdict.refused |= refused_by_signal;
        verdict.signal = Some(Arc::clone(&chosen.rejection));
        verdict
    }

    /// Counts one request of an accepted chain against the ceilings of `[signals.rate]`
    /// (its certificate's and its app's, both counted): the first one it is over, and
    /// whether this is the window's first request over it.
    fn rate_check(
        &self,
        rule: &crate::signals::RateConfig,
        identity: &PeerIdentity,
        secs: u64,
    ) -> Option<(Found, bool)> {
        use crate::signals::RateKey;
        let store = self.store();
        let window = rule.window_seconds;
        let mut over = None;
        if let Some(limit) = rule.per_certificate {
            let leaf = identity.fingerprint();
            let key = RateKey::Certificate(&leaf);
            if let Some(o) = store.count_request(key, secs, window, limit) {
                over = Some((key.scope(), limit, o));
            }
        }
        if let (Some(limit), Some(app)) = (rule.per_app, identity.app_id()) {
            let key = RateKey::App(app.as_str());
            if let Some(o) = store.count_request(key, secs, window, limit) {
                over = over.or(Some((key.scope(), limit, o)));
            }
        }
        over.map(|(scope, limit, o)| {
            (
                Found {
                    rejection: Arc::new(Rejection::RateLimited {
                        scope,
                        limit,
                        retry_after_seconds: o.retry_after_seconds,
                    }),
                    data: SignalData {
                        duration_seconds: Some(o.retry_after_seconds),
                        ..SignalData::default()
                    },
                },
                o.first,
            )
        })
    }

    /// Adds a rejected verdict's weight to the client's score; reports a quarantine it starts.
    fn score(
        &self,
        sig: &SignalsConfig,
        rejections: &Rejections,
        client: Option<SocketAddr>,
        now: UnixTime,
        tls: Option<&TlsFingerprint>,
    ) {
        let (Some(rule), Some(client)) = (&sig.quarantine, client) else {
            return;
        };
        let weight = rejections
            .codes()
            .map(|c| rule.weight_of(c))
            .max()
            .unwrap_or(0);
        self.add_weight(rule, weight, client, now, tls);
    }

    /// [`HandshakeMode::Refuse`](crate::HandshakeMode::Refuse), before a connection's TLS
    /// handshake: the seconds left of `addr`'s quarantine, when it is quarantined and
    /// `quarantined` is enforced (the server then closes the connection unread: no TLS and no
    /// certificate work). One atomic load when no address is quarantined. Not a request: not
    /// in `certgate_requests_total` (the server counts it as a refused connection).
    #[cfg(feature = "server")]
    pub(crate) fn quarantined_before_handshake(&self, addr: SocketAddr) -> Option<u64> {
        let snapshot = self.inner.current.load();
        snapshot.policy.signals_shared()?.quarantine.as_ref()?;
        let left = self
            .store()
            .quarantined(source_key(addr.ip()), self.now().as_secs())?;
        (snapshot.modes.mode_for("quarantined") == Mode::Enforce).then_some(left)
    }

    /// [`HandshakeMode::Refuse`](crate::HandshakeMode::Refuse), after a handshake the gate
    /// refused with `code`: its weight on `addr`'s failure score, as a refused request's in
    /// the layer (a forged certificate refused in the handshake never reaches the layer).
    #[cfg(feature = "server")]
    pub(crate) fn score_refused_handshake(&self, code: &str, addr: SocketAddr) {
        let snapshot = self.inner.current.load();
        let Some(rule) = snapshot
            .policy
            .signals_shared()
            .and_then(|s| s.quarantine.as_ref())
        else {
            return;
        };
        if !Rejection::CODES.contains(&code) {
            return;
        }
        self.add_weight(rule, rule.weight_of(code), addr, self.now(), None);
    }

    /// Adds `weight` to the client's score; reports a quarantine it starts.
    fn add_weight(
        &self,
        rule: &crate::signals::QuarantineConfig,
        weight: u32,
        client: SocketAddr,
        now: UnixTime,
        tls: Option<&TlsFingerprint>,
    ) {
        if weight == 0 {
            return;
        }
        let score = self
            .store()
            .add_failure(source_key(client.ip()), weight, now.as_secs(), rule);
        if let Some(duration) = score.quarantined_for {
            #[cfg(feature = "metrics")]
            crate::metrics::quarantine_started("address");
            let rejection = Rejection::Quarantined {
                retry_after_seconds: duration,
            };
            let enforced =
                self.inner.current.load().modes.mode_for(rejection.code()) == Mode::Enforce;
            self.emit_signal(
                &rejection,
                vec![rejection.code()],
                enforced,
                None,
                SignalEvent {
                    now,
                    leaf: None,
                    peer: Some(client),
                    tls,
                    data: SignalData {
                        score: Some(score.score),
                        total_score: Some(score.total),
                        duration_seconds: Some(duration),
                        ..SignalData::default()
                    },
                },
            );
        }
    }

    fn emit_signal(
        &self,
        rejection: &Rejection,
        codes: Vec<&'static str>,
        refused: bool,
        app_id: Option<crate::verify::identity::AppId>,
        e: SignalEvent<'_>,
    ) {
        self.inner.sink.record(&VerdictEvent {
            code: rejection.code(),
            codes,
            action: if refused {
                Action::Refuse
            } else {
                Action::Observe
            },
            warnings: Vec::new(),
            app_id,
            fingerprint: e.leaf.map(|f| crate::hex(&f)),
            peer_addr: e.peer,
            cached: false,
            generation: self.generation(),
            time: e.now,
            detail: Some(rejection.to_string()),
            tls_fingerprint: e.tls.map(|t| t.ja4.clone()),
            signal: Some(e.data),
        });
    }
}

/// What a failure score is kept for: an IPv4 address, or an IPv6 /64 (one subscriber's
/// prefix: an IPv6 client rotating addresses inside it stays one source, as in the server's
/// per-source connection limit).
fn source_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
        v4 => v4,
    }
}

/// The context of one signal event.
struct SignalEvent<'a> {
    now: UnixTime,
    /// The leaf's SHA-256 (what `certgate revoke` takes), for certificate signals.
    leaf: Option<[u8; 32]>,
    peer: Option<SocketAddr>,
    tls: Option<&'a TlsFingerprint>,
    data: SignalData,
}
