//! `ass-node`: run one node from a config file, or a local development cluster.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ass_node::config::Config;
use ass_node::dev::{DevCluster, DevOptions};
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
            Cmd::Dev { dir, nodes, base_port } => dev(dir, nodes, base_port).await,
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
    ass_node::server::run(config, api, cluster, shutdown_signal()).await
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

async fn dev(dir: PathBuf, nodes: u64, base_port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("locating the ass-node binary")?;
    let options = DevOptions {
        dir: dir.clone(),
        nodes,
        base_port,
        exe,
        extra_config: String::new(),
        env: Vec::new(),
    };
    let cluster = DevCluster::start(options).await?;
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
            n.cluster_port,
            n.child.as_ref().map_or(0, |c| c.id())
        );
    }
    println!();
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
    println!("  export ASS_ADDR={} ASS_TOKEN={}", urls.join(","), cluster.root_token);
    println!("  ass secrets set production/gemini/GEMINI_API_KEY \"example-value\" --type api_key --tier sensitive");
    println!("  ass secrets get production/gemini/GEMINI_API_KEY --silent");
    println!("  ass operator status");
    println!();
    println!("Ctrl-C stops every node.");
    shutdown_signal().await;
    println!("stopping…");
    let mut cluster = cluster;
    for i in 0..cluster.nodes.len() {
        cluster.stop(i);
    }
    Ok(())
}

fn parse_node_count(s: &str) -> Result<u64, String> {
    match s {
        "3" => Ok(3),
        "5" => Ok(5),
        _ => Err(format!("a dev cluster has 3 or 5 nodes, not `{s}`")),
    }
}
