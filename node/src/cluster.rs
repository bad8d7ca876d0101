//! The cluster port: Raft RPC from peers, the leader's read index, forwarded writes, and
//! the audit fan-out (every member answers queries, tails and checks of its own log).
//! Bodies are postcard (see [`crate::storage::encode`]); clients never talk to this port.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

use crate::audit::fanout;
use crate::http::forward::{self, ForwardedRequest, PATH_FORWARD};
use crate::node::{Node, ProposeError, WriteError, PATH_PROPOSE};
use crate::raft::network::{PATH_APPEND, PATH_SNAPSHOT, PATH_VOTE};
use crate::raft::read_index::PATH_READ_INDEX;
use crate::storage::{decode, encode};

#[derive(Clone)]
struct ClusterState {
    node: Arc<Node>,
    api: Router,
}

/// The cluster-port router; `api` is the node's API router, for forwarded writes.
pub fn router(node: Arc<Node>, api: Router) -> Router {
    Router::new()
        .route(PATH_APPEND, post(append))
        .route(PATH_VOTE, post(vote))
        .route(PATH_SNAPSHOT, post(snapshot))
        .route(PATH_READ_INDEX, post(read_index))
        .route(PATH_FORWARD, post(forwarded))
        .route(PATH_PROPOSE, post(propose))
        .route(
            fanout::PATH_QUERY,
            post(|State(s): State<ClusterState>, b: Bytes| async move {
                reply(&fanout::answer_query(s.node, &b).await)
            }),
        )
        .route(
            fanout::PATH_TAIL,
            post(|State(s): State<ClusterState>, b: Bytes| async move {
                reply(&fanout::answer_tail(s.node, &b).await)
            }),
        )
        .route(
            fanout::PATH_VERIFY,
            post(|State(s): State<ClusterState>| async move {
                reply(&fanout::answer_verify(s.node).await)
            }),
        )
        .route(PATH_STATE_DIGEST, get(state_digest))
        .route(crate::handover::PATH_CAMPAIGN, post(campaign))
        .route(crate::autopilot::PATH_NODE_STATE, post(node_state))
        .route(crate::autopilot::PATH_REMOVED, post(removed))
        .route(
            crate::posture::service::PATH_POSTURE,
            post(|State(s): State<ClusterState>| async move {
                let me: Result<_, String> = Ok(crate::posture::service::member_self(&s.node));
                reply(&me)
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(ClusterState { node, api })
}

/// `GET` on the cluster port: `{"applied_index": N, "digest": "<sha256 hex>"}` of this node's
/// replicated state (see [`crate::raft::state_machine::state_digest`]). Used by the chaos
/// suite to check that every node converged; it reveals hashes of ciphertext only.
pub const PATH_STATE_DIGEST: &str = "/internal/state-digest";

async fn state_digest(State(s): State<ClusterState>) -> Response {
    match crate::raft::state_machine::state_digest(s.node.store()) {
        Ok((applied_index, digest)) => axum::Json(serde_json::json!({
            "applied_index": applied_index,
            "digest": digest,
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn reply<T: serde::Serialize>(value: &T) -> Response {
    match encode(value) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn bad_body(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("undecodable cluster RPC body: {e}")).into_response()
}

async fn append(State(s): State<ClusterState>, body: Bytes) -> Response {
    let req = match decode(&body) {
        Ok(r) => r,
        Err(e) => return bad_body(e),
    };
    let result = s.node.raft().append_entries(req).await;
    if matches!(&result, Ok(r) if r.is_success()) {
        s.node.note_leader_contact();
    }
    reply(&result)
}

async fn vote(State(s): State<ClusterState>, body: Bytes) -> Response {
    match decode(&body) {
        Ok(req) => reply(&s.node.raft().vote(req).await),
        Err(e) => bad_body(e),
    }
}

async fn snapshot(State(s): State<ClusterState>, body: Bytes) -> Response {
    match decode(&body) {
        Ok(req) => reply(&s.node.raft().install_snapshot(req).await),
        Err(e) => bad_body(e),
    }
}

async fn read_index(State(s): State<ClusterState>) -> Response {
    let handing_over = s.node.is_stepping_down();
    let result = if handing_over
        || (s.node.is_sealed() && matches!(s.node.state().seal.config(), Ok(Some(_))))
    {
        // A sealed or handing-over leader confirms nothing: its heartbeats would keep it in
        // office. The asking node retries, and finds the successor.
        let why = if handing_over { "the leader is handing over" } else { "the leader is sealed" };
        Err(crate::raft::read_index::ReadIndexError::NotConfirmed(why.into()))
    } else if s.node.is_leader() {
        s.node.read_index().read_index().await
    } else {
        Err(crate::raft::read_index::ReadIndexError::NoLeader)
    };
    reply(&result)
}

async fn forwarded(State(s): State<ClusterState>, body: Bytes) -> Response {
    let envelope: ForwardedRequest = match decode(&body) {
        Ok(e) => e,
        Err(e) => return bad_body(e),
    };
    let req = match forward::rebuild(envelope) {
        Ok(r) => r,
        Err(e) => return bad_body(e),
    };
    let resp = match s.api.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    reply(&forward::pack(resp).await)
}

async fn propose(State(s): State<ClusterState>, body: Bytes) -> Response {
    let req = match decode(&body) {
        Ok(r) => r,
        Err(e) => return bad_body(e),
    };
    let result = match s.node.write(req).await {
        Ok(c) => Ok((c.index, c.response, c.replayed)),
        Err(WriteError::NotLeader { .. }) => Err(ProposeError::NotLeader),
        Err(WriteError::Raft(e)) => Err(ProposeError::Raft(e.to_string())),
        Err(WriteError::Replayed) => Err(ProposeError::Raft("replayed".into())),
    };
    reply(&result)
}

/// The leader's handover asks this node to campaign now (see [`crate::handover`]).
async fn campaign(State(s): State<ClusterState>) -> Response {
    match crate::handover::campaign(&s.node).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(why) => (StatusCode::CONFLICT, why).into_response(),
    }
}

/// This node's seal state, applied index and removal, for the leader's autopilot probe.
async fn node_state(State(s): State<ClusterState>) -> Response {
    reply(&crate::autopilot::node_state(&s.node))
}

/// The leader tells this node that the membership entry at the given index removed it.
async fn removed(State(s): State<ClusterState>, body: Bytes) -> Response {
    let index: u64 = match decode(&body) {
        Ok(i) => i,
        Err(e) => return bad_body(e),
    };
    // Only believe it if the membership this node knows is older than the removal, or
    // already leaves it out: a stale message must not retire a member that was re-added.
    let m = s.node.raft().metrics().borrow().clone();
    let known = m.membership_config.log_id().map_or(0, |l| l.index);
    let listed = m.membership_config.membership().get_node(&s.node.id()).is_some();
    if listed && known > index {
        return (StatusCode::CONFLICT, "a newer membership lists this node").into_response();
    }
    match crate::autopilot::mark_removed(&s.node, index) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
