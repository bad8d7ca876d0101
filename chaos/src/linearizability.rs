//! Per-key linearizability checking, Wing–Gong / Lowe style with memoization (as in Porcupine).
//!
//! A history is linearizable when every operation can be given one instant inside its
//! `[invoke, complete]` window such that running the operations one at a time in that order on
//! the [model](crate::model) gives exactly the answers the clients saw. Linearizability is
//! *local* (Herlihy & Wing): a history is linearizable iff the sub-history of every key is, so
//! the history is partitioned by key and the keys are checked independently (and in parallel).
//!
//! For one key the search is the one in Lowe, "Testing for linearizability" (2017), also used by
//! Porcupine: the calls and returns are put in one time-ordered doubly linked list. Walking it
//! from the head, every *call* met before the first *return* belongs to an operation that may go
//! next (it was invoked before every remaining operation completed). The walk tries each in turn:
//! if the model accepts it and the pair (set of linearized operations, model state) was not seen
//! before, the operation is linearized, its call and return are unlinked, and the walk restarts
//! from the head. Reaching a return means the operation that completes first cannot be placed
//! in any order tried from here: the last choice is undone (the entries are relinked, dancing
//! links style) and the walk resumes after it. The memo of seen (bitset, state) pairs makes the
//! search explore each configuration once.
//!
//! * `Failed` operations are dropped: they did not take effect.
//! * `Unknown` operations have no return entry (their completion is infinity), so they may be
//!   linearized at any point after their invocation; the search succeeds as soon as every `Ok`
//!   operation is linearized, so an unknown one may also never take effect. An unknown *read*
//!   changes nothing and constrains nothing, so it is dropped up front.
//! * Equal times: a call sorts before a return at the same instant, i.e. the operations are
//!   treated as concurrent (the same rule as [`Op::precedes`]).
//!
//! Unknown operations are what makes chaos histories expensive: a timed-out write stays a
//! candidate for the rest of the key's history, and k of them give 2^k subsets at every point.
//! Three reductions, each exact (they never change the verdict; the brute-force cross-check
//! runs without them), keep that polynomial in practice:
//!
//! * values no read ever returned are interned to one value, since no observation can tell
//!   them apart;
//! * unknown operations of the same interned kind are interchangeable, so only the
//!   earliest-invoked unplaced one of each such class is ever placed;
//! * an unknown operation that would change nothing where it is tried (a CAS that would not
//!   apply) is not placed there: leaving it out is equivalent.
//!
//! The search is exponential in the worst case (the problem is NP-complete), so it counts
//! steps (one per list entry visited) against [`CheckConfig::step_budget`] and answers
//! [`CheckResult::Timeout`] when a key exhausts it.
//!
//! On failure it reports the longest linearizable prefix the search reached, the state after
//! it, the operation that had to take effect next (the first to complete among the rest) and,
//! for every operation that could have come next, why it does not fit.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::history::{History, Op, OpId, OpKind, Outcome, Output, Versioned};
use crate::model::RegisterState;

/// Limits of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// Steps the search may take on one key before giving up with [`CheckResult::Timeout`].
    /// A well-behaved key needs a few steps per operation and concurrent operation.
    pub step_budget: u64,
    /// Keys checked at once (at least 1).
    pub threads: usize,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            step_budget: 20_000_000,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        }
    }
}

impl CheckConfig {
    pub fn with_step_budget(step_budget: u64) -> Self {
        CheckConfig { step_budget, ..Self::default() }
    }
}

/// The verdict on a history (or on one key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CheckResult {
    /// Linearizable.
    Ok,
    /// Not linearizable: no order of the key's operations explains what the clients saw.
    Violation(Box<Violation>),
    /// The step budget ran out on `key` before an answer was found.
    Timeout { key: String, steps: u64 },
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    pub fn violation(&self) -> Option<&Violation> {
        match self {
            CheckResult::Violation(v) => Some(v),
            _ => None,
        }
    }
}

/// Why one key is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub key: String,
    /// The longest linearizable prefix the search reached: operation ids in linearization
    /// order. It is consistent with the model and with real-time order.
    pub prefix: Vec<OpId>,
    /// The register after `prefix`.
    pub state: RegisterState,
    /// The operation that completed first among those not in `prefix`: it had to take effect
    /// before its completion, but cannot.
    pub blocking: Option<OpId>,
    /// Every operation that could have come after `prefix` (invoked before `blocking`
    /// completed), in invocation order; none leads to a full linearization.
    pub candidates: Vec<OpId>,
    /// A readable account of the above.
    pub explanation: String,
}

/// The check of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheck {
    pub key: String,
    /// Operations of the key the search considered (failed ones and unknown reads excluded).
    pub ops: usize,
    /// Search steps taken.
    pub steps: u64,
    pub result: CheckResult,
}

/// Checks every key; the first violation in key order wins over a timeout, which wins over ok.
/// Use [`check_keys`] to see every key's result.
pub fn check(history: &History, config: &CheckConfig) -> CheckResult {
    let checks = check_keys(history, config);
    let mut timeout = None;
    for c in checks {
        match c.result {
            CheckResult::Ok => {}
            CheckResult::Violation(_) => return c.result,
            CheckResult::Timeout { .. } => {
                timeout.get_or_insert(c.result);
            }
        }
    }
    timeout.unwrap_or(CheckResult::Ok)
}

/// Checks every key independently, `config.threads` at a time; results in key order.
pub fn check_keys(history: &History, config: &CheckConfig) -> Vec<KeyCheck> {
    let groups: Vec<(&str, Vec<&Op>)> = history.by_key().into_iter().collect();
    let threads = config.threads.clamp(1, groups.len().max(1));
    if threads == 1 {
        return groups.iter().map(|(key, ops)| check_key(key, ops, config)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, KeyCheck)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((key, ops)) = groups.get(i) else { break };
                        mine.push((i, check_key(key, ops, config)));
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("checker thread panicked")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, c)| c).collect()
}

/// A set of operation indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Edge,
    Call(usize),
    Return,
}

/// The time-ordered list of calls and returns, unlinked and relinked in LIFO order.
struct Entries {
    node: Vec<Node>,
    next: Vec<usize>,
    prev: Vec<usize>,
    call: Vec<usize>,
    ret: Vec<Option<usize>>,
}

const HEAD: usize = 0;

impl Entries {
    fn new(ops: &[&Op]) -> Self {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.invoke, false, i));
            if op.is_ok() {
                events.push((op.complete.expect("ok ops complete (validated)"), true, i));
            }
        }
        events.sort_unstable();
        let m = events.len();
        let mut node = Vec::with_capacity(m + 2);
        node.push(Node::Edge);
        let mut call = vec![0; ops.len()];
        let mut ret = vec![None; ops.len()];
        for (pos, &(_, is_return, i)) in events.iter().enumerate() {
            if is_return {
                node.push(Node::Return);
                ret[i] = Some(pos + 1);
            } else {
                node.push(Node::Call(i));
                call[i] = pos + 1;
            }
        }
        node.push(Node::Edge);
        let next = (1..=m + 2).collect();
        let prev = (0..m + 2).map(|i| i.saturating_sub(1)).collect();
        Entries { node, next, prev, call, ret }
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }

    fn lift(&mut self, op: usize) {
        self.unlink(self.call[op]);
        if let Some(r) = self.ret[op] {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, op: usize) {
        if let Some(r) = self.ret[op] {
            self.relink(r);
        }
        self.relink(self.call[op]);
    }
}

/// Replaces values by small integers so states are cheap to copy, hash and compare. Values no
/// read returned all get the same id, [`UNSEEN`]: no read can tell them apart, so the model
/// behaves the same on every observation either way, and the search has fewer states.
struct Interner<'a> {
    ids: HashMap<&'a str, u32>,
    observed: HashSet<&'a str>,
}

const UNSEEN: u32 = u32::MAX;

impl<'a> Interner<'a> {
    fn new(ops: &[&'a Op]) -> Self {
        let observed = ops
            .iter()
            .filter_map(|o| match o.output() {
                Some(Output::Read { found: Some(f) }) => Some(f.value.as_str()),
                _ => None,
            })
            .collect();
        Interner { ids: HashMap::new(), observed }
    }

    fn id(&mut self, v: &'a str) -> u32 {
        if !self.observed.contains(v) {
            return UNSEEN;
        }
        let next = self.ids.len() as u32;
        *self.ids.entry(v).or_insert(next)
    }

    fn kind(&mut self, k: &'a OpKind) -> OpKind<u32> {
        match k {
            OpKind::Write { value } => OpKind::Write { value: self.id(value) },
            OpKind::Cas { expected_version, value } => {
                OpKind::Cas { expected_version: *expected_version, value: self.id(value) }
            }
            OpKind::Read => OpKind::Read,
        }
    }

    fn output(&mut self, o: &'a Output) -> Output<u32> {
        match o {
            Output::Written { version } => Output::Written { version: *version },
            Output::CasMismatch { actual } => Output::CasMismatch { actual: *actual },
            Output::Read { found } => Output::Read {
                found: found
                    .as_ref()
                    .map(|f| Versioned { version: f.version, value: self.id(&f.value) }),
            },
        }
    }
}

/// Unknown operations with the same (interned) kind are interchangeable: none has an output
/// or a return, so in any linearization two of them can swap places as long as each is placed
/// after its invocation. The search therefore only ever places the earliest-invoked unplaced
/// member of such a class, which turns 2^k subsets of k alike unknown writes into k + 1.
struct Classes {
    /// (class, rank in the class by invocation) of each unknown operation.
    of: Vec<Option<(usize, usize)>>,
    /// How many members of each class are placed (always the first ones).
    placed: Vec<usize>,
}

impl Classes {
    fn new(ops: &[&Op], compact: &[(OpKind<u32>, Option<Output<u32>>)]) -> Self {
        let mut members: HashMap<&OpKind<u32>, Vec<usize>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            if op.is_unknown() {
                members.entry(&compact[i].0).or_default().push(i);
            }
        }
        let mut of = vec![None; ops.len()];
        let mut groups: Vec<Vec<usize>> = members.into_values().collect();
        groups.sort();
        for (c, group) in groups.iter_mut().enumerate() {
            group.sort_by_key(|&i| (ops[i].invoke, i));
            for (rank, &i) in group.iter().enumerate() {
                of[i] = Some((c, rank));
            }
        }
        Classes { of, placed: vec![0; groups.len()] }
    }

    /// Whether `i` may be placed now (it is not an unknown op with an earlier alike one unplaced).
    fn eligible(&self, i: usize) -> bool {
        self.of[i].is_none_or(|(c, rank)| self.placed[c] == rank)
    }

    fn place(&mut self, i: usize) {
        if let Some((c, _)) = self.of[i] {
            self.placed[c] += 1;
        }
    }

    fn unplace(&mut self, i: usize) {
        if let Some((c, _)) = self.of[i] {
            self.placed[c] -= 1;
        }
    }
}

enum Search {
    Linearizable,
    NotLinearizable { prefix: Vec<usize> },
    OutOfSteps,
}

/// Checks the operations of one key (`ops` may include failed ones; all must have this key).
pub fn check_key(key: &str, ops: &[&Op], config: &CheckConfig) -> KeyCheck {
    let ops: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|o| match o.outcome {
            Outcome::Ok(_) => true,
            Outcome::Unknown => o.kind.is_write(), // an unknown read changes and shows nothing
            Outcome::Failed => false,
        })
        .collect();
    let (search, steps) = search(&ops, config.step_budget);
    let result = match search {
        Search::Linearizable => CheckResult::Ok,
        Search::OutOfSteps => CheckResult::Timeout { key: key.to_string(), steps },
        Search::NotLinearizable { prefix } => {
            CheckResult::Violation(Box::new(explain(key, &ops, &prefix)))
        }
    };
    KeyCheck { key: key.to_string(), ops: ops.len(), steps, result }
}

fn search(ops: &[&Op], budget: u64) -> (Search, u64) {
    let n = ops.len();
    let mut remaining = ops.iter().filter(|o| o.is_ok()).count();
    if remaining == 0 {
        return (Search::Linearizable, 0);
    }
    let mut interner = Interner::new(ops);
    let compact: Vec<(OpKind<u32>, Option<Output<u32>>)> = ops
        .iter()
        .map(|o| (interner.kind(&o.kind), o.output().map(|x| interner.output(x))))
        .collect();
    let mut classes = Classes::new(ops, &compact);

    let mut entries = Entries::new(ops);
    let mut cache: HashSet<(Bits, RegisterState<u32>)> = HashSet::new();
    let mut linearized = Bits::new(n);
    let mut state = RegisterState::<u32>::initial();
    let mut stack: Vec<(usize, RegisterState<u32>)> = Vec::new();
    let (mut best, mut best_len, mut best_pending) = (Vec::new(), 0, false);
    let mut entry = entries.next[HEAD];
    let mut steps = 0u64;

    loop {
        if remaining == 0 {
            return (Search::Linearizable, steps);
        }
        if steps >= budget {
            return (Search::OutOfSteps, steps);
        }
        steps += 1;
        match entries.node[entry] {
            Node::Call(i) => {
                let (kind, observed) = &compact[i];
                let next_state =
                    if classes.eligible(i) { state.step(kind, observed.as_ref()) } else { None };
                // An unknown op that would change nothing here is as good as not placed here.
                let next_state = next_state.filter(|n| ops[i].is_ok() || *n != state);
                if let Some(next_state) = next_state {
                    linearized.set(i);
                    let config = (linearized, next_state);
                    if cache.contains(&config) {
                        linearized = config.0;
                        linearized.clear(i);
                    } else {
                        linearized = config.0.clone();
                        let next_state = config.1.clone();
                        cache.insert(config);
                        stack.push((i, std::mem::replace(&mut state, next_state)));
                        entries.lift(i);
                        classes.place(i);
                        if ops[i].is_ok() {
                            remaining -= 1;
                        }
                        if stack.len() > best_len {
                            best_len = stack.len();
                            best_pending = true;
                        }
                        entry = entries.next[HEAD];
                        continue;
                    }
                }
                entry = entries.next[entry];
            }
            Node::Return | Node::Edge => {
                if best_pending {
                    best = stack.iter().map(|(i, _)| *i).collect();
                    best_pending = false;
                }
                let Some((i, previous)) = stack.pop() else {
                    return (Search::NotLinearizable { prefix: best }, steps);
                };
                linearized.clear(i);
                entries.unlift(i);
                classes.unplace(i);
                state = previous;
                if ops[i].is_ok() {
                    remaining += 1;
                }
                entry = entries.next[entries.call[i]];
            }
        }
    }
}

fn explain(key: &str, ops: &[&Op], prefix: &[usize]) -> Violation {
    let mut state = RegisterState::<String>::initial();
    let mut placed = vec![false; ops.len()];
    for &i in prefix {
        state = state.step(&ops[i].kind, ops[i].output()).expect("the prefix replays on the model");
        placed[i] = true;
    }
    let rest = || (0..ops.len()).filter(|&i| !placed[i]);
    let blocking = rest()
        .filter(|&i| ops[i].is_ok())
        .min_by_key(|&i| (ops[i].complete, ops[i].invoke, ops[i].id));
    let deadline = blocking.and_then(|b| ops[b].complete).unwrap_or(u64::MAX);
    let mut candidates: Vec<usize> = rest().filter(|&i| ops[i].invoke <= deadline).collect();
    candidates.sort_by_key(|&i| (ops[i].invoke, ops[i].id));

    let ids = |list: &[usize]| -> String {
        const SHOWN: usize = 12;
        let skip = list.len().saturating_sub(SHOWN);
        let mut s = if skip > 0 { format!("… {skip} more, ") } else { String::new() };
        let tail: Vec<String> = list[skip..].iter().map(|&i| format!("#{}", ops[i].id)).collect();
        s.push_str(&tail.join(", "));
        s
    };
    let mut text = format!(
        "key {key:?} is not linearizable. The longest linearizable prefix has {} operation(s) [{}] \
         and leaves the register at {state}.",
        prefix.len(),
        ids(prefix),
    );
    if let Some(b) = blocking {
        let _ = write!(
            text,
            " {} had to take effect before it completed, but none of the {} operation(s) that \
             could come next leads to a linearization:",
            ops[b],
            candidates.len()
        );
    }
    for &i in &candidates {
        let op = ops[i];
        let (_, would) = state.apply(&op.kind);
        let reason = match op.output() {
            Some(seen) if !seen.agrees_with(&would) => {
                format!("it answered: {seen}; taking effect here it would answer: {would}")
            }
            _ => {
                "it fits here, but no order of the remaining operations works after it".to_string()
            }
        };
        let _ = write!(text, "\n  - {op}: {reason}");
    }
    Violation {
        key: key.to_string(),
        prefix: prefix.iter().map(|&i| ops[i].id).collect(),
        state,
        blocking: blocking.map(|b| ops[b].id),
        candidates: candidates.iter().map(|&i| ops[i].id).collect(),
        explanation: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brute;
    use crate::testkit::{cases, gen_large, Hist};

    fn cfg() -> CheckConfig {
        CheckConfig::default()
    }

    #[test]
    fn hand_written_cases_agree_with_expectation_and_brute_force() {
        for case in cases() {
            let fast = check(&case.history, &cfg());
            assert!(!matches!(fast, CheckResult::Timeout { .. }), "{}: timed out", case.name);
            assert_eq!(fast.is_ok(), case.linearizable, "{}: {fast:#?}", case.name);
            assert_eq!(
                brute::check(&case.history).unwrap(),
                case.linearizable,
                "{}: brute force disagrees",
                case.name
            );
            if let Some(v) = fast.violation() {
                assert!(!v.explanation.is_empty());
                assert!(v.blocking.is_some(), "{}", case.name);
                assert!(v.candidates.contains(&v.blocking.unwrap()), "{}", case.name);
            }
        }
    }

    #[test]
    fn stale_read_explanation_names_the_read() {
        // w1 a, w2 b complete; a later read still sees version 1.
        let h = Hist::new()
            .write(0, "k", "a", 0, 10, 1)
            .write(0, "k", "b", 20, 30, 2)
            .read(1, "k", 40, 50, Some((1, "a")))
            .build();
        let CheckResult::Violation(v) = check(&h, &cfg()) else { panic!("expected a violation") };
        assert_eq!(v.key, "k");
        assert_eq!(v.prefix, vec![0, 1]);
        assert_eq!(v.state, RegisterState { version: 2, value: Some("b".into()) });
        assert_eq!(v.blocking, Some(2));
        assert_eq!(v.candidates, vec![2]);
        assert!(
            v.explanation.contains(
                "it answered: read version 1 = \"a\"; taking effect here it would answer: \
                 read version 2 = \"b\""
            ),
            "{}",
            v.explanation
        );
        eprintln!("{}", v.explanation);
    }

    #[test]
    fn violation_prefix_is_a_valid_partial_linearization() {
        for case in cases().into_iter().filter(|c| !c.linearizable) {
            let CheckResult::Violation(v) = check(&case.history, &cfg()) else { panic!() };
            let by_id: HashMap<OpId, &Op> = case.history.ops().iter().map(|o| (o.id, o)).collect();
            let mut s = RegisterState::initial();
            for (n, id) in v.prefix.iter().enumerate() {
                let op = by_id[id];
                assert_eq!(op.key, v.key);
                s = s.step(&op.kind, op.output()).expect("prefix fits the model");
                // Nothing later in the prefix precedes this op in real time.
                for later in &v.prefix[n + 1..] {
                    assert!(!by_id[later].precedes(op), "{}: prefix breaks real time", case.name);
                }
            }
            assert_eq!(s, v.state, "{}", case.name);
        }
    }

    #[test]
    fn violations_are_found_per_key_and_reported_in_key_order() {
        let h = Hist::new()
            .write(0, "a", "x", 0, 10, 1)
            .read(1, "a", 20, 30, Some((1, "x")))
            .write(0, "b", "x", 0, 10, 1)
            .read(1, "b", 20, 30, None) // lost write on b
            .write(0, "c", "x", 0, 10, 1)
            .read(1, "c", 20, 30, Some((7, "x"))) // and a bad version on c
            .build();
        let all = check_keys(&h, &cfg());
        assert_eq!(all.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(all[0].result.is_ok());
        assert!(all[1].result.violation().is_some());
        assert!(all[2].result.violation().is_some());
        assert_eq!(check(&h, &cfg()).violation().unwrap().key, "b");
        // The same with one thread.
        let one = CheckConfig { threads: 1, ..cfg() };
        assert_eq!(check_keys(&h, &one), all);
    }

    /// k unknown writes of distinct values, each value claimed as the first version by one of
    /// k concurrent reads: at most one read can be right, but every subset and order of the
    /// writes is a distinct configuration.
    fn pathological(k: u64) -> History {
        let mut hist = Hist::new();
        for i in 0..k {
            hist = hist.write_unknown(i, "k", &format!("v{i}"), i);
        }
        for i in 0..k {
            hist = hist.read(100 + i, "k", 30, 1000, Some((1, &format!("v{i}"))));
        }
        hist.build()
    }

    #[test]
    fn a_pathological_history_times_out_instead_of_hanging() {
        let small = CheckConfig::with_step_budget(10_000);
        let r = check(&pathological(22), &small);
        assert!(
            matches!(r, CheckResult::Timeout { ref key, steps } if key == "k" && steps == 10_000),
            "{r:?}"
        );
        // A small instance is refuted, and the brute-force checker agrees.
        let h = pathological(4);
        assert!(check(&h, &small).violation().is_some());
        assert!(!brute::check(&h).unwrap());
    }

    #[test]
    fn timeout_does_not_hide_a_violation_on_another_key() {
        let mut ops = pathological(22).into_ops();
        let n = ops.len() as u64;
        ops.extend(
            Hist::new()
                .read(98, "zz", 0, 1, Some((1, "never")))
                .build()
                .into_ops()
                .into_iter()
                .map(|o| Op { id: o.id + n, ..o }),
        );
        let h = History::new(ops).unwrap();
        let all = check_keys(&h, &CheckConfig::with_step_budget(10_000));
        assert!(matches!(all[0].result, CheckResult::Timeout { .. }));
        assert_eq!(
            check(&h, &CheckConfig::with_step_budget(10_000)).violation().unwrap().key,
            "zz"
        );
    }

    /// 40 writes time out during a partition and never take effect; 3 more take effect (a
    /// later read sees one of them); then 292 acknowledged operations follow, and optionally a
    /// stale read at the end.
    fn after_partition(stale_read_at_end: bool) -> History {
        let mut hist = Hist::new();
        for i in 0..40 {
            hist = hist.write_unknown(i, "k", &format!("lost{i}"), i);
        }
        for i in 0..3 {
            hist = hist.write_unknown(50 + i, "k", &format!("applied{i}"), 40 + i);
        }
        hist = hist.read(60, "k", 100, 110, Some((3, "applied1")));
        let mut t = 200;
        for v in 4..150 {
            let value = format!("w{v}");
            hist = hist.write(61, "k", &value, t, t + 5, v).read(
                62,
                "k",
                t + 6,
                t + 9,
                Some((v, &value)),
            );
            t += 10;
        }
        if stale_read_at_end {
            hist = hist.read(63, "k", t, t + 10, Some((148, "w148")));
        }
        hist.build()
    }

    #[test]
    fn many_timed_out_writes_stay_cheap() {
        // Without the reductions every step would face 2^40 subsets of the lost writes.
        let [c] = &check_keys(&after_partition(false), &cfg())[..] else { panic!() };
        assert!(c.result.is_ok(), "{:?}", c.result);
        // Linear in the number of lost writes per position; 2^40 would never finish.
        assert!(c.steps < 1_000_000, "{} steps", c.steps);
        eprintln!("after a partition: 43 unknown + 293 ok ops checked in {} steps", c.steps);
        let [c] = &check_keys(&after_partition(true), &cfg())[..] else { panic!() };
        assert!(c.result.violation().is_some(), "{:?}", c.result);
        assert!(c.steps < 2_000_000, "{} steps", c.steps);
        eprintln!("and a stale read at its end refuted in {} steps", c.steps);
    }

    #[test]
    fn result_serializes() {
        let h = Hist::new().read(0, "k", 0, 1, Some((1, "x"))).build();
        let r = check(&h, &cfg());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with(r#"{"result":"violation","key":"k""#), "{json}");
        assert_eq!(serde_json::from_str::<CheckResult>(&json).unwrap(), r);
        assert_eq!(serde_json::to_string(&CheckResult::Ok).unwrap(), r#"{"result":"ok"}"#);
    }

    #[test]
    fn large_generated_history_is_linearizable() {
        // Smaller sibling of the 20k test below, always run.
        let h = gen_large(7, 2_000, 10, 8);
        let start = std::time::Instant::now();
        let r = check(&h, &cfg());
        assert!(r.is_ok(), "{r:?}");
        eprintln!("2k ops / 10 keys checked in {:?}", start.elapsed());
    }

    #[test]
    fn twenty_thousand_ops_over_fifty_keys() {
        let h = gen_large(42, 20_000, 50, 16);
        let (ok, failed, unknown) = h.outcome_counts();
        let start = std::time::Instant::now();
        let checks = check_keys(&h, &cfg());
        let elapsed = start.elapsed();
        let steps: u64 = checks.iter().map(|c| c.steps).sum();
        assert!(checks.iter().all(|c| c.result.is_ok()));
        eprintln!(
            "20k ops ({ok} ok, {failed} failed, {unknown} unknown) over {} keys: {steps} steps in {elapsed:?}",
            checks.len()
        );
        // A corrupted copy (one stale read) is caught.
        let mut ops = h.into_ops();
        let victim = ops
            .iter()
            .rposition(
                |o| matches!(o.output(), Some(Output::Read { found: Some(f) }) if f.version > 1),
            )
            .unwrap();
        if let Outcome::Ok(Output::Read { found: Some(f) }) = &mut ops[victim].outcome {
            f.version -= 1;
        }
        let bad = History::new(ops).unwrap();
        let start = std::time::Instant::now();
        let r = check(&bad, &cfg());
        eprintln!("corrupted copy refuted in {:?}", start.elapsed());
        assert!(r.violation().is_some(), "{r:?}");
    }

    fn small_cfg() -> CheckConfig {
        CheckConfig { step_budget: 1_000_000, threads: 1 }
    }

    /// Both checkers on one history; they must agree, and a reported prefix must replay.
    fn agree(h: &History) -> Result<bool, TestCaseError> {
        let fast = check(h, &small_cfg());
        let slow = brute::check(h).unwrap();
        prop_assert!(!matches!(fast, CheckResult::Timeout { .. }), "timeout on {}", h.to_json());
        prop_assert_eq!(
            fast.is_ok(),
            slow,
            "checkers disagree on {}: {:?}",
            h.to_json_pretty(),
            fast
        );
        if let Some(v) = fast.violation() {
            let by_id: HashMap<OpId, &Op> = h.ops().iter().map(|o| (o.id, o)).collect();
            let mut s = RegisterState::initial();
            for id in &v.prefix {
                s = s.step(&by_id[id].kind, by_id[id].output()).expect("prefix replays");
            }
            prop_assert_eq!(&s, &v.state);
        }
        Ok(slow)
    }

    use crate::testkit::{corrupt, corruption, small_history};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{TestCaseError, TestRunner};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn prop_generated_histories_are_linearizable(h in small_history()) {
            prop_assert!(agree(&h)?, "generated from a real linearization: {}", h.to_json_pretty());
        }

        #[test]
        fn prop_checkers_agree_on_corrupted_histories(
            h in small_history(),
            changes in prop::collection::vec(corruption(), 1..=2),
        ) {
            agree(&corrupt(&h, &changes))?;
        }

        #[test]
        fn prop_verdict_survives_json(h in small_history(), changes in prop::collection::vec(corruption(), 0..=1)) {
            let h = corrupt(&h, &changes);
            let back = History::from_json(&h.to_json()).unwrap();
            prop_assert_eq!(&back, &h);
            prop_assert_eq!(check(&back, &small_cfg()), check(&h, &small_cfg()));
        }
    }

    #[test]
    fn corrupted_histories_are_a_real_mix() {
        // The agreement property is only meaningful if both verdicts are common.
        let mut runner = TestRunner::deterministic();
        let strategy = (small_history(), prop::collection::vec(corruption(), 1..=2));
        let (mut pass, mut fail) = (0, 0);
        for _ in 0..3_000 {
            let (h, changes) = strategy.new_tree(&mut runner).unwrap().current();
            if agree(&corrupt(&h, &changes)).unwrap() {
                pass += 1;
            } else {
                fail += 1;
            }
        }
        eprintln!("corrupted small histories: {pass} linearizable, {fail} not");
        assert!(pass > 300 && fail > 300, "{pass} pass, {fail} fail");
    }
}
