//! Approval workflows for sensitive and critical secrets, on real node processes.

use serde_json::{json, Value};

use crate::harness::{Cluster, Reply};

const SECRET: &str = "production/stripe/STRIPE_SECRET_KEY";

/// Root's setup: a policy with two approvers, the approvers' tokens, a requester's token.
struct Setup {
    you: String,
    security: String,
    requester: String,
}

/// The approvers exist before the policy names them (a policy naming an unknown approver is
/// refused, see `a_policy_naming_an_unknown_approver_is_refused`).
async fn setup(c: &Cluster, policy: Value) -> Setup {
    let you = c.agent_token("you@company.com", &["approvals:decide"]).await;
    let security = c
        .agent_token("security@company.com", &["approvals:decide", "secrets:read:production/*"])
        .await;
    let r = c.call(1, "PUT", "/v1/policy/approvals", Some(policy)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        c.put(0, SECRET, json!({"value": "sk_live_1", "tier": "critical"})).await.status,
        200
    );
    Setup {
        you,
        security,
        requester: c.agent_token("payment-service", &["secrets:read:production/stripe/*"]).await,
    }
}

fn guide_policy(critical: u32) -> Value {
    json!({ "approval_policy": {
        "tiers": { "standard": { "required_approvals": 0 },
                   "sensitive": { "required_approvals": 1, "timeout_hours": 24 },
                   "critical": { "required_approvals": critical, "timeout_hours": 24 } },
        "approvers": [ "you@company.com", "security@company.com" ] } })
}

async fn read(c: &Cluster, node: usize, token: &str) -> Reply {
    c.send_as(
        node,
        Some(token),
        "GET",
        &format!("/v1/secrets/{SECRET}"),
        None,
        &[("x-ass-reason", "monthly payout run")],
    )
    .await
}

async fn decide(c: &Cluster, node: usize, token: &str, id: &str, verb: &str) -> Reply {
    c.send_as(
        node,
        Some(token),
        "POST",
        &format!("/v1/approvals/{id}/{verb}"),
        Some(json!({"comment": "ok"})),
        &[],
    )
    .await
}

/// Request, re-use, pending list, two approvals on different nodes, then the read succeeds
/// on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_read_waits_for_two_approvers_then_succeeds_everywhere() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(2)).await;
    let first = read(&c, 1, &s.requester).await;
    assert_eq!((first.status, first.code()), (403, "approval_required".into()), "{:?}", first.body);
    let id = first.body["approval_id"].as_str().expect("approval_id").to_string();
    let again = read(&c, 2, &s.requester).await;
    assert_eq!(again.body["approval_id"], id.as_str(), "a second read re-uses the open request");
    let pending = c.send_as(0, Some(&s.you), "GET", "/v1/approvals", None, &[]).await;
    let list = pending.body["approvals"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(
        (p["id"].as_str(), p["path"].as_str(), p["tier"].as_str()),
        (Some(id.as_str()), Some(SECRET), Some("critical"))
    );
    assert_eq!(
        (p["agent_name"].as_str(), p["version"].as_u64()),
        (Some("payment-service"), Some(1))
    );
    assert_eq!(p["reason"], "monthly payout run");
    assert!(p["requested_at"].is_string() && p["expires_at"].is_string());
    // The requester may follow its own request.
    let mine =
        c.send_as(2, Some(&s.requester), "GET", &format!("/v1/approvals/{id}"), None, &[]).await;
    assert_eq!(mine.body["status"], "pending");
    assert_eq!(decide(&c, 0, &s.you, &id, "approve").await.status, 200);
    assert_eq!(
        read(&c, 1, &s.requester).await.code(),
        "approval_required",
        "one of two is not enough"
    );
    let done = decide(&c, 2, &s.security, &id, "approve").await;
    assert_eq!(done.body["status"], "approved", "{:?}", done.body);
    for node in 0..3 {
        let r = read(&c, node, &s.requester).await;
        assert_eq!(r.body["value"], "sk_live_1", "node {node}: {:?}", r.body);
    }
}

/// An `X-Ass-Reason` that is not printable text (UTF-8 accents, a C1 control sequence) is
/// refused where the gate would record it, a gated read, and opens no request; an ungated read
/// ignores it. So no control character reaches an approval request, or the terminal of an
/// approver who lists it. Pins the behaviour across the move of the gate out of `http/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_that_is_not_text_is_refused_by_a_gated_read_only() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(1)).await;
    let public = "production/stripe/PUBLISHABLE_KEY";
    assert_eq!(c.put(0, public, json!({"value": "pk_live_1"})).await.status, 200);
    for reason in [&b"caf\xc3\xa9"[..], &b"\xc2\x9b31mred"[..]] {
        let gated = format!("/v1/secrets/{SECRET}");
        let r = c.send_raw_header(1, Some(&s.requester), &gated, "x-ass-reason", reason).await;
        assert_eq!((r.status, r.code()), (400, "bad_request".into()), "{:?}", r.body);
        let path = format!("/v1/secrets/{public}");
        let r = c.send_raw_header(2, Some(&s.requester), &path, "x-ass-reason", reason).await;
        assert_eq!((r.status, r.body["value"].as_str()), (200, Some("pk_live_1")), "{:?}", r.body);
    }
    let pending = c.send_as(0, Some(&s.you), "GET", "/v1/approvals", None, &[]).await;
    assert_eq!(pending.body["approvals"].as_array().map(Vec::len), Some(0), "{:?}", pending.body);
    // The same read with a text reason opens its request as usual.
    assert_eq!(read(&c, 0, &s.requester).await.code(), "approval_required");
}

/// No self-approval, each approver once, only listed approvers, only with approvals:decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_rules_hold() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(2)).await;
    // security@ reads for itself: it can't approve its own request.
    let own = read(&c, 0, &s.security).await;
    let own_id = own.body["approval_id"].as_str().unwrap().to_string();
    let r = decide(&c, 1, &s.security, &own_id, "approve").await;
    assert_eq!((r.status, r.code()), (403, "self_approval".into()));
    let id = read(&c, 0, &s.requester).await.body["approval_id"].as_str().unwrap().to_string();
    assert_ne!(id, own_id);
    assert_eq!(decide(&c, 0, &s.you, &id, "approve").await.status, 200);
    let r = decide(&c, 1, &s.you, &id, "approve").await;
    assert_eq!((r.status, r.code()), (409, "already_decided".into()));
    let mallory = c.agent_token("mallory@evil.example", &["approvals:decide"]).await;
    let r = decide(&c, 2, &mallory, &id, "approve").await;
    assert_eq!((r.status, r.code()), (403, "not_an_approver".into()));
    let r = decide(&c, 2, &c.dev.root_token, &id, "approve").await;
    assert_eq!(r.code(), "not_an_approver", "root is no named approver");
    let r = decide(&c, 2, &s.requester, &id, "approve").await;
    assert_eq!((r.status, r.code()), (403, "scope_denied".into()));
    let r = decide(&c, 2, &s.you, "not-a-uuid", "approve").await;
    assert_eq!(r.status, 400);
    let r = decide(&c, 2, &s.you, "6f1c1a52-1111-4a3b-9c2d-000000000009", "approve").await;
    assert_eq!(r.status, 404);
    // Still one approval of two: the read waits.
    assert_eq!(read(&c, 1, &s.requester).await.code(), "approval_required");
}

/// A denied request answers approval_denied and can't be approved afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_stays_denied() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(1)).await;
    let id = read(&c, 0, &s.requester).await.body["approval_id"].as_str().unwrap().to_string();
    assert_eq!(decide(&c, 1, &s.you, &id, "deny").await.body["status"], "denied");
    let r = read(&c, 2, &s.requester).await;
    assert_eq!(
        (r.status, r.code(), r.body["approval_id"].as_str()),
        (403, "approval_denied".into(), Some(id.as_str()))
    );
    let r = decide(&c, 0, &s.security, &id, "approve").await;
    assert_eq!((r.status, r.code()), (409, "approval_closed".into()));
}

/// Two approvers deciding at the same time both count once, and the grant follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_at_once() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(2)).await;
    let id = read(&c, 0, &s.requester).await.body["approval_id"].as_str().unwrap().to_string();
    let (a, b) = tokio::join!(
        decide(&c, 1, &s.you, &id, "approve"),
        decide(&c, 2, &s.security, &id, "approve")
    );
    assert_eq!((a.status, b.status), (200, 200), "{:?} {:?}", a.body, b.body);
    let r = c.send_as(0, Some(&s.you), "GET", &format!("/v1/approvals/{id}"), None, &[]).await;
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(read(&c, 0, &s.requester).await.body["value"], "sk_live_1");
}

/// Raising a secret's tier voids grants made under the lower tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_tier_voids_the_grant() {
    let c = Cluster::start(3).await;
    let s = setup(&c, guide_policy(2)).await;
    assert_eq!(
        c.put(0, SECRET, json!({"value": "sk_live_2", "tier": "sensitive"})).await.status,
        200
    );
    let id = read(&c, 0, &s.requester).await.body["approval_id"].as_str().unwrap().to_string();
    assert_eq!(decide(&c, 1, &s.you, &id, "approve").await.body["status"], "approved");
    assert_eq!(read(&c, 2, &s.requester).await.body["value"], "sk_live_2");
    assert_eq!(
        c.put(0, SECRET, json!({"value": "sk_live_3", "tier": "critical"})).await.status,
        200
    );
    let r = read(&c, 2, &s.requester).await;
    assert_eq!(r.code(), "approval_required", "{:?}", r.body);
    assert_ne!(r.body["approval_id"], id.as_str());
}

/// Bad policies are refused with a message naming the problem, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_are_refused() {
    let c = Cluster::start(3).await;
    let before = c.call(0, "GET", "/v1/policy/approvals", None).await.body;
    let two = json!(["a@x.com", "b@x.com"]);
    for (policy, needle) in [
        (
            json!({"approval_policy": {"tiers": {"secret": {"required_approvals": 1}}, "approvers": two}}),
            "unknown tier",
        ),
        (
            json!({"approval_policy": {"tiers": {"critical": {"required_approvals": 3}}, "approvers": two}}),
            "only 2 approver",
        ),
        (
            json!({"approval_policy": {"tiers": {"critical": {"required_approvals": 1, "timeout_hours": 0}}, "approvers": two}}),
            "timeout_hours",
        ),
        (
            json!({"approval_policy": {"tiers": {"critical": {"required_approvals": -1}}, "approvers": two}}),
            "invalid value",
        ),
        (
            json!({"approval_policy": {"tiers": {}, "approvers": two, "colour": "red"}}),
            "unknown field",
        ),
        (json!({"approval_policy": {"tiers": {}, "approvers": ["not an email"]}}), "not an e-mail"),
    ] {
        let r = c.call(1, "PUT", "/v1/policy/approvals", Some(policy.clone())).await;
        assert_eq!(r.status, 400, "{policy}");
        assert!(r.text.contains(needle), "{policy}: {}", r.text);
    }
    assert_eq!(c.call(2, "GET", "/v1/policy/approvals", None).await.body, before);
}

/// Whether a request is still open is judged by leader time: a follower whose clock runs an
/// hour ahead sees it expire locally, yet an approval sent through it still counts, because
/// the leader decides at apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_judged_by_leader_time() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let fast = (leader + 1) % 3;
    let s = setup(&c, guide_policy(1)).await;
    let id = read(&c, leader, &s.requester).await.body["approval_id"].as_str().unwrap().to_string();
    c.dev.nodes[fast].launch =
        ass_testkit::Launch::wrapper(vec!["faketime".into(), "-f".into(), "+25h".into()]);
    c.dev.restart(fast).await.expect("restart under faketime");
    let local = c
        .send_as(fast, Some(&c.dev.root_token), "GET", &format!("/v1/approvals/{id}"), None, &[])
        .await;
    assert_eq!(local.body["status"], "expired", "the fast node's own view: {:?}", local.body);
    let r = c.send_as(fast, Some(&c.dev.root_token), "GET", "/v1/sys/status", None, &[]).await;
    assert_eq!(r.status, 200);
    // Writes go to the leader before any local judgement, so the fast node's clock decides
    // nothing: the approval made through it counts.
    let ok = decide(&c, fast, &s.you, &id, "approve").await;
    assert_eq!(ok.body["status"], "approved", "{:?}", ok.body);
    assert_eq!(read(&c, leader, &s.requester).await.body["value"], "sk_live_1");
}

/// Issue 14, item 3: a fresh cluster starts with the guide's tiers (sensitive and critical
/// need one approval within 24 h), so a sensitive read waits for an approver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_cluster_has_the_guides_approval_policy() {
    let c = Cluster::start(3).await;
    let p = c.call(1, "GET", "/v1/policy/approvals", None).await.body;
    let tiers = &p["approval_policy"]["tiers"];
    assert_eq!(tiers["standard"]["required_approvals"], 0, "{p}");
    for tier in ["sensitive", "critical"] {
        assert_eq!(tiers[tier]["required_approvals"], 1, "{p}");
        assert_eq!(tiers[tier]["timeout_hours"], 24, "{p}");
    }
    let path = "production/gemini/GEMINI_API_KEY";
    assert_eq!(c.put(0, path, json!({"value": "g", "tier": "sensitive"})).await.status, 200);
    let reader = c.agent_token("inference-service", &["secrets:read:production/gemini/*"]).await;
    let r = c.send_as(2, Some(&reader), "GET", &format!("/v1/secrets/{path}"), None, &[]).await;
    assert_eq!((r.status, r.code()), (403, "approval_required".into()), "{:?}", r.body);
}

/// Issue 14, item 3: a policy naming an approver that is no agent (or a revoked one) is
/// refused with `unknown_approver` and changes nothing, unless allowed explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_naming_an_unknown_approver_is_refused() {
    let c = Cluster::start(3).await;
    let before = c.call(0, "GET", "/v1/policy/approvals", None).await.body;
    let r = c.call(1, "PUT", "/v1/policy/approvals", Some(guide_policy(1))).await;
    assert_eq!((r.status, r.code()), (400, "unknown_approver".into()), "{:?}", r.body);
    assert!(r.text.contains("you@company.com") && r.text.contains("security@company.com"));
    assert_eq!(c.call(2, "GET", "/v1/policy/approvals", None).await.body, before);
    c.agent_token("you@company.com", &["approvals:decide"]).await;
    let r = c.call(1, "PUT", "/v1/policy/approvals", Some(guide_policy(1))).await;
    assert_eq!(r.code(), "unknown_approver", "one of two still missing: {:?}", r.body);
    assert!(!r.body["message"].as_str().unwrap().contains("you@company.com"), "{:?}", r.body);
    let path = "/v1/policy/approvals?allow_unknown_approvers=true";
    let r = c.call(0, "PUT", path, Some(guide_policy(1))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A revoked approver is as good as none.
    assert_eq!(c.call(0, "POST", "/v1/agents/you@company.com/revoke", None).await.status, 200);
    c.agent_token("security@company.com", &["approvals:decide"]).await;
    let r = c.call(1, "PUT", "/v1/policy/approvals", Some(guide_policy(1))).await;
    assert_eq!(r.code(), "unknown_approver", "{:?}", r.body);
}
