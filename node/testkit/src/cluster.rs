//! A local cluster of real `ass-node` processes on 127.0.0.1: what `ass-node dev` runs, and
//! what the node's integration tests, the CLI tests' helpers and the benchmarks drive.
//!
//! Each node gets `DIR/nodeN/{config.toml,data/,node.log}` and listens on `base_port + N - 1`
//! (API) and `base_port + 100 + N - 1` (cluster); `DIR/cluster.json` records the addresses,
//! pids, root token, the CA file and — dev only — the unseal keys, so a restart on the same
//! DIR reuses the data and unseals again.
//!
//! TLS is on unless [`DevOptions::tls_disable`]: `DIR/tls/` holds a dev CA and one certificate
//! per node ([`crate::certs`]), made once and reused by later runs; the API addresses are
//! `https://` and clients trust `DIR/tls/ca.pem` (`ASS_CACERT`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::certs::{dev_certs, CertError};
use crate::config::NodeConfig;
use crate::member::{Member, MemberError};
use crate::process::ProcessError;
use crate::Launch;

/// How long a clean stop may take before the launcher `kill -9`s the node: the node's own
/// bounds (handover 5 s, drain 10 s) and some slack.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

/// How long a node may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong starting or restarting a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--base-port must lie between 1024 and {max} for {nodes} nodes")]
    BasePort { max: u32, nodes: u64 },
    #[error("port {0} on 127.0.0.1 is in use (another dev cluster?); stop it or pass --base-port")]
    PortInUse(u16),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("making the dev CA and node certificates: {0}")]
    Certs(#[from] CertError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Spawn(#[from] ProcessError),
    #[error("the cluster in {} is already initialized but cluster.json is missing", .0.display())]
    InitializedWithoutFile(PathBuf),
    #[error("writing cluster.json: {0}")]
    Json(#[from] serde_json::Error),
}

fn io(what: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ClusterError {
    let path = path.to_owned();
    move |source| ClusterError::Io { what, path, source }
}

/// `DIR/cluster.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterFile {
    pub nodes: Vec<ClusterFileNode>,
    pub root_token: String,
    pub unseal_keys: Vec<String>,
    /// The cluster CA (PEM) clients trust for the `https://` API addresses; absent when TLS
    /// is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterFileNode {
    pub id: u64,
    pub api: String,
    pub pid: u32,
}

impl ClusterFile {
    /// `DIR/cluster.json`, if it exists and parses.
    pub fn read(dir: &std::path::Path) -> Option<Self> {
        let bytes = std::fs::read(dir.join("cluster.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Settings of a local cluster.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub dir: PathBuf,
    pub nodes: u64,
    pub base_port: u16,
    /// The `ass-node` binary to run.
    pub exe: PathBuf,
    /// Extra TOML appended to every node's config (tests tune snapshot settings with it).
    pub extra_config: String,
    /// Environment variables for every node process.
    pub env: Vec<(String, String)>,
    /// Plain HTTP on both ports (`tls_disable = true` in every config); default false.
    pub tls_disable: bool,
    /// SANs the node certificates carry besides 127.0.0.1 and localhost.
    pub extra_sans: Vec<String>,
    /// How every node is started (default plain; the benchmarks pin with `taskset`).
    pub launch: Launch,
}

impl DevOptions {
    /// A TLS cluster of `nodes` nodes in `dir` from `base_port`, running `exe`; other fields
    /// at their defaults (no extra config, no extra environment, no extra SANs, plain start).
    pub fn new(dir: PathBuf, nodes: u64, base_port: u16, exe: PathBuf) -> Self {
        Self {
            dir,
            nodes,
            base_port,
            exe,
            extra_config: String::new(),
            env: Vec::new(),
            tls_disable: false,
            extra_sans: Vec::new(),
            launch: Launch::Plain,
        }
    }

    /// `DIR/tls`: the dev CA and node certificates.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    fn addrs(&self, id: u64) -> (SocketAddr, SocketAddr) {
        let api = self.base_port + (id - 1) as u16;
        (SocketAddr::from(([127, 0, 0, 1], api)), SocketAddr::from(([127, 0, 0, 1], api + 100)))
    }

    /// Node `id`'s config listing peers `1..=peer_count`; `bootstrap = false` for a joining node.
    fn node_config(&self, id: u64, peer_count: u64, bootstrap: bool) -> NodeConfig {
        let (api, cluster) = self.addrs(id);
        let tls_dir = self.tls_dir();
        NodeConfig {
            header: "# Written by `ass-node dev`; local development only.".into(),
            id,
            api_addr: api.to_string(),
            cluster_addr: cluster.to_string(),
            data_dir: self.dir.join(format!("node{id}")).join("data"),
            max_body_bytes: Some(1_048_576),
            bootstrap,
            tls: (!self.tls_disable).then(|| {
                let files = crate::certs::NodeCertFiles {
                    cert_file: tls_dir.join(format!("node{id}.pem")),
                    key_file: tls_dir.join(format!("node{id}-key.pem")),
                };
                (files, tls_dir.join("ca.pem"))
            }),
            extra: self.extra_config.clone(),
            peers: (1..=peer_count)
                .map(|p| {
                    let (a, c) = self.addrs(p);
                    (p, a.to_string(), c.to_string())
                })
                .collect(),
        }
    }

    /// Writes node `id`'s config and returns its (not started) member.
    fn member(&self, id: u64, peer_count: u64, bootstrap: bool) -> Result<Member, ClusterError> {
        let (api, cluster) = self.addrs(id);
        let dir = self.dir.join(format!("node{id}"));
        let mut m = Member::new(id, api, cluster, dir.clone(), !self.tls_disable)
            .map_err(io("creating", &dir))?;
        m.launch = self.launch.clone();
        m.env = self.env.clone();
        self.node_config(id, peer_count, bootstrap)
            .write(&m.config_path)
            .map_err(io("writing", &m.config_path))?;
        Ok(m)
    }
}

/// How one node ended in [`DevCluster::stop_all`].
#[derive(Debug, Clone)]
pub struct StopReport {
    pub id: u64,
    pub took: Duration,
    /// `None`: it did not stop within [`STOP_GRACE`] and was killed.
    pub status: Option<std::process::ExitStatus>,
}

/// A running local cluster; dropping it kills every node.
pub struct DevCluster {
    pub options: DevOptions,
    pub nodes: Vec<Member>,
    pub root_token: String,
    pub unseal_keys: Vec<String>,
    /// The cluster CA (`DIR/tls/ca.pem`); `None` without TLS.
    pub ca_file: Option<PathBuf>,
    http: reqwest::Client,
}

impl DevCluster {
    /// Writes configs, starts every node, initializes the cluster (or reuses `cluster.json`)
    /// and unseals every node.
    pub async fn start(options: DevOptions) -> Result<Self, ClusterError> {
        let mut cluster = Self::start_uninitialized(options).await?;
        match ClusterFile::read(&cluster.options.dir) {
            Some(file) => {
                cluster.root_token = file.root_token;
                cluster.unseal_keys = file.unseal_keys;
            }
            None => {
                let init = match api::init(&cluster.http, &cluster.nodes[0].api_url()).await {
                    Err(ApiError::AlreadyInitialized) => {
                        return Err(ClusterError::InitializedWithoutFile(
                            cluster.options.dir.clone(),
                        ))
                    }
                    other => other?,
                };
                cluster.root_token = init.root_token;
                cluster.unseal_keys = init.keys;
            }
        }
        for i in 0..cluster.nodes.len() {
            cluster.unseal(i).await?;
        }
        cluster.write_cluster_file()?;
        Ok(cluster)
    }

    /// Writes configs and starts every node, and stops there: the cluster is formed but not
    /// initialized (no root token, no unseal keys), as a new cluster waiting for `init` or a
    /// restore.
    pub async fn start_uninitialized(options: DevOptions) -> Result<Self, ClusterError> {
        let highest = u32::from(options.base_port) + 100 + options.nodes as u32;
        if highest > u32::from(u16::MAX) || options.base_port < 1024 {
            return Err(ClusterError::BasePort {
                max: u32::from(u16::MAX) + 1 - (highest - u32::from(options.base_port)),
                nodes: options.nodes,
            });
        }
        std::fs::create_dir_all(&options.dir).map_err(io("creating", &options.dir))?;
        let ca_file = if options.tls_disable {
            None
        } else {
            let ids: Vec<u64> = (1..=options.nodes).collect();
            let certs = dev_certs(&options.tls_dir(), &ids, &options.extra_sans)?;
            Some(std::fs::canonicalize(&certs.ca_file).unwrap_or(certs.ca_file))
        };
        let mut nodes = Vec::new();
        for id in 1..=options.nodes {
            nodes.push(options.member(id, options.nodes, true)?);
        }
        for n in &nodes {
            for port in [n.api_port(), n.cluster_port()] {
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    return Err(ClusterError::PortInUse(port));
                }
            }
        }
        let http = api::api_client(ca_file.as_deref())?;
        let mut cluster = DevCluster {
            options,
            nodes,
            root_token: String::new(),
            unseal_keys: Vec::new(),
            ca_file,
            http,
        };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        for n in &mut cluster.nodes {
            n.wait_answering(&cluster.http, START_TIMEOUT).await?;
        }
        Ok(cluster)
    }

    /// Starts node `i` (index into `nodes`) as a child process.
    pub fn spawn(&mut self, i: usize) -> Result<(), ProcessError> {
        self.nodes[i].spawn(&self.options.exe)
    }

    /// `kill -9` of node `i` (its whole process group), reaped.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Clean stop (SIGTERM) of node `i`, reaped: waits for the node's own bounded stop
    /// (handover, drain, sync) and `kill -9`s it only past [`STOP_GRACE`]. Returns how long it
    /// took and how it exited (`None`: it had to be killed, or was not running).
    pub fn stop(&mut self, i: usize) -> (Duration, Option<std::process::ExitStatus>) {
        self.nodes[i].stop(STOP_GRACE)
    }

    /// Stops every node cleanly: the followers together first, then the leader(s), so a
    /// leader's handover never aims at a node that is stopping too. Returns, per node that
    /// was running, its id, how long it took and how it exited (`None`: killed past
    /// [`STOP_GRACE`]).
    pub async fn stop_all(&mut self) -> Vec<StopReport> {
        let mut leaders = Vec::new();
        for i in 0..self.nodes.len() {
            if self.nodes[i].running() {
                let url = self.nodes[i].api_url();
                let s = api::status(&self.http, &url, Duration::from_secs(3)).await;
                if s.is_some_and(|s| s.leader_id == Some(self.nodes[i].id)) {
                    leaders.push(i);
                }
            }
        }
        let mut reports = Vec::new();
        for round in [false, true] {
            let group: Vec<usize> =
                (0..self.nodes.len()).filter(|i| leaders.contains(i) == round).collect();
            let signalled: Vec<usize> =
                group.into_iter().filter(|&i| self.nodes[i].signal_stop()).collect();
            let started = std::time::Instant::now();
            for i in signalled {
                let status = self.nodes[i].wait_exit(STOP_GRACE);
                reports.push(StopReport { id: self.nodes[i].id, took: started.elapsed(), status });
            }
        }
        reports
    }

    /// Node ids whose process exited since the last call, reaped, with how they exited.
    pub fn reap_exits(&mut self) -> Vec<(u64, std::process::ExitStatus)> {
        self.nodes.iter_mut().filter_map(|n| Some((n.id, n.reap()?))).collect()
    }

    /// Restarts node `i` on its own dir (kill -9 first if it runs) and unseals it.
    pub async fn restart(&mut self, i: usize) -> Result<(), ClusterError> {
        self.kill(i);
        self.spawn(i)?;
        self.nodes[i].wait_answering(&self.http, START_TIMEOUT).await?;
        self.unseal(i).await?;
        self.write_cluster_file()
    }

    /// Hands node `i` shares until it is unsealed (waits for it to learn of the init).
    pub async fn unseal(&self, i: usize) -> Result<(), ApiError> {
        let url = self.nodes[i].api_url();
        api::unseal(&self.http, &url, &self.unseal_keys, START_TIMEOUT).await
    }

    /// Writes `DIR/cluster.json` (mode 0600: it holds the unseal keys).
    pub fn write_cluster_file(&self) -> Result<(), ClusterError> {
        let file = ClusterFile {
            nodes: self
                .nodes
                .iter()
                .map(|n| ClusterFileNode { id: n.id, api: n.api_url(), pid: n.pid().unwrap_or(0) })
                .collect(),
            root_token: self.root_token.clone(),
            unseal_keys: self.unseal_keys.clone(),
            ca_cert: self.ca_file.clone(),
        };
        let path = self.options.dir.join("cluster.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&file)?).map_err(io("writing", &path))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("restricting", &path))?;
        Ok(())
    }

    /// Starts one more node process that joins later (it does not bootstrap): the caller adds
    /// it with `POST /v1/sys/members`, promotes it, and unseals it. Returns its index.
    pub fn add_node(&mut self) -> Result<usize, ClusterError> {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        if !self.options.tls_disable {
            dev_certs(&self.options.tls_dir(), &[id], &self.options.extra_sans)?;
        }
        let member = self.options.member(id, id, false)?;
        self.nodes.push(member);
        let i = self.nodes.len() - 1;
        self.spawn(i)?;
        Ok(i)
    }

    /// Every node's API URL.
    pub fn api_urls(&self) -> Vec<String> {
        self.nodes.iter().map(Member::api_url).collect()
    }

    /// A new HTTP client for the API port that trusts this cluster's CA.
    pub fn api_client(&self) -> Result<reqwest::Client, ApiError> {
        api::api_client(self.ca_file.as_deref())
    }
}
