//! `ass-chaos`: the robustness suite for an `ass` cluster, after Jepsen, etcd's robustness
//! tests and Porcupine.
//!
//! What exists so far is the part every fault schedule relies on: recording what clients saw,
//! and deciding whether it could have come from a correct store.
//!
//! * [`history`]: operations on secret paths (write, CAS, read) with invoke and completion
//!   times and an outcome (ok with output, failed, unknown); a thread-safe recorder; JSON.
//! * [`model`]: the sequential specification of one path, a versioned register.
//! * [`linearizability`]: the per-key Wing–Gong/Lowe checker with memoization and a step
//!   budget, which explains a violation by the longest linearizable prefix.
//! * [`brute`]: a brute-force checker for small histories, to cross-check the real one.
//! * [`durability`]: after healing, every acknowledged write is still visible.
//! * [`revocation`]: a token revoked by an acknowledged revoke is never accepted afterwards.
//!
//! The cluster harness (network namespaces), fault injectors, workload and report come next;
//! see `chaos/README.md`.

pub mod brute;
pub mod durability;
pub mod history;
pub mod linearizability;
pub mod model;
pub mod revocation;

#[cfg(test)]
mod testkit;

pub use history::{History, HistoryBuilder, Op, OpId, OpKind, Outcome, Output, Versioned};
pub use linearizability::{check, CheckConfig, CheckResult, Violation};
pub use model::RegisterState;
