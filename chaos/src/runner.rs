//! One run of the suite: start the cluster, start the workload, play fault schedules (each
//! followed by a convergence check), stop, read every key back, run every checker, report.
//!
//! ```text
//!  Cluster::start ─▶ Workload::spawn ─▶ for each schedule:
//!        inject ─ hold ─ heal ─▶ pause workload ─▶ convergence (same applied index + digest
//!        on every node, ≤ 10 s after heal) ─▶ resume, recovery period
//!  ─▶ stop workload ─▶ final read of every key ─▶ linearizability, durability, revocation
//!  ─▶ report.json, report.txt, history.json, tokens.json
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::durability::{check_durability, FinalReads};
use crate::faults::{self, Ctx, FaultRecord, Timing};
use crate::harness::{tracing_like, Cluster, ClusterOptions, Digest};
use crate::history::{OpKind, Outcome, Versioned};
use crate::linearizability::{check_keys, CheckConfig, CheckResult};
use crate::workload::{Workload, WorkloadOptions};

/// Convergence must happen within this long after a heal.
pub const CONVERGENCE_LIMIT: Duration = Duration::from_secs(10);

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub tier: String,
    pub cluster: ClusterOptions,
    pub workload: WorkloadOptions,
    pub schedules: Vec<String>,
    /// Keep playing rounds of `schedules` until this many operations completed.
    pub min_ops: u64,
    /// Stop starting new schedules after this long (the run still checks and reports).
    pub max_duration: Duration,
    pub timing: Timing,
    /// Workload-only time after each convergence check.
    pub recovery: Duration,
    pub out: PathBuf,
    /// Why network faults are unavailable, when they are.
    pub net_unavailable: Option<String>,
    /// Schedules of `schedules` that can't run here and are skipped (the run allowed it):
    /// name and why.
    pub skip: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

impl Percentiles {
    pub fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        let pick = |q: f64| -> Option<u64> {
            if v.is_empty() {
                return None;
            }
            let idx = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            Some(v[idx])
        };
        Percentiles {
            count: v.len(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: v.last().copied(),
        }
    }
}

/// The per-run report (`report.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub tier: String,
    pub nodes: u64,
    /// `netns` or `loopback (process faults only: <why>)`.
    pub network: String,
    pub duration_s: f64,
    /// Fault injections played (a long run plays each schedule many times).
    pub schedules_run: usize,
    /// Distinct schedules the tier names for this run.
    pub schedules_planned: usize,
    /// Distinct schedules that ran at least once: the report's "ran N of M".
    pub schedules_ran: usize,
    /// Secret operations by kind, then outcome (`ok`, `failed`, `unknown`).
    pub secret_ops: BTreeMap<String, BTreeMap<String, u64>>,
    /// Token operations by kind, then outcome.
    pub token_ops: BTreeMap<String, BTreeMap<String, u64>>,
    pub total_ops: u64,
    pub faults: Vec<FaultRecord>,
    pub failover: Percentiles,
    pub convergence: Percentiles,
    pub linearizability: LinReport,
    pub durability_violations: Vec<String>,
    pub revocation: RevReport,
    pub convergence_violations: Vec<String>,
    /// Node processes that exited without a fault asking for it.
    pub unexpected_exits: Vec<String>,
    pub fault_violations: Vec<String>,
    pub violations: usize,
    pub skipped: Vec<String>,
    /// Runnable schedules that never started (counted as violations).
    pub not_run: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinReport {
    pub keys: usize,
    pub steps: u64,
    pub check_ms: u64,
    pub violations: Vec<String>,
    pub timeouts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RevReport {
    pub issued: usize,
    pub revoked: usize,
    pub uses_after_revoke: usize,
    pub violations: Vec<String>,
}

/// Waits until every node reports the same applied index and digest; `Ok(elapsed since
/// `since`)` or the last disagreement after `limit`.
pub async fn await_convergence(
    cluster: &Cluster,
    since: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    loop {
        let mut seen: Vec<(u64, Option<Digest>)> = Vec::new();
        for i in 0..cluster.nodes.len() {
            seen.push((cluster.nodes[i].id, cluster.digest(i).await));
        }
        let first = seen[0].1.clone();
        if first.is_some() && seen.iter().all(|(_, d)| *d == first) {
            return Ok(since.elapsed());
        }
        let last = seen
            .iter()
            .map(|(id, d)| match d {
                Some(d) => {
                    format!("n{id}@{}:{}", d.applied_index, &d.digest[..12.min(d.digest.len())])
                }
                None => format!("n{id}: no answer"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        if since.elapsed() > limit {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the whole run and writes the report files.
pub async fn run(opts: RunOptions) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let mut report = Report {
        tier: opts.tier.clone(),
        nodes: opts.cluster.nodes,
        network: match &opts.net_unavailable {
            None => "netns".into(),
            Some(why) => format!("loopback (process faults only: {why})"),
        },
        ..Default::default()
    };
    std::fs::create_dir_all(&opts.out)?;
    tracing_like(&format!("starting {} nodes ({})", opts.cluster.nodes, report.network));
    let mut cluster = Cluster::start(opts.cluster.clone()).await?;
    let leader = cluster.wait_leader(Duration::from_secs(60)).await?;
    tracing_like(&format!("cluster up, leader {leader}; starting the workload"));
    let workload = Workload::new(
        opts.workload.clone(),
        &cluster.api_urls(),
        &cluster.root_token,
        cluster.ca_pem(),
    )?;
    let handles = workload.spawn();
    tokio::time::sleep(opts.recovery).await;

    let runnable: Vec<String> = opts
        .schedules
        .iter()
        .filter(|s| match opts.skip.iter().find(|(name, _)| name == *s) {
            Some((name, why)) => {
                report.skipped.push(format!("{name}: {why}"));
                false
            }
            None => true,
        })
        .cloned()
        .collect();
    let mut round = 0u64;
    'rounds: loop {
        for (k, name) in runnable.iter().enumerate() {
            if t0.elapsed() > opts.max_duration {
                report.errors.push(format!(
                    "stopped starting schedules after {} s (max duration)",
                    opts.max_duration.as_secs()
                ));
                break 'rounds;
            }
            if round > 0 && workload.ops() >= opts.min_ops {
                break 'rounds;
            }
            tracing_like(&format!(
                "round {} schedule {name} ({} ops so far)",
                round + 1,
                workload.ops()
            ));
            let mut rec = FaultRecord { schedule: name.clone(), ..Default::default() };
            let seed = opts.workload.seed ^ (round * 131 + k as u64);
            let result = {
                let mut ctx =
                    Ctx { cluster: &mut cluster, timing: opts.timing, rec: &mut rec, t0, seed };
                faults::run(name, &mut ctx).await
            };
            if let Err(e) = result {
                rec.violations.push(format!("schedule failed: {e:#}"));
            }
            for (id, how) in cluster.reap_exits() {
                let i = cluster.index_of(id);
                report.unexpected_exits.push(format!(
                    "{name}: node {id} exited ({how}); log tail:\n{}",
                    cluster.log_tail(i, 5)
                ));
            }
            let healed = Instant::now();
            match faults::heal_all(&mut cluster).await {
                Ok(done) => rec.notes.extend(done),
                Err(e) => rec.violations.push(format!("healing failed: {e:#}")),
            }
            if rec.healed_at_s == 0.0 {
                rec.healed_at_s = t0.elapsed().as_secs_f64();
            }
            workload.pause(opts.workload.timeout + Duration::from_secs(1)).await;
            match await_convergence(&cluster, healed, CONVERGENCE_LIMIT).await {
                Ok(d) => {
                    rec.convergence_ms = Some(d.as_millis() as u64);
                    tracing_like(&format!("  converged {} ms after heal", d.as_millis()));
                }
                Err(last) => {
                    let msg = format!(
                        "{name}: nodes did not converge within {} s of healing: {last}",
                        CONVERGENCE_LIMIT.as_secs()
                    );
                    tracing_like(&msg);
                    report.convergence_violations.push(msg);
                    // Let the run go on once they do agree, so later schedules still count.
                    if let Ok(d) =
                        await_convergence(&cluster, healed, Duration::from_secs(60)).await
                    {
                        rec.notes.push(format!("converged after {} ms", d.as_millis()));
                    }
                }
            }
            workload.resume();
            report.fault_violations.extend(rec.violations.iter().map(|v| format!("{name}: {v}")));
            report.faults.push(rec);
            tokio::time::sleep(opts.recovery).await;
        }
        round += 1;
        if runnable.is_empty() || workload.ops() >= opts.min_ops {
            break;
        }
    }
    report.schedules_run = report.faults.len();
    report.schedules_planned = opts.schedules.len();
    let ran: std::collections::BTreeSet<&str> =
        report.faults.iter().map(|f| f.schedule.as_str()).collect();
    report.schedules_ran = ran.len();
    // A schedule the run meant to play but never reached (the time limit) is a problem: the
    // tier did not run what it names.
    for s in &runnable {
        if !ran.contains(s.as_str()) {
            report.not_run.push(format!("{s}: never started (see errors)"));
        }
    }

    tracing_like(&format!("stopping the workload ({} ops)", workload.ops()));
    workload.stop();
    for h in handles {
        let _ = h.await;
    }
    let finals = final_reads(&cluster, &workload).await;
    let final_count = finals.len();
    report.duration_s = t0.elapsed().as_secs_f64();
    drop(cluster);
    tracing_like(&format!("cluster stopped; checking ({final_count} keys read back)"));

    let workload = std::sync::Arc::try_unwrap(workload)
        .map_err(|_| anyhow::anyhow!("workload still shared after every client stopped"))?;
    let token_counts = workload.token_counts.into_inner().unwrap_or_default();
    let tokens = workload.tokens.into_inner().unwrap_or_default();
    let history = workload.history.finish();

    for op in history.ops() {
        let kind = match op.kind {
            OpKind::Write { .. } => "write",
            OpKind::Cas { .. } => "cas",
            OpKind::Read => "read",
        };
        let outcome = match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        };
        *report.secret_ops.entry(kind.into()).or_default().entry(outcome.into()).or_default() += 1;
    }
    report.token_ops = token_counts;
    report.total_ops =
        history.len() as u64 + report.token_ops.values().flat_map(|m| m.values()).sum::<u64>();

    let started = Instant::now();
    let checks = check_keys(&history, &CheckConfig::default());
    report.linearizability.check_ms = started.elapsed().as_millis() as u64;
    report.linearizability.keys = checks.len();
    for c in &checks {
        report.linearizability.steps += c.steps;
        match &c.result {
            CheckResult::Ok => {}
            CheckResult::Violation(v) => report.linearizability.violations.push(format!(
                "{}: {} (op that had to come next: {:?}, prefix of {} ops)",
                v.key,
                v.explanation,
                v.blocking,
                v.prefix.len()
            )),
            CheckResult::Timeout { .. } => report
                .linearizability
                .timeouts
                .push(format!("{}: step budget exhausted ({} steps)", c.key, c.steps)),
        }
    }
    report.durability_violations =
        check_durability(&history, &finals).iter().map(|v| v.to_string()).collect();
    report.revocation.issued = tokens.issued.len();
    report.revocation.revoked = tokens.revoked.len();
    let acked: BTreeMap<&str, u64> =
        tokens.revoked.iter().map(|r| (r.token.as_str(), r.acked_at)).collect();
    report.revocation.uses_after_revoke = tokens
        .uses
        .iter()
        .filter(|u| acked.get(u.token.as_str()).is_some_and(|&a| u.invoke > a))
        .count();
    report.revocation.violations = tokens.check().iter().map(|v| v.to_string()).collect();

    let all_fail: Vec<u64> = report.faults.iter().flat_map(|f| f.failovers_ms.clone()).collect();
    report.failover = Percentiles::of(all_fail);
    report.convergence =
        Percentiles::of(report.faults.iter().filter_map(|f| f.convergence_ms).collect());
    report.violations = report.linearizability.violations.len()
        + report.durability_violations.len()
        + report.revocation.violations.len()
        + report.convergence_violations.len()
        + report.unexpected_exits.len()
        + report.fault_violations.len()
        + report.not_run.len();

    std::fs::write(opts.out.join("history.json"), history.to_json())?;
    std::fs::write(opts.out.join("tokens.json"), serde_json::to_string(&tokens)?)?;
    std::fs::write(opts.out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(opts.out.join("report.txt"), crate::report::table(&report))?;
    Ok(report)
}

/// One linearizable read of every key the workload could have written, through any node,
/// retried until it answers (the cluster is healed by now).
async fn final_reads(cluster: &Cluster, workload: &Workload) -> FinalReads {
    let mut finals = FinalReads::new();
    let Ok(client) = cluster.admin_client() else { return finals };
    for k in 0..workload.opts.keys {
        let key = format!("chaos/k{k:03}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.get_secret(&key, &ass_client::ReadOptions::default()).await {
                Ok(s) => {
                    finals.insert(key, Some(Versioned { version: s.version, value: s.value }));
                    break;
                }
                Err(e) if e.status() == Some(404) && e.code() == "not_found" => {
                    finals.insert(key, None);
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    tracing_like(&format!("final read of {key} failed: {e}"));
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    finals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_nearest_rank() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (Some(50), Some(99), Some(100)));
        let one = Percentiles::of(vec![7]);
        assert_eq!((one.p50_ms, one.p99_ms), (Some(7), Some(7)));
        assert_eq!(Percentiles::of(vec![]).p50_ms, None);
    }
}
