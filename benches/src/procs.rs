//! Server processes the load benchmark starts, and the guarantee that it stops every one of them.
//!
//! Each server (`ass-node dev`, each etcd member, the hello server) is started in a process
//! group of its own (`setpgid(0, 0)` before exec), so the nodes that `ass-node dev` starts are
//! in that group too, and with `PR_SET_PDEATHSIG = SIGKILL`, so a loadbench that dies without
//! cleaning up (kill -9) takes its direct children with it. A [`Group`] stops its whole group
//! when dropped: SIGTERM, up to 10 s for every member to exit, then SIGKILL. Drops run on
//! return, on error and on panic; `loadbench` turns Ctrl-C and SIGTERM into an ordinary error
//! return, so they run then too. [`kill_all`] is the last line: it kills any group still on the
//! list.
//!
//! Pinning: every server is started under `taskset -c CPUS` (see `--server-cpus`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Process groups started and not yet stopped.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// One started server: its process group.
pub struct Group {
    pub name: String,
    child: Option<Child>,
    pgid: i32,
    pub log: PathBuf,
}

/// How a server is started.
pub struct Spawn<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    /// `taskset -c CPUS` prefix; `None`: not pinned.
    pub cpus: Option<&'a str>,
    /// stdout and stderr go here.
    pub log: PathBuf,
}

impl Group {
    pub fn spawn(s: Spawn<'_>) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.log)
            .with_context(|| format!("creating {}", s.log.display()))?;
        let mut cmd = match s.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(s.program);
                c
            }
            None => Command::new(s.program),
        };
        cmd.args(&s.args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // SAFETY: only async-signal-safe calls (setpgid, prctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| {
            format!(
                "starting {} ({}{})",
                s.name,
                if s.cpus.is_some() { "taskset, " } else { "" },
                s.program.display()
            )
        })?;
        let pgid = child.id() as i32;
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
        Ok(Self { name: s.name.to_string(), child: Some(child), pgid, log: s.log })
    }

    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    /// Fails with the log's last lines if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "{} exited ({status}); last lines of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 15)
                );
            }
        }
        Ok(())
    }

    /// Stops the group: SIGTERM, up to 10 s, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill(2) on a process group this process created.
        unsafe { libc::kill(-self.pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut leader_done = false;
        while Instant::now() < deadline {
            if !leader_done {
                leader_done = matches!(child.try_wait(), Ok(Some(_)));
            }
            // SAFETY: signal 0 only checks whether any member of the group is left.
            let empty = unsafe { libc::kill(-self.pgid, 0) } != 0;
            if leader_done && empty {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = child.wait();
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != self.pgid);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGKILLs every group still running (the last step of `main`, whatever happened before).
pub fn kill_all() {
    let groups = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in groups {
        // SAFETY: kill(2) on a process group this process created.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Pins the calling process (and the threads it starts later) to `cpus` (e.g. `1` or `0-1`),
/// as `taskset -p` would.
pub fn pin_self(cpus: &str) -> anyhow::Result<()> {
    let list = parse_cpus(cpus)?;
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes within it; sched_setaffinity on self.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in &list {
            libc::CPU_SET(*c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("sched_setaffinity({cpus}): {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `0`, `1`, `0-1`, `0,2`.
pub fn parse_cpus(cpus: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in cpus.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.parse().with_context(|| format!("bad CPU list `{cpus}`"))?,
            b.parse().with_context(|| format!("bad CPU list `{cpus}`"))?,
        );
        if a > b || b >= 1024 {
            bail!("bad CPU list `{cpus}`");
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// Resident set size of a process in bytes (`VmRSS` of /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => total += dir_bytes(&e.path()),
                Ok(_) => total += e.metadata().map_or(0, |m| m.len()),
                Err(_) => {}
            }
        }
    }
    total
}

/// Fails if something already listens on `port` of 127.0.0.1.
pub fn ensure_free(port: u16, what: &str) -> anyhow::Result<()> {
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} on 127.0.0.1 ({what}) is in use: a leftover server? stop it or pass --base-port");
    }
    Ok(())
}
