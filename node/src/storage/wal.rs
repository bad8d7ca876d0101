//! A segmented, append-only write-ahead log of numbered records, with a few named state slots.
//! The Raft log lives here (`raft::log_store`); it knows nothing of Raft.
//!
//! ```text
//!  DIR/0000000000000001.wal  DIR/0000000000000002.wal  …   segments, oldest first
//!  record:  len u32 LE ‖ crc32 u32 LE ‖ kind u8 ‖ body       len = 1 + body, crc over kind ‖ body
//!    ENTRY  body: index u64 BE ‖ payload
//!    STATE  body: slot u8 ‖ value                the newest value of a slot wins (vote, …)
//!    PURGE  body: index u64 BE                   entries up to index are gone
//!    TRUNCATE body: index u64 BE                 entries from index on are gone
//! ```
//!
//! **Durability.** [`Wal::append`] and [`Wal::set_state`] only `write(2)`. [`Wal::sync`]
//! `fdatasync`s every segment written since the last sync (and the directory, after a segment
//! was made), so a record is durable once a `sync` that began after it was written returns —
//! the group commit of `raft::log_store` rests on this. [`Wal::truncate`] and [`Wal::purge`]
//! are durable when they return. Both are records, never edits of a file: the only files
//! ever removed are whole older segments after a purge, and the only cut is of a torn tail
//! at recovery. After any failed write or sync the log refuses all further
//! work (a failed `fsync` leaves the page cache in an unknown state; retrying could report
//! lost data as durable).
//!
//! **Segments.** A segment that reaches the configured size is synced, then the next begins;
//! every [`Wal::open`] begins one too. Every segment starts with the current state slots and
//! purge point, so the newest segment always holds them: deleting older segments
//! ([`Wal::purge`]) never loses a slot. A purge deletes only the oldest run of segments whose
//! entries are all purged, stopping at the first it must keep: a newer segment may hold the
//! `TRUNCATE` that removed entries of an older one.
//!
//! **Recovery.** [`Wal::open`] reads every segment in order and checks each record's CRC. A
//! torn record in the newest segment is a write cut short by a crash (nothing after it was
//! ever synced): the segment is cut there. Every older segment was synced whole before the
//! next began, so a bad record there is corruption, and `open` fails rather than serve a log
//! with a hole in it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Size at which a segment is closed and the next begins.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
const SEGMENT_EXT: &str = "wal";
/// `len` and `crc` before every record's kind byte.
const HEADER: usize = 8;
const KIND_ENTRY: u8 = 1;
const KIND_STATE: u8 = 2;
const KIND_PURGE: u8 = 3;
const KIND_TRUNCATE: u8 = 4;
/// The largest record read back; a corrupt length must not allocate gigabytes.
const MAX_RECORD: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("write-ahead log is corrupt: {0}")]
    Corrupt(String),
    #[error("write-ahead log: {0}")]
    Misuse(String),
    #[error("write-ahead log refuses work after an earlier I/O failure: {0}")]
    Poisoned(String),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_path_buf(), source }
}

/// Where one entry record lies.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    /// Offset of the record's header.
    offset: u64,
    /// Length of the whole record, header included.
    len: u32,
}

/// Records lying back to back in one segment, read with one `pread`: the file, its path, the
/// first record's offset and every record's index and place.
struct Run {
    file: Arc<File>,
    path: PathBuf,
    start: u64,
    locs: Vec<(u64, Loc)>,
}

struct Segment {
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    /// The highest entry index written to it, if any (never lower than the truth).
    last_entry: Option<u64>,
}

struct Inner {
    segments: BTreeMap<u64, Segment>,
    /// Index of `entries[0]`; meaningless while `entries` is empty.
    first: u64,
    entries: VecDeque<Loc>,
    purged: Option<u64>,
    state: BTreeMap<u8, Vec<u8>>,
    /// Segments written since the last sync.
    unsynced: BTreeSet<u64>,
    dir_unsynced: bool,
    poisoned: Option<String>,
}

/// The log; share it behind an `Arc`. Appends, truncates and purges must come from one
/// writer at a time (openraft's storage task); reads and syncs may come from anywhere.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Held through a whole [`Wal::sync`]: a second sync must not return while the first is
    /// still writing back what it took (it would find nothing left to sync, and report
    /// durable what is not yet).
    syncing: Mutex<()>,
}

fn push_record(buf: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) -> u32 {
    let body: usize = parts.iter().map(|p| p.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    for p in parts {
        crc.update(p);
    }
    buf.extend_from_slice(&((1 + body) as u32).to_le_bytes());
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    buf.push(kind);
    for p in parts {
        buf.extend_from_slice(p);
    }
    (HEADER + 1 + body) as u32
}

/// Parses the record at the start of `bytes`: its kind, body and whole length, or `None` if
/// it is torn or fails its CRC.
fn parse_record(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let rest = bytes.get(HEADER..HEADER + len)?;
    (crc32fast::hash(rest) == crc).then(|| (rest[0], &rest[1..], HEADER + len))
}

/// The index (u64 BE) that ENTRY, PURGE and TRUNCATE bodies start with.
fn leading_index(body: &[u8], kind: &str) -> Result<u64, String> {
    body.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| format!("short {kind} record"))
}

fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.{SEGMENT_EXT}")
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_at(dir))
}

impl Inner {
    fn last_index(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.first + self.entries.len() as u64 - 1)
    }

    fn current(&self) -> (u64, &Segment) {
        let (seq, seg) = self.segments.last_key_value().expect("a wal always has a segment");
        (*seq, seg)
    }

    fn check(&self) -> Result<(), WalError> {
        match &self.poisoned {
            Some(why) => Err(WalError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// The state slots and purge point, as records, for the start of a segment.
    fn header_records(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        for (slot, value) in &self.state {
            push_record(&mut buf, KIND_STATE, &[&[*slot], value]);
        }
        if let Some(p) = self.purged {
            push_record(&mut buf, KIND_PURGE, &[&p.to_be_bytes()]);
        }
        buf
    }

    /// Writes `buf` at the end of the current segment; poisons the log if that fails.
    fn write(&mut self, buf: &[u8]) -> Result<(u64, u64), WalError> {
        let (seq, seg) = self.current();
        let at = seg.len;
        if let Err(e) = seg.file.write_all_at(buf, at) {
            let err = io_at(&seg.path)(e);
            self.poisoned = Some(err.to_string());
            return Err(err);
        }
        let seg = self.segments.get_mut(&seq).expect("current segment");
        seg.len += buf.len() as u64;
        self.unsynced.insert(seq);
        Ok((seq, at))
    }

    /// Forgets entries from `from` on.
    fn drop_from(&mut self, from: u64) {
        if self.entries.is_empty() || from > self.first + self.entries.len() as u64 {
            return;
        }
        self.entries.truncate(from.saturating_sub(self.first) as usize);
    }

    /// Forgets entries up to `upto`.
    fn drop_through(&mut self, upto: u64) {
        self.purged = Some(self.purged.map_or(upto, |p| p.max(upto)));
        if self.entries.is_empty() || upto < self.first {
            return;
        }
        let n = ((upto - self.first).saturating_add(1) as usize).min(self.entries.len());
        self.entries.drain(..n);
        self.first = upto.saturating_add(1);
    }

    /// Replays one record read at `loc` during recovery; an error says what is wrong with it.
    /// `header`: the record lies in the run of `STATE`/`PURGE` records a segment starts with.
    fn replay(&mut self, kind: u8, body: &[u8], loc: Loc, header: bool) -> Result<(), String> {
        match kind {
            KIND_ENTRY => {
                let index = leading_index(body, "entry")?;
                if index == u64::MAX {
                    // `last + 1` and `[from, to)` reads need a next index; found by the `wal`
                    // fuzz target (an entry at u64::MAX overflowed `last_index`).
                    return Err(format!("entry index {index} is out of range"));
                }
                match self.last_index() {
                    None => self.first = index,
                    Some(last) if index == last + 1 => {}
                    Some(last) if index > last + 1 => {
                        return Err(format!("entry {index} follows entry {last}"));
                    }
                    // Never written by this code (a TRUNCATE record comes first); if it were,
                    // the newest copy wins.
                    Some(_) if index >= self.first => {
                        self.entries.truncate((index - self.first) as usize)
                    }
                    Some(_) => {
                        self.entries.clear();
                        self.first = index;
                    }
                }
                self.entries.push_back(loc);
                if let Some(seg) = self.segments.get_mut(&loc.segment) {
                    seg.last_entry = Some(seg.last_entry.map_or(index, |l| l.max(index)));
                }
            }
            KIND_STATE => {
                let (slot, value) = body.split_first().ok_or("empty state record")?;
                self.state.insert(*slot, value.to_vec());
            }
            KIND_PURGE => {
                let upto = leading_index(body, "purge")?;
                // A segment's header repeats the purge point (`header_records`); that copy is
                // not a purge. Replaying it as one dropped entries appended below the point
                // after the purge (openraft may append there): such an entry survived one
                // open and was gone after the next (found by the `wal` fuzz target).
                if header && self.purged.is_some_and(|p| upto <= p) {
                    return Ok(());
                }
                self.drop_through(upto);
            }
            KIND_TRUNCATE => {
                let from = leading_index(body, "truncate")?;
                self.drop_from(from);
            }
            other => return Err(format!("unknown record kind {other}")),
        }
        Ok(())
    }
}

impl Wal {
    /// Opens the log in `dir` (creating it), recovering what a crash left.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Self, WalError> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let mut seqs = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io_at(dir))? {
            let path = item.map_err(io_at(dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
                continue;
            }
            let seq = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| WalError::Corrupt(format!("unexpected file {}", path.display())))?;
            seqs.push(seq);
        }
        seqs.sort_unstable();
        let mut inner = Inner {
            segments: BTreeMap::new(),
            first: 0,
            entries: VecDeque::new(),
            purged: None,
            state: BTreeMap::new(),
            unsynced: BTreeSet::new(),
            dir_unsynced: false,
            poisoned: None,
        };
        for (i, &seq) in seqs.iter().enumerate() {
            let newest = i + 1 == seqs.len();
            let path = dir.join(segment_name(seq));
            let mut file =
                OpenOptions::new().read(true).write(true).open(&path).map_err(io_at(&path))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io_at(&path))?;
            inner.segments.insert(
                seq,
                Segment { path: path.clone(), file: Arc::new(file), len: 0, last_entry: None },
            );
            let mut at = 0usize;
            let mut header = true;
            while at < bytes.len() {
                let Some((kind, body, len)) = parse_record(&bytes[at..]) else {
                    if !newest {
                        return Err(WalError::Corrupt(format!(
                            "bad record at byte {at} of {} (not the newest segment)",
                            path.display()
                        )));
                    }
                    tracing::warn!(
                        segment = %path.display(),
                        at,
                        dropped = bytes.len() - at,
                        "write-ahead log: cutting a torn tail left by a crash"
                    );
                    let seg = &inner.segments[&seq];
                    seg.file.set_len(at as u64).map_err(io_at(&path))?;
                    seg.file.sync_all().map_err(io_at(&path))?;
                    break;
                };
                let loc = Loc { segment: seq, offset: at as u64, len: len as u32 };
                // A header is STATE records, then at most one PURGE (`header_records`).
                let in_header = header && matches!(kind, KIND_STATE | KIND_PURGE);
                header = header && kind == KIND_STATE;
                inner.replay(kind, body, loc, in_header).map_err(|why| {
                    WalError::Corrupt(format!("{why} at byte {at} of {}", path.display()))
                })?;
                at += len;
            }
            inner.segments.get_mut(&seq).expect("inserted").len = at as u64;
        }
        let wal = Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            inner: Mutex::new(inner),
            syncing: Mutex::new(()),
        };
        // Every open starts a segment of its own, headed by the recovered slots: recovery may
        // have cut the newest segment's header (a crash right after a rotation), and the next
        // purge could then delete the only segment still holding the vote. The newest one is
        // synced first, so every older segment stays durable whole.
        let mut inner = wal.lock();
        let next = match inner.segments.last_key_value() {
            Some((seq, seg)) => {
                seg.file.sync_data().map_err(io_at(&seg.path))?;
                seq + 1
            }
            None => 1,
        };
        wal.new_segment(&mut inner, next)?;
        drop(inner);
        wal.sync()?;
        Ok(wal)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates segment `seq` as the current one, starting with the header records.
    fn new_segment(&self, inner: &mut Inner, seq: u64) -> Result<(), WalError> {
        let path = self.dir.join(segment_name(seq));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at(&path))?;
        inner
            .segments
            .insert(seq, Segment { path, file: Arc::new(file), len: 0, last_entry: None });
        inner.dir_unsynced = true;
        let header = inner.header_records();
        inner.write(&header)?;
        Ok(())
    }

    /// Starts the next segment if the current one is full. The full one is synced first, so
    /// every segment but the newest is durable whole (what recovery relies on).
    fn rotate_if_full(&self, inner: &mut Inner) -> Result<(), WalError> {
        let (seq, seg) = inner.current();
        if seg.len < self.segment_bytes {
            return Ok(());
        }
        if let Err(e) = seg.file.sync_data() {
            let err = io_at(&seg.path)(e);
            inner.poisoned = Some(err.to_string());
            return Err(err);
        }
        inner.unsynced.remove(&seq);
        self.new_segment(inner, seq + 1)
    }

    /// Writes entries with consecutive indexes after the last one (or any first index on an
    /// empty log). Not durable until a [`Wal::sync`] that begins after this returns.
    pub fn append<'a>(
        &self,
        entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<(), WalError> {
        let mut inner = self.lock();
        inner.check()?;
        self.rotate_if_full(&mut inner)?;
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        let mut next = inner.last_index().map(|l| l + 1);
        for (index, payload) in entries {
            if index == u64::MAX {
                return Err(WalError::Misuse(format!("entry index {index} is out of range")));
            }
            if next.is_some_and(|n| n != index) {
                return Err(WalError::Misuse(format!(
                    "append of entry {index}, but the next must be {}",
                    next.map_or(String::new(), |n| n.to_string())
                )));
            }
            if payload.len() + 1 + 8 > MAX_RECORD {
                return Err(WalError::Misuse(format!(
                    "entry {index} is {} bytes, over the {MAX_RECORD}-byte record limit",
                    payload.len()
                )));
            }
            let start = buf.len() as u64;
            let len = push_record(&mut buf, KIND_ENTRY, &[&index.to_be_bytes(), payload]);
            spans.push((index, start, len));
            next = Some(index + 1);
        }
        let Some(&(last, _, _)) = spans.last() else { return Ok(()) };
        let (seq, at) = inner.write(&buf)?;
        if inner.entries.is_empty() {
            inner.first = spans[0].0;
        }
        for (_, start, len) in spans {
            inner.entries.push_back(Loc { segment: seq, offset: at + start, len });
        }
        inner.segments.get_mut(&seq).expect("current").last_entry = Some(last);
        Ok(())
    }

    /// Sets a state slot. Not durable until a [`Wal::sync`] that begins after this returns.
    pub fn set_state(&self, slot: u8, value: &[u8]) -> Result<(), WalError> {
        let mut inner = self.lock();
        inner.check()?;
        self.rotate_if_full(&mut inner)?;
        let mut buf = Vec::new();
        push_record(&mut buf, KIND_STATE, &[&[slot], value]);
        inner.write(&buf)?;
        inner.state.insert(slot, value.to_vec());
        Ok(())
    }

    /// The newest value of a state slot.
    pub fn state(&self, slot: u8) -> Option<Vec<u8>> {
        self.lock().state.get(&slot).cloned()
    }

    /// Makes everything written before this call durable.
    pub fn sync(&self) -> Result<(), WalError> {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let (files, dir) = {
            let mut inner = self.lock();
            inner.check()?;
            let seqs = std::mem::take(&mut inner.unsynced);
            let files: Vec<_> = seqs
                .iter()
                .filter_map(|s| inner.segments.get(s))
                .map(|s| (s.file.clone(), s.path.clone()))
                .collect();
            (files, std::mem::take(&mut inner.dir_unsynced))
        };
        let result = (|| -> Result<(), WalError> {
            if dir {
                sync_dir(&self.dir)?;
            }
            for (file, path) in &files {
                file.sync_data().map_err(io_at(path))?;
            }
            Ok(())
        })();
        if let Err(e) = &result {
            self.lock().poisoned = Some(e.to_string());
        }
        result
    }

    /// Indexes of the first and last entry held, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let inner = self.lock();
        inner.last_index().map(|last| (inner.first, last))
    }

    /// The highest index purged, if any.
    pub fn purged(&self) -> Option<u64> {
        self.lock().purged
    }

    /// The payloads of the entries held in `[from, to)`, in order.
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, WalError> {
        let runs = {
            let inner = self.lock();
            let Some(last) = inner.last_index() else { return Ok(Vec::new()) };
            let (from, to) = (from.max(inner.first), to.min(last + 1));
            if from >= to {
                return Ok(Vec::new());
            }
            let mut runs: Vec<Run> = Vec::new();
            for index in from..to {
                let loc = inner.entries[(index - inner.first) as usize];
                match runs.last_mut() {
                    Some(run)
                        if run.locs.last().is_some_and(|(_, l)| {
                            l.segment == loc.segment && l.offset + l.len as u64 == loc.offset
                        }) =>
                    {
                        run.locs.push((index, loc))
                    }
                    _ => {
                        let seg = &inner.segments[&loc.segment];
                        runs.push(Run {
                            file: seg.file.clone(),
                            path: seg.path.clone(),
                            start: loc.offset,
                            locs: vec![(index, loc)],
                        });
                    }
                }
            }
            runs
        };
        let mut out = Vec::new();
        for Run { file, path, start, locs } in runs {
            let end = locs.last().map(|(_, l)| l.offset + l.len as u64).expect("non-empty run");
            let mut bytes = vec![0; (end - start) as usize];
            file.read_exact_at(&mut bytes, start).map_err(io_at(&path))?;
            for (index, loc) in locs {
                let at = (loc.offset - start) as usize;
                let record = &bytes[at..at + loc.len as usize];
                match parse_record(record) {
                    Some((KIND_ENTRY, body, _))
                        if body.get(..8) == Some(&index.to_be_bytes()[..]) =>
                    {
                        out.push(body[8..].to_vec())
                    }
                    _ => {
                        return Err(WalError::Corrupt(format!(
                            "entry {index} at byte {} of {} fails its check",
                            loc.offset,
                            path.display()
                        )))
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes every entry from `from` on; durable when it returns.
    ///
    /// Logical, like a purge: one `TRUNCATE` record, synced. Cutting files instead (the
    /// first version) had crash windows that lost the vote: a later segment holding the
    /// newest vote deleted, or a segment cut, before the slots were written again.
    pub fn truncate(&self, from: u64) -> Result<(), WalError> {
        {
            let mut inner = self.lock();
            inner.check()?;
            match inner.last_index() {
                Some(last) if from <= last => {}
                _ => return Ok(()),
            }
            self.rotate_if_full(&mut inner)?;
            let mut buf = Vec::new();
            push_record(&mut buf, KIND_TRUNCATE, &[&from.to_be_bytes()]);
            inner.write(&buf)?;
            inner.drop_from(from);
        }
        self.sync()
    }

    /// Forgets every entry up to `upto` (durably), then deletes the segments that held only
    /// such entries.
    pub fn purge(&self, upto: u64) -> Result<(), WalError> {
        {
            let mut inner = self.lock();
            inner.check()?;
            self.rotate_if_full(&mut inner)?;
            let mut buf = Vec::new();
            push_record(&mut buf, KIND_PURGE, &[&upto.to_be_bytes()]);
            inner.write(&buf)?;
            inner.drop_through(upto);
        }
        self.sync()?;
        let mut inner = self.lock();
        let (current, _) = inner.current();
        // Only the oldest run of segments, stopping at the first one still needed: a newer
        // segment may hold the TRUNCATE record that removed entries of an older one kept.
        let done: Vec<u64> = inner
            .segments
            .range(..current)
            .take_while(|(_, s)| s.last_entry.is_none_or(|l| l <= upto))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            let seg = inner.segments.remove(&seq).expect("listed");
            inner.unsynced.remove(&seq);
            // Unlinked, the file lives on for any reader that still holds it.
            std::fs::remove_file(&seg.path).map_err(io_at(&seg.path))?;
            inner.dir_unsynced = true;
        }
        Ok(())
    }

    /// Starts the next segment now (tests of what lies in which segment).
    #[cfg(test)]
    fn rotate_now(&self) {
        let mut inner = self.lock();
        let (seq, seg) = inner.current();
        seg.file.sync_data().unwrap();
        inner.unsynced.remove(&seq);
        self.new_segment(&mut inner, seq + 1).unwrap();
    }

    /// The number of segment files, for tests and metrics.
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u64) -> Vec<u8> {
        format!("entry number {i} ").repeat(1 + (i % 5) as usize).into_bytes()
    }

    fn append_range(wal: &Wal, from: u64, to: u64) {
        let payloads: Vec<_> = (from..to).map(|i| (i, payload(i))).collect();
        wal.append(payloads.iter().map(|(i, p)| (*i, p.as_slice()))).unwrap();
    }

    fn assert_holds(wal: &Wal, from: u64, to: u64) {
        assert_eq!(wal.bounds(), Some((from, to - 1)));
        let read = wal.read(0, u64::MAX).unwrap();
        let want: Vec<_> = (from..to).map(payload).collect();
        assert_eq!(read, want);
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    }

    #[test]
    fn entries_and_slots_survive_a_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        {
            let wal = Wal::open(dir.path(), 512).unwrap();
            wal.set_state(1, b"vote-a").unwrap();
            for chunk in 0..20 {
                append_range(&wal, 1 + chunk * 5, 6 + chunk * 5);
            }
            wal.set_state(1, b"vote-b").unwrap();
            wal.set_state(3, b"committed").unwrap();
            wal.sync().unwrap();
            assert!(wal.segment_count() > 3, "512-byte segments rotate");
            assert_holds(&wal, 1, 101);
            assert_eq!(wal.read(40, 43).unwrap(), vec![payload(40), payload(41), payload(42)]);
        }
        let wal = Wal::open(dir.path(), 512).unwrap();
        assert_holds(&wal, 1, 101);
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote-b"[..]));
        assert_eq!(wal.state(3).as_deref(), Some(&b"committed"[..]));
        assert_eq!(wal.state(2), None);
        append_range(&wal, 101, 103);
        assert_holds(&wal, 1, 103);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        append_range(&wal, 1, 11);
        wal.sync().unwrap();
        drop(wal);
        let path = segments(dir.path()).pop().unwrap();
        let full = std::fs::metadata(&path).unwrap().len();
        // Half of a new record: what a crash in the middle of a write leaves.
        let mut torn = Vec::new();
        push_record(&mut torn, KIND_ENTRY, &[&11u64.to_be_bytes(), &payload(11)]);
        let f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all_at(&torn[..torn.len() / 2], full).unwrap();
        drop(f);

        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        assert_holds(&wal, 1, 11);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), full, "the torn bytes are cut");
        append_range(&wal, 11, 13);
        drop(wal);
        assert_holds(&Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap(), 1, 13);
    }

    /// Found by the `wal` fuzz target (node/fuzz): a segment holding an entry at index
    /// u64::MAX (valid CRC) overflowed `last_index` (a panic in a debug build, a log whose
    /// `read` could never return the entry in release). Recovery now calls it corrupt, and
    /// `append` refuses the index.
    #[test]
    fn an_entry_at_the_largest_index_is_corrupt_and_never_appended() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Vec::new();
        push_record(&mut seg, KIND_ENTRY, &[&u64::MAX.to_be_bytes(), b"payload"]);
        std::fs::write(dir.path().join(segment_name(1)), &seg).unwrap();
        match Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES) {
            Err(WalError::Corrupt(why)) => assert!(why.contains("out of range"), "{why}"),
            Err(e) => panic!("expected corruption, got {e}"),
            Ok(_) => panic!("a log with an entry at u64::MAX opened"),
        }
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        assert!(matches!(wal.append([(u64::MAX, &b"x"[..])]), Err(WalError::Misuse(_))));
        wal.append([(u64::MAX - 1, &b"last"[..])]).unwrap();
        assert_eq!(wal.bounds(), Some((u64::MAX - 1, u64::MAX - 1)));
        assert_eq!(wal.read(u64::MAX - 1, u64::MAX).unwrap(), vec![b"last".to_vec()]);
        assert!(matches!(wal.append([(u64::MAX, &b"x"[..])]), Err(WalError::Misuse(_))));
    }

    /// Found by the `wal` fuzz target: entries 1, 2, `PURGE 3`, then entries 3 and 4 (3 is
    /// below the purge point; openraft's storage suite appends there too). The first open kept
    /// entry 3; the second replayed the purge point that the new segment's header repeats as
    /// a purge, and lost it. Every open recovers the same log now.
    #[test]
    fn every_open_recovers_entries_appended_below_the_purge_point() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Vec::new();
        push_record(&mut seg, KIND_ENTRY, &[&1u64.to_be_bytes(), b"one"]);
        push_record(&mut seg, KIND_ENTRY, &[&2u64.to_be_bytes(), b"two"]);
        push_record(&mut seg, KIND_PURGE, &[&3u64.to_be_bytes()]);
        push_record(&mut seg, KIND_ENTRY, &[&3u64.to_be_bytes(), b"three"]);
        push_record(&mut seg, KIND_ENTRY, &[&4u64.to_be_bytes(), b"four"]);
        std::fs::write(dir.path().join(segment_name(1)), &seg).unwrap();
        for _ in 0..3 {
            let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
            assert_eq!(wal.purged(), Some(3));
            assert_eq!(wal.bounds(), Some((3, 4)));
            assert_eq!(wal.read(0, 10).unwrap(), vec![b"three".to_vec(), b"four".to_vec()]);
        }
        // The same through the API, across reopens; a real purge again still forgets them.
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        append_range(&wal, 1, 3);
        wal.purge(3).unwrap();
        append_range(&wal, 2, 5);
        drop(wal);
        for _ in 0..2 {
            let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
            assert_eq!(wal.bounds(), Some((2, 4)));
        }
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        wal.purge(3).unwrap();
        assert_eq!(wal.bounds(), Some((4, 4)));
        drop(wal);
        assert_eq!(Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap().bounds(), Some((4, 4)));
    }

    #[test]
    fn a_flipped_byte_in_the_newest_segment_drops_that_record_and_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        append_range(&wal, 1, 11);
        wal.sync().unwrap();
        let cut = wal.lock().entries[7];
        drop(wal);
        let path = segments(dir.path()).pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[cut.offset as usize + HEADER + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert_holds(&Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap(), 1, 8);
    }

    #[test]
    fn damage_in_an_older_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 256).unwrap();
        for i in 1..30 {
            append_range(&wal, i, i + 1);
        }
        wal.sync().unwrap();
        let first_entry = wal.lock().entries[0];
        drop(wal);
        let path = dir.path().join(segment_name(first_entry.segment));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[first_entry.offset as usize + HEADER + 2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        match Wal::open(dir.path(), 256) {
            Err(WalError::Corrupt(why)) => assert!(why.contains("not the newest"), "{why}"),
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("opened a log with a hole in it"),
        }
    }

    #[test]
    fn truncate_is_durable_across_segments_and_never_loses_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 512).unwrap();
        append_range(&wal, 1, 40);
        append_range(&wal, 40, 80);
        // Written after the entries the truncate removes, in a later segment: must survive.
        wal.set_state(1, b"vote-after").unwrap();
        wal.sync().unwrap();
        let cut_segment = wal.lock().entries[29].segment;
        assert!(wal.lock().current().0 > cut_segment, "the cut is in an older segment");
        wal.truncate(30).unwrap();
        assert_holds(&wal, 1, 30);
        // Reopened with nothing appended since: the removed entries stay removed.
        drop(wal);
        let wal = Wal::open(dir.path(), 512).unwrap();
        assert_holds(&wal, 1, 30);
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote-after"[..]));
        // New entries take the removed indexes, and win over the old ones on replay.
        append_range(&wal, 30, 35);
        assert_holds(&wal, 1, 35);
        drop(wal);
        let wal = Wal::open(dir.path(), 512).unwrap();
        assert_holds(&wal, 1, 35);
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote-after"[..]));
        wal.truncate(1).unwrap();
        assert_eq!(wal.bounds(), None);
        wal.truncate(100).unwrap();
        append_range(&wal, 1, 3);
        drop(wal);
        assert_holds(&Wal::open(dir.path(), 512).unwrap(), 1, 3);
    }

    #[test]
    fn a_purge_after_a_truncate_keeps_every_live_entry() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 256).unwrap();
        for i in 1..60 {
            append_range(&wal, i, i + 1);
        }
        wal.truncate(20).unwrap();
        for i in 20..90 {
            append_range(&wal, i, i + 1);
        }
        wal.purge(40).unwrap();
        assert_holds(&wal, 41, 90);
        drop(wal);
        assert_holds(&Wal::open(dir.path(), 256).unwrap(), 41, 90);
    }

    #[test]
    fn a_purge_never_deletes_a_truncate_and_keeps_the_entries_it_removed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 256).unwrap();
        for i in 1..51 {
            append_range(&wal, i, i + 1);
        }
        // The TRUNCATE and the rewritten tail in a segment of their own, the purge record in
        // the next: deleting the TRUNCATE's segment but not the older ones holding 27..50
        // would bring those back.
        wal.rotate_now();
        wal.truncate(20).unwrap();
        append_range(&wal, 20, 27);
        wal.rotate_now();
        wal.purge(26).unwrap();
        assert_eq!(wal.bounds(), None);
        drop(wal);
        let wal = Wal::open(dir.path(), 256).unwrap();
        assert_eq!(wal.bounds(), None, "no truncated entry came back");
        append_range(&wal, 27, 29);
        drop(wal);
        assert_holds(&Wal::open(dir.path(), 256).unwrap(), 27, 29);
    }

    #[test]
    fn a_newest_segment_cut_empty_by_recovery_does_not_cost_the_vote() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        wal.set_state(1, b"vote").unwrap();
        append_range(&wal, 1, 3);
        wal.sync().unwrap();
        let next = wal.lock().current().0 + 1;
        drop(wal);
        // A crash right after a rotation: the new segment exists, its header never written.
        File::create(dir.path().join(segment_name(next))).unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        append_range(&wal, 3, 6);
        // Deletes the segment that held the vote (all its entries are purged).
        wal.purge(5).unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote"[..]));
        assert_eq!(wal.purged(), Some(5));
    }

    #[test]
    fn purge_forgets_entries_deletes_old_segments_and_keeps_slots() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 512).unwrap();
        wal.set_state(1, b"vote").unwrap();
        for i in 1..100 {
            append_range(&wal, i, i + 1);
        }
        wal.sync().unwrap();
        let before = wal.segment_count();
        wal.purge(60).unwrap();
        assert!(wal.segment_count() < before / 2, "{before} → {}", wal.segment_count());
        assert_holds(&wal, 61, 100);
        assert_eq!(wal.purged(), Some(60));
        drop(wal);
        let wal = Wal::open(dir.path(), 512).unwrap();
        assert_holds(&wal, 61, 100);
        assert_eq!(wal.purged(), Some(60));
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote"[..]));

        // A snapshot installed past the end: everything goes, and the log resumes after it.
        wal.purge(500).unwrap();
        assert_eq!(wal.bounds(), None);
        append_range(&wal, 501, 503);
        drop(wal);
        let wal = Wal::open(dir.path(), 512).unwrap();
        assert_holds(&wal, 501, 503);
        assert_eq!(wal.state(1).as_deref(), Some(&b"vote"[..]));
    }

    #[test]
    fn an_append_with_a_gap_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), DEFAULT_SEGMENT_BYTES).unwrap();
        append_range(&wal, 1, 4);
        let len = wal.lock().current().1.len;
        assert!(matches!(wal.append([(6, &b"gap"[..])]), Err(WalError::Misuse(_))));
        assert!(matches!(
            wal.append([(4, &b"ok"[..]), (4, &b"dup"[..])]),
            Err(WalError::Misuse(_))
        ));
        assert_eq!(wal.lock().current().1.len, len);
        assert_holds(&wal, 1, 4);
    }
}
