//! One node's audit store: an append-only file of JSON lines under `data_dir/audit/`, written
//! by one task with group commit, read by any task without blocking it.
//!
//! ```text
//!  requests ──Msg::Event──> channel ──> writer task: take every waiting event (a batch)
//!                                         seq, time, prev_hash, hash ──> write(lines)
//!                                         ──> fdatasync (one per batch) ──> publish ──> ack each
//!  readers: index (seq → offset) + read handle, under a lock held only to copy them
//! ```
//!
//! A batch that fails to reach the disk is cut off again (the file goes back to its last
//! durable length) and every request in it is refused; the store answers `unhealthy` until a
//! probe succeeds. Retention (`prune`) runs on the same writer: it writes a MACed checkpoint
//! for the cut first, then rewrites the file without the pruned lines.
//!
//! The writer is a task on the node's runtime, not a thread of its own: a thread cost a
//! futex wake-up and a context switch each way for every batch, about a tenth of a node's
//! CPU on stale reads. Its `write(2)` runs on the task (it only copies into the page cache,
//! like the Raft log's appends); every `fdatasync` and a retention rewrite go to the blocking
//! pool. Opened outside a runtime, it gets a thread with a runtime of its own.
//!
//! Files: `events.log` (the chain), `checkpoint.json` (the last cut, if any).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};

use super::chain::{self, Checkpoint, GENESIS};
use super::record::AuditRecord;

pub const EVENTS_FILE: &str = "events.log";
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// Most events one batch (one fsync) takes.
const MAX_BATCH: usize = 4096;
/// Environment variable naming a file whose existence makes every batch fail as if the disk
/// refused it (tests of the fail-closed path on real nodes; see docs/audit.md).
pub const ENV_FAILPOINT: &str = "ASS_AUDIT_FAILPOINT";

/// When the writer makes appended events power-loss durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// `fdatasync` before a batch is acknowledged: every acknowledged event survives a power
    /// loss (and `kill -9`). Costs one disk flush on every request's path.
    EveryBatch,
    /// Acknowledge once `write(2)` took the batch (it is then in the kernel: it survives
    /// `kill -9` of the node), `fdatasync` at most this long after: a power loss or kernel
    /// crash may lose the events of that last interval.
    Interval(Duration),
}

/// Why the store could not take an event.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("audit store I/O: {0}")]
    Io(String),
    #[error("the audit writer stopped")]
    Stopped,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// What readers see: the durable part of the file.
pub(crate) struct View {
    pub file: Arc<File>,
    /// seq of the first line in the file.
    pub first_seq: u64,
    /// Start offset of every line; `len` ends the last.
    pub offsets: Vec<u64>,
    pub len: u64,
    pub last_seq: u64,
    pub last_hash: String,
    pub checkpoint: Option<Checkpoint>,
}

/// Lines `[from, to)` by index into `offsets`; `len` ends the last line.
pub(crate) fn read_lines(
    file: &File,
    offsets: &[u64],
    len: u64,
    from: usize,
    to: usize,
) -> std::io::Result<Vec<String>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let start = offsets[from];
    let end = offsets.get(to).copied().unwrap_or(len);
    let mut buf = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut buf, start)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text.lines().map(str::to_owned).collect())
}

/// Where the writer answers one event: its seq once durable, or why not.
pub(crate) type Ack = oneshot::Sender<Result<u64, StoreError>>;

/// A request to the writer.
pub(crate) enum Msg {
    Event(Box<AuditRecord>, Ack),
    Prune(PruneRequest, oneshot::Sender<Result<Option<Checkpoint>, StoreError>>),
}

/// Retention settings for one cut.
pub(crate) struct PruneRequest {
    /// Events recorded before this time (RFC 3339 ns form) go.
    pub older_than: Option<String>,
    /// Oldest events go until the file is at most this large.
    pub max_bytes: Option<u64>,
    pub mac_key: [u8; 32],
}

/// The shared part of an open store.
pub(crate) struct Store {
    pub dir: PathBuf,
    pub view: Arc<RwLock<View>>,
    pub healthy: Arc<AtomicBool>,
    pub last_seq: watch::Receiver<u64>,
    pub tx: mpsc::UnboundedSender<Msg>,
}

/// Opens (or creates) the store in `dir` and starts its writer.
pub(crate) fn open(dir: &Path, node: u64, sync: Sync) -> Result<Store, StoreError> {
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(EVENTS_FILE);
    let mut append =
        OpenOptions::new().create(true).append(true).read(true).open(&path).map_err(io)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut append, &mut bytes).map_err(io)?;
    // A batch torn by a crash ends without a newline: it was never acknowledged, drop it.
    let good = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    if good < bytes.len() {
        tracing::warn!(dropped = bytes.len() - good, "audit log ended in a torn write; cut it off");
        append.set_len(good as u64).map_err(io)?;
        append.sync_all().map_err(io)?;
        bytes.truncate(good);
    }
    sync_dir(dir)?;
    let checkpoint = read_checkpoint(dir)?;
    let mut offsets = Vec::new();
    let mut at = 0usize;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        offsets.push(at as u64);
        at += line.len();
    }
    let parse = |line: &[u8]| serde_json::from_slice::<AuditRecord>(line.trim_ascii_end()).ok();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let first_seq = lines
        .first()
        .and_then(|l| parse(l))
        .map_or_else(|| checkpoint.as_ref().map_or(1, |c| c.seq + 1), |e| e.seq);
    let (last_seq, last_hash) = match lines.last().and_then(|l| parse(l)) {
        Some(e) => (e.seq, e.hash),
        None => match (&checkpoint, lines.is_empty()) {
            (Some(c), true) => (c.seq, c.hash.clone()),
            (None, true) => (0, GENESIS.to_owned()),
            // An unreadable last line: keep appending after it; `verify` will name it.
            (_, false) => (first_seq + lines.len() as u64 - 1, GENESIS.to_owned()),
        },
    };
    let read = Arc::new(File::open(&path).map_err(io)?);
    let view = Arc::new(RwLock::new(View {
        file: read,
        first_seq,
        offsets,
        len: good as u64,
        last_seq,
        last_hash,
        checkpoint,
    }));
    let healthy = Arc::new(AtomicBool::new(true));
    let (seq_tx, seq_rx) = watch::channel(last_seq);
    let (tx, rx) = mpsc::unbounded_channel();
    let failpoint = std::env::var_os(ENV_FAILPOINT).map(PathBuf::from);
    if let Some(f) = &failpoint {
        tracing::warn!(file = %f.display(), "audit failpoint armed: batches fail while this file exists");
    }
    let writer = Writer {
        dir: dir.to_owned(),
        node,
        file: Arc::new(append),
        view: view.clone(),
        healthy: healthy.clone(),
        seq_tx,
        failpoint,
        last_time_ns: 0,
        sync,
        dirty_since: None,
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(writer.run(rx));
        }
        Err(_) => {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(io)?;
            std::thread::Builder::new()
                .name(format!("audit-writer-{node}"))
                .spawn(move || runtime.block_on(writer.run(rx)))
                .map_err(io)?;
        }
    }
    Ok(Store { dir: dir.to_owned(), view, healthy, last_seq: seq_rx, tx })
}

fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    match std::fs::read(dir.join(CHECKPOINT_FILE)) {
        Ok(b) => {
            serde_json::from_slice(&b).map(Some).map_err(|e| io(format!("checkpoint.json: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Writes `bytes` to `dir/name` durably (temp file, fsync, rename, fsync dir).
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
    sync_dir(dir)
}

/// RFC 3339 with nanoseconds, the one time format of events (sorts as text).
pub fn format_ns(ns: u64) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// Runs `f` on the blocking pool (an fsync, a file rewrite).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(std::io::Error::other)
}

/// `fdatasync` of `file`, off the runtime's threads.
async fn sync_data(file: &Arc<File>) -> std::io::Result<()> {
    let file = file.clone();
    blocking(move || file.sync_data()).await?
}

struct Writer {
    dir: PathBuf,
    node: u64,
    file: Arc<File>,
    view: Arc<RwLock<View>>,
    healthy: Arc<AtomicBool>,
    seq_tx: watch::Sender<u64>,
    failpoint: Option<PathBuf>,
    last_time_ns: u64,
    sync: Sync,
    /// When written but not yet synced events first appeared (`Sync::Interval`).
    dirty_since: Option<std::time::Instant>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let wait = match (self.sync, self.dirty_since) {
                (Sync::Interval(i), Some(since)) => i.saturating_sub(since.elapsed()),
                _ => Duration::from_millis(500),
            };
            let first = match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(m)) => m,
                Err(_elapsed) => {
                    self.sync_if_due().await;
                    if !self.healthy.load(Ordering::Relaxed) {
                        self.probe().await;
                    }
                    continue;
                }
                Ok(None) => {
                    self.dirty_since = Some(std::time::Instant::now() - Duration::from_secs(3600));
                    self.sync_if_due().await;
                    return;
                }
            };
            // Let the requests that are ready run first, so their events join this batch
            // (woken by a send, the writer would otherwise run right after each one).
            tokio::task::yield_now().await;
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(m) = next.take() {
                match m {
                    Msg::Event(e, ack) => batch.push((e, ack)),
                    Msg::Prune(req, ack) => {
                        self.commit(std::mem::take(&mut batch)).await;
                        // A rewrite of the whole file: on the blocking pool, writer and all.
                        match blocking(move || {
                            let result = self.prune(req);
                            (self, result)
                        })
                        .await
                        {
                            Ok((writer, result)) => {
                                self = writer;
                                let _ = ack.send(result);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "audit retention failed; the audit writer stops");
                                return;
                            }
                        }
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(batch).await;
            self.sync_if_due().await;
        }
    }

    /// `Sync::Interval`: flushes written events once the interval has passed. A failed
    /// flush may have lost acknowledged events: said loudly, and the store refuses requests
    /// until a probe syncs again.
    async fn sync_if_due(&mut self) {
        let (Sync::Interval(every), Some(since)) = (self.sync, self.dirty_since) else { return };
        if since.elapsed() < every {
            return;
        }
        match sync_data(&self.file).await {
            Ok(()) => self.dirty_since = None,
            Err(e) => {
                tracing::error!(error = %e, "audit log fdatasync failed: events of the last interval may not survive a power loss; refusing requests");
                self.healthy.store(false, Ordering::Relaxed);
            }
        }
    }

    fn failpoint_hit(&self) -> bool {
        self.failpoint.as_ref().is_some_and(|f| f.exists())
    }

    /// Puts the file back to its durable length and checks the disk takes a sync.
    async fn probe(&mut self) {
        let len = self.view.read().unwrap_or_else(|e| e.into_inner()).len;
        let ok = !self.failpoint_hit()
            && self.file.set_len(len).is_ok()
            && sync_data(&self.file).await.is_ok();
        if ok {
            tracing::info!("audit store writes again");
            self.healthy.store(true, Ordering::Relaxed);
        }
    }

    fn now_ns(&mut self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.last_time_ns = now.max(self.last_time_ns + 1);
        self.last_time_ns
    }

    async fn commit(&mut self, batch: Vec<(Box<AuditRecord>, Ack)>) {
        if batch.is_empty() {
            return;
        }
        let (mut seq, mut prev, len) = {
            let v = self.view.read().unwrap_or_else(|e| e.into_inner());
            (v.last_seq, v.last_hash.clone(), v.len)
        };
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut starts = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        for (mut event, ack) in batch {
            seq += 1;
            event.seq = seq;
            event.node = self.node;
            event.time = format_ns(self.now_ns());
            let line = chain::seal_event(&mut event, &prev);
            prev = event.hash.clone();
            starts.push(len + buf.len() as u64);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            acks.push((seq, ack));
        }
        let written = (&*self.file).write_all(&buf).and_then(|()| {
            if self.failpoint_hit() {
                Err(std::io::Error::other("injected failure (ASS_AUDIT_FAILPOINT)"))
            } else {
                Ok(())
            }
        });
        let result = match (written, self.sync) {
            (Err(e), _) => Err(e),
            (Ok(()), Sync::EveryBatch) => sync_data(&self.file).await,
            (Ok(()), Sync::Interval(_)) => {
                self.dirty_since.get_or_insert_with(std::time::Instant::now);
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                {
                    let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
                    v.offsets.extend_from_slice(&starts);
                    v.len = len + buf.len() as u64;
                    v.last_seq = seq;
                    v.last_hash = prev;
                }
                self.healthy.store(true, Ordering::Relaxed);
                let _ = self.seq_tx.send(seq);
                for (s, ack) in acks {
                    let _ = ack.send(Ok(s));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = acks.len(), "audit batch not durable; refusing its requests");
                self.healthy.store(false, Ordering::Relaxed);
                // Take the partial batch back off, so the chain stays whole.
                let _ = self.file.set_len(len);
                let _ = sync_data(&self.file).await;
                let err = io(e);
                for (_, ack) in acks {
                    let _ = ack.send(Err(err.clone()));
                }
            }
        }
    }

    /// Cuts the oldest events: a signed checkpoint first, then the rewritten file.
    fn prune(&mut self, req: PruneRequest) -> Result<Option<Checkpoint>, StoreError> {
        let (file, offsets, len) = {
            let v = self.view.read().unwrap_or_else(|e| e.into_inner());
            (v.file.clone(), v.offsets.clone(), v.len)
        };
        if offsets.len() < 2 {
            return Ok(None);
        }
        // Keep at least the newest event; `cut` = how many lines go.
        let mut cut = 0usize;
        if let Some(max) = req.max_bytes {
            while cut + 1 < offsets.len() && len - offsets[cut] > max {
                cut += 1;
            }
        }
        if let Some(older) = &req.older_than {
            while cut + 1 < offsets.len() {
                let line = read_lines(&file, &offsets, len, cut, cut + 1).map_err(io)?;
                let e: AuditRecord = match line.first().map(|l| serde_json::from_str(l)) {
                    Some(Ok(e)) => e,
                    _ => break,
                };
                if e.time >= *older {
                    break;
                }
                cut += 1;
            }
        }
        if cut == 0 {
            return Ok(None);
        }
        let last = read_lines(&file, &offsets, len, cut - 1, cut).map_err(io)?;
        let last: AuditRecord = serde_json::from_str(last.first().map_or("", String::as_str))
            .map_err(|e| io(format!("the last pruned line is not an event: {e}")))?;
        let mut cp = Checkpoint {
            v: 1,
            node: self.node,
            seq: last.seq,
            hash: last.hash.clone(),
            event_time: last.time.clone(),
            pruned_at: format_ns(self.now_ns()),
            mac: String::new(),
        };
        cp.sign(&req.mac_key);
        replace_file(&self.dir, CHECKPOINT_FILE, &serde_json::to_vec_pretty(&cp).map_err(io)?)?;
        let keep_from = offsets[cut];
        let mut rest = vec![0u8; (len - keep_from) as usize];
        file.read_exact_at(&mut rest, keep_from).map_err(io)?;
        replace_file(&self.dir, EVENTS_FILE, &rest)?;
        let path = self.dir.join(EVENTS_FILE);
        self.file = Arc::new(OpenOptions::new().append(true).read(true).open(&path).map_err(io)?);
        let read = Arc::new(File::open(&path).map_err(io)?);
        let mut v = self.view.write().unwrap_or_else(|e| e.into_inner());
        v.file = read;
        v.first_seq = last.seq + 1;
        v.offsets = offsets[cut..].iter().map(|o| o - keep_from).collect();
        v.len = len - keep_from;
        v.checkpoint = Some(cp.clone());
        tracing::info!(pruned = cut, through_seq = cp.seq, "audit retention cut old events");
        Ok(Some(cp))
    }
}
