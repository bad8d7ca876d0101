//! The `ass` binary end to end against scripted fake nodes (axum on port 0): what it prints,
//! what it sends, and its exit codes. No real cluster needed.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use tokio::io::AsyncWriteExt;

/// One request as a fake node saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: String,
}

/// A fake node answering every request with `reply`, recording what it saw.
struct FakeNode {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeNode {
    async fn start(reply: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Self {
        let reply = Arc::new(reply);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let reply = Arc::clone(&reply);
                let log = Arc::clone(&log);
                async move {
                    let s = Seen {
                        method,
                        uri: uri.to_string(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let (status, body) = reply(&s);
                    log.lock().unwrap().push(s);
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                        .into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeNode { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    a
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ass args…` with a clean environment and `stdin` as standard input.
async fn ass(args: &[&str], stdin: &str) -> Run {
    ass_env(args, &[], stdin).await
}

/// Runs `ass args…` with only `env` of the `ASS_*` variables set.
async fn ass_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ass"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ASS_") {
            cmd.env_remove(k);
        }
    }
    // Fake nodes on random ports: nothing to reuse, and nothing left in the user's cache.
    cmd.env("ASS_NO_TOKEN_CACHE", "1");
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

const SECRET: &str = r#"{"path":"production/gemini/GEMINI_API_KEY","version":4,"value":"AIza-xyz","type":"api_key","tier":"sensitive","created_at":"2026-11-28T10:00:00Z"}"#;

fn status(node: u64, sealed: bool, progress: u8) -> String {
    format!(
        r#"{{"initialized":true,"sealed":{sealed},"progress":{progress},"threshold":3,"shares":5,"node_id":{node},"leader_id":1,"leader_api":null,"term":2,"applied_index":10,"version":"0.1.0"}}"#
    )
}

/// `get --silent` prints the bare value and a newline, and sends the token as a bearer.
#[tokio::test]
async fn get_silent_prints_the_bare_value() {
    let n = FakeNode::start(|_| (200, SECRET.into())).await;
    let r = ass(
        &[
            "--addr",
            &n.addr,
            "--token",
            "tok-123",
            "secrets",
            "get",
            "production/gemini/GEMINI_API_KEY",
            "--silent",
        ],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "AIza-xyz\n"), "{}", r.stderr);
    let seen = n.seen();
    assert_eq!(seen[0].uri, "/v1/secrets/production/gemini/GEMINI_API_KEY");
    assert_eq!(seen[0].headers["authorization"], "Bearer tok-123");
}

/// `set PATH -` reads the value from stdin minus one newline and prints version and index.
#[tokio::test]
async fn set_reads_stdin_and_reports_version_and_index() {
    let n = FakeNode::start(|_| (200, r#"{"path":"a/b","version":2,"index":17}"#.into())).await;
    let r = ass(
        &[
            "--addr", &n.addr, "secrets", "set", "a/b", "-", "--type", "api_key", "--tier",
            "critical", "--cas", "1",
        ],
        "s3cret\n",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Set a/b version 2 (index 17)\n");
    let s = &n.seen()[0];
    assert_eq!(s.method, Method::PUT);
    assert_eq!(s.body, r#"{"value":"s3cret","type":"api_key","tier":"critical","cas":1}"#);
    assert!(s.headers.contains_key("x-ass-request-id"));
}

/// A server refusal exits 2 with `error: <message> (<code>)`, and never shows the token.
#[tokio::test]
async fn server_error_exits_2_with_message_and_code() {
    let n = FakeNode::start(|_| {
        (404, r#"{"error":"not_found","message":"no secret at this path"}"#.into())
    })
    .await;
    let r = ass(&["--addr", &n.addr, "--token", "tok-zzz", "secrets", "get", "a/b"], "").await;
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "error: no secret at this path (not_found)\n");
    assert!(r.stdout.is_empty());
    assert!(!r.stderr.contains("tok-zzz"));
}

/// No node reachable exits 2 with a transport error.
#[tokio::test]
async fn unreachable_cluster_exits_2() {
    let d = dead_addr().await;
    let r = ass(&["--addr", &d, "secrets", "list"], "").await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(r.stderr.trim_end().ends_with("(transport)"), "{}", r.stderr);
}

/// Usage mistakes and local errors exit 1; help exits 0.
#[tokio::test]
async fn usage_and_local_errors_exit_1_help_exits_0() {
    assert_eq!(ass(&["secrets", "get"], "").await.code, 1);
    assert_eq!(ass(&["secrets", "frob"], "").await.code, 1);
    assert_eq!(ass(&["--addr", "nope", "secrets", "list"], "").await.code, 1);
    let r = ass(
        &["--addr", "http://127.0.0.1:1", "operator", "unseal", "--key-file", "/nonexistent"],
        "",
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read key file"), "{}", r.stderr);
    let h = ass(&["secrets", "get", "--help"], "").await;
    assert_eq!(h.code, 0);
    assert!(h.stdout.contains("--silent"));
    assert!(h.stdout.contains("Example"));
}

/// `unseal --all` hands the same share to every node and prints one line per node.
#[tokio::test]
async fn unseal_all_reaches_every_node() {
    let a = FakeNode::start(|_| (200, status(1, true, 2))).await;
    let b = FakeNode::start(|_| (200, status(2, false, 0))).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("share");
    std::fs::write(&key, "c2hhcmU=\n").unwrap();
    let addrs = format!("{},{}", a.addr, b.addr);
    let r = ass(
        &["--addr", &addrs, "operator", "unseal", "--all", "--key-file", key.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "node 1: sealed, progress 2 of 3\nnode 2: unsealed\n");
    for n in [&a, &b] {
        let s = &n.seen()[0];
        assert_eq!(s.uri, "/v1/sys/unseal");
        assert_eq!(s.body, r#"{"key":"c2hhcmU=","reset":false}"#);
    }
}

/// `unseal --all` with one node down still unseals the others but exits 2.
#[tokio::test]
async fn unseal_all_with_a_dead_node_exits_2() {
    let a = FakeNode::start(|_| (200, status(1, false, 0))).await;
    let d = dead_addr().await;
    let addrs = format!("{},{d}", a.addr);
    let r =
        ass(&["--addr", &addrs, "operator", "unseal", "--all", "--key-file", "-"], "c2hhcmU=\n")
            .await;
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "node 1: unsealed\n");
    assert!(r.stderr.contains(&d), "{}", r.stderr);
    assert!(r.stderr.contains("1 of 2 nodes failed"), "{}", r.stderr);
}

/// `status` lists every node; an unreachable one does not fail the command, all of them do.
#[tokio::test]
async fn status_exits_2_only_when_no_node_answers() {
    let a = FakeNode::start(|_| (200, status(1, false, 0))).await;
    let d = dead_addr().await;
    let addrs = format!("{},{d}", a.addr);
    let r = ass(&["--addr", &addrs, "operator", "status"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ADDRESS"), "{}", r.stdout);
    assert!(r.stdout.contains("unreachable"), "{}", r.stdout);

    let r = ass(&["--addr", &addrs, "operator", "status", "--json"], "").await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["status"]["node_id"], 1);
    assert_eq!(v[1]["error"]["code"], "transport");

    let r = ass(&["--addr", &d, "operator", "status"], "").await;
    assert_eq!(r.code, 2);
}

/// `--json` output is the API answer, parseable.
#[tokio::test]
async fn json_output_is_the_answer() {
    let n = FakeNode::start(|_| (200, SECRET.into())).await;
    let r = ass(&["--addr", &n.addr, "secrets", "get", "a/b", "--json"], "").await;
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["value"], "AIza-xyz");
    assert_eq!(v["tier"], "sensitive");
}

const ISSUED: &str = r#"{"token":"asst_short","accessor":"0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f","scopes":["secrets:read:production/gemini/GEMINI_API_KEY"],"ip_allowlist":[],"issued_at":"2026-01-01T10:00:00.000Z","expires_at":"2026-01-01T10:15:00.000Z","ttl_remaining_secs":900}"#;

/// With only ASS_AGENT_KEY (and ASS_ADDR), `secrets get --silent` buys a token holding just
/// `secrets:read:PATH` for ASS_TOKEN_TTL, then reads with it and prints the bare value.
#[tokio::test]
async fn agent_key_alone_buys_a_minimum_scope_token() {
    let n = FakeNode::start(|s| match s.uri.as_str() {
        "/v1/tokens" => (200, ISSUED.into()),
        _ => (200, SECRET.into()),
    })
    .await;
    let r = ass_env(
        &["secrets", "get", "production/gemini/GEMINI_API_KEY", "--silent"],
        &[("ASS_ADDR", &n.addr), ("ASS_AGENT_KEY", "ass_k3y"), ("ASS_TOKEN_TTL", "5m")],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "AIza-xyz\n", ""));
    let seen = n.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].method.as_str(), seen[0].uri.as_str()), ("POST", "/v1/tokens"));
    assert_eq!(seen[0].headers["authorization"], "Bearer ass_k3y");
    assert_eq!(
        seen[0].body,
        r#"{"scopes":["secrets:read:production/gemini/GEMINI_API_KEY"],"ttl":"5m"}"#
    );
    assert_eq!(seen[1].uri, "/v1/secrets/production/gemini/GEMINI_API_KEY");
    assert_eq!(seen[1].headers["authorization"], "Bearer asst_short");
}

/// ASS_TOKEN wins over ASS_AGENT_KEY: no exchange.
#[tokio::test]
async fn token_wins_over_agent_key() {
    let n = FakeNode::start(|_| (200, SECRET.into())).await;
    let r = ass_env(
        &["secrets", "get", "a/b", "--silent"],
        &[("ASS_ADDR", &n.addr), ("ASS_AGENT_KEY", "ass_k3y"), ("ASS_TOKEN", "tok")],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = n.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["authorization"], "Bearer tok");
}

/// `tokens issue` with only the agent key sends the key itself; scopes split on commas.
#[tokio::test]
async fn tokens_issue_with_the_agent_key_sends_the_key() {
    let n = FakeNode::start(|_| (200, ISSUED.into())).await;
    let r = ass_env(
        &[
            "tokens",
            "issue",
            "--scopes",
            "secrets:read:production/gemini/*, secrets:read:production/bedrock/*",
            "--ttl",
            "1h",
            "--silent",
        ],
        &[("ASS_ADDR", &n.addr), ("ASS_AGENT_KEY", "ass_k3y")],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "asst_short\n"), "{}", r.stderr);
    let seen = n.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["authorization"], "Bearer ass_k3y");
    assert_eq!(
        seen[0].body,
        r#"{"scopes":["secrets:read:production/gemini/*","secrets:read:production/bedrock/*"],"ttl":"1h"}"#
    );
}

/// A write retried after its answer was lost comes back `replayed`: exit 2 with a hint.
#[tokio::test]
async fn replayed_credential_is_explained() {
    let n = FakeNode::start(|_| {
        (409, r#"{"error":"replayed","message":"this request id was already applied"}"#.into())
    })
    .await;
    let r = ass(
        &["--addr", &n.addr, "--token", "t", "agents", "create", "--name", "x", "--scopes", "a"],
        "",
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: this request id was already applied (replayed)\nhint:"));
    assert!(r.stderr.contains("rotate-key"), "{}", r.stderr);
}

/// `tokens list --json` prints the API answer.
#[tokio::test]
async fn tokens_list_json_is_the_answer() {
    let n = FakeNode::start(|_| {
        (200, format!(r#"{{"tokens":[{}]}}"#, ISSUED.replace(r#""token":"asst_short","#, "")))
    })
    .await;
    let r = ass(&["--addr", &n.addr, "--token", "t", "tokens", "list", "--json"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["tokens"][0]["accessor"], "0b9e6c1e-3d7f-4c61-9f0e-1a2b3c4d5e6f");
    assert_eq!(n.seen()[0].uri, "/v1/tokens");
}

const APPROVAL_ID: &str = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";

fn gate_error(code: &str) -> String {
    format!(
        r#"{{"error":"{code}","message":"reading this critical secret needs approval","approval_id":"{APPROVAL_ID}"}}"#
    )
}

fn approval(status: &str) -> String {
    format!(
        r#"{{"id":"{APPROVAL_ID}","status":"{status}","agent_name":"payment-service","path":"a/b","tier":"critical","version":1,"required_approvals":2,"approvals":[],"denial":{{"approver":"security@company.com","comment":"freeze","at":"t"}},"requested_at":"t0","expires_at":"t9"}}"#
    )
}

/// A gated read exits 3, says what to do on stderr and ends it with the id alone; stdout stays
/// empty (`--silent` users capture nothing). The reason goes out as `x-ass-reason`.
#[tokio::test]
async fn approval_required_exits_3_with_the_id_on_stderr() {
    let n = FakeNode::start(|_| (403, gate_error("approval_required"))).await;
    let r = ass(
        &[
            "--addr", &n.addr, "--token", "t", "secrets", "get", "a/b", "--silent", "--reason",
            "payout",
        ],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (3, ""), "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "approval required: request {APPROVAL_ID} (reading this critical secret needs \
             approval); ask an approver: ass approvals approve {APPROVAL_ID}\n"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().last(), Some(APPROVAL_ID));
    assert_eq!(n.seen()[0].headers["x-ass-reason"], "payout");
}

/// With `--json` the held read is a JSON object on stdout, still exit 3.
#[tokio::test]
async fn approval_required_json_names_the_request() {
    let n = FakeNode::start(|_| (403, gate_error("approval_expired"))).await;
    let r = ass(&["--addr", &n.addr, "secrets", "get", "a/b", "--json"], "").await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"approval_required": true, "approval_id": APPROVAL_ID, "status": "pending"})
    );
}

/// A read of a denied request exits 4, with or without `--wait` (waiting would not help).
#[tokio::test]
async fn approval_denied_exits_4_even_with_wait() {
    let n = FakeNode::start(|_| (403, gate_error("approval_denied"))).await;
    for extra in [&[][..], &["--wait"]] {
        let mut args = vec!["--addr", n.addr.as_str(), "secrets", "get", "a/b", "--silent"];
        args.extend_from_slice(extra);
        let r = ass(&args, "").await;
        assert_eq!((r.code, r.stdout.as_str()), (4, ""), "{}", r.stderr);
        assert!(r.stderr.starts_with("approval denied: request "), "{}", r.stderr);
        assert_eq!(r.stderr.lines().last(), Some(APPROVAL_ID));
    }
    assert_eq!(n.seen().len(), 2, "no polling of a denied request");
}

/// `--wait` follows the request with the same token and reads once it is approved.
#[tokio::test]
async fn wait_reads_once_approved() {
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = FakeNode::start(move |s| {
        if s.uri.starts_with("/v1/approvals/") {
            return (200, approval("approved"));
        }
        match reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => (403, gate_error("approval_required")),
            _ => (200, SECRET.into()),
        }
    })
    .await;
    let r = ass(
        &["--addr", &n.addr, "--token", "tok-1", "secrets", "get", "a/b", "--wait", "--silent"],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "AIza-xyz\n"), "{}", r.stderr);
    assert!(r.stderr.contains("waiting up to 15m for the approval"), "{}", r.stderr);
    let seen = n.seen();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["/v1/secrets/a/b", &format!("/v1/approvals/{APPROVAL_ID}"), "/v1/secrets/a/b"]
    );
    assert!(seen.iter().all(|s| s.headers["authorization"] == "Bearer tok-1"));
}

/// `--wait` stops with exit 4 when the request is denied, and with exit 3 (and the id) when
/// it is still pending at the deadline.
#[tokio::test]
async fn wait_stops_on_denial_or_deadline() {
    let denied = FakeNode::start(|s| {
        if s.uri.starts_with("/v1/approvals/") {
            (200, approval("denied"))
        } else {
            (403, gate_error("approval_required"))
        }
    })
    .await;
    let r =
        ass(&["--addr", &denied.addr, "secrets", "get", "a/b", "--wait=1m", "--json"], "").await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("(denied by security@company.com: freeze)"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "denied");

    let pending = FakeNode::start(|s| {
        if s.uri.starts_with("/v1/approvals/") {
            (200, approval("pending"))
        } else {
            (403, gate_error("approval_required"))
        }
    })
    .await;
    let t = std::time::Instant::now();
    let r =
        ass(&["--addr", &pending.addr, "secrets", "get", "a/b", "--wait", "1s", "-s"], "").await;
    assert_eq!((r.code, r.stdout.as_str()), (3, ""), "{}", r.stderr);
    assert!(r.stderr.contains("still pending after 1s"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().last(), Some(APPROVAL_ID));
    assert!(t.elapsed() >= std::time::Duration::from_secs(1));
    assert!(pending.seen().len() >= 3, "read, poll, poll at the deadline");
}

/// Approvals and policy commands: routes, bodies, JSON answers; refusals of a decision are
/// server errors (exit 2).
#[tokio::test]
async fn approvals_commands_reach_their_routes() {
    let n = FakeNode::start(|s| match (s.method.as_str(), s.uri.as_str()) {
        ("GET", "/v1/approvals?status=pending") => {
            (200, format!(r#"{{"approvals":[{}]}}"#, approval("pending")))
        }
        ("POST", u) if u.ends_with("/approve") => {
            (409, r#"{"error":"already_decided","message":"you already approved"}"#.into())
        }
        ("POST", u) if u.ends_with("/deny") => (200, approval("denied")),
        ("PUT", "/v1/policy/approvals") => (200, s.body.clone()),
        _ => (404, r#"{"error":"not_found","message":"no"}"#.into()),
    })
    .await;
    let base = ["--addr", n.addr.as_str(), "--token", "t"];
    let run = |args: &'static [&'static str]| {
        let mut v = base.to_vec();
        v.extend_from_slice(args);
        async move { ass(&v, "").await }
    };
    let r = run(&["approvals", "list"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ID  "), "{}", r.stdout);
    assert!(r.stdout.contains("payment-service") && r.stdout.contains("0/2"), "{}", r.stdout);
    let r = run(&["approvals", "approve", APPROVAL_ID, "--comment", "ok"]).await;
    assert_eq!((r.code, r.stderr.as_str()), (2, "error: you already approved (already_decided)\n"));
    let r = run(&["approvals", "deny", APPROVAL_ID, "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "denied");
    let r = ass(
        &[&base[..], &["policy", "approvals", "set", "--file", "-"]].concat(),
        r#"{"approval_policy":{"tiers":{"critical":{"required_approvals":2}},"approvers":["you@company.com","security@company.com"]}}"#,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Approval policy set:\nTIER "), "{}", r.stdout);
    assert!(r.stdout.contains("critical  2"), "{}", r.stdout);
    let seen = n.seen();
    let m: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.uri.as_str())).collect();
    let approve = format!("/v1/approvals/{APPROVAL_ID}/approve");
    let deny = format!("/v1/approvals/{APPROVAL_ID}/deny");
    assert_eq!(
        m,
        [
            ("GET", "/v1/approvals?status=pending"),
            ("POST", approve.as_str()),
            ("POST", deny.as_str()),
            ("PUT", "/v1/policy/approvals"),
        ]
    );
    assert_eq!(seen[1].body, r#"{"comment":"ok"}"#);
    assert_eq!(seen[2].body, "{}");
}

const HEALTH: &str = r#"{"initialized":true,"sealed":false,"standby":false,"node_id":1,"version":"0.1.0","server_time_utc":"2026-01-01T00:00:00Z"}"#;

/// `raft list-peers` probes each member's API on `/v1/sys/health` (no token) and flags the
/// one that does not answer as DOWN; a follower's list without MATCHED is replaced by the
/// leader's. Exit 0: the report is the data.
#[tokio::test]
async fn list_peers_flags_a_dead_member_down() {
    let dead = dead_addr().await;
    let dead_hp = dead.trim_start_matches("http://").to_owned();
    // The leader: lists itself, a follower, and the dead member, with MATCHED.
    let leader_hp = Arc::new(Mutex::new(String::new()));
    let hp = Arc::clone(&leader_hp);
    let dead_for_leader = dead_hp.clone();
    let leader = FakeNode::start(move |s| match s.uri.as_str() {
        "/v1/sys/health" => (200, HEALTH.into()),
        "/v1/sys/members" => (
            200,
            format!(
                r#"{{"members":[{{"id":1,"api_addr":"{}","cluster_addr":"n1:8301","voter":true,"leader":true,"matched_index":9}},{{"id":3,"api_addr":"{dead_for_leader}","cluster_addr":"n3:8303","voter":true,"leader":false,"matched_index":4}}]}}"#,
                hp.lock().unwrap()
            ),
        ),
        _ => (404, r#"{"error":"no_route","message":"no"}"#.into()),
    })
    .await;
    *leader_hp.lock().unwrap() = leader.addr.trim_start_matches("http://").to_owned();
    // A follower answers first, without MATCHED.
    let lhp = leader_hp.lock().unwrap().clone();
    let follower = FakeNode::start(move |s| match s.uri.as_str() {
        "/v1/sys/members" => (
            200,
            format!(
                r#"{{"members":[{{"id":1,"api_addr":"{lhp}","cluster_addr":"n1:8301","voter":true,"leader":true}},{{"id":3,"api_addr":"{dead_hp}","cluster_addr":"n3:8303","voter":true,"leader":false}}]}}"#
            ),
        ),
        _ => (404, r#"{"error":"no_route","message":"no"}"#.into()),
    })
    .await;
    let r = ass(&["--addr", &follower.addr, "--token", "t", "operator", "raft", "list-peers"], "")
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ID  API"), "{}", r.stdout);
    assert!(
        lines[1].starts_with("1 ") && lines[1].ends_with("  9        -    -        up"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].starts_with("3 ") && lines[2].ends_with("  4        -    -        DOWN"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Dead nodes: 1 of 2 members did not answer GET /v1/sys/health within 2s:\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("  node 3 ({}): {dead}: ", dead.trim_start_matches("http://"))),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("QUORUM LOST: only 1 of 2 voters answer"), "{}", r.stdout);
    // The health probe carries no token; the member lists do.
    let probes: Vec<_> = leader.seen().into_iter().filter(|s| s.uri == "/v1/sys/health").collect();
    assert_eq!(probes.len(), 1);
    assert!(probes[0].headers.get("authorization").is_none());
    let lists: Vec<_> = leader.seen().into_iter().filter(|s| s.uri == "/v1/sys/members").collect();
    assert_eq!(lists[0].headers["authorization"], "Bearer t");

    let r = ass(
        &["--addr", &follower.addr, "--token", "t", "operator", "raft", "list-peers", "--json"],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["down"], serde_json::json!([3]));
    assert_eq!(v["members"][0]["health"], "up");
    assert_eq!(v["members"][1]["health"], "down");
    assert!(v["members"][1]["health_error"].as_str().unwrap().contains(&dead), "{v}");
}

/// Rotate, rekey and the membership commands reach their routes with their bodies; rekey
/// goes to the first address only, never failing over.
#[tokio::test]
async fn rotate_rekey_and_membership_reach_their_routes() {
    const MEMBERS: &str = r#"{"members":[{"id":4,"api_addr":"n4:8200","cluster_addr":"n4:8201","voter":true,"leader":false}]}"#;
    let n = FakeNode::start(|s| match (s.method.as_str(), s.uri.as_str()) {
        ("POST", "/v1/sys/rotate") => (200, r#"{"term":2,"index":41}"#.into()),
        ("POST", "/v1/sys/rekey") if s.body.contains(r#""reset":true"#) => {
            (200, r#"{"progress":0,"threshold":3}"#.into())
        }
        ("POST", "/v1/sys/rekey") if s.body.contains("bad") => {
            (400, r#"{"error":"invalid_share","message":"not a share"}"#.into())
        }
        ("POST", "/v1/sys/rekey") => {
            (200, r#"{"progress":0,"threshold":2,"keys":["n1","n2","n3"]}"#.into())
        }
        ("POST", "/v1/sys/members") | ("POST", "/v1/sys/members/4/promote") => {
            (200, MEMBERS.into())
        }
        ("DELETE", "/v1/sys/members/5") => (
            409,
            r#"{"error":"membership_change_failed","message":"membership change failed: x"}"#
                .into(),
        ),
        _ => (404, r#"{"error":"no_route","message":"no"}"#.into()),
    })
    .await;
    let other = FakeNode::start(|_| (200, "{}".into())).await;
    let addrs = format!("{},{}", n.addr, other.addr);
    let base = ["--addr", addrs.as_str(), "--token", "t"];
    let run = |args: &[&str], stdin: &str| {
        let argv: Vec<String> = base.iter().chain(args).map(|a| (*a).to_owned()).collect();
        let stdin = stdin.to_owned();
        async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            ass(&argv, &stdin).await
        }
    };
    let r = run(&["operator", "rotate"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Rotated: new writes use key term 2; older versions still decrypt with their terms \
         (index 41).\n"
    );
    let r = run(&["operator", "rekey", "--reset"], "").await;
    assert_eq!(
        (r.code, r.stdout.clone()),
        (0, format!("{}: no current shares handed in (0 of 3)\n", n.addr))
    );
    let r = run(&["operator", "rekey", "--key-file", "-"], "bad\n").await;
    assert_eq!((r.code, r.stderr.as_str()), (2, "error: not a share (invalid_share)\n"));
    let r = run(
        &["operator", "rekey", "--key-file", "-", "--shares", "3", "--threshold", "2"],
        "c2hhcmU=\n",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("New Unseal Key 3: n3\n"), "{}", r.stdout);
    assert!(r.stdout.contains("OLD UNSEAL SHARES NO LONGER WORK"), "{}", r.stdout);
    let r = run(&["operator", "rekey", "--key-file", "-", "--shares", "2"], "c2hhcmU=\n").await;
    assert_eq!(r.code, 1, "threshold 3 > shares 2 is local: {}", r.stderr);
    let r = run(
        &[
            "operator",
            "raft",
            "add-node",
            "--id",
            "4",
            "--api-addr",
            "n4:8200",
            "--cluster-addr",
            "n4:8201",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Added node 4 as a learner;"), "{}", r.stdout);
    let r = run(&["operator", "raft", "promote", "4", "--json"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["members"][0]["voter"], true);
    let r = run(&["operator", "raft", "remove-node", "5"], "").await;
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (2, "error: membership change failed: x (membership_change_failed)\n")
    );
    let seen = n.seen();
    let m: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.uri.as_str())).collect();
    assert_eq!(
        m,
        [
            ("POST", "/v1/sys/rotate"),
            ("POST", "/v1/sys/rekey"),
            ("POST", "/v1/sys/rekey"),
            ("POST", "/v1/sys/rekey"),
            ("POST", "/v1/sys/members"),
            ("POST", "/v1/sys/members/4/promote"),
            ("DELETE", "/v1/sys/members/5"),
        ]
    );
    assert_eq!(seen[1].body, r#"{"key":null,"reset":true,"shares":null,"threshold":null}"#);
    assert_eq!(seen[3].body, r#"{"key":"c2hhcmU=","reset":false,"shares":3,"threshold":2}"#);
    assert_eq!(seen[4].body, r#"{"id":4,"api_addr":"n4:8200","cluster_addr":"n4:8201"}"#);
    assert!(seen.iter().all(|s| s.headers["authorization"] == "Bearer t"));
    assert!(other.seen().is_empty(), "nothing failed over");
}
