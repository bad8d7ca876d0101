//! The audit record as this node stores it: one JSON line per record in `audit/events.log`,
//! hash-chained by [`super::chain`].
//!
//! ```text
//!  request path ── AuditRecord ──> store (seq, time, prev_hash, hash) ──> events.log line
//!  events.log line ──> AuditRecord ──> chain check, query filter, merge
//!                                 └──> ass_client::AuditEvent (From) ──> JSON answer
//! ```
//!
//! The node owns this type so that a change of the wire type (`ass_client::AuditEvent`) can
//! never silently become a change of the bytes on disk, and so of every chain hash. The
//! field order and serde attributes *are* the on-disk format (version `v` = 1): changing
//! either breaks every stored chain. `tests/fixtures/audit-events-v1.log` holds lines written
//! before this type existed; the tests below read them back byte for byte.

use serde::{Deserialize, Serialize};

/// One audit record: one API request (or one node action) on one node, allowed or denied.
///
/// Fields mean what `ass_client::AuditEvent`'s do (the wire form shows the same JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Format version of the record (1).
    pub v: u32,
    /// Position in the recording node's chain, from 1, no gaps.
    pub seq: u64,
    /// When the node recorded it: RFC 3339, UTC, nanoseconds (strictly increasing per node).
    pub time: String,
    /// The node that served (and recorded) the request.
    pub node: u64,
    /// The request id.
    pub request_id: String,
    /// `root`, `token`, `agent_key`, `anonymous`, or a node actor such as `autopilot`.
    pub actor: String,
    pub agent: Option<String>,
    pub agent_id: Option<String>,
    /// Accessor of the token used (never the token itself).
    pub accessor: Option<String>,
    /// `hmac-sha256:<hex>` of the presented credential; absent while sealed.
    pub credential_hmac: Option<String>,
    /// `secret.read`, `token.issue`, … (see `http::audit_layer::action_of`).
    pub action: String,
    pub method: String,
    /// URL path (no query string).
    pub path: String,
    pub version: Option<u64>,
    pub tier: Option<String>,
    /// `ok`, or the error code of the answer.
    pub result: String,
    pub status: u16,
    pub client: String,
    pub approval_id: Option<String>,
    /// `hash` of the previous record of this node ([`super::chain::GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 of this record with `hash` blank (hex). Must stay the last field: the store
    /// writes it into the tail of the line it hashed.
    pub hash: String,
}

impl AuditRecord {
    /// A record not yet numbered, timed or chained (the store fills `seq`, `time`, `node`,
    /// `prev_hash` and `hash`), with every optional field empty.
    pub fn new(node: u64, request_id: String, actor: &str, action: &str) -> Self {
        Self {
            v: 1,
            seq: 0,
            time: String::new(),
            node,
            request_id,
            actor: actor.to_owned(),
            agent: None,
            agent_id: None,
            accessor: None,
            credential_hmac: None,
            action: action.to_owned(),
            method: String::new(),
            path: String::new(),
            version: None,
            tier: None,
            result: String::new(),
            status: 0,
            client: String::new(),
            approval_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

impl From<AuditRecord> for ass_client::AuditEvent {
    fn from(r: AuditRecord) -> Self {
        Self {
            v: r.v,
            seq: r.seq,
            time: r.time,
            node: r.node,
            request_id: r.request_id,
            actor: r.actor,
            agent: r.agent,
            agent_id: r.agent_id,
            accessor: r.accessor,
            credential_hmac: r.credential_hmac,
            action: r.action,
            method: r.method,
            path: r.path,
            version: r.version,
            tier: r.tier,
            result: r.result,
            status: r.status,
            client: r.client,
            approval_id: r.approval_id,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

impl From<ass_client::AuditEvent> for AuditRecord {
    fn from(e: ass_client::AuditEvent) -> Self {
        Self {
            v: e.v,
            seq: e.seq,
            time: e.time,
            node: e.node,
            request_id: e.request_id,
            actor: e.actor,
            agent: e.agent,
            agent_id: e.agent_id,
            accessor: e.accessor,
            credential_hmac: e.credential_hmac,
            action: e.action,
            method: e.method,
            path: e.path,
            version: e.version,
            tier: e.tier,
            result: e.result,
            status: e.status,
            client: e.client,
            approval_id: e.approval_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{self, GENESIS};
    use proptest::prelude::*;

    /// Lines written by the store before the node owned its record type (it wrote
    /// `ass_client::AuditEvent`): node 3, seq 1..=3, every optional field both set and unset,
    /// JSON escapes and non-ASCII text.
    const FIXTURE: &str = include_str!("../../tests/fixtures/audit-events-v1.log");

    fn fixture_lines() -> Vec<&'static str> {
        FIXTURE.lines().collect()
    }

    #[test]
    fn records_written_before_decode_verify_and_encode_to_the_same_bytes() {
        let lines = fixture_lines();
        assert_eq!(lines.len(), 3);
        let check = chain::check(lines.iter().copied(), None);
        assert_eq!(check.problem, None, "the old chain verifies with the new type");
        assert_eq!((check.checked, check.first_seq, check.last_seq), (3, Some(1), Some(3)));
        let mut prev = GENESIS.to_owned();
        for line in &lines {
            let r: AuditRecord = serde_json::from_str(line).unwrap();
            assert_eq!(chain::canonical(&r), *line, "encoding the record gives the stored bytes");
            assert_eq!(chain::event_hash(&r), r.hash);
            // Sealing it again (as the store does) gives the same line and hash.
            let mut again = r.clone();
            assert_eq!(chain::seal_event(&mut again, &prev), *line);
            assert_eq!(again.hash, r.hash);
            prev = r.hash;
        }
        let first: AuditRecord = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first.version, Some(u64::MAX));
        assert_eq!(first.agent.as_deref(), Some("deploy \"bot\" ünïcødé \u{1} / \\ \t"));
        assert_eq!(first.approval_id.as_deref(), Some("apr_0011223344556677"));
    }

    #[test]
    fn the_wire_event_shows_the_same_json_as_the_record() {
        for line in fixture_lines() {
            let r: AuditRecord = serde_json::from_str(line).unwrap();
            let wire = ass_client::AuditEvent::from(r.clone());
            assert_eq!(serde_json::to_string(&wire).unwrap(), line);
            let parsed: ass_client::AuditEvent = serde_json::from_str(line).unwrap();
            assert_eq!(parsed, wire);
            assert_eq!(AuditRecord::from(wire), r);
        }
    }

    #[test]
    fn a_new_record_has_hash_last_and_nothing_optional() {
        let r = AuditRecord::new(2, "req".into(), "autopilot", "sys.x");
        let line = chain::canonical(&r);
        assert!(line.starts_with(r#"{"v":1,"seq":0,"time":"","node":2,"request_id":"req""#));
        assert!(line.ends_with(r#""prev_hash":"","hash":""}"#), "{line}");
        assert!(!line.contains(r#":"x""#));
        assert_eq!(r.agent.as_ref().or(r.tier.as_ref()).or(r.approval_id.as_ref()), None);
    }

    fn text() -> impl Strategy<Value = String> {
        // Any Unicode, with quotes, backslashes and control characters likely.
        prop_oneof![any::<String>(), r#"["\\/:a-z\x00-\x1f]{0,12}"#]
    }

    fn record() -> impl Strategy<Value = AuditRecord> {
        (
            (any::<u64>(), text(), text(), prop::option::of(text()), prop::option::of(text())),
            (prop::option::of(text()), prop::option::of(text()), text(), text()),
            (prop::option::of(any::<u64>()), prop::option::of(text()), any::<u16>(), text()),
            prop::option::of(text()),
        )
            .prop_map(|((node, request_id, actor, agent, agent_id), b, c, approval_id)| {
                let (accessor, credential_hmac, action, path) = b;
                let (version, tier, status, client) = c;
                AuditRecord {
                    agent,
                    agent_id,
                    accessor,
                    credential_hmac,
                    method: "GET".into(),
                    path,
                    version,
                    tier,
                    result: "ok".into(),
                    status,
                    client,
                    approval_id,
                    ..AuditRecord::new(node, request_id, &actor, &action)
                }
            })
    }

    proptest! {
        /// Any records, chained as the store chains them, verify; each stored line is the
        /// wire event's JSON too, and reads back as the record it was.
        #[test]
        fn any_chain_of_records_verifies_and_shows_the_same_json(
            records in prop::collection::vec(record(), 1..6)
        ) {
            let mut prev = GENESIS.to_owned();
            let mut lines = Vec::new();
            for (i, mut r) in records.into_iter().enumerate() {
                r.seq = i as u64 + 1;
                r.time = format!("2026-12-07T00:00:00.{i:09}Z");
                let line = chain::seal_event(&mut r, &prev);
                prop_assert_eq!(&line, &chain::canonical(&r));
                let wire = ass_client::AuditEvent::from(r.clone());
                prop_assert_eq!(&serde_json::to_string(&wire).unwrap(), &line);
                let back: AuditRecord = serde_json::from_str(&line).unwrap();
                prop_assert_eq!(&back, &r);
                prev = r.hash.clone();
                lines.push(line);
            }
            let check = chain::check(lines.iter().map(String::as_str), None);
            prop_assert_eq!(check.problem, None);
            prop_assert_eq!(check.checked, lines.len() as u64);
        }
    }
}
