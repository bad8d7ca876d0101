//! The three systems the load benchmark drives, one after another: our cluster (three
//! `ass-node` members started by the `ass-testkit` launcher, as `ass-node dev` does), a
//! 3-member etcd 3.4 over its JSON gateway, and the bare axum hello server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::gen::{Plan, Template};
use crate::procs::{ensure_free, launch, Group};
use ass_testkit::{DevCluster, DevOptions};

/// The load cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// Writes (a new version of a preloaded key) on the leader.
    Write,
    /// Default (linearizable) reads on the leader.
    ReadLeader,
    /// Default (linearizable) reads on a follower.
    ReadFollower,
    /// Stale reads (ours `X-Ass-Consistency: stale`, etcd `serializable`) on a follower.
    Stale,
    /// 90 % default reads, 10 % writes, on the leader.
    Mix,
    /// `GET /` of the hello server (the ceiling).
    Hello,
}

impl Case {
    pub const LOAD: [Case; 5] =
        [Case::ReadLeader, Case::ReadFollower, Case::Stale, Case::Mix, Case::Write];

    pub fn name(self) -> &'static str {
        match self {
            Case::Write => "write",
            Case::ReadLeader => "read-leader",
            Case::ReadFollower => "read-follower",
            Case::Stale => "stale",
            Case::Mix => "mix",
            Case::Hello => "hello",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Case> {
        Ok(match s {
            "write" => Case::Write,
            "read-leader" => Case::ReadLeader,
            "read-follower" => Case::ReadFollower,
            "stale" => Case::Stale,
            "mix" => Case::Mix,
            _ => bail!(
                "unknown case `{s}`; the cases are write, read-leader, read-follower, stale, mix"
            ),
        })
    }
}

/// One answer of a setup call.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::new(Full::new(body.clone().unwrap_or_default()));
    *req.method_mut() = method;
    *req.uri_mut() = path.parse()?;
    req.headers_mut().insert(HOST, HeaderValue::from_str(&addr.to_string())?);
    if body.is_some() {
        req.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (k, v) in headers {
        req.headers_mut().insert(HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?);
    }
    let resp = tokio::time::timeout(Duration::from_secs(30), async {
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, bytes))
    })
    .await
    .context("request timed out")??;
    Ok(resp)
}

async fn call_json<T: serde::de::DeserializeOwned>(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> anyhow::Result<T> {
    let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).expect("json")));
    let (status, bytes) = call(addr, method.clone(), path, headers, body).await?;
    if !status.is_success() {
        bail!("{method} {path} on {addr}: {status}: {}", String::from_utf8_lossy(&bytes));
    }
    serde_json::from_slice(&bytes).with_context(|| {
        format!("{method} {path}: unexpected answer {}", String::from_utf8_lossy(&bytes))
    })
}

/// A 256-byte value (printable, so it is the same bytes as a JSON string and in base64 input).
pub fn value_256() -> String {
    (0..256).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// The key of preloaded secret `i`.
pub fn key(i: usize) -> String {
    format!("bench/load/k{i:07}")
}

// ---------------------------------------------------------------------------------------------
// Ours

/// How to start our cluster.
pub struct AssOptions<'a> {
    pub exe: &'a Path,
    pub dir: PathBuf,
    pub base_port: u16,
    pub node_args: &'a [String],
    pub cpus: Option<&'a str>,
}

/// A running 3-node cluster (the launcher of `ass-node dev`) with a benchmark agent's token.
pub struct Ass {
    pub cluster: DevCluster,
    pub dir: PathBuf,
    pub nodes: Vec<(u64, SocketAddr, u32)>,
    pub leader: SocketAddr,
    pub follower: SocketAddr,
    pub token: String,
    pub root_token: String,
    pub ready_secs: f64,
}

/// The scopes of the benchmark agent and its token.
const SCOPES: [&str; 2] = ["secrets:read:bench/*", "secrets:write:bench/*"];

impl Ass {
    /// Three members in `dir` (fresh, or existing: reused and unsealed again), each under
    /// `taskset -c CPUS`, plain HTTP like etcd's gateway (see docs/performance.md,
    /// "Transport"); finds the leader. `node_args` are `ass-node dev` flags: `--audit off`
    /// (or `--audit=off`) and `--tls-disable` (already so) are understood.
    pub async fn start(o: &AssOptions<'_>) -> anyhow::Result<Self> {
        for i in 0..3u16 {
            ensure_free(o.base_port + i, "ass API")?;
            ensure_free(o.base_port + 100 + i, "ass cluster port")?;
        }
        let mut options = DevOptions::new(o.dir.clone(), 3, o.base_port, o.exe.to_path_buf());
        options.tls_disable = true;
        options.launch = launch(o.cpus);
        let mut args = o.node_args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--tls-disable" => {}
                "--audit=off" => options.extra_config = "[audit]\nenabled = false\n".into(),
                "--audit=on" => {}
                "--audit" => match args.next().map(String::as_str) {
                    Some("off") => options.extra_config = "[audit]\nenabled = false\n".into(),
                    Some("on") => {}
                    other => bail!("--node-arg --audit takes on or off, not {other:?}"),
                },
                other => bail!(
                    "--node-arg {other}: only --audit on|off and --tls-disable are understood"
                ),
            }
        }
        if !options.extra_config.is_empty() {
            eprintln!("!!! --audit off: the nodes record no audit events (benchmarks only)");
        }
        let started = Instant::now();
        let cluster = DevCluster::start(options).await?;
        let ready_secs = started.elapsed().as_secs_f64();
        let nodes: Vec<(u64, SocketAddr, u32)> =
            cluster.nodes.iter().map(|n| (n.id, n.api_addr, n.pid().unwrap_or(0))).collect();
        let mut ass = Ass {
            dir: o.dir.clone(),
            leader: nodes[0].1,
            follower: nodes[1].1,
            nodes,
            token: String::new(),
            root_token: cluster.root_token.clone(),
            cluster,
            ready_secs,
        };
        ass.find_leader().await?;
        Ok(ass)
    }

    /// Fails with the log's last lines if a member has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some((id, status)) = self.cluster.reap_exits().into_iter().next() {
            let i = self.cluster.nodes.iter().position(|n| n.id == id).expect("a member");
            let n = &self.cluster.nodes[i];
            bail!(
                "ass-node {id} exited ({status}); last lines of {}:\n{}",
                n.log_path().display(),
                n.log_tail(15)
            );
        }
        Ok(())
    }

    /// Asks node 1 who leads (waits for one) and picks a follower.
    pub async fn find_leader(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status: serde_json::Value =
                call_json(self.nodes[0].1, Method::GET, "/v1/sys/status", &[], None).await?;
            if let Some(id) = status["leader_id"].as_u64() {
                if let Some(leader) = self.nodes.iter().find(|n| n.0 == id) {
                    self.leader = leader.1;
                    self.follower =
                        self.nodes.iter().find(|n| n.0 != id).map(|n| n.1).expect("3 nodes");
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("no leader within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the `loadbench` agent (scopes read and write on `bench/*`) and buys a token
    /// with its agent key: requests then pass the real token check, not the root shortcut.
    pub async fn make_token(&mut self) -> anyhow::Result<()> {
        let root = format!("Bearer {}", self.root_token);
        let agent: serde_json::Value = call_json(
            self.leader,
            Method::POST,
            "/v1/agents",
            &[("authorization", &root)],
            Some(serde_json::json!({"name": "loadbench", "scopes": SCOPES})),
        )
        .await?;
        let key = agent["agent_key"].as_str().context("no agent_key in the answer")?;
        let token: serde_json::Value = call_json(
            self.leader,
            Method::POST,
            "/v1/tokens",
            &[("authorization", &format!("Bearer {key}"))],
            Some(serde_json::json!({"scopes": SCOPES, "ttl": "8h"})),
        )
        .await?;
        self.token = token["token"].as_str().context("no token in the answer")?.to_string();
        Ok(())
    }

    fn headers(&self, stale: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap());
        if stale {
            h.insert("x-ass-consistency", HeaderValue::from_static("stale"));
        }
        h
    }

    fn reads(&self, keys: usize, stale: bool) -> Vec<Template> {
        let h = self.headers(stale);
        (0..keys)
            .map(|i| {
                Template::new(Method::GET, &format!("/v1/secrets/{}", key(i)), &h, Bytes::new())
            })
            .collect()
    }

    /// Writes of keys `first..first+count`.
    pub fn writes(&self, first: usize, count: usize) -> Vec<Template> {
        let h = self.headers(false);
        let body =
            Bytes::from(serde_json::to_vec(&serde_json::json!({"value": value_256()})).unwrap());
        (first..first + count)
            .map(|i| {
                Template::new(Method::PUT, &format!("/v1/secrets/{}", key(i)), &h, body.clone())
            })
            .collect()
    }

    pub fn plan(&self, case: Case, keys: usize) -> Option<Plan> {
        let (addr, reads, writes) = match case {
            Case::Write => (self.leader, vec![], self.writes(0, keys)),
            Case::ReadLeader => (self.leader, self.reads(keys, false), vec![]),
            Case::ReadFollower => (self.follower, self.reads(keys, false), vec![]),
            Case::Stale => (self.follower, self.reads(keys, true), vec![]),
            Case::Mix => (self.leader, self.reads(keys, false), self.writes(0, keys)),
            Case::Hello => return None,
        };
        Some(Plan { addr, reads, writes, write_every: 10 })
    }

    /// Waits until every node serves a stale read of `key(last)`.
    pub async fn wait_replicated(&self, last: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        let auth = format!("Bearer {}", self.token);
        for n in &self.nodes {
            loop {
                let (status, _) = call(
                    n.1,
                    Method::GET,
                    &format!("/v1/secrets/{}", key(last)),
                    &[("authorization", &auth), ("x-ass-consistency", "stale")],
                    None,
                )
                .await?;
                if status.is_success() {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("node {} did not catch up within 300 s ({status})", n.0);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// etcd

/// A running 3-member etcd cluster.
pub struct Etcd {
    pub members: Vec<Group>,
    pub clients: Vec<SocketAddr>,
    pub leader: SocketAddr,
    pub follower: SocketAddr,
    pub version: String,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Etcd {
    /// `etcd` members e1..e3 on 127.0.0.1: client ports `base..base+3`, peer ports
    /// `base+10..base+13`, data dirs `dir/eN`; waits until they agree on a leader.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        base_port: u16,
        cpus: Option<&str>,
    ) -> anyhow::Result<Self> {
        let version =
            std::process::Command::new(exe).arg("--version").output().with_context(|| {
                format!("running {} --version (apt-get install etcd-server)", exe.display())
            })?;
        let version = String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("etcd Version: ")
            .to_string();
        std::fs::create_dir_all(dir)?;
        let peer = |i: u16| format!("http://127.0.0.1:{}", base_port + 10 + i);
        let client = |i: u16| format!("http://127.0.0.1:{}", base_port + i);
        for i in 0..3 {
            ensure_free(base_port + i, "etcd client")?;
            ensure_free(base_port + 10 + i, "etcd peer")?;
        }
        let initial: Vec<String> = (0..3).map(|i| format!("e{}={}", i + 1, peer(i))).collect();
        let mut members = Vec::new();
        for i in 0..3u16 {
            let name = format!("e{}", i + 1);
            let args = vec![
                "--name".into(),
                name.clone(),
                "--data-dir".into(),
                dir.join(&name).display().to_string(),
                "--listen-client-urls".into(),
                client(i),
                "--advertise-client-urls".into(),
                client(i),
                "--listen-peer-urls".into(),
                peer(i),
                "--initial-advertise-peer-urls".into(),
                peer(i),
                "--initial-cluster".into(),
                initial.join(","),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                "loadbench".into(),
                "--logger".into(),
                "zap".into(),
                "--log-level".into(),
                "warn".into(),
            ];
            members.push(Group::spawn(
                "etcd",
                &launch(cpus),
                exe,
                &args,
                dir.join(format!("{name}.log")),
            )?);
        }
        let clients: Vec<SocketAddr> =
            (0..3).map(|i| SocketAddr::from(([127, 0, 0, 1], base_port + i))).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let leader = 'wait: loop {
            for m in members.iter_mut() {
                m.check_running().map_err(anyhow::Error::msg)?;
            }
            let mut leader = None;
            let mut ok = 0;
            for (i, c) in clients.iter().enumerate() {
                let s: Result<serde_json::Value, _> = call_json(
                    *c,
                    Method::POST,
                    "/v3/maintenance/status",
                    &[],
                    Some(serde_json::json!({})),
                )
                .await;
                if let Ok(s) = s {
                    let me = s["header"]["member_id"].as_str().unwrap_or("");
                    let l = s["leader"].as_str().unwrap_or("0");
                    if l != "0" && !l.is_empty() {
                        ok += 1;
                        if me == l {
                            leader = Some(i);
                        }
                    }
                }
            }
            if ok == 3 {
                if let Some(l) = leader {
                    break 'wait l;
                }
            }
            if Instant::now() > deadline {
                bail!("etcd did not elect a leader within 60 s; see {}", dir.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let follower = clients[(leader + 1) % 3];
        Ok(Self { members, leader: clients[leader], follower, clients, version })
    }

    fn range(keys: usize, serializable: bool) -> Vec<Template> {
        let h = HeaderMap::new();
        (0..keys)
            .map(|i| {
                let body = if serializable {
                    serde_json::json!({"key": b64(&key(i)), "serializable": true})
                } else {
                    serde_json::json!({"key": b64(&key(i))})
                };
                Template::new(Method::POST, "/v3/kv/range", &h, Bytes::from(body.to_string()))
            })
            .collect()
    }

    pub fn puts(first: usize, count: usize) -> Vec<Template> {
        let h = HeaderMap::new();
        let value = b64(&value_256());
        (first..first + count)
            .map(|i| {
                let body = serde_json::json!({"key": b64(&key(i)), "value": value});
                Template::new(Method::POST, "/v3/kv/put", &h, Bytes::from(body.to_string()))
            })
            .collect()
    }

    pub fn plan(&self, case: Case, keys: usize) -> Option<Plan> {
        let (addr, reads, writes) = match case {
            Case::Write => (self.leader, vec![], Self::puts(0, keys)),
            Case::ReadLeader => (self.leader, Self::range(keys, false), vec![]),
            Case::ReadFollower => (self.follower, Self::range(keys, false), vec![]),
            Case::Stale => (self.follower, Self::range(keys, true), vec![]),
            Case::Mix => (self.leader, Self::range(keys, false), Self::puts(0, keys)),
            Case::Hello => return None,
        };
        Some(Plan { addr, reads, writes, write_every: 10 })
    }
}

// ---------------------------------------------------------------------------------------------
// The ceiling

/// The bare axum server (`bench-hello`).
pub struct Hello {
    pub group: Group,
    pub addr: SocketAddr,
}

impl Hello {
    pub async fn start(
        exe: &Path,
        dir: &Path,
        port: u16,
        cpus: Option<&str>,
    ) -> anyhow::Result<Self> {
        ensure_free(port, "hello server")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut group = Group::spawn(
            "bench-hello",
            &launch(cpus),
            exe,
            &["--addr".into(), addr.to_string()],
            dir.join("hello.log"),
        )?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while call(addr, Method::GET, "/", &[], None).await.is_err() {
            group.check_running().map_err(anyhow::Error::msg)?;
            if Instant::now() > deadline {
                bail!("bench-hello did not answer within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { group, addr })
    }

    pub fn plan(&self) -> Plan {
        let t = Template::new(Method::GET, "/", &HeaderMap::new(), Bytes::new());
        Plan { addr: self.addr, reads: vec![t], writes: vec![], write_every: 10 }
    }
}

/// The hello server itself: `GET /` answers `hello`, `POST /` reads the body and answers
/// `hello`. Plain axum 0.8 on a tokio multi-thread runtime, nothing else.
pub async fn serve_hello(addr: SocketAddr) -> anyhow::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/", get(|| async { "hello" }).post(|_b: Bytes| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
