//! `/v1/audit*`: query, follow (server-sent events), verify and hash the cluster's audit
//! log. Thin: parameters in, [`crate::audit::service`]'s answer out. (The layer that records
//! every request is [`super::audit_layer`].)

use std::sync::Arc;

use ass_client::{AuditHashResponse, AuditQueryResponse, AuditVerifyResponse};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::audit::service::{self, FollowMsg};
use crate::identity::Caller;
use crate::node::Node;

/// `GET /v1/audit`: every member's matches, merged in time order.
pub async fn query(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<AuditQueryResponse>, ApiError> {
    Ok(Json(service::query(&node, &caller, &q).await?))
}

/// `GET /v1/audit/verify`: every member checks its own chain.
pub async fn verify(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<AuditVerifyResponse>, ApiError> {
    Ok(Json(service::verify(&node, &caller).await?))
}

#[derive(Deserialize)]
pub struct HashRequest {
    value: String,
}

/// `POST /v1/audit/hash`: the HMAC of a value, as events carry it.
pub async fn hash(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiJson(req): ApiJson<HashRequest>,
) -> Result<Json<AuditHashResponse>, ApiError> {
    Ok(Json(service::hash(&node, &caller, &req.value)?))
}

/// `GET /v1/audit/stream`: every member's new events, live. The SSE `id:` is the cursor;
/// `Last-Event-ID` or `?cursor=` resumes after it, on any node.
pub async fn stream(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.get("cursor").cloned());
    let msgs = service::follow(&node, &caller, given)?;
    let body = msgs.map(|m| Ok::<_, std::convert::Infallible>(sse(m)));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
        .header(axum::http::header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::internal("building the stream").into_response()))
}

/// One message as server-sent event text.
fn sse(m: FollowMsg) -> String {
    match m {
        FollowMsg::Cursor(c) => format!("event: cursor\nid: {c}\ndata: {{}}\n\n"),
        FollowMsg::Lagging { node, error } => {
            let data = serde_json::json!({ "node": node, "error": error });
            format!("event: lagging\ndata: {data}\n\n")
        }
        FollowMsg::Records(r) if r.is_empty() => ": nothing new\n\n".to_owned(),
        FollowMsg::Records(r) => r
            .into_iter()
            .map(|(c, line)| format!("event: audit\nid: {c}\ndata: {line}\n\n"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event-stream text the CLI and SDKs parse.
    #[test]
    fn follow_messages_become_server_sent_events() {
        assert_eq!(sse(FollowMsg::Cursor("c1".into())), "event: cursor\nid: c1\ndata: {}\n\n");
        assert_eq!(
            sse(FollowMsg::Lagging { node: 2, error: "cannot connect".into() }),
            "event: lagging\ndata: {\"error\":\"cannot connect\",\"node\":2}\n\n"
        );
        assert_eq!(sse(FollowMsg::Records(vec![])), ": nothing new\n\n");
        assert_eq!(
            sse(FollowMsg::Records(vec![
                ("c2".into(), "{\"a\":1}".into()),
                ("c3".into(), "{}".into())
            ])),
            "event: audit\nid: c2\ndata: {\"a\":1}\n\nevent: audit\nid: c3\ndata: {}\n\n"
        );
    }
}
