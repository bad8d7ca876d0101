//! Fault schedules: each injects one kind of fault, holds it while the workload runs, and
//! heals it. The driver ([`crate::runner`]) then checks convergence before the next one.
//!
//! | schedule                  | inject                                                     | heal                         |
//! |---------------------------|------------------------------------------------------------|------------------------------|
//! | `partition-leader-minority` | the leader (and one follower of 5) cut off from the rest | flush iptables               |
//! | `partition-leader-majority` | one follower (two of 5) cut off; the leader keeps a majority | flush iptables           |
//! | `partition-bridge`        | two halves that both still see one bridge node             | flush iptables               |
//! | `partition-ring`          | 5 nodes: each sees only its two ring neighbours            | flush iptables               |
//! | `partition-one-way`       | followers stop receiving from the leader (it still hears them) | flush iptables           |
//! | `packet-loss`             | 20 % of peer packets dropped at every node                 | flush iptables               |
//! | `kill-one`                | `kill -9` of a random node                                 | restart + unseal             |
//! | `kill-leader-loop`        | `kill -9` of the leader, 3 times, restarting each in turn  | restart + unseal             |
//! | `stop-leader-loop`        | SIGTERM (clean stop) of the leader, 3 times: it hands over, drains and exits 0 | restart + unseal |
//! | `kill-all`                | `kill -9` of every node                                    | restart + unseal all         |
//! | `pause-leader`            | `SIGSTOP` of the leader for 2.5 × the election timeout     | `SIGCONT`                    |
//! | `clock-jump`              | the clock node's wall clock +2 h, then −1 h (libfaketime)  | back to +0                   |
//! | `fsync-eio`               | `strace -e inject=fsync,fdatasync:error=EIO` on the leader | detach, restart if it exited |
//! | `membership-partition`    | a follower cut off, then removed through the API           | heal, re-add, promote        |
//!
//! Network schedules need namespaces, `clock-jump` libfaketime and `fsync-eio` strace
//! ([`missing_requirement`]). A schedule whose tool is missing is skipped only when the run
//! allows it (`--allow-skip`, never under `CI=true`); the report's first line says how many
//! schedules ran of how many. `partition-ring` needs 5 nodes and is not part of a 3-node run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::harness::{register_pid, tracing_like, unregister_pid, Cluster};

/// Every schedule, in the order a full round runs them.
pub const ALL: &[&str] = &[
    "partition-leader-minority",
    "partition-leader-majority",
    "kill-one",
    "partition-one-way",
    "pause-leader",
    "partition-bridge",
    "kill-leader-loop",
    "stop-leader-loop",
    "packet-loss",
    "clock-jump",
    "partition-ring",
    "fsync-eio",
    "kill-all",
    "membership-partition",
];

/// Whether a schedule needs network namespaces.
pub fn needs_net(name: &str) -> bool {
    name.starts_with("partition") || name == "packet-loss" || name == "membership-partition"
}

/// Whether a schedule applies to a cluster of `nodes` (a ring needs 5: with 3, every node
/// is every other's neighbour).
pub fn applies_to(name: &str, nodes: u64) -> bool {
    name != "partition-ring" || nodes >= 5
}

/// Why `name` can't run on this machine, if it can't: `net_unavailable` is why network
/// namespaces can't be used (see `net::unavailable_reason`), when they can't.
pub fn missing_requirement(name: &str, net_unavailable: Option<&str>) -> Option<String> {
    if needs_net(name) {
        return net_unavailable.map(|why| format!("needs network namespaces and iptables ({why})"));
    }
    match name {
        "clock-jump" if !std::path::Path::new(crate::harness::LIBFAKETIME).exists() => {
            Some(format!(
                "needs libfaketime ({} is missing; apt-get install faketime)",
                crate::harness::LIBFAKETIME
            ))
        }
        "fsync-eio" if !on_path("strace") => {
            Some("needs strace (not on PATH; apt-get install strace)".into())
        }
        _ => None,
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(bin).is_file()))
}

/// Whether the run may skip schedules whose tools are missing: never under `CI=true` (CI
/// installs every tool, so a skip there is a broken CI machine), otherwise only when asked
/// (`--allow-skip` or `ASS_ALLOW_SKIP=1`). `Err` says why not and what to do.
pub fn skip_allowed(
    ci: bool,
    allow_skip: bool,
    skips: &[(String, String)],
    total: usize,
) -> Result<(), String> {
    if skips.is_empty() {
        return Ok(());
    }
    let list = skips.iter().map(|(s, why)| format!("  {s}: {why}")).collect::<Vec<_>>().join("\n");
    let n = skips.len();
    if ci {
        return Err(format!(
            "{n} of {total} schedules can't run on this machine, and CI=true never skips:\n{list}"
        ));
    }
    if !allow_skip {
        return Err(format!(
            "{n} of {total} schedules can't run on this machine:\n{list}\ninstall what they \
             need (run as root for namespaces), or pass --allow-skip (ASS_ALLOW_SKIP=1) to run \
             the other {} and report them as skipped",
            total - n
        ));
    }
    Ok(())
}

/// What one schedule did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultRecord {
    pub schedule: String,
    /// Seconds since the run started.
    pub injected_at_s: f64,
    pub healed_at_s: f64,
    /// What was done, step by step.
    pub actions: Vec<String>,
    /// Leader failovers measured during this schedule, ms (old leader unreachable → a new
    /// leader elected and answering).
    pub failovers_ms: Vec<u64>,
    /// From heal until every node had the same applied index and state digest, ms.
    pub convergence_ms: Option<u64>,
    /// Node exits the schedule expected (kill, fsync error) and how they ended.
    pub expected_exits: Vec<String>,
    /// Problems found (also counted as violations).
    pub violations: Vec<String>,
    pub notes: Vec<String>,
}

/// Timing of one schedule.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a fault is held.
    pub hold: Duration,
    /// The nodes' election timeout upper bound (pause length derives from it).
    pub election_max: Duration,
}

pub struct Ctx<'a> {
    pub cluster: &'a mut Cluster,
    pub timing: Timing,
    pub rec: &'a mut FaultRecord,
    pub t0: Instant,
    pub seed: u64,
}

impl Ctx<'_> {
    fn act(&mut self, what: String) {
        tracing_like(&format!("  {}: {what}", self.rec.schedule));
        self.rec.actions.push(what);
    }

    fn now_s(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    async fn leader(&mut self) -> anyhow::Result<u64> {
        self.cluster.wait_leader(Duration::from_secs(30)).await
    }

    fn followers(&self, leader: u64) -> Vec<u64> {
        self.cluster.ids().into_iter().filter(|&i| i != leader).collect()
    }

    /// Term of `id` (0 if it does not answer).
    async fn term(&self, id: u64) -> u64 {
        self.cluster.status(self.cluster.index_of(id)).await.map_or(0, |s| s.term)
    }

    /// Waits until a node other than `old` leads with a term above `old_term`, confirmed by
    /// that node itself; records the time since `since`.
    async fn measure_failover(&mut self, old: u64, old_term: u64, since: Instant) {
        let deadline = since + Duration::from_secs(30);
        while Instant::now() < deadline {
            for id in self.cluster.ids() {
                if id == old {
                    continue;
                }
                let i = self.cluster.index_of(id);
                if let Some(s) = self.cluster.status(i).await {
                    if s.leader_id == Some(id) && s.term > old_term {
                        let ms = since.elapsed().as_millis() as u64;
                        self.act(format!("node {id} took over from {old} after {ms} ms"));
                        self.rec.failovers_ms.push(ms);
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.rec.notes.push(format!("no new leader within 30 s of losing leader {old}"));
    }

    fn net(&self) -> anyhow::Result<&crate::net::Net> {
        self.cluster.net.as_ref().ok_or_else(|| anyhow::anyhow!("no network namespaces"))
    }

    async fn hold(&self) {
        tokio::time::sleep(self.timing.hold).await;
    }
}

/// Runs one schedule: inject, hold, heal (convergence is checked by the caller).
pub async fn run(name: &str, ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let n = ctx.cluster.nodes.len();
    let leader = ctx.leader().await?;
    let followers = ctx.followers(leader);
    let term = ctx.term(leader).await;
    ctx.rec.injected_at_s = ctx.now_s();
    match name {
        "partition-leader-minority" => {
            let minority: Vec<u64> =
                std::iter::once(leader).chain(followers.iter().copied().take(n / 2 - 1)).collect();
            let majority: Vec<u64> = followers.iter().copied().skip(n / 2 - 1).collect();
            ctx.net()?.partition(&[minority.clone(), majority.clone()])?;
            ctx.act(format!(
                "partition {minority:?} | {majority:?} (leader {leader} in the minority)"
            ));
            let since = Instant::now();
            ctx.measure_failover(leader, term, since).await;
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "partition-leader-majority" => {
            let minority: Vec<u64> = followers.iter().copied().take(n / 2).collect();
            let majority: Vec<u64> =
                ctx.cluster.ids().into_iter().filter(|i| !minority.contains(i)).collect();
            ctx.net()?.partition(&[minority.clone(), majority.clone()])?;
            ctx.act(format!(
                "partition {minority:?} | {majority:?} (leader {leader} in the majority)"
            ));
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "partition-bridge" => {
            // Leader on one side; the bridge node sees both sides.
            let bridge = followers[0];
            let rest: Vec<u64> = followers[1..].to_vec();
            let half = rest.len() / 2;
            let side_a: Vec<u64> =
                std::iter::once(leader).chain(rest[..half].iter().copied()).collect();
            let side_b: Vec<u64> = rest[half..].to_vec();
            for &a in &side_a {
                for &b in &side_b {
                    ctx.net()?.cut(a, b)?;
                }
            }
            ctx.act(format!("bridge: {side_a:?} and {side_b:?} cut apart, both see {bridge}"));
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "partition-ring" => {
            let ids = ctx.cluster.ids();
            if ids.len() < 5 {
                ctx.rec
                    .notes
                    .push("a ring needs 5 nodes (with 3, everyone is a neighbour); skipped".into());
                return Ok(());
            }
            let k = ids.len();
            for a in 0..k {
                for b in a + 1..k {
                    let adjacent = b == a + 1 || (a == 0 && b == k - 1);
                    if !adjacent {
                        ctx.net()?.cut(ids[a], ids[b])?;
                    }
                }
            }
            ctx.act(format!("ring {ids:?}: each node sees only its two neighbours"));
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "partition-one-way" => {
            for &f in &followers {
                ctx.net()?.drop_from(f, leader)?;
            }
            ctx.act(format!(
                "followers {followers:?} stop receiving from leader {leader}; it still hears them"
            ));
            let since = Instant::now();
            ctx.measure_failover(leader, term, since).await;
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "packet-loss" => {
            for id in ctx.cluster.ids() {
                ctx.net()?.loss(id, 0.2)?;
            }
            ctx.act("20 % packet loss between peers at every node".into());
            ctx.hold().await;
            heal_net(ctx)?;
        }
        "kill-one" => {
            let ids = ctx.cluster.ids();
            let victim = ids[(ctx.seed as usize) % ids.len()];
            let i = ctx.cluster.index_of(victim);
            ctx.cluster.kill(i);
            ctx.act(format!(
                "kill -9 node {victim}{}",
                if victim == leader { " (the leader)" } else { "" }
            ));
            if victim == leader {
                ctx.measure_failover(leader, term, Instant::now()).await;
            }
            ctx.hold().await;
            ctx.rec.healed_at_s = ctx.now_s();
            ctx.cluster.restart(i).await?;
            ctx.act(format!("node {victim} restarted and unsealed"));
            return Ok(());
        }
        "kill-leader-loop" => {
            let rounds = 3;
            ctx.rec.healed_at_s = ctx.now_s();
            for r in 0..rounds {
                let l = ctx.leader().await?;
                let t = ctx.term(l).await;
                let i = ctx.cluster.index_of(l);
                ctx.cluster.kill(i);
                ctx.act(format!("round {}: kill -9 leader {l}", r + 1));
                ctx.measure_failover(l, t, Instant::now()).await;
                tokio::time::sleep(ctx.timing.hold / 3).await;
                ctx.cluster.restart(i).await?;
                ctx.act(format!("round {}: node {l} restarted and unsealed", r + 1));
                ctx.rec.healed_at_s = ctx.now_s();
            }
            return Ok(());
        }
        "stop-leader-loop" => {
            // The clean stop of a rolling restart: the leader hands over before it goes, so
            // no election timeout passes without a leader.
            ctx.rec.healed_at_s = ctx.now_s();
            for r in 0..3 {
                let l = ctx.leader().await?;
                let t = ctx.term(l).await;
                let i = ctx.cluster.index_of(l);
                let since = Instant::now();
                let (took, status) = ctx.cluster.stop(i, Duration::from_secs(20));
                let how = match status {
                    Some(s) if s.success() => format!("exited 0 in {} ms", took.as_millis()),
                    Some(s) => {
                        anyhow::bail!("leader {l} ended with {s} after SIGTERM (want exit 0)")
                    }
                    None => anyhow::bail!("leader {l} did not exit within 20 s of SIGTERM"),
                };
                ctx.act(format!("round {}: SIGTERM leader {l}: {how}", r + 1));
                ctx.measure_failover(l, t, since).await;
                tokio::time::sleep(ctx.timing.hold / 3).await;
                ctx.cluster.restart(i).await?;
                ctx.act(format!("round {}: node {l} restarted and unsealed", r + 1));
                ctx.rec.healed_at_s = ctx.now_s();
            }
            return Ok(());
        }
        "kill-all" => {
            for i in 0..n {
                ctx.cluster.kill(i);
            }
            ctx.act(format!("kill -9 every node ({n})"));
            tokio::time::sleep(ctx.timing.hold / 2).await;
            ctx.rec.healed_at_s = ctx.now_s();
            for i in 0..n {
                ctx.cluster.spawn(i)?;
            }
            let since = Instant::now();
            for i in 0..n {
                ctx.cluster.unseal(i, Duration::from_secs(60)).await?;
            }
            let l = ctx.leader().await?;
            let ms = since.elapsed().as_millis() as u64;
            ctx.act(format!("every node restarted and unsealed; node {l} leads after {ms} ms"));
            ctx.rec.failovers_ms.push(ms);
            return Ok(());
        }
        "pause-leader" => {
            let i = ctx.cluster.index_of(leader);
            let pause = ctx.timing.election_max.mul_f64(2.5).max(Duration::from_secs(3));
            ctx.cluster.signal(i, libc::SIGSTOP);
            ctx.act(format!("SIGSTOP leader {leader} for {} ms", pause.as_millis()));
            let since = Instant::now();
            ctx.measure_failover(leader, term, since).await;
            let left = pause.saturating_sub(since.elapsed());
            tokio::time::sleep(left).await;
            ctx.cluster.signal(i, libc::SIGCONT);
            ctx.rec.healed_at_s = ctx.now_s();
            ctx.act(format!("SIGCONT node {leader}"));
            return Ok(());
        }
        "clock-jump" => {
            let Some(id) = ctx.cluster.opts.clock_node else {
                ctx.rec.notes.push("no node runs under libfaketime; skipped".into());
                return Ok(());
            };
            ctx.cluster.set_clock(id, "+2h")?;
            ctx.act(format!(
                "node {id}'s wall clock jumps 2 h ahead{}",
                if id == leader { " (the leader)" } else { "" }
            ));
            tokio::time::sleep(ctx.timing.hold / 2).await;
            ctx.cluster.set_clock(id, "-1h")?;
            ctx.act(format!("node {id}'s wall clock jumps to 1 h behind"));
            tokio::time::sleep(ctx.timing.hold / 2).await;
            ctx.cluster.set_clock(id, "+0")?;
            ctx.rec.healed_at_s = ctx.now_s();
            ctx.act(format!("node {id}'s wall clock back to true time"));
            return Ok(());
        }
        "fsync-eio" => {
            let i = ctx.cluster.index_of(leader);
            let pid = ctx.cluster.nodes[i]
                .pid()
                .ok_or_else(|| anyhow::anyhow!("leader has no process"))?;
            let mut strace = start_strace(pid)?;
            ctx.act(format!("fsync/fdatasync fail with EIO on leader {leader} (strace -p {pid})"));
            let since = Instant::now();
            let mut exited = None;
            while since.elapsed() < ctx.timing.hold * 2 {
                if let Some((_, how)) =
                    ctx.cluster.reap_exits().into_iter().find(|(id, _)| *id == leader)
                {
                    exited = Some(how);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = strace.kill();
            let _ = strace.wait();
            unregister_pid(strace.id() as i32);
            match exited {
                Some(how) => {
                    let ms = since.elapsed().as_millis();
                    ctx.act(format!(
                        "node {leader} stopped {ms} ms after its first failed fsync ({how})"
                    ));
                    ctx.rec.expected_exits.push(format!("node {leader}: {how} (fsync EIO)"));
                    ctx.rec.notes.push(format!(
                        "log tail of node {leader}:\n{}",
                        ctx.cluster.log_tail(i, 3)
                    ));
                    ctx.measure_failover(leader, term, since).await;
                }
                None => {
                    ctx.rec.violations.push(format!(
                        "node {leader} kept running for {} s while every fsync failed with EIO",
                        (ctx.timing.hold * 2).as_secs()
                    ));
                }
            }
            ctx.rec.healed_at_s = ctx.now_s();
            ctx.cluster.restart(i).await?;
            ctx.act(format!("strace detached; node {leader} restarted and unsealed"));
            return Ok(());
        }
        "membership-partition" => {
            let victim = *followers.last().expect("a follower");
            let others: Vec<u64> = ctx.cluster.ids().into_iter().filter(|&i| i != victim).collect();
            ctx.net()?.partition(&[vec![victim], others.clone()])?;
            ctx.act(format!("partition [{victim}] | {others:?}"));
            ctx.cluster.remove_member(victim).await?;
            ctx.act(format!("node {victim} removed from the membership while cut off"));
            ctx.hold().await;
            heal_net(ctx)?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            ctx.cluster.readd_member(victim).await?;
            ctx.act(format!("node {victim} re-added as a learner and promoted"));
            return Ok(());
        }
        other => anyhow::bail!("unknown schedule `{other}`"),
    }
    Ok(())
}

fn heal_net(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    ctx.net()?.heal()?;
    ctx.rec.healed_at_s = ctx.now_s();
    ctx.act("healed: every iptables rule removed".into());
    Ok(())
}

/// Attaches strace to every thread of `pid`, failing each fsync/fdatasync with EIO.
///
/// `sync_file_range` is included because sled 0.34 makes its log durable with it on Linux;
/// `CHAOS_FSYNC_SYSCALLS` (comma-separated) overrides the list, e.g. `fsync,fdatasync` to
/// check that the node itself calls them.
fn start_strace(pid: i32) -> anyhow::Result<Child> {
    let calls = std::env::var("CHAOS_FSYNC_SYSCALLS")
        .unwrap_or_else(|_| "fsync,fdatasync,sync_file_range".into());
    let child = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={calls}"),
            "-e",
            &format!("inject={calls}:error=EIO"),
            "-p",
            &pid.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    register_pid(child.id() as i32);
    Ok(child)
}

/// Makes sure everything a schedule may have left is healed: rules gone, nodes resumed,
/// clocks true, dead nodes restarted and unsealed.
pub async fn heal_all(cluster: &mut Cluster) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(net) = &cluster.net {
        net.heal()?;
    }
    for i in 0..cluster.nodes.len() {
        cluster.signal(i, libc::SIGCONT);
    }
    if let Some(id) = cluster.opts.clock_node {
        cluster.set_clock(id, "+0")?;
    }
    for (id, how) in cluster.reap_exits() {
        done.push(format!("node {id} had exited ({how})"));
    }
    for i in 0..cluster.nodes.len() {
        if cluster.nodes[i].child.is_none() {
            cluster.restart(i).await?;
            done.push(format!("node {} restarted", cluster.nodes[i].id));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(n: usize) -> Vec<(String, String)> {
        ALL.iter().take(n).map(|s| (s.to_string(), "needs a tool".to_string())).collect()
    }

    #[test]
    fn a_skip_needs_the_flag_and_ci_never_skips() {
        assert_eq!(skip_allowed(true, false, &[], 13), Ok(()));
        assert_eq!(skip_allowed(false, false, &[], 13), Ok(()));
        let seven = skips(7);
        let e = skip_allowed(false, false, &seven, 13).unwrap_err();
        assert!(e.starts_with("7 of 13 schedules can't run"), "{e}");
        assert!(e.contains("--allow-skip") && e.contains("ASS_ALLOW_SKIP=1"), "{e}");
        assert!(e.contains("partition-leader-minority: needs a tool"), "{e}");
        assert_eq!(skip_allowed(false, true, &seven, 13), Ok(()));
        let e = skip_allowed(true, true, &seven, 13).unwrap_err();
        assert!(e.contains("CI=true never skips"), "{e}");
    }

    #[test]
    fn network_schedules_need_namespaces_and_the_ring_needs_five_nodes() {
        let net: Vec<&str> = ALL.iter().copied().filter(|s| needs_net(s)).collect();
        assert_eq!(net.len(), 7, "{net:?}");
        for s in &net {
            assert!(missing_requirement(s, Some("not running as root"))
                .is_some_and(|why| why.contains("not running as root")));
            assert_eq!(missing_requirement(s, None), None);
        }
        assert_eq!(missing_requirement("kill-one", Some("not running as root")), None);
        assert_eq!(ALL.iter().filter(|s| applies_to(s, 3)).count(), 13);
        assert_eq!(ALL.iter().filter(|s| applies_to(s, 5)).count(), ALL.len());
    }
}
