//! The posture use cases behind `/v1/sys/doctor*`: who may ask, then the posture engine's
//! records gathered from the node — applied state (`node.state()`), the audit log of every
//! member, and each member's own facts over the cluster port. No posture rule lives here:
//! every judgement is [`super::engine`]'s.
//!
//! ```text
//!  caller: audit:read or sys:operator (ignore: sys:operator)
//!  state (tokens judged live, agents, secrets, policy) ─┐
//!  audit: cluster_query(since) + cluster_verify ────────┼──> Facts ──engine::report──> report
//!  members: POST /internal/posture (sealed, TLS, cert) ─┘
//!  ignore(id, reason) ── checked ──> Command::IgnoreFinding ──> node.write (replicated)
//! ```
//!
//! Reading any of them needs `audit:read` or `sys:operator` (they show what the audit log
//! and the agent list already show those scopes: agent names, token accessors, paths).
//! Suppressing a finding changes what CI gates on, so it needs `sys:operator`.

use std::sync::Arc;
use std::time::Duration;

use ass_client::{
    DoctorReport, Explanation, IgnoreRequest, IgnoreResponse, RightsizeReport, StaleResponse,
};
use serde::{Deserialize, Serialize};

use super::engine::{
    self, AgentFact, Facts, Gate, Limits, MemberFact, PolicyFact, SecretFact, Subject, TokenFact,
};
use crate::access::scope::{Action, Admin};
use crate::approvals::Requester;
use crate::audit::fanout::{ask, cluster_query, cluster_verify, members};
use crate::audit::query::{Filter, MAX_LIMIT};
use crate::audit::store::format_ns;
use crate::audit::AuditRecord;
use crate::command::{Command, Rejection, Response};
use crate::identity::{format_id, parse_id, AccessError, Caller, Principal, TokenState};
use crate::node::{Node, WriteError};
use crate::state::StateReader;
use crate::storage::StorageError;

/// Cluster-port route each member answers with its own [`MemberSelf`].
pub const PATH_POSTURE: &str = "/internal/posture";

const DAY_MS: u64 = 86_400_000;
const FANOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest finding id and reason accepted, in bytes.
const MAX_ID_BYTES: usize = 512;
const MAX_REASON_BYTES: usize = 1000;

/// Why a posture question can't be answered; each names the parameter or the subject.
#[derive(Debug, thiserror::Error)]
pub enum PostureError {
    #[error("`{param}`: {message}")]
    BadParam { param: &'static str, message: String },
    /// A request body that can't be used; the message says how to fix it.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The caller may not ask this (an agent key, or a scope missing).
    #[error(transparent)]
    Denied(#[from] AccessError),
    /// The caller holds neither `audit:read` nor `sys:operator`.
    #[error("this call needs the scope `audit:read` or `sys:operator`")]
    NotAReader,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The state machine refused the suppression.
    #[error("rejected: {0:?}")]
    Rejected(Rejection),
    #[error("unexpected state machine response {0}")]
    Unexpected(String),
}

/// `audit:read` or `sys:operator` (never an agent key).
fn require_reader(caller: &Caller) -> Result<(), PostureError> {
    caller.refuse_agent_key()?;
    match &caller.scopes {
        None => Ok(()),
        Some(s) if s.allows_admin(Admin::AuditRead) || s.allows_admin(Admin::SysOperator) => Ok(()),
        Some(_) => Err(PostureError::NotAReader),
    }
}

fn bad(param: &'static str, message: impl Into<String>) -> PostureError {
    PostureError::BadParam { param, message: message.into() }
}

/// A duration parameter (`90d`, `12h`, `0s`), in ms; `default` when absent.
pub fn parse_age(
    param: &'static str,
    v: Option<&str>,
    default_ms: u64,
) -> Result<u64, PostureError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default_ms),
        Some(v) => humantime::parse_duration(v)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| bad(param, format!("`{}` is not a duration (90d, 12h, 30m)", cut(v)))),
    }
}

/// The start of a window: a duration back from `now_ms` (`7d`) or an RFC 3339 time.
pub fn parse_since(v: Option<&str>, default_ms: u64, now_ms: u64) -> Result<u64, PostureError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(now_ms.saturating_sub(default_ms));
    };
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| bad("since", "must not be before 1970"));
    }
    humantime::parse_duration(v).map(|d| now_ms.saturating_sub(d.as_millis() as u64)).map_err(
        |_| {
            bad(
                "since",
                format!("`{}` is neither a duration ago (7d) nor an RFC 3339 time", cut(v)),
            )
        },
    )
}

fn cut(v: &str) -> String {
    v.chars().take(40).collect()
}

/// The records of applied state: live tokens, agents not revoked, secrets, the policy.
pub type StateFacts = (Vec<TokenFact>, Vec<AgentFact>, Vec<SecretFact>, PolicyFact);

/// [`StateFacts`] at `now_ms`.
pub fn state_facts(state: &StateReader, now_ms: u64) -> Result<StateFacts, StorageError> {
    let id = &state.identity;
    let mut tokens = Vec::new();
    for (accessor, t) in id.tokens()? {
        if id.state_of(&t, now_ms)? != TokenState::Live {
            continue;
        }
        let agent = match &t.agent_id {
            Some(a) => id.agent(a)?,
            None => None,
        };
        tokens.push(TokenFact {
            accessor: format_id(&accessor),
            agent: agent.as_ref().map(|a| a.name.clone()),
            scopes: t.scopes.clone(),
            ip_allowlist: t.ip_allowlist.clone(),
            agent_allowlist: agent.map(|a| a.ip_allowlist).unwrap_or_default(),
            issued_ms: t.issued_ms,
            expires_ms: t.expires_ms,
            break_glass: t.break_glass,
            justification: t.justification.clone(),
        });
    }
    let agents = id
        .agents()?
        .into_iter()
        .filter(|(_, a)| a.revoked_ms.is_none())
        .map(|(_, a)| AgentFact {
            name: a.name,
            scopes: a.scopes,
            ip_allowlist: a.ip_allowlist,
            created_ms: a.created_ms,
            key_rotated_ms: a.key_rotated_ms,
        })
        .collect();
    let secrets = state
        .secrets
        .list("")?
        .into_iter()
        .map(|(path, r)| SecretFact {
            path,
            tier: r.tier.as_str().to_string(),
            latest_version: r.latest_version,
            updated_ms: r.updated_ms,
            latest_deleted: r.latest_deleted,
        })
        .collect();
    let p = state.approval_policy()?;
    let policy = PolicyFact {
        sensitive_required: p.sensitive.required,
        critical_required: p.critical.required,
        approvers: p.approvers,
    };
    Ok((tokens, agents, secrets, policy))
}

/// What one member says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberSelf {
    pub sealed: bool,
    pub tls: bool,
    /// Unix seconds the API certificate expires at.
    pub cert_not_after_s: Option<i64>,
}

/// This node's own facts.
pub fn member_self(node: &Node) -> MemberSelf {
    let tls = !node.config().tls_disable;
    let not_after = node.metrics().tls_cert_not_after.with_label_values(&["api"]).get();
    MemberSelf {
        sealed: node.is_sealed(),
        tls,
        cert_not_after_s: (tls && not_after > 0).then_some(not_after),
    }
}

/// Every member's facts (a member that does not answer has none).
async fn member_facts(node: &Arc<Node>) -> Vec<MemberFact> {
    let voters: Vec<u64> = {
        let m = node.raft().metrics();
        let m = m.borrow();
        m.membership_config.membership().voter_ids().collect()
    };
    let asks = members(node).into_iter().map(|(id, addr)| {
        let node = node.clone();
        async move {
            let r: Result<MemberSelf, String> = if id == node.id() {
                Ok(member_self(&node))
            } else {
                ask(&node, &addr, PATH_POSTURE, &(), FANOUT_TIMEOUT).await
            };
            (id, r.ok())
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .map(|(id, s)| MemberFact {
            id,
            voter: voters.contains(&id),
            sealed: s.as_ref().map(|s| s.sealed),
            tls: s.as_ref().map(|s| s.tls),
            cert_not_after_s: s.and_then(|s| s.cert_not_after_s),
        })
        .collect()
}

/// Every member's audit events since `since_ms` (newest [`MAX_LIMIT`] kept), with `agent`
/// as a filter when given. Returns the events and whether the answer is partial.
async fn window_events(
    node: &Arc<Node>,
    since_ms: u64,
    agent: Option<&str>,
) -> (Vec<AuditRecord>, bool, Vec<String>) {
    let filter = Filter {
        limit: MAX_LIMIT,
        since: Some(format_ns(since_ms.saturating_mul(1_000_000))),
        agent: agent.map(str::to_string),
        ..Default::default()
    };
    let (events, nodes) = cluster_query(node, &filter).await;
    let mut notes = Vec::new();
    for n in nodes.iter().filter(|n| !n.ok) {
        notes.push(format!(
            "node {}'s audit log could not be read ({}): audit-based checks see part of the window",
            n.node,
            n.error.as_deref().unwrap_or("no answer")
        ));
    }
    let cut = events.len() >= MAX_LIMIT;
    if cut {
        notes.push(format!(
            "the audit window holds more than {MAX_LIMIT} events: only the newest were read (use a shorter --since)"
        ));
    }
    (events, cut || nodes.iter().any(|n| !n.ok), notes)
}

/// Options of one doctor run.
#[derive(Debug, Clone, Default)]
pub struct DoctorParams {
    pub since: Option<String>,
    pub older_than: Option<String>,
    pub key_max_age: Option<String>,
}

/// The graded report.
pub async fn doctor(
    node: &Arc<Node>,
    caller: &Caller,
    p: &DoctorParams,
) -> Result<DoctorReport, PostureError> {
    require_reader(caller)?;
    let now = node.clock().now_ms();
    let mut limits = Limits::at(now);
    limits.rotation_ms = parse_age("older_than", p.older_than.as_deref(), limits.rotation_ms)?;
    limits.key_max_age_ms =
        parse_age("key_max_age", p.key_max_age.as_deref(), limits.key_max_age_ms)?;
    let since_ms = parse_since(p.since.as_deref(), 7 * DAY_MS, now)?;
    let (tokens, agents, secrets, policy) = state_facts(node.state(), now)?;
    let mut notes = Vec::new();
    let audit = if node.audit().enabled() {
        // The backup check looks a day back even when the window is shorter.
        let from = since_ms.min(now.saturating_sub(limits.backup_max_age_ms));
        let (events, partial, n) = window_events(node, from, None).await;
        notes.extend(n);
        let mut facts = engine::audit_facts(&events, since_ms, crate::backup::PATH_SAVE);
        // Only the window's own events count for the usage checks.
        let in_window: Vec<_> = events
            .into_iter()
            .filter(|e| e.time >= format_ns(since_ms.saturating_mul(1_000_000)))
            .collect();
        let windowed = engine::audit_facts(&in_window, since_ms, crate::backup::PATH_SAVE);
        facts.uses = windowed.uses;
        facts.readers = windowed.readers;
        facts.root_reads = windowed.root_reads;
        facts.partial = partial;
        // A member that can't be asked is the deployment check's (unreachable), not a
        // broken chain.
        let verify = cluster_verify(node).await;
        for n in verify.nodes.iter().filter(|n| !n.reachable) {
            notes.push(format!(
                "node {}'s audit chain could not be verified: it did not answer",
                n.node
            ));
        }
        facts.chain_ok = Some(verify.nodes.iter().all(|n| !n.reachable || n.ok));
        facts
    } else {
        engine::AuditFacts { since_ms, ..Default::default() }
    };
    let members = member_facts(node).await;
    let facts = Facts { tokens, agents, secrets, policy, audit, members, limits };
    Ok(engine::report(&facts, &node.state().doctor_ignores()?, notes))
}

/// Secrets whose latest version is older than `older_than`.
pub fn stale(
    node: &Node,
    caller: &Caller,
    older_than: Option<&str>,
) -> Result<StaleResponse, PostureError> {
    require_reader(caller)?;
    let now = node.clock().now_ms();
    let ms = parse_age("older_than", older_than, 90 * DAY_MS)?;
    let (_, _, secrets, _) = state_facts(node.state(), now)?;
    Ok(StaleResponse {
        older_than: ass_client::format_ttl(Duration::from_millis(ms)),
        secrets: engine::stale_secrets(&secrets, now, ms),
    })
}

/// What to explain.
#[derive(Debug, Clone, Default)]
pub struct ExplainParams {
    pub accessor: Option<String>,
    pub agent: Option<String>,
    pub path: Option<String>,
    pub action: Option<String>,
    pub ip: Option<String>,
}

/// Which scope grants the access, or why it is denied.
pub fn explain(
    node: &Node,
    caller: &Caller,
    p: &ExplainParams,
) -> Result<Explanation, PostureError> {
    require_reader(caller)?;
    let now = node.clock().now_ms();
    let path =
        p.path.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| bad("path", "is required"))?;
    crate::secrets::validate_path(path).map_err(|e| bad("path", e.to_string()))?;
    let action_name = p.action.as_deref().unwrap_or("read");
    let action = Action::from_name(action_name)
        .ok_or_else(|| bad("action", "must be read, write, list, delete or *"))?;
    let ip = match p.ip.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<std::net::IpAddr>()
                .map_err(|_| bad("ip", format!("`{}` is not an IP address", cut(s))))?,
        ),
        None => None,
    };
    let id = &node.state().identity;
    let (subject, requester) = match (&p.accessor, &p.agent) {
        (Some(acc), None) => {
            let a = parse_id(acc).ok_or_else(|| bad("accessor", "is not a token accessor"))?;
            let t = id
                .token(&a)?
                .ok_or_else(|| PostureError::NotFound(format!("no token with accessor {acc}")))?;
            let agent = match &t.agent_id {
                Some(aid) => id.agent(aid)?,
                None => None,
            };
            let dead = match id.state_of(&t, now)? {
                TokenState::Live => None,
                TokenState::Expired { at_ms } => {
                    Some(format!("expired at {}", crate::clock::rfc3339(at_ms)))
                }
                TokenState::Revoked { at_ms, by } => {
                    Some(format!("{} at {}", by.as_str(), crate::clock::rfc3339(at_ms)))
                }
            };
            let mut allowlists = vec![t.ip_allowlist.clone()];
            if let Some(a) = &agent {
                allowlists.push(a.ip_allowlist.clone());
            }
            let requester = match t.agent_id {
                Some(aid) => Requester::Agent(aid),
                None => Requester::Token(a),
            };
            (
                Subject {
                    name: format!("token:{}", format_id(&a)),
                    scopes: Some(t.scopes),
                    allowlists,
                    dead,
                    is_agent_key: false,
                },
                requester,
            )
        }
        (None, Some(name)) => {
            let (aid, a) = id
                .find_agent(name)?
                .ok_or_else(|| PostureError::NotFound(format!("no agent named `{}`", cut(name))))?;
            let dead = a.revoked_ms.map(|t| format!("revoked at {}", crate::clock::rfc3339(t)));
            (
                Subject {
                    name: format!("agent:{}", a.name),
                    scopes: Some(a.scopes),
                    allowlists: vec![a.ip_allowlist],
                    dead,
                    is_agent_key: false,
                },
                Requester::Agent(aid),
            )
        }
        _ => return Err(bad("accessor", "give exactly one of `accessor` or `agent`")),
    };
    let gate = match node.state().secrets.record(path)? {
        Some(r) => {
            let policy = node.state().approval_policy()?;
            let granted =
                node.state().approvals.grant(&requester, path)?.is_some_and(|g| g.expires_ms > now);
            Some(Gate {
                tier: r.tier.as_str().into(),
                required: policy.rule(r.tier).required,
                granted,
            })
        }
        None => None,
    };
    Ok(engine::explain(&subject, action, path, ip, gate.as_ref()))
}

/// An agent's scopes used in the window against what it holds.
pub async fn rightsize(
    node: &Arc<Node>,
    caller: &Caller,
    agent: Option<&str>,
    since: Option<&str>,
) -> Result<RightsizeReport, PostureError> {
    require_reader(caller)?;
    let now = node.clock().now_ms();
    let name = agent.filter(|s| !s.is_empty()).ok_or_else(|| bad("agent", "is required"))?;
    let since_ms = parse_since(since, 30 * DAY_MS, now)?;
    let (_, a) = node
        .state()
        .identity
        .find_agent(name)?
        .ok_or_else(|| PostureError::NotFound(format!("no agent named `{}`", cut(name))))?;
    let (events, partial, _) = window_events(node, since_ms, Some(&a.name)).await;
    let facts = engine::audit_facts(&events, since_ms, crate::backup::PATH_SAVE);
    let fact = AgentFact {
        name: a.name.clone(),
        scopes: a.scopes,
        ip_allowlist: a.ip_allowlist,
        created_ms: a.created_ms,
        key_rotated_ms: a.key_rotated_ms,
    };
    let mut r = engine::rightsize_of(&fact, &facts.uses.get(&a.name).cloned().unwrap_or_default());
    r.since = crate::clock::rfc3339(since_ms);
    r.partial = partial || !node.audit().enabled();
    Ok(r)
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

/// Suppresses a finding (`{id, reason}`) or lifts its suppression (`{id, remove: true}`);
/// needs `sys:operator`. Replicated: every node's report shows it.
pub async fn ignore(
    node: &Node,
    caller: &Caller,
    req: &IgnoreRequest,
    request_id: [u8; 16],
) -> Result<IgnoreResponse, PostureError> {
    caller.require_admin(Admin::SysOperator)?;
    let id = req.id.trim();
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(PostureError::Invalid(format!(
            "`id` must be a finding id from `ass doctor` (1 to {MAX_ID_BYTES} bytes, no control characters)"
        )));
    }
    let ignore = if req.remove {
        None
    } else {
        let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
            return Err(PostureError::Invalid(format!(
                "`reason` is required (1 to {MAX_REASON_BYTES} bytes): say why this finding is accepted"
            )));
        }
        Some(engine::NewIgnore {
            reason: reason.to_string(),
            by: principal_name(&caller.principal),
        })
    };
    let cmd = Command::IgnoreFinding { id: id.to_string(), ignore };
    let committed = node.submit(request_id, cmd).await?;
    match committed.response {
        Response::Ok => {}
        Response::Rejected(r) => return Err(PostureError::Rejected(r)),
        other => return Err(PostureError::Unexpected(format!("{other:?}"))),
    }
    Ok(IgnoreResponse { id: id.to_string(), ignored: !req.remove, index: committed.index })
}
