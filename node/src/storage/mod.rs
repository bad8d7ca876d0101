//! sled storage: the one `Db` of a process, its trees, and the versioned codec of every
//! stored value. Knows no domain words beyond the tree names in [`schema`].
//!
//! sled writes are durable only after [`Store::flush`]; background flushing is off, so
//! nothing is durable by accident and nothing is acknowledged before it is durable.
//!
//! sled 0.34's own flush ends, on Linux, in `sync_file_range(2)` only, which writes the
//! pages but neither the file's metadata nor the drive's write cache ("there are no
//! guarantees that the data will be available after a crash", says its man page). So
//! [`Store::flush`] follows it with `fdatasync(2)` of sled's log file. Found by the chaos
//! suite's `fsync-eio` schedule: failing every fsync/fdatasync left the node running,
//! because it never called them.

pub mod schema;
pub mod tx;
pub mod wal;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One tree's name and every key/value pair in it: the layout of a state-machine snapshot
/// and of a backup's body.
pub type TreeCopy = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Every stored or replicated value starts with this format byte; a future layout bumps it and
/// [`decode`] learns to migrate the old one.
pub const CODEC_V1: u8 = 1;
/// The second layout of a record whose layout changed (see [`encode_as`]); the same postcard.
pub const CODEC_V2: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored value is corrupt or of an unknown format: {0}")]
    Codec(String),
}

/// Encodes a value as `[format] ‖ postcard(value)`: for a record whose layout changed, the
/// format byte names the layout (its module decodes each one it ever wrote).
pub fn encode_as<T: Serialize>(format: u8, value: &T) -> Result<Vec<u8>, StorageError> {
    let mut out = vec![format];
    postcard::to_io(value, &mut out).map_err(|e| StorageError::Codec(e.to_string()))?;
    Ok(out)
}

/// Decodes a value written by [`encode_as`] with `format`.
pub fn decode_as<T: DeserializeOwned>(format: u8, bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&f, rest)) if f == format => {
            postcard::from_bytes(rest).map_err(|e| StorageError::Codec(e.to_string()))
        }
        Some((v, _)) => Err(StorageError::Codec(format!("unknown format byte {v}"))),
        None => Err(StorageError::Codec("empty value".into())),
    }
}

/// Encodes a value as `[CODEC_V1] ‖ postcard(value)`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    let mut out = vec![CODEC_V1];
    postcard::to_io(value, &mut out).map_err(|e| StorageError::Codec(e.to_string()))?;
    Ok(out)
}

/// Decodes a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&CODEC_V1, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StorageError::Codec(e.to_string()))
        }
        Some((v, _)) => Err(StorageError::Codec(format!("unknown format byte {v}"))),
        None => Err(StorageError::Codec("empty value".into())),
    }
}

/// The process's sled database and its trees.
#[derive(Clone)]
pub struct Store {
    pub db: sled::Db,
    /// The identity generation: bumped (after the commit) by every apply that can change who
    /// may do what, and by snapshot installs. The auth cache (`identity::AuthCache`) trusts an
    /// entry only while this is unchanged. Shared by every clone of this store.
    pub identity_gen: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// sled's log file (`DIR/db/db`), for `fdatasync` after each flush.
    log_file: std::sync::Arc<std::fs::File>,
    /// Raft log entries by index (big-endian u64).
    pub raft_log: sled::Tree,
    /// Vote, last purged log id, committed log id.
    pub raft_meta: sled::Tree,
    /// State machine: last applied, membership, seal config, keyring, root token hash.
    pub sm_meta: sled::Tree,
    /// State machine: secret metadata by path.
    pub secrets: sled::Tree,
    /// State machine: secret versions by `path ‖ 0 ‖ version`.
    pub versions: sled::Tree,
    /// State machine: applied request ids, for exactly-once writes.
    pub requests: sled::Tree,
    /// The current snapshot (meta and data).
    pub snapshot: sled::Tree,
    /// State machine: agents by id.
    pub agents: sled::Tree,
    /// State machine: agent id by name.
    pub agent_names: sled::Tree,
    /// State machine: tokens by accessor.
    pub tokens: sled::Tree,
    /// State machine: what a credential hash belongs to.
    pub credentials: sled::Tree,
    /// State machine: approval requests by id.
    pub approvals: sled::Tree,
    /// State machine: the latest request per requester and path.
    pub approval_open: sled::Tree,
    /// State machine: approved access per requester and path.
    pub grants: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database in `dir`, with background flushing off.
    /// Marks every cached identity stale (see [`Store::identity_gen`]).
    pub fn bump_identity_gen(&self) {
        self.identity_gen.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The current identity generation.
    pub fn identity_gen(&self) -> u64 {
        self.identity_gen.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let log_file = std::fs::File::open(dir.join("db").join("db"))
            .map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        Ok(Self {
            identity_gen: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            log_file: std::sync::Arc::new(log_file),
            raft_log: db.open_tree(schema::RAFT_LOG)?,
            raft_meta: db.open_tree(schema::RAFT_META)?,
            sm_meta: db.open_tree(schema::SM_META)?,
            secrets: db.open_tree(schema::SECRETS)?,
            versions: db.open_tree(schema::VERSIONS)?,
            requests: db.open_tree(schema::REQUESTS)?,
            snapshot: db.open_tree(schema::SNAPSHOT)?,
            agents: db.open_tree(schema::AGENTS)?,
            agent_names: db.open_tree(schema::AGENT_NAMES)?,
            tokens: db.open_tree(schema::TOKENS)?,
            credentials: db.open_tree(schema::CREDENTIALS)?,
            approvals: db.open_tree(schema::APPROVALS)?,
            approval_open: db.open_tree(schema::APPROVAL_OPEN)?,
            grants: db.open_tree(schema::GRANTS)?,
            db,
        })
    }

    /// The state machine's trees, in the fixed order snapshots use.
    pub fn sm_trees(&self) -> [(&'static str, &sled::Tree); 11] {
        [
            (schema::SM_META, &self.sm_meta),
            (schema::SECRETS, &self.secrets),
            (schema::VERSIONS, &self.versions),
            (schema::REQUESTS, &self.requests),
            (schema::AGENTS, &self.agents),
            (schema::AGENT_NAMES, &self.agent_names),
            (schema::TOKENS, &self.tokens),
            (schema::CREDENTIALS, &self.credentials),
            (schema::APPROVALS, &self.approvals),
            (schema::APPROVAL_OPEN, &self.approval_open),
            (schema::GRANTS, &self.grants),
        ]
    }

    /// Makes every write so far durable (fsync).
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        let file = self.log_file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| StorageError::Sled(sled::Error::Io(std::io::Error::other(e))))?
            .map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trips_and_rejects_unknown_formats() {
        let v = (7u64, "x".to_string());
        let bytes = encode(&v).unwrap();
        assert_eq!(bytes[0], CODEC_V1);
        assert_eq!(decode::<(u64, String)>(&bytes).unwrap(), v);
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode::<(u64, String)>(&bad).is_err());
        assert!(decode::<(u64, String)>(&[]).is_err());
    }
}
