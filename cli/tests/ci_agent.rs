//! Issue 14, CLI and client half, against a real local cluster (`ass-node dev --dir <tmp>
//! --nodes 3 --base-port <P>`, real TLS with its CA): a CI job with only `ASS_AGENT_KEY`
//! reuses one token over twenty calls, `ass run` / `ass env` are all or nothing, a revoked
//! cached token is replaced, the client fails over past a node answering 429 and a sealed
//! node (503), errors are JSON with `--json`, and `tokens issue` warns about wide tokens.
//!
//! The harness (running `ass`, starting and stopping the dev cluster) is `common/mod.rs`,
//! shared with `real_cluster.rs`; one `#[test]` runs the steps in order on one cluster. Every
//! `ass` run gets `XDG_CACHE_HOME` under the test's own temp dir (the token cache the steps
//! inspect), so the developer's cache is never read or written.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use common::{start_cluster, step, unique, wait_until, Cluster, Run, SETTLE_TIMEOUT};

// ---------------------------------------------------------------------------------------------
// Issue 14 helpers
// ---------------------------------------------------------------------------------------------

const GEMINI: &str = "production/gemini/GEMINI_API_KEY";
const STRIPE: &str = "production/stripe/STRIPE_SECRET_KEY";
const MULTI: &str = "production/gemini/SERVICE_ACCOUNT";

/// Critical secrets need one approval from a named approver; the rest none.
const APPROVAL_POLICY: &str = r#"{"approval_policy":{"tiers":{"standard":{"required_approvals":0},"sensitive":{"required_approvals":0},"critical":{"required_approvals":1,"timeout_hours":24}},"approvers":["you@company.com"]}}"#;

/// Live tokens of `agent` (as root: `tokens list --json`), by accessor.
fn live_tokens(c: &Cluster, agent: &str) -> Vec<String> {
    let j = c.ass(&["tokens", "list", "--json"]).ok().json();
    j["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("tokens array: {j}"))
        .iter()
        .filter(|t| t["agent_name"] == agent && t["revoked_at"].is_null())
        .filter(|t| t["ttl_remaining_secs"].as_u64().unwrap_or(0) > 0)
        .map(|t| t["accessor"].as_str().unwrap().to_owned())
        .collect()
}

/// The token cache files under the test's XDG_CACHE_HOME.
fn cache_files(c: &Cluster) -> Vec<PathBuf> {
    let dir = c.cache_home().join("ass").join("tokens");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
    v.sort();
    v
}

/// The JSON document `run` printed on stderr (`--json` errors).
#[track_caller]
fn stderr_json(run: &Run) -> Value {
    serde_json::from_str(run.stderr.trim()).unwrap_or_else(|e| {
        panic!("`{}`: stderr is not one JSON document ({e})\n{}", run.what, run.stderr)
    })
}

/// A plain-HTTP listener that answers every request with 429 `rate_limited` (as a node does
/// after failed authentications from a shared address) and counts the requests.
struct RateLimited {
    addr: String,
    hits: Arc<Mutex<u32>>,
}

impl RateLimited {
    fn start() -> RateLimited {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(0));
        let count = Arc::clone(&hits);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let count = Arc::clone(&count);
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head (the body, if any, is ignored: we answer and close).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    *count.lock().unwrap() += 1;
                    let body = r#"{"error":"rate_limited","message":"too many failed authentications from 127.0.0.1; retry in 60 s"}"#;
                    let resp = format!(
                        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes());
                });
            }
        });
        RateLimited { addr, hits }
    }

    fn hits(&self) -> u32 {
        *self.hits.lock().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/// Issue 14 (CLI half): a CI job with only `ASS_AGENT_KEY` holds one token over twenty calls;
/// `ass run` runs nothing when a secret needs approval; the client fails over on 429 and 503.
#[test]
fn issue14_ci_agent_key_token_reuse_run_env_failover_and_json_errors() {
    let t0 = Instant::now();
    let c = start_cluster();
    wait_until("every node unsealed with one leader", SETTLE_TIMEOUT, || {
        let run = c.ass(&["operator", "status", "--json"]);
        let v: Value = serde_json::from_str(&run.stdout).map_err(|e| e.to_string())?;
        let all = v.as_array().ok_or("not an array")?;
        let ok = all.iter().all(|n| n["status"]["sealed"] == Value::Bool(false));
        let leaders: Vec<_> = all.iter().map(|n| n["status"]["leader_id"].clone()).collect();
        (ok && all.len() == 3 && leaders.iter().all(|l| l == &leaders[0] && !l.is_null()))
            .then_some(())
            .ok_or(format!("{v}"))
    });

    step(t0, 1, "secrets, approval policy, an agent with secrets:read:production/*");
    let gemini = unique("AIza-ci");
    let stripe = unique("sk_live_ci");
    let multi = format!("line one 'quoted' $HOME \"dq\" \\ back\nline two\t{}", unique("x"));
    c.ass(&["secrets", "set", GEMINI, &gemini, "--tier", "standard"]).ok();
    c.ass(&["secrets", "set", STRIPE, &stripe, "--tier", "critical"]).ok();
    c.cli().stdin(&multi).run(&["secrets", "set", MULTI, "-", "--tier", "standard"]).ok();
    let policy = c.key_file("approval-policy.json", APPROVAL_POLICY);
    c.ass(&["agents", "create", "--name", "you@company.com", "--scopes", "approvals:decide"]).ok();
    c.ass(&["policy", "approvals", "set", "--file", &policy]).ok();
    let agent = unique("ci-deployer");
    let run =
        c.ass(&["agents", "create", "--name", &agent, "--scopes", "secrets:read:production/*"]);
    let key = run
        .ok()
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Agent key: "))
        .unwrap_or_else(|| panic!("no `Agent key:` line:\n{}", run.stdout))
        .to_owned();
    let ci = || c.cli().agent_key(&key);

    step(t0, 2, "20 calls with only ASS_AGENT_KEY leave one live token");
    assert!(live_tokens(&c, &agent).is_empty());
    for i in 0..20 {
        let run = ci().run(&["secrets", "get", GEMINI, "--silent"]);
        assert_eq!(run.ok().stdout, format!("{gemini}\n"), "call {i}");
    }
    let live = live_tokens(&c, &agent);
    assert_eq!(live.len(), 1, "20 calls, one token: {live:?}");
    let files = cache_files(&c);
    assert_eq!(files.len(), 1, "{files:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files[0]), 0o600, "cache file mode");
        assert_eq!(mode(&c.cache_home().join("ass")), 0o700, "cache dir mode");
        assert_eq!(mode(&c.cache_home().join("ass/tokens")), 0o700, "tokens dir mode");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(!text.contains(&key), "the agent key is never on disk");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(&key[4..12]), "nor in the file name: {name}");
        assert!(text.contains(&live[0]), "the cached token is the live one: {text}");
    }

    step(t0, 3, "ass run: values in CMD's environment only; same scope, same token");
    let out = c.scratch.join("run-out");
    let script = format!("printf %s \"$GEMINI_API_KEY\" > {}", out.display());
    let run =
        ci().run(&["run", "--env", &format!("GEMINI_API_KEY={GEMINI}"), "--", "sh", "-c", &script]);
    run.ok();
    assert_eq!(run.stdout, "", "ass run prints nothing itself");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), gemini);
    assert_eq!(live_tokens(&c, &agent).len(), 1, "ass run reused the cached token");
    // CMD's own exit code comes back; a missing CMD is 127.
    ci().run(&["run", "--env", GEMINI, "--", "sh", "-c", "exit 7"]).expect(7);
    ci().run(&["run", "--env", GEMINI, "--", "/no/such/cmd"]).expect(127).stderr_has("cannot run");

    step(t0, 4, "ass run with an approval-gated secret: loud failure, exit 3, nothing run");
    let marker = c.scratch.join("ran");
    let touch = format!("touch {}", marker.display());
    let run = ci().run(&[
        "run",
        "--env",
        &format!("GEMINI_API_KEY={GEMINI}"),
        "--env",
        &format!("STRIPE_SECRET_KEY={STRIPE}"),
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    run.expect(3)
        .stderr_has(&format!("STRIPE_SECRET_KEY ({STRIPE}): approval required: request "))
        .stderr_has("1 of 2 secrets could not be read; nothing was run");
    assert!(!marker.exists(), "the command ran although a secret was held back");
    assert!(!run.stderr.contains(&gemini) && !run.stdout.contains(&gemini), "value leaked");
    let approval_id = run
        .stderr
        .lines()
        .find(|l| l.len() == 36 && l.chars().filter(|c| *c == '-').count() == 4)
        .unwrap_or_else(|| panic!("no request id line:\n{}", run.stderr))
        .to_owned();
    // `ass env` is all or nothing too: nothing on stdout.
    let run = ci().run(&["env", "--format", "shell", GEMINI, STRIPE]);
    run.expect(3);
    assert_eq!(run.stdout, "", "nothing printed when one read is held");

    step(t0, 5, "approvals show with only the agent key reads its own request");
    let j = ci().run(&["approvals", "show", &approval_id, "--json"]).ok().json();
    assert_eq!(j["status"], "pending", "{j}");
    assert_eq!(j["path"], STRIPE, "{j}");
    // Without a cached token (cache off) and no approvals:decide: refused, saying how.
    ci().run(&["--no-token-cache", "approvals", "show", &approval_id])
        .server_error("scope_denied")
        .stderr_has("ASS_TOKEN_SCOPES");
    let j = ci()
        .env("ASS_TOKEN_SCOPES", "secrets:read:production/gemini/*")
        .run(&["--no-token-cache", "approvals", "show", &approval_id, "--json"])
        .ok()
        .json();
    assert_eq!(j["status"], "pending", "any token of the requester may look: {j}");

    step(t0, 6, "ass env: dotenv, github and shell forms quote correctly");
    let run = ci().run(&["env", "--format", "shell", GEMINI, &format!("SA={MULTI}")]);
    let shell = run.ok().stdout.clone();
    let file = c.key_file("env.sh", &shell);
    let check = Command::new("sh")
        .arg("-c")
        .arg(format!(". {file}; printf '%s|%s' \"$GEMINI_API_KEY\" \"$SA\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout), format!("{gemini}|{multi}"), "{shell}");
    let run = ci().run(&["env", "--format", "github", GEMINI, &format!("SA={MULTI}")]);
    let gh = run.ok().stdout.clone();
    assert!(gh.starts_with(&format!("GEMINI_API_KEY={gemini}\nSA<<ghadelimiter_")), "{gh}");
    let delim = gh.lines().nth(1).unwrap().strip_prefix("SA<<").unwrap().to_owned();
    assert!(gh.ends_with(&format!("\n{multi}\n{delim}\n")), "{gh}");
    let dotenv = ci().run(&["env", GEMINI]).ok().stdout.clone();
    assert_eq!(dotenv, format!("GEMINI_API_KEY='{gemini}'\n"));
    ci().run(&["env", "production/gemini/bad-name"]).expect(1).stderr_has("NAME=");

    step(t0, 7, "a revoked cached token is replaced transparently; --no-token-cache buys anew");
    let before = live_tokens(&c, &agent);
    for acc in &before {
        c.ass(&["tokens", "revoke", acc]).ok();
    }
    let run = ci().run(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{gemini}\n"), "replaced without a word: {}", run.stderr);
    let after = live_tokens(&c, &agent);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!before.contains(&after[0]), "a new token: {before:?} {after:?}");
    for _ in 0..3 {
        ci().run(&["secrets", "get", GEMINI, "--silent"]).ok();
    }
    assert_eq!(live_tokens(&c, &agent), after, "the new token is reused");
    ci().env("ASS_NO_TOKEN_CACHE", "1").run(&["secrets", "get", GEMINI, "--silent"]).ok();
    ci().run(&["--no-token-cache", "secrets", "get", GEMINI, "--silent"]).ok();
    assert_eq!(live_tokens(&c, &agent).len(), 3, "each uncached call bought its own");
    // The agent revoked: its cached token fails, and the key can't buy another: a clear 401.
    let run = c.ass(&["agents", "revoke", &agent]);
    run.ok();
    ci().run(&["secrets", "get", GEMINI, "--silent"])
        .server_error("unauthorized")
        .stderr_has("cannot exchange the agent key");

    step(t0, 8, "failover past a node answering 429, reads and writes");
    let limited = RateLimited::start();
    let addrs = format!("{},{}", limited.addr, c.addrs());
    let run = c.cli().addr(&addrs).run(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{gemini}\n"));
    let w = c.cli().addr(&addrs).run(&["secrets", "set", GEMINI, "v2", "--json"]).ok().json();
    assert_eq!(w["version"], 2, "written once: {w}");
    assert!(limited.hits() >= 2, "the 429 node was asked first ({} hits)", limited.hits());
    // Alone, the 429 is the answer: exit 2, its code.
    c.cli().addr(&limited.addr).run(&["secrets", "get", GEMINI]).server_error("rate_limited");

    step(t0, 9, "failover past a sealed node (503)");
    let sealed = c.nodes[0].api.clone();
    c.cli().addr(&sealed).run(&["operator", "seal"]).ok();
    c.cli().addr(&sealed).run(&["secrets", "get", GEMINI]).server_error("sealed");
    let run = c.ass(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, "v2\n", "first address sealed: the next one answered");
    let w = c.ass(&["secrets", "set", GEMINI, "v3", "--json"]).ok().json();
    assert_eq!(w["version"], 3, "{w}");

    step(t0, 10, "--json errors on stderr, local ones included; tokens issue warnings");
    let run = c.ass(&["secrets", "get", "production/gemini/NEVER_SET", "--json"]);
    run.expect(2);
    let e = stderr_json(&run);
    assert_eq!(e["error"]["code"], "not_found", "{e}");
    assert!(e["error"]["message"].is_string(), "{e}");
    assert!(e["error"]["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
    let run = c.ass(&["secrets", "get", GEMINI, "--json", "--no-such-flag"]);
    assert_eq!(stderr_json(run.expect(1))["error"]["code"], "usage");
    let run = c.cli().addr("not a url").run(&["secrets", "list", "--json"]);
    assert_eq!(stderr_json(run.expect(1))["error"]["code"], "config");
    let run = c.ass(&["secrets", "get", "production/../x", "--json"]);
    assert_eq!(stderr_json(run.expect(1))["error"]["code"], "config");
    let run = c.ass(&["tokens", "issue", "--scopes", "secrets:read:*", "--ttl", "24h", "--silent"]);
    run.ok().stderr_has("warning: secrets:read:* reaches every secret").stderr_has("more than 8h");
    let run =
        c.ass(&["tokens", "issue", "--scopes", "secrets:read:production/gemini/*", "--ttl", "1h"]);
    assert!(!run.ok().stderr.contains("warning"), "{}", run.stderr);

    step(t0, 11, "audit: --json is JSON lines, --format json-array one document");
    let run = c.ass(&["audit", "--json", "--limit", "5"]);
    for l in run.ok().stdout.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let j = c.ass(&["audit", "--format", "json-array", "--limit", "5"]).ok().json();
    assert_eq!(j.as_array().map(Vec::len), Some(5), "{j}");
    eprintln!("== {:>5.1} s  done", t0.elapsed().as_secs_f64());
}
