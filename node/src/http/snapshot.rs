//! `/v1/sys/snapshot`: save an encrypted backup, restore one (see [`crate::backup`]).
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

use ass_client::ErrorCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ass_client::types::{SnapshotRestoreRequest, SnapshotRestoreResponse};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{request_id, ApiJson};
use crate::access::scope::Admin;
use crate::backup::{self, BackupError, Body, Header};
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Request as RaftRequest};
use crate::crypto::{Barrier, Key, Keyring};
use crate::node::Node;
use crate::raft::state_machine::snapshot_trees;
use crate::seal::SealConfig;
use crate::storage::decode;
use crate::storage::schema::{
    KEY_KEYRING, KEY_LAST_APPLIED, KEY_MEMBERSHIP, KEY_SEAL, KEY_SNAPSHOT_DATA, KEY_SNAPSHOT_META,
    SM_META,
};

/// Route of both calls.
pub const PATH_SAVE: &str = "/v1/sys/snapshot";
pub const PATH_RESTORE: &str = "/v1/sys/snapshot/restore";
/// Largest restore request: the file in base64 inside JSON.
pub const MAX_RESTORE_BODY: usize = backup::MAX_FILE_BYTES / 3 * 4 + 64 * 1024;
/// How long a save waits for the Raft snapshot that covers its read.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Internal(_) => ApiError::internal(e.to_string()),
            _ => ApiError::new(e.code(), e.to_string()),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("snapshot: {e}"))
}

/// `GET /v1/sys/snapshot` (needs `sys:operator`, an unsealed node): the whole replicated
/// state as of a linearizable read, encrypted, as `application/octet-stream`.
///
/// `?local=true` skips the read index and saves this node's state as it is: the way out
/// when quorum is lost for good (no leader can confirm anything), to carry the most recent
/// survivor's state into a new cluster. It may miss writes the lost majority committed.
pub async fn save(State(node): State<Arc<Node>>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let local = parts.uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "local=true"));
    let caller = if local {
        super::auth::caller_from_local_state(&parts, &node)?
    } else {
        Caller::from_request_parts(&mut parts, &node).await?
    };
    caller.require_admin(Admin::SysOperator)?;
    let barrier = node.barrier().ok_or_else(ApiError::sealed)?;
    // Without `local`, the Caller extractor confirmed a read index and applied it: a
    // snapshot at or past the applied index holds every write acknowledged before this call.
    let target = node.applied_index();
    if local {
        tracing::warn!(applied = target, "saving a backup of local state without a read index");
    }
    let deadline = Instant::now() + SNAPSHOT_WAIT;
    let mut triggered = false;
    loop {
        let have = node.raft.metrics().borrow().snapshot.map_or(0, |l| l.index);
        if have >= target {
            break;
        }
        if !triggered {
            node.raft.trigger().snapshot().await.map_err(internal)?;
            triggered = true;
        }
        if Instant::now() > deadline {
            return Err(ApiError::new(
                ErrorCode::Timeout,
                "no Raft snapshot covering this read was built within 30 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meta and data of the current snapshot, read together.
    let (meta, data) = node
        .store
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
    let cluster_id = node.state.seal.cluster_id()?.unwrap_or_default();
    let log_id = meta.last_log_id.unwrap_or_default();
    let header = Header {
        format: backup::FORMAT_V1,
        cluster_id: cluster_id.clone(),
        index: log_id.index,
        term: log_id.leader_id.term,
        created_ms: now_ms(),
        node_id: node.id,
        seal,
        salt: [0; 32],
        body_len: 0,
    };
    let file = backup::write(header, barrier.root(), &Body { trees })?;
    tracing::info!(index = log_id.index, bytes = file.len(), "backup snapshot saved");
    let name = format!("attachment; filename=\"ass-{cluster_id}-{}.snap\"", log_id.index);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::HeaderName::from_static("x-ass-snapshot-index"), log_id.index.to_string()),
        ],
        file,
    )
        .into_response())
}

fn meta_value<T: serde::de::DeserializeOwned>(
    trees: &[backup::TreeCopy],
    key: &[u8],
) -> Result<Option<T>, ApiError> {
    let Some((_, items)) = trees.iter().find(|(n, _)| n == SM_META) else { return Ok(None) };
    match items.iter().find(|(k, _)| k == key) {
        Some((_, v)) => Ok(Some(decode(v).map_err(|_| BackupError::Corrupt("seal config"))?)),
        None => Ok(None),
    }
}

/// `POST /v1/sys/snapshot/restore` with `{"snapshot": base64, "keys": [...]}`.
///
/// - On an **uninitialized** cluster (a new one): `keys` must hold a threshold of the
///   snapshot's own unseal shares; no token exists yet, the shares are the credential.
/// - On an **initialized** cluster: needs `sys:operator` on an unsealed node, and the file must
///   come from this cluster (its root key opens it); `keys` are not used.
///
/// The restore is proposed through Raft, so every node gets it. On a new cluster the node
/// that took the call is unsealed by it; the others are unsealed with the same shares.
pub async fn restore(State(node): State<Arc<Node>>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let headers: HeaderMap = parts.headers.clone();
    let initialized = node.state.seal.is_initialized()?;
    if initialized {
        if node.is_sealed() {
            return Err(ApiError::sealed());
        }
        let caller = Caller::from_request_parts(&mut parts, &node).await?;
        caller.require_admin(Admin::SysOperator)?;
    }
    let req = Request::from_parts(parts, body);
    let ApiJson(body) =
        <ApiJson<SnapshotRestoreRequest> as axum::extract::FromRequest<()>>::from_request(req, &())
            .await?;
    let file = base64::engine::general_purpose::STANDARD
        .decode(body.snapshot.trim())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "`snapshot` must be base64"))?;
    let parsed = backup::parse(&file)?;
    let h = parsed.header.clone();
    let root: Key = if initialized {
        let ours = node.state.seal.cluster_id()?.unwrap_or_default();
        if h.cluster_id != ours {
            return Err(BackupError::Foreign { ours, theirs: h.cluster_id }.into());
        }
        node.barrier().ok_or_else(ApiError::sealed)?.root().clone()
    } else {
        if body.keys.is_empty() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "this cluster is not initialized: give `keys`, at least {} of the snapshot's \
                     original unseal key shares",
                    h.seal.threshold
                ),
            ));
        }
        crate::seal::root_from_shares(&body.keys, &h.seal).map_err(|e| match e {
            crate::seal::SealError::WrongShares => ApiError::new(
                ErrorCode::InvalidShares,
                format!(
                    "the shares do not open this snapshot's root key: give {} of the {} unseal \
                     key shares that were current when it was saved",
                    h.seal.threshold, h.seal.shares
                ),
            ),
            other => other.into(),
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

    let request = RaftRequest {
        request_id: request_id(&headers)?,
        time_ms: now_ms(),
        cmd: Command::Restore { into_uninitialized: !initialized, trees: opened.trees },
    };
    let committed = node.propose(request).await?;
    super::expect_ok(&committed)?;
    node.read_index.wait_applied(committed.index).await.map_err(crate::node::ReadError::from)?;
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
    let resp = SnapshotRestoreResponse {
        index: committed.index,
        cluster_id: h.cluster_id,
        snapshot_index: h.index,
        snapshot_term: h.term,
        snapshot_created: rfc3339(h.created_ms),
        threshold: h.seal.threshold,
        shares: h.seal.shares,
        unsealed: !node.is_sealed(),
    };
    Ok(super::with_index(StatusCode::OK, committed.index, Json(resp).0))
}
