//! The approval use cases: the gate every read of a gated secret passes ([`gate`], called by
//! the secrets read path), and listing, showing and deciding requests, and the policy. Each
//! decides access through the [`Caller`], the rules through [`super::engine`], reads applied
//! state and proposes through the node. Errors are [`GateError`] and [`ApprovalError`];
//! `http/error.rs` gives them their codes.

use std::time::Instant;

use ass_client::types::ApprovalPolicyDocument;

use super::engine::{self, policy_from_document, Gate, ListFilter, MAX_TEXT};
use super::record::{ApprovalPolicyRecord, ApprovalRecord, NewApproval, NewDecision, PolicyError};
use crate::access::scope::Admin;
use crate::clock::now_ms;
use crate::command::{Command, Rejection, Request, Response};
use crate::identity::caller::{AccessError, Caller, Principal};
use crate::identity::record::parse_id;
use crate::node::{Committed, Node, WriteError};
use crate::secrets::Tier;
use crate::storage::StorageError;

/// Why a gated read did not go through: the read is held (with the request it opened or
/// found), limited, or the gate itself failed.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A pending request (`opened`: this read opened it) must be approved first.
    #[error("reading this {tier} secret needs approval; {}", if *.opened { format!("opened request {}", crate::identity::record::format_id(.id)) } else { format!("request {} is pending", crate::identity::record::format_id(.id)) })]
    Required { id: [u8; 16], tier: Tier, opened: bool },
    #[error("request {} to read this secret was denied; to ask again, read with a new reason (x-ass-reason, `--reason`)", crate::identity::record::format_id(.id))]
    Denied { id: [u8; 16] },
    /// The pending request `old` timed out; this read opened `id` in its place.
    #[error("request {} timed out; opened request {} in its place", crate::identity::record::format_id(.old), crate::identity::record::format_id(.id))]
    Expired { old: [u8; 16], id: [u8; 16] },
    #[error("too many new requests for this secret after denials; ask again in {wait_secs} s")]
    RateLimited { wait_secs: u64 },
    /// A reason with a character outside printable ASCII (what an HTTP header value reads
    /// as text): refused, so no control character reaches a request or an approver's terminal.
    #[error("x-ass-reason must be text")]
    ReasonNotText,
    #[error("x-ass-reason is limited to {MAX_TEXT} bytes")]
    ReasonTooLong,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0:?}")]
    Rejected(Rejection),
    #[error("{0}")]
    Internal(String),
}

/// Why an approvals call did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("an approval id is a UUID")]
    BadId,
    #[error("no such approval request")]
    NotFound,
    #[error("status is pending, approved, denied, expired or all")]
    BadStatus,
    #[error("comment is limited to {MAX_TEXT} bytes")]
    CommentTooLong,
    /// The decider is not a token of a named agent.
    #[error("decisions are made by named approvers: a token of an agent named as in the policy's approvers")]
    NotAnApprover,
    #[error("allow_unknown_approvers is true or false")]
    BadAllowUnknown,
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// Approvers (listed, quoted) that are no live agent.
    #[error(
        "approver {0} is not an agent: create each first (`ass agents create --name \
         <approver> --scopes approvals:decide`), or allow it explicitly \
         (allow_unknown_approvers=true, `--allow-unknown-approvers`) and reads that \
         need it wait until it exists"
    )]
    UnknownApprover(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0:?}")]
    Rejected(Rejection),
    #[error("{0}")]
    Internal(String),
}

fn expect_ok(committed: &Committed) -> Result<(), ApprovalError> {
    match &committed.response {
        Response::Ok => Ok(()),
        Response::Rejected(r) => Err(r.clone().into()),
        other => {
            Err(ApprovalError::Internal(format!("unexpected state machine response {other:?}")))
        }
    }
}

/// Whether a read at `tier` by `caller` is gated at all (the tier's rule asks for approvers
/// and the caller is not root). Cheap: one policy read.
pub fn needs_approval(node: &Node, caller: &Caller, tier: Tier) -> Result<bool, StorageError> {
    let policy = node.state().approval_policy()?;
    Ok(engine::needs_approval(&policy, tier, engine::requester_of(&caller.principal).as_ref()))
}

/// Lets a read of `path` at `tier` (the version's effective tier) through if that tier needs
/// no approval, the caller is root, or the caller holds a live grant made under this tier or
/// a higher one ([`engine::gate`]). Otherwise holds it with the approval request the read
/// opened or re-used. `reason` is the read's `X-Ass-Reason`.
pub async fn gate(
    node: &Node,
    caller: &Caller,
    path: &str,
    tier: Tier,
    version: u64,
    reason: Option<&str>,
) -> Result<(), GateError> {
    let policy = node.state().approval_policy()?;
    let requester = engine::requester_of(&caller.principal);
    let Some(requester) = requester.filter(|r| engine::needs_approval(&policy, tier, Some(r)))
    else {
        return Ok(());
    };
    if reason.is_some_and(|r| !r.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))) {
        return Err(GateError::ReasonNotText);
    }
    if reason.is_some_and(|r| r.len() > MAX_TEXT) {
        return Err(GateError::ReasonTooLong);
    }
    let now = node.clock().now_ms();
    let grant = node.state().approvals.grant(&requester, path)?;
    let latest = node.state().approvals.latest(&requester, path)?;
    let reopen = || node.reopen_limiter().try_reopen(&requester.key(path), Instant::now());
    let gate = engine::gate(
        &policy,
        Some(&requester),
        grant.as_ref(),
        latest.as_ref().map(|(id, r)| (id, r)),
        tier,
        reason,
        now,
        reopen,
    );
    let replaces = match gate {
        Gate::NotNeeded | Gate::Granted => return Ok(()),
        Gate::Pending { id } => return Err(GateError::Required { id, tier, opened: false }),
        Gate::Denied { id } => return Err(GateError::Denied { id }),
        Gate::RateLimited { wait } => {
            return Err(GateError::RateLimited { wait_secs: wait.as_secs().max(1) })
        }
        Gate::Open { replaces } => replaces,
    };
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
        reason: reason.map(str::to_owned),
    };
    let committed = node
        .propose(Request {
            request_id: *uuid::Uuid::new_v4().as_bytes(),
            time_ms: now_ms(),
            cmd: Command::OpenApproval(new),
        })
        .await?;
    match (committed.response, replaces) {
        (Response::Approval { id }, Some(old)) => Err(GateError::Expired { old, id }),
        (Response::Approval { id }, None) => Err(GateError::Required { id, tier, opened: true }),
        (Response::Rejected(r), _) => Err(r.into()),
        (other, _) => Err(GateError::Internal(format!("unexpected response {other:?}"))),
    }
}

/// A request as listings show it: id, record, and the time its status is judged at.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    pub id: [u8; 16],
    pub record: ApprovalRecord,
    pub now_ms: u64,
}

fn approval_id(s: &str) -> Result<[u8; 16], ApprovalError> {
    parse_id(s).ok_or(ApprovalError::BadId)
}

/// `GET /v1/approvals[?status=pending|approved|denied|expired|all]`: needs
/// `approvals:decide`. `status` is the query's value, as given.
pub fn list(
    node: &Node,
    caller: &Caller,
    status: Option<&str>,
) -> Result<Vec<ApprovalView>, ApprovalError> {
    caller.require_admin(Admin::ApprovalsDecide)?;
    let filter = ListFilter::parse(status).ok_or(ApprovalError::BadStatus)?;
    let now = node.clock().now_ms();
    Ok(node
        .state()
        .approvals
        .all()?
        .into_iter()
        .filter(|(_, r)| filter.shows(r.status_at(now)))
        .map(|(id, record)| ApprovalView { id, record, now_ms: now })
        .collect())
}

/// `GET /v1/approvals/{id}`: for approvers, and for the requester itself: any token of the
/// requesting agent (or the requesting token) reads its own request with no extra scope. An
/// agent key only buys tokens, here as everywhere.
pub fn show(node: &Node, caller: &Caller, id: &str) -> Result<ApprovalView, ApprovalError> {
    caller.refuse_agent_key()?;
    let id = approval_id(id)?;
    let record = node.state().approvals.get(&id)?.ok_or(ApprovalError::NotFound)?;
    let is_requester = engine::requester_of(&caller.principal) == Some(record.requester);
    if !is_requester {
        caller.require_admin(Admin::ApprovalsDecide)?;
    }
    Ok(ApprovalView { id, record, now_ms: node.clock().now_ms() })
}

/// `POST /v1/approvals/{id}/approve` and `/deny`: needs `approvals:decide` and a token of a
/// named agent; the apply checks the rest ([`engine::check_decision`]).
pub async fn decide(
    node: &Node,
    caller: &Caller,
    id: &str,
    comment: Option<String>,
    approve: bool,
    client_request_id: [u8; 16],
) -> Result<ApprovalView, ApprovalError> {
    caller.require_admin(Admin::ApprovalsDecide)?;
    let id = approval_id(id)?;
    if comment.as_ref().is_some_and(|c| c.len() > MAX_TEXT) {
        return Err(ApprovalError::CommentTooLong);
    }
    let (approver, approver_agent) = match &caller.principal {
        Principal::Token { agent_id: Some(a), agent_name: Some(n), .. } => (n.clone(), *a),
        _ => return Err(ApprovalError::NotAnApprover),
    };
    if node.state().approvals.get(&id)?.is_none() {
        return Err(ApprovalError::NotFound);
    }
    let cmd =
        Command::DecideApproval(NewDecision { id, approver, approver_agent, approve, comment });
    let committed = node.submit(caller.request_id(client_request_id), cmd).await?;
    expect_ok(&committed)?;
    let record = node
        .state()
        .approvals
        .get(&id)?
        .ok_or_else(|| ApprovalError::Internal("approval vanished".into()))?;
    Ok(ApprovalView { id, record, now_ms: node.clock().now_ms() })
}

/// `GET /v1/policy/approvals`: any token may read it; an agent key may not.
pub fn policy(node: &Node, caller: &Caller) -> Result<ApprovalPolicyRecord, ApprovalError> {
    if matches!(caller.principal, Principal::Agent { .. }) {
        caller.require_admin(Admin::PolicyManage)?;
    }
    Ok(node.state().approval_policy()?)
}

/// `PUT /v1/policy/approvals[?allow_unknown_approvers=true]`: needs `policy:manage`. An
/// approver that is no live agent is refused unless allowed explicitly (reads needing it would
/// wait for it, silently). `allow_unknown` is the query's value, as given.
pub async fn set_policy(
    node: &Node,
    caller: &Caller,
    doc: &ApprovalPolicyDocument,
    allow_unknown: Option<&str>,
    client_request_id: [u8; 16],
) -> Result<ApprovalPolicyRecord, ApprovalError> {
    caller.require_admin(Admin::PolicyManage)?;
    let allow_unknown = match allow_unknown {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApprovalError::BadAllowUnknown),
    };
    let record = policy_from_document(doc)?;
    let mut unknown = Vec::new();
    for approver in &record.approvers {
        let live = node
            .state()
            .identity
            .find_agent_by_name(approver)?
            .is_some_and(|(_, a)| a.revoked_ms.is_none());
        if !live {
            unknown.push(format!("`{approver}`"));
        }
    }
    if !unknown.is_empty() {
        if !allow_unknown {
            return Err(ApprovalError::UnknownApprover(unknown.join(", ")));
        }
        tracing::warn!(approvers = %unknown.join(", "), "approval policy names approvers that are not agents yet");
    }
    let cmd = Command::SetApprovalPolicy(record.clone());
    let committed = node.submit(caller.request_id(client_request_id), cmd).await?;
    expect_ok(&committed)?;
    Ok(record)
}

impl From<Rejection> for GateError {
    fn from(r: Rejection) -> Self {
        GateError::Rejected(r)
    }
}

impl From<Rejection> for ApprovalError {
    fn from(r: Rejection) -> Self {
        ApprovalError::Rejected(r)
    }
}
