//! Backups: the encrypted snapshot file ([`file`]: format, checks, no keys of its own) and
//! the save/restore use cases over a node ([`service`]: the Raft snapshot a save waits for,
//! the root key a restore opens the file with, the `Restore` command).
//!
//! ```text
//!  http/snapshot.rs ──> service::save ──> raft snapshot ──> file::write ──> bytes
//!  http/snapshot.rs ──> service::restore ──> file::parse/open ──> Command::Restore ──> raft
//! ```

pub mod file;
pub mod service;

/// API route that saves a backup (the doctor recognizes backups by it in the audit log).
pub const PATH_SAVE: &str = "/v1/sys/snapshot";
/// API route that restores one.
pub const PATH_RESTORE: &str = "/v1/sys/snapshot/restore";

pub use file::{
    parse, write, BackupError, Body, Header, Parsed, TreeCopy, FORMAT_V1, MAGIC, MAX_FILE_BYTES,
};
