//! Test harness: a [`DevCluster`] of real `ass-node` processes (the launcher of
//! `ass-testkit`) in a temp dir, on free loopback ports, plus a small HTTP helper that
//! returns status, code and body.
//!
//! Clusters run over TLS, as in production: the API is `https://` with the dev CA of
//! `DIR/tls/ca.pem`, the cluster port is mutual TLS. [`Cluster::start_plaintext`] is the
//! explicit `tls_disable = true` exception.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ass_client::types::SealStatus;
use ass_testkit::{DevCluster, DevOptions};

/// A running cluster for one test; killed when dropped.
pub struct Cluster {
    pub dev: DevCluster,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub text: String,
    pub body: serde_json::Value,
}

impl Reply {
    /// The error code of an error answer (empty for a success).
    pub fn code(&self) -> String {
        self.body["error"].as_str().unwrap_or("").to_string()
    }
}

/// A base port such that `base..base+n` and `base+100..base+100+n` are free now.
pub fn free_base_port(n: u16) -> u16 {
    ass_testkit::ports::free_base_port(n).expect("a free base port between 10000 and 32000")
}

impl Cluster {
    pub async fn start(nodes: u64) -> Self {
        Self::start_with(nodes, "").await
    }

    /// Starts a cluster whose node configs get `extra_config` appended.
    pub async fn start_with(nodes: u64, extra_config: &str) -> Self {
        Self::start_opts(nodes, extra_config, false, Vec::new(), false).await
    }

    /// Starts a cluster with `tls_disable = true` (plain HTTP on both ports).
    pub async fn start_plaintext(nodes: u64) -> Self {
        Self::start_opts(nodes, "", true, Vec::new(), false).await
    }

    /// Like [`Cluster::start_with`], with extra environment variables for every node.
    pub async fn start_env(nodes: u64, extra_config: &str, env: Vec<(String, String)>) -> Self {
        Self::start_opts(nodes, extra_config, false, env, false).await
    }

    /// Starts a new cluster in fresh data dirs and leaves it uninitialized and sealed (no
    /// root token, no unseal keys yet).
    pub async fn start_uninitialized(nodes: u64) -> Self {
        Self::start_opts(nodes, "", false, Vec::new(), true).await
    }

    async fn start_opts(
        nodes: u64,
        extra_config: &str,
        tls_disable: bool,
        env: Vec<(String, String)>,
        uninitialized: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = DevOptions::new(
            dir.path().to_path_buf(),
            nodes,
            free_base_port(5),
            PathBuf::from(env!("CARGO_BIN_EXE_ass-node")),
        );
        options.extra_config = extra_config.to_string();
        options.env = [("RUST_LOG".to_string(), "info,openraft=info".to_string())]
            .into_iter()
            .chain(env)
            .collect();
        options.tls_disable = tls_disable;
        let dev = if uninitialized {
            DevCluster::start_uninitialized(options).await
        } else {
            DevCluster::start(options).await
        }
        .expect("dev cluster starts");
        let http = api_client(&dev);
        Cluster { dev, http, _dir: dir }
    }

    /// The cluster CA, PEM (panics on a plaintext cluster).
    pub fn ca_pem(&self) -> Vec<u8> {
        let path = self.dev.ca_file.as_ref().expect("a TLS cluster has a CA");
        std::fs::read(path).expect("CA file readable")
    }

    /// The temp dir the cluster lives in.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn url(&self, node: usize, path: &str) -> String {
        format!("{}{}", self.dev.nodes[node].api_url(), path)
    }

    /// A request with the root token and extra headers.
    pub async fn request(
        &self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(node, path))
            .bearer_auth(&self.dev.root_token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.expect("request sent")).await
    }

    pub async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        self.request(node, method, path, body, &[]).await
    }

    /// A request with the given bearer (or none), body and extra headers.
    pub async fn send_as(
        &self,
        node: usize,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), self.url(node, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.expect("request sent")).await
    }

    /// A request with one header given as raw bytes: a value that is not visible ASCII,
    /// which the `&str` headers of [`Cluster::send_as`] can't carry.
    pub async fn send_raw_header(
        &self,
        node: usize,
        token: Option<&str>,
        path: &str,
        name: &str,
        value: &[u8],
    ) -> Reply {
        let mut req = self.http.get(self.url(node, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        req = req.header(name, value);
        reply(req.send().await.expect("request sent")).await
    }

    /// A request with the given token (or none).
    pub async fn request_with_token(
        &self,
        node: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), self.url(node, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        reply(req.send().await.expect("request sent")).await
    }

    /// A request with a raw body.
    pub async fn raw(&self, node: usize, method: &str, path: &str, body: Vec<u8>) -> Reply {
        let req = self
            .http
            .request(method.parse().unwrap(), self.url(node, path))
            .bearer_auth(&self.dev.root_token)
            .header("content-type", "application/json")
            .body(body);
        match req.send().await {
            Ok(r) => reply(r).await,
            // A server may close the connection on an oversized body before reading it all.
            Err(e) => Reply {
                status: 413,
                headers: HashMap::new(),
                text: e.to_string(),
                body: serde_json::Value::Null,
            },
        }
    }

    /// A 2 h token with `scopes`, bought on node 0 with `credential` (an agent key or a token).
    pub async fn token_of(&self, credential: &str, scopes: &[&str]) -> String {
        let body = serde_json::json!({"scopes": scopes, "ttl": "2h"});
        let r = self.send_as(0, Some(credential), "POST", "/v1/tokens", Some(body), &[]).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["token"].as_str().expect("token").to_string()
    }

    /// An agent with `scopes` (root creates it) and a 2 h token of it.
    pub async fn agent_token(&self, name: &str, scopes: &[&str]) -> String {
        let body = serde_json::json!({"name": name, "scopes": scopes});
        let r = self.call(0, "POST", "/v1/agents", Some(body)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let key = r.body["agent_key"].as_str().expect("agent_key").to_string();
        self.token_of(&key, scopes).await
    }

    pub async fn put(&self, node: usize, path: &str, body: serde_json::Value) -> Reply {
        self.call(node, "PUT", &format!("/v1/secrets/{path}"), Some(body)).await
    }

    pub async fn get(&self, node: usize, path: &str) -> Reply {
        self.call(node, "GET", path, None).await
    }

    pub async fn status(&self, node: usize) -> SealStatus {
        let r = self.http.get(self.url(node, "/v1/sys/status")).send().await.expect("status");
        r.json().await.expect("status body")
    }

    pub async fn statuses(&self) -> Vec<SealStatus> {
        let mut out = Vec::new();
        for i in 0..self.dev.nodes.len() {
            out.push(self.status(i).await);
        }
        out
    }

    /// Index (into `dev.nodes`) of the leader that a live node reports, waiting for one.
    pub async fn leader_index(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for i in 0..self.dev.nodes.len() {
                if self.dev.nodes[i].child.is_none() {
                    continue;
                }
                if let Ok(r) = self.http.get(self.url(i, "/v1/sys/status")).send().await {
                    if let Ok(s) = r.json::<SealStatus>().await {
                        if let Some(id) = s.leader_id {
                            let idx = self.dev.nodes.iter().position(|n| n.id == id).unwrap();
                            if self.dev.nodes[idx].child.is_some() && s.node_id == id {
                                return idx;
                            }
                        }
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `i` has applied `index`.
    pub async fn wait_applied(&self, i: usize, index: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status(i).await;
            if s.applied_index >= index {
                return;
            }
            assert!(Instant::now() < deadline, "node {i} stuck at {} < {index}", s.applied_index);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_answering(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.http.get(self.url(i, "/v1/sys/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "node {i} did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The harness client: the cluster's CA, and a 30 s timeout per request.
pub fn api_client(dev: &DevCluster) -> reqwest::Client {
    ass_node::tls::install_default_provider();
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(ca) = &dev.ca_file {
        let pem = std::fs::read(ca).expect("CA file");
        let config = ass_testkit::api::api_client_config(&pem).expect("CA loads");
        b = b.tls_backend_preconfigured(config);
    }
    b.build().expect("harness HTTP client")
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Reply { status, headers, text, body }
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn grep_dir(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}
