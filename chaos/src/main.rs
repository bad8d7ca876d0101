//! `ass-chaos`: runs the fault-injection suite against a real cluster and writes a report.
//!
//! ```sh
//! cargo run --release -p ass-chaos -- --tier ci      # 3 nodes, every schedule once, ≥ 20k ops
//! cargo run --release -p ass-chaos -- --tier long    # 5 nodes, rounds of every schedule, ≥ 200k ops
//! ```
//!
//! Needs root for network namespaces and iptables, libfaketime and strace. A schedule whose
//! tool is missing is never skipped silently: the run stops (exit 2) unless `--allow-skip`
//! (or `ASS_ALLOW_SKIP=1`) lets it run the rest on loopback, and under `CI=true` it always
//! stops. The report's first line says `ran N of M schedules`. Exit status: 0 no violation,
//! 1 violations found, 2 the run itself failed or would have skipped schedules.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ass_chaos::faults::{self, Timing};
use ass_chaos::harness::{self, ClusterOptions, Tls};
use ass_chaos::net;
use ass_chaos::runner::{self, RunOptions};
use ass_chaos::workload::WorkloadOptions;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "ass-chaos", about = "Fault-injection robustness suite for an ass cluster")]
struct Args {
    /// `ci`: 3 nodes, each schedule once, at least 20k operations, about 5 minutes.
    /// `long`: 5 nodes, rounds of every schedule until at least 200k operations.
    #[arg(long, default_value = "ci")]
    tier: String,
    /// Override the tier's node count (3 or 5).
    #[arg(long)]
    nodes: Option<u64>,
    /// Override the tier's minimum number of operations.
    #[arg(long)]
    min_ops: Option<u64>,
    /// Comma-separated schedules instead of all (see `--list`).
    #[arg(long)]
    schedules: Option<String>,
    /// List the schedules and exit.
    #[arg(long)]
    list: bool,
    /// The `ass-node` binary (default: target/release/ass-node next to this binary).
    #[arg(long)]
    exe: Option<PathBuf>,
    /// Where configs, data, logs and the report go (wiped at start).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run on loopback with process faults only, even as root (the network schedules are
    /// then skipped: needs --allow-skip).
    #[arg(long)]
    no_netns: bool,
    /// Run even when some schedules can't run here (no root or namespaces, no libfaketime,
    /// no strace): they are skipped and the report's first line says `ran N of M schedules`.
    /// Without it such a run stops before starting (exit 2). Ignored under `CI=true`, where
    /// a missing tool always stops the run.
    #[arg(long, env = "ASS_ALLOW_SKIP", value_parser = clap::builder::BoolishValueParser::new())]
    allow_skip: bool,
    /// Plain HTTP between nodes and clients (`tls_disable = true`), for comparison runs;
    /// by default the nodes run TLS as in production (dev CA, certificates for 10.77.0.N).
    #[arg(long)]
    tls_disable: bool,
    /// Seconds each fault is held (default: 6 in ci, 10 in long).
    #[arg(long)]
    hold: Option<u64>,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop starting schedules after this many seconds (default: 480 in ci, 7200 in long).
    #[arg(long)]
    max_seconds: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.list {
        for s in faults::ALL {
            println!("{s}{}", if faults::needs_net(s) { "  (needs netns)" } else { "" });
        }
        return std::process::ExitCode::SUCCESS;
    }
    // Whatever happens, leave no process, namespace or bridge behind.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        harness::emergency_cleanup();
        default_hook(info);
    }));
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        tokio::spawn(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            eprintln!("ass-chaos: interrupted; cleaning up");
            harness::emergency_cleanup();
            std::process::exit(130);
        });
        real_main(args).await
    });
    harness::emergency_cleanup();
    match result {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn real_main(args: Args) -> anyhow::Result<usize> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let long = match args.tier.as_str() {
        "ci" => false,
        "long" => true,
        other => anyhow::bail!("--tier must be ci or long, not `{other}`"),
    };
    let nodes = args.nodes.unwrap_or(if long { 5 } else { 3 });
    if nodes != 3 && nodes != 5 {
        anyhow::bail!("--nodes must be 3 or 5");
    }
    let exe = match args.exe {
        Some(p) => p,
        None => std::env::current_exe()?.parent().context("binary directory")?.join("ass-node"),
    };
    if !exe.exists() {
        anyhow::bail!(
            "{} not found: build it first (cargo build --release -p ass-node) or pass --exe",
            exe.display()
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(format!("target/chaos/{}", args.tier)));
    let dir = std::path::absolute(&dir)?;

    // Leftovers of a crashed earlier run.
    let mut leftovers = net::cleanup_leftovers();
    leftovers.extend(harness::cleanup_pid_file(&dir.join("cluster").join("pids")));
    for l in &leftovers {
        eprintln!("ass-chaos: removed leftover {l}");
    }
    let net_unavailable =
        if args.no_netns { Some("--no-netns".to_string()) } else { net::unavailable_reason() };
    let schedules: Vec<String> = match &args.schedules {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => faults::ALL
            .iter()
            .filter(|s| faults::applies_to(s, nodes))
            .map(|s| s.to_string())
            .collect(),
    };
    for s in &schedules {
        if !faults::ALL.contains(&s.as_str()) {
            anyhow::bail!("unknown schedule `{s}` (see --list)");
        }
        if !faults::applies_to(s, nodes) {
            anyhow::bail!("schedule `{s}` needs 5 nodes (pass --nodes 5)");
        }
    }
    let skip: Vec<(String, String)> = schedules
        .iter()
        .filter_map(|s| {
            faults::missing_requirement(s, net_unavailable.as_deref()).map(|why| (s.clone(), why))
        })
        .collect();
    let ci = std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
    if let Err(why) = faults::skip_allowed(ci, args.allow_skip, &skip, schedules.len()) {
        anyhow::bail!("{why}");
    }
    if !skip.is_empty() {
        eprintln!(
            "ass-chaos: WARNING: --allow-skip: skipping {} of {} schedules ({}); the report \
             says `ran {} of {}`",
            skip.len(),
            schedules.len(),
            skip.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", "),
            schedules.len() - skip.len(),
            schedules.len()
        );
    }
    let hold = Duration::from_secs(args.hold.unwrap_or(if long { 10 } else { 6 }));
    let opts = RunOptions {
        tier: args.tier.clone(),
        cluster: ClusterOptions {
            exe,
            dir: dir.join("cluster"),
            nodes,
            netns: net_unavailable.is_none(),
            base_port: 18300,
            clock_node: Some(nodes),
            tls: if args.tls_disable { Tls::Disabled } else { Tls::Dev },
            snapshot_every: if long { 5000 } else { 2000 },
        },
        workload: WorkloadOptions {
            secret_clients: if long { 24 } else { 16 },
            token_clients: 2,
            keys: if long { 60 } else { 40 },
            timeout: Duration::from_secs(5),
            seed: args.seed,
        },
        schedules,
        min_ops: args.min_ops.unwrap_or(if long { 200_000 } else { 20_000 }),
        max_duration: Duration::from_secs(args.max_seconds.unwrap_or(if long {
            7200
        } else {
            480
        })),
        timing: Timing {
            hold,
            election_max: Duration::from_millis(ass_node::config::DEFAULT_ELECTION_TIMEOUT_MAX_MS),
        },
        recovery: Duration::from_secs(2),
        out: dir.clone(),
        net_unavailable,
        skip,
    };
    let report = runner::run(opts).await?;
    let text = ass_chaos::report::table(&report);
    println!("{text}");
    println!(
        "report: {}/report.json (history.json, tokens.json, cluster/node*/node.log)",
        dir.display()
    );
    Ok(report.violations)
}
