//! Key rotation (new data-key terms) and rekey (new unseal shares), on real node processes.

use serde_json::json;

use crate::harness::Cluster;

/// After a rotation new writes use the new term, old versions still decrypt on every node,
/// and both survive a whole-cluster restart and unseal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_adds_a_term_and_old_versions_still_decrypt() {
    let mut c = Cluster::start(3).await;
    let p = "production/db/PASSWORD";
    assert_eq!(c.put(0, p, json!({"value": "old"})).await.status, 200);
    let r = c.call(1, "POST", "/v1/sys/rotate", None).await;
    assert_eq!((r.status, r.body["term"].as_u64()), (200, Some(2)), "{:?}", r.body);
    assert_eq!(c.put(2, p, json!({"value": "new"})).await.status, 200);
    for node in 0..3 {
        let v = c.get(node, &format!("/v1/secrets/{p}/versions")).await;
        let terms: Vec<u64> = v.body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["key_term"].as_u64().unwrap())
            .collect();
        assert_eq!(terms, vec![1, 2], "node {node}");
        assert_eq!(c.get(node, &format!("/v1/secrets/{p}?version=1")).await.body["value"], "old");
        assert_eq!(c.get(node, &format!("/v1/secrets/{p}")).await.body["value"], "new");
    }
    // A second rotation from any node goes on to term 3.
    assert_eq!(c.call(2, "POST", "/v1/sys/rotate", None).await.body["term"], 3);
    for i in 0..3 {
        c.dev.stop(i);
    }
    for i in 0..3 {
        c.dev.spawn(i).unwrap();
    }
    for i in 0..3 {
        c.wait_answering(i).await;
        c.dev.unseal(i).await.unwrap();
    }
    assert_eq!(c.put(1, p, json!({"value": "newest"})).await.status, 200);
    let v = c.get(0, &format!("/v1/secrets/{p}/versions")).await;
    let terms: Vec<u64> = v.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key_term"].as_u64().unwrap())
        .collect();
    assert_eq!(terms, vec![1, 2, 3]);
    assert_eq!(c.get(2, &format!("/v1/secrets/{p}?version=1")).await.body["value"], "old");
    // Rotation needs sys:operator.
    let t = c
        .send_as(
            0,
            Some(&c.dev.root_token),
            "POST",
            "/v1/tokens",
            Some(json!({"scopes": ["secrets:read:*"], "ttl": "1h"})),
            &[],
        )
        .await;
    let token = t.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        c.send_as(0, Some(&token), "POST", "/v1/sys/rotate", None, &[]).await.code(),
        "scope_denied"
    );
}

/// Rekey: a threshold of current shares makes new shares; the old ones stop working, the
/// data stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_replaces_the_shares_without_touching_data() {
    let mut c = Cluster::start(3).await;
    assert_eq!(c.put(0, "dev/k/K", json!({"value": "kept"})).await.status, 200);
    let old = c.dev.unseal_keys.clone();
    let r = c
        .call(1, "POST", "/v1/sys/rekey", Some(json!({"key": old[0], "shares": 3, "threshold": 2})))
        .await;
    assert_eq!(r.body["progress"], 1, "{:?}", r.body);
    let r = c.call(1, "POST", "/v1/sys/rekey", Some(json!({"key": "AAAA"}))).await;
    assert_eq!(r.code(), "invalid_share");
    c.call(1, "POST", "/v1/sys/rekey", Some(json!({"key": old[1]}))).await;
    let r = c
        .call(1, "POST", "/v1/sys/rekey", Some(json!({"key": old[2], "shares": 3, "threshold": 2})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new: Vec<String> = r.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new.len(), 3);
    // Old shares no longer open a restarted node; two new ones do.
    let leader = c.leader_index().await;
    let n = (leader + 1) % 3;
    c.dev.kill(n);
    c.dev.spawn(n).unwrap();
    c.wait_answering(n).await;
    for key in &old[..2] {
        c.send_as(n, None, "POST", "/v1/sys/unseal", Some(json!({"key": key})), &[]).await;
    }
    let r = c.send_as(n, None, "POST", "/v1/sys/unseal", Some(json!({"key": old[2]})), &[]).await;
    let s = c.status(n).await;
    assert!(s.sealed, "old shares must not unseal: {:?}", r.body);
    assert_eq!(s.threshold, 2);
    c.send_as(n, None, "POST", "/v1/sys/unseal", Some(json!({"reset": true})), &[]).await;
    c.send_as(n, None, "POST", "/v1/sys/unseal", Some(json!({"key": new[2]})), &[]).await;
    let r = c.send_as(n, None, "POST", "/v1/sys/unseal", Some(json!({"key": new[0]})), &[]).await;
    assert_eq!(r.body["sealed"], false, "{:?}", r.body);
    assert_eq!(c.get(n, "/v1/secrets/dev/k/K").await.body["value"], "kept");
}
