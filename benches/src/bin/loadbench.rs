//! `loadbench`: the cluster load benchmark of issue 7, side by side with etcd and a bare axum
//! server, and (`--scale`) the 10k → 1M secrets scale measurements. See benches/README.md and
//! docs/performance.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ass_benches::gen::{self, Length, Outcome};
use ass_benches::procs::{self, dir_bytes, parse_cpus, rss_bytes};
use ass_benches::systems::{key, Ass, AssOptions, Case, Etcd, Hello};
use clap::Parser;
use serde::Serialize;

#[derive(Parser, Clone)]
#[command(
    name = "loadbench",
    about = "Cluster load benchmark: our 3-node cluster, a 3-member etcd and a bare axum server, one after another",
    long_about = "Cluster load benchmark (issue 7).\n\n\
        Builds the release ass-node and bench-hello (cargo build --release), then, one system after \
        another, never at once: starts a 3-node `ass-node dev` cluster in a temp dir, preloads \
        --keys secrets of 256 bytes as a real agent token (not root), and drives it over HTTP/1.1 \
        keep-alive at each --concurrency with each case; then the same against a 3-member etcd \
        (`etcd` from Debian etcd-server) over its JSON gateway; then a bare axum hello server as \
        the machine's HTTP ceiling. Prints req/s, p50, p99 and errors per case and the ratios \
        ours/etcd and stale/ceiling.\n\n\
        The generator is closed-loop: one connection per concurrent client, each sends its next \
        request when the last one is answered. Servers run under `taskset -c --server-cpus`, \
        the generator pins itself to --client-cpus. Every process started is stopped at the \
        end, on error and on Ctrl-C.\n\n\
        Cases: write (new version of a preloaded key, leader), read-leader and read-follower \
        (default = linearizable reads), stale (ours X-Ass-Consistency: stale, etcd serializable; \
        on a follower), mix (90% default reads / 10% writes, leader)."
)]
struct Cli {
    /// Measured time per case and concurrency.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before each measurement.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Concurrent connections, comma-separated.
    #[arg(long, default_value = "16,64,256", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Cases, comma-separated: write, read-leader, read-follower, stale, mix.
    #[arg(
        long,
        default_value = "read-leader,read-follower,stale,mix,write",
        value_delimiter = ','
    )]
    cases: Vec<String>,
    /// Systems, comma-separated: ass, etcd, axum.
    #[arg(long, default_value = "ass,etcd,axum", value_delimiter = ',')]
    systems: Vec<String>,
    /// Secrets (keys) preloaded before the cases, 256-byte values.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// An `ass-node dev` flag for our cluster (repeatable): `--node-arg=--audit --node-arg=off`.
    /// The nodes serve plain HTTP like etcd's gateway (`--tls-disable` always).
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    node_args: Vec<String>,
    /// The ass-node binary; default: build it (cargo build --release -p ass-node) and use
    /// target/release/ass-node.
    #[arg(long)]
    ass_node: Option<PathBuf>,
    /// The etcd binary.
    #[arg(long, default_value = "etcd")]
    etcd: PathBuf,
    /// Don't run cargo build; use the binaries next to this one.
    #[arg(long)]
    no_build: bool,
    /// CPUs the servers run on (`taskset -c`).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs the load generator runs on (sched_setaffinity of this process).
    #[arg(long, default_value = "1")]
    client_cpus: String,
    /// Pin nothing (servers and generator share every CPU).
    #[arg(long)]
    no_pin: bool,
    /// First port: ours base..base+2 (API) and base+100.. (cluster), etcd base+50..,
    /// hello base+80.
    #[arg(long, default_value_t = 18200)]
    base_port: u16,
    /// Parent directory of the temp dir holding every data dir and log.
    #[arg(long, default_value = "/tmp")]
    dir: PathBuf,
    /// Keep the temp dir (data and logs) at the end.
    #[arg(long)]
    keep: bool,
    /// Print the results as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// Scale mode instead of the load cases: sizes to grow our cluster to, e.g. 10k,100k,1M.
    /// At each: RSS per node, data on disk, the last snapshot's size and build time, and the
    /// time a full restart takes until every node serves.
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    scale: Vec<usize>,
    /// Concurrency of the loading writes (preload and --scale).
    #[arg(long, default_value_t = 128)]
    load_concurrency: usize,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let lower = s.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1_000)
    } else {
        (lower.as_str(), 1)
    };
    num.parse::<usize>()
        .map(|n| n * mult)
        .map_err(|_| format!("`{s}` is not a size like 10k or 1M"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = real_main(cli);
    procs::kill_all();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    let workspace =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
    let here = std::env::current_exe()?.parent().expect("exe dir").to_path_buf();
    for s in &cli.systems {
        if !["ass", "etcd", "axum"].contains(&s.as_str()) {
            bail!("unknown system `{s}`; the systems are ass, etcd, axum");
        }
    }
    let cases: Vec<Case> = cli.cases.iter().map(|c| Case::parse(c)).collect::<Result<_, _>>()?;
    if cli.concurrency.is_empty() || cli.concurrency.contains(&0) {
        bail!("--concurrency needs positive numbers");
    }
    if cli.keys == 0 {
        bail!("--keys must be at least 1");
    }
    if !cli.no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building the release ass-node and bench-hello…");
        let status = std::process::Command::new(cargo)
            .current_dir(&workspace)
            .args(["build", "--release", "--locked", "-p", "ass-node", "--bin", "ass-node"])
            .args(["-p", "ass-benches", "--bin", "bench-hello"])
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build failed");
        }
    }
    let ass_node = cli.ass_node.clone().unwrap_or_else(|| here.join("ass-node"));
    let hello = here.join("bench-hello");
    if cli.systems.iter().any(|s| s == "ass") && !ass_node.exists() {
        bail!("{} is missing (build it or pass --ass-node)", ass_node.display());
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let client_cpus = parse_cpus(&cli.client_cpus)?;
    parse_cpus(&cli.server_cpus)?;
    if !cli.no_pin {
        procs::pin_self(&cli.client_cpus)?;
    }
    let workers = if cli.no_pin { 0 } else { client_cpus.len() };
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            b.worker_threads(workers);
        }
        b.enable_all().build()?
    };
    let tmp = tempfile::Builder::new().prefix("loadbench-").tempdir_in(&cli.dir)?;
    let tmp_path = tmp.path().to_path_buf();
    eprintln!("data and logs in {}", tmp_path.display());
    let env = Env { cli: cli.clone(), cases, ass_node, hello, dir: tmp_path.clone(), cpus };
    let result = runtime.block_on(async {
        let work = async {
            if env.cli.scale.is_empty() {
                load(&env).await
            } else {
                scale(&env).await
            }
        };
        tokio::select! {
            r = work => r,
            s = signal() => Err(anyhow::anyhow!("stopped by {s}; every server was stopped")),
        }
    });
    // Every server is stopped by now (the guards dropped inside `work`).
    procs::kill_all();
    if cli.keep || result.is_err() {
        let kept = tmp.keep();
        eprintln!("kept {} (data dirs and logs)", kept.display());
    }
    result
}

async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        std::future::pending::<()>().await;
        unreachable!()
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

struct Env {
    cli: Cli,
    cases: Vec<Case>,
    ass_node: PathBuf,
    hello: PathBuf,
    dir: PathBuf,
    /// CPUs of the machine (counted before pinning).
    cpus: usize,
}

impl Env {
    fn server_cpus(&self) -> Option<&str> {
        (!self.cli.no_pin).then_some(self.cli.server_cpus.as_str())
    }
    fn length(&self) -> Length {
        Length::Timed { warmup: self.cli.warmup, measure: self.cli.duration }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    system: &'static str,
    case: &'static str,
    concurrency: usize,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
struct Ratio {
    case: &'static str,
    concurrency: usize,
    /// ours / etcd (req/s), or ours stale / hello for `stale-vs-ceiling`.
    rps_ratio: f64,
    target: Option<f64>,
    /// ours p99 / etcd p99 (target: below 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_ratio: Option<f64>,
    met: Option<bool>,
}

#[derive(Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    loadavg_start: String,
    loadavg_end: String,
    server_cpus: Option<String>,
    client_cpus: Option<String>,
    etcd_version: Option<String>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split_once(':').map_or("", |x| x.1).trim().to_string())
        })
        .unwrap_or_default()
}

fn progress(row: &Row) {
    let o = &row.outcome;
    eprintln!(
        "  {:<5} {:<14} c={:<4} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}{}",
        row.system,
        row.case,
        row.concurrency,
        o.rps,
        o.p50_ms,
        o.p99_ms,
        o.errors,
        o.first_error.as_ref().map(|e| format!("  (first: {e})")).unwrap_or_default()
    );
}

/// Preloads `keys` secrets (or etcd keys) through `plan` (writes only), counted.
async fn preload(what: &str, plan: gen::Plan, keys: usize, c: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    let o = gen::run(plan, c, Length::Counted(keys as u64)).await?;
    if o.errors > 0 {
        bail!(
            "preloading {what}: {} of {keys} writes failed (first: {:?})",
            o.errors,
            o.first_error
        );
    }
    eprintln!(
        "  preloaded {keys} keys into {what} in {:.1} s ({:.0} writes/s, {} attempts retried)",
        t.elapsed().as_secs_f64(),
        o.rps,
        o.retried
    );
    Ok(())
}

async fn load(env: &Env) -> anyhow::Result<()> {
    let cli = &env.cli;
    let mut rows: Vec<Row> = Vec::new();
    let load_start = loadavg();
    let mut etcd_version = None;
    let has = |s: &str| cli.systems.iter().any(|x| x == s);
    if has("ass") {
        eprintln!("ass: starting a 3-node `ass-node dev` cluster…");
        let mut ass = Ass::start(&AssOptions {
            exe: &env.ass_node,
            dir: env.dir.join("ass"),
            base_port: cli.base_port,
            node_args: &cli.node_args,
            cpus: env.server_cpus(),
        })
        .await?;
        eprintln!(
            "  ready in {:.1} s; leader {}, follower {}",
            ass.ready_secs, ass.leader, ass.follower
        );
        ass.make_token().await?;
        let plan = gen::Plan {
            addr: ass.leader,
            reads: vec![],
            writes: ass.writes(0, cli.keys),
            write_every: 1,
        };
        preload("ass", plan, cli.keys, cli.load_concurrency).await?;
        ass.wait_replicated(cli.keys - 1).await?;
        for &case in &env.cases {
            for &c in &cli.concurrency {
                ass.check_running()?;
                let plan = ass.plan(case, cli.keys).expect("a load case");
                let outcome = gen::run(plan, c, env.length()).await?;
                let row = Row { system: "ass", case: case.name(), concurrency: c, outcome };
                progress(&row);
                rows.push(row);
            }
        }
        drop(ass);
    }
    if has("etcd") {
        eprintln!("etcd: starting 3 members…");
        let etcd =
            Etcd::start(&cli.etcd, &env.dir.join("etcd"), cli.base_port + 50, env.server_cpus())
                .await?;
        etcd_version = Some(etcd.version.clone());
        eprintln!("  etcd {}; leader {}, follower {}", etcd.version, etcd.leader, etcd.follower);
        let plan = gen::Plan {
            addr: etcd.leader,
            reads: vec![],
            writes: Etcd::puts(0, cli.keys),
            write_every: 1,
        };
        preload("etcd", plan, cli.keys, cli.load_concurrency).await?;
        for &case in &env.cases {
            for &c in &cli.concurrency {
                let plan = etcd.plan(case, cli.keys).expect("a load case");
                let outcome = gen::run(plan, c, env.length()).await?;
                let row = Row { system: "etcd", case: case.name(), concurrency: c, outcome };
                progress(&row);
                rows.push(row);
            }
        }
        drop(etcd);
    }
    if has("axum") {
        eprintln!("axum: starting bench-hello…");
        if !env.hello.exists() {
            bail!("{} is missing (run without --no-build)", env.hello.display());
        }
        let hello =
            Hello::start(&env.hello, &env.dir, cli.base_port + 80, env.server_cpus()).await?;
        for &c in &cli.concurrency {
            let outcome = gen::run(hello.plan(), c, env.length()).await?;
            let row = Row { system: "axum", case: "hello", concurrency: c, outcome };
            progress(&row);
            rows.push(row);
        }
        drop(hello);
    }
    let ratios = ratios(&rows);
    let machine = Machine {
        cpus: env.cpus,
        cpu_model: cpu_model(),
        loadavg_start: load_start,
        loadavg_end: loadavg(),
        server_cpus: env.server_cpus().map(str::to_string),
        client_cpus: (!cli.no_pin).then(|| cli.client_cpus.clone()),
        etcd_version,
    };
    if cli.json {
        let out = serde_json::json!({
            "machine": machine,
            "duration_s": cli.duration.as_secs_f64(),
            "warmup_s": cli.warmup.as_secs_f64(),
            "keys": cli.keys,
            "node_args": cli.node_args,
            "generator": "closed-loop, one HTTP/1.1 keep-alive connection per client (tokio + hyper)",
            "results": rows,
            "ratios": ratios,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_report(&rows, &ratios, &machine, cli);
    }
    Ok(())
}

fn find<'a>(rows: &'a [Row], system: &str, case: &str, c: usize) -> Option<&'a Outcome> {
    rows.iter()
        .find(|r| r.system == system && r.case == case && r.concurrency == c)
        .map(|r| &r.outcome)
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.system == "ass") {
        if let Some(e) = find(rows, "etcd", r.case, r.concurrency) {
            let target = match r.case {
                "write" => Some(2.0),
                "read-leader" | "read-follower" => Some(4.0),
                _ => None,
            };
            let rps_ratio = if e.rps > 0.0 { r.outcome.rps / e.rps } else { f64::NAN };
            let p99_ratio = if e.p99_ms > 0.0 { r.outcome.p99_ms / e.p99_ms } else { f64::NAN };
            let met = Some(target.is_none_or(|t| rps_ratio >= t) && p99_ratio < 1.0);
            out.push(Ratio {
                case: r.case,
                concurrency: r.concurrency,
                rps_ratio,
                target,
                p99_ratio: Some(p99_ratio),
                met,
            });
        }
    }
    for r in rows.iter().filter(|r| r.system == "ass" && r.case == "stale") {
        if let Some(h) = find(rows, "axum", "hello", r.concurrency) {
            let rps_ratio = if h.rps > 0.0 { r.outcome.rps / h.rps } else { f64::NAN };
            out.push(Ratio {
                case: "stale-vs-ceiling",
                concurrency: r.concurrency,
                rps_ratio,
                target: Some(0.5),
                p99_ratio: None,
                met: Some(rps_ratio >= 0.5),
            });
        }
    }
    out
}

fn print_report(rows: &[Row], ratios: &[Ratio], m: &Machine, cli: &Cli) {
    println!();
    println!(
        "loadbench: {} keys of 256 B, {:?} measured after {:?} warm-up per row; closed loop, one keep-alive connection per client",
        cli.keys, cli.duration, cli.warmup
    );
    println!(
        "machine: {} CPUs ({}); servers on CPUs {}, generator on CPUs {}; load average {} at start, {} at end{}",
        m.cpus,
        m.cpu_model,
        m.server_cpus.as_deref().unwrap_or("any"),
        m.client_cpus.as_deref().unwrap_or("any"),
        m.loadavg_start,
        m.loadavg_end,
        m.etcd_version.as_ref().map(|v| format!("; etcd {v}")).unwrap_or_default()
    );
    if !cli.node_args.is_empty() {
        println!("ass-node dev args: {}", cli.node_args.join(" "));
    }
    println!();
    println!("| system | case | c | req/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let o = &r.outcome;
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.system, r.case, r.concurrency, o.rps, o.p50_ms, o.p99_ms, o.errors
        );
    }
    if !ratios.is_empty() {
        println!();
        println!(
            "| case | c | ours/etcd req/s (stale: /ceiling) | target | ours p99 / etcd p99 | met |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | --- |");
        for r in ratios {
            println!(
                "| {} | {} | {:.2} | {} | {} | {} |",
                r.case,
                r.concurrency,
                r.rps_ratio,
                r.target.map(|t| format!("≥ {t}")).unwrap_or_else(|| "—".into()),
                r.p99_ratio.map(|p| format!("{p:.2}")).unwrap_or_else(|| "—".into()),
                match r.met {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "—",
                }
            );
        }
    }
    for r in rows.iter().filter(|r| r.outcome.errors > 0) {
        println!(
            "errors in {} {} c={}: {} (first: {})",
            r.system,
            r.case,
            r.concurrency,
            r.outcome.errors,
            r.outcome.first_error.as_deref().unwrap_or("?")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scale

#[derive(Debug, Serialize)]
struct ScalePoint {
    secrets: usize,
    load_seconds: f64,
    load_writes_per_s: f64,
    /// RSS of each node after loading (bytes), leader first.
    rss_bytes: Vec<u64>,
    /// (RSS after − RSS of the empty cluster) / secrets, per node, leader first.
    rss_per_secret: Vec<f64>,
    /// On-disk size of each node's data dir (sled: log, state machine, snapshot).
    data_bytes: Vec<u64>,
    /// The leader's last snapshot: index, bytes, build time (ms) as the node logged it.
    snapshot_index: Option<u64>,
    snapshot_bytes: Option<u64>,
    snapshot_build_ms: Option<f64>,
    snapshots_built: usize,
    /// Full restart (SIGTERM every node, `ass-node dev` again on the same data): until
    /// `cluster.json` is rewritten (every node unsealed) and until every node answers a
    /// linearizable read of the last key.
    restart_unsealed_s: f64,
    restart_serving_s: f64,
    /// RSS of each node right after the restart.
    rss_after_restart: Vec<u64>,
}

/// The last `snapshot built` line of a node log: (index, bytes, build ms), and how many.
fn snapshot_stats(log: &Path) -> (Option<(u64, u64, f64)>, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut last = None;
    let mut count = 0;
    for line in text.lines().filter(|l| l.contains("snapshot built")) {
        count += 1;
        let clean = strip_ansi(line);
        let field = |name: &str| -> Option<String> {
            let at = clean.find(&format!("{name}="))? + name.len() + 1;
            Some(clean[at..].split_whitespace().next()?.to_string())
        };
        if let (Some(i), Some(b), Some(ms)) = (field("index"), field("bytes"), field("build_ms")) {
            if let (Ok(i), Ok(b), Ok(ms)) = (i.parse(), b.parse(), ms.parse()) {
                last = Some((i, b, ms));
            }
        }
    }
    (last, count)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn scale(env: &Env) -> anyhow::Result<()> {
    let cli = &env.cli;
    let mut sizes = cli.scale.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let opts = AssOptions {
        exe: &env.ass_node,
        dir: env.dir.join("ass"),
        base_port: cli.base_port,
        node_args: &cli.node_args,
        cpus: env.server_cpus(),
    };
    eprintln!("scale: starting a 3-node `ass-node dev` cluster…");
    let mut ass = Ass::start(&opts).await?;
    ass.make_token().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let order = |ass: &Ass| -> Vec<(u64, std::net::SocketAddr, u32)> {
        let mut n = ass.nodes.clone();
        n.sort_by_key(|x| x.1 != ass.leader);
        n
    };
    let base_rss: Vec<u64> = order(&ass).iter().map(|n| rss_bytes(n.2).unwrap_or(0)).collect();
    eprintln!(
        "  empty cluster RSS (leader first): {:?} MiB",
        base_rss.iter().map(|b| b / (1 << 20)).collect::<Vec<_>>()
    );
    let mut points = Vec::new();
    let mut loaded = 0usize;
    for &size in &sizes {
        let t = Instant::now();
        const CHUNK: usize = 50_000;
        while loaded < size {
            let n = CHUNK.min(size - loaded);
            let plan = gen::Plan {
                addr: ass.leader,
                reads: vec![],
                writes: ass.writes(loaded, n),
                write_every: 1,
            };
            let o = gen::run(plan, cli.load_concurrency, Length::Counted(n as u64)).await?;
            if o.errors > 0 {
                bail!("loading: {} writes failed (first: {:?})", o.errors, o.first_error);
            }
            loaded += n;
            eprintln!(
                "  {loaded} secrets ({:.0} writes/s in this chunk, p99 {:.1} ms, {} attempts retried)",
                o.rps, o.p99_ms, o.retried
            );
        }
        ass.wait_replicated(size - 1).await?;
        let load_seconds = t.elapsed().as_secs_f64();
        // Let a snapshot that is being built finish.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let nodes = order(&ass);
        let rss: Vec<u64> = nodes.iter().map(|n| rss_bytes(n.2).unwrap_or(0)).collect();
        let per: Vec<f64> =
            rss.iter().zip(&base_rss).map(|(a, b)| (*a as f64 - *b as f64) / size as f64).collect();
        let data: Vec<u64> = nodes
            .iter()
            .map(|n| dir_bytes(&ass.dir.join(format!("node{}", n.0)).join("data")))
            .collect();
        let leader_id = nodes[0].0;
        let (snap, count) =
            snapshot_stats(&ass.dir.join(format!("node{leader_id}")).join("node.log"));
        // Full restart.
        eprintln!("  restarting the cluster on {size} secrets…");
        ass.cluster.stop_all().await;
        let t = Instant::now();
        let token = ass.token.clone();
        ass = Ass::start(&opts).await?;
        ass.token = token;
        let restart_unsealed_s = t.elapsed().as_secs_f64();
        let auth = format!("Bearer {}", ass.token);
        let deadline = Instant::now() + Duration::from_secs(600);
        for n in ass.nodes.clone() {
            loop {
                let r = ass_benches::systems::call(
                    n.1,
                    hyper::Method::GET,
                    &format!("/v1/secrets/{}", key(size - 1)),
                    &[("authorization", &auth)],
                    None,
                )
                .await;
                if matches!(&r, Ok((s, _)) if s.is_success()) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("node {} did not serve within 600 s of the restart: {r:?}", n.0);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let restart_serving_s = t.elapsed().as_secs_f64();
        ass.find_leader().await?;
        let rss_after_restart = order(&ass).iter().map(|n| rss_bytes(n.2).unwrap_or(0)).collect();
        let p = ScalePoint {
            secrets: size,
            load_seconds,
            load_writes_per_s: (size - points.last().map_or(0, |p: &ScalePoint| p.secrets)) as f64
                / load_seconds,
            rss_bytes: rss,
            rss_per_secret: per,
            data_bytes: data,
            snapshot_index: snap.map(|s| s.0),
            snapshot_bytes: snap.map(|s| s.1),
            snapshot_build_ms: snap.map(|s| s.2),
            snapshots_built: count,
            restart_unsealed_s,
            restart_serving_s,
            rss_after_restart,
        };
        eprintln!("  {p:?}");
        points.push(p);
    }
    drop(ass);
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "base_rss_bytes": base_rss,
                "node_args": cli.node_args,
                "points": points,
            }))?
        );
    } else {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        println!();
        println!(
            "empty cluster RSS (leader, followers): {}",
            base_rss.iter().map(|b| format!("{:.0} MiB", mib(*b))).collect::<Vec<_>>().join(", ")
        );
        println!();
        println!("| secrets | load writes/s | RSS leader / followers | RSS per secret (leader) | data on disk per node | last snapshot (index, size, build) | restart: unsealed / serving | RSS after restart (leader) |");
        println!("| ---: | ---: | --- | ---: | ---: | --- | --- | ---: |");
        for p in &points {
            println!(
                "| {} | {:.0} | {} | {:.0} B | {:.1} MiB | {} | {:.1} s / {:.1} s | {:.0} MiB |",
                p.secrets,
                p.load_writes_per_s,
                p.rss_bytes
                    .iter()
                    .map(|b| format!("{:.0}", mib(*b)))
                    .collect::<Vec<_>>()
                    .join(" / ")
                    + " MiB",
                p.rss_per_secret[0],
                mib(p.data_bytes[0]),
                match (p.snapshot_index, p.snapshot_bytes, p.snapshot_build_ms) {
                    (Some(i), Some(b), Some(ms)) => format!(
                        "{i}, {:.1} MiB, {:.0} ms ({} built)",
                        mib(b),
                        ms,
                        p.snapshots_built
                    ),
                    _ => "none logged".into(),
                },
                p.restart_unsealed_s,
                p.restart_serving_s,
                mib(p.rss_after_restart[0]),
            );
        }
    }
    Ok(())
}
