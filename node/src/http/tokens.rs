//! `/v1/tokens` and `/v1/policy/tokens`: extract, call [`crate::identity::service`], reply.
//! The issuing rules are `identity::engine::issue`.

use std::sync::Arc;

use ass_client::types::{
    IssueTokenRequest, IssueTokenResponse, ListTokensResponse, TokenInfo, TokenPolicy,
};
use ass_client::ErrorCode;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath, ApiQuery};
use crate::clock::rfc3339;
use crate::identity::engine::{format_ttl, policy_durations, IssueRequest};
use crate::identity::service::{self, TokenView};
use crate::identity::Caller;
use crate::identity::{format_id, parse_id, TokenPolicyRecord, TokenState};
use crate::node::Node;

fn token_info(v: &TokenView) -> TokenInfo {
    let t = &v.record;
    let (state_name, revoked_ms, revoked_reason) = match v.state {
        TokenState::Live => ("live", None, None),
        TokenState::Expired { .. } => ("expired", t.revoked_ms, None),
        TokenState::Revoked { at_ms, by } => {
            ("revoked", Some(at_ms), Some(by.as_str().to_string()))
        }
    };
    TokenInfo {
        accessor: format_id(&v.accessor),
        agent_id: t.agent_id.as_ref().map(format_id),
        agent_name: v.agent_name.clone(),
        scopes: t.scopes.clone(),
        ip_allowlist: t.ip_allowlist.clone(),
        issued_at: rfc3339(t.issued_ms),
        expires_at: rfc3339(t.expires_ms),
        ttl_remaining_secs: match v.state {
            TokenState::Live => t.expires_ms.saturating_sub(v.now_ms) / 1000,
            _ => 0,
        },
        break_glass: t.break_glass,
        justification: t.justification.clone(),
        revoked_at: revoked_ms.map(rfc3339),
        state: state_name.to_string(),
        revoked_reason,
    }
}

fn policy_view(p: &TokenPolicyRecord) -> TokenPolicy {
    let (max, bg) = policy_durations(p);
    TokenPolicy {
        max_ttl: format_ttl(max),
        break_glass: p.break_glass,
        break_glass_max_ttl: format_ttl(bg),
    }
}

fn issued(i: service::Issued) -> axum::response::Response {
    let body = IssueTokenResponse { token: i.token, info: token_info(&i.view) };
    super::with_index(StatusCode::OK, i.index, body)
}

/// `POST /v1/tokens`.
pub async fn issue(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IssueTokenRequest>,
) -> Result<axum::response::Response, ApiError> {
    let request = IssueRequest {
        scopes: req.scopes,
        ttl: req.ttl,
        ip_allowlist: req.ip_allowlist,
        justification: req.justification,
    };
    Ok(issued(service::issue_token(&node, &caller, &request, request_id(&headers)?).await?))
}

/// `POST /v1/tokens/refresh`: a new token like the caller's, for another TTL of the same length.
pub async fn refresh(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    Ok(issued(service::refresh_token(&node, &caller, request_id(&headers)?).await?))
}

/// `GET /v1/tokens/self`.
pub async fn lookup_self(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(token_info(&service::lookup_self(&node, &caller)?)))
}

/// `GET /v1/tokens[?all=true]`: live tokens (all with `all=true`, each with its state).
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListTokensResponse>, ApiError> {
    let all = q.get("all").is_some_and(|v| v == "true" || v.is_empty());
    let tokens = service::list_tokens(&node, &caller, all)?;
    Ok(Json(ListTokensResponse { tokens: tokens.iter().map(token_info).collect() }))
}

fn accessor_of(s: &str) -> Result<[u8; 16], ApiError> {
    parse_id(s).ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "an accessor is a UUID"))
}

/// `GET /v1/tokens/{accessor}`.
pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(accessor): ApiPath,
) -> Result<Json<TokenInfo>, ApiError> {
    let accessor = accessor_of(&accessor)?;
    Ok(Json(token_info(&service::show_token(&node, &caller, &accessor)?)))
}

/// `POST /v1/tokens/{accessor}/revoke`.
pub async fn revoke(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(accessor): ApiPath,
) -> Result<Json<TokenInfo>, ApiError> {
    let accessor = accessor_of(&accessor)?;
    let id = request_id(&headers)?;
    Ok(Json(token_info(&service::revoke_token(&node, &caller, &accessor, id).await?)))
}

/// `GET /v1/policy/tokens`.
pub async fn get_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<TokenPolicy>, ApiError> {
    Ok(Json(policy_view(&service::token_policy(&node, &caller)?)))
}

/// `PUT /v1/policy/tokens`.
pub async fn set_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(p): ApiJson<TokenPolicy>,
) -> Result<Json<TokenPolicy>, ApiError> {
    let id = request_id(&headers)?;
    let record = service::set_token_policy(
        &node,
        &caller,
        &p.max_ttl,
        p.break_glass,
        &p.break_glass_max_ttl,
        id,
    )
    .await?;
    Ok(Json(policy_view(&record)))
}
