//! `ass-client`: the wire types of the Agent Secret Store HTTP API and a typed async client
//! for it — the Rust SDK. The `ass` CLI, the chaos suite and the benchmarks all talk to the
//! cluster through this crate; it never depends on the node.
//!
//! A [`Client`] holds a list of node base URLs, an optional bearer token and one keep-alive
//! connection pool. Each call goes to the current node; when that node cannot be reached, or
//! answers 429 (`rate_limited`) or 503 (`sealed`, `no_leader`, `unavailable`, …), the call
//! moves on to the next address (each at most once per call, with a backoff that grows by
//! 100 ms per attempt, at most 1 s). Both statuses mean the node did not act on the request,
//! and every write carries one `x-ass-request-id` for all of its attempts, so a write retried
//! on another node is applied once. A client with one address (a load balancer in front of
//! the nodes) tries it [`LB_TRIES`] times instead. Per-node calls (seal, unseal, status,
//! health) never fail over. If an attempt may have been acted on (it timed out, or the
//! connection dropped after the request went out) and no later one succeeds, the call ends
//! with that attempt's error: a failed call reads "not done" only when no attempt can have
//! reached a node.
//!
//! ```text
//!  Client::secret_get ──> addr[cur] ──ok──────────────────────────────> decode T
//!                            │ refused / timeout / 429 / 503
//!                            └──backoff──> addr[cur+1] ──> … (each address once)
//! ```
//!
//! The credential is a token (`ASS_TOKEN`) or an agent key (`ASS_AGENT_KEY`). With an agent
//! key the client buys a short-lived token holding only the scopes it is given (see
//! [`scope`] for the least each call needs) before its first call, and refreshes tokens whose
//! expiry it knows before they run out ([`should_refresh`]); see `session.rs`. Bought tokens
//! are reused by every client of the process with the same key, scopes and addresses
//! ([`TokenCache::Memory`], the default), or across processes from files of mode 0600
//! ([`TokenCache::Disk`], what the CLI uses; [`ClientBuilder::token_cache`]); a reused token
//! the cluster refuses (401) is replaced once, transparently. `ASS_NO_TOKEN_CACHE=1` turns
//! reuse off for [`Client::from_env`].
//!
//! A read of a secret whose tier needs approvals fails with [`Error::is_approval_required`]
//! until approvers approve the request it opened ([`Error::approval_id`]); approvers list and
//! decide requests with [`Client::list_approvals`], [`Client::approve`] and [`Client::deny`],
//! and operators set who they are with [`Client::set_approval_policy`]; see `approvals.rs`.
//!
//! Operators rotate the data key ([`Client::rotate`]), make new unseal shares
//! ([`Client::rekey`], per node like unseal) and change the Raft membership
//! ([`Client::add_member`], [`Client::promote_member`], [`Client::remove_member`]); see
//! `operations.rs`.
//!
//! ```no_run
//! # async fn agent() -> Result<(), ass_client::Error> {
//! use std::time::Duration;
//! use ass_client::{scope, Client, ReadOptions};
//! let path = "production/gemini/GEMINI_API_KEY";
//! let client = Client::from_env()? // ASS_ADDR
//!     .with_agent_key("ass_…", vec![scope::secret_read(path)], Duration::from_secs(900));
//! let s = client.get_secret(path, &ReadOptions::default()).await?;
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), ass_client::Error> {
//! use ass_client::{Client, PutSecretRequest, ReadOptions};
//! let client = Client::from_env()?; // ASS_ADDR, ASS_TOKEN
//! let put = PutSecretRequest { value: "s3cr3t".into(), secret_type: None, tier: None, cas: None };
//! let w = client.put_secret("production/db/PASSWORD", &put).await?;
//! let opts = ReadOptions { min_index: Some(w.index), ..Default::default() };
//! let s = client.get_secret("production/db/PASSWORD", &opts).await?;
//! assert_eq!(s.value, "s3cr3t");
//! # Ok(()) }
//! ```

pub mod addr;
mod approvals;
pub mod audit;
pub mod error;
pub mod error_code;
mod identity;
mod operations;
pub mod posture;
pub mod scope;
mod session;
pub mod token_cache;
pub mod types;

pub use addr::{
    encode_path_segment, encode_secret_path, normalize_address, parse_addresses, DEFAULT_ADDR,
};
pub use audit::{
    AuditChainReport, AuditCursor, AuditEvent, AuditFilter, AuditHashResponse, AuditNodeStatus,
    AuditProblem, AuditQueryResponse, AuditStream, AuditStreamItem, AuditVerifyResponse,
};
pub use error::{Error, FAILOVER_STATUSES};
pub use error_code::ErrorCode;
pub use identity::RevokeRootResponse;
pub use operations::{ADD_MEMBER_TIMEOUT, SNAPSHOT_TIMEOUT};
pub use posture::{
    CheckGrade, DoctorOptions, DoctorReport, ExplainReason, ExplainSubject, Explanation, Finding,
    HeldScope, IgnoreRequest, IgnoreResponse, Ignored, RightsizeReport, Severity, StaleResponse,
    StaleSecret, UsedAccess,
};
pub use session::{format_ttl, refresh_margin, should_refresh, Lease, DEFAULT_AGENT_TOKEN_TTL};
pub use token_cache::{TokenCache, ENV_NO_TOKEN_CACHE};
pub use types::*;

use session::{AgentGrant, Session};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Environment variable with the comma-separated node URLs.
pub const ENV_ADDR: &str = "ASS_ADDR";
/// Environment variable with the bearer token.
pub const ENV_TOKEN: &str = "ASS_TOKEN";
/// Environment variable with an agent key (`ass_…`), used when `ASS_TOKEN` is absent: the
/// client exchanges it for a short-lived token before its first call.
pub const ENV_AGENT_KEY: &str = "ASS_AGENT_KEY";
/// Environment variable with the comma-separated scopes to request with the agent key.
pub const ENV_TOKEN_SCOPES: &str = "ASS_TOKEN_SCOPES";
/// Environment variable with the TTL of tokens bought with the agent key (`15m`, `1h`).
pub const ENV_TOKEN_TTL: &str = "ASS_TOKEN_TTL";
/// Environment variable with the path of a PEM file of CA certificates to trust (instead of
/// the system roots) for `https://` addresses.
pub const ENV_CACERT: &str = "ASS_CACERT";

/// Default time to establish a TCP (and TLS) connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default time for a whole request, answer included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default pause before the second address is tried; it grows linearly per attempt.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Attempts of one call when the client has a single address (a load balancer): the first
/// and two retries, after the usual backoff (100 ms, then 200 ms).
pub const LB_TRIES: usize = 3;
/// Longest pause between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long an idle keep-alive connection stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probe interval on pooled connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// Options of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read this version instead of the latest (`?version=N`; [`Client::get_secret`] only).
    pub version: Option<u64>,
    /// Answer from the node's local state at once (`x-ass-consistency: stale`) instead of a
    /// linearizable read. Only served while the node has heard from a leader recently.
    pub stale: bool,
    /// Wait until the node has applied at least this log index (`x-ass-min-index`): pass the
    /// index of your last write to read your own writes.
    pub min_index: Option<u64>,
    /// Why the caller reads ([`HEADER_REASON`]; [`Client::get_secret`] only): recorded on the
    /// approval request a read of a `sensitive` or `critical` secret opens, for approvers to
    /// see. Printable ASCII, at most 1024 bytes.
    pub reason: Option<String>,
}

/// Settings of a [`Client`]; start with [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    addrs: Vec<String>,
    token: Option<String>,
    agent: Option<AgentGrant>,
    connect_timeout: Duration,
    timeout: Duration,
    backoff: Duration,
    ca_pem: Option<Vec<u8>>,
    token_cache: TokenCache,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("addrs", &self.addrs)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("agent_key", &self.agent.as_ref().map(|_| "REDACTED"))
            .field("agent_scopes", &self.agent.as_ref().map(|g| &g.scopes))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("token_cache", &self.token_cache)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            addrs: Vec::new(),
            token: None,
            agent: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            backoff: DEFAULT_BACKOFF,
            ca_pem: None,
            token_cache: TokenCache::default(),
        }
    }
}

impl ClientBuilder {
    /// Adds node base URLs (`http://host:port`), in failover order; [`ClientBuilder::build`]
    /// checks each with [`normalize_address`]. Calling it again appends.
    pub fn addresses<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.addrs.extend(addrs.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Bearer token sent on calls that need one. `None` or an empty string: no token.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Agent-key mode: before its first authenticated call the client exchanges `agent_key`
    /// (`POST /v1/tokens`) for a token holding `scopes` (within the agent's own) for `ttl`,
    /// and uses that token, refreshing it before it expires. [`Client::issue_token`] sends the
    /// agent key itself. A token given with [`ClientBuilder::token`] takes precedence.
    pub fn agent_key(
        mut self,
        agent_key: impl Into<String>,
        scopes: Vec<String>,
        ttl: Duration,
    ) -> Self {
        let key = agent_key.into();
        self.agent = (!key.is_empty()).then_some(AgentGrant { key, scopes, ttl });
        self
    }

    /// Time allowed to connect to one node (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for one request to one node, answer included (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Pause before the second attempt of a call; the n-th retry waits n times this, at most
    /// one second (default [`DEFAULT_BACKOFF`]).
    pub fn backoff(mut self, d: Duration) -> Self {
        self.backoff = d;
        self
    }

    /// Where tokens bought with an agent key are reused from (default
    /// [`TokenCache::Memory`]: by every client of this process with the same key, scopes and
    /// addresses; [`TokenCache::Disk`] also across processes, as the CLI does).
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.token_cache = cache;
        self
    }

    /// PEM bundle of CA certificates to trust for `https://` nodes, instead of the system
    /// roots (a cluster's own CA).
    pub fn ca_cert_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// Checks the settings and builds the client and its connection pool.
    pub fn build(self) -> Result<Client, Error> {
        let mut addrs: Vec<String> = Vec::new();
        for a in &self.addrs {
            let a = normalize_address(a)?;
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        if addrs.is_empty() {
            return Err(Error::Config("no node address given".into()));
        }
        // One crypto provider for the whole process; an error only means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("ass-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("invalid CA certificate PEM: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("CA certificate PEM holds no certificate".into()));
            }
            http = http.tls_certs_only(certs);
        }
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let session = match (self.token, self.agent) {
            (Some(t), _) => Session::with_token(Some(t)),
            (None, Some(g)) => Session::with_agent(g, self.token_cache.clone(), &addrs),
            (None, None) => Session::with_token(None),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                addrs,
                session: Arc::new(session),
                backoff: self.backoff,
                timeout: self.timeout,
                current: AtomicUsize::new(0),
                last_write_index: Arc::new(AtomicU64::new(0)),
                invalid: None,
                token_cache: self.token_cache,
            }),
        })
    }
}

/// Typed async client of one cluster. Cheap to clone: clones share the connection pool, the
/// notion of the current node and the credential (a token bought or refreshed by one is used
/// by all).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    addrs: Vec<String>,
    /// The credential: a token, or an agent key and the token it bought.
    session: Arc<Session>,
    backoff: Duration,
    /// Time allowed for one request to one node (a call may ask for longer, see
    /// [`Call::timeout`]).
    timeout: Duration,
    /// Index into `addrs` of the node that answered last.
    current: AtomicUsize,
    /// Highest log index any write of this client (or its `for_node` children) committed at.
    last_write_index: Arc<AtomicU64>,
    /// Set by [`Client::for_node`] for an invalid address: every call fails with it.
    invalid: Option<Error>,
    /// Where sessions made from this client ([`Client::with_agent_key`]) reuse tokens from.
    token_cache: TokenCache,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addrs", &self.inner.addrs)
            .field("credential", &self.inner.session)
            .finish_non_exhaustive()
    }
}

/// Whether a call may move on to the next address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failover {
    Yes,
    /// Per-node calls (seal, unseal, status, health): only the current address.
    No,
}

/// One logical API call, before it is sent to any node.
#[derive(Clone)]
struct Call<'a> {
    method: Method,
    /// Path after the base URL, starting with `/v1/`.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// Send the session's bearer token (buying or refreshing it first when due).
    auth: bool,
    read: Option<&'a ReadOptions>,
    /// Headers of this call beyond the bearer, request id and read options.
    headers: HeaderMap,
    failover: Failover,
    /// Time allowed for this call on one node instead of the client's (`None`: the client's).
    timeout: Option<Duration>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            auth: true,
            read: None,
            headers: HeaderMap::new(),
            failover: Failover::Yes,
            timeout: None,
        }
    }

    fn json<T: Serialize>(mut self, body: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn no_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    fn per_node(mut self) -> Self {
        self.failover = Failover::No;
        self
    }

    /// Allows this call `d` on each node instead of the client's request timeout (a call
    /// the server itself may hold for long, such as adding a member).
    fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    fn read(mut self, opts: &'a ReadOptions) -> Self {
        self.read = Some(opts);
        self
    }

    fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    fn is_write(&self) -> bool {
        matches!(self.method, Method::PUT | Method::POST | Method::DELETE)
    }
}

/// A node's answer, body read in full.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// Its `x-ass-request-id` header.
    request_id: Option<String>,
}

impl Answer {
    /// Decodes a 2xx body as `T`, or turns the answer into [`Error::Api`].
    fn decode<T: DeserializeOwned>(self) -> Result<T, Error> {
        if !(200..300).contains(&self.status) {
            return Err(error::api_error_with_id(self.status, &self.body, self.request_id));
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// Pause before attempt number `attempt` (1 for the first retry).
fn backoff_for(base: Duration, attempt: usize) -> Duration {
    base.saturating_mul(u32::try_from(attempt).unwrap_or(u32::MAX)).min(MAX_BACKOFF)
}

/// Whether a transport error says the request never left (the connection was refused or
/// could not be made), as [`transport_error`] words it.
fn is_connect_error(e: &Error) -> bool {
    matches!(e, Error::Transport(m) if m.contains(": cannot connect: "))
}

/// Describes a reqwest error by its address and root cause (`Connection refused`, `operation
/// timed out`, a TLS complaint) and says whether another node may do better (`false` for a
/// request that could not even be built).
fn transport_error(addr: &str, e: &reqwest::Error) -> (Error, bool) {
    let mut cause = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if e.is_builder() {
        return (Error::Config(format!("{addr}: {cause}")), false);
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let hint = tls_hint(&cause);
    (Error::Transport(format!("{addr}: {what}: {cause}{hint}")), true)
}

/// What to do about a certificate the client refused, if that is the cause.
fn tls_hint(cause: &str) -> &'static str {
    if cause.contains("UnknownIssuer") || cause.contains("BadSignature") {
        " (the node's certificate is not signed by a CA this client trusts: give the cluster \
         CA with --ca-cert or ASS_CACERT, e.g. DIR/tls/ca.pem of `ass-node dev`)"
    } else if cause.contains("NotValidForName") {
        " (the node's certificate does not name this host or IP: use the address in its \
         subject alternative names, or reissue it)"
    } else if cause.contains("Expired") {
        " (the node's certificate has expired: renew it)"
    } else {
        ""
    }
}

impl Client {
    /// Starts a [`ClientBuilder`] with default timeouts.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for these node base URLs (e.g. `http://127.0.0.1:8201`) with an optional
    /// bearer token and default timeouts.
    pub fn new<I, S>(addrs: I, token: Option<String>) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder().addresses(addrs).token(token).build()
    }

    /// A client from the environment: `ASS_ADDR` (comma-separated URLs, default
    /// [`DEFAULT_ADDR`]), `ASS_TOKEN` (optional) and `ASS_CACERT` (optional PEM file of the
    /// CA to trust for `https://`).
    ///
    /// Without `ASS_TOKEN`, `ASS_AGENT_KEY` puts the client in agent-key mode (see
    /// [`ClientBuilder::agent_key`]) with the scopes in `ASS_TOKEN_SCOPES` (comma-separated;
    /// the agent's own scopes can't be read with its key, so name the least the job needs)
    /// and the TTL in `ASS_TOKEN_TTL` (default [`DEFAULT_AGENT_TOKEN_TTL`]).
    pub fn from_env() -> Result<Self, Error> {
        let addrs = match std::env::var(ENV_ADDR) {
            Ok(v) if !v.trim().is_empty() => parse_addresses(&v)?,
            _ => vec![DEFAULT_ADDR.to_owned()],
        };
        let token = std::env::var(ENV_TOKEN).ok().filter(|t| !t.is_empty());
        let mut b = Self::builder().addresses(addrs);
        match (token, std::env::var(ENV_AGENT_KEY).ok().filter(|k| !k.is_empty())) {
            (Some(t), _) => b = b.token(Some(t)),
            (None, Some(key)) => {
                let scopes =
                    scope::split_list(&std::env::var(ENV_TOKEN_SCOPES).unwrap_or_default());
                let ttl = match std::env::var(ENV_TOKEN_TTL) {
                    Ok(v) if !v.trim().is_empty() => parse_ttl_env(&v)?,
                    _ => DEFAULT_AGENT_TOKEN_TTL,
                };
                b = b.agent_key(key, scopes, ttl);
            }
            (None, None) => {}
        }
        if token_cache::env_disables() {
            b = b.token_cache(TokenCache::Off);
        }
        if let Some(path) = std::env::var_os(ENV_CACERT).filter(|p| !p.is_empty()) {
            let pem = std::fs::read(&path).map_err(|e| {
                Error::Config(format!("cannot read {ENV_CACERT} {}: {e}", path.display()))
            })?;
            b = b.ca_cert_pem(pem);
        }
        b.build()
    }

    /// The node base URLs of this client, normalised, in failover order.
    pub fn addresses(&self) -> &[String] {
        &self.inner.addrs
    }

    /// A client bound to exactly `addr` (no failover), sharing this client's connection pool
    /// and token: for per-node calls such as unseal, seal and status. An invalid `addr` makes
    /// every call of the returned client fail with [`Error::Config`].
    pub fn for_node(&self, addr: &str) -> Client {
        let (addr, invalid) = match normalize_address(addr) {
            Ok(a) => (a, None),
            Err(e) => (addr.trim().to_owned(), Some(e)),
        };
        Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                addrs: vec![addr],
                session: Arc::clone(&self.inner.session),
                backoff: self.inner.backoff,
                timeout: self.inner.timeout,
                current: AtomicUsize::new(0),
                last_write_index: Arc::clone(&self.inner.last_write_index),
                invalid,
                token_cache: self.inner.token_cache.clone(),
            }),
        }
    }

    /// The same cluster and pool with another bearer token (`None`: no token).
    pub fn with_token(&self, token: Option<String>) -> Client {
        self.with_session(Session::with_token(token))
    }

    /// The same cluster and pool in agent-key mode: before its first authenticated call the
    /// client buys a token holding `scopes` for `ttl` with `agent_key`, then uses and
    /// refreshes it (see [`ClientBuilder::agent_key`]). Ask for the least the job needs, e.g.
    /// `secrets:read:production/gemini/*` (hardening practice 1).
    pub fn with_agent_key(
        &self,
        agent_key: impl Into<String>,
        scopes: Vec<String>,
        ttl: Duration,
    ) -> Client {
        let key = agent_key.into();
        if key.is_empty() {
            return self.with_token(None);
        }
        let cache = self.inner.token_cache.clone();
        self.with_session(Session::with_agent(
            AgentGrant { key, scopes, ttl },
            cache,
            &self.inner.addrs,
        ))
    }

    /// A client holding a fresh token bought earlier with `agent_key` for these addresses,
    /// whatever its scopes, from the token cache; `None` if there is none. Any token of an
    /// agent may read the status of the agent's own approval requests
    /// ([`Client::get_approval`]), so this is how a requester with only its key follows one.
    pub fn with_cached_agent_token(&self, agent_key: &str) -> Option<Client> {
        let probe = self.with_agent_key(agent_key, Vec::new(), DEFAULT_AGENT_TOKEN_TTL);
        let token = probe.inner.session.any_cached_token()?;
        Some(self.with_token(Some(token)))
    }

    fn with_session(&self, session: Session) -> Client {
        Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                addrs: self.inner.addrs.clone(),
                session: Arc::new(session),
                backoff: self.inner.backoff,
                timeout: self.inner.timeout,
                current: AtomicUsize::new(self.inner.current.load(Ordering::Relaxed)),
                last_write_index: Arc::clone(&self.inner.last_write_index),
                invalid: self.inner.invalid.clone(),
                token_cache: self.inner.token_cache.clone(),
            }),
        }
    }

    /// Whether this client holds an agent key (and sends it only to buy tokens).
    pub fn has_agent_key(&self) -> bool {
        self.inner.session.agent().is_some()
    }

    /// The address calls go to first: the last one that answered.
    pub fn current_address(&self) -> &str {
        let i = self.inner.current.load(Ordering::Relaxed) % self.inner.addrs.len();
        &self.inner.addrs[i]
    }

    /// Highest log index a write made through this client committed at (0 before any): pass
    /// it as [`ReadOptions::min_index`] to read your own writes on any node.
    pub fn last_write_index(&self) -> u64 {
        self.inner.last_write_index.load(Ordering::Relaxed)
    }

    fn note_write_index(&self, index: u64) {
        self.inner.last_write_index.fetch_max(index, Ordering::Relaxed);
    }

    /// Sends `call` with the session's bearer token (bought or refreshed first when due).
    async fn execute(&self, call: Call<'_>) -> Result<Answer, Error> {
        if let Some(e) = &self.inner.invalid {
            return Err(e.clone());
        }
        let bearer = if call.auth { self.session_token().await? } else { None };
        let used = match bearer {
            Some(t) if self.inner.session.agent().is_some() => t,
            other => return self.send(call, other.as_deref()).await,
        };
        // Agent-key mode: a token the cluster refuses (revoked, expired, or bought from a
        // cluster since rebuilt) is dropped from the cache and replaced once. A 401 means
        // nothing was done, so sending the call again is safe.
        let again = call.clone();
        let answer = self.send(call, Some(&used)).await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        self.inner.session.drop_token(&used);
        let fresh = self.session_token().await?;
        self.send(again, fresh.as_deref()).await
    }

    /// Sends `call` with `bearer` (if `call.auth`) to the current node, failing over as the
    /// crate doc says, and returns the first answer that is not a reason to fail over (or the
    /// last error).
    async fn send(&self, call: Call<'_>, bearer: Option<&str>) -> Result<Answer, Error> {
        let inner = &*self.inner;
        if let Some(e) = &inner.invalid {
            return Err(e.clone());
        }
        let n = inner.addrs.len();
        let start = inner.current.load(Ordering::Relaxed) % n;
        // One address is a load balancer in front of the nodes: its next connection reaches
        // another node, so it is worth LB_TRIES attempts (a restart behind it then costs no
        // call). Several addresses: each once.
        let tries = match call.failover {
            Failover::Yes if n == 1 => LB_TRIES,
            Failover::Yes => n,
            Failover::No => 1,
        };
        // One id for every attempt of this logical write, so the cluster applies it once.
        let request_id = call.is_write().then(|| uuid::Uuid::new_v4().to_string());
        let mut last_err = None;
        // The first attempt whose request may have been acted on (see the end).
        let mut ambiguous: Option<Error> = None;
        for attempt in 0..tries {
            if attempt > 0 {
                tokio::time::sleep(backoff_for(inner.backoff, attempt)).await;
            }
            let idx = (start + attempt) % n;
            let addr = &inner.addrs[idx];
            let url = reqwest::Url::parse(&format!("{addr}{}", call.path))
                .map_err(|e| Error::Config(format!("invalid URL {addr}{}: {e}", call.path)))?;
            let mut req = inner.http.request(call.method.clone(), url);
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            if call.auth {
                if let Some(t) = bearer {
                    req = req.bearer_auth(t);
                }
            }
            if let Some(id) = &request_id {
                req = req.header(HEADER_REQUEST_ID, id);
            }
            req = req.headers(read_headers(call.read)).headers(call.headers.clone());
            if let Some(body) = &call.body {
                req = req.header(CONTENT_TYPE, "application/json").body(body.clone());
            }
            if let Some(t) = call.timeout {
                req = req.timeout(t);
            }
            let result = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let request_id = resp
                        .headers()
                        .get(HEADER_REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    resp.bytes()
                        .await
                        .map(|b| Answer { status, body: b.to_vec(), request_id })
                        .map_err(|e| transport_error(addr, &e))
                }
                Err(e) => Err(transport_error(addr, &e)),
            };
            match result {
                Ok(answer) => {
                    if error::FAILOVER_STATUSES.contains(&answer.status) && tries > 1 {
                        last_err = Some(error::api_error_with_id(
                            answer.status,
                            &answer.body,
                            answer.request_id,
                        ));
                        continue;
                    }
                    inner.current.store(idx, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err((err, retry)) => {
                    if !retry {
                        return Err(err);
                    }
                    if ambiguous.is_none() && !is_connect_error(&err) {
                        ambiguous = Some(err.clone());
                    }
                    last_err = Some(err);
                }
            }
        }
        // Nobody answered usefully: start the next call on the next node.
        if tries > 1 {
            inner.current.store((start + 1) % n, Ordering::Relaxed);
        }
        // An attempt that may have reached a node (a timeout, a connection reset after the
        // request went out) makes the whole call's outcome unknown: never end it with a later
        // attempt's refused connection or 503, which would read as "not done".
        if let Some(e) = ambiguous {
            return Err(e);
        }
        Err(match last_err {
            Some(Error::Transport(m)) if tries > 1 => {
                Error::Transport(format!("no node answered; last: {m}"))
            }
            Some(e) => e,
            None => Error::Transport("no node address".into()),
        })
    }

    async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        self.execute(call).await?.decode()
    }

    /// `POST /v1/sys/init`: initializes a new cluster and returns the unseal key shares and
    /// the root token, which the cluster never shows again. Needs no token.
    pub async fn sys_init(&self, req: &InitRequest) -> Result<InitResponse, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/init").no_auth().json(req)?).await
    }

    /// `POST /v1/sys/unseal`: hands one key share (or `reset: true`) to the current node
    /// only — unsealing is per node: use [`Client::for_node`] for each. Needs no token.
    pub async fn sys_unseal(&self, req: &UnsealRequest) -> Result<SealStatus, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/unseal").no_auth().per_node().json(req)?).await
    }

    /// `POST /v1/sys/seal`: seals the current node only (per node, no failover). Needs a
    /// token with `sys:operator`.
    pub async fn sys_seal(&self) -> Result<SealStatus, Error> {
        self.call(Call::new(Method::POST, "/v1/sys/seal").per_node()).await
    }

    /// `GET /v1/sys/status`: seal and Raft status of the current node (per node, no
    /// failover). Needs no token.
    pub async fn sys_status(&self) -> Result<SealStatus, Error> {
        self.call(Call::new(Method::GET, "/v1/sys/status").no_auth().per_node()).await
    }

    /// `GET /v1/sys/members`: the cluster's members as this node knows them.
    pub async fn sys_members(&self) -> Result<MembersResponse, Error> {
        self.call(Call::new(Method::GET, "/v1/sys/members")).await
    }

    /// `GET /v1/sys/health` of the current node (per node, no failover): the HTTP status
    /// (200 leader, 429 unsealed standby, 501 not initialized, 503 sealed, or an override)
    /// with the body, which every one of them carries. Needs no token.
    pub async fn sys_health(&self) -> Result<(u16, HealthResponse), Error> {
        let answer =
            self.execute(Call::new(Method::GET, "/v1/sys/health").no_auth().per_node()).await?;
        match serde_json::from_slice::<HealthResponse>(&answer.body) {
            Ok(h) => Ok((answer.status, h)),
            Err(e) if (200..300).contains(&answer.status) => Err(Error::Decode(e.to_string())),
            Err(_) => Err(error::api_error_with_id(answer.status, &answer.body, answer.request_id)),
        }
    }

    /// `PUT /v1/secrets/{path}`: writes a new version. The answer carries the new version
    /// and the log index it committed at.
    pub async fn put_secret(
        &self,
        path: &str,
        req: &PutSecretRequest,
    ) -> Result<WriteResponse, Error> {
        let call = Call::new(Method::PUT, secret_route(path)?).json(req)?;
        let w: WriteResponse = self.call(call).await?;
        self.note_write_index(w.index);
        Ok(w)
    }

    /// `GET /v1/secrets/{path}[?version=N]`: one version of a secret, with its value.
    ///
    /// A secret whose tier needs approvals (by the approval policy) is only read by a caller
    /// holding a live grant (or the root token); otherwise the read fails with
    /// [`Error::is_approval_required`] and [`Error::approval_id`] names the request it opened
    /// or re-used, carrying `opts.reason`. Once approvers approved it, the same read succeeds.
    pub async fn get_secret(
        &self,
        path: &str,
        opts: &ReadOptions,
    ) -> Result<SecretResponse, Error> {
        let mut call = Call::new(Method::GET, secret_route(path)?).read(opts);
        if let Some(v) = opts.version {
            call = call.query("version", v);
        }
        if let Some(r) = &opts.reason {
            call = call.header(HEADER_REASON, reason_header(r)?);
        }
        self.call(call).await
    }

    /// `GET /v1/secrets[?prefix=…]`: metadata (never values) of the secrets under `prefix`.
    /// `opts.version` is ignored.
    pub async fn list_secrets(
        &self,
        prefix: Option<&str>,
        opts: &ReadOptions,
    ) -> Result<ListResponse, Error> {
        let mut call = Call::new(Method::GET, "/v1/secrets").read(opts);
        if let Some(p) = prefix.filter(|p| !p.is_empty()) {
            call = call.query("prefix", p);
        }
        self.call(call).await
    }

    /// `GET /v1/secrets/{path}/versions`: metadata and every version of a secret.
    /// `opts.version` is ignored.
    pub async fn secret_versions(
        &self,
        path: &str,
        opts: &ReadOptions,
    ) -> Result<VersionsResponse, Error> {
        let route = format!("{}/versions", secret_route(path)?);
        self.call(Call::new(Method::GET, route).read(opts)).await
    }

    /// `DELETE /v1/secrets/{path}`: soft-deletes the latest version (`version: None`), or
    /// destroys version N for good (`?version=N`).
    pub async fn delete_secret(
        &self,
        path: &str,
        version: Option<u64>,
    ) -> Result<DeleteResponse, Error> {
        let mut call = Call::new(Method::DELETE, secret_route(path)?);
        if let Some(v) = version {
            call = call.query("version", v);
        }
        let d: DeleteResponse = self.call(call).await?;
        self.note_write_index(d.index);
        Ok(d)
    }
}

/// Parses an `ASS_TOKEN_TTL` value (`15m`, `1h`, `1h30m`): at least one second.
fn parse_ttl_env(v: &str) -> Result<Duration, Error> {
    let bad = |why: String| Error::Config(format!("invalid {ENV_TOKEN_TTL} `{}`: {why}", v.trim()));
    let d = humantime::parse_duration(v.trim()).map_err(|e| bad(e.to_string()))?;
    if d < Duration::from_secs(1) {
        return Err(bad("a token lives at least one second (try 15m or 1h)".into()));
    }
    Ok(d)
}

/// `/v1/secrets/<encoded path>`.
fn secret_route(path: &str) -> Result<String, Error> {
    Ok(format!("/v1/secrets/{}", encode_secret_path(path)?))
}

/// The `x-ass-reason` header value: printable ASCII (tabs and spaces included), as the
/// cluster records it. Anything else is refused before sending.
fn reason_header(reason: &str) -> Result<HeaderValue, Error> {
    let printable = reason.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    if !printable {
        return Err(Error::Config(
            "the reason must be printable ASCII (no accents, emoji or line breaks)".into(),
        ));
    }
    HeaderValue::from_str(reason)
        .map_err(|_| Error::Config("the reason must be printable ASCII".into()))
}

/// Consistency headers of a read.
fn read_headers(opts: Option<&ReadOptions>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(o) = opts {
        if o.stale {
            h.insert(HEADER_CONSISTENCY, HeaderValue::from_static("stale"));
        }
        if let Some(i) = o.min_index {
            h.insert(HEADER_MIN_INDEX, i.into());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_routes_are_encoded() {
        assert_eq!(secret_route("a/b/C_1").unwrap(), "/v1/secrets/a/b/C_1");
        assert_eq!(secret_route("a/b c").unwrap(), "/v1/secrets/a/b%20c");
        assert!(secret_route("../sys/seal").is_err());
    }

    #[test]
    fn read_options_become_headers() {
        assert!(read_headers(None).is_empty());
        assert!(read_headers(Some(&ReadOptions::default())).is_empty());
        let h = read_headers(Some(&ReadOptions {
            version: Some(3),
            stale: true,
            min_index: Some(42),
            reason: Some("payout".into()),
        }));
        assert_eq!(h[HEADER_CONSISTENCY], "stale");
        assert_eq!(h[HEADER_MIN_INDEX], "42");
        assert_eq!(h.len(), 2, "version goes in the query, the reason only on get_secret");
    }

    #[test]
    fn refused_certificates_say_what_to_do() {
        assert!(tls_hint("invalid peer certificate: UnknownIssuer").contains("ASS_CACERT"));
        assert!(tls_hint("invalid peer certificate: NotValidForName").contains("names"));
        assert!(tls_hint("invalid peer certificate: Expired").contains("expired"));
        assert_eq!(tls_hint("Connection refused (os error 111)"), "");
    }

    #[test]
    fn reasons_are_printable_ascii() {
        assert_eq!(reason_header("payout run #42").unwrap(), "payout run #42");
        assert_eq!(reason_header("").unwrap(), "");
        for bad in ["line\nbreak", "café", "\u{1f600}", "nul\0"] {
            assert_eq!(reason_header(bad).unwrap_err().code(), "config", "{bad:?}");
        }
    }

    #[test]
    fn only_mutating_methods_are_writes() {
        assert!(Call::new(Method::PUT, "/").is_write());
        assert!(Call::new(Method::POST, "/").is_write());
        assert!(Call::new(Method::DELETE, "/").is_write());
        assert!(!Call::new(Method::GET, "/").is_write());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff_for(b, 1), Duration::from_millis(100));
        assert_eq!(backoff_for(b, 3), Duration::from_millis(300));
        assert_eq!(backoff_for(b, 50), MAX_BACKOFF);
    }

    #[test]
    fn builder_normalises_and_dedups_addresses() {
        let c = Client::new(["http://a:1/", "http://a:1", "https://b:2"], None).unwrap();
        assert_eq!(c.addresses(), ["http://a:1", "https://b:2"]);
        assert_eq!(c.current_address(), "http://a:1");
        assert_eq!(c.for_node("http://b:9/").addresses(), ["http://b:9"]);
    }

    #[test]
    fn builder_refuses_no_address_and_bad_pem() {
        assert_eq!(Client::new(Vec::<String>::new(), None).unwrap_err().code(), "config");
        let e = Client::builder()
            .addresses(["https://a:1"])
            .ca_cert_pem(b"not a pem".to_vec())
            .build()
            .unwrap_err();
        assert_eq!(e.code(), "config");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = Client::new(["http://a:1"], Some("hvs.supersecret".into())).unwrap();
        let shown = format!("{c:?} {:?}", Client::builder().token(Some("hvs.x".into())));
        assert!(!shown.contains("supersecret") && !shown.contains("hvs.x"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn empty_token_means_no_token() {
        let c = Client::new(["http://a:1"], Some(String::new())).unwrap();
        assert!(c.inner.session.current().0.is_none());
        assert!(!c.with_agent_key("", vec![], Duration::from_secs(60)).has_agent_key());
    }

    #[test]
    fn debug_never_shows_the_agent_key() {
        let scopes = vec!["secrets:read:production/gemini/*".to_owned()];
        let b = Client::builder().addresses(["http://a:1"]).agent_key(
            "ass_TOPSECRETKEY",
            scopes.clone(),
            Duration::from_secs(900),
        );
        let c = b.clone().build().unwrap();
        let derived = c.with_agent_key("ass_OTHERSECRET", scopes, Duration::from_secs(60));
        let shown = format!("{b:?} {c:?} {derived:?} {:?}", c.for_node("http://b:2"));
        assert!(!shown.contains("TOPSECRETKEY") && !shown.contains("OTHERSECRET"), "{shown}");
        assert!(shown.contains("REDACTED") && shown.contains("production/gemini"), "{shown}");
        assert!(c.has_agent_key() && derived.has_agent_key());
    }

    #[test]
    fn a_token_wins_over_an_agent_key() {
        let c = Client::builder()
            .addresses(["http://a:1"])
            .agent_key("ass_k", vec!["secrets:read:a/b".into()], Duration::from_secs(60))
            .token(Some("asst_t".into()))
            .build()
            .unwrap();
        assert!(!c.has_agent_key());
        assert_eq!(c.inner.session.current().0.as_deref(), Some("asst_t"));
    }

    #[test]
    fn ttl_env_values_parse() {
        assert_eq!(parse_ttl_env("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl_env(" 1h30m ").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_ttl_env("soon").unwrap_err().code(), "config");
        assert_eq!(parse_ttl_env("0s").unwrap_err().code(), "config");
        assert_eq!(parse_ttl_env("500ms").unwrap_err().code(), "config");
    }
}
