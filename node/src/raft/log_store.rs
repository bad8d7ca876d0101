//! The Raft log and vote, in the write-ahead log of [`crate::storage::wal`] under
//! `DATA/raft-log/`. The state machine stays in sled (`raft::state_machine`).
//!
//! Entries and votes are synced (fdatasync) before openraft is told they are stored: `append`
//! calls the callback only after a [`Wal::sync`] that began after its entries were written,
//! `save_vote` returns only after one.
//!
//! Appends are group-committed, as openraft's storage-v2 contract asks ("returns immediately
//! after saving the input log entries in memory, and calls the callback when the entries are
//! persisted"): `append` writes its batch and hands the callback to one flusher task, which
//! takes every callback waiting, runs one sync, then calls them in order. While one sync runs,
//! the appends behind it gather for the next.
//!
//! Why not sled, where the log was first (decision 34): a sled flush writes back every dirty
//! page of the database, the state machine's included, so each commit cost about 600 µs of
//! CPU on the leader; a sync here writes only the new records.
//!
//! The state machine is no longer flushed with each append. It need not be: an apply batch and
//! its `last_applied` commit in one sled transaction, so a crash leaves it at some earlier
//! applied index, and openraft applies the log again from there. That holds while the log
//! still has those entries, which is why a snapshot flushes sled before openraft purges the
//! log behind it (`state_machine::SnapshotBuilder`).
//!
//! A data directory from before the WAL holds the log in sled's `raft_log` and `raft_meta`
//! trees; [`LogStore::open`] moves it into the WAL once.
//!
//! openraft's traits fix the error type (`StorageError`, ~224 bytes), so its size is not ours to shrink.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError, Vote};

use crate::raft::types::{Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::storage::schema::{KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE};
use crate::storage::wal::{Wal, WalError, DEFAULT_SEGMENT_BYTES};
use crate::storage::{decode, encode, Store};

/// The log's directory inside the data directory.
pub const LOG_DIR: &str = "raft-log";
/// How often the flusher yields to other ready tasks before a sync, gathering the appends
/// they make (see [`group_commit`]).
const GATHER_YIELDS: usize = 2;
/// WAL state slots.
const SLOT_VOTE: u8 = 1;
const SLOT_LAST_PURGED: u8 = 2;
const SLOT_COMMITTED: u8 = 3;

/// The log store; cheap to clone (the WAL is shared).
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<Wal>,
    /// Callbacks of appended batches waiting for a sync, to the flusher task.
    flushes: mpsc::UnboundedSender<LogFlushed<TypeConfig>>,
    /// The flusher's end until the first append starts it (inside the runtime).
    flusher: Arc<Mutex<Option<mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>>>>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

/// Runs blocking WAL work (an fsync) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WalError> + Send + 'static,
) -> Result<T, WalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WalError::Poisoned(format!("WAL task failed: {e}")))?
}

impl LogStore {
    /// Opens the log in `data_dir/raft-log/`, moving a log that an older version kept in
    /// sled into it first.
    pub fn open(store: &Store, data_dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(store, data_dir, DEFAULT_SEGMENT_BYTES)
    }

    /// [`LogStore::open`] with a chosen WAL segment size (tests use small ones).
    pub fn open_with(
        store: &Store,
        data_dir: &Path,
        segment_bytes: u64,
    ) -> Result<Self, StorageError> {
        let dir = data_dir.join(LOG_DIR);
        if !dir.exists() {
            migrate_from_sled(store, data_dir, &dir, segment_bytes)?;
        }
        clear_sled_log(store)?;
        let wal = Wal::open(&dir, segment_bytes).map_err(read_err)?;
        let (flushes, rx) = mpsc::unbounded_channel();
        Ok(Self { wal: Arc::new(wal), flushes, flusher: Arc::new(Mutex::new(Some(rx))) })
    }

    /// Starts the flusher task on the first append.
    fn start_flusher(&self) {
        let rx = self.flusher.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(rx) = rx {
            tokio::spawn(group_commit(self.wal.clone(), rx));
        }
    }

    fn slot<T: serde::de::DeserializeOwned>(&self, slot: u8) -> Result<Option<T>, StorageError> {
        match self.wal.state(slot) {
            Some(v) => decode(&v).map(Some).map_err(read_err),
            None => Ok(None),
        }
    }

    fn set_slot<T: serde::Serialize>(&self, slot: u8, value: &T) -> Result<(), StorageError> {
        let bytes = encode(value).map_err(write_err)?;
        self.wal.set_state(slot, &bytes).map_err(write_err)
    }

    /// Makes everything written so far durable (the clean stop's last word to the log).
    pub async fn sync_now(&self) -> Result<(), StorageError> {
        self.sync().await
    }

    async fn sync(&self) -> Result<(), StorageError> {
        let wal = self.wal.clone();
        blocking(move || wal.sync()).await.map_err(write_err)
    }
}

/// Moves a log kept in sled's `raft_log`/`raft_meta` trees (before the WAL) into a new WAL
/// at `dir`, built beside it and renamed into place once synced, so a crash midway leaves
/// the sled copy in charge.
fn migrate_from_sled(
    store: &Store,
    data_dir: &Path,
    dir: &Path,
    segment_bytes: u64,
) -> Result<(), StorageError> {
    let building = data_dir.join(format!("{LOG_DIR}.new"));
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(write_err)?;
    }
    let wal = Wal::open(&building, segment_bytes).map_err(write_err)?;
    let meta = |key: &[u8]| store.raft_meta.get(key).map_err(read_err);
    for (slot, key) in [
        (SLOT_VOTE, KEY_VOTE),
        (SLOT_LAST_PURGED, KEY_LAST_PURGED),
        (SLOT_COMMITTED, KEY_COMMITTED),
    ] {
        if let Some(v) = meta(key)? {
            wal.set_state(slot, &v).map_err(write_err)?;
        }
    }
    if let Some(purged) = meta(KEY_LAST_PURGED)? {
        let purged: LogId = decode(&purged).map_err(read_err)?;
        wal.purge(purged.index).map_err(write_err)?;
    }
    let mut moved = 0u64;
    for item in store.raft_log.iter() {
        let (k, v) = item.map_err(read_err)?;
        let index = u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| read_err(std::io::Error::other("a raft_log key is not 8 bytes")))?,
        );
        wal.append([(index, v.as_ref())]).map_err(write_err)?;
        moved += 1;
    }
    wal.sync().map_err(write_err)?;
    drop(wal);
    std::fs::rename(&building, dir).map_err(write_err)?;
    std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(write_err)?;
    if moved > 0 {
        tracing::info!(entries = moved, "moved the raft log from sled into {}", dir.display());
    }
    Ok(())
}

/// Empties the sled trees the log lived in before the WAL (a no-op once they are empty).
fn clear_sled_log(store: &Store) -> Result<(), StorageError> {
    if store.raft_log.is_empty() && store.raft_meta.is_empty() {
        return Ok(());
    }
    store.raft_log.clear().map_err(write_err)?;
    store.raft_meta.clear().map_err(write_err)?;
    store.db.flush().map_err(write_err)?;
    Ok(())
}

/// The flusher: one sync for every callback waiting when it starts, then the callbacks in
/// append order. Ends when every `LogStore` clone is dropped.
async fn group_commit(wal: Arc<Wal>, mut rx: mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>) {
    let mut waiting = Vec::new();
    while rx.recv_many(&mut waiting, 4096).await > 0 {
        // Let every task that is ready run first: on a leader, openraft appends one client
        // write at a time, each right after its request is parsed, so without this the
        // flusher woke for every append and synced each alone (one fsync per write).
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
        }
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let wal = wal.clone();
        let result = blocking(move || wal.sync()).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, entries = waiting.len(), "log sync failed");
        }
        for callback in waiting.drain(..) {
            let io = result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(io);
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        let wal = self.wal.clone();
        let payloads = wal.read(from, to).map_err(read_err)?;
        payloads.iter().map(|p| decode(p).map_err(read_err)).collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.slot(SLOT_LAST_PURGED)?;
        let last = match self.wal.bounds() {
            Some((_, last)) => {
                let payload = self.wal.read(last, last + 1).map_err(read_err)?;
                let entry: Entry = decode(payload.first().ok_or_else(|| {
                    read_err(std::io::Error::other("the last log entry vanished"))
                })?)
                .map_err(read_err)?;
                Some(entry.log_id)
            }
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.set_slot(SLOT_VOTE, vote)?;
        self.sync().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.slot(SLOT_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: losing it only makes a restarted node re-learn the commit index.
        self.set_slot(SLOT_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.slot::<Option<LogId>>(SLOT_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded = entries
            .into_iter()
            .map(|e| Ok((e.log_id.index, encode(&e).map_err(write_err)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.wal.append(encoded.iter().map(|(i, b)| (*i, b.as_slice()))).map_err(write_err)?;
        self.start_flusher();
        if let Err(mpsc::error::SendError(callback)) = self.flushes.send(callback) {
            // The flusher is gone (shutdown): sync here.
            let result = self.sync().await;
            let io = result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(io);
            return result;
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let wal = self.wal.clone();
        blocking(move || wal.truncate(log_id.index)).await.map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point is recorded (and synced by `Wal::purge`) before any entry goes.
        self.set_slot(SLOT_LAST_PURGED, &log_id)?;
        let wal = self.wal.clone();
        blocking(move || wal.purge(log_id.index)).await.map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(2, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[tokio::test]
    async fn a_log_kept_in_sled_moves_into_the_wal_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // What a node before the WAL left: entries 4..=9, purged through 3, a vote.
        for i in 4..10u64 {
            store.raft_log.insert(i.to_be_bytes(), encode(&entry(i)).unwrap()).unwrap();
        }
        let vote = Vote::new_committed(2, 1);
        store.raft_meta.insert(KEY_VOTE, encode(&vote).unwrap()).unwrap();
        let purged = entry(3).log_id;
        store.raft_meta.insert(KEY_LAST_PURGED, encode(&purged).unwrap()).unwrap();
        store.flush().await.unwrap();

        let mut log = LogStore::open(&store, dir.path()).unwrap();
        assert!(store.raft_log.is_empty() && store.raft_meta.is_empty(), "sled copy cleared");
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(purged));
        assert_eq!(state.last_log_id, Some(entry(9).log_id));
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        let got = log.try_get_log_entries(4..10).await.unwrap();
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            (4..10).collect::<Vec<_>>()
        );
        drop(log);

        // Opened again: the WAL is in charge; nothing is moved twice.
        let mut log = LogStore::open(&store, dir.path()).unwrap();
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(entry(9).log_id));
        assert_eq!(log.try_get_log_entries(..).await.unwrap().len(), 6);
    }
}
