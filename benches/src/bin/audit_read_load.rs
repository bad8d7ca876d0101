//! `audit_read_load`: what the audit log costs on read throughput.
//!
//! Starts real 3-node dev clusters (release `ass-node`), alternately with the audit log on
//! and off (`[audit] enabled = false`, what `ass-node dev --audit off` does), and drives each
//! with a closed loop of linearizable secret reads: `--workers` tasks, spread over the three
//! nodes, each sending its next read when the last one answered, for `--seconds`. Prints
//! reads/s and latency percentiles per run and the on/off ratio of the medians.
//!
//! ```sh
//! cargo build --release -p ass-node -p ass-benches --bin audit_read_load
//! target/release/audit_read_load --rounds 3 --seconds 15 --workers 32
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ass_client::{Client, PutSecretRequest, ReadOptions};
use ass_testkit::{DevCluster, DevOptions};

struct Args {
    rounds: usize,
    seconds: u64,
    workers: usize,
    secrets: usize,
    base_port: u16,
    exe: PathBuf,
    /// Also run with `[audit] fsync_every_batch = true`.
    fsync: bool,
}

fn args() -> anyhow::Result<Args> {
    let exe = std::env::current_exe()?.with_file_name("ass-node");
    let mut a = Args {
        rounds: 3,
        seconds: 15,
        workers: 32,
        secrets: 100,
        base_port: 19301,
        exe,
        fsync: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => a.rounds = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--workers" => a.workers = value()?.parse()?,
            "--secrets" => a.secrets = value()?.parse()?,
            "--base-port" => a.base_port = value()?.parse()?,
            "--exe" => a.exe = PathBuf::from(value()?),
            "--also-fsync-every-batch" => a.fsync = true,
            "--help" | "-h" => {
                println!("audit_read_load [--rounds N] [--seconds S] [--workers W] [--secrets K] [--base-port P] [--exe PATH-TO-ass-node] [--also-fsync-every-batch]");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

struct Outcome {
    reads_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    On,
    Off,
    FsyncEveryBatch,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "off",
            Mode::FsyncEveryBatch => "on+fsync",
        }
    }
}

async fn one_run(a: &Args, mode: Mode) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let mut options = DevOptions::new(dir.path().to_path_buf(), 3, a.base_port, a.exe.clone());
    options.extra_config = match mode {
        Mode::On => String::new(),
        Mode::Off => "[audit]\nenabled = false\n".into(),
        Mode::FsyncEveryBatch => "[audit]\nfsync_every_batch = true\n".into(),
    };
    options.env = vec![("RUST_LOG".into(), "warn".into())];
    let cluster = DevCluster::start(options).await?;
    let urls = cluster.api_urls();
    let mut builder =
        Client::builder().addresses(urls.clone()).token(Some(cluster.root_token.clone()));
    if let Some(ca) = &cluster.ca_file {
        builder = builder.ca_cert_pem(std::fs::read(ca)?);
    }
    let client = builder.build()?;
    let mut last_index = 0;
    for i in 0..a.secrets {
        let put = PutSecretRequest {
            value: format!("value-{i}"),
            secret_type: None,
            tier: None,
            cas: None,
        };
        last_index = client.put_secret(&format!("bench/s{i}"), &put).await?.index;
    }
    // Every node has applied the writes before the clock starts.
    for u in &urls {
        let opts = ReadOptions { min_index: Some(last_index), ..Default::default() };
        client.for_node(u).get_secret("bench/s0", &opts).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let secrets = a.secrets;
    let mut tasks = Vec::new();
    for w in 0..a.workers {
        let c = Arc::new(client.for_node(&urls[w % urls.len()]));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut n = w;
            while Instant::now() < deadline {
                n = n.wrapping_mul(2654435761).wrapping_add(1);
                let path = format!("bench/s{}", n % secrets);
                let t = Instant::now();
                match c.get_secret(&path, &ReadOptions::default()).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    let out = Outcome {
        reads_per_s: lat.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    };
    let mut cluster = cluster;
    for i in 0..3 {
        cluster.stop(i);
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    anyhow::ensure!(a.exe.exists(), "no ass-node at {} (pass --exe)", a.exe.display());
    println!(
        "closed-loop linearizable reads, 3 nodes, {} workers, {} s per run, {} secrets",
        a.workers, a.seconds, a.secrets
    );
    let mut modes = vec![Mode::On, Mode::Off];
    if a.fsync {
        modes.push(Mode::FsyncEveryBatch);
    }
    let mut results: Vec<(Mode, f64)> = Vec::new();
    for round in 1..=a.rounds {
        for &mode in &modes {
            let o = one_run(&a, mode).await?;
            println!(
                "round {round} audit {:<8}  {:>8.0} reads/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
                mode.name(),
                o.reads_per_s,
                o.p50_ms,
                o.p99_ms,
                o.errors
            );
            results.push((mode, o.reads_per_s));
        }
    }
    let med = |m: Mode| median(results.iter().filter(|r| r.0 == m).map(|r| r.1).collect());
    let off = med(Mode::Off);
    for &mode in &modes {
        let m = med(mode);
        println!(
            "median audit {:<8} {m:>8.0} reads/s; cost vs off {:.1}%",
            mode.name(),
            (1.0 - m / off) * 100.0
        );
    }
    Ok(())
}
