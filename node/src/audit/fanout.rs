//! The audit log across the cluster: asking every member for its part, and each member's
//! answer. The audit routes ([`super::service`]) and the doctor (`posture::service`) call
//! these; nothing here decides access.
//!
//! ```text
//!  cluster_query(filter) ──> every member: local_query (here: directly; others: POST
//!                             /internal/audit/query over the cluster port) ──> query::merge
//!  cluster_verify()      ──> every member: local_verify ──> one report per member
//!  follow(cursor)        ──> one task per member: long polls of local_tail ──> Feed channel
//!  answer_*(body)        ──  the member side of the three cluster-port routes
//! ```
//!
//! A member that does not answer is reported (`ok: false`, `reachable: false`, a `lagging`
//! feed item), never an error of the whole call: the log of the members that did answer is
//! still worth showing.

use std::sync::Arc;
use std::time::Duration;

use ass_client::{AuditChainReport, AuditCursor, AuditNodeStatus, AuditVerifyResponse};
use serde::Serialize;

use super::query::{self, Filter};
use super::{AuditRecord, QueryResponse, TailRequest, TailResponse};
use crate::node::Node;
use crate::raft::types::NodeId;
use crate::storage::{decode, encode};

/// Cluster-port routes of the audit fan-out.
pub const PATH_QUERY: &str = "/internal/audit/query";
pub const PATH_TAIL: &str = "/internal/audit/tail";
pub const PATH_VERIFY: &str = "/internal/audit/verify";

/// How long a member may take to answer a query (a tail adds its own wait).
pub const FANOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a member may take to check its chain.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one long poll to a member waits for an event.
const TAIL_WAIT: Duration = Duration::from_secs(10);

/// Every member (voters and learners) and its cluster address.
pub fn members(node: &Node) -> Vec<(NodeId, String)> {
    let m = node.raft().metrics();
    let m = m.borrow();
    m.membership_config.membership().nodes().map(|(id, n)| (*id, n.cluster_addr.clone())).collect()
}

/// One cluster-port call: `body` postcard-encoded in, the member's `Result<A, String>` out;
/// a transport failure is said in words (`cannot connect`, `did not answer in time`).
pub async fn ask<Q: Serialize, A: serde::de::DeserializeOwned>(
    node: &Node,
    addr: &str,
    route: &str,
    body: &Q,
    timeout: Duration,
) -> Result<A, String> {
    let bytes = encode(body).map_err(|e| e.to_string())?;
    let resp =
        node.peer().post(addr, route).timeout(timeout).body(bytes).send().await.map_err(|e| {
            if e.is_timeout() {
                "did not answer in time".to_string()
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                e.to_string()
            }
        })?;
    if !resp.status().is_success() {
        return Err(format!("answered HTTP {}", resp.status()));
    }
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    decode::<Result<A, String>>(&bytes).map_err(|e| e.to_string())?
}

/// The records among stored lines (a line that does not parse is skipped: `verify` names it).
pub fn parse_lines(lines: &[String]) -> Vec<AuditRecord> {
    lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Every member's records matching `filter`, merged in time order (newest `limit` kept), and
/// how each member answered.
pub async fn cluster_query(
    node: &Arc<Node>,
    filter: &Filter,
) -> (Vec<AuditRecord>, Vec<AuditNodeStatus>) {
    let asks = members(node).into_iter().map(|(id, addr)| {
        let node = node.clone();
        let filter = filter.clone();
        async move {
            let r: Result<QueryResponse, String> = if id == node.id() {
                node.audit().local_query(&filter).map_err(|e| e.to_string())
            } else {
                ask(&node, &addr, PATH_QUERY, &filter, FANOUT_TIMEOUT).await
            };
            (id, r)
        }
    });
    let mut per_node = Vec::new();
    let mut nodes = Vec::new();
    for (id, r) in futures::future::join_all(asks).await {
        match r {
            Ok(resp) => {
                per_node.push(parse_lines(&resp.lines));
                nodes.push(AuditNodeStatus {
                    node: id,
                    ok: true,
                    error: None,
                    last_seq: Some(resp.last_seq),
                });
            }
            Err(e) => {
                nodes.push(AuditNodeStatus { node: id, ok: false, error: Some(e), last_seq: None })
            }
        }
    }
    (query::merge(per_node, filter.limit), nodes)
}

/// Every member checks its own chain.
pub async fn cluster_verify(node: &Arc<Node>) -> AuditVerifyResponse {
    let asks = members(node).into_iter().map(|(id, addr)| {
        let node = node.clone();
        async move {
            if id == node.id() {
                let n = node.clone();
                return tokio::task::spawn_blocking(move || n.audit().local_verify(n.id()))
                    .await
                    .unwrap_or_else(|e| unreachable_report(id, e.to_string()));
            }
            match ask::<_, AuditChainReport>(&node, &addr, PATH_VERIFY, &(), VERIFY_TIMEOUT).await {
                Ok(r) => r,
                Err(e) => unreachable_report(id, e),
            }
        }
    });
    let nodes: Vec<AuditChainReport> = futures::future::join_all(asks).await;
    let ok = nodes.iter().all(|n| n.reachable && n.ok);
    AuditVerifyResponse { ok, nodes }
}

fn unreachable_report(node: u64, error: String) -> AuditChainReport {
    AuditChainReport {
        node,
        reachable: false,
        ok: false,
        checked: 0,
        first_seq: None,
        last_seq: None,
        checkpoint_seq: None,
        checkpoint_verified: None,
        problem: None,
        error: Some(error),
    }
}

// ---------------------------------------------------------------------------------------
// Following every member

/// What one member's follower reports.
pub enum Feed {
    /// Stored lines after the last seen, oldest first.
    Lines(NodeId, Vec<String>),
    /// The member could not be asked (said once per outage).
    Lagging(NodeId, String),
}

/// The followers of one stream; dropping it stops them.
pub struct Followers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Followers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Starts one follower per member, each after its seq in `cursor` (or from the cursor's
/// time), feeding the returned channel until the [`Followers`] are dropped.
pub fn follow(
    node: &Arc<Node>,
    cursor: &AuditCursor,
) -> (tokio::sync::mpsc::Receiver<Feed>, Followers) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Feed>(64);
    let mut tasks = Vec::new();
    for (id, addr) in members(node) {
        let after = cursor.seqs.get(&id).copied();
        let from_time = super::store::format_ns(cursor.from_ns);
        tasks.push(tokio::spawn(follow_one(node.clone(), id, addr, after, from_time, tx.clone())));
    }
    (rx, Followers(tasks))
}

/// Follows one member: long polls for records after the last seen, in order.
async fn follow_one(
    node: Arc<Node>,
    id: NodeId,
    addr: String,
    mut after: Option<u64>,
    from_time: String,
    tx: tokio::sync::mpsc::Sender<Feed>,
) {
    let mut reported = false;
    loop {
        let req = TailRequest {
            after,
            from_time: from_time.clone(),
            wait_ms: TAIL_WAIT.as_millis() as u64,
            limit: 1000,
        };
        let r: Result<TailResponse, String> = if id == node.id() {
            node.audit().local_tail(&req).await.map_err(|e| e.to_string())
        } else {
            ask(&node, &addr, PATH_TAIL, &req, TAIL_WAIT + FANOUT_TIMEOUT).await
        };
        match r {
            Ok(resp) => {
                reported = false;
                let records = parse_lines(&resp.lines);
                if let Some(last) = records.iter().map(|e| e.seq).max() {
                    after = Some(last);
                } else if after.is_none() && resp.last_seq > 0 {
                    // Nothing at or after the start time yet: everything so far is older.
                    after = Some(resp.last_seq);
                }
                if !resp.lines.is_empty() && tx.send(Feed::Lines(id, resp.lines)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if !reported && tx.send(Feed::Lagging(id, e)).await.is_err() {
                    return;
                }
                reported = true;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The member side (the cluster port's handlers encode these answers)

/// `POST /internal/audit/query`: this member's matches of a postcard [`Filter`].
pub async fn answer_query(node: Arc<Node>, body: &[u8]) -> Result<QueryResponse, String> {
    let f = decode::<Filter>(body).map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || node.audit().local_query(&f).map_err(|e| e.to_string()))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// `POST /internal/audit/tail`: this member's records after a postcard [`TailRequest`].
pub async fn answer_tail(node: Arc<Node>, body: &[u8]) -> Result<TailResponse, String> {
    let req = decode::<TailRequest>(body).map_err(|e| e.to_string())?;
    node.audit().local_tail(&req).await.map_err(|e| e.to_string())
}

/// `POST /internal/audit/verify`: this member's check of its own chain.
pub async fn answer_verify(node: Arc<Node>) -> Result<AuditChainReport, String> {
    tokio::task::spawn_blocking(move || node.audit().local_verify(node.id()))
        .await
        .map_err(|e| e.to_string())
}
