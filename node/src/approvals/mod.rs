//! Approvals: reading a `sensitive` or `critical` secret needs approvers' consent first.
//!
//! ```text
//!  read (no live grant) ──> OpenApproval ──> pending ──approve × N──> approved ──> grant(path)
//!                                               ├──deny──> denied
//!                                               └──timeout (leader time)──> expired
//!
//!  secrets read ──> service::gate ──> engine::gate(policy, grant, latest request, tier, now)
//!                                       └─ Gate::Open ──> node.propose(OpenApproval) ──> 403
//!  http/approvals.rs ──> service::{list, show, decide, policy, set_policy}
//! ```
//!
//! The policy, the requests and the grants are replicated state; every decision is a Raft
//! write, judged at apply against the command's leader-stamped time.
//!
//! - [`engine`]: the rules (the gate, whether a request is still live, the checks of a
//!   decision, the policy users write); pure.
//! - [`store`]: the deterministic apply ([`ApprovalsTx`]) and reads ([`ApprovalsReader`]).
//! - [`service`]: the use cases; [`limiter`]: new requests after denials, per node.

pub mod engine;
pub mod limiter;
pub mod record;
pub mod service;
pub mod store;

pub use crate::identity::engine::is_email;
pub use engine::policy_from_document;
pub use limiter::{ReopenLimiter, REOPENS_PER_WINDOW, REOPEN_WINDOW};
pub use record::*;
pub use store::{ApprovalsReader, ApprovalsTx};
