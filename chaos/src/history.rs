//! Operation histories: what each client asked of which key, when, and what it was told.
//!
//! A history is the raw material of every checker. Each [`Op`] is one client call against one
//! secret path (a *key*), treated as a versioned register:
//!
//! * [`OpKind::Write`]: `PUT /v1/secrets/{key}` without `cas`; the node answers the version it
//!   made (`{"version": N}`).
//! * [`OpKind::Cas`]: the same `PUT` with `cas`; the answer is the version it made, or 409
//!   `cas_mismatch`.
//! * [`OpKind::Read`]: `GET /v1/secrets/{key}`; the latest version and its value, or 404
//!   `not_found`.
//!
//! Times are nanoseconds on one monotonic clock. `invoke` is taken *before* the request is sent
//! and `complete` *after* the answer arrived, so the real operation took effect somewhere inside
//! `[invoke, complete]`. Two operations are ordered in real time only when one completed strictly
//! before the other was invoked; equal times count as concurrent.
//!
//! Every operation ends with an [`Outcome`]:
//!
//! * `Ok(output)`: the node answered; the output must be explained by the model.
//! * `Failed`: the operation definitely did not take effect (for example a 409 `conflict`, or a
//!   refusal before anything was proposed). Checkers drop it.
//! * `Unknown`: the client gave up (timeout, connection reset after sending). It may have taken
//!   effect at any time after `invoke`, even long after, or never. Its completion is infinity,
//!   so `complete` is `None`.
//!
//! Workload clients record through a shared [`HistoryBuilder`]; [`History`] is the finished,
//! validated record that the checkers read and that a report saves as JSON.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Identifies one operation within a history.
pub type OpId = u64;
/// Identifies the workload client (thread, connection) that made an operation.
pub type ClientId = u64;

/// What an operation asks of one key's register. `V` is the value type: `String` everywhere
/// except inside the linearizability checker, which interns values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind<V = String> {
    /// `PUT` without `cas`: writes the next version.
    Write { value: V },
    /// `PUT` with `cas`: writes the next version only if the latest version is
    /// `expected_version` (`0`: only if the key was never written).
    Cas { expected_version: u64, value: V },
    /// `GET` of the latest version.
    Read,
}

/// A version of a key together with its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Versioned<V = String> {
    pub version: u64,
    pub value: V,
}

/// What the node answered to a completed operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output<V = String> {
    /// A write, or a CAS that applied: the version it made.
    Written { version: u64 },
    /// A CAS that was refused (409 `cas_mismatch`). `actual` is the latest version if the
    /// client learned it, `None` if it only knows the CAS was refused.
    CasMismatch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actual: Option<u64>,
    },
    /// A read: the latest version and its value, or `None` for 404 `not_found`.
    Read { found: Option<Versioned<V>> },
}

impl<V: PartialEq> Output<V> {
    /// Whether an observed output agrees with the output the model gives. Equal outputs agree;
    /// a `CasMismatch` whose actual version the client did not learn agrees with any mismatch.
    pub fn agrees_with(&self, model: &Output<V>) -> bool {
        match (self, model) {
            (Output::CasMismatch { actual: None }, Output::CasMismatch { .. }) => true,
            _ => self == model,
        }
    }
}

impl<V> OpKind<V> {
    /// Whether an output has the shape this kind of operation answers with.
    pub fn admits(&self, output: &Output<V>) -> bool {
        matches!(
            (self, output),
            (OpKind::Write { .. }, Output::Written { .. })
                | (OpKind::Cas { .. }, Output::Written { .. } | Output::CasMismatch { .. })
                | (OpKind::Read, Output::Read { .. })
        )
    }

    /// Whether the operation can change the register (writes and CAS).
    pub fn is_write(&self) -> bool {
        !matches!(self, OpKind::Read)
    }

    /// The value the operation writes, if it writes.
    pub fn written_value(&self) -> Option<&V> {
        match self {
            OpKind::Write { value } | OpKind::Cas { value, .. } => Some(value),
            OpKind::Read => None,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The node answered with this output.
    Ok(Output),
    /// The operation definitely did not take effect.
    Failed,
    /// The client does not know: the operation may have taken effect at any time after its
    /// invocation, or never.
    Unknown,
}

/// One client operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Op {
    pub id: OpId,
    pub client: ClientId,
    /// The secret path.
    pub key: String,
    pub kind: OpKind,
    /// Nanoseconds, taken before the request was sent.
    pub invoke: u64,
    /// Nanoseconds, taken after the answer arrived; `None` (infinity) for `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<u64>,
    pub outcome: Outcome,
}

impl Op {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown)
    }

    /// The node's answer, for an `Ok` operation.
    pub fn output(&self) -> Option<&Output> {
        match &self.outcome {
            Outcome::Ok(output) => Some(output),
            _ => None,
        }
    }

    /// Real-time order: `self` is `Ok` and completed strictly before `other` was invoked, so
    /// every linearization that contains both puts `self` first. `Unknown` operations never
    /// complete, so they precede nothing; `Failed` ones are outside every linearization.
    pub fn precedes(&self, other: &Op) -> bool {
        self.is_ok() && self.complete.is_some_and(|c| c < other.invoke)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} (client {}, ", self.id, self.client)?;
        match &self.kind {
            OpKind::Write { value } => write!(f, "write {value:?}")?,
            OpKind::Cas { expected_version, value } => {
                write!(f, "cas {expected_version}→{value:?}")?
            }
            OpKind::Read => write!(f, "read")?,
        }
        write!(f, ", [{}, ", self.invoke)?;
        match self.complete {
            Some(c) => write!(f, "{c}]")?,
            None => write!(f, "∞)")?,
        }
        match &self.outcome {
            Outcome::Ok(o) => write!(f, " → {o})"),
            Outcome::Failed => write!(f, " → failed)"),
            Outcome::Unknown => write!(f, " → unknown)"),
        }
    }
}

impl<V: fmt::Debug> fmt::Display for Output<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Written { version } => write!(f, "wrote version {version}"),
            Output::CasMismatch { actual: Some(v) } => write!(f, "cas mismatch (latest {v})"),
            Output::CasMismatch { actual: None } => write!(f, "cas mismatch"),
            Output::Read { found: Some(Versioned { version, value }) } => {
                write!(f, "read version {version} = {value:?}")
            }
            Output::Read { found: None } => write!(f, "read not found"),
        }
    }
}

/// A history or a recording call that breaks the rules above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("operation id {0} appears twice")]
    DuplicateId(OpId),
    #[error("operation #{0} completes before it was invoked")]
    CompletesBeforeInvoke(OpId),
    #[error("operation #{0} is ok but has no completion time")]
    MissingCompletion(OpId),
    #[error("operation #{0} is unknown but has a completion time (unknown means infinity)")]
    UnknownWithCompletion(OpId),
    #[error("operation #{0}: the output does not fit the kind of operation")]
    OutputMismatch(OpId),
    #[error("no operation #{0} was invoked")]
    NoSuchOp(OpId),
    #[error("operation #{0} was already completed")]
    AlreadyCompleted(OpId),
}

fn validate(op: &Op) -> Result<(), HistoryError> {
    if op.complete.is_some_and(|c| c < op.invoke) {
        return Err(HistoryError::CompletesBeforeInvoke(op.id));
    }
    match &op.outcome {
        Outcome::Ok(output) => {
            if op.complete.is_none() {
                return Err(HistoryError::MissingCompletion(op.id));
            }
            if !op.kind.admits(output) {
                return Err(HistoryError::OutputMismatch(op.id));
            }
        }
        Outcome::Unknown if op.complete.is_some() => {
            return Err(HistoryError::UnknownWithCompletion(op.id));
        }
        Outcome::Unknown | Outcome::Failed => {}
    }
    Ok(())
}

/// A finished, valid history: unique ids, `complete ≥ invoke`, `Ok` operations completed with an
/// output that fits their kind, `Unknown` ones without completion. Operations are kept in the
/// order given (recording order); checkers do not depend on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawHistory")]
pub struct History {
    ops: Vec<Op>,
}

#[derive(Deserialize)]
struct RawHistory {
    ops: Vec<Op>,
}

impl TryFrom<RawHistory> for History {
    type Error = HistoryError;
    fn try_from(raw: RawHistory) -> Result<Self, HistoryError> {
        History::new(raw.ops)
    }
}

impl History {
    /// Validates `ops` into a history.
    pub fn new(ops: Vec<Op>) -> Result<Self, HistoryError> {
        let mut ids = HashSet::with_capacity(ops.len());
        for op in &ops {
            if !ids.insert(op.id) {
                return Err(HistoryError::DuplicateId(op.id));
            }
            validate(op)?;
        }
        Ok(History { ops })
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Every key that appears.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.ops.iter().map(|o| o.key.as_str()).collect()
    }

    /// The operations of each key, in history order.
    pub fn by_key(&self) -> BTreeMap<&str, Vec<&Op>> {
        let mut map: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
        for op in &self.ops {
            map.entry(op.key.as_str()).or_default().push(op);
        }
        map
    }

    /// Counts of (ok, failed, unknown) operations.
    pub fn outcome_counts(&self) -> (usize, usize, usize) {
        self.ops.iter().fold((0, 0, 0), |(o, f, u), op| match op.outcome {
            Outcome::Ok(_) => (o + 1, f, u),
            Outcome::Failed => (o, f + 1, u),
            Outcome::Unknown => (o, f, u + 1),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a history always serializes")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a history always serializes")
    }

    /// Parses and validates a saved history.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

struct Slot {
    op: Op,
    done: bool,
}

/// Records a history from many client threads at once. Ids are handed out in invocation order;
/// times are nanoseconds since the builder was made, on the monotonic clock.
///
/// ```text
/// let id = history.invoke(client, "prod/db/PASSWORD", OpKind::Write { value });
/// let outcome = match client.put(...).await { Ok(v) => Outcome::Ok(Output::Written { version: v }),
///                                              Err(e) if e.definite() => Outcome::Failed,
///                                              Err(_) => Outcome::Unknown };
/// history.complete(id, outcome)?;
/// ```
pub struct HistoryBuilder {
    start: Instant,
    slots: Mutex<Vec<Slot>>,
}

impl Default for HistoryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HistoryBuilder {
    pub fn new() -> Self {
        HistoryBuilder { start: Instant::now(), slots: Mutex::new(Vec::new()) }
    }

    /// Nanoseconds since the builder was made.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the invocation of an operation now: call it just before sending the request.
    pub fn invoke(&self, client: ClientId, key: impl Into<String>, kind: OpKind) -> OpId {
        let key = key.into();
        let mut slots = self.lock();
        let invoke = self.now();
        Self::push(&mut slots, client, key, kind, invoke)
    }

    /// Records an invocation at an explicit time (replaying a recorded run; tests).
    pub fn invoke_at(
        &self,
        time: u64,
        client: ClientId,
        key: impl Into<String>,
        kind: OpKind,
    ) -> OpId {
        Self::push(&mut self.lock(), client, key.into(), kind, time)
    }

    fn push(
        slots: &mut Vec<Slot>,
        client: ClientId,
        key: String,
        kind: OpKind,
        invoke: u64,
    ) -> OpId {
        let id = slots.len() as OpId;
        slots.push(Slot {
            op: Op { id, client, key, kind, invoke, complete: None, outcome: Outcome::Unknown },
            done: false,
        });
        id
    }

    /// Records how an operation ended, now: call it right after the answer arrived (or the
    /// client gave up). `Unknown` keeps no completion time.
    pub fn complete(&self, id: OpId, outcome: Outcome) -> Result<(), HistoryError> {
        let mut slots = self.lock();
        let now = self.now();
        Self::finish_slot(&mut slots, id, now, outcome)
    }

    /// Records a completion at an explicit time (replaying a recorded run; tests).
    pub fn complete_at(&self, id: OpId, time: u64, outcome: Outcome) -> Result<(), HistoryError> {
        Self::finish_slot(&mut self.lock(), id, time, outcome)
    }

    fn finish_slot(
        slots: &mut [Slot],
        id: OpId,
        time: u64,
        outcome: Outcome,
    ) -> Result<(), HistoryError> {
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| slots.get_mut(i))
            .ok_or(HistoryError::NoSuchOp(id))?;
        if slot.done {
            return Err(HistoryError::AlreadyCompleted(id));
        }
        let complete = if matches!(outcome, Outcome::Unknown) { None } else { Some(time) };
        let op = Op { complete, outcome, ..slot.op.clone() };
        validate(&op)?;
        slot.op = op;
        slot.done = true;
        Ok(())
    }

    /// Number of operations invoked so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history so far; operations still in flight are `Unknown`.
    pub fn snapshot(&self) -> History {
        History { ops: self.lock().iter().map(|s| s.op.clone()).collect() }
    }

    /// The finished history; operations never completed are `Unknown`.
    pub fn finish(self) -> History {
        let slots = self.slots.into_inner().unwrap_or_else(PoisonError::into_inner);
        History { ops: slots.into_iter().map(|s| s.op).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn write(v: &str) -> OpKind {
        OpKind::Write { value: v.into() }
    }

    #[test]
    fn builder_records_times_and_outcomes() {
        let b = HistoryBuilder::new();
        let w = b.invoke(1, "k", write("a"));
        let r = b.invoke(2, "k", OpKind::Read);
        let u = b.invoke(3, "k", write("b"));
        let pending = b.invoke(4, "k", write("c"));
        b.complete(w, Outcome::Ok(Output::Written { version: 1 })).unwrap();
        b.complete(r, Outcome::Failed).unwrap();
        b.complete(u, Outcome::Unknown).unwrap();
        assert_eq!(b.len(), 4);
        let h = b.finish();
        assert_eq!(h.len(), 4);
        let ops = h.ops();
        assert!(ops[0].complete.unwrap() >= ops[0].invoke);
        assert!(ops[1].is_failed() && ops[1].complete.is_some());
        assert!(ops[2].is_unknown() && ops[2].complete.is_none());
        assert_eq!(ops[3].id, pending);
        assert!(ops[3].is_unknown() && ops[3].complete.is_none());
        assert_eq!(h.outcome_counts(), (1, 1, 2));
        assert!(History::new(h.into_ops()).is_ok());
    }

    #[test]
    fn builder_refuses_bad_completions() {
        let b = HistoryBuilder::new();
        let w = b.invoke_at(10, 1, "k", write("a"));
        assert_eq!(b.complete_at(7, 20, Outcome::Failed), Err(HistoryError::NoSuchOp(7)));
        assert_eq!(
            b.complete_at(w, 20, Outcome::Ok(Output::Read { found: None })),
            Err(HistoryError::OutputMismatch(w))
        );
        assert_eq!(
            b.complete_at(w, 5, Outcome::Failed),
            Err(HistoryError::CompletesBeforeInvoke(w))
        );
        b.complete_at(w, 20, Outcome::Ok(Output::Written { version: 1 })).unwrap();
        assert_eq!(b.complete_at(w, 30, Outcome::Failed), Err(HistoryError::AlreadyCompleted(w)));
        // A refused completion leaves the op in flight; the snapshot shows the accepted one.
        assert_eq!(b.snapshot().ops()[0].complete, Some(20));
    }

    #[test]
    fn builder_is_shared_across_threads() {
        let b = Arc::new(HistoryBuilder::new());
        let handles: Vec<_> = (0..8)
            .map(|c| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let id = b.invoke(c, format!("k{}", i % 3), OpKind::Read);
                        b.complete(id, Outcome::Ok(Output::Read { found: None })).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let h = Arc::into_inner(b).unwrap().finish();
        assert_eq!(h.len(), 800);
        assert_eq!(h.keys().len(), 3);
        let ids: HashSet<_> = h.ops().iter().map(|o| o.id).collect();
        assert_eq!(ids.len(), 800);
        // Within one client, each op completes before the next is invoked.
        for c in 0..8 {
            let mine: Vec<_> = h.ops().iter().filter(|o| o.client == c).collect();
            for pair in mine.windows(2) {
                assert!(pair[0].complete.unwrap() <= pair[1].invoke);
            }
        }
    }

    #[test]
    fn validation() {
        let ok = |id, inv, comp| Op {
            id,
            client: 0,
            key: "k".into(),
            kind: OpKind::Read,
            invoke: inv,
            complete: comp,
            outcome: Outcome::Ok(Output::Read { found: None }),
        };
        assert!(History::new(vec![ok(1, 0, Some(0)), ok(2, 0, Some(5))]).is_ok());
        assert_eq!(
            History::new(vec![ok(1, 0, Some(1)), ok(1, 2, Some(3))]),
            Err(HistoryError::DuplicateId(1))
        );
        assert_eq!(
            History::new(vec![ok(1, 5, Some(4))]),
            Err(HistoryError::CompletesBeforeInvoke(1))
        );
        assert_eq!(History::new(vec![ok(1, 5, None)]), Err(HistoryError::MissingCompletion(1)));
        let unknown = Op { outcome: Outcome::Unknown, ..ok(2, 5, Some(9)) };
        assert_eq!(History::new(vec![unknown]), Err(HistoryError::UnknownWithCompletion(2)));
        let bad = Op { outcome: Outcome::Ok(Output::Written { version: 1 }), ..ok(3, 0, Some(1)) };
        assert_eq!(History::new(vec![bad]), Err(HistoryError::OutputMismatch(3)));
        let failed_no_time = Op { outcome: Outcome::Failed, ..ok(4, 5, None) };
        assert!(History::new(vec![failed_no_time]).is_ok());
    }

    #[test]
    fn json_round_trip_and_validation_on_load() {
        let b = HistoryBuilder::new();
        let ops = [
            (write("a"), Outcome::Ok(Output::Written { version: 1 })),
            (
                OpKind::Cas { expected_version: 1, value: "b".into() },
                Outcome::Ok(Output::CasMismatch { actual: Some(2) }),
            ),
            (
                OpKind::Cas { expected_version: 0, value: "c".into() },
                Outcome::Ok(Output::CasMismatch { actual: None }),
            ),
            (
                OpKind::Read,
                Outcome::Ok(Output::Read {
                    found: Some(Versioned { version: 1, value: "a".into() }),
                }),
            ),
            (OpKind::Read, Outcome::Ok(Output::Read { found: None })),
            (write("d"), Outcome::Unknown),
            (write("e"), Outcome::Failed),
        ];
        for (i, (kind, outcome)) in ops.into_iter().enumerate() {
            let id = b.invoke_at(i as u64 * 10, i as u64, "a/b", kind);
            b.complete_at(id, i as u64 * 10 + 5, outcome).unwrap();
        }
        let h = b.finish();
        let json = h.to_json();
        assert_eq!(History::from_json(&json).unwrap(), h);
        assert_eq!(History::from_json(&h.to_json_pretty()).unwrap(), h);
        assert!(json.contains(r#""kind":{"type":"write","value":"a"}"#), "{json}");
        assert!(json.contains(r#""outcome":{"ok":{"type":"written","version":1}}"#), "{json}");
        assert!(json.contains(r#""outcome":"unknown""#), "{json}");

        let bad = r#"{"ops":[{"id":0,"client":0,"key":"k","kind":{"type":"read"},"invoke":5,
            "outcome":{"ok":{"type":"read","found":null}}}]}"#;
        let err = History::from_json(bad).unwrap_err();
        assert!(err.to_string().contains("no completion time"), "{err}");
    }

    #[test]
    fn precedes_is_strict_and_only_for_ok() {
        let mk = |inv, comp, outcome| Op {
            id: 0,
            client: 0,
            key: "k".into(),
            kind: OpKind::Write { value: "x".into() },
            invoke: inv,
            complete: comp,
            outcome,
        };
        let a = mk(0, Some(10), Outcome::Ok(Output::Written { version: 1 }));
        assert!(a.precedes(&mk(11, Some(12), Outcome::Failed)));
        assert!(!a.precedes(&mk(10, Some(12), Outcome::Failed)));
        assert!(!mk(0, Some(1), Outcome::Failed).precedes(&a));
        assert!(!mk(0, None, Outcome::Unknown).precedes(&mk(100, None, Outcome::Unknown)));
        assert_eq!(a.to_string(), "#0 (client 0, write \"x\", [0, 10] → wrote version 1)");
    }
}
