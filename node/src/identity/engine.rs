//! The identity rules as plain functions over plain records: a token's state along its
//! chain ([`judge_token`]), what a caller may issue ([`issue`], [`refresh`]), the TTL rule
//! ([`check_ttl`]), the token policy's bounds ([`token_policy`]) and what an agent may be made
//! with ([`agent_name`], [`agent_grant`]). No I/O and no clock: time comes in as `now_ms`,
//! lookups as closures or records the service read.

use std::time::Duration;

use super::caller::AccessError;
use super::record::{
    AgentRecord, RevokedBy, TokenPolicyRecord, TokenRecord, TokenState, MAX_TOKEN_DEPTH,
};
use crate::access::allowlist::Allowlist;
use crate::access::scope::{Admin, ScopeSet};
use crate::access::ttl::parse_ttl;

/// The longest `max_ttl` a token policy may set: the product's 24-hour rule.
pub const POLICY_MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest break-glass TTL a policy may allow.
pub const POLICY_MAX_BREAK_GLASS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest break-glass justification, in bytes.
pub const MAX_JUSTIFICATION: usize = 1024;
/// Longest agent description, in bytes.
pub const MAX_DESCRIPTION: usize = 1024;

/// Why an identity rule refuses a request (issuing a token, making an agent, setting the
/// token policy). Each message names the rule; `http/error.rs` gives each its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTtl(String),
    #[error("{0}")]
    InvalidAllowlist(String),
    #[error("justification is limited to {MAX_JUSTIFICATION} bytes")]
    JustificationTooLong,
    #[error("TTL {ttl} is above the policy's maximum of {max}; {hint}")]
    TtlTooLong { ttl: String, max: String, hint: String },
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A scope asked for that the issuer (`agent`, `calling token`) does not hold.
    #[error("scope `{scope}` is not within the {whose}'s scopes")]
    NotWithin { scope: String, whose: &'static str },
    #[error("tokens may issue tokens at most {MAX_TOKEN_DEPTH} levels deep")]
    ChainTooDeep,
    #[error(
        "an agent name is 1 to 64 characters of [A-Za-z0-9_.-@+] (approvers are named by e-mail)"
    )]
    InvalidName,
    #[error("description is limited to {MAX_DESCRIPTION} bytes")]
    DescriptionTooLong,
    #[error("max_ttl can't exceed 24h; use break-glass for exceptions")]
    PolicyTtlTooLong,
    #[error("break_glass_max_ttl must lie between max_ttl and 7d")]
    PolicyBreakGlassRange,
}

/// A TTL as people write them here: whole hours as `24h`, else the compact form (`1h30m`).
pub fn format_ttl(d: Duration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        crate::access::ttl::format_ttl(d)
    }
}

/// The policy's `max_ttl` and break-glass maximum.
pub fn policy_durations(p: &TokenPolicyRecord) -> (Duration, Duration) {
    (Duration::from_millis(p.max_ttl_ms), Duration::from_millis(p.break_glass_max_ttl_ms))
}

/// Decides whether `ttl` is allowed; `Ok(true)` when only break-glass allows it (a
/// non-blank justification, break-glass on, and at most its maximum).
pub fn check_ttl(
    policy: &TokenPolicyRecord,
    ttl: Duration,
    justification: Option<&str>,
) -> Result<bool, IssueError> {
    let (max, bg_max) = policy_durations(policy);
    if ttl <= max {
        return Ok(false);
    }
    let justified = justification.is_some_and(|j| !j.trim().is_empty());
    if policy.break_glass && justified && ttl <= bg_max {
        return Ok(true);
    }
    let hint = if !policy.break_glass {
        "break-glass is off in the token policy".to_string()
    } else if !justified {
        "a longer TTL needs a justification (break-glass)".to_string()
    } else {
        format!("break-glass allows at most {}", format_ttl(bg_max))
    };
    Err(IssueError::TtlTooLong { ttl: format_ttl(ttl), max: format_ttl(max), hint })
}

/// Who issues a token, with what the service read about it.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// The root token: no limits but the policy's TTL.
    Root,
    /// An agent key, buying a token within its agent's scopes and allowlist.
    Agent { id: [u8; 16], agent: &'a AgentRecord },
    /// A token holding `tokens:manage`, issuing a child within its own scopes, allowlist,
    /// agent's allowlist and expiry.
    Token {
        accessor: [u8; 16],
        token: &'a TokenRecord,
        /// The calling token's scopes (as its `Caller` holds them).
        held: &'a ScopeSet,
        /// Its agent, if it has one that is still stored.
        agent: Option<&'a AgentRecord>,
        /// How many tokens stand above it ([`chain_depth`]).
        depth: usize,
    },
}

/// What a caller asks a token for, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueRequest {
    pub scopes: Vec<String>,
    pub ttl: String,
    pub ip_allowlist: Vec<String>,
    pub justification: Option<String>,
}

/// A token the rules allow: everything but the secret, its hash and its accessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPlan {
    pub agent_id: Option<[u8; 16]>,
    pub parent: Option<[u8; 16]>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    /// `now + ttl`, capped by the parent token's expiry.
    pub expires_ms: u64,
    pub break_glass: bool,
    pub justification: Option<String>,
}

struct Grant {
    agent_id: Option<[u8; 16]>,
    parent: Option<[u8; 16]>,
    /// The allowlist a token asked without one inherits (its issuing token's).
    inherited_allowlist: Option<Vec<String>>,
    /// A cap on expiry (the parent token's).
    expires_cap: Option<u64>,
}

fn within_allowlist(
    requested: &Allowlist,
    outer: &[String],
    whose: &str,
) -> Result<(), IssueError> {
    let outer = Allowlist::parse(outer).map_err(|e| IssueError::InvalidAllowlist(e.to_string()))?;
    // An empty token allowlist inherits the outer one: both are checked on every request.
    if requested.is_unrestricted() || requested.is_within(&outer) {
        Ok(())
    } else {
        Err(IssueError::InvalidAllowlist(format!(
            "the token's IP allowlist must lie within the {whose}'s ({})",
            outer.to_strings().join(", ")
        )))
    }
}

/// What the issuer may hand on: the scopes and allowlist must lie within its own.
fn grant_for(
    issuer: &Issuer<'_>,
    scopes: &ScopeSet,
    allowlist: &Allowlist,
) -> Result<Grant, IssueError> {
    match issuer {
        Issuer::Root => {
            Ok(Grant { agent_id: None, parent: None, inherited_allowlist: None, expires_cap: None })
        }
        Issuer::Agent { id, agent } => {
            let held = ScopeSet::parse(&agent.scopes)
                .map_err(|e| IssueError::InvalidScope(e.to_string()))?;
            held.contains_all(scopes)
                .map_err(|s| IssueError::NotWithin { scope: s.to_string(), whose: "agent" })?;
            within_allowlist(allowlist, &agent.ip_allowlist, "agent")?;
            Ok(Grant {
                agent_id: Some(*id),
                parent: None,
                inherited_allowlist: None,
                expires_cap: None,
            })
        }
        Issuer::Token { accessor, token, held, agent, depth } => {
            if !held.allows_admin(Admin::TokensManage) {
                return Err(AccessError::NeedsScope(Admin::TokensManage.to_string()).into());
            }
            held.contains_all(scopes).map_err(|s| IssueError::NotWithin {
                scope: s.to_string(),
                whose: "calling token",
            })?;
            within_allowlist(allowlist, &token.ip_allowlist, "calling token")?;
            if let Some(agent) = agent {
                within_allowlist(allowlist, &agent.ip_allowlist, "agent")?;
            }
            if depth + 1 > MAX_TOKEN_DEPTH {
                return Err(IssueError::ChainTooDeep);
            }
            let inherited_allowlist =
                allowlist.is_unrestricted().then(|| token.ip_allowlist.clone());
            Ok(Grant {
                agent_id: token.agent_id,
                parent: Some(*accessor),
                inherited_allowlist,
                expires_cap: Some(token.expires_ms),
            })
        }
    }
}

fn plan(
    grant: Grant,
    scopes: Vec<String>,
    ip_allowlist: Vec<String>,
    ttl: Duration,
    break_glass: bool,
    justification: Option<String>,
    now_ms: u64,
) -> TokenPlan {
    let mut expires_ms = now_ms.saturating_add(ttl.as_millis() as u64);
    if let Some(cap) = grant.expires_cap {
        expires_ms = expires_ms.min(cap);
    }
    TokenPlan {
        agent_id: grant.agent_id,
        parent: grant.parent,
        scopes,
        ip_allowlist: grant.inherited_allowlist.unwrap_or(ip_allowlist),
        expires_ms,
        break_glass,
        justification,
    }
}

/// Every rule of issuing a token: the request parses (scopes, TTL, allowlist), the TTL fits
/// the policy (or break-glass), and scopes and allowlist lie within the issuer's; a child
/// token needs `tokens:manage`, expires no later than its parent, inherits its allowlist
/// when it asks none, and stands at most [`MAX_TOKEN_DEPTH`] deep. `now_ms` is the time the
/// token is issued at (the leader's clock).
pub fn issue(
    issuer: &Issuer<'_>,
    request: &IssueRequest,
    policy: &TokenPolicyRecord,
    now_ms: u64,
) -> Result<TokenPlan, IssueError> {
    let scopes =
        ScopeSet::parse(&request.scopes).map_err(|e| IssueError::InvalidScope(e.to_string()))?;
    let ttl = parse_ttl(&request.ttl).map_err(|e| IssueError::InvalidTtl(e.to_string()))?;
    let allowlist = Allowlist::parse(&request.ip_allowlist)
        .map_err(|e| IssueError::InvalidAllowlist(e.to_string()))?;
    if request.justification.as_ref().is_some_and(|j| j.len() > MAX_JUSTIFICATION) {
        return Err(IssueError::JustificationTooLong);
    }
    let break_glass = check_ttl(policy, ttl, request.justification.as_deref())?;
    let grant = grant_for(issuer, &scopes, &allowlist)?;
    Ok(plan(
        grant,
        scopes.to_strings(),
        allowlist.to_strings(),
        ttl,
        break_glass,
        request.justification.clone(),
        now_ms,
    ))
}

/// A new token like `me`, for another TTL of the same length (capped by today's policy),
/// under the same parent, agent, scopes and allowlist; `parent_expires_ms` caps it as at issue.
pub fn refresh(
    me: &TokenRecord,
    parent_expires_ms: Option<u64>,
    policy: &TokenPolicyRecord,
    now_ms: u64,
) -> TokenPlan {
    let (max, bg_max) = policy_durations(policy);
    let cap = if me.break_glass && policy.break_glass { bg_max } else { max };
    let ttl = Duration::from_millis(me.expires_ms.saturating_sub(me.issued_ms)).min(cap);
    let grant = Grant {
        agent_id: me.agent_id,
        parent: me.parent,
        inherited_allowlist: None,
        expires_cap: parent_expires_ms,
    };
    plan(
        grant,
        me.scopes.clone(),
        me.ip_allowlist.clone(),
        ttl,
        me.break_glass,
        me.justification.clone(),
        now_ms,
    )
}

/// How many tokens stand above `token` (counting stops past [`MAX_TOKEN_DEPTH`]).
pub fn chain_depth<E>(
    token: &TokenRecord,
    mut get_token: impl FnMut(&[u8; 16]) -> Result<Option<TokenRecord>, E>,
) -> Result<usize, E> {
    let mut depth = 0;
    let mut parent = token.parent;
    while let Some(p) = parent {
        depth += 1;
        if depth > MAX_TOKEN_DEPTH {
            break;
        }
        parent = get_token(&p)?.and_then(|t| t.parent);
    }
    Ok(depth)
}

/// The token policy as written (`max_ttl`, `break_glass`, `break_glass_max_ttl`) into its
/// stored form: `max_ttl` at most 24 h, the break-glass maximum between it and 7 days.
pub fn token_policy(
    max_ttl: &str,
    break_glass: bool,
    break_glass_max_ttl: &str,
) -> Result<TokenPolicyRecord, IssueError> {
    let max = parse_ttl(max_ttl).map_err(|e| IssueError::InvalidTtl(format!("max_ttl: {e}")))?;
    let bg = parse_ttl(break_glass_max_ttl)
        .map_err(|e| IssueError::InvalidTtl(format!("break_glass_max_ttl: {e}")))?;
    if max > POLICY_MAX_TTL {
        return Err(IssueError::PolicyTtlTooLong);
    }
    if bg < max || bg > POLICY_MAX_BREAK_GLASS_TTL {
        return Err(IssueError::PolicyBreakGlassRange);
    }
    Ok(TokenPolicyRecord {
        max_ttl_ms: max.as_millis() as u64,
        break_glass,
        break_glass_max_ttl_ms: bg.as_millis() as u64,
    })
}

/// A new agent's name checked and normalized ([`normalize_agent_name`]): 1 to 64
/// characters of `[A-Za-z0-9_.-@+]`.
pub fn agent_name(name: &str) -> Result<String, IssueError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@' | b'+'));
    if ok {
        Ok(normalize_agent_name(name))
    } else {
        Err(IssueError::InvalidName)
    }
}

/// Whether `s` has the form of an e-mail address (and of an approver's agent name).
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

/// The name an agent is stored and compared under: an e-mail-like name (an approver's) is
/// case-folded, so `BOB@X.COM` and `bob@x.com` are one identity; any other name is kept as
/// written (and a name differing only by case from an existing one is refused at creation).
pub fn normalize_agent_name(name: &str) -> String {
    if is_email(name) {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    }
}

/// What a new agent is given, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentGrant {
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub description: Option<String>,
}

/// An `agents:manage` token may hand an agent (or take its new key) only scopes it holds
/// itself; otherwise managing agents would be a way past one's own scopes. Root (`held`
/// `None`) may do all.
pub fn within_caller(held: Option<&ScopeSet>, scopes: &ScopeSet) -> Result<(), IssueError> {
    match held {
        None => Ok(()),
        Some(held) => held
            .contains_all(scopes)
            .map_err(|s| IssueError::NotWithin { scope: s.to_string(), whose: "calling token" }),
    }
}

/// The scopes, allowlist and description of a new agent, checked against the caller's
/// scopes (`held`).
pub fn agent_grant(
    scopes: &[String],
    ip_allowlist: &[String],
    description: Option<&str>,
    held: Option<&ScopeSet>,
) -> Result<AgentGrant, IssueError> {
    let scopes = ScopeSet::parse(scopes).map_err(|e| IssueError::InvalidScope(e.to_string()))?;
    within_caller(held, &scopes)?;
    let allowlist =
        Allowlist::parse(ip_allowlist).map_err(|e| IssueError::InvalidAllowlist(e.to_string()))?;
    if description.is_some_and(|d| d.len() > MAX_DESCRIPTION) {
        return Err(IssueError::DescriptionTooLong);
    }
    Ok(AgentGrant {
        scopes: scopes.to_strings(),
        ip_allowlist: allowlist.to_strings(),
        description: description.map(str::to_owned),
    })
}

/// The state of `token` at `now_ms`, walking its parents and its agent through the lookups.
/// Pure: the request path, the listings and the sweep's apply all judge with this one rule.
/// Of several causes, the earliest counts; a parent that is no longer stored was swept,
/// so it died before anything still stored (`at_ms` 0).
pub fn token_state<E>(
    token: &TokenRecord,
    now_ms: u64,
    get_token: impl FnMut(&[u8; 16]) -> Result<Option<TokenRecord>, E>,
    get_agent: impl FnMut(&[u8; 16]) -> Result<Option<AgentRecord>, E>,
) -> Result<TokenState, E> {
    judge_token(token, now_ms, get_token, get_agent).map(|(state, _)| state)
}

/// [`token_state`], with the earliest expiry along the chain (what a live token's answers
/// may be cached until).
pub fn judge_token<E>(
    token: &TokenRecord,
    now_ms: u64,
    mut get_token: impl FnMut(&[u8; 16]) -> Result<Option<TokenRecord>, E>,
    mut get_agent: impl FnMut(&[u8; 16]) -> Result<Option<AgentRecord>, E>,
) -> Result<(TokenState, u64), E> {
    let mut dead: Option<TokenState> = None;
    let mut note = |state: TokenState| {
        let earlier = match (dead.and_then(|d| d.dead_since()), state.dead_since()) {
            (Some(old), Some(new)) => new < old,
            _ => true,
        };
        if earlier {
            dead = Some(state);
        }
    };
    if let Some(at_ms) = token.revoked_ms {
        note(TokenState::Revoked { at_ms, by: RevokedBy::Token });
    }
    if let Some(agent_id) = &token.agent_id {
        match get_agent(agent_id)? {
            Some(a) => {
                if let Some(at_ms) = a.revoked_ms {
                    note(TokenState::Revoked { at_ms, by: RevokedBy::Agent });
                }
            }
            None => note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Agent }),
        }
    }
    let mut expires_ms = token.expires_ms;
    let mut parent = token.parent;
    for _ in 0..MAX_TOKEN_DEPTH {
        let Some(p) = parent else { break };
        match get_token(&p)? {
            Some(t) => {
                if let Some(at_ms) = t.revoked_ms {
                    note(TokenState::Revoked { at_ms, by: RevokedBy::Parent });
                }
                expires_ms = expires_ms.min(t.expires_ms);
                parent = t.parent;
            }
            None => {
                note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent });
                break;
            }
        }
    }
    if parent.is_some() {
        // Deeper than any chain this cluster issues: refuse rather than trust the rest.
        note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent });
    }
    if now_ms >= expires_ms {
        note(TokenState::Expired { at_ms: expires_ms });
    }
    let state = match dead {
        Some(d) if d.dead_since().is_some_and(|at| at <= now_ms) => d,
        _ => TokenState::Live,
    };
    Ok((state, expires_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn token(
        agent: Option<u8>,
        parent: Option<u8>,
        expires_ms: u64,
        revoked: Option<u64>,
    ) -> TokenRecord {
        TokenRecord {
            token_hash: [0; 32],
            agent_id: agent.map(|a| [a; 16]),
            parent: parent.map(|p| [p; 16]),
            scopes: vec![],
            ip_allowlist: vec![],
            issued_ms: 0,
            expires_ms,
            break_glass: false,
            justification: None,
            revoked_ms: revoked,
        }
    }

    fn agent(revoked: Option<u64>) -> AgentRecord {
        AgentRecord {
            name: "svc".into(),
            scopes: vec![],
            ip_allowlist: vec![],
            description: None,
            key_hash: [0; 32],
            created_ms: 0,
            key_rotated_ms: None,
            revoked_ms: revoked,
        }
    }

    fn state(
        t: &TokenRecord,
        now: u64,
        tokens: &HashMap<[u8; 16], TokenRecord>,
        agents: &HashMap<[u8; 16], AgentRecord>,
    ) -> TokenState {
        token_state::<()>(
            t,
            now,
            |id| Ok(tokens.get(id).cloned()),
            |id| Ok(agents.get(id).cloned()),
        )
        .unwrap()
    }

    /// Issue 14, item 4: what a revoke did shows in the token's own state.

    #[test]
    fn a_token_is_dead_by_its_earliest_cause() {
        let mut agents = HashMap::new();
        let mut tokens = HashMap::new();
        agents.insert([1; 16], agent(None));
        agents.insert([2; 16], agent(Some(50)));
        assert_eq!(state(&token(Some(1), None, 100, None), 99, &tokens, &agents), TokenState::Live);
        assert_eq!(
            state(&token(Some(1), None, 100, None), 100, &tokens, &agents),
            TokenState::Expired { at_ms: 100 }
        );
        assert_eq!(
            state(&token(Some(2), None, 100, None), 60, &tokens, &agents),
            TokenState::Revoked { at_ms: 50, by: RevokedBy::Agent }
        );
        // A revoke in the future of `now` (judging an older moment) is not yet a revoke.
        assert_eq!(state(&token(Some(2), None, 100, None), 40, &tokens, &agents), TokenState::Live);
        assert_eq!(
            state(&token(Some(1), None, 100, Some(30)), 200, &tokens, &agents),
            TokenState::Revoked { at_ms: 30, by: RevokedBy::Token }
        );
        // Parents: an earlier parent expiry, a revoked parent, a swept parent.
        tokens.insert([7; 16], token(Some(1), None, 80, None));
        tokens.insert([8; 16], token(Some(1), None, 500, Some(20)));
        assert_eq!(
            state(&token(Some(1), Some(7), 100, None), 90, &tokens, &agents),
            TokenState::Expired { at_ms: 80 }
        );
        assert_eq!(
            state(&token(Some(1), Some(8), 100, None), 25, &tokens, &agents),
            TokenState::Revoked { at_ms: 20, by: RevokedBy::Parent }
        );
        assert_eq!(
            state(&token(Some(1), Some(9), 100, None), 10, &tokens, &agents),
            TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent }
        );
        assert_eq!(
            state(&token(Some(3), None, 100, None), 10, &tokens, &agents),
            TokenState::Revoked { at_ms: 0, by: RevokedBy::Agent }
        );
    }

    // ── issuing rules ──────────────────────────────────────────────────────────────────

    const HOUR: u64 = 3_600_000;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn ask(scopes: &[&str], ttl: &str, allow: &[&str], why: Option<&str>) -> IssueRequest {
        IssueRequest {
            scopes: strings(scopes),
            ttl: ttl.into(),
            ip_allowlist: strings(allow),
            justification: why.map(str::to_owned),
        }
    }

    fn policy(max_h: u64, break_glass: bool, bg_h: u64) -> TokenPolicyRecord {
        TokenPolicyRecord {
            max_ttl_ms: max_h * HOUR,
            break_glass,
            break_glass_max_ttl_ms: bg_h * HOUR,
        }
    }

    fn agent_with(scopes: &[&str], allow: &[&str]) -> AgentRecord {
        AgentRecord { scopes: strings(scopes), ip_allowlist: strings(allow), ..agent(None) }
    }

    fn held(scopes: &[&str]) -> ScopeSet {
        ScopeSet::parse(&strings(scopes)).unwrap()
    }

    #[test]
    fn the_ttl_rule_names_what_break_glass_needs() {
        let h = Duration::from_secs(3600);
        let off = policy(24, false, 72);
        let on = policy(24, true, 72);
        assert_eq!(check_ttl(&off, 24 * h, None), Ok(false));
        let hint = |r: Result<bool, IssueError>| match r {
            Err(IssueError::TtlTooLong { hint, ttl, max }) => {
                assert_eq!(max, "24h");
                (ttl, hint)
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            hint(check_ttl(&off, 25 * h, Some("why"))).1,
            "break-glass is off in the token policy"
        );
        assert_eq!(
            hint(check_ttl(&on, 25 * h, Some("   "))).1,
            "a longer TTL needs a justification (break-glass)"
        );
        assert_eq!(check_ttl(&on, 72 * h, Some("incident 7")), Ok(true));
        let (ttl, h73) = hint(check_ttl(&on, 73 * h, Some("incident 7")));
        assert_eq!((ttl.as_str(), h73.as_str()), ("73h", "break-glass allows at most 72h"));
    }

    #[test]
    fn a_request_that_does_not_parse_is_refused_before_any_grant() {
        let p = policy(24, false, 72);
        let r = |req: IssueRequest| issue(&Issuer::Root, &req, &p, 0);
        assert!(matches!(r(ask(&[], "1h", &[], None)), Err(IssueError::InvalidScope(_))));
        assert!(matches!(r(ask(&["nope"], "1h", &[], None)), Err(IssueError::InvalidScope(_))));
        assert!(matches!(
            r(ask(&["secrets:read:a/*"], "1x", &[], None)),
            Err(IssueError::InvalidTtl(_))
        ));
        assert!(matches!(
            r(ask(&["secrets:read:a/*"], "1h", &["300.1.1.1"], None)),
            Err(IssueError::InvalidAllowlist(_))
        ));
        let long = "j".repeat(MAX_JUSTIFICATION + 1);
        assert_eq!(
            r(ask(&["secrets:read:a/*"], "1h", &[], Some(&long))),
            Err(IssueError::JustificationTooLong)
        );
        let plan = r(ask(&["secrets:read:a/*"], "2h", &[], None)).unwrap();
        assert_eq!((plan.agent_id, plan.parent, plan.expires_ms), (None, None, 2 * HOUR));
    }

    #[test]
    fn an_agent_key_buys_only_within_its_agent() {
        let p = policy(24, false, 72);
        let a = agent_with(&["secrets:read:app/*"], &["10.0.0.0/16"]);
        let me = Issuer::Agent { id: [1; 16], agent: &a };
        let plan =
            issue(&me, &ask(&["secrets:read:app/db/*"], "1h", &["10.0.1.0/24"], None), &p, 5)
                .unwrap();
        assert_eq!(plan.agent_id, Some([1; 16]));
        assert_eq!(plan.ip_allowlist, vec!["10.0.1.0/24".to_string()]);
        assert_eq!(plan.expires_ms, 5 + HOUR);
        assert_eq!(
            issue(&me, &ask(&["secrets:read:other/*"], "1h", &[], None), &p, 5),
            Err(IssueError::NotWithin { scope: "secrets:read:other/*".into(), whose: "agent" })
        );
        match issue(&me, &ask(&["secrets:read:app/*"], "1h", &["192.168.0.0/24"], None), &p, 5) {
            Err(IssueError::InvalidAllowlist(m)) => {
                assert_eq!(m, "the token's IP allowlist must lie within the agent's (10.0.0.0/16)")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_child_token_needs_tokens_manage_and_never_outlives_or_widens_its_parent() {
        let p = policy(24, false, 72);
        let parent = TokenRecord {
            scopes: strings(&["tokens:manage", "secrets:read:app/*"]),
            ip_allowlist: strings(&["10.0.0.0/8"]),
            expires_ms: 3 * HOUR,
            ..token(Some(1), None, 0, None)
        };
        let a = agent_with(&["secrets:read:app/*"], &["10.1.0.0/16"]);
        let h = held(&["tokens:manage", "secrets:read:app/*"]);
        let as_token = |depth| Issuer::Token {
            accessor: [7; 16],
            token: &parent,
            held: &h,
            agent: Some(&a),
            depth,
        };
        let plan =
            issue(&as_token(0), &ask(&["secrets:read:app/x"], "24h", &[], None), &p, HOUR).unwrap();
        assert_eq!(plan.parent, Some([7; 16]));
        assert_eq!(plan.agent_id, Some([1; 16]));
        assert_eq!(plan.expires_ms, 3 * HOUR, "capped by the parent's expiry");
        assert_eq!(plan.ip_allowlist, strings(&["10.0.0.0/8"]), "inherits the parent's allowlist");
        assert!(matches!(
            issue(&as_token(0), &ask(&["secrets:read:app/x"], "1h", &["10.2.0.0/24"], None), &p, 0),
            Err(IssueError::InvalidAllowlist(m)) if m.contains("the agent's")
        ));
        assert_eq!(
            issue(
                &as_token(MAX_TOKEN_DEPTH),
                &ask(&["secrets:read:app/x"], "1h", &[], None),
                &p,
                0
            ),
            Err(IssueError::ChainTooDeep)
        );
        let weak = held(&["secrets:read:app/*"]);
        let no_manage =
            Issuer::Token { accessor: [7; 16], token: &parent, held: &weak, agent: None, depth: 0 };
        assert_eq!(
            issue(&no_manage, &ask(&["secrets:read:app/x"], "1h", &[], None), &p, 0),
            Err(IssueError::Access(AccessError::NeedsScope("tokens:manage".into())))
        );
        assert_eq!(
            issue(&as_token(0), &ask(&["secrets:write:app/x"], "1h", &[], None), &p, 0),
            Err(IssueError::NotWithin {
                scope: "secrets:write:app/x".into(),
                whose: "calling token"
            })
        );
    }

    #[test]
    fn a_refresh_keeps_the_length_under_todays_policy_and_the_parent() {
        let me = TokenRecord {
            issued_ms: 0,
            expires_ms: 8 * HOUR,
            justification: Some("x".into()),
            ..token(Some(1), Some(9), 8 * HOUR, None)
        };
        let plan = refresh(&me, None, &policy(24, false, 72), 10 * HOUR);
        assert_eq!(plan.expires_ms, 18 * HOUR);
        assert_eq!((plan.parent, plan.agent_id), (Some([9; 16]), Some([1; 16])));
        assert_eq!(refresh(&me, None, &policy(4, false, 72), 0).expires_ms, 4 * HOUR);
        assert_eq!(refresh(&me, Some(HOUR), &policy(24, false, 72), 0).expires_ms, HOUR);
        let bg = TokenRecord { break_glass: true, expires_ms: 48 * HOUR, ..me.clone() };
        assert_eq!(refresh(&bg, None, &policy(24, true, 72), 0).expires_ms, 48 * HOUR);
        assert_eq!(refresh(&bg, None, &policy(24, false, 72), 0).expires_ms, 24 * HOUR);
    }

    #[test]
    fn the_chain_depth_counts_parents_and_stops_past_the_limit() {
        let mut tokens = HashMap::new();
        for i in 1..=20u8 {
            tokens.insert([i; 16], token(None, (i > 1).then_some(i - 1), 100, None));
        }
        let get = |id: &[u8; 16]| Ok::<_, ()>(tokens.get(id).cloned());
        assert_eq!(chain_depth(&token(None, None, 1, None), get), Ok(0));
        assert_eq!(chain_depth(&token(None, Some(3), 1, None), get), Ok(3));
        assert_eq!(chain_depth(&token(None, Some(20), 1, None), get), Ok(MAX_TOKEN_DEPTH + 1));
    }

    #[test]
    fn the_token_policy_keeps_its_bounds() {
        assert_eq!(
            token_policy("8h", true, "3d"),
            Ok(TokenPolicyRecord {
                max_ttl_ms: 8 * HOUR,
                break_glass: true,
                break_glass_max_ttl_ms: 72 * HOUR
            })
        );
        assert_eq!(token_policy("25h", false, "3d"), Err(IssueError::PolicyTtlTooLong));
        assert_eq!(token_policy("8h", false, "7h"), Err(IssueError::PolicyBreakGlassRange));
        assert_eq!(token_policy("8h", false, "8d"), Err(IssueError::PolicyBreakGlassRange));
        assert!(
            matches!(token_policy("x", false, "1d"), Err(IssueError::InvalidTtl(m)) if m.starts_with("max_ttl: "))
        );
        assert!(
            matches!(token_policy("1h", false, ""), Err(IssueError::InvalidTtl(m)) if m.starts_with("break_glass_max_ttl: "))
        );
    }

    #[test]
    fn agents_are_named_and_granted_by_the_rules() {
        assert_eq!(agent_name("Bob@X.com"), Ok("bob@x.com".to_string()));
        assert_eq!(agent_name("Billing-Svc"), Ok("Billing-Svc".to_string()));
        for bad in ["", "has space", "slash/no", &"a".repeat(65)] {
            assert_eq!(agent_name(bad), Err(IssueError::InvalidName), "{bad:?}");
        }
        let mine = held(&["agents:manage", "secrets:read:app/*"]);
        let g =
            agent_grant(&strings(&["secrets:read:app/db"]), &[], Some("d"), Some(&mine)).unwrap();
        assert_eq!(g.scopes, strings(&["secrets:read:app/db"]));
        assert_eq!(
            agent_grant(&strings(&["secrets:read:x/*"]), &[], None, Some(&mine)),
            Err(IssueError::NotWithin { scope: "secrets:read:x/*".into(), whose: "calling token" })
        );
        assert!(agent_grant(&strings(&["secrets:read:x/*"]), &[], None, None).is_ok(), "root");
        let long = "d".repeat(MAX_DESCRIPTION + 1);
        assert_eq!(
            agent_grant(&strings(&["secrets:read:x/*"]), &[], Some(&long), None),
            Err(IssueError::DescriptionTooLong)
        );
    }

    proptest::proptest! {
        /// The TTL rule over its whole space: allowed plainly iff within `max_ttl`; through
        /// break-glass only when it is on, justified, and within its maximum.
        #[test]
        fn check_ttl_allows_exactly_what_the_policy_says(
            ttl_min in 1u64..(10 * 24 * 60),
            max_h in 1u64..=24,
            extra_h in 0u64..=144,
            on: bool,
            justified: bool,
        ) {
            let p = policy(max_h, on, max_h + extra_h);
            let ttl = Duration::from_secs(ttl_min * 60);
            let why = justified.then_some("incident");
            let got = check_ttl(&p, ttl, why);
            let max = Duration::from_millis(p.max_ttl_ms);
            let bg = Duration::from_millis(p.break_glass_max_ttl_ms);
            if ttl <= max {
                proptest::prop_assert_eq!(got, Ok(false));
            } else if on && justified && ttl <= bg {
                proptest::prop_assert_eq!(got, Ok(true));
            } else {
                let refused = matches!(got, Err(IssueError::TtlTooLong { .. }));
                proptest::prop_assert!(refused);
            }
        }

        /// A child token never outlives its parent, and never leaves its parent's scopes.
        #[test]
        fn a_child_never_outlives_its_parent(
            parent_left_min in 1u64..(48 * 60),
            ttl_min in 1u64..(24 * 60),
            now in 0u64..1_000_000_000,
            pick in 0usize..4,
        ) {
            let parent = TokenRecord {
                scopes: strings(&["tokens:manage", "secrets:read:app/*"]),
                expires_ms: now + parent_left_min * 60_000,
                ..token(None, None, 0, None)
            };
            let h = held(&["tokens:manage", "secrets:read:app/*"]);
            let me = Issuer::Token { accessor: [7; 16], token: &parent, held: &h, agent: None, depth: 0 };
            let asked = ["secrets:read:app/x", "secrets:read:app/*", "secrets:write:app/x", "secrets:read:other/*"][pick];
            let got = issue(&me, &ask(&[asked], &format!("{ttl_min}m"), &[], None), &policy(24, false, 72), now);
            match got {
                Ok(plan) => {
                    proptest::prop_assert!(plan.expires_ms <= parent.expires_ms);
                    proptest::prop_assert!(plan.expires_ms <= now + ttl_min * 60_000);
                    proptest::prop_assert!(pick < 2, "{asked} is not within the parent");
                }
                Err(e) => {
                    proptest::prop_assert!(pick >= 2, "{asked}: {e}");
                    let outside = matches!(e, IssueError::NotWithin { .. });
                    proptest::prop_assert!(outside);
                }
            }
        }
    }
}
