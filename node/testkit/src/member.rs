//! One `ass-node run --config DIR/config.toml` process of a cluster: where it listens, how it
//! is started ([`Launch`]), its process group ([`crate::process`]), and its lifecycle: spawn,
//! wait until it answers, clean stop (SIGTERM, then `kill -9` past the grace), kill, restart
//! on the same dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::process::{self, ProcessError};
use crate::Launch;

/// What went wrong bringing a member up.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(transparent)]
    Spawn(#[from] ProcessError),
    #[error("node {id} exited ({status}) before answering; last log lines:\n{tail}")]
    Exited { id: u64, status: ExitStatus, tail: String },
    #[error("node {id} did not answer within {timeout:?}; see {}", log.display())]
    Silent { id: u64, timeout: Duration, log: PathBuf },
}

/// One node process.
#[derive(Debug)]
pub struct Member {
    pub id: u64,
    pub api_addr: SocketAddr,
    pub cluster_addr: SocketAddr,
    /// `DIR/nodeN`: `config.toml`, `data/`, `node.log`.
    pub dir: PathBuf,
    pub config_path: PathBuf,
    /// Whether the node serves TLS (`https://` API).
    pub tls: bool,
    /// How the process is started (plain, in a netns, under taskset or faketime).
    pub launch: Launch,
    /// Environment variables of the process.
    pub env: Vec<(String, String)>,
    /// The running process (the leader of its process group); `None`: not running.
    pub child: Option<Child>,
}

impl Member {
    /// A member living in `dir` (created); not started.
    pub fn new(
        id: u64,
        api_addr: SocketAddr,
        cluster_addr: SocketAddr,
        dir: PathBuf,
        tls: bool,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            id,
            api_addr,
            cluster_addr,
            config_path: dir.join("config.toml"),
            dir,
            tls,
            launch: Launch::Plain,
            env: Vec::new(),
            child: None,
        })
    }

    pub fn api_port(&self) -> u16 {
        self.api_addr.port()
    }

    pub fn cluster_port(&self) -> u16 {
        self.cluster_addr.port()
    }

    pub fn api_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.api_addr)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The last `lines` lines of the node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail(&self.log_path(), lines)
    }

    /// Starts `exe run --config CONFIG` (under [`Member::launch`]), logging to `node.log`.
    pub fn spawn(&mut self, exe: &Path) -> Result<(), ProcessError> {
        let mut cmd = self.launch.command(exe);
        cmd.arg("run").arg("--config").arg(&self.config_path);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let what = self.launch.describe(exe);
        self.child = Some(process::spawn(cmd, &self.log_path(), &what)?);
        Ok(())
    }

    /// `kill -9` of the node (its whole process group), reaped. No-op when not running.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            process::kill(child);
        }
    }

    /// Sends `sig` to the node's process group (SIGSTOP, SIGCONT, …).
    pub fn signal(&self, sig: i32) {
        if let Some(child) = &self.child {
            process::signal(child, sig);
        }
    }

    /// Clean stop: SIGTERM, then waits for the node's own bounded stop (handover, drain,
    /// sync) up to `grace`, and `kill -9`s it past that. Returns how long it took and how it
    /// exited (`None`: it had to be killed, or was not running).
    pub fn stop(&mut self, grace: Duration) -> (Duration, Option<ExitStatus>) {
        let started = Instant::now();
        let Some(child) = self.child.take() else { return (Duration::ZERO, None) };
        let status = process::stop(child, grace);
        (started.elapsed(), status)
    }

    /// SIGTERM only; [`Member::wait_exit`] reaps it.
    pub fn signal_stop(&self) -> bool {
        self.signal(libc::SIGTERM);
        self.child.is_some()
    }

    /// Waits up to `grace` for an exit begun by [`Member::signal_stop`]; past it, `kill -9`.
    pub fn wait_exit(&mut self, grace: Duration) -> Option<ExitStatus> {
        process::wait_exit(self.child.take()?, grace)
    }

    /// How the process exited, if it has since the last call (reaped then).
    pub fn reap(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        if let Some(c) = self.child.take() {
            process::forget(&c);
        }
        Some(status)
    }

    /// Waits until the node answers `GET /v1/sys/status` (sealed or not); fails at once if
    /// the process exits first.
    pub async fn wait_answering(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(), MemberError> {
        let deadline = Instant::now() + timeout;
        let url = self.api_url();
        loop {
            if crate::api::status(http, &url, Duration::from_secs(3)).await.is_some() {
                return Ok(());
            }
            if let Some(status) = self.reap() {
                return Err(MemberError::Exited { id: self.id, status, tail: self.log_tail(8) });
            }
            if Instant::now() > deadline {
                return Err(MemberError::Silent { id: self.id, timeout, log: self.log_path() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill();
    }
}
