//! Server processes of the load benchmark: pinning, and the measurements taken of them.
//!
//! Every server (each `ass-node` member, each etcd member, the hello server) is started by the
//! launcher of `ass-testkit`: in a process group of its own with `PR_SET_PDEATHSIG = SIGKILL`,
//! so a loadbench that dies without cleaning up (kill -9) takes them with it. A [`Group`] (etcd,
//! hello) stops its whole group when dropped: SIGTERM, up to 10 s, then SIGKILL; the `ass-node`
//! members are stopped by their `DevCluster`. Drops run on return, on error and on panic;
//! `loadbench` turns Ctrl-C and SIGTERM into an ordinary error return, so they run then too.
//! [`kill_all`] is the last line: it kills any group still on the launcher's list.
//!
//! Pinning: every server is started under `taskset -c CPUS` (see `--server-cpus`).

use std::path::Path;

use anyhow::{bail, Context};
pub use ass_testkit::process::{kill_all, tail, Group};
use ass_testkit::Launch;

/// How a server is started: pinned with `taskset -c CPUS`, or plainly (`None`).
pub fn launch(cpus: Option<&str>) -> Launch {
    cpus.map_or(Launch::Plain, Launch::taskset)
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
