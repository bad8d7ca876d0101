//! openraft's state machine over the sled trees of [`crate::state`], plus snapshots.
//!
//! `apply` runs a whole batch of entries in one sled transaction together with the
//! last-applied log id, so a crash leaves either all of a batch or none of it. A snapshot is
//! the consistent copy of every state-machine tree, encoded when the builder is made (sled
//! iterators are not point-in-time, and apply does not run while openraft asks for a builder).
//! When to build one is decided by [`snapshot_interval`], sized by the state.
//!
//! openraft's traits fix the error type (`StorageError`, ~224 bytes), so its size is not ours to shrink.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use crate::clock::LeaderClock;
use crate::command::{Applied, Command, Request};
use crate::raft::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::state::{self, Tx};
use crate::storage::schema::{
    KEY_LAST_APPLIED, KEY_LEADER_TIME, KEY_MEMBERSHIP, KEY_SEAL, KEY_SNAPSHOT_DATA,
    KEY_SNAPSHOT_ENTRIES, KEY_SNAPSHOT_META, SM_META,
};
use crate::storage::tx::put_tx;
use crate::storage::{decode, encode, Store, CODEC_V1};

fn sm_read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_state_machine(AnyError::new(&e)).into()
}

fn sm_write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

/// What a snapshot holds: every state-machine tree, copied at one log position.
#[derive(Serialize, Deserialize)]
struct SnapshotContent {
    trees: Vec<TreeCopy>,
}

use crate::storage::TreeCopy;

/// The trees of a snapshot's data, as [`RaftSnapshotBuilder::build_snapshot`] wrote them.
pub fn snapshot_trees(data: &[u8]) -> Result<Vec<TreeCopy>, crate::storage::StorageError> {
    decode::<SnapshotContent>(data).map(|c| c.trees)
}

/// The fraction of the state a log may grow to before the next snapshot: a snapshot is built
/// once the entries since the last one reach 1/`STATE_FRACTION` of the tree entries that last
/// snapshot held (and at least `raft.snapshot_every`).
pub const STATE_FRACTION: u64 = 4;

/// How many applied entries to let pass between snapshots, given the size of the last one.
///
/// Building a snapshot costs time and memory in proportion to the whole state; a fixed
/// interval made that cost per write grow with the state, so loading 1M secrets became
/// quadratic (docs/performance.md, Scale). Growing the interval with the state keeps the
/// cost per write constant, at the price of a log at most about a quarter the size of the
/// state (in entries) before it is purged.
pub fn snapshot_interval(min_every: u64, last_snapshot_entries: u64) -> u64 {
    min_every.max(last_snapshot_entries / STATE_FRACTION)
}

/// The state machine; cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    snapshot_counter: Arc<AtomicU64>,
    /// Tree entries in the latest snapshot, built or installed (0 before the first).
    snapshot_entries: Arc<AtomicU64>,
    /// Told the latest leader time applied; an observer, not replicated state.
    clock: Arc<LeaderClock>,
}

impl StateMachine {
    pub fn new(store: Store, clock: Arc<LeaderClock>) -> Self {
        let entries = store
            .snapshot
            .get(KEY_SNAPSHOT_ENTRIES)
            .ok()
            .flatten()
            .and_then(|v| decode::<u64>(&v).ok())
            .unwrap_or(0);
        Self {
            store,
            snapshot_counter: Arc::new(AtomicU64::new(0)),
            snapshot_entries: Arc::new(AtomicU64::new(entries)),
            clock,
        }
    }

    /// Tree entries in the latest snapshot, kept current as snapshots are built and installed.
    pub fn snapshot_entries(&self) -> Arc<AtomicU64> {
        self.snapshot_entries.clone()
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.store.sm_meta.get(key).map_err(sm_read_err)? {
            Some(v) => decode(&v).map(Some).map_err(sm_read_err),
            None => Ok(None),
        }
    }

    /// Encodes every state-machine tree straight into snapshot bytes, byte for byte what
    /// `encode(&SnapshotContent)` would write, without first copying each item into its own
    /// `Vec` (that copy doubled a node's memory while a snapshot of a large state was built).
    /// Returns the bytes and the number of tree entries.
    fn encode_trees(&self) -> Result<(Vec<u8>, u64), StorageError> {
        let trees = self.store.sm_trees();
        let mut out = vec![CODEC_V1];
        push_varint(&mut out, trees.len() as u64);
        let mut items = Vec::new();
        let mut total = 0;
        for (name, tree) in trees {
            push_bytes(&mut out, name.as_bytes());
            items.clear();
            let mut n = 0u64;
            for item in tree.iter() {
                let (k, v) = item.map_err(sm_read_err)?;
                push_bytes(&mut items, &k);
                push_bytes(&mut items, &v);
                n += 1;
            }
            push_varint(&mut out, n);
            out.extend_from_slice(&items);
            total += n;
        }
        Ok((out, total))
    }

    /// Applies a run of entries (no restore among them) in one transaction.
    fn apply_batch(&self, entries: &[Entry]) -> Result<Vec<Applied>, StorageError> {
        let trees = self.store.sm_trees();
        let trees: Vec<&sled::Tree> = trees.iter().map(|(_, t)| *t).collect();
        let result = trees.as_slice().transaction(|views| {
            let tx = Tx::from_views(views).ok_or_else(|| {
                sled::transaction::ConflictableTransactionError::Abort(
                    crate::storage::StorageError::Codec("state machine tree set mismatch".into()),
                )
            })?;
            let mut responses = Vec::with_capacity(entries.len());
            let mut membership = None;
            for entry in entries {
                let index = entry.log_id.index;
                let response = match &entry.payload {
                    EntryPayload::Blank => Applied { index, ..Default::default() },
                    EntryPayload::Normal(req) => state::apply(&tx, req, index)?,
                    EntryPayload::Membership(m) => {
                        membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                        Applied { index, ..Default::default() }
                    }
                };
                responses.push(response);
            }
            let last = entries.last().map(|e| e.log_id);
            put_tx(tx.meta, KEY_LAST_APPLIED, &last)?;
            if let Some(m) = &membership {
                put_tx(tx.meta, KEY_MEMBERSHIP, m)?;
            }
            Ok(responses)
        });
        result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e) => sm_write_err(e),
            sled::transaction::TransactionError::Storage(e) => sm_write_err(e),
        })
    }

    /// Applies a [`Command::Restore`]: every state-machine tree becomes the backup's, except
    /// what belongs to this cluster's Raft (applied position, membership); leader time only
    /// moves forward. Refusals and replays go through the ordinary path.
    fn apply_restore(&self, entry: &Entry, req: &Request) -> Result<Applied, StorageError> {
        let Command::Restore { into_uninitialized, trees: new_trees } = &req.cmd else {
            return Err(sm_write_err(std::io::Error::other("not a restore")));
        };
        let initialized = self.store.sm_meta.get(KEY_SEAL).map_err(sm_read_err)?.is_some();
        let seen = self.store.requests.get(req.request_id).map_err(sm_read_err)?.is_some();
        if seen || (*into_uninitialized && initialized) {
            // The ordinary path answers a replay, a reused id, or `AlreadyInitialized`.
            return Ok(self.apply_batch(std::slice::from_ref(entry))?.remove(0));
        }
        let index = entry.log_id.index;
        let trees = self.store.sm_trees();
        let mut old_keys = Vec::with_capacity(trees.len());
        for (_, tree) in &trees {
            let keys: Result<Vec<sled::IVec>, _> = tree.iter().keys().collect();
            old_keys.push(keys.map_err(sm_read_err)?);
        }
        let membership = self.store.sm_meta.get(KEY_MEMBERSHIP).map_err(sm_read_err)?;
        let leader_time_of = |v: Option<&[u8]>| v.and_then(|b| decode::<u64>(b).ok()).unwrap_or(0);
        let old_time = leader_time_of(
            self.store.sm_meta.get(KEY_LEADER_TIME).map_err(sm_read_err)?.as_deref(),
        );
        let restored_time = new_trees
            .iter()
            .find(|(n, _)| n == SM_META)
            .and_then(|(_, items)| items.iter().find(|(k, _)| k == KEY_LEADER_TIME))
            .map_or(0, |(_, v)| leader_time_of(Some(v)));
        let leader_time =
            encode(&old_time.max(restored_time).max(req.time_ms)).map_err(sm_write_err)?;
        let last_applied = encode(&Some(entry.log_id)).map_err(sm_write_err)?;
        let applied = Applied { index, response: crate::command::Response::Ok, replayed: false };
        let remembered =
            encode(&(req.time_ms, req.cmd.dedupe_key(), applied.clone())).map_err(sm_write_err)?;
        let kept_meta: [&[u8]; 3] = [KEY_LAST_APPLIED, KEY_MEMBERSHIP, KEY_LEADER_TIME];
        let refs: Vec<&sled::Tree> = trees.iter().map(|(_, t)| *t).collect();
        refs.as_slice()
            .transaction(|views| {
                for (i, view) in views.iter().enumerate() {
                    for k in &old_keys[i] {
                        view.remove(k.as_ref())?;
                    }
                    let name = trees[i].0;
                    if let Some((_, items)) = new_trees.iter().find(|(n, _)| n == name) {
                        for (k, v) in items {
                            if name == SM_META && kept_meta.contains(&k.as_slice()) {
                                continue;
                            }
                            view.insert(k.as_slice(), v.as_slice())?;
                        }
                    }
                }
                let meta = &views[0]; // sm_trees() puts sm_meta first
                if let Some(m) = &membership {
                    meta.insert(KEY_MEMBERSHIP, m.clone())?;
                }
                meta.insert(KEY_LAST_APPLIED, last_applied.as_slice())?;
                meta.insert(KEY_LEADER_TIME, leader_time.as_slice())?;
                let requests = &views[3]; // ... and requests fourth
                requests.insert(&req.request_id[..], remembered.as_slice())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| sm_write_err(std::io::Error::other(format!("restoring: {e:?}"))))?;
        tracing::warn!(
            index,
            trees = new_trees.len(),
            "state machine replaced by a restored backup"
        );
        Ok(applied)
    }

    fn save_current_snapshot(
        &self,
        meta: &SnapshotMeta,
        data: &[u8],
        entries: u64,
    ) -> Result<(), StorageError> {
        let meta_bytes = encode(meta).map_err(snap_err)?;
        let entries_bytes = encode(&entries).map_err(snap_err)?;
        self.store
            .snapshot
            .transaction(|t| {
                t.insert(KEY_SNAPSHOT_META, meta_bytes.as_slice())?;
                t.insert(KEY_SNAPSHOT_DATA, data)?;
                t.insert(KEY_SNAPSHOT_ENTRIES, entries_bytes.as_slice())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| snap_err(std::io::Error::other(format!("{e:?}"))))?;
        self.snapshot_entries.store(entries, Ordering::Relaxed);
        Ok(())
    }
}

/// postcard's length prefix: unsigned LEB128, seven bits a byte, low bits first.
fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A byte string as postcard writes `Vec<u8>` and `String`: its length, then the bytes.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Builds one snapshot from the copy taken when it was made.
pub struct SnapshotBuilder {
    sm: StateMachine,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The encoded trees and their entry count, taken when the builder was made.
    content: Result<(Vec<u8>, u64), StorageError>,
    /// When the trees began to be copied (the build time the log line reports starts here).
    started: std::time::Instant,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (data, entries) = std::mem::replace(&mut self.content, Ok((Vec::new(), 0)))?;
        let n = self.sm.snapshot_counter.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match &self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, n),
            None => format!("none-{n}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        self.sm.save_current_snapshot(&meta, &data, entries)?;
        self.sm.store.flush().await.map_err(snap_err)?;
        // The load benchmark's scale mode reads this line (size and build time per snapshot).
        tracing::info!(
            index = self.last_applied.map_or(0, |l| l.index),
            bytes = data.len(),
            entries,
            build_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "snapshot built"
        );
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

/// Trees left out of [`state_digest`]: `requests` is pruned by each node on its own schedule
/// (local housekeeping, see `server::prune_request_ids`), so it legitimately differs.
const DIGEST_SKIPS: &[&str] = &[crate::storage::schema::REQUESTS];

/// The applied log index and a SHA-256 over every replicated state-machine tree (name, key,
/// value, in order), for the chaos suite's convergence check: two nodes at the same applied
/// index must report the same digest. Read twice around the scan so an apply in between is
/// retried, never mixed in.
pub fn state_digest(store: &Store) -> Result<(u64, String), StorageError> {
    use sha2::{Digest, Sha256};
    let applied = || -> Result<(Option<sled::IVec>, u64), StorageError> {
        let raw = store.sm_meta.get(KEY_LAST_APPLIED).map_err(sm_read_err)?;
        let index = match &raw {
            Some(v) => decode::<Option<LogId>>(v).map_err(sm_read_err)?.map_or(0, |l| l.index),
            None => 0,
        };
        Ok((raw, index))
    };
    loop {
        let (before, index) = applied()?;
        let mut hash = Sha256::new();
        for (name, tree) in store.sm_trees() {
            if DIGEST_SKIPS.contains(&name) {
                continue;
            }
            hash.update((name.len() as u64).to_be_bytes());
            hash.update(name.as_bytes());
            for item in tree.iter() {
                let (k, v) = item.map_err(sm_read_err)?;
                hash.update((k.len() as u64).to_be_bytes());
                hash.update(&k);
                hash.update((v.len() as u64).to_be_bytes());
                hash.update(&v);
            }
        }
        if applied()?.0 == before {
            return Ok((index, hex::encode(hash.finalize())));
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let last_applied = self.read_meta::<Option<LogId>>(KEY_LAST_APPLIED)?.flatten();
        let membership = self.read_meta(KEY_MEMBERSHIP)?.unwrap_or_default();
        Ok((last_applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // A restore replaces whole trees, which needs scans a transaction can't make: it is
        // applied on its own, between the transactions of the entries around it.
        let mut responses = Vec::with_capacity(entries.len());
        let mut start = 0;
        for (i, entry) in entries.iter().enumerate() {
            if let EntryPayload::Normal(req) = &entry.payload {
                if matches!(req.cmd, Command::Restore { .. }) {
                    if start < i {
                        responses.extend(self.apply_batch(&entries[start..i])?);
                    }
                    responses.push(self.apply_restore(entry, req)?);
                    start = i + 1;
                }
            }
        }
        if start < entries.len() {
            responses.extend(self.apply_batch(&entries[start..])?);
        }
        // After the commit, before openraft reports these entries applied (a read waiting
        // for them then sees the new generation and never a cached pre-revoke identity).
        if entries.iter().any(|e| match &e.payload {
            EntryPayload::Normal(req) => req.cmd.may_change_identity(),
            EntryPayload::Membership(_) => true,
            EntryPayload::Blank => false,
        }) {
            self.store.bump_identity_gen();
        }
        if let Some(t) = entries
            .iter()
            .filter_map(|e| match &e.payload {
                EntryPayload::Normal(req) => Some(req.time_ms),
                _ => None,
            })
            .max()
        {
            self.clock.observe(t);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let started = std::time::Instant::now();
        let (last_applied, membership) = match self.applied_state().await {
            Ok(s) => s,
            Err(e) => {
                return SnapshotBuilder {
                    sm: self.clone(),
                    last_applied: None,
                    membership: StoredMembership::default(),
                    content: Err(e),
                    started,
                }
            }
        };
        let content = self.encode_trees();
        SnapshotBuilder { sm: self.clone(), last_applied, membership, content, started }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let content: SnapshotContent = decode(&data).map_err(snap_err)?;
        // Replace every state-machine tree in one transaction, so a crash leaves either the
        // old state or the snapshot's, never a mix marked as applied.
        let trees = self.store.sm_trees();
        let mut old_keys = Vec::with_capacity(trees.len());
        for (_, tree) in &trees {
            let keys: Result<Vec<sled::IVec>, _> = tree.iter().keys().collect();
            old_keys.push(keys.map_err(sm_read_err)?);
        }
        let last_applied = encode(&meta.last_log_id).map_err(sm_write_err)?;
        let membership = encode(&meta.last_membership).map_err(sm_write_err)?;
        let refs: Vec<&sled::Tree> = trees.iter().map(|(_, t)| *t).collect();
        refs.as_slice()
            .transaction(|views| {
                for (i, view) in views.iter().enumerate() {
                    for k in &old_keys[i] {
                        view.remove(k.as_ref())?;
                    }
                    let name = trees[i].0;
                    if let Some((_, items)) = content.trees.iter().find(|(n, _)| n == name) {
                        for (k, v) in items {
                            view.insert(k.as_slice(), v.as_slice())?;
                        }
                    }
                }
                // The snapshot's own position wins over whatever its copied meta tree said.
                let meta_view = &views[0]; // sm_trees() puts sm_meta first
                meta_view.insert(KEY_LAST_APPLIED, last_applied.as_slice())?;
                meta_view.insert(KEY_MEMBERSHIP, membership.as_slice())?;
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| {
                sm_write_err(std::io::Error::other(format!("installing snapshot: {e:?}")))
            })?;
        self.store.bump_identity_gen(); // every tree was replaced: forget cached identities
        let entries = content.trees.iter().map(|(_, items)| items.len() as u64).sum();
        self.save_current_snapshot(meta, &data, entries)?;
        self.store.flush().await.map_err(sm_write_err)?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let meta = match self.store.snapshot.get(KEY_SNAPSHOT_META).map_err(sm_read_err)? {
            Some(m) => decode::<SnapshotMeta>(&m).map_err(sm_read_err)?,
            None => return Ok(None),
        };
        let data = self
            .store
            .snapshot
            .get(KEY_SNAPSHOT_DATA)
            .map_err(sm_read_err)?
            .map(|d| d.to_vec())
            .unwrap_or_default();
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> (tempfile::TempDir, StateMachine) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sm = StateMachine::new(store, Arc::new(LeaderClock::new(5000)));
        (dir, sm)
    }

    #[test]
    fn streamed_snapshot_bytes_equal_postcard_of_the_copied_trees() {
        let (_dir, sm) = machine();
        // Lengths around the varint boundaries (127/128, 16383/16384) and an empty value.
        for (i, len) in [0usize, 1, 127, 128, 300, 16_383, 16_384].into_iter().enumerate() {
            sm.store.secrets.insert(format!("p/{i}"), vec![i as u8; len]).unwrap();
        }
        for i in 0..200u32 {
            sm.store.versions.insert(i.to_be_bytes(), vec![7u8; 40]).unwrap();
        }
        let (bytes, entries) = sm.encode_trees().unwrap();

        let mut trees = Vec::new();
        for (name, tree) in sm.store.sm_trees() {
            let items: Vec<(Vec<u8>, Vec<u8>)> =
                tree.iter().map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            trees.push((name.to_string(), items));
        }
        let expected_entries: u64 = trees.iter().map(|(_, items)| items.len() as u64).sum();
        assert_eq!(bytes, encode(&SnapshotContent { trees: trees.clone() }).unwrap());
        assert_eq!(entries, expected_entries);
        assert!(entries >= 207, "{entries}");
        assert_eq!(snapshot_trees(&bytes).unwrap(), trees);
    }

    #[tokio::test]
    async fn a_built_snapshot_records_its_entry_count_for_the_next_start() {
        let (dir, mut sm) = machine();
        for i in 0..50u32 {
            sm.store.secrets.insert(i.to_be_bytes(), &b"v"[..]).unwrap();
        }
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.unwrap();
        let counted = sm.snapshot_entries().load(Ordering::Relaxed);
        assert!(counted >= 50, "{counted}");
        let store = sm.store.clone();
        drop((builder, sm));
        store.flush().await.unwrap();
        drop(store);
        let reopened =
            StateMachine::new(Store::open(dir.path()).unwrap(), Arc::new(LeaderClock::new(5000)));
        assert_eq!(reopened.snapshot_entries().load(Ordering::Relaxed), counted);
    }

    #[test]
    fn the_snapshot_interval_grows_with_the_state() {
        assert_eq!(snapshot_interval(5000, 0), 5000);
        assert_eq!(snapshot_interval(5000, 20_000), 5000);
        assert_eq!(snapshot_interval(5000, 400_000), 100_000);
        assert_eq!(snapshot_interval(5000, 3_000_000), 750_000);
    }
}
