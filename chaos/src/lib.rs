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
//! Around them, the suite that produces histories from a real cluster (`src/main.rs` is the
//! `ass-chaos` binary):
//!
//! * [`net`]: network namespaces, the bridge and iptables faults; cleanup of leftovers.
//! * [`harness`]: `ass-node` processes (configs, start, init, unseal, kill, pause, clock).
//! * [`faults`]: the fault schedules, each with inject and heal.
//! * [`workload`]: secret and token clients recording every operation.
//! * [`runner`]: one run: schedules, convergence checks, final reads, checkers.
//! * [`report`]: the readable table of a run's report.

pub mod brute;
pub mod durability;
pub mod faults;
pub mod harness;
pub mod history;
pub mod linearizability;
pub mod model;
pub mod net;
pub mod report;
pub mod revocation;
pub mod runner;
pub mod workload;

#[cfg(test)]
mod testkit;

pub use history::{History, HistoryBuilder, Op, OpId, OpKind, Outcome, Output, Versioned};
pub use linearizability::{check, CheckConfig, CheckResult, Violation};
pub use model::RegisterState;
