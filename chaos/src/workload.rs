//! Traffic: concurrent clients writing, CAS-ing and reading secrets through every node with
//! the default (linearizable) consistency, and token clients issuing, using and revoking
//! tokens. Every secret operation goes into the [`HistoryBuilder`]; every credential event
//! into a [`TokenHistory`].
//!
//! Each operation goes to one node chosen at random, with no client-side failover, so a node
//! that is partitioned, paused or dead is exercised too. How an answer becomes an outcome:
//!
//! | answer                                   | write / CAS                 | read            |
//! |------------------------------------------|-----------------------------|-----------------|
//! | 2xx                                      | `Ok(Written{version})`      | `Ok(Read{..})`  |
//! | 409 `cas_mismatch`                       | `Ok(CasMismatch)`           | —               |
//! | 404 `not_found`                          | —                           | `Ok(Read{None})`|
//! | other 4xx (refused before proposing)     | `Failed`                    | `Failed`        |
//! | connection refused (nothing sent)        | `Failed`                    | `Failed`        |
//! | 5xx, timeout, reset after sending        | `Unknown`                   | `Failed`        |
//!
//! A read that did not answer is dropped (`Failed`): a read changes nothing, so dropping it
//! only weakens the check.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ass_client::types::{IssueTokenRequest, PutSecretRequest};
use ass_client::{Client, Error, ReadOptions};

use crate::history::{HistoryBuilder, OpKind, Outcome, Output, Versioned};
use crate::revocation::{Issued, Revoked, TokenHistory, TokenUse};

/// Pause of a client after an operation that failed outright (a dead node refuses
/// connections at once; spinning on it would starve the live nodes of CPU).
const FAILED_BACKOFF: Duration = Duration::from_millis(100);

/// Workload settings.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub secret_clients: usize,
    pub token_clients: usize,
    pub keys: usize,
    /// Per-request timeout; past it a write is `Unknown`.
    pub timeout: Duration,
    pub seed: u64,
}

/// A small deterministic generator (SplitMix64): no dependency, reproducible per seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Counts of token operations by kind and outcome.
pub type TokenCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// The shared state of every client task.
pub struct Workload {
    pub opts: WorkloadOptions,
    pub history: HistoryBuilder,
    pub tokens: Mutex<TokenHistory>,
    pub token_counts: Mutex<TokenCounts>,
    /// One SDK client per node (id, client), root token, no failover.
    nodes: Vec<(u64, Client)>,
    stop: AtomicBool,
    paused: AtomicBool,
    in_flight: AtomicUsize,
    ops: AtomicU64,
}

impl Workload {
    pub fn new(
        opts: WorkloadOptions,
        urls: &[(u64, String)],
        root_token: &str,
        ca_pem: Option<&[u8]>,
    ) -> anyhow::Result<Arc<Self>> {
        let mut nodes = Vec::new();
        for (id, url) in urls {
            let mut b = Client::builder()
                .addresses([url.clone()])
                .token(Some(root_token.to_string()))
                .timeout(opts.timeout)
                .connect_timeout(Duration::from_secs(1));
            if let Some(pem) = ca_pem {
                b = b.ca_cert_pem(pem.to_vec());
            }
            nodes.push((*id, b.build()?));
        }
        Ok(Arc::new(Workload {
            opts,
            history: HistoryBuilder::new(),
            tokens: Mutex::new(TokenHistory::default()),
            token_counts: Mutex::new(BTreeMap::new()),
            nodes,
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            ops: AtomicU64::new(0),
        }))
    }

    /// Operations completed so far (secrets and tokens).
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> u64 {
        self.history.now()
    }

    /// Starts every client task.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles = Vec::new();
        for c in 0..self.opts.secret_clients {
            let w = self.clone();
            handles.push(tokio::spawn(async move { w.secret_client(c as u64).await }));
        }
        for c in 0..self.opts.token_clients {
            let w = self.clone();
            handles.push(tokio::spawn(async move { w.token_client(c as u64).await }));
        }
        handles
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops starting operations and waits (up to `max`) for those in flight to finish.
    pub async fn pause(&self, max: Duration) {
        self.paused.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + max;
        while self.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Waits while paused; `false` once stopped. On `true` the caller holds an in-flight slot
    /// and must call [`Workload::done`].
    async fn begin(&self) -> bool {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            if !self.paused.load(Ordering::SeqCst) {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                if !self.paused.load(Ordering::SeqCst) {
                    return true;
                }
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn done(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    fn node(&self, rng: &mut Rng) -> &Client {
        &self.nodes[rng.below(self.nodes.len())].1
    }

    fn key(&self, rng: &mut Rng) -> String {
        format!("chaos/k{:03}", rng.below(self.opts.keys))
    }

    async fn secret_client(self: Arc<Self>, client: u64) {
        let mut rng = Rng::new(self.opts.seed ^ (client + 1).wrapping_mul(0x1234_5678_9ABC_DEF1));
        let mut known: HashMap<String, u64> = HashMap::new();
        let mut seq = 0u64;
        while self.begin().await {
            let key = self.key(&mut rng);
            let node = self.node(&mut rng).clone();
            let roll = rng.below(100);
            if roll < 45 {
                let id = self.history.invoke(client, key.clone(), OpKind::Read);
                let outcome = match node.get_secret(&key, &ReadOptions::default()).await {
                    Ok(s) => {
                        known.insert(key.clone(), s.version);
                        Outcome::Ok(Output::Read {
                            found: Some(Versioned { version: s.version, value: s.value }),
                        })
                    }
                    Err(e) if e.status() == Some(404) && e.code() == "not_found" => {
                        Outcome::Ok(Output::Read { found: None })
                    }
                    Err(_) => Outcome::Failed,
                };
                let failed = outcome == Outcome::Failed;
                let _ = self.history.complete(id, outcome);
                if failed {
                    self.done();
                    tokio::time::sleep(FAILED_BACKOFF).await;
                    continue;
                }
            } else {
                seq += 1;
                let value = format!("c{client}-{seq}");
                let cas = (roll >= 75).then(|| known.get(&key).copied().unwrap_or(0));
                let kind = match cas {
                    Some(v) => OpKind::Cas { expected_version: v, value: value.clone() },
                    None => OpKind::Write { value: value.clone() },
                };
                let id = self.history.invoke(client, key.clone(), kind);
                let req = PutSecretRequest { value, secret_type: None, tier: None, cas };
                let outcome = match node.put_secret(&key, &req).await {
                    Ok(w) => {
                        known.insert(key.clone(), w.version);
                        Outcome::Ok(Output::Written { version: w.version })
                    }
                    Err(e) if e.code() == "cas_mismatch" => {
                        known.remove(&key);
                        Outcome::Ok(Output::CasMismatch { actual: None })
                    }
                    Err(e) => write_failure(&e),
                };
                let failed = outcome == Outcome::Failed;
                let _ = self.history.complete(id, outcome);
                if failed {
                    self.done();
                    // A dead or sealed node refuses at once: don't spin on it.
                    tokio::time::sleep(FAILED_BACKOFF).await;
                    continue;
                }
            }
            self.done();
        }
    }

    fn count_token(&self, kind: &str, outcome: &str) {
        let mut c = self.token_counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry(kind.into()).or_default().entry(outcome.into()).or_default() += 1;
    }

    /// One use of `token` (a read with it); recorded when the node decided (accepted or 401).
    async fn use_token(&self, rng: &mut Rng, accessor: &str, token: &str) {
        let node = self.node(rng).with_token(Some(token.to_string()));
        let key = self.key(rng);
        let invoke = self.now();
        let accepted = match node.get_secret(&key, &ReadOptions::default()).await {
            Ok(_) => Some(true),
            Err(e) if e.status() == Some(404) => Some(true),
            Err(e) if e.status() == Some(401) || e.status() == Some(403) => Some(false),
            Err(_) => None,
        };
        match accepted {
            Some(accepted) => {
                self.count_token("use", if accepted { "accepted" } else { "refused" });
                let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
                t.uses.push(TokenUse { token: accessor.to_string(), invoke, accepted });
            }
            None => self.count_token("use", "unknown"),
        }
    }

    async fn token_client(self: Arc<Self>, client: u64) {
        let mut rng = Rng::new(self.opts.seed ^ (client + 1).wrapping_mul(0x0FED_CBA9_8765_4321));
        while self.begin().await {
            let req = IssueTokenRequest {
                scopes: vec!["secrets:read:chaos/*".into()],
                ttl: "1h".into(),
                ip_allowlist: Vec::new(),
                justification: None,
            };
            let issued = self.node(&mut rng).issue_token(&req).await;
            self.done();
            let issued = match issued {
                Ok(r) => {
                    self.count_token("issue", "ok");
                    r
                }
                Err(e) => {
                    let failed = write_failure(&e) == Outcome::Failed;
                    self.count_token("issue", if failed { "failed" } else { "unknown" });
                    if std::env::var_os("CHAOS_DEBUG").is_some() {
                        eprintln!("issue failed: {} {e}", e.code());
                    }
                    tokio::time::sleep(FAILED_BACKOFF).await;
                    continue;
                }
            };
            let accessor = issued.info.accessor.clone();
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .issued
                .push(Issued { token: accessor.clone(), parent: None });
            if !self.begin().await {
                break;
            }
            self.use_token(&mut rng, &accessor, &issued.token).await;
            self.done();
            // Revoke until acknowledged (revoking twice is harmless).
            let mut acked = false;
            for _ in 0..3 {
                if !self.begin().await {
                    return;
                }
                let r = self.node(&mut rng).revoke_token(&accessor).await;
                self.done();
                match r {
                    Ok(_) => {
                        let acked_at = self.now();
                        self.count_token("revoke", "ok");
                        self.tokens
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .revoked
                            .push(Revoked { token: accessor.clone(), acked_at });
                        acked = true;
                        break;
                    }
                    Err(e) => self.count_token(
                        "revoke",
                        if write_failure(&e) == Outcome::Failed { "failed" } else { "unknown" },
                    ),
                }
            }
            let uses = if acked { 3 } else { 1 };
            for _ in 0..uses {
                if !self.begin().await {
                    return;
                }
                self.use_token(&mut rng, &accessor, &issued.token).await;
                self.done();
            }
        }
    }
}

/// The outcome of a write that did not succeed (see the module table).
pub fn write_failure(e: &Error) -> Outcome {
    match e {
        Error::Api { status, .. } if (400..500).contains(status) => Outcome::Failed,
        Error::Transport(m) if m.contains("cannot connect") => Outcome::Failed,
        Error::Config(_) => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> Error {
        Error::Api {
            status,
            code: code.into(),
            message: String::new(),
            leader: None,
            approval_id: None,
            request_id: None,
        }
    }

    #[test]
    fn only_definite_refusals_count_as_failed_writes() {
        assert_eq!(write_failure(&api(409, "conflict")), Outcome::Failed);
        assert_eq!(write_failure(&api(429, "rate_limited")), Outcome::Failed);
        assert_eq!(write_failure(&api(503, "no_leader")), Outcome::Unknown);
        assert_eq!(write_failure(&api(504, "timeout")), Outcome::Unknown);
        assert_eq!(
            write_failure(&Error::Transport("http://x: timed out: deadline".into())),
            Outcome::Unknown
        );
        assert_eq!(
            write_failure(&Error::Transport("http://x: request failed: reset".into())),
            Outcome::Unknown
        );
        assert_eq!(
            write_failure(&Error::Transport("http://x: cannot connect: refused".into())),
            Outcome::Failed
        );
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.below(13);
            assert_eq!(x, b.below(13));
            assert!(x < 13);
        }
    }
}
