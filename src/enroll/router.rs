//! The enrollment router: challenge, Android and iOS enrollment, renewal over mTLS.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, StatusCode, header};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::challenge::{CHALLENGE_BYTES, ChallengeError, ChallengeStore, Challenges, RateLimit};
use crate::attest::{AppEvidence, EnrollPolicy, EnrollRejection, android, apple};
use crate::issue::{Ca, InstallRecord, IssueError, IssueRequest, PublicKey, SubjectKey};
use crate::verify::attestation::{AttestationFacts, Platform};
use crate::{Gate, PeerChain};

/// The largest request body the router reads, in bytes (a 5-certificate Android chain in
/// base64 is about 8 KB; an App Attest object about 6 KB).
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// The most certificates an Android enrollment may post.
const MAX_CHAIN_CERTS: usize = android::MAX_CHAIN_LEN;
/// The largest App Attest attestation object or assertion accepted (the CBOR reader's bound).
const MAX_ATTESTATION_BYTES: usize = 64 * 1024;

/// Attested enrollment over HTTP: the state behind [`Enrollment::router`].
///
/// Mount the router **outside** the [`CertGateLayer`](crate::CertGateLayer) (an app enrolls
/// before it has a certificate), and the gated routes inside it:
///
/// ```no_run
/// # async fn demo(gate: certgate::Gate) -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use certgate::CertGateLayer;
/// use certgate::enroll::Enrollment;
/// use certgate::issue::Ca;
///
/// // The gate's policy has an [enroll] section; the CA is the one its anchors trust.
/// let enrollment = Enrollment::builder(gate.clone(), Ca::open("ca", None)?).build()?;
/// let app: Router = Router::new()
///     .route("/api/orders", get(|| async { "orders" }))
///     .layer(CertGateLayer::new(gate))
///     .nest("/enroll", enrollment.router());
/// # let _ = app; Ok(()) }
/// ```
///
/// Routes (JSON bodies; refusals are `application/problem+json` with a stable `code`):
/// - `POST /challenge` → `200 {"challenge":"<base64url, 32 bytes>","expires_at":<unix s>}`;
/// - `POST /android` `{"app_id","challenge","chain":["<base64 DER>",…]}` (leaf first) →
///   `201 {"certificate_chain":"<PEM>","install_id","not_after"}`;
/// - `POST /ios` `{"app_id","challenge","key_id","attestation","csr"}` with clientDataHash =
///   SHA-256(challenge ‖ CSR DER) → `201` as above, for the CSR's key;
/// - `POST /renew` over mTLS with the current enrolled certificate (Android: empty body or
///   `{}`; iOS: `{"assertion":"<base64 CBOR>"}` over clientDataHash = SHA-256 of the presented
///   leaf certificate's DER) → `201`, a fresh certificate for the same key.
///
/// Challenges live in this process's memory, or with `[signals.store] kind = "redis"`
/// (feature `redis`) in Redis, shared by every replica
/// ([`EnrollmentBuilder::challenge_store`]). A store that cannot be reached fails closed:
/// `503` `enroll_failed` with `Retry-After: 1`, never a challenge or a certificate.
#[derive(Clone, Debug)]
pub struct Enrollment {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gate: Gate,
    ca: Mutex<Ca>,
    challenges: Arc<dyn Challenges>,
    limit: RateLimit,
    show_detail: bool,
}

/// Builds an [`Enrollment`].
#[derive(Debug)]
#[must_use]
pub struct EnrollmentBuilder {
    gate: Gate,
    ca: Ca,
    per_window: u32,
    window: Duration,
    max_challenges: usize,
    challenges: Option<Arc<dyn Challenges>>,
    show_detail: bool,
}

/// Why an [`Enrollment`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollSetupError {
    /// The gate's policy has no `[enroll]` section.
    #[error("the policy has no [enroll] section: enrollment is not configured")]
    NotConfigured,
    /// The challenge store the policy names cannot be set up (a bad Redis URL).
    #[error("the challenge store: {0}")]
    ChallengeStore(String),
}

impl Enrollment {
    /// Enrollment judged by `gate`'s current policy (its [`enrollment`](crate::Policy::enrollment)
    /// settings, re-read on every request so a reload applies) and issuing from `ca`.
    pub fn builder(gate: Gate, ca: Ca) -> EnrollmentBuilder {
        EnrollmentBuilder {
            gate,
            ca,
            per_window: 30,
            window: Duration::from_secs(60),
            max_challenges: 100_000,
            challenges: None,
            show_detail: false,
        }
    }

    /// The routes, to [`nest`](axum::Router::nest) under a base path of your choice.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/challenge", post(challenge))
            .route("/android", post(enroll_android))
            .route("/ios", post(enroll_ios))
            .route("/renew", post(renew))
            .with_state(self.clone())
    }

    /// Challenges outstanding in this process's store; `None` with a shared store (Redis),
    /// where they live outside it.
    pub fn outstanding_challenges(&self) -> Option<usize> {
        self.inner.challenges.outstanding()
    }
}

impl EnrollmentBuilder {
    /// At most `requests` enrollment requests (all routes together) per client address per
    /// `window` (default 30 a minute); past it, `429 enroll_rate_limited` with `Retry-After`.
    pub fn rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.per_window = requests;
        self.window = window;
        self
    }

    /// At most this many challenges outstanding (default 100,000); past it, new challenges
    /// are refused `429` until some expire. For the in-memory store only (Redis holds each
    /// challenge for its TTL; its memory is the operator's `maxmemory`).
    pub fn max_challenges(mut self, max: usize) -> Self {
        self.max_challenges = max;
        self
    }

    /// Where the challenges live. Default: the Redis store when the gate's policy says
    /// `[signals.store] kind = "redis"` (feature `redis`:
    /// [`RedisChallengeStore`](super::challenge::RedisChallengeStore) on its `url`, so a
    /// challenge issued by one replica is redeemed on any other), else this process's memory
    /// ([`ChallengeStore`] of [`max_challenges`](Self::max_challenges)).
    pub fn challenge_store(mut self, store: Arc<dyn Challenges>) -> Self {
        self.challenges = Some(store);
        self
    }

    /// Puts the human `detail` into refusal bodies (off by default: it helps an attacker
    /// probe the policy).
    pub fn show_detail(mut self) -> Self {
        self.show_detail = true;
        self
    }

    /// Builds it.
    ///
    /// # Errors
    ///
    /// [`EnrollSetupError::NotConfigured`] when the gate's policy has no `[enroll]` section;
    /// [`EnrollSetupError::ChallengeStore`] when the Redis URL it names does not parse
    /// (nothing is contacted here).
    pub fn build(self) -> Result<Enrollment, EnrollSetupError> {
        let policy = self.gate.policy();
        if policy.enrollment().is_none() {
            return Err(EnrollSetupError::NotConfigured);
        }
        let challenges: Arc<dyn Challenges> = match self.challenges {
            Some(store) => store,
            None => default_store(&policy, self.max_challenges)?,
        };
        Ok(Enrollment {
            inner: Arc::new(Inner {
                gate: self.gate,
                ca: Mutex::new(self.ca),
                challenges,
                limit: RateLimit::new(self.per_window, self.window, 100_000),
                show_detail: self.show_detail,
            }),
        })
    }
}

/// The challenge store the policy calls for: Redis with `[signals.store] kind = "redis"`
/// (feature `redis`), else memory.
fn default_store(
    policy: &crate::Policy,
    max_challenges: usize,
) -> Result<Arc<dyn Challenges>, EnrollSetupError> {
    #[cfg(feature = "redis")]
    if let Some((url, _)) = policy.signals().and_then(|s| s.redis_store()) {
        let store = super::challenge::RedisChallengeStore::new(url)
            .map_err(EnrollSetupError::ChallengeStore)?;
        return Ok(Arc::new(store));
    }
    #[cfg(not(feature = "redis"))]
    let _ = policy;
    Ok(Arc::new(ChallengeStore::new(max_challenges)))
}

/// A refusal or a server-side failure.
enum Failure {
    Refused(EnrollRejection),
    Gate(crate::Rejection),
    Server(String),
    /// The challenge store is unreachable: 503, refused (fail closed).
    Unavailable,
}

impl From<EnrollRejection> for Failure {
    fn from(r: EnrollRejection) -> Self {
        Self::Refused(r)
    }
}

impl Failure {
    fn into_response(self, show_detail: bool) -> Response {
        match self {
            Self::Refused(r) => refusal(&r, show_detail),
            Self::Gate(r) => crate::problem_response::<Body>(&r, show_detail),
            Self::Server(detail) => {
                tracing::error!(target: "certgate::enroll", %detail, "enrollment failed");
                crate::layer::problem::server_error("enroll_failed", "enrollment failed")
            }
            Self::Unavailable => {
                let mut response = crate::layer::problem::problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Enrollment unavailable",
                    "tag:certgate,2026:error/enroll_failed",
                    "enroll_failed",
                    Some("the challenge store is unreachable; try again".to_owned()),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }
}

fn refusal(r: &EnrollRejection, show_detail: bool) -> Response {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let detail = show_detail.then(|| r.to_string());
    let mut response = crate::layer::problem::problem(
        status,
        "Enrollment refused",
        &format!("tag:certgate,2026:enroll/{}", r.code()),
        r.code(),
        detail,
    );
    if let EnrollRejection::RateLimited {
        retry_after_seconds,
    } = r
    {
        if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    tracing::info!(target: "certgate::enroll", code = r.code(), detail = %r, "enrollment refused");
    response
}

fn malformed(what: impl AsRef<str>) -> EnrollRejection {
    EnrollRejection::MalformedRequest {
        detail: EnrollRejection::detail(what),
    }
}

/// The client address for the rate limit: the TCP peer, or behind a trusted proxy (the
/// policy's `[forwarded] trusted_proxies`) the address it states, by the same rule as the
/// layer's events. All peers of unknown address share one bucket.
fn client(request: &Request, policy: &crate::Policy) -> IpAddr {
    let Some(peer) = crate::layer::tcp_peer(request.extensions()).map(|a| a.ip()) else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    match policy.forwarded() {
        Some(config) => config.client_address_of(peer, request.headers()),
        None => peer,
    }
}

fn now_secs(now: UnixTime) -> u64 {
    now.as_secs()
}

impl Enrollment {
    /// The rate limit, the body, and the current enrollment policy.
    async fn admit(
        &self,
        request: Request,
    ) -> Result<(axum::body::Bytes, EnrollPolicyRef, UnixTime), Failure> {
        let now = self.inner.gate.now();
        let policy = self.inner.gate.policy();
        self.inner
            .limit
            .check(client(&request, &policy), now_secs(now))
            .map_err(|retry_after_seconds| EnrollRejection::RateLimited {
                retry_after_seconds,
            })?;
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                malformed(format!(
                    "the body is not readable or over {MAX_BODY_BYTES} bytes"
                ))
            })?;
        if policy.enrollment().is_none() {
            return Err(Failure::Server(
                "the policy has no [enroll] section any more".into(),
            ));
        }
        Ok((bytes, EnrollPolicyRef(policy), now))
    }

    /// Takes the posted challenge: single use, whatever follows.
    async fn take_challenge(
        &self,
        challenge: [u8; CHALLENGE_BYTES],
        now: UnixTime,
    ) -> Result<[u8; CHALLENGE_BYTES], Failure> {
        let store = Arc::clone(&self.inner.challenges);
        let now = now_secs(now);
        let taken = if store.may_block() {
            tokio::task::spawn_blocking(move || store.take(&challenge, now))
                .await
                .map_err(|e| Failure::Server(format!("challenge task: {e}")))?
        } else {
            store.take(&challenge, now)
        };
        let detail = match taken {
            Ok(()) => return Ok(challenge),
            Err(ChallengeError::Unavailable) => return Err(Failure::Unavailable),
            Err(ChallengeError::Expired) => "expired",
            Err(_) => "unknown or already used",
        };
        Err(EnrollRejection::ChallengeMismatch {
            detail: detail.into(),
        }
        .into())
    }

    /// Records a fresh challenge: its expiry.
    async fn issue_challenge(
        &self,
        challenge: [u8; CHALLENGE_BYTES],
        now: UnixTime,
        ttl: u64,
    ) -> Result<u64, Failure> {
        let store = Arc::clone(&self.inner.challenges);
        let now = now_secs(now);
        let issued = if store.may_block() {
            tokio::task::spawn_blocking(move || store.issue(challenge, now, ttl))
                .await
                .map_err(|e| Failure::Server(format!("challenge task: {e}")))?
        } else {
            store.issue(challenge, now, ttl)
        };
        issued.map_err(|e| match e {
            ChallengeError::Unavailable => Failure::Unavailable,
            _ => EnrollRejection::RateLimited {
                retry_after_seconds: ttl.max(1),
            }
            .into(),
        })
    }

    /// A new install of `app_id` for the attested `spki`: its first certificate, and the
    /// install recorded with it (App Attest's key, counter and receipt for iOS).
    async fn new_install(
        &self,
        app_id: &str,
        spki: &[u8],
        facts: AttestationFacts,
        enroll: &EnrollPolicy,
        now: UnixTime,
        app_attest: Option<&apple::AppAttestation>,
    ) -> Result<Response, Failure> {
        let install_id = random_install_id()?;
        let mut install = InstallRecord::new(&install_id, app_id, spki.to_vec(), facts.clone());
        install.enrolled_at = i64::try_from(now_secs(now)).unwrap_or(i64::MAX);
        if let Some(attested) = app_attest {
            install.key_id = Some(attested.key_id.to_vec());
            install.attest_key = Some(attested.public_key.clone());
            install.counter = Some(attested.counter);
            install.receipt = Some(attested.receipt.clone());
        }
        let request = request_for(app_id, &install_id, spki, facts, enroll.validity())?;
        self.issue(request, Some(install)).await
    }

    /// Issues on a blocking thread (key checks, signing, one SQLite transaction).
    async fn issue(
        &self,
        request: IssueRequest,
        install: Option<InstallRecord>,
    ) -> Result<Response, Failure> {
        let inner = Arc::clone(&self.inner);
        let issued = tokio::task::spawn_blocking(move || {
            let mut ca = inner
                .ca
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &install {
                Some(install) => ca.enroll(&request, install),
                None => ca.issue(&request),
            }
        })
        .await
        .map_err(|e| Failure::Server(format!("issuance task: {e}")))?
        .map_err(|e| match e {
            IssueError::Csr(detail) => Failure::Refused(malformed(format!("key: {detail}"))),
            other => Failure::Server(other.to_string()),
        })?;
        let body = Issued {
            certificate_chain: issued.chain_pem(),
            install_id: issued.record().install_id.clone().unwrap_or_default(),
            not_after: issued.record().not_after,
        };
        Ok((StatusCode::CREATED, axum::Json(body)).into_response())
    }
}

/// The policy a request is judged under (kept whole: the enrollment settings live in it).
struct EnrollPolicyRef(crate::Policy);

impl EnrollPolicyRef {
    fn get(&self) -> Result<&EnrollPolicy, Failure> {
        self.0
            .enrollment()
            .ok_or_else(|| Failure::Server("no [enroll] section".into()))
    }
}

#[derive(Serialize)]
struct ChallengeBody {
    challenge: String,
    expires_at: u64,
}

#[derive(Serialize)]
struct Issued {
    certificate_chain: String,
    install_id: String,
    not_after: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AndroidBody {
    app_id: String,
    challenge: String,
    chain: Vec<String>,
    /// Optional: a CSR signed by the attested key; its key must be the attested one.
    #[serde(default)]
    csr: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IosBody {
    app_id: String,
    challenge: String,
    key_id: String,
    attestation: String,
    csr: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    #[serde(default)]
    assertion: Option<String>,
}

/// The app's rule for `platform`, or `app_not_attested` when the policy has none.
fn rule<'a, T>(
    enroll: &'a EnrollPolicy,
    app_id: &str,
    platform: &str,
    pick: fn(&'a AppEvidence) -> Option<&'a T>,
) -> Result<&'a T, Failure> {
    enroll.app(app_id).and_then(pick).ok_or_else(|| {
        EnrollRejection::AppNotAttested {
            detail: EnrollRejection::detail(format!(
                "no {platform} rule for app {app_id:?} in the policy"
            )),
        }
        .into()
    })
}

/// The posted challenge: base64url (padding tolerated) of 32 bytes.
fn decode_challenge(text: &str) -> Result<[u8; CHALLENGE_BYTES], Failure> {
    if text.len() > 64 {
        return Err(malformed("challenge: not base64url of 32 bytes").into());
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| malformed("challenge: not base64url"))?;
    bytes.as_slice().try_into().map_err(|_| {
        EnrollRejection::ChallengeMismatch {
            detail: format!(
                "a challenge is {CHALLENGE_BYTES} bytes, not {}",
                bytes.len()
            ),
        }
        .into()
    })
}

fn json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::Refused(malformed(format!("the body is not the expected JSON: {e}"))))
}

fn base64(field: &str, text: &str, max: usize) -> Result<Vec<u8>, Failure> {
    // Four base64 characters carry three bytes: refuse before decoding.
    if text.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(malformed(format!("{field}: over {max} bytes")).into());
    }
    STANDARD
        .decode(text)
        .map_err(|_| malformed(format!("{field}: not base64")).into())
}

fn random_install_id() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Failure::Server(format!("random: {e}")))?;
    // RFC 9562 version 4, variant 10.
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x40;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    let hex = crate::hex(&b);
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    ))
}

fn request_for(
    app_id: &str,
    install_id: &str,
    spki: &[u8],
    facts: AttestationFacts,
    validity: Duration,
) -> Result<IssueRequest, Failure> {
    let key = PublicKey::from_spki_der(spki).map_err(|e| {
        Failure::Refused(EnrollRejection::AttestationInvalid {
            detail: EnrollRejection::detail(format!("the attested key cannot be certified: {e}")),
        })
    })?;
    IssueRequest::new(app_id)
        .and_then(|r| r.install_id(install_id))
        .map(|r| {
            r.key(SubjectKey::PublicKey(key))
                .attestation(facts)
                .validity(validity)
        })
        .map_err(|e| Failure::Refused(malformed(e.to_string())))
}

async fn challenge(State(e): State<Enrollment>, request: Request) -> Response {
    let show = e.inner.show_detail;
    let result = async {
        let (_, policy, now) = e.admit(request).await?;
        let ttl = policy.get()?.ttl();
        let mut challenge = [0u8; CHALLENGE_BYTES];
        getrandom::fill(&mut challenge).map_err(|e| Failure::Server(format!("random: {e}")))?;
        let expires_at = e.issue_challenge(challenge, now, ttl.as_secs()).await?;
        Ok::<_, Failure>(
            axum::Json(ChallengeBody {
                challenge: URL_SAFE_NO_PAD.encode(challenge),
                expires_at,
            })
            .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|f| f.into_response(show))
}

async fn enroll_android(State(e): State<Enrollment>, request: Request) -> Response {
    let show = e.inner.show_detail;
    let result = async {
        let (bytes, policy, now) = e.admit(request).await?;
        let body: AndroidBody = json(&bytes)?;
        let challenge = decode_challenge(&body.challenge)?;
        if body.chain.is_empty() || body.chain.len() > MAX_CHAIN_CERTS {
            return Err(malformed(format!("chain: 1 to {MAX_CHAIN_CERTS} certificates")).into());
        }
        let chain = body
            .chain
            .iter()
            .enumerate()
            .map(|(i, c)| {
                base64(&format!("chain[{i}]"), c, android::MAX_CERT_BYTES).map(CertificateDer::from)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let csr = body
            .csr
            .as_deref()
            .map(|c| base64("csr", c, crate::issue::MAX_CSR_BYTES))
            .transpose()?;
        let enroll = policy.get()?;
        let rule = rule(enroll, &body.app_id, "Android", |a| a.android.as_ref())?;
        let challenge = e.take_challenge(challenge, now).await?;
        let attested = android::verify_android(
            &chain,
            &challenge,
            rule,
            enroll.android(),
            enroll.attestation_status(),
            now,
        )?;
        if let Some(csr) = csr {
            let csr =
                crate::issue::Csr::parse(&csr).map_err(|err| malformed(format!("csr: {err}")))?;
            if csr.spki_der() != attested.public_key_spki.as_slice() {
                return Err(EnrollRejection::AttestationInvalid {
                    detail: "the CSR's key is not the attested key".into(),
                }
                .into());
            }
        }
        let mut facts = AttestationFacts::new(Platform::Android);
        facts.security_level = Some(attested.security_level);
        facts.verified_boot = attested
            .verified_boot_state
            .map(|s| s == android::VerifiedBootState::Verified);
        facts.device_locked = attested.device_locked;
        facts.app_version = Some(attested.app_version);
        facts.os_patch_level = attested.os_patch_level.and_then(|p| u32::try_from(p).ok());
        e.new_install(
            &body.app_id,
            &attested.public_key_spki,
            facts,
            enroll,
            now,
            None,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|f| f.into_response(show))
}

async fn enroll_ios(State(e): State<Enrollment>, request: Request) -> Response {
    let show = e.inner.show_detail;
    let result = async {
        let (bytes, policy, now) = e.admit(request).await?;
        let body: IosBody = json(&bytes)?;
        let challenge = decode_challenge(&body.challenge)?;
        let key_id = base64("key_id", &body.key_id, 64)?;
        let attestation = base64("attestation", &body.attestation, MAX_ATTESTATION_BYTES)?;
        let csr_der = base64("csr", &body.csr, crate::issue::MAX_CSR_BYTES)?;
        let csr =
            crate::issue::Csr::parse(&csr_der).map_err(|err| malformed(format!("csr: {err}")))?;
        let enroll = policy.get()?;
        let rule = rule(enroll, &body.app_id, "iOS", |a| a.ios.as_ref())?;
        let challenge = e.take_challenge(challenge, now).await?;
        let client_data_hash = apple::client_data_hash(&challenge, &csr_der);
        let attested = apple::verify_attestation(
            &key_id,
            &attestation,
            &client_data_hash,
            rule,
            enroll.apple(),
            now,
        )?;
        let mut facts = AttestationFacts::new(Platform::Ios);
        facts.environment = Some(attested.environment.as_str().to_owned());
        e.new_install(
            &body.app_id,
            csr.spki_der(),
            facts,
            enroll,
            now,
            Some(&attested),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|f| f.into_response(show))
}

async fn renew(State(e): State<Enrollment>, request: Request) -> Response {
    let show = e.inner.show_detail;
    let result = async {
        let peer = crate::layer::tcp_peer(request.extensions());
        let chain = crate::layer::connection(request.extensions())
            .map(|c| c.chain.clone())
            .or_else(|| request.extensions().get::<PeerChain>().cloned())
            .unwrap_or_else(|| PeerChain::new(Vec::new()));
        let (bytes, policy, _) = e.admit(request).await?;
        let body: RenewBody = if bytes.is_empty() {
            RenewBody::default()
        } else {
            json(&bytes)?
        };
        let verdict = e.inner.gate.check_request(&chain, peer);
        if verdict.is_refused() {
            return Err(match verdict.rejection() {
                Some(rejection) => Failure::Gate(rejection.clone()),
                None => Failure::Server("a refused verdict without a rejection".into()),
            });
        }
        let not_enrolled = |why: &str| EnrollRejection::NotEnrolled {
            detail: why.to_owned(),
        };
        let identity = verdict
            .identity()
            .ok_or_else(|| not_enrolled("the certificate was not accepted"))?;
        let install_id = identity
            .install_id()
            .ok_or_else(|| not_enrolled("the certificate carries no install id"))?
            .to_owned();
        let leaf = chain
            .leaf()
            .ok_or_else(|| not_enrolled("no certificate"))?
            .clone();
        let inner = Arc::clone(&e.inner);
        let id = install_id.clone();
        let install = tokio::task::spawn_blocking(move || {
            let ca = inner
                .ca
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ca.store().install(&id)
        })
        .await
        .map_err(|err| Failure::Server(format!("lookup task: {err}")))?
        .map_err(|err| Failure::Server(err.to_string()))?
        .ok_or_else(|| not_enrolled("no enrolled install has this id"))?;
        if install.revoked_at.is_some() {
            return Err(EnrollRejection::AttestationRevoked {
                detail: "the install was revoked".into(),
            }
            .into());
        }
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|_| not_enrolled("the certificate does not parse"))?;
        if cert.public_key().raw != install.spki.as_slice()
            || identity.app_id().map(crate::AppId::as_str) != Some(install.app_id.as_str())
        {
            return Err(not_enrolled("the certificate is not for the enrolled key and app").into());
        }
        let enroll = policy.get()?;
        if install.facts.platform == Platform::Ios {
            let rule = rule(enroll, &install.app_id, "iOS", |a| a.ios.as_ref())?;
            let assertion = body
                .assertion
                .as_deref()
                .ok_or_else(|| malformed("assertion: required for an iOS install"))
                .and_then(|a| {
                    base64("assertion", a, MAX_ATTESTATION_BYTES)
                        .map_err(|_| malformed("assertion: not base64"))
                })?;
            let (Some(key), Some(previous)) = (&install.attest_key, install.counter) else {
                return Err(Failure::Server(format!(
                    "install {install_id}: no App Attest key"
                )));
            };
            let client_data_hash: [u8; 32] = Sha256::digest(leaf.as_ref()).into();
            let counter = apple::verify_assertion(
                &assertion,
                &client_data_hash,
                key,
                previous,
                rule,
                enroll.apple(),
            )?;
            let inner = Arc::clone(&e.inner);
            let id = install_id.clone();
            let raised = tokio::task::spawn_blocking(move || {
                let mut ca = inner
                    .ca
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                ca.store_mut().raise_counter(&id, counter)
            })
            .await
            .map_err(|err| Failure::Server(format!("counter task: {err}")))?
            .map_err(|err| Failure::Server(err.to_string()))?;
            if !raised {
                return Err(EnrollRejection::AttestationInvalid {
                    detail: "the assertion's counter was already used".into(),
                }
                .into());
            }
        } else if body.assertion.is_some() {
            return Err(malformed("assertion: only iOS renewals carry one").into());
        }
        let request = request_for(
            &install.app_id,
            &install_id,
            &install.spki,
            install.facts.clone(),
            enroll.validity(),
        )?;
        e.issue(request, None).await
    }
    .await;
    result.unwrap_or_else(|f| f.into_response(show))
}
