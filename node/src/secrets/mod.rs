//! Secrets: path rules, the stored records, and how secret commands change the state.
//!
//! This module holds ciphertext only; encrypting and decrypting happen in the HTTP layer
//! through the barrier. Apply functions are deterministic: they read no clock and no keys.
//!
//! Tiers: every version keeps the tier it was written with ([`VersionRecord::tier`]), and a
//! read of version N is gated by [`effective_tier`] = max(tier of N, the path's tier now).
//! Lowering a path's tier is its own privileged act, judged at apply ([`apply_put`]): a later
//! write can never release what an earlier version or grant kept behind an approval.

mod path;
mod tier;

pub use path::{validate_path, validate_prefix, PathError};
pub use tier::Tier;

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::storage::schema::{version_key, versions_prefix};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, decode_as, encode_as, StorageError, CODEC_V1, CODEC_V2};

/// A new version of a secret, already encrypted for `(path, version)`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutSecret {
    pub path: String,
    pub version: u64,
    /// The client's check-and-set expectation, checked again at apply.
    pub cas: Option<u64>,
    pub secret_type: Option<String>,
    /// The tier the path has from this version on; `None` keeps the path's tier.
    pub tier: Option<Tier>,
    /// The highest tier the proposer authorized lowering from (the caller holds
    /// `policy:manage` and, for a gated tier, an approval). `None`: this write may not lower
    /// the tier; the apply refuses it if the path's tier is above `tier` by then.
    pub lower_from: Option<Tier>,
    pub ciphertext: Vec<u8>,
}

/// [`PutSecret`] as earlier releases wrote it (no `lower_from`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutSecretV1 {
    pub path: String,
    pub version: u64,
    pub cas: Option<u64>,
    pub secret_type: Option<String>,
    pub tier: Option<Tier>,
    pub ciphertext: Vec<u8>,
}

impl From<&PutSecretV1> for PutSecret {
    /// Earlier releases let any write set any tier: the old entry applies as it did.
    fn from(p: &PutSecretV1) -> Self {
        PutSecret {
            path: p.path.clone(),
            version: p.version,
            cas: p.cas,
            secret_type: p.secret_type.clone(),
            tier: p.tier,
            lower_from: Some(Tier::Critical),
            ciphertext: p.ciphertext.clone(),
        }
    }
}

/// Why a secret command changed nothing: deterministic, the same on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("check-and-set failed: expected version {expected}, latest is {actual}")]
    CasMismatch { expected: u64, actual: u64 },
    /// The proposer computed a version that is no longer next (a concurrent write won).
    #[error("a concurrent write made version {latest}")]
    VersionConflict { latest: u64 },
    #[error("this secret is {current}: the write may not lower its tier")]
    TierDowngradeDenied { current: Tier },
    #[error("no secret at this path")]
    NotFound,
    #[error("no version {version} at this path")]
    VersionNotFound { version: u64 },
    #[error("that version is already deleted")]
    AlreadyDeleted,
}

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

/// One version of a path. Stored as `[CODEC_V2] ‖ postcard`; records written before
/// versions kept a tier are `[CODEC_V1] ‖ postcard(VersionRecordV1)` and read with no tier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
    pub destroyed: bool,
    /// Barrier envelope bound to `(secret, path, version)`; empty once destroyed.
    pub ciphertext: Vec<u8>,
    /// The tier this version was written with. `None` only for versions written by releases
    /// that kept no tier per version: they are judged by the path's tier, and are stamped
    /// with it before the path's tier is ever lowered.
    pub tier: Option<Tier>,
}

/// The first layout of [`VersionRecord`].
#[derive(Deserialize)]
struct VersionRecordV1 {
    created_ms: u64,
    deleted_ms: Option<u64>,
    destroyed: bool,
    ciphertext: Vec<u8>,
}

impl VersionRecord {
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        encode_as(CODEC_V2, self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        if bytes.first() == Some(&CODEC_V1) {
            let v: VersionRecordV1 = decode(bytes)?;
            return Ok(VersionRecord {
                created_ms: v.created_ms,
                deleted_ms: v.deleted_ms,
                destroyed: v.destroyed,
                ciphertext: v.ciphertext,
                tier: None,
            });
        }
        decode_as(CODEC_V2, bytes)
    }
}

/// The tier that gates a read of `version`: the higher of the tier it was written with and
/// the path's tier now (a version written before tiers were kept per version: the path's).
pub fn effective_tier(record: &SecretRecord, version: &VersionRecord) -> Tier {
    match version.tier {
        Some(t) if t > record.tier => t,
        _ => record.tier,
    }
}

fn get_version(versions: &TransactionalTree, key: &[u8]) -> TxResult<Option<VersionRecord>> {
    match versions.get(key)? {
        Some(v) => VersionRecord::decode(&v)
            .map(Some)
            .map_err(sled::transaction::ConflictableTransactionError::Abort),
        None => Ok(None),
    }
}

fn put_version(versions: &TransactionalTree, key: &[u8], v: &VersionRecord) -> TxResult<()> {
    versions
        .insert(key, v.encode().map_err(sled::transaction::ConflictableTransactionError::Abort)?)?;
    Ok(())
}

/// Applies a new version.
pub fn apply_put(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    put: &PutSecret,
) -> TxResult<Result<u64, Refusal>> {
    let current: Option<SecretRecord> = get_tx(secrets, put.path.as_bytes())?;
    let latest = current.as_ref().map_or(0, |r| r.latest_version);
    if let Some(expected) = put.cas {
        if expected != latest {
            return Ok(Err(Refusal::CasMismatch { expected, actual: latest }));
        }
    }
    if put.version != latest + 1 {
        return Ok(Err(Refusal::VersionConflict { latest }));
    }
    let tier = put.tier.or(current.as_ref().map(|r| r.tier)).unwrap_or_default();
    if let Some(now) = current.as_ref().map(|r| r.tier) {
        if tier < now {
            let authorized = put.lower_from.is_some_and(|from| from >= now);
            if !authorized {
                return Ok(Err(Refusal::TierDowngradeDenied { current: now }));
            }
            // The old versions keep the tier they were kept behind: stamp those that were
            // written before versions had a tier of their own.
            for n in 1..=latest {
                let key = version_key(&put.path, n);
                if let Some(mut v) = get_version(versions, &key)? {
                    if v.tier.is_none() {
                        v.tier = Some(now);
                        put_version(versions, &key, &v)?;
                    }
                }
            }
        }
    }
    let record = SecretRecord {
        secret_type: put
            .secret_type
            .clone()
            .or_else(|| current.as_ref().map(|r| r.secret_type.clone()))
            .unwrap_or_else(|| DEFAULT_TYPE.to_string()),
        tier,
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
        tier: Some(tier),
    };
    put_version(versions, &version_key(&put.path, put.version), &version)?;
    put_tx(secrets, put.path.as_bytes(), &record)?;
    Ok(Ok(put.version))
}

/// Soft-deletes the latest version.
pub fn apply_delete_latest(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    path: &str,
) -> TxResult<Result<u64, Refusal>> {
    let Some(mut record): Option<SecretRecord> = get_tx(secrets, path.as_bytes())? else {
        return Ok(Err(Refusal::NotFound));
    };
    if record.latest_deleted {
        return Ok(Err(Refusal::AlreadyDeleted));
    }
    let key = version_key(path, record.latest_version);
    let Some(mut version) = get_version(versions, &key)? else {
        return Ok(Err(Refusal::NotFound));
    };
    version.deleted_ms = Some(time_ms);
    record.latest_deleted = true;
    record.updated_ms = time_ms;
    put_version(versions, &key, &version)?;
    put_tx(secrets, path.as_bytes(), &record)?;
    Ok(Ok(record.latest_version))
}

/// Destroys one version's ciphertext for good.
pub fn apply_destroy(
    secrets: &TransactionalTree,
    versions: &TransactionalTree,
    time_ms: u64,
    path: &str,
    number: u64,
) -> TxResult<Result<u64, Refusal>> {
    let Some(mut record): Option<SecretRecord> = get_tx(secrets, path.as_bytes())? else {
        return Ok(Err(Refusal::NotFound));
    };
    let key = version_key(path, number);
    let Some(mut version) = get_version(versions, &key)? else {
        return Ok(Err(Refusal::VersionNotFound { version: number }));
    };
    if version.destroyed {
        return Ok(Err(Refusal::AlreadyDeleted));
    }
    version.destroyed = true;
    version.ciphertext = Vec::new();
    version.deleted_ms.get_or_insert(time_ms);
    if number == record.latest_version {
        record.latest_deleted = true;
    }
    record.updated_ms = time_ms;
    put_version(versions, &key, &version)?;
    put_tx(secrets, path.as_bytes(), &record)?;
    Ok(Ok(number))
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
        self.versions
            .get(version_key(path, version))?
            .map(|v| VersionRecord::decode(&v))
            .transpose()
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
            out.push((n, VersionRecord::decode(&v)?));
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

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    struct Trees {
        _dir: tempfile::TempDir,
        secrets: sled::Tree,
        versions: sled::Tree,
    }

    fn trees() -> Trees {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        Trees {
            secrets: db.open_tree("s").unwrap(),
            versions: db.open_tree("v").unwrap(),
            _dir: dir,
        }
    }

    fn put(
        t: &Trees,
        version: u64,
        tier: Option<Tier>,
        lower_from: Option<Tier>,
    ) -> Result<u64, Refusal> {
        let p = PutSecret {
            path: "production/stripe/KEY".into(),
            version,
            cas: None,
            secret_type: None,
            tier,
            lower_from,
            ciphertext: vec![version as u8; 8],
        };
        (&t.secrets, &t.versions).transaction(|(s, v)| apply_put(s, v, 1000 + version, &p)).unwrap()
    }

    fn reader(t: &Trees) -> SecretsReader {
        SecretsReader::new(t.secrets.clone(), t.versions.clone())
    }

    fn gated_tier(t: &Trees, version: u64) -> Tier {
        let r = reader(t);
        let record = r.record("production/stripe/KEY").unwrap().unwrap();
        effective_tier(&record, &r.version("production/stripe/KEY", version).unwrap().unwrap())
    }

    /// Issue 14, item 1: a plain write can't lower a tier, and whatever lowers it, the
    /// versions written before keep the tier they were written with.
    #[test]
    fn lowering_a_tier_never_releases_an_older_version() {
        let t = trees();
        assert_eq!(put(&t, 1, Some(Tier::Critical), None), Ok(1));
        assert_eq!(
            put(&t, 2, Some(Tier::Standard), None),
            Err(Refusal::TierDowngradeDenied { current: Tier::Critical })
        );
        // An authority below the path's tier is no authority.
        assert_eq!(
            put(&t, 2, Some(Tier::Standard), Some(Tier::Sensitive)),
            Err(Refusal::TierDowngradeDenied { current: Tier::Critical })
        );
        assert_eq!(reader(&t).record("production/stripe/KEY").unwrap().unwrap().latest_version, 1);
        // A write without a tier keeps it; raising needs nothing.
        assert_eq!(put(&t, 2, None, None), Ok(2));
        assert_eq!(gated_tier(&t, 2), Tier::Critical);
        assert_eq!(put(&t, 3, Some(Tier::Standard), Some(Tier::Critical)), Ok(3));
        assert_eq!(gated_tier(&t, 1), Tier::Critical);
        assert_eq!(gated_tier(&t, 2), Tier::Critical);
        assert_eq!(gated_tier(&t, 3), Tier::Standard);
        // Raising the path raises every version's gate.
        assert_eq!(put(&t, 4, Some(Tier::Sensitive), None), Ok(4));
        assert_eq!(gated_tier(&t, 3), Tier::Sensitive);
        assert_eq!(gated_tier(&t, 1), Tier::Critical);
    }

    /// Versions stored before versions kept a tier decode with none, are judged by the path's
    /// tier, and get stamped with it before the tier is lowered.
    #[test]
    fn legacy_versions_are_stamped_before_a_lowering() {
        let t = trees();
        assert_eq!(put(&t, 1, Some(Tier::Critical), None), Ok(1));
        // Rewrite version 1 in the first layout, as an older release stored it.
        #[derive(Serialize)]
        struct V1<'a> {
            created_ms: u64,
            deleted_ms: Option<u64>,
            destroyed: bool,
            ciphertext: &'a [u8],
        }
        let old = crate::storage::encode(&V1 {
            created_ms: 5,
            deleted_ms: None,
            destroyed: false,
            ciphertext: b"abc",
        })
        .unwrap();
        t.versions.insert(version_key("production/stripe/KEY", 1), old).unwrap();
        let v1 = reader(&t).version("production/stripe/KEY", 1).unwrap().unwrap();
        assert_eq!((v1.tier, v1.ciphertext.as_slice(), v1.created_ms), (None, &b"abc"[..], 5));
        assert_eq!(gated_tier(&t, 1), Tier::Critical);
        assert_eq!(put(&t, 2, Some(Tier::Standard), Some(Tier::Critical)), Ok(2));
        let v1 = reader(&t).version("production/stripe/KEY", 1).unwrap().unwrap();
        assert_eq!(v1.tier, Some(Tier::Critical));
        assert_eq!(gated_tier(&t, 1), Tier::Critical);
    }

    /// Deleting or destroying a version changes nothing about tiers, and a destroyed version
    /// stays destroyed whatever is written after it.
    #[test]
    fn delete_and_destroy_keep_tiers_and_never_come_back() {
        let t = trees();
        assert_eq!(put(&t, 1, Some(Tier::Critical), None), Ok(1));
        let destroy = (&t.secrets, &t.versions)
            .transaction(|(s, v)| apply_destroy(s, v, 2000, "production/stripe/KEY", 1))
            .unwrap();
        assert_eq!(destroy, Ok(1));
        assert_eq!(put(&t, 2, None, None), Ok(2));
        let v1 = reader(&t).version("production/stripe/KEY", 1).unwrap().unwrap();
        assert!(v1.destroyed && v1.ciphertext.is_empty());
        assert_eq!(gated_tier(&t, 2), Tier::Critical);
    }
}
