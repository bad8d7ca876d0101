//! The audit log: wire types of `/v1/audit*` and the client calls that query, verify and
//! follow it.
//!
//! ```text
//!  audit_query ──GET /v1/audit?limit&since&until&agent&path&result&action──> any node
//!                 └─ that node asks every member over the cluster port, merges in time order
//!  audit_stream ──GET /v1/audit/stream (SSE, id: = cursor)──> any node ──> every member
//!                 └─ on a dropped connection: the next address, `Last-Event-ID: <cursor>`
//!  audit_verify ──GET /v1/audit/verify──> every member checks its own hash chain
//!  audit_hash  ──POST /v1/audit/hash {value}──> HMAC-SHA256 under the cluster's audit key
//! ```
//!
//! Every call needs the `audit:read` scope (or the root token). Events never hold a secret
//! value, a token or an agent key; a presented credential appears only as `credential_hmac`,
//! which [`Client::audit_hash`] computes for a value you hold.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::{Call, Client, Error};

/// One audit event: one API request on one node, allowed or denied.
///
/// Stored as one JSON line per event, in this field order; `hash` is SHA-256 over the line
/// with `hash` set to `""` (see the node's `audit::chain`), `prev_hash` the previous event's
/// `hash` on the same node, so each node's events form one chain numbered by `seq`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// Format version of the event (1).
    pub v: u32,
    /// Position in the recording node's chain, from 1, no gaps.
    pub seq: u64,
    /// When the node recorded it: RFC 3339, UTC, nanoseconds (strictly increasing per node).
    pub time: String,
    /// The node that served (and recorded) the request.
    pub node: u64,
    /// The request id (`x-ass-request-id`, the client's or one the node made up).
    pub request_id: String,
    /// `root`, `token`, `agent_key` or `anonymous` (no or an unknown credential).
    pub actor: String,
    /// Name of the agent behind the credential, when there is one.
    pub agent: Option<String>,
    /// Id of that agent.
    pub agent_id: Option<String>,
    /// Accessor of the token used (never the token itself).
    pub accessor: Option<String>,
    /// `hmac-sha256:<hex>` of the presented bearer credential, under a key derived from the
    /// cluster's root key (`ass audit hash VALUE` computes it); absent while sealed.
    pub credential_hmac: Option<String>,
    /// What was asked: `secret.read`, `secret.write`, `token.issue`, `sys.unseal`, …
    pub action: String,
    /// HTTP method.
    pub method: String,
    /// URL path of the request (no query string).
    pub path: String,
    /// Secret version read, written or deleted.
    pub version: Option<u64>,
    /// Tier of the secret (`standard`, `sensitive`, `critical`).
    pub tier: Option<String>,
    /// `ok`, or the error code of the answer (`scope_denied`, `unauthorized`, …).
    pub result: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Client address as the cluster judged it.
    pub client: String,
    /// The approval request involved (a gated read, a decision).
    pub approval_id: Option<String>,
    /// `hash` of the previous event of this node (64 zeros for the first one).
    pub prev_hash: String,
    /// SHA-256 of this event (hex).
    pub hash: String,
}

/// Filters of an audit query; `None` and empty strings filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Most events to return, newest kept (server default 100, at most 10000).
    pub limit: Option<usize>,
    /// Only events at or after this time (RFC 3339, or a duration ago such as `1h`).
    pub since: Option<String>,
    /// Only events before this time (RFC 3339, or a duration ago).
    pub until: Option<String>,
    /// Agent name or id.
    pub agent: Option<String>,
    /// A path prefix: the secret path (`production/`) or the URL path (`/v1/tokens`).
    pub path: Option<String>,
    /// `ok`, `error` (anything else) or an error code.
    pub result: Option<String>,
    /// An action (`secret.read`) or a family (`secret`, `secret.*`).
    pub action: Option<String>,
}

impl AuditFilter {
    fn apply<'a>(&self, mut call: Call<'a>) -> Call<'a> {
        if let Some(l) = self.limit {
            call = call.query("limit", l);
        }
        let fields: [(&'static str, &Option<String>); 6] = [
            ("since", &self.since),
            ("until", &self.until),
            ("agent", &self.agent),
            ("path", &self.path),
            ("result", &self.result),
            ("action", &self.action),
        ];
        for (k, v) in fields {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                call = call.query(k, v);
            }
        }
        call
    }
}

/// How one member answered a cluster-wide audit call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditNodeStatus {
    pub node: u64,
    /// Whether the member answered.
    pub ok: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its newest event's `seq` (0: none yet), when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// `GET /v1/audit`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditQueryResponse {
    /// Matching events of every member that answered, oldest first (by time, then node,
    /// then seq), the newest `limit` of them.
    pub events: Vec<AuditEvent>,
    /// Some member did not answer: its events are missing (see `nodes`).
    pub partial: bool,
    pub nodes: Vec<AuditNodeStatus>,
}

/// Where one node's chain stands after a check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditChainReport {
    pub node: u64,
    /// Whether the node answered at all.
    pub reachable: bool,
    /// The chain is whole: nothing removed, reordered or edited.
    pub ok: bool,
    /// Events checked.
    pub checked: u64,
    /// First and last `seq` on disk.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The retention checkpoint the chain starts from (`seq` of the last pruned event).
    pub checkpoint_seq: Option<u64>,
    /// Whether the checkpoint's MAC was checked (needs an unsealed node) and held.
    pub checkpoint_verified: Option<bool>,
    /// The first problem: which event, and whether it was `removed`, `reordered`, `edited`
    /// or is `unreadable`; `checkpoint` when the checkpoint itself fails.
    pub problem: Option<AuditProblem>,
    /// Why the node could not be asked.
    pub error: Option<String>,
}

/// The first break in a chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditProblem {
    /// `removed`, `reordered`, `edited`, `unreadable` or `checkpoint`.
    pub kind: String,
    /// The `seq` the problem is about (for `removed`: the first missing one).
    pub seq: u64,
    /// 1-based line in the node's `audit/events.log`.
    pub line: u64,
    pub detail: String,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditVerifyResponse {
    /// Every member reachable and every chain whole.
    pub ok: bool,
    pub nodes: Vec<AuditChainReport>,
}

/// `POST /v1/audit/hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHashRequest {
    pub value: String,
}

/// Answer of `POST /v1/audit/hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHashResponse {
    /// `hmac-sha256:<hex>`, as in events' `credential_hmac`.
    pub hmac: String,
}

/// Position of a follower of the audit stream: the last `seq` seen of every node, and the
/// time the stream started from for nodes not seen yet. Sent as the SSE `id:` and given back
/// as `Last-Event-ID` (or `?cursor=`) to resume without gaps or duplicates on any node.
///
/// Text form: `t=<unix ns>;1:42,2:17,3:9`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCursor {
    /// Start time (Unix ns) for nodes not in `seqs`.
    pub from_ns: u64,
    pub seqs: BTreeMap<u64, u64>,
}

impl AuditCursor {
    /// Notes an event as seen.
    pub fn advance(&mut self, node: u64, seq: u64) {
        let e = self.seqs.entry(node).or_insert(0);
        *e = (*e).max(seq);
    }

    /// Whether `(node, seq)` was already seen.
    pub fn seen(&self, node: u64, seq: u64) -> bool {
        self.seqs.get(&node).is_some_and(|s| seq <= *s)
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t={};", self.from_ns)?;
        let parts: Vec<String> = self.seqs.iter().map(|(n, s)| format!("{n}:{s}")).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for AuditCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid audit cursor `{}`", s.chars().take(64).collect::<String>());
        let (t, rest) = s.trim().split_once(';').ok_or_else(bad)?;
        let from_ns = t.strip_prefix("t=").and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let mut seqs = BTreeMap::new();
        for part in rest.split(',').filter(|p| !p.is_empty()) {
            let (n, q) = part.split_once(':').ok_or_else(bad)?;
            let n: u64 = n.parse().map_err(|_| bad())?;
            let q: u64 = q.parse().map_err(|_| bad())?;
            if seqs.insert(n, q).is_some() || seqs.len() > 1000 {
                return Err(bad());
            }
        }
        Ok(AuditCursor { from_ns, seqs })
    }
}

/// One message of the audit stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditStreamItem {
    /// An event, and the cursor just after it.
    Event(Box<AuditEvent>, AuditCursor),
    /// The cursor at a quiet moment (sent first, and when nothing happens for a while), so a
    /// reconnect resumes where the stream stood even if no event came yet.
    Cursor(AuditCursor),
    /// A member the stream could not reach (it keeps trying; its events follow later).
    Lagging { node: u64, error: String },
}

/// Parses one SSE message (the lines between blank lines).
pub fn parse_sse_message(block: &str) -> Result<Option<AuditStreamItem>, Error> {
    let (mut event, mut id, mut data) = (None, None, String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    let cursor = match &id {
        Some(id) => Some(id.parse::<AuditCursor>().map_err(Error::Decode)?),
        None => None,
    };
    match (event.as_deref().unwrap_or("audit"), cursor) {
        ("audit", Some(c)) => {
            let e: AuditEvent =
                serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
            Ok(Some(AuditStreamItem::Event(Box::new(e), c)))
        }
        ("cursor", Some(c)) => Ok(Some(AuditStreamItem::Cursor(c))),
        ("lagging", _) => {
            #[derive(Deserialize)]
            struct Lag {
                node: u64,
                error: String,
            }
            let l: Lag = serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
            Ok(Some(AuditStreamItem::Lagging { node: l.node, error: l.error }))
        }
        _ => Ok(None),
    }
}

/// A live connection to `GET /v1/audit/stream` on one node.
pub struct AuditStream {
    resp: reqwest::Response,
    buf: String,
    /// The node it is connected to.
    pub addr: String,
}

impl AuditStream {
    /// The next message; `Ok(None)` when the node closed the stream.
    pub async fn next(&mut self) -> Result<Option<AuditStreamItem>, Error> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(item) = parse_sse_message(&block)? {
                    return Ok(Some(item));
                }
                continue;
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(Error::Transport(format!("{}: stream broke: {e}", self.addr)))
                }
            }
        }
    }
}

impl Client {
    /// `GET /v1/audit` (needs `audit:read`): events of every member, merged in time order.
    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<AuditQueryResponse, Error> {
        self.call(filter.apply(Call::new(Method::GET, "/v1/audit"))).await
    }

    /// `GET /v1/audit/verify` (needs `audit:read`): each member checks its own hash chain
    /// and reports the first removed, reordered or edited event.
    pub async fn audit_verify(&self) -> Result<AuditVerifyResponse, Error> {
        self.call(Call::new(Method::GET, "/v1/audit/verify").timeout(Duration::from_secs(120)))
            .await
    }

    /// `POST /v1/audit/hash` (needs `audit:read`): the `credential_hmac` form of `value`,
    /// to search the audit log for a credential without putting it in the log.
    pub async fn audit_hash(&self, value: &str) -> Result<AuditHashResponse, Error> {
        let req = AuditHashRequest { value: value.to_owned() };
        self.call(Call::new(Method::POST, "/v1/audit/hash").json(&req)?).await
    }

    /// Opens `GET /v1/audit/stream` on the node at `addr` (one of this client's addresses),
    /// resuming after `cursor` when given. Reconnecting on failure, and moving to another
    /// address, is the caller's choice: see `ass audit --tail`.
    pub async fn audit_stream(
        &self,
        addr: &str,
        cursor: Option<&AuditCursor>,
    ) -> Result<AuditStream, Error> {
        let token = self.session_token().await?;
        let mut req = self
            .inner
            .http
            .get(format!("{addr}/v1/audit/stream"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            // The stream lasts: only the connect is bounded.
            .timeout(Duration::from_secs(60 * 60 * 24 * 365));
        if let Some(c) = cursor {
            req = req.header("last-event-id", c.to_string());
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| crate::transport_error(addr, &e).0)?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(crate::error::api_error(status, &body));
        }
        Ok(AuditStream { resp, buf: String::new(), addr: addr.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let mut c = AuditCursor { from_ns: 17, seqs: BTreeMap::new() };
        assert_eq!(c.to_string(), "t=17;");
        c.advance(2, 9);
        c.advance(1, 42);
        c.advance(1, 40);
        assert_eq!(c.to_string(), "t=17;1:42,2:9");
        assert_eq!("t=17;1:42,2:9".parse::<AuditCursor>().unwrap(), c);
        assert!(c.seen(1, 42) && !c.seen(1, 43) && !c.seen(3, 1));
        for bad in ["", "1:2", "t=x;1:2", "t=1;1:2,1:3", "t=1;a:b", "t=1;1"] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sse_messages_parse() {
        let ev = AuditEvent {
            v: 1,
            seq: 3,
            time: "2026-11-28T10:00:00.000000001Z".into(),
            node: 2,
            request_id: "r".into(),
            actor: "root".into(),
            agent: None,
            agent_id: None,
            accessor: None,
            credential_hmac: None,
            action: "secret.read".into(),
            method: "GET".into(),
            path: "/v1/secrets/a".into(),
            version: Some(1),
            tier: Some("standard".into()),
            result: "ok".into(),
            status: 200,
            client: "127.0.0.1".into(),
            approval_id: None,
            prev_hash: "0".into(),
            hash: "1".into(),
        };
        let block =
            format!("event: audit\nid: t=1;2:3\ndata: {}\n\n", serde_json::to_string(&ev).unwrap());
        match parse_sse_message(&block).unwrap() {
            Some(AuditStreamItem::Event(e, c)) => {
                assert_eq!(*e, ev);
                assert!(c.seen(2, 3));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_sse_message("event: cursor\nid: t=1;\ndata: {}\n\n").unwrap(),
            Some(AuditStreamItem::Cursor(_))
        ));
        assert_eq!(parse_sse_message(": keep-alive\n\n").unwrap(), None);
    }
}
