//! The sequential specification of one key: a versioned register.
//!
//! This is what a single, correct, non-replicated store would do. The state is the latest
//! version (0: never written) and its value. A write makes version + 1 and answers it; a CAS
//! does the same only when its expected version is the latest one, otherwise it answers a
//! mismatch and changes nothing; a read answers the latest version and value, or not-found.
//! This mirrors `apply_put` in the node's state machine (`cas: 0` means "never written").
//!
//! The checkers only ever ask [`RegisterState::step`]: "from this state, can this operation
//! with this observed output take effect, and what is the state after it?". An operation whose
//! output is not known (`Unknown`) agrees with anything.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{OpKind, Output, Versioned};

/// The register of one key. `value` is `None` exactly when `version` is 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegisterState<V = String> {
    pub version: u64,
    pub value: Option<V>,
}

impl<V> Default for RegisterState<V> {
    fn default() -> Self {
        RegisterState { version: 0, value: None }
    }
}

impl<V: Clone + PartialEq> RegisterState<V> {
    /// A key that was never written.
    pub fn initial() -> Self {
        Self::default()
    }

    /// Runs `kind` against this state: the next state and what a correct store answers.
    pub fn apply(&self, kind: &OpKind<V>) -> (Self, Output<V>) {
        match kind {
            OpKind::Write { value } => self.write(value),
            OpKind::Cas { expected_version, value } if *expected_version == self.version => {
                self.write(value)
            }
            OpKind::Cas { .. } => {
                (self.clone(), Output::CasMismatch { actual: Some(self.version) })
            }
            OpKind::Read => (self.clone(), Output::Read { found: self.read() }),
        }
    }

    fn write(&self, value: &V) -> (Self, Output<V>) {
        let version = self.version + 1;
        (RegisterState { version, value: Some(value.clone()) }, Output::Written { version })
    }

    /// What a read answers in this state.
    pub fn read(&self) -> Option<Versioned<V>> {
        self.value.clone().map(|value| Versioned { version: self.version, value })
    }

    /// Whether `kind` can take effect in this state with the `observed` output (`None`: not
    /// known, agrees with anything); if so, the state after it.
    pub fn step(&self, kind: &OpKind<V>, observed: Option<&Output<V>>) -> Option<Self> {
        let (next, output) = self.apply(kind);
        match observed {
            Some(seen) if !seen.agrees_with(&output) => None,
            _ => Some(next),
        }
    }
}

impl<V: fmt::Debug> fmt::Display for RegisterState<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "version {} = {v:?}", self.version),
            None if self.version == 0 => write!(f, "never written"),
            None => write!(f, "version {} (no value)", self.version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type S = RegisterState<String>;

    fn w(v: &str) -> OpKind {
        OpKind::Write { value: v.into() }
    }
    fn cas(e: u64, v: &str) -> OpKind {
        OpKind::Cas { expected_version: e, value: v.into() }
    }
    fn found(version: u64, v: &str) -> Output {
        Output::Read { found: Some(Versioned { version, value: v.into() }) }
    }

    #[test]
    fn write_bumps_version_and_answers_it() {
        let s = S::initial();
        assert_eq!(s.read(), None);
        let (s1, o1) = s.apply(&w("a"));
        assert_eq!(o1, Output::Written { version: 1 });
        let (s2, o2) = s1.apply(&w("a"));
        assert_eq!(o2, Output::Written { version: 2 });
        assert_eq!(s2, RegisterState { version: 2, value: Some("a".to_string()) });
        assert_eq!(s2.apply(&OpKind::Read).1, found(2, "a"));
    }

    #[test]
    fn cas_applies_only_on_the_expected_version() {
        let s = S::initial();
        // cas 0: only if never written.
        let (s1, o) = s.apply(&cas(0, "a"));
        assert_eq!(o, Output::Written { version: 1 });
        let (same, o) = s1.apply(&cas(0, "b"));
        assert_eq!(o, Output::CasMismatch { actual: Some(1) });
        assert_eq!(same, s1);
        let (s2, o) = s1.apply(&cas(1, "c"));
        assert_eq!(o, Output::Written { version: 2 });
        assert_eq!(s2.read(), Some(Versioned { version: 2, value: "c".into() }));
        assert_eq!(s2.apply(&cas(5, "d")).1, Output::CasMismatch { actual: Some(2) });
    }

    #[test]
    fn step_checks_the_observed_output() {
        let s = S::initial().apply(&w("a")).0;
        assert!(s.step(&OpKind::Read, Some(&found(1, "a"))).is_some());
        assert!(s.step(&OpKind::Read, Some(&found(1, "b"))).is_none());
        assert!(s.step(&OpKind::Read, Some(&found(2, "a"))).is_none());
        assert!(s.step(&OpKind::Read, Some(&Output::Read { found: None })).is_none());
        assert!(s.step(&w("b"), Some(&Output::Written { version: 2 })).is_some());
        assert!(s.step(&w("b"), Some(&Output::Written { version: 3 })).is_none());
        // A mismatch whose actual version is not known agrees with any mismatch, not with success.
        assert!(s.step(&cas(0, "b"), Some(&Output::CasMismatch { actual: None })).is_some());
        assert!(s.step(&cas(0, "b"), Some(&Output::CasMismatch { actual: Some(0) })).is_none());
        assert!(s.step(&cas(1, "b"), Some(&Output::CasMismatch { actual: None })).is_none());
        // Unknown output: always possible, and the effect still happens.
        assert_eq!(s.step(&w("z"), None).unwrap().version, 2);
        assert_eq!(s.step(&cas(3, "z"), None).unwrap(), s);
    }

    #[test]
    fn generic_over_the_value() {
        let s: RegisterState<u32> = RegisterState::initial();
        let s = s.step(&OpKind::Write { value: 7 }, Some(&Output::Written { version: 1 })).unwrap();
        assert_eq!(s.read(), Some(Versioned { version: 1, value: 7 }));
        assert_eq!(s.to_string(), "version 1 = 7");
        assert_eq!(RegisterState::<u32>::initial().to_string(), "never written");
    }
}
