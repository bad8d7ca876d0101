//! Wires a node together and runs it until shutdown.
//!
//! [`run`] takes its listeners and shutdown signal as arguments, so tests bind port 0 and
//! run exactly the code `main` runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::LeaderClock;
use crate::config::Config;
use crate::http;
use crate::node::Node;
use crate::peer::{PeerError, PeerHttp};
use crate::raft::network::Network;
use crate::raft::state_machine::snapshot_interval;
use crate::raft::types::{NodeInfo, Raft};
use crate::raft::{LogStore, StateMachine};
use crate::storage::Store;
use crate::tls::serve::{serve, Port};
use crate::tls::{TlsError, TlsFiles};

/// Why a node did not start, or did not stop cleanly. Each names the step that failed; the
/// cause is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("config field `tls`: missing")]
    TlsMissing,
    #[error("config field `{field}`")]
    TlsFiles {
        field: &'static str,
        #[source]
        source: TlsError,
    },
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("raft settings")]
    RaftConfig(#[source] Box<openraft::ConfigError>),
    #[error("{step}")]
    Step {
        step: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Names the start-up or shutdown step a fallible call belongs to.
trait Step<T> {
    fn step(self, step: &'static str) -> Result<T, ServerError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Step<T> for Result<T, E> {
    fn step(self, step: &'static str) -> Result<T, ServerError> {
        self.map_err(|e| ServerError::Step { step, source: Box::new(e) })
    }
}

/// The node's certificates, or `None` with a loud warning under `tls_disable = true`.
fn load_tls(config: &Config) -> Result<Option<TlsFiles>, ServerError> {
    crate::tls::set_api_tls(!config.tls_disable);
    if config.tls_disable {
        tracing::warn!(
            "TLS IS DISABLED (tls_disable = true): both ports serve plain HTTP. Tokens, unseal \
             shares and secret values cross the network in the clear, and anyone who reaches the \
             cluster port can take part in Raft. Never run a cluster like this with real secrets."
        );
        return Ok(None);
    }
    let tls = config.tls.as_ref().ok_or(ServerError::TlsMissing)?;
    let files =
        TlsFiles::load(tls).map_err(|e| ServerError::TlsFiles { field: e.field(), source: e })?;
    let days_left = (files.not_after - crate::clock::wall_ms() as i64 / 1000) / 86_400;
    tracing::info!(cert = %tls.cert_file.display(), ca = %tls.ca_file.display(), days_left, "TLS on both ports; mutual TLS on the cluster port");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&tls.key_file) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(key = %tls.key_file.display(), mode = format!("{mode:o}"), "the node's private key is readable by others than its owner: chmod 600 it");
            }
        }
    }
    if days_left < 30 {
        tracing::warn!(days_left, cert = %tls.cert_file.display(), "the node certificate expires soon");
    }
    Ok(Some(files))
}

/// openraft's configuration from ours.
pub fn raft_config(config: &Config) -> Result<openraft::Config, ServerError> {
    let r = &config.raft;
    let c = openraft::Config {
        cluster_name: "ass".into(),
        heartbeat_interval: r.heartbeat_ms,
        election_timeout_min: r.election_timeout_min_ms,
        election_timeout_max: r.election_timeout_max_ms,
        install_snapshot_timeout: 10_000,
        // Snapshots are triggered by `schedule_snapshots`, at an interval sized by the state.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: r.keep_logs,
        // Purge in batches, but never wait for more entries than a snapshot covers.
        purge_batch_size: r.snapshot_every.clamp(1, 256),
        max_payload_entries: 512,
        ..Default::default()
    };
    c.validate().map_err(|e| ServerError::RaftConfig(Box::new(e)))
}

/// Runs one node on the given listeners until `shutdown` resolves.
pub async fn run(
    config: Config,
    api_listener: TcpListener,
    cluster_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let tls = load_tls(&config)?;
    let store = Store::open(&config.data_dir).step("opening the data directory")?;
    let http_client = PeerHttp::new(tls.as_ref())?;
    let clock = Arc::new(LeaderClock::new(config.auth.max_clock_skew_ms));
    let network = Network::new(http_client.clone());
    let peer_contacts = network.contacts();
    let state_machine = StateMachine::new(store.clone(), clock.clone());
    let snapshot_entries = state_machine.snapshot_entries();
    let log_store = LogStore::open(&store, &config.data_dir).step("opening the raft log")?;
    let wal = log_store.clone();
    let raft = Raft::new(
        config.node_id,
        Arc::new(raft_config(&config)?),
        network,
        log_store,
        state_machine,
    )
    .await
    .step("starting raft")?;
    let audit = if config.audit.enabled {
        crate::audit::AuditLog::open(
            &config.data_dir.join("audit"),
            config.node_id,
            Duration::from_millis(config.audit.write_timeout_ms),
            if config.audit.fsync_every_batch {
                crate::audit::store::Sync::EveryBatch
            } else {
                crate::audit::store::Sync::Interval(Duration::from_millis(
                    config.audit.fsync_interval_ms,
                ))
            },
        )
        .step("opening the audit log")?
    } else {
        let warning = "AUDIT LOG DISABLED ([audit] enabled = false): this node records no \
                       access at all. For benchmarks only; never in production.";
        tracing::warn!("!!! {warning}");
        eprintln!("!!! {warning}");
        crate::audit::AuditLog::disabled()
    };
    let mut node = Node::new(config.clone(), raft.clone(), store.clone(), http_client, clock)
        .with_audit(audit)
        .with_peer_contacts(peer_contacts);
    if config.seal.kind == crate::config::SealKind::Pkcs11 {
        // Off the runtime's workers: the vendor library blocks, and retries sleep.
        let settings = config.seal.clone();
        let hsm =
            tokio::task::spawn_blocking(move || crate::seal::pkcs11::Hsm::open_retrying(&settings))
                .await
                .step("HSM open task")?
                .step("[seal] type = \"pkcs11\": the HSM can't be used, the node does not start")?;
        tracing::info!(hsm = %hsm.name, "HSM ready: this node unseals itself (auto-unseal)");
        node = node.with_hsm(hsm);
    }
    let node = Arc::new(node);

    let api = http::router(node.clone());
    let cluster = crate::cluster::router(node.clone(), api.clone());
    let (api_tls, cluster_tls) = match &tls {
        Some(files) => {
            for port in ["api", "cluster"] {
                node.metrics().tls_cert_not_after.with_label_values(&[port]).set(files.not_after);
            }
            (
                Some(files.api_server().step("API port TLS config")?),
                Some(files.cluster_server().step("cluster port TLS config")?),
            )
        }
        None => (None, None),
    };
    // Read before the ports open: a peer may replicate the cluster's first entry here as soon
    // as they do, and that is not a restart.
    let had_raft_state = raft.is_initialized().await.step("reading raft state")?;
    // The API port stops first (the node drains its clients), the cluster port last (Raft
    // keeps serving the drain).
    let (stop_api_tx, stop_api_rx) = tokio::sync::watch::channel(false);
    let (stop_cluster_tx, stop_cluster_rx) = tokio::sync::watch::channel(false);
    let failures = |port| Port {
        name: port,
        handshake_failures: node.metrics().tls_handshake_failures.with_label_values(&[port]),
        proxy: None,
        on_refusal: None,
    };
    let mut api_port = Port {
        on_refusal: Some(crate::http::audit_layer::refusal_recorder(node.clone())),
        ..failures("api")
    };
    if !config.api.proxy_protocol_from.is_empty() {
        api_port.proxy = Some(crate::tls::proxy_protocol::ProxyProtocol::new(
            &config.api.proxy_protocol_from,
            node.metrics().proxy_protocol_rejected.clone(),
        ));
    }
    let mut api_task = tokio::spawn(serve(api_listener, api, api_tls, api_port, stop_api_rx));
    let mut cluster_task = tokio::spawn(serve(
        cluster_listener,
        cluster,
        cluster_tls,
        failures("cluster"),
        stop_cluster_rx,
    ));

    form_cluster(&raft, &config, had_raft_state).await?;
    crate::autopilot::load_marker(&node);
    let tasks = [
        tokio::spawn(tick_when_idle(node.clone())),
        tokio::spawn(sweep_dead_tokens(node.clone())),
        tokio::spawn(keep_seal_role(node.clone())),
        tokio::spawn(prune_request_ids(node.clone())),
        tokio::spawn(stop_on_fatal(raft.clone())),
        tokio::spawn(audit_retention(node.clone())),
        tokio::spawn(schedule_snapshots(
            raft.clone(),
            config.raft.snapshot_every,
            snapshot_entries,
        )),
        tokio::spawn(crate::autopilot::watch_membership(node.clone())),
        tokio::spawn(crate::autopilot::cleanup_dead_servers(node.clone())),
    ];
    tracing::info!(node_id = config.node_id, api = %config.api_addr, cluster = %config.cluster_addr, "node running (sealed)");
    // After that line: with an HSM the node unseals itself next, and says so.
    let auto_unseal = tokio::spawn(crate::seal::auto::keep_unsealed(node.clone()));

    shutdown.await;
    let stopping = std::time::Instant::now();
    let drain = Duration::from_millis(config.shutdown.drain_timeout_ms);
    tracing::info!(
        drain_timeout_ms = config.shutdown.drain_timeout_ms,
        "shutting down (a second SIGTERM/SIGINT exits at once)"
    );
    // 1. A leader hands over first, while it still serves: what arrives meanwhile waits and
    //    is answered by the successor.
    node.start_draining();
    if node.is_leader() && !node.is_sealed() {
        let bound = Duration::from_millis(config.shutdown.handover_timeout_ms);
        match crate::handover::transfer(&node, bound).await {
            Ok(h) => tracing::info!(
                new_leader = h.new_leader,
                took_ms = h.took.as_millis() as u64,
                "leadership handed over"
            ),
            Err(e) => tracing::warn!(error = %e, "stopping without a handover"),
        }
    }
    node.reconcile_seal_role();
    // 2. No new API connections; requests in flight finish (bounded); idle keep-alive
    //    connections are closed.
    let _ = stop_api_tx.send(true);
    if tokio::time::timeout(drain, &mut api_task).await.is_err() {
        tracing::warn!(
            drain_timeout_ms = config.shutdown.drain_timeout_ms,
            "requests still running at the drain bound were cut off"
        );
        api_task.abort();
    }
    // 3. Raft and the background tasks stop; then the cluster port, closing peer connections.
    for t in &tasks {
        t.abort();
    }
    auto_unseal.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), raft.shutdown()).await;
    let _ = stop_cluster_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(2), &mut cluster_task).await.is_err() {
        cluster_task.abort();
    }
    // 4. The log and the state machine on disk; the keys out of memory.
    wal.sync_now().await.step("final sync of the raft log")?;
    store.flush().await.step("final flush of the state machine")?;
    node.set_barrier(None);
    tracing::info!(
        took_ms = stopping.elapsed().as_millis() as u64,
        "shutdown complete: log synced, state flushed, keys zeroized"
    );
    Ok(())
}

/// Forms the cluster on the very first start: a node with an empty log proposes the
/// configured membership. Every member proposing the same one is safe (openraft makes the same
/// first entry everywhere); a node that already has a log never re-initializes.
/// `had_raft_state`: the log held a membership when the node opened it (a restart).
async fn form_cluster(
    raft: &Raft,
    config: &Config,
    had_raft_state: bool,
) -> Result<(), ServerError> {
    if had_raft_state {
        tracing::info!("raft state found: rejoining the cluster");
        return Ok(());
    }
    if raft.is_initialized().await.step("reading raft state")? {
        tracing::info!("first start: a peer formed the cluster first; joining it");
        return Ok(());
    }
    if !config.bootstrap {
        tracing::info!("bootstrap = false: waiting to be added to a running cluster");
        return Ok(());
    }
    let members: BTreeMap<u64, NodeInfo> = config
        .peers
        .iter()
        .map(|p| {
            (p.id, NodeInfo { api_addr: p.api_addr.clone(), cluster_addr: p.cluster_addr.clone() })
        })
        .collect();
    match raft.initialize(members).await {
        Ok(()) => tracing::info!("formed a new cluster"),
        Err(e) => tracing::info!(error = %e, "cluster already formed elsewhere"),
    }
    Ok(())
}

/// How long the log may stay idle before the leader writes a `Tick` with its time.
const TICK_AFTER_IDLE: Duration = Duration::from_secs(3);

/// On the leader: writes a `Tick` when nothing else carried leader time for a while, so every
/// node's view of cluster time (token expiry) stays fresh.
async fn tick_when_idle(node: Arc<Node>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        if !node.is_leader()
            || node.handing_over()
            || node.is_sealed()
            || node.clock().age().is_some_and(|age| age < TICK_AFTER_IDLE)
        {
            continue;
        }
        let tick = crate::command::Request {
            request_id: *uuid::Uuid::new_v4().as_bytes(),
            time_ms: crate::clock::wall_ms(),
            cmd: crate::command::Command::Tick,
        };
        if let Err(e) = node.write(tick).await {
            tracing::debug!(error = %e, "tick not written");
        }
    }
}

/// Most tokens one sweep command removes (bounds the entry's size).
const SWEEP_BATCH: usize = 1000;

/// On the leader: removes tokens dead (expired, revoked, or of a revoked agent) for longer
/// than `[auth] dead_token_retention_ms` of cluster time (default an hour), through Raft so
/// every node agrees; the apply judges each one again. Looks once a minute, or once per
/// retention when that is shorter.
async fn sweep_dead_tokens(node: Arc<Node>) {
    let retention_ms = node.config().auth.dead_token_retention_ms;
    let every = Duration::from_millis(retention_ms.clamp(1000, 60_000));
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        if !node.is_leader() || node.handing_over() || node.is_sealed() {
            continue;
        }
        let dead_before_ms = node.clock().now_ms().saturating_sub(retention_ms);
        let accessors = match node.state().identity.sweepable(dead_before_ms, SWEEP_BATCH) {
            Ok(a) if a.is_empty() => continue,
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "listing dead tokens failed");
                continue;
            }
        };
        let sweep = crate::command::Request {
            request_id: *uuid::Uuid::new_v4().as_bytes(),
            time_ms: crate::clock::wall_ms(),
            cmd: crate::command::Command::SweepTokens { accessors, dead_before_ms },
        };
        match node.write(sweep).await {
            Ok(c) => {
                if let crate::command::Response::Swept { tokens } = c.response {
                    node.metrics().tokens_swept.inc_by(tokens);
                    tracing::info!(tokens, "dead tokens swept");
                }
            }
            Err(e) => tracing::debug!(error = %e, "token sweep not written"),
        }
    }
}

/// Keeps the leadership role in step with the seal state; the seal and unseal handlers
/// reconcile at once, this catches the init arriving by replication.
async fn keep_seal_role(node: Arc<Node>) {
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    loop {
        interval.tick().await;
        node.reconcile_seal_role();
        node.refresh_keyring();
    }
}

/// Drops remembered request ids older than the dedupe window, measured in applied leader
/// time. Local housekeeping, not a replicated change: apply ignores entries outside the
/// window, and every later entry carries a later leader time, so pruning changes no answer.
async fn prune_request_ids(node: Arc<Node>) {
    let mut interval = tokio::time::interval(Duration::from_secs(300));
    loop {
        interval.tick().await;
        // Applied leader time, never this node's clock: a retry applied later carries a later
        // time, so whatever is pruned here is already outside its window.
        let applied = node.state().leader_time_ms().unwrap_or(0);
        let cutoff = applied.saturating_sub(crate::state::DEDUPE_WINDOW_MS);
        match crate::state::prune_requests(node.store(), cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(pruned = n, "old request ids pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning request ids failed"),
        }
    }
}

/// Audit retention: cuts events past `[audit] max_age` / `max_bytes` behind a MACed
/// checkpoint. Needs the root-derived key, so it waits while the node is sealed.
async fn audit_retention(node: Arc<Node>) {
    let cfg = node.config().audit.clone();
    let max_bytes = (cfg.max_bytes > 0).then_some(cfg.max_bytes);
    let mut interval = tokio::time::interval(Duration::from_millis(cfg.prune_interval_ms));
    loop {
        interval.tick().await;
        if let Err(e) = node.audit().prune(cfg.max_age(), max_bytes).await {
            tracing::warn!(error = %e, "audit retention failed; will retry");
        }
    }
}

/// Triggers a snapshot once the entries applied since the last one reach
/// [`snapshot_interval`] (at least `raft.snapshot_every`, growing with the state), on every
/// node for itself, as openraft's own `LogsSinceLast` policy would with a fixed count.
async fn schedule_snapshots(raft: Raft, min_every: u64, last_entries: Arc<AtomicU64>) {
    let mut metrics = raft.metrics();
    // The snapshot index a build was asked at, so one build is asked for once, not per apply.
    let mut asked_at: Option<(u64, std::time::Instant)> = None;
    loop {
        if metrics.changed().await.is_err() {
            return;
        }
        let (applied, snapshot) = {
            let m = metrics.borrow();
            (m.last_applied.map_or(0, |l| l.index + 1), m.snapshot.map_or(0, |l| l.index + 1))
        };
        let due = applied.saturating_sub(snapshot)
            >= snapshot_interval(min_every, last_entries.load(Ordering::Relaxed));
        let waiting = asked_at
            .is_some_and(|(at, when)| at == snapshot && when.elapsed() < SNAPSHOT_ASK_AGAIN_AFTER);
        if due && !waiting {
            asked_at = Some((snapshot, std::time::Instant::now()));
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
        }
    }
}

/// How long a build that was asked for may take before it is asked for again (openraft
/// ignores the ask while one is running, so a repeat only matters if one was lost).
const SNAPSHOT_ASK_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A fatal Raft error (storage failure, a broken invariant) stops the node loudly instead of
/// leaving it up and answering 503 forever; the supervisor restarts it and Raft recovers from
/// the durable log.
async fn stop_on_fatal(raft: Raft) {
    let mut metrics = raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow().running_state {
            tracing::error!(error = %fatal, "raft stopped with a fatal error; exiting");
            std::process::exit(70);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
