//! Node-to-node Raft RPC, client side: postcard bodies over HTTP (mutual TLS unless
//! `tls_disable`) to a peer's cluster port, through the one [`PeerHttp`] client.
//!
//! Server side lives in [`crate::cluster`]. A connection failure is `Unreachable`, so openraft
//! backs off instead of hammering a dead peer.

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::AnyError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::peer::PeerHttp;
use crate::raft::types::{NodeId, NodeInfo, TypeConfig};
use crate::storage::{decode, encode};

/// Cluster-port routes.
pub const PATH_APPEND: &str = "/raft/append";
pub const PATH_VOTE: &str = "/raft/vote";
pub const PATH_SNAPSHOT: &str = "/raft/snapshot";

/// When each peer last answered one of this node's Raft RPCs (on the leader: every
/// follower, through heartbeats). Feeds the dead-node report of `GET /v1/sys/members`.
#[derive(Clone, Default)]
pub struct PeerContacts(Arc<Mutex<HashMap<NodeId, Instant>>>);

impl PeerContacts {
    fn record(&self, peer: NodeId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(peer, Instant::now());
    }

    /// How long ago `peer` last answered, if it ever did.
    pub fn since(&self, peer: NodeId) -> Option<Duration> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&peer).map(Instant::elapsed)
    }
}

/// Makes a [`PeerClient`] per target; shares one HTTP connection pool.
#[derive(Clone)]
pub struct Network {
    http: PeerHttp,
    contacts: PeerContacts,
}

impl Network {
    pub fn new(http: PeerHttp) -> Self {
        Self { http, contacts: PeerContacts::default() }
    }

    /// The record of peer answers this network keeps.
    pub fn contacts(&self) -> PeerContacts {
        self.contacts.clone()
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            http: self.http.clone(),
            target,
            addr: node.cluster_addr.clone(),
            contacts: self.contacts.clone(),
        }
    }
}

/// Raft RPC to one peer.
pub struct PeerClient {
    http: PeerHttp,
    target: NodeId,
    /// The peer's cluster address, `host:port`.
    addr: String,
    contacts: PeerContacts,
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, NodeInfo, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let resp = self
            .http
            .post(&self.addr, path)
            .timeout(option.hard_ttl())
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !resp.status().is_success() {
            let msg = format!("peer {} answered HTTP {}", self.target, resp.status());
            return Err(RPCError::Network(NetworkError::new(&AnyError::error(msg))));
        }
        let bytes = resp.bytes().await.map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.contacts.record(self.target);
        let result: Result<Resp, E> =
            decode(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        self.call(PATH_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeInfo, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(PATH_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        self.call(PATH_VOTE, &rpc, &option).await
    }
}
