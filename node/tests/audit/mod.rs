//! The audit log on real node processes: one event per request with the right fields, no
//! secret or credential in the store or the export, fail-closed, tamper evidence, a live
//! tail across a leader kill, and one answer from every node.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ass_client::{AuditCursor, AuditEvent, AuditStreamItem};
use serde_json::{json, Value};

use crate::harness::{grep_dir, Cluster, Reply};

/// `audit_events` with a unique request id.
struct Tagged {
    n: usize,
}

impl Tagged {
    fn next(&mut self, what: &str) -> String {
        self.n += 1;
        format!("audit-test-{what}-{}", self.n)
    }
}

async fn send(
    c: &Cluster,
    node: usize,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
    rid: &str,
) -> Reply {
    c.send_as(node, token, method, path, body, &[("x-ass-request-id", rid)]).await
}

/// Every event of the cluster, through node `via`.
async fn all_events(c: &Cluster, via: usize) -> (Vec<AuditEvent>, Value) {
    let r = c.call(via, "GET", "/v1/audit?limit=10000", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["partial"], false, "{:?}", r.body["nodes"]);
    let events: Vec<AuditEvent> = serde_json::from_value(r.body["events"].clone()).unwrap();
    (events, r.body)
}

fn by_request_id<'a>(events: &'a [AuditEvent], rid: &str) -> Vec<&'a AuditEvent> {
    events.iter().filter(|e| e.request_id == rid).collect()
}

fn audit_dirs(c: &Cluster) -> Vec<PathBuf> {
    c.dev.nodes.iter().map(|n| n.config_path.parent().unwrap().join("data").join("audit")).collect()
}

/// Each kind of request — secrets, tokens, agents, approvals, policy, sys, a failed
/// authentication, a scope denial, an unknown route — leaves exactly one event (a write
/// forwarded by a follower too) with who, what, version, tier, result, client and approval
/// id; no secret value, token, agent key or root token is in any node's audit files or the
/// JSON answer, though the credential can be found by its HMAC; and every node answers the
/// same query with the same events, in time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_event_with_its_fields_and_no_secret() {
    let c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let follower = (leader + 1) % 3;
    let root = c.dev.root_token.clone();
    let mut t = Tagged { n: 0 };
    let mut expect: Vec<(String, &str, &str, u16)> = Vec::new(); // rid, action, result, status

    const VALUE: &str = "sk_live_AUDIT_VALUE_4242";
    let path = "production/stripe/STRIPE_SECRET_KEY";
    // A write sent to a follower is forwarded to the leader and recorded once, there.
    let rid = t.next("put");
    let r = send(
        &c,
        follower,
        Some(&root),
        "PUT",
        &format!("/v1/secrets/{path}"),
        Some(json!({"value": VALUE, "tier": "critical"})),
        &rid,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers.get("x-ass-request-id").map(String::as_str), Some(rid.as_str()));
    expect.push((rid, "secret.write", "ok", 200));

    let rid = t.next("policy");
    let policy = json!({ "approval_policy": {
        "tiers": { "critical": { "required_approvals": 1, "timeout_hours": 24 } },
        "approvers": [ "you@company.com" ] } });
    assert_eq!(
        send(
            &c,
            leader,
            Some(&root),
            "PUT",
            "/v1/policy/approvals?allow_unknown_approvers=true",
            Some(policy),
            &rid
        )
        .await
        .status,
        200
    );
    expect.push((rid, "policy.approvals.write", "ok", 200));

    let rid = t.next("agent");
    let r = send(
        &c,
        follower,
        Some(&root),
        "POST",
        "/v1/agents",
        Some(json!({"name": "payment-service", "scopes": ["secrets:read:production/stripe/*"]})),
        &rid,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let agent_key = r.body["agent_key"].as_str().unwrap().to_string();
    let agent_id = r.body["agent"]["id"].as_str().map(str::to_owned);
    expect.push((rid, "agent.create", "ok", 200));

    let rid = t.next("approver");
    let r = send(
        &c,
        leader,
        Some(&root),
        "POST",
        "/v1/agents",
        Some(json!({"name": "you@company.com", "scopes": ["approvals:decide"]})),
        &rid,
    )
    .await;
    let approver_key = r.body["agent_key"].as_str().unwrap().to_string();
    expect.push((rid, "agent.create", "ok", 200));

    let rid = t.next("issue");
    let r = send(
        &c,
        follower,
        Some(&agent_key),
        "POST",
        "/v1/tokens",
        Some(json!({"scopes": ["secrets:read:production/stripe/*"], "ttl": "1h"})),
        &rid,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let accessor =
        r.body["accessor"].as_str().or(r.body["info"]["accessor"].as_str()).unwrap().to_string();
    expect.push((rid.clone(), "token.issue", "ok", 200));
    let issue_rid = rid;

    let rid = t.next("approver-token");
    let r = send(
        &c,
        leader,
        Some(&approver_key),
        "POST",
        "/v1/tokens",
        Some(json!({"scopes": ["approvals:decide"], "ttl": "1h"})),
        &rid,
    )
    .await;
    let approver = r.body["token"].as_str().unwrap().to_string();
    expect.push((rid, "token.issue", "ok", 200));

    // A gated read: refused, with the approval request it opened.
    let rid = t.next("gated");
    let r =
        send(&c, follower, Some(&token), "GET", &format!("/v1/secrets/{path}"), None, &rid).await;
    assert_eq!(r.code(), "approval_required", "{:?}", r.body);
    let approval_id = r.body["approval_id"].as_str().unwrap().to_string();
    expect.push((rid.clone(), "secret.read", "approval_required", 403));
    let gated_rid = rid;

    let rid = t.next("approve");
    let r = send(
        &c,
        follower,
        Some(&approver),
        "POST",
        &format!("/v1/approvals/{approval_id}/approve"),
        Some(json!({"comment": "ok"})),
        &rid,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    expect.push((rid.clone(), "approval.approve", "ok", 200));
    let approve_rid = rid;

    let rid = t.next("read");
    let r =
        send(&c, follower, Some(&token), "GET", &format!("/v1/secrets/{path}"), None, &rid).await;
    assert_eq!(r.body["value"], VALUE, "{:?}", r.body);
    expect.push((rid.clone(), "secret.read", "ok", 200));
    let read_rid = rid;

    let rid = t.next("denied");
    let r = send(&c, leader, Some(&token), "GET", "/v1/secrets/staging/other", None, &rid).await;
    assert_eq!(r.code(), "scope_denied");
    expect.push((rid, "secret.read", "scope_denied", 403));

    let rid = t.next("badauth");
    let wrong = "asst_this-token-does-not-exist-0000000000000";
    let r = send(&c, follower, Some(wrong), "GET", "/v1/secrets/production/x", None, &rid).await;
    assert_eq!(r.status, 401);
    expect.push((rid.clone(), "secret.read", "unauthorized", 401));
    let badauth_rid = rid;

    let rid = t.next("noroute");
    assert_eq!(
        send(&c, leader, Some(&root), "GET", "/v1/nothing-here", None, &rid).await.status,
        404
    );
    expect.push((rid, "unknown", "no_route", 404));

    let rid = t.next("tokens");
    assert_eq!(send(&c, leader, Some(&root), "GET", "/v1/tokens", None, &rid).await.status, 200);
    expect.push((rid, "token.list", "ok", 200));

    let rid = t.next("revoke");
    let r = send(
        &c,
        follower,
        Some(&root),
        "POST",
        &format!("/v1/tokens/{accessor}/revoke"),
        None,
        &rid,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    expect.push((rid, "token.revoke", "ok", 200));

    // sys: seal and unseal one follower (per-node routes, recorded by that node).
    let rid = t.next("seal");
    let r = send(&c, follower, Some(&root), "POST", "/v1/sys/seal", None, &rid).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    expect.push((rid, "sys.seal", "ok", 200));
    let rid = t.next("sealed");
    let r = send(&c, follower, Some(&root), "GET", "/v1/secrets/production/x", None, &rid).await;
    assert_eq!(r.code(), "sealed");
    expect.push((rid, "secret.read", "sealed", 503));
    let mut unseal_rids = Vec::new();
    for key in c.dev.unseal_keys.clone() {
        let rid = t.next("unseal");
        let r = send(&c, follower, None, "POST", "/v1/sys/unseal", Some(json!({"key": key})), &rid)
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        unseal_rids.push(rid.clone());
        expect.push((rid, "sys.unseal", "ok", 200));
        if r.body["sealed"] == false {
            break;
        }
    }
    let rid = t.next("init");
    assert_eq!(
        send(&c, leader, None, "POST", "/v1/sys/init", Some(json!({})), &rid).await.code(),
        "already_initialized"
    );
    expect.push((rid, "sys.init", "already_initialized", 400));

    // Every node answers the same query with the same events.
    let (events, body) = all_events(&c, 0).await;
    for i in 1..3 {
        let (other, _) = all_events(&c, i).await;
        let mine: Vec<(u64, u64)> = events.iter().map(|e| (e.node, e.seq)).collect();
        let theirs: Vec<(u64, u64)> = other.iter().map(|e| (e.node, e.seq)).collect();
        // Events of the queries themselves differ between the answers; all earlier agree.
        let common = mine.len().min(theirs.len()) - 3;
        assert_eq!(mine[..common], theirs[..common], "node {i} answers differently");
    }
    assert!(
        events
            .windows(2)
            .all(|w| (&w[0].time, w[0].node, w[0].seq) < (&w[1].time, w[1].node, w[1].seq)),
        "time order"
    );

    let node_id = |i: usize| c.dev.nodes[i].id;
    for (rid, action, result, status) in &expect {
        let found = by_request_id(&events, rid);
        assert_eq!(found.len(), 1, "{rid}: {found:?}");
        let e = found[0];
        assert_eq!(
            (e.action.as_str(), e.result.as_str(), e.status),
            (*action, *result, *status),
            "{rid}: {e:?}"
        );
        assert_eq!(e.client, "127.0.0.1", "{rid}");
        assert!(e.time.ends_with('Z') && e.time.len() == 30, "RFC 3339 ns: {}", e.time);
    }
    // Who and on which node.
    let write = by_request_id(&events, &expect[0].0)[0];
    assert_eq!(
        (write.node, write.actor.as_str()),
        (node_id(leader), "root"),
        "forwarded write recorded by the leader"
    );
    assert_eq!((write.version, write.tier.as_deref()), (Some(1), Some("critical")));
    let read = by_request_id(&events, &read_rid)[0];
    assert_eq!(read.node, node_id(follower));
    assert_eq!((read.actor.as_str(), read.agent.as_deref()), ("token", Some("payment-service")));
    assert_eq!(read.accessor.as_deref(), Some(accessor.as_str()));
    if let Some(id) = &agent_id {
        assert_eq!(read.agent_id.as_ref(), Some(id));
    }
    assert_eq!((read.version, read.tier.as_deref()), (Some(1), Some("critical")));
    assert_eq!(read.path, format!("/v1/secrets/{path}"));
    let gated = by_request_id(&events, &gated_rid)[0];
    assert_eq!(gated.approval_id.as_deref(), Some(approval_id.as_str()));
    let approve = by_request_id(&events, &approve_rid)[0];
    assert_eq!(approve.approval_id.as_deref(), Some(approval_id.as_str()));
    assert_eq!(approve.agent.as_deref(), Some("you@company.com"));
    let issue = by_request_id(&events, &issue_rid)[0];
    assert_eq!(
        (issue.actor.as_str(), issue.agent.as_deref()),
        ("agent_key", Some("payment-service"))
    );
    let bad = by_request_id(&events, &badauth_rid)[0];
    assert_eq!(bad.actor, "anonymous");
    for rid in &unseal_rids {
        assert_eq!(by_request_id(&events, rid)[0].node, node_id(follower));
    }

    // A credential is findable by its HMAC, never by itself.
    let h = c.call(0, "POST", "/v1/audit/hash", Some(json!({"value": wrong}))).await;
    assert_eq!(h.status, 200, "{:?}", h.body);
    assert_eq!(bad.credential_hmac.as_deref(), h.body["hmac"].as_str());
    let h = c.call(1, "POST", "/v1/audit/hash", Some(json!({"value": token}))).await;
    assert_eq!(
        read.credential_hmac.as_deref(),
        h.body["hmac"].as_str(),
        "every node derives the same key"
    );

    // No secret value, token, agent key or root token anywhere in the store or the export.
    let export = serde_json::to_string(&body).unwrap();
    for needle in [
        VALUE,
        token.as_str(),
        agent_key.as_str(),
        approver_key.as_str(),
        approver.as_str(),
        root.as_str(),
        wrong,
    ] {
        assert!(!export.contains(needle), "the JSON answer holds a secret");
        for dir in audit_dirs(&c) {
            assert_eq!(
                grep_dir(&dir, needle.as_bytes()),
                Vec::<PathBuf>::new(),
                "{} holds a secret",
                dir.display()
            );
        }
    }
    // The search itself works: what the events do hold is found.
    for dir in audit_dirs(&c) {
        assert!(!grep_dir(&dir, b"/v1/sys/unseal").is_empty(), "{}", dir.display());
    }
    assert!(!grep_dir(&audit_dirs(&c)[follower], read_rid.as_bytes()).is_empty());
    assert!(!grep_dir(&audit_dirs(&c)[follower], accessor.as_bytes()).is_empty());

    // Filters.
    let r = c
        .call(2, "GET", "/v1/audit?agent=payment-service&action=secret.read&result=ok", None)
        .await;
    let only: Vec<AuditEvent> = serde_json::from_value(r.body["events"].clone()).unwrap();
    assert_eq!(
        only.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>(),
        vec![read_rid.as_str()]
    );
    let r = c.call(2, "GET", "/v1/audit?limit=0", None).await;
    assert_eq!(r.code(), "bad_request");
    // audit:read is needed.
    let r = c.send_as(0, Some(&approver), "GET", "/v1/audit", None, &[]).await;
    assert_eq!(r.code(), "scope_denied");
}

/// Fail closed: while the audit store cannot write, every request is refused with 503
/// `audit_unavailable`, no secret value leaves any node, and a write is not applied; once
/// the store writes again, requests pass and the chain is still whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_audit_store_refuses_requests_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let failpoint = dir.path().join("audit-fails");
    let c = Cluster::start_env(
        3,
        "",
        vec![("ASS_AUDIT_FAILPOINT".into(), failpoint.display().to_string())],
    )
    .await;
    const VALUE: &str = "fail-closed-VALUE-777";
    let path = "production/db/PASSWORD";
    assert_eq!(c.put(0, path, json!({"value": VALUE})).await.status, 200);
    std::fs::write(&failpoint, b"").unwrap();
    for i in 0..3 {
        let r = c.get(i, &format!("/v1/secrets/{path}")).await;
        assert_eq!(
            (r.status, r.code()),
            (503, "audit_unavailable".to_string()),
            "node {i}: {}",
            r.text
        );
        assert!(!r.text.contains(VALUE), "node {i} let the value out");
        // Refused up front now that the store is known to fail.
        let r = c.get(i, &format!("/v1/secrets/{path}")).await;
        assert_eq!(r.code(), "audit_unavailable");
        assert!(!r.text.contains(VALUE));
    }
    let w = c.put(1, path, json!({"value": "must-not-apply"})).await;
    assert_eq!(w.code(), "audit_unavailable", "{}", w.text);
    let metrics = c.get(0, "/metrics").await.text;
    let failures: f64 = metrics
        .lines()
        .find(|l| l.starts_with("ass_audit_failures_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .expect("ass_audit_failures_total");
    assert!(failures >= 2.0, "{failures}");

    std::fs::remove_file(&failpoint).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..3 {
        loop {
            let r = c.get(i, &format!("/v1/secrets/{path}")).await;
            if r.status == 200 {
                assert_eq!(r.body["value"], VALUE);
                assert_eq!(r.body["version"], 1, "the refused write was not applied");
                break;
            }
            assert!(Instant::now() < deadline, "node {i} still refuses: {}", r.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let v = c.call(0, "GET", "/v1/audit/verify", None).await;
    assert_eq!(v.body["ok"], true, "{:?}", v.body);
}

/// Tamper evidence: an acknowledged event survives `kill -9`; an edited event and a removed
/// one, made on disk while the node is stopped, are each reported by `verify` as the first
/// problem with their seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_and_a_removed_event() {
    let mut c = Cluster::start(3).await;
    for n in 0..6 {
        let r = c.get(2, &format!("/v1/secrets/nothing/{n}")).await;
        assert_eq!(r.code(), "not_found");
    }
    let rid = "acked-before-kill";
    let r = c.request(2, "GET", "/v1/sys/members", None, &[("x-ass-request-id", rid)]).await;
    assert_eq!(r.status, 200);
    c.dev.kill(2);
    let file = audit_dirs(&c)[2].join("events.log");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(rid), "an acknowledged event survives kill -9");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 8);

    // Edit a denial to look allowed.
    let at = lines.iter().position(|l| l.contains("\"result\":\"not_found\"")).unwrap();
    let target: AuditEvent = serde_json::from_str(lines[at]).unwrap();
    let mut edited = lines.clone();
    let forged = lines[at].replace("\"result\":\"not_found\"", "\"result\":\"ok\"");
    edited[at] = &forged;
    std::fs::write(&file, edited.join("\n") + "\n").unwrap();
    c.dev.restart(2).await.unwrap();
    let v = c.call(0, "GET", "/v1/audit/verify", None).await;
    assert_eq!(v.body["ok"], false);
    let node = &v.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == c.dev.nodes[2].id)
        .unwrap()
        .clone();
    assert_eq!(
        (node["problem"]["kind"].as_str(), node["problem"]["seq"].as_u64()),
        (Some("edited"), Some(target.seq)),
        "{node}"
    );
    for other in
        v.body["nodes"].as_array().unwrap().iter().filter(|n| n["node"] != c.dev.nodes[2].id)
    {
        assert_eq!(other["ok"], true, "{other}");
    }

    // Restore it, and remove the event two after it instead.
    c.dev.stop(2);
    let now = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = now.lines().map(str::to_owned).collect();
    lines[at] = text.lines().nth(at).unwrap().to_owned();
    let removed: AuditEvent = serde_json::from_str(&lines.remove(at + 2)).unwrap();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    c.dev.restart(2).await.unwrap();
    let v = c.call(1, "GET", "/v1/audit/verify", None).await;
    let node = v.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == c.dev.nodes[2].id)
        .unwrap()
        .clone();
    assert_eq!(
        (node["problem"]["kind"].as_str(), node["problem"]["seq"].as_u64()),
        (Some("removed"), Some(removed.seq)),
        "{node}"
    );
}

/// The live tail, resumed by its cursor on another node after the node it followed (the
/// leader) is killed, delivers every acknowledged request's event exactly once: per node,
/// seqs arrive without a gap or a duplicate, including the killed node's once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_survives_a_leader_kill_without_gap_or_duplicate() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let client = ass_client::Client::builder()
        .addresses(c.dev.api_urls())
        .ca_cert_pem(c.ca_pem())
        .token(Some(c.dev.root_token.clone()))
        .build()
        .unwrap();
    let urls = c.dev.api_urls();
    let mut stream = client.audit_stream(&urls[leader], None).await.unwrap();
    let mut cursor: Option<AuditCursor> = None;
    // Wait for the first cursor: the stream's starting point.
    while cursor.is_none() {
        if let Some(AuditStreamItem::Cursor(cur)) = stream.next().await.unwrap() {
            cursor = Some(cur);
        }
    }
    let mut seen: Vec<AuditEvent> = Vec::new();
    let mut acked: Vec<String> = Vec::new();
    let mut n = 0;
    // Load through every node, then kill the leader mid-stream.
    for round in 0..2 {
        for i in 0..3 {
            if c.dev.nodes[i].child.is_none() {
                continue;
            }
            for _ in 0..5 {
                n += 1;
                let rid = format!("tail-{n}");
                let r = c
                    .request(
                        i,
                        "PUT",
                        &format!("/v1/secrets/tail/{n}"),
                        Some(json!({"value": "v"})),
                        &[("x-ass-request-id", &rid)],
                    )
                    .await;
                if r.status == 200 {
                    acked.push(rid);
                }
                let rid = format!("tail-read-{n}");
                let r = c
                    .request(
                        i,
                        "GET",
                        &format!("/v1/secrets/tail/{n}"),
                        None,
                        &[("x-ass-request-id", &rid)],
                    )
                    .await;
                if r.status == 200 {
                    acked.push(rid);
                }
            }
        }
        // Read what arrived so far.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            match tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
                Ok(Ok(Some(AuditStreamItem::Event(e, cur)))) => {
                    seen.push(*e);
                    cursor = Some(cur);
                }
                Ok(Ok(Some(AuditStreamItem::Cursor(cur)))) => cursor = Some(cur),
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => panic!("{e}"),
            }
        }
        if round == 0 {
            c.dev.kill(leader);
            let other = (leader + 1) % 3;
            // The old connection is dead: resume elsewhere from the cursor (retrying while
            // the cluster elects a new leader, as `ass audit --tail` does).
            let deadline = Instant::now() + Duration::from_secs(30);
            stream = loop {
                match client.audit_stream(&urls[other], cursor.as_ref()).await {
                    Ok(s) => break s,
                    Err(e) => assert!(Instant::now() < deadline, "{e}"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            c.leader_index().await;
        }
    }
    c.dev.restart(leader).await.unwrap();
    // Everything acknowledged arrives, once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have: std::collections::HashSet<&str> =
            seen.iter().map(|e| e.request_id.as_str()).collect();
        if acked.iter().all(|r| have.contains(r.as_str())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing: {:?}",
            acked.iter().filter(|r| !have.contains(r.as_str())).collect::<Vec<_>>()
        );
        match tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            Ok(Ok(Some(AuditStreamItem::Event(e, _)))) => seen.push(*e),
            Ok(Err(e)) => panic!("{e}"),
            _ => {}
        }
    }
    let mut per_node: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for e in &seen {
        per_node.entry(e.node).or_default().push(e.seq);
    }
    for (node, seqs) in &per_node {
        let first = seqs[0];
        let want: Vec<u64> = (first..first + seqs.len() as u64).collect();
        assert_eq!(seqs, &want, "node {node}: a gap or a duplicate");
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for e in &seen {
        *count.entry(e.request_id.as_str()).or_default() += 1;
    }
    for rid in &acked {
        assert_eq!(count[rid.as_str()], 1, "{rid}");
    }
}
