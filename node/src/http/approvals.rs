//! `/v1/approvals` and `/v1/policy/approvals`: extract, call [`crate::approvals::service`],
//! reply. (The gate of a secret read is `approvals::service::gate`, called by
//! `secrets::service`.)

use std::sync::Arc;

use ass_client::types::{
    ApprovalInfo, ApprovalPolicyDocument, DecideRequest, Decision, ListApprovalsResponse,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath, ApiQuery};
use crate::approvals::service::{self, ApprovalView};
use crate::approvals::{DecisionRecord, Requester};
use crate::clock::rfc3339;
use crate::identity::format_id;
use crate::identity::Caller;
use crate::node::Node;

fn decision(d: &DecisionRecord) -> Decision {
    Decision { approver: d.approver.clone(), comment: d.comment.clone(), at: rfc3339(d.at_ms) }
}

fn info(v: &ApprovalView) -> ApprovalInfo {
    let r = &v.record;
    let (agent_id, token_accessor) = match r.requester {
        Requester::Agent(a) => (Some(format_id(&a)), None),
        Requester::Token(t) => (None, Some(format_id(&t))),
    };
    ApprovalInfo {
        id: format_id(&v.id),
        status: r.status_at(v.now_ms).to_string(),
        agent_id,
        agent_name: r.agent_name.clone(),
        token_accessor,
        path: r.path.clone(),
        tier: r.tier.wire(),
        version: r.version,
        reason: r.reason.clone(),
        required_approvals: r.required,
        approvals: r.approvals.iter().map(decision).collect(),
        denial: r.denial.as_ref().map(decision),
        requested_at: rfc3339(r.requested_ms),
        expires_at: rfc3339(r.expires_ms),
        grant_expires_at: r.grant_expires_ms.map(rfc3339),
    }
}

/// `GET /v1/approvals[?status=pending|all]`.
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListApprovalsResponse>, ApiError> {
    let approvals = service::list(&node, &caller, q.get("status").map(String::as_str))?;
    Ok(Json(ListApprovalsResponse { approvals: approvals.iter().map(info).collect() }))
}

/// `GET /v1/approvals/{id}`.
pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<ApprovalInfo>, ApiError> {
    Ok(Json(info(&service::show(&node, &caller, &id)?)))
}

/// `POST /v1/approvals/{id}/approve`.
pub async fn approve(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalInfo>, ApiError> {
    let rid = request_id(&headers)?;
    Ok(Json(info(&service::decide(&node, &caller, &id, req.comment, true, rid).await?)))
}

/// `POST /v1/approvals/{id}/deny`.
pub async fn deny(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalInfo>, ApiError> {
    let rid = request_id(&headers)?;
    Ok(Json(info(&service::decide(&node, &caller, &id, req.comment, false, rid).await?)))
}

/// `GET /v1/policy/approvals`.
pub async fn get_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<ApprovalPolicyDocument>, ApiError> {
    Ok(Json(service::policy(&node, &caller)?.to_document()))
}

/// `PUT /v1/policy/approvals[?allow_unknown_approvers=true]`.
pub async fn set_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery,
    ApiJson(doc): ApiJson<ApprovalPolicyDocument>,
) -> Result<Json<ApprovalPolicyDocument>, ApiError> {
    let allow_unknown = q.get("allow_unknown_approvers").map(String::as_str);
    let rid = request_id(&headers)?;
    Ok(Json(service::set_policy(&node, &caller, &doc, allow_unknown, rid).await?.to_document()))
}
