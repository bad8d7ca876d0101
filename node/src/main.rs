//! `ass-node`: run one node from a config file, or a local development cluster (`dev`, started
//! by the launcher in `ass-testkit`, which runs this same binary as `ass-node run`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ass_node::config::Config;
use ass_testkit::{DevCluster, DevOptions};
use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: under the load benchmark, malloc/free/consolidate were
/// about 18% of a node's CPU (sled copies nodes and values on every access). See
/// docs/performance.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ass-node", version, about = "Agent Secret Store server node")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node from a TOML config file (see cluster-config/ for examples).
    Run {
        /// Path of the node's config file.
        #[arg(long, short, env = "ASS_NODE_CONFIG")]
        config: PathBuf,
    },
    /// Start a local cluster of node processes on 127.0.0.1, initialized and unsealed.
    ///
    /// DEVELOPMENT ONLY: the unseal keys are written to DIR/cluster.json in the clear.
    /// Running it again on the same DIR reuses the data and unseals again. Ctrl-C stops every node.
    ///
    /// TLS is on: a dev CA and node certificates are made in DIR/tls/ (reused by later runs;
    /// keys mode 0600), the API addresses are https://, and clients trust DIR/tls/ca.pem
    /// (export ASS_CACERT, printed at start; cluster.json names it as `ca_cert`).
    Dev {
        /// Directory for the nodes' configs, data and logs.
        #[arg(long, default_value = "./dev-cluster")]
        dir: PathBuf,
        /// Number of nodes: 3 or 5.
        #[arg(long, default_value_t = 3, value_parser = parse_node_count)]
        nodes: u64,
        /// API port of node 1; node N listens on P+N-1 (API) and P+100+N-1 (cluster).
        #[arg(long, default_value_t = 8201)]
        base_port: u16,
        /// Serve plain HTTP on both ports (tls_disable = true), e.g. for a benchmark that
        /// wants to leave TLS out. Never with real secrets.
        #[arg(long)]
        tls_disable: bool,
        /// Extra subject alternative name (IP or DNS name) for the node certificates, besides
        /// 127.0.0.1 and localhost; repeat for more.
        #[arg(long = "san", value_name = "IP|NAME")]
        sans: Vec<String>,
        /// `off` turns the audit log off on every node: for benchmarks that measure its
        /// cost only (the nodes warn loudly; never use it for anything else).
        #[arg(long, default_value = "on", value_parser = ["on", "off"])]
        audit: String,
        /// Start the nodes but neither initialize nor unseal them: a new cluster waiting for
        /// `ass operator init` or `ass operator snapshot restore`.
        #[arg(long)]
        uninitialized: bool,
    },
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Cmd::Run { config } => run(config).await,
            Cmd::Dev { dir, nodes, base_port, tls_disable, sans, audit, uninitialized } => {
                let exe = std::env::current_exe().context("locating the ass-node binary")?;
                let mut options = DevOptions::new(dir, nodes, base_port, exe);
                options.tls_disable = tls_disable;
                options.extra_sans = sans;
                if audit == "off" {
                    println!("!!! --audit off: the nodes record no audit events (benchmarks only)");
                    options.extra_config = "[audit]\nenabled = false\n".to_owned();
                }
                dev(options, uninitialized).await
            }
        }
    })
}

async fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let api = tokio::net::TcpListener::bind(config.api_addr)
        .await
        .with_context(|| format!("binding api_addr {}", config.api_addr))?;
    let cluster = tokio::net::TcpListener::bind(config.cluster_addr)
        .await
        .with_context(|| format!("binding cluster_addr {}", config.cluster_addr))?;
    Ok(ass_node::server::run(config, api, cluster, first_signal_then_watch()).await?)
}

/// Resolves at the first SIGTERM/SIGINT (the clean stop begins), and from then on a second
/// one ends the process at once (exit 130) instead of waiting for the drain.
async fn first_signal_then_watch() {
    shutdown_signal().await;
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("second signal: exiting at once without finishing the clean stop");
        std::process::exit(130);
    });
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn dev(options: DevOptions, uninitialized: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let (dir, nodes) = (options.dir.clone(), options.nodes);
    let cluster = if uninitialized {
        DevCluster::start_uninitialized(options).await?
    } else {
        DevCluster::start(options).await?
    };
    let urls = cluster.api_urls();
    println!(
        "Agent Secret Store dev cluster: {nodes} nodes ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for n in &cluster.nodes {
        println!(
            "  node {}  api {}  cluster 127.0.0.1:{}  pid {}",
            n.id,
            n.api_url(),
            n.cluster_port(),
            n.pid().unwrap_or(0)
        );
    }
    println!();
    if uninitialized {
        println!("Not initialized: run `ass operator init`, or restore a backup into it with");
        println!("  export ASS_ADDR={}", urls.join(","));
        println!("  ass operator snapshot restore FILE --key-file SHARE1 --key-file SHARE2 …");
        println!();
        println!("Ctrl-C stops every node.");
        let mut cluster = cluster;
        watch_nodes(&mut cluster).await;
        stop_all(&mut cluster).await;
        return Ok(());
    }
    println!("Root token:  {}", cluster.root_token);
    println!(
        "!! DEV ONLY: the unseal keys below are also stored in the clear in {}",
        dir.join("cluster.json").display()
    );
    println!("!! Never run a dev cluster with real secrets.");
    for (i, k) in cluster.unseal_keys.iter().enumerate() {
        println!("Unseal key {}: {k}", i + 1);
    }
    println!();
    println!("Try:");
    match &cluster.ca_file {
        Some(ca) => println!("  export ASS_CACERT={}", ca.display()),
        None => println!(
            "  # !! TLS DISABLED (--tls-disable): plain HTTP, tokens cross the wire in the clear"
        ),
    }
    println!("  export ASS_ADDR={} ASS_TOKEN={}", urls.join(","), cluster.root_token);
    println!("  ass secrets set production/gemini/GEMINI_API_KEY \"example-value\" --type api_key --tier sensitive");
    println!("  ass secrets get production/gemini/GEMINI_API_KEY --silent");
    println!("  ass operator status");
    println!();
    println!("Ctrl-C stops every node.");
    let mut cluster = cluster;
    watch_nodes(&mut cluster).await;
    println!("stopping…");
    stop_all(&mut cluster).await;
    Ok(())
}

/// Stops every node cleanly (followers first, then the leader) and says how each ended.
async fn stop_all(cluster: &mut DevCluster) {
    for r in cluster.stop_all().await {
        match r.status {
            Some(status) => {
                println!("node {} stopped in {:.2} s ({status})", r.id, r.took.as_secs_f64())
            }
            None => println!(
                "node {} did not stop within {} s: killed",
                r.id,
                ass_testkit::STOP_GRACE.as_secs()
            ),
        }
    }
}

/// Until Ctrl-C/SIGTERM: reaps node processes that exit (a `kill -TERM` of one node, a
/// crash) and says so, so none lingers as a zombie that looks alive to `kill -0` and `ps`.
async fn watch_nodes(cluster: &mut DevCluster) {
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut every = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut signal => return,
            _ = every.tick() => {
                for (id, status) in cluster.reap_exits() {
                    println!("node {id} exited ({status})");
                }
            }
        }
    }
}

fn parse_node_count(s: &str) -> Result<u64, String> {
    match s {
        "3" => Ok(3),
        "5" => Ok(5),
        _ => Err(format!("a dev cluster has 3 or 5 nodes, not `{s}`")),
    }
}
