//! `/v1/approvals` and `/v1/policy/approvals`, and the gate every read of a `sensitive` or
//! `critical` secret passes (see [`gate`]).

use ass_client::ErrorCode;
use std::sync::Arc;
use std::time::Instant;

use ass_client::types::{
    ApprovalInfo, ApprovalPolicyDocument, DecideRequest, Decision, ListApprovalsResponse,
    HEADER_REASON,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::auth::{Caller, Principal};
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::access::scope::Admin;
use crate::approvals::{
    policy_from_document, ApprovalRecord, DecisionRecord, NewApproval, NewDecision, Requester,
    Status,
};
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Request, Response as SmResponse};
use crate::identity::{format_id, parse_id};
use crate::node::Node;
use crate::secrets::Tier;

/// Longest reason or comment, in bytes.
const MAX_TEXT: usize = 1024;

/// The `X-Ass-Reason` of a read, if any (text, at most [`MAX_TEXT`] bytes).
fn reason_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER_REASON) else { return Ok(None) };
    let s = v
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "x-ass-reason must be text"))?;
    if s.len() > MAX_TEXT {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("x-ass-reason is limited to {MAX_TEXT} bytes"),
        ));
    }
    Ok(Some(s.to_string()))
}

/// The requester a caller reads as, or `None` for the root token (which is not gated).
pub fn requester_of(caller: &Caller) -> Option<Requester> {
    match &caller.principal {
        Principal::Root => None,
        Principal::Agent { id, .. } => Some(Requester::Agent(*id)),
        Principal::Token { agent_id: Some(id), .. } => Some(Requester::Agent(*id)),
        Principal::Token { accessor, agent_id: None, .. } => Some(Requester::Token(*accessor)),
    }
}

fn approval_error(code: ErrorCode, id: &[u8; 16], message: String) -> ApiError {
    ApiError::held_read(code, format_id(id), message)
}

/// Lets a read of `path` at `tier` (the version's effective tier) through if that tier needs
/// no approval, the caller is root, or the caller holds a live grant made under this tier or
/// a higher one. Otherwise answers 403 with the approval request the read opened or re-used.
pub async fn gate(
    node: &Node,
    caller: &Caller,
    path: &str,
    tier: Tier,
    version: u64,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let policy = node.state.approval_policy()?;
    if policy.rule(tier).required == 0 {
        return Ok(());
    }
    let Some(requester) = requester_of(caller) else { return Ok(()) };
    let reason = reason_of(headers)?;
    let now = node.clock.now_ms();
    if let Some(g) = node.state.approvals.grant(&requester, path)? {
        if g.expires_ms > now && g.tier >= tier {
            return Ok(());
        }
    }
    let mut expired = None;
    let mut after_denial = false;
    if let Some((id, r)) = node.state.approvals.latest(&requester, path)? {
        if r.tier == tier && now < r.expires_ms {
            match r.status {
                Status::Pending => {
                    return Err(approval_error(
                        ErrorCode::ApprovalRequired,
                        &id,
                        format!(
                            "reading this {} secret needs approval; request {} is pending",
                            tier,
                            format_id(&id)
                        ),
                    ))
                }
                // A denied requester asks again by giving a new reason; a plain re-read
                // hears the denial (and nobody is asked twice for the same thing).
                Status::Denied if reason.is_none() || reason == r.reason => {
                    return Err(approval_error(
                        ErrorCode::ApprovalDenied,
                        &id,
                        format!(
                            "request {} to read this secret was denied; to ask again, read \
                             with a new reason (x-ass-reason, `--reason`)",
                            format_id(&id)
                        ),
                    ))
                }
                Status::Denied => after_denial = true,
                Status::Approved => {}
            }
        } else if r.status == Status::Pending && now >= r.expires_ms {
            expired = Some(id);
        }
    }
    if after_denial {
        if let Err(wait) = node.reopen_limiter.try_reopen(&requester.key(path), Instant::now()) {
            return Err(ApiError::new(
                ErrorCode::ApprovalRateLimited,
                format!(
                    "too many new requests for this secret after denials; ask again in {} s",
                    wait.as_secs().max(1)
                ),
            ));
        }
    }
    let agent_name = match &caller.principal {
        Principal::Token { agent_name, .. } => agent_name.clone(),
        _ => None,
    };
    let new = NewApproval {
        id: *uuid::Uuid::new_v4().as_bytes(),
        requester,
        agent_name,
        path: path.to_string(),
        tier,
        version,
        reason,
    };
    let committed = node
        .propose(Request {
            request_id: *uuid::Uuid::new_v4().as_bytes(),
            time_ms: now_ms(),
            cmd: Command::OpenApproval(new),
        })
        .await?;
    match (committed.response, expired) {
        (SmResponse::Approval { id }, Some(old)) => Err(approval_error(
            ErrorCode::ApprovalExpired,
            &id,
            format!(
                "request {} timed out; opened request {} in its place",
                format_id(&old),
                format_id(&id)
            ),
        )),
        (SmResponse::Approval { id }, None) => Err(approval_error(
            ErrorCode::ApprovalRequired,
            &id,
            format!(
                "reading this {} secret needs approval; opened request {}",
                tier,
                format_id(&id)
            ),
        )),
        (SmResponse::Rejected(r), _) => Err(r.into()),
        (other, _) => Err(ApiError::internal(format!("unexpected response {other:?}"))),
    }
}

fn decision(d: &DecisionRecord) -> Decision {
    Decision { approver: d.approver.clone(), comment: d.comment.clone(), at: rfc3339(d.at_ms) }
}

fn info(id: &[u8; 16], r: &ApprovalRecord, now: u64) -> ApprovalInfo {
    let (agent_id, token_accessor) = match r.requester {
        Requester::Agent(a) => (Some(format_id(&a)), None),
        Requester::Token(t) => (None, Some(format_id(&t))),
    };
    ApprovalInfo {
        id: format_id(id),
        status: r.status_at(now).to_string(),
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

fn approval_id(s: &str) -> Result<[u8; 16], ApiError> {
    parse_id(s).ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "an approval id is a UUID"))
}

/// `GET /v1/approvals[?status=pending|all]`: needs `approvals:decide`.
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListApprovalsResponse>, ApiError> {
    caller.require_admin(Admin::ApprovalsDecide)?;
    let wanted = q.get("status").map_or("pending", String::as_str);
    if !matches!(wanted, "pending" | "approved" | "denied" | "expired" | "all") {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "status is pending, approved, denied, expired or all",
        ));
    }
    let now = node.clock.now_ms();
    let approvals = node
        .state
        .approvals
        .all()?
        .iter()
        .map(|(id, r)| info(id, r, now))
        .filter(|a| wanted == "all" || a.status == wanted)
        .collect();
    Ok(Json(ListApprovalsResponse { approvals }))
}

/// `GET /v1/approvals/{id}`: for approvers, and for the requester itself: any token of the
/// requesting agent (or the requesting token) reads its own request with no extra scope. An
/// agent key only buys tokens, here as everywhere.
pub async fn show(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<ApprovalInfo>, ApiError> {
    caller.refuse_agent_key()?;
    let id = approval_id(&id)?;
    let r = node
        .state
        .approvals
        .get(&id)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such approval request"))?;
    let is_requester = requester_of(&caller) == Some(r.requester);
    if !is_requester {
        caller.require_admin(Admin::ApprovalsDecide)?;
    }
    Ok(Json(info(&id, &r, node.clock.now_ms())))
}

async fn decide(
    node: &Node,
    caller: &Caller,
    headers: &HeaderMap,
    id: &str,
    comment: Option<String>,
    approve: bool,
) -> Result<Json<ApprovalInfo>, ApiError> {
    caller.require_admin(Admin::ApprovalsDecide)?;
    let id = approval_id(id)?;
    if comment.as_ref().is_some_and(|c| c.len() > MAX_TEXT) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("comment is limited to {MAX_TEXT} bytes"),
        ));
    }
    let (approver, approver_agent) = match &caller.principal {
        Principal::Token { agent_id: Some(a), agent_name: Some(n), .. } => (n.clone(), *a),
        _ => {
            return Err(ApiError::new(
                ErrorCode::NotAnApprover,
                "decisions are made by named approvers: a token of an agent named as in the policy's approvers",
            ))
        }
    };
    if node.state.approvals.get(&id)?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such approval request"));
    }
    let cmd =
        Command::DecideApproval(NewDecision { id, approver, approver_agent, approve, comment });
    let committed = node
        .write(Request { request_id: caller.request_id(headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    let r =
        node.state.approvals.get(&id)?.ok_or_else(|| ApiError::internal("approval vanished"))?;
    Ok(Json(info(&id, &r, node.clock.now_ms())))
}

/// `POST /v1/approvals/{id}/approve`.
pub async fn approve(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalInfo>, ApiError> {
    decide(&node, &caller, &headers, &id, req.comment, true).await
}

/// `POST /v1/approvals/{id}/deny`.
pub async fn deny(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Json<ApprovalInfo>, ApiError> {
    decide(&node, &caller, &headers, &id, req.comment, false).await
}

/// `GET /v1/policy/approvals`.
pub async fn get_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<ApprovalPolicyDocument>, ApiError> {
    if matches!(caller.principal, Principal::Agent { .. }) {
        caller.require_admin(Admin::PolicyManage)?;
    }
    Ok(Json(node.state.approval_policy()?.to_document()))
}

/// `PUT /v1/policy/approvals[?allow_unknown_approvers=true]`: needs `policy:manage`. An
/// approver that is no live agent is refused unless allowed explicitly (reads needing it would
/// wait for it, silently).
pub async fn set_policy(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery,
    ApiJson(doc): ApiJson<ApprovalPolicyDocument>,
) -> Result<Json<ApprovalPolicyDocument>, ApiError> {
    caller.require_admin(Admin::PolicyManage)?;
    let allow_unknown = match q.get("allow_unknown_approvers").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "allow_unknown_approvers is true or false",
            ))
        }
    };
    let record = policy_from_document(&doc)
        .map_err(|e| ApiError::new(ErrorCode::InvalidPolicy, e.to_string()))?;
    let mut unknown = Vec::new();
    for approver in &record.approvers {
        let live = node
            .state
            .identity
            .find_agent_by_name(approver)?
            .is_some_and(|(_, a)| a.revoked_ms.is_none());
        if !live {
            unknown.push(format!("`{approver}`"));
        }
    }
    if !unknown.is_empty() {
        if !allow_unknown {
            return Err(ApiError::new(
                ErrorCode::UnknownApprover,
                format!(
                    "approver {} is not an agent: create each first (`ass agents create --name \
                     <approver> --scopes approvals:decide`), or allow it explicitly \
                     (allow_unknown_approvers=true, `--allow-unknown-approvers`) and reads that \
                     need it wait until it exists",
                    unknown.join(", ")
                ),
            ));
        }
        tracing::warn!(approvers = %unknown.join(", "), "approval policy names approvers that are not agents yet");
    }
    let cmd = Command::SetApprovalPolicy(record.clone());
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    Ok(Json(record.to_document()))
}
