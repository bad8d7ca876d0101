//! The audit use cases behind `/v1/audit*`: query, verify, hash and follow the cluster's log.
//! Each checks the caller's `audit:read`, then asks [`super::fanout`]; answers are the wire
//! types, converted from the node's [`AuditRecord`] here.
//!
//! ```text
//!  query(params)  ── audit:read ── Filter::from_query ── fanout::cluster_query ──> events
//!  verify()       ── audit:read ── fanout::cluster_verify ──> one report per member
//!  hash(value)    ── audit:read ── AuditKeys::hash (needs the unsealed keys)
//!  follow(cursor) ── audit:read ── AuditCursor ── fanout::follow ──> FollowMsg stream
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ass_client::{
    AuditCursor, AuditEvent, AuditHashResponse, AuditQueryResponse, AuditVerifyResponse,
};
use futures::Stream;

use super::fanout::{self, Feed};
use super::query::Filter;
use super::AuditRecord;
use crate::access::scope::Admin;
use crate::identity::{AccessError, Caller};
use crate::node::Node;
use crate::raft::types::NodeId;

/// A cursor message after this long without records (also a keep-alive).
const QUIET: Duration = Duration::from_secs(5);

/// Why an audit call is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuditServiceError {
    /// The caller may not (an agent key, or `audit:read` missing).
    #[error(transparent)]
    Denied(#[from] AccessError),
    /// A filter or cursor that can't be used; the message names it.
    #[error("{0}")]
    BadRequest(String),
    #[error("the audit log is disabled on this node")]
    Disabled,
}

fn require_audit_read(caller: &Caller) -> Result<(), AuditServiceError> {
    Ok(caller.require_admin(Admin::AuditRead)?)
}

/// Now, in ns since the Unix epoch (the base of relative filter times).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Every member's matches of the `GET /v1/audit` parameters, merged in time order.
pub async fn query(
    node: &Arc<Node>,
    caller: &Caller,
    params: &HashMap<String, String>,
) -> Result<AuditQueryResponse, AuditServiceError> {
    require_audit_read(caller)?;
    let filter = Filter::from_query(params, now_ns())
        .map_err(|e| AuditServiceError::BadRequest(e.to_string()))?;
    let (records, nodes) = fanout::cluster_query(node, &filter).await;
    let partial = nodes.iter().any(|n| !n.ok);
    let events = records.into_iter().map(AuditEvent::from).collect();
    Ok(AuditQueryResponse { events, partial, nodes })
}

/// Every member checks its own chain.
pub async fn verify(
    node: &Arc<Node>,
    caller: &Caller,
) -> Result<AuditVerifyResponse, AuditServiceError> {
    require_audit_read(caller)?;
    Ok(fanout::cluster_verify(node).await)
}

/// The HMAC of a value, as records carry a presented credential.
pub fn hash(
    node: &Node,
    caller: &Caller,
    value: &str,
) -> Result<AuditHashResponse, AuditServiceError> {
    require_audit_read(caller)?;
    let keys = node.audit().keys().ok_or(AuditServiceError::Disabled)?;
    Ok(AuditHashResponse { hmac: keys.hash(value) })
}

/// One message of a followed log, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowMsg {
    /// Where the stream stands (first, and after a quiet spell).
    Cursor(String),
    /// A member could not be asked.
    Lagging { node: NodeId, error: String },
    /// New records: the cursor after each, and its stored line. Empty: a member's answer
    /// held nothing new.
    Records(Vec<(String, String)>),
}

/// Every member's new records, live, after `cursor` (the client's `Last-Event-ID` or
/// `?cursor=`; `None` or blank: from now). The stream ends when every member's follower has
/// stopped; dropping it stops them.
pub fn follow(
    node: &Arc<Node>,
    caller: &Caller,
    cursor: Option<String>,
) -> Result<impl Stream<Item = FollowMsg> + Send + 'static, AuditServiceError> {
    require_audit_read(caller)?;
    let cursor = match cursor.filter(|c| !c.trim().is_empty()) {
        Some(c) => c.parse::<AuditCursor>().map_err(AuditServiceError::BadRequest)?,
        None => AuditCursor { from_ns: now_ns(), seqs: BTreeMap::new() },
    };
    let (rx, followers) = fanout::follow(node, &cursor);
    let state = (rx, cursor, followers, true);
    Ok(futures::stream::unfold(state, |(mut rx, mut cursor, followers, first)| async move {
        if first {
            let msg = FollowMsg::Cursor(cursor.to_string());
            return Some((msg, (rx, cursor, followers, false)));
        }
        let msg = match tokio::time::timeout(QUIET, rx.recv()).await {
            Err(_) => FollowMsg::Cursor(cursor.to_string()),
            Ok(None) => return None,
            Ok(Some(Feed::Lagging(node, error))) => FollowMsg::Lagging { node, error },
            Ok(Some(Feed::Lines(id, lines))) => {
                FollowMsg::Records(new_records(&mut cursor, id, lines))
            }
        };
        Some((msg, (rx, cursor, followers, false)))
    }))
}

/// The lines of member `id` not yet seen, each with the cursor after it; advances `cursor`.
fn new_records(cursor: &mut AuditCursor, id: NodeId, lines: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in lines {
        let Ok(r) = serde_json::from_str::<AuditRecord>(&line) else { continue };
        if r.node != id || cursor.seen(id, r.seq) {
            continue;
        }
        cursor.advance(id, r.seq);
        out.push((cursor.to_string(), line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::event;

    fn line(node: u64, seq: u64) -> String {
        let mut e = event(seq);
        e.node = node;
        serde_json::to_string(&e).unwrap()
    }

    #[test]
    fn a_follower_shows_each_record_once_and_only_its_members() {
        let mut cursor = AuditCursor { from_ns: 0, seqs: BTreeMap::new() };
        let got = new_records(&mut cursor, 1, vec![line(1, 1), line(1, 2), line(2, 9)]);
        assert_eq!(got.len(), 2, "a record of another node in node 1's answer is dropped");
        assert_eq!(got[1].1, line(1, 2));
        assert_eq!(got[1].0, cursor.to_string(), "the last record's cursor is the cursor");
        assert_ne!(got[0].0, got[1].0);
        let again = new_records(&mut cursor, 1, vec![line(1, 2), "garbage".into(), line(1, 3)]);
        assert_eq!(again.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), vec![line(1, 3)]);
        assert!(new_records(&mut cursor, 1, vec![line(1, 3)]).is_empty());
    }
}
