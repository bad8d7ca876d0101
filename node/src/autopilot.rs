//! Autopilot: member health for rolling restarts (`GET /v1/sys/autopilot/state`), the
//! removed-node guard, and the opt-in dead-server cleanup.
//!
//! ```text
//!  leader ──/internal/node-state──> every member: sealed? applied? removed?
//!     └─> AutopilotState: per server healthy (answering, unsealed, lag ≤ max_trailing_logs,
//!         heard from lately), failure_tolerance, safe_to_restart_one
//!  leader, every second, with [autopilot] cleanup_dead_servers = true:
//!     a voter unheard of for dead_server_last_contact_threshold_ms is removed, one at a time,
//!     only if voters − 1 ≥ min_quorum and the healthy voters are a quorum of what remains;
//!     each removal is audited (actor `autopilot`) and counted (ass_autopilot_dead_servers_removed_total)
//!  removed node: told by the leader (/internal/removed) or seeing itself outside the
//!     membership ──> DATA_DIR/removed marker, health 530, never campaigns
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ass_client::types::{AutopilotServer, AutopilotState};
use serde::{Deserialize, Serialize};

use crate::node::Node;
use crate::raft::types::NodeId;

/// Cluster-port route answering this node's [`NodeState`].
pub const PATH_NODE_STATE: &str = "/internal/node-state";
/// Cluster-port route where the leader tells a node it was removed (body: the membership
/// log index that removed it, postcard).
pub const PATH_REMOVED: &str = "/internal/removed";
/// The marker a removed node keeps in its data directory (the membership index, decimal).
const REMOVED_MARKER: &str = "removed";

/// Why an autopilot step failed.
#[derive(Debug, thiserror::Error)]
pub enum AutopilotError {
    #[error("this node is not the leader")]
    NotLeader,
    #[error("removal marker: {0}")]
    Marker(#[from] std::io::Error),
}

/// What a member says about itself to the leader's probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub sealed: bool,
    pub applied_index: u64,
    pub removed: bool,
    pub draining: bool,
}

/// This node's own [`NodeState`].
pub fn node_state(node: &Node) -> NodeState {
    NodeState {
        sealed: node.is_sealed(),
        applied_index: node.applied_index(),
        removed: node.is_removed(),
        draining: node.is_draining(),
    }
}

/// How long the leader may go without an answer from a member before it flags it
/// unreachable: four times the longest election timeout (3.2 s by default, as before the
/// timeouts were halved in decision 32), so a slow heartbeat or two never flags a live member.
pub fn unreachable_after(node: &Node) -> Duration {
    Duration::from_millis(4 * node.config().raft.election_timeout_max_ms)
}

/// The bound within which the leader must have heard from a member for it to be healthy.
fn contact_bound(node: &Node) -> Duration {
    match node.config().autopilot.last_contact_threshold_ms {
        0 => unreachable_after(node),
        ms => Duration::from_millis(ms),
    }
}

/// The cluster's health as the leader sees it, probing every member's seal state.
pub async fn state(node: &Node) -> Result<AutopilotState, AutopilotError> {
    let m = node.raft().metrics().borrow().clone();
    if m.current_leader != Some(node.id()) {
        return Err(AutopilotError::NotLeader);
    }
    let membership = m.membership_config.membership().clone();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let matched = m.replication.clone().unwrap_or_default();
    let last = m.last_log_index.unwrap_or(0);
    let bound = contact_bound(node);
    let max_lag = node.config().autopilot.max_trailing_logs;
    let probes = membership.nodes().map(|(id, info)| {
        let (id, addr) = (*id, info.cluster_addr.clone());
        async move {
            if id == node.id() {
                return (id, Some(node_state(node)));
            }
            (id, probe(node, &addr).await)
        }
    });
    let answers: BTreeMap<NodeId, Option<NodeState>> =
        futures::future::join_all(probes).await.into_iter().collect();
    let mut servers = Vec::new();
    for (id, info) in membership.nodes() {
        let answer = answers.get(id).cloned().flatten();
        let is_self = *id == node.id();
        let matched_index =
            if is_self { Some(last) } else { matched.get(id).copied().flatten().map(|l| l.index) };
        let lag = matched_index.map(|i| last.saturating_sub(i));
        let since = if is_self { Some(Duration::ZERO) } else { node.peer_contacts().since(*id) };
        let mut problems = Vec::new();
        match &answer {
            None => problems.push("not answering".to_owned()),
            Some(a) => {
                if a.sealed {
                    problems.push("sealed".to_owned());
                }
                if a.removed {
                    problems.push("removed".to_owned());
                }
                if a.draining {
                    problems.push("stopping".to_owned());
                }
            }
        }
        match lag {
            Some(l) if l <= max_lag => {}
            Some(l) => problems.push(format!("{l} entries behind (max_trailing_logs {max_lag})")),
            None => problems.push("no entry replicated yet".to_owned()),
        }
        if since.is_none_or(|d| d > bound) {
            problems.push(format!("not heard from within {} ms", bound.as_millis()));
        }
        let status = if is_self {
            "leader"
        } else if voters.contains(id) {
            "voter"
        } else {
            "non-voter"
        };
        servers.push(AutopilotServer {
            id: *id,
            api_addr: info.api_addr.clone(),
            status: status.to_owned(),
            healthy: problems.is_empty(),
            reachable: answer.is_some(),
            sealed: answer.as_ref().map(|a| a.sealed),
            matched_index,
            lag,
            applied_index: answer.as_ref().map(|a| a.applied_index),
            last_contact_ms: since.map(|d| d.as_millis() as u64),
            problems,
        });
    }
    let quorum = voters.len() as u64 / 2 + 1;
    let healthy_voters =
        servers.iter().filter(|s| s.healthy && voters.contains(&s.id)).count() as u64;
    let failure_tolerance = healthy_voters.saturating_sub(quorum);
    let healthy = servers.iter().all(|s| s.healthy);
    Ok(AutopilotState {
        healthy,
        failure_tolerance,
        safe_to_restart_one: healthy && failure_tolerance >= 1,
        leader: node.id(),
        voters,
        quorum,
        last_index: last,
        servers,
        cleanup_dead_servers: node.config().autopilot.cleanup_dead_servers,
    })
}

async fn probe(node: &Node, cluster_addr: &str) -> Option<NodeState> {
    let resp = node
        .peer()
        .post(cluster_addr, PATH_NODE_STATE)
        .timeout(Duration::from_millis(1000))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    crate::storage::decode(&resp.bytes().await.ok()?).ok()
}

/// Loads the removal marker at start: a node removed before its restart stays removed until
/// a newer membership that lists it arrives.
pub fn load_marker(node: &Node) {
    let path = node.config().data_dir.join(REMOVED_MARKER);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let index = text.trim().parse::<u64>().unwrap_or(0);
        let m = node.raft().metrics().borrow().clone();
        let membership_index = m.membership_config.log_id().map_or(0, |l| l.index);
        let listed = m.membership_config.membership().get_node(&node.id()).is_some();
        if listed && membership_index > index {
            let _ = std::fs::remove_file(&path);
        } else {
            set_removed(node, true);
        }
    }
}

/// Marks this node removed (or, `false`, back in the cluster).
fn set_removed(node: &Node, removed: bool) {
    if node.set_removed(removed) != removed {
        if removed {
            tracing::warn!(
                "this node was removed from the cluster: its health check answers 530 and it \
                 never campaigns; take it out of the load balancer and stop it"
            );
        } else {
            tracing::info!("this node is a member again");
        }
    }
    node.metrics().removed.set(i64::from(removed));
    node.reconcile_seal_role();
}

/// Records that the membership entry at `index` removed this node.
pub fn mark_removed(node: &Node, index: u64) -> Result<(), AutopilotError> {
    let path = node.config().data_dir.join(REMOVED_MARKER);
    if !node.is_removed() {
        std::fs::write(&path, format!("{index}\n"))?;
    }
    set_removed(node, true);
    Ok(())
}

/// Every 250 ms on every node: a node that sees itself outside an initialized membership
/// marks itself removed; a removed node listed by a newer membership is a member again.
///
/// Only after it was listed once in this run: a joining node replays memberships from before
/// it was added, which do not list it either.
pub async fn watch_membership(node: Arc<Node>) {
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    let mut seen_listed = false;
    loop {
        interval.tick().await;
        let m = node.raft().metrics().borrow().clone();
        let Some(log_id) = m.membership_config.log_id() else { continue };
        let listed = m.membership_config.membership().get_node(&node.id()).is_some();
        seen_listed |= listed;
        let removed = node.is_removed();
        if !listed && !removed && seen_listed {
            if let Err(e) = mark_removed(&node, log_id.index) {
                tracing::warn!(error = %e, "could not record the removal");
            }
        } else if listed && removed {
            let marker = std::fs::read_to_string(node.config().data_dir.join(REMOVED_MARKER))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if log_id.index > marker {
                let _ = std::fs::remove_file(node.config().data_dir.join(REMOVED_MARKER));
                set_removed(&node, false);
            }
        }
    }
}

/// After a removal committed on the leader: tells the removed node (best effort; it also
/// notices by itself once it sees the new membership).
pub async fn tell_removed(node: &Node, cluster_addr: &str, index: u64) {
    let Ok(body) = crate::storage::encode(&index) else { return };
    let sent = node
        .peer()
        .post(cluster_addr, PATH_REMOVED)
        .timeout(Duration::from_secs(1))
        .body(body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::info!(error = %e, cluster_addr, "the removed node could not be told (it may be down)");
    }
}

/// The dead-server cleanup rule on one leader's view: which voter (if any) to remove now.
/// `unheard` gives, for each voter but the leader, how long it has been unreachable.
pub fn dead_voter_to_remove(
    voters: &[NodeId],
    unheard: &BTreeMap<NodeId, Duration>,
    healthy_within: Duration,
    dead_after: Duration,
    min_quorum: usize,
) -> Option<NodeId> {
    let remaining = voters.len().checked_sub(1)?;
    if remaining < min_quorum {
        return None;
    }
    // The leader itself is healthy; a voter is healthy if heard from within the bound.
    let healthy =
        voters.iter().filter(|v| unheard.get(v).is_none_or(|d| *d <= healthy_within)).count();
    let quorum_after = remaining / 2 + 1;
    if healthy < quorum_after {
        return None;
    }
    voters
        .iter()
        .filter_map(|v| unheard.get(v).filter(|d| **d > dead_after).map(|d| (*d, *v)))
        .max()
        .map(|(_, v)| v)
}

/// On the leader, with `[autopilot] cleanup_dead_servers = true`: removes dead voters by
/// [`dead_voter_to_remove`], audited and counted.
pub async fn cleanup_dead_servers(node: Arc<Node>) {
    let cfg = node.config().autopilot.clone();
    if !cfg.cleanup_dead_servers {
        return;
    }
    let dead_after = Duration::from_millis(cfg.dead_server_last_contact_threshold_ms);
    let mut leading_since: Option<Instant> = None;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        if !node.is_leader() || node.is_sealed() || node.handing_over() {
            leading_since = None;
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        let m = node.raft().metrics().borrow().clone();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        // A voter never heard from since this node took over counts from that moment.
        let unheard: BTreeMap<NodeId, Duration> = voters
            .iter()
            .filter(|v| **v != node.id())
            .map(|v| (*v, node.peer_contacts().since(*v).unwrap_or_else(|| since.elapsed())))
            .collect();
        let Some(victim) = dead_voter_to_remove(
            &voters,
            &unheard,
            contact_bound(&node),
            dead_after,
            cfg.min_quorum,
        ) else {
            continue;
        };
        let unheard_ms = unheard.get(&victim).map_or(0, |d| d.as_millis() as u64);
        let change = openraft::ChangeMembers::RemoveVoters([victim].into_iter().collect());
        match node.raft().change_membership(change, false).await {
            Ok(resp) => {
                node.metrics().autopilot_dead_servers_removed.inc();
                tracing::warn!(
                    removed = victim,
                    unheard_ms,
                    voters_left = voters.len() - 1,
                    "autopilot removed a dead voter ([autopilot] cleanup_dead_servers)"
                );
                record_removal(&node, victim).await;
                let addr = m
                    .membership_config
                    .membership()
                    .get_node(&victim)
                    .map(|n| n.cluster_addr.clone());
                if let Some(addr) = addr {
                    tell_removed(&node, &addr, resp.log_id.index).await;
                }
            }
            Err(e) => {
                // The change may have committed although this call saw an error (leadership
                // or a response lost on the way): if the victim is gone, it was this removal.
                let gone = !node
                    .raft()
                    .metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .voter_ids()
                    .any(|v| v == victim);
                if gone {
                    node.metrics().autopilot_dead_servers_removed.inc();
                    tracing::warn!(removed = victim, unheard_ms, error = %e, "autopilot removed a dead voter (its answer was lost)");
                    record_removal(&node, victim).await;
                } else {
                    tracing::warn!(error = %e, voter = victim, "autopilot could not remove a dead voter")
                }
            }
        }
    }
}

/// The audit event of one autopilot removal (actor `autopilot`).
async fn record_removal(node: &Node, victim: NodeId) {
    let event = crate::audit::AuditRecord {
        method: "DELETE".to_owned(),
        path: format!("/v1/sys/members/{victim}"),
        result: "ok".to_owned(),
        status: 200,
        client: "local".to_owned(),
        ..crate::audit::AuditRecord::new(
            node.id(),
            uuid::Uuid::new_v4().to_string(),
            "autopilot",
            "sys.autopilot.remove_dead_server",
        )
    };
    if let Err(e) = node.audit().record(event).await {
        node.metrics().audit_failures.inc();
        tracing::error!(error = %e, "the autopilot removal could not be audited");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unheard(pairs: &[(u64, u64)]) -> BTreeMap<NodeId, Duration> {
        pairs.iter().map(|(id, s)| (*id, Duration::from_secs(*s))).collect()
    }

    const HEALTHY: Duration = Duration::from_secs(3);
    const DEAD: Duration = Duration::from_secs(60);

    #[test]
    fn removes_the_longest_dead_voter_while_a_healthy_quorum_remains() {
        let voters = [1, 2, 3, 4, 5];
        // Node 4 dead for 2 min, node 5 for 90 s: 4 first; 3 healthy of 4 left is a quorum.
        let u = unheard(&[(2, 0), (3, 0), (4, 120), (5, 90)]);
        assert_eq!(dead_voter_to_remove(&voters, &u, HEALTHY, DEAD, 3), Some(4));
    }

    #[test]
    fn never_below_min_quorum() {
        let voters = [1, 2, 3];
        let u = unheard(&[(2, 0), (3, 600)]);
        assert_eq!(dead_voter_to_remove(&voters, &u, HEALTHY, DEAD, 3), None);
        assert_eq!(dead_voter_to_remove(&voters, &u, HEALTHY, DEAD, 2), Some(3));
    }

    #[test]
    fn not_dead_long_enough_is_kept() {
        let voters = [1, 2, 3];
        let u = unheard(&[(2, 0), (3, 30)]);
        assert_eq!(dead_voter_to_remove(&voters, &u, HEALTHY, DEAD, 1), None);
    }

    #[test]
    fn no_removal_without_a_healthy_quorum_of_what_remains() {
        // 5 voters, 3 unreachable: 2 healthy (leader + node 2) are no quorum of 4.
        let voters = [1, 2, 3, 4, 5];
        let u = unheard(&[(2, 0), (3, 100), (4, 100), (5, 100)]);
        assert_eq!(dead_voter_to_remove(&voters, &u, HEALTHY, DEAD, 1), None);
    }
}
