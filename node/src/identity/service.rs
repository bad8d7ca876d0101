//! The identity use cases: who is calling ([`authenticate`]), tokens (issue, refresh, look
//! up, list, show, revoke, the token policy) and agents (create, list, show, revoke, rotate
//! the key). The HTTP layer (and the dashboard) call these; each decides access through the
//! [`Caller`], the rules through [`super::engine`], reads applied state, and proposes through
//! [`Node::write`]. Errors are [`AuthError`] and [`IdentityError`]; `http/error.rs` gives
//! them their codes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ass_client::types::{AGENT_KEY_PREFIX, TOKEN_PREFIX};
use subtle::ConstantTimeEq;

use super::cache::Identity;
use super::caller::{AccessError, Caller, Principal};
use super::credential::new_secret_credential;
use super::engine::{self, IssueError, IssueRequest, Issuer, TokenPlan};
use super::record::{
    format_id, AgentRecord, CredentialRef, NewAgent, NewToken, TokenPolicyRecord, TokenRecord,
    TokenState,
};
use crate::access::allowlist::Allowlist;
use crate::access::scope::{Admin, ScopeSet};
use crate::audit::ctx::AuditCtx;
use crate::clock::now_ms;
use crate::command::{Command, Rejection, Request, Response};
use crate::node::{Committed, Node, WriteError};
use crate::seal::hash_token;
use crate::state::StateReader;
use crate::storage::StorageError;

/// Why a credential was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown, revoked and expired credentials alike (never which).
    #[error("the credential is unknown, expired or revoked")]
    InvalidCredential,
    #[error("requests from {0} are not allowed for this credential")]
    IpNotAllowed(IpAddr),
    /// A failure from an address over the limiter's allowance.
    #[error(
        "too many failed authentications from {ip}; a valid credential still works, \
         failures are refused for {wait_secs} s"
    )]
    RateLimited { ip: IpAddr, wait_secs: u64 },
    /// A stored allowlist or scope list that does not parse.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a token or agent call did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Rule(#[from] IssueError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0:?}")]
    Rejected(Rejection),
    /// The caller's own agent or token is gone from state (it was just authenticated).
    #[error("{0}")]
    CallerVanished(&'static str),
    #[error("this call needs a token (asst_…) as the credential")]
    NotAToken,
    #[error("no such token")]
    TokenNotFound,
    #[error("no agent named `{0}`")]
    AgentNotFound(String),
    #[error("an agent with this name (compared without case) exists or existed")]
    NameTaken,
    /// A bug or damaged state: 500.
    #[error("{0}")]
    Internal(String),
}

fn expect_ok(committed: &Committed) -> Result<(), IdentityError> {
    match &committed.response {
        Response::Ok => Ok(()),
        Response::Rejected(r) => Err(r.clone().into()),
        other => {
            Err(IdentityError::Internal(format!("unexpected state machine response {other:?}")))
        }
    }
}

// ── who is calling ─────────────────────────────────────────────────────────────────────

/// Checks a bearer credential presented from `ip`, at cluster time `now_ms`, on applied
/// state as it is (the caller made it current first), and notes the outcome in `audit`.
///
/// Through the auth cache: the generation is read *before* the state, so an identity
/// resolved from state older than an apply that bumped it is stored under the older
/// generation and never served after the bump. Expiry and the IP allowlists are checked on
/// every request, cached or not. A failure is counted by the failed-auth limiter, which
/// answers failures only: a credential that authenticates is never refused by it, however
/// many bad ones came from the same address (behind a balancer every agent may share one). A
/// failure from an address over its allowance is [`AuthError::RateLimited`] instead of
/// [`AuthError::InvalidCredential`] until its window passes (`docs/security-model.md`,
/// "Brute-force limiter").
pub fn authenticate(
    node: &Node,
    credential: &str,
    ip: IpAddr,
    now_ms: u64,
    audit: AuditCtx,
) -> Result<Caller, AuthError> {
    // The credential is searchable in the audit log only as an HMAC, never as itself.
    audit.note_credential(node.audit().keys().map(|k| k.hash(credential)));
    match check(node, credential, ip, now_ms) {
        Ok(mut caller) => {
            audit.note_caller(caller.principal.actor());
            caller.audit = audit;
            Ok(caller)
        }
        Err(AuthError::InvalidCredential) => {
            let auth = node.auth();
            let now = Instant::now();
            auth.limiter.record_failure(ip, now);
            match auth.limiter.check(ip, now) {
                Ok(()) => Err(AuthError::InvalidCredential),
                Err(wait) => Err(AuthError::RateLimited { ip, wait_secs: wait.as_secs().max(1) }),
            }
        }
        Err(e) => Err(e),
    }
}

fn check(node: &Node, credential: &str, ip: IpAddr, now_ms: u64) -> Result<Caller, AuthError> {
    let hash = hash_token(credential);
    let cache = &node.auth().cache;
    let generation = node.store().identity_gen();
    let identity = match cache.get(&hash, generation) {
        Some(hit) => hit,
        None => {
            let resolved = Arc::new(resolve(node.state(), &hash, now_ms)?);
            cache.insert(hash, generation, resolved.clone());
            resolved
        }
    };
    if now_ms >= identity.expires_ms {
        return Err(AuthError::InvalidCredential);
    }
    for list in &identity.allowlists {
        if !list.allows(ip) {
            return Err(AuthError::IpNotAllowed(ip));
        }
    }
    Ok(Caller {
        principal: identity.principal.clone(),
        scopes: identity.scopes.clone(),
        client_ip: ip,
        audit: AuditCtx::default(),
    })
}

/// Resolves a credential hash on applied state (the slow path: several sled lookups, decodes
/// and scope parsing). Unknown, revoked and expired credentials are
/// [`AuthError::InvalidCredential`]. Public so the micro benchmarks measure this very code.
pub fn resolve(state: &StateReader, hash: &[u8; 32], now_ms: u64) -> Result<Identity, AuthError> {
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
    match identity.credential(hash)?.ok_or(AuthError::InvalidCredential)? {
        CredentialRef::Agent(id) => {
            let agent = identity
                .agent(&id)?
                .filter(|a| a.revoked_ms.is_none())
                .ok_or(AuthError::InvalidCredential)?;
            Ok(Identity {
                allowlists: vec![stored_allowlist(&agent.ip_allowlist)?],
                scopes: Some(stored_scopes(&agent.scopes)?),
                principal: Principal::Agent { id, name: agent.name },
                expires_ms: u64::MAX,
            })
        }
        CredentialRef::Token(accessor) => {
            let token = identity.token(&accessor)?.ok_or(AuthError::InvalidCredential)?;
            // The one rule listings show too: the token, its parents and its agent.
            let (judged, expires_ms) = identity.judge(&token, now_ms)?;
            if judged != TokenState::Live {
                return Err(AuthError::InvalidCredential);
            }
            let agent = match &token.agent_id {
                Some(id) => Some(
                    identity
                        .agent(id)?
                        .filter(|a| a.revoked_ms.is_none())
                        .ok_or(AuthError::InvalidCredential)?,
                ),
                None => None,
            };
            let mut allowlists = vec![stored_allowlist(&token.ip_allowlist)?];
            if let Some(a) = &agent {
                allowlists.push(stored_allowlist(&a.ip_allowlist)?);
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

fn stored_allowlist(list: &[String]) -> Result<Allowlist, AuthError> {
    Allowlist::parse(list).map_err(|e| AuthError::Corrupt(format!("stored allowlist: {e}")))
}

fn stored_scopes(scopes: &[String]) -> Result<ScopeSet, AuthError> {
    ScopeSet::parse(scopes).map_err(|e| AuthError::Corrupt(format!("stored scopes: {e}")))
}

// ── tokens ─────────────────────────────────────────────────────────────────────────────

/// A token as listings show it: its record, its agent's name and its state at `now_ms`.
#[derive(Debug, Clone)]
pub struct TokenView {
    pub accessor: [u8; 16],
    pub record: TokenRecord,
    pub agent_name: Option<String>,
    pub state: TokenState,
    pub now_ms: u64,
}

/// A token just issued: the secret (shown once, never stored), its view, and the log index
/// its write committed at.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub view: TokenView,
    pub index: u64,
}

fn token_view(node: &Node, accessor: &[u8; 16], t: TokenRecord) -> Result<TokenView, StorageError> {
    let agent_name = match &t.agent_id {
        Some(id) => node.state().identity.agent(id)?.map(|a| a.name),
        None => None,
    };
    let now = node.clock().now_ms();
    let state = node.state().identity.state_of(&t, now)?;
    Ok(TokenView { accessor: *accessor, record: t, agent_name, state, now_ms: now })
}

/// `POST /v1/tokens`: an agent key buys a token within its agent's scopes; a token holding
/// `tokens:manage` (or the root token) buys one within its own ([`engine::issue`]). Expiry is
/// leader-stamped: `issued + ttl`. `client_request_id` is the client's idempotency key.
pub async fn issue_token(
    node: &Node,
    caller: &Caller,
    request: &IssueRequest,
    client_request_id: [u8; 16],
) -> Result<Issued, IdentityError> {
    let policy = node.state().token_policy()?;
    let time_ms = now_ms().max(node.state().leader_time_ms()?);
    let identity = &node.state().identity;
    let (agent, me, my_agent);
    let issuer = match &caller.principal {
        Principal::Root => Issuer::Root,
        Principal::Agent { id, .. } => {
            agent = identity.agent(id)?.ok_or(IdentityError::CallerVanished("agent vanished"))?;
            Issuer::Agent { id: *id, agent: &agent }
        }
        Principal::Token { accessor, agent_id, .. } => {
            let held = caller
                .scopes
                .as_ref()
                .ok_or_else(|| IdentityError::Internal("token without scopes".into()))?;
            me =
                identity.token(accessor)?.ok_or(IdentityError::CallerVanished("token vanished"))?;
            my_agent = agent_id.and_then(|id| identity.agent(&id).ok().flatten());
            let depth = engine::chain_depth(&me, |p| identity.token(p))?;
            Issuer::Token { accessor: *accessor, token: &me, held, agent: my_agent.as_ref(), depth }
        }
    };
    let plan = engine::issue(&issuer, request, &policy, time_ms)?;
    mint(node, caller, plan, client_request_id, time_ms).await
}

async fn mint(
    node: &Node,
    caller: &Caller,
    plan: TokenPlan,
    client_request_id: [u8; 16],
    time_ms: u64,
) -> Result<Issued, IdentityError> {
    let token = new_secret_credential(TOKEN_PREFIX);
    let accessor = *uuid::Uuid::new_v4().as_bytes();
    let break_glass = plan.break_glass;
    let new = NewToken {
        accessor,
        token_hash: hash_token(&token),
        agent_id: plan.agent_id,
        parent: plan.parent,
        scopes: plan.scopes,
        ip_allowlist: plan.ip_allowlist,
        expires_ms: plan.expires_ms,
        break_glass,
        justification: plan.justification,
    };
    let committed = node
        .write(Request {
            request_id: caller.request_id(client_request_id),
            time_ms,
            cmd: Command::IssueToken(new),
        })
        .await?
        .fresh()?;
    expect_ok(&committed)?;
    let record = node
        .state()
        .identity
        .token(&accessor)?
        .ok_or_else(|| IdentityError::Internal("token vanished".into()))?;
    if break_glass {
        tracing::warn!(accessor = %format_id(&accessor), "break-glass token issued above the policy's maximum TTL");
    }
    Ok(Issued { token, view: token_view(node, &accessor, record)?, index: committed.index })
}

fn own_token(caller: &Caller) -> Result<[u8; 16], IdentityError> {
    match &caller.principal {
        Principal::Token { accessor, .. } => Ok(*accessor),
        _ => Err(IdentityError::NotAToken),
    }
}

fn caller_token(node: &Node, accessor: &[u8; 16]) -> Result<TokenRecord, IdentityError> {
    node.state().identity.token(accessor)?.ok_or(IdentityError::CallerVanished("token vanished"))
}

/// `POST /v1/tokens/refresh`: a new token like the caller's, for another TTL of the same
/// length ([`engine::refresh`]).
pub async fn refresh_token(
    node: &Node,
    caller: &Caller,
    client_request_id: [u8; 16],
) -> Result<Issued, IdentityError> {
    let accessor = own_token(caller)?;
    let me = caller_token(node, &accessor)?;
    let policy = node.state().token_policy()?;
    let parent_expires = match &me.parent {
        Some(p) => node.state().identity.token(p)?.map(|t| t.expires_ms),
        None => None,
    };
    let time_ms = now_ms().max(node.state().leader_time_ms()?);
    let plan = engine::refresh(&me, parent_expires, &policy, time_ms);
    mint(node, caller, plan, client_request_id, time_ms).await
}

/// `GET /v1/tokens/self`: the caller's own token.
pub fn lookup_self(node: &Node, caller: &Caller) -> Result<TokenView, IdentityError> {
    let accessor = own_token(caller)?;
    let me = caller_token(node, &accessor)?;
    Ok(token_view(node, &accessor, me)?)
}

/// `GET /v1/tokens[?all=true]`: live tokens (every stored one with `all`), each with its
/// state; never the tokens themselves. A token whose agent or parent was revoked is not live.
pub fn list_tokens(
    node: &Node,
    caller: &Caller,
    all: bool,
) -> Result<Vec<TokenView>, IdentityError> {
    caller.require_admin(Admin::TokensManage)?;
    let now = node.clock().now_ms();
    let mut tokens = Vec::new();
    for (accessor, t) in node.state().identity.tokens()? {
        if all || node.state().identity.state_of(&t, now)? == TokenState::Live {
            tokens.push(token_view(node, &accessor, t)?);
        }
    }
    Ok(tokens)
}

/// Token management needs `tokens:manage`, except on one's own token.
fn may_manage(caller: &Caller, accessor: &[u8; 16]) -> Result<(), AccessError> {
    match &caller.principal {
        Principal::Token { accessor: mine, .. } if mine == accessor => Ok(()),
        _ => caller.require_admin(Admin::TokensManage),
    }
}

/// `GET /v1/tokens/{accessor}`.
pub fn show_token(
    node: &Node,
    caller: &Caller,
    accessor: &[u8; 16],
) -> Result<TokenView, IdentityError> {
    may_manage(caller, accessor)?;
    let t = node.state().identity.token(accessor)?.ok_or(IdentityError::TokenNotFound)?;
    Ok(token_view(node, accessor, t)?)
}

/// `POST /v1/tokens/{accessor}/revoke`: the token and every token below it stop working.
pub async fn revoke_token(
    node: &Node,
    caller: &Caller,
    accessor: &[u8; 16],
    client_request_id: [u8; 16],
) -> Result<TokenView, IdentityError> {
    may_manage(caller, accessor)?;
    let cmd = Command::RevokeToken { accessor: *accessor };
    let committed = node.submit(caller.request_id(client_request_id), cmd).await?;
    expect_ok(&committed)?;
    let t = node
        .state()
        .identity
        .token(accessor)?
        .ok_or_else(|| IdentityError::Internal("token vanished".into()))?;
    Ok(token_view(node, accessor, t)?)
}

/// `GET /v1/policy/tokens`: any token may read it; an agent key may not.
pub fn token_policy(node: &Node, caller: &Caller) -> Result<TokenPolicyRecord, IdentityError> {
    if matches!(caller.principal, Principal::Agent { .. }) {
        caller.require_admin(Admin::PolicyManage)?;
    }
    Ok(node.state().token_policy()?)
}

/// `PUT /v1/policy/tokens`: needs `policy:manage`; the policy as written
/// ([`engine::token_policy`]).
pub async fn set_token_policy(
    node: &Node,
    caller: &Caller,
    max_ttl: &str,
    break_glass: bool,
    break_glass_max_ttl: &str,
    client_request_id: [u8; 16],
) -> Result<TokenPolicyRecord, IdentityError> {
    caller.require_admin(Admin::PolicyManage)?;
    let record = engine::token_policy(max_ttl, break_glass, break_glass_max_ttl)?;
    let cmd = Command::SetTokenPolicy(record);
    let committed = node.submit(caller.request_id(client_request_id), cmd).await?;
    expect_ok(&committed)?;
    Ok(record)
}

// ── agents ─────────────────────────────────────────────────────────────────────────────

/// An agent as stored, with its id.
pub type AgentView = ([u8; 16], AgentRecord);

/// A new agent as asked for.
#[derive(Debug, Clone, Default)]
pub struct AgentRequest {
    pub name: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub description: Option<String>,
}

/// An agent with a fresh key (shown once, stored only as its hash) and the log index its
/// write committed at.
#[derive(Debug)]
pub struct AgentKey {
    pub agent: AgentView,
    pub key: String,
    pub index: u64,
}

/// `POST /v1/agents`: needs `agents:manage`; the new agent's scopes lie within the caller's.
/// The key is made here, on the leader.
pub async fn create_agent(
    node: &Node,
    caller: &Caller,
    request: &AgentRequest,
    client_request_id: [u8; 16],
) -> Result<AgentKey, IdentityError> {
    caller.require_admin(Admin::AgentsManage)?;
    let name = engine::agent_name(&request.name)?;
    // Names are never reused, and never near-reused: one that differs from an existing one
    // only by case would read as the same identity to a person (and, for an approver, did to
    // the approver check). Exact repeats are refused again at apply.
    if node.state().identity.agents()?.iter().any(|(_, a)| a.name.eq_ignore_ascii_case(&name)) {
        return Err(IdentityError::NameTaken);
    }
    let grant = engine::agent_grant(
        &request.scopes,
        &request.ip_allowlist,
        request.description.as_deref(),
        caller.scopes.as_ref(),
    )?;
    let key = new_secret_credential(AGENT_KEY_PREFIX);
    let id = *uuid::Uuid::new_v4().as_bytes();
    let agent = NewAgent {
        id,
        name,
        scopes: grant.scopes,
        ip_allowlist: grant.ip_allowlist,
        description: grant.description,
        key_hash: hash_token(&key),
    };
    let committed = node
        .submit(caller.request_id(client_request_id), Command::CreateAgent(agent))
        .await?
        .fresh()?;
    expect_ok(&committed)?;
    let record = node
        .state()
        .identity
        .agent(&id)?
        .ok_or_else(|| IdentityError::Internal("agent vanished".into()))?;
    Ok(AgentKey { agent: (id, record), key, index: committed.index })
}

/// `GET /v1/agents`: needs `agents:manage`.
pub fn list_agents(node: &Node, caller: &Caller) -> Result<Vec<AgentView>, IdentityError> {
    caller.require_admin(Admin::AgentsManage)?;
    Ok(node.state().identity.agents()?)
}

fn find(node: &Node, name: &str) -> Result<AgentView, IdentityError> {
    node.state()
        .identity
        .find_agent(name)?
        .ok_or_else(|| IdentityError::AgentNotFound(name.chars().take(64).collect()))
}

/// `GET /v1/agents/{name}` (a name, or an id): needs `agents:manage`.
pub fn show_agent(node: &Node, caller: &Caller, name: &str) -> Result<AgentView, IdentityError> {
    caller.require_admin(Admin::AgentsManage)?;
    find(node, name)
}

/// `POST /v1/agents/{name}/revoke`: the agent's key and every token derived from it stop
/// working.
pub async fn revoke_agent(
    node: &Node,
    caller: &Caller,
    name: &str,
    client_request_id: [u8; 16],
) -> Result<AgentView, IdentityError> {
    caller.require_admin(Admin::AgentsManage)?;
    let (id, _) = find(node, name)?;
    let committed =
        node.submit(caller.request_id(client_request_id), Command::RevokeAgent { id }).await?;
    expect_ok(&committed)?;
    let (id, a) = find(node, name)?;
    tracing::info!(agent = %a.name, "agent revoked");
    Ok((id, a))
}

/// `POST /v1/agents/{name}/rotate-key`: a new key; the old one stops working. A caller may
/// take the key of an agent only if it holds the agent's scopes itself.
pub async fn rotate_agent_key(
    node: &Node,
    caller: &Caller,
    name: &str,
    client_request_id: [u8; 16],
) -> Result<AgentKey, IdentityError> {
    caller.require_admin(Admin::AgentsManage)?;
    let (id, agent) = find(node, name)?;
    let held = ScopeSet::parse(&agent.scopes)
        .map_err(|e| IdentityError::Internal(format!("stored scopes: {e}")))?;
    engine::within_caller(caller.scopes.as_ref(), &held)?;
    let key = new_secret_credential(AGENT_KEY_PREFIX);
    let cmd = Command::RotateAgentKey { id, key_hash: hash_token(&key) };
    let committed = node.submit(caller.request_id(client_request_id), cmd).await?.fresh()?;
    expect_ok(&committed)?;
    let agent = find(node, name)?;
    Ok(AgentKey { agent, key, index: committed.index })
}

impl From<Rejection> for IdentityError {
    fn from(r: Rejection) -> Self {
        IdentityError::Rejected(r)
    }
}
