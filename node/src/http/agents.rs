//! `/v1/agents`: extract, call [`crate::identity::service`], reply. An agent key is made on
//! the leader, shown once in the answer, and stored only as its SHA-256 hash.

use std::sync::Arc;

use ass_client::types::{AgentInfo, AgentKeyResponse, CreateAgentRequest, ListAgentsResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath};
use crate::clock::rfc3339;
use crate::identity::service::{self, AgentKey, AgentRequest};
use crate::identity::Caller;
use crate::identity::{format_id, AgentRecord};
use crate::node::Node;

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

fn with_key(k: AgentKey) -> axum::response::Response {
    let body = AgentKeyResponse { agent: agent_info(&k.agent.0, &k.agent.1), agent_key: k.key };
    super::with_index(StatusCode::OK, k.index, body)
}

pub async fn create(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateAgentRequest>,
) -> Result<axum::response::Response, ApiError> {
    let request = AgentRequest {
        name: req.name,
        scopes: req.scopes,
        ip_allowlist: req.ip_allowlist,
        description: req.description,
    };
    Ok(with_key(service::create_agent(&node, &caller, &request, request_id(&headers)?).await?))
}

pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<ListAgentsResponse>, ApiError> {
    let agents = service::list_agents(&node, &caller)?;
    Ok(Json(ListAgentsResponse {
        agents: agents.iter().map(|(id, a)| agent_info(id, a)).collect(),
    }))
}

pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(name): ApiPath,
) -> Result<Json<AgentInfo>, ApiError> {
    let (id, a) = service::show_agent(&node, &caller, &name)?;
    Ok(Json(agent_info(&id, &a)))
}

pub async fn revoke(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(name): ApiPath,
) -> Result<Json<AgentInfo>, ApiError> {
    let (id, a) = service::revoke_agent(&node, &caller, &name, request_id(&headers)?).await?;
    Ok(Json(agent_info(&id, &a)))
}

pub async fn rotate_key(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(name): ApiPath,
) -> Result<axum::response::Response, ApiError> {
    Ok(with_key(service::rotate_agent_key(&node, &caller, &name, request_id(&headers)?).await?))
}
