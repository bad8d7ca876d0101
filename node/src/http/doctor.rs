//! `/v1/sys/doctor*`: the posture report and its helpers. Thin: parameters in, the posture
//! service's answer out (who may ask is the service's; every rule is in `posture::engine`).

use std::collections::HashMap;
use std::sync::Arc;

use ass_client::{
    DoctorReport, Explanation, IgnoreRequest, IgnoreResponse, RightsizeReport, StaleResponse,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiQuery};
use crate::identity::Caller;
use crate::node::Node;
use crate::posture::service::{self, DoctorParams, ExplainParams};

fn param(q: &HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k).cloned()
}

/// `GET /v1/sys/doctor[?since=7d&older_than=90d&key_max_age=90d]`.
pub async fn doctor(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<DoctorReport>, ApiError> {
    let p = DoctorParams {
        since: param(&q, "since"),
        older_than: param(&q, "older_than"),
        key_max_age: param(&q, "key_max_age"),
    };
    Ok(Json(service::doctor(&node, &caller, &p).await?))
}

/// `GET /v1/sys/doctor/stale?older_than=90d`.
pub async fn stale(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<StaleResponse>, ApiError> {
    Ok(Json(service::stale(&node, &caller, q.get("older_than").map(String::as_str))?))
}

/// `GET /v1/sys/doctor/explain?accessor=A|agent=NAME&path=P[&action=read&ip=IP]`.
pub async fn explain(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<Explanation>, ApiError> {
    let p = ExplainParams {
        accessor: param(&q, "accessor").filter(|s| !s.is_empty()),
        agent: param(&q, "agent").filter(|s| !s.is_empty()),
        path: param(&q, "path"),
        action: param(&q, "action"),
        ip: param(&q, "ip"),
    };
    Ok(Json(service::explain(&node, &caller, &p)?))
}

/// `GET /v1/sys/doctor/rightsize?agent=NAME[&since=30d]`.
pub async fn rightsize(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<RightsizeReport>, ApiError> {
    let agent = q.get("agent").map(String::as_str);
    let since = q.get("since").map(String::as_str);
    Ok(Json(service::rightsize(&node, &caller, agent, since).await?))
}

/// `POST /v1/sys/doctor/ignore` `{id, reason}` or `{id, remove: true}`.
pub async fn ignore(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IgnoreRequest>,
) -> Result<Json<IgnoreResponse>, ApiError> {
    Ok(Json(service::ignore(&node, &caller, &req, request_id(&headers)?).await?))
}
