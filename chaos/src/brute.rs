//! A brute-force linearizability checker, only for cross-checking the real one on small
//! histories.
//!
//! It shares nothing with [`crate::linearizability`] but the model: no partitioning by key (one
//! map of registers for the whole history, so it also checks that partitioning is sound), no
//! event list, no memo, no dropping of unknown reads. For every subset of the `Unknown`
//! operations (those that took effect) it enumerates every order of the `Ok` operations plus
//! that subset that respects real-time order ([`Op::precedes`]) and replays it on the model,
//! abandoning an order as soon as a prefix does not fit. `Failed` operations are left out.

use std::collections::BTreeMap;

use crate::history::{History, Op, OpId};
use crate::model::RegisterState;

/// The most operations (failed ones not counted) the brute-force checker accepts.
pub const MAX_OPS: usize = 10;

/// The history is too large to enumerate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ops} operations are too many for the brute-force checker (at most {MAX_OPS})")]
pub struct TooLarge {
    pub ops: usize,
}

/// Whether the history is linearizable.
pub fn check(history: &History) -> Result<bool, TooLarge> {
    Ok(find_linearization(history)?.is_some())
}

/// One linearization (operation ids in order, unknown operations that did not take effect
/// left out), or `None` if there is none.
pub fn find_linearization(history: &History) -> Result<Option<Vec<OpId>>, TooLarge> {
    let ops: Vec<&Op> = history.ops().iter().filter(|o| !o.is_failed()).collect();
    if ops.len() > MAX_OPS {
        return Err(TooLarge { ops: ops.len() });
    }
    let unknown: Vec<&Op> = ops.iter().copied().filter(|o| o.is_unknown()).collect();
    let known: Vec<&Op> = ops.iter().copied().filter(|o| !o.is_unknown()).collect();
    for mask in 0u32..(1 << unknown.len()) {
        let mut included = known.clone();
        included.extend(
            unknown.iter().enumerate().filter(|(b, _)| mask & (1 << b) != 0).map(|(_, o)| *o),
        );
        let mut search = Search {
            ops: &included,
            placed: vec![false; included.len()],
            order: Vec::with_capacity(included.len()),
            registers: BTreeMap::new(),
        };
        if search.run() {
            return Ok(Some(search.order.iter().map(|&i| included[i].id).collect()));
        }
    }
    Ok(None)
}

struct Search<'a> {
    ops: &'a [&'a Op],
    placed: Vec<bool>,
    order: Vec<usize>,
    registers: BTreeMap<&'a str, RegisterState>,
}

impl Search<'_> {
    fn run(&mut self) -> bool {
        if self.order.len() == self.ops.len() {
            return true;
        }
        for i in 0..self.ops.len() {
            if self.placed[i] {
                continue;
            }
            let op = self.ops[i];
            let blocked =
                (0..self.ops.len()).any(|j| j != i && !self.placed[j] && self.ops[j].precedes(op));
            if blocked {
                continue;
            }
            let before = self.registers.get(op.key.as_str()).cloned().unwrap_or_default();
            let Some(after) = before.step(&op.kind, op.output()) else { continue };
            self.registers.insert(op.key.as_str(), after);
            self.placed[i] = true;
            self.order.push(i);
            if self.run() {
                return true;
            }
            self.order.pop();
            self.placed[i] = false;
            self.registers.insert(op.key.as_str(), before);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{cases, Hist};

    #[test]
    fn hand_written_cases() {
        for case in cases() {
            assert_eq!(check(&case.history).unwrap(), case.linearizable, "{}", case.name);
        }
    }

    #[test]
    fn witness_respects_real_time_and_model() {
        for case in cases().into_iter().filter(|c| c.linearizable) {
            let order = find_linearization(&case.history).unwrap().unwrap();
            let ops: BTreeMap<OpId, &Op> = case.history.ops().iter().map(|o| (o.id, o)).collect();
            // Every ok op is in the witness.
            for op in case.history.ops().iter().filter(|o| o.is_ok()) {
                assert!(order.contains(&op.id), "{}", case.name);
            }
            let mut regs: BTreeMap<&str, RegisterState> = BTreeMap::new();
            for (n, id) in order.iter().enumerate() {
                let op = ops[id];
                let r = regs.entry(&op.key).or_default();
                *r = r.step(&op.kind, op.output()).unwrap();
                assert!(order[n + 1..].iter().all(|l| !ops[l].precedes(op)), "{}", case.name);
            }
        }
    }

    #[test]
    fn unknown_op_that_took_effect_is_in_the_witness() {
        let h = Hist::new()
            .write(0, "k", "a", 0, 10, 1)
            .write_unknown(1, "k", "b", 5)
            .read(2, "k", 20, 30, Some((2, "b")))
            .build();
        assert_eq!(find_linearization(&h).unwrap(), Some(vec![0, 1, 2]));
    }

    #[test]
    fn refuses_large_histories() {
        let mut h = Hist::new();
        for i in 0..11 {
            h = h.read(0, "k", i * 10, i * 10 + 1, None);
        }
        h = h.write_failed(0, "k", "x", 500, 501);
        assert_eq!(check(&h.build()), Err(TooLarge { ops: 11 }));
    }
}
