//! Child processes that cannot outlive their launcher: every one leads a process group of its
//! own (`setpgid(0, 0)` before exec), so a stop or kill reaches whatever it forks (a wrapper
//! such as `faketime` forks the node instead of exec'ing it), and a Ctrl-C in the terminal
//! reaches only the launcher, which then stops each child once; and each is started with
//! `PR_SET_PDEATHSIG = SIGKILL`, so a launcher that dies without cleaning up (kill -9) takes
//! its children with it. The signal follows the *thread* that spawned the child: spawn from a
//! thread that lives as long as the child should (a test's thread, a runtime worker), never
//! from a short-lived blocking-pool thread.
//!
//! Every group started and not yet reaped is on a process-wide list; [`kill_all`] SIGKILLs what
//! is left on it (a binary's last step, or its panic / signal handler).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Process groups started and not yet reaped.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// What went wrong starting a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("starting {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
    #[error("opening the log {}: {source}", path.display())]
    Log { path: PathBuf, source: std::io::Error },
}

/// Starts `cmd` as the leader of a new process group that dies with this thread, with stdin
/// from /dev/null and stdout and stderr appended to `log`. `what` names it in errors.
pub fn spawn(mut cmd: Command, log: &Path, what: &str) -> Result<Child, ProcessError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| ProcessError::Log { path: log.to_owned(), source })?;
    let err =
        file.try_clone().map_err(|source| ProcessError::Log { path: log.to_owned(), source })?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
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
    let child =
        cmd.spawn().map_err(|source| ProcessError::Spawn { what: what.to_owned(), source })?;
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(child.id() as i32);
    Ok(child)
}

/// Sends `sig` to the process group `child` leads.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a process group this process created (see spawn).
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

/// `kill -9` of the group `child` leads, reaped.
pub fn kill(mut child: Child) {
    signal(&child, libc::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
    forget(&child);
}

/// Waits up to `grace` for `child` and every other member of its group to exit (after a
/// SIGTERM sent by the caller), reaping it; past `grace`, `kill -9` of the group. `None`: it
/// had to be killed.
pub fn wait_exit(mut child: Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    let pgid = child.id() as i32;
    let mut status = None;
    while Instant::now() < deadline {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        // SAFETY: signal 0 only checks whether any member of the group is left.
        let empty = unsafe { libc::kill(-pgid, 0) } != 0;
        if status.is_some() && empty {
            forget(&child);
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(child);
    None
}

/// Clean stop: SIGTERM to the group, then [`wait_exit`].
pub fn stop(child: Child, grace: Duration) -> Option<ExitStatus> {
    signal(&child, libc::SIGTERM);
    wait_exit(child, grace)
}

/// Takes a reaped child off the list.
pub fn forget(child: &Child) {
    let pgid = child.id() as i32;
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != pgid);
}

/// SIGKILLs every group still on the list (the last step of a binary, whatever happened).
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

/// One started server (an etcd member, a hello server, an `ass-node dev` launcher): its
/// process group, stopped (SIGTERM, then SIGKILL past the grace) when dropped.
pub struct Group {
    pub name: String,
    child: Option<Child>,
    pid: u32,
    pub log: PathBuf,
    /// How long [`Group::stop`] waits after SIGTERM.
    pub grace: Duration,
}

impl Group {
    /// Starts `program args…` (under `launch`) as a group logging to `log`.
    pub fn spawn(
        name: &str,
        launch: &crate::Launch,
        program: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, ProcessError> {
        let mut cmd = launch.command(program);
        cmd.args(args);
        Self::from_command(name, cmd, &launch.describe(program), log)
    }

    /// Starts a prepared command (environment set by the caller) as a group logging to `log`;
    /// `describe` names the program in errors.
    pub fn from_command(
        name: &str,
        cmd: Command,
        describe: &str,
        log: PathBuf,
    ) -> Result<Self, ProcessError> {
        let child = spawn(cmd, &log, &format!("{name} ({describe})"))?;
        Ok(Self {
            name: name.to_string(),
            pid: child.id(),
            child: Some(child),
            log,
            grace: Duration::from_secs(10),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it exited, if it has (reaped then).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        if let Some(c) = self.child.take() {
            forget(&c);
        }
        Some(status)
    }

    /// Fails with the log's last lines if the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.exited() {
            Some(status) => Err(format!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            )),
            None => Ok(()),
        }
    }

    /// SIGTERM to the group, up to `grace` for all of it to exit, then SIGKILL. `None`: not
    /// running any more, or killed.
    pub fn stop_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        stop(self.child.take()?, grace)
    }

    /// [`Group::stop_within`] the group's own grace. Idempotent.
    pub fn stop(&mut self) {
        self.stop_within(self.grace);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}
