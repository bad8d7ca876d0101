//! Issue 19: `GET /v1/sys/doctor` grades a cluster built to fail each check, and passes it
//! once fixed; suppressions replicate; explain and rightsize answer from state and a known
//! audit history.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::Cluster;

const OLD: &str = "staging/web/SESSION_KEY";
const STRIPE: &str = "production/stripe/STRIPE_KEY";

/// Issues a token with the root token; answers (token, accessor).
async fn root_token(c: &Cluster, body: Value) -> (String, String) {
    let r = c.call(0, "POST", "/v1/tokens", Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (r.body["token"].as_str().unwrap().into(), r.body["accessor"].as_str().unwrap().into())
}

/// Creates an agent; answers its key.
async fn agent(c: &Cluster, name: &str, scopes: &[&str], allow: &[&str]) -> String {
    let body = json!({"name": name, "scopes": scopes, "ip_allowlist": allow});
    let r = c.call(0, "POST", "/v1/agents", Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["agent_key"].as_str().unwrap().into()
}

async fn doctor(c: &Cluster, node: usize, query: &str) -> Value {
    let r = c.call(node, "GET", &format!("/v1/sys/doctor{query}"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// Finding id → severity of the findings that count (not ignored).
fn counting(report: &Value) -> BTreeMap<String, String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ignored"].is_null())
        .map(|f| (f["id"].as_str().unwrap().into(), f["severity"].as_str().unwrap().into()))
        .collect()
}

fn grade_of(report: &Value, check: &str) -> String {
    let c = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).unwrap();
    c["grade"].as_str().unwrap().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_exactly_the_broken_practices_and_passes_once_fixed() {
    let c = Cluster::start(3).await;
    // The old secret first: its age is what --older-than is set against.
    assert_eq!(c.put(0, OLD, json!({"value": "s1"})).await.status, 200);
    let written = Instant::now();
    // A critical tier whose approver does not exist.
    let policy = json!({"approval_policy": {
        "tiers": {"sensitive": {"required_approvals": 1}, "critical": {"required_approvals": 1}},
        "approvers": ["approver@example.com"]}});
    let r = c.call(1, "PUT", "/v1/policy/approvals", Some(policy.clone())).await;
    assert_eq!((r.status, r.code()), (400, "unknown_approver".into()), "{:?}", r.body);
    let r =
        c.call(1, "PUT", "/v1/policy/approvals?allow_unknown_approvers=true", Some(policy)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A broad 24 h token (allowlisted, so only its scope and TTL are wrong) and a
    // production token with no allowlist.
    let (_, broad) = root_token(
        &c,
        json!({"scopes": ["secrets:read:*"], "ttl": "24h", "ip_allowlist": ["127.0.0.1/32"]}),
    )
    .await;
    let (_, open) =
        root_token(&c, json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "1h"})).await;
    // A shared agent (two services) and a cross-namespace one.
    let allow = ["127.0.0.1/32"];
    agent(
        &c,
        "shared-svc",
        &["secrets:read:production/stripe/*", "secrets:read:production/gemini/*"],
        &allow,
    )
    .await;
    agent(
        &c,
        "deploy-bot",
        &["secrets:read:production/web/*", "secrets:read:staging/web/*"],
        &allow,
    )
    .await;
    // Make the old secret older than the threshold and everything else younger.
    let threshold = Duration::from_secs(3);
    if let Some(wait) = (threshold * 2).checked_sub(written.elapsed()) {
        tokio::time::sleep(wait).await;
    }
    assert_eq!(c.put(0, STRIPE, json!({"value": "sk_live", "tier": "critical"})).await.status, 200);
    let q = "?older_than=3s";
    let report = doctor(&c, 1, q).await;
    let expected: BTreeMap<String, String> = [
        (format!("scope.all_paths:token:{broad}"), "fail"),
        (format!("ttl.over_8h:{broad}"), "warn"),
        ("approvals.no_approver:critical".into(), "fail"),
        ("approvals.no_approver:sensitive".into(), "warn"),
        (format!("allowlist.missing:token:{open}"), "fail"),
        ("audit.no_reader".into(), "warn"),
        (format!("rotation.stale:{OLD}"), "fail"),
        ("agent.multi_service:shared-svc".into(), "fail"),
        ("agent.multi_namespace:deploy-bot".into(), "warn"),
        ("namespace.cross_prod:deploy-bot".into(), "fail"),
        ("deploy.backup_old".into(), "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    assert_eq!(counting(&report), expected, "{report:#}");
    assert_eq!(report["grade"], "fail");
    for (check, grade) in [
        ("1", "fail"),
        ("2", "warn"),
        ("3", "fail"),
        ("4", "fail"),
        ("5", "warn"),
        ("6", "fail"),
        ("7", "fail"),
        ("8", "fail"),
        ("9", "pass"),
        ("deployment", "warn"),
    ] {
        assert_eq!(grade_of(&report, check), grade, "check {check}: {report:#}");
    }
    let stale = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == format!("rotation.stale:{OLD}"))
        .unwrap()
        .clone();
    assert!(stale["fix"].as_str().unwrap().starts_with(&format!("ass secrets set {OLD}")));
    // The stale list agrees.
    let r = c.call(2, "GET", "/v1/sys/doctor/stale?older_than=3s", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let paths: Vec<&str> =
        r.body["secrets"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&OLD), "{:?}", r.body);

    // A suppression: replicated (judged on another node), audited, reversible; a reason is
    // required.
    let r =
        c.call(0, "POST", "/v1/sys/doctor/ignore", Some(json!({"id": "audit.no_reader"}))).await;
    assert_eq!((r.status, r.code()), (400, "bad_request".into()), "{:?}", r.body);
    let r = c
        .call(
            0,
            "POST",
            "/v1/sys/doctor/ignore",
            Some(json!({"id": "audit.no_reader", "reason": "new cluster, review starts Monday"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let index = r.body["index"].as_u64().unwrap();
    c.wait_applied(2, index).await;
    let report = doctor(&c, 2, q).await;
    assert_eq!(grade_of(&report, "5"), "pass", "{report:#}");
    let ignored = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "audit.no_reader")
        .unwrap()
        .clone();
    assert_eq!(ignored["ignored"]["reason"], "new cluster, review starts Monday");
    assert_eq!(ignored["ignored"]["by"], "root");
    let r = c
        .call(
            0,
            "POST",
            "/v1/sys/doctor/ignore",
            Some(json!({"id": "audit.no_reader", "remove": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = c
        .call(
            0,
            "POST",
            "/v1/sys/doctor/ignore",
            Some(json!({"id": "audit.no_reader", "remove": true})),
        )
        .await;
    assert_eq!(r.status, 404, "lifting what is not set: {:?}", r.body);
    // Scope: an agent-derived token without audit:read or sys:operator is refused.
    let key = agent(&c, "web-staging", &["secrets:read:staging/web/*"], &[]).await;
    let r = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": ["secrets:read:staging/web/*"], "ttl": "1h"})),
            &[],
        )
        .await;
    let weak = r.body["token"].as_str().unwrap().to_string();
    let r = c.send_as(0, Some(&weak), "GET", "/v1/sys/doctor", None, &[]).await;
    assert_eq!((r.status, r.code()), (403, "scope_denied".into()), "{:?}", r.body);
    let r = c.call(0, "GET", "/v1/sys/doctor?since=yesterday", None).await;
    assert_eq!((r.status, r.code()), (400, "bad_request".into()), "{:?}", r.body);

    // The fixes, one per finding.
    for acc in [&broad, &open] {
        let r = c.call(0, "POST", &format!("/v1/tokens/{acc}/revoke"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    root_token(
        &c,
        json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "1h", "ip_allowlist": allow}),
    )
    .await;
    agent(&c, "approver@example.com", &["approvals:decide"], &[]).await;
    for name in ["shared-svc", "deploy-bot"] {
        let r = c.call(0, "POST", &format!("/v1/agents/{name}/revoke"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    agent(&c, "stripe-svc", &["secrets:read:production/stripe/*"], &allow).await;
    agent(&c, "gemini-svc", &["secrets:read:production/gemini/*"], &allow).await;
    agent(&c, "web-prod", &["secrets:read:production/web/*"], &allow).await;
    let r = c.call(1, "GET", "/v1/audit?limit=5", None).await;
    assert_eq!(r.status, 200, "an audit review: {:?}", r.body);
    let r = c.call(1, "GET", "/v1/sys/snapshot", None).await;
    assert_eq!(r.status, 200, "a backup: {}", r.text.chars().take(200).collect::<String>());
    assert_eq!(c.put(0, OLD, json!({"value": "s2"})).await.status, 200);
    assert_eq!(c.put(0, STRIPE, json!({"value": "sk_live_2"})).await.status, 200);
    let report = doctor(&c, 1, q).await;
    assert_eq!(counting(&report), BTreeMap::new(), "{report:#}");
    assert_eq!(report["grade"], "pass");
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["grade"] == "pass"));
    // A sealed member is the deployment's failure, seen from another node.
    let leader = c.leader_index().await;
    let follower = (leader + 1) % 3;
    let sealed_id = c.status(follower).await.node_id;
    let r = c.call(follower, "POST", "/v1/sys/seal", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let report = doctor(&c, leader, q).await;
    let want: BTreeMap<String, String> =
        [(format!("deploy.sealed:{sealed_id}"), "fail".to_string())].into_iter().collect();
    assert_eq!(counting(&report), want, "{report:#}");
    // The suppression and its removal are in the audit log.
    let r = c.call(leader, "GET", "/v1/audit?action=sys.doctor.ignore", None).await;
    let events = r.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "two refused, one set, one lifted (the 404 too): {:?}", r.body);
}

/// Explain names the granting scope or the reason; rightsize counts what the audit log
/// shows the agent did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_rightsize_answer_from_state_and_audit_history() {
    let c = Cluster::start(1).await;
    for (path, tier) in [(OLD, "standard"), ("staging/web/OTHER", "standard"), (STRIPE, "critical")]
    {
        assert_eq!(c.put(0, path, json!({"value": "v", "tier": tier})).await.status, 200);
    }
    let key = agent(
        &c,
        "reader-svc",
        &[
            "secrets:read:staging/web/*",
            "secrets:write:staging/web/*",
            "secrets:list:staging/web/*",
            "secrets:read:production/stripe/*",
        ],
        &["127.0.0.1/32"],
    )
    .await;
    let r = c
        .send_as(
            0,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": ["secrets:read:staging/web/*"], "ttl": "1h"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let accessor = r.body["accessor"].as_str().unwrap().to_string();
    // The known history: three reads of two paths, one refused write.
    for path in [OLD, OLD, "staging/web/OTHER"] {
        let r = c.send_as(0, Some(&token), "GET", &format!("/v1/secrets/{path}"), None, &[]).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let r = c
        .send_as(
            0,
            Some(&token),
            "PUT",
            &format!("/v1/secrets/{OLD}"),
            Some(json!({"value": "x"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c.call(0, "GET", "/v1/sys/doctor/rightsize?agent=reader-svc&since=1h", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let b = &r.body;
    assert_eq!(b["suggested"], json!(["secrets:read:staging/web/*"]), "{b:#}");
    assert_eq!(
        b["unused"],
        json!([
            "secrets:write:staging/web/*",
            "secrets:list:staging/web/*",
            "secrets:read:production/stripe/*"
        ]),
        "{b:#}"
    );
    assert_eq!(b["held"][0], json!({"scope": "secrets:read:staging/web/*", "uses": 3}), "{b:#}");
    let used: Vec<(String, u64)> = b["used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["needs"].as_str().unwrap().into(), u["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        used,
        [("secrets:read:staging/web/OTHER".to_string(), 1), (format!("secrets:read:{OLD}"), 2)]
    );
    let r = c.call(0, "GET", "/v1/sys/doctor/rightsize?agent=nobody", None).await;
    assert_eq!((r.status, r.code()), (404, "not_found".into()));

    let explain = |q: String| {
        let c = &c;
        async move {
            let r = c.call(0, "GET", &format!("/v1/sys/doctor/explain?{q}"), None).await;
            assert_eq!(r.status, 200, "{q}: {:?}", r.body);
            r.body
        }
    };
    let e = explain(format!("agent=reader-svc&path={OLD}")).await;
    assert_eq!(
        (e["decision"].as_str(), e["granted_by"].as_str()),
        (Some("allowed"), Some("secrets:read:staging/web/*")),
        "{e:#}"
    );
    assert_eq!(e["reasons"][0]["code"], "ip_restricted");
    let e = explain(format!("agent=reader-svc&path={STRIPE}&ip=127.0.0.1")).await;
    assert_eq!(e["decision"], "needs_approval", "{e:#}");
    assert_eq!(e["reasons"][0]["code"], "approval_required");
    let e = explain(format!("agent=reader-svc&path={OLD}&ip=10.1.1.1")).await;
    assert_eq!(
        (e["decision"].as_str(), e["reasons"][0]["code"].as_str()),
        (Some("denied"), Some("ip_not_allowed")),
        "{e:#}"
    );
    let e = explain("agent=reader-svc&path=dev/web/KEY".into()).await;
    assert_eq!(e["reasons"][0]["code"], "namespace", "{e:#}");
    let e = explain(format!("accessor={accessor}&path={OLD}&action=write")).await;
    assert_eq!(
        (e["decision"].as_str(), e["reasons"][0]["code"].as_str()),
        (Some("denied"), Some("action")),
        "{e:#}"
    );
    let e = explain(format!("accessor={accessor}&path=staging/api/KEY")).await;
    assert_eq!(e["reasons"][0]["code"], "no_scope_matches", "{e:#}");
    let r = c.call(0, "POST", &format!("/v1/tokens/{accessor}/revoke"), None).await;
    assert_eq!(r.status, 200);
    let e = explain(format!("accessor={accessor}&path={OLD}")).await;
    assert_eq!(
        (e["decision"].as_str(), e["reasons"][0]["code"].as_str()),
        (Some("denied"), Some("credential_dead")),
        "{e:#}"
    );
    for bad in [
        "path=staging/web/K",
        "agent=reader-svc",
        "agent=reader-svc&path=a/b&action=peek",
        "agent=reader-svc&path=a/b&ip=nope",
    ] {
        let r = c.call(0, "GET", &format!("/v1/sys/doctor/explain?{bad}"), None).await;
        assert_eq!((r.status, r.code()), (400, "bad_request".into()), "{bad}: {:?}", r.body);
    }
}

/// A secret written 100 days ago and an agent key never rotated since: a node restarted with
/// a clock 100 days ahead (faketime) grades them with the default thresholds (90 days), and
/// rewriting the secret and rotating the key clear them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_day_old_secret_and_agent_key_are_flagged_by_default() {
    let mut c = Cluster::start(1).await;
    assert_eq!(c.put(0, OLD, json!({"value": "s1"})).await.status, 200);
    agent(&c, "web-staging", &["secrets:read:staging/web/*"], &[]).await;
    let fresh = doctor(&c, 0, "").await;
    assert!(
        !counting(&fresh)
            .keys()
            .any(|k| k.starts_with("rotation.") || k.starts_with("agent.key_age")),
        "{fresh:#}"
    );
    c.dev.nodes[0].launch =
        ass_testkit::Launch::wrapper(vec!["faketime".into(), "-f".into(), "+100d".into()]);
    c.dev.restart(0).await.expect("restart under faketime (is the faketime package installed?)");
    let report = doctor(&c, 0, "").await;
    let found = counting(&report);
    assert_eq!(
        found.get(&format!("rotation.stale:{OLD}")).map(String::as_str),
        Some("fail"),
        "{report:#}"
    );
    assert_eq!(
        found.get("agent.key_age:web-staging").map(String::as_str),
        Some("warn"),
        "{report:#}"
    );
    let msg = |id: String| {
        report["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // 100 days ahead, less the seconds between the write and the restart.
    let m = msg(format!("rotation.stale:{OLD}"));
    assert!(m.contains("is 99 days old") || m.contains("is 100 days old"), "{m}");
    let m = msg("agent.key_age:web-staging".into());
    assert!(m.contains("never rotated since it was created"), "{m}");
    let r = c.call(0, "GET", "/v1/sys/doctor/stale", None).await;
    assert_eq!(r.body["secrets"][0]["path"], OLD, "{:?}", r.body);
    let age = r.body["secrets"][0]["age_days"].as_u64().unwrap();
    assert!((99..=100).contains(&age), "{:?}", r.body);
    // A longer threshold accepts them; the fixes clear them.
    let report = doctor(&c, 0, "?older_than=180d&key_max_age=180d").await;
    assert!(!counting(&report)
        .keys()
        .any(|k| k.starts_with("rotation.") || k.starts_with("agent.key_age")));
    assert_eq!(c.put(0, OLD, json!({"value": "s2"})).await.status, 200);
    let r = c.call(0, "POST", "/v1/agents/web-staging/rotate-key", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let report = doctor(&c, 0, "").await;
    assert!(
        !counting(&report)
            .keys()
            .any(|k| k.starts_with("rotation.") || k.starts_with("agent.key_age")),
        "{report:#}"
    );
}
