//! The harness shared by the CLI's real-cluster test binaries (`real_cluster.rs`,
//! `ci_agent.rs`), each of which declares `mod common;`: running the real `ass` binary
//! ([`Ass`], [`Run`] and its assertions, [`Background`] for long-running commands), and
//! starting and stopping a real local cluster (`ass-node dev --dir <tmp> --nodes 3
//! --base-port <P>` as a child process, real TLS with its CA) through [`start_cluster`].
//!
//! Every `ass` run gets a clean environment: inherited `ASS_*` variables are removed, and
//! `XDG_CACHE_HOME` points at the cluster's scratch directory ([`Cluster::cache_home`]), so the
//! agent-key token cache is the test's own and the developer's cache is never read or
//! written. No run may print the root token or the agent key it ran with.
//!
//! A [`DevGuard`] stops the dev process (SIGTERM, then SIGKILL) and any node it leaves behind,
//! even when a step panics. `ass-node` is taken from the same target directory as `ass`; when
//! it is missing it is built first with the same profile. No dependency on the node crate:
//! only its binary, run as the user runs it, and the launcher's pieces from `ass-testkit`
//! (the dev process is a testkit process [`Group`]: its own process group, killed with this
//! test; `cluster.json` is read as the testkit's [`ClusterFile`]; free ports from
//! `ass_testkit::ports`).

// Each test binary compiles its own copy of this module and uses a different part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ass_testkit::process::Group;
use ass_testkit::ClusterFile as DevClusterFile;
use serde_json::Value;

/// Time allowed for the dev cluster to build, start, initialize and unseal.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Time allowed for one `ass` invocation (its own per-request timeout is 30 s).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(90);
/// Time allowed for the cluster to settle (leader known everywhere, node caught up).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time the dev process gets to stop its nodes after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Running `ass`
// ---------------------------------------------------------------------------------------------

/// What one `ass` invocation did.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing everything on failure.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` exited {:?}, expected {code}\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect(0)
    }

    /// Asserts a server error: exit 2, `(<code>)` on stderr, nothing on stdout.
    #[track_caller]
    pub fn server_error(&self, code: &str) -> &Self {
        self.expect(2);
        self.stderr_has(&format!("({code})"));
        assert_eq!(self.stdout, "", "`{}` printed on stdout", self.what);
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "`{}`: stdout lacks {needle:?}\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "`{}`: stderr lacks {needle:?}\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("`{}`: stdout is not JSON ({e})\n--- stdout\n{}", self.what, self.stdout)
        })
    }
}

/// Runs `cmd` to completion (killed after [`CMD_TIMEOUT`]), feeding it `stdin`.
pub fn run_to_end(mut cmd: Command, stdin: Option<&[u8]>, what: String) -> Run {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap_or_else(|e| panic!("`{what}`: writing stdin: {e}"));
        // Dropping the pipe closes it: the child sees end of input.
    }
    let status = wait_with_deadline(&mut child, CMD_TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`{what}` did not finish within {CMD_TIMEOUT:?}");
    });
    Run { what, code: status.code(), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Waits for `child` up to `timeout`; `None` if it is still running.
pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for pid {}: {e}", child.id()),
        }
    }
}

/// Removes every inherited `ASS_*` variable, so the developer's environment can't leak in.
pub fn clear_ass_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ASS_") {
            cmd.env_remove(k);
        }
    }
}

/// One `ass` invocation being prepared: ASS_ADDR, ASS_TOKEN or ASS_AGENT_KEY, ASS_CACERT,
/// stdin, and any other variables given with [`Ass::env`].
pub struct Ass<'a> {
    cluster: &'a Cluster,
    addr: String,
    token: Option<String>,
    agent_key: Option<String>,
    /// ASS_CACERT: the cluster CA unless cleared.
    ca_cert: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    /// More environment variables.
    extra: Vec<(String, String)>,
}

impl Ass<'_> {
    /// Sets one more environment variable for this run (e.g. `ASS_TOKEN_SCOPES`,
    /// `ASS_NO_TOKEN_CACHE`).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Runs without ASS_CACERT (system roots only).
    pub fn without_ca(mut self) -> Self {
        self.ca_cert = None;
        self
    }

    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    /// The environment holds ONLY ASS_ADDR and ASS_AGENT_KEY (no ASS_TOKEN): the CI setup of
    /// hardening practice 9.
    pub fn agent_key(mut self, key: &str) -> Self {
        self.token = None;
        self.agent_key = Some(key.to_owned());
        self
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.as_bytes().to_vec());
        self
    }

    /// The command and its description (`ASS_… ass args…`).
    fn command(&self, args: &[&str]) -> (Command, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ass"));
        clear_ass_env(&mut cmd);
        cmd.args(args).env("ASS_ADDR", &self.addr);
        // The agent-key token cache goes to the test's scratch space, never the user's.
        cmd.env("XDG_CACHE_HOME", self.cluster.cache_home());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        if let Some(ca) = &self.ca_cert {
            cmd.env("ASS_CACERT", ca);
        }
        if let Some(t) = &self.token {
            cmd.env("ASS_TOKEN", t);
        }
        if let Some(k) = &self.agent_key {
            cmd.env("ASS_AGENT_KEY", k);
        }
        let mut what = format!("ASS_ADDR={} ass {}", self.addr, args.join(" "));
        if let Some(k) = &self.agent_key {
            what = format!("ASS_AGENT_KEY={k} {what}");
        } else if self.token.as_deref() != Some(self.cluster.root_token.as_str()) {
            what = format!("ASS_TOKEN={:?} {what}", self.token);
        }
        (cmd, what)
    }

    pub fn run(self, args: &[&str]) -> Run {
        let (cmd, what) = self.command(args);
        let run = run_to_end(cmd, self.stdin.as_deref(), what);
        no_credential_printed(&run, self.agent_key.as_deref(), &self.cluster.root_token);
        run
    }

    /// Starts `ass args…` in the background (no stdin); see [`Background`].
    pub fn spawn(self, args: &[&str]) -> Background {
        let (mut cmd, what) = self.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let (out, out_thread) = collect(child.stdout.take().unwrap());
        let (err, err_thread) = collect(child.stderr.take().unwrap());
        Background {
            what,
            child: Some(child),
            stdout: out,
            stderr: err,
            drains: vec![out_thread, err_thread],
            agent_key: self.agent_key.clone(),
            root_token: self.cluster.root_token.clone(),
        }
    }
}

/// Asserts that `run` printed neither the agent key it ran with nor the root token.
#[track_caller]
pub fn no_credential_printed(run: &Run, agent_key: Option<&str>, root: &str) {
    // Nor is the agent key it runs with.
    if let Some(k) = agent_key {
        assert!(
            !run.stdout.contains(k) && !run.stderr.contains(k),
            "`{}` printed the agent key",
            run.what
        );
    }
    // The token is never printed, whatever the command and outcome.
    assert!(
        !run.stdout.contains(root) && !run.stderr.contains(root),
        "`{}` printed the root token",
        run.what
    );
}

/// Reads `pipe` to its end into a shared string, readable while the process runs.
pub fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    (text, thread)
}

/// An `ass` invocation running in the background (`secrets get --wait`) while the steps go
/// on; its output is collected as it comes. Dropping it kills the process if it still runs.
pub struct Background {
    what: String,
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    drains: Vec<JoinHandle<()>>,
    agent_key: Option<String>,
    root_token: String,
}

impl Background {
    /// What it printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// What it printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for it to exit (killed after `timeout`) and returns what it did.
    pub fn finish(mut self, timeout: Duration) -> Run {
        let mut child = self.child.take().expect("running");
        let status = wait_with_deadline(&mut child, timeout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{}` did not finish within {timeout:?}\n--- stderr so far\n{}",
                self.what,
                self.stderr_so_far()
            );
        });
        for t in self.drains.drain(..) {
            t.join().unwrap();
        }
        let run = Run {
            what: self.what.clone(),
            code: status.code(),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr_so_far(),
        };
        no_credential_printed(&run, self.agent_key.as_deref(), &self.root_token);
        run
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------------------------

/// One node as `cluster.json` lists it.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: u64,
    pub api: String,
    pub pid: u32,
}

/// A running dev cluster. Fields drop in order: the guard stops the processes before the
/// directory is removed.
pub struct Cluster {
    pub guard: DevGuard,
    pub nodes: Vec<Node>,
    pub root_token: String,
    pub unseal_keys: Vec<String>,
    /// The cluster CA that `cluster.json` names (`ca_cert`).
    pub ca_cert: PathBuf,
    /// Scratch space for key files; the token cache is its `cache/` ([`Cluster::cache_home`]).
    pub scratch: PathBuf,
    _root: tempfile::TempDir,
}

impl Cluster {
    /// Every node's API URL, comma-separated: the ASS_ADDR users export.
    pub fn addrs(&self) -> String {
        self.nodes.iter().map(|n| n.api.as_str()).collect::<Vec<_>>().join(",")
    }

    /// An `ass` invocation with ASS_ADDR = every node and ASS_TOKEN = the root token.
    pub fn cli(&self) -> Ass<'_> {
        Ass {
            cluster: self,
            addr: self.addrs(),
            token: Some(self.root_token.clone()),
            agent_key: None,
            ca_cert: Some(self.ca_cert.clone()),
            stdin: None,
            extra: Vec::new(),
        }
    }

    /// The XDG_CACHE_HOME every `ass` run of this test gets (the token cache is under it).
    pub fn cache_home(&self) -> PathBuf {
        self.scratch.join("cache")
    }

    pub fn ass(&self, args: &[&str]) -> Run {
        self.cli().run(args)
    }

    /// `ass operator status --json` over every node: `(address, status or null)` per node.
    pub fn status_json(&self) -> Vec<(String, Value)> {
        let run = self.ass(&["operator", "status", "--json"]);
        run.ok();
        let v = run.json();
        let arr = v.as_array().unwrap_or_else(|| panic!("status --json is not an array: {v}"));
        assert_eq!(arr.len(), self.nodes.len(), "one entry per node: {v}");
        arr.iter()
            .map(|e| (e["address"].as_str().expect("address").to_owned(), e["status"].clone()))
            .collect()
    }

    /// Polls `operator status --json` until every node answers, is unsealed and names the
    /// same leader; returns that leader's id.
    pub fn wait_healthy(&self) -> u64 {
        wait_until("every node unsealed with one leader", SETTLE_TIMEOUT, || {
            let st = self.status_json();
            let mut leaders = Vec::new();
            for (addr, s) in &st {
                if s.is_null() {
                    return Err(format!("{addr} did not answer"));
                }
                if s["sealed"] != Value::Bool(false) || s["initialized"] != Value::Bool(true) {
                    return Err(format!("{addr} is sealed or uninitialized: {s}"));
                }
                leaders.push(s["leader_id"].as_u64());
            }
            match leaders[0] {
                Some(l) if leaders.iter().all(|x| *x == Some(l)) => Ok(l),
                _ => Err(format!("leaders disagree: {leaders:?}")),
            }
        })
    }

    /// Writes `content` to a fresh file in the scratch directory (mode 0600).
    pub fn key_file(&self, name: &str, content: &str) -> String {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.scratch.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        f.write_all(content.as_bytes()).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

/// Polls `f` every 200 ms until it succeeds; panics with its last complaint after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Owns the `ass-node dev` process. Dropping it stops the process and, as a last resort,
/// kills any node process of this cluster directory still alive.
pub struct DevGuard {
    pub group: Option<Group>,
    pub dir: PathBuf,
}

impl DevGuard {
    /// SIGTERM to the dev process (it then stops its nodes), up to `grace` to exit, then
    /// SIGKILL. Returns how the dev process ended (`None` if already stopped, or killed).
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut group = self.group.take()?;
        if let Some(status) = group.exited() {
            return Some(status);
        }
        let status = group.stop_within(grace);
        if status.is_none() {
            eprintln!("dev process {} still running {grace:?} after SIGTERM: SIGKILL", group.pid());
        }
        status
    }

    /// SIGKILLs every process of this cluster still alive: the pids of `cluster.json` and any
    /// process whose command line names this cluster's directory (a node started before
    /// `cluster.json` was written). A pid is only killed if its command line still names the
    /// directory, so a recycled pid is never hit.
    pub fn kill_leftovers(&self) {
        let mut pids: Vec<u32> = read_cluster_file(&self.dir)
            .map(|f| f.nodes.iter().map(|n| n.pid).collect())
            .unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            pids.extend(
                entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        for pid in pids {
            if pid == 0 || pid == std::process::id() || !names_dir(pid, &self.dir) {
                continue;
            }
            eprintln!("killing leftover process {pid} of {}", self.dir.display());
            // SAFETY: kill(2) on a pid whose command line names our private temp directory.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }

    /// Dev log and the tail of every node log, for a failed run.
    pub fn dump_logs(&self) {
        let mut logs = vec![self.dir.join("dev.log")];
        for i in 1..=3 {
            logs.push(self.dir.join(format!("node{i}")).join("node.log"));
        }
        for path in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!("----- {} (last {} lines)", path.display(), tail.len());
            for l in tail {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for DevGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        self.terminate(STOP_GRACE);
        // Last resort, even if the dev process was already gone: nodes it left behind.
        self.kill_leftovers();
    }
}

/// Whether process `pid` is alive and its command line mentions `dir`.
pub fn names_dir(pid: u32, dir: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.to_string_lossy();
    raw.split(|b| *b == 0).any(|arg| String::from_utf8_lossy(arg).contains(needle.as_ref()))
}

/// Whether process `pid` exists (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised name, is the state; Z is a zombie.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

/// The parts of `DIR/cluster.json` the test uses.
pub struct ClusterFile {
    nodes: Vec<Node>,
    root_token: String,
    unseal_keys: Vec<String>,
    ca_cert: PathBuf,
}

/// `DIR/cluster.json`, if it exists and is complete (TLS: it names the CA).
pub fn read_cluster_file(dir: &Path) -> Option<ClusterFile> {
    let file = DevClusterFile::read(dir)?;
    Some(ClusterFile {
        nodes: file.nodes.into_iter().map(|n| Node { id: n.id, api: n.api, pid: n.pid }).collect(),
        root_token: file.root_token,
        unseal_keys: file.unseal_keys,
        ca_cert: file.ca_cert?,
    })
}

/// The `ass-node` binary next to `ass`, built first (same profile) if missing.
pub fn ass_node_binary() -> PathBuf {
    let ass = Path::new(env!("CARGO_BIN_EXE_ass"));
    let node = ass.with_file_name("ass-node");
    if node.exists() {
        return node;
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-p", "ass-node"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if ass.to_string_lossy().contains("/release/") {
        cmd.arg("--release");
    }
    eprintln!("{} is missing: running {cmd:?}", node.display());
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    assert!(
        node.exists(),
        "{cmd:?} succeeded but {} does not exist (different target directory?)",
        node.display()
    );
    node
}

/// Starts `ass-node dev --dir <tmp> --nodes 3 --base-port <P>` and waits for `cluster.json`.
/// A dev process that exits early (a port taken between the check and its bind) is retried
/// on other ports, up to three times.
pub fn start_cluster() -> Cluster {
    let node_bin = ass_node_binary();
    let root = tempfile::Builder::new().prefix("ass-real-cluster-").tempdir().expect("temp dir");
    let scratch = root.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let started = Instant::now();
    for attempt in 0..3u32 {
        let base = ass_testkit::ports::free_base_port(3).expect("a free base port");
        let dir = root.path().join(format!("cluster{attempt}"));
        std::fs::create_dir(&dir).unwrap();
        let mut cmd = Command::new(&node_bin);
        clear_ass_env(&mut cmd);
        cmd.arg("dev").arg("--dir").arg(&dir).args([
            "--nodes",
            "3",
            "--base-port",
            &base.to_string(),
        ]);
        // If the test thread dies without running the guard (killed harness), the dev
        // process is killed, and its nodes with it (each dies with the launcher).
        let group = Group::from_command(
            "ass-node dev",
            cmd,
            &node_bin.display().to_string(),
            dir.join("dev.log"),
        )
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", node_bin.display()));
        let mut guard = DevGuard { group: Some(group), dir: dir.clone() };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(file) = read_cluster_file(&dir) {
                assert_eq!(file.nodes.len(), 3, "cluster.json lists 3 nodes");
                assert!(!file.root_token.is_empty(), "cluster.json has a root token");
                assert!(file.unseal_keys.len() >= 3, "cluster.json has unseal keys");
                for n in &file.nodes {
                    let port = base + n.id as u16 - 1;
                    assert_eq!(n.api, format!("https://127.0.0.1:{port}"), "node {}", n.id);
                }
                assert_eq!(file.ca_cert, dir.join("tls/ca.pem"), "cluster.json names the CA");
                eprintln!(
                    "dev cluster on base port {base} ready in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return Cluster {
                    guard,
                    nodes: file.nodes,
                    root_token: file.root_token,
                    unseal_keys: file.unseal_keys,
                    ca_cert: file.ca_cert,
                    scratch,
                    _root: root,
                };
            }
            if let Some(status) = guard.group.as_mut().and_then(Group::exited) {
                let log = std::fs::read_to_string(dir.join("dev.log")).unwrap_or_default();
                if attempt < 2 {
                    eprintln!(
                        "dev cluster on base port {base} exited ({status}), retrying:\n{log}"
                    );
                    drop(guard);
                    break;
                }
                guard.dump_logs();
                panic!("ass-node dev exited before writing cluster.json ({status})");
            }
            if Instant::now() >= deadline {
                guard.dump_logs();
                panic!("no cluster.json in {} within {START_TIMEOUT:?}", dir.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    unreachable!("the last attempt panics or returns")
}

// ---------------------------------------------------------------------------------------------
// Helpers for the steps
// ---------------------------------------------------------------------------------------------

/// The rows of the `operator status` table, split on whitespace (PROGRESS is three words).
pub fn status_rows(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("ADDRESS") && header.contains("SEALED") && header.contains("LEADER"),
        "status header: {header:?}"
    );
    lines.map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

/// A value no other test run could produce.
pub fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// Announces a step, with the time since the test started.
pub fn step(t0: Instant, n: u32, what: &str) {
    eprintln!("== {:>5.1} s  step {n}: {what}", t0.elapsed().as_secs_f64());
}
