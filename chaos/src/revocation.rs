//! "A revoked token is never accepted after its revoke was acknowledged."
//!
//! Revoking is acknowledged by a write that committed through Raft, and every node makes its
//! state current before authenticating (`docs/api.md`, Authentication), so once a client has
//! seen the revoke succeed, no node may accept the credential again. Revocation also reaches
//! down the issuing chain: revoking a token revokes every token it issued, and revoking an agent
//! revokes its key and all its tokens. So a credential counts as revoked from the earliest
//! acknowledged revoke of itself or of any ancestor ([`Issued::parent`]).
//!
//! A use is a violation when it was *accepted* and *invoked strictly after* that instant. A use
//! invoked before the revoke was acknowledged is concurrent with it and may go either way; a
//! refused use or one whose outcome is unknown proves nothing.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// `token` was issued by `parent` (a token or an agent), so revoking the parent revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    pub token: String,
    pub parent: Option<String>,
}

/// A revoke of `token` (a token or an agent) whose success the client saw at `acked_at` (ns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub token: String,
    pub acked_at: u64,
}

/// A request made with `token`, invoked at `invoke` (ns); `accepted` when the node let it
/// through (anything but 401).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUse {
    pub token: String,
    pub invoke: u64,
    pub accepted: bool,
}

/// Everything recorded about credentials during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHistory {
    pub issued: Vec<Issued>,
    pub revoked: Vec<Revoked>,
    pub uses: Vec<TokenUse>,
}

/// A credential accepted after its (or an ancestor's) revoke was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationViolation {
    pub token: String,
    /// When the accepted use was invoked.
    pub used_at: u64,
    /// The revoked credential: `token` itself or an ancestor.
    pub revoked: String,
    pub revoke_acked_at: u64,
}

impl fmt::Display for RevocationViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} was accepted at {} ns, after ", self.token, self.used_at)?;
        if self.revoked == self.token {
            write!(f, "it")?;
        } else {
            write!(f, "its ancestor {}", self.revoked)?;
        }
        write!(f, " was revoked (acknowledged at {} ns)", self.revoke_acked_at)
    }
}

impl TokenHistory {
    /// The earliest acknowledged revoke that covers `token`: (credential revoked, when).
    fn revoked_since(
        &self,
        token: &str,
        parents: &HashMap<&str, &str>,
        acks: &HashMap<&str, u64>,
    ) -> Option<(String, u64)> {
        let mut best: Option<(String, u64)> = None;
        let mut seen = HashSet::new();
        let mut current = Some(token);
        while let Some(t) = current {
            if !seen.insert(t) {
                break; // a cycle in bad input: stop rather than loop
            }
            if let Some(&at) = acks.get(t) {
                if best.as_ref().is_none_or(|(_, b)| at < *b) {
                    best = Some((t.to_string(), at));
                }
            }
            current = parents.get(t).copied();
        }
        best
    }

    /// Every accepted use after an acknowledged revoke covering it, in use order.
    pub fn check(&self) -> Vec<RevocationViolation> {
        let parents: HashMap<&str, &str> = self
            .issued
            .iter()
            .filter_map(|i| i.parent.as_deref().map(|p| (i.token.as_str(), p)))
            .collect();
        let mut acks: HashMap<&str, u64> = HashMap::new();
        for r in &self.revoked {
            let at = acks.entry(r.token.as_str()).or_insert(r.acked_at);
            *at = (*at).min(r.acked_at);
        }
        self.uses
            .iter()
            .filter(|u| u.accepted)
            .filter_map(|u| {
                let (revoked, at) = self.revoked_since(&u.token, &parents, &acks)?;
                (u.invoke > at).then(|| RevocationViolation {
                    token: u.token.clone(),
                    used_at: u.invoke,
                    revoked,
                    revoke_acked_at: at,
                })
            })
            .collect()
    }
}

/// Shorthand for [`TokenHistory::check`].
pub fn check_revocations(history: &TokenHistory) -> Vec<RevocationViolation> {
    history.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(token: &str, invoke: u64, accepted: bool) -> TokenUse {
        TokenUse { token: token.into(), invoke, accepted }
    }
    fn revoked(token: &str, acked_at: u64) -> Revoked {
        Revoked { token: token.into(), acked_at }
    }
    fn issued(token: &str, parent: Option<&str>) -> Issued {
        Issued { token: token.into(), parent: parent.map(Into::into) }
    }

    #[test]
    fn accepted_after_the_ack_is_a_violation() {
        let h = TokenHistory {
            issued: vec![],
            revoked: vec![revoked("t", 100)],
            uses: vec![
                used("t", 50, true),   // before: fine
                used("t", 100, true),  // at the ack instant: concurrent, fine
                used("t", 101, false), // refused: fine
                used("t", 150, true),  // violation
                used("u", 200, true),  // never revoked
            ],
        };
        let v = h.check();
        assert_eq!(
            v,
            vec![RevocationViolation {
                token: "t".into(),
                used_at: 150,
                revoked: "t".into(),
                revoke_acked_at: 100
            }]
        );
        assert_eq!(
            v[0].to_string(),
            "t was accepted at 150 ns, after it was revoked (acknowledged at 100 ns)"
        );
    }

    #[test]
    fn revoking_an_ancestor_revokes_the_chain() {
        let h = TokenHistory {
            issued: vec![
                issued("agent", None),
                issued("t1", Some("agent")),
                issued("t2", Some("t1")),
                issued("other", Some("agent2")),
            ],
            revoked: vec![revoked("t2", 500), revoked("agent", 300), revoked("t1", 400)],
            uses: vec![used("t2", 350, true), used("t1", 250, true), used("other", 1000, true)],
        };
        let v = h.check();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].revoked, "agent");
        assert_eq!(v[0].revoke_acked_at, 300);
        assert!(v[0].to_string().contains("its ancestor agent"), "{}", v[0]);
    }

    #[test]
    fn earliest_of_repeated_revokes_counts() {
        let h = TokenHistory {
            issued: vec![],
            revoked: vec![revoked("t", 200), revoked("t", 100)],
            uses: vec![used("t", 150, true)],
        };
        assert_eq!(check_revocations(&h).len(), 1);
    }

    #[test]
    fn cycles_in_bad_input_terminate() {
        let h = TokenHistory {
            issued: vec![issued("a", Some("b")), issued("b", Some("a"))],
            revoked: vec![revoked("b", 10)],
            uses: vec![used("a", 20, true)],
        };
        assert_eq!(h.check().len(), 1);
    }

    #[test]
    fn serializes() {
        let h = TokenHistory {
            issued: vec![issued("t", Some("agent"))],
            revoked: vec![revoked("agent", 1)],
            uses: vec![used("t", 2, true)],
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<TokenHistory>(&json).unwrap(), h);
    }
}
