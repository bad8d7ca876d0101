//! `/v1/sys/doctor*`: the posture report and its helpers. Thin: parameters in, the posture
//! service's answer out (every rule is in `posture::engine`).
//!
//! Reading any of them needs `audit:read` or `sys:operator` (they show what the audit log
//! and the agent list already show those scopes: agent names, token accessors, paths).
//! Suppressing a finding changes what CI gates on, so it needs `sys:operator`.

use ass_client::ErrorCode;
use std::sync::Arc;

use ass_client::{
    DoctorReport, Explanation, IgnoreRequest, IgnoreResponse, RightsizeReport, StaleResponse,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::auth::{Caller, Principal};
use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiQuery};
use crate::access::scope::Admin;
use crate::clock::now_ms;
use crate::command::{Command, Request};
use crate::identity::format_id;
use crate::node::Node;
use crate::posture::engine::NewIgnore;
use crate::posture::service::{self, DoctorParams, ExplainParams, PostureError};

/// Longest finding id and reason accepted, in bytes.
const MAX_ID_BYTES: usize = 512;
const MAX_REASON_BYTES: usize = 1000;

impl From<PostureError> for ApiError {
    fn from(e: PostureError) -> Self {
        match e {
            PostureError::BadParam { .. } => ApiError::new(ErrorCode::BadRequest, e.to_string()),
            PostureError::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            PostureError::Storage(s) => s.into(),
        }
    }
}

/// `audit:read` or `sys:operator`.
fn require_reader(caller: &Caller) -> Result<(), ApiError> {
    caller.refuse_agent_key()?;
    match &caller.scopes {
        None => Ok(()),
        Some(s) if s.allows_admin(Admin::AuditRead) || s.allows_admin(Admin::SysOperator) => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::ScopeDenied,
            "this call needs the scope `audit:read` or `sys:operator`",
        )),
    }
}

fn param(q: &std::collections::HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).cloned()
}

/// `GET /v1/sys/doctor[?since=7d&older_than=90d&key_max_age=90d]`.
pub async fn doctor(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<DoctorReport>, ApiError> {
    require_reader(&caller)?;
    let p = DoctorParams {
        since: param(&q, "since"),
        older_than: param(&q, "older_than"),
        key_max_age: param(&q, "key_max_age"),
    };
    Ok(Json(service::doctor(&node, &p).await?))
}

/// `GET /v1/sys/doctor/stale?older_than=90d`.
pub async fn stale(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<StaleResponse>, ApiError> {
    require_reader(&caller)?;
    Ok(Json(service::stale(&node, q.get("older_than").map(String::as_str))?))
}

/// `GET /v1/sys/doctor/explain?accessor=A|agent=NAME&path=P[&action=read&ip=IP]`.
pub async fn explain(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<Explanation>, ApiError> {
    require_reader(&caller)?;
    let p = ExplainParams {
        accessor: param(&q, "accessor").filter(|s| !s.is_empty()),
        agent: param(&q, "agent").filter(|s| !s.is_empty()),
        path: param(&q, "path"),
        action: param(&q, "action"),
        ip: param(&q, "ip"),
    };
    Ok(Json(service::explain(&node, &p)?))
}

/// `GET /v1/sys/doctor/rightsize?agent=NAME[&since=30d]`.
pub async fn rightsize(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<RightsizeReport>, ApiError> {
    require_reader(&caller)?;
    let r = service::rightsize(
        &node,
        q.get("agent").map(String::as_str),
        q.get("since").map(String::as_str),
    )
    .await?;
    Ok(Json(r))
}

/// Who set a suppression, as the report shows it.
fn principal_name(p: &Principal) -> String {
    match p {
        Principal::Root => "root".into(),
        Principal::Agent { name, .. } => name.clone(),
        Principal::Token { agent_name: Some(n), .. } => n.clone(),
        Principal::Token { accessor, .. } => format!("token:{}", format_id(accessor)),
    }
}

/// `POST /v1/sys/doctor/ignore` `{id, reason}` or `{id, remove: true}` (needs `sys:operator`).
pub async fn ignore(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IgnoreRequest>,
) -> Result<Json<IgnoreResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let id = req.id.trim();
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("`id` must be a finding id from `ass doctor` (1 to {MAX_ID_BYTES} bytes, no control characters)"),
        ));
    }
    let ignore = if req.remove {
        None
    } else {
        let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("`reason` is required (1 to {MAX_REASON_BYTES} bytes): say why this finding is accepted"),
            ));
        }
        Some(NewIgnore { reason: reason.to_string(), by: principal_name(&caller.principal) })
    };
    let cmd = Command::IgnoreFinding { id: id.to_string(), ignore };
    let committed =
        node.write(Request { request_id: request_id(&headers)?, time_ms: now_ms(), cmd }).await?;
    super::expect_ok(&committed)?;
    Ok(Json(IgnoreResponse { id: id.to_string(), ignored: !req.remove, index: committed.index }))
}
