//! The real `ass` binary against a real local cluster: `ass-node dev --dir <tmp> --nodes 3
//! --base-port <P>` as a child process, exactly as the README starts one, driven through the
//! command forms users script (README, hardening guide).
//!
//! One cluster serves the whole file: a single `#[test]` runs the steps in order, each
//! asserting exit codes and output.
//!
//! The harness is `common/mod.rs`, shared with `ci_agent.rs`: it runs `ass` with a clean
//! environment, and a guard stops the dev process (SIGTERM, then SIGKILL) and any node it
//! leaves behind, even when a step panics. `ass-node` is taken from the same target directory
//! as `ass`; when it is missing it is built first with the same profile. No dependency on the
//! node crate: only its binary and the `cluster.json` it writes.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use common::{
    alive, start_cluster, status_rows, step, unique, wait_until, Cluster, CMD_TIMEOUT,
    SETTLE_TIMEOUT,
};

const GEMINI: &str = "production/gemini/GEMINI_API_KEY";
const STRIPE: &str = "production/stripe/STRIPE_SECRET_KEY";
const WEBHOOK: &str = "production/stripe/WEBHOOK_SECRET";

/// The hardening guide's approval policy, with critical secrets needing both approvers.
const APPROVAL_POLICY: &str = r#"{"approval_policy":{"tiers":{"standard":{"required_approvals":0},"sensitive":{"required_approvals":1,"timeout_hours":24},"critical":{"required_approvals":2,"timeout_hours":24}},"approvers":["you@company.com","security@company.com"]}}"#;

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn real_cluster_end_to_end() {
    let t0 = Instant::now();
    let mut c = start_cluster();

    step(t0, 1, "operator status: 3 nodes unsealed, one leader");
    let leader = c.wait_healthy();
    wait_until("the status table to agree", SETTLE_TIMEOUT, || {
        let run = c.ass(&["operator", "status"]);
        run.ok();
        let rows = status_rows(&run.stdout);
        if rows.len() != 3 {
            return Err(format!("expected 3 rows:\n{}", run.stdout));
        }
        let mut ids = Vec::new();
        for r in &rows {
            // ADDRESS NODE INIT SEALED <p> of <t> LEADER TERM APPLIED
            if r.len() != 10 || r[2] != "yes" || r[3] != "no" || r[7] != leader.to_string() {
                return Err(format!("row {r:?} is not `initialized, unsealed, leader {leader}`"));
            }
            ids.push(r[1].parse::<u64>().map_err(|e| format!("{r:?}: {e}"))?);
        }
        let addrs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let want: Vec<&str> = c.nodes.iter().map(|n| n.api.as_str()).collect();
        assert_eq!(addrs, want, "rows in ASS_ADDR order");
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3]);
        Ok(())
    });
    let dev_log = c.guard.dir.join("dev.log");
    wait_until("`ass-node dev` to print the exports", SETTLE_TIMEOUT, || {
        let out = std::fs::read_to_string(&dev_log).map_err(|e| e.to_string())?;
        let want = format!("export ASS_CACERT={}\n", c.ca_cert.display());
        out.contains(&want).then_some(()).ok_or(format!("no `{want}` in:\n{out}"))
    });
    for (addr, s) in c.status_json() {
        assert_eq!(s["threshold"], 3, "{addr}: {s}");
        assert!(s["term"].as_u64().unwrap() >= 1, "{addr}: {s}");
    }

    step(t0, 2, "secrets set (hardening-guide form) and get --silent / --json");
    let v1 = unique("AIza-e2e-v1");
    c.ass(&["secrets", "set", GEMINI, &v1, "--type", "api_key", "--tier", "sensitive"])
        .ok()
        .stdout_has(&format!("Set {GEMINI} version 1 (index "));
    let run = c.ass(&["secrets", "get", GEMINI, "--silent"]);
    run.ok();
    assert_eq!(run.stdout, format!("{v1}\n"), "--silent is the bare value");
    assert_eq!(run.stderr, "");
    let j = c.ass(&["secrets", "get", GEMINI, "--json"]).ok().json();
    assert_eq!(j["path"], GEMINI, "{j}");
    assert_eq!(j["version"], 1, "{j}");
    assert_eq!(j["type"], "api_key", "{j}");
    assert_eq!(j["tier"], "sensitive", "{j}");
    assert_eq!(j["value"], v1.as_str(), "{j}");
    let run = c.ass(&["secrets", "get", GEMINI]);
    run.ok().stdout_has(&format!("value       {v1}\n"));
    run.stdout_has("tier        sensitive\n");

    step(t0, 3, "rotation from stdin, versions, --version");
    let v2 = unique("AIza-e2e-v2");
    let w = c
        .cli()
        .stdin(&format!("{v2}\n"))
        .run(&["secrets", "set", GEMINI, "-", "--json"])
        .ok()
        .json();
    assert_eq!(w["version"], 2, "{w}");
    let index = w["index"].as_u64().expect("index").to_string();
    let run = c.ass(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v2}\n"), "one trailing newline dropped");
    let j = c.ass(&["secrets", "get", GEMINI, "--json"]).ok().json();
    assert_eq!(
        (&j["version"], &j["type"], &j["tier"]),
        (&Value::from(2), &Value::from("api_key"), &Value::from("sensitive")),
        "type and tier kept from version 1: {j}"
    );
    let j = c.ass(&["secrets", "versions", GEMINI, "--json"]).ok().json();
    let numbers: Vec<u64> = j["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("versions array: {j}"))
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "{j}");
    assert_eq!(j["latest_version"], 2, "{j}");
    assert!(!j.to_string().contains(&v1) && !j.to_string().contains(&v2));
    c.ass(&["secrets", "versions", GEMINI])
        .ok()
        .stdout_has("latest_version  2\n")
        .stdout_has("VERSION  CREATED");
    let run = c.ass(&["secrets", "get", GEMINI, "--version", "1", "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v1}\n"));
    // Read-your-write on every node, followers included: linearizable, and stale after
    // --min-index of the write.
    for n in &c.nodes {
        let run = c.cli().addr(&n.api).run(&["secrets", "get", GEMINI, "--silent"]);
        assert_eq!(run.ok().stdout, format!("{v2}\n"), "node {}", n.id);
        let run = c.cli().addr(&n.api).run(&[
            "secrets",
            "get",
            GEMINI,
            "--silent",
            "--stale",
            "--min-index",
            &index,
        ]);
        assert_eq!(run.ok().stdout, format!("{v2}\n"), "node {} stale", n.id);
    }

    step(t0, 4, "secrets list shows paths, never values");
    let run = c.ass(&["secrets", "list", "production/"]);
    run.ok().stdout_has(GEMINI).stdout_has("api_key");
    for v in [&v1, &v2] {
        assert!(!run.stdout.contains(v.as_str()), "list leaked a value:\n{}", run.stdout);
    }
    let run = c.ass(&["secrets", "list", "production/", "--json"]);
    let j = run.ok().json();
    let paths: Vec<&str> = j["secrets"]
        .as_array()
        .unwrap_or_else(|| panic!("secrets array: {j}"))
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [GEMINI], "{j}");
    assert!(!run.stdout.contains(&v1) && !run.stdout.contains(&v2));
    c.ass(&["secrets", "list", "staging/"]).ok().stdout_has("No secrets under staging/");

    step(t0, 5, "delete, then get is secret_deleted");
    c.ass(&["secrets", "delete", GEMINI])
        .ok()
        .stdout_has(&format!("Deleted {GEMINI} version 2 (index "));
    c.ass(&["secrets", "get", GEMINI, "--silent"]).server_error("secret_deleted");
    let run = c.ass(&["secrets", "get", GEMINI, "--version", "1", "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v1}\n"), "older versions stay readable");
    let j = c.ass(&["secrets", "versions", GEMINI, "--json"]).ok().json();
    assert_eq!(j["deleted"], true, "{j}");
    c.ass(&["secrets", "get", "production/gemini/NEVER_SET"]).server_error("not_found");

    step(t0, 6, "exit codes: usage 1, local 1, server 2");
    let run = c.ass(&["secrets", "get", GEMINI, "--no-such-flag"]);
    run.expect(1).stderr_has("--no-such-flag");
    assert_eq!(run.stdout, "");
    c.ass(&["secrets", "set", STRIPE, "v", "--tier", "secret"]).expect(1).stderr_has("secret");
    c.ass(&["secrets", "get"]).expect(1).stderr_has("Usage");
    c.ass(&[]).expect(1);
    c.ass(&["--help"]).ok().stdout_has("Usage");
    c.ass(&["--version"]).ok().stdout_has("ass ");
    // `..` is refused before anything is sent: same answer with no node reachable.
    for addr in [c.addrs(), "http://127.0.0.1:1".to_owned()] {
        let run = c.cli().addr(addr).run(&["secrets", "get", "production/../x"]);
        run.expect(1)
            .stderr_has("invalid secret path `production/../x`")
            .stderr_has("not allowed")
            .stderr_has("(config)");
    }
    c.cli().addr("not a url").run(&["operator", "status"]).expect(1);
    // Paths the server refuses: a bad character, no namespace.
    c.ass(&["secrets", "set", "production/gemini/bad name", "v"]).server_error("invalid_path");
    c.ass(&["secrets", "set", "NO_NAMESPACE", "v"]).server_error("invalid_path");
    // Authentication.
    let run = c.cli().token(Some("assr_wrong")).run(&["secrets", "get", GEMINI, "--version", "1"]);
    run.server_error("unauthorized");
    assert!(!run.stderr.contains("assr_wrong"), "token echoed:\n{}", run.stderr);
    assert!(!run.stderr.contains("hint"), "a token was given:\n{}", run.stderr);
    c.cli()
        .token(None)
        .run(&["secrets", "get", GEMINI, "--version", "1"])
        .server_error("unauthorized")
        .stderr_has("hint: no token given; set ASS_TOKEN");
    // Check-and-set.
    let s1 = unique("sk_live_e2e_1");
    c.ass(&["secrets", "set", STRIPE, &s1, "--cas", "0", "--tier", "critical"])
        .ok()
        .stdout_has(&format!("Set {STRIPE} version 1 "));
    c.ass(&["secrets", "set", STRIPE, "other", "--cas", "0"]).server_error("cas_mismatch");
    c.ass(&["secrets", "set", STRIPE, "other", "--cas", "99"]).server_error("cas_mismatch");
    c.ass(&["secrets", "set", GEMINI, "other", "--cas", "99"]).server_error("cas_mismatch");
    let s2 = unique("sk_live_e2e_2");
    c.ass(&["secrets", "set", STRIPE, &s2, "--cas", "1"])
        .ok()
        .stdout_has(&format!("Set {STRIPE} version 2 "));
    let run = c.ass(&["secrets", "get", STRIPE, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{s2}\n"), "failed CAS wrote nothing");
    // Nothing reachable.
    c.cli().addr("http://127.0.0.1:1").run(&["secrets", "get", STRIPE]).server_error("transport");
    // Over https without the cluster CA: refused, saying which CA to give.
    c.cli()
        .without_ca()
        .run(&["secrets", "get", STRIPE])
        .server_error("transport")
        .stderr_has("not signed by a CA this client trusts")
        .stderr_has("ASS_CACERT");
    // The same with --ca-cert on the command line instead of ASS_CACERT.
    let ca = c.ca_cert.to_str().unwrap().to_owned();
    let run = c.cli().without_ca().run(&["--ca-cert", &ca, "secrets", "get", STRIPE, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{s2}\n"));
    // Plain http:// to the TLS port: a 400 that says to use https://.
    let plain = c.nodes[0].api.replacen("https://", "http://", 1);
    c.cli().addr(&plain).run(&["secrets", "get", STRIPE]).server_error("tls_required");

    step(t0, 7, "failover past a dead address");
    let dead_first = format!("http://127.0.0.1:1,{}", c.addrs());
    let run = c.cli().addr(&dead_first).run(&["secrets", "get", STRIPE, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{s2}\n"));
    let s3 = unique("sk_live_e2e_3");
    c.cli()
        .addr(&dead_first)
        .run(&["secrets", "set", STRIPE, &s3])
        .ok()
        .stdout_has(&format!("Set {STRIPE} version 3 "));
    let run = c.cli().addr(&dead_first).run(&["operator", "status"]);
    run.ok().stderr_has("error: http://127.0.0.1:1: ").stderr_has("(transport)");
    let rows = status_rows(&run.stdout);
    assert_eq!(rows.len(), 4, "{}", run.stdout);
    assert_eq!(rows[0][..2], ["http://127.0.0.1:1", "unreachable"], "{}", run.stdout);
    assert!(rows[1..].iter().all(|r| r[3] == "no"), "{}", run.stdout);

    step(t0, 8, "seal a follower, unseal it with key files");
    let leader = c.wait_healthy();
    let follower = c.nodes.iter().find(|n| n.id != leader).expect("a follower").clone();
    eprintln!("leader {leader}, sealing follower {}", follower.id);
    let at_follower = || c.cli().addr(&follower.api);
    at_follower()
        .run(&["operator", "seal"])
        .ok()
        .stdout_has(&format!("node {}: sealed\n", follower.id));
    let run = c.ass(&["operator", "status"]);
    for r in status_rows(&run.ok().stdout) {
        let sealed = if r[0] == follower.api { "yes" } else { "no" };
        assert_eq!(r[3], sealed, "row {r:?}\n{}", run.stdout);
    }
    // The sealed node is skipped by reads and writes.
    let sealed_first = format!(
        "{},{}",
        follower.api,
        c.nodes
            .iter()
            .filter(|n| n.id != follower.id)
            .map(|n| n.api.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let run = c.cli().addr(&sealed_first).run(&["secrets", "get", STRIPE, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{s3}\n"));
    let s4 = unique("sk_live_e2e_4");
    c.cli()
        .addr(&sealed_first)
        .run(&["secrets", "set", STRIPE, &s4])
        .ok()
        .stdout_has(&format!("Set {STRIPE} version 4 "));
    // Alone, the sealed node answers `sealed`.
    at_follower().run(&["secrets", "get", STRIPE]).server_error("sealed");

    let keys: Vec<String> = c
        .unseal_keys
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, k)| c.key_file(&format!("share{}", i + 1), &format!("{k}\n")))
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    // Malformed: 33 bytes, but share id 0 does not exist. Refused at once, no progress.
    let mut malformed = vec![0u8; 33];
    malformed[1..].fill(0x5a);
    let malformed = c.key_file("malformed", &b64.encode(&malformed));
    at_follower()
        .run(&["operator", "unseal", "--key-file", &malformed])
        .server_error("invalid_share");
    // Forged: well-formed (id 0xEE + 32 bytes), so it is taken; at the threshold the shares
    // do not open the root key and the progress is reset.
    let mut forged = vec![0xeeu8; 33];
    forged[1..].copy_from_slice(&[0x42; 32]);
    let forged = c.key_file("forged", &b64.encode(&forged));
    let unseal = |file: &str| at_follower().run(&["operator", "unseal", "--key-file", file]);
    let progress = |p: u32| format!("node {}: sealed, progress {p} of 3\n", follower.id);
    assert_eq!(unseal(&forged).ok().stdout, progress(1));
    assert_eq!(unseal(&keys[0]).ok().stdout, progress(2));
    unseal(&keys[0]).server_error("duplicate_share");
    unseal(&keys[1]).server_error("invalid_shares");
    let j = at_follower().run(&["operator", "status", "--json"]).ok().json();
    assert_eq!(j[0]["status"]["sealed"], true, "{j}");
    assert_eq!(j[0]["status"]["progress"], 0, "progress reset: {j}");
    // Three real shares.
    assert_eq!(unseal(&keys[0]).ok().stdout, progress(1));
    assert_eq!(unseal(&keys[1]).ok().stdout, progress(2));
    assert_eq!(unseal(&keys[2]).ok().stdout, format!("node {}: unsealed\n", follower.id));
    c.wait_healthy();
    let run = c.ass(&["operator", "status"]);
    for r in status_rows(&run.ok().stdout) {
        assert_eq!(r[3], "no", "row {r:?}\n{}", run.stdout);
    }
    // The unsealed node serves again, the write it missed while sealed included.
    wait_until("the unsealed node to serve reads", SETTLE_TIMEOUT, || {
        let run = at_follower().run(&["secrets", "get", STRIPE, "--silent"]);
        if run.code == Some(0) && run.stdout == format!("{s4}\n") {
            Ok(())
        } else {
            Err(format!("{run:?}"))
        }
    });

    step(t0, 9, "agents create; CI with only ASS_AGENT_KEY buys minimum-scope tokens");
    let agent = unique("inference-service");
    let run = c.ass(&[
        "agents",
        "create",
        "--name",
        &agent,
        "--scopes",
        "secrets:read:production/gemini/*, secrets:read:production/bedrock/*",
        "--description",
        "e2e",
    ]);
    run.ok().stdout_has("!!! STORE THIS KEY NOW.").stdout_has("ASS_AGENT_KEY");
    let key = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Agent key: "))
        .unwrap_or_else(|| panic!("no `Agent key:` line:\n{}", run.stdout))
        .to_owned();
    assert!(key.starts_with("ass_") && key.len() > 20, "{key}");
    // The key is never shown again.
    for args in
        [&["agents", "list"][..], &["agents", "list", "--json"], &["agents", "show", &agent]]
    {
        let run = c.ass(args);
        run.ok().stdout_has(&agent);
        assert!(!run.stdout.contains(&key), "`{}` printed the agent key", run.what);
    }
    let j = c.ass(&["agents", "show", &agent, "--json"]).ok().json();
    assert_eq!(
        j["scopes"],
        serde_json::json!([
            "secrets:read:production/gemini/*",
            "secrets:read:production/bedrock/*"
        ]),
        "{j}"
    );
    // A fresh cluster has the guide's policy (sensitive needs an approval, and no approver
    // exists yet): this operator runs sensitive secrets without approvals until step 13.
    let no_sensitive = c.key_file(
        "no-sensitive-approvals.json",
        r#"{"approval_policy":{"tiers":{"standard":{"required_approvals":0},"sensitive":{"required_approvals":0}},"approvers":[]}}"#,
    );
    c.ass(&["policy", "approvals", "set", "--file", &no_sensitive]).ok();
    // GEMINI's latest version was deleted in step 5: write a fresh one.
    let v3 = unique("AIza-e2e-v3");
    c.ass(&["secrets", "set", GEMINI, &v3]).ok();
    let ci = || c.cli().agent_key(&key);
    let run = ci().run(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v3}\n"), "the agent key alone reads the secret");
    assert_eq!(run.stderr, "");
    let j = ci().run(&["secrets", "versions", GEMINI, "--json"]).ok().json();
    assert_eq!(j["latest_version"], 3, "{j}");
    // Only what the agent holds: not another service's secret, not writes, not listing.
    ci().run(&["secrets", "get", STRIPE, "--silent"])
        .server_error("scope_denied")
        .stderr_has(&format!("secrets:read:{STRIPE}"));
    ci().run(&["secrets", "set", GEMINI, "x"]).server_error("scope_denied");
    ci().run(&["secrets", "list", "production/gemini/"]).server_error("scope_denied");
    ci().run(&["agents", "list"]).server_error("scope_denied");
    // Local checks still come first; commands on one's own token need a token.
    ci().addr("http://127.0.0.1:1")
        .run(&["secrets", "get", "production/../x"])
        .expect(1)
        .stderr_has("(config)");
    ci().run(&["tokens", "refresh"]).expect(1).stderr_has("ASS_TOKEN");
    // An agent with every action on staging/: set, get, list, versions, delete.
    let rotator = unique("rotation-job");
    let run = c.ass(&[
        "agents",
        "create",
        "--name",
        &rotator,
        "--scopes",
        "secrets:*:staging/*",
        "--json",
    ]);
    let rotator_key = run.ok().json()["agent_key"].as_str().expect("agent_key").to_owned();
    let rot = |k: &str| c.cli().agent_key(k);
    let staging = "staging/gemini/GEMINI_API_KEY";
    let sv = unique("AIza-staging");
    rot(&rotator_key)
        .run(&["secrets", "set", staging, &sv, "--type", "api_key"])
        .ok()
        .stdout_has(&format!("Set {staging} version 1 "));
    let run = rot(&rotator_key).run(&["secrets", "get", staging, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{sv}\n"));
    rot(&rotator_key).run(&["secrets", "list", "staging/"]).ok().stdout_has(staging);
    rot(&rotator_key).run(&["secrets", "list", "staging/gem"]).ok().stdout_has(staging);
    rot(&rotator_key).run(&["secrets", "list"]).server_error("scope_denied");
    rot(&rotator_key).run(&["secrets", "versions", staging]).ok().stdout_has("latest_version  1");
    rot(&rotator_key)
        .run(&["secrets", "delete", staging])
        .ok()
        .stdout_has(&format!("Deleted {staging} version 1 "));

    step(t0, 10, "tokens issue with the agent key, its limits; list, lookup, refresh, revoke");
    let gemini_scope = "secrets:read:production/gemini/*";
    let j = ci()
        .run(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "1h", "--json"])
        .ok()
        .json();
    let tok = j["token"].as_str().expect("token").to_owned();
    let accessor = j["accessor"].as_str().expect("accessor").to_owned();
    assert!(tok.starts_with("asst_"), "{j}");
    assert_eq!(j["agent_name"], agent.as_str(), "{j}");
    assert_eq!(j["scopes"], serde_json::json!([gemini_scope]), "{j}");
    let left = j["ttl_remaining_secs"].as_u64().expect("ttl_remaining_secs");
    assert!((3500..=3600).contains(&left), "{j}");
    let with_tok = |t: &str| c.cli().token(Some(t));
    let run = with_tok(&tok).run(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v3}\n"));
    with_tok(&tok).run(&["secrets", "get", STRIPE]).server_error("scope_denied");
    // Human and --silent forms.
    ci().run(&["tokens", "issue", "--scopes", &format!("secrets:read:{GEMINI}"), "--ttl", "15m"])
        .ok()
        .stdout_has("token         asst_")
        .stdout_has(&format!("agent         {agent}\n"))
        .stdout_has("expires_at")
        .stdout_has("shown this once");
    let run = ci().run(&[
        "tokens",
        "issue",
        "--scopes",
        "secrets:read:production/bedrock/*",
        "--ttl",
        "90s",
        "-s",
    ]);
    assert!(
        run.ok().stdout.starts_with("asst_") && run.stdout.lines().count() == 1,
        "{}",
        run.stdout
    );
    // Wider than the agent, too long, malformed.
    ci().run(&["tokens", "issue", "--scopes", "secrets:read:production/*", "--ttl", "1h"])
        .server_error("scope_denied");
    ci().run(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "25h"])
        .server_error("ttl_too_long");
    ci().run(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "soon"])
        .server_error("invalid_ttl");
    ci().run(&["tokens", "issue", "--scopes", "secrets:peek:production/*", "--ttl", "1h"])
        .server_error("invalid_scope");
    ci().run(&["tokens", "issue", "--scopes", gemini_scope, "--ip-allowlist", "10.0.0.0/33"])
        .server_error("invalid_allowlist");
    // An IP allowlist that leaves this host out makes the token useless here.
    let j = ci()
        .run(&[
            "tokens",
            "issue",
            "--scopes",
            gemini_scope,
            "--ttl",
            "15m",
            "--ip-allowlist",
            "10.0.1.100/32, 172.16.0.0/12",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["ip_allowlist"], serde_json::json!(["10.0.1.100/32", "172.16.0.0/12"]), "{j}");
    with_tok(j["token"].as_str().unwrap())
        .run(&["secrets", "get", GEMINI])
        .server_error("ip_not_allowed");
    // Listing shows accessors, never a token.
    for args in [
        &["tokens", "list"][..],
        &["tokens", "list", "--all"],
        &["tokens", "list", "--json"],
        &["tokens", "list", "--all", "--json"],
    ] {
        let run = c.ass(args);
        run.ok().stdout_has(&accessor);
        assert!(!run.stdout.contains("asst_"), "`{}` printed a token:\n{}", run.what, run.stdout);
    }
    let run = c.ass(&["tokens", "lookup", &accessor]);
    run.ok().stdout_has(&agent).stdout_has(gemini_scope);
    assert!(!run.stdout.contains("asst_"), "{}", run.stdout);
    let j = with_tok(&tok).run(&["tokens", "lookup", "--json"]).ok().json();
    assert_eq!(j["accessor"], accessor.as_str(), "lookup-self: {j}");
    // Refresh: a new token, same scopes; the old one is separate.
    let j = with_tok(&tok).run(&["tokens", "refresh", "--json"]).ok().json();
    let refreshed = j["token"].as_str().expect("token").to_owned();
    assert!(refreshed.starts_with("asst_") && refreshed != tok, "{j}");
    assert_ne!(j["accessor"], accessor.as_str(), "{j}");
    assert_eq!(j["scopes"], serde_json::json!([gemini_scope]), "{j}");
    let run = with_tok(&refreshed).run(&["secrets", "get", GEMINI, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{v3}\n"));
    // Revoke one token.
    c.ass(&["tokens", "revoke", &accessor]).ok().stdout_has(&format!("Revoked token {accessor}"));
    with_tok(&tok).run(&["secrets", "get", GEMINI]).server_error("unauthorized");
    let j = c.ass(&["tokens", "list", "--all", "--json"]).ok().json();
    let mine = j["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("tokens array: {j}"))
        .iter()
        .find(|t| t["accessor"] == accessor.as_str())
        .unwrap_or_else(|| panic!("revoked token missing from --all: {j}"))
        .clone();
    assert!(mine["revoked_at"].is_string(), "{mine}");
    // Revoke the agent: its key and the tokens it bought stop working.
    c.ass(&["agents", "revoke", &agent]).ok().stdout_has(&format!("Revoked agent {agent}"));
    ci().run(&["secrets", "get", GEMINI, "--silent"]).server_error("unauthorized");
    ci().run(&["tokens", "issue", "--scopes", gemini_scope]).server_error("unauthorized");
    with_tok(&refreshed).run(&["secrets", "get", GEMINI]).server_error("unauthorized");
    let j = c.ass(&["agents", "show", &agent, "--json"]).ok().json();
    assert!(j["revoked_at"].is_string(), "{j}");
    // Rotate a key: the old one stops, the new one works.
    let run = c.ass(&["agents", "rotate-key", &rotator]);
    run.ok().stdout_has("!!! STORE THIS KEY NOW.").stdout_has("no longer works");
    let new_key = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("New agent key: "))
        .unwrap_or_else(|| panic!("no `New agent key:` line:\n{}", run.stdout))
        .to_owned();
    assert_ne!(new_key, rotator_key);
    // The old key buys nothing more. Tokens it bought live on until they expire ("tokens
    // stay"), the cached one included: `--no-token-cache` makes the key itself be asked.
    rot(&rotator_key)
        .run(&["--no-token-cache", "secrets", "list", "staging/"])
        .server_error("unauthorized");
    rot(&new_key).run(&["secrets", "list", "staging/"]).ok().stdout_has(staging);

    step(t0, 11, "token policy: show, set, break-glass, --file");
    let j = c.ass(&["policy", "tokens", "show", "--json"]).ok().json();
    assert_eq!(j["break_glass"], false, "{j}");
    c.ass(&["policy", "tokens", "show"]).ok().stdout_has("max_ttl").stdout_has("break_glass");
    c.ass(&["policy", "tokens", "set", "--max-ttl", "8h"])
        .ok()
        .stdout_has("max_ttl              8h\n");
    c.ass(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "9h"])
        .server_error("ttl_too_long");
    c.ass(&[
        "policy",
        "tokens",
        "set",
        "--max-ttl",
        "8h",
        "--break-glass",
        "--break-glass-max-ttl",
        "48h",
    ])
    .ok()
    .stdout_has("break_glass          yes\n");
    let j = c
        .ass(&[
            "tokens",
            "issue",
            "--scopes",
            gemini_scope,
            "--ttl",
            "30h",
            "--justification",
            "e2e break-glass",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(j["break_glass"], true, "{j}");
    assert_eq!(j["justification"], "e2e break-glass", "{j}");
    c.ass(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "30h"])
        .server_error("ttl_too_long");
    c.ass(&["tokens", "issue", "--scopes", gemini_scope, "--ttl", "49h", "--justification", "x"])
        .server_error("ttl_too_long");
    c.ass(&["policy", "tokens", "set", "--max-ttl", "25h"]).server_error("ttl_too_long");
    let policy = c.key_file(
        "policy.json",
        r#"{"max_ttl":"24h","break_glass":false,"break_glass_max_ttl":"72h"}"#,
    );
    c.ass(&["policy", "tokens", "set", "--file", &policy]).ok();
    let j = c.ass(&["policy", "tokens", "show", "--json"]).ok().json();
    assert_eq!(j["break_glass"], false, "{j}");

    step(t0, 12, "generate-root from unseal shares replaces the root token; revoke-root");
    let n1 = c.nodes[0].api.clone();
    let generate = |c: &Cluster, args: &[&str]| {
        let mut argv = vec!["operator", "generate-root"];
        argv.extend_from_slice(args);
        c.cli().addr(&n1).token(None).run(&argv)
    };
    generate(&c, &["--key-file", &keys[0]]).ok().stdout_has("progress 1 of 3");
    generate(&c, &["--reset"]).ok().stdout_has("(0 of 3)");
    generate(&c, &["--key-file", &keys[0]]).ok().stdout_has("progress 1 of 3");
    generate(&c, &["--key-file", &keys[0]]).server_error("duplicate_share");
    generate(&c, &["--key-file", &keys[1]]).ok().stdout_has("progress 2 of 3");
    let run = generate(&c, &["--key-file", &keys[2]]);
    run.ok().stdout_has("!!! STORE IT NOW.");
    let new_root = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("New Root Token: "))
        .unwrap_or_else(|| panic!("no `New Root Token:` line:\n{}", run.stdout))
        .to_owned();
    // The old root token is replaced.
    c.ass(&["operator", "members"]).server_error("unauthorized");
    c.root_token = new_root;
    c.ass(&["operator", "members"]).ok().stdout_has("LEADER");
    c.ass(&["operator", "revoke-root"]).ok().stdout_has("Root token revoked (index ");
    c.ass(&["operator", "members"]).server_error("unauthorized");
    // Shares make another, leaving the cluster administrable.
    let mut root = None;
    for k in &keys {
        let run = generate(&c, &["--key-file", k, "--json"]);
        root = run.ok().json()["root_token"].as_str().map(str::to_owned);
    }
    c.root_token = root.expect("root_token after three shares");
    c.ass(&["operator", "members"]).ok();

    step(t0, 13, "approvals: policy file, gated read exits 3, --wait, two approvers, deny exits 4");
    // The policy users write, from a file; shown back as stored. Its approvers must exist
    // first: named before they do, the policy is refused.
    let policy = c.key_file("approval-policy.json", APPROVAL_POLICY);
    c.ass(&["policy", "approvals", "set", "--file", &policy])
        .server_error("unknown_approver")
        .stderr_has("you@company.com");
    // Approvers are agents named by e-mail; the requester is one agent per service.
    let create = |name: &str, scopes: &str| {
        let run = c.ass(&["agents", "create", "--name", name, "--scopes", scopes, "--json"]);
        run.ok().json()["agent_key"].as_str().expect("agent_key").to_owned()
    };
    let you_key = create("you@company.com", "approvals:decide");
    let security_key = create("security@company.com", "approvals:decide");
    c.ass(&["policy", "approvals", "set", "--file", &policy])
        .ok()
        .stdout_has("Approval policy set:\n")
        .stdout_has("critical   2          24h\n")
        .stdout_has("approvers  you@company.com, security@company.com\n");
    let j = c.ass(&["policy", "approvals", "show", "--json"]).ok().json();
    assert_eq!(j["approval_policy"]["tiers"]["critical"]["required_approvals"], 2, "{j}");
    assert_eq!(j["approval_policy"]["tiers"]["sensitive"]["required_approvals"], 1, "{j}");
    // More approvals than approvers: refused by the cluster, naming the problem. Not a
    // policy document at all: refused before sending.
    let too_many = c.key_file(
        "too-many.json",
        &APPROVAL_POLICY.replace(
            r#""critical":{"required_approvals":2"#,
            r#""critical":{"required_approvals":3"#,
        ),
    );
    c.ass(&["policy", "approvals", "set", "--file", &too_many])
        .server_error("invalid_policy")
        .stderr_has("critical");
    let not_policy = c.key_file("not-policy.json", r#"{"max_ttl":"24h"}"#);
    c.ass(&["policy", "approvals", "set", "--file", &not_policy])
        .expect(1)
        .stderr_has("is not an approval policy document");
    let payment_key = create("payment-service", "secrets:read:production/stripe/*");
    let you = || c.cli().agent_key(&you_key);
    let security = || c.cli().agent_key(&security_key);
    let payment = || c.cli().agent_key(&payment_key);
    let s5 = unique("sk_live_e2e_5");
    c.ass(&["secrets", "set", STRIPE, &s5, "--tier", "critical"])
        .ok()
        .stdout_has(&format!("Set {STRIPE} version 5 "));
    // The root token is not gated.
    assert_eq!(c.ass(&["secrets", "get", STRIPE, "--silent"]).ok().stdout, format!("{s5}\n"));
    // The payment service's CI read: exit 3, nothing on stdout, the request id on stderr.
    let run = payment().run(&["secrets", "get", STRIPE, "--silent", "--reason", "payout"]);
    run.expect(3).stderr_has("approval required: request ");
    assert_eq!(run.stdout, "", "--silent users capture nothing");
    let id = run.stderr.lines().last().expect("a last line").to_owned();
    assert_eq!(id.len(), 36, "the last stderr line is the request id: {}", run.stderr);
    run.stderr_has(&format!("ask an approver: ass approvals approve {id}\n"));
    // A second read re-uses the open request; --json says so on stdout.
    let j = payment().run(&["secrets", "get", STRIPE, "--json"]).expect(3).json();
    assert_eq!(
        j,
        serde_json::json!({"approval_required": true, "approval_id": id, "status": "pending"})
    );
    // The service waits in the background, with the same agent key.
    let waiter = payment().spawn(&["secrets", "get", STRIPE, "--wait", "60s", "--silent"]);
    wait_until("the background read to wait for its approval", SETTLE_TIMEOUT, || {
        let err = waiter.stderr_so_far();
        if err.contains("waiting up to 1m for the approval") {
            Ok(())
        } else {
            Err(err)
        }
    });
    // The approvers see it, with the reason.
    you()
        .run(&["approvals", "list"])
        .ok()
        .stdout_has(&id)
        .stdout_has(STRIPE)
        .stdout_has("payment-service")
        .stdout_has("0/2")
        .stdout_has("payout");
    let j = you().run(&["approvals", "list", "--json"]).ok().json();
    let mine = j["approvals"]
        .as_array()
        .unwrap_or_else(|| panic!("approvals array: {j}"))
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap_or_else(|| panic!("request {id} not listed: {j}"))
        .clone();
    assert_eq!(
        (&mine["status"], &mine["path"], &mine["reason"], &mine["tier"]),
        (
            &Value::from("pending"),
            &Value::from(STRIPE),
            &Value::from("payout"),
            &Value::from("critical")
        ),
        "{mine}"
    );
    assert_eq!(mine["required_approvals"], 2, "{mine}");
    // Neither the root token nor the requester decides.
    c.ass(&["approvals", "approve", &id]).server_error("not_an_approver");
    payment().run(&["approvals", "approve", &id]).server_error("scope_denied");
    // Two approvers; the first can't count twice.
    you()
        .run(&["approvals", "approve", &id, "--comment", "ok"])
        .ok()
        .stdout_has("1 of 2 approvals; 1 more needed");
    you().run(&["approvals", "approve", &id, "--comment", "ok"]).server_error("already_decided");
    payment().run(&["secrets", "get", STRIPE, "--silent"]).expect(3);
    security()
        .run(&["approvals", "approve", &id, "--comment", "ok"])
        .ok()
        .stdout_has(&format!("2 of 2 approvals; payment-service may read {STRIPE} until "));
    // The waiting read got the value, and only the value.
    let run = waiter.finish(CMD_TIMEOUT);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, format!("{s5}\n"), "{run:?}");
    security().run(&["approvals", "approve", &id]).server_error("approval_closed");
    // The grant holds for plain reads; the request is approved with both decisions.
    let run = payment().run(&["secrets", "get", STRIPE, "--silent"]);
    assert_eq!(run.ok().stdout, format!("{s5}\n"));
    you()
        .run(&["approvals", "show", &id])
        .ok()
        .stdout_has("status        approved\n")
        .stdout_has("approvals     2 of 2\n")
        .stdout_has("approved_by   you@company.com at ")
        .stdout_has("security@company.com at ");
    let run = you().run(&["approvals", "list"]);
    assert!(!run.ok().stdout.contains(&id), "approved is not pending:\n{}", run.stdout);
    you().run(&["approvals", "list", "--status", "approved"]).ok().stdout_has(&id);
    // Deny: a plain read exits 4 until the request times out; --wait does not wait.
    c.ass(&["secrets", "set", WEBHOOK, &unique("whsec_e2e"), "--tier", "critical"]).ok();
    let run = payment().run(&["secrets", "get", WEBHOOK, "--silent", "--reason", "rotate"]);
    run.expect(3);
    let id2 = run.stderr.lines().last().expect("a last line").to_owned();
    assert_ne!(id2, id);
    security()
        .run(&["approvals", "deny", &id2, "--comment", "not during the freeze"])
        .ok()
        .stdout_has(&format!("Denied request {id2}: payment-service may not read {WEBHOOK}"));
    let run = payment().run(&["secrets", "get", WEBHOOK, "--silent"]);
    run.expect(4).stderr_has(&format!("approval denied: request {id2} ("));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().last(), Some(id2.as_str()));
    let j = payment().run(&["secrets", "get", WEBHOOK, "--wait", "5s", "--json"]).expect(4).json();
    assert_eq!(j["status"], "denied", "{j}");
    you().run(&["approvals", "approve", &id2]).server_error("approval_closed");
    let j = you().run(&["approvals", "show", &id2, "--json"]).ok().json();
    assert_eq!(j["denial"]["approver"], "security@company.com", "{j}");
    assert_eq!(j["denial"]["comment"], "not during the freeze", "{j}");

    step(t0, 14, "rotate: new writes use key term 2, older versions keep term 1");
    let rotated = "production/keyring/ROTATED";
    let r1 = unique("rotated-v1");
    c.ass(&["secrets", "set", rotated, &r1]).ok().stdout_has(&format!("Set {rotated} version 1 "));
    c.ass(&["operator", "rotate"]).ok().stdout_has(
        "Rotated: new writes use key term 2; older versions still decrypt with their terms",
    );
    let r2 = unique("rotated-v2");
    let w = c.ass(&["secrets", "set", rotated, &r2, "--json"]).ok().json();
    assert_eq!(w["version"], 2, "{w}");
    let j = c.ass(&["secrets", "versions", rotated, "--json"]).ok().json();
    let terms: Vec<(u64, u64)> = j["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("versions array: {j}"))
        .iter()
        .map(|v| (v["version"].as_u64().unwrap(), v["key_term"].as_u64().expect("key_term")))
        .collect();
    assert_eq!(terms, [(1, 1), (2, 2)], "{j}");
    c.ass(&["secrets", "versions", rotated]).ok().stdout_has("DESTROYED  KEY_TERM\n");
    // Both terms decrypt on every node, followers included.
    let index = w["index"].as_u64().expect("index").to_string();
    for n in &c.nodes {
        for (version, value) in [("1", &r1), ("2", &r2)] {
            let run = c.cli().addr(&n.api).run(&[
                "secrets",
                "get",
                rotated,
                "--version",
                version,
                "--silent",
                "--min-index",
                &index,
            ]);
            assert_eq!(run.ok().stdout, format!("{value}\n"), "node {} version {version}", n.id);
        }
    }

    step(t0, 15, "raft list-peers: 3 voters, one leader, none DOWN; members still works");
    let leader = c.wait_healthy();
    let j = c.ass(&["operator", "raft", "list-peers", "--json"]).ok().json();
    let members = j["members"].as_array().unwrap_or_else(|| panic!("members array: {j}"));
    assert_eq!(members.len(), 3, "{j}");
    assert!(members.iter().all(|m| m["voter"] == true && m["health"] == "up"), "{j}");
    let leaders: Vec<u64> =
        members.iter().filter(|m| m["leader"] == true).map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(leaders, [leader], "{j}");
    assert!(members.iter().all(|m| m["matched_index"].is_u64()), "MATCHED from the leader: {j}");
    assert!(
        members.iter().all(|m| m["lag"].is_u64() && m["unreachable"] == false),
        "LAG and CONTACT from the leader: {j}"
    );
    assert_eq!(j["down"], serde_json::json!([]), "{j}");
    let run = c.ass(&["operator", "raft", "list-peers"]);
    run.ok()
        .stdout_has("ROLE   LEADER  MATCHED  LAG  CONTACT  HEALTH\n")
        .stdout_has("Dead nodes: none; all 3 members answer GET /v1/sys/health.\n");
    assert!(!run.stdout.contains("DOWN"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("  voter  ").count(), 3, "{}", run.stdout);
    c.ass(&["operator", "members"]).ok().stdout_has("LEADER");
    // An agent holding only sys:operator runs it with its key alone.
    let j = c
        .ass(&["agents", "create", "--name", "ops-e2e", "--scopes", "sys:operator", "--json"])
        .ok()
        .json();
    let ops_key = j["agent_key"].as_str().expect("agent_key").to_owned();
    c.cli()
        .agent_key(&ops_key)
        .run(&["operator", "raft", "list-peers"])
        .ok()
        .stdout_has("Dead nodes: none;");

    step(
        t0,
        16,
        "rekey: three current shares make 3 new ones (threshold 2); old ones stop working",
    );
    let n1 = c.nodes[0].api.clone();
    let rekey = |c: &Cluster, key: &str| {
        c.cli().addr(&n1).run(&[
            "operator",
            "rekey",
            "--key-file",
            key,
            "--shares",
            "3",
            "--threshold",
            "2",
        ])
    };
    rekey(&c, &keys[0]).ok().stdout_has(&format!("{n1}: progress 1 of 3;"));
    rekey(&c, &keys[1]).ok().stdout_has(&format!("{n1}: progress 2 of 3;"));
    let run = rekey(&c, &keys[2]);
    run.ok().stdout_has("Rekeyed: 3 new unseal key shares, 2 of them unseal a node.\n").stdout_has(
        "!!! THE OLD UNSEAL SHARES NO LONGER WORK. DESTROY EVERY COPY OF THEM NOW. !!!",
    );
    let new_keys: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once("New Unseal Key ").map(|(_, rest)| rest))
        .map(|rest| rest.split_once(": ").expect("`N: share`").1.to_owned())
        .collect();
    assert_eq!(new_keys.len(), 3, "{}", run.stdout);
    assert!(new_keys.iter().all(|k| !c.unseal_keys.contains(k)), "{}", run.stdout);
    // The unsealed nodes stay unsealed; every node learns the new threshold.
    let leader = c.wait_healthy();
    wait_until("every node to know the new seal config", SETTLE_TIMEOUT, || {
        match c.status_json().iter().find(|(_, s)| s["threshold"] != 2 || s["shares"] != 3) {
            Some((addr, s)) => Err(format!("{addr}: {s}")),
            None => Ok(()),
        }
    });
    c.unseal_keys = new_keys;
    let new_files: Vec<String> = c
        .unseal_keys
        .iter()
        .enumerate()
        .map(|(i, k)| c.key_file(&format!("new-share{}", i + 1), &format!("{k}\n")))
        .collect();
    // A sealed follower: the old shares no longer open it, two new ones do.
    let follower = c.nodes.iter().find(|n| n.id != leader).expect("a follower").clone();
    let at_follower = || c.cli().addr(&follower.api);
    at_follower().run(&["operator", "seal"]).ok().stdout_has("sealed");
    at_follower()
        .run(&["operator", "unseal", "--key-file", &keys[0]])
        .ok()
        .stdout_has("progress 1 of 2");
    at_follower()
        .run(&["operator", "unseal", "--key-file", &keys[1]])
        .server_error("invalid_shares");
    at_follower()
        .run(&["operator", "unseal", "--key-file", &new_files[2]])
        .ok()
        .stdout_has("progress 1 of 2");
    at_follower()
        .run(&["operator", "unseal", "--key-file", &new_files[0]])
        .ok()
        .stdout_has(&format!("node {}: unsealed", follower.id));
    c.wait_healthy();

    step(t0, 17, "audit: table, JSON lines, filters, verify, hash; --tail across a leader kill");
    let run = c.ass(&["audit", "--limit", "5"]);
    run.ok().stdout_has("TIME").stdout_has("ACTOR").stdout_has("RESULT");
    assert_eq!(run.stdout.lines().count(), 6, "a header and 5 events:\n{}", run.stdout);
    eprintln!("--- ass audit --limit 5\n{}", run.stdout);
    let run = c.ass(&["audit", "--json", "--limit", "1000"]);
    run.ok();
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(events.len() > 50 && events.len() <= 1000, "{}", events.len());
    eprintln!("--- one line of ass audit --json\n{}", run.stdout.lines().last().unwrap());
    for e in &events {
        for field in
            ["time", "node", "request_id", "actor", "action", "path", "result", "client", "hash"]
        {
            assert!(!e[field].is_null(), "{field} missing: {e}");
        }
    }
    // Secret values never reach the export.
    assert!(!run.stdout.contains(v1.as_str()), "the export holds a secret value");
    let gemini_reads =
        c.ass(&["audit", "--json", "--action", "secret.read", "--path", "production/gemini/"]);
    gemini_reads.ok();
    let reads: Vec<Value> =
        gemini_reads.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|e| e["action"] == "secret.read"
        && e["path"].as_str().unwrap().starts_with("/v1/secrets/production/gemini/")));
    c.ass(&["audit", "--result", "unauthorized", "--limit", "3"]).ok();
    c.ass(&["audit", "--limit", "0"]).expect(1);
    c.ass(&["audit", "--since", "not-a-time"]).server_error("bad_request");
    c.ass(&["audit", "verify"]).ok().stdout_has("Every node's audit chain is whole.");
    // The root token is findable in the log by its HMAC only.
    let hash = c.cli().stdin(&c.root_token).run(&["audit", "hash"]);
    hash.ok().stdout_has("hmac-sha256:");
    let hmac = hash.stdout.trim().to_owned();
    let mine = c.ass(&["audit", "--json", "--limit", "20"]);
    mine.ok().stdout_has(&hmac);

    // Follow through the leader first; kill it; the tail moves on with its cursor.
    let leader = c.wait_healthy();
    let lead = c.nodes.iter().find(|n| n.id == leader).unwrap().clone();
    let mut order = vec![lead.api.clone()];
    order.extend(c.nodes.iter().filter(|n| n.id != leader).map(|n| n.api.clone()));
    let tail = c.cli().addr(order.join(",")).spawn(&["audit", "--tail", "--json"]);
    std::thread::sleep(Duration::from_secs(1));
    let mark = |n: u32| format!("audit/tail/{}", unique(&format!("k{n}")));
    let mut paths = Vec::new();
    for n in 0..3 {
        let p = mark(n);
        c.ass(&["secrets", "set", &p, "v"]).ok();
        paths.push(p);
    }
    wait_until("the tail to show the first writes", SETTLE_TIMEOUT, || {
        let out = tail.stdout_so_far();
        match paths.iter().find(|p| !out.contains(p.as_str())) {
            Some(p) => Err(format!("{p} not followed yet; stderr: {}", tail.stderr_so_far())),
            None => Ok(()),
        }
    });
    // SAFETY: plain kill(2) of a node process this test's dev cluster started.
    unsafe {
        libc::kill(lead.pid as i32, libc::SIGKILL);
    }
    let survivors: Vec<String> =
        c.nodes.iter().filter(|n| n.id != leader).map(|n| n.api.clone()).collect();
    for n in 3..6 {
        let p = mark(n);
        wait_until("a write after the leader kill", SETTLE_TIMEOUT, || {
            let run = c.cli().addr(survivors.join(",")).run(&["secrets", "set", &p, "v"]);
            if run.code == Some(0) {
                Ok(())
            } else {
                Err(run.stderr.clone())
            }
        });
        paths.push(p);
    }
    wait_until("the tail to follow on another node", SETTLE_TIMEOUT, || {
        let out = tail.stdout_so_far();
        match paths.iter().find(|p| !out.contains(p.as_str())) {
            Some(p) => Err(format!("{p} not followed yet; stderr: {}", tail.stderr_so_far())),
            None => Ok(()),
        }
    });
    let followed = tail.stdout_so_far();
    let mut seen = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for line in followed.lines() {
        let e: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        seen.entry(e["node"].as_u64().unwrap()).or_default().push(e["seq"].as_u64().unwrap());
    }
    for (node, seqs) in &seen {
        let want: Vec<u64> = (seqs[0]..seqs[0] + seqs.len() as u64).collect();
        assert_eq!(seqs, &want, "node {node}: the tail has a gap or a duplicate");
    }
    for p in &paths {
        assert_eq!(followed.matches(&format!("/v1/secrets/{p}\"")).count(), 1, "{p} once");
    }
    assert!(
        tail.stderr_so_far().contains("reconnecting")
            || tail.stderr_so_far().contains("cannot follow"),
        "the tail noticed the kill: {}",
        tail.stderr_so_far()
    );
    drop(tail);

    step(t0, 18, "doctor: the exit code follows the grade, --warn-ok, ignore ID --reason");
    let run = c.ass(&["doctor", "--json"]);
    let report = run.json();
    let want = match report["grade"].as_str() {
        Some("fail") => 2,
        Some("warn") => 1,
        Some("pass") => 0,
        other => panic!("grade {other:?}: {report}"),
    };
    run.expect(want);
    let ids: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let dead = format!("deploy.unreachable:{leader}");
    assert!(ids.contains(&dead), "the killed leader is named: {ids:?}");
    let table = c.ass(&["doctor", "--warn-ok"]);
    table.expect(if want == 2 { 2 } else { 0 });
    table.stdout_has("CHECK").stdout_has("Minimum scope").stdout_has(&dead);
    assert!(!table.stdout.contains('\x1b'), "no colour when stdout is a pipe");
    c.ass(&["doctor", "ignore", &dead, "--reason", "killed on purpose"])
        .ok()
        .stdout_has(&format!("Ignoring {dead}"));
    let again = c.ass(&["doctor", "--json"]).json();
    assert_eq!(again["ignores"][&dead]["reason"], "killed on purpose", "{again}");
    c.ass(&["doctor", "ignore", &dead]).expect(1).stderr_has("--reason");
    c.ass(&["secrets", "stale", "--older-than", "0s", "--json"]).ok();

    step(t0, 19, "SIGTERM stops the dev process and every node");
    let node_pids: Vec<u32> = c.nodes.iter().map(|n| n.pid).collect();
    let status = c.guard.terminate(Duration::from_secs(60)).expect("dev process");
    assert!(status.success(), "ass-node dev exited with {status} on SIGTERM");
    for pid in node_pids {
        assert!(!alive(pid), "node pid {pid} outlived the dev process");
    }
    eprintln!("all steps passed in {:.1} s", t0.elapsed().as_secs_f64());
}
