//! Test support: a small language for hand-written histories, the table of histories that must
//! pass and must fail, and generators of concurrent histories from a known linearization.

use std::collections::{BTreeMap, HashMap, VecDeque};

use proptest::prelude::*;

use crate::history::{
    ClientId, History, HistoryBuilder, Op, OpId, OpKind, Outcome, Output, Versioned,
};
use crate::model::RegisterState;

/// Builds a history op by op; ids are 0, 1, 2, … in call order.
#[derive(Default)]
pub struct Hist {
    ops: Vec<Op>,
}

impl Hist {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(
        mut self,
        client: ClientId,
        key: &str,
        kind: OpKind,
        invoke: u64,
        complete: Option<u64>,
        outcome: Outcome,
    ) -> Self {
        let id = self.ops.len() as OpId;
        self.ops.push(Op { id, client, key: key.into(), kind, invoke, complete, outcome });
        self
    }

    /// An acknowledged write that answered `version`.
    pub fn write(
        self,
        c: ClientId,
        key: &str,
        value: &str,
        inv: u64,
        comp: u64,
        version: u64,
    ) -> Self {
        let kind = OpKind::Write { value: value.into() };
        self.push(c, key, kind, inv, Some(comp), Outcome::Ok(Output::Written { version }))
    }

    pub fn write_unknown(self, c: ClientId, key: &str, value: &str, inv: u64) -> Self {
        self.push(c, key, OpKind::Write { value: value.into() }, inv, None, Outcome::Unknown)
    }

    pub fn write_failed(self, c: ClientId, key: &str, value: &str, inv: u64, comp: u64) -> Self {
        self.push(c, key, OpKind::Write { value: value.into() }, inv, Some(comp), Outcome::Failed)
    }

    /// A CAS that applied and answered `version`.
    #[allow(clippy::too_many_arguments)]
    pub fn cas(
        self,
        c: ClientId,
        key: &str,
        expected: u64,
        value: &str,
        inv: u64,
        comp: u64,
        version: u64,
    ) -> Self {
        let kind = OpKind::Cas { expected_version: expected, value: value.into() };
        self.push(c, key, kind, inv, Some(comp), Outcome::Ok(Output::Written { version }))
    }

    /// A CAS that was refused, with the actual version if the client learned it.
    #[allow(clippy::too_many_arguments)]
    pub fn cas_mismatch(
        self,
        c: ClientId,
        key: &str,
        expected: u64,
        value: &str,
        inv: u64,
        comp: u64,
        actual: Option<u64>,
    ) -> Self {
        let kind = OpKind::Cas { expected_version: expected, value: value.into() };
        self.push(c, key, kind, inv, Some(comp), Outcome::Ok(Output::CasMismatch { actual }))
    }

    pub fn cas_unknown(self, c: ClientId, key: &str, expected: u64, value: &str, inv: u64) -> Self {
        let kind = OpKind::Cas { expected_version: expected, value: value.into() };
        self.push(c, key, kind, inv, None, Outcome::Unknown)
    }

    /// A completed read that saw `found` (`None`: not found).
    pub fn read(
        self,
        c: ClientId,
        key: &str,
        inv: u64,
        comp: u64,
        found: Option<(u64, &str)>,
    ) -> Self {
        let found = found.map(|(version, v)| Versioned { version, value: v.to_string() });
        self.push(c, key, OpKind::Read, inv, Some(comp), Outcome::Ok(Output::Read { found }))
    }

    pub fn read_unknown(self, c: ClientId, key: &str, inv: u64) -> Self {
        self.push(c, key, OpKind::Read, inv, None, Outcome::Unknown)
    }

    pub fn build(self) -> History {
        History::new(self.ops).expect("hand-written history is valid")
    }
}

pub struct Case {
    pub name: &'static str,
    pub history: History,
    pub linearizable: bool,
}

fn case(name: &'static str, linearizable: bool, h: Hist) -> Case {
    Case { name, history: h.build(), linearizable }
}

/// Hand-written histories with their verdicts.
pub fn cases() -> Vec<Case> {
    vec![
        // ---- must pass ----
        case("empty history", true, Hist::new()),
        case(
            "sequential write then read",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 20, 30, Some((1, "a"))),
        ),
        case("read of a key never written", true, Hist::new().read(0, "k", 0, 10, None)),
        case(
            "read concurrent with a write sees the old state",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 5, 15, None),
        ),
        case(
            "read concurrent with a write sees the new state",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 2, 5, Some((1, "a"))),
        ),
        case(
            "concurrent writes ordered by the versions they answered",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 2).write(1, "k", "b", 5, 15, 1).read(
                2,
                "k",
                20,
                30,
                Some((2, "a")),
            ),
        ),
        case(
            "concurrent reads see a concurrent write in a consistent order",
            true,
            Hist::new()
                .write(0, "k", "a", 0, 100, 1)
                .read(1, "k", 10, 20, None)
                .read(2, "k", 30, 40, Some((1, "a")))
                .read(1, "k", 50, 60, Some((1, "a"))),
        ),
        case(
            "cas success and mismatch",
            true,
            Hist::new()
                .cas(0, "k", 0, "a", 0, 10, 1)
                .cas_mismatch(0, "k", 0, "b", 20, 30, Some(1))
                .cas(1, "k", 1, "c", 40, 50, 2)
                .read(2, "k", 60, 70, Some((2, "c"))),
        ),
        case(
            "cas mismatch without the actual version",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).cas_mismatch(1, "k", 5, "b", 20, 30, None),
        ),
        case(
            "two concurrent creates: one wins, one mismatches",
            true,
            Hist::new()
                .cas(0, "k", 0, "a", 0, 10, 1)
                .cas_mismatch(1, "k", 0, "b", 0, 10, Some(1))
                .read(2, "k", 20, 30, Some((1, "a"))),
        ),
        case(
            "unknown write that took effect (read sees it)",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).write_unknown(1, "k", "b", 5).read(
                2,
                "k",
                20,
                30,
                Some((2, "b")),
            ),
        ),
        case(
            "unknown write that took effect (a later write's version shows it)",
            true,
            Hist::new().write_unknown(0, "k", "a", 0).write(1, "k", "b", 10, 20, 2),
        ),
        case(
            "unknown write that did not take effect",
            true,
            Hist::new()
                .write(0, "k", "a", 0, 10, 1)
                .write_unknown(1, "k", "b", 5)
                .read(2, "k", 20, 30, Some((1, "a")))
                .write(2, "k", "c", 40, 50, 2)
                .read(2, "k", 60, 70, Some((2, "c"))),
        ),
        case(
            "unknown write that took effect long after its client gave up",
            true,
            Hist::new()
                .write_unknown(0, "k", "b", 0)
                .write(1, "k", "a", 10, 20, 1)
                .read(1, "k", 30, 40, Some((1, "a")))
                .read(1, "k", 50, 60, Some((2, "b"))),
        ),
        case(
            "unknown cas that took effect",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).cas_unknown(1, "k", 1, "b", 20).read(
                2,
                "k",
                30,
                40,
                Some((2, "b")),
            ),
        ),
        case(
            "unknown read is ignored",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).read_unknown(1, "k", 20),
        ),
        case(
            "failed write is excluded",
            true,
            Hist::new()
                .write(0, "k", "a", 0, 10, 1)
                .write_failed(1, "k", "b", 5, 15)
                .read(2, "k", 20, 30, Some((1, "a")))
                .write(2, "k", "c", 40, 50, 2),
        ),
        case(
            "an op invoked when another completes is concurrent with it",
            true,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 10, 20, None),
        ),
        case(
            "version gap filled by an unknown write",
            true,
            Hist::new()
                .write(0, "k", "a", 0, 10, 1)
                .write_unknown(1, "k", "x", 12)
                .write(0, "k", "b", 20, 30, 3),
        ),
        case(
            "keys are independent",
            true,
            Hist::new()
                .write(0, "a", "1", 0, 10, 1)
                .write(1, "b", "1", 0, 10, 1)
                .read(0, "b", 20, 30, Some((1, "1")))
                .read(1, "a", 20, 30, Some((1, "1")))
                .write(0, "a", "2", 40, 50, 2),
        ),
        // ---- must fail ----
        case(
            "stale read after a completed write",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).write(0, "k", "b", 20, 30, 2).read(
                1,
                "k",
                40,
                50,
                Some((1, "a")),
            ),
        ),
        case(
            "lost acknowledged write (read finds nothing)",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 20, 30, None),
        ),
        case(
            "lost acknowledged write (its version is handed out again)",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).write(1, "k", "b", 20, 30, 1),
        ),
        case(
            "read of a value never written",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 5, 30, Some((1, "zzz"))),
        ),
        case(
            "read of a written value at the wrong version",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).read(1, "k", 20, 30, Some((2, "a"))),
        ),
        case(
            "two concurrent writes both winning",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).write(1, "k", "b", 0, 10, 1),
        ),
        case(
            "two concurrent creates both succeeding",
            false,
            Hist::new().cas(0, "k", 0, "a", 0, 10, 1).cas(1, "k", 0, "b", 5, 15, 1),
        ),
        case(
            "cas succeeded against a stale version",
            false,
            Hist::new()
                .write(0, "k", "a", 0, 10, 1)
                .write(0, "k", "b", 20, 30, 2)
                .cas(1, "k", 1, "c", 40, 50, 3),
        ),
        case(
            "cas refused although the version matched",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).cas_mismatch(1, "k", 1, "b", 20, 30, None),
        ),
        case(
            "write answered a version past a gap nothing fills",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).write(0, "k", "b", 20, 30, 3),
        ),
        case(
            "failed write that did take effect",
            false,
            Hist::new().write(0, "k", "a", 0, 10, 1).write_failed(1, "k", "b", 5, 15).read(
                2,
                "k",
                20,
                30,
                Some((2, "b")),
            ),
        ),
        case(
            "unknown write seen, then unseen",
            false,
            Hist::new()
                .write(0, "k", "a", 0, 10, 1)
                .write_unknown(1, "k", "b", 5)
                .read(2, "k", 20, 30, Some((2, "b")))
                .read(2, "k", 40, 50, Some((1, "a"))),
        ),
        case(
            "unknown write cannot take effect before it was invoked",
            false,
            Hist::new().read(0, "k", 0, 10, Some((1, "b"))).write_unknown(1, "k", "b", 20),
        ),
        case(
            "reads go back in time under a concurrent write",
            false,
            Hist::new()
                .write(0, "k", "a", 0, 100, 1)
                .read(1, "k", 10, 20, Some((1, "a")))
                .read(2, "k", 30, 40, None),
        ),
        case(
            "violation on the second key only",
            false,
            Hist::new()
                .write(0, "a", "1", 0, 10, 1)
                .read(1, "a", 20, 30, Some((1, "1")))
                .write(0, "b", "1", 0, 10, 1)
                .read(1, "b", 20, 30, Some((1, "2"))),
        ),
    ]
}

/// How a generated operation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Ok,
    /// The client gives up, but the operation takes effect (before or after that).
    UnknownApplied,
    /// The client gives up and the operation never takes effect.
    UnknownLost,
    /// The operation is refused and never takes effect.
    Failed,
}

#[derive(Debug, Clone)]
pub enum SpecKind {
    Write(String),
    /// `expected: None` means "the true latest version when invoked" (likely to succeed).
    Cas {
        expected: Option<u64>,
        value: String,
    },
    Read,
}

/// One operation a generated client will make.
#[derive(Debug, Clone)]
pub struct Spec {
    pub client: ClientId,
    pub key: String,
    pub kind: SpecKind,
    pub fate: Fate,
}

struct Run {
    client: ClientId,
    key: String,
    kind: OpKind,
    fate: Fate,
    id: OpId,
    applied: Option<Output>,
    done: bool,
}

enum Event {
    Invoke(ClientId),
    Apply(usize),
    Complete(usize),
}

/// Runs `specs` (each client makes its own in order, one at a time) against a true register
/// per key, interleaving invocations, the instants operations take effect, and completions as
/// `choose(n)` (an index below `n`) decides. The result is linearizable by construction: the
/// order in which operations took effect is a witness.
pub fn simulate(specs: &[Spec], choose: impl FnMut(usize) -> usize) -> History {
    simulate_full(specs, choose).0
}

/// [`simulate`], also answering the true final register of every key written.
pub fn simulate_full(
    specs: &[Spec],
    mut choose: impl FnMut(usize) -> usize,
) -> (History, BTreeMap<String, RegisterState>) {
    let mut queues: BTreeMap<ClientId, VecDeque<&Spec>> = BTreeMap::new();
    for s in specs {
        queues.entry(s.client).or_default().push_back(s);
    }
    let mut busy: HashMap<ClientId, usize> = HashMap::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut live: Vec<usize> = Vec::new();
    let mut registers: HashMap<String, RegisterState> = HashMap::new();
    let builder = HistoryBuilder::new();
    let mut time = 0u64;
    loop {
        let mut events = Vec::new();
        for (c, q) in &queues {
            if !busy.contains_key(c) && !q.is_empty() {
                events.push(Event::Invoke(*c));
            }
        }
        for &r in &live {
            let run = &runs[r];
            let may_apply = matches!(run.fate, Fate::Ok | Fate::UnknownApplied);
            if may_apply && run.applied.is_none() {
                events.push(Event::Apply(r));
            }
            if !run.done && (run.fate != Fate::Ok || run.applied.is_some()) {
                events.push(Event::Complete(r));
            }
        }
        if events.is_empty() {
            break;
        }
        let event = &events[choose(events.len()) % events.len()];
        time += (choose(4) != 0) as u64; // now and then two events share an instant
        match *event {
            Event::Invoke(c) => {
                let spec = queues.get_mut(&c).and_then(|q| q.pop_front()).expect("queued");
                let kind = match &spec.kind {
                    SpecKind::Write(v) => OpKind::Write { value: v.clone() },
                    SpecKind::Cas { expected, value } => OpKind::Cas {
                        expected_version: expected
                            .unwrap_or_else(|| registers.get(&spec.key).map_or(0, |r| r.version)),
                        value: value.clone(),
                    },
                    SpecKind::Read => OpKind::Read,
                };
                let id = builder.invoke_at(time, c, spec.key.clone(), kind.clone());
                busy.insert(c, runs.len());
                live.push(runs.len());
                runs.push(Run {
                    client: c,
                    key: spec.key.clone(),
                    kind,
                    fate: spec.fate,
                    id,
                    applied: None,
                    done: false,
                });
            }
            Event::Apply(r) => {
                let run = &mut runs[r];
                let reg = registers.entry(run.key.clone()).or_default();
                let (next, output) = reg.apply(&run.kind);
                *reg = next;
                run.applied = Some(output);
            }
            Event::Complete(r) => {
                let run = &mut runs[r];
                let outcome = match run.fate {
                    Fate::Ok => Outcome::Ok(run.applied.clone().expect("applied")),
                    Fate::Failed => Outcome::Failed,
                    Fate::UnknownApplied | Fate::UnknownLost => Outcome::Unknown,
                };
                builder.complete_at(run.id, time, outcome).expect("valid completion");
                run.done = true;
                busy.remove(&run.client);
            }
        }
        live.retain(|&r| {
            let run = &runs[r];
            !run.done || (run.fate == Fate::UnknownApplied && run.applied.is_none())
        });
    }
    (builder.finish(), registers.into_iter().collect())
}

const LETTERS: [&str; 3] = ["a", "b", "c"];

fn letter(i: impl Into<u64>) -> String {
    LETTERS[(i.into() % 3) as usize].to_string()
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Ok),
        1 => Just(Fate::UnknownApplied),
        1 => Just(Fate::UnknownLost),
        1 => Just(Fate::Failed),
    ]
}

/// One operation of a small history: ≤ 3 clients, `keys` keys, values from {a, b, c}.
pub fn spec(keys: u8) -> impl Strategy<Value = Spec> {
    let kind = prop_oneof![
        2 => (0u8..3).prop_map(|v| SpecKind::Write(letter(v))),
        1 => (prop::option::of(0u64..3), 0u8..3)
            .prop_map(|(expected, v)| SpecKind::Cas { expected, value: letter(v) }),
        2 => Just(SpecKind::Read),
    ];
    (0u64..3, 0..keys, kind, fate()).prop_map(|(client, key, kind, fate)| Spec {
        client,
        key: format!("k{key}"),
        kind,
        fate,
    })
}

/// A small linearizable history: up to 8 operations over 1 or 2 keys, interleaved by a random
/// schedule.
pub fn small_history() -> impl Strategy<Value = History> {
    (1u8..=2)
        .prop_flat_map(|keys| {
            (prop::collection::vec(spec(keys), 0..=8), prop::collection::vec(any::<u16>(), 1..64))
        })
        .prop_map(|(specs, choices)| {
            let mut k = 0;
            simulate(&specs, move |n| {
                let c = choices[k % choices.len()] as usize;
                k += 1;
                c % n
            })
        })
}

/// A change to one operation: (which, how, a parameter).
pub type Corruption = (u16, u8, u8);

pub fn corruption() -> impl Strategy<Value = Corruption> {
    (any::<u16>(), 0u8..8, any::<u8>())
}

/// Applies corruptions that may (or may not) make a history non-linearizable: wrong read
/// results, wrong versions, flipped CAS answers, outcomes changed, windows narrowed, keys or
/// inputs changed. The result is always a valid history.
pub fn corrupt(history: &History, changes: &[Corruption]) -> History {
    let mut ops = history.ops().to_vec();
    if ops.is_empty() {
        return history.clone();
    }
    for &(target, how, p) in changes {
        let n = ops.len();
        let op = &mut ops[target as usize % n];
        match how {
            0 => {
                if let Outcome::Ok(Output::Read { found }) = &mut op.outcome {
                    *found = match (found.take(), p % 3) {
                        (Some(f), 0) => Some(Versioned { version: f.version + 1, ..f }),
                        (Some(f), 1) => Some(Versioned { value: letter(p / 3 + 1), ..f }),
                        (Some(_), _) => None,
                        (None, _) => Some(Versioned {
                            version: 1 + u64::from(p / 3 % 2),
                            value: letter(p / 6),
                        }),
                    };
                }
            }
            1 => {
                if let Outcome::Ok(Output::Written { version }) = &mut op.outcome {
                    *version = if p % 2 == 0 { *version + 1 } else { version.saturating_sub(1) };
                }
            }
            2 => match &mut op.outcome {
                Outcome::Ok(Output::Written { version })
                    if matches!(op.kind, OpKind::Cas { .. }) =>
                {
                    let actual = (p % 2 == 0).then(|| version.saturating_sub(1));
                    op.outcome = Outcome::Ok(Output::CasMismatch { actual });
                }
                Outcome::Ok(Output::CasMismatch { actual }) => {
                    let version = actual.unwrap_or(u64::from(p % 3)) + 1;
                    op.outcome = Outcome::Ok(Output::Written { version });
                }
                _ => {}
            },
            3 => match op.outcome {
                Outcome::Ok(_) => op.outcome = Outcome::Failed,
                Outcome::Unknown => {
                    op.outcome = Outcome::Failed;
                    op.complete = Some(op.invoke + u64::from(p % 4));
                }
                Outcome::Failed => {
                    op.outcome = Outcome::Unknown;
                    op.complete = None;
                }
            },
            4 => {
                if op.is_ok() {
                    op.outcome = Outcome::Unknown;
                    op.complete = None;
                }
            }
            5 => {
                if let (true, Some(c)) = (op.is_ok(), op.complete) {
                    if p % 2 == 0 {
                        op.invoke = c;
                    } else {
                        op.complete = Some(op.invoke);
                    }
                }
            }
            6 => op.key = if op.key == "k0" { "k1".into() } else { "k0".into() },
            _ => match &mut op.kind {
                OpKind::Write { value } => *value = letter(p),
                OpKind::Cas { expected_version, value } => {
                    if p % 2 == 0 {
                        *expected_version = u64::from(p / 2 % 4);
                    } else {
                        *value = letter(p / 2);
                    }
                }
                OpKind::Read => {}
            },
        }
    }
    History::new(ops).unwrap_or_else(|_| history.clone())
}

/// splitmix64: a tiny deterministic generator for large histories.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A large linearizable history shaped like a chaos workload: `clients` clients, `keys` keys,
/// half reads, a third writes, the rest CAS (mostly against the current version); about 2%
/// each of unknown-and-applied, unknown-and-lost and failed operations. Values are unique.
pub fn gen_large(seed: u64, ops: usize, keys: usize, clients: u64) -> History {
    gen_large_full(seed, ops, keys, clients).0
}

/// [`gen_large`], also answering the true final register of every key written.
pub fn gen_large_full(
    seed: u64,
    ops: usize,
    keys: usize,
    clients: u64,
) -> (History, BTreeMap<String, RegisterState>) {
    let mut rng = SplitMix(seed);
    let specs: Vec<Spec> = (0..ops)
        .map(|i| {
            let value = format!("v{i}");
            let kind = match rng.below(100) {
                0..50 => SpecKind::Read,
                50..85 => SpecKind::Write(value),
                _ => SpecKind::Cas {
                    expected: (rng.below(4) == 0).then(|| rng.below(4) as u64),
                    value,
                },
            };
            let fate = match rng.below(100) {
                0..2 => Fate::UnknownApplied,
                2..4 => Fate::UnknownLost,
                4..6 => Fate::Failed,
                _ => Fate::Ok,
            };
            Spec { client: i as u64 % clients, key: format!("key/{}", rng.below(keys)), kind, fate }
        })
        .collect();
    simulate_full(&specs, move |n| rng.below(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_histories_have_every_outcome_and_concurrency() {
        let h = gen_large(1, 3_000, 5, 8);
        assert_eq!(h.len(), 3_000);
        let (ok, failed, unknown) = h.outcome_counts();
        assert!(ok > 2_500 && failed > 10 && unknown > 20, "{ok} {failed} {unknown}");
        // Some pairs of operations overlap in time.
        let ops = h.ops();
        let overlapping =
            ops.windows(2).filter(|w| w[0].complete.is_none_or(|c| c >= w[1].invoke)).count();
        assert!(overlapping > 100, "{overlapping}");
    }

    #[test]
    fn small_histories_vary() {
        let mut runner = TestRunner::deterministic();
        let strategy = small_history();
        let (mut with_unknown, mut with_two_keys, mut sizes) = (0, 0, [0; 9]);
        for _ in 0..500 {
            let h = strategy.new_tree(&mut runner).unwrap().current();
            assert!(h.len() <= 8);
            sizes[h.len()] += 1;
            with_unknown += usize::from(h.ops().iter().any(Op::is_unknown));
            with_two_keys += usize::from(h.keys().len() == 2);
        }
        assert!(with_unknown > 100 && with_two_keys > 100, "{with_unknown} {with_two_keys}");
        assert!(sizes[8] > 50, "{sizes:?}");
    }
}
