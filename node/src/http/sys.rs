//! `/v1/sys/*`: init, unseal, seal, status, health, generate-root, root revoke, rotate,
//! rekey, seal migrate ([`crate::seal::service`]); members, step-down, autopilot state
//! ([`crate::members`]). Each handler extracts, calls one use case and replies.

use std::sync::Arc;

use ass_client::types::{
    AddMemberRequest, AutopilotState, GenerateRootRequest, GenerateRootResponse, InitRequest,
    MembersResponse, RekeyRequest, RekeyResponse, RotateResponse, SealMigrateRequest,
    SealMigrateResponse, SealStatus, StepDownResponse, UnsealRequest,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath, ApiQuery};
use crate::identity::Caller;
use crate::members;
use crate::node::Node;
use crate::seal::service;

pub async fn status(State(node): State<Arc<Node>>) -> Result<Json<SealStatus>, ApiError> {
    Ok(Json(service::status(&node).await?))
}

pub async fn init(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<InitRequest>,
) -> Result<Response, ApiError> {
    let done = service::init(&node, request_id(&headers)?, &req).await?;
    Ok(super::with_index(StatusCode::OK, done.index, done.response))
}

pub async fn unseal(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> Result<Json<SealStatus>, ApiError> {
    Ok(Json(service::unseal(&node, &req).await?))
}

pub async fn seal(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<SealStatus>, ApiError> {
    Ok(Json(service::seal(&node, &caller).await?))
}

/// Load-balancer health with Vault's status codes (see `seal::engine::health_status`).
pub async fn health(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery,
) -> Result<Response, ApiError> {
    let h = service::health(&node, &q)?;
    let status =
        StatusCode::from_u16(h.status).map_err(|_| ApiError::internal("bad status code"))?;
    Ok((status, Json(h.body)).into_response())
}

/// `POST /v1/sys/generate-root`: unseal key shares towards a new root token.
pub async fn generate_root(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<GenerateRootRequest>,
) -> Result<Json<GenerateRootResponse>, ApiError> {
    Ok(Json(service::generate_root(&node, &req).await?))
}

/// `POST /v1/sys/root/revoke` (needs `sys:operator`).
pub async fn revoke_root(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rid = caller.request_id(super::extract::request_id(&headers)?);
    let index = service::revoke_root(&node, &caller, rid).await?;
    Ok(Json(serde_json::json!({ "revoked": true, "index": index })))
}

/// `POST /v1/sys/rotate` (needs `sys:operator`): a new data-key term.
pub async fn rotate(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<RotateResponse>, ApiError> {
    let rid = caller.request_id(super::extract::request_id(&headers)?);
    Ok(Json(service::rotate(&node, &caller, rid).await?))
}

/// `POST /v1/sys/rekey` (needs `sys:operator` and current unseal shares): new shares.
pub async fn rekey(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiJson(req): ApiJson<RekeyRequest>,
) -> Result<Json<RekeyResponse>, ApiError> {
    Ok(Json(service::rekey(&node, &caller, &req).await?))
}

/// `POST /v1/sys/seal/migrate`: between Shamir shares and auto-unseal.
pub async fn migrate(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<SealMigrateRequest>,
) -> Result<Json<SealMigrateResponse>, ApiError> {
    Ok(Json(service::migrate(&node, &req).await?))
}

/// `GET /v1/sys/members` (needs `sys:operator`).
pub async fn members(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<MembersResponse>, ApiError> {
    Ok(Json(members::list(&node, &caller)?))
}

/// `POST /v1/sys/members` (needs `sys:operator`): adds a learner, once it caught up.
pub async fn add_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<Json<MembersResponse>, ApiError> {
    Ok(Json(members::add(&node, &caller, req).await?))
}

/// `POST /v1/sys/members/{id}/promote` (needs `sys:operator`): a learner becomes a voter.
pub async fn promote_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<MembersResponse>, ApiError> {
    let id = members::parse_id(&id)?;
    Ok(Json(members::promote(&node, &caller, id).await?))
}

/// `DELETE /v1/sys/members/{id}` (needs `sys:operator`): removes a voter or a learner.
pub async fn remove_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<MembersResponse>, ApiError> {
    let id = members::parse_id(&id)?;
    Ok(Json(members::remove(&node, &caller, id).await?))
}

/// `POST /v1/sys/step-down` (needs `sys:operator`; runs on the leader): answers the old and
/// the new leader.
pub async fn step_down(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<StepDownResponse>, ApiError> {
    let h = members::step_down(&node, &caller).await?;
    Ok(Json(StepDownResponse {
        old_leader: node.id(),
        new_leader: h.new_leader,
        took_ms: Some(h.took.as_millis() as u64),
    }))
}

/// `GET /v1/sys/autopilot/state` (needs `sys:operator`; forwarded to the leader).
pub async fn autopilot_state(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<AutopilotState>, ApiError> {
    Ok(Json(members::autopilot_state(&node, &caller).await?))
}
