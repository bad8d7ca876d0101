//! Auto-unseal with a real PKCS#11 HSM (Debian's SoftHSM2) on real node processes: a cluster
//! whose nodes restart with no operator, start failures that name the fault, recovery keys,
//! and seal migration both ways.
//!
//! Every test makes its own SoftHSM token (`softhsm2-util --init-token`) and AES key
//! (`pkcs11-tool --keygen`, as docs/operations.md tells operators), shared by the nodes of
//! its cluster the way a network HSM is. Without `softhsm2-util`/`pkcs11-tool` (Debian
//! `softhsm2`, `opensc`; `.ci/run` installs them) the tests fail, unless `ASS_ALLOW_SKIP=1`
//! (never under `CI=true`) makes them print `SKIPPED` and pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Cluster;

const LIBRARY: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-ass";

/// A SoftHSM token `ass` holding the AES-256 key `ass-root`, in its own directory.
struct SoftHsm {
    _dir: tempfile::TempDir,
    conf: PathBuf,
}

impl SoftHsm {
    fn new(test: &str) -> Option<Self> {
        for tool in ["softhsm2-util", "pkcs11-tool"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !found || !Path::new(LIBRARY).exists() {
                crate::harness::missing_tool(
                    test,
                    &format!("`{tool}` or {LIBRARY}"),
                    "apt-get install softhsm2 opensc",
                );
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let hsm = Self { _dir: dir, conf };
        hsm.run(
            "softhsm2-util",
            &["--init-token", "--free", "--label", "ass", "--pin", PIN, "--so-pin", "9999"],
        );
        hsm.run(
            "pkcs11-tool",
            &[
                "--module",
                LIBRARY,
                "--token-label",
                "ass",
                "--login",
                "--pin",
                PIN,
                "--keygen",
                "--key-type",
                "AES:32",
                "--label",
                "ass-root",
                "--sensitive",
            ],
        );
        Some(hsm)
    }

    fn run(&self, tool: &str, args: &[&str]) -> String {
        let out = Command::new(tool)
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
        text
    }

    /// The node environment: where SoftHSM finds the token, and the PIN (never in the config).
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf.display().to_string()),
            ("ASS_SEAL_PIN".into(), PIN.into()),
        ]
    }
}

/// The `[seal]` block of the nodes.
const SEAL: &str =
    "[seal]\ntype = \"pkcs11\"\nlibrary = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"ass\"\n";

/// Waits until node `i` answers unsealed; the time it took from `since`.
async fn wait_unsealed(c: &Cluster, i: usize, since: Instant, within: Duration) -> Duration {
    let http = crate::harness::api_client(&c.dev);
    let url = format!("{}/v1/sys/status", c.dev.nodes[i].api_url());
    loop {
        let status: Option<serde_json::Value> = match http.get(&url).send().await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None, // still starting
        };
        if status.as_ref().is_some_and(|s| s["sealed"] == false) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "node {i} not unsealed within {within:?}: {status:?}\n{}",
            log_of(c, i)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Node `i`'s status once it answers.
async fn status_of(c: &Cluster, i: usize) -> serde_json::Value {
    let http = crate::harness::api_client(&c.dev);
    let url = format!("{}/v1/sys/status", c.dev.nodes[i].api_url());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if let Ok(v) = r.json().await {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "node {i} does not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn log_of(c: &Cluster, i: usize) -> String {
    let p = c.dir().join(format!("node{}", c.dev.nodes[i].id)).join("node.log");
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `ass operator seal migrate --to TO --key-file - --json` against node `i`, the share on
/// standard input; the JSON answer.
fn cli_migrate(ass: &Path, c: &Cluster, i: usize, to: &str, share: &str) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = Command::new(ass)
        .env("ASS_ADDR", c.dev.nodes[i].api_url())
        .env("ASS_CACERT", c.dev.ca_file.as_ref().expect("TLS"))
        .env("ASS_NO_TOKEN_CACHE", "1")
        .args(["operator", "seal", "migrate", "--to", to, "--key-file", "-", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ass runs");
    child.stdin.take().unwrap().write_all(share.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ass operator seal migrate --to {to}: {stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Starts node `i` and waits for its process to exit; its exit status and log.
fn start_expecting_exit(c: &mut Cluster, i: usize) -> (std::process::ExitStatus, String) {
    c.dev.spawn(i).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let child = c.dev.nodes[i].child.as_mut().unwrap();
        if let Ok(Some(status)) = child.try_wait() {
            c.dev.nodes[i].child = None;
            return (status, log_of(c, i));
        }
        assert!(Instant::now() < deadline, "node {i} kept running:\n{}", log_of(c, i));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A SoftHSM2-backed 3-node cluster: `init` gives recovery keys, every node is unsealed by
/// the HSM; each node killed and started again, then all three at once, comes back unsealed
/// with no operator and serves the data; the recovery keys still make a new root token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_softhsm_cluster_restarts_every_node_with_no_operator() {
    let test = "a_softhsm_cluster_restarts_every_node_with_no_operator";
    let Some(hsm) = SoftHsm::new(test) else { return };
    let mut c = Cluster::start_env(3, SEAL, hsm.env()).await;
    for i in 0..3 {
        // The auto-unseal record is the entry right after init: wait for it to apply here.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = status_of(&c, i).await;
            if s["seal_type"] == "pkcs11" {
                break;
            }
            assert!(Instant::now() < deadline, "node {i}: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = log_of(&c, i);
        assert!(log.contains("HSM ready"), "node {i} opened the HSM");
        // A first start never claims to rejoin (issue 23's log complaint).
        assert!(!log.contains("raft state found"), "node {i} first start:\n{log}");
    }
    let path = "production/hsm/DB_PASSWORD";
    assert_eq!(c.put(0, path, json!({"value": "wrapped-by-softhsm"})).await.status, 200);

    let mut transcript = Vec::new();
    for i in 0..3 {
        c.dev.kill(i);
        let started = Instant::now();
        c.dev.spawn(i).unwrap();
        let took = wait_unsealed(&c, i, started, Duration::from_secs(60)).await;
        let log = log_of(&c, i);
        assert!(log.contains("node unsealed by the HSM (auto-unseal)"), "node {i}:\n{log}");
        transcript.push(format!(
            "node {} kill -9, started, unsealed by the HSM after {:.2} s",
            c.dev.nodes[i].id,
            took.as_secs_f64()
        ));
    }
    // The whole cluster down at once, then up: no shares anywhere.
    for i in 0..3 {
        c.dev.kill(i);
    }
    let started = Instant::now();
    for i in 0..3 {
        c.dev.spawn(i).unwrap();
    }
    for i in 0..3 {
        let took = wait_unsealed(&c, i, started, Duration::from_secs(60)).await;
        transcript.push(format!(
            "all 3 killed and started: node {} unsealed after {:.2} s",
            c.dev.nodes[i].id,
            took.as_secs_f64()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..3 {
        loop {
            let r = c.get(i, &format!("/v1/secrets/{path}")).await;
            if r.status == 200 {
                assert_eq!(r.body["value"], "wrapped-by-softhsm");
                break;
            }
            assert!(Instant::now() < deadline, "node {i}: {:?}", r.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Recovery keys: generate-root works with them.
    let mut root = None;
    for key in c.dev.unseal_keys.clone().iter().take(3) {
        let r = c.call(0, "POST", "/v1/sys/generate-root", Some(json!({"key": key}))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        root = r.body["root_token"].as_str().map(str::to_string);
    }
    let root = root.expect("a new root token from the recovery keys");
    let r = c.send_as(1, Some(&root), "GET", &format!("/v1/secrets/{path}"), None, &[]).await;
    assert_eq!(r.body["value"], "wrapped-by-softhsm");
    // The nodes' own words for the last restart (ANSI colours stripped).
    for i in 0..3 {
        let log = log_of(&c, i);
        let lines: Vec<String> = log
            .lines()
            .filter(|l| {
                ["HSM ready", "unsealed by the HSM", "raft state found", "node running"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .map(strip_ansi)
            .collect();
        let last = &lines[lines.len().saturating_sub(4)..];
        transcript.push(format!("node {} log: {}", c.dev.nodes[i].id, last.join(" | ")));
    }
    eprintln!("SoftHSM2 auto-unseal restart transcript:\n  {}", transcript.join("\n  "));
}

/// A wrong PIN, or a key label the token does not hold, stops the node at start with an
/// error naming the fault (exit status not 0; the data stays sealed); with the right
/// settings the same node starts and unseals itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_or_a_missing_key_fails_start_and_leaves_the_node_sealed() {
    let test = "a_wrong_pin_or_a_missing_key_fails_start_and_leaves_the_node_sealed";
    let Some(hsm) = SoftHsm::new(test) else { return };
    let mut c = Cluster::start_env(3, SEAL, hsm.env()).await;
    let config_path = c.dev.nodes[2].config_path.clone();
    let good = std::fs::read_to_string(&config_path).unwrap();
    c.dev.stop(2);

    let wrong_pin = c.dir().join("wrong-pin");
    std::fs::write(&wrong_pin, "0000\n").unwrap();
    let with = |extra: &str| {
        good.replace("token_label = \"ass\"\n", &format!("token_label = \"ass\"\n{extra}\n"))
    };
    std::fs::write(&config_path, with(&format!("pin_file = \"{}\"", wrong_pin.display()))).unwrap();
    let (status, log) = start_expecting_exit(&mut c, 2);
    assert!(!status.success(), "{status}");
    assert!(
        log.contains("PIN is incorrect") && log.contains("the node does not start"),
        "wrong PIN:\n{log}"
    );
    let wrong_pin_line =
        log.lines().rev().find(|l| l.contains("PIN is incorrect")).unwrap_or("").to_string();

    std::fs::write(&config_path, with("key_label = \"no-such-key\"")).unwrap();
    let (status, log) = start_expecting_exit(&mut c, 2);
    assert!(!status.success(), "{status}");
    assert!(
        log.contains("no AES secret key labelled `no-such-key`") && log.contains("token `ass`"),
        "missing key:\n{log}"
    );
    let missing_key_line =
        log.lines().rev().find(|l| l.contains("no-such-key")).unwrap_or("").to_string();

    // The other two serve on; the node with its settings fixed unseals itself.
    assert_eq!(c.put(0, "production/hsm/K", json!({"value": "v"})).await.status, 200);
    std::fs::write(&config_path, &good).unwrap();
    let started = Instant::now();
    c.dev.spawn(2).unwrap();
    let took = wait_unsealed(&c, 2, started, Duration::from_secs(60)).await;
    eprintln!(
        "wrong PIN: {wrong_pin_line}\nmissing key: {missing_key_line}\nfixed: unsealed by the \
         HSM after {:.2} s",
        took.as_secs_f64()
    );
}

/// `seal migrate` both ways on a running cluster: Shamir → pkcs11 with the unseal shares
/// (nodes then restart unsealed), and pkcs11 → Shamir with the same shares as recovery keys
/// (a restarted node then waits for shares again). The data reads back throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_migrates_from_shamir_to_pkcs11_and_back() {
    let test = "seal_migrates_from_shamir_to_pkcs11_and_back";
    let Some(hsm) = SoftHsm::new(test) else { return };
    // A Shamir cluster (the nodes have no HSM yet) with a secret.
    let mut c = Cluster::start_env(3, "", hsm.env()).await;
    let path = "production/migrate/API_KEY";
    assert_eq!(c.put(0, path, json!({"value": "survives-migration"})).await.status, 200);
    let s = c.call(0, "GET", "/v1/sys/status", None).await;
    assert_eq!(s.body["seal_type"], "shamir");
    let r = c
        .call(
            0,
            "POST",
            "/v1/sys/seal/migrate",
            Some(json!({"to": "pkcs11", "key": c.dev.unseal_keys[0]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "no_hsm".to_string()), "{:?}", r.body);

    // Give every node the HSM (restart + unseal with the shares: still Shamir).
    for i in 0..3 {
        let p = c.dev.nodes[i].config_path.clone();
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            t.replace("tls_disable = false\n", &format!("tls_disable = false\n{SEAL}")),
        )
        .unwrap();
        c.dev.restart(i).await.unwrap();
    }
    let keys = c.dev.unseal_keys.clone();
    let mut last = serde_json::Value::Null;
    // Through the real CLI, one share per run as key holders would.
    let ass = crate::backup::ass_cli();
    for key in keys.iter().take(3) {
        last = cli_migrate(&ass, &c, 0, "pkcs11", key);
    }
    assert_eq!(
        (last["migrated"].clone(), last["seal_type"].clone()),
        (json!(true), json!("pkcs11"))
    );
    for i in 0..3 {
        c.dev.kill(i);
        let started = Instant::now();
        c.dev.spawn(i).unwrap();
        wait_unsealed(&c, i, started, Duration::from_secs(60)).await;
    }
    let r = c.get(1, &format!("/v1/secrets/{path}")).await;
    assert_eq!(r.body["value"], "survives-migration", "{:?}", r.body);

    // Back to Shamir with the recovery keys (the same shares).
    for key in keys.iter().take(3) {
        last = cli_migrate(&ass, &c, 2, "shamir", key);
    }
    assert_eq!(
        (last["migrated"].clone(), last["seal_type"].clone()),
        (json!(true), json!("shamir"))
    );
    // Every node learns it (the record replicates); then a second migration is refused.
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while status_of(&c, i).await["seal_type"] != "shamir" {
            assert!(Instant::now() < deadline, "node {i} never saw the migration");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let r = c
        .call(0, "POST", "/v1/sys/seal/migrate", Some(json!({"to": "shamir", "key": keys[0]})))
        .await;
    assert_eq!(r.code(), "already_migrated");
    // A restarted node now stays sealed until shares are handed in, HSM or not.
    c.dev.kill(1);
    c.dev.spawn(1).unwrap();
    let _ = status_of(&c, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = status_of(&c, 1).await;
    assert_eq!(
        (s["sealed"].clone(), s["seal_type"].clone()),
        (json!(true), json!("shamir")),
        "{s:?}"
    );
    c.dev.unseal(1).await.unwrap();
    let r = c.get(1, &format!("/v1/secrets/{path}")).await;
    assert_eq!(r.body["value"], "survives-migration", "{:?}", r.body);
}
