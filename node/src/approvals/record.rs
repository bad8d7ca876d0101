//! The approval records: the policy, the requests, the grants and the commands' payloads, as
//! stored and replicated. Plain data; the rules over them are in [`super::engine`].

use std::collections::BTreeMap;

use ass_client::types::{ApprovalPolicy, ApprovalPolicyDocument, TierRule};
use serde::{Deserialize, Serialize};

use crate::secrets::Tier;

pub(crate) const HOUR_MS: u64 = 3_600_000;
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
