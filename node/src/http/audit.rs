//! The audit request path and the `/v1/audit*` routes.
//!
//! ```text
//!  request ──> record (middleware): request id, AuditCtx into the extensions
//!               │  refuse at once (503 audit_unavailable) while the store is failing
//!               ▼
//!     client IP ─ sealed gate ─ forward ─ handler: Caller fills actor + credential HMAC,
//!                                          handlers note version, tier; ApiError its code
//!               ▼
//!  response ──> one AuditEvent ──> AuditLog::record ──ack──> response leaves
//!                                          └─error/timeout──> 503 audit_unavailable
//!                                                            (the answer, and any secret
//!                                                             in it, is dropped)
//! ```
//!
//! A write a follower forwards is recorded once, by the leader that ran it (the follower
//! passes the leader's answer on). Load balancer probes (`/v1/sys/health`) and `/metrics`
//! scrapes are not API calls on anyone's behalf and are not recorded.

use ass_client::ErrorCode;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ass_client::types::HEADER_REQUEST_ID;
use ass_client::{
    AuditChainReport, AuditCursor, AuditEvent, AuditHashResponse, AuditNodeStatus,
    AuditQueryResponse, AuditVerifyResponse,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, ClientIp, Principal};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::access::scope::Admin;
use crate::audit::query::{self, Filter};
use crate::audit::{QueryResponse, TailRequest, TailResponse};
use crate::identity::format_id;
use crate::node::Node;
use crate::raft::types::NodeId;
use crate::storage::{decode, encode};

/// Routes never recorded: load-balancer probes and metric scrapes.
const NOT_AUDITED: &[&str] = &["/v1/sys/health", "/metrics"];

/// Cluster-port routes of the audit fan-out.
pub const PATH_QUERY: &str = "/internal/audit/query";
pub const PATH_TAIL: &str = "/internal/audit/tail";
pub const PATH_VERIFY: &str = "/internal/audit/verify";

/// What the request path learned about a request, for its audit event.
#[derive(Clone, Default)]
pub struct AuditCtx(Arc<Mutex<Fields>>);

#[derive(Default)]
struct Fields {
    actor: Option<&'static str>,
    agent: Option<String>,
    agent_id: Option<String>,
    accessor: Option<String>,
    credential_hmac: Option<String>,
    version: Option<u64>,
    tier: Option<String>,
    approval_id: Option<String>,
}

impl std::fmt::Debug for AuditCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditCtx")
    }
}

impl AuditCtx {
    fn with<R>(&self, f: impl FnOnce(&mut Fields) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The authenticated principal (called by the `Caller` extractor).
    pub fn note_caller(&self, principal: &Principal) {
        self.with(|f| match principal {
            Principal::Root => f.actor = Some("root"),
            Principal::Agent { id, name } => {
                f.actor = Some("agent_key");
                f.agent = Some(name.clone());
                f.agent_id = Some(format_id(id));
            }
            Principal::Token { accessor, agent_id, agent_name, .. } => {
                f.actor = Some("token");
                f.accessor = Some(format_id(accessor));
                f.agent_id = agent_id.as_ref().map(format_id);
                f.agent = agent_name.clone();
            }
        });
    }

    /// The presented credential, as an HMAC (never the value).
    pub fn note_credential(&self, hmac: Option<String>) {
        self.with(|f| f.credential_hmac = hmac);
    }

    /// The secret version and tier a request touched.
    pub fn note_secret(&self, version: Option<u64>, tier: Option<&str>) {
        self.with(|f| {
            if version.is_some() {
                f.version = version;
            }
            if let Some(t) = tier {
                f.tier = Some(t.to_owned());
            }
        });
    }

    pub fn note_approval(&self, id: String) {
        self.with(|f| f.approval_id = Some(id));
    }
}

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
    if !node.audit.enabled() || NOT_AUDITED.contains(&req.uri().path()) {
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
    if !node.audit.healthy() {
        node.metrics.audit_failures.inc();
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
    let event = ctx.with(|f| AuditEvent {
        v: 1,
        seq: 0,
        time: String::new(),
        node: node.id,
        request_id: request_id.clone(),
        actor: f.actor.unwrap_or("anonymous").to_owned(),
        agent: f.agent.take(),
        agent_id: f.agent_id.take(),
        accessor: f.accessor.take(),
        credential_hmac: f.credential_hmac.take(),
        action: action_of(&method, &route, &path),
        method: method.clone(),
        path,
        version: f.version,
        tier: f.tier.take(),
        result,
        status,
        client,
        approval_id: error.and_then(|e| e.approval_id).or_else(|| f.approval_id.take()),
        prev_hash: String::new(),
        hash: String::new(),
    });
    let started = Instant::now();
    match node.audit.record(event).await {
        Ok(_) => {
            node.metrics.audit_write_seconds.observe(started.elapsed().as_secs_f64());
            let mut resp = resp;
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert(HEADER_REQUEST_ID, v);
            }
            resp
        }
        Err(e) => {
            node.metrics.audit_failures.inc();
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
        node.metrics.http_refused.with_label_values(&[&status.to_string()]).inc();
        {
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            if w.0.elapsed() >= Duration::from_secs(1) {
                *w = (Instant::now(), 0);
            }
            if w.1 >= REFUSAL_EVENTS_PER_SECOND {
                node.metrics.audit_refusals_suppressed.inc();
                return;
            }
            w.1 += 1;
        }
        if !node.audit.enabled() {
            return;
        }
        let result = if status == 414 { ErrorCode::UriTooLong } else { ErrorCode::HeadersTooLarge };
        let event = AuditEvent {
            v: 1,
            seq: 0,
            time: String::new(),
            node: node.id,
            request_id: uuid::Uuid::new_v4().to_string(),
            actor: "anonymous".to_owned(),
            agent: None,
            agent_id: None,
            accessor: None,
            credential_hmac: None,
            action: "http.refused".to_owned(),
            method: String::new(),
            path: String::new(),
            version: None,
            tier: None,
            result: result.as_str().to_owned(),
            status,
            client: peer.ip().to_canonical().to_string(),
            approval_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = node.audit.record(event).await {
                node.metrics.audit_failures.inc();
                tracing::warn!(error = %e, "audit event of a refused request not recorded");
            }
        });
    })
}

// ---------------------------------------------------------------------------------------
// Fan-out over the cluster port

/// Every member (voters and learners) and its cluster address.
pub(crate) fn members(node: &Node) -> Vec<(NodeId, String)> {
    let m = node.raft.metrics();
    let m = m.borrow();
    m.membership_config.membership().nodes().map(|(id, n)| (*id, n.cluster_addr.clone())).collect()
}

pub(crate) async fn ask<Q: Serialize, A: serde::de::DeserializeOwned>(
    node: &Node,
    addr: &str,
    route: &str,
    body: &Q,
    timeout: Duration,
) -> Result<A, String> {
    let bytes = encode(body).map_err(|e| e.to_string())?;
    let resp =
        node.http.post(addr, route).timeout(timeout).body(bytes).send().await.map_err(|e| {
            if e.is_timeout() {
                "did not answer in time".to_string()
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                e.to_string()
            }
        })?;
    if !resp.status().is_success() {
        return Err(format!("answered HTTP {}", resp.status()));
    }
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    decode::<Result<A, String>>(&bytes).map_err(|e| e.to_string())?
}

const FANOUT_TIMEOUT: Duration = Duration::from_secs(5);

fn parse_lines(lines: &[String]) -> Vec<AuditEvent> {
    lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn require_audit_read(caller: &Caller) -> Result<(), ApiError> {
    caller.require_admin(Admin::AuditRead)
}

/// `GET /v1/audit`: every member's matches, merged in time order.
pub async fn query(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<AuditQueryResponse>, ApiError> {
    require_audit_read(&caller)?;
    let filter = Filter::from_query(&q, now_ns())
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let (events, nodes) = cluster_query(&node, &filter).await;
    let partial = nodes.iter().any(|n| !n.ok);
    Ok(Json(AuditQueryResponse { events, partial, nodes }))
}

/// Every member's events matching `filter`, merged in time order (newest `limit` kept), and
/// how each member answered.
pub async fn cluster_query(
    node: &Arc<Node>,
    filter: &Filter,
) -> (Vec<AuditEvent>, Vec<AuditNodeStatus>) {
    let asks = members(node).into_iter().map(|(id, addr)| {
        let node = node.clone();
        let filter = filter.clone();
        async move {
            let r: Result<QueryResponse, String> = if id == node.id {
                node.audit.local_query(&filter).map_err(|e| e.to_string())
            } else {
                ask(&node, &addr, PATH_QUERY, &filter, FANOUT_TIMEOUT).await
            };
            (id, r)
        }
    });
    let mut per_node = Vec::new();
    let mut nodes = Vec::new();
    for (id, r) in futures::future::join_all(asks).await {
        match r {
            Ok(resp) => {
                per_node.push(parse_lines(&resp.lines));
                nodes.push(AuditNodeStatus {
                    node: id,
                    ok: true,
                    error: None,
                    last_seq: Some(resp.last_seq),
                });
            }
            Err(e) => {
                nodes.push(AuditNodeStatus { node: id, ok: false, error: Some(e), last_seq: None })
            }
        }
    }
    (query::merge(per_node, filter.limit), nodes)
}

/// `GET /v1/audit/verify`: every member checks its own chain.
pub async fn verify(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<AuditVerifyResponse>, ApiError> {
    require_audit_read(&caller)?;
    Ok(Json(cluster_verify(&node).await))
}

/// Every member checks its own chain.
pub async fn cluster_verify(node: &Arc<Node>) -> AuditVerifyResponse {
    let asks = members(node).into_iter().map(|(id, addr)| {
        let node = node.clone();
        async move {
            if id == node.id {
                let n = node.clone();
                return tokio::task::spawn_blocking(move || n.audit.local_verify(n.id))
                    .await
                    .unwrap_or_else(|e| unreachable_report(id, e.to_string()));
            }
            match ask::<_, AuditChainReport>(
                &node,
                &addr,
                PATH_VERIFY,
                &(),
                Duration::from_secs(60),
            )
            .await
            {
                Ok(r) => r,
                Err(e) => unreachable_report(id, e),
            }
        }
    });
    let nodes: Vec<AuditChainReport> = futures::future::join_all(asks).await;
    let ok = nodes.iter().all(|n| n.reachable && n.ok);
    AuditVerifyResponse { ok, nodes }
}

fn unreachable_report(node: u64, error: String) -> AuditChainReport {
    AuditChainReport {
        node,
        reachable: false,
        ok: false,
        checked: 0,
        first_seq: None,
        last_seq: None,
        checkpoint_seq: None,
        checkpoint_verified: None,
        problem: None,
        error: Some(error),
    }
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
    require_audit_read(&caller)?;
    let keys = node.audit.keys().ok_or_else(|| {
        ApiError::new(ErrorCode::AuditUnavailable, "the audit log is disabled on this node")
    })?;
    Ok(Json(AuditHashResponse { hmac: keys.hash(&req.value) }))
}

// ---------------------------------------------------------------------------------------
// Follow: server-sent events

/// How long one long poll to a member waits for an event.
const TAIL_WAIT: Duration = Duration::from_secs(10);
/// A cursor message after this long without events (also a keep-alive).
const QUIET: Duration = Duration::from_secs(5);

enum Feed {
    Lines(NodeId, Vec<String>),
    Lagging(NodeId, String),
}

/// `GET /v1/audit/stream`: every member's new events, live. The SSE `id:` is the cursor;
/// `Last-Event-ID` or `?cursor=` resumes after it, on any node.
pub async fn stream(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    require_audit_read(&caller)?;
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.get("cursor").cloned())
        .filter(|c| !c.trim().is_empty());
    let cursor = match given {
        Some(c) => c.parse::<AuditCursor>().map_err(|e| ApiError::new(ErrorCode::BadRequest, e))?,
        None => AuditCursor { from_ns: now_ns(), seqs: BTreeMap::new() },
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Feed>(64);
    let mut tasks = Vec::new();
    for (id, addr) in members(&node) {
        let after = cursor.seqs.get(&id).copied();
        let from_time = crate::audit::store::format_ns(cursor.from_ns);
        tasks.push(tokio::spawn(follow(node.clone(), id, addr, after, from_time, tx.clone())));
    }
    drop(tx);
    let guard = AbortOnDrop(tasks);
    let state = (rx, cursor, guard, true);
    let body = futures::stream::unfold(state, |(mut rx, mut cursor, guard, first)| async move {
        if first {
            let msg = format!("event: cursor\nid: {cursor}\ndata: {{}}\n\n");
            return Some((Ok::<_, std::convert::Infallible>(msg), (rx, cursor, guard, false)));
        }
        let msg = match tokio::time::timeout(QUIET, rx.recv()).await {
            Err(_) => format!("event: cursor\nid: {cursor}\ndata: {{}}\n\n"),
            Ok(None) => return None,
            Ok(Some(Feed::Lagging(id, e))) => {
                let data = serde_json::json!({ "node": id, "error": e });
                format!("event: lagging\ndata: {data}\n\n")
            }
            Ok(Some(Feed::Lines(id, lines))) => {
                let mut out = String::new();
                for line in lines {
                    let Ok(e) = serde_json::from_str::<AuditEvent>(&line) else { continue };
                    if e.node != id || cursor.seen(id, e.seq) {
                        continue;
                    }
                    cursor.advance(id, e.seq);
                    out.push_str(&format!("event: audit\nid: {cursor}\ndata: {line}\n\n"));
                }
                if out.is_empty() {
                    ": nothing new\n\n".to_owned()
                } else {
                    out
                }
            }
        };
        Some((Ok(msg), (rx, cursor, guard, false)))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, "text/event-stream")
        .header(axum::http::header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::internal("building the stream").into_response()))
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Follows one member: long polls for events after the last seen, in order.
async fn follow(
    node: Arc<Node>,
    id: NodeId,
    addr: String,
    mut after: Option<u64>,
    from_time: String,
    tx: tokio::sync::mpsc::Sender<Feed>,
) {
    let mut reported = false;
    loop {
        let req = TailRequest {
            after,
            from_time: from_time.clone(),
            wait_ms: TAIL_WAIT.as_millis() as u64,
            limit: 1000,
        };
        let r: Result<TailResponse, String> = if id == node.id {
            node.audit.local_tail(&req).await.map_err(|e| e.to_string())
        } else {
            ask(&node, &addr, PATH_TAIL, &req, TAIL_WAIT + FANOUT_TIMEOUT).await
        };
        match r {
            Ok(resp) => {
                reported = false;
                let events = parse_lines(&resp.lines);
                if let Some(last) = events.iter().map(|e| e.seq).max() {
                    after = Some(last);
                } else if after.is_none() && resp.last_seq > 0 {
                    // Nothing at or after the start time yet: everything so far is older.
                    after = Some(resp.last_seq);
                }
                if !resp.lines.is_empty() && tx.send(Feed::Lines(id, resp.lines)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if !reported && tx.send(Feed::Lagging(id, e)).await.is_err() {
                    return;
                }
                reported = true;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cluster-port handlers (members answering the fan-out)

fn reply<T: Serialize>(value: &Result<T, String>) -> Response {
    match encode(value) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub async fn internal_query(node: Arc<Node>, body: axum::body::Bytes) -> Response {
    let r = match decode::<Filter>(&body) {
        Ok(f) => {
            let n = node.clone();
            tokio::task::spawn_blocking(move || n.audit.local_query(&f).map_err(|e| e.to_string()))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
        Err(e) => Err(e.to_string()),
    };
    reply(&r)
}

pub async fn internal_tail(node: Arc<Node>, body: axum::body::Bytes) -> Response {
    let r = match decode::<TailRequest>(&body) {
        Ok(req) => node.audit.local_tail(&req).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    reply(&r)
}

pub async fn internal_verify(node: Arc<Node>) -> Response {
    let n = node.clone();
    let r = tokio::task::spawn_blocking(move || n.audit.local_verify(n.id))
        .await
        .map_err(|e| e.to_string());
    reply(&r)
}
