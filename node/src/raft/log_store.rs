//! The Raft log and vote on sled.
//!
//! Entries and votes are flushed (fsync) before openraft is told they are stored: `append`
//! calls the callback only after a [`Store::flush`] that began after its entries were written,
//! `save_vote` returns only after one.
//!
//! Appends are group-committed, as openraft's storage-v2 contract asks ("returns immediately
//! after saving the input log entries in memory, and calls the callback when the entries are
//! persisted"): `append` writes its batch to sled and hands the callback to one flusher task,
//! which takes every callback waiting, runs one flush, then calls them in order. While one
//! flush runs, the appends behind it gather for the next. Blocking `append` on its own flush
//! (what this did first) made the leader fsync about once per 1.5 entries under load.
//!
//! openraft's traits fix the error type (`StorageError`, ~224 bytes), so its size is not ours to shrink.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError, Vote};

use crate::raft::types::{Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::storage::schema::{KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE};
use crate::storage::{decode, encode, Store};

/// The log store; cheap to clone (sled trees are shared handles).
#[derive(Clone)]
pub struct LogStore {
    store: Store,
    /// Callbacks of appended batches waiting for a flush, to the flusher task.
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

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    pub fn new(store: Store) -> Self {
        let (flushes, rx) = mpsc::unbounded_channel();
        Self { store, flushes, flusher: Arc::new(Mutex::new(Some(rx))) }
    }

    /// Starts the flusher task on the first append.
    fn start_flusher(&self) {
        let rx = self.flusher.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(rx) = rx {
            tokio::spawn(group_commit(self.store.clone(), rx));
        }
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.store.raft_meta.get(key).map_err(read_err)? {
            Some(v) => decode(&v).map(Some).map_err(read_err),
            None => Ok(None),
        }
    }

    fn set_meta<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let bytes = encode(value).map_err(write_err)?;
        self.store.raft_meta.insert(key, bytes).map_err(write_err)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.store.flush().await.map_err(write_err)
    }
}

/// The flusher: one flush for every callback waiting when it starts, then the callbacks in
/// append order. Ends when every `LogStore` clone is dropped.
async fn group_commit(store: Store, mut rx: mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>) {
    let mut waiting = Vec::new();
    while rx.recv_many(&mut waiting, 4096).await > 0 {
        let result = store.flush().await;
        if let Err(e) = &result {
            tracing::error!(error = %e, entries = waiting.len(), "log flush failed");
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
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(index_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(index_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self.store.raft_log.range::<[u8; 8], _>((start, end)) {
            let (_, v) = item.map_err(read_err)?;
            out.push(decode(&v).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.meta(KEY_LAST_PURGED)?;
        let last = match self.store.raft_log.last().map_err(read_err)? {
            Some((_, v)) => Some(decode::<Entry>(&v).map_err(read_err)?.log_id),
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.set_meta(KEY_VOTE, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed: losing it only makes a restarted node re-learn the commit index.
        self.set_meta(KEY_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
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
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(&index_key(entry.log_id.index), encode(&entry).map_err(write_err)?);
        }
        self.store.raft_log.apply_batch(batch).map_err(write_err)?;
        self.start_flusher();
        if let Err(mpsc::error::SendError(callback)) = self.flushes.send(callback) {
            // The flusher is gone (shutdown): flush here, as before group commit.
            let result = self.store.flush().await;
            let io = result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(io);
            return result.map_err(write_err);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for item in self.store.raft_log.range(index_key(log_id.index)..) {
            let (k, _) = item.map_err(read_err)?;
            batch.remove(k);
        }
        self.store.raft_log.apply_batch(batch).map_err(write_err)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first, so a crash in between never loses the log state.
        self.set_meta(KEY_LAST_PURGED, &log_id)?;
        self.flush().await?;
        let mut batch = sled::Batch::default();
        for item in self.store.raft_log.range(..=index_key(log_id.index)) {
            let (k, _) = item.map_err(read_err)?;
            batch.remove(k);
        }
        self.store.raft_log.apply_batch(batch).map_err(write_err)?;
        Ok(())
    }
}
