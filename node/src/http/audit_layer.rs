//! The audit layer: every API request becomes one durable audit record before its answer
//! leaves. (The `/v1/audit*` routes are in [`super::audit`], the record and its store in
//! [`crate::audit`].)
//!
//! ```text
//!  request ──> record (middleware): request id, AuditCtx into the extensions
//!               │  refuse at once (503 audit_unavailable) while the store is failing
//!               ▼
//!     client IP ─ sealed gate ─ forward ─ handler: Caller fills actor + credential HMAC,
//!                                          services note version, tier; ApiError its code
//!               ▼
//!  response ──> one AuditRecord ──> AuditLog::record ──ack──> response leaves
//!                                          └─error/timeout──> 503 audit_unavailable
//!                                                            (the answer, and any secret
//!                                                             in it, is dropped)
//! ```
//!
//! A write a follower forwards is recorded once, by the leader that ran it (the follower
//! passes the leader's answer on). Load balancer probes (`/v1/sys/health`) and `/metrics`
//! scrapes are not API calls on anyone's behalf and are not recorded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ass_client::types::HEADER_REQUEST_ID;
use ass_client::ErrorCode;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::ClientIp;
use super::error::ApiError;
use crate::audit::{AuditCtx, AuditRecord};
use crate::node::Node;

/// Routes never recorded: load-balancer probes and metric scrapes.
const NOT_AUDITED: &[&str] = &["/v1/sys/health", "/metrics"];

/// The machine code and approval id of an error answer, for the audit event.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub approval_id: Option<String>,
}

/// Marks an answer that another node (the leader) ran and recorded.
#[derive(Clone, Copy, Debug)]
pub struct RecordedElsewhere;

fn audit_unavailable(detail: &str) -> Response {
    ApiError::new(
        ErrorCode::AuditUnavailable,
        format!("the request was refused because its audit event could not be recorded: {detail}"),
    )
    .into_response()
}

/// The action name of a route (`secret.read`, `token.issue`, …).
pub fn action_of(method: &str, route: &str, path: &str) -> String {
    let a = match (method, route) {
        ("GET", "/v1/secrets/{*path}") if path.ends_with("/versions") => "secret.versions",
        ("GET", "/v1/secrets/{*path}") => "secret.read",
        ("PUT", "/v1/secrets/{*path}") => "secret.write",
        ("DELETE", "/v1/secrets/{*path}") => "secret.delete",
        ("GET", "/v1/secrets") => "secret.list",
        ("GET", "/v1/agents") => "agent.list",
        ("POST", "/v1/agents") => "agent.create",
        ("GET", "/v1/agents/{name}") => "agent.read",
        ("POST", "/v1/agents/{name}/revoke") => "agent.revoke",
        ("POST", "/v1/agents/{name}/rotate-key") => "agent.rotate_key",
        ("GET", "/v1/tokens") => "token.list",
        ("POST", "/v1/tokens") => "token.issue",
        ("GET", "/v1/tokens/self") => "token.lookup_self",
        ("POST", "/v1/tokens/refresh") => "token.refresh",
        ("GET", "/v1/tokens/{accessor}") => "token.read",
        ("POST", "/v1/tokens/{accessor}/revoke") => "token.revoke",
        ("GET", "/v1/policy/tokens") => "policy.tokens.read",
        ("PUT", "/v1/policy/tokens") => "policy.tokens.write",
        ("GET", "/v1/policy/approvals") => "policy.approvals.read",
        ("PUT", "/v1/policy/approvals") => "policy.approvals.write",
        ("GET", "/v1/approvals") => "approval.list",
        ("GET", "/v1/approvals/{id}") => "approval.read",
        ("POST", "/v1/approvals/{id}/approve") => "approval.approve",
        ("POST", "/v1/approvals/{id}/deny") => "approval.deny",
        ("POST", "/v1/sys/init") => "sys.init",
        ("POST", "/v1/sys/unseal") => "sys.unseal",
        ("POST", "/v1/sys/seal") => "sys.seal",
        ("POST", "/v1/sys/seal/migrate") => "sys.seal.migrate",
        ("GET", "/v1/sys/status") => "sys.status",
        ("GET", "/v1/sys/members") => "sys.members.list",
        ("POST", "/v1/sys/members") => "sys.members.add",
        ("DELETE", "/v1/sys/members/{id}") => "sys.members.remove",
        ("POST", "/v1/sys/members/{id}/promote") => "sys.members.promote",
        ("POST", "/v1/sys/generate-root") => "sys.generate_root",
        ("POST", "/v1/sys/root/revoke") => "sys.root.revoke",
        ("POST", "/v1/sys/rotate") => "sys.rotate",
        ("POST", "/v1/sys/step-down") => "sys.step_down",
        ("GET", "/v1/sys/autopilot/state") => "sys.autopilot.state",
        ("POST", "/v1/sys/rekey") => "sys.rekey",
        ("GET", "/v1/audit") => "audit.query",
        ("GET", "/v1/audit/stream") => "audit.stream",
        ("GET", "/v1/audit/verify") => "audit.verify",
        ("POST", "/v1/audit/hash") => "audit.hash",
        ("GET", "/v1/sys/doctor") => "sys.doctor",
        ("POST", "/v1/sys/doctor/ignore") => "sys.doctor.ignore",
        ("GET", "/v1/sys/doctor/stale") => "sys.doctor.stale",
        ("GET", "/v1/sys/doctor/explain") => "sys.doctor.explain",
        ("GET", "/v1/sys/doctor/rightsize") => "sys.doctor.rightsize",
        ("GET", "/v1/sys/snapshot") => "sys.snapshot.save",
        (_, "unmatched") => "unknown",
        _ => "other",
    };
    a.to_owned()
}

/// The request id to record and pass on: the client's, when it is usable, else a new one
/// (set as the header, so the write path uses the same id).
fn request_id(req: &mut Request) -> String {
    if let Some(v) = req.headers().get(HEADER_REQUEST_ID) {
        return match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= 128 => s.to_owned(),
            // The handler refuses it with 400; record that it was unusable.
            _ => "invalid".to_owned(),
        };
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER_REQUEST_ID, v);
    }
    id
}

/// Middleware: one durable audit event per request before its answer leaves.
pub async fn record(State(node): State<Arc<Node>>, mut req: Request, next: Next) -> Response {
    if !node.audit().enabled() || NOT_AUDITED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().to_string();
    let path = req.uri().path().chars().take(1024).collect::<String>();
    let request_id = request_id(&mut req);
    let client = req.extensions().get::<ClientIp>().map_or_else(String::new, |c| c.0.to_string());
    let ctx = AuditCtx::default();
    req.extensions_mut().insert(ctx.clone());
    if route.starts_with("/v1/approvals/{id}") {
        if let Some(id) = path.split('/').nth(3) {
            ctx.note_approval(id.chars().take(64).collect());
        }
    }
    if !node.audit().healthy() {
        node.metrics().audit_failures.inc();
        return audit_unavailable("the audit store is failing");
    }
    let resp = next.run(req).await;
    if resp.extensions().get::<RecordedElsewhere>().is_some() {
        return resp;
    }
    let status = resp.status().as_u16();
    let error = resp.extensions().get::<ErrorInfo>().cloned();
    let result = match (&error, status) {
        (Some(e), _) => e.code.as_str().to_owned(),
        (None, 200..=399) => "ok".to_owned(),
        (None, s) => format!("http_{s}"),
    };
    let noted = ctx.take();
    let action = action_of(&method, &route, &path);
    let actor = noted.actor.unwrap_or("anonymous");
    let event = AuditRecord {
        agent: noted.agent,
        agent_id: noted.agent_id,
        accessor: noted.accessor,
        credential_hmac: noted.credential_hmac,
        method,
        path,
        version: noted.version,
        tier: noted.tier,
        result,
        status,
        client,
        approval_id: error.and_then(|e| e.approval_id).or(noted.approval_id),
        ..AuditRecord::new(node.id(), request_id.clone(), actor, &action)
    };
    let started = Instant::now();
    match node.audit().record(event).await {
        Ok(_) => {
            node.metrics().audit_write_seconds.observe(started.elapsed().as_secs_f64());
            let mut resp = resp;
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert(HEADER_REQUEST_ID, v);
            }
            resp
        }
        Err(e) => {
            node.metrics().audit_failures.inc();
            tracing::error!(error = %e, request_id, "audit event not recorded; answer withheld");
            drop(resp);
            audit_unavailable(&e.to_string())
        }
    }
}

/// Most audit events a node writes per second for requests refused before routing (hyper's
/// own 414/431, see `tls::refusal`); the rest are counted in
/// `ass_audit_refusals_suppressed_total`, so a flood of garbage can't flood the log.
pub const REFUSAL_EVENTS_PER_SECOND: u32 = 20;

/// The API port's hook for requests refused before routing: one audit event each (actor
/// `anonymous`, action `http.refused`, no path: nothing of the request was read), at most
/// [`REFUSAL_EVENTS_PER_SECOND`].
pub fn refusal_recorder(node: Arc<Node>) -> Arc<dyn Fn(std::net::SocketAddr, u16) + Send + Sync> {
    let window = Arc::new(Mutex::new((Instant::now(), 0u32)));
    Arc::new(move |peer, status| {
        node.metrics().http_refused.with_label_values(&[&status.to_string()]).inc();
        {
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            if w.0.elapsed() >= Duration::from_secs(1) {
                *w = (Instant::now(), 0);
            }
            if w.1 >= REFUSAL_EVENTS_PER_SECOND {
                node.metrics().audit_refusals_suppressed.inc();
                return;
            }
            w.1 += 1;
        }
        if !node.audit().enabled() {
            return;
        }
        let result = if status == 414 { ErrorCode::UriTooLong } else { ErrorCode::HeadersTooLarge };
        let event = AuditRecord {
            result: result.as_str().to_owned(),
            status,
            client: peer.ip().to_canonical().to_string(),
            ..AuditRecord::new(
                node.id(),
                uuid::Uuid::new_v4().to_string(),
                "anonymous",
                "http.refused",
            )
        };
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = node.audit().record(event).await {
                node.metrics().audit_failures.inc();
                tracing::warn!(error = %e, "audit event of a refused request not recorded");
            }
        });
    })
}
