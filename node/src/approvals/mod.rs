//! Approvals: reading a `sensitive` or `critical` secret needs approvers' consent first.
//!
//! ```text
//!  read (no live grant) ──> OpenApproval ──> pending ──approve × N──> approved ──> grant(path)
//!                                               ├──deny──> denied
//!                                               └──timeout (leader time)──> expired
//! ```
//!
//! The policy, the requests and the grants are replicated state; every decision is a Raft
//! write, judged at apply against the command's leader-stamped time. [`policy_from_document`]
//! validates the policy users write; the apply functions are deterministic.

use std::collections::BTreeMap;

use ass_client::types::{ApprovalPolicy, ApprovalPolicyDocument, TierRule};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::secrets::Tier;
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

const HOUR_MS: u64 = 3_600_000;
/// Longest request timeout or grant a policy may set, hours.
pub const MAX_POLICY_HOURS: u32 = 24 * 30;

/// Who asked: an agent (through any of its tokens), or a token with no agent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Requester {
    Agent([u8; 16]),
    Token([u8; 16]),
}

impl Requester {
    /// Key of this requester's request or grant for `path`.
    pub fn key(&self, path: &str) -> Vec<u8> {
        let (tag, id) = match self {
            Requester::Agent(id) => (b'a', id),
            Requester::Token(id) => (b't', id),
        };
        let mut k = Vec::with_capacity(18 + path.len());
        k.push(tag);
        k.extend_from_slice(id);
        k.push(0);
        k.extend_from_slice(path.as_bytes());
        k
    }
}

/// One tier's rule as stored.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct TierRuleRecord {
    pub required: u32,
    pub timeout_ms: u64,
}

/// The approval policy as stored and replicated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalPolicyRecord {
    pub standard: TierRuleRecord,
    pub sensitive: TierRuleRecord,
    pub critical: TierRuleRecord,
    pub approvers: Vec<String>,
    pub grant_ms: u64,
}

impl Default for ApprovalPolicyRecord {
    /// Until a policy is set, the hardening guide's: sensitive and critical secrets need one
    /// approval within 24 h, standard ones none. With no approvers listed such reads wait
    /// until an operator sets a policy (fail closed).
    fn default() -> Self {
        Self {
            standard: TierRuleRecord { required: 0, timeout_ms: 24 * HOUR_MS },
            sensitive: TierRuleRecord { required: 1, timeout_ms: 24 * HOUR_MS },
            critical: TierRuleRecord { required: 1, timeout_ms: 24 * HOUR_MS },
            approvers: Vec::new(),
            grant_ms: HOUR_MS,
        }
    }
}

impl ApprovalPolicyRecord {
    pub fn rule(&self, tier: Tier) -> TierRuleRecord {
        match tier {
            Tier::Standard => self.standard,
            Tier::Sensitive => self.sensitive,
            Tier::Critical => self.critical,
        }
    }

    /// Whether the agent named `name` is an approver. Both sides are normalized names (the
    /// policy's approvers are case-folded when set, e-mail-like agent names when created), so
    /// this is an exact match of the agent's stored name: an agent of an older release named
    /// `BOB@X.COM` is not `bob@x.com` (a policy stored by an older release matches its own
    /// spelling or its folded form).
    pub fn is_approver(&self, name: &str) -> bool {
        self.approvers.iter().any(|a| a == name || a.to_ascii_lowercase() == name)
    }

    /// The document form users read and write.
    pub fn to_document(&self) -> ApprovalPolicyDocument {
        let rule = |r: TierRuleRecord| TierRule {
            required_approvals: r.required,
            timeout_hours: Some((r.timeout_ms / HOUR_MS) as u32),
        };
        let mut tiers = BTreeMap::new();
        tiers.insert("standard".to_string(), rule(self.standard));
        tiers.insert("sensitive".to_string(), rule(self.sensitive));
        tiers.insert("critical".to_string(), rule(self.critical));
        ApprovalPolicyDocument {
            approval_policy: ApprovalPolicy {
                tiers,
                approvers: self.approvers.clone(),
                grant_hours: Some((self.grant_ms / HOUR_MS) as u32),
            },
        }
    }
}

/// Why a policy document is refused; each names the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("unknown tier `{0}`: expected standard, sensitive or critical")]
    UnknownTier(String),
    #[error("tier `{tier}` needs {required} approvals but the policy lists only {approvers} approver(s)")]
    TooFewApprovers { tier: String, required: u32, approvers: usize },
    #[error("tier `{0}`: timeout_hours must be between 1 and {MAX_POLICY_HOURS}")]
    BadTimeout(String),
    #[error("grant_hours must be between 1 and {MAX_POLICY_HOURS}")]
    BadGrant,
    #[error("approver `{0}` is not an e-mail address")]
    BadApprover(String),
    #[error("approver `{0}` is listed twice")]
    DuplicateApprover(String),
}

/// Whether `s` has the form of an e-mail address (and of an agent name).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    };
    s.len() <= 64
        && ok(local)
        && ok(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// Validates a policy document into its stored form.
pub fn policy_from_document(
    doc: &ApprovalPolicyDocument,
) -> Result<ApprovalPolicyRecord, PolicyError> {
    let p = &doc.approval_policy;
    let mut approvers: Vec<String> = Vec::new();
    for a in &p.approvers {
        if !is_email(a) {
            return Err(PolicyError::BadApprover(a.chars().take(64).collect()));
        }
        let a = a.to_ascii_lowercase();
        if approvers.contains(&a) {
            return Err(PolicyError::DuplicateApprover(a));
        }
        approvers.push(a);
    }
    let mut record = ApprovalPolicyRecord {
        standard: TierRuleRecord { required: 0, timeout_ms: 24 * HOUR_MS },
        sensitive: TierRuleRecord { required: 0, timeout_ms: 24 * HOUR_MS },
        critical: TierRuleRecord { required: 0, timeout_ms: 24 * HOUR_MS },
        approvers,
        grant_ms: HOUR_MS,
    };
    for (name, rule) in &p.tiers {
        let tier: Tier =
            name.parse().map_err(|_| PolicyError::UnknownTier(name.chars().take(32).collect()))?;
        let hours = rule.timeout_hours.unwrap_or(24);
        if hours == 0 || hours > MAX_POLICY_HOURS {
            return Err(PolicyError::BadTimeout(name.clone()));
        }
        if rule.required_approvals as usize > record.approvers.len() {
            return Err(PolicyError::TooFewApprovers {
                tier: name.clone(),
                required: rule.required_approvals,
                approvers: record.approvers.len(),
            });
        }
        let r = TierRuleRecord {
            required: rule.required_approvals,
            timeout_ms: u64::from(hours) * HOUR_MS,
        };
        match tier {
            Tier::Standard => record.standard = r,
            Tier::Sensitive => record.sensitive = r,
            Tier::Critical => record.critical = r,
        }
    }
    if let Some(h) = p.grant_hours {
        if h == 0 || h > MAX_POLICY_HOURS {
            return Err(PolicyError::BadGrant);
        }
        record.grant_ms = u64::from(h) * HOUR_MS;
    }
    Ok(record)
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Denied,
}

/// One approver's decision as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecisionRecord {
    pub approver: String,
    pub approver_agent: [u8; 16],
    pub comment: Option<String>,
    pub at_ms: u64,
}

/// One request as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub requester: Requester,
    pub agent_name: Option<String>,
    pub path: String,
    pub tier: Tier,
    pub version: u64,
    pub reason: Option<String>,
    pub required: u32,
    pub status: Status,
    pub approvals: Vec<DecisionRecord>,
    pub denial: Option<DecisionRecord>,
    pub requested_ms: u64,
    pub expires_ms: u64,
    pub grant_expires_ms: Option<u64>,
}

impl ApprovalRecord {
    /// The status shown at `now_ms`: a pending or denied request past its timeout is expired.
    pub fn status_at(&self, now_ms: u64) -> &'static str {
        match self.status {
            Status::Approved => "approved",
            Status::Pending | Status::Denied if now_ms >= self.expires_ms => "expired",
            Status::Pending => "pending",
            Status::Denied => "denied",
        }
    }
}

/// An approved access to one path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantRecord {
    pub approval_id: [u8; 16],
    pub tier: Tier,
    pub expires_ms: u64,
}

/// Why an approval command changed nothing: deterministic, the same on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such approval request")]
    NotFound,
    /// The decider is not in the policy's approver list.
    #[error("the decider is not an approver")]
    NotAnApprover,
    /// The decider made the request.
    #[error("no one approves a request they made")]
    SelfApproval,
    #[error("the request timed out")]
    ApprovalExpired,
    #[error("the request was already approved or denied")]
    ApprovalClosed,
    #[error("this approver already decided on this request")]
    AlreadyDecided,
}

/// A new request, decided by the proposer from the read it gates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewApproval {
    pub id: [u8; 16],
    pub requester: Requester,
    pub agent_name: Option<String>,
    pub path: String,
    pub tier: Tier,
    pub version: u64,
    pub reason: Option<String>,
}

/// One decision on a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewDecision {
    pub id: [u8; 16],
    pub approver: String,
    pub approver_agent: [u8; 16],
    pub approve: bool,
    pub comment: Option<String>,
}

/// The approval trees inside one transaction.
pub struct ApprovalsTx<'a> {
    pub approvals: &'a TransactionalTree,
    pub approval_open: &'a TransactionalTree,
    pub grants: &'a TransactionalTree,
}

impl ApprovalsTx<'_> {
    /// Opens a request, or re-uses the open one of the same requester for the same path.
    pub fn open(
        &self,
        time_ms: u64,
        policy: &ApprovalPolicyRecord,
        a: &NewApproval,
    ) -> TxResult<Result<[u8; 16], Refusal>> {
        let key = a.requester.key(&a.path);
        if let Some(existing) = self.approval_open.get(&key)? {
            if let Ok(existing_id) = <[u8; 16]>::try_from(existing.as_ref()) {
                let record: Option<ApprovalRecord> = get_tx(self.approvals, &existing_id)?;
                if let Some(r) = record {
                    // Only a pending request is re-used: after a denial the requester may ask
                    // again (the proposer lets it only with a new reason).
                    let live =
                        r.status == Status::Pending && time_ms < r.expires_ms && r.tier == a.tier;
                    if live {
                        return Ok(Ok(existing_id));
                    }
                }
            }
        }
        let rule = policy.rule(a.tier);
        let record = ApprovalRecord {
            requester: a.requester,
            agent_name: a.agent_name.clone(),
            path: a.path.clone(),
            tier: a.tier,
            version: a.version,
            reason: a.reason.clone(),
            required: rule.required.max(1),
            status: Status::Pending,
            approvals: Vec::new(),
            denial: None,
            requested_ms: time_ms,
            expires_ms: time_ms.saturating_add(rule.timeout_ms),
            grant_expires_ms: None,
        };
        put_tx(self.approvals, &a.id, &record)?;
        self.approval_open.insert(key, &a.id[..])?;
        Ok(Ok(a.id))
    }

    /// Records one approver's decision; at the tier's count the requester gets a grant.
    pub fn decide(
        &self,
        time_ms: u64,
        policy: &ApprovalPolicyRecord,
        d: &NewDecision,
    ) -> TxResult<Result<(), Refusal>> {
        let Some(mut r): Option<ApprovalRecord> = get_tx(self.approvals, &d.id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if !policy.is_approver(&d.approver) {
            return Ok(Err(Refusal::NotAnApprover));
        }
        if r.requester == Requester::Agent(d.approver_agent) {
            return Ok(Err(Refusal::SelfApproval));
        }
        if time_ms >= r.expires_ms && r.status != Status::Approved {
            return Ok(Err(Refusal::ApprovalExpired));
        }
        if r.status != Status::Pending {
            return Ok(Err(Refusal::ApprovalClosed));
        }
        if r.approvals.iter().any(|x| {
            x.approver_agent == d.approver_agent || x.approver.eq_ignore_ascii_case(&d.approver)
        }) {
            return Ok(Err(Refusal::AlreadyDecided));
        }
        let decision = DecisionRecord {
            approver: d.approver.clone(),
            approver_agent: d.approver_agent,
            comment: d.comment.clone(),
            at_ms: time_ms,
        };
        if d.approve {
            r.approvals.push(decision);
            if r.approvals.len() as u32 >= r.required {
                r.status = Status::Approved;
                let expires = time_ms.saturating_add(policy.grant_ms);
                r.grant_expires_ms = Some(expires);
                let grant = GrantRecord { approval_id: d.id, tier: r.tier, expires_ms: expires };
                put_tx(self.grants, &r.requester.key(&r.path), &grant)?;
            }
        } else {
            r.status = Status::Denied;
            r.denial = Some(decision);
        }
        put_tx(self.approvals, &d.id, &r)?;
        Ok(Ok(()))
    }
}

/// New requests one requester may open for one path after denials, per window, on one node.
pub const REOPENS_PER_WINDOW: u32 = 5;
/// The window of [`REOPENS_PER_WINDOW`].
pub const REOPEN_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
/// Most (requester, path) pairs one node tracks.
const REOPEN_CAPACITY: usize = 10_000;

/// Limits how often a denied requester asks again for the same path: approvers are not
/// flooded, the requester is slowed, never locked out. Per node, in memory, like the
/// failed-auth limiter.
#[derive(Default)]
pub struct ReopenLimiter {
    windows: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, u32)>>,
}

impl ReopenLimiter {
    /// Counts one new request for `key` (a [`Requester::key`]); `Err(wait)` when the window's
    /// allowance is used up.
    pub fn try_reopen(
        &self,
        key: &[u8],
        now: std::time::Instant,
    ) -> Result<(), std::time::Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= REOPEN_CAPACITY && !windows.contains_key(key) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < REOPEN_WINDOW);
            if windows.len() >= REOPEN_CAPACITY {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_vec()).or_insert((now, 0));
        if now.duration_since(entry.0) >= REOPEN_WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= REOPENS_PER_WINDOW {
            return Err(REOPEN_WINDOW.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Read access to applied approval state, on any node.
#[derive(Clone)]
pub struct ApprovalsReader {
    approvals: sled::Tree,
    approval_open: sled::Tree,
    grants: sled::Tree,
}

impl ApprovalsReader {
    pub fn new(store: &crate::storage::Store) -> Self {
        Self {
            approvals: store.approvals.clone(),
            approval_open: store.approval_open.clone(),
            grants: store.grants.clone(),
        }
    }

    pub fn get(&self, id: &[u8; 16]) -> Result<Option<ApprovalRecord>, StorageError> {
        self.approvals.get(id)?.map(|v| decode(&v)).transpose()
    }

    /// The latest request of `requester` for `path`.
    pub fn latest(
        &self,
        requester: &Requester,
        path: &str,
    ) -> Result<Option<([u8; 16], ApprovalRecord)>, StorageError> {
        let Some(id) = self.approval_open.get(requester.key(path))? else { return Ok(None) };
        let id: [u8; 16] =
            id.as_ref().try_into().map_err(|_| StorageError::Codec("bad approval id".into()))?;
        Ok(self.get(&id)?.map(|r| (id, r)))
    }

    pub fn grant(
        &self,
        requester: &Requester,
        path: &str,
    ) -> Result<Option<GrantRecord>, StorageError> {
        self.grants.get(requester.key(path))?.map(|v| decode(&v)).transpose()
    }

    pub fn all(&self) -> Result<Vec<([u8; 16], ApprovalRecord)>, StorageError> {
        let mut out: Vec<([u8; 16], ApprovalRecord)> = Vec::new();
        for item in self.approvals.iter() {
            let (k, v) = item?;
            let id: [u8; 16] =
                k.as_ref().try_into().map_err(|_| StorageError::Codec("bad approval id".into()))?;
            out.push((id, decode(&v)?));
        }
        out.sort_by_key(|(_, r)| r.requested_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: serde_json::Value) -> ApprovalPolicyDocument {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_guide_example_parses() {
        let d = doc(serde_json::json!({ "approval_policy": {
            "tiers": { "standard": { "required_approvals": 0 },
                       "sensitive": { "required_approvals": 1, "timeout_hours": 24 },
                       "critical": { "required_approvals": 1, "timeout_hours": 24 } },
            "approvers": [ "you@company.com", "security@company.com" ] } }));
        let p = policy_from_document(&d).unwrap();
        assert_eq!(p.critical.required, 1);
        assert_eq!(p.sensitive.timeout_ms, 24 * HOUR_MS);
        assert!(p.is_approver("security@company.com"));
        // Agent names are stored case-folded when e-mail-like: a differently cased stored name
        // is another (older) identity, never this approver (issue 14, item 8).
        assert!(!p.is_approver("SECURITY@company.com"));
        assert_eq!(policy_from_document(&p.to_document()).unwrap(), p);
    }

    #[test]
    fn bad_policies_name_the_problem() {
        let base = |tiers: serde_json::Value, approvers: serde_json::Value| {
            doc(serde_json::json!({"approval_policy": {"tiers": tiers, "approvers": approvers}}))
        };
        let two = serde_json::json!(["a@x.com", "b@x.com"]);
        assert_eq!(
            policy_from_document(&base(
                serde_json::json!({"secret": {"required_approvals": 1}}),
                two.clone()
            )),
            Err(PolicyError::UnknownTier("secret".into()))
        );
        assert!(matches!(
            policy_from_document(&base(
                serde_json::json!({"critical": {"required_approvals": 3}}),
                two.clone()
            )),
            Err(PolicyError::TooFewApprovers { required: 3, approvers: 2, .. })
        ));
        assert_eq!(
            policy_from_document(&base(
                serde_json::json!({"critical": {"required_approvals": 1, "timeout_hours": 0}}),
                two
            )),
            Err(PolicyError::BadTimeout("critical".into()))
        );
        assert!(matches!(
            policy_from_document(&base(serde_json::json!({}), serde_json::json!(["not-an-email"]))),
            Err(PolicyError::BadApprover(_))
        ));
        assert!(matches!(
            policy_from_document(&base(
                serde_json::json!({}),
                serde_json::json!(["a@x.com", "A@x.com"])
            )),
            Err(PolicyError::DuplicateApprover(_))
        ));
        let unknown_field =
            serde_json::json!({"approval_policy": {"tiers": {}, "approvers": [], "colour": 1}});
        assert!(serde_json::from_value::<ApprovalPolicyDocument>(unknown_field).is_err());
        let negative = serde_json::json!({"approval_policy": {"tiers": {"critical": {"required_approvals": -1}}}});
        assert!(serde_json::from_value::<ApprovalPolicyDocument>(negative).is_err());
    }

    #[test]
    fn expiry_shows_in_the_status() {
        let r = ApprovalRecord {
            requester: Requester::Token([1; 16]),
            agent_name: None,
            path: "p/q".into(),
            tier: Tier::Critical,
            version: 1,
            reason: None,
            required: 2,
            status: Status::Pending,
            approvals: vec![],
            denial: None,
            requested_ms: 0,
            expires_ms: 100,
            grant_expires_ms: None,
        };
        assert_eq!(r.status_at(99), "pending");
        assert_eq!(r.status_at(100), "expired");
        assert!(is_email("you@company.com") && !is_email("you@company") && !is_email("@x.com"));
    }

    /// Expiry is judged at apply by the command's leader-stamped time, not by any clock.
    #[test]
    fn decisions_after_the_timeout_are_refused_at_apply() {
        use sled::Transactional;
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let (a, o, g) =
            (db.open_tree("a").unwrap(), db.open_tree("o").unwrap(), db.open_tree("g").unwrap());
        let policy = ApprovalPolicyRecord {
            approvers: vec!["you@company.com".into(), "sec@company.com".into()],
            ..Default::default()
        };
        let id = [7u8; 16];
        let new = NewApproval {
            id,
            requester: Requester::Agent([1; 16]),
            agent_name: Some("svc".into()),
            path: "production/x/K".into(),
            tier: Tier::Critical,
            version: 1,
            reason: None,
        };
        let decide = |who: &str, agent: u8, at: u64| {
            (&a, &o, &g)
                .transaction(|(a, o, g)| {
                    let tx = ApprovalsTx { approvals: a, approval_open: o, grants: g };
                    if at == 0 {
                        return tx.open(0, &policy, &new).map(|r| r.map(Some));
                    }
                    let d = NewDecision {
                        id,
                        approver: who.into(),
                        approver_agent: [agent; 16],
                        approve: true,
                        comment: None,
                    };
                    tx.decide(at, &policy, &d).map(|r| r.map(|()| None))
                })
                .unwrap()
        };
        assert_eq!(decide("", 0, 0), Ok(Some(id)));
        let hour = HOUR_MS;
        assert_eq!(decide("you@company.com", 2, 24 * hour + 1), Err(Refusal::ApprovalExpired));
        assert_eq!(decide("you@company.com", 2, 24 * hour - 1), Ok(None));
        assert_eq!(decide("nobody@company.com", 3, hour), Err(Refusal::NotAnApprover));
        assert_eq!(decide("you@company.com", 1, hour), Err(Refusal::SelfApproval));
    }
}
