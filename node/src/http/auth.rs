//! Who is calling: the one place a request's credential is checked.
//!
//! ```text
//!  client IP (peer, or the forwarding header of a trusted proxy, or the forwarding node's word)
//!    ──> consistency (read index) ──> Bearer credential
//!    ──> root | agent key | token (expiry by cluster time, revocation, parent chain)
//!    ──> IP allowlists ──> Caller { principal, scopes }
//!    (a failure: counted by the brute-force limiter, 429 once over the address's allowance)
//! ```
//!
//! The state is made current *before* the credential is checked (a linearizable request waits
//! for the read index), so a revoke that was acknowledged anywhere is seen here. Unknown,
//! revoked and expired credentials all get the same 401.

use ass_client::ErrorCode;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::consistency;
use super::forward::Forwarded;
use crate::access::allowlist::{client_ip_from_hops, forwarded_hops, Allowlist};
use crate::access::scope::{needed_secret_scope, Action, Admin, ScopeSet};
use crate::audit::ctx::{Actor, AuditCtx};
use crate::identity::{format_id, CredentialRef, TokenState};
use crate::node::{Consistency, Node};
use crate::seal::hash_token;
use crate::state::StateReader;

/// The client's address as this cluster judges it; set once per request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Works out the client address (the outermost layer, `http::edge`, calls it). A request
/// forwarded by another node keeps the address that node worked out (the cluster port is
/// trusted); otherwise the socket peer, or, when the peer is a trusted proxy, the client named
/// by the `[auth] forwarded_header` (all its lines, walked from the right).
pub fn set_client_ip(node: &Node, req: &mut Request) {
    if req.extensions().get::<Forwarded>().is_none() || req.extensions().get::<ClientIp>().is_none()
    {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let ip = if node.trusted_proxies.is_empty() {
            peer.ip().to_canonical()
        } else {
            // Every line of the header, in order: repeated lines are one list.
            let header = node.config.auth.forwarded_header;
            let lines = req.headers().get_all(header.name()).iter().map(|v| v.to_str().ok());
            client_ip_from_hops(peer, &forwarded_hops(header, lines), &node.trusted_proxies)
        };
        req.extensions_mut().insert(ClientIp(ip));
    }
}

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Root,
    /// An agent key: good only for `POST /v1/tokens`.
    Agent {
        id: [u8; 16],
        name: String,
    },
    Token {
        accessor: [u8; 16],
        agent_id: Option<[u8; 16]>,
        agent_name: Option<String>,
        expires_ms: u64,
    },
}

/// How the audit record names a principal.
impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        match p {
            Principal::Root => Actor { kind: "root", ..Actor::default() },
            Principal::Agent { id, name } => Actor {
                kind: "agent_key",
                agent: Some(name.clone()),
                agent_id: Some(format_id(id)),
                accessor: None,
            },
            Principal::Token { accessor, agent_id, agent_name, .. } => Actor {
                kind: "token",
                agent: agent_name.clone(),
                agent_id: agent_id.as_ref().map(format_id),
                accessor: Some(format_id(accessor)),
            },
        }
    }
}

/// An authenticated caller and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// `None` for the root token, which may do everything.
    pub scopes: Option<ScopeSet>,
    pub client_ip: IpAddr,
    /// This request's audit context: handlers note the version, tier, approval they touch.
    pub audit: AuditCtx,
}

impl Caller {
    /// Agent keys only buy tokens; every other route refuses them.
    pub fn refuse_agent_key(&self) -> Result<(), ApiError> {
        if matches!(self.principal, Principal::Agent { .. }) {
            return Err(ApiError::new(
                ErrorCode::AgentKeyNotAllowed,
                "an agent key only buys tokens: exchange it with POST /v1/tokens and call with the token",
            ));
        }
        Ok(())
    }

    /// Requires an admin scope.
    pub fn require_admin(&self, admin: Admin) -> Result<(), ApiError> {
        self.refuse_agent_key()?;
        match &self.scopes {
            None => Ok(()),
            Some(s) if s.allows_admin(admin) => Ok(()),
            Some(_) => Err(scope_denied(&admin.to_string())),
        }
    }

    /// Requires a secrets scope for `action` on `path`.
    pub fn require_secret(&self, action: Action, path: &str) -> Result<(), ApiError> {
        self.refuse_agent_key()?;
        match &self.scopes {
            None => Ok(()),
            Some(s) if s.allows_secret(action, path) => Ok(()),
            Some(_) => Err(scope_denied(&needed_secret_scope(action, path))),
        }
    }

    /// Whether a list may show `path` (list results are filtered, never refused).
    pub fn may_list(&self, path: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.may_list(path))
    }

    pub fn is_root(&self) -> bool {
        self.principal == Principal::Root
    }

    /// The idempotency key of this caller's write: the client's `X-Ass-Request-Id` (or a fresh
    /// one) bound to who calls. A retry by the same caller (the same agent through any of its
    /// tokens, the root token, or the same agent-less token) matches its first attempt; a
    /// different caller sending the same id makes a request of its own and never gets
    /// another's answer (issue 14: an approver reusing another's id had her decision dropped).
    pub fn request_id(&self, headers: &axum::http::HeaderMap) -> Result<[u8; 16], ApiError> {
        use sha2::Digest;
        let raw = super::extract::request_id(headers)?;
        let mut h = sha2::Sha256::new();
        h.update(b"ass/request-id/v1\0");
        match &self.principal {
            Principal::Root => h.update(b"root"),
            Principal::Agent { id, .. } | Principal::Token { agent_id: Some(id), .. } => {
                h.update(b"agent");
                h.update(id);
            }
            Principal::Token { accessor, agent_id: None, .. } => {
                h.update(b"token");
                h.update(accessor);
            }
        }
        h.update(raw);
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.finalize()[..16]);
        Ok(id)
    }
}

fn scope_denied(needed: &str) -> ApiError {
    ApiError::new(ErrorCode::ScopeDenied, format!("this call needs the scope `{needed}`"))
}

fn invalid_credential() -> ApiError {
    ApiError::unauthorized("the credential is unknown, expired or revoked")
}

fn ip_not_allowed(ip: IpAddr) -> ApiError {
    ApiError::new(
        ErrorCode::IpNotAllowed,
        format!("requests from {ip} are not allowed for this credential"),
    )
}

impl FromRequestParts<Arc<Node>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        node: &Arc<Node>,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ClientIp>().map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0);
        // Make local state current first, so the credential is judged on it.
        let wanted = if parts.method == Method::GET || parts.method == Method::HEAD {
            consistency(&parts.headers)?
        } else if (parts.method == Method::PUT || parts.method == Method::DELETE)
            && parts.uri.path().starts_with("/v1/secrets/")
        {
            // A secret write or delete is judged by the state machine (CAS, versions) and
            // takes effect only if it commits; its caller may be judged on a ready leader's
            // state without a read-index round (`Node::leader_ready`).
            Consistency::BeforeProposal
        } else {
            Consistency::Linearizable
        };
        node.prepare_read(wanted).await?;
        check_credential(parts, node, ip)
    }
}

/// The caller judged on this node's local state as it is, without a read index: only for
/// what must work when no leader can be reached (a backup saved from a survivor after
/// quorum is lost). The limiter still applies.
pub(crate) fn caller_from_local_state(parts: &Parts, node: &Node) -> Result<Caller, ApiError> {
    let ip = parts.extensions.get::<ClientIp>().map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0);
    check_credential(parts, node, ip)
}

/// Authenticates the bearer token and notes the outcome in the request's audit context.
fn check_credential(parts: &Parts, node: &Node, ip: IpAddr) -> Result<Caller, ApiError> {
    let ctx = parts.extensions.get::<AuditCtx>().cloned().unwrap_or_default();
    let token = bearer(parts)?;
    // The credential is searchable in the audit log only as an HMAC, never as itself.
    ctx.note_credential(node.audit.keys().map(|k| k.hash(token)));
    match authenticate(node, token, ip) {
        Ok(mut caller) => {
            ctx.note_caller(&caller.principal);
            caller.audit = ctx;
            Ok(caller)
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(failed_authentication(node, ip, e)),
        Err(e) => Err(e),
    }
}

/// The failed-auth limiter answers failures only: a credential that authenticates is never
/// refused by it, however many bad ones came from the same address (behind a balancer every
/// agent may share one). A failure from an address over its allowance is answered 429
/// instead of 401, until its window passes (`docs/security-model.md`, "Brute-force limiter").
fn failed_authentication(node: &Node, ip: IpAddr, unauthorized: ApiError) -> ApiError {
    let now = Instant::now();
    node.limiter.record_failure(ip, now);
    match node.limiter.check(ip, now) {
        Ok(()) => unauthorized,
        Err(wait) => ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many failed authentications from {ip}; a valid credential still works, \
                 failures are refused for {} s",
                wait.as_secs().max(1)
            ),
        ),
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| &h[7..]))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// Checks a bearer credential against applied state, through the auth cache.
///
/// The generation is read *before* the state: an identity resolved from state older than an
/// apply that bumped it is stored under the older generation and never served after the bump.
/// Expiry and the IP allowlists are checked on every request, cached or not.
fn authenticate(node: &Node, credential: &str, ip: IpAddr) -> Result<Caller, ApiError> {
    let hash = hash_token(credential);
    let generation = node.store.identity_gen();
    let identity = match node.auth_cache.get(&hash, generation) {
        Some(hit) => hit,
        None => {
            let resolved = Arc::new(resolve(&node.state, &hash, node.clock.now_ms())?);
            node.auth_cache.insert(hash, generation, resolved.clone());
            resolved
        }
    };
    if node.clock.now_ms() >= identity.expires_ms {
        return Err(invalid_credential());
    }
    for list in &identity.allowlists {
        if !list.allows(ip) {
            return Err(ip_not_allowed(ip));
        }
    }
    Ok(Caller {
        principal: identity.principal.clone(),
        scopes: identity.scopes.clone(),
        client_ip: ip,
        audit: AuditCtx::default(),
    })
}

/// What a credential resolves to on applied state: the part of a [`Caller`] that depends only
/// on state (not on the request), kept by the [`AuthCache`].
#[derive(Debug)]
pub struct Identity {
    pub principal: Principal,
    pub scopes: Option<ScopeSet>,
    /// Every allowlist the caller's address must pass (the token's and its agent's).
    pub allowlists: Vec<Allowlist>,
    /// The earliest expiry along the token's parent chain (`u64::MAX`: never).
    pub expires_ms: u64,
}

/// Resolves a credential hash on applied state (the slow path: several sled lookups, decodes
/// and scope parsing). Unknown, revoked and expired credentials are `401`. Public so the
/// micro benchmarks measure this very code.
pub fn resolve(state: &StateReader, hash: &[u8; 32], now_ms: u64) -> Result<Identity, ApiError> {
    if let Some(root) = state.root_token_hash()? {
        if bool::from(root.ct_eq(hash)) {
            return Ok(Identity {
                principal: Principal::Root,
                scopes: None,
                allowlists: Vec::new(),
                expires_ms: u64::MAX,
            });
        }
    }
    let identity = &state.identity;
    match identity.credential(hash)?.ok_or_else(invalid_credential)? {
        CredentialRef::Agent(id) => {
            let agent = identity
                .agent(&id)?
                .filter(|a| a.revoked_ms.is_none())
                .ok_or_else(invalid_credential)?;
            Ok(Identity {
                allowlists: vec![parse_allowlist(&agent.ip_allowlist)?],
                scopes: Some(stored_scopes(&agent.scopes)?),
                principal: Principal::Agent { id, name: agent.name },
                expires_ms: u64::MAX,
            })
        }
        CredentialRef::Token(accessor) => {
            let token = identity.token(&accessor)?.ok_or_else(invalid_credential)?;
            // The one rule listings show too: the token, its parents and its agent.
            let (judged, expires_ms) = identity.judge(&token, now_ms)?;
            if judged != TokenState::Live {
                return Err(invalid_credential());
            }
            let agent = match &token.agent_id {
                Some(id) => Some(
                    identity
                        .agent(id)?
                        .filter(|a| a.revoked_ms.is_none())
                        .ok_or_else(invalid_credential)?,
                ),
                None => None,
            };
            let mut allowlists = vec![parse_allowlist(&token.ip_allowlist)?];
            if let Some(a) = &agent {
                allowlists.push(parse_allowlist(&a.ip_allowlist)?);
            }
            Ok(Identity {
                principal: Principal::Token {
                    accessor,
                    agent_id: token.agent_id,
                    agent_name: agent.map(|a| a.name),
                    expires_ms: token.expires_ms,
                },
                scopes: Some(stored_scopes(&token.scopes)?),
                allowlists,
                expires_ms,
            })
        }
    }
}

/// Credential hash → resolved [`Identity`], valid for one identity generation
/// ([`crate::storage::Store::identity_gen`]). Bounded: when full it starts over.
#[derive(Default)]
pub struct AuthCache {
    inner: std::sync::RwLock<CacheInner>,
    pub hits: std::sync::atomic::AtomicU64,
    pub misses: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    generation: u64,
    entries: std::collections::HashMap<[u8; 32], Arc<Identity>>,
}

/// Most credentials one node keeps resolved at a time.
pub const AUTH_CACHE_CAPACITY: usize = 8192;

impl AuthCache {
    /// The identity cached for `hash`, if it was resolved at `generation`.
    pub fn get(&self, hash: &[u8; 32], generation: u64) -> Option<Arc<Identity>> {
        use std::sync::atomic::Ordering::Relaxed;
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let hit = (inner.generation == generation).then(|| inner.entries.get(hash).cloned());
        match hit.flatten() {
            Some(h) => {
                self.hits.fetch_add(1, Relaxed);
                Some(h)
            }
            None => {
                self.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    /// Keeps `identity`, resolved on state read at `generation` (or later). Entries of an
    /// older generation are dropped; an identity resolved at an older generation than the
    /// cache's is not kept.
    pub fn insert(&self, hash: [u8; 32], generation: u64, identity: Arc<Identity>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if generation < inner.generation {
            return;
        }
        if generation > inner.generation || inner.entries.len() >= AUTH_CACHE_CAPACITY {
            inner.entries.clear();
            inner.generation = generation;
        }
        inner.entries.insert(hash, identity);
    }

    /// How many identities are cached.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_allowlist(list: &[String]) -> Result<Allowlist, ApiError> {
    Allowlist::parse(list).map_err(|e| ApiError::internal(format!("stored allowlist: {e}")))
}

fn stored_scopes(scopes: &[String]) -> Result<ScopeSet, ApiError> {
    ScopeSet::parse(scopes).map_err(|e| ApiError::internal(format!("stored scopes: {e}")))
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn identity(n: u8) -> Arc<Identity> {
        Arc::new(Identity {
            principal: Principal::Agent { id: [n; 16], name: format!("a{n}") },
            scopes: None,
            allowlists: Vec::new(),
            expires_ms: u64::MAX,
        })
    }

    #[test]
    fn an_entry_serves_only_its_own_generation() {
        let cache = AuthCache::default();
        cache.insert([1; 32], 3, identity(1));
        assert!(cache.get(&[1; 32], 3).is_some());
        assert!(cache.get(&[1; 32], 4).is_none(), "a bump invalidates");
        assert!(cache.get(&[2; 32], 3).is_none());
        // An identity resolved before a bump is never kept after it.
        cache.insert([2; 32], 5, identity(2));
        cache.insert([3; 32], 4, identity(3));
        assert!(cache.get(&[3; 32], 4).is_none());
        assert!(cache.get(&[3; 32], 5).is_none());
        assert!(cache.get(&[1; 32], 5).is_none(), "the new generation starts empty");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn only_data_commands_and_ticks_leave_the_identity_generation() {
        use crate::command::Command;
        assert!(!Command::Tick.may_change_identity());
        assert!(!Command::DeleteLatest { path: "a/b".into() }.may_change_identity());
        assert!(Command::RevokeToken { accessor: [0; 16] }.may_change_identity());
        assert!(Command::RevokeAgent { id: [0; 16] }.may_change_identity());
        assert!(Command::SetRootToken { hash: None }.may_change_identity());
        assert!(
            Command::Restore { into_uninitialized: false, trees: Vec::new() }.may_change_identity()
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = AuthCache::default();
        for i in 0..(AUTH_CACHE_CAPACITY as u32 + 10) {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            cache.insert(h, 1, identity(0));
            assert!(cache.len() <= AUTH_CACHE_CAPACITY);
        }
        assert!(!cache.is_empty());
    }
}
