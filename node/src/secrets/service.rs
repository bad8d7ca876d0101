//! The secrets use cases: read, list versions, list, write, delete, destroy. The JSON API
//! (`http/secrets.rs`) and the dashboard call these; they return plain structs and
//! [`SecretsError`], never HTTP types.
//!
//! ```text
//!  read:  path rules ─> scope ─> record/version (re-read while a write lands) ─> note tier
//!         ─> approvals gate ─> destroyed/deleted? ─> barrier.decrypt (reload on a new term)
//!  write: path rules ─> scope ─> input rules ─> barrier ─> per-path lock ─> loop {
//!         plan (next version; a lowering needs policy:manage + the gate) ─> encrypt for it
//!         ─> node.write(PutSecret) ─> written | version taken: again }
//! ```
//!
//! This is the only place a secret value is encrypted or decrypted. Decisions are
//! [`super::engine`]'s; applied state is read through [`super::SecretsReader`].

use std::sync::Arc;

use super::engine::{self, CheckError};
use super::{
    validate_path, validate_prefix, PathError, PutSecret, SecretRecord, Tier, VersionRecord,
};
use crate::access::scope::{Action, Admin};
use crate::clock::now_ms;
use crate::command::{Command, Rejection, Request, Response};
use crate::crypto::{Barrier, Binding, CryptoError};
use crate::node::{Node, WriteError};
use crate::storage::StorageError;

use crate::approvals::service::{self as approvals, GateError};
use crate::identity::{AccessError, Caller};

/// Retries of a write whose version was taken by a concurrent write on the same path.
const VERSION_RETRIES: usize = 8;
/// Re-reads of a version the record names but the versions tree does not hold yet.
const REREADS: usize = 3;

/// Why a secrets call did not happen. Carries no HTTP status: `http/error.rs` maps it.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Path(#[from] PathError),
    /// The caller's credential or scopes do not allow the call.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The read needs an approval (or was denied one, or asked too often).
    #[error(transparent)]
    Approval(#[from] GateError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("no secret at this path")]
    NotFound,
    #[error("no version {version} at this path")]
    NoVersion { version: u64 },
    #[error("this node is sealed")]
    Sealed,
    /// Lowering the tier needs `policy:manage`, which the caller lacks.
    #[error("this secret is {current}: the caller may not lower its tier")]
    TierDowngradeDenied { current: Tier },
    #[error("too many concurrent writes to this path; retry")]
    Conflict,
    /// The state machine refused the command.
    #[error("refused: {0:?}")]
    Rejected(Rejection),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored value that does not decrypt, or is not text (logged where it happens).
    #[error("stored value failed to decrypt")]
    Decrypt,
    #[error("stored value is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Internal(String),
}

/// One version's value, as a read gives it. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue {
    pub path: String,
    pub version: u64,
    pub value: String,
    pub secret_type: String,
    /// The tier that gated this read ([`engine::effective_tier`]).
    pub tier: Tier,
    pub created_ms: u64,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("value", &"REDACTED")
            .field("secret_type", &self.secret_type)
            .field("tier", &self.tier)
            .finish()
    }
}

/// A path's metadata, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub path: String,
    pub latest_version: u64,
    pub secret_type: String,
    pub tier: Tier,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub deleted: bool,
}

impl SecretMeta {
    fn of(path: String, r: &SecretRecord) -> Self {
        SecretMeta {
            path,
            latest_version: r.latest_version,
            secret_type: r.secret_type.clone(),
            tier: r.tier,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
            deleted: r.latest_deleted,
        }
    }
}

/// One version's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub version: u64,
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
    pub destroyed: bool,
    /// The data-key term its ciphertext was sealed under (`None` once destroyed).
    pub key_term: Option<u32>,
    /// The tier that gates a read of it.
    pub tier: Tier,
}

/// A path's metadata and every version's, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersions {
    pub metadata: SecretMeta,
    pub versions: Vec<VersionMeta>,
}

/// A new version as the caller asks for it. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct WriteSecret {
    pub value: String,
    pub secret_type: Option<String>,
    /// `None`: keep the path's tier.
    pub tier: Option<Tier>,
    /// Check-and-set: the latest version the caller expects.
    pub cas: Option<u64>,
    /// The caller's reason, for the approval a write that lowers a gated tier needs.
    pub reason: Option<String>,
}

impl std::fmt::Debug for WriteSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSecret")
            .field("value", &"REDACTED")
            .field("secret_type", &self.secret_type)
            .field("tier", &self.tier)
            .field("cas", &self.cas)
            .finish()
    }
}

/// A committed write or delete: the version it touched and the log index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub version: u64,
    pub index: u64,
    /// A delete that destroyed the version's ciphertext.
    pub destroyed: bool,
}

fn barrier(node: &Node) -> Result<Arc<Barrier>, SecretsError> {
    node.barrier().ok_or(SecretsError::Sealed)
}

fn binding(path: &str, version: u64) -> Binding<'_> {
    Binding { kind: "secret", path, version }
}

/// Reads version `wanted` (or the latest) of `path`: scope, approvals gate, decrypt.
/// `reason` is the caller's stated reason for the read (recorded on an approval request).
pub async fn read(
    node: &Node,
    caller: &Caller,
    path: &str,
    wanted: Option<u64>,
    reason: Option<&str>,
) -> Result<SecretValue, SecretsError> {
    validate_path(path)?;
    caller.require_secret(Action::Read, path)?;
    let (record, number, version) = read_version(node, path, wanted).await?;
    let tier = engine::effective_tier(&record, &version);
    caller.audit.note_secret(Some(number), Some(tier.as_str()));
    approvals::gate(node, caller, path, tier, number, reason).await?;
    engine::readable(number, &version)?;
    let b = binding(path, number);
    let plain = match barrier(node)?.decrypt(&b, &version.ciphertext) {
        // A term this node hasn't loaded yet: a rotation elsewhere. Reload and try once more.
        Err(CryptoError::UnknownTerm(_)) => {
            node.refresh_keyring();
            barrier(node)?.decrypt(&b, &version.ciphertext)
        }
        other => other,
    }
    .map_err(|e| {
        tracing::error!(error = %e, "a stored secret failed to decrypt");
        SecretsError::Decrypt
    })?;
    let value = String::from_utf8(plain.expose().to_vec()).map_err(|_| SecretsError::NotUtf8)?;
    Ok(SecretValue {
        path: path.to_string(),
        version: number,
        value,
        secret_type: record.secret_type,
        tier,
        created_ms: version.created_ms,
    })
}

/// The record and the wanted (or latest) version of `path`. A record and its versions are
/// written in one transaction, but a plain read may land between the trees' updates: a
/// version the record names that is not there yet is read again.
async fn read_version(
    node: &Node,
    path: &str,
    wanted: Option<u64>,
) -> Result<(SecretRecord, u64, VersionRecord), SecretsError> {
    let mut attempts = 0;
    loop {
        let record = node.state().secrets.record(path)?.ok_or(SecretsError::NotFound)?;
        let number = engine::version_to_read(&record, wanted)?;
        match node.state().secrets.version(path, number)? {
            Some(version) => return Ok((record, number, version)),
            None if engine::may_appear(&record, number) && attempts < REREADS => {
                attempts += 1;
                tokio::task::yield_now().await;
            }
            None => return Err(SecretsError::NoVersion { version: number }),
        }
    }
}

/// The metadata of `path` and of each of its versions (no values; needs read scope).
pub async fn versions(
    node: &Node,
    caller: &Caller,
    path: &str,
) -> Result<SecretVersions, SecretsError> {
    validate_path(path)?;
    caller.require_secret(Action::Read, path)?;
    let record = node.state().secrets.record(path)?.ok_or(SecretsError::NotFound)?;
    caller.audit.note_secret(Some(record.latest_version), Some(record.tier.as_str()));
    let versions = node
        .state()
        .secrets
        .versions(path)?
        .into_iter()
        .map(|(n, v)| VersionMeta {
            version: n,
            created_ms: v.created_ms,
            deleted_ms: v.deleted_ms,
            destroyed: v.destroyed,
            key_term: crate::crypto::envelope_term(&v.ciphertext).ok(),
            tier: engine::effective_tier(&record, &v),
        })
        .collect();
    Ok(SecretVersions { metadata: SecretMeta::of(path.to_string(), &record), versions })
}

/// Metadata of the paths under `prefix` the caller may list: filtered, never refused, so a
/// caller learns nothing of paths outside its list scopes.
pub async fn list(
    node: &Node,
    caller: &Caller,
    prefix: &str,
) -> Result<Vec<SecretMeta>, SecretsError> {
    caller.refuse_agent_key()?;
    validate_prefix(prefix)?;
    Ok(node
        .state()
        .secrets
        .list(prefix)?
        .into_iter()
        .filter(|(p, _)| caller.may_list(p))
        .map(|(p, r)| SecretMeta::of(p, &r))
        .collect())
}

/// Writes a new version of `path`, encrypted for it, through Raft. `request_id` is the
/// caller's idempotency key (a retry gets the first answer).
pub async fn write(
    node: &Node,
    caller: &Caller,
    path: &str,
    req: WriteSecret,
    request_id: [u8; 16],
) -> Result<Committed, SecretsError> {
    validate_path(path)?;
    caller.require_secret(Action::Write, path)?;
    engine::check_write(req.value.len(), req.secret_type.as_deref())?;
    let barrier = barrier(node)?;
    let _guard = node.path_locks().lock(path).await;
    for _ in 0..VERSION_RETRIES {
        let current = node.state().secrets.record(path)?;
        let plan = engine::plan_write(current.as_ref(), req.tier);
        if let Some(now) = plan.lowering {
            authorize_lowering(node, caller, path, now, plan.latest, req.reason.as_deref()).await?;
        }
        // CAS is judged by the state machine only, after the request-id check, so a retried
        // CAS write gets its first answer instead of a mismatch.
        let ciphertext = barrier
            .encrypt(&binding(path, plan.version), req.value.as_bytes())
            .map_err(|e| SecretsError::Internal(format!("encryption failed: {e}")))?;
        let request = Request {
            request_id,
            time_ms: now_ms(),
            cmd: Command::PutSecret(PutSecret {
                path: path.to_string(),
                version: plan.version,
                cas: req.cas,
                secret_type: req.secret_type.clone(),
                tier: req.tier,
                lower_from: plan.lowering,
                ciphertext,
            }),
        };
        let committed = node.write(request).await?;
        match committed.response {
            Response::Written { version } => {
                caller.audit.note_secret(Some(version), req.tier.map(Tier::as_str));
                return Ok(Committed { version, index: committed.index, destroyed: false });
            }
            Response::Rejected(Rejection::VersionConflict { .. }) => continue,
            Response::Rejected(r) => return Err(SecretsError::Rejected(r)),
            other => {
                return Err(SecretsError::Internal(format!("unexpected write response {other:?}")))
            }
        }
    }
    Err(SecretsError::Conflict)
}

/// Lowering a path's tier is its own privileged act: the caller needs `policy:manage`, and
/// for a path gated now, the same approval a read of it needs. The apply judges it again
/// against the tier the path has by then ([`engine::judge_put`]).
async fn authorize_lowering(
    node: &Node,
    caller: &Caller,
    path: &str,
    now: Tier,
    latest: u64,
    reason: Option<&str>,
) -> Result<(), SecretsError> {
    if caller.require_admin(Admin::PolicyManage).is_err() {
        return Err(SecretsError::TierDowngradeDenied { current: now });
    }
    Ok(approvals::gate(node, caller, path, now, latest, reason).await?)
}

/// Soft-deletes the latest version of `path`; its ciphertext stays until destroyed.
pub async fn delete(
    node: &Node,
    caller: &Caller,
    path: &str,
    request_id: [u8; 16],
) -> Result<Committed, SecretsError> {
    remove(node, caller, path, None, request_id).await
}

/// Destroys version `number` of `path` for good.
pub async fn destroy(
    node: &Node,
    caller: &Caller,
    path: &str,
    number: u64,
    request_id: [u8; 16],
) -> Result<Committed, SecretsError> {
    remove(node, caller, path, Some(number), request_id).await
}

async fn remove(
    node: &Node,
    caller: &Caller,
    path: &str,
    version: Option<u64>,
    request_id: [u8; 16],
) -> Result<Committed, SecretsError> {
    validate_path(path)?;
    caller.require_secret(Action::Delete, path)?;
    let cmd = match version {
        None => Command::DeleteLatest { path: path.to_string() },
        Some(version) => Command::DestroyVersion { path: path.to_string(), version },
    };
    let committed = node.submit(request_id, cmd).await?;
    match committed.response {
        Response::Deleted { version, destroyed } => {
            caller.audit.note_secret(Some(version), None);
            Ok(Committed { version, index: committed.index, destroyed })
        }
        Response::Rejected(r) => Err(SecretsError::Rejected(r)),
        other => Err(SecretsError::Internal(format!("unexpected delete response {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_do_not_print() {
        let w = WriteSecret {
            value: "sk_live_123".into(),
            secret_type: None,
            tier: None,
            cas: None,
            reason: None,
        };
        let v = SecretValue {
            path: "a/b".into(),
            version: 1,
            value: "sk_live_123".into(),
            secret_type: "generic".into(),
            tier: Tier::Standard,
            created_ms: 0,
        };
        for printed in [format!("{w:?}"), format!("{v:?}")] {
            assert!(!printed.contains("sk_live_123") && printed.contains("REDACTED"), "{printed}");
        }
    }
}
