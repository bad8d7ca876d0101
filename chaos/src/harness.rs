//! The cluster under test: real `ass-node` release processes, one per network namespace
//! (or on loopback when namespaces are unavailable), initialized, unsealed, and always torn
//! down. The members are `ass-testkit` launcher members ([`Member`]: config file, process
//! group, stop and kill, init and unseal calls); this harness adds the placement (a network
//! namespace per node through [`Launch::netns`], or loopback ports), the clock node under
//! libfaketime, and the bookkeeping of faults (who is a Raft member, the pid file).
//!
//! Cleanup is layered so that nothing outlives a run, however it ends:
//! * every node and `strace` pid is in a process-wide registry ([`register_pid`]); a panic
//!   hook and the Ctrl-C / SIGTERM handler installed by the binary call [`emergency_cleanup`],
//!   which kills them and removes the namespaces and the bridge;
//! * dropping a [`Cluster`] kills its children and (through [`Net`]'s drop) the namespaces;
//! * a new run first removes whatever a crashed run left: namespaces named `asschaos-*` (and
//!   every process inside them), the bridge, and pids from the loopback pid file.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ass_client::types::{AddMemberRequest, SealStatus};
use ass_testkit::{api, dev_certs, DevCerts, Launch, Member, NodeConfig};
use serde::Deserialize;

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
/// process too), and every process group the launcher still lists, and removes the namespaces
/// and bridge. Idempotent.
pub fn emergency_cleanup() {
    ass_testkit::process::kill_all();
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

/// One node process: a launcher member (id, addresses, dir, process) and what faults track.
#[derive(Debug)]
pub struct NodeProc {
    pub proc: Member,
    /// libfaketime's control file for the clock node.
    pub clock_file: Option<PathBuf>,
    /// Whether this node is in the Raft membership (the membership fault removes one).
    pub member: bool,
}

impl NodeProc {
    pub fn pid(&self) -> Option<i32> {
        self.proc.pid().map(|p| p as i32)
    }
}

impl std::ops::Deref for NodeProc {
    type Target = Member;
    fn deref(&self) -> &Member {
        &self.proc
    }
}

impl std::ops::DerefMut for NodeProc {
    fn deref_mut(&mut self) -> &mut Member {
        &mut self.proc
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
        let http = api::client_builder(ca_pem.as_deref())?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(3));
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
        let init = api::init(&cluster.http, &cluster.api_url(1)).await?;
        cluster.root_token = init.root_token;
        cluster.unseal_keys = init.keys;
        for i in 0..cluster.nodes.len() {
            cluster.unseal(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    fn addrs(&self, id: u64) -> anyhow::Result<(SocketAddr, SocketAddr)> {
        Ok(if self.opts.netns {
            let ip: std::net::IpAddr = net::node_ip(id).parse()?;
            (SocketAddr::new(ip, API_PORT), SocketAddr::new(ip, CLUSTER_PORT))
        } else {
            let b = self.opts.base_port;
            (
                SocketAddr::from(([127, 0, 0, 1], b + id as u16)),
                SocketAddr::from(([127, 0, 0, 1], b + 100 + id as u16)),
            )
        })
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
        let (api_addr, cluster_addr) = self.addrs(id)?;
        let dir = self.opts.dir.join(format!("node{id}"));
        let mut proc = Member::new(id, api_addr, cluster_addr, dir, self.certs.is_some())?;
        if self.opts.netns {
            proc.launch = Launch::netns(&net::ns_name(id));
        }
        // openraft's election events (votes asked, granted, refused and why) stay in the log.
        proc.env.push((
            "RUST_LOG".into(),
            "info,openraft=warn,openraft::engine::engine_impl=info,openraft::core::raft_core=info"
                .into(),
        ));
        let clock_file = (self.opts.clock_node == Some(id)).then(|| proc.dir.join("faketime"));
        if let Some(f) = &clock_file {
            std::fs::write(f, "+0\n")?;
            // The wall clock only: Raft timers and tokio run on the monotonic clock.
            proc.env.extend([
                ("LD_PRELOAD".to_string(), LIBFAKETIME.to_string()),
                ("FAKETIME_TIMESTAMP_FILE".to_string(), f.display().to_string()),
                ("FAKETIME_CACHE_DURATION".to_string(), "1".to_string()),
                ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
            ]);
        }
        self.config(&proc, bootstrap)?.write(&proc.config_path)?;
        self.nodes.push(NodeProc { proc, clock_file, member: true });
        Ok(())
    }

    fn config(&self, node: &Member, bootstrap: bool) -> anyhow::Result<NodeConfig> {
        let mut peers = Vec::new();
        for id in 1..=self.opts.nodes {
            let (api, cluster) = self.addrs(id)?;
            peers.push((id, api.to_string(), cluster.to_string()));
        }
        let tls = self.certs.as_ref().map(|certs| {
            let files = certs
                .nodes
                .iter()
                .find(|(id, _)| *id == node.id)
                .map(|(_, f)| f.clone())
                .expect("a certificate for every node id");
            (files, certs.ca_file.clone())
        });
        Ok(NodeConfig {
            header: "# Written by ass-chaos.".into(),
            id: node.id,
            api_addr: node.api_addr.to_string(),
            cluster_addr: node.cluster_addr.to_string(),
            data_dir: node.data_dir(),
            max_body_bytes: None,
            bootstrap,
            tls,
            extra: format!(
                "\n[raft]\nsnapshot_every = {snap}\nkeep_logs = {keep}\n\n\
                 [auth]\n# Revoked-token probes fail authentication on purpose.\nmax_failures_per_minute = 1000000\n",
                snap = self.opts.snapshot_every,
                keep = (self.opts.snapshot_every / 4).max(100),
            ),
            peers,
        })
    }

    pub fn index_of(&self, id: u64) -> usize {
        self.nodes.iter().position(|n| n.id == id).expect("known node id")
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn api_url(&self, id: u64) -> String {
        self.nodes[self.index_of(id)].proc.api_url()
    }

    pub fn api_urls(&self) -> Vec<(u64, String)> {
        self.nodes.iter().map(|n| (n.id, n.proc.api_url())).collect()
    }

    /// Starts node `i` (index) as a child process.
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].proc.spawn(&self.opts.exe).context("starting a node")?;
        if let Some(pid) = self.nodes[i].pid() {
            register_pid(pid);
        }
        Ok(())
    }

    /// `kill -9` of node `i`, reaped.
    pub fn kill(&mut self, i: usize) {
        if let Some(pid) = self.nodes[i].pid() {
            self.nodes[i].proc.kill();
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
        let pid = self.nodes[i].pid();
        let out = self.nodes[i].proc.stop(grace);
        if let Some(pid) = pid {
            unregister_pid(pid);
        }
        out
    }

    pub fn signal(&self, i: usize, sig: i32) {
        self.nodes[i].proc.signal(sig);
    }

    /// Node ids whose process exited since the last call, with how.
    pub fn reap_exits(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            let pid = n.pid();
            if let Some(status) = n.proc.reap() {
                if let Some(pid) = pid {
                    unregister_pid(pid);
                }
                out.push((n.id, status.to_string()));
            }
        }
        out
    }

    /// The last lines of a node's log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        self.nodes[i].proc.log_tail(lines)
    }

    /// Restarts node `i` (kill -9 first if it runs) and unseals it.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)?;
        self.wait_answering(i, Duration::from_secs(60)).await?;
        self.unseal(i, Duration::from_secs(60)).await
    }

    pub async fn status(&self, i: usize) -> Option<SealStatus> {
        api::status(&self.http, &self.nodes[i].api_url(), Duration::from_millis(1500)).await
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
        let pid = self.nodes[i].pid();
        let answered = self.nodes[i].proc.wait_answering(&self.http, timeout).await;
        if let (Some(pid), false) = (pid, self.nodes[i].running()) {
            unregister_pid(pid);
        }
        Ok(answered?)
    }

    /// Hands node `i` shares until it is unsealed.
    pub async fn unseal(&self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let url = self.nodes[i].api_url();
        Ok(api::unseal(&self.http, &url, &self.unseal_keys, timeout).await?)
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
            api_addr: self.nodes[i].api_addr.to_string(),
            cluster_addr: self.nodes[i].cluster_addr.to_string(),
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
