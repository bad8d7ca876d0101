//! Writes that reach a follower are carried to the leader by the node itself, so a client
//! behind a load balancer never cares who leads.
//!
//! The whole request travels in a [`ForwardedRequest`] to the leader's cluster port, where it
//! runs through the same API router (marked [`Forwarded`] so it is never forwarded twice).
//! The request id header is fixed before the first try, so a retry after a leader change is
//! applied once.

use ass_client::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ass_client::types::HEADER_REQUEST_ID;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::ClientIp;
use super::error::ApiError;
use crate::node::Node;
use crate::storage::{decode, encode};

/// Cluster-port route that runs a forwarded API request on the leader.
pub const PATH_FORWARD: &str = "/internal/forward";
/// How long a follower keeps trying to hand a write to a leader.
const FORWARD_DEADLINE: Duration = Duration::from_secs(10);

/// Marks a request that was forwarded by another node.
#[derive(Clone, Copy, Debug)]
pub struct Forwarded;

#[derive(Serialize, Deserialize)]
pub struct ForwardedRequest {
    /// The client address as the first node worked it out.
    pub client_ip: Option<std::net::IpAddr>,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
pub struct ForwardedResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Routes that act on the node they reach, never forwarded. (A restore opens the file where
/// it lands and proposes through the leader itself, as generate-root does.)
const PER_NODE: &[&str] = &[
    "/v1/sys/unseal",
    "/v1/sys/seal",
    "/v1/sys/generate-root",
    "/v1/sys/rekey",
    "/v1/sys/seal/migrate",
    super::snapshot::PATH_RESTORE,
];

/// Every POST, PUT and DELETE changes replicated state, except the per-node sys routes;
/// the autopilot state is a read only the leader can answer, carried there the same way.
fn is_write(req: &Request) -> bool {
    (matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE)
        && !PER_NODE.contains(&req.uri().path()))
        || (req.method() == Method::GET && req.uri().path() == super::PATH_AUTOPILOT_STATE)
}

const HOP_BY_HOP: &[&str] =
    &["host", "connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"];

/// Forwards a write to the leader when this node isn't it (called by the `http::gate` layer).
pub async fn forward_writes(node: Arc<Node>, req: Request, next: Next) -> Response {
    if !is_write(&req) {
        return next.run(req).await;
    }
    if req.extensions().get::<Forwarded>().is_some() {
        // Only a leader that is not handing over runs a forwarded write: a node that lost
        // leadership (or proposes nothing while it hands over) answers `no_leader` at once,
        // and the forwarding node asks again and finds the successor.
        if !node.is_leader() || node.handing_over() {
            return ApiError::no_leader(None).into_response();
        }
        return next.run(req).await;
    }
    if node.is_leader() && !node.handing_over() {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, node.config().max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                ErrorCode::BodyTooLarge,
                "request body is larger than this node accepts",
            )
            .into_response()
        }
    };
    if !parts.headers.contains_key(HEADER_REQUEST_ID) {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(v) = HeaderValue::from_str(&id) {
            parts.headers.insert(HEADER_REQUEST_ID, v);
        }
    }
    let envelope = ForwardedRequest {
        client_ip: parts.extensions.get::<ClientIp>().map(|c| c.0),
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: body.to_vec(),
    };
    let started = Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        match node.leader() {
            // While this leader hands over, hold the write until the successor leads.
            Some((id, _)) if id == node.id() && node.handing_over() => {}
            Some((id, _)) if id == node.id() => {
                let req = Request::from_parts(parts, Body::from(body));
                return next.run(req).await;
            }
            Some((_, info)) => {
                if let Ok(resp) = send(&node, &info.cluster_addr, &envelope).await {
                    match error_code(&resp) {
                        // Leadership moved between our look and its answer: look again.
                        Some(ErrorCode::NoLeader) => {}
                        // A sealed leader stops leading (see `Node::reconcile_seal_role`): wait
                        // for an unsealed node to take over, then hand the write to it.
                        Some(ErrorCode::Sealed) => {}
                        _ => return into_response(resp),
                    }
                }
            }
            None => {}
        }
        if started.elapsed() > FORWARD_DEADLINE {
            return ApiError::no_leader(None).into_response();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

/// The error code of a 503 answer, if it is one of ours.
fn error_code(resp: &ForwardedResponse) -> Option<ErrorCode> {
    if resp.status != 503 {
        return None;
    }
    serde_json::from_slice::<ass_client::types::ErrorBody>(&resp.body).ok().map(|b| b.error)
}

async fn send(
    node: &Node,
    cluster_addr: &str,
    envelope: &ForwardedRequest,
) -> Result<ForwardedResponse, String> {
    let body = encode(envelope).map_err(|e| e.to_string())?;
    let resp = node
        .peer()
        .post(cluster_addr, PATH_FORWARD)
        .timeout(FORWARD_DEADLINE)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("leader answered HTTP {}", resp.status()));
    }
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    decode(&bytes).map_err(|e| e.to_string())
}

fn into_response(resp: ForwardedResponse) -> Response {
    let mut out = Response::new(Body::from(resp.body));
    // The leader ran this request and recorded its audit event.
    out.extensions_mut().insert(super::audit_layer::RecordedElsewhere);
    *out.status_mut() = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(&v))
        {
            if !HOP_BY_HOP.contains(&k.as_str()) {
                out.headers_mut().append(k, v);
            }
        }
    }
    out
}

/// On the leader: rebuilds a forwarded request for the API router.
pub fn rebuild(envelope: ForwardedRequest) -> Result<Request, String> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(envelope.method.as_bytes()).map_err(|e| e.to_string())?)
        .uri(envelope.uri);
    for (k, v) in envelope.headers {
        builder = builder.header(k, v);
    }
    let mut req = builder.body(Body::from(envelope.body)).map_err(|e| e.to_string())?;
    req.extensions_mut().insert(Forwarded);
    if let Some(ip) = envelope.client_ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    Ok(req)
}

/// On the leader: packs the router's answer for the follower.
pub async fn pack(resp: Response) -> ForwardedResponse {
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.map(|b| b.to_vec()).unwrap_or_default();
    ForwardedResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body,
    }
}
