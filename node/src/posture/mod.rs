//! Posture: the hardening guide's checklist graded from the live cluster (`ass doctor`,
//! `GET /v1/sys/doctor`), and the reports that help fix it (stale secrets, scope explain,
//! agent right-sizing).
//!
//! ```text
//!  http/doctor.rs ──> service (gathers records: state, audit of every member, members)
//!                        └──> engine (pure rules) ──> findings / report
//! ```
//!
//! Suppressions (`ass doctor ignore`) are replicated (`Command::IgnoreFinding`, kept in
//! `sm_meta` under `doctor_ignores`), so every node grades the same way.

pub mod engine;
pub mod service;
