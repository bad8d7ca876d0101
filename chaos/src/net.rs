//! The network the nodes live in, and the network faults.
//!
//! ```text
//!   root namespace (harness, workload clients)          10.77.0.254  asschaos-br (bridge)
//!      │ veth asschaos-v1        │ veth asschaos-v2        │ …
//!   ┌──┴───────────────┐  ┌──────┴───────────┐
//!   │ netns asschaos-n1│  │ netns asschaos-n2│   node N: eth0 = 10.77.0.N/24, lo
//!   │ ass-node 1       │  │ ass-node 2       │   iptables rules live here, per node
//!   └──────────────────┘  └──────────────────┘
//! ```
//!
//! Every fault is an iptables rule in the *receiving* node's namespace (`INPUT`, from a peer's
//! address), so a partition never touches the root namespace or the clients' path, and
//! deleting a namespace deletes its rules. Names all start with [`PREFIX`] so a run can find
//! and remove what a crashed earlier run left behind ([`cleanup_leftovers`]).
//!
//! Without root or network namespaces the harness runs the nodes on loopback instead and only
//! process faults (kill, pause, clock, fsync, membership) are possible.

use std::process::Command;

use anyhow::{bail, Context};

/// Prefix of every namespace, link and bridge this suite creates.
pub const PREFIX: &str = "asschaos";
/// The bridge in the root namespace.
pub const BRIDGE: &str = "asschaos-br";
/// The /24 the nodes live in; node N is `.N`, the bridge (clients) `.254`.
pub const SUBNET: &str = "10.77.0";

/// Runs a command, failing with its stderr.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out =
        Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`run`] but ignoring failure (cleanup of things that may not exist).
pub fn run_quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

pub fn ns_name(id: u64) -> String {
    format!("{PREFIX}-n{id}")
}

pub fn node_ip(id: u64) -> String {
    format!("{SUBNET}.{id}")
}

pub fn client_ip() -> String {
    format!("{SUBNET}.254")
}

/// Why namespaces cannot be used here, or `None` when they can.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    let probe = format!("{PREFIX}-probe");
    run_quiet("ip", &["netns", "del", &probe]);
    if let Err(e) = run("ip", &["netns", "add", &probe]) {
        return Some(format!("cannot create a network namespace: {e}"));
    }
    let ipt =
        run("ip", &["netns", "exec", &probe, "iptables", "-w", "-A", "INPUT", "-j", "ACCEPT"]);
    run_quiet("ip", &["netns", "del", &probe]);
    if let Err(e) = ipt {
        return Some(format!("iptables does not work inside a namespace: {e}"));
    }
    None
}

/// Pids of every process inside namespace `ns`.
fn ns_pids(ns: &str) -> Vec<i32> {
    run("ip", &["netns", "pids", ns])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process in our namespaces and removes the namespaces and the bridge. Safe to
/// call at any time, any number of times; touches nothing whose name lacks [`PREFIX`].
pub fn cleanup_leftovers() -> Vec<String> {
    let mut removed = Vec::new();
    let list = run("ip", &["netns", "list"]).unwrap_or_default();
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        if !name.starts_with(PREFIX) {
            continue;
        }
        for pid in ns_pids(name) {
            // SAFETY: kill(2) on a process inside a namespace this suite created.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        run_quiet("ip", &["netns", "del", name]);
        removed.push(format!("netns {name}"));
    }
    if run("ip", &["link", "show", BRIDGE]).is_ok() {
        run_quiet("ip", &["link", "del", BRIDGE]);
        removed.push(format!("bridge {BRIDGE}"));
    }
    removed
}

/// The namespaces and bridge of one run.
#[derive(Debug)]
pub struct Net {
    pub ids: Vec<u64>,
}

impl Net {
    /// Creates the bridge and one namespace per node id.
    pub fn create(ids: &[u64]) -> anyhow::Result<Self> {
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("{}/24", client_ip()), "dev", BRIDGE])?;
        run("ip", &["link", "set", BRIDGE, "up"])?;
        let net = Net { ids: Vec::new() };
        let mut net = net;
        for &id in ids {
            net.add_node(id)?;
        }
        Ok(net)
    }

    /// Creates the namespace of one more node.
    pub fn add_node(&mut self, id: u64) -> anyhow::Result<()> {
        let ns = ns_name(id);
        let veth = format!("{PREFIX}-v{id}");
        run("ip", &["netns", "add", &ns])?;
        run("ip", &["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        run("ip", &["link", "set", &veth, "master", BRIDGE, "up"])?;
        run("ip", &["-n", &ns, "addr", "add", &format!("{}/24", node_ip(id)), "dev", "eth0"])?;
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        self.ids.push(id);
        Ok(())
    }

    fn iptables(&self, id: u64, args: &[&str]) -> anyhow::Result<()> {
        let ns = ns_name(id);
        let mut full = vec!["netns", "exec", ns.as_str(), "iptables", "-w"];
        full.extend_from_slice(args);
        run("ip", &full).map(|_| ())
    }

    /// Node `to` stops receiving anything from node `from` (one direction).
    pub fn drop_from(&self, to: u64, from: u64) -> anyhow::Result<()> {
        self.iptables(to, &["-A", "INPUT", "-s", &node_ip(from), "-j", "DROP"])
    }

    /// Cuts `a` and `b` apart in both directions.
    pub fn cut(&self, a: u64, b: u64) -> anyhow::Result<()> {
        self.drop_from(a, b)?;
        self.drop_from(b, a)
    }

    /// Splits the nodes into groups that only talk within themselves.
    pub fn partition(&self, groups: &[Vec<u64>]) -> anyhow::Result<()> {
        for (gi, g) in groups.iter().enumerate() {
            for other in groups.iter().skip(gi + 1) {
                for &a in g {
                    for &b in other {
                        self.cut(a, b)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Drops each packet arriving at node `id` from a peer with probability `p` (the
    /// clients' packets are let through first).
    pub fn loss(&self, id: u64, p: f64) -> anyhow::Result<()> {
        let p = format!("{p:.3}");
        self.iptables(id, &["-A", "INPUT", "-s", &client_ip(), "-j", "ACCEPT"])?;
        let src = format!("{SUBNET}.0/24");
        self.iptables(
            id,
            &[
                "-A",
                "INPUT",
                "-s",
                &src,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ],
        )
    }

    /// Removes every rule from every node.
    pub fn heal(&self) -> anyhow::Result<()> {
        for &id in &self.ids {
            self.iptables(id, &["-F", "INPUT"])?;
            self.iptables(id, &["-F", "OUTPUT"])?;
        }
        Ok(())
    }

    /// The rules now in force, one line per rule, for the report.
    pub fn rules(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &id in &self.ids {
            let ns = ns_name(id);
            if let Ok(s) = run("ip", &["netns", "exec", &ns, "iptables", "-w", "-S", "INPUT"]) {
                out.extend(
                    s.lines().filter(|l| l.starts_with("-A")).map(|l| format!("n{id}: {l}")),
                );
            }
        }
        out
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        cleanup_leftovers();
    }
}
