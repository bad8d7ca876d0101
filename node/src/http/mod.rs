//! The HTTP API: routes, the request-path middleware, and (in [`error`]) the only place errors
//! become status codes.
//!
//! ```text
//!  request ──body limit──> client IP ──> audit record ──> sealed gate ──> writes: forward to
//!                                         │                   the leader (/internal/forward)
//!                   answer leaves only after its audit event is durable (see [`audit_layer`])
//!  handler: Caller (limiter → read index → credential → allowlists) ──> scope check
//!     read:  state ──> approval gate ──> barrier.decrypt ──> reply
//!     write: encrypt for version N+1 ──> raft.client_write ──> reply + X-Ass-Index
//! ```

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod audit_layer;
pub mod auth;
pub mod doctor;
pub mod error;
pub mod extract;
pub mod forward;
pub mod secrets;
pub mod snapshot;
pub mod sys;
pub mod tokens;

use ass_client::ErrorCode;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::node::Node;
use error::ApiError;

/// Routes a sealed node still answers.
const OPEN_WHEN_SEALED: &[&str] = &[
    "/v1/sys/status",
    "/v1/sys/health",
    "/v1/sys/init",
    "/v1/sys/unseal",
    "/metrics",
    // Checks for itself: a new cluster is sealed until the restore unseals it.
    snapshot::PATH_RESTORE,
];

/// Autopilot state: a GET the leader answers, forwarded there like a write.
pub const PATH_AUTOPILOT_STATE: &str = "/v1/sys/autopilot/state";

/// The API router of one node.
pub fn router(node: Arc<Node>) -> Router {
    let max_body = node.config().max_body_bytes;
    Router::new()
        .route("/v1/sys/init", post(sys::init))
        .route("/v1/sys/unseal", post(sys::unseal))
        .route("/v1/sys/seal", post(sys::seal))
        .route("/v1/sys/seal/migrate", post(sys::migrate))
        .route("/v1/sys/status", get(sys::status))
        .route("/v1/sys/health", get(sys::health).head(sys::health))
        .route("/v1/sys/members", get(sys::members).post(sys::add_member))
        .route("/v1/sys/members/{id}", axum::routing::delete(sys::remove_member))
        .route("/v1/sys/members/{id}/promote", post(sys::promote_member))
        .route("/v1/sys/generate-root", post(sys::generate_root))
        .route("/v1/sys/root/revoke", post(sys::revoke_root))
        .route("/v1/sys/rotate", post(sys::rotate))
        .route("/v1/sys/step-down", post(sys::step_down))
        .route(PATH_AUTOPILOT_STATE, get(sys::autopilot_state))
        .route("/v1/sys/rekey", post(sys::rekey))
        .route("/v1/sys/doctor", get(doctor::doctor))
        .route("/v1/sys/doctor/ignore", post(doctor::ignore))
        .route("/v1/sys/doctor/stale", get(doctor::stale))
        .route("/v1/sys/doctor/explain", get(doctor::explain))
        .route("/v1/sys/doctor/rightsize", get(doctor::rightsize))
        .route(snapshot::PATH_SAVE, get(snapshot::save))
        .route(
            snapshot::PATH_RESTORE,
            post(snapshot::restore).layer(DefaultBodyLimit::max(snapshot::MAX_RESTORE_BODY)),
        )
        .route("/v1/secrets", get(secrets::list))
        .route("/v1/secrets/{*path}", get(secrets::get).put(secrets::put).delete(secrets::delete))
        .route("/v1/agents", get(agents::list).post(agents::create))
        .route("/v1/agents/{name}", get(agents::show))
        .route("/v1/agents/{name}/revoke", post(agents::revoke))
        .route("/v1/agents/{name}/rotate-key", post(agents::rotate_key))
        .route("/v1/tokens", get(tokens::list).post(tokens::issue))
        .route("/v1/tokens/self", get(tokens::lookup_self))
        .route("/v1/tokens/refresh", post(tokens::refresh))
        .route("/v1/tokens/{accessor}", get(tokens::show))
        .route("/v1/tokens/{accessor}/revoke", post(tokens::revoke))
        .route("/v1/policy/tokens", get(tokens::get_policy).put(tokens::set_policy))
        .route("/v1/policy/approvals", get(approvals::get_policy).put(approvals::set_policy))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", get(approvals::show))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/v1/audit", get(audit::query))
        .route("/v1/audit/stream", get(audit::stream))
        .route("/v1/audit/verify", get(audit::verify))
        .route("/v1/audit/hash", post(audit::hash))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Three layers, outermost last: each `from_fn` layer boxes and moves the whole
        // request future, so steps that sit next to each other share one (edge: client IP +
        // metrics; gate: sealed check + write forwarding).
        .layer(middleware::from_fn_with_state(node.clone(), gate))
        .layer(middleware::from_fn_with_state(node.clone(), audit_layer::record))
        .layer(middleware::from_fn_with_state(node.clone(), edge))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(node)
}

/// A JSON answer carrying the log index its write committed at (`X-Ass-Index`), so the
/// caller can read its own write anywhere with `X-Ass-Min-Index`.
pub(crate) fn with_index<T: serde::Serialize>(
    status: axum::http::StatusCode,
    index: u64,
    body: T,
) -> Response {
    (status, [(ass_client::types::HEADER_INDEX, index.to_string())], axum::Json(body))
        .into_response()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NoRoute, "no such API route")
}

/// The outermost layer: settles the client address (`auth::set_client_ip`), then counts every
/// request by route template (never the path itself), method and status.
async fn edge(State(node): State<Arc<Node>>, mut req: Request, next: Next) -> Response {
    auth::set_client_ip(&node, &mut req);
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    node.metrics().observe_http(&route, &method, resp.status().as_u16(), started);
    resp
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(node): State<Arc<Node>>, req: Request) -> Response {
    if node.config().metrics_require_token {
        let (mut parts, _) = req.into_parts();
        let caller =
            match <crate::identity::Caller as axum::extract::FromRequestParts<Arc<Node>>>::from_request_parts(
                &mut parts, &node,
            )
            .await
            {
                Ok(c) => c,
                Err(e) => return e.into_response(),
            };
        if let Err(e) = caller.require_admin(crate::access::scope::Admin::SysOperator) {
            return ApiError::from(e).into_response();
        }
    }
    let body = node.metrics().render(&node.metrics_snapshot());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Longest request URI (path and query) a node reads, bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A request whose URI or headers are over the limits: refused here, inside the audit layer,
/// so the refusal has the JSON error shape and an audit event like any other. (What hyper
/// itself can't parse — a URI over 64 KiB, a head over its buffer — is answered by
/// `tls::refusal`.)
fn oversized(req: &Request) -> Option<ApiError> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the request URI is {uri} bytes; at most {MAX_URI_BYTES} are read"),
        ));
    }
    let headers: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("the request headers are {headers} bytes; at most {MAX_HEADER_BYTES} are read"),
        ));
    }
    None
}

/// The innermost layer: refuses oversized requests and what a sealed node cannot serve, then
/// sends a write on a follower to the leader (`forward::forward_writes`).
async fn gate(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if let Some(e) = oversized(&req) {
        return e.into_response();
    }
    if node.is_sealed() && !OPEN_WHEN_SEALED.contains(&req.uri().path()) {
        return ApiError::sealed().into_response();
    }
    forward::forward_writes(node, req, next).await
}
