//! openraft's type configuration and the members' addresses. The replicated command set
//! itself is [`crate::command`], above the domain modules it carries payloads of.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Applied, Request};

/// Where a member can be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// HTTP API address, `host:port`.
    pub api_addr: String,
    /// Cluster (Raft RPC) address, `host:port`.
    pub cluster_addr: String,
}

impl NodeInfo {
    /// Base URL of the member's HTTP API, for clients (`https://` unless this process runs
    /// with `tls_disable`).
    pub fn api_url(&self) -> String {
        format!("{}://{}", crate::tls::api_scheme(), self.api_addr)
    }
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "api={} cluster={}", self.api_addr, self.cluster_addr)
    }
}

openraft::declare_raft_types!(
    /// openraft's type configuration for the vault.
    pub TypeConfig:
        D = Request,
        R = Applied,
        NodeId = u64,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;
pub type Snapshot = openraft::storage::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
