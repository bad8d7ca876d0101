//! Agents, scoped tokens, TTLs, IP allowlists, namespaces, root token and brute-force rules,
//! on real node processes. Each test names the rule it proves.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Cluster, Reply};

/// Creates an agent as root and returns its key.
async fn create_agent(c: &Cluster, name: &str, scopes: &[&str], allowlist: &[&str]) -> String {
    let r = c
        .call(
            0,
            "POST",
            "/v1/agents",
            Some(json!({"name": name, "scopes": scopes, "ip_allowlist": allowlist})),
        )
        .await;
    assert_eq!(r.status, 200, "create agent {name}: {:?}", r.body);
    let key = r.body["agent_key"].as_str().expect("agent_key").to_string();
    assert!(key.starts_with("ass_") && key.len() >= 4 + 43, "agent key has ≥ 256 bits: {key}");
    key
}

/// Issues a token with `credential` as the bearer.
async fn issue(c: &Cluster, node: usize, credential: &str, body: Value) -> Reply {
    c.send_as(node, Some(credential), "POST", "/v1/tokens", Some(body), &[]).await
}

async fn token_for(c: &Cluster, credential: &str, scopes: &[&str], ttl: &str) -> String {
    let r = issue(c, 0, credential, json!({"scopes": scopes, "ttl": ttl})).await;
    assert_eq!(r.status, 200, "issue {scopes:?}: {:?}", r.body);
    r.body["token"].as_str().expect("token").to_string()
}

async fn get_as(c: &Cluster, node: usize, token: &str, path: &str) -> Reply {
    c.send_as(node, Some(token), "GET", path, None, &[]).await
}

/// One agent per service with minimum scope: its token reads its own secrets and nothing else;
/// the agent key itself only buys tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimum_scope_token_reads_only_what_it_names() {
    let c = Cluster::start(3).await;
    for (p, v) in
        [("production/gemini/GEMINI_API_KEY", "g"), ("production/stripe/STRIPE_SECRET_KEY", "s")]
    {
        assert_eq!(c.put(0, p, json!({"value": v})).await.status, 200);
    }
    let key = create_agent(
        &c,
        "inference-service",
        &[
            "secrets:read:production/gemini/*",
            "secrets:read:production/bedrock/*",
            "secrets:list:production/gemini/*",
        ],
        &[],
    )
    .await;
    // The agent key is not a token.
    let r = get_as(&c, 1, &key, "/v1/secrets/production/gemini/GEMINI_API_KEY").await;
    assert_eq!((r.status, r.code()), (403, "agent_key_not_allowed".into()));
    let token = token_for(
        &c,
        &key,
        &["secrets:read:production/gemini/*", "secrets:list:production/gemini/*"],
        "1h",
    )
    .await;
    assert!(token.starts_with("asst_"));
    for node in 0..3 {
        let r = get_as(&c, node, &token, "/v1/secrets/production/gemini/GEMINI_API_KEY").await;
        assert_eq!(r.body["value"], "g", "node {node}");
        let r = get_as(&c, node, &token, "/v1/secrets/production/stripe/STRIPE_SECRET_KEY").await;
        assert_eq!((r.status, r.code()), (403, "scope_denied".into()));
        assert!(r.body["message"]
            .as_str()
            .unwrap()
            .contains("secrets:read:production/stripe/STRIPE_SECRET_KEY"));
    }
    let w = c
        .send_as(
            1,
            Some(&token),
            "PUT",
            "/v1/secrets/production/gemini/GEMINI_API_KEY",
            Some(json!({"value": "x"})),
            &[],
        )
        .await;
    assert_eq!((w.status, w.code()), (403, "scope_denied".into()));
    let r = c.send_as(2, Some(&token), "GET", "/v1/agents", None, &[]).await;
    assert_eq!((r.status, r.code()), (403, "scope_denied".into()));
    // Lists are filtered by scope.
    let l = get_as(&c, 2, &token, "/v1/secrets?prefix=production/").await;
    let paths: Vec<&str> =
        l.body["secrets"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["production/gemini/GEMINI_API_KEY"]);
}

/// Scope containment, malformed scopes, TTL limits and break-glass are enforced at issue time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_outside_the_rules_are_refused() {
    let c = Cluster::start(3).await;
    let key = create_agent(&c, "payment-service", &["secrets:read:production/stripe/*"], &[]).await;
    let cases = [
        (json!({"scopes": ["secrets:read:production/*"], "ttl": "1h"}), 403, "scope_denied"),
        (
            json!({"scopes": ["secrets:write:production/stripe/*"], "ttl": "1h"}),
            403,
            "scope_denied",
        ),
        (json!({"scopes": ["secrets:read:*"], "ttl": "1h"}), 403, "scope_denied"),
        (json!({"scopes": ["agents:manage"], "ttl": "1h"}), 403, "scope_denied"),
        (
            json!({"scopes": ["secrets:peek:production/stripe/*"], "ttl": "1h"}),
            400,
            "invalid_scope",
        ),
        (json!({"scopes": ["secrets:read:production/*/KEY"], "ttl": "1h"}), 400, "invalid_scope"),
        (json!({"scopes": ["secrets:read:../x"], "ttl": "1h"}), 400, "invalid_scope"),
        (json!({"scopes": [], "ttl": "1h"}), 400, "invalid_scope"),
        (
            json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "25h"}),
            400,
            "ttl_too_long",
        ),
        (json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "0s"}), 400, "invalid_ttl"),
        (
            json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "forever"}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "1h", "ip_allowlist": ["10.0.0.0/33"]}),
            400,
            "invalid_allowlist",
        ),
        (
            json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "1h", "extra": 1}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let r = issue(&c, 1, &key, body.clone()).await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{body}: {:?}", r.body);
    }
    // The message names the offending scope.
    let r = issue(&c, 0, &key, json!({"scopes": ["secrets:read:production/*"], "ttl": "1h"})).await;
    assert!(r.body["message"].as_str().unwrap().contains("secrets:read:production/*"));
    // 24h is the maximum by default; break-glass needs the policy and a justification.
    assert_eq!(
        issue(&c, 0, &key, json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "24h"}))
            .await
            .status,
        200
    );
    let body = json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "48h", "justification": "incident 42"});
    assert_eq!(issue(&c, 0, &key, body.clone()).await.code(), "ttl_too_long");
    let p = c.call(2, "PUT", "/v1/policy/tokens", Some(json!({"max_ttl": "25h"}))).await;
    assert_eq!(p.code(), "ttl_too_long", "a policy can't lift the 24h rule");
    let p = c
        .call(
            2,
            "PUT",
            "/v1/policy/tokens",
            Some(json!({"max_ttl": "8h", "break_glass": true, "break_glass_max_ttl": "72h"})),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(
        issue(&c, 0, &key, json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "9h"}))
            .await
            .code(),
        "ttl_too_long"
    );
    let r = issue(&c, 1, &key, body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["break_glass"], true);
    assert_eq!(r.body["justification"], "incident 42");
}

/// A token scoped to `staging/*` never reads, lists or learns of `production/*` paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_token_learns_nothing_of_production() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "production/db/PRIMARY_URL", json!({"value": "prod"})).await.status, 200);
    assert_eq!(c.put(0, "staging/db/PRIMARY_URL", json!({"value": "stage"})).await.status, 200);
    let token = token_for(&c, &c.dev.root_token, &["secrets:*:staging/*"], "15m").await;
    assert_eq!(
        get_as(&c, 1, &token, "/v1/secrets/staging/db/PRIMARY_URL").await.body["value"],
        "stage"
    );
    let existing = get_as(&c, 1, &token, "/v1/secrets/production/db/PRIMARY_URL").await;
    let missing = get_as(&c, 1, &token, "/v1/secrets/production/db/NO_SUCH_KEY").await;
    assert_eq!(existing.status, 403);
    assert_eq!(existing.code(), missing.code(), "existence must not leak");
    for prefix in ["", "production/", "prod"] {
        let l = get_as(&c, 2, &token, &format!("/v1/secrets?prefix={prefix}")).await;
        assert!(!l.text.contains("production"), "prefix {prefix:?} leaked: {}", l.text);
    }
    let v = get_as(&c, 0, &token, "/v1/secrets/production/db/PRIMARY_URL/versions").await;
    assert_eq!(v.status, 403);
}

/// IP allowlists on agents and tokens; X-Forwarded-For counts only from a trusted proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_allowlists_are_enforced_and_forwarded_headers_need_a_trusted_proxy() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "production/x/K", json!({"value": "v"})).await.status, 200);
    let read = ["secrets:read:production/*"];
    // Agent fenced to 10.0.0.0/8: its key can't even buy a token from 127.0.0.1.
    let fenced = create_agent(&c, "fenced", &read, &["10.0.0.0/8"]).await;
    let r = issue(&c, 0, &fenced, json!({"scopes": read, "ttl": "1h"})).await;
    assert_eq!((r.status, r.code()), (403, "ip_not_allowed".into()));
    // An untrusted peer can't claim another address.
    let r = c
        .send_as(
            0,
            Some(&fenced),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": read, "ttl": "1h"})),
            &[("x-forwarded-for", "10.1.2.3")],
        )
        .await;
    assert_eq!(r.code(), "ip_not_allowed");
    // A token's allowlist must lie within its agent's.
    let open = create_agent(&c, "loopback-agent", &read, &["127.0.0.0/8", "::1/128"]).await;
    let r =
        issue(&c, 0, &open, json!({"scopes": read, "ttl": "1h", "ip_allowlist": ["10.0.0.0/8"]}))
            .await;
    assert_eq!((r.status, r.code()), (400, "invalid_allowlist".into()));
    // A token fenced to another address is useless from here, on every node.
    let r =
        issue(&c, 0, &open, json!({"scopes": read, "ttl": "1h", "ip_allowlist": ["127.0.0.2/32"]}))
            .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let fenced_token = r.body["token"].as_str().unwrap().to_string();
    for node in 0..3 {
        let r = get_as(&c, node, &fenced_token, "/v1/secrets/production/x/K").await;
        assert_eq!((r.status, r.code()), (403, "ip_not_allowed".into()), "node {node}");
    }
    let ok = token_for(&c, &open, &read, "1h").await;
    assert_eq!(get_as(&c, 1, &ok, "/v1/secrets/production/x/K").await.body["value"], "v");
}

/// With the load balancer's address in `trusted_proxies`, X-Forwarded-For is the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_may_name_the_client() {
    let c = Cluster::start_with(3, "[auth]\ntrusted_proxies = [\"127.0.0.1/32\"]\n").await;
    assert_eq!(c.put(0, "production/x/K", json!({"value": "v"})).await.status, 200);
    let read = ["secrets:read:production/*"];
    let key = create_agent(&c, "behind-lb", &read, &["10.1.2.3/32"]).await;
    let xff = [("x-forwarded-for", "10.1.2.3")];
    let r = c
        .send_as(
            1,
            Some(&key),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": read, "ttl": "1h"})),
            &xff,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    // Forwarded across nodes the client address is kept: a follower read and a write via a follower.
    for node in 0..3 {
        let r =
            c.send_as(node, Some(&token), "GET", "/v1/secrets/production/x/K", None, &xff).await;
        assert_eq!(r.body["value"], "v", "node {node}: {:?}", r.body);
        let r = c
            .send_as(
                node,
                Some(&token),
                "GET",
                "/v1/secrets/production/x/K",
                None,
                &[("x-forwarded-for", "10.9.9.9")],
            )
            .await;
        assert_eq!(r.code(), "ip_not_allowed");
    }
}

/// Revoking an agent kills its key and every token derived from it, on every node, for the
/// very next request after the revoke is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_agent_kills_its_tokens_everywhere_at_once() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "production/x/K", json!({"value": "v"})).await.status, 200);
    let key = create_agent(&c, "doomed", &["secrets:read:production/*"], &[]).await;
    let tokens: Vec<String> = futures_tokens(&c, &key, 3).await;
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(get_as(&c, i % 3, t, "/v1/secrets/production/x/K").await.status, 200);
    }
    let leader = c.leader_index().await;
    let r = c.call(leader, "POST", "/v1/agents/doomed/revoke", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["revoked_at"].is_string());
    // Right after the acknowledgement, on the followers first.
    for node in [(leader + 1) % 3, (leader + 2) % 3, leader] {
        for t in &tokens {
            let r = get_as(&c, node, t, "/v1/secrets/production/x/K").await;
            assert_eq!((r.status, r.code()), (401, "unauthorized".into()), "node {node}");
        }
        let r =
            issue(&c, node, &key, json!({"scopes": ["secrets:read:production/*"], "ttl": "1h"}))
                .await;
        assert_eq!(r.status, 401);
    }
    // The record stays for review; the key is never shown.
    let a = c.call(1, "GET", "/v1/agents/doomed", None).await;
    assert!(a.body["revoked_at"].is_string());
    assert!(!a.text.contains(&key));
}

async fn futures_tokens(c: &Cluster, key: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(token_for(c, key, &["secrets:read:production/*"], "1h").await);
    }
    out
}

/// Tokens expire by cluster time; lookup, list, refresh and revoke behave, and no listing
/// ever shows a token or key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifecycle_expiry_refresh_and_revoke() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "dev/x/K", json!({"value": "v"})).await.status, 200);
    let key = create_agent(&c, "worker", &["secrets:read:dev/*"], &[]).await;
    let short = token_for(&c, &key, &["secrets:read:dev/*"], "2s").await;
    let long = token_for(&c, &key, &["secrets:read:dev/*"], "1h").await;
    assert_eq!(get_as(&c, 1, &short, "/v1/secrets/dev/x/K").await.status, 200);
    let me = get_as(&c, 2, &long, "/v1/tokens/self").await;
    assert_eq!(me.body["agent_name"], "worker");
    assert!(me.body["ttl_remaining_secs"].as_u64().unwrap() > 3500);
    let accessor = me.body["accessor"].as_str().unwrap().to_string();
    // Refresh: a new token, same scopes, never the old one.
    let r = c.send_as(1, Some(&long), "POST", "/v1/tokens/refresh", None, &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let refreshed = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(refreshed, long);
    assert_eq!(r.body["scopes"], json!(["secrets:read:dev/*"]));
    assert_eq!(get_as(&c, 0, &refreshed, "/v1/secrets/dev/x/K").await.status, 200);
    // Listing shows accessors, never tokens.
    let l = c.call(0, "GET", "/v1/tokens", None).await;
    assert!(l.text.contains(&accessor));
    for secret in [&short, &long, &refreshed, &key] {
        assert!(!l.text.contains(secret.as_str()));
    }
    // Revoke by accessor: dead everywhere.
    let r = c.call(1, "POST", &format!("/v1/tokens/{accessor}/revoke"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for node in 0..3 {
        assert_eq!(get_as(&c, node, &long, "/v1/secrets/dev/x/K").await.status, 401);
    }
    // Expired: the same answer as unknown and revoked.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = get_as(&c, 2, &short, "/v1/secrets/dev/x/K").await;
    let unknown = get_as(&c, 2, "asst_not-a-real-token", "/v1/secrets/dev/x/K").await;
    let revoked = get_as(&c, 2, &long, "/v1/secrets/dev/x/K").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.text, unknown.text);
    assert_eq!(expired.text, revoked.text);
}

/// A node whose wall clock runs an hour behind still ends tokens on time: expiry is judged
/// by leader time carried in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_slow_clock_cannot_extend_a_token() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let slow = (leader + 1) % 3;
    c.dev.nodes[slow].launch =
        ass_testkit::Launch::wrapper(vec!["faketime".into(), "-f".into(), "-1h".into()]);
    c.dev.restart(slow).await.expect("restart under faketime (is the faketime package installed?)");
    assert_eq!(c.put(leader, "dev/clock/K", json!({"value": "v"})).await.status, 200);
    let token = token_for(&c, &c.dev.root_token, &["secrets:read:dev/*"], "3s").await;
    let r = get_as(&c, slow, &token, "/v1/secrets/dev/clock/K").await;
    assert_eq!(r.status, 200, "a live token works on the slow node: {:?}", r.body);
    let deadline = Instant::now() + Duration::from_secs(3500);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = get_as(&c, slow, &token, "/v1/secrets/dev/clock/K").await;
    assert_eq!(r.status, 401, "the slow node must not extend the token: {:?}", r.body);
    let r = c
        .send_as(
            slow,
            Some(&token),
            "GET",
            "/v1/secrets/dev/clock/K",
            None,
            &[("x-ass-consistency", "stale")],
        )
        .await;
    assert_eq!(r.status, 401, "nor on a stale read");
    assert!(Instant::now() < deadline);
}

/// The root token can be revoked after setup, and a new one made only with unseal key shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_token_revoke_and_generate_root() {
    let c = Cluster::start(3).await;
    let admin = token_for(&c, &c.dev.root_token, &["sys:operator", "agents:manage"], "1h").await;
    let r = c.send_as(1, Some(&admin), "POST", "/v1/sys/root/revoke", None, &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for node in 0..3 {
        assert_eq!(
            c.call(node, "GET", "/v1/agents", None).await.status,
            401,
            "old root dead on node {node}"
        );
    }
    let keys = c.dev.unseal_keys.clone();
    let r = c
        .send_as(2, None, "POST", "/v1/sys/generate-root", Some(json!({"key": keys[0]})), &[])
        .await;
    assert_eq!(r.body["progress"], 1);
    let r = c
        .send_as(2, None, "POST", "/v1/sys/generate-root", Some(json!({"key": "AAAA"})), &[])
        .await;
    assert_eq!(r.code(), "invalid_share");
    c.send_as(2, None, "POST", "/v1/sys/generate-root", Some(json!({"key": keys[1]})), &[]).await;
    let r = c
        .send_as(2, None, "POST", "/v1/sys/generate-root", Some(json!({"key": keys[4]})), &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new_root = r.body["root_token"].as_str().expect("a new root token").to_string();
    assert!(new_root.starts_with("assr_"));
    for node in 0..3 {
        let r = c.send_as(node, Some(&new_root), "GET", "/v1/agents", None, &[]).await;
        assert_eq!(r.status, 200, "new root on node {node}");
    }
}

/// Failed authentications are rate-limited per client address; a valid credential from that
/// address is never refused by the limiter (issue 14, item 5: one broken agent behind a
/// shared address must not lock out the fleet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_credentials_never_locks_out_a_good_one() {
    let c = Cluster::start(3).await;
    let mut limited = None;
    for i in 0..40 {
        let r = get_as(&c, 1, &format!("asst_guess-{i}"), "/v1/secrets/dev/x/K").await;
        if r.status == 429 {
            limited = Some((i, r.code()));
            break;
        }
        assert_eq!(r.status, 401);
    }
    let (after, code) = limited.expect("rate limited within 40 failures");
    assert_eq!(code, "rate_limited");
    assert!(after >= 10, "not before the configured allowance: {after}");
    // The right credentials still work from that address on that node: root, and an agent's
    // key and token; failures keep getting 429.
    assert_eq!(c.call(1, "GET", "/v1/secrets?prefix=", None).await.status, 200);
    let key = create_agent(&c, "good-agent", &["secrets:read:dev/*"], &[]).await;
    let token = token_for(&c, &key, &["secrets:read:dev/*"], "1h").await;
    let r = get_as(&c, 1, &token, "/v1/secrets/dev/x/K").await;
    assert_eq!((r.status, r.code()), (404, "not_found".into()), "{:?}", r.body);
    let again = get_as(&c, 1, "asst_guess-again", "/v1/secrets/dev/x/K").await;
    assert_eq!((again.status, again.code()), (429, "rate_limited".into()));
    assert_eq!(get_as(&c, 0, "asst_guess-elsewhere", "/v1/secrets/dev/x/K").await.status, 401);
}

/// A token with `tokens:manage` issues narrower child tokens that never outlive it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_tokens_stay_within_their_parent() {
    let c = Cluster::start(3).await;
    let parent =
        token_for(&c, &c.dev.root_token, &["tokens:manage", "secrets:read:production/*"], "1h")
            .await;
    let r = issue(
        &c,
        1,
        &parent,
        json!({"scopes": ["secrets:read:production/gemini/*"], "ttl": "24h"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(
        r.body["ttl_remaining_secs"].as_u64().unwrap() <= 3600,
        "capped by the parent's expiry"
    );
    let child = r.body["token"].as_str().unwrap().to_string();
    let r =
        issue(&c, 1, &parent, json!({"scopes": ["secrets:write:production/*"], "ttl": "1h"})).await;
    assert_eq!(r.code(), "scope_denied");
    let no_manage = token_for(&c, &c.dev.root_token, &["secrets:read:production/*"], "1h").await;
    let r = issue(&c, 1, &no_manage, json!({"scopes": ["secrets:read:production/*"], "ttl": "1h"}))
        .await;
    assert_eq!(r.code(), "scope_denied");
    // Revoking the parent kills the child.
    let accessor = get_as(&c, 0, &parent, "/v1/tokens/self").await.body["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(c.call(0, "POST", &format!("/v1/tokens/{accessor}/revoke"), None).await.status, 200);
    assert_eq!(get_as(&c, 2, &child, "/v1/tokens/self").await.status, 401);
}

/// Managing agents grants no power beyond one's own scopes; a child token asked without an
/// allowlist inherits its issuing token's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegation_never_widens_power() {
    let c = Cluster::start(3).await;
    let manager =
        token_for(&c, &c.dev.root_token, &["agents:manage", "secrets:read:staging/*"], "1h").await;
    let r = c
        .send_as(
            1,
            Some(&manager),
            "POST",
            "/v1/agents",
            Some(json!({"name": "wide", "scopes": ["secrets:read:production/*"]})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "scope_denied".into()), "{:?}", r.body);
    let r = c
        .send_as(
            1,
            Some(&manager),
            "POST",
            "/v1/agents",
            Some(json!({"name": "narrow", "scopes": ["secrets:read:staging/app/*"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.headers.contains_key("x-ass-index"), "credential answers carry the commit index");
    create_agent(&c, "prod-reader", &["secrets:read:production/*"], &[]).await;
    let r =
        c.send_as(2, Some(&manager), "POST", "/v1/agents/prod-reader/rotate-key", None, &[]).await;
    assert_eq!(r.code(), "scope_denied", "no taking the key of a wider agent");
    // Inherited allowlist.
    let r = issue(&c, 0, &c.dev.root_token, json!({"scopes": ["tokens:manage", "secrets:read:dev/*"], "ttl": "1h", "ip_allowlist": ["127.0.0.0/8"]})).await;
    let parent = r.body["token"].as_str().unwrap().to_string();
    let r = issue(&c, 0, &parent, json!({"scopes": ["secrets:read:dev/*"], "ttl": "1h"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ip_allowlist"], json!(["127.0.0.0/8"]));
}

/// The token policy reads back in hours, as users write it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_policy_reads_in_hours() {
    let c = Cluster::start(3).await;
    let p = c.call(0, "GET", "/v1/policy/tokens", None).await;
    assert_eq!(
        (p.body["max_ttl"].as_str(), p.body["break_glass_max_ttl"].as_str()),
        (Some("24h"), Some("72h"))
    );
    let key = create_agent(&c, "x", &["secrets:read:dev/*"], &[]).await;
    let r = issue(&c, 0, &key, json!({"scopes": ["secrets:read:dev/*"], "ttl": "25h"})).await;
    assert!(
        r.body["message"].as_str().unwrap().contains("25h") && r.text.contains("24h"),
        "{}",
        r.text
    );
}

/// Reads `path` with `token` on `node` at the given consistency (`None`: the default).
async fn read_at(c: &Cluster, node: usize, token: &str, stale: bool) -> u16 {
    let headers: &[(&str, &str)] = if stale { &[("x-ass-consistency", "stale")] } else { &[] };
    c.send_as(node, Some(token), "GET", "/v1/secrets/production/x/K", None, headers).await.status
}

/// The auth cache (credential → resolved identity) never outlives what would have refused the
/// credential: with every credential warm in every node's cache, a revoked token, a token
/// under a revoked parent and the tokens of a revoked agent are refused on every node by the
/// very next default read; stale reads catch up; expiry is judged per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_credentials_die_with_revoke_and_expiry_on_every_node() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "production/x/K", json!({"value": "v"})).await.status, 200);
    let key =
        create_agent(&c, "cached", &["secrets:read:production/*", "tokens:manage"], &[]).await;
    let scopes = ["secrets:read:production/*"];
    let revoked = token_for(&c, &key, &scopes, "1h").await;
    let parent = token_for(&c, &key, &["secrets:read:production/*", "tokens:manage"], "1h").await;
    let r = issue(&c, 0, &parent, json!({"scopes": scopes, "ttl": "1h"})).await;
    assert_eq!(r.status, 200, "child token: {:?}", r.body);
    let child = r.body["token"].as_str().unwrap().to_string();
    let short = token_for(&c, &key, &scopes, "3s").await;
    let other = token_for(&c, &key, &scopes, "1h").await;
    // Warm every node's cache with every credential, both consistencies, more than once.
    for _ in 0..2 {
        for node in 0..3 {
            for t in [&revoked, &parent, &child, &short, &other] {
                for stale in [false, true] {
                    assert_eq!(read_at(&c, node, t, stale).await, 200, "warm {node}");
                }
            }
        }
    }
    let leader = c.leader_index().await;
    let accessor_of = |t: &str| {
        let t = t.to_string();
        let c = &c;
        async move {
            let me = get_as(c, 0, &t, "/v1/tokens/self").await;
            me.body["accessor"].as_str().unwrap().to_string()
        }
    };
    // Revoke one token, then a parent: refused at once on every node, followers first.
    for (victim, dead) in [(&revoked, vec![&revoked]), (&parent, vec![&parent, &child])] {
        let accessor = accessor_of(victim).await;
        let r = c.call(leader, "POST", &format!("/v1/tokens/{accessor}/revoke"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for node in [(leader + 1) % 3, (leader + 2) % 3, leader] {
            for t in &dead {
                assert_eq!(read_at(&c, node, t, false).await, 401, "node {node}");
            }
            assert_eq!(read_at(&c, node, &other, false).await, 200, "others live on {node}");
        }
    }
    // Stale reads judge on local state: refused once the revoke is applied there.
    for node in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(5);
        while read_at(&c, node, &child, true).await != 401 {
            assert!(
                Instant::now() < deadline,
                "stale read on {node} still accepts a revoked token"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Expiry is checked on every request, cached or not, stale or not.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for node in 0..3 {
        for stale in [false, true] {
            assert_eq!(read_at(&c, node, &short, stale).await, 401, "expired on {node}");
        }
    }
    // Revoking the agent kills its remaining warm token everywhere.
    let r = c.call(leader, "POST", "/v1/agents/cached/revoke", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    for node in [(leader + 1) % 3, (leader + 2) % 3, leader] {
        assert_eq!(read_at(&c, node, &other, false).await, 401, "agent revoked, node {node}");
    }
}

/// Secret writes skip the read-index round on a ready leader (`Node::leader_ready`): a token
/// revoked and acknowledged just before must still be refused for writes and deletes through
/// every node, on the same leader and right after leadership moved (the new leader judges
/// with a revoke committed in the previous term).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_a_just_revoked_token_is_refused_even_right_after_a_leader_change() {
    let c = Cluster::start(3).await;
    let key = create_agent(
        &c,
        "writer",
        &["secrets:read:dev/*", "secrets:write:dev/*", "secrets:delete:dev/*"],
        &[],
    )
    .await;
    let scopes = ["secrets:write:dev/*", "secrets:delete:dev/*"];
    let write_as = |node: usize, token: String, n: u32| {
        let c = &c;
        async move {
            c.send_as(
                node,
                Some(&token),
                "PUT",
                &format!("/v1/secrets/dev/w/K{n}"),
                Some(json!({"value": "v"})),
                &[],
            )
            .await
            .status
        }
    };
    for round in 0..2u32 {
        let token = token_for(&c, &key, &scopes, "1h").await;
        // Works through every node first (followers forward to the leader).
        for node in 0..3 {
            assert_eq!(write_as(node, token.clone(), round * 10 + node as u32).await, 200);
        }
        let leader = c.leader_index().await;
        let me = c.send_as(leader, Some(&token), "GET", "/v1/tokens/self", None, &[]).await;
        assert_eq!(me.status, 200, "{:?}", me.body);
        let accessor = me.body["accessor"].as_str().unwrap().to_string();
        if round == 1 {
            // Move leadership first: the revoke below is then committed by the new leader,
            // and the write right after it lands on a leader of the newest term.
            let r = c.call(leader, "POST", "/v1/sys/step-down", None).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let r = c.call(0, "POST", &format!("/v1/tokens/{accessor}/revoke"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for node in [1, 2, 0] {
            assert_eq!(write_as(node, token.clone(), 100 + node as u32).await, 401, "node {node}");
            let d =
                c.send_as(node, Some(&token), "DELETE", "/v1/secrets/dev/w/K0", None, &[]).await;
            assert_eq!(d.status, 401, "delete through node {node}: {:?}", d.body);
        }
        // The token that was not revoked still writes.
        let fresh = token_for(&c, &key, &scopes, "1h").await;
        assert_eq!(write_as(0, fresh, 200 + round).await, 200);
    }
    let r = c.get(0, "/v1/secrets/dev/w/K100").await;
    assert_eq!(r.status, 404, "no write with a revoked token landed: {:?}", r.body);
}
