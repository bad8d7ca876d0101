//! One running node: Raft, storage, seal state ([`SealState`], one field) and the read/write
//! paths every API handler shares. Handlers call [`Node::write`] and [`Node::prepare_read`]; nothing else proposes to
//! Raft or decides read consistency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};

use crate::clock::LeaderClock;
use crate::command::{Command, Request, Response};
use crate::config::Config;
use crate::crypto::Barrier;
use crate::raft::read_index::{ReadIndex, ReadIndexError};
use crate::raft::types::{NodeId, NodeInfo, Raft};
use crate::seal::{SealReader, SealState};
use crate::state::StateReader;
use crate::storage::Store;

/// A write that has not committed by then is answered 503 (it may still commit later).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a write did not commit.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("this node is not the leader")]
    NotLeader { leader: Option<NodeInfo> },
    #[error("raft: {0}")]
    Raft(#[source] RaftWriteError),
    #[error("this request id was already applied; the credential it made was in the first answer and is not kept")]
    Replayed,
}

/// Why Raft could not take a write (answered 503 `unavailable`: another node may).
#[derive(Debug, thiserror::Error)]
pub enum RaftWriteError {
    /// The write did not commit in time; it may still commit later.
    #[error("the write did not commit within {} s (it may still commit)", .0.as_secs())]
    Timeout(Duration),
    /// openraft refused the write: Raft stopped ([`RaftError::Fatal`]) or the change failed.
    #[error(transparent)]
    Local(Box<RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>>),
    /// The leader's cluster port failed a proposal: encoding, transport or the leader's own
    /// Raft error, which crosses the wire as text.
    #[error("{0}")]
    Remote(String),
}

impl RaftWriteError {
    /// Raft on this node has stopped: no write will succeed here until a restart.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RaftWriteError::Local(e) if matches!(**e, RaftError::Fatal(_)))
    }
}

impl From<RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>> for RaftWriteError {
    fn from(e: RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>) -> Self {
        RaftWriteError::Local(Box::new(e))
    }
}

/// A committed write: the state machine's response and the log index.
pub struct Committed {
    pub response: Response,
    pub index: u64,
    /// The request id was applied before; this is that first answer.
    pub replayed: bool,
}

impl Committed {
    /// Refuses a replayed answer for calls whose first answer carried a fresh secret (a key,
    /// a token, unseal shares): that secret was never stored, so it can't be shown again.
    pub fn fresh(self) -> Result<Self, WriteError> {
        if self.replayed {
            Err(WriteError::Replayed)
        } else {
            Ok(self)
        }
    }
}

/// Consistency a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Confirmed read index (default).
    Linearizable,
    /// Local state, if a leader was heard from recently.
    Stale,
    /// Local state once this index is applied.
    MinIndex(u64),
    /// For a request that takes effect only by committing an entry (a secret write or
    /// delete): local state as it is, if this node leads and has applied an entry of its own
    /// term; a confirmed read index otherwise. See [`Node::leader_ready`].
    BeforeProposal,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    ReadIndex(#[from] ReadIndexError),
    #[error("this node has not heard from a leader within {0} ms; stale reads are refused")]
    StaleTooOld(u64),
}

/// Shared state of a node.
pub struct Node {
    id: NodeId,
    config: Config,
    raft: Raft,
    store: Store,
    state: StateReader,
    read_index: ReadIndex,
    /// Client for cluster-port calls (forwarding, read index, proposals).
    http: crate::peer::PeerHttp,
    /// The barrier and this node's seal progress (see [`crate::seal::state`]).
    seal: SealState,
    /// Cluster time for expiry decisions.
    clock: Arc<LeaderClock>,
    /// Prometheus metrics.
    metrics: crate::metrics::Metrics,
    /// The identity domain's memory: auth cache, failed-auth limiter, trusted proxies.
    auth: crate::identity::AuthState,
    /// New approval requests after denials, per requester and path.
    reopen_limiter: crate::approvals::ReopenLimiter,
    started: Instant,
    /// ms since `started` when an AppendEntries from a leader last succeeded here.
    leader_contact_ms: AtomicU64,
    /// The secrets write path's per-path lock.
    path_locks: crate::secrets::PathLocks,
    /// Set while this leader hands over leadership (see [`crate::handover`]); shared with
    /// the read-index service, which then confirms nothing here.
    stepping_down: Arc<std::sync::atomic::AtomicBool>,
    /// Proposals submitted by [`Node::write`] and not yet answered (see [`crate::handover`]).
    proposals_in_flight: AtomicU64,
    /// Set once a clean stop began: the node neither campaigns nor takes leadership back.
    draining: std::sync::atomic::AtomicBool,
    /// Set when this node was removed from the cluster (see [`crate::autopilot`]): it fails
    /// its health check and never campaigns.
    removed: std::sync::atomic::AtomicBool,
    /// Whether this node currently campaigns and heartbeats (see `reconcile_seal_role`).
    may_lead: std::sync::atomic::AtomicBool,
    /// This node's audit log (disabled until [`Node::with_audit`]).
    audit: crate::audit::AuditLog,
    /// When each peer last answered this node's Raft RPCs (the dead-node report).
    peer_contacts: crate::raft::network::PeerContacts,
}

impl Node {
    pub fn new(
        config: Config,
        raft: Raft,
        store: Store,
        http: crate::peer::PeerHttp,
        clock: Arc<LeaderClock>,
    ) -> Self {
        let stepping_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let read_index = ReadIndex::new(raft.clone(), http.clone(), Duration::from_secs(5))
            .handing_over(stepping_down.clone());
        Self {
            id: config.node_id,
            clock,
            metrics: crate::metrics::Metrics::new(config.node_id),
            auth: crate::identity::AuthState::new(
                config.auth.max_failures_per_minute,
                &config.auth.trusted_proxies,
            ),
            reopen_limiter: Default::default(),
            seal: SealState::new(SealReader::new(store.sm_meta.clone())),
            state: StateReader::new(&store),
            config,
            raft,
            store,
            read_index,
            http,
            started: Instant::now(),
            leader_contact_ms: AtomicU64::new(u64::MAX),
            path_locks: Default::default(),
            may_lead: std::sync::atomic::AtomicBool::new(true),
            stepping_down,
            draining: std::sync::atomic::AtomicBool::new(false),
            proposals_in_flight: AtomicU64::new(0),
            removed: std::sync::atomic::AtomicBool::new(false),
            audit: crate::audit::AuditLog::disabled(),
            peer_contacts: Default::default(),
        }
    }

    // ---- Read access to the node's parts (no field is public) ----

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn raft(&self) -> &Raft {
        &self.raft
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Applied state, read by the domain stores' readers.
    pub fn state(&self) -> &StateReader {
        &self.state
    }
    pub fn read_index(&self) -> &ReadIndex {
        &self.read_index
    }
    /// Client for cluster-port calls (forwarding, read index, proposals).
    pub fn peer(&self) -> &crate::peer::PeerHttp {
        &self.http
    }
    pub fn clock(&self) -> &Arc<LeaderClock> {
        &self.clock
    }
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }
    pub fn audit(&self) -> &crate::audit::AuditLog {
        &self.audit
    }
    pub fn peer_contacts(&self) -> &crate::raft::network::PeerContacts {
        &self.peer_contacts
    }

    // ---- The leadership role's flags (see `reconcile_seal_role`, `crate::handover`) ----

    /// Whether this node is handing leadership over.
    pub fn is_stepping_down(&self) -> bool {
        self.stepping_down.load(Ordering::SeqCst)
    }
    /// Sets or clears the handover flag (SeqCst: see [`Node::write`]).
    pub fn set_stepping_down(&self, on: bool) {
        self.stepping_down.store(on, Ordering::SeqCst);
    }
    /// Proposals submitted by [`Node::write`] and not yet answered.
    pub fn proposals_in_flight(&self) -> u64 {
        self.proposals_in_flight.load(Ordering::SeqCst)
    }
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
    /// A clean stop began: from now on this node neither campaigns nor takes leadership back.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }
    /// Records whether this node was removed from the cluster; returns the previous value.
    pub fn set_removed(&self, removed: bool) -> bool {
        self.removed.swap(removed, Ordering::Relaxed)
    }

    /// Sets the audit log (server start).
    pub fn with_audit(mut self, audit: crate::audit::AuditLog) -> Self {
        self.audit = audit;
        self
    }

    /// Shares the peer-contact record with the Raft network (server start).
    pub fn with_peer_contacts(mut self, contacts: crate::raft::network::PeerContacts) -> Self {
        self.peer_contacts = contacts;
        self
    }

    /// Sets the HSM opened at start (`[seal] type = "pkcs11"`).
    pub fn with_hsm(mut self, hsm: crate::seal::pkcs11::Hsm) -> Self {
        self.seal = self.seal.with_hsm(hsm);
        self
    }

    /// The identity domain's memory on this node (auth cache, limiter, trusted proxies).
    pub fn auth(&self) -> &crate::identity::AuthState {
        &self.auth
    }

    /// The approvals domain's memory on this node: new requests after denials.
    pub fn reopen_limiter(&self) -> &crate::approvals::ReopenLimiter {
        &self.reopen_limiter
    }

    /// This node's seal state: barrier, share progress, HSM (see [`crate::seal::service`]
    /// for the use cases that drive it).
    pub fn seal(&self) -> &SealState {
        &self.seal
    }

    /// The barrier, while unsealed (forwards to [`SealState::barrier`]: the secrets, backup
    /// and snapshot paths read it).
    pub fn barrier(&self) -> Option<Arc<Barrier>> {
        self.seal.barrier()
    }

    /// Installs (unseal) or drops (seal) the barrier, and brings the node's other parts along:
    /// an empty auth cache, the audit log's root key, the leadership role.
    pub fn set_barrier(&self, barrier: Option<Barrier>) {
        self.store.bump_identity_gen(); // seal/unseal: start with an empty auth cache
        self.audit.set_root(barrier.as_ref().map(|b| b.root()));
        self.seal.swap_barrier(barrier);
        self.reconcile_seal_role();
    }

    pub fn is_sealed(&self) -> bool {
        self.seal.is_sealed()
    }

    /// Current leader id and its node info, as this node knows them.
    pub fn leader(&self) -> Option<(NodeId, NodeInfo)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let info = m.membership_config.membership().get_node(&id).cloned()?;
        Some((id, info))
    }

    pub fn is_leader(&self) -> bool {
        self.leader().map(|(id, _)| id) == Some(self.id)
    }

    /// Whether this node leads and is handing leadership over: it proposes nothing new
    /// until a successor leads (writes wait and go to it).
    pub fn handing_over(&self) -> bool {
        self.stepping_down.load(Ordering::Relaxed) && self.is_leader()
    }

    /// Waits while this leader hands over (at most `bound`); `true` if it still leads after.
    async fn wait_handover(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while self.handing_over() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.is_leader()
    }

    /// Whether this node leads and has applied an entry of its own term.
    ///
    /// Such a leader's state holds everything acknowledged before the request arrived:
    /// entries of earlier terms were committed before its own first entry, which is applied;
    /// entries it committed itself were applied here before they were acknowledged. If a
    /// newer leader exists that this node has not heard of, anything proposed here can never
    /// commit (a majority has moved to a later term, and this node's log can't win a vote
    /// against theirs), so a request judged on this state takes effect only if that state was
    /// current. That is why a secret write needs no read-index round before its proposal.
    pub fn leader_ready(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.current_leader == Some(self.id)
            && m.last_applied.is_some_and(|l| l.leader_id.term == m.current_term)
    }

    pub fn applied_index(&self) -> u64 {
        self.raft.metrics().borrow().last_applied.map_or(0, |l| l.index)
    }

    /// Records that a leader's AppendEntries was accepted just now.
    pub fn note_leader_contact(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.leader_contact_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago this node last knew a leader was in charge.
    fn since_leader_contact_ms(&self) -> Option<u64> {
        if self.is_leader() {
            return self.raft.metrics().borrow().millis_since_quorum_ack;
        }
        let at = self.leader_contact_ms.load(Ordering::Relaxed);
        (at != u64::MAX).then(|| (self.started.elapsed().as_millis() as u64).saturating_sub(at))
    }

    /// Makes local state fit for a read of the asked consistency.
    pub async fn prepare_read(&self, consistency: Consistency) -> Result<(), ReadError> {
        match consistency {
            Consistency::Linearizable => {
                self.read_index.linearize().await?;
            }
            Consistency::MinIndex(index) => self.read_index.wait_applied(index).await?,
            Consistency::BeforeProposal => {
                if !self.leader_ready() {
                    self.read_index.linearize().await?;
                }
            }
            Consistency::Stale => {
                let bound = self.config.reads.stale_max_ms;
                match self.since_leader_contact_ms() {
                    Some(ms) if ms <= bound => {}
                    _ => return Err(ReadError::StaleTooOld(bound)),
                }
            }
        }
        Ok(())
    }

    /// The stripe locks serializing writes to one path on this (leader) node.
    pub fn path_locks(&self) -> &crate::secrets::PathLocks {
        &self.path_locks
    }

    /// Proposes `cmd` under `request_id` on this node (the leader), stamped with its clock
    /// now: what every use case's write is.
    pub async fn submit(
        &self,
        request_id: [u8; 16],
        cmd: Command,
    ) -> Result<Committed, WriteError> {
        self.write(Request { request_id, time_ms: crate::clock::now_ms(), cmd }).await
    }

    /// Proposes one request on this node, which must be the leader.
    pub async fn write(&self, request: Request) -> Result<Committed, WriteError> {
        // Counted before the handover flag is read (both SeqCst): a handover that set the
        // flag and then sees no proposal in flight knows none can start until it is done.
        let mut proposing = Proposing::start(&self.proposals_in_flight);
        // A write that got past the forwarding layer just before a handover began waits for
        // it: a proposal now could leave the chosen successor one entry short.
        if self.stepping_down.load(Ordering::SeqCst) {
            proposing.end();
            if !self.wait_handover(WRITE_TIMEOUT).await {
                return Err(WriteError::NotLeader { leader: self.leader().map(|(_, n)| n) });
            }
            proposing = Proposing::start(&self.proposals_in_flight);
        }
        let result = tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(request))
            .await
            .map_err(|_| WriteError::Raft(RaftWriteError::Timeout(WRITE_TIMEOUT)))?;
        proposing.end();
        match result {
            Ok(resp) => Ok(Committed {
                response: resp.data.response,
                index: resp.data.index,
                replayed: resp.data.replayed,
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(WriteError::NotLeader { leader: f.leader_node })
            }
            Err(e) => Err(WriteError::Raft(e.into())),
        }
    }

    /// Reloads the keyring if a rotation replaced the replicated one (forwards to
    /// [`SealState::refresh_keyring`]: the secrets read path and the role loop call it).
    pub fn refresh_keyring(&self) {
        self.seal.refresh_keyring();
    }

    /// A sealed node must not lead: it can't encrypt, and while it leads every write waits.
    /// Once the cluster is initialized, a sealed node neither campaigns nor sends heartbeats,
    /// so the followers' leader lease runs out and an unsealed node takes over; unsealing
    /// turns both back on. (Before init every node may lead, or init could never commit.)
    /// The rule is [`crate::seal::engine::may_lead`].
    pub fn reconcile_seal_role(&self) {
        let lead = crate::seal::engine::may_lead(crate::seal::engine::RoleFacts {
            initialized: matches!(self.state.seal.config(), Ok(Some(_))),
            sealed: self.is_sealed(),
            stepping_down: self.stepping_down.load(Ordering::Relaxed),
            draining: self.draining.load(Ordering::Relaxed),
            removed: self.removed.load(Ordering::Relaxed),
        });
        if self.may_lead.swap(lead, Ordering::Relaxed) != lead {
            tracing::info!(
                may_lead = lead,
                "this node's leadership role changed (seal state, handover, stop or removal)"
            );
        }
        let rc = self.raft.runtime_config();
        rc.elect(lead);
        rc.heartbeat(lead);
    }

    /// What a metrics scrape reads now: Raft's view, applied state, the auth cache counters.
    pub fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        let m = self.raft.metrics().borrow().clone();
        let now = self.clock.now_ms();
        let pending = self
            .state
            .approvals
            .all()
            .map(|all| all.iter().filter(|(_, r)| r.status_at(now) == "pending").count())
            .unwrap_or(0);
        crate::metrics::MetricsSnapshot {
            node_id: self.id,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            replication: m
                .replication
                .as_ref()
                .map(|r| r.iter().map(|(id, matched)| (*id, matched.map(|l| l.index))).collect()),
            sealed: self.is_sealed(),
            secrets: self.state.secrets.count() as u64,
            live_tokens: self.state.identity.live_tokens(now).unwrap_or(0) as u64,
            pending_approvals: pending as u64,
            auth_cache_hits: self.auth().cache.hits.load(Ordering::Relaxed),
            auth_cache_misses: self.auth().cache.misses.load(Ordering::Relaxed),
        }
    }

    /// Proposes one request from any node: locally on the leader, else through the leader's
    /// cluster port. For commands a node makes itself (a new root token), not for API writes,
    /// which are forwarded whole.
    pub async fn propose(&self, request: Request) -> Result<Committed, WriteError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let attempt = match self.leader() {
                Some((id, _)) if id == self.id => self.write(request.clone()).await,
                Some((_, info)) => self.propose_remote(&info, &request).await,
                None => Err(WriteError::NotLeader { leader: None }),
            };
            match attempt {
                Err(WriteError::NotLeader { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn propose_remote(
        &self,
        leader: &NodeInfo,
        request: &Request,
    ) -> Result<Committed, WriteError> {
        let body = crate::storage::encode(request)
            .map_err(|e| WriteError::Raft(RaftWriteError::Remote(e.to_string())))?;
        let resp = self
            .http
            .post(&leader.cluster_addr, PATH_PROPOSE)
            .timeout(Duration::from_secs(10))
            .body(body)
            .send()
            .await
            .map_err(|_| WriteError::NotLeader { leader: Some(leader.clone()) })?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| WriteError::Raft(RaftWriteError::Remote(e.to_string())))?;
        let result: Result<(u64, Response, bool), ProposeError> = crate::storage::decode(&bytes)
            .map_err(|e| WriteError::Raft(RaftWriteError::Remote(e.to_string())))?;
        match result {
            Ok((index, response, replayed)) => Ok(Committed { response, index, replayed }),
            Err(ProposeError::NotLeader) => Err(WriteError::NotLeader { leader: None }),
            Err(ProposeError::Raft(m)) => Err(WriteError::Raft(RaftWriteError::Remote(m))),
        }
    }
}

/// One proposal counted in [`Node::proposals_in_flight`] until ended (or dropped, when a
/// write's future is cancelled).
struct Proposing<'a> {
    count: &'a AtomicU64,
    live: bool,
}

impl<'a> Proposing<'a> {
    fn start(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self { count, live: true }
    }

    fn end(&mut self) {
        if std::mem::replace(&mut self.live, false) {
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Proposing<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// Cluster-port route where a node proposes a request through the leader.
pub const PATH_PROPOSE: &str = "/internal/propose";

/// Why a remote proposal failed.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    NotLeader,
    Raft(String),
}
