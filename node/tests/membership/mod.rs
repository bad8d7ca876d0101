//! Membership changes on a live cluster: grow 3 → 5 and shrink back to 3 while a client keeps
//! reading and writing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ass_client::types::{PutSecretRequest, SealStatus};
use ass_client::{Client, ReadOptions};
use serde_json::json;

use crate::harness::Cluster;

/// A client that writes then reads its write, over and over, until told to stop.
fn start_load(
    client: Client,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut errors = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let path = format!("dev/load/K{}", n % 50);
            let value = format!("v{n}");
            let put =
                PutSecretRequest { value: value.clone(), secret_type: None, tier: None, cas: None };
            match client.put_secret(&path, &put).await {
                Ok(w) => {
                    let opts = ReadOptions { min_index: Some(w.index), ..Default::default() };
                    match client.get_secret(&path, &opts).await {
                        Ok(s) if s.value == value => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(s) => {
                            errors.push(format!("read {path}: {} instead of {value}", s.value))
                        }
                        Err(e) => errors.push(format!("get {path}: {e}")),
                    }
                }
                Err(e) => errors.push(format!("put {path}: {e}")),
            }
            n += 1;
        }
        errors
    })
}

async fn voters(c: &Cluster, node: usize) -> Vec<u64> {
    let r = c.call(node, "GET", "/v1/sys/members", None).await;
    let mut v: Vec<u64> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_five_and_shrink_back_under_load() {
    let mut c = Cluster::start(3).await;
    let base = c.dev.options.base_port;
    let urls: Vec<String> = (0..5).map(|i| format!("https://127.0.0.1:{}", base + i)).collect();
    let client = Client::builder()
        .addresses(urls.clone())
        .ca_cert_pem(c.ca_pem())
        .token(Some(c.dev.root_token.clone()))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let load = start_load(client, stop.clone(), ok.clone());

    for _ in 0..2 {
        let i = c.dev.add_node().unwrap();
        c.wait_answering(i).await;
        let n = &c.dev.nodes[i];
        let body = json!({"id": n.id, "api_addr": format!("127.0.0.1:{}", n.api_port()), "cluster_addr": format!("127.0.0.1:{}", n.cluster_port())});
        let r = c.call(0, "POST", "/v1/sys/members", Some(body)).await;
        assert_eq!(r.status, 200, "add node {}: {:?}", n.id, r.body);
        c.dev.unseal(i).await.unwrap();
        let r = c
            .call(1, "POST", &format!("/v1/sys/members/{}/promote", c.dev.nodes[i].id), None)
            .await;
        assert_eq!(r.status, 200, "promote: {:?}", r.body);
    }
    assert_eq!(voters(&c, 4).await, vec![1, 2, 3, 4, 5]);
    let s: SealStatus = c.status(4).await;
    assert!(!s.sealed && s.leader_id.is_some());
    let grown = ok.load(Ordering::Relaxed);

    for id in [5u64, 4] {
        let r = c.call(0, "DELETE", &format!("/v1/sys/members/{id}"), None).await;
        assert_eq!(r.status, 200, "remove {id}: {:?}", r.body);
        c.dev.stop((id - 1) as usize);
    }
    assert_eq!(voters(&c, 0).await, vec![1, 2, 3]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let errors = load.await.unwrap();
    let total = ok.load(Ordering::Relaxed);
    eprintln!("membership under load: {total} write+read pairs ({grown} by the time 5 voters stood), {} errors", errors.len());
    assert!(errors.is_empty(), "the client saw errors: {errors:?}");
    assert!(total > grown && grown > 0, "load kept going: {grown} then {total}");
    let r = c.call(0, "POST", "/v1/sys/members/9/promote", None).await;
    assert_eq!(r.code(), "membership_change_failed");
}

/// Step-down hands leadership to another voter, and writes go on through the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_hands_leadership_over() {
    let c = Cluster::start(3).await;
    let old = c.leader_index().await;
    let r = c.call((old + 1) % 3, "POST", "/v1/sys/step-down", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["old_leader"].as_u64(), Some(c.dev.nodes[old].id));
    let new_id = r.body["new_leader"].as_u64().unwrap();
    assert_ne!(new_id, c.dev.nodes[old].id);
    let now = c.leader_index().await;
    assert_ne!(now, old, "a new leader stands");
    assert_eq!(c.put(old, "dev/step/K", json!({"value": "after"})).await.status, 200);
    assert_eq!(c.get(old, "/v1/secrets/dev/step/K").await.body["value"], "after");
}

/// The dead-node report: on the leader, `GET /v1/sys/members` gives every member its lag and
/// the time since it last answered; a killed follower is flagged unreachable and falls
/// behind while the live ones stay in contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_flag_a_dead_follower_as_unreachable_with_its_lag() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let dead = (leader + 1) % 3;
    let live = (leader + 2) % 3;
    let r = c.call(leader, "GET", "/v1/sys/members", None).await;
    for m in r.body["members"].as_array().unwrap() {
        assert_eq!(m["unreachable"], false, "all answer at first: {m}");
        assert!(m["last_contact_ms"].as_u64().unwrap() < 3000, "{m}");
        assert!(m["lag"].is_u64(), "{m}");
    }
    c.dev.kill(dead);
    for n in 0..5 {
        assert_eq!(
            c.put(leader, &format!("dev/dead/K{n}"), json!({"value": "v"})).await.status,
            200
        );
    }
    let dead_id = c.dev.nodes[dead].id;
    let live_id = c.dev.nodes[live].id;
    // Past the bound (2 × the 1.6 s election timeout max), the dead node is flagged.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = c.call(leader, "GET", "/v1/sys/members", None).await;
        let members = r.body["members"].as_array().unwrap().clone();
        let find = |id: u64| members.iter().find(|m| m["id"] == id).unwrap().clone();
        let (d, l) = (find(dead_id), find(live_id));
        if d["unreachable"] == true {
            assert!(d["lag"].as_u64().unwrap() >= 5, "the dead node fell behind: {d}");
            assert!(d["last_contact_ms"].as_u64().unwrap() > 3000, "{d}");
            assert_eq!(l["unreachable"], false, "{l}");
            assert!(l["last_contact_ms"].as_u64().unwrap() < 3000, "{l}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never flagged: {d}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A follower's own list has no leader view to give.
    let r = c.call(live, "GET", "/v1/sys/members", None).await;
    assert!(r.body["members"][0].get("unreachable").is_none(), "{:?}", r.body);
}
