//! The approval rules as plain functions: the gate a read passes ([`gate`]), whether a
//! request is still live ([`is_live`], the one place that rule is written), the checks of a
//! decision ([`check_decision`]) and the policy users write ([`policy_from_document`]). No I/O;
//! time comes in as `now_ms`.

use std::time::Duration;

use ass_client::types::ApprovalPolicyDocument;

use super::record::{
    ApprovalPolicyRecord, ApprovalRecord, DecisionRecord, GrantRecord, NewDecision, PolicyError,
    Refusal, Requester, Status, TierRuleRecord, HOUR_MS, MAX_POLICY_HOURS,
};
use crate::identity::caller::Principal;
use crate::identity::engine::is_email;
use crate::secrets::Tier;

/// Longest reason or comment, in bytes.
pub const MAX_TEXT: usize = 1024;

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

/// The requester a principal reads as, or `None` for the root token (which is not gated).
pub fn requester_of(principal: &Principal) -> Option<Requester> {
    match principal {
        Principal::Root => None,
        Principal::Agent { id, .. } => Some(Requester::Agent(*id)),
        Principal::Token { agent_id: Some(id), .. } => Some(Requester::Agent(*id)),
        Principal::Token { accessor, agent_id: None, .. } => Some(Requester::Token(*accessor)),
    }
}

/// Whether request `r` still stands for a read at `tier` at `now_ms`: made for the same tier
/// and not timed out. The one liveness rule: the gate and the apply both judge by it.
pub fn is_live(r: &ApprovalRecord, tier: Tier, now_ms: u64) -> bool {
    r.tier == tier && now_ms < r.expires_ms
}

/// Whether a new read re-uses `r` instead of opening another: live and pending. After a
/// denial the requester may ask again (the gate lets it only with a new reason).
pub fn reusable(r: &ApprovalRecord, tier: Tier, now_ms: u64) -> bool {
    is_live(r, tier, now_ms) && r.status == Status::Pending
}

/// Whether a read at `tier` by `requester` needs approval at all: the tier's rule asks for
/// approvers, and the caller is not root (`None`).
pub fn needs_approval(
    policy: &ApprovalPolicyRecord,
    tier: Tier,
    requester: Option<&Requester>,
) -> bool {
    policy.rule(tier).required > 0 && requester.is_some()
}

/// What the gate says about one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The tier needs no approval, or the caller is root.
    NotNeeded,
    /// A live grant made under this tier or a higher one covers the read.
    Granted,
    /// A live request is pending: the read waits for it.
    Pending { id: [u8; 16] },
    /// The live request was denied and the read gives no new reason: it hears the denial.
    Denied { id: [u8; 16] },
    /// A new request must be opened; `replaces` is a pending one that timed out.
    Open { replaces: Option<[u8; 16]> },
    /// A new request after a denial, over the per-node allowance: ask again after `wait`.
    RateLimited { wait: Duration },
}

/// The approval gate of a read of a path at `tier` (the version's effective tier), given the
/// requester's grant and latest request for the path. `reopen` is asked (only) when a new
/// request would follow a denial: the per-node limiter's answer. A denied requester asks
/// again by giving a new reason; a plain re-read hears the denial (nobody is asked twice for
/// the same thing).
#[allow(clippy::too_many_arguments)]
pub fn gate(
    policy: &ApprovalPolicyRecord,
    requester: Option<&Requester>,
    grant: Option<&GrantRecord>,
    latest: Option<(&[u8; 16], &ApprovalRecord)>,
    tier: Tier,
    reason: Option<&str>,
    now_ms: u64,
    reopen: impl FnOnce() -> Result<(), Duration>,
) -> Gate {
    if !needs_approval(policy, tier, requester) {
        return Gate::NotNeeded;
    }
    if grant.is_some_and(|g| g.expires_ms > now_ms && g.tier >= tier) {
        return Gate::Granted;
    }
    let mut replaces = None;
    let mut after_denial = false;
    if let Some((id, r)) = latest {
        if is_live(r, tier, now_ms) {
            match r.status {
                Status::Pending => return Gate::Pending { id: *id },
                Status::Denied if reason.is_none() || reason == r.reason.as_deref() => {
                    return Gate::Denied { id: *id }
                }
                Status::Denied => after_denial = true,
                Status::Approved => {}
            }
        } else if r.status == Status::Pending && now_ms >= r.expires_ms {
            replaces = Some(*id);
        }
    }
    if after_denial {
        if let Err(wait) = reopen() {
            return Gate::RateLimited { wait };
        }
    }
    Gate::Open { replaces }
}

/// Whether the decision `d` may be recorded on request `r` at `time_ms` (the command's
/// leader-stamped time): the decider is an approver, not the requester, the request has not
/// timed out and is still pending, and this approver has not decided on it yet.
pub fn check_decision(
    r: &ApprovalRecord,
    policy: &ApprovalPolicyRecord,
    d: &NewDecision,
    time_ms: u64,
) -> Result<(), Refusal> {
    if !policy.is_approver(&d.approver) {
        return Err(Refusal::NotAnApprover);
    }
    if r.requester == Requester::Agent(d.approver_agent) {
        return Err(Refusal::SelfApproval);
    }
    if time_ms >= r.expires_ms && r.status != Status::Approved {
        return Err(Refusal::ApprovalExpired);
    }
    if r.status != Status::Pending {
        return Err(Refusal::ApprovalClosed);
    }
    if r.approvals.iter().any(|x| {
        x.approver_agent == d.approver_agent || x.approver.eq_ignore_ascii_case(&d.approver)
    }) {
        return Err(Refusal::AlreadyDecided);
    }
    Ok(())
}

/// Records a checked decision ([`check_decision`]) on `r`; at the tier's count the request
/// is approved and the requester's grant for the path is returned.
pub fn record_decision(
    r: &mut ApprovalRecord,
    policy: &ApprovalPolicyRecord,
    d: &NewDecision,
    time_ms: u64,
) -> Option<GrantRecord> {
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
            return Some(GrantRecord { approval_id: d.id, tier: r.tier, expires_ms: expires });
        }
        None
    } else {
        r.status = Status::Denied;
        r.denial = Some(decision);
        None
    }
}

/// Which requests a listing shows (`?status=`; `pending` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter(&'static str);

impl ListFilter {
    /// The filter named `status`; `None` for a name that is none of them.
    pub fn parse(status: Option<&str>) -> Option<ListFilter> {
        const ALL: [&str; 5] = ["pending", "approved", "denied", "expired", "all"];
        let wanted = status.unwrap_or("pending");
        ALL.iter().find(|s| **s == wanted).map(|s| ListFilter(s))
    }

    /// Whether a request of this status (as [`ApprovalRecord::status_at`] names it) is shown.
    pub fn shows(&self, status: &str) -> bool {
        self.0 == "all" || self.0 == status
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

    // ── the gate, liveness and decisions ───────────────────────────────────────────────

    const H: u64 = HOUR_MS;

    fn gated() -> ApprovalPolicyRecord {
        ApprovalPolicyRecord {
            approvers: vec!["you@company.com".into(), "sec@company.com".into()],
            ..Default::default()
        }
    }

    fn request(
        status: Status,
        tier: Tier,
        expires_ms: u64,
        reason: Option<&str>,
    ) -> ApprovalRecord {
        ApprovalRecord {
            requester: Requester::Agent([1; 16]),
            agent_name: Some("svc".into()),
            path: "p/q".into(),
            tier,
            version: 1,
            reason: reason.map(str::to_owned),
            required: 1,
            status,
            approvals: vec![],
            denial: None,
            requested_ms: 0,
            expires_ms,
            grant_expires_ms: None,
        }
    }

    fn run(
        grant: Option<&GrantRecord>,
        latest: Option<&ApprovalRecord>,
        tier: Tier,
        reason: Option<&str>,
        now: u64,
    ) -> Gate {
        let me = Requester::Agent([1; 16]);
        let id = [9u8; 16];
        gate(&gated(), Some(&me), grant, latest.map(|r| (&id, r)), tier, reason, now, || Ok(()))
    }

    #[test]
    fn standard_reads_and_root_pass_without_a_look_at_grants() {
        let p = gated();
        let me = Requester::Token([2; 16]);
        let never = || -> Result<(), Duration> { panic!("the limiter is not asked") };
        assert_eq!(
            gate(&p, Some(&me), None, None, Tier::Standard, None, 0, never),
            Gate::NotNeeded
        );
        assert_eq!(gate(&p, None, None, None, Tier::Critical, None, 0, never), Gate::NotNeeded);
        assert!(needs_approval(&p, Tier::Sensitive, Some(&me)));
        assert!(!needs_approval(&p, Tier::Sensitive, None));
    }

    #[test]
    fn a_live_grant_covers_its_tier_and_lower_only() {
        let g = GrantRecord { approval_id: [9; 16], tier: Tier::Sensitive, expires_ms: 10 };
        assert_eq!(run(Some(&g), None, Tier::Sensitive, None, 9), Gate::Granted);
        assert_eq!(run(Some(&g), None, Tier::Critical, None, 9), Gate::Open { replaces: None });
        assert_eq!(run(Some(&g), None, Tier::Sensitive, None, 10), Gate::Open { replaces: None });
    }

    #[test]
    fn the_latest_request_decides_what_a_read_hears() {
        let id = [9u8; 16];
        let pending = request(Status::Pending, Tier::Critical, 24 * H, None);
        assert_eq!(run(None, Some(&pending), Tier::Critical, None, H), Gate::Pending { id });
        // Timed out: a new one replaces it.
        assert_eq!(
            run(None, Some(&pending), Tier::Critical, None, 24 * H),
            Gate::Open { replaces: Some(id) }
        );
        // Made under another tier: not this read's request.
        assert_eq!(
            run(None, Some(&pending), Tier::Sensitive, None, H),
            Gate::Open { replaces: None }
        );
        let denied = request(Status::Denied, Tier::Critical, 24 * H, Some("first"));
        assert_eq!(run(None, Some(&denied), Tier::Critical, None, H), Gate::Denied { id });
        assert_eq!(run(None, Some(&denied), Tier::Critical, Some("first"), H), Gate::Denied { id });
        assert_eq!(
            run(None, Some(&denied), Tier::Critical, Some("again, because"), H),
            Gate::Open { replaces: None }
        );
        // An approved request whose grant lapsed: ask again.
        let approved = request(Status::Approved, Tier::Critical, 24 * H, None);
        assert_eq!(
            run(None, Some(&approved), Tier::Critical, None, H),
            Gate::Open { replaces: None }
        );
    }

    #[test]
    fn asking_again_after_a_denial_is_limited() {
        let me = Requester::Agent([1; 16]);
        let denied = request(Status::Denied, Tier::Critical, 24 * H, None);
        let wait = Duration::from_secs(30);
        let asked = std::cell::Cell::new(0);
        let limited = || {
            asked.set(asked.get() + 1);
            Err(wait)
        };
        let g = gate(
            &gated(),
            Some(&me),
            None,
            Some((&[9; 16], &denied)),
            Tier::Critical,
            Some("new"),
            H,
            limited,
        );
        assert_eq!((g, asked.get()), (Gate::RateLimited { wait }, 1));
        // A first request (no denial before it) is never limited.
        let g = gate(&gated(), Some(&me), None, None, Tier::Critical, Some("new"), H, || Err(wait));
        assert_eq!(g, Gate::Open { replaces: None });
    }

    #[test]
    fn liveness_is_one_rule() {
        let r = request(Status::Pending, Tier::Sensitive, 100, None);
        assert!(is_live(&r, Tier::Sensitive, 99) && reusable(&r, Tier::Sensitive, 99));
        assert!(!is_live(&r, Tier::Sensitive, 100));
        assert!(!is_live(&r, Tier::Critical, 0));
        let d = request(Status::Denied, Tier::Sensitive, 100, None);
        assert!(is_live(&d, Tier::Sensitive, 0) && !reusable(&d, Tier::Sensitive, 0));
    }

    #[test]
    fn decisions_are_checked_then_counted_into_a_grant() {
        let p = ApprovalPolicyRecord {
            critical: TierRuleRecord { required: 2, timeout_ms: 24 * H },
            ..gated()
        };
        let mut r = request(Status::Pending, Tier::Critical, 24 * H, None);
        r.required = 2;
        let d = |who: &str, agent: u8, approve: bool| NewDecision {
            id: [9; 16],
            approver: who.into(),
            approver_agent: [agent; 16],
            approve,
            comment: None,
        };
        assert_eq!(
            check_decision(&r, &p, &d("nobody@x.com", 3, true), H),
            Err(Refusal::NotAnApprover)
        );
        assert_eq!(
            check_decision(&r, &p, &d("you@company.com", 1, true), H),
            Err(Refusal::SelfApproval)
        );
        assert_eq!(
            check_decision(&r, &p, &d("you@company.com", 2, true), 24 * H),
            Err(Refusal::ApprovalExpired)
        );
        assert_eq!(check_decision(&r, &p, &d("you@company.com", 2, true), H), Ok(()));
        assert_eq!(record_decision(&mut r, &p, &d("you@company.com", 2, true), H), None);
        assert_eq!(
            check_decision(&r, &p, &d("you@company.com", 4, true), H),
            Err(Refusal::AlreadyDecided)
        );
        let grant = record_decision(&mut r, &p, &d("sec@company.com", 3, true), 2 * H).unwrap();
        assert_eq!(
            grant,
            GrantRecord { approval_id: [9; 16], tier: Tier::Critical, expires_ms: 3 * H }
        );
        assert_eq!((r.status, r.grant_expires_ms), (Status::Approved, Some(3 * H)));
        assert_eq!(
            check_decision(&r, &p, &d("sec@company.com", 5, false), 2 * H),
            Err(Refusal::ApprovalClosed)
        );
        let mut r2 = request(Status::Pending, Tier::Critical, 24 * H, None);
        assert_eq!(record_decision(&mut r2, &p, &d("sec@company.com", 3, false), H), None);
        assert_eq!(r2.status, Status::Denied);
        assert!(r2.denial.is_some());
    }

    #[test]
    fn requesters_and_list_filters() {
        assert_eq!(requester_of(&Principal::Root), None);
        let t =
            Principal::Token { accessor: [2; 16], agent_id: None, agent_name: None, expires_ms: 0 };
        assert_eq!(requester_of(&t), Some(Requester::Token([2; 16])));
        let at = Principal::Token {
            accessor: [2; 16],
            agent_id: Some([3; 16]),
            agent_name: None,
            expires_ms: 0,
        };
        assert_eq!(requester_of(&at), Some(Requester::Agent([3; 16])));
        let pending = ListFilter::parse(None).unwrap();
        assert!(pending.shows("pending") && !pending.shows("denied"));
        assert!(ListFilter::parse(Some("all")).unwrap().shows("expired"));
        assert_eq!(ListFilter::parse(Some("open")), None);
    }

    fn tier_of(n: u8) -> Tier {
        [Tier::Standard, Tier::Sensitive, Tier::Critical][n as usize % 3]
    }

    proptest::proptest! {
        /// Over any grant, request and time: a read passes only with no approval needed or a
        /// live grant of its tier or higher; a live pending request of the read's tier is
        /// never duplicated.
        #[test]
        fn the_gate_passes_only_with_a_covering_grant(
            read_tier in 0u8..3,
            grant in proptest::option::of((0u8..3, 0u64..200)),
            latest in proptest::option::of((0u8..3, 0u8..3, 0u64..200)),
            now in 0u64..200,
        ) {
            let tier = tier_of(read_tier);
            let g = grant.map(|(t, e)| GrantRecord { approval_id: [1; 16], tier: tier_of(t), expires_ms: e });
            let statuses = [Status::Pending, Status::Approved, Status::Denied];
            let r = latest.map(|(t, s, e)| request(statuses[s as usize], tier_of(t), e, None));
            let got = run(g.as_ref(), r.as_ref(), tier, None, now);
            let covered = g.as_ref().is_some_and(|g| g.expires_ms > now && g.tier >= tier);
            let passes = matches!(got, Gate::NotNeeded | Gate::Granted);
            proptest::prop_assert_eq!(passes, tier == Tier::Standard || covered);
            if let Some(r) = &r {
                if !passes && reusable(r, tier, now) {
                    proptest::prop_assert_eq!(got, Gate::Pending { id: [9; 16] });
                }
            }
        }
    }
}
