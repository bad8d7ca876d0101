//! Acknowledged-write durability: after the faults are healed, every write the cluster
//! acknowledged is still there.
//!
//! Input: the history of the run and one final read of every key, taken after healing and after
//! every operation of the history completed or was given up on. A key's versions are made one
//! at a time by writes (each makes latest + 1), so for each key:
//!
//! * The final version must be at least every acknowledged version; an acknowledged write with a
//!   higher version than the final one was lost ([`DurabilityViolation::LostWrite`]).
//! * If the final version *is* the highest acknowledged version, the final value must be that
//!   write's value: no later write can have replaced it, since it would have made a higher
//!   version ([`DurabilityViolation::WrongValue`]).
//! * If the final version is *higher* than every acknowledged version, the versions past the
//!   last acknowledged one were made by writes whose outcome is unknown, so there must be at
//!   least that many unknown writes or CAS of the key, and the final value must be one of theirs
//!   ([`DurabilityViolation::Unexplained`]). Failed operations do not count: they did not take
//!   effect.
//! * A key with acknowledged or unknown writes but no final read is reported
//!   ([`DurabilityViolation::MissingFinalRead`]) rather than silently passed.
//!
//! Linearizability already implies this when the final reads are part of the history; this
//! check is the direct, cheap statement of the property, and it still works when the
//! linearizability check timed out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{History, Op, OpId, Output, Versioned};

/// The final read of each key: `None` is not found.
pub type FinalReads = BTreeMap<String, Option<Versioned>>;

/// An acknowledged write that is not (or not correctly) visible after healing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DurabilityViolation {
    /// No final read was taken of a key that was written.
    MissingFinalRead { key: String },
    /// The acknowledged write `op` made `version`, but the final read is older (or not found).
    LostWrite { key: String, op: OpId, version: u64, final_version: Option<u64> },
    /// The acknowledged write `op` made the final version, but the final value is another.
    WrongValue { key: String, op: OpId, version: u64, expected: String, found: String },
    /// The final version is past every acknowledged write, and the unknown writes of the key
    /// cannot account for it (too few of them, or none wrote the final value).
    Unexplained {
        key: String,
        final_version: u64,
        final_value: String,
        acknowledged_version: u64,
        unknown_writes: usize,
    },
}

impl fmt::Display for DurabilityViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurabilityViolation::MissingFinalRead { key } => {
                write!(f, "{key:?}: written, but no final read was taken")
            }
            DurabilityViolation::LostWrite { key, op, version, final_version } => {
                write!(
                    f,
                    "{key:?}: acknowledged write #{op} made version {version}, but the final read "
                )?;
                match final_version {
                    Some(v) => write!(f, "is at version {v}"),
                    None => write!(f, "finds nothing"),
                }
            }
            DurabilityViolation::WrongValue { key, op, version, expected, found } => write!(
                f,
                "{key:?}: acknowledged write #{op} made version {version} = {expected:?}, but the \
                 final read has {found:?} at that version"
            ),
            DurabilityViolation::Unexplained {
                key,
                final_version,
                final_value,
                acknowledged_version,
                unknown_writes,
            } => write!(
                f,
                "{key:?}: the final read is version {final_version} = {final_value:?}, past the \
                 last acknowledged version {acknowledged_version}, which {unknown_writes} \
                 unknown write(s) cannot explain"
            ),
        }
    }
}

fn acknowledged_version(op: &Op) -> Option<u64> {
    match op.output() {
        Some(Output::Written { version }) if op.kind.is_write() => Some(*version),
        _ => None,
    }
}

/// Checks every key of `history` and every key of `finals`; violations in key order.
pub fn check_durability(history: &History, finals: &FinalReads) -> Vec<DurabilityViolation> {
    let by_key = history.by_key();
    let keys: BTreeSet<&str> =
        by_key.keys().copied().chain(finals.keys().map(String::as_str)).collect();
    let mut violations = Vec::new();
    for key in keys {
        let ops = by_key.get(key).map_or(&[][..], Vec::as_slice);
        let acked: Vec<(&Op, u64)> =
            ops.iter().filter_map(|o| acknowledged_version(o).map(|v| (*o, v))).collect();
        let unknown: Vec<&Op> =
            ops.iter().copied().filter(|o| o.is_unknown() && o.kind.is_write()).collect();
        let Some(found) = finals.get(key) else {
            if !acked.is_empty() || !unknown.is_empty() {
                violations.push(DurabilityViolation::MissingFinalRead { key: key.to_string() });
            }
            continue;
        };
        let final_version = found.as_ref().map_or(0, |f| f.version);
        let max_acked = acked.iter().map(|(_, v)| *v).max().unwrap_or(0);
        for &(op, version) in &acked {
            if version > final_version {
                violations.push(DurabilityViolation::LostWrite {
                    key: key.to_string(),
                    op: op.id,
                    version,
                    final_version: found.as_ref().map(|f| f.version),
                });
            }
        }
        let Some(found) = found else { continue };
        if final_version == max_acked {
            for &(op, version) in acked.iter().filter(|(_, v)| *v == final_version) {
                let expected = op.kind.written_value().expect("acknowledged writes write");
                if *expected != found.value {
                    violations.push(DurabilityViolation::WrongValue {
                        key: key.to_string(),
                        op: op.id,
                        version,
                        expected: expected.clone(),
                        found: found.value.clone(),
                    });
                }
            }
        } else if final_version > max_acked {
            let needed = final_version - max_acked;
            let value_written =
                unknown.iter().any(|o| o.kind.written_value() == Some(&found.value));
            if (unknown.len() as u64) < needed || !value_written {
                violations.push(DurabilityViolation::Unexplained {
                    key: key.to_string(),
                    final_version,
                    final_value: found.value.clone(),
                    acknowledged_version: max_acked,
                    unknown_writes: unknown.len(),
                });
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{gen_large_full, Hist};
    use crate::RegisterState;

    fn finals(reads: &[(&str, Option<(u64, &str)>)]) -> FinalReads {
        reads
            .iter()
            .map(|(k, f)| {
                (k.to_string(), f.map(|(version, v)| Versioned { version, value: v.to_string() }))
            })
            .collect()
    }

    fn base() -> Hist {
        Hist::new()
            .write(0, "k", "a", 0, 10, 1)
            .cas(1, "k", 1, "b", 20, 30, 2)
            .cas_mismatch(1, "k", 1, "x", 40, 50, Some(2))
            .write_failed(2, "k", "f", 60, 70)
    }

    #[test]
    fn all_acknowledged_writes_visible() {
        let h = base().build();
        assert_eq!(check_durability(&h, &finals(&[("k", Some((2, "b")))])), vec![]);
    }

    #[test]
    fn lost_acknowledged_write() {
        let h = base().build();
        let v = check_durability(&h, &finals(&[("k", Some((1, "a")))]));
        assert_eq!(
            v,
            vec![DurabilityViolation::LostWrite {
                key: "k".into(),
                op: 1,
                version: 2,
                final_version: Some(1)
            }]
        );
        assert!(v[0].to_string().contains("made version 2"));
        // Everything lost: both writes reported.
        let v = check_durability(&h, &finals(&[("k", None)]));
        assert_eq!(v.len(), 2);
        assert!(v[0].to_string().contains("finds nothing"), "{}", v[0]);
    }

    #[test]
    fn last_acknowledged_write_replaced_by_another_value() {
        let h = base().build();
        let v = check_durability(&h, &finals(&[("k", Some((2, "f")))]));
        assert!(
            matches!(&v[..], [DurabilityViolation::WrongValue { op: 1, version: 2, .. }]),
            "{v:?}"
        );
    }

    #[test]
    fn two_writes_claiming_the_final_version() {
        let h = Hist::new().write(0, "k", "a", 0, 10, 1).write(1, "k", "b", 0, 10, 1).build();
        let v = check_durability(&h, &finals(&[("k", Some((1, "a")))]));
        assert!(matches!(&v[..], [DurabilityViolation::WrongValue { op: 1, .. }]), "{v:?}");
    }

    #[test]
    fn later_versions_from_unknown_writes() {
        let h = base().write_unknown(3, "k", "u1", 80).cas_unknown(4, "k", 3, "u2", 90).build();
        // Either, both or neither unknown write took effect.
        for f in [(2, "b"), (3, "u1"), (4, "u2")] {
            assert_eq!(check_durability(&h, &finals(&[("k", Some(f))])), vec![], "{f:?}");
        }
        // Version 3 with a value no unknown write wrote; version 5 with only two unknown writes.
        for f in [(3, "zz"), (3, "f"), (5, "u2")] {
            let v = check_durability(&h, &finals(&[("k", Some(f))]));
            assert!(
                matches!(&v[..], [DurabilityViolation::Unexplained { unknown_writes: 2, .. }]),
                "{f:?}: {v:?}"
            );
        }
        // A failed write is not an explanation.
        let v = check_durability(&base().build(), &finals(&[("k", Some((3, "f")))]));
        assert!(matches!(&v[..], [DurabilityViolation::Unexplained { unknown_writes: 0, .. }]));
    }

    #[test]
    fn keys_without_acknowledged_writes() {
        let h = Hist::new()
            .read(0, "r", 0, 1, None)
            .write_failed(0, "f", "x", 0, 1)
            .write_unknown(0, "u", "x", 0)
            .build();
        assert_eq!(check_durability(&h, &finals(&[("r", None), ("f", None), ("u", None)])), vec![]);
        assert_eq!(check_durability(&h, &finals(&[("r", None), ("u", Some((1, "x")))])), vec![]);
        // A key nobody wrote but that has a value.
        let v = check_durability(&h, &finals(&[("r", Some((1, "ghost"))), ("u", None)]));
        assert!(
            matches!(&v[..], [DurabilityViolation::Unexplained { key, .. }] if key == "r"),
            "{v:?}"
        );
    }

    #[test]
    fn missing_final_read() {
        let h = base().write_unknown(0, "u", "x", 0).read(0, "r", 0, 1, None).build();
        let v = check_durability(&h, &FinalReads::new());
        assert_eq!(
            v,
            vec![
                DurabilityViolation::MissingFinalRead { key: "k".into() },
                DurabilityViolation::MissingFinalRead { key: "u".into() },
            ]
        );
    }

    #[test]
    fn generated_run_is_durable_and_a_rollback_is_not() {
        let (h, truth) = gen_large_full(5, 3_000, 20, 8);
        let reads = |truth: &BTreeMap<String, RegisterState>| -> FinalReads {
            h.keys()
                .iter()
                .map(|k| (k.to_string(), truth.get(*k).and_then(RegisterState::read)))
                .collect()
        };
        assert_eq!(check_durability(&h, &reads(&truth)), vec![]);
        // Roll one key back to the state before its last acknowledged write.
        let (op, version) = h
            .ops()
            .iter()
            .filter_map(|o| match o.output() {
                Some(Output::Written { version }) if o.key == "key/3" => Some((o, *version)),
                _ => None,
            })
            .max_by_key(|(_, v)| *v)
            .unwrap();
        let mut rolled = truth.clone();
        rolled.insert(
            op.key.clone(),
            RegisterState { version: version - 1, value: Some("old".into()) },
        );
        let v = check_durability(&h, &reads(&rolled));
        assert!(
            v.contains(&DurabilityViolation::LostWrite {
                key: op.key.clone(),
                op: op.id,
                version,
                final_version: Some(version - 1),
            }),
            "{v:?}"
        );
    }

    #[test]
    fn violations_serialize() {
        let lost = DurabilityViolation::LostWrite {
            key: "k".into(),
            op: 3,
            version: 2,
            final_version: None,
        };
        let json = serde_json::to_string(&lost).unwrap();
        assert!(json.starts_with(r#"{"kind":"lost_write""#), "{json}");
        assert_eq!(serde_json::from_str::<DurabilityViolation>(&json).unwrap(), lost);
    }
}
