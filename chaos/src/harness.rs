//! The cluster under test: real `ass-node` release processes, one per network namespace
//! (or on loopback when namespaces are unavailable), with configs written here, initialized,
//! unsealed, and always torn down.
//!
//! Cleanup is layered so that nothing outlives a run, however it ends:
//! * every node and `strace` pid is in a process-wide registry ([`register_pid`]); a panic
//!   hook and the Ctrl-C / SIGTERM handler installed by the binary call [`emergency_cleanup`],
//!   which kills them and removes the namespaces and the bridge;
//! * dropping a [`Cluster`] kills its children and (through [`Net`]'s drop) the namespaces;
//! * a new run first removes whatever a crashed run left: namespaces named `asschaos-*` (and
//!   every process inside them), the bridge, and pids from the loopback pid file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ass_client::types::{AddMemberRequest, InitRequest, InitResponse, SealStatus, UnsealRequest};
use serde::Deserialize;

use ass_node::tls::{dev_certs, DevCerts};

use crate::net::{self, Net};

/// Port every node's API listens on inside its namespace (loopback: base + id).
pub const API_PORT: u16 = 8200;
/// Port of the cluster listener inside a namespace (loopback: base + 100 + id).
pub const CLUSTER_PORT: u16 = 8201;
/// libfaketime's multi-threaded preload library (Debian `faketime`/`libfaketime`).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

static PIDS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static PID_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Remembers a pid this run started, for emergency cleanup.
pub fn register_pid(pid: i32) {
    let mut pids = PIDS.lock().unwrap_or_else(|e| e.into_inner());
    pids.insert(pid);
    write_pid_file(&pids);
}

/// Forgets a pid once it was reaped.
pub fn unregister_pid(pid: i32) {
    let mut pids = PIDS.lock().unwrap_or_else(|e| e.into_inner());
    pids.remove(&pid);
    write_pid_file(&pids);
}

fn write_pid_file(pids: &BTreeSet<i32>) {
    if let Some(path) = PID_FILE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        let text: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        let _ = std::fs::write(path, text.join("\n"));
    }
}

/// Kills every registered process (SIGCONT first is unnecessary: SIGKILL ends a stopped
/// process too) and removes the namespaces and bridge. Idempotent.
pub fn emergency_cleanup() {
    let pids: Vec<i32> = PIDS.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
    for pid in pids {
        // SAFETY: kill(2) on a process this run started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    net::cleanup_leftovers();
}

/// Kills processes a crashed earlier run recorded in `pid_file`, if they still are ours
/// (`ass-node` or `strace` by their command line). Returns what it killed.
pub fn cleanup_pid_file(pid_file: &Path) -> Vec<String> {
    let mut killed = Vec::new();
    let Ok(text) = std::fs::read_to_string(pid_file) else { return killed };
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("ass-node") || cmdline.starts_with("strace") {
            // SAFETY: kill(2) on a leftover process of an earlier run of this suite.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed.push(format!("pid {pid} ({})", cmdline.trim()));
        }
    }
    let _ = std::fs::remove_file(pid_file);
    killed
}

/// How the nodes talk TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP on both ports (`tls_disable = true`), for comparison runs only.
    Disabled,
    /// As in production: a CA and one certificate per node from `ass-node`'s own dev
    /// generator (`DIR/tls/`, SANs 127.0.0.1 and the node's namespace address), mutual TLS on
    /// the cluster port, https on the API, and every client of the harness trusting that CA.
    Dev,
}

/// Settings of the cluster under test.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub exe: PathBuf,
    pub dir: PathBuf,
    pub nodes: u64,
    /// Use network namespaces (root only); otherwise loopback at `base_port`.
    pub netns: bool,
    pub base_port: u16,
    /// The node started under libfaketime, whose wall clock the clock fault moves.
    pub clock_node: Option<u64>,
    pub tls: Tls,
    /// Raft snapshot interval (small, so snapshots and log purges happen during the run).
    pub snapshot_every: u64,
}

/// One node process.
#[derive(Debug)]
pub struct NodeProc {
    pub id: u64,
    /// `host:port` of the API and the cluster port.
    pub api_addr: String,
    pub cluster_addr: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub child: Option<Child>,
    /// libfaketime's control file for the clock node.
    pub clock_file: Option<PathBuf>,
    /// Whether this node is in the Raft membership (the membership fault removes one).
    pub member: bool,
}

impl NodeProc {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Digest {
    pub applied_index: u64,
    pub digest: String,
}

/// The running cluster.
pub struct Cluster {
    pub opts: ClusterOptions,
    pub net: Option<Net>,
    pub nodes: Vec<NodeProc>,
    pub root_token: String,
    pub unseal_keys: Vec<String>,
    http: reqwest::Client,
    /// Client of the nodes' cluster ports (state digests): with TLS it presents node 1's
    /// certificate, as a peer does, since the cluster port demands one signed by the CA.
    peer_http: reqwest::Client,
    /// The CA and node certificates ([`Tls::Dev`]).
    certs: Option<DevCerts>,
    /// The CA's PEM, which every client of the harness trusts ([`Tls::Dev`]).
    ca_pem: Option<Vec<u8>>,
}

impl Cluster {
    /// Creates the network (when asked), writes every config, starts, initializes and unseals
    /// the cluster.
    pub async fn start(opts: ClusterOptions) -> anyhow::Result<Self> {
        let ids: Vec<u64> = (1..=opts.nodes).collect();
        if opts.dir.exists() {
            std::fs::remove_dir_all(&opts.dir)
                .with_context(|| format!("clearing {}", opts.dir.display()))?;
        }
        std::fs::create_dir_all(&opts.dir)?;
        *PID_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(opts.dir.join("pids"));
        let net = if opts.netns { Some(Net::create(&ids)?) } else { None };
        let (certs, ca_pem) = match opts.tls {
            Tls::Disabled => (None, None),
            Tls::Dev => {
                // Namespace addresses as SANs; on loopback 127.0.0.1 is always in.
                let sans: Vec<String> = if opts.netns {
                    ids.iter().map(|&id| net::node_ip(id)).collect()
                } else {
                    Vec::new()
                };
                let certs = dev_certs(&opts.dir.join("tls"), &ids, &sans)
                    .context("making the dev CA and node certificates")?;
                let pem = std::fs::read(&certs.ca_file)
                    .with_context(|| format!("reading {}", certs.ca_file.display()))?;
                (Some(certs), Some(pem))
            }
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(3));
        if let Some(pem) = &ca_pem {
            let config = ass_node::tls::api_client_config(pem).map_err(anyhow::Error::msg)?;
            http = http.tls_backend_preconfigured(config);
        }
        let mut peer_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(3));
        if let Some(certs) = &certs {
            let (_, files) = &certs.nodes[0];
            let tls = ass_node::config::TlsConfig {
                cert_file: files.cert_file.clone(),
                key_file: files.key_file.clone(),
                ca_file: certs.ca_file.clone(),
            };
            let config = ass_node::tls::TlsFiles::load(&tls)
                .context("loading node 1's certificate for the cluster port")?
                .peer_client()?;
            peer_http = peer_http.tls_backend_preconfigured(config);
        }
        let mut cluster = Cluster {
            opts,
            net,
            nodes: Vec::new(),
            root_token: String::new(),
            unseal_keys: Vec::new(),
            http: http.build()?,
            peer_http: peer_http.build()?,
            certs,
            ca_pem,
        };
        for &id in &ids {
            cluster.add_node_proc(id, true)?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_answering(i, Duration::from_secs(60)).await?;
        }
        let init = cluster.init().await?;
        cluster.root_token = init.root_token;
        cluster.unseal_keys = init.keys;
        for i in 0..cluster.nodes.len() {
            cluster.unseal(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    fn addrs(&self, id: u64) -> (String, String) {
        if self.opts.netns {
            (
                format!("{}:{API_PORT}", net::node_ip(id)),
                format!("{}:{CLUSTER_PORT}", net::node_ip(id)),
            )
        } else {
            let b = self.opts.base_port;
            (format!("127.0.0.1:{}", b + id as u16), format!("127.0.0.1:{}", b + 100 + id as u16))
        }
    }

    /// `https`, or `http` with [`Tls::Disabled`].
    pub fn scheme(&self) -> &'static str {
        match self.opts.tls {
            Tls::Disabled => "http",
            Tls::Dev => "https",
        }
    }

    /// The PEM of the CA the nodes' certificates chain to (`None` with [`Tls::Disabled`]).
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    fn add_node_proc(&mut self, id: u64, bootstrap: bool) -> anyhow::Result<()> {
        let (api_addr, cluster_addr) = self.addrs(id);
        let dir = self.opts.dir.join(format!("node{id}"));
        std::fs::create_dir_all(&dir)?;
        let config_path = dir.join("config.toml");
        let clock_file = (self.opts.clock_node == Some(id)).then(|| dir.join("faketime"));
        if let Some(f) = &clock_file {
            std::fs::write(f, "+0\n")?;
        }
        let mut node = NodeProc {
            id,
            api_addr,
            cluster_addr,
            dir,
            config_path,
            child: None,
            clock_file,
            member: bootstrap,
        };
        std::fs::write(&node.config_path, self.config_text(&node, bootstrap))?;
        node.member = true;
        self.nodes.push(node);
        Ok(())
    }

    fn config_text(&self, node: &NodeProc, bootstrap: bool) -> String {
        let peers = ass_node::dev::peers_toml((1..=self.opts.nodes).map(|id| {
            let (api, cluster) = self.addrs(id);
            (id, api, cluster)
        }));
        let (top_tls, table_tls) = match &self.certs {
            None => ("tls_disable = true\n".to_string(), String::new()),
            Some(certs) => {
                let files = certs
                    .nodes
                    .iter()
                    .find(|(id, _)| *id == node.id)
                    .map(|(_, f)| f)
                    .expect("a certificate for every node id");
                (String::new(), format!("\n{}", files.toml(&certs.ca_file)))
            }
        };
        format!(
            "# Written by ass-chaos.\nnode_id = {id}\napi_addr = \"{api}\"\ncluster_addr = \"{cluster}\"\n\
             data_dir = \"{data}\"\nbootstrap = {bootstrap}\n{top_tls}\n\
             [raft]\nsnapshot_every = {snap}\nkeep_logs = {keep}\n\n\
             [auth]\n# Revoked-token probes fail authentication on purpose.\nmax_failures_per_minute = 1000000\n\
             {table_tls}{peers}",
            id = node.id,
            api = node.api_addr,
            cluster = node.cluster_addr,
            data = node.dir.join("data").display(),
            snap = self.opts.snapshot_every,
            keep = (self.opts.snapshot_every / 4).max(100),
        )
    }

    pub fn index_of(&self, id: u64) -> usize {
        self.nodes.iter().position(|n| n.id == id).expect("known node id")
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn api_url(&self, id: u64) -> String {
        format!("{}://{}", self.scheme(), self.nodes[self.index_of(id)].api_addr)
    }

    pub fn api_urls(&self) -> Vec<(u64, String)> {
        self.nodes.iter().map(|n| (n.id, format!("{}://{}", self.scheme(), n.api_addr))).collect()
    }

    /// Starts node `i` (index) as a child process.
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &self.nodes[i];
        let log = std::fs::OpenOptions::new().create(true).append(true).open(node.log_path())?;
        let mut cmd = if self.opts.netns {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &net::ns_name(node.id)]).arg(&self.opts.exe);
            c
        } else {
            Command::new(&self.opts.exe)
        };
        cmd.arg("run")
            .arg("--config")
            .arg(&node.config_path)
            // openraft's election events (votes asked, granted, refused and why) stay in the log.
            .env("RUST_LOG", "info,openraft=warn,openraft::engine::engine_impl=info,openraft::core::raft_core=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(f) = &node.clock_file {
            // The wall clock only: Raft timers and tokio run on the monotonic clock.
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", f)
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let child = cmd.spawn().context("starting a node")?;
        register_pid(child.id() as i32);
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// `kill -9` of node `i`, reaped.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let pid = child.id() as i32;
            let _ = child.kill();
            let _ = child.wait();
            unregister_pid(pid);
        }
    }

    /// Clean stop of node `i`: SIGTERM, then wait (reaping it) for the node's own bounded
    /// stop — a leader hands over first, requests in flight finish, the log is synced —
    /// up to `grace`; past it, `kill -9`. Returns how long it took and the exit status
    /// (`None`: it had to be killed, or was not running).
    pub fn stop(
        &mut self,
        i: usize,
        grace: Duration,
    ) -> (Duration, Option<std::process::ExitStatus>) {
        let started = Instant::now();
        let Some(mut child) = self.nodes[i].child.take() else { return (Duration::ZERO, None) };
        let pid = child.id() as i32;
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if started.elapsed() > grace {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        unregister_pid(pid);
        (started.elapsed(), status)
    }

    pub fn signal(&self, i: usize, sig: i32) {
        if let Some(pid) = self.nodes[i].pid() {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// Node ids whose process exited since the last call, with how.
    pub fn reap_exits(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            if let Some(child) = n.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    unregister_pid(child.id() as i32);
                    n.child = None;
                    out.push((n.id, status.to_string()));
                }
            }
        }
        out
    }

    /// The last lines of a node's log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = std::fs::read_to_string(self.nodes[i].log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Restarts node `i` (kill -9 first if it runs) and unseals it.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)?;
        self.wait_answering(i, Duration::from_secs(60)).await?;
        self.unseal(i, Duration::from_secs(60)).await
    }

    pub async fn status(&self, i: usize) -> Option<SealStatus> {
        let url = format!("{}://{}/v1/sys/status", self.scheme(), self.nodes[i].api_addr);
        let resp = self.http.get(url).timeout(Duration::from_millis(1500)).send().await.ok()?;
        resp.json().await.ok()
    }

    /// This node's applied index and state digest (cluster port).
    pub async fn digest(&self, i: usize) -> Option<Digest> {
        let url =
            format!("{}://{}/internal/state-digest", self.scheme(), self.nodes[i].cluster_addr);
        let resp = self.peer_http.get(url).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json().await.ok()
    }

    /// The leader most running members agree on (highest term first).
    pub async fn leader(&self) -> Option<u64> {
        let mut best: Option<(u64, u64)> = None;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].member || self.nodes[i].child.is_none() {
                continue;
            }
            if let Some(s) = self.status(i).await {
                if let Some(l) = s.leader_id {
                    if best.is_none_or(|(t, _)| s.term > t) {
                        best = Some((s.term, l));
                    }
                }
            }
        }
        best.map(|(_, l)| l)
    }

    /// Waits until a leader is known and it says it is the leader.
    pub async fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader().await {
                if let Some(s) = self.status(self.index_of(l)).await {
                    if s.leader_id == Some(l) && !s.sealed {
                        return Ok(l);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no leader within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_answering(&mut self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status(i).await.is_some() {
                return Ok(());
            }
            if let Some(child) = self.nodes[i].child.as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    unregister_pid(child.id() as i32);
                    self.nodes[i].child = None;
                    bail!(
                        "node {} exited ({exit}) before answering; last log lines:\n{}",
                        self.nodes[i].id,
                        self.log_tail(i, 8)
                    );
                }
            }
            if Instant::now() > deadline {
                bail!("node {} did not answer within {timeout:?}", self.nodes[i].id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn init(&self) -> anyhow::Result<InitResponse> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let req = InitRequest { shares: Some(5), threshold: Some(3) };
        // One request id for every attempt: a retried init is applied once.
        let request_id = format!("{:032x}", rand_u128());
        let url = format!("{}/v1/sys/init", self.api_url(1));
        loop {
            let resp = self
                .http
                .post(&url)
                .header(ass_client::types::HEADER_REQUEST_ID, &request_id)
                .json(&req)
                .timeout(Duration::from_secs(15))
                .send()
                .await;
            if let Ok(resp) = resp {
                if resp.status().is_success() {
                    return Ok(resp.json().await?);
                }
            }
            if Instant::now() > deadline {
                bail!("could not initialize the cluster within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Hands node `i` shares until it is unsealed.
    pub async fn unseal(&self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("{}://{}/v1/sys/unseal", self.scheme(), self.nodes[i].api_addr);
        let deadline = Instant::now() + timeout;
        'retry: loop {
            if Instant::now() > deadline {
                bail!("node {} could not be unsealed within {timeout:?}", self.nodes[i].id);
            }
            for key in &self.unseal_keys {
                let req = UnsealRequest { key: Some(key.clone()), reset: false };
                let resp = self.http.post(&url).json(&req).send().await;
                let Ok(resp) = resp else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'retry;
                };
                if !resp.status().is_success() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'retry;
                }
                let status: SealStatus = resp.json().await?;
                if !status.sealed {
                    return Ok(());
                }
            }
        }
    }

    /// Sets the clock node's wall-clock offset (libfaketime syntax: `+2h`, `-30m`, `+0`).
    pub fn set_clock(&self, id: u64, offset: &str) -> anyhow::Result<()> {
        let node = &self.nodes[self.index_of(id)];
        let Some(f) = &node.clock_file else { bail!("node {id} is not under libfaketime") };
        std::fs::write(f, format!("{offset}\n"))?;
        Ok(())
    }

    /// A root-token SDK client over every node (fails over), for admin calls.
    pub fn admin_client(&self) -> anyhow::Result<ass_client::Client> {
        let urls: Vec<String> = self.api_urls().into_iter().map(|(_, u)| u).collect();
        let mut b = ass_client::Client::builder()
            .addresses(urls)
            .token(Some(self.root_token.clone()))
            .timeout(Duration::from_secs(20));
        if let Some(pem) = &self.ca_pem {
            b = b.ca_cert_pem(pem.clone());
        }
        Ok(b.build()?)
    }

    /// Removes node `id` from the Raft membership (through any node).
    pub async fn remove_member(&mut self, id: u64) -> anyhow::Result<()> {
        let client = self.admin_client()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.remove_member(id).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing_like(&format!("remove {id}: {e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let i = self.index_of(id);
        self.nodes[i].member = false;
        Ok(())
    }

    /// Adds node `id` back as a learner (it keeps its data), then promotes it to voter.
    pub async fn readd_member(&mut self, id: u64) -> anyhow::Result<()> {
        let client = self.admin_client()?;
        let i = self.index_of(id);
        let req = AddMemberRequest {
            id,
            api_addr: self.nodes[i].api_addr.clone(),
            cluster_addr: self.nodes[i].cluster_addr.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            match client.add_member(&req).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing_like(&format!("add {id}: {e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        loop {
            match client.promote_member(id).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing_like(&format!("promote {id}: {e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.nodes[i].member = true;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.signal(i, libc::SIGCONT);
            self.kill(i);
        }
        // `net` drops after this, removing the namespaces and the bridge.
    }
}

/// Progress lines on stderr.
pub fn tracing_like(msg: &str) {
    eprintln!("[chaos {}] {msg}", humantime_now());
}

fn humantime_now() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = now.as_secs() % 86400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// 128 random bits from the OS (request ids).
pub fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u128::from_le_bytes(b)
}
