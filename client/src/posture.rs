//! Posture reports: `ass doctor` (the hardening checklist graded from the live cluster), the
//! stale-secret list, scope explanations and agent right-sizing. The node grades; these are
//! the wire types and the calls. Every call here needs `audit:read` or `sys:operator`
//! (suppressing a finding needs `sys:operator`).
//!
//! ```text
//!  doctor(since) ──GET /v1/sys/doctor──> state + audit log (every member) + each member's
//!                                        seal/TLS facts ──> DoctorReport { grade, findings }
//!  ignore(id, reason) ──POST /v1/sys/doctor/ignore──> replicated, audited suppression
//! ```

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::{Call, Client, Error};

/// A grade: `pass`, `warn` or `fail` (ordered: the worst wins).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Pass,
    Warn,
    Fail,
}

impl Severity {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Pass => "pass",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// A suppression of one finding: who set it, when and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ignored {
    pub reason: String,
    /// The principal that set it (`root`, an agent name, or a token accessor).
    pub by: String,
    /// RFC 3339.
    pub at: String,
}

/// One thing the doctor found wrong.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    /// Stable id, e.g. `ttl.over_24h:<accessor>`: the same offender keeps the same id, so
    /// it can be suppressed (`ass doctor ignore ID`).
    pub id: String,
    /// The checklist item, `1` to `9`, or `deployment`.
    pub check: String,
    pub severity: Severity,
    /// What is at fault: `token:<accessor>`, `agent:<name>`, a path, a tier, a node.
    pub offender: String,
    pub message: String,
    /// The command that fixes it.
    pub fix: String,
    /// Set when an operator suppressed this finding: it no longer counts in the grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
}

/// One checklist item's grade.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckGrade {
    pub check: String,
    pub title: String,
    pub grade: Severity,
    /// Findings that count (not suppressed).
    pub findings: usize,
    /// Suppressed findings.
    pub ignored: usize,
}

/// `GET /v1/sys/doctor`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DoctorReport {
    /// The worst grade of any check.
    pub grade: Severity,
    /// When the report was made (RFC 3339, the leader's clock as applied).
    pub generated_at: String,
    /// Start of the audit window (RFC 3339).
    pub since: String,
    pub checks: Vec<CheckGrade>,
    pub findings: Vec<Finding>,
    /// What could not be judged (an unreachable member, a truncated audit window).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Every suppression set, by finding id, including those that match no finding now.
    #[serde(default)]
    pub ignores: std::collections::BTreeMap<String, Ignored>,
}

/// Options of [`Client::doctor`]; `None` leaves the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoctorOptions {
    /// Audit window, a duration back (`7d`) or an RFC 3339 time (default 7d).
    pub since: Option<String>,
    /// Secrets whose latest version is older than this are stale (default 90d).
    pub older_than: Option<String>,
    /// Agent keys not rotated for this long are flagged (default 90d).
    pub key_max_age: Option<String>,
}

/// `POST /v1/sys/doctor/ignore`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IgnoreRequest {
    pub id: String,
    /// Required unless `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Lift the suppression instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove: bool,
}

/// Answer of `POST /v1/sys/doctor/ignore`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IgnoreResponse {
    pub id: String,
    /// Whether the finding is suppressed now.
    pub ignored: bool,
    pub index: u64,
}

/// One secret whose latest version is older than the threshold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StaleSecret {
    pub path: String,
    pub namespace: String,
    pub tier: String,
    pub latest_version: u64,
    /// When the latest version was written (RFC 3339).
    pub updated_at: String,
    pub age_days: u64,
}

/// `GET /v1/sys/doctor/stale`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StaleResponse {
    pub older_than: String,
    pub secrets: Vec<StaleSecret>,
}

/// Why a request would be refused (or what it still needs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExplainReason {
    /// `no_scope_matches`, `namespace`, `action`, `ip_not_allowed`, `approval_required`,
    /// `credential_dead`, `ip_restricted`.
    pub code: String,
    pub message: String,
}

/// `GET /v1/sys/doctor/explain`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Explanation {
    /// `token:<accessor>` or `agent:<name>`.
    pub subject: String,
    pub path: String,
    pub action: String,
    /// `allowed`, `needs_approval` or `denied`.
    pub decision: String,
    /// The scope that matches the action on the path, when one does (even when something
    /// else — the address, a dead credential — denies the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<String>,
    pub reasons: Vec<ExplainReason>,
}

/// Which subject [`Client::explain`] judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainSubject {
    /// A token, by accessor.
    Accessor(String),
    /// An agent, by name.
    Agent(String),
}

/// One held scope and how often the audit window shows it used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldScope {
    pub scope: String,
    pub uses: u64,
}

/// One access the agent made (successful), with how often.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsedAccess {
    /// The scope that access needs at least, e.g. `secrets:read:production/gemini/KEY`.
    pub needs: String,
    pub count: u64,
}

/// `GET /v1/sys/doctor/rightsize`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RightsizeReport {
    pub agent: String,
    pub since: String,
    pub held: Vec<HeldScope>,
    pub used: Vec<UsedAccess>,
    /// The smallest scope set covering every use, to give the agent instead.
    pub suggested: Vec<String>,
    /// Held scopes no use needed.
    pub unused: Vec<String>,
    /// Audit events of the agent in the window.
    pub events: u64,
    /// Some member's audit log could not be read, or the window was cut at the query limit.
    pub partial: bool,
}

impl DoctorOptions {
    fn apply<'a>(&self, mut call: Call<'a>) -> Call<'a> {
        for (k, v) in [
            ("since", &self.since),
            ("older_than", &self.older_than),
            ("key_max_age", &self.key_max_age),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                call = call.query(k, v.clone());
            }
        }
        call
    }
}

impl Client {
    /// `GET /v1/sys/doctor` (needs `audit:read` or `sys:operator`): the hardening checklist
    /// graded from the live state, the audit log and every member.
    pub async fn doctor(&self, opts: &DoctorOptions) -> Result<DoctorReport, Error> {
        self.call(opts.apply(Call::new(Method::GET, "/v1/sys/doctor"))).await
    }

    /// `POST /v1/sys/doctor/ignore` (needs `sys:operator`): suppresses a finding by id with a
    /// reason (or lifts it with `remove`); replicated and audited.
    pub async fn doctor_ignore(&self, req: &IgnoreRequest) -> Result<IgnoreResponse, Error> {
        let r: IgnoreResponse =
            self.call(Call::new(Method::POST, "/v1/sys/doctor/ignore").json(req)?).await?;
        self.note_write_index(r.index);
        Ok(r)
    }

    /// `GET /v1/sys/doctor/stale` (needs `audit:read` or `sys:operator`): secrets whose
    /// latest version is older than `older_than` (`90d`).
    pub async fn stale_secrets(&self, older_than: &str) -> Result<StaleResponse, Error> {
        let call = Call::new(Method::GET, "/v1/sys/doctor/stale").query("older_than", older_than);
        self.call(call).await
    }

    /// `GET /v1/sys/doctor/explain` (needs `audit:read` or `sys:operator`): which scope
    /// grants `action` on `path` to the subject, or why it is denied. `ip`: judge the
    /// allowlists for this client address too.
    pub async fn explain(
        &self,
        subject: &ExplainSubject,
        path: &str,
        action: &str,
        ip: Option<&str>,
    ) -> Result<Explanation, Error> {
        let mut call = Call::new(Method::GET, "/v1/sys/doctor/explain")
            .query("path", path)
            .query("action", action);
        call = match subject {
            ExplainSubject::Accessor(a) => call.query("accessor", a.clone()),
            ExplainSubject::Agent(n) => call.query("agent", n.clone()),
        };
        if let Some(ip) = ip {
            call = call.query("ip", ip);
        }
        self.call(call).await
    }

    /// `GET /v1/sys/doctor/rightsize` (needs `audit:read` or `sys:operator`): the scopes an
    /// agent used in the audit window against what it holds, and a minimal set.
    pub async fn rightsize(&self, agent: &str, since: &str) -> Result<RightsizeReport, Error> {
        let call = Call::new(Method::GET, "/v1/sys/doctor/rightsize")
            .query("agent", agent)
            .query("since", since);
        self.call(call).await
    }
}
