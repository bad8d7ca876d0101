//! `/v1/agents`: one identity per service. Needs `agents:manage`. An agent key is made on the
//! leader, shown once in the answer, and stored only as its SHA-256 hash.

use ass_client::ErrorCode;
use std::sync::Arc;

use ass_client::types::{
    AgentInfo, AgentKeyResponse, CreateAgentRequest, ListAgentsResponse, AGENT_KEY_PREFIX,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use crate::access::allowlist::Allowlist;
use crate::access::scope::{Admin, ScopeSet};
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Request};
use crate::identity::NewAgent;
use crate::identity::{format_id, normalize_agent_name, AgentRecord};
use crate::node::Node;
use crate::seal::hash_token;

/// Longest agent description, in bytes.
const MAX_DESCRIPTION: usize = 1024;

/// A fresh credential: `prefix` + 256 random bits, base64url.
pub fn new_secret_credential(prefix: &str) -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

pub fn agent_info(id: &[u8; 16], a: &AgentRecord) -> AgentInfo {
    AgentInfo {
        id: format_id(id),
        name: a.name.clone(),
        scopes: a.scopes.clone(),
        ip_allowlist: a.ip_allowlist.clone(),
        description: a.description.clone(),
        created_at: rfc3339(a.created_ms),
        key_rotated_at: a.key_rotated_ms.map(rfc3339),
        revoked_at: a.revoked_ms.map(rfc3339),
    }
}

/// An `agents:manage` token may hand an agent (or take its new key) only scopes it holds
/// itself; otherwise managing agents would be a way past one's own scopes. Root may do all.
fn within_caller(caller: &Caller, scopes: &ScopeSet) -> Result<(), ApiError> {
    match &caller.scopes {
        None => Ok(()),
        Some(held) => held.contains_all(scopes).map_err(|s| {
            ApiError::new(
                ErrorCode::ScopeDenied,
                format!("scope `{s}` is not within the calling token's scopes"),
            )
        }),
    }
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidName,
            "an agent name is 1 to 64 characters of [A-Za-z0-9_.-@+] (approvers are named by e-mail)",
        ))
    }
}

pub async fn create(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateAgentRequest>,
) -> Result<axum::response::Response, ApiError> {
    caller.require_admin(Admin::AgentsManage)?;
    validate_name(&req.name)?;
    let name = normalize_agent_name(&req.name);
    // Names are never reused, and never near-reused: one that differs from an existing one
    // only by case would read as the same identity to a person (and, for an approver, did to
    // the approver check). Exact repeats are refused again at apply.
    if node.state.identity.agents()?.iter().any(|(_, a)| a.name.eq_ignore_ascii_case(&name)) {
        return Err(ApiError::new(
            ErrorCode::NameTaken,
            "an agent with this name (compared without case) exists or existed",
        ));
    }
    let scopes = ScopeSet::parse(&req.scopes)
        .map_err(|e| ApiError::new(ErrorCode::InvalidScope, e.to_string()))?;
    within_caller(&caller, &scopes)?;
    let allowlist = Allowlist::parse(&req.ip_allowlist)
        .map_err(|e| ApiError::new(ErrorCode::InvalidAllowlist, e.to_string()))?;
    if req.description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("description is limited to {MAX_DESCRIPTION} bytes"),
        ));
    }
    let key = new_secret_credential(AGENT_KEY_PREFIX);
    let id = *uuid::Uuid::new_v4().as_bytes();
    let agent = NewAgent {
        id,
        name,
        scopes: scopes.to_strings(),
        ip_allowlist: allowlist.to_strings(),
        description: req.description.clone(),
        key_hash: hash_token(&key),
    };
    let committed = node
        .write(Request {
            request_id: caller.request_id(&headers)?,
            time_ms: now_ms(),
            cmd: Command::CreateAgent(agent),
        })
        .await?
        .fresh()?;
    super::expect_ok(&committed)?;
    let record =
        node.state.identity.agent(&id)?.ok_or_else(|| ApiError::internal("agent vanished"))?;
    Ok(super::with_index(
        axum::http::StatusCode::OK,
        committed.index,
        AgentKeyResponse { agent: agent_info(&id, &record), agent_key: key },
    ))
}

pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<ListAgentsResponse>, ApiError> {
    caller.require_admin(Admin::AgentsManage)?;
    let agents = node.state.identity.agents()?.iter().map(|(id, a)| agent_info(id, a)).collect();
    Ok(Json(ListAgentsResponse { agents }))
}

fn find(node: &Node, name: &str) -> Result<([u8; 16], AgentRecord), ApiError> {
    node.state.identity.find_agent(name)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no agent named `{}`", name.chars().take(64).collect::<String>()),
        )
    })
}

pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(name): ApiPath,
) -> Result<Json<AgentInfo>, ApiError> {
    caller.require_admin(Admin::AgentsManage)?;
    let (id, a) = find(&node, &name)?;
    Ok(Json(agent_info(&id, &a)))
}

pub async fn revoke(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(name): ApiPath,
) -> Result<Json<AgentInfo>, ApiError> {
    caller.require_admin(Admin::AgentsManage)?;
    let (id, _) = find(&node, &name)?;
    let committed = node
        .write(Request {
            request_id: caller.request_id(&headers)?,
            time_ms: now_ms(),
            cmd: Command::RevokeAgent { id },
        })
        .await?;
    super::expect_ok(&committed)?;
    let (id, a) = find(&node, &name)?;
    tracing::info!(agent = %a.name, "agent revoked");
    Ok(Json(agent_info(&id, &a)))
}

pub async fn rotate_key(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(name): ApiPath,
) -> Result<axum::response::Response, ApiError> {
    caller.require_admin(Admin::AgentsManage)?;
    let (id, agent) = find(&node, &name)?;
    let held = ScopeSet::parse(&agent.scopes)
        .map_err(|e| ApiError::internal(format!("stored scopes: {e}")))?;
    within_caller(&caller, &held)?;
    let key = new_secret_credential(AGENT_KEY_PREFIX);
    let cmd = Command::RotateAgentKey { id, key_hash: hash_token(&key) };
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?
        .fresh()?;
    super::expect_ok(&committed)?;
    let (id, a) = find(&node, &name)?;
    Ok(super::with_index(
        axum::http::StatusCode::OK,
        committed.index,
        AgentKeyResponse { agent: agent_info(&id, &a), agent_key: key },
    ))
}
