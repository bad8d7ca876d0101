//! Cluster membership and leadership use cases, called by `http/sys.rs`: the member list
//! (with each member's lag and reachability as the leader sees them), adding a learner,
//! promoting it, removing a member, stepping down and the autopilot state. Each needs
//! `sys:operator`.
//!
//! ```text
//!  list:    raft metrics + peer contacts ──member_view──> lag, last contact, unreachable
//!  add:     add_learner (waits for catch-up, ≤ 60 s) ──> list
//!  promote: change_membership(AddVoterIds) ──> list
//!  remove:  change_membership(RemoveVoters | RemoveNodes) ──> tell the node ──> list
//!  step-down: handover::transfer(bound)   autopilot: autopilot::state
//! ```

use std::time::Duration;

use ass_client::types::{AddMemberRequest, AutopilotState, Member, MembersResponse};

use crate::access::scope::Admin;
use crate::handover::{Handover, HandoverError};
use crate::identity::{AccessError, Caller};
use crate::node::Node;
use crate::raft::types::{NodeId, NodeInfo};

/// How long adding a learner may take to catch it up before the call answers.
const ADD_NODE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a membership or leadership call did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    #[error("give id > 0, api_addr and cluster_addr as host:port")]
    BadMember,
    #[error("a member id is a positive integer")]
    BadId,
    #[error("the new node did not catch up within 60 s")]
    CatchUpTimeout,
    #[error("membership change failed: {0}")]
    Change(String),
    /// This node does not lead; `leader` is the leader's API URL, if known.
    #[error("this node is not the leader")]
    NotLeader { leader: Option<String> },
    #[error(transparent)]
    Handover(HandoverError),
    #[error("{0}")]
    Access(AccessError),
}

fn operator(caller: &Caller) -> Result<(), MembersError> {
    caller.require_admin(Admin::SysOperator).map_err(MembersError::Access)
}

fn not_leader(node: &Node) -> MembersError {
    MembersError::NotLeader { leader: node.leader().map(|(_, n)| n.api_url()) }
}

/// A member id from a path segment: a positive integer.
pub fn parse_id(s: &str) -> Result<NodeId, MembersError> {
    s.parse::<u64>().ok().filter(|i| *i > 0).ok_or(MembersError::BadId)
}

/// What one member's row says about its replication, from where this node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberHealth {
    pub lag: Option<u64>,
    pub last_contact_ms: Option<u64>,
    pub unreachable: Option<bool>,
}

/// The lag, last contact and reachability of member `id`. Only the leader talks to every
/// member; elsewhere these stay empty. The leader itself is 0 behind and reachable.
pub fn member_health(
    on_leader: bool,
    is_self: bool,
    last_log: u64,
    matched_index: Option<u64>,
    since_contact: Option<Duration>,
    bound: Duration,
) -> MemberHealth {
    if !on_leader {
        MemberHealth { lag: None, last_contact_ms: None, unreachable: None }
    } else if is_self {
        MemberHealth { lag: Some(0), last_contact_ms: Some(0), unreachable: Some(false) }
    } else {
        MemberHealth {
            lag: Some(last_log.saturating_sub(matched_index.unwrap_or(0))),
            last_contact_ms: since_contact.map(|d| d.as_millis() as u64),
            unreachable: Some(since_contact.is_none_or(|d| d > bound)),
        }
    }
}

/// The members as this node knows them.
fn member_list(node: &Node) -> MembersResponse {
    let m = node.raft().metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let on_leader = m.current_leader == Some(node.id());
    let matched = m.replication.clone().unwrap_or_default();
    let last_log = m.last_log_index.unwrap_or(0);
    let bound = crate::autopilot::unreachable_after(node);
    let members = membership
        .nodes()
        .map(|(id, info)| {
            let matched_index = matched.get(id).and_then(|l| l.map(|l| l.index));
            let since =
                if on_leader && *id != node.id() { node.peer_contacts().since(*id) } else { None };
            let h =
                member_health(on_leader, *id == node.id(), last_log, matched_index, since, bound);
            Member {
                id: *id,
                api_addr: info.api_addr.clone(),
                cluster_addr: info.cluster_addr.clone(),
                voter: voters.contains(id),
                leader: m.current_leader == Some(*id),
                matched_index,
                lag: h.lag,
                last_contact_ms: h.last_contact_ms,
                unreachable: h.unreachable,
            }
        })
        .collect();
    MembersResponse { members }
}

/// `GET /v1/sys/members`.
pub fn list(node: &Node, caller: &Caller) -> Result<MembersResponse, MembersError> {
    operator(caller)?;
    Ok(member_list(node))
}

/// `POST /v1/sys/members`: adds a node as a learner and waits until it has caught up.
/// Promote it to a voter afterwards.
pub async fn add(
    node: &Node,
    caller: &Caller,
    req: AddMemberRequest,
) -> Result<MembersResponse, MembersError> {
    operator(caller)?;
    if req.id == 0 || !req.api_addr.contains(':') || !req.cluster_addr.contains(':') {
        return Err(MembersError::BadMember);
    }
    let info = NodeInfo { api_addr: req.api_addr, cluster_addr: req.cluster_addr };
    tokio::time::timeout(ADD_NODE_TIMEOUT, node.raft().add_learner(req.id, info, true))
        .await
        .map_err(|_| MembersError::CatchUpTimeout)?
        .map_err(|e| MembersError::Change(e.to_string()))?;
    tracing::info!(id = req.id, "learner added");
    Ok(member_list(node))
}

/// Commits one membership change and answers the new member list.
async fn change_members(
    node: &Node,
    change: openraft::ChangeMembers<u64, NodeInfo>,
    id: u64,
    what: &'static str,
) -> Result<MembersResponse, MembersError> {
    node.raft()
        .change_membership(change, false)
        .await
        .map_err(|e| MembersError::Change(e.to_string()))?;
    tracing::info!(id, "{what}");
    Ok(member_list(node))
}

/// `POST /v1/sys/members/{id}/promote`: makes a learner a voter.
pub async fn promote(
    node: &Node,
    caller: &Caller,
    id: NodeId,
) -> Result<MembersResponse, MembersError> {
    operator(caller)?;
    let change = openraft::ChangeMembers::AddVoterIds([id].into_iter().collect());
    change_members(node, change, id, "member promoted to voter").await
}

/// `DELETE /v1/sys/members/{id}`: removes a voter or a learner, then tells it at once, so it
/// fails its health check and stops campaigning (replication to it stops with the change,
/// so it may never see the new membership).
pub async fn remove(
    node: &Node,
    caller: &Caller,
    id: NodeId,
) -> Result<MembersResponse, MembersError> {
    operator(caller)?;
    let (is_voter, addr) = {
        let metrics = node.raft().metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let is_voter = membership.voter_ids().any(|v| v == id);
        (is_voter, membership.get_node(&id).map(|n| n.cluster_addr.clone()))
    };
    let change = if is_voter {
        openraft::ChangeMembers::RemoveVoters([id].into_iter().collect())
    } else {
        openraft::ChangeMembers::RemoveNodes([id].into_iter().collect())
    };
    let answer = change_members(node, change, id, "member removed").await?;
    if let Some(addr) = addr {
        let index =
            node.raft().metrics().borrow().membership_config.log_id().map_or(0, |l| l.index);
        crate::autopilot::tell_removed(node, &addr, index).await;
    }
    Ok(answer)
}

/// `POST /v1/sys/step-down` (runs on the leader): hands leadership to the most up-to-date
/// live voter (see [`crate::handover`]), within the configured handover bound.
pub async fn step_down(node: &Node, caller: &Caller) -> Result<Handover, MembersError> {
    operator(caller)?;
    let bound = Duration::from_millis(node.config().shutdown.handover_timeout_ms.max(
        // Older configs: at least the five election timeouts this call always allowed.
        node.config().raft.election_timeout_max_ms * 5,
    ));
    match crate::handover::transfer(node, bound).await {
        Ok(h) => {
            tracing::info!(
                new_leader = h.new_leader,
                took_ms = h.took.as_millis() as u64,
                "stepped down"
            );
            Ok(h)
        }
        Err(HandoverError::NotLeader) => Err(not_leader(node)),
        Err(e) => Err(MembersError::Handover(e)),
    }
}

/// `GET /v1/sys/autopilot/state` (answered by the leader): member health, failure tolerance
/// and whether one more node may be restarted now (see [`crate::autopilot`]).
pub async fn autopilot_state(node: &Node, caller: &Caller) -> Result<AutopilotState, MembersError> {
    operator(caller)?;
    crate::autopilot::state(node).await.map_err(|_| not_leader(node))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_millis(3200);

    #[test]
    fn only_the_leader_reports_member_health() {
        let h = member_health(false, false, 10, Some(3), Some(Duration::ZERO), BOUND);
        assert_eq!(h, MemberHealth { lag: None, last_contact_ms: None, unreachable: None });
        let h = member_health(true, true, 10, None, None, BOUND);
        assert_eq!(
            h,
            MemberHealth { lag: Some(0), last_contact_ms: Some(0), unreachable: Some(false) }
        );
    }

    #[test]
    fn a_follower_is_unreachable_past_the_bound_or_never_heard() {
        let h = member_health(true, false, 10, Some(7), Some(Duration::from_millis(40)), BOUND);
        assert_eq!(
            h,
            MemberHealth { lag: Some(3), last_contact_ms: Some(40), unreachable: Some(false) }
        );
        let h = member_health(true, false, 10, Some(10), Some(BOUND), BOUND);
        assert_eq!(h.unreachable, Some(false), "exactly the bound is still reachable");
        let h =
            member_health(true, false, 10, Some(10), Some(BOUND + Duration::from_millis(1)), BOUND);
        assert_eq!(h.unreachable, Some(true));
        let h = member_health(true, false, 10, None, None, BOUND);
        assert_eq!(
            h,
            MemberHealth { lag: Some(10), last_contact_ms: None, unreachable: Some(true) }
        );
        // A follower ahead of what the leader has seen matched is 0 behind, not negative.
        assert_eq!(member_health(true, false, 5, Some(9), None, BOUND).lag, Some(0));
    }

    #[test]
    fn member_ids_are_positive_integers() {
        assert_eq!(parse_id("3").unwrap(), 3);
        for bad in ["0", "-1", "", "x", "1.5", "18446744073709551616"] {
            assert!(matches!(parse_id(bad), Err(MembersError::BadId)), "{bad}");
        }
    }
}
