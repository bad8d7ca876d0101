//! Access defects of issue 14, each pinned on real node processes: tiers that a later write
//! can't lower, client addresses behind a proxy, the default approval policy, effective token
//! states, the failed-auth limiter, and who may read an approval's status.

use serde_json::{json, Value};

use crate::harness::{Cluster, Reply};

const STRIPE: &str = "production/stripe/STRIPE_SECRET_KEY";

/// An agent with `scopes` (root creates it) and a 2 h token of it.
async fn agent_token(c: &Cluster, name: &str, scopes: &[&str]) -> String {
    let r = c.call(0, "POST", "/v1/agents", Some(json!({"name": name, "scopes": scopes}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let key = r.body["agent_key"].as_str().unwrap().to_string();
    token_of(c, &key, scopes).await
}

async fn token_of(c: &Cluster, credential: &str, scopes: &[&str]) -> String {
    let r = c
        .send_as(
            0,
            Some(credential),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": scopes, "ttl": "2h"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["token"].as_str().unwrap().to_string()
}

fn guide_policy() -> Value {
    json!({ "approval_policy": {
        "tiers": { "standard": { "required_approvals": 0 },
                   "sensitive": { "required_approvals": 1, "timeout_hours": 24 },
                   "critical": { "required_approvals": 1, "timeout_hours": 24 } },
        "approvers": [ "you@company.com" ] } })
}

async fn as_token(
    c: &Cluster,
    node: usize,
    t: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    c.send_as(node, Some(t), method, path, body, &[]).await
}

async fn approve(c: &Cluster, approver: &str, id: &str) {
    let r = c
        .send_as(
            1,
            Some(approver),
            "POST",
            &format!("/v1/approvals/{id}/approve"),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Issue 14, item 1 (the repro): a `secrets:write` caller sending a lower tier gets 403
/// `tier_downgrade_denied` and nothing changes; version 1 stays behind its approval for a
/// reader with no grant, and even a privileged, approved lowering never releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_a_tier_never_releases_an_old_gated_version() {
    let c = Cluster::start(3).await;
    let you = agent_token(&c, "you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    let w = c.put(0, STRIPE, json!({"value": "sk_live_xyz", "tier": "critical"})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    let writer = agent_token(&c, "stripe-rotator", &["secrets:write:production/stripe/*"]).await;
    let reader = agent_token(&c, "payment-service", &["secrets:read:production/*"]).await;
    let url = format!("/v1/secrets/{STRIPE}");

    let down =
        as_token(&c, 1, &writer, "PUT", &url, Some(json!({"value": "junk", "tier": "standard"})))
            .await;
    assert_eq!(
        (down.status, down.code()),
        (403, "tier_downgrade_denied".into()),
        "{:?}",
        down.body
    );
    let cas = as_token(
        &c,
        2,
        &writer,
        "PUT",
        &url,
        Some(json!({"value": "junk", "tier": "standard", "cas": 1})),
    )
    .await;
    assert_eq!(cas.code(), "tier_downgrade_denied", "CAS does not bypass the rule");
    let now = c.get(0, &url).await;
    assert_eq!(
        (now.body["version"].as_u64(), now.body["tier"].as_str()),
        (Some(1), Some("critical"))
    );

    let old = as_token(&c, 2, &reader, "GET", &format!("{url}?version=1"), None).await;
    assert_eq!((old.status, old.code()), (403, "approval_required".into()), "{:?}", old.body);
    assert!(!old.text.contains("sk_live_xyz"));

    // A write naming no tier keeps it; raising it is a plain write.
    let keep = as_token(&c, 0, &writer, "PUT", &url, Some(json!({"value": "sk_live_2"}))).await;
    assert_eq!(keep.status, 200, "{:?}", keep.body);
    assert_eq!(c.get(1, &url).await.body["tier"], "critical");

    // The privileged act: policy:manage plus an approval like a read's.
    let admin =
        agent_token(&c, "tier-admin", &["policy:manage", "secrets:write:production/stripe/*"])
            .await;
    let ask =
        as_token(&c, 0, &admin, "PUT", &url, Some(json!({"value": "pk_test", "tier": "standard"})))
            .await;
    assert_eq!((ask.status, ask.code()), (403, "approval_required".into()), "{:?}", ask.body);
    approve(&c, &you, ask.body["approval_id"].as_str().unwrap()).await;
    let lowered =
        as_token(&c, 1, &admin, "PUT", &url, Some(json!({"value": "pk_test", "tier": "standard"})))
            .await;
    assert_eq!(
        (lowered.status, lowered.body["version"].as_u64()),
        (200, Some(3)),
        "{:?}",
        lowered.body
    );

    let latest = as_token(&c, 2, &reader, "GET", &url, None).await;
    assert_eq!((latest.status, latest.body["value"].as_str()), (200, Some("pk_test")));
    for v in [1, 2] {
        let r = as_token(&c, 2, &reader, "GET", &format!("{url}?version={v}"), None).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "approval_required".into()),
            "version {v}: {:?}",
            r.body
        );
    }
    let versions = c.get(0, &format!("{url}/versions")).await;
    let tiers: Vec<&str> = versions.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["critical", "critical", "standard"]);
}

/// Issue 14, item 1 (other writes): a grant made under a lower tier doesn't cover a version
/// written later under a higher one, nor the older versions once the path is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_covers_only_what_its_tier_covers_after_later_writes() {
    let c = Cluster::start(3).await;
    let you = agent_token(&c, "you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    let path = "production/gemini/GEMINI_API_KEY";
    let url = format!("/v1/secrets/{path}");
    assert_eq!(c.put(0, path, json!({"value": "g-1", "tier": "sensitive"})).await.status, 200);
    let reader = agent_token(&c, "inference-service", &["secrets:read:production/gemini/*"]).await;
    let first = as_token(&c, 0, &reader, "GET", &url, None).await;
    approve(&c, &you, first.body["approval_id"].as_str().unwrap()).await;
    assert_eq!(as_token(&c, 1, &reader, "GET", &url, None).await.body["value"], "g-1");
    // Raised to critical by a new version: neither the new nor the old version is covered.
    assert_eq!(c.put(0, path, json!({"value": "g-2", "tier": "critical"})).await.status, 200);
    let new = as_token(&c, 2, &reader, "GET", &url, None).await;
    assert_eq!(new.code(), "approval_required", "{:?}", new.body);
    let old = as_token(&c, 2, &reader, "GET", &format!("{url}?version=1"), None).await;
    assert_eq!(old.code(), "approval_required", "{:?}", old.body);
}
