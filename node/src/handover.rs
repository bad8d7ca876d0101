//! Leadership handover: `ass operator raft transfer-leader` and the first step of a leader's
//! clean stop.
//!
//! openraft 0.9 has no leader transfer, so the node does it in three steps:
//!
//! ```text
//!  leader: stop proposing (writes wait; reads ask the successor), heartbeats and campaigns off
//!    └─> wait until the most up-to-date live voter has every entry and this node applied them
//!        └─> ask it (cluster port, /internal/campaign) to start an election at once
//!            └─> it wins: its log is complete, and this leader's own vote lease ran out long
//!                ago, so it grants the vote (with 3 voters that is a quorum; with 5 the
//!                other followers' leases run out within an election timeout)
//! ```
//!
//! Nothing new is proposed while the successor catches up, so nothing acknowledged can be
//! lost and no write fails: writes held here are carried to the new leader by the forwarding
//! layer, reads confirm their index with it (see [`crate::raft::read_index`]).

use std::time::{Duration, Instant};

use crate::node::Node;
use crate::raft::types::NodeId;

/// Cluster-port route where a leader asks its chosen successor to campaign.
pub const PATH_CAMPAIGN: &str = "/internal/campaign";

/// Why a handover did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("this node is not the leader")]
    NotLeader,
    #[error("no other voter to hand leadership to")]
    NoOtherVoter,
    #[error("no other voter answered lately")]
    NoLiveVoter,
    #[error("no live follower caught up within {0} ms; this node leads again")]
    NotCaughtUp(u64),
    #[error("no other node took over within {0} ms; this node leads again")]
    Timeout(u64),
}

/// A finished handover.
#[derive(Debug, Clone, Copy)]
pub struct Handover {
    pub new_leader: NodeId,
    /// The successor this node asked to campaign (normally the new leader).
    pub asked: NodeId,
    pub took: Duration,
}

/// Hands leadership to the most up-to-date live voter, within `bound`. On failure this node
/// takes part in elections again (unless it is stopping).
pub async fn transfer(node: &Node, bound: Duration) -> Result<Handover, HandoverError> {
    if !node.is_leader() {
        return Err(HandoverError::NotLeader);
    }
    let voters = node.raft().metrics().borrow().membership_config.membership().voter_ids().count();
    if voters < 2 {
        return Err(HandoverError::NoOtherVoter);
    }
    let started = Instant::now();
    node.set_stepping_down(true);
    node.reconcile_seal_role();
    let result = hand_over(node, started, bound).await;
    node.set_stepping_down(false);
    node.reconcile_seal_role();
    node.metrics().leader_handovers.with_label_values(&[outcome(&result)]).inc();
    result
}

fn outcome(result: &Result<Handover, HandoverError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(HandoverError::NotCaughtUp(_)) => "not_caught_up",
        Err(HandoverError::Timeout(_)) => "timeout",
        Err(HandoverError::NoLiveVoter) => "no_live_voter",
        Err(_) => "refused",
    }
}

async fn hand_over(
    node: &Node,
    started: Instant,
    bound: Duration,
) -> Result<Handover, HandoverError> {
    let deadline = started + bound;
    let bound_ms = bound.as_millis() as u64;
    // Voters that answered a heartbeat within an election timeout before the handover began
    // (heartbeats stop now, so later contact says nothing).
    let live_within = Duration::from_millis(node.config().raft.election_timeout_max_ms);
    let live: Vec<NodeId> = {
        let m = node.raft().metrics().borrow().clone();
        m.membership_config
            .membership()
            .voter_ids()
            .filter(|id| *id != node.id())
            .filter(|id| node.peer_contacts().since(*id).is_some_and(|d| d <= live_within))
            .collect()
    };
    if live.is_empty() {
        return Err(HandoverError::NoLiveVoter);
    }
    let mut live = live;
    let again = Duration::from_millis(node.config().raft.election_timeout_max_ms);
    loop {
        // 1. The successor: the live voter with the most entries, once it has all of them.
        let (target, addr) = loop {
            // No proposal in flight (none can start now: see `Node::write`); read before
            // the metrics, so the last log index below holds every proposal ever answered.
            let quiet = node.proposals_in_flight() == 0;
            let m = node.raft().metrics().borrow().clone();
            if let Some(l) = m.current_leader.filter(|l| *l != node.id()) {
                return Ok(Handover { new_leader: l, asked: l, took: started.elapsed() });
            }
            let last = m.last_log_index.unwrap_or(0);
            let applied = m.last_applied.map_or(0, |l| l.index);
            let matched = m.replication.clone().unwrap_or_default();
            let membership = m.membership_config.membership();
            let best = membership
                .voter_ids()
                .filter(|id| live.contains(id))
                .map(|id| (matched.get(&id).copied().flatten().map_or(0, |l| l.index), id))
                .max();
            if let Some((index, id)) = best {
                if quiet && index >= last && applied >= last {
                    let addr = membership.get_node(&id).map(|n| n.cluster_addr.clone());
                    if let Some(addr) = addr {
                        break (id, addr);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(HandoverError::NotCaughtUp(bound_ms));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // 2. Ask it to campaign; ask again each election timeout until someone else leads.
        //    A successor that refuses (stopping, sealed) or can't be reached is dropped, and
        //    the next best is asked.
        loop {
            let asked = node
                .peer()
                .post(&addr, PATH_CAMPAIGN)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .map(|r| r.status().is_success());
            if !matches!(asked, Ok(true)) {
                tracing::info!(
                    target,
                    "the chosen successor refused or did not answer; trying another"
                );
                live.retain(|id| *id != target);
                if live.is_empty() {
                    return Err(HandoverError::NoLiveVoter);
                }
                break;
            }
            let round = Instant::now() + again;
            while Instant::now() < round.min(deadline) {
                if let Some(l) = node.leader().map(|(id, _)| id).filter(|l| *l != node.id()) {
                    return Ok(Handover { new_leader: l, asked: target, took: started.elapsed() });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if Instant::now() >= deadline {
                return Err(HandoverError::Timeout(bound_ms));
            }
        }
    }
}

/// On the successor: starts an election now, if this node may lead.
pub async fn campaign(node: &Node) -> Result<(), &'static str> {
    if node.is_sealed() {
        return Err("sealed");
    }
    if node.is_draining() || node.is_removed() {
        return Err("stopping or removed");
    }
    if node.is_leader() {
        return Ok(());
    }
    node.raft().trigger().elect().await.map_err(|_| "raft stopped")?;
    tracing::info!("campaigning at the leader's request (leadership handover)");
    Ok(())
}
