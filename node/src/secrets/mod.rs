//! Secrets: path rules, the stored records, and how secret commands change the state.
//!
//! This module holds ciphertext only; encrypting and decrypting happen in the HTTP layer
//! through the barrier. Apply functions are deterministic: they read no clock and no keys.

mod path;

pub use path::{validate_path, validate_prefix, PathError};

use ass_client::types::Tier;
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::raft::types::{PutSecret, Rejection, Response};
use crate::state::{get_tx, put_tx, TxResult};
use crate::storage::schema::{version_key, versions_prefix};
use crate::storage::{decode, StorageError};

/// Type given to a secret written without one.
pub const DEFAULT_TYPE: &str = "generic";

/// Metadata of one path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretRecord {
    pub secret_type: String,
    pub tier: Tier,
    pub latest_version: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The latest version is soft-deleted or destroyed.
    pub latest_deleted: bool,
}

/// One version of a path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
    pub destroyed: bool,
    /// Barrier envelope bound to `(secret, path, version)`; empty once destroyed.
    pub ciphertext: Vec<u8>,
}

/// Applies a new version.
pub fn apply_put(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    put: &PutSecret,
) -> TxResult<Response> {
    let current: Option<SecretRecord> = get_tx(secrets, put.path.as_bytes())?;
    let latest = current.as_ref().map_or(0, |r| r.latest_version);
    if let Some(expected) = put.cas {
        if expected != latest {
            return Ok(Response::Rejected(Rejection::CasMismatch { expected, actual: latest }));
        }
    }
    if put.version != latest + 1 {
        return Ok(Response::Rejected(Rejection::VersionConflict { latest }));
    }
    let record = SecretRecord {
        secret_type: put
            .secret_type
            .clone()
            .or_else(|| current.as_ref().map(|r| r.secret_type.clone()))
            .unwrap_or_else(|| DEFAULT_TYPE.to_string()),
        tier: put.tier.or(current.as_ref().map(|r| r.tier)).unwrap_or_default(),
        latest_version: put.version,
        created_ms: current.as_ref().map_or(time_ms, |r| r.created_ms),
        updated_ms: time_ms,
        latest_deleted: false,
    };
    let version = VersionRecord {
        created_ms: time_ms,
        deleted_ms: None,
        destroyed: false,
        ciphertext: put.ciphertext.clone(),
    };
    put_tx(versions, &version_key(&put.path, put.version), &version)?;
    put_tx(secrets, put.path.as_bytes(), &record)?;
    Ok(Response::Written { version: put.version })
}

/// Soft-deletes the latest version.
pub fn apply_delete_latest(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    path: &str,
) -> TxResult<Response> {
    let Some(mut record): Option<SecretRecord> = get_tx(secrets, path.as_bytes())? else {
        return Ok(Response::Rejected(Rejection::NotFound));
    };
    if record.latest_deleted {
        return Ok(Response::Rejected(Rejection::AlreadyDeleted));
    }
    let key = version_key(path, record.latest_version);
    let Some(mut version): Option<VersionRecord> = get_tx(versions, &key)? else {
        return Ok(Response::Rejected(Rejection::NotFound));
    };
    version.deleted_ms = Some(time_ms);
    record.latest_deleted = true;
    record.updated_ms = time_ms;
    put_tx(versions, &key, &version)?;
    put_tx(secrets, path.as_bytes(), &record)?;
    Ok(Response::Deleted { version: record.latest_version, destroyed: false })
}

/// Destroys one version's ciphertext for good.
pub fn apply_destroy(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    path: &str,
    number: u64,
) -> TxResult<Response> {
    let Some(mut record): Option<SecretRecord> = get_tx(secrets, path.as_bytes())? else {
        return Ok(Response::Rejected(Rejection::NotFound));
    };
    let key = version_key(path, number);
    let Some(mut version): Option<VersionRecord> = get_tx(versions, &key)? else {
        return Ok(Response::Rejected(Rejection::VersionNotFound { version: number }));
    };
    if version.destroyed {
        return Ok(Response::Rejected(Rejection::AlreadyDeleted));
    }
    version.destroyed = true;
    version.ciphertext = Vec::new();
    version.deleted_ms.get_or_insert(time_ms);
    if number == record.latest_version {
        record.latest_deleted = true;
    }
    record.updated_ms = time_ms;
    put_tx(versions, &key, &version)?;
    put_tx(secrets, path.as_bytes(), &record)?;
    Ok(Response::Deleted { version: number, destroyed: true })
}

/// Read access to applied secret state, on any node.
#[derive(Clone)]
pub struct SecretsReader {
    secrets: sled::Tree,
    versions: sled::Tree,
}

impl SecretsReader {
    pub fn new(secrets: sled::Tree, versions: sled::Tree) -> Self {
        Self { secrets, versions }
    }

    pub fn record(&self, path: &str) -> Result<Option<SecretRecord>, StorageError> {
        self.secrets.get(path.as_bytes())?.map(|v| decode(&v)).transpose()
    }

    pub fn version(&self, path: &str, version: u64) -> Result<Option<VersionRecord>, StorageError> {
        self.versions.get(version_key(path, version))?.map(|v| decode(&v)).transpose()
    }

    /// Every version of `path`, oldest first.
    pub fn versions(&self, path: &str) -> Result<Vec<(u64, VersionRecord)>, StorageError> {
        let prefix = versions_prefix(path);
        let mut out = Vec::new();
        for item in self.versions.scan_prefix(&prefix) {
            let (k, v) = item?;
            let n = k[prefix.len()..]
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Codec("bad version key".into()))?;
            out.push((n, decode(&v)?));
        }
        Ok(out)
    }

    /// Metadata of every path that starts with `prefix`, in path order.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, SecretRecord)>, StorageError> {
        let mut out = Vec::new();
        for item in self.secrets.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let path = String::from_utf8(k.to_vec())
                .map_err(|_| StorageError::Codec("bad path key".into()))?;
            out.push((path, decode(&v)?));
        }
        Ok(out)
    }

    /// Number of paths stored.
    pub fn count(&self) -> usize {
        self.secrets.len()
    }
}
