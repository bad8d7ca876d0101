//! Access defects of issue 14, each pinned on real node processes: tiers that a later write
//! can't lower, client addresses behind a proxy, the default approval policy, effective token
//! states, the failed-auth limiter, and who may read an approval's status.

use serde_json::{json, Value};

use crate::harness::{Cluster, Reply};

const STRIPE: &str = "production/stripe/STRIPE_SECRET_KEY";

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
    let you = c.agent_token("you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    let w = c.put(0, STRIPE, json!({"value": "sk_live_xyz", "tier": "critical"})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    let writer = c.agent_token("stripe-rotator", &["secrets:write:production/stripe/*"]).await;
    let reader = c.agent_token("payment-service", &["secrets:read:production/*"]).await;
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
        c.agent_token("tier-admin", &["policy:manage", "secrets:write:production/stripe/*"]).await;
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
    let you = c.agent_token("you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    let path = "production/gemini/GEMINI_API_KEY";
    let url = format!("/v1/secrets/{path}");
    assert_eq!(c.put(0, path, json!({"value": "g-1", "tier": "sensitive"})).await.status, 200);
    let reader = c.agent_token("inference-service", &["secrets:read:production/gemini/*"]).await;
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

/// Issue 14, item 2: behind a trusted proxy, repeated `X-Forwarded-For` lines are one list,
/// walked from the right: a client can't name an allowlisted address on a line of its own,
/// neither for a read nor for a write through a follower, and the audit log records the real
/// address. `forwarded_header = "forwarded"` reads RFC 7239 the same way, and ignores XFF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_forwarded_for_lines_cannot_spoof_an_allowlisted_address() {
    let c = Cluster::start_with(3, "[auth]\ntrusted_proxies = [\"127.0.0.1\"]\n").await;
    let path = "production/gemini/K";
    assert_eq!(c.put(0, path, json!({"value": "g"})).await.status, 200);
    let scopes = ["secrets:read:production/*", "secrets:write:production/*"];
    let r =
        c.call(0, "POST", "/v1/agents", Some(json!({"name": "fenced", "scopes": scopes}))).await;
    let key = r.body["agent_key"].as_str().unwrap().to_string();
    let good = [("x-forwarded-for", "10.0.1.100")];
    let t = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": scopes, "ttl": "1h", "ip_allowlist": ["10.0.1.100/32"]})),
            &good,
        )
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    let token = t.body["token"].as_str().unwrap().to_string();
    let url = format!("/v1/secrets/{path}");
    let spoof = [("x-forwarded-for", "10.0.1.100"), ("x-forwarded-for", "203.0.113.9")];
    for node in 0..3 {
        let r = c.send_as(node, Some(&token), "GET", &url, None, &spoof).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "ip_not_allowed".into()),
            "node {node}: {:?}",
            r.body
        );
        assert!(r.body["message"].as_str().unwrap().contains("203.0.113.9"), "{:?}", r.body);
        let w =
            c.send_as(node, Some(&token), "PUT", &url, Some(json!({"value": "x"})), &spoof).await;
        assert_eq!(w.code(), "ip_not_allowed", "node {node}: {:?}", w.body);
        // The honest single line still works.
        let ok = c.send_as(node, Some(&token), "GET", &url, None, &good).await;
        assert_eq!(ok.body["value"], "g", "node {node}: {:?}", ok.body);
    }
    assert_eq!(c.get(1, &url).await.body["version"], 1, "no spoofed write landed");
    let audit = c.call(0, "GET", "/v1/audit?limit=10000", None).await;
    let events = audit.body["events"].as_array().expect("events");
    let denied: Vec<&Value> = events.iter().filter(|e| e["status"] == 403).collect();
    assert_eq!(denied.len(), 6, "{:?}", audit.body);
    assert!(denied.iter().all(|e| e["client"] == "203.0.113.9"), "{denied:?}");

    // RFC 7239 `Forwarded`, chosen in config: the same walk; X-Forwarded-For is then ignored.
    drop(c);
    let c = Cluster::start_with(
        3,
        "[auth]\ntrusted_proxies = [\"127.0.0.1\"]\nforwarded_header = \"forwarded\"\n",
    )
    .await;
    assert_eq!(c.put(0, path, json!({"value": "g"})).await.status, 200);
    let r = c
        .call(
            0,
            "POST",
            "/v1/agents",
            Some(json!({"name": "fenced", "scopes": scopes, "ip_allowlist": ["10.0.1.100/32"]})),
        )
        .await;
    let key = r.body["agent_key"].as_str().unwrap().to_string();
    let fwd = [("forwarded", "for=10.0.1.100;proto=https")];
    let t = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": scopes, "ttl": "1h"})),
            &fwd,
        )
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    let token = t.body["token"].as_str().unwrap().to_string();
    assert_eq!(c.send_as(1, Some(&token), "GET", &url, None, &fwd).await.body["value"], "g");
    let spoof = [("forwarded", "for=10.0.1.100"), ("forwarded", "for=\"203.0.113.9\"")];
    assert_eq!(
        c.send_as(1, Some(&token), "GET", &url, None, &spoof).await.code(),
        "ip_not_allowed"
    );
    let xff_only = [("x-forwarded-for", "10.0.1.100")];
    assert_eq!(
        c.send_as(2, Some(&token), "GET", &url, None, &xff_only).await.code(),
        "ip_not_allowed"
    );
}

/// Issue 14, item 6: one rule for an approval's status. The agent key only buys tokens; any
/// token of the requesting agent reads its own request with no extra scope; another agent's
/// token needs `approvals:decide`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_reads_its_own_approval_with_a_plain_token() {
    let c = Cluster::start(3).await;
    c.agent_token("you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    assert_eq!(
        c.put(0, STRIPE, json!({"value": "sk_live_xyz", "tier": "critical"})).await.status,
        200
    );
    let scopes = ["secrets:read:production/stripe/*"];
    let r = c
        .call(0, "POST", "/v1/agents", Some(json!({"name": "payment-service", "scopes": scopes})))
        .await;
    let key = r.body["agent_key"].as_str().unwrap().to_string();
    let first = c.token_of(&key, &scopes).await;
    let ask = as_token(&c, 1, &first, "GET", &format!("/v1/secrets/{STRIPE}"), None).await;
    let id = ask.body["approval_id"].as_str().expect("approval id").to_string();
    let url = format!("/v1/approvals/{id}");
    let raw = c.send_as(2, Some(&key), "GET", &url, None, &[]).await;
    assert_eq!((raw.status, raw.code()), (403, "agent_key_not_allowed".into()), "{:?}", raw.body);
    // Another token of the same agent, bought later, with only its read scope.
    let later = c.token_of(&key, &scopes).await;
    for node in 0..3 {
        let r = as_token(&c, node, &later, "GET", &url, None).await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some("pending")),
            "node {node}: {:?}",
            r.body
        );
    }
    let other = c.agent_token("inference-service", &["secrets:read:production/gemini/*"]).await;
    let r = as_token(&c, 0, &other, "GET", &url, None).await;
    assert_eq!((r.status, r.code()), (403, "scope_denied".into()), "{:?}", r.body);
}

/// Issue 14, item 4: after `agents revoke`, listings show what every node enforces: the
/// agent's tokens are not live, and lookups say revoked, when, and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_shows_in_every_token_listing() {
    let c = Cluster::start(3).await;
    let scopes = ["secrets:read:production/gemini/*"];
    let r = c
        .call(0, "POST", "/v1/agents", Some(json!({"name": "inference-service", "scopes": scopes})))
        .await;
    let key = r.body["agent_key"].as_str().unwrap().to_string();
    let t = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": scopes, "ttl": "1h"})),
            &[],
        )
        .await;
    let accessor = t.body["accessor"].as_str().unwrap().to_string();
    assert_eq!((t.body["state"].as_str(), t.body["revoked_at"].as_str()), (Some("live"), None));
    let live = c.get(1, "/v1/tokens").await;
    assert!(live.text.contains(&accessor), "{:?}", live.body);
    let rev = c.call(0, "POST", "/v1/agents/inference-service/revoke", None).await;
    assert_eq!(rev.status, 200, "{:?}", rev.body);
    let revoked_at = rev.body["revoked_at"].as_str().unwrap().to_string();
    for node in 0..3 {
        let live = c.get(node, "/v1/tokens").await;
        assert!(!live.text.contains(&accessor), "node {node} lists it as live: {:?}", live.body);
        let all = c.get(node, "/v1/tokens?all=true").await;
        let mine = all.body["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["accessor"] == accessor.as_str())
            .cloned()
            .expect("listed with all=true");
        assert_eq!(mine["state"], "revoked", "node {node}: {mine}");
        assert_eq!(mine["revoked_reason"], "agent revoked", "node {node}: {mine}");
        assert_eq!(mine["revoked_at"], revoked_at.as_str(), "node {node}: {mine}");
        assert_eq!(mine["ttl_remaining_secs"], 0, "node {node}: {mine}");
        let one = c.get(node, &format!("/v1/tokens/{accessor}")).await;
        assert_eq!(
            (one.body["state"].as_str(), one.body["revoked_reason"].as_str()),
            (Some("revoked"), Some("agent revoked"))
        );
    }
    let m = c.get(0, "/metrics").await;
    assert!(
        m.text.lines().any(|l| l.starts_with("ass_live_tokens") && l.ends_with(" 0")),
        "{}",
        m.text
    );
}

/// Issue 14, item 7: the leader sweeps dead tokens (revoked, expired, of a revoked agent)
/// out of the state machine once they are past the retention, on every node alike, and
/// counts them; live tokens stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_tokens_are_swept_from_every_node() {
    let c = Cluster::start_with(3, "[auth]\ndead_token_retention_ms = 1000\n").await;
    let scopes = ["secrets:read:dev/*"];
    let issue = |ttl: &'static str| {
        let c = &c;
        async move {
            let r =
                c.call(0, "POST", "/v1/tokens", Some(json!({"scopes": scopes, "ttl": ttl}))).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            (
                r.body["token"].as_str().unwrap().to_string(),
                r.body["accessor"].as_str().unwrap().to_string(),
            )
        }
    };
    let (_, revoked) = issue("1h").await;
    let (_, expiring) = issue("2s").await;
    let (live_token, live) = issue("1h").await;
    let r = c.call(1, "POST", &format!("/v1/tokens/{revoked}/revoke"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut gone = true;
        for node in 0..3 {
            let all = c.get(node, "/v1/tokens?all=true").await;
            gone &= !all.text.contains(&revoked) && !all.text.contains(&expiring);
            assert!(all.text.contains(&live), "node {node} lost a live token: {:?}", all.body);
        }
        if gone {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "dead tokens still listed after 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    for node in 0..3 {
        let r = c.get(node, &format!("/v1/tokens/{revoked}")).await;
        assert_eq!(r.status, 404, "node {node}: {:?}", r.body);
        let ok = c.send_as(node, Some(&live_token), "GET", "/v1/secrets/dev/x/K", None, &[]).await;
        assert_eq!(ok.code(), "not_found", "the live token still works: {:?}", ok.body);
    }
    let leader = c.leader_index().await;
    let m = c.get(leader, "/metrics").await;
    let swept: u64 = m
        .text
        .lines()
        .find(|l| l.starts_with("ass_tokens_swept_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("ass_tokens_swept_total on the leader");
    assert!(swept >= 2, "{swept}");
}

fn two_approver_policy() -> Value {
    json!({ "approval_policy": {
        "tiers": { "critical": { "required_approvals": 2, "timeout_hours": 24 } },
        "approvers": [ "you@company.com", "Security@Company.com" ] } })
}

async fn read_with_reason(c: &Cluster, node: usize, token: &str, reason: &str) -> Reply {
    let url = format!("/v1/secrets/{STRIPE}");
    c.send_as(node, Some(token), "GET", &url, None, &[("x-ass-reason", reason)]).await
}

/// Issue 14, item 8: a denial does not block the path for the request's whole timeout. A
/// plain re-read hears the denial; a read with a new reason opens a new request at once;
/// asking again and again is slowed (429 `approval_rate_limited`), never locked out for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_requester_may_ask_again_with_a_new_reason() {
    let c = Cluster::start(3).await;
    let you = c.agent_token("you@company.com", &["approvals:decide"]).await;
    assert_eq!(c.call(0, "PUT", "/v1/policy/approvals", Some(guide_policy())).await.status, 200);
    assert_eq!(c.put(0, STRIPE, json!({"value": "sk", "tier": "critical"})).await.status, 200);
    let payer = c.agent_token("payment-service", &["secrets:read:production/stripe/*"]).await;
    let mut id = read_with_reason(&c, 0, &payer, "payout 1").await.body["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 2..=(2 + 4) {
        let deny = c
            .send_as(
                1,
                Some(&you),
                "POST",
                &format!("/v1/approvals/{id}/deny"),
                Some(json!({})),
                &[],
            )
            .await;
        assert_eq!(deny.body["status"], "denied", "{:?}", deny.body);
        let same = read_with_reason(&c, 2, &payer, &format!("payout {}", n - 1)).await;
        assert_eq!(
            (same.code(), same.body["approval_id"].as_str()),
            ("approval_denied".into(), Some(id.as_str()))
        );
        let again = read_with_reason(&c, 0, &payer, &format!("payout {n}")).await;
        assert_eq!(
            (again.status, again.code()),
            (403, "approval_required".into()),
            "ask {n}: {:?}",
            again.body
        );
        let new_id = again.body["approval_id"].as_str().unwrap().to_string();
        assert_ne!(new_id, id, "a new request, not the denied one");
        let shown =
            c.send_as(1, Some(&you), "GET", &format!("/v1/approvals/{new_id}"), None, &[]).await;
        assert_eq!(
            (shown.body["status"].as_str(), shown.body["reason"].as_str()),
            (Some("pending"), Some(format!("payout {n}").as_str()))
        );
        id = new_id;
    }
    // The sixth re-request after denials within the hour, on the same node: slowed.
    let deny = c
        .send_as(1, Some(&you), "POST", &format!("/v1/approvals/{id}/deny"), Some(json!({})), &[])
        .await;
    assert_eq!(deny.status, 200);
    let limited = read_with_reason(&c, 0, &payer, "payout 99").await;
    assert_eq!(
        (limited.status, limited.code()),
        (429, "approval_rate_limited".into()),
        "{:?}",
        limited.body
    );
}

/// Issue 14, item 8: e-mail-like agent names are case-folded at creation and in the policy,
/// and a name differing only by case from an existing one is refused, so `BOB@X.COM` can't
/// pass the approver check for `bob@x.com`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approver_names_are_case_folded_and_never_near_reused() {
    let c = Cluster::start(3).await;
    let create = |name: &'static str| {
        let c = &c;
        async move {
            c.call(
                0,
                "POST",
                "/v1/agents",
                Some(json!({"name": name, "scopes": ["approvals:decide"]})),
            )
            .await
        }
    };
    let sec = create("Security@Company.com").await;
    assert_eq!(
        (sec.status, sec.body["agent"]["name"].as_str()),
        (200, Some("security@company.com")),
        "{:?}",
        sec.body
    );
    for twin in ["SECURITY@COMPANY.COM", "security@company.com"] {
        let r = create(twin).await;
        assert_eq!((r.status, r.code()), (409, "name_taken".into()), "{twin}: {:?}", r.body);
    }
    assert_eq!(create("inference-service").await.status, 200);
    let r = create("Inference-Service").await;
    assert_eq!((r.status, r.code()), (409, "name_taken".into()), "{:?}", r.body);
    // Looked up in any case.
    assert_eq!(c.get(1, "/v1/agents/SECURITY@company.com").await.status, 200);
    create("you@company.com").await;
    let p = c.call(0, "PUT", "/v1/policy/approvals", Some(two_approver_policy())).await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(
        p.body["approval_policy"]["approvers"],
        json!(["you@company.com", "security@company.com"])
    );
}

/// Issue 14, item 8: request ids are bound to the caller. Two approvers sending the same
/// `X-Ass-Request-Id` each make their own decision (before, the second got the first's answer
/// and her decision was dropped); the same approver retrying gets her first answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_bound_to_its_caller() {
    let c = Cluster::start(3).await;
    let you = c.agent_token("you@company.com", &["approvals:decide"]).await;
    let sec = c.agent_token("security@company.com", &["approvals:decide"]).await;
    assert_eq!(
        c.call(0, "PUT", "/v1/policy/approvals", Some(two_approver_policy())).await.status,
        200
    );
    assert_eq!(
        c.put(0, STRIPE, json!({"value": "sk_live_1", "tier": "critical"})).await.status,
        200
    );
    let payer = c.agent_token("payment-service", &["secrets:read:production/stripe/*"]).await;
    let id = read_with_reason(&c, 0, &payer, "payout").await.body["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("/v1/approvals/{id}/approve");
    let rid = [("x-ass-request-id", "approve-payout-1")];
    let first = c.send_as(1, Some(&you), "POST", &url, Some(json!({})), &rid).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let retry = c.send_as(2, Some(&you), "POST", &url, Some(json!({})), &rid).await;
    assert_eq!(
        (retry.status, retry.body["approvals"].as_array().map(Vec::len)),
        (200, Some(1)),
        "a retry is answered, not applied again: {:?}",
        retry.body
    );
    let second = c.send_as(0, Some(&sec), "POST", &url, Some(json!({})), &rid).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.body["status"], "approved", "{:?}", second.body);
    assert_eq!(second.body["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(read_with_reason(&c, 1, &payer, "payout").await.body["value"], "sk_live_1");
}

/// One raw HTTPS exchange (the bytes as sent, however malformed), and the answer's head and
/// body.
async fn raw_https(c: &Cluster, node: usize, request: Vec<u8>) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = ass_testkit::api::api_client_config(&c.ca_pem()).expect("CA");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let addr = format!("127.0.0.1:{}", c.dev.nodes[node].api_port());
    let tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    // The server may answer and close before it has read everything: ignore write errors.
    let writer = async {
        let _ = tls.write_all(&request).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), tls.read_to_end(&mut out))
            .await;
        out
    };
    let out = String::from_utf8_lossy(&writer.await).to_string();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_string(), body.to_string())
}

/// Issue 14, item 8: every refusal, including those made before routing, has the JSON error
/// shape and an audit event: a URI or headers over the node's limits, and what hyper itself
/// can't read (a URI over 64 KiB, a head over 1 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_json_errors_and_audit_events() {
    let c = Cluster::start(3).await;
    let get = |uri: String, header: usize| {
        let mut r =
            format!("GET {uri} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n").into_bytes();
        if header > 0 {
            r.extend_from_slice(b"x-big: ");
            r.extend(std::iter::repeat_n(b'a', header));
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"\r\n");
        r
    };
    let cases = [
        (get(format!("/v1/secrets/dev/x/{}", "a".repeat(20_000)), 0), 414, "uri_too_long"),
        (get(format!("/v1/secrets/dev/x/{}", "a".repeat(100_000)), 0), 414, "uri_too_long"),
        (get("/v1/secrets/dev/x/K".into(), 500_000), 431, "headers_too_large"),
        (get("/v1/secrets/dev/x/K".into(), 2_000_000), 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        let (head, body) = raw_https(&c, 1, request).await;
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{code}: {head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{code}: {e}: {body:?}"));
        assert_eq!(json["error"], code, "{json}");
    }
    // Each is in node 2's audit log, with its code.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let audit = c.call(0, "GET", "/v1/audit?limit=10000", None).await;
        let events = audit.body["events"].as_array().cloned().unwrap_or_default();
        let refused: Vec<(u64, String)> = events
            .iter()
            .filter(|e| {
                e["node"] == c.dev.nodes[1].id && (e["status"] == 414 || e["status"] == 431)
            })
            .map(|e| {
                (e["status"].as_u64().unwrap(), e["result"].as_str().unwrap_or("").to_string())
            })
            .collect();
        if refused.len() == 4 {
            assert_eq!(
                refused.iter().filter(|(s, r)| *s == 414 && r == "uri_too_long").count(),
                2,
                "{refused:?}"
            );
            assert_eq!(
                refused.iter().filter(|(s, r)| *s == 431 && r == "headers_too_large").count(),
                2,
                "{refused:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "refusals in the audit log: {refused:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Nothing oversized broke the node.
    assert_eq!(c.get(1, "/v1/sys/status").await.status, 200);
}
