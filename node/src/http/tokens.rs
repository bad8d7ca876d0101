//! `/v1/tokens` and `/v1/policy/tokens`: short-lived, scoped tokens.
//!
//! An agent key buys tokens within its agent's scopes; a token holding `tokens:manage` (or the
//! root token) buys tokens within its own. TTLs follow the replicated token policy (24 h at
//! most unless break-glass with a justification). Expiry is leader-stamped: `issued + ttl`.

use ass_client::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use ass_client::types::{
    IssueTokenRequest, IssueTokenResponse, ListTokensResponse, TokenInfo, TokenPolicy, TOKEN_PREFIX,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::agents::new_secret_credential;
use super::auth::{Caller, Principal};
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::access::allowlist::Allowlist;
use crate::access::scope::{Admin, ScopeSet};
use crate::access::ttl::parse_ttl;
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Request};
use crate::identity::NewToken;
use crate::identity::{
    format_id, parse_id, TokenPolicyRecord, TokenRecord, TokenState, MAX_TOKEN_DEPTH,
};
use crate::node::Node;
use crate::seal::hash_token;

/// A TTL as people write them here: whole hours as `24h`, else the compact form (`1h30m`).
fn format_ttl(d: Duration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        crate::access::ttl::format_ttl(d)
    }
}

/// The longest `max_ttl` a token policy may set: the product's 24-hour rule.
pub const POLICY_MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest break-glass TTL a policy may allow.
pub const POLICY_MAX_BREAK_GLASS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

fn token_info(node: &Node, accessor: &[u8; 16], t: &TokenRecord) -> Result<TokenInfo, ApiError> {
    let agent_name = match &t.agent_id {
        Some(id) => node.state.identity.agent(id)?.map(|a| a.name),
        None => None,
    };
    let now = node.clock.now_ms();
    let state = node.state.identity.state_of(t, now)?;
    let (state_name, revoked_ms, revoked_reason) = match state {
        TokenState::Live => ("live", None, None),
        TokenState::Expired { .. } => ("expired", t.revoked_ms, None),
        TokenState::Revoked { at_ms, by } => {
            ("revoked", Some(at_ms), Some(by.as_str().to_string()))
        }
    };
    Ok(TokenInfo {
        accessor: format_id(accessor),
        agent_id: t.agent_id.as_ref().map(format_id),
        agent_name,
        scopes: t.scopes.clone(),
        ip_allowlist: t.ip_allowlist.clone(),
        issued_at: rfc3339(t.issued_ms),
        expires_at: rfc3339(t.expires_ms),
        ttl_remaining_secs: match state {
            TokenState::Live => t.expires_ms.saturating_sub(now) / 1000,
            _ => 0,
        },
        break_glass: t.break_glass,
        justification: t.justification.clone(),
        revoked_at: revoked_ms.map(rfc3339),
        state: state_name.to_string(),
        revoked_reason,
    })
}

fn policy_durations(p: &TokenPolicyRecord) -> (Duration, Duration) {
    (Duration::from_millis(p.max_ttl_ms), Duration::from_millis(p.break_glass_max_ttl_ms))
}

fn policy_view(p: &TokenPolicyRecord) -> TokenPolicy {
    let (max, bg) = policy_durations(p);
    TokenPolicy {
        max_ttl: format_ttl(max),
        break_glass: p.break_glass,
        break_glass_max_ttl: format_ttl(bg),
    }
}

/// Decides whether `ttl` is allowed; `Ok(true)` when only break-glass allows it.
fn check_ttl(
    policy: &TokenPolicyRecord,
    ttl: Duration,
    justification: Option<&str>,
) -> Result<bool, ApiError> {
    let (max, bg_max) = policy_durations(policy);
    if ttl <= max {
        return Ok(false);
    }
    let justified = justification.is_some_and(|j| !j.trim().is_empty());
    if policy.break_glass && justified && ttl <= bg_max {
        return Ok(true);
    }
    let hint = if !policy.break_glass {
        "break-glass is off in the token policy".to_string()
    } else if !justified {
        "a longer TTL needs a justification (break-glass)".to_string()
    } else {
        format!("break-glass allows at most {}", format_ttl(bg_max))
    };
    Err(ApiError::new(
        ErrorCode::TtlTooLong,
        format!(
            "TTL {} is above the policy's maximum of {}; {hint}",
            format_ttl(ttl),
            format_ttl(max)
        ),
    ))
}

fn bad_scope(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidScope, e.to_string())
}

fn not_within(scope: impl std::fmt::Display, whose: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ScopeDenied,
        format!("scope `{scope}` is not within the {whose}'s scopes"),
    )
}

fn parse_allowlist(list: &[String]) -> Result<Allowlist, ApiError> {
    Allowlist::parse(list).map_err(|e| ApiError::new(ErrorCode::InvalidAllowlist, e.to_string()))
}

fn within_allowlist(requested: &Allowlist, outer: &[String], whose: &str) -> Result<(), ApiError> {
    let outer = parse_allowlist(outer)?;
    // An empty token allowlist inherits the outer one: both are checked on every request.
    if requested.is_unrestricted() || requested.is_within(&outer) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidAllowlist,
            format!(
                "the token's IP allowlist must lie within the {whose}'s ({})",
                outer.to_strings().join(", ")
            ),
        ))
    }
}

struct Grant {
    agent_id: Option<[u8; 16]>,
    parent: Option<[u8; 16]>,
    /// The allowlist a token asked without one inherits (its issuing token's).
    inherited_allowlist: Option<Vec<String>>,
    /// A cap on expiry (the parent token's).
    expires_cap: Option<u64>,
}

/// What the caller may hand on: checks scopes and allowlist against the caller's.
fn grant_for(
    node: &Node,
    caller: &Caller,
    scopes: &ScopeSet,
    allowlist: &Allowlist,
) -> Result<Grant, ApiError> {
    match &caller.principal {
        Principal::Root => {
            Ok(Grant { agent_id: None, parent: None, inherited_allowlist: None, expires_cap: None })
        }
        Principal::Agent { id, .. } => {
            let agent = node
                .state
                .identity
                .agent(id)?
                .ok_or_else(|| ApiError::unauthorized("agent vanished"))?;
            let held = ScopeSet::parse(&agent.scopes).map_err(bad_scope)?;
            held.contains_all(scopes).map_err(|s| not_within(s, "agent"))?;
            within_allowlist(allowlist, &agent.ip_allowlist, "agent")?;
            Ok(Grant {
                agent_id: Some(*id),
                parent: None,
                inherited_allowlist: None,
                expires_cap: None,
            })
        }
        Principal::Token { accessor, agent_id, expires_ms, .. } => {
            caller.require_admin(Admin::TokensManage)?;
            let held =
                caller.scopes.as_ref().ok_or_else(|| ApiError::internal("token without scopes"))?;
            held.contains_all(scopes).map_err(|s| not_within(s, "calling token"))?;
            let me = node
                .state
                .identity
                .token(accessor)?
                .ok_or_else(|| ApiError::unauthorized("token vanished"))?;
            within_allowlist(allowlist, &me.ip_allowlist, "calling token")?;
            if let Some(agent) =
                agent_id.and_then(|id| node.state.identity.agent(&id).ok().flatten())
            {
                within_allowlist(allowlist, &agent.ip_allowlist, "agent")?;
            }
            if chain_depth(node, &me)? + 1 > MAX_TOKEN_DEPTH {
                return Err(ApiError::new(
                    ErrorCode::TokenChainTooDeep,
                    format!("tokens may issue tokens at most {MAX_TOKEN_DEPTH} levels deep"),
                ));
            }
            let inherited_allowlist = allowlist.is_unrestricted().then(|| me.ip_allowlist.clone());
            Ok(Grant {
                agent_id: *agent_id,
                parent: Some(*accessor),
                inherited_allowlist,
                expires_cap: Some(*expires_ms),
            })
        }
    }
}

/// `POST /v1/tokens`.
pub async fn issue(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IssueTokenRequest>,
) -> Result<axum::response::Response, ApiError> {
    let scopes = ScopeSet::parse(&req.scopes).map_err(bad_scope)?;
    let ttl =
        parse_ttl(&req.ttl).map_err(|e| ApiError::new(ErrorCode::InvalidTtl, e.to_string()))?;
    let allowlist = parse_allowlist(&req.ip_allowlist)?;
    if req.justification.as_ref().is_some_and(|j| j.len() > 1024) {
        return Err(ApiError::new(ErrorCode::BadRequest, "justification is limited to 1024 bytes"));
    }
    let break_glass = check_ttl(&node.state.token_policy()?, ttl, req.justification.as_deref())?;
    let grant = grant_for(&node, &caller, &scopes, &allowlist)?;
    mint(
        &node,
        &caller,
        &headers,
        grant,
        scopes.to_strings(),
        allowlist.to_strings(),
        ttl,
        break_glass,
        req.justification,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn mint(
    node: &Node,
    caller: &Caller,
    headers: &HeaderMap,
    grant: Grant,
    scopes: Vec<String>,
    ip_allowlist: Vec<String>,
    ttl: Duration,
    break_glass: bool,
    justification: Option<String>,
) -> Result<axum::response::Response, ApiError> {
    let time_ms = now_ms().max(node.state.leader_time_ms()?);
    let mut expires_ms = time_ms.saturating_add(ttl.as_millis() as u64);
    if let Some(cap) = grant.expires_cap {
        expires_ms = expires_ms.min(cap);
    }
    let ip_allowlist = grant.inherited_allowlist.unwrap_or(ip_allowlist);
    let token = new_secret_credential(TOKEN_PREFIX);
    let accessor = *uuid::Uuid::new_v4().as_bytes();
    let new = NewToken {
        accessor,
        token_hash: hash_token(&token),
        agent_id: grant.agent_id,
        parent: grant.parent,
        scopes,
        ip_allowlist,
        expires_ms,
        break_glass,
        justification,
    };
    let committed = node
        .write(Request {
            request_id: caller.request_id(headers)?,
            time_ms,
            cmd: Command::IssueToken(new),
        })
        .await?
        .fresh()?;
    super::expect_ok(&committed)?;
    let record = node
        .state
        .identity
        .token(&accessor)?
        .ok_or_else(|| ApiError::internal("token vanished"))?;
    if break_glass {
        tracing::warn!(accessor = %format_id(&accessor), "break-glass token issued above the policy's maximum TTL");
    }
    Ok(super::with_index(
        StatusCode::OK,
        committed.index,
        IssueTokenResponse { token, info: token_info(node, &accessor, &record)? },
    ))
}

/// How many tokens stand above `token`.
fn chain_depth(node: &Node, token: &TokenRecord) -> Result<usize, ApiError> {
    let mut depth = 0;
    let mut parent = token.parent;
    while let Some(p) = parent {
        depth += 1;
        if depth > MAX_TOKEN_DEPTH {
            break;
        }
        parent = node.state.identity.token(&p)?.and_then(|t| t.parent);
    }
    Ok(depth)
}

fn own_token(caller: &Caller) -> Result<[u8; 16], ApiError> {
    match &caller.principal {
        Principal::Token { accessor, .. } => Ok(*accessor),
        _ => Err(ApiError::new(
            ErrorCode::NotAToken,
            "this call needs a token (asst_…) as the credential",
        )),
    }
}

/// `POST /v1/tokens/refresh`: a new token like the caller's, for another TTL of the same length.
pub async fn refresh(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let accessor = own_token(&caller)?;
    let me = node
        .state
        .identity
        .token(&accessor)?
        .ok_or_else(|| ApiError::unauthorized("token vanished"))?;
    let policy = node.state.token_policy()?;
    let (max, bg_max) = policy_durations(&policy);
    let cap = if me.break_glass && policy.break_glass { bg_max } else { max };
    let ttl = Duration::from_millis(me.expires_ms.saturating_sub(me.issued_ms)).min(cap);
    let expires_cap = match &me.parent {
        Some(p) => node.state.identity.token(p)?.map(|t| t.expires_ms),
        None => None,
    };
    let grant =
        Grant { agent_id: me.agent_id, parent: me.parent, inherited_allowlist: None, expires_cap };
    mint(
        &node,
        &caller,
        &headers,
        grant,
        me.scopes,
        me.ip_allowlist,
        ttl,
        me.break_glass,
        me.justification,
    )
    .await
}

/// `GET /v1/tokens/self`.
pub async fn lookup_self(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<TokenInfo>, ApiError> {
    let accessor = own_token(&caller)?;
    let me = node
        .state
        .identity
        .token(&accessor)?
        .ok_or_else(|| ApiError::unauthorized("token vanished"))?;
    Ok(Json(token_info(&node, &accessor, &me)?))
}

/// `GET /v1/tokens[?all=true]`: live tokens (all with `all=true`, each with its state);
/// never the tokens themselves. A token whose agent or parent was revoked is not live.
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListTokensResponse>, ApiError> {
    caller.require_admin(Admin::TokensManage)?;
    let all = q.get("all").is_some_and(|v| v == "true" || v.is_empty());
    let now = node.clock.now_ms();
    let mut tokens = Vec::new();
    for (accessor, t) in node.state.identity.tokens()? {
        if all || node.state.identity.state_of(&t, now)? == TokenState::Live {
            tokens.push(token_info(&node, &accessor, &t)?);
        }
    }
    Ok(Json(ListTokensResponse { tokens }))
}

fn accessor_of(s: &str) -> Result<[u8; 16], ApiError> {
    parse_id(s).ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "an accessor is a UUID"))
}

/// Token management needs `tokens:manage`, except on one's own token.
fn may_manage(caller: &Caller, accessor: &[u8; 16]) -> Result<(), ApiError> {
    match &caller.principal {
        Principal::Token { accessor: mine, .. } if mine == accessor => Ok(()),
        _ => caller.require_admin(Admin::TokensManage),
    }
}

/// `GET /v1/tokens/{accessor}`.
pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(accessor): ApiPath,
) -> Result<Json<TokenInfo>, ApiError> {
    let accessor = accessor_of(&accessor)?;
    may_manage(&caller, &accessor)?;
    let t = node
        .state
        .identity
        .token(&accessor)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such token"))?;
    Ok(Json(token_info(&node, &accessor, &t)?))
}

/// `POST /v1/tokens/{accessor}/revoke`.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(accessor): ApiPath,
) -> Result<Json<TokenInfo>, ApiError> {
    let accessor = accessor_of(&accessor)?;
    may_manage(&caller, &accessor)?;
    let cmd = Command::RevokeToken { accessor };
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    let t = node
        .state
        .identity
        .token(&accessor)?
        .ok_or_else(|| ApiError::internal("token vanished"))?;
    Ok(Json(token_info(&node, &accessor, &t)?))
}

/// `GET /v1/policy/tokens`.
pub async fn get_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<TokenPolicy>, ApiError> {
    if matches!(caller.principal, Principal::Agent { .. }) {
        caller.require_admin(Admin::PolicyManage)?;
    }
    Ok(Json(policy_view(&node.state.token_policy()?)))
}

/// `PUT /v1/policy/tokens`.
pub async fn set_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(policy): ApiJson<TokenPolicy>,
) -> Result<Json<TokenPolicy>, ApiError> {
    caller.require_admin(Admin::PolicyManage)?;
    let max = parse_ttl(&policy.max_ttl)
        .map_err(|e| ApiError::new(ErrorCode::InvalidTtl, format!("max_ttl: {e}")))?;
    let bg = parse_ttl(&policy.break_glass_max_ttl)
        .map_err(|e| ApiError::new(ErrorCode::InvalidTtl, format!("break_glass_max_ttl: {e}")))?;
    if max > POLICY_MAX_TTL {
        return Err(ApiError::new(
            ErrorCode::TtlTooLong,
            "max_ttl can't exceed 24h; use break-glass for exceptions",
        ));
    }
    if bg < max || bg > POLICY_MAX_BREAK_GLASS_TTL {
        return Err(ApiError::new(
            ErrorCode::InvalidTtl,
            "break_glass_max_ttl must lie between max_ttl and 7d",
        ));
    }
    let record = TokenPolicyRecord {
        max_ttl_ms: max.as_millis() as u64,
        break_glass: policy.break_glass,
        break_glass_max_ttl_ms: bg.as_millis() as u64,
    };
    let cmd = Command::SetTokenPolicy(record);
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    Ok(Json(policy_view(&record)))
}
