//! The audit log: one event per API request, recorded durably on the node that served it
//! before the answer leaves; hash-chained per node; queried and followed cluster-wide.
//!
//! ```text
//!  http::audit_layer::record ── AuditRecord ──> AuditLog::record ──> store (group
//!        ▲ fills actor, action, path, version,            commit: one fdatasync per batch)
//!        │ tier, approval id, result                              │ ack (seq) or error
//!        └──── answer released only after the ack; else 503 audit_unavailable ◄┘
//!
//!  GET /v1/audit ──> service::query ──> fanout: every member's local_query ──> query::merge
//!  GET /v1/audit/stream ──> service::follow ──> fanout: every member's local_tail (long
//!                           poll) ──> SSE, id: cursor
//! ```
//!
//! Files: `record` (the stored type, converted to `ass_client::AuditEvent` at the edge),
//! `ctx` (what the request path notes), `chain` (hashes, pure), `query` (filter and merge,
//! pure), `store` (the file and its writer), `fanout` (the cluster), `service` (the use
//! cases of `/v1/audit*`); this file holds [`AuditLog`], one node's log.
//!
//! Never holds a secret value, a token or an agent key: services note only names, ids,
//! accessors and versions, and a presented credential appears only as an HMAC under a key
//! derived from the root key (so the HMAC key exists only while unsealed). The log is not
//! replicated through Raft: each node's own file survives its own `kill -9` (the answer
//! waited for the fsync), and queries read every node's file. See docs/audit.md.

pub mod chain;
pub mod ctx;
pub mod fanout;
pub mod query;
pub mod record;
pub mod service;
pub mod store;

pub use ctx::AuditCtx;
pub use record::AuditRecord;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ass_client::{AuditChainReport, AuditProblem};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::crypto::Key;
use chain::Checkpoint;
use query::Filter;
use store::{Msg, PruneRequest, Store, StoreError};

/// Why an event was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the audit store did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("the audit store is failing; requests are refused until it writes again")]
    Unhealthy,
}

/// Keys derived from the root key (HKDF-SHA256), held only while unsealed.
#[derive(Clone)]
pub struct AuditKeys {
    /// HMAC key of presented credentials (`credential_hmac`, `ass audit hash`).
    pub hmac: [u8; 32],
    /// MAC key of retention checkpoints.
    pub checkpoint: [u8; 32],
}

impl AuditKeys {
    pub fn derive(root: &Key) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"ass-audit-v1"), root.as_bytes());
        let mut hmac = [0u8; 32];
        let mut checkpoint = [0u8; 32];
        hk.expand(b"audit-hmac", &mut hmac).expect("32 bytes is a valid HKDF length");
        hk.expand(b"audit-checkpoint", &mut checkpoint).expect("32 bytes is a valid HKDF length");
        Self { hmac, checkpoint }
    }

    /// `hmac-sha256:<hex>` of a value.
    pub fn hash(&self, value: &str) -> String {
        format!("hmac-sha256:{}", hex::encode(chain::mac(&self.hmac, value.as_bytes())))
    }
}

/// A member's answer to a tail request over the cluster port.
#[derive(Debug, Serialize, Deserialize)]
pub struct TailRequest {
    /// Events after this seq; `None`: from `from_time`.
    pub after: Option<u64>,
    /// Events at or after this time (event time form) when `after` is `None`.
    pub from_time: String,
    /// Wait up to this long for a first event.
    pub wait_ms: u64,
    pub limit: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TailResponse {
    /// Stored lines, oldest first.
    pub lines: Vec<String>,
    pub last_seq: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct QueryResponse {
    /// Stored lines of the newest matches, newest first.
    pub lines: Vec<String>,
    pub last_seq: u64,
}

struct Inner {
    store: Store,
    keys: RwLock<Option<AuditKeys>>,
    timeout: Duration,
}

/// The audit log of this node; cheap to clone. A disabled one (benchmarks only) records
/// nothing and answers queries with nothing.
#[derive(Clone, Default)]
pub struct AuditLog {
    inner: Option<Arc<Inner>>,
}

impl AuditLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Opens `dir` (created if missing) and starts the writer.
    pub fn open(
        dir: &Path,
        node: u64,
        timeout: Duration,
        sync: store::Sync,
    ) -> Result<Self, StoreError> {
        let store = store::open(dir, node, sync)?;
        Ok(Self { inner: Some(Arc::new(Inner { store, keys: RwLock::new(None), timeout })) })
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// False after a batch failed, until a probe writes again.
    pub fn healthy(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.store.healthy.load(Ordering::Relaxed))
    }

    /// Derives the keys from the root key on unseal; forgets them on seal.
    pub fn set_root(&self, root: Option<&Key>) {
        if let Some(i) = &self.inner {
            *i.keys.write().unwrap_or_else(|e| e.into_inner()) = root.map(AuditKeys::derive);
        }
    }

    /// The keys, while unsealed.
    pub fn keys(&self) -> Option<AuditKeys> {
        self.inner.as_ref()?.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records one event durably; `Ok(seq)` once it is on disk.
    pub async fn record(&self, event: AuditRecord) -> Result<u64, AuditError> {
        let Some(i) = &self.inner else { return Ok(0) };
        let (tx, rx) = oneshot::channel();
        i.store.tx.send(Msg::Event(Box::new(event), tx)).map_err(|_| StoreError::Stopped)?;
        match tokio::time::timeout(i.timeout, rx).await {
            Ok(Ok(r)) => Ok(r?),
            Ok(Err(_)) => Err(StoreError::Stopped.into()),
            Err(_) => Err(AuditError::Timeout(i.timeout)),
        }
    }

    /// This node's newest seq (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| *i.store.last_seq.borrow())
    }

    /// This node's newest `filter.limit` matches, newest first, as stored lines.
    pub fn local_query(&self, filter: &Filter) -> std::io::Result<QueryResponse> {
        let Some(i) = &self.inner else {
            return Ok(QueryResponse { lines: Vec::new(), last_seq: 0 });
        };
        let (file, offsets, len, last_seq) = {
            let v = i.store.view.read().unwrap_or_else(|e| e.into_inner());
            (v.file.clone(), v.offsets.clone(), v.len, v.last_seq)
        };
        let mut out = Vec::new();
        let mut end = offsets.len();
        const CHUNK: usize = 2048;
        'scan: while end > 0 {
            let start = end.saturating_sub(CHUNK);
            let lines = store::read_lines(&file, &offsets, len, start, end)?;
            for line in lines.iter().rev() {
                let Ok(e) = serde_json::from_str::<AuditRecord>(line) else { continue };
                if filter.too_old(&e) {
                    break 'scan;
                }
                if filter.matches(&e) {
                    out.push(line.clone());
                    if out.len() >= filter.limit {
                        break 'scan;
                    }
                }
            }
            end = start;
        }
        Ok(QueryResponse { lines: out, last_seq })
    }

    /// Events after `req.after` (or from `req.from_time`), oldest first, waiting up to
    /// `req.wait_ms` for one.
    pub async fn local_tail(&self, req: &TailRequest) -> std::io::Result<TailResponse> {
        let Some(i) = &self.inner else {
            tokio::time::sleep(Duration::from_millis(req.wait_ms.min(30_000))).await;
            return Ok(TailResponse { lines: Vec::new(), last_seq: 0 });
        };
        let mut seq_rx = i.store.last_seq.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(req.wait_ms.min(30_000));
        loop {
            let resp = self.tail_now(i, req)?;
            if !resp.lines.is_empty() {
                return Ok(resp);
            }
            if tokio::time::timeout_at(deadline, seq_rx.changed()).await.is_err() {
                return Ok(resp);
            }
        }
    }

    fn tail_now(&self, i: &Inner, req: &TailRequest) -> std::io::Result<TailResponse> {
        let limit = req.limit.clamp(1, 10_000);
        let start = match req.after {
            Some(after) => {
                let v = i.store.view.read().unwrap_or_else(|e| e.into_inner());
                Some(((after + 1).saturating_sub(v.first_seq) as usize).min(v.offsets.len()))
            }
            None => None,
        };
        let start = match start {
            Some(s) => s,
            None => {
                // First line at or after the time (times grow with seq): binary search.
                let (file, offsets, len) = {
                    let v = i.store.view.read().unwrap_or_else(|e| e.into_inner());
                    (v.file.clone(), v.offsets.clone(), v.len)
                };
                let (mut lo, mut hi) = (0usize, offsets.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let t = store::read_lines(&file, &offsets, len, mid, mid + 1)?
                        .first()
                        .and_then(|l| serde_json::from_str::<AuditRecord>(l).ok())
                        .map(|e| e.time);
                    if t.is_some_and(|t| t < req.from_time) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        };
        // Copy only the wanted stretch of the index.
        let (file, offsets, end_at, last_seq) = {
            let v = i.store.view.read().unwrap_or_else(|e| e.into_inner());
            let start = start.min(v.offsets.len());
            let end = (start + limit).min(v.offsets.len());
            let end_at = v.offsets.get(end).copied().unwrap_or(v.len);
            (v.file.clone(), v.offsets[start..end].to_vec(), end_at, v.last_seq)
        };
        let lines = store::read_lines(&file, &offsets, end_at, 0, offsets.len())?;
        // Guard against a file that no longer numbers lines by seq (tampering): filter.
        let lines = match req.after {
            Some(after) => lines
                .into_iter()
                .filter(|l| serde_json::from_str::<AuditRecord>(l).is_ok_and(|e| e.seq > after))
                .collect(),
            None => lines,
        };
        Ok(TailResponse { lines, last_seq })
    }

    /// Checks this node's chain from its checkpoint.
    pub fn local_verify(&self, node: u64) -> AuditChainReport {
        let mut report = AuditChainReport {
            node,
            reachable: true,
            ok: true,
            checked: 0,
            first_seq: None,
            last_seq: None,
            checkpoint_seq: None,
            checkpoint_verified: None,
            problem: None,
            error: None,
        };
        let Some(i) = &self.inner else {
            report.error = Some("the audit log is disabled on this node".into());
            return report;
        };
        // Read the file as it is on disk (not the cached index): that is what is checked.
        let dir = &i.store.dir;
        let bytes = match std::fs::read(dir.join(store::EVENTS_FILE)) {
            Ok(b) => b,
            Err(e) => {
                report.ok = false;
                report.error = Some(format!("cannot read the audit file: {e}"));
                return report;
            }
        };
        let committed = {
            let v = i.store.view.read().unwrap_or_else(|e| e.into_inner());
            v.len as usize
        };
        // Lines beyond the durable length belong to a batch still being written.
        let text = String::from_utf8_lossy(&bytes[..committed.min(bytes.len())]);
        let checkpoint: Option<Checkpoint> = match std::fs::read(dir.join(store::CHECKPOINT_FILE)) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(c) => Some(c),
                Err(e) => {
                    report.ok = false;
                    report.problem = Some(AuditProblem {
                        kind: "checkpoint".into(),
                        seq: 0,
                        line: 0,
                        detail: format!("checkpoint.json is unreadable: {e}"),
                    });
                    return report;
                }
            },
            Err(_) => None,
        };
        if let Some(c) = &checkpoint {
            report.checkpoint_seq = Some(c.seq);
            if let Some(k) = self.keys() {
                let good = c.verify(&k.checkpoint) && c.node == node;
                report.checkpoint_verified = Some(good);
                if !good {
                    report.ok = false;
                    report.problem = Some(AuditProblem {
                        kind: "checkpoint".into(),
                        seq: c.seq,
                        line: 0,
                        detail: "the checkpoint's MAC does not hold: it was forged or edited"
                            .into(),
                    });
                    return report;
                }
            }
        }
        let check =
            chain::check(text.lines(), checkpoint.as_ref().map(|c| (c.seq, c.hash.as_str())));
        report.checked = check.checked;
        report.first_seq = check.first_seq;
        report.last_seq = check.last_seq;
        report.ok = check.problem.is_none();
        report.problem = check.problem;
        report
    }

    /// One retention cut (needs the keys, so only while unsealed).
    pub async fn prune(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Option<Checkpoint>, AuditError> {
        let Some(i) = &self.inner else { return Ok(None) };
        let Some(keys) = self.keys() else { return Ok(None) };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let req = PruneRequest {
            older_than: max_age.map(|a| store::format_ns(now.saturating_sub(a.as_nanos() as u64))),
            max_bytes,
            mac_key: keys.checkpoint,
        };
        let (tx, rx) = oneshot::channel();
        i.store.tx.send(Msg::Prune(req, tx)).map_err(|_| StoreError::Stopped)?;
        Ok(rx.await.map_err(|_| StoreError::Stopped)??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::tests::event;

    fn open(dir: &Path) -> AuditLog {
        AuditLog::open(dir, 1, Duration::from_secs(5), store::Sync::EveryBatch).unwrap()
    }

    fn all(log: &AuditLog) -> Vec<AuditRecord> {
        let f = Filter { limit: query::MAX_LIMIT, ..Default::default() };
        let mut v: Vec<AuditRecord> = log
            .local_query(&f)
            .unwrap()
            .lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.reverse();
        v
    }

    /// Concurrent events are numbered without gaps, chained, survive a reopen, and a torn
    /// (never acknowledged) tail is cut off at open.
    #[tokio::test]
    async fn concurrent_events_chain_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move { log.record(event(i)).await.unwrap() }));
        }
        let mut seqs: Vec<u64> =
            futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        assert!(log.local_verify(1).ok);
        drop(log);
        let file = dir.path().join(store::EVENTS_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend_from_slice(b"{\"v\":1,\"seq\":201,\"ti");
        std::fs::write(&file, &bytes).unwrap();
        let log = open(dir.path());
        assert_eq!(log.last_seq(), 200);
        assert_eq!(log.record(event(0)).await.unwrap(), 201);
        let r = log.local_verify(1);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.checked, 201);
        let times: Vec<String> = all(&log).into_iter().map(|e| e.time).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "times grow with seq");
    }

    /// Retention cuts the oldest events behind a MACed checkpoint; the rest still verifies,
    /// tails and queries still work, and a forged checkpoint is caught.
    #[tokio::test]
    async fn retention_keeps_the_chain_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        for i in 0..100 {
            log.record(event(i)).await.unwrap();
        }
        assert_eq!(log.prune(None, Some(20_000)).await.unwrap(), None, "sealed: no key, no cut");
        log.set_root(Some(&Key::generate()));
        let cp = log.prune(None, Some(20_000)).await.unwrap().expect("a cut");
        let size = std::fs::metadata(dir.path().join(store::EVENTS_FILE)).unwrap().len();
        assert!(size <= 20_000, "{size}");
        let r = log.local_verify(1);
        assert!(r.ok && r.checkpoint_verified == Some(true), "{r:?}");
        assert_eq!(r.first_seq, Some(cp.seq + 1));
        assert_eq!(log.record(event(0)).await.unwrap(), 101);
        let tail = log
            .local_tail(&TailRequest {
                after: Some(99),
                from_time: String::new(),
                wait_ms: 0,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(tail.lines.len(), 2);
        assert_eq!(all(&log).first().unwrap().seq, cp.seq + 1);
        // Reopen: the checkpoint is found again.
        drop(log);
        let log = open(dir.path());
        log.set_root(Some(&Key::generate()));
        let r = log.local_verify(1);
        assert_eq!(r.checkpoint_verified, Some(false), "another root key: the MAC fails");
        assert_eq!(r.problem.unwrap().kind, "checkpoint");
    }

    #[test]
    fn credential_hmacs_are_keyed() {
        let a = AuditKeys::derive(&Key::generate());
        let b = AuditKeys::derive(&Key::generate());
        assert_eq!(a.hash("asst_x"), a.hash("asst_x"));
        assert_ne!(a.hash("asst_x"), b.hash("asst_x"));
        assert!(a.hash("asst_x").starts_with("hmac-sha256:"));
        assert!(!a.hash("asst_x").contains("asst_x"));
    }
}
