//! A local cluster of real node processes on 127.0.0.1: `ass-node dev`, and the harness the
//! integration tests, chaos suite and benchmarks drive.
//!
//! Each node gets `DIR/nodeN/{config.toml,data/,node.log}`; `DIR/cluster.json` records the
//! addresses, pids, root token, the CA file and — dev only — the unseal keys, so a restart on
//! the same DIR reuses the data and unseals again.
//!
//! TLS is on unless [`DevOptions::tls_disable`]: `DIR/tls/` holds a dev CA and one certificate
//! per node ([`crate::tls::dev_certs`]), made once and reused by later runs; the API addresses
//! are `https://` and clients trust `DIR/tls/ca.pem` (`ASS_CACERT`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ass_client::types::{ErrorBody, InitRequest, InitResponse, SealStatus, UnsealRequest};
use serde::{Deserialize, Serialize};

/// How long a clean stop may take before the harness `kill -9`s the node: the node's own
/// bounds (handover 5 s, drain 10 s) and some slack.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

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
}

impl DevOptions {
    /// A TLS cluster of `nodes` nodes in `dir` from `base_port`, running `exe`; other fields
    /// at their defaults (no extra config, no extra environment, no extra SANs).
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
        }
    }

    /// `DIR/tls`: the dev CA and node certificates.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }
}

/// One node process of a local cluster.
pub struct DevNode {
    pub id: u64,
    pub api_port: u16,
    pub cluster_port: u16,
    pub config_path: PathBuf,
    pub child: Option<Child>,
    /// A command the node runs under (e.g. `faketime -f -1h` in clock tests); empty: none.
    pub wrapper: Vec<String>,
    /// Whether the node serves TLS.
    pub tls: bool,
}

impl DevNode {
    pub fn api_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.api_port)
    }
}

/// A running local cluster; dropping it kills every node.
pub struct DevCluster {
    pub options: DevOptions,
    pub nodes: Vec<DevNode>,
    pub root_token: String,
    pub unseal_keys: Vec<String>,
    /// The cluster CA (`DIR/tls/ca.pem`); `None` without TLS.
    pub ca_file: Option<PathBuf>,
    http: reqwest::Client,
}

impl DevCluster {
    /// Writes configs, starts every node, initializes the cluster (or reuses `cluster.json`)
    /// and unseals every node.
    pub async fn start(options: DevOptions) -> anyhow::Result<Self> {
        let mut cluster = Self::start_uninitialized(options).await?;
        let existing = std::fs::read(cluster.options.dir.join("cluster.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<ClusterFile>(&b).ok());
        match existing {
            Some(file) => {
                cluster.root_token = file.root_token;
                cluster.unseal_keys = file.unseal_keys;
            }
            None => {
                let init = cluster.init().await?;
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
    pub async fn start_uninitialized(options: DevOptions) -> anyhow::Result<Self> {
        let highest = u32::from(options.base_port) + 100 + options.nodes as u32;
        if highest > u32::from(u16::MAX) || options.base_port < 1024 {
            bail!(
                "--base-port must lie between 1024 and {} for {} nodes",
                u32::from(u16::MAX) + 1 - (highest - u32::from(options.base_port)),
                options.nodes
            );
        }
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let ca_file = if options.tls_disable {
            None
        } else {
            let ids: Vec<u64> = (1..=options.nodes).collect();
            let certs = crate::tls::dev_certs(&options.tls_dir(), &ids, &options.extra_sans)
                .context("making the dev CA and node certificates")?;
            Some(std::fs::canonicalize(&certs.ca_file).unwrap_or(certs.ca_file))
        };
        let mut nodes = Vec::new();
        for id in 1..=options.nodes {
            let api_port = options.base_port + (id - 1) as u16;
            let cluster_port = options.base_port + 100 + (id - 1) as u16;
            let node_dir = options.dir.join(format!("node{id}"));
            std::fs::create_dir_all(&node_dir)?;
            let config_path = node_dir.join("config.toml");
            std::fs::write(&config_path, node_config(&options, id, &node_dir))?;
            nodes.push(DevNode {
                id,
                api_port,
                cluster_port,
                config_path,
                child: None,
                wrapper: Vec::new(),
                tls: !options.tls_disable,
            });
        }
        for n in &nodes {
            for port in [n.api_port, n.cluster_port] {
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    bail!("port {port} on 127.0.0.1 is in use (another dev cluster?); stop it or pass --base-port");
                }
            }
        }
        let http = api_client(ca_file.as_deref())?;
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
        for i in 0..cluster.nodes.len() {
            cluster.wait_answering(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.options.dir.join(format!("node{}", self.nodes[i].id)).join("node.log")
    }

    /// Starts node `i` (index into `nodes`) as a child process.
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path(i))?;
        let wrapper = &self.nodes[i].wrapper;
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.options.exe);
                c
            }
            None => Command::new(&self.options.exe),
        };
        // Every node leads its own process group: a wrapper such as faketime forks the node
        // instead of exec'ing it, so kill and stop signal the whole group; and a Ctrl-C in
        // the terminal reaches only the launcher, which then stops each node cleanly once
        // (a second signal would make a node exit at once, without its clean stop).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("run")
            .arg("--config")
            .arg(&self.nodes[i].config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        let child =
            cmd.spawn().with_context(|| format!("starting {}", self.options.exe.display()))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// `kill -9` of node `i` (its whole process group), reaped.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            // SAFETY: kill(2) of the process group this node leads (see spawn).
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Clean stop (SIGTERM) of node `i`, reaped: waits for the node's own bounded stop
    /// (handover, drain, sync) and `kill -9`s it only past [`STOP_GRACE`]. Returns how long it
    /// took and how it exited (`None`: it had to be killed, or was not running).
    pub fn stop(&mut self, i: usize) -> (Duration, Option<std::process::ExitStatus>) {
        let started = Instant::now();
        if !self.signal_stop(i) {
            return (Duration::ZERO, None);
        }
        let status = self.wait_exit(i, STOP_GRACE);
        (started.elapsed(), status)
    }

    /// Sends SIGTERM to node `i`'s process group; `false` if it is not running.
    fn signal_stop(&self, i: usize) -> bool {
        let Some(child) = self.nodes[i].child.as_ref() else { return false };
        // SAFETY: plain kill(2) on the process group our own child leads (see spawn).
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGTERM);
        }
        true
    }

    /// Waits up to `grace` for node `i` to exit and reaps it; past it, `kill -9`.
    fn wait_exit(&mut self, i: usize, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.nodes[i].child.take()?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: as in kill.
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Stops every node cleanly: the followers together first, then the leader(s), so a
    /// leader's handover never aims at a node that is stopping too.
    pub async fn stop_all(&mut self) {
        let mut leaders = Vec::new();
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_some() {
                if let Ok(s) = self.status(i).await {
                    if s.leader_id == Some(self.nodes[i].id) {
                        leaders.push(i);
                    }
                }
            }
        }
        for round in [false, true] {
            let group: Vec<usize> =
                (0..self.nodes.len()).filter(|i| leaders.contains(i) == round).collect();
            for &i in &group {
                self.signal_stop(i);
            }
            for &i in &group {
                let started = Instant::now();
                match self.wait_exit(i, STOP_GRACE) {
                    Some(status) => println!(
                        "node {} stopped in {:.2} s ({status})",
                        self.nodes[i].id,
                        started.elapsed().as_secs_f64()
                    ),
                    None if self.nodes[i].child.is_none() && started.elapsed() < STOP_GRACE => {}
                    None => println!(
                        "node {} did not stop within {} s: killed",
                        self.nodes[i].id,
                        STOP_GRACE.as_secs()
                    ),
                }
            }
        }
    }

    /// Node ids whose process exited since the last call, reaped, with how they exited.
    pub fn reap_exits(&mut self) -> Vec<(u64, std::process::ExitStatus)> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            if let Some(child) = n.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    n.child = None;
                    out.push((n.id, status));
                }
            }
        }
        out
    }

    /// Restarts node `i` and unseals it.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)?;
        self.wait_answering(i, Duration::from_secs(60)).await?;
        self.unseal(i).await?;
        self.write_cluster_file()
    }

    async fn status(&self, i: usize) -> anyhow::Result<SealStatus> {
        let url = format!("{}/v1/sys/status", self.nodes[i].api_url());
        Ok(self.http.get(url).timeout(Duration::from_secs(3)).send().await?.json().await?)
    }

    async fn wait_answering(&mut self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status(i).await.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.nodes[i].child.as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    bail!(
                        "node {} exited ({exit}) before answering; last log lines:\n{}",
                        self.nodes[i].id,
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "node {} did not answer within {:?}; see {}",
                    self.nodes[i].id,
                    timeout,
                    self.log_path(i).display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn init(&self) -> anyhow::Result<InitResponse> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let req = InitRequest { shares: Some(5), threshold: Some(3) };
        let request_id = uuid::Uuid::new_v4().to_string();
        loop {
            let url = format!("{}/v1/sys/init", self.nodes[0].api_url());
            let resp = self
                .http
                .post(url)
                .header(ass_client::types::HEADER_REQUEST_ID, &request_id)
                .json(&req)
                .timeout(Duration::from_secs(15))
                .send()
                .await;
            if let Ok(resp) = resp {
                if resp.status().is_success() {
                    return Ok(resp.json().await?);
                }
                let err: Option<ErrorBody> = resp.json().await.ok();
                if let Some(e) = &err {
                    if e.error == "already_initialized" {
                        bail!(
                            "the cluster in {} is already initialized but cluster.json is missing",
                            self.options.dir.display()
                        );
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("could not initialize the cluster within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Hands node `i` shares until it is unsealed (waits for it to learn of the init).
    pub async fn unseal(&self, i: usize) -> anyhow::Result<()> {
        let url = format!("{}/v1/sys/unseal", self.nodes[i].api_url());
        let deadline = Instant::now() + Duration::from_secs(60);
        'retry: loop {
            if Instant::now() > deadline {
                bail!("node {} could not be unsealed within 60 s", self.nodes[i].id);
            }
            for key in &self.unseal_keys {
                let req = UnsealRequest { key: Some(key.clone()), reset: false };
                let resp =
                    self.http.post(&url).json(&req).timeout(Duration::from_secs(5)).send().await;
                let Ok(resp) = resp else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'retry;
                };
                if !resp.status().is_success() {
                    // Not initialized yet on this node: it is still catching up.
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

    /// Writes `DIR/cluster.json`.
    pub fn write_cluster_file(&self) -> anyhow::Result<()> {
        let file = ClusterFile {
            nodes: self
                .nodes
                .iter()
                .map(|n| ClusterFileNode {
                    id: n.id,
                    api: n.api_url(),
                    pid: n.child.as_ref().map_or(0, |c| c.id()),
                })
                .collect(),
            root_token: self.root_token.clone(),
            unseal_keys: self.unseal_keys.clone(),
            ca_cert: self.ca_file.clone(),
        };
        let path = self.options.dir.join("cluster.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&file)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Starts one more node process that joins later (it does not bootstrap): the caller adds
    /// it with `POST /v1/sys/members`, promotes it, and unseals it. Returns its index.
    pub fn add_node(&mut self) -> anyhow::Result<usize> {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let api_port = self.options.base_port + (id - 1) as u16;
        let cluster_port = self.options.base_port + 100 + (id - 1) as u16;
        let node_dir = self.options.dir.join(format!("node{id}"));
        std::fs::create_dir_all(&node_dir)?;
        if !self.options.tls_disable {
            crate::tls::dev_certs(&self.options.tls_dir(), &[id], &self.options.extra_sans)
                .context("making the new node's certificate")?;
        }
        let config_path = node_dir.join("config.toml");
        std::fs::write(&config_path, node_config_with(&self.options, id, &node_dir, id, false))?;
        self.nodes.push(DevNode {
            id,
            api_port,
            cluster_port,
            config_path,
            child: None,
            wrapper: Vec::new(),
            tls: !self.options.tls_disable,
        });
        let i = self.nodes.len() - 1;
        self.spawn(i)?;
        Ok(i)
    }

    /// Every node's API URL.
    pub fn api_urls(&self) -> Vec<String> {
        self.nodes.iter().map(DevNode::api_url).collect()
    }

    /// A new HTTP client for the API port that trusts this cluster's CA.
    pub fn api_client(&self) -> anyhow::Result<reqwest::Client> {
        api_client(self.ca_file.as_deref())
    }
}

/// An HTTP client for the API port trusting only the CA in `ca_file` (plain HTTP when `None`).
pub fn api_client(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    crate::tls::install_default_provider();
    let mut b =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).tcp_nodelay(true);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let config = crate::tls::api_client_config(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        b = b.tls_backend_preconfigured(config);
    }
    b.build().context("building the API client")
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// The `[[peers]]` tables of a node config, one per `(id, api_addr, cluster_addr)`, each
/// starting with a blank line. Shared with the chaos harness, which writes its own configs.
pub fn peers_toml(peers: impl IntoIterator<Item = (u64, String, String)>) -> String {
    let mut out = String::new();
    for (id, api, cluster) in peers {
        out.push_str(&format!(
            "\n[[peers]]\nid = {id}\napi_addr = \"{api}\"\ncluster_addr = \"{cluster}\"\n"
        ));
    }
    out
}

fn node_config(options: &DevOptions, id: u64, node_dir: &Path) -> String {
    node_config_with(options, id, node_dir, options.nodes, true)
}

/// A node's config listing peers `1..=peer_count`; `bootstrap = false` for a joining node.
fn node_config_with(
    options: &DevOptions,
    id: u64,
    node_dir: &Path,
    peer_count: u64,
    bootstrap: bool,
) -> String {
    let peers = peers_toml((1..=peer_count).map(|p| {
        (
            p,
            format!("127.0.0.1:{}", options.base_port + (p - 1) as u16),
            format!("127.0.0.1:{}", options.base_port + 100 + (p - 1) as u16),
        )
    }));
    let tls_dir = options.tls_dir();
    let tls = if options.tls_disable {
        String::new()
    } else {
        let files = crate::tls::NodeCertFiles {
            cert_file: tls_dir.join(format!("node{id}.pem")),
            key_file: tls_dir.join(format!("node{id}-key.pem")),
        };
        format!("\n{}", files.toml(&tls_dir.join("ca.pem")))
    };
    format!(
        "# Written by `ass-node dev`; local development only.\nnode_id = {id}\napi_addr = \"127.0.0.1:{}\"\ncluster_addr = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\nmax_body_bytes = 1048576\nbootstrap = {bootstrap}\ntls_disable = {}\n{}\n{tls}{peers}",
        options.base_port + (id - 1) as u16,
        options.base_port + 100 + (id - 1) as u16,
        node_dir.join("data").display(),
        options.tls_disable,
        options.extra_config,
    )
}
