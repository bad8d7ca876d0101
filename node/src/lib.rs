//! `ass-node`: one node of the Agent Secret Store cluster.
//!
//! ```text
//!  http/ ──> node (read/write paths) ──> raft/ (openraft) ──> state + secrets ──> storage/ (sled)
//!    │                 └──> crypto/ (barrier)            seal/ (init, unseal)
//!    └── cluster (peer port: Raft RPC, read index, forwarded writes; mutual TLS, see tls/)
//! ```
//!
//! Arrows point one way. `raft/` never decrypts; `crypto/` never sees HTTP, Raft or sled.

pub mod access;
pub mod approvals;
pub mod audit;
pub mod autopilot;
pub mod backup;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod config;
pub mod crypto;
pub mod handover;
pub mod http;
pub mod identity;
pub mod members;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod posture;
pub mod raft;
pub mod seal;
pub mod secrets;
pub mod server;
pub mod state;
pub mod storage;
pub mod tls;
