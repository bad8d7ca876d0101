//! Integration tests: real `ass-node` processes on 127.0.0.1, real sled in temp dirs, driven
//! over HTTP exactly as clients drive them. Each test names the property it proves.

mod access;
mod approvals;
mod audit;
mod autounseal;
mod backup;
mod ha;
mod harness;
mod identity;
mod keys;
mod membership;
mod ops;
mod posture;
mod tls;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ass_client::types::{
    SealStatus, HEADER_CONSISTENCY, HEADER_INDEX, HEADER_MIN_INDEX, HEADER_REQUEST_ID,
};
use harness::{Cluster, Reply};
use serde_json::json;

/// Init + unseal: every node agrees on one leader, is initialized and unsealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cluster_forms_one_initialized_unsealed_cluster() {
    let c = Cluster::start(3).await;
    let statuses: Vec<SealStatus> = c.statuses().await;
    let leader = statuses[0].leader_id.expect("a leader");
    for s in &statuses {
        assert!(s.initialized && !s.sealed, "{s:?}");
        assert_eq!(s.leader_id, Some(leader));
        assert_eq!(s.threshold, 3);
        assert_eq!(s.shares, 5);
    }
    // A second init is refused, whichever node it reaches.
    for i in 0..3 {
        let r = c.call(i, "POST", "/v1/sys/init", Some(json!({}))).await;
        assert_eq!((r.status, r.code()), (400, "already_initialized".into()));
    }
}

/// A write acknowledged by the leader is readable (default linearizable) on every follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_on_leader_get_on_every_follower() {
    let c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let w = c
        .put(
            leader,
            "production/gemini/GEMINI_API_KEY",
            json!({"value": "g-1", "type": "api_key", "tier": "sensitive"}),
        )
        .await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    assert_eq!(w.body["version"], 1);
    for i in 0..3 {
        let r = c.get(i, "/v1/secrets/production/gemini/GEMINI_API_KEY").await;
        assert_eq!(r.status, 200, "node {i}: {:?}", r.body);
        assert_eq!(r.body["value"], "g-1");
        assert_eq!(r.body["type"], "api_key");
        assert_eq!(r.body["tier"], "sensitive");
    }
}

/// A write sent to a follower is forwarded to the leader, answers with its log index, and a
/// read carrying that index on any other node sees it (read-your-writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_writes_are_forwarded_and_reads_see_own_writes() {
    let c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    for n in 1..=20u64 {
        let w = c.put(follower, "staging/app/TOKEN", json!({"value": format!("v{n}")})).await;
        assert_eq!(w.status, 200, "{:?}", w.body);
        assert_eq!(w.body["version"], n);
        let index = w.header(HEADER_INDEX).expect("x-ass-index").parse::<u64>().unwrap();
        assert_eq!(w.body["index"], index);
        let r = c
            .request(
                other,
                "GET",
                "/v1/secrets/staging/app/TOKEN",
                None,
                &[(HEADER_MIN_INDEX, &index.to_string())],
            )
            .await;
        assert_eq!(r.body["value"], format!("v{n}"), "read-your-writes broke at version {n}");
        let r = c
            .request(
                other,
                "GET",
                "/v1/secrets/staging/app/TOKEN",
                None,
                &[(HEADER_CONSISTENCY, "stale")],
            )
            .await;
        assert_eq!(r.status, 200);
    }
}

/// Retrying a write with the same request id applies it once, even through another node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_is_applied_once() {
    let c = Cluster::start(3).await;
    let id = "6f1c1a52-1111-4a3b-9c2d-000000000001";
    let body = json!({"value": "once"});
    let a = c
        .request(0, "PUT", "/v1/secrets/dev/x/ONCE", Some(body.clone()), &[(HEADER_REQUEST_ID, id)])
        .await;
    let b = c
        .request(1, "PUT", "/v1/secrets/dev/x/ONCE", Some(body.clone()), &[(HEADER_REQUEST_ID, id)])
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body, "the retry must get the first answer");
    let v = c.get(2, "/v1/secrets/dev/x/ONCE/versions").await;
    assert_eq!(v.body["versions"].as_array().unwrap().len(), 1);
}

/// Killing the leader's process elects a new leader, writes continue, no acknowledged write
/// is lost, and the killed node catches up when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_fails_over_without_losing_acknowledged_writes() {
    let mut c = Cluster::start(3).await;
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for n in 0..30 {
        let path = format!("production/db/K{n}");
        let w = c.put(n % 3, &path, json!({"value": format!("before-{n}")})).await;
        assert_eq!(w.status, 200);
        acked.insert(path, format!("before-{n}"));
    }
    let old_leader = c.leader_index().await;
    let killed_at = Instant::now();
    c.dev.kill(old_leader);
    let survivor = (old_leader + 1) % 3;
    // Writes go on through a survivor; the first one that succeeds marks the failover.
    let mut failover = None;
    let mut n = 0;
    while n < 30 {
        let path = format!("production/db/A{n}");
        let w = c.put(survivor, &path, json!({"value": format!("after-{n}")})).await;
        if w.status == 200 {
            failover.get_or_insert(killed_at.elapsed());
            acked.insert(path, format!("after-{n}"));
            n += 1;
        } else {
            assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "no failover within 30 s: {:?}",
                w.body
            );
        }
    }
    let failover = failover.unwrap();
    eprintln!(
        "failover: first write acknowledged {} ms after the leader was killed",
        failover.as_millis()
    );
    let new_leader = c.leader_index().await;
    assert_ne!(new_leader, old_leader);
    for (path, value) in &acked {
        let r = c.get(survivor, &format!("/v1/secrets/{path}")).await;
        assert_eq!(&r.body["value"], value, "acknowledged write to {path} lost");
    }
    c.dev.restart(old_leader).await.unwrap();
    let target = c.status(new_leader).await.applied_index;
    c.wait_applied(old_leader, target).await;
    let min_index = target.to_string();
    for (path, value) in &acked {
        let r = c
            .request(
                old_leader,
                "GET",
                &format!("/v1/secrets/{path}"),
                None,
                &[(HEADER_MIN_INDEX, &min_index)],
            )
            .await;
        assert_eq!(&r.body["value"], value, "restarted node misses {path}: {:?}", r.body);
    }
}

/// A node that was down while the leader purged its log catches up from a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_node_catches_up_from_a_snapshot() {
    let mut c = Cluster::start_with(3, "[raft]\nsnapshot_every = 20\nkeep_logs = 0\n").await;
    let leader = c.leader_index().await;
    let lagger = (leader + 1) % 3;
    c.dev.kill(lagger);
    let before = c.status(leader).await.applied_index;
    for n in 0..120 {
        let w = c.put(leader, &format!("dev/snap/K{n}"), json!({"value": format!("s{n}")})).await;
        assert_eq!(w.status, 200, "{:?}", w.body);
    }
    // The leader must have purged past what the lagger has, so logs alone can't catch it up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = c.status(leader).await;
        if s.purged_index > before + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "leader never purged its log: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.dev.restart(lagger).await.unwrap();
    let target = c.status(leader).await.applied_index;
    c.wait_applied(lagger, target).await;
    let s = c.status(lagger).await;
    assert!(s.snapshot_index > before, "lagger shows no installed snapshot: {s:?}");
    for n in [0, 57, 119] {
        let r = c
            .request(
                lagger,
                "GET",
                &format!("/v1/secrets/dev/snap/K{n}"),
                None,
                &[(HEADER_CONSISTENCY, "stale")],
            )
            .await;
        assert_eq!(r.body["value"], format!("s{n}"));
    }
}

/// Restarting the whole cluster keeps every secret; nodes come back sealed and refuse reads
/// until unsealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_cluster_restart_keeps_data_and_comes_back_sealed() {
    let mut c = Cluster::start(3).await;
    for n in 0..10 {
        assert_eq!(
            c.put(n % 3, &format!("production/r/K{n}"), json!({"value": format!("r{n}")}))
                .await
                .status,
            200
        );
    }
    for i in 0..3 {
        c.dev.stop(i);
    }
    for i in 0..3 {
        c.dev.spawn(i).unwrap();
    }
    for i in 0..3 {
        c.wait_answering(i).await;
        let s = c.status(i).await;
        assert!(s.initialized && s.sealed, "node {i} must come back sealed: {s:?}");
        let r = c.get(i, "/v1/secrets/production/r/K1").await;
        assert_eq!((r.status, r.code()), (503, "sealed".into()));
    }
    for i in 0..3 {
        c.dev.unseal(i).await.unwrap();
    }
    for n in 0..10 {
        let r = c.get(n % 3, &format!("/v1/secrets/production/r/K{n}")).await;
        assert_eq!(r.body["value"], format!("r{n}"));
    }
}

/// `ass-node dev` run again on the same directory reuses the data and unseals every node
/// with the keys it recorded, keeping the root token, the CA and the node certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cluster_restarted_on_the_same_dir_reuses_data() {
    let mut c = Cluster::start(3).await;
    assert_eq!(c.put(0, "dev/again/K", json!({"value": "kept"})).await.status, 200);
    let token = c.dev.root_token.clone();
    let options = c.dev.options.clone();
    let tls_files = |dir: &std::path::Path| {
        ["ca.pem", "ca-key.pem", "node1.pem", "node3-key.pem"]
            .map(|f| std::fs::read(dir.join("tls").join(f)).expect("dev TLS file"))
    };
    let before = tls_files(c.dir());
    for i in 0..3 {
        c.dev.stop(i);
    }
    c.dev = ass_testkit::DevCluster::start(options).await.expect("restart on the same dir");
    assert_eq!(c.dev.root_token, token);
    assert!(tls_files(c.dir()) == before, "CA and node certificates reused");
    for s in c.statuses().await {
        assert!(s.initialized && !s.sealed, "{s:?}");
    }
    assert_eq!(c.get(2, "/v1/secrets/dev/again/K").await.body["value"], "kept");
}

/// Wrong, mixed or malformed shares never unseal; a bad set resets progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_shares_are_refused_and_reset_progress() {
    let c = Cluster::start(3).await;
    let f = (c.leader_index().await + 1) % 3;
    let r = c.call(f, "POST", "/v1/sys/seal", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["sealed"], true);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    // A well-formed share that belongs to no cluster: id 9, random bytes.
    let mut forged = vec![9u8];
    forged.extend((0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    let forged = b64.encode(&forged);
    let k = &c.dev.unseal_keys;
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": k[0]}))).await;
    assert_eq!(r.body["progress"], 1);
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": k[0]}))).await;
    assert_eq!((r.status, r.code()), (400, "duplicate_share".into()));
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": k[1]}))).await;
    assert_eq!(r.body["progress"], 2);
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": forged}))).await;
    assert_eq!((r.status, r.code()), (400, "invalid_shares".into()));
    let s = c.status(f).await;
    assert!(s.sealed);
    assert_eq!(s.progress, 0, "a failed set must reset progress");
    for bad in ["", "***", "AAAA", &b64.encode([1u8; 40])] {
        let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": bad}))).await;
        assert_eq!((r.status, r.code()), (400, "invalid_share".into()), "share {bad:?}");
    }
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": k[3]}))).await;
    assert_eq!(r.body["progress"], 1);
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"reset": true}))).await;
    assert_eq!(r.body["progress"], 0);
    let r = c.call(f, "POST", "/v1/sys/unseal", Some(json!({"nonsense": 1}))).await;
    assert_eq!((r.status, r.code()), (400, "invalid_json".into()));
    for key in &k[2..5] {
        c.call(f, "POST", "/v1/sys/unseal", Some(json!({"key": key}))).await;
    }
    assert!(!c.status(f).await.sealed, "three good shares unseal");
}

/// A sealed node answers only status, health, init and unseal; everything else is 503 `sealed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_node_refuses_everything_else() {
    let c = Cluster::start(3).await;
    // Seal a follower: a sealed leader can't encrypt, so writes would wait for its unseal.
    let leader = c.leader_index().await;
    let s = (leader + 1) % 3;
    c.put(leader, "dev/s/K", json!({"value": "x"})).await;
    assert_eq!(c.call(s, "POST", "/v1/sys/seal", None).await.status, 200);
    for (method, path, body) in [
        ("GET", "/v1/secrets/dev/s/K", None),
        ("GET", "/v1/secrets?prefix=dev/", None),
        ("PUT", "/v1/secrets/dev/s/K", Some(json!({"value": "y"}))),
        ("DELETE", "/v1/secrets/dev/s/K", None),
        ("GET", "/v1/sys/members", None),
        ("POST", "/v1/sys/seal", None),
    ] {
        let r = c.call(s, method, path, body).await;
        assert_eq!((r.status, r.code()), (503, "sealed".into()), "{method} {path}");
    }
    assert_eq!(c.call(s, "GET", "/v1/sys/status", None).await.status, 200);
    assert_eq!(c.call(s, "GET", "/v1/sys/health", None).await.status, 503);
    assert_eq!(c.call(s, "GET", "/v1/sys/health?sealedcode=299", None).await.status, 299);
    // The sealed node still replicates: after unseal it has writes made meanwhile.
    let w = c.put(leader, "dev/s/K2", json!({"value": "during"})).await;
    assert_eq!(w.status, 200);
    c.dev.unseal(s).await.unwrap();
    let r = c.get(s, "/v1/secrets/dev/s/K2").await;
    assert_eq!(r.body["value"], "during");
}

/// A sealed leader does not block writes: an unsealed follower that a write reaches takes
/// over leadership, and the write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_leader_hands_writes_to_an_unsealed_node() {
    let c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    assert_eq!(c.call(leader, "POST", "/v1/sys/seal", None).await.status, 200);
    let follower = (leader + 1) % 3;
    let w = c.put(follower, "dev/takeover/K", json!({"value": "still writable"})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    let new_leader = c.leader_index().await;
    assert_ne!(new_leader, leader, "an unsealed node leads now");
    let r = c.get((leader + 2) % 3, "/v1/secrets/dev/takeover/K").await;
    assert_eq!(r.body["value"], "still writable");
}

/// Every kind of bad input gets a 4xx with a stable code, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_stable_codes_and_changes_nothing() {
    let c = Cluster::start(3).await;
    assert_eq!(c.put(0, "dev/ok/K", json!({"value": "v1"})).await.status, 200);
    let cases: Vec<(&str, String, Option<serde_json::Value>, u16, &str)> = vec![
        ("PUT", "/v1/secrets/dev/a/..".into(), Some(json!({"value": "x"})), 400, "invalid_path"),
        (
            "PUT",
            "/v1/secrets/dev/%2E%2E/x".into(),
            Some(json!({"value": "x"})),
            400,
            "invalid_path",
        ),
        ("PUT", "/v1/secrets/dev//x".into(), Some(json!({"value": "x"})), 400, "invalid_path"),
        ("PUT", "/v1/secrets/dev/a%20b".into(), Some(json!({"value": "x"})), 400, "invalid_path"),
        ("PUT", "/v1/secrets/onlyone".into(), Some(json!({"value": "x"})), 400, "invalid_path"),
        (
            "PUT",
            format!("/v1/secrets/dev/{}", "a".repeat(600)),
            Some(json!({"value": "x"})),
            400,
            "invalid_path",
        ),
        (
            "PUT",
            "/v1/secrets/dev/ok/K".into(),
            Some(json!({"value": "x".repeat(70 * 1024)})),
            413,
            "value_too_large",
        ),
        (
            "PUT",
            "/v1/secrets/dev/ok/K".into(),
            Some(json!({"value": "x", "cas": 7})),
            409,
            "cas_mismatch",
        ),
        (
            "PUT",
            "/v1/secrets/dev/ok/K".into(),
            Some(json!({"value": "x", "tier": "secretest"})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/v1/secrets/dev/ok/K".into(),
            Some(json!({"value": "x", "colour": "red"})),
            400,
            "invalid_json",
        ),
        ("PUT", "/v1/secrets/dev/ok/K".into(), Some(json!({"value": 5})), 400, "invalid_json"),
        (
            "PUT",
            "/v1/secrets/dev/ok/K".into(),
            Some(json!({"value": "x", "type": "no spaces"})),
            400,
            "bad_request",
        ),
        ("GET", "/v1/secrets/dev/ok/K?version=zero".into(), None, 400, "bad_request"),
        ("GET", "/v1/secrets/dev/ok/K?version=99".into(), None, 404, "not_found"),
        ("GET", "/v1/secrets/dev/ok/NOPE".into(), None, 404, "not_found"),
        ("GET", "/v1/secrets?prefix=../".into(), None, 400, "invalid_path"),
        ("DELETE", "/v1/secrets/dev/ok/K?version=42".into(), None, 404, "not_found"),
        (
            "POST",
            "/v1/sys/init".into(),
            Some(json!({"shares": 3, "threshold": 9})),
            400,
            "already_initialized",
        ),
    ];
    for (method, path, body, status, code) in cases {
        for node in [0, 1] {
            let r = c.call(node, method, &path, body.clone()).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (status, code),
                "{method} {path} on node {node}: {:?}",
                r.body
            );
        }
    }
    // Malformed JSON and a 10 MB body.
    let r = c.raw(1, "PUT", "/v1/secrets/dev/ok/K", b"{\"value\": ".to_vec()).await;
    assert_eq!((r.status, r.code()), (400, "invalid_json".into()));
    let r = c.raw(0, "PUT", "/v1/secrets/dev/ok/K", vec![b'x'; 10 * 1024 * 1024]).await;
    assert_eq!(r.status, 413);
    // No token, a wrong token, a malformed header.
    let r = c.request_with_token(0, "GET", "/v1/secrets/dev/ok/K", None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized".into()));
    let r = c.request_with_token(0, "GET", "/v1/secrets/dev/ok/K", Some("assr_wrong")).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized".into()));
    let r = c.request(0, "GET", "/v1/secrets/dev/ok/K", None, &[(HEADER_MIN_INDEX, "soon")]).await;
    assert_eq!((r.status, r.code()), (400, "bad_request".into()));
    // Nothing changed.
    let v = c.get(2, "/v1/secrets/dev/ok/K/versions").await;
    assert_eq!(v.body["versions"].as_array().unwrap().len(), 1);
    let l = c.get(2, "/v1/secrets?prefix=").await;
    assert_eq!(l.body["secrets"].as_array().unwrap().len(), 1);
}

/// Versions, soft delete, destroy, and CAS behave as documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_delete_destroy_and_cas() {
    let c = Cluster::start(3).await;
    let p = "/v1/secrets/production/stripe/STRIPE_SECRET_KEY";
    assert_eq!(
        c.put(
            0,
            "production/stripe/STRIPE_SECRET_KEY",
            json!({"value": "sk1", "cas": 0, "tier": "critical"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.put(1, "production/stripe/STRIPE_SECRET_KEY", json!({"value": "sk2", "cas": 1}))
            .await
            .body["version"],
        2
    );
    assert_eq!(
        c.put(2, "production/stripe/STRIPE_SECRET_KEY", json!({"value": "sk3"})).await.body
            ["version"],
        3
    );
    let r = c.get(0, p).await;
    assert_eq!(
        (r.body["value"].as_str(), r.body["tier"].as_str()),
        (Some("sk3"), Some("critical"))
    );
    assert_eq!(c.get(1, &format!("{p}?version=1")).await.body["value"], "sk1");
    let d = c.call(2, "DELETE", p, None).await;
    assert_eq!(
        (d.status, d.body["version"].as_u64(), d.body["destroyed"].as_bool()),
        (200, Some(3), Some(false))
    );
    assert_eq!(c.get(0, p).await.code(), "secret_deleted");
    assert_eq!(c.get(0, &format!("{p}?version=2")).await.body["value"], "sk2");
    let d = c.call(0, "DELETE", &format!("{p}?version=2"), None).await;
    assert_eq!(d.body["destroyed"], true);
    assert_eq!(c.get(1, &format!("{p}?version=2")).await.code(), "version_destroyed");
    let v = c.get(1, &format!("{p}/versions")).await;
    let versions = v.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[1]["destroyed"], true);
    assert!(versions[2]["deleted_at"].is_string());
    assert_eq!(v.body["deleted"], true);
    // A new version un-deletes the path; the list shows metadata, never values.
    assert_eq!(
        c.put(1, "production/stripe/STRIPE_SECRET_KEY", json!({"value": "sk4"})).await.body
            ["version"],
        4
    );
    assert_eq!(c.get(2, p).await.body["value"], "sk4");
    let l = c.get(0, "/v1/secrets?prefix=production/").await;
    assert!(!l.text.contains("sk4") && l.text.contains("STRIPE_SECRET_KEY"));
}

/// A known secret value written through the API is found by no byte search of any data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_disk_in_plaintext() {
    let mut c = Cluster::start_with(3, "[raft]\nsnapshot_every = 10\n").await;
    let marker = "PLAINTEXT-MARKER-7f3a9c1e5b";
    for n in 0..25 {
        let w = c
            .put(n % 3, &format!("production/m/K{n}"), json!({"value": format!("{marker}-{n}")}))
            .await;
        assert_eq!(w.status, 200);
    }
    for i in 0..3 {
        c.dev.stop(i);
    }
    let hits = harness::grep_dir(&c.dev.options.dir, marker.as_bytes());
    assert!(hits.is_empty(), "plaintext found on disk in {hits:?}");
    // The search itself works: the marker is found where it was planted.
    std::fs::write(c.dev.options.dir.join("planted"), marker).unwrap();
    assert_eq!(harness::grep_dir(&c.dev.options.dir, marker.as_bytes()).len(), 1);
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// `/metrics` on every node, sealed or not: Raft, seal and state gauges, requests by route
/// template; never a secret path or a token in any label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exported_without_paths_or_tokens() {
    let c = Cluster::start(3).await;
    let path = "production/metrics/VERY_SECRET_PATH_NAME";
    assert_eq!(c.put(0, path, json!({"value": "metric-secret-value"})).await.status, 200);
    for _ in 0..2 {
        for i in 0..3 {
            assert_eq!(c.get(i, &format!("/v1/secrets/{path}")).await.status, 200);
        }
    }
    let leader = c.leader_index().await;
    let sealed = (leader + 1) % 3;
    assert_eq!(c.call(sealed, "POST", "/v1/sys/seal", None).await.status, 200);
    let mut leaders = 0;
    for i in 0..3 {
        let r = c.request_with_token(i, "GET", "/metrics", None).await;
        assert_eq!(r.status, 200, "node {i}");
        let text = &r.text;
        for needle in [
            "ass_raft_term",
            "ass_raft_applied_index",
            "ass_secrets",
            "ass_live_tokens",
            "ass_pending_approvals",
        ] {
            assert!(text.contains(needle), "node {i} lacks {needle}");
        }
        assert!(
            text.contains(&format!("ass_sealed{{node=\"{}\"}} {}", i + 1, u8::from(i == sealed))),
            "node {i}: {text}"
        );
        if i != sealed {
            assert!(text.contains("route=\"/v1/secrets/{*path}\""), "node {i}");
            // The root token was checked twice here by the reads: the second answer came from
            // the auth cache.
            let hits = text
                .lines()
                .find(|l| {
                    l.starts_with("ass_auth_cache_lookups_total{") && l.contains("result=\"hit\"")
                })
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
            assert!(hits >= Some(1), "node {i}: auth cache hits {hits:?}");
        }
        leaders += text.contains(&format!("ass_raft_is_leader{{node=\"{}\"}} 1", i + 1)) as u32;
        for secret in ["VERY_SECRET_PATH_NAME", "metric-secret-value", c.dev.root_token.as_str()] {
            assert!(!text.contains(secret), "node {i} leaks {secret}");
        }
    }
    assert_eq!(leaders, 1);
}
