//! Planned leader changes and clean stops that lose nothing: `transfer-leader` and SIGTERM of
//! a leader under load with no failed call and no lost acknowledged write; SIGTERM-to-exit
//! times; a removed node failing its health check and no longer campaigning; autopilot's
//! dead-server cleanup of a killed voter. Real node processes, real TLS, the real SDK.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ass_client::types::PutSecretRequest;
use ass_client::{Client, ReadOptions};
use serde_json::json;

use crate::harness::Cluster;

/// One client call of a [`Load`]: when it started, what it was, how it ended.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Duration,
    pub op: &'static str,
    pub error: Option<String>,
}

/// Writers that write, then read back their own write, over and over, plus readers of a
/// fixed secret; every acknowledged write is remembered to be read back at the end.
pub struct Load {
    stop: Arc<AtomicBool>,
    pub started: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
    /// path → last acknowledged value.
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `writers` write+read loops and `readers` read loops on `client`, `pause` between
    /// calls of one loop.
    pub async fn start(client: Client, writers: usize, readers: usize, pause: Duration) -> Self {
        let fixed =
            PutSecretRequest { value: "fixed".into(), secret_type: None, tier: None, cas: None };
        client.put_secret("dev/ha/FIXED", &fixed).await.expect("first write");
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (client, stop, calls, acked) =
                (client.clone(), stop.clone(), calls.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("dev/ha/W{w}/K{}", n % 20);
                    let value = format!("w{w}-{n}");
                    let put = PutSecretRequest {
                        value: value.clone(),
                        secret_type: None,
                        tier: None,
                        cas: None,
                    };
                    let at = started.elapsed();
                    let r = client.put_secret(&path, &put).await;
                    let index = match r {
                        Ok(w) => {
                            acked.lock().unwrap().insert(path.clone(), value.clone());
                            calls.lock().unwrap().push(Call { at, op: "write", error: None });
                            Some(w.index)
                        }
                        Err(e) => {
                            let error = Some(format!("put {path}: {e}"));
                            calls.lock().unwrap().push(Call { at, op: "write", error });
                            None
                        }
                    };
                    if let Some(index) = index {
                        let at = started.elapsed();
                        let opts = ReadOptions { min_index: Some(index), ..Default::default() };
                        let error = match client.get_secret(&path, &opts).await {
                            Ok(s) if s.value == value => None,
                            Ok(s) => Some(format!("read {path}: {} instead of {value}", s.value)),
                            Err(e) => Some(format!("get {path}: {e}")),
                        };
                        calls.lock().unwrap().push(Call { at, op: "read-own", error });
                    }
                    n += 1;
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        for _ in 0..readers {
            let (client, stop, calls) = (client.clone(), stop.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let at = started.elapsed();
                    let error = match client.get_secret("dev/ha/FIXED", &Default::default()).await {
                        Ok(s) if s.value == "fixed" => None,
                        Ok(s) => Some(format!("read FIXED: {}", s.value)),
                        Err(e) => Some(format!("get FIXED: {e}")),
                    };
                    calls.lock().unwrap().push(Call { at, op: "read", error });
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        Load { stop, started, calls, acked, tasks }
    }

    /// Calls so far.
    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Stops the loops; returns every call and the acknowledged writes.
    pub async fn finish(self) -> (Vec<Call>, BTreeMap<String, String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let calls = self.calls.lock().unwrap().clone();
        let acked = self.acked.lock().unwrap().clone();
        (calls, acked)
    }
}

/// Failed calls among `calls`.
pub fn failures(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.error.is_some()).collect()
}

/// Reads every acknowledged write back (linearizable) and returns the ones that are lost.
pub async fn lost_writes(client: &Client, acked: &BTreeMap<String, String>) -> Vec<String> {
    let mut lost = Vec::new();
    for (path, value) in acked {
        match client.get_secret(path, &Default::default()).await {
            Ok(s) if &s.value == value => {}
            Ok(s) => lost.push(format!("{path}: {} instead of {value}", s.value)),
            Err(e) => lost.push(format!("{path}: {e}")),
        }
    }
    lost
}

/// The SDK on every node's address, as an application would configure it.
fn client(c: &Cluster) -> Client {
    Client::builder()
        .addresses(c.dev.api_urls())
        .ca_cert_pem(c.ca_pem())
        .token(Some(c.dev.root_token.clone()))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Copies every node's log to `target/test-logs/<test>/` (for a failed assertion's post-mortem).
fn keep_logs(c: &Cluster, test: &str) -> std::path::PathBuf {
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-logs").join(test);
    let _ = std::fs::create_dir_all(&out);
    for n in &c.dev.nodes {
        let log = c.dir().join(format!("node{}", n.id)).join("node.log");
        let _ = std::fs::copy(log, out.join(format!("node{}.log", n.id)));
    }
    out
}

/// The node log's lines containing `needle`.
fn log_lines(c: &Cluster, i: usize, needle: &str) -> Vec<String> {
    let path = c.dir().join(format!("node{}", c.dev.nodes[i].id)).join("node.log");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Five `transfer-leader`s while 4 writers and 4 readers run: every transfer succeeds, no
/// call fails, no acknowledged write is lost. Prints the transfer times and call counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_leader_under_load_fails_no_call() {
    let c = Cluster::start(3).await;
    let client = client(&c);
    let load = Load::start(client.clone(), 4, 4, Duration::from_millis(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut took = Vec::new();
    for _ in 0..5 {
        let before = load.count();
        let t = Instant::now();
        let r = match client.step_down().await {
            Ok(r) => r,
            Err(e) => {
                for i in 0..3 {
                    for l in log_lines(&c, i, "vote").iter().rev().take(30).rev() {
                        eprintln!("node {}: {l}", i + 1);
                    }
                }
                panic!("transfer-leader under load: {e}");
            }
        };
        took.push((r.old_leader, r.new_leader, t.elapsed(), r.took_ms));
        assert_ne!(r.old_leader, r.new_leader);
        // A leader elected less than a lease (the election timeout) ago can't be outvoted
        // yet: space the transfers as operators would.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(load.count() > before, "the load kept going");
    }
    let (calls, acked) = load.finish().await;
    let failed = failures(&calls);
    let lost = lost_writes(&client, &acked).await;
    eprintln!(
        "transfer-leader under load: 5 transfers {:?}; {} calls ({} writes, {} reads), {} failed, \
         {} acknowledged writes checked, {} lost",
        took.iter()
            .map(|(o, n, d, ms)| format!("{o}->{n} {} ms (node: {ms:?} ms)", d.as_millis()))
            .collect::<Vec<_>>(),
        calls.len(),
        calls.iter().filter(|c| c.op == "write").count(),
        calls.iter().filter(|c| c.op != "write").count(),
        failed.len(),
        acked.len(),
        lost.len()
    );
    if !failed.is_empty() {
        let logs = keep_logs(&c, "transfer_leader");
        panic!("calls failed during transfers: {failed:?} (logs in {})", logs.display());
    }
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// SIGTERM of the leader under load: it hands over first, drains, exits 0 and logs that it
/// finished; no call fails and no acknowledged write is lost. Then a follower. Prints the
/// SIGTERM-to-exit times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_leader_under_load_fails_no_call_and_exits_zero() {
    let mut c = Cluster::start(3).await;
    let client = client(&c);
    let load = Load::start(client.clone(), 4, 4, Duration::from_millis(5)).await;
    // Past the first leader's first lease (a leader elected less than an election timeout
    // ago can't be outvoted yet; see `handover`), as in any cluster that ran for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leader = c.leader_index().await;
    let stopped_at = load.started.elapsed();
    let (leader_took, status) = c.dev.stop(leader);
    let status = status.expect("the leader exits by itself");
    assert!(status.success(), "exit status {status}");
    let new_leader = c.leader_index().await;
    assert_ne!(new_leader, leader);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let follower = (0..3).find(|i| *i != leader && *i != new_leader).unwrap();
    let (follower_took, status) = c.dev.stop(follower);
    assert!(status.expect("the follower exits by itself").success());
    // The leader alone with a quorum gone cannot serve; restart the follower first.
    c.dev.spawn(follower).unwrap();
    c.wait_answering(follower).await;
    c.dev.unseal(follower).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (calls, acked) = load.finish().await;
    let failed = failures(&calls);
    let lost = lost_writes(&client, &acked).await;
    for i in [leader, follower] {
        let lines = log_lines(&c, i, "shutdown complete: log synced");
        assert_eq!(lines.len(), 1, "node {i} logs its finish: {lines:#?}");
    }
    for l in log_lines(&c, leader, "ass_node::server") {
        eprintln!("leader log: {l}");
    }
    let handed = log_lines(&c, leader, "leadership handed over");
    if handed.len() != 1 {
        let logs = keep_logs(&c, "sigterm_of_the_leader");
        panic!("the leader did not hand over (logs in {})", logs.display());
    }
    eprintln!(
        "SIGTERM under load (hand-started nodes, TLS, 3 voters): leader node {} exited 0 in {} ms \
         (stopped at {:.2} s), follower node {} in {} ms; {} calls, {} failed, {} acknowledged \
         writes checked, {} lost",
        c.dev.nodes[leader].id,
        leader_took.as_millis(),
        stopped_at.as_secs_f64(),
        c.dev.nodes[follower].id,
        follower_took.as_millis(),
        calls.len(),
        failed.len(),
        acked.len(),
        lost.len()
    );
    if !failed.is_empty() {
        let logs = keep_logs(&c, "sigterm_of_the_leader");
        panic!("calls failed during the leader's stop: {failed:?} (logs in {})", logs.display());
    }
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(leader_took < Duration::from_secs(5), "leader stop took {leader_took:?}");
    assert!(follower_took < Duration::from_secs(5), "follower stop took {follower_took:?}");
}

/// A second SIGTERM ends a node at once, even while its clean stop would still wait for a
/// request in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let victim = (leader + 1) % 3;
    let pid = c.dev.nodes[victim].child.as_ref().unwrap().id() as i32;
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGTERM);
    }
    let t = Instant::now();
    let child = c.dev.nodes[victim].child.as_mut().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "still running");
        std::thread::sleep(Duration::from_millis(5));
    };
    c.dev.nodes[victim].child = None;
    // Either the first stop already finished (exit 0) or the second signal cut it (130).
    assert!(matches!(status.code(), Some(0) | Some(130)), "{status}");
}

/// A removed node answers its health check with 530 at once (`removed_from_cluster`), stops
/// campaigning (its term stays put), and stays removed across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_node_fails_its_health_check_and_stops_campaigning() {
    let mut c = Cluster::start(3).await;
    let leader = c.leader_index().await;
    let victim = (leader + 1) % 3;
    let id = c.dev.nodes[victim].id;
    let r = c.get(victim, "/v1/sys/health").await;
    assert_eq!(r.status, 429, "a standby before: {:?}", r.body);
    let r = c.call(leader, "DELETE", &format!("/v1/sys/members/{id}"), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let t = Instant::now();
    let r = c.get(victim, "/v1/sys/health").await;
    assert_eq!(r.status, 530, "removed at once: {:?}", r.body);
    assert_eq!(r.body["removed_from_cluster"], true);
    let r = c.get(victim, "/v1/sys/health?standbyok=true").await;
    assert_eq!(r.status, 530, "standbyok does not make a removed node healthy");
    eprintln!(
        "removed node {id}: health 530 {} ms after the removal answered",
        t.elapsed().as_millis()
    );
    // No campaigning: with the leader's heartbeats gone, a voter would start elections
    // (and raise its term) within ~2 s.
    let term = c.status(victim).await.term;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(c.status(victim).await.term, term, "the removed node campaigned");
    // The marker survives a restart.
    c.dev.stop(victim);
    c.dev.spawn(victim).unwrap();
    c.wait_answering(victim).await;
    let r = c.get(victim, "/v1/sys/health").await;
    assert_eq!(r.status, 530, "still removed after a restart: {:?}", r.body);
    // The cluster goes on with two voters.
    let other = (0..3).find(|i| *i != victim).unwrap();
    assert_eq!(c.put(other, "dev/ha/after-removal", json!({"value": "v"})).await.status, 200);
}

/// Dead-server cleanup: with `[autopilot] cleanup_dead_servers`, a killed voter is removed
/// once unreachable past the threshold, never below `min_quorum`; the removal is counted
/// and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_server_cleanup_removes_a_killed_voter() {
    let extra = "[autopilot]\ncleanup_dead_servers = true\n\
                 dead_server_last_contact_threshold_ms = 10000\nmin_quorum = 2\n";
    let mut c = Cluster::start_with(3, extra).await;
    let leader = c.leader_index().await;
    let dead = (leader + 1) % 3;
    let dead_id = c.dev.nodes[dead].id;
    c.dev.kill(dead);
    let killed = Instant::now();
    let voters = |r: &crate::harness::Reply| -> Vec<u64> {
        r.body["members"]
            .as_array()
            .map(|m| {
                m.iter().filter(|m| m["voter"] == true).filter_map(|m| m["id"].as_u64()).collect()
            })
            .unwrap_or_default()
    };
    // Not before the threshold.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = c.call(leader, "GET", "/v1/sys/members", None).await;
    assert!(voters(&r).contains(&dead_id), "removed too early: {:?}", r.body);
    let removed_after = loop {
        let r = c.call(leader, "GET", "/v1/sys/members", None).await;
        if !voters(&r).contains(&dead_id) {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "never removed: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(removed_after >= Duration::from_secs(10), "{removed_after:?}");
    // Counted on the node that led when it removed the voter (leadership may have moved on a
    // loaded machine): one removal across the live nodes.
    let mut removals = 0;
    let mut lines = Vec::new();
    for i in (0..3).filter(|i| *i != dead) {
        let metrics = c.get(i, "/metrics").await.text;
        for l in
            metrics.lines().filter(|l| l.starts_with("ass_autopilot_dead_servers_removed_total"))
        {
            removals += l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            lines.push(l.to_owned());
        }
    }
    assert_eq!(removals, 1, "counted once: {lines:?}");
    let audit =
        c.call(leader, "GET", "/v1/audit?action=sys.autopilot.remove_dead_server", None).await;
    assert!(audit.text.contains("sys.autopilot.remove_dead_server"), "audited: {}", audit.text);
    eprintln!(
        "dead-server cleanup: node {dead_id} killed, removed {:.1} s later (threshold 10 s)",
        removed_after.as_secs_f64()
    );
}

/// The rolling restart of `docs/operations.md` on real processes behind the shipped haproxy
/// config: three transfer-leaders, then for each node in turn (followers first, the leader last) wait for autopilot's
/// `safe_to_restart_one`, SIGTERM, start, unseal, wait until it is healthy and caught up,
/// next — while 2 writers and 2 readers use the SDK with haproxy's one address (its normal
/// retries). 0 failed calls, 0 lost acknowledged writes; prints the roll's timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_behind_haproxy_fails_no_call() {
    use crate::ops::{
        api_ports, free_port, haproxy_command, haproxy_server_status, haproxy_socket,
        render_haproxy, spawn, tool, Tls, NODE_BEHIND_HAPROXY,
    };
    let test = "rolling_restart_behind_haproxy_fails_no_call";
    let Some(haproxy) = tool("haproxy", test) else { return };
    let mut c = Cluster::start_with(3, NODE_BEHIND_HAPROXY).await;
    let lb = free_port();
    let cfg = c.dir().join("haproxy.cfg");
    let ca = c.dev.ca_file.clone().expect("a TLS cluster");
    std::fs::write(&cfg, render_haproxy(lb, &api_ports(&c), Tls::Ca(&ca))).unwrap();
    let hlog = c.dir().join("haproxy.log");
    let socket = haproxy_socket(lb);
    let _haproxy =
        spawn(std::process::Command::new(&haproxy).arg("-db").arg("-f").arg(&cfg), &hlog);
    let client = Client::builder()
        .addresses([format!("https://127.0.0.1:{lb}")])
        .ca_cert_pem(c.ca_pem())
        .token(Some(c.dev.root_token.clone()))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // haproxy marks the servers up after `rise 2` checks.
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.autopilot_state().await.map(|s| s.safe_to_restart_one).ok() != Some(true)
        || (1..=3).any(|n| haproxy_server_status(&socket, &format!("node{n}")) != "UP")
    {
        assert!(
            Instant::now() < deadline,
            "haproxy never served: {}",
            std::fs::read_to_string(&hlog).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load = Load::start(client.clone(), 2, 2, Duration::from_millis(10)).await;
    let t0 = load.started;
    let mut timeline: Vec<String> = Vec::new();
    let mut note = |what: String| {
        let line = format!("{:>7.2} s  {what}", t0.elapsed().as_secs_f64());
        eprintln!("roll: {line}");
        timeline.push(line);
    };
    // First the runbook's opening move, under the same load: transfer-leader, three times.
    for _ in 0..3 {
        let r = client.step_down().await.expect("transfer-leader through haproxy");
        note(format!(
            "transfer-leader: node {} -> node {} in {} ms",
            r.old_leader,
            r.new_leader,
            r.took_ms.unwrap_or(0)
        ));
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let leader = c.leader_index().await;
    let order: Vec<usize> = (0..3).filter(|i| *i != leader).chain([leader]).collect();
    for i in order {
        let id = c.dev.nodes[i].id;
        let state = loop {
            let s = client.autopilot_state().await.expect("autopilot state through haproxy");
            if s.safe_to_restart_one {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "never safe: {s:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        note(format!(
            "autopilot: safe to restart one (healthy, failure tolerance {}, leader {}); next: node {id}",
            state.failure_tolerance, state.leader
        ));
        let was_leader = c.dev.nodes[i].id == state.leader;
        let server = format!("node{}", i + 1);
        let answer =
            haproxy_command(&socket, &format!("set server ass_nodes/{server} state drain"));
        assert!(answer.trim().is_empty(), "haproxy: {answer}");
        note(format!("haproxy: {server} set to drain (no new connections)"));
        let (took, status) = c.dev.stop(i);
        let status = status.expect("the node stops by itself");
        assert!(status.success(), "node {id}: {status}");
        note(format!(
            "node {id}{} stopped by SIGTERM in {} ms ({status})",
            if was_leader { " (leader)" } else { "" },
            took.as_millis()
        ));
        c.dev.spawn(i).unwrap();
        c.wait_answering(i).await;
        note(format!("node {id} started (sealed)"));
        c.dev.unseal(i).await.unwrap();
        note(format!("node {id} unsealed"));
        loop {
            let s = client.autopilot_state().await.expect("autopilot state through haproxy");
            let me = s.servers.iter().find(|m| m.id == id).cloned();
            if let Some(me) = me.filter(|m| m.healthy) {
                note(format!(
                    "node {id} caught up: healthy, lag {} (leader node {}, last index {})",
                    me.lag.unwrap_or(0),
                    s.leader,
                    s.last_index
                ));
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "node {id} never healthy: {s:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let answer =
            haproxy_command(&socket, &format!("set server ass_nodes/{server} state ready"));
        assert!(answer.trim().is_empty(), "haproxy: {answer}");
        loop {
            let status = haproxy_server_status(&socket, &server);
            if status == "UP" {
                note(format!("haproxy: {server} set to ready; haproxy reports it UP"));
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "{server} never UP: {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (calls, acked) = load.finish().await;
    let failed = failures(&calls);
    let lost = lost_writes(&client, &acked).await;
    let writes = calls.iter().filter(|c| c.op == "write").count();
    note(format!(
        "done: {} calls through haproxy ({writes} writes, {} reads), {} failed, {} acknowledged \
         writes read back, {} lost",
        calls.len(),
        calls.len() - writes,
        failed.len(),
        acked.len(),
        lost.len()
    ));
    eprintln!("rolling restart timeline:\n{}", timeline.join("\n"));
    let failed: Vec<String> = failed
        .iter()
        .map(|f| {
            format!("{:.2} s {}: {}", f.at.as_secs_f64(), f.op, f.error.clone().unwrap_or_default())
        })
        .collect();
    if !failed.is_empty() {
        let logs = keep_logs(&c, "rolling_restart");
        panic!("calls failed during the roll: {failed:#?} (logs in {})", logs.display());
    }
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// The `ass-node dev` launcher itself (the issue: its nodes "never exited" on SIGTERM — they
/// had exited, and lingered as zombies the launcher never reaped): a node sent SIGTERM exits
/// 0, is reaped at once (no zombie) and reported; Ctrl-C (SIGINT) of the launcher stops the
/// rest cleanly and the launcher exits 0. Prints the SIGTERM-to-exit times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_launcher_reaps_a_node_stopped_with_sigterm_and_stops_the_rest_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let base = crate::harness::free_base_port(3);
    let mut launcher = std::process::Command::new(env!("CARGO_BIN_EXE_ass-node"))
        .args(["dev", "--dir"])
        .arg(dir.path())
        .args(["--base-port", &base.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (lines, out) = (lines.clone(), launcher.stdout.take().unwrap());
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let seen = |needle: &str| lines.lock().unwrap().iter().any(|l| l.contains(needle));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen("Ctrl-C stops every node") {
        assert!(
            Instant::now() < deadline,
            "dev cluster never came up: {:?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cluster.json")).unwrap()).unwrap();
    let pids: Vec<(u64, i32)> = file["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_u64().unwrap(), n["pid"].as_i64().unwrap() as i32))
        .collect();
    let state = |pid: i32| -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')').next()?.split_whitespace().next().map(str::to_owned)
    };
    // A leader elected less than an election timeout ago waits out its own lease first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (id, pid) = pids[2];
    let t = Instant::now();
    // SAFETY: kill(2) on a node process of the launcher this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    while !matches!(state(pid).as_deref(), None | Some("Z")) {
        assert!(t.elapsed() < Duration::from_secs(20), "node {id} still running");
        std::thread::sleep(Duration::from_millis(5));
    }
    let exited = t.elapsed();
    while !seen(&format!("node {id} exited (exit status: 0)")) {
        assert!(t.elapsed() < Duration::from_secs(5), "not reported: {:?}", lines.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state(pid), None, "node {id} was reaped, not left a zombie");
    let t = Instant::now();
    // SAFETY: kill(2) on the launcher this test started (Ctrl-C).
    unsafe {
        libc::kill(launcher.id() as i32, libc::SIGINT);
    }
    let status = loop {
        if let Some(s) = launcher.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the launcher did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let stopped_all = t.elapsed();
    reader.join().unwrap();
    assert!(status.success(), "launcher: {status}");
    let lines = lines.lock().unwrap().clone();
    for (id, pid) in &pids[..2] {
        assert_eq!(state(*pid), None, "node {id} gone");
        let line = lines.iter().find(|l| l.starts_with(&format!("node {id} stopped in")));
        assert!(line.is_some_and(|l| l.ends_with("(exit status: 0)")), "{lines:#?}");
    }
    eprintln!(
        "ass-node dev: node {id} exited {} ms after SIGTERM and was reaped; Ctrl-C stopped the \
         other two (follower first, then the leader) in {} ms: {:?}",
        exited.as_millis(),
        stopped_all.as_millis(),
        lines.iter().filter(|l| l.contains("stopped in")).collect::<Vec<_>>()
    );
}
