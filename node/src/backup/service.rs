//! The backup use cases over a running node: save an encrypted copy of the replicated state,
//! restore one. `http/snapshot.rs` and the dashboard call these; they return plain structs
//! and [`SnapshotError`].
//!
//! ```text
//!  save:    read index ──> Raft snapshot covering it (a consistent copy of every tree)
//!           ──> header + AEAD body under HKDF(root key) ──> file
//!  restore: parse (magic, format, lengths, checksum) ──> root key: this node's barrier
//!           (same cluster) or the snapshot's own original unseal shares (new cluster)
//!           ──> open + check the body ──> Command::Restore through Raft ──> every node
//! ```
//!
//! Nothing is proposed until the file has opened and checked out, so a refused file changes
//! nothing.

use std::time::{Duration, Instant};

use super::file::{self as backup, BackupError, Body, Header, TreeCopy};
use crate::access::scope::Admin;
use crate::clock::now_ms;
use crate::command::{Command, Rejection, Request, Response};
use crate::crypto::{Barrier, Key, Keyring};
use crate::node::{Node, ReadError, WriteError};
use crate::raft::state_machine::snapshot_trees;
use crate::seal::{SealConfig, SealError};
use crate::storage::schema::{
    KEY_KEYRING, KEY_LAST_APPLIED, KEY_MEMBERSHIP, KEY_SEAL, KEY_SNAPSHOT_DATA, KEY_SNAPSHOT_META,
    SM_META,
};
use crate::storage::{decode, StorageError};

use crate::identity::{AccessError, Caller};

/// How long a save waits for the Raft snapshot that covers its read.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// Why a save or restore did not happen. Carries no HTTP status: `http/error.rs` maps it.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The caller's credential or scopes do not allow the call.
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("this node is sealed")]
    Sealed,
    /// The file is refused (damaged, foreign, too large, …).
    #[error(transparent)]
    File(#[from] BackupError),
    #[error("no Raft snapshot covering this read was built within 30 s")]
    Timeout,
    /// A new cluster's restore came without the snapshot's unseal shares.
    #[error(
        "this cluster is not initialized: give `keys`, at least {threshold} of the snapshot's \
         original unseal key shares"
    )]
    SharesNeeded { threshold: u8 },
    #[error(
        "the shares do not open this snapshot's root key: give {threshold} of the {shares} \
         unseal key shares that were current when it was saved"
    )]
    WrongShares { threshold: u8, shares: u8 },
    #[error(transparent)]
    Seal(SealError),
    /// The state machine refused the restore.
    #[error("refused: {0:?}")]
    Rejected(Rejection),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Internal(format!("snapshot: {e}"))
}

/// A saved backup file and what it covers.
#[derive(Debug)]
pub struct Saved {
    pub file: Vec<u8>,
    pub cluster_id: String,
    /// The log index the copy was taken at.
    pub index: u64,
}

/// A committed restore.
#[derive(Debug)]
pub struct Restored {
    /// The log index of the `Restore` entry.
    pub index: u64,
    /// The restored file's header (cluster, the index and term it was saved at, seal).
    pub from: Header,
    /// Whether this node is unsealed now (a new cluster: the shares unsealed it).
    pub unsealed: bool,
}

/// Saves the whole replicated state, encrypted (needs `sys:operator`, an unsealed node).
///
/// The caller was authenticated after a confirmed read index unless `local`: then this
/// node's state is saved as it is, which may miss writes a lost majority committed (the way
/// out when quorum is lost for good).
pub async fn save(node: &Node, caller: &Caller, local: bool) -> Result<Saved, SnapshotError> {
    caller.require_admin(Admin::SysOperator)?;
    let barrier = node.barrier().ok_or(SnapshotError::Sealed)?;
    // Without `local`, the caller's read index was confirmed and applied: a snapshot at or
    // past the applied index holds every write acknowledged before this call.
    let target = node.applied_index();
    if local {
        tracing::warn!(applied = target, "saving a backup of local state without a read index");
    }
    let deadline = Instant::now() + SNAPSHOT_WAIT;
    let mut triggered = false;
    loop {
        let have = node.raft().metrics().borrow().snapshot.map_or(0, |l| l.index);
        if have >= target {
            break;
        }
        if !triggered {
            node.raft().trigger().snapshot().await.map_err(internal)?;
            triggered = true;
        }
        if Instant::now() > deadline {
            return Err(SnapshotError::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meta and data of the current snapshot, read together.
    let (meta, data) = node
        .store()
        .snapshot
        .transaction(|t| Ok((t.get(KEY_SNAPSHOT_META)?, t.get(KEY_SNAPSHOT_DATA)?)))
        .map_err(|e: sled::transaction::TransactionError<()>| internal(format!("{e:?}")))?;
    let (Some(meta), Some(data)) = (meta, data) else {
        return Err(internal("no Raft snapshot stored"));
    };
    let meta: crate::raft::types::SnapshotMeta = decode(&meta)?;
    let mut trees = snapshot_trees(&data)?;
    // This cluster's Raft position and membership are not part of the backup.
    for (name, items) in trees.iter_mut() {
        if name == SM_META {
            items.retain(|(k, _)| k != KEY_LAST_APPLIED && k != KEY_MEMBERSHIP);
        }
    }
    let seal: SealConfig = meta_value(&trees, KEY_SEAL)?
        .ok_or_else(|| internal("the snapshot holds no seal config"))?;
    let cluster_id = node.state().seal.cluster_id()?.unwrap_or_default();
    let log_id = meta.last_log_id.unwrap_or_default();
    let header = Header {
        format: backup::FORMAT_V1,
        cluster_id: cluster_id.clone(),
        index: log_id.index,
        term: log_id.leader_id.term,
        created_ms: now_ms(),
        node_id: node.id(),
        seal,
        salt: [0; 32],
        body_len: 0,
    };
    let file = backup::write(header, barrier.root(), &Body { trees })?;
    tracing::info!(index = log_id.index, bytes = file.len(), "backup snapshot saved");
    Ok(Saved { file, cluster_id, index: log_id.index })
}

fn meta_value<T: serde::de::DeserializeOwned>(
    trees: &[TreeCopy],
    key: &[u8],
) -> Result<Option<T>, BackupError> {
    let Some((_, items)) = trees.iter().find(|(n, _)| n == SM_META) else { return Ok(None) };
    match items.iter().find(|(k, _)| k == key) {
        Some((_, v)) => Ok(Some(decode(v).map_err(|_| BackupError::Corrupt("seal config"))?)),
        None => Ok(None),
    }
}

/// Whether a restore on this node needs an operator's credential: `true` once the cluster
/// is initialized (then the node must be unsealed), `false` for a new cluster, where the
/// snapshot's own unseal shares are the credential (no token exists yet).
pub fn restore_needs_operator(node: &Node) -> Result<bool, SnapshotError> {
    let initialized = node.state().seal.is_initialized()?;
    if initialized && node.is_sealed() {
        return Err(SnapshotError::Sealed);
    }
    Ok(initialized)
}

/// Restores `file` through Raft, so every node gets it.
///
/// - `caller: Some` (an initialized cluster, see [`restore_needs_operator`]): needs
///   `sys:operator`, and the file must come from this cluster (its root key opens it);
///   `keys` are not used.
/// - `caller: None` (a new cluster): `keys` must hold a threshold of the snapshot's own unseal
///   shares. The node that took the call is unsealed by them; the others are unsealed with
///   the same shares.
pub async fn restore(
    node: &Node,
    caller: Option<&Caller>,
    file: &[u8],
    keys: &[String],
    request_id: [u8; 16],
) -> Result<Restored, SnapshotError> {
    let initialized = match caller {
        Some(caller) => {
            caller.require_admin(Admin::SysOperator)?;
            true
        }
        None => false,
    };
    let parsed = backup::parse(file)?;
    let h = parsed.header.clone();
    let root: Key = if initialized {
        let ours = node.state().seal.cluster_id()?.unwrap_or_default();
        if h.cluster_id != ours {
            return Err(BackupError::Foreign { ours, theirs: h.cluster_id }.into());
        }
        node.barrier().ok_or(SnapshotError::Sealed)?.root().clone()
    } else {
        if keys.is_empty() {
            return Err(SnapshotError::SharesNeeded { threshold: h.seal.threshold });
        }
        crate::seal::root_from_shares(keys, &h.seal).map_err(|e| match e {
            SealError::WrongShares => {
                SnapshotError::WrongShares { threshold: h.seal.threshold, shares: h.seal.shares }
            }
            other => SnapshotError::Seal(other),
        })?
    };
    let opened = parsed.open(&root)?;
    // The restored state must be one these shares and this root key can unseal.
    let seal: SealConfig =
        meta_value(&opened.trees, KEY_SEAL)?.ok_or(BackupError::Corrupt("no seal config"))?;
    if seal != h.seal {
        return Err(BackupError::Corrupt("the header's seal config is not the body's").into());
    }
    let sealed_keyring: Vec<u8> =
        meta_value(&opened.trees, KEY_KEYRING)?.ok_or(BackupError::Corrupt("no keyring"))?;
    let keyring = Keyring::open_with(&root, &sealed_keyring)
        .map_err(|_| BackupError::Corrupt("the keyring does not open with the root key"))?;

    let request = Request {
        request_id,
        time_ms: now_ms(),
        cmd: Command::Restore { into_uninitialized: !initialized, trees: opened.trees },
    };
    let committed = node.propose(request).await?;
    match committed.response {
        Response::Ok => {}
        Response::Rejected(r) => return Err(SnapshotError::Rejected(r)),
        other => {
            return Err(SnapshotError::Internal(format!(
                "unexpected state machine response {other:?}"
            )))
        }
    }
    node.read_index().wait_applied(committed.index).await.map_err(ReadError::from)?;
    if initialized {
        node.refresh_keyring();
    } else {
        // The shares that opened the file unseal this node; the others take them as usual.
        node.seal().unseal_progress().lock().await.reset();
        node.set_barrier(Some(Barrier::new(root, keyring)));
    }
    tracing::warn!(
        from_index = h.index,
        index = committed.index,
        cluster = %h.cluster_id,
        "backup restored"
    );
    Ok(Restored { index: committed.index, from: h, unsealed: !node.is_sealed() })
}
