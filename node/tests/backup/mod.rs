//! Backup and restore on real node processes: save an encrypted snapshot, wipe the whole
//! cluster, restore into a new one, unseal with the original shares, read everything back.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{grep_dir, Cluster, Reply};

const VALUES: [&str; 4] =
    ["s3cr3t-value-one", "s3cr3t-value-two", "s3cr3t-value-three", "sensitive-value-xyz"];
const MULTI: &str = "production/db/PASSWORD";
const GATED: &str = "production/gemini/GEMINI_API_KEY";

async fn save(c: &Cluster, node: usize) -> Vec<u8> {
    let url = format!("{}/v1/sys/snapshot", c.dev.nodes[node].api_url());
    let r = c
        .dev
        .api_client()
        .unwrap()
        .get(url)
        .bearer_auth(&c.dev.root_token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("save sent");
    assert_eq!(r.status(), 200, "save: {}", r.text().await.unwrap_or_default());
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    r.bytes().await.unwrap().to_vec()
}

async fn restore(
    c: &Cluster,
    node: usize,
    file: &[u8],
    keys: &[String],
    token: Option<&str>,
) -> Reply {
    let body = json!({
        "snapshot": base64::engine::general_purpose::STANDARD.encode(file),
        "keys": keys,
    });
    c.send_as(node, token, "POST", "/v1/sys/snapshot/restore", Some(body), &[]).await
}

fn has(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Everything written before a save — every version of every secret (across a key
/// rotation), agents, tokens, both policies, an open approval — comes back on a brand-new
/// cluster that is restored from the file and unsealed with the original shares; the old
/// agent key and token work there; the file holds no plaintext value or path; damaged,
/// truncated, foreign files and wrong shares are refused with 4xx and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_a_wiped_cluster_and_unseals_with_the_original_shares() {
    let old = Cluster::start(3).await;
    for (i, v) in VALUES[..2].iter().enumerate() {
        let r = old.put(i, MULTI, json!({"value": v, "type": "password"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(old.call(1, "POST", "/v1/sys/rotate", None).await.status, 200);
    assert_eq!(old.put(2, MULTI, json!({"value": VALUES[2]})).await.status, 200);
    let r = old.put(0, GATED, json!({"value": VALUES[3], "tier": "sensitive"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = old.call(0, "PUT", "/v1/policy/tokens", Some(json!({"max_ttl": "8h"}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let policy = json!({"approval_policy": {
        "tiers": {"standard": {"required_approvals": 0},
                  "sensitive": {"required_approvals": 1, "timeout_hours": 24},
                  "critical": {"required_approvals": 2, "timeout_hours": 24}},
        "approvers": ["you@company.com", "security@company.com"]}});
    let path = "/v1/policy/approvals?allow_unknown_approvers=true";
    assert_eq!(old.call(1, "PUT", path, Some(policy)).await.status, 200);
    let r = old
        .call(
            0,
            "POST",
            "/v1/agents",
            Some(json!({"name": "inference-service", "scopes": ["secrets:read:production/*"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let agent_key = r.body["agent_key"].as_str().unwrap().to_string();
    let issue = json!({"scopes": ["secrets:read:production/*"], "ttl": "1h"});
    let r = old.send_as(1, Some(&agent_key), "POST", "/v1/tokens", Some(issue.clone()), &[]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let gated =
        old.send_as(2, Some(&token), "GET", &format!("/v1/secrets/{GATED}"), None, &[]).await;
    assert_eq!(gated.code(), "approval_required", "{:?}", gated.body);
    let approval_id = gated.body["approval_id"].as_str().unwrap().to_string();

    // A doctor suppression (replicated state in sm_meta) travels with the backup.
    let ignore = json!({"id": "deploy.few_voters", "reason": "kept across backups"});
    let r = old.call(0, "POST", "/v1/sys/doctor/ignore", Some(ignore)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    old.wait_applied(1, r.body["index"].as_u64().unwrap()).await;
    let file = save(&old, 1).await;
    for secret in VALUES.iter().chain([&MULTI, &GATED, &"inference-service"]) {
        assert!(!has(&file, secret), "the snapshot file holds `{secret}` in the clear");
    }
    assert!(!has(&file, &agent_key) && !has(&file, &token));
    eprintln!("snapshot: {} bytes", file.len());

    // In place, on the same cluster: a later write is rolled back; the root key opens it.
    assert_eq!(old.put(0, "dev/after/BACKUP", json!({"value": "later"})).await.status, 200);
    let r = restore(&old, 2, &file, &[], Some(&old.dev.root_token)).await;
    assert_eq!(r.status, 200, "in-place restore: {:?}", r.body);
    assert_eq!(old.get(0, "/v1/secrets/dev/after/BACKUP").await.status, 404);
    assert_eq!(old.get(1, &format!("/v1/secrets/{MULTI}")).await.body["value"], VALUES[2]);
    let r = restore(&old, 0, &file, &[], None).await;
    assert_eq!(r.status, 401, "an initialized cluster needs a token: {:?}", r.body);

    let keys = old.dev.unseal_keys.clone();
    let root_token = old.dev.root_token.clone();
    drop(old); // every process killed, every data dir deleted

    let mut new = Cluster::start_uninitialized(3).await;
    // Refusals: each one a stable 4xx code, and the cluster stays empty.
    let other = ass_node::seal::init(5, 3).unwrap();
    let mut flipped = file.clone();
    let mid = file.len() / 2;
    flipped[mid] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, Vec<String>, &str)> = vec![
        ("junk", b"{\"not\": \"a snapshot\"}".to_vec(), keys[..3].to_vec(), "snapshot_invalid"),
        ("truncated", file[..file.len() - 100].to_vec(), keys[..3].to_vec(), "snapshot_truncated"),
        ("flipped byte", flipped, keys[..3].to_vec(), "snapshot_corrupt"),
        ("another cluster's shares", file.clone(), other.shares[..3].to_vec(), "invalid_shares"),
        ("too few shares", file.clone(), keys[..2].to_vec(), "invalid_shares"),
        ("no shares", file.clone(), vec![], "bad_request"),
    ];
    for (what, bytes, ks, code) in cases {
        let r = restore(&new, 0, &bytes, &ks, None).await;
        assert_eq!((r.status, r.code().as_str()), (400, code), "{what}: {:?}", r.body);
    }
    for s in new.statuses().await {
        assert!(!s.initialized && s.sealed, "a refused restore changed nothing: {s:?}");
    }

    // The restore itself, sent to any node, with three of the original shares.
    let r = restore(&new, 1, &file, &keys[2..5], None).await;
    assert_eq!(r.status, 200, "restore: {:?}", r.body);
    assert_eq!(r.body["unsealed"], true);
    assert_eq!((r.body["threshold"].as_u64(), r.body["shares"].as_u64()), (Some(3), Some(5)));
    eprintln!("restore answer: {}", r.body);
    new.dev.unseal_keys = keys.clone();
    new.dev.root_token = root_token.clone();
    for i in 0..3 {
        new.dev.unseal(i).await.expect("unsealed with the original shares");
    }
    let again = restore(&new, 0, &file, &keys[..3], None).await;
    assert_eq!(
        again.status, 401,
        "an initialized cluster no longer takes shares: {:?}",
        again.body
    );

    // Everything is back, on every node.
    for node in 0..3 {
        let v = new.get(node, &format!("/v1/secrets/{MULTI}/versions")).await;
        let terms: Vec<u64> = v.body["versions"]
            .as_array()
            .unwrap_or_else(|| panic!("node {node}: {:?}", v.body))
            .iter()
            .map(|x| x["key_term"].as_u64().unwrap())
            .collect();
        assert_eq!(terms, [1, 1, 2], "node {node}: versions and their key terms");
        for (i, want) in VALUES[..3].iter().enumerate() {
            let r = new.get(node, &format!("/v1/secrets/{MULTI}?version={}", i + 1)).await;
            assert_eq!(r.body["value"], *want, "node {node} version {}", i + 1);
        }
        let r = new.get(node, &format!("/v1/secrets/{GATED}")).await;
        assert_eq!(
            (r.body["value"].as_str(), r.body["tier"].as_str()),
            (Some(VALUES[3]), Some("sensitive"))
        );
    }
    assert_eq!(new.get(0, "/v1/policy/tokens").await.body["max_ttl"], "8h");
    let p: Value = new.get(1, "/v1/policy/approvals").await.body;
    assert_eq!(p["approval_policy"]["approvers"][1], "security@company.com", "{p}");
    let d = new.get(2, "/v1/sys/doctor").await;
    assert_eq!(
        d.body["ignores"]["deploy.few_voters"]["reason"], "kept across backups",
        "{:?}",
        d.body
    );
    let r = new.get(2, "/v1/agents/inference-service").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = new.send_as(0, Some(&token), "GET", "/v1/tokens/self", None, &[]).await;
    assert_eq!(r.status, 200, "the old token works: {:?}", r.body);
    let r = new.send_as(1, Some(&agent_key), "POST", "/v1/tokens", Some(issue), &[]).await;
    assert_eq!(r.status, 200, "the old agent key buys tokens: {:?}", r.body);
    let r = new.get(2, &format!("/v1/approvals/{approval_id}")).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("pending")), "{:?}", r.body);
    let r = new.put(0, "dev/after/RESTORE", json!({"value": "new-write"})).await;
    assert_eq!(r.status, 200, "writes go on: {:?}", r.body);
    // The new cluster's disks hold no plaintext either.
    for v in VALUES {
        assert!(grep_dir(new.dir(), v.as_bytes()).is_empty(), "`{v}` on disk");
    }
    new.dev.kill(0);
}

/// Quorum lost for good: two of three nodes are gone, so no leader confirms a read and a
/// normal save fails; `?local=true` saves the survivor's state anyway, and that file
/// restores into a new cluster with every write the survivor had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_of_lost_quorum_saves_its_local_state_for_a_new_cluster() {
    let mut old = Cluster::start(3).await;
    let leader = old.leader_index().await;
    let w = old.put(leader, MULTI, json!({"value": VALUES[0]})).await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    let index: u64 = w.body["index"].as_u64().unwrap();
    let survivor = (leader + 1) % 3;
    old.wait_applied(survivor, index).await;
    old.dev.kill(leader);
    old.dev.kill((leader + 2) % 3);

    let url = format!("{}/v1/sys/snapshot", old.dev.nodes[survivor].api_url());
    let http = old.dev.api_client().unwrap();
    let r = http.get(&url).bearer_auth(&old.dev.root_token).send().await.unwrap();
    assert!(r.status().is_server_error(), "no leader, no linearizable save: {}", r.status());
    let r = http.get(format!("{url}?local=true")).bearer_auth("assr_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401, "the local save still needs a credential");
    let r = http
        .get(format!("{url}?local=true"))
        .bearer_auth(&old.dev.root_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let file = r.bytes().await.unwrap().to_vec();
    let keys = old.dev.unseal_keys.clone();
    let root = old.dev.root_token.clone();
    drop(old);

    let mut new = Cluster::start_uninitialized(3).await;
    let r = restore(&new, 0, &file, &keys[..3], None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    new.dev.unseal_keys = keys;
    new.dev.root_token = root;
    for i in 0..3 {
        new.dev.unseal(i).await.unwrap();
    }
    assert_eq!(new.get(2, &format!("/v1/secrets/{MULTI}")).await.body["value"], VALUES[0]);
}

/// Writes `values` to `path` in order (versions 1, 2, …).
async fn put_all(c: &Cluster, path: &str, values: &[String]) {
    for v in values {
        let r = c.put(0, path, json!({"value": v})).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    }
}

/// The `ass` binary next to `ass-node`. `cargo test --workspace` (CI) has built it with this
/// checkout; when it is missing (`cargo test -p ass-node` on a fresh target directory) it is
/// built first with the same profile, as `cli/tests/real_cluster.rs` builds `ass-node`.
pub fn ass_cli() -> std::path::PathBuf {
    let node = std::path::Path::new(env!("CARGO_BIN_EXE_ass-node"));
    let ass = node.with_file_name("ass");
    if ass.exists() {
        return ass;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "ass-cli", "--bin", "ass"]);
    if node.parent().and_then(|d| d.file_name()).is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo build -p ass-cli");
    assert!(status.success() && ass.exists(), "building {}", ass.display());
    ass
}

/// The shipped timer job, `cluster-config/systemd/ass-backup`, run as the service runs it
/// (its environment, the real `ass` CLI): three runs keep the newest two files, name order is
/// time order, the textfile metric records the last good backup; a run that can't save
/// leaves no file and keeps the metric. The newest file restores into a fresh cluster, which
/// serves every secret (and every version) written before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_backup_keeps_the_newest_and_its_newest_file_restores_every_secret() {
    let ass = ass_cli();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cluster-config/systemd/ass-backup");
    let old = Cluster::start(3).await;
    let mut written: Vec<(String, Vec<String>)> = Vec::new();
    for i in 0..8 {
        written.push((format!("production/svc{i}/API_KEY"), vec![format!("key-{i}-v1")]));
    }
    written.push(("production/db/PASSWORD".into(), (1..=3).map(|v| format!("pw-v{v}")).collect()));
    for (path, values) in &written {
        put_all(&old, path, values).await;
    }

    let work = tempfile::tempdir().unwrap();
    let (dir, metrics) = (work.path().join("backups"), work.path().join("textfile"));
    std::fs::create_dir(&metrics).unwrap();
    let run = |token: &str| {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .env("ASS_BIN", &ass)
            .env("ASS_ADDR", old.dev.api_urls().join(","))
            .env("ASS_CACERT", old.dev.ca_file.as_ref().expect("TLS"))
            .env("ASS_TOKEN", token)
            .env("ASS_BACKUP_DIR", &dir)
            .env("ASS_BACKUP_KEEP", "2")
            .env("ASS_BACKUP_METRICS_DIR", &metrics)
            .output()
            .expect("bash runs the backup script");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let snaps = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let metric = |name: &str| -> Option<f64> {
        let text = std::fs::read_to_string(metrics.join("ass_backup.prom")).ok()?;
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))?.parse().ok())
    };
    let mut outputs = Vec::new();
    for round in 0..3 {
        if round > 0 {
            // A later write, so each file differs; a second apart, so the names do.
            let entry = (format!("production/later{round}/TOKEN"), vec![format!("later-{round}")]);
            put_all(&old, &entry.0, &entry.1).await;
            written.push(entry);
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let (code, text) = run(&old.dev.root_token);
        assert_eq!(code, Some(0), "backup run {round}: {text}");
        outputs.push(text.trim().to_string());
    }
    let kept = snaps();
    assert_eq!(kept.len(), 2, "ASS_BACKUP_KEEP=2 keeps two files: {kept:?}");
    assert!(kept.iter().all(|f| f.starts_with("ass-") && f.ends_with("Z.snap")), "{kept:?}");
    let newest = dir.join(kept.last().unwrap());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&newest).unwrap().permissions().mode() & 0o777, 0o600);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let last_ok = metric("ass_backup_last_success_timestamp_seconds").expect("metric written");
    assert!((now.as_secs_f64() - last_ok).abs() < 30.0, "last success {last_ok}, now {now:?}");
    assert_eq!(metric("ass_backup_files"), Some(2.0));
    assert_eq!(
        metric("ass_backup_last_size_bytes"),
        Some(std::fs::metadata(&newest).unwrap().len() as f64)
    );

    // A run that can't save (a bad token): exit 2, no file, the metric untouched.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, text) = run("asst_not-a-valid-token");
    assert_eq!(code, Some(2), "{text}");
    assert_eq!(snaps(), kept, "a failed run leaves nothing behind");
    assert_eq!(metric("ass_backup_last_success_timestamp_seconds"), Some(last_ok));

    // The newest file into a fresh cluster: every secret, every version, comes back.
    let file = std::fs::read(&newest).unwrap();
    let keys = old.dev.unseal_keys.clone();
    let root_token = old.dev.root_token.clone();
    drop(old);
    let mut new = Cluster::start_uninitialized(3).await;
    let r = restore(&new, 0, &file, &keys[..3], None).await;
    assert_eq!(r.status, 200, "restore: {:?}", r.body);
    new.dev.unseal_keys = keys;
    new.dev.root_token = root_token;
    for i in 0..3 {
        new.dev.unseal(i).await.expect("unsealed with the original shares");
    }
    let mut read_back = 0;
    for (path, values) in &written {
        for (v, want) in values.iter().enumerate() {
            let node = read_back % 3;
            let url = format!("/v1/secrets/{path}?version={}", v + 1);
            let r = new.get(node, &url).await;
            assert_eq!(r.body["value"], *want, "node {node} {path} v{}: {:?}", v + 1, r.body);
            read_back += 1;
        }
    }
    eprintln!(
        "backup timer job: {}; after a failed run still {:?}; restored {} into a fresh \
         cluster and read back {read_back} secret versions ({} paths)",
        outputs.join(" | "),
        snaps(),
        newest.file_name().unwrap().to_string_lossy(),
        written.len()
    );
}
