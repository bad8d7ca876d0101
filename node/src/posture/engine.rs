//! The posture rules: plain functions over plain records, no I/O, no clock. Each check of
//! the hardening guide's checklist (1–9) and the deployment's own turns the records into
//! [`Finding`]s with a stable id, the offender and the exact command that fixes it.
//!
//! ```text
//!  Facts { tokens (live), agents, secrets, policy, audit, deployment, limits }
//!     ──check_1 … check_9, deployment──> findings ──suppressions──> DoctorReport
//!  audit events ──audit_facts──> AuditFacts (uses per agent, readers, root reads, backups)
//! ```
//!
//! Ids are `<rule>:<offender>` and never carry a time or a count, so the same problem keeps
//! its id from one run to the next (and an `ass doctor ignore` stays attached to it).

use std::collections::{BTreeMap, BTreeSet};

use ass_client::{
    CheckGrade, DoctorReport, ExplainReason, Explanation, Finding, HeldScope, Ignored,
    RightsizeReport, Severity, StaleSecret, UsedAccess,
};

use crate::access::allowlist::Allowlist;
use crate::access::scope::{needed_secret_scope, Action, Admin, Scope};
use crate::audit::AuditRecord;

/// A new suppression of a doctor finding: why, and who asked.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct NewIgnore {
    pub reason: String,
    pub by: String,
}

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The checks, in report order, with their titles.
pub const CHECKS: [(&str, &str); 10] = [
    ("1", "Minimum scope"),
    ("2", "Short-lived tokens"),
    ("3", "Approvals on sensitive and critical"),
    ("4", "IP allowlists on production"),
    ("5", "Audit review"),
    ("6", "Rotation"),
    ("7", "One agent per service"),
    ("8", "Production apart from the rest"),
    ("9", "Agent keys in CI, not root"),
    ("deployment", "Deployment"),
];

/// A live token (dead ones grade nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFact {
    /// The accessor in the API's form.
    pub accessor: String,
    pub agent: Option<String>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    /// The token's agent's allowlist (a request must pass both).
    pub agent_allowlist: Vec<String>,
    pub issued_ms: u64,
    pub expires_ms: u64,
    pub break_glass: bool,
    pub justification: Option<String>,
}

/// An agent that is not revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFact {
    pub name: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub created_ms: u64,
    pub key_rotated_ms: Option<u64>,
}

/// A secret's metadata (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFact {
    pub path: String,
    /// `standard`, `sensitive` or `critical`.
    pub tier: String,
    pub latest_version: u64,
    /// When the latest version was written.
    pub updated_ms: u64,
    /// The latest version is deleted (nothing to rotate).
    pub latest_deleted: bool,
}

/// The approval policy, as far as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFact {
    pub sensitive_required: u32,
    pub critical_required: u32,
    pub approvers: Vec<String>,
}

/// One agent's successful uses of its credentials in the audit window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentUse {
    /// (action, secret path) of each successful secret call, with counts.
    pub secrets: BTreeMap<(Action, String), u64>,
    /// Successful `secret.list` calls.
    pub lists: u64,
    /// Audit actions of successful non-secret calls (`agent.create`, `audit.query`, …).
    pub admin_actions: BTreeMap<String, u64>,
    /// Distinct client addresses.
    pub clients: BTreeSet<String>,
    /// Events of this agent (any result).
    pub events: u64,
}

/// What the audit log says about the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFacts {
    /// The audit log is enabled on this node.
    pub enabled: bool,
    /// Start of the window, ms.
    pub since_ms: u64,
    /// Some member could not be asked, or the query limit cut the window.
    pub partial: bool,
    /// Successful audit reads (`audit.query`, `audit.stream`, `audit.verify`) by anyone.
    pub readers: u64,
    /// Every member's chain verified (`None`: not checked).
    pub chain_ok: Option<bool>,
    /// Successful routine reads (`secret.read`, `secret.list`, `secret.versions`) made with
    /// the root token.
    pub root_reads: u64,
    /// Latest successful backup (`GET /v1/sys/snapshot`), ms.
    pub last_backup_ms: Option<u64>,
    pub uses: BTreeMap<String, AgentUse>,
}

/// One member's own facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFact {
    pub id: u64,
    pub voter: bool,
    /// `None`: the member did not answer.
    pub sealed: Option<bool>,
    pub tls: Option<bool>,
    /// Unix seconds the API certificate expires at (`None`: no TLS or unknown).
    pub cert_not_after_s: Option<i64>,
}

/// A suppression as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IgnoreRecord {
    pub reason: String,
    pub by: String,
    pub at_ms: u64,
}

/// Thresholds of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub now_ms: u64,
    /// A secret whose latest version is older is stale (check 6).
    pub rotation_ms: u64,
    /// An agent key older than this, never rotated, is flagged (check 9).
    pub key_max_age_ms: u64,
    /// A certificate expiring sooner is a warning; within a week, a failure.
    pub cert_warn_ms: u64,
    /// A backup older than this is a warning.
    pub backup_max_age_ms: u64,
}

impl Limits {
    /// The guide's thresholds at `now_ms`.
    pub fn at(now_ms: u64) -> Limits {
        Limits {
            now_ms,
            rotation_ms: 90 * DAY_MS,
            key_max_age_ms: 90 * DAY_MS,
            cert_warn_ms: 30 * DAY_MS,
            backup_max_age_ms: DAY_MS,
        }
    }
}

/// Everything the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub tokens: Vec<TokenFact>,
    pub agents: Vec<AgentFact>,
    pub secrets: Vec<SecretFact>,
    pub policy: PolicyFact,
    pub audit: AuditFacts,
    pub members: Vec<MemberFact>,
    pub limits: Limits,
}

fn finding(
    id: String,
    check: &str,
    severity: Severity,
    offender: String,
    message: String,
    fix: String,
) -> Finding {
    Finding { id, check: check.into(), severity, offender, message, fix, ignored: None }
}

/// The parsed `secrets:` scopes of a list (unparsable ones are skipped: they grant nothing).
fn secret_scopes(scopes: &[String]) -> Vec<(Action, String)> {
    scopes
        .iter()
        .filter_map(|s| match s.parse::<Scope>() {
            Ok(Scope::Secrets { action, glob }) => Some((action, glob.to_string())),
            _ => None,
        })
        .collect()
}

/// Whether a namespace is production: `production`, `prod`, or one starting `prod-` or
/// `production-`.
pub fn is_production(ns: &str) -> bool {
    ns == "production" || ns == "prod" || ns.starts_with("prod-") || ns.starts_with("production-")
}

/// Namespace of a glob or path: its first segment; `None` for `*`.
fn namespace_of(glob: &str) -> Option<&str> {
    if glob == "*" {
        None
    } else {
        glob.split('/').next()
    }
}

/// The namespace and service a glob (or a path) is confined to: `(ns, Some(service))` when
/// it names one (`production/gemini/*`, `production/gemini/KEY`), `(ns, None)` when it
/// reaches every service of the namespace (`production/*`, `production/KEY`); `None` for `*`.
fn service_of(glob: &str) -> Option<(String, Option<String>)> {
    if glob == "*" {
        return None;
    }
    let segs: Vec<&str> = glob.split('/').collect();
    // The concrete segments: all but a final `*` (subtree) or a final key name (exact path).
    let concrete = &segs[..segs.len().saturating_sub(1)];
    match concrete {
        [ns, svc, ..] => Some((ns.to_string(), Some(svc.to_string()))),
        _ => Some((segs[0].to_string(), None)),
    }
}

fn touches_production(scopes: &[(Action, String)]) -> bool {
    scopes.iter().any(|(_, g)| namespace_of(g).is_none_or(is_production))
}

fn principal_fix_token(t: &TokenFact) -> String {
    format!("ass tokens revoke {}", t.accessor)
}

/// Check 1: all-namespace scopes on live tokens and agents; scopes an agent that existed
/// through the whole window never used.
pub fn check_1(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let wide = |scopes: &[String]| -> Vec<String> {
        secret_scopes(scopes)
            .into_iter()
            .filter(|(_, g)| g == "*")
            .map(|(a, g)| format!("secrets:{a}:{g}"))
            .collect()
    };
    for a in &f.agents {
        let w = wide(&a.scopes);
        if !w.is_empty() {
            out.push(finding(
                format!("scope.all_paths:agent:{}", a.name),
                "1",
                Severity::Fail,
                format!("agent:{}", a.name),
                format!("agent `{}` holds {} (every path of every namespace)", a.name, w.join(", ")),
                format!(
                    "ass agents rightsize {} --since 30d   # then re-create it with the suggested --scopes",
                    a.name
                ),
            ));
        }
    }
    for t in &f.tokens {
        let w = wide(&t.scopes);
        if !w.is_empty() {
            out.push(finding(
                format!("scope.all_paths:token:{}", t.accessor),
                "1",
                Severity::Fail,
                format!("token:{}", t.accessor),
                format!(
                    "token {}{} holds {} (every path of every namespace)",
                    t.accessor,
                    t.agent.as_ref().map(|a| format!(" of `{a}`")).unwrap_or_default(),
                    w.join(", ")
                ),
                format!(
                    "{}   # and issue one with only the paths it needs: ass tokens issue --scopes \"secrets:read:<ns>/<service>/*\" --ttl 1h",
                    principal_fix_token(t)
                ),
            ));
        }
    }
    // A partial answer can't prove a scope unused.
    if f.audit.enabled && !f.audit.partial {
        for a in &f.agents {
            if a.created_ms > f.audit.since_ms {
                continue; // It has not had the whole window to use its scopes.
            }
            let uses = f.audit.uses.get(&a.name).cloned().unwrap_or_default();
            let rs = rightsize_of(a, &uses);
            for scope in rs.unused {
                out.push(finding(
                    format!("scope.unused:agent:{}:{scope}", a.name),
                    "1",
                    Severity::Warn,
                    format!("agent:{}", a.name),
                    format!(
                        "agent `{}` holds `{scope}` and never used it in the audit window",
                        a.name
                    ),
                    format!("ass agents rightsize {} --since 30d", a.name),
                ));
            }
        }
    }
    out
}

/// Check 2: live tokens over 24 h without a break-glass justification (fail), over 8 h (warn).
pub fn check_2(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in &f.tokens {
        let ttl = t.expires_ms.saturating_sub(t.issued_ms);
        let justified = t.break_glass && t.justification.as_deref().is_some_and(|j| !j.is_empty());
        let hours = ttl as f64 / HOUR_MS as f64;
        let fix = format!("{}   # and issue a shorter one: --ttl 1h", principal_fix_token(t));
        if ttl > DAY_MS && !justified {
            out.push(finding(
                format!("ttl.over_24h:{}", t.accessor),
                "2",
                Severity::Fail,
                format!("token:{}", t.accessor),
                format!(
                    "token {} lives {hours:.1} h (over 24 h) without a break-glass justification",
                    t.accessor
                ),
                fix,
            ));
        } else if ttl > 8 * HOUR_MS {
            out.push(finding(
                format!("ttl.over_8h:{}", t.accessor),
                "2",
                Severity::Warn,
                format!("token:{}", t.accessor),
                format!("token {} lives {hours:.1} h (over 8 h)", t.accessor),
                fix,
            ));
        }
    }
    out
}

/// Check 3: sensitive and critical tiers with 0 required approvals, or with fewer live
/// approver agents than approvals required. Failures when secrets of that tier exist,
/// warnings otherwise.
pub fn check_3(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let live: BTreeSet<String> = f.agents.iter().map(|a| a.name.to_ascii_lowercase()).collect();
    let approvers: Vec<&String> =
        f.policy.approvers.iter().filter(|a| live.contains(&a.to_ascii_lowercase())).collect();
    for (tier, required) in
        [("sensitive", f.policy.sensitive_required), ("critical", f.policy.critical_required)]
    {
        let count = f.secrets.iter().filter(|s| s.tier == tier && !s.latest_deleted).count();
        let severity = if count > 0 { Severity::Fail } else { Severity::Warn };
        let held = if count > 0 {
            format!("{count} {tier} secret(s) are")
        } else {
            format!("no {tier} secret yet, but any would be")
        };
        if required == 0 {
            out.push(finding(
                format!("approvals.none:{tier}"),
                "3",
                severity,
                format!("tier:{tier}"),
                format!("the {tier} tier needs 0 approvals: {held} readable without anyone's consent"),
                format!(
                    "ass policy approvals set --file policy.json   # with \"{tier}\": {{\"required_approvals\": 1}} and your approvers"
                ),
            ));
        } else if (approvers.len() as u64) < u64::from(required) {
            let named = if f.policy.approvers.is_empty() {
                "the policy names no approver".to_string()
            } else {
                format!(
                    "of the approvers {} only {} exist as live agents",
                    f.policy.approvers.join(", "),
                    approvers.len()
                )
            };
            out.push(finding(
                format!("approvals.no_approver:{tier}"),
                "3",
                severity,
                format!("tier:{tier}"),
                format!(
                    "the {tier} tier needs {required} approval(s) but {named}: {held} unreadable until one is created"
                ),
                match f.policy.approvers.iter().find(|a| !live.contains(&a.to_ascii_lowercase())) {
                    Some(missing) => {
                        format!("ass agents create --name {missing} --scopes approvals:decide")
                    }
                    None => "ass agents create --name you@example.com --scopes approvals:decide   # and list it in: ass policy approvals set --file policy.json".into(),
                },
            ));
        }
    }
    out
}

/// Check 4: tokens and agents whose scopes reach production with no IP allowlist (a token
/// is restricted by its own list or its agent's).
pub fn check_4(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in &f.agents {
        if touches_production(&secret_scopes(&a.scopes)) && a.ip_allowlist.is_empty() {
            out.push(finding(
                format!("allowlist.missing:agent:{}", a.name),
                "4",
                Severity::Fail,
                format!("agent:{}", a.name),
                format!("agent `{}` reaches production secrets from any address", a.name),
                format!(
                    "ass agents create --name {} --scopes … --ip-allowlist 10.0.0.0/8   # re-create it with an allowlist (ass agents revoke {})",
                    a.name, a.name
                ),
            ));
        }
    }
    for t in &f.tokens {
        if touches_production(&secret_scopes(&t.scopes))
            && t.ip_allowlist.is_empty()
            && t.agent_allowlist.is_empty()
        {
            out.push(finding(
                format!("allowlist.missing:token:{}", t.accessor),
                "4",
                Severity::Fail,
                format!("token:{}", t.accessor),
                format!("token {} reaches production secrets from any address", t.accessor),
                format!(
                    "{}   # and issue it again with --ip-allowlist 10.0.0.0/8",
                    principal_fix_token(t)
                ),
            ));
        }
    }
    out
}

/// Check 5: the audit log is off, its chain does not verify, or nobody read it in the window.
pub fn check_5(f: &Facts) -> Vec<Finding> {
    let a = &f.audit;
    if !a.enabled {
        return vec![finding(
            "audit.disabled".into(),
            "5",
            Severity::Fail,
            "audit".into(),
            "the audit log is disabled on this node".into(),
            "set `[audit] enabled = true` in the node config and restart the node".into(),
        )];
    }
    let mut out = Vec::new();
    if a.chain_ok == Some(false) {
        out.push(finding(
            "audit.chain_broken".into(),
            "5",
            Severity::Fail,
            "audit".into(),
            "an audit hash chain does not verify: events were removed, reordered or edited".into(),
            "ass audit verify   # names the first bad event of each node".into(),
        ));
    }
    // A partial answer can't prove nobody read the log (the reader may be on the missing
    // member).
    if a.readers == 0 && !a.partial {
        out.push(finding(
            "audit.no_reader".into(),
            "5",
            Severity::Warn,
            "audit".into(),
            "nobody queried, followed or verified the audit log in the window".into(),
            "ass audit --since 7d   # and schedule: ass audit verify".into(),
        ));
    }
    out
}

/// Stale secrets: the latest version (not deleted) older than `older_than_ms`, oldest first.
pub fn stale_secrets(secrets: &[SecretFact], now_ms: u64, older_than_ms: u64) -> Vec<StaleSecret> {
    let mut out: Vec<StaleSecret> = secrets
        .iter()
        .filter(|s| !s.latest_deleted && now_ms.saturating_sub(s.updated_ms) > older_than_ms)
        .map(|s| StaleSecret {
            path: s.path.clone(),
            namespace: namespace_of(&s.path).unwrap_or_default().to_string(),
            tier: s.tier.clone(),
            latest_version: s.latest_version,
            updated_at: crate::clock::rfc3339(s.updated_ms),
            age_days: now_ms.saturating_sub(s.updated_ms) / DAY_MS,
        })
        .collect();
    out.sort_by(|a, b| (&a.updated_at, &a.path).cmp(&(&b.updated_at, &b.path)));
    out
}

/// A stale secret's age for people: days, or a finer unit under a day.
fn age_text(now_ms: u64, s: &StaleSecret) -> String {
    if s.age_days > 0 {
        return format!("{} days", s.age_days);
    }
    let written = humantime::parse_rfc3339_weak(&s.updated_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(now_ms, |d| d.as_millis() as u64);
    let secs = now_ms.saturating_sub(written) / 1000;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// Check 6: secrets whose latest version is older than the rotation limit.
pub fn check_6(f: &Facts) -> Vec<Finding> {
    stale_secrets(&f.secrets, f.limits.now_ms, f.limits.rotation_ms)
        .into_iter()
        .map(|s| {
            finding(
                format!("rotation.stale:{}", s.path),
                "6",
                Severity::Fail,
                s.path.clone(),
                format!(
                    "{} (namespace {}): latest version {} is {} old, written {}",
                    s.path,
                    s.namespace,
                    s.latest_version,
                    age_text(f.limits.now_ms, &s),
                    s.updated_at
                ),
                format!(
                    "ass secrets set {} -   # the new value on stdin, after rotating it at its issuer",
                    s.path
                ),
            )
        })
        .collect()
}

/// Check 7: agents whose scopes (or uses) span several services, that several client
/// addresses use, or that reach several namespaces.
pub fn check_7(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in &f.agents {
        let scopes = secret_scopes(&a.scopes);
        let offender = format!("agent:{}", a.name);
        let uses = f.audit.uses.get(&a.name);
        let mut services: BTreeSet<String> = BTreeSet::new();
        let mut wide: BTreeSet<String> = BTreeSet::new();
        for (ns, svc) in scopes.iter().filter_map(|(_, g)| service_of(g)) {
            match svc {
                Some(svc) => services.insert(svc),
                None => wide.insert(ns),
            };
        }
        if let Some(u) = uses {
            services.extend(u.secrets.keys().filter_map(|(_, p)| service_of(p)?.1));
        }
        let all_paths = scopes.iter().any(|(_, g)| g == "*");
        if !all_paths && services.len() > 1 {
            out.push(finding(
                format!("agent.multi_service:{}", a.name),
                "7",
                Severity::Fail,
                offender.clone(),
                format!(
                    "agent `{}` serves several services: {}",
                    a.name,
                    services.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "ass agents create --name <service>-agent --scopes \"secrets:read:<ns>/<service>/*\"   # one per service, then: ass agents revoke {}",
                    a.name
                ),
            ));
        } else if !all_paths && !wide.is_empty() {
            out.push(finding(
                format!("agent.namespace_wide:{}", a.name),
                "7",
                Severity::Warn,
                offender.clone(),
                format!(
                    "agent `{}` reaches every service of namespace {}",
                    a.name,
                    wide.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                format!("ass agents rightsize {} --since 30d", a.name),
            ));
        }
        if let Some(u) = uses.filter(|u| u.clients.len() > 1) {
            out.push(finding(
                format!("agent.shared_clients:{}", a.name),
                "7",
                Severity::Warn,
                offender.clone(),
                format!(
                    "agent `{}` was used from {} addresses in the window: {}",
                    a.name,
                    u.clients.len(),
                    u.clients.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                "ass agents create --name <service>-agent …   # one agent per service, each with its --ip-allowlist".into(),
            ));
        }
        let namespaces: BTreeSet<&str> =
            scopes.iter().filter_map(|(_, g)| namespace_of(g)).collect();
        if namespaces.len() > 1 {
            out.push(finding(
                format!("agent.multi_namespace:{}", a.name),
                "7",
                Severity::Warn,
                offender,
                format!(
                    "agent `{}` is shared across namespaces {}",
                    a.name,
                    namespaces.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "ass agents create --name <service>-<namespace> …   # one agent per namespace"
                    .into(),
            ));
        }
    }
    out
}

/// Check 8: agents whose scopes cross production and non-production namespaces (`*` scopes
/// are check 1's).
pub fn check_8(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for a in &f.agents {
        let scopes = secret_scopes(&a.scopes);
        let nss: BTreeSet<String> =
            scopes.iter().filter_map(|(_, g)| namespace_of(g)).map(str::to_string).collect();
        let prod: Vec<&String> = nss.iter().filter(|n| is_production(n)).collect();
        let other: Vec<&String> = nss.iter().filter(|n| !is_production(n)).collect();
        if !prod.is_empty() && !other.is_empty() {
            out.push(finding(
                format!("namespace.cross_prod:{}", a.name),
                "8",
                Severity::Fail,
                format!("agent:{}", a.name),
                format!(
                    "agent `{}` reaches production ({}) and non-production ({}) secrets",
                    a.name,
                    prod.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    other.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "ass agents create --name {}-staging --scopes …   # a separate agent per side, then: ass agents revoke {}",
                    a.name, a.name
                ),
            ));
        }
    }
    out
}

/// Check 9: the root token used for routine reads in the window; agent keys older than the
/// limit and never rotated (or not rotated since).
pub fn check_9(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    if f.audit.root_reads > 0 {
        out.push(finding(
            "root.routine_reads".into(),
            "9",
            Severity::Warn,
            "root".into(),
            format!(
                "the root token made {} routine secret read(s) in the window: use an agent key",
                f.audit.root_reads
            ),
            "ass audit --since 7d --action secret.read   # find the root-token calls (actor root), move them to agent keys, then: ass operator revoke-root".into(),
        ));
    }
    let days = f.limits.key_max_age_ms / DAY_MS;
    for a in &f.agents {
        let since = a.key_rotated_ms.unwrap_or(a.created_ms);
        if f.limits.now_ms.saturating_sub(since) > f.limits.key_max_age_ms {
            let what = if a.key_rotated_ms.is_some() {
                "was last rotated"
            } else {
                "was never rotated since it was created"
            };
            out.push(finding(
                format!("agent.key_age:{}", a.name),
                "9",
                Severity::Warn,
                format!("agent:{}", a.name),
                format!(
                    "agent `{}`'s key {what} {} days ago (limit {days} days)",
                    a.name,
                    f.limits.now_ms.saturating_sub(since) / DAY_MS
                ),
                format!("ass agents rotate-key {}", a.name),
            ));
        }
    }
    out
}

/// The deployment's own checks: TLS off, fewer than three voters, sealed or silent members,
/// certificates near expiry, no recent backup.
pub fn check_deployment(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let d = "deployment";
    for m in &f.members {
        if m.tls == Some(false) {
            out.push(finding(
                format!("deploy.tls_off:{}", m.id),
                d,
                Severity::Fail,
                format!("node:{}", m.id),
                format!("node {} serves the API over plain HTTP (tls_disable = true)", m.id),
                "set [tls] cert_file/key_file/ca_file and remove tls_disable from the node config"
                    .into(),
            ));
        }
        match m.sealed {
            Some(true) => out.push(finding(
                format!("deploy.sealed:{}", m.id),
                d,
                Severity::Fail,
                format!("node:{}", m.id),
                format!("node {} is sealed", m.id),
                format!("ass operator unseal --addr <node {} URL>   # each key holder, once", m.id),
            )),
            None => out.push(finding(
                format!("deploy.unreachable:{}", m.id),
                d,
                Severity::Warn,
                format!("node:{}", m.id),
                format!("node {} did not answer the doctor", m.id),
                "ass operator raft list-peers".into(),
            )),
            Some(false) => {}
        }
        if let Some(not_after) = m.cert_not_after_s {
            let left_ms = not_after.saturating_mul(1000) - f.limits.now_ms as i64;
            if left_ms < f.limits.cert_warn_ms as i64 {
                let severity =
                    if left_ms < 7 * DAY_MS as i64 { Severity::Fail } else { Severity::Warn };
                out.push(finding(
                    format!("deploy.cert_expiry:{}", m.id),
                    d,
                    severity,
                    format!("node:{}", m.id),
                    format!(
                        "node {}'s API certificate expires in {} day(s), at {}",
                        m.id,
                        left_ms.max(0) / DAY_MS as i64,
                        crate::clock::rfc3339((not_after.max(0) as u64) * 1000)
                    ),
                    "renew the certificate files and restart the node (they are read at start)"
                        .into(),
                ));
            }
        }
    }
    let voters = f.members.iter().filter(|m| m.voter).count();
    if voters < 3 {
        out.push(finding(
            "deploy.few_voters".into(),
            d,
            Severity::Warn,
            "cluster".into(),
            format!(
                "the cluster has {voters} voter(s): losing one node stops it (run three or five)"
            ),
            "ass operator raft add-node --id <ID> --api-addr <HOST:PORT> --cluster-addr <HOST:PORT>   # then: ass operator raft promote <ID>".into(),
        ));
    }
    if f.audit.enabled && !f.audit.partial {
        let fresh = f
            .audit
            .last_backup_ms
            .is_some_and(|t| f.limits.now_ms.saturating_sub(t) <= f.limits.backup_max_age_ms);
        if !fresh {
            let when = match f.audit.last_backup_ms {
                Some(t) => format!("the last one was saved {}", crate::clock::rfc3339(t)),
                None => "none in the audit window".into(),
            };
            out.push(finding(
                "deploy.backup_old".into(),
                d,
                Severity::Warn,
                "cluster".into(),
                format!("no backup was saved in the last day ({when})"),
                "ass operator snapshot save backup-$(date +%F).ass".into(),
            ));
        }
    }
    out
}

/// Every finding of every check, in check order.
pub fn findings(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(check_1(f));
    out.extend(check_2(f));
    out.extend(check_3(f));
    out.extend(check_4(f));
    out.extend(check_5(f));
    out.extend(check_6(f));
    out.extend(check_7(f));
    out.extend(check_8(f));
    out.extend(check_9(f));
    out.extend(check_deployment(f));
    out
}

/// The report: findings marked with their suppressions, each check graded by the worst
/// finding that counts, the whole by the worst check.
pub fn report(
    f: &Facts,
    ignores: &BTreeMap<String, IgnoreRecord>,
    notes: Vec<String>,
) -> DoctorReport {
    let shown: BTreeMap<String, Ignored> = ignores
        .iter()
        .map(|(id, i)| {
            let at = crate::clock::rfc3339(i.at_ms);
            (id.clone(), Ignored { reason: i.reason.clone(), by: i.by.clone(), at })
        })
        .collect();
    let mut all = findings(f);
    for x in &mut all {
        x.ignored = shown.get(&x.id).cloned();
    }
    let checks: Vec<CheckGrade> = CHECKS
        .iter()
        .map(|(check, title)| {
            let mine = all.iter().filter(|x| x.check == *check);
            let counting: Vec<&Finding> = mine.clone().filter(|x| x.ignored.is_none()).collect();
            CheckGrade {
                check: (*check).into(),
                title: (*title).into(),
                grade: counting.iter().map(|x| x.severity).max().unwrap_or(Severity::Pass),
                findings: counting.len(),
                ignored: mine.filter(|x| x.ignored.is_some()).count(),
            }
        })
        .collect();
    DoctorReport {
        grade: checks.iter().map(|c| c.grade).max().unwrap_or(Severity::Pass),
        generated_at: crate::clock::rfc3339(f.limits.now_ms),
        since: crate::clock::rfc3339(f.audit.since_ms),
        checks,
        findings: all,
        notes,
        ignores: shown,
    }
}

// ---------------------------------------------------------------------------------------
// Audit facts

/// The secret action of an audit action name.
fn secret_action(action: &str) -> Option<Action> {
    match action {
        "secret.read" | "secret.versions" => Some(Action::Read),
        "secret.write" => Some(Action::Write),
        "secret.delete" => Some(Action::Delete),
        "secret.list" => Some(Action::List),
        _ => None,
    }
}

/// The secret path of an audit event of a secret route (`/v1/secrets/<path>[/versions]`).
fn secret_path(e: &AuditRecord) -> Option<String> {
    let p = e.path.strip_prefix("/v1/secrets/")?;
    let p = if e.action == "secret.versions" { p.strip_suffix("/versions")? } else { p };
    Some(p.to_string())
}

/// The audit time form (RFC 3339, UTC, nanoseconds) as ms since the epoch.
fn event_ms(e: &AuditRecord) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(&e.time).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Condenses the window's events (any order) into the facts the checks read. `backup_path`:
/// the route of a backup save.
pub fn audit_facts(events: &[AuditRecord], since_ms: u64, backup_path: &str) -> AuditFacts {
    let mut f = AuditFacts { enabled: true, since_ms, ..Default::default() };
    for e in events {
        let ok = e.result == "ok";
        if let Some(agent) = &e.agent {
            let u = f.uses.entry(agent.clone()).or_default();
            u.events += 1;
            if ok {
                u.clients.insert(e.client.clone());
                match secret_action(&e.action) {
                    Some(Action::List) => u.lists += 1,
                    Some(action) => {
                        if let Some(p) = secret_path(e) {
                            *u.secrets.entry((action, p)).or_default() += 1;
                        }
                    }
                    None => *u.admin_actions.entry(e.action.clone()).or_default() += 1,
                }
            }
        }
        if !ok {
            continue;
        }
        if matches!(e.action.as_str(), "audit.query" | "audit.stream" | "audit.verify") {
            f.readers += 1;
        }
        if e.actor == "root"
            && matches!(e.action.as_str(), "secret.read" | "secret.list" | "secret.versions")
        {
            f.root_reads += 1;
        }
        if e.path == backup_path && e.method == "GET" {
            if let Some(t) = event_ms(e) {
                f.last_backup_ms = Some(f.last_backup_ms.map_or(t, |b| b.max(t)));
            }
        }
    }
    f
}

// ---------------------------------------------------------------------------------------
// Right-sizing

/// The admin scope an audit action exercises, if any.
fn admin_of(action: &str) -> Option<Admin> {
    let family = action.split('.').next().unwrap_or_default();
    match family {
        "agent" => Some(Admin::AgentsManage),
        "approval" if action == "approval.approve" || action == "approval.deny" => {
            Some(Admin::ApprovalsDecide)
        }
        "audit" => Some(Admin::AuditRead),
        "policy" if action.ends_with(".write") => Some(Admin::PolicyManage),
        "token" if matches!(action, "token.list" | "token.read" | "token.revoke") => {
            Some(Admin::TokensManage)
        }
        "sys" if !matches!(action, "sys.status" | "sys.init" | "sys.unseal") => {
            Some(Admin::SysOperator)
        }
        _ => None,
    }
}

/// What one agent used against what it holds, and the smallest set covering the uses:
/// single uses keep their exact path; two or more paths of one folder with one action
/// become `folder/*`.
pub fn rightsize_of(agent: &AgentFact, uses: &AgentUse) -> RightsizeReport {
    let held: Vec<Scope> = agent.scopes.iter().filter_map(|s| s.parse().ok()).collect();
    let mut counts: Vec<u64> = vec![0; held.len()];
    let mut used = Vec::new();
    for ((action, path), n) in &uses.secrets {
        used.push(UsedAccess { needs: needed_secret_scope(*action, path), count: *n });
        for (i, s) in held.iter().enumerate() {
            if s.allows_secret(*action, path) {
                counts[i] += n;
            }
        }
    }
    if uses.lists > 0 {
        used.push(UsedAccess { needs: "secrets:list:<listed paths>".into(), count: uses.lists });
        for (i, s) in held.iter().enumerate() {
            if matches!(s, Scope::Secrets { action, .. } if action.covers(Action::List)) {
                counts[i] += uses.lists;
            }
        }
    }
    let mut admin_used: BTreeMap<Admin, u64> = BTreeMap::new();
    for (action, n) in &uses.admin_actions {
        if let Some(a) = admin_of(action) {
            *admin_used.entry(a).or_default() += n;
        }
    }
    for (a, n) in &admin_used {
        used.push(UsedAccess { needs: a.to_string(), count: *n });
        for (i, s) in held.iter().enumerate() {
            if s.allows_admin(*a) {
                counts[i] += n;
            }
        }
    }
    // Suggested: group used paths by (action, folder).
    let mut by_folder: BTreeMap<(Action, String), BTreeSet<String>> = BTreeMap::new();
    for (action, path) in uses.secrets.keys() {
        let folder = path.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
        by_folder.entry((*action, folder)).or_default().insert(path.clone());
    }
    let mut suggested: Vec<String> = Vec::new();
    for ((action, folder), paths) in &by_folder {
        if paths.len() > 1 && !folder.is_empty() {
            suggested.push(format!("secrets:{action}:{folder}/*"));
        } else {
            suggested.extend(paths.iter().map(|p| needed_secret_scope(*action, p)));
        }
    }
    if uses.lists > 0 {
        // Keep the list scopes held: which prefixes were listed is not in the audit path.
        for s in &held {
            if matches!(s, Scope::Secrets { action: Action::List, .. }) {
                suggested.push(s.to_string());
            }
        }
    }
    suggested.extend(admin_used.keys().map(|a| a.to_string()));
    suggested.dedup();
    let unused =
        held.iter().zip(&counts).filter(|(_, n)| **n == 0).map(|(s, _)| s.to_string()).collect();
    RightsizeReport {
        agent: agent.name.clone(),
        since: String::new(),
        held: held
            .iter()
            .zip(&counts)
            .map(|(s, n)| HeldScope { scope: s.to_string(), uses: *n })
            .collect(),
        used,
        suggested,
        unused,
        events: uses.events,
        partial: false,
    }
}

// ---------------------------------------------------------------------------------------
// Explain

/// Who is being explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `token:<accessor>` or `agent:<name>`.
    pub name: String,
    /// `None`: the root token (everything).
    pub scopes: Option<Vec<String>>,
    /// Every allowlist a request must pass (the token's and its agent's; empty: none).
    pub allowlists: Vec<Vec<String>>,
    /// Why the credential no longer works, if it doesn't.
    pub dead: Option<String>,
    /// An agent key itself only buys tokens.
    pub is_agent_key: bool,
}

/// The gate a path's read passes: its tier and the approvals that tier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub tier: String,
    pub required: u32,
    /// The subject holds a live grant for the path.
    pub granted: bool,
}

fn reason(code: &str, message: String) -> ExplainReason {
    ExplainReason { code: code.into(), message }
}

/// Which scope lets `subject` do `action` on `path`, or why not: in order, a dead
/// credential, no scope matching (with the nearest miss: another namespace, another action),
/// the client address, the approval a read of a gated tier needs.
pub fn explain(
    subject: &Subject,
    action: Action,
    path: &str,
    ip: Option<std::net::IpAddr>,
    gate: Option<&Gate>,
) -> Explanation {
    let mut reasons = Vec::new();
    let mut denied = false;
    if let Some(d) = &subject.dead {
        reasons.push(reason("credential_dead", format!("{} does not work: {d}", subject.name)));
        denied = true;
    }
    let granted_by = match &subject.scopes {
        None => Some("root (every scope)".to_string()),
        Some(scopes) => {
            let parsed: Vec<Scope> = scopes.iter().filter_map(|s| s.parse().ok()).collect();
            match parsed.iter().find(|s| s.allows_secret(action, path)) {
                Some(s) => Some(s.to_string()),
                None => {
                    denied = true;
                    let ns = namespace_of(path).unwrap_or_default();
                    let secret: Vec<&Scope> =
                        parsed.iter().filter(|s| matches!(s, Scope::Secrets { .. })).collect();
                    let same_path: Vec<String> = secret
                        .iter()
                        .filter(|s| Action::ALL.iter().any(|a| s.allows_secret(*a, path)))
                        .map(|s| s.to_string())
                        .collect();
                    let reach: BTreeSet<String> = secret
                        .iter()
                        .filter_map(|s| match s {
                            Scope::Secrets { glob, .. } => {
                                Some(glob.namespace().unwrap_or("*").to_string())
                            }
                            Scope::Admin(_) => None,
                        })
                        .collect();
                    let needed = needed_secret_scope(action, path);
                    if !same_path.is_empty() {
                        reasons.push(reason(
                            "action",
                            format!(
                                "{} matches the path but grants another action; `{action}` needs `{needed}`",
                                same_path.join(", ")
                            ),
                        ));
                    } else if !reach.contains(ns) && !reach.contains("*") {
                        let reach = if reach.is_empty() {
                            "no namespace at all".to_string()
                        } else {
                            format!("only {}", reach.into_iter().collect::<Vec<_>>().join(", "))
                        };
                        reasons.push(reason(
                            "namespace",
                            format!("no scope reaches namespace `{ns}` (the scopes reach {reach}); it needs `{needed}`"),
                        ));
                    } else {
                        reasons.push(reason(
                            "no_scope_matches",
                            format!(
                                "none of [{}] matches `{path}`; it needs `{needed}`",
                                scopes.join(", ")
                            ),
                        ));
                    }
                    None
                }
            }
        }
    };
    if subject.is_agent_key {
        reasons.push(reason(
            "agent_key",
            format!("{} is an agent key: it only buys tokens, and a token holding the scope can make the call", subject.name),
        ));
    }
    for list in subject.allowlists.iter().filter(|l| !l.is_empty()) {
        match (ip, Allowlist::parse(list)) {
            (Some(ip), Ok(al)) if !al.allows(ip) => {
                denied = true;
                reasons.push(reason(
                    "ip_not_allowed",
                    format!("requests from {ip} are refused: the allowlist is {}", list.join(", ")),
                ));
            }
            (Some(_), Ok(_)) => {}
            _ => reasons.push(reason(
                "ip_restricted",
                format!("only from {} (give --ip to judge an address)", list.join(", ")),
            )),
        }
    }
    let mut needs_approval = false;
    if let Some(g) = gate {
        if action == Action::Read && g.required > 0 && !g.granted {
            needs_approval = true;
            reasons.push(reason(
                "approval_required",
                format!(
                    "`{path}` is {}: a read opens an approval request that needs {} approval(s)",
                    g.tier, g.required
                ),
            ));
        }
    }
    let decision = if denied {
        "denied"
    } else if needs_approval {
        "needs_approval"
    } else {
        "allowed"
    };
    Explanation {
        subject: subject.name.clone(),
        path: path.into(),
        action: action.to_string(),
        decision: decision.into(),
        granted_by,
        reasons,
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
