//! The secrets trees in sled: [`SecretsReader`] for reads on any node, and the `apply_*`
//! functions the state machine runs inside its transaction. The rules are
//! [`super::engine`]'s; this file reads, calls them, and writes what they decided.

use sled::transaction::TransactionalTree;

use super::engine;
use super::{PutSecret, Refusal, SecretRecord, VersionRecord};
use crate::storage::schema::{version_key, versions_prefix};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

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
    let out = match engine::judge_put(current.as_ref(), put, time_ms) {
        Ok(out) => out,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Some(now) = out.stamp_legacy {
        // The old versions keep the tier they were kept behind: stamp those that were
        // written before versions had a tier of their own.
        let latest = current.as_ref().map_or(0, |r| r.latest_version);
        for n in 1..=latest {
            let key = version_key(&put.path, n);
            if let Some(mut v) = get_version(versions, &key)? {
                if engine::stamp(&mut v, now) {
                    put_version(versions, &key, &v)?;
                }
            }
        }
    }
    put_version(versions, &version_key(&put.path, put.version), &out.version)?;
    put_tx(secrets, put.path.as_bytes(), &out.record)?;
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
    let number = match engine::delete_target(&record) {
        Ok(n) => n,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let key = version_key(path, number);
    let Some(mut version) = get_version(versions, &key)? else {
        return Ok(Err(Refusal::NotFound));
    };
    engine::soft_delete(&mut record, &mut version, time_ms);
    put_version(versions, &key, &version)?;
    put_tx(secrets, path.as_bytes(), &record)?;
    Ok(Ok(number))
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
    if let Err(refusal) = engine::destroy(&mut record, &mut version, number, time_ms) {
        return Ok(Err(refusal));
    }
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
    use crate::secrets::{effective_tier, Tier};
    use serde::Serialize;
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

    #[derive(Debug, Clone)]
    enum Op {
        /// A write of the next version with this tier (`None`: keep), with or without the
        /// authority to lower.
        Put {
            tier: Option<Tier>,
            authorized: bool,
        },
        /// A write of a version that is no longer next (a concurrent write won).
        Stale {
            tier: Option<Tier>,
        },
        Delete,
        Destroy(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let tier = || {
            proptest::option::of(prop_oneof![
                Just(Tier::Standard),
                Just(Tier::Sensitive),
                Just(Tier::Critical)
            ])
        };
        prop_oneof![
            4 => (tier(), any::<bool>()).prop_map(|(tier, authorized)| Op::Put { tier, authorized }),
            1 => tier().prop_map(|tier| Op::Stale { tier }),
            1 => Just(Op::Delete),
            1 => (1u64..6).prop_map(Op::Destroy),
        ]
    }

    /// Every version's gate, oldest first.
    fn gates(t: &Trees) -> Vec<Tier> {
        let r = reader(t);
        let Some(record) = r.record("production/stripe/KEY").unwrap() else { return vec![] };
        r.versions("production/stripe/KEY")
            .unwrap()
            .iter()
            .map(|(_, v)| effective_tier(&record, v))
            .collect()
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Through the real apply on real sled trees: no sequence of writes, deletes and
        /// destroys lowers the gate of an existing version unless a write carried the
        /// authority to lower (`lower_from`), and even then no version's gate drops below
        /// the path's tier when it was written.
        #[test]
        fn no_sequence_of_writes_releases_an_existing_version(
            ops in proptest::collection::vec(op(), 1..12)
        ) {
            let t = trees();
            let mut written_under: Vec<Tier> = Vec::new();
            for op in ops {
                let before = gates(&t);
                let latest = reader(&t)
                    .record("production/stripe/KEY")
                    .unwrap()
                    .map_or(0, |r| r.latest_version);
                let path_tier =
                    reader(&t).record("production/stripe/KEY").unwrap().map(|r| r.tier);
                let mut lowered_with_authority = false;
                match op {
                    Op::Put { tier, authorized } => {
                        let lower_from = authorized.then_some(Tier::Critical);
                        if put(&t, latest + 1, tier, lower_from).is_ok() {
                            let record =
                                reader(&t).record("production/stripe/KEY").unwrap().unwrap();
                            lowered_with_authority = path_tier.is_some_and(|was| record.tier < was);
                            prop_assert!(authorized || !lowered_with_authority);
                            written_under.push(record.tier);
                        }
                    }
                    Op::Stale { tier } => {
                        prop_assert!(put(&t, latest, tier, Some(Tier::Critical)).is_err());
                    }
                    Op::Delete => {
                        let _ = (&t.secrets, &t.versions)
                            .transaction(|(s, v)| {
                                apply_delete_latest(s, v, 5000, "production/stripe/KEY")
                            })
                            .unwrap();
                    }
                    Op::Destroy(n) => {
                        let _ = (&t.secrets, &t.versions)
                            .transaction(|(s, v)| {
                                apply_destroy(s, v, 6000, "production/stripe/KEY", n)
                            })
                            .unwrap();
                    }
                }
                let after = gates(&t);
                prop_assert!(after.len() >= before.len());
                for (n, (was, now)) in before.iter().zip(&after).enumerate() {
                    if !lowered_with_authority {
                        prop_assert!(now >= was, "version {}: {} -> {} without authority", n + 1, was, now);
                    }
                }
                for (n, (now, under)) in after.iter().zip(&written_under).enumerate() {
                    prop_assert!(now >= under, "version {} written under {} now gated {}", n + 1, under, now);
                }
            }
        }
    }
}
