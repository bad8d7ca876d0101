//! The hash chain of one node's audit events, and its check. Pure: lines in, verdicts out.
//!
//! ```text
//!  line n:  {"v":1,"seq":n,…,"prev_hash":H(n-1),"hash":H(n)}
//!  H(n) = SHA-256( "ass-audit-v1\n" ‖ line n with "hash":"" )
//! ```
//!
//! The stored line must be exactly the canonical JSON of its event (serde's field order, no
//! spaces), so any change to a line — a field, a space, an unknown key — shows as `edited`.
//! A checkpoint left by retention names the `seq` and hash of the last pruned event and is
//! MACed with a key derived from the root key, so the chain may start from it.

use ass_client::AuditProblem;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::AuditRecord;

/// `prev_hash` of a node's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const DOMAIN: &[u8] = b"ass-audit-v1\n";

/// The canonical line of an event (without newline).
pub fn canonical(event: &AuditRecord) -> String {
    serde_json::to_string(event).expect("an audit event always serializes")
}

/// SHA-256 over the event with `hash` blank.
pub fn event_hash(event: &AuditRecord) -> String {
    let mut blank = event.clone();
    blank.hash = String::new();
    blank_line_hash(&canonical(&blank))
}

/// The hash of an event, given its canonical line with `hash` blank.
fn blank_line_hash(blank_line: &str) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(blank_line.as_bytes());
    hex::encode(h.finalize())
}

/// How a canonical line with `hash` blank ends: `hash` is the event's last field.
const BLANK_TAIL: &str = r#""hash":""}"#;

/// Fills `prev_hash` and `hash` and returns the stored line.
///
/// Serializes the event once: the line with `hash` blank is what the hash covers, and the
/// stored line is that one with the hash written into its (last) field.
pub fn seal_event(event: &mut AuditRecord, prev_hash: &str) -> String {
    event.prev_hash = prev_hash.to_owned();
    event.hash = String::new();
    let mut line = canonical(event);
    event.hash = blank_line_hash(&line);
    if !line.ends_with(BLANK_TAIL) {
        // Only if a field were ever added after `hash`; the slow way stays correct.
        return canonical(event);
    }
    line.truncate(line.len() - 2);
    line.push_str(&event.hash);
    line.push_str("\"}");
    line
}

/// Where retention cut the chain: everything up to `seq` was pruned; `hash` is the last
/// pruned event's hash, so event `seq + 1` must carry it as `prev_hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub v: u32,
    pub node: u64,
    pub seq: u64,
    pub hash: String,
    /// Time of the last pruned event.
    pub event_time: String,
    /// When the cut was made.
    pub pruned_at: String,
    /// HMAC-SHA256 (hex) of the fields above under the checkpoint key.
    pub mac: String,
}

impl Checkpoint {
    fn mac_input(&self) -> String {
        format!(
            "ass-audit-checkpoint-v{}\n{}\n{}\n{}\n{}\n{}",
            self.v, self.node, self.seq, self.hash, self.event_time, self.pruned_at
        )
    }

    pub fn sign(&mut self, key: &[u8; 32]) {
        self.mac = hex::encode(mac(key, self.mac_input().as_bytes()));
    }

    pub fn verify(&self, key: &[u8; 32]) -> bool {
        let Ok(given) = hex::decode(&self.mac) else { return false };
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        m.update(self.mac_input().as_bytes());
        m.verify_slice(&given).is_ok()
    }
}

/// HMAC-SHA256.
pub fn mac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The outcome of checking one node's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    pub checked: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub problem: Option<AuditProblem>,
}

fn problem(kind: &str, seq: u64, line: u64, detail: impl Into<String>) -> AuditProblem {
    AuditProblem { kind: kind.into(), seq, line, detail: detail.into() }
}

/// Checks `lines` (a node's log, in file order) against the chain rules, starting after
/// `start` (`None`: from seq 1 and [`GENESIS`]; else the checkpoint's seq and hash). Events
/// at or below a checkpoint's seq (a cut interrupted before the rewrite) are skipped, the
/// last of them checked against the checkpoint's hash.
pub fn check<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    start: Option<(u64, &str)>,
) -> ChainCheck {
    let lines: Vec<&str> = lines.into_iter().collect();
    let (mut expect_seq, mut prev_hash) = match start {
        Some((seq, hash)) => (seq + 1, hash.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let mut out = ChainCheck { checked: 0, first_seq: None, last_seq: None, problem: None };
    // seq of every line, for telling a reorder from a removal.
    let seqs: Vec<Option<u64>> =
        lines.iter().map(|l| serde_json::from_str::<AuditRecord>(l).ok().map(|e| e.seq)).collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i as u64 + 1;
        let event: AuditRecord = match serde_json::from_str(raw) {
            Ok(e) => e,
            Err(e) => {
                out.problem =
                    Some(problem("unreadable", expect_seq, line_no, format!("not an event: {e}")));
                return out;
            }
        };
        if let Some((cut, cut_hash)) = start {
            if event.seq <= cut {
                if event.seq == cut && event.hash != cut_hash {
                    out.problem = Some(problem(
                        "checkpoint",
                        cut,
                        line_no,
                        "the checkpoint's hash does not match the event it names",
                    ));
                    return out;
                }
                continue;
            }
        }
        out.first_seq.get_or_insert(event.seq);
        if event.seq != expect_seq {
            let later = seqs[i + 1..].contains(&Some(expect_seq));
            let earlier = seqs[..i].contains(&Some(event.seq));
            out.problem = Some(if event.seq < expect_seq || later || earlier {
                problem(
                    "reordered",
                    event.seq,
                    line_no,
                    format!("event {} stands where event {expect_seq} belongs", event.seq),
                )
            } else {
                problem(
                    "removed",
                    expect_seq,
                    line_no,
                    format!(
                        "events {expect_seq}..{} are missing before line {line_no}",
                        event.seq - 1
                    ),
                )
            });
            return out;
        }
        if event_hash(&event) != event.hash || canonical(&event) != *raw {
            out.problem = Some(problem(
                "edited",
                event.seq,
                line_no,
                "the event's content no longer matches its hash",
            ));
            return out;
        }
        if event.prev_hash != prev_hash {
            // The event itself is consistent, so the one before it was rewritten (with a
            // recomputed hash), or replaced.
            let edited = expect_seq.saturating_sub(1);
            out.problem = Some(problem(
                "edited",
                edited,
                line_no.saturating_sub(1),
                format!("event {} does not chain to the stored event {edited}", event.seq),
            ));
            return out;
        }
        prev_hash = event.hash.clone();
        expect_seq += 1;
        out.checked += 1;
        out.last_seq = Some(event.seq);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn event(seq: u64) -> AuditRecord {
        AuditRecord {
            v: 1,
            seq,
            time: format!("2026-11-28T10:00:00.{seq:09}Z"),
            node: 1,
            request_id: format!("req-{seq}"),
            actor: "root".into(),
            agent: None,
            agent_id: None,
            accessor: None,
            credential_hmac: None,
            action: "secret.read".into(),
            method: "GET".into(),
            path: format!("/v1/secrets/p/{seq}"),
            version: Some(1),
            tier: Some("standard".into()),
            result: "ok".into(),
            status: 200,
            client: "127.0.0.1".into(),
            approval_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn chain(n: u64) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|s| {
                let mut e = event(s);
                let line = seal_event(&mut e, &prev);
                prev = e.hash;
                line
            })
            .collect()
    }

    fn run(lines: &[String]) -> ChainCheck {
        check(lines.iter().map(String::as_str), None)
    }

    #[test]
    fn a_sealed_line_is_the_canonical_json_of_the_sealed_event() {
        let mut e = event(7);
        e.agent = Some("deploy \"bot\" with \"hash\":\"\"}".into());
        let line = seal_event(&mut e, GENESIS);
        assert_eq!(line, canonical(&e), "one serialization gives the same bytes as two");
        assert_eq!(e.hash, event_hash(&e));
        assert_eq!(e.hash.len(), 64);
        assert!(line.ends_with(&format!("\"hash\":\"{}\"}}", e.hash)));
    }

    #[test]
    fn a_whole_chain_checks() {
        let c = run(&chain(5));
        assert_eq!((c.checked, c.first_seq, c.last_seq, c.problem), (5, Some(1), Some(5), None));
        assert_eq!(run(&[]).problem, None);
    }

    #[test]
    fn an_edit_is_named() {
        let mut lines = chain(5);
        lines[2] = lines[2].replace("\"result\":\"ok\"", "\"result\":\"scope_denied\"");
        let p = run(&lines).problem.unwrap();
        assert_eq!((p.kind.as_str(), p.seq, p.line), ("edited", 3, 3));
        // A space is an edit too.
        let mut lines = chain(3);
        lines[0] = lines[0].replacen(',', ", ", 1);
        assert_eq!(run(&lines).problem.unwrap().kind, "edited");
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_shows_at_the_next_event() {
        let mut lines = chain(5);
        let mut e: AuditRecord = serde_json::from_str(&lines[1]).unwrap();
        e.agent = Some("someone-else".into());
        let prev = e.prev_hash.clone();
        lines[1] = seal_event(&mut e, &prev);
        let p = run(&lines).problem.unwrap();
        assert_eq!((p.kind.as_str(), p.seq, p.line), ("edited", 2, 2));
    }

    #[test]
    fn a_removal_is_named() {
        let mut lines = chain(5);
        lines.remove(2);
        let p = run(&lines).problem.unwrap();
        assert_eq!((p.kind.as_str(), p.seq, p.line), ("removed", 3, 3));
        let mut lines = chain(5);
        lines.remove(0);
        assert_eq!(run(&lines).problem.unwrap().kind, "removed");
    }

    #[test]
    fn a_reorder_is_named() {
        let mut lines = chain(5);
        lines.swap(1, 3);
        let p = run(&lines).problem.unwrap();
        assert_eq!((p.kind.as_str(), p.seq, p.line), ("reordered", 4, 2));
        let mut lines = chain(5);
        lines.swap(3, 4);
        let p = run(&lines).problem.unwrap();
        assert_eq!((p.kind.as_str(), p.seq), ("reordered", 5));
    }

    #[test]
    fn a_checkpoint_starts_the_chain_and_must_match() {
        let lines = chain(6);
        let third: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
        let rest: Vec<&str> = lines[3..].iter().map(String::as_str).collect();
        let c = check(rest.clone(), Some((3, &third.hash)));
        assert_eq!((c.checked, c.first_seq, c.problem), (3, Some(4), None));
        // An interrupted cut: pruned events still on disk are skipped.
        let all: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(check(all.clone(), Some((3, &third.hash))).problem, None);
        assert_eq!(check(all, Some((3, GENESIS))).problem.unwrap().kind, "checkpoint");
        // Without the checkpoint, the cut looks like a removal.
        assert_eq!(check(rest, None).problem.unwrap().kind, "removed");
    }

    #[test]
    fn checkpoints_are_macd() {
        let mut c = Checkpoint {
            v: 1,
            node: 1,
            seq: 9,
            hash: "ab".into(),
            event_time: "t".into(),
            pruned_at: "u".into(),
            mac: String::new(),
        };
        c.sign(&[7; 32]);
        assert!(c.verify(&[7; 32]));
        assert!(!c.verify(&[8; 32]));
        c.seq = 10;
        assert!(!c.verify(&[7; 32]));
    }
}
