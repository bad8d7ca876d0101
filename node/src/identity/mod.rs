//! Identity: agents (one per service), tokens derived from them, the root token, and the
//! index from a credential's hash to what it belongs to.
//!
//! Credentials are stored only as SHA-256 hashes; the plaintext exists once, in the HTTP
//! answer that hands it out. Apply functions here are deterministic (no clock, no randomness);
//! [`IdentityReader`] answers the request path's questions about applied state.
//!
//! ```text
//!  Bearer X ──sha256──> credentials[h] ──> Agent(id) ──> agents[id]
//!                                     └──> Token(acc) ──> tokens[acc] ──> parent…, agents[id]
//!  (root: h == sm_meta.root_token)
//! ```

use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

/// Why an identity command changed nothing: deterministic, the same on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an agent with this name already exists")]
    NameTaken,
    #[error("not found")]
    NotFound,
    #[error("it is already revoked")]
    AlreadyRevoked,
    /// The agent a token would derive from is revoked.
    #[error("the agent is revoked")]
    AgentRevoked,
}

/// A new agent, validated by the proposer and checked again (name taken) at apply.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewAgent {
    pub id: [u8; 16],
    pub name: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub description: Option<String>,
    pub key_hash: [u8; 32],
}

/// A new token, validated by the proposer against its parent's scopes, allowlist and the policy.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewToken {
    pub accessor: [u8; 16],
    pub token_hash: [u8; 32],
    pub agent_id: Option<[u8; 16]>,
    /// The token that issued this one (expiry and revocation follow it).
    pub parent: Option<[u8; 16]>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub expires_ms: u64,
    pub break_glass: bool,
    pub justification: Option<String>,
}

/// The name an agent is stored and compared under: an e-mail-like name (an approver's) is
/// case-folded, so `BOB@X.COM` and `bob@x.com` are one identity; any other name is kept as
/// written (and a name differing only by case from an existing one is refused at creation).
pub fn normalize_agent_name(name: &str) -> String {
    if crate::approvals::is_email(name) {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    }
}

/// Longest chain of tokens issuing tokens.
pub const MAX_TOKEN_DEPTH: usize = 8;

/// An agent as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentRecord {
    pub name: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub description: Option<String>,
    pub key_hash: [u8; 32],
    pub created_ms: u64,
    pub key_rotated_ms: Option<u64>,
    pub revoked_ms: Option<u64>,
}

/// A token as stored: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: [u8; 32],
    pub agent_id: Option<[u8; 16]>,
    pub parent: Option<[u8; 16]>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub issued_ms: u64,
    pub expires_ms: u64,
    pub break_glass: bool,
    pub justification: Option<String>,
    pub revoked_ms: Option<u64>,
}

/// Token TTL rules as stored and replicated (the API's `TokenPolicy` is its text form).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenPolicyRecord {
    pub max_ttl_ms: u64,
    pub break_glass: bool,
    pub break_glass_max_ttl_ms: u64,
}

impl Default for TokenPolicyRecord {
    fn default() -> Self {
        Self {
            max_ttl_ms: 24 * 3_600_000,
            break_glass: false,
            break_glass_max_ttl_ms: 72 * 3_600_000,
        }
    }
}

/// How long a dead token (expired, revoked, or of a revoked agent) stays listed before the
/// leader's sweep removes it from the state machine, by default (`[auth]
/// dead_token_retention_ms`).
pub const DEAD_TOKEN_RETENTION_MS: u64 = 3_600_000;

/// Why a token stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The token itself was revoked.
    Token,
    /// Its agent was revoked (every token derived from it died with it).
    Agent,
    /// A token above it in the chain was revoked, or is gone.
    Parent,
}

impl RevokedBy {
    /// The words listings show.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedBy::Token => "token revoked",
            RevokedBy::Agent => "agent revoked",
            RevokedBy::Parent => "parent token revoked",
        }
    }
}

/// What a token is at one moment, judged along its whole chain: the state every listing
/// shows and every request obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Live,
    /// It (or a token above it) expired at `at_ms`.
    Expired {
        at_ms: u64,
    },
    Revoked {
        at_ms: u64,
        by: RevokedBy,
    },
}

impl TokenState {
    /// Since when the token has been dead, if it is.
    pub fn dead_since(&self) -> Option<u64> {
        match self {
            TokenState::Live => None,
            TokenState::Expired { at_ms } | TokenState::Revoked { at_ms, .. } => Some(*at_ms),
        }
    }
}

/// The state of `token` at `now_ms`, walking its parents and its agent through the lookups.
/// Pure: the request path, the listings and the sweep's apply all judge with this one rule.
/// Of several causes, the earliest counts; a parent that is no longer stored was swept,
/// so it died before anything still stored (`at_ms` 0).
pub fn token_state<E>(
    token: &TokenRecord,
    now_ms: u64,
    get_token: impl FnMut(&[u8; 16]) -> Result<Option<TokenRecord>, E>,
    get_agent: impl FnMut(&[u8; 16]) -> Result<Option<AgentRecord>, E>,
) -> Result<TokenState, E> {
    judge_token(token, now_ms, get_token, get_agent).map(|(state, _)| state)
}

/// [`token_state`], with the earliest expiry along the chain (what a live token's answers
/// may be cached until).
pub fn judge_token<E>(
    token: &TokenRecord,
    now_ms: u64,
    mut get_token: impl FnMut(&[u8; 16]) -> Result<Option<TokenRecord>, E>,
    mut get_agent: impl FnMut(&[u8; 16]) -> Result<Option<AgentRecord>, E>,
) -> Result<(TokenState, u64), E> {
    let mut dead: Option<TokenState> = None;
    let mut note = |state: TokenState| {
        let earlier = match (dead.and_then(|d| d.dead_since()), state.dead_since()) {
            (Some(old), Some(new)) => new < old,
            _ => true,
        };
        if earlier {
            dead = Some(state);
        }
    };
    if let Some(at_ms) = token.revoked_ms {
        note(TokenState::Revoked { at_ms, by: RevokedBy::Token });
    }
    if let Some(agent_id) = &token.agent_id {
        match get_agent(agent_id)? {
            Some(a) => {
                if let Some(at_ms) = a.revoked_ms {
                    note(TokenState::Revoked { at_ms, by: RevokedBy::Agent });
                }
            }
            None => note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Agent }),
        }
    }
    let mut expires_ms = token.expires_ms;
    let mut parent = token.parent;
    for _ in 0..MAX_TOKEN_DEPTH {
        let Some(p) = parent else { break };
        match get_token(&p)? {
            Some(t) => {
                if let Some(at_ms) = t.revoked_ms {
                    note(TokenState::Revoked { at_ms, by: RevokedBy::Parent });
                }
                expires_ms = expires_ms.min(t.expires_ms);
                parent = t.parent;
            }
            None => {
                note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent });
                break;
            }
        }
    }
    if parent.is_some() {
        // Deeper than any chain this cluster issues: refuse rather than trust the rest.
        note(TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent });
    }
    if now_ms >= expires_ms {
        note(TokenState::Expired { at_ms: expires_ms });
    }
    let state = match dead {
        Some(d) if d.dead_since().is_some_and(|at| at <= now_ms) => d,
        _ => TokenState::Live,
    };
    Ok((state, expires_ms))
}

/// What a credential hash belongs to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum CredentialRef {
    Agent([u8; 16]),
    Token([u8; 16]),
}

/// The identity trees inside one transaction.
pub struct IdentityTx<'a> {
    pub agents: &'a TransactionalTree,
    pub agent_names: &'a TransactionalTree,
    pub tokens: &'a TransactionalTree,
    pub credentials: &'a TransactionalTree,
}

impl IdentityTx<'_> {
    pub fn create_agent(&self, time_ms: u64, a: &NewAgent) -> TxResult<Result<(), Refusal>> {
        if self.agent_names.get(a.name.as_bytes())?.is_some() {
            return Ok(Err(Refusal::NameTaken));
        }
        let record = AgentRecord {
            name: a.name.clone(),
            scopes: a.scopes.clone(),
            ip_allowlist: a.ip_allowlist.clone(),
            description: a.description.clone(),
            key_hash: a.key_hash,
            created_ms: time_ms,
            key_rotated_ms: None,
            revoked_ms: None,
        };
        put_tx(self.agents, &a.id, &record)?;
        self.agent_names.insert(a.name.as_bytes(), &a.id[..])?;
        put_tx(self.credentials, &a.key_hash, &CredentialRef::Agent(a.id))?;
        Ok(Ok(()))
    }

    pub fn rotate_agent_key(
        &self,
        time_ms: u64,
        id: &[u8; 16],
        key_hash: &[u8; 32],
    ) -> TxResult<Result<(), Refusal>> {
        let Some(mut record): Option<AgentRecord> = get_tx(self.agents, id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Err(Refusal::AlreadyRevoked));
        }
        self.credentials.remove(&record.key_hash[..])?;
        record.key_hash = *key_hash;
        record.key_rotated_ms = Some(time_ms);
        put_tx(self.credentials, key_hash, &CredentialRef::Agent(*id))?;
        put_tx(self.agents, id, &record)?;
        Ok(Ok(()))
    }

    pub fn revoke_agent(&self, time_ms: u64, id: &[u8; 16]) -> TxResult<Result<(), Refusal>> {
        let Some(mut record): Option<AgentRecord> = get_tx(self.agents, id)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Err(Refusal::AlreadyRevoked));
        }
        self.credentials.remove(&record.key_hash[..])?;
        record.revoked_ms = Some(time_ms);
        put_tx(self.agents, id, &record)?;
        Ok(Ok(()))
    }

    pub fn issue_token(&self, time_ms: u64, t: &NewToken) -> TxResult<Result<(), Refusal>> {
        if let Some(agent_id) = &t.agent_id {
            let agent: Option<AgentRecord> = get_tx(self.agents, agent_id)?;
            match agent {
                None => return Ok(Err(Refusal::NotFound)),
                Some(a) if a.revoked_ms.is_some() => return Ok(Err(Refusal::AgentRevoked)),
                Some(_) => {}
            }
        }
        if let Some(parent) = &t.parent {
            let parent: Option<TokenRecord> = get_tx(self.tokens, parent)?;
            match parent {
                Some(p) if p.revoked_ms.is_none() => {}
                _ => return Ok(Err(Refusal::AlreadyRevoked)),
            }
        }
        let record = TokenRecord {
            token_hash: t.token_hash,
            agent_id: t.agent_id,
            parent: t.parent,
            scopes: t.scopes.clone(),
            ip_allowlist: t.ip_allowlist.clone(),
            issued_ms: time_ms,
            expires_ms: t.expires_ms,
            break_glass: t.break_glass,
            justification: t.justification.clone(),
            revoked_ms: None,
        };
        put_tx(self.tokens, &t.accessor, &record)?;
        put_tx(self.credentials, &t.token_hash, &CredentialRef::Token(t.accessor))?;
        Ok(Ok(()))
    }

    /// Removes each listed token that has been dead since `dead_before_ms` or earlier (judged
    /// again here, on applied state), with its credential. Answers how many were removed.
    pub fn sweep_tokens(
        &self,
        accessors: &[[u8; 16]],
        dead_before_ms: u64,
    ) -> TxResult<Result<u64, Refusal>> {
        let mut removed = 0u64;
        for accessor in accessors {
            let Some(record): Option<TokenRecord> = get_tx(self.tokens, accessor)? else {
                continue;
            };
            let state = token_state(
                &record,
                dead_before_ms,
                |id| get_tx::<TokenRecord>(self.tokens, id),
                |id| get_tx::<AgentRecord>(self.agents, id),
            )?;
            if state.dead_since().is_none_or(|at| at > dead_before_ms) {
                continue;
            }
            let credential: Option<CredentialRef> = get_tx(self.credentials, &record.token_hash)?;
            if credential == Some(CredentialRef::Token(*accessor)) {
                self.credentials.remove(&record.token_hash[..])?;
            }
            self.tokens.remove(&accessor[..])?;
            removed += 1;
        }
        Ok(Ok(removed))
    }

    pub fn revoke_token(&self, time_ms: u64, accessor: &[u8; 16]) -> TxResult<Result<(), Refusal>> {
        let Some(mut record): Option<TokenRecord> = get_tx(self.tokens, accessor)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Err(Refusal::AlreadyRevoked));
        }
        self.credentials.remove(&record.token_hash[..])?;
        record.revoked_ms = Some(time_ms);
        put_tx(self.tokens, accessor, &record)?;
        Ok(Ok(()))
    }
}

/// Read access to applied identity state, on any node.
#[derive(Clone)]
pub struct IdentityReader {
    agents: sled::Tree,
    agent_names: sled::Tree,
    tokens: sled::Tree,
    credentials: sled::Tree,
}

fn id16(bytes: &[u8]) -> Result<[u8; 16], StorageError> {
    bytes.try_into().map_err(|_| StorageError::Codec("bad 16-byte id".into()))
}

impl IdentityReader {
    pub fn new(store: &crate::storage::Store) -> Self {
        Self {
            agents: store.agents.clone(),
            agent_names: store.agent_names.clone(),
            tokens: store.tokens.clone(),
            credentials: store.credentials.clone(),
        }
    }

    pub fn credential(&self, hash: &[u8; 32]) -> Result<Option<CredentialRef>, StorageError> {
        self.credentials.get(hash)?.map(|v| decode(&v)).transpose()
    }

    pub fn agent(&self, id: &[u8; 16]) -> Result<Option<AgentRecord>, StorageError> {
        self.agents.get(id)?.map(|v| decode(&v)).transpose()
    }

    /// An agent by name, or by id in its hex or uuid form.
    pub fn find_agent(
        &self,
        name_or_id: &str,
    ) -> Result<Option<([u8; 16], AgentRecord)>, StorageError> {
        if let Some(found) = self.find_agent_by_name(name_or_id)? {
            return Ok(Some(found));
        }
        if let Some(id) = parse_id(name_or_id) {
            return Ok(self.agent(&id)?.map(|a| (id, a)));
        }
        Ok(None)
    }

    /// An agent by name: exactly, or by its normalized form ([`normalize_agent_name`]).
    pub fn find_agent_by_name(
        &self,
        name: &str,
    ) -> Result<Option<([u8; 16], AgentRecord)>, StorageError> {
        for candidate in [name.to_string(), normalize_agent_name(name)] {
            if let Some(id) = self.agent_names.get(candidate.as_bytes())? {
                let id = id16(&id)?;
                return Ok(self.agent(&id)?.map(|a| (id, a)));
            }
        }
        Ok(None)
    }

    pub fn agents(&self) -> Result<Vec<([u8; 16], AgentRecord)>, StorageError> {
        let mut out = Vec::new();
        for item in self.agent_names.iter() {
            let (_, id) = item?;
            let id = id16(&id)?;
            if let Some(a) = self.agent(&id)? {
                out.push((id, a));
            }
        }
        Ok(out)
    }

    pub fn token(&self, accessor: &[u8; 16]) -> Result<Option<TokenRecord>, StorageError> {
        self.tokens.get(accessor)?.map(|v| decode(&v)).transpose()
    }

    pub fn tokens(&self) -> Result<Vec<([u8; 16], TokenRecord)>, StorageError> {
        let mut out = Vec::new();
        for item in self.tokens.iter() {
            let (k, v) = item?;
            out.push((id16(&k)?, decode(&v)?));
        }
        Ok(out)
    }

    /// The state of one stored token at `now_ms`, along its chain and agent.
    pub fn state_of(&self, token: &TokenRecord, now_ms: u64) -> Result<TokenState, StorageError> {
        token_state(token, now_ms, |id| self.token(id), |id| self.agent(id))
    }

    /// [`judge_token`] on applied state.
    pub fn judge(
        &self,
        token: &TokenRecord,
        now_ms: u64,
    ) -> Result<(TokenState, u64), StorageError> {
        judge_token(token, now_ms, |id| self.token(id), |id| self.agent(id))
    }

    /// Number of tokens that work at `now_ms` (not expired or revoked, nor any token above
    /// them or their agent).
    pub fn live_tokens(&self, now_ms: u64) -> Result<usize, StorageError> {
        let mut live = 0;
        for (_, t) in self.tokens()? {
            if self.state_of(&t, now_ms)? == TokenState::Live {
                live += 1;
            }
        }
        Ok(live)
    }

    /// Accessors of the tokens dead since `dead_before_ms` or earlier, at most `limit`.
    pub fn sweepable(
        &self,
        dead_before_ms: u64,
        limit: usize,
    ) -> Result<Vec<[u8; 16]>, StorageError> {
        let mut out = Vec::new();
        for (accessor, t) in self.tokens()? {
            if out.len() >= limit {
                break;
            }
            if self
                .state_of(&t, dead_before_ms)?
                .dead_since()
                .is_some_and(|at| at <= dead_before_ms)
            {
                out.push(accessor);
            }
        }
        Ok(out)
    }
}

/// An id in the API's form (uuid, with or without dashes).
pub fn parse_id(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

/// The API's form of an id.
pub fn format_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn token(
        agent: Option<u8>,
        parent: Option<u8>,
        expires_ms: u64,
        revoked: Option<u64>,
    ) -> TokenRecord {
        TokenRecord {
            token_hash: [0; 32],
            agent_id: agent.map(|a| [a; 16]),
            parent: parent.map(|p| [p; 16]),
            scopes: vec![],
            ip_allowlist: vec![],
            issued_ms: 0,
            expires_ms,
            break_glass: false,
            justification: None,
            revoked_ms: revoked,
        }
    }

    fn agent(revoked: Option<u64>) -> AgentRecord {
        AgentRecord {
            name: "svc".into(),
            scopes: vec![],
            ip_allowlist: vec![],
            description: None,
            key_hash: [0; 32],
            created_ms: 0,
            key_rotated_ms: None,
            revoked_ms: revoked,
        }
    }

    fn state(
        t: &TokenRecord,
        now: u64,
        tokens: &HashMap<[u8; 16], TokenRecord>,
        agents: &HashMap<[u8; 16], AgentRecord>,
    ) -> TokenState {
        token_state::<()>(
            t,
            now,
            |id| Ok(tokens.get(id).cloned()),
            |id| Ok(agents.get(id).cloned()),
        )
        .unwrap()
    }

    /// Issue 14, item 4: what a revoke did shows in the token's own state.
    #[test]
    fn a_token_is_dead_by_its_earliest_cause() {
        let mut agents = HashMap::new();
        let mut tokens = HashMap::new();
        agents.insert([1; 16], agent(None));
        agents.insert([2; 16], agent(Some(50)));
        assert_eq!(state(&token(Some(1), None, 100, None), 99, &tokens, &agents), TokenState::Live);
        assert_eq!(
            state(&token(Some(1), None, 100, None), 100, &tokens, &agents),
            TokenState::Expired { at_ms: 100 }
        );
        assert_eq!(
            state(&token(Some(2), None, 100, None), 60, &tokens, &agents),
            TokenState::Revoked { at_ms: 50, by: RevokedBy::Agent }
        );
        // A revoke in the future of `now` (judging an older moment) is not yet a revoke.
        assert_eq!(state(&token(Some(2), None, 100, None), 40, &tokens, &agents), TokenState::Live);
        assert_eq!(
            state(&token(Some(1), None, 100, Some(30)), 200, &tokens, &agents),
            TokenState::Revoked { at_ms: 30, by: RevokedBy::Token }
        );
        // Parents: an earlier parent expiry, a revoked parent, a swept parent.
        tokens.insert([7; 16], token(Some(1), None, 80, None));
        tokens.insert([8; 16], token(Some(1), None, 500, Some(20)));
        assert_eq!(
            state(&token(Some(1), Some(7), 100, None), 90, &tokens, &agents),
            TokenState::Expired { at_ms: 80 }
        );
        assert_eq!(
            state(&token(Some(1), Some(8), 100, None), 25, &tokens, &agents),
            TokenState::Revoked { at_ms: 20, by: RevokedBy::Parent }
        );
        assert_eq!(
            state(&token(Some(1), Some(9), 100, None), 10, &tokens, &agents),
            TokenState::Revoked { at_ms: 0, by: RevokedBy::Parent }
        );
        assert_eq!(
            state(&token(Some(3), None, 100, None), 10, &tokens, &agents),
            TokenState::Revoked { at_ms: 0, by: RevokedBy::Agent }
        );
    }

    /// The sweep's apply judges every listed token again: a token that is live, or dead for
    /// less than the cut-off, stays; a dead one goes with its credential.
    #[test]
    fn the_sweep_removes_only_what_is_dead_by_the_cutoff() {
        use sled::Transactional;
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let trees: Vec<sled::Tree> =
            ["a", "n", "t", "c"].iter().map(|n| db.open_tree(n).unwrap()).collect();
        let run = |f: &dyn Fn(&IdentityTx<'_>) -> TxResult<Result<u64, Refusal>>| {
            (&trees[0], &trees[1], &trees[2], &trees[3])
                .transaction(|(a, n, t, c)| {
                    f(&IdentityTx { agents: a, agent_names: n, tokens: t, credentials: c })
                })
                .unwrap()
        };
        let new = |acc: u8, expires_ms: u64| NewToken {
            accessor: [acc; 16],
            token_hash: [acc; 32],
            agent_id: None,
            parent: None,
            scopes: vec![],
            ip_allowlist: vec![],
            expires_ms,
            break_glass: false,
            justification: None,
        };
        assert_eq!(run(&|tx| tx.issue_token(0, &new(1, 100)).map(|r| r.map(|()| 0))), Ok(0));
        assert_eq!(run(&|tx| tx.issue_token(0, &new(2, 1000)).map(|r| r.map(|()| 0))), Ok(0));
        let both = [[1u8; 16], [2u8; 16]];
        assert_eq!(run(&|tx| tx.sweep_tokens(&both, 50)), Ok(0));
        assert_eq!(run(&|tx| tx.sweep_tokens(&both, 150)), Ok(1));
        assert!(trees[2].get([1u8; 16]).unwrap().is_none());
        assert!(trees[3].get([1u8; 32]).unwrap().is_none(), "its credential went too");
        assert!(trees[2].get([2u8; 16]).unwrap().is_some());
        assert!(trees[3].get([2u8; 32]).unwrap().is_some());
    }
}
