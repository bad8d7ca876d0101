//! `ass-node`: one node of the Agent Secret Store cluster.
//!
//! ```text
//!  http/ (API port) · cluster (peer port)   extract → one service call → error → wire code
//!    v
//!  <domain>::service (secrets, identity, approvals, seal, backup, audit, posture, members)
//!    v                          use cases: access, engines, stores, Node::write, barrier
//!  node (handle: read/write paths, role) ──> raft/ ──apply──> state ──> command
//!    v
//!  <domain>::{engine, store, record}   pure decisions · sled reads and applies · stored types
//!    v
//!  access/ (pure)  crypto/ (barrier)  clock  ──>  storage/ (sled, schema, codec)
//! ```
//!
//! Arrows point down only; `tests/docs.rs` fails on an import cycle or an upward import
//! (docs/architecture.md, "Module map"). `raft/` never decrypts; `crypto/` never sees HTTP,
//! Raft or sled.

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
