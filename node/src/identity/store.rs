//! The identity trees: the deterministic apply of identity commands ([`IdentityTx`], no clock,
//! no randomness) and read access to applied state ([`IdentityReader`]).

use sled::transaction::TransactionalTree;

use super::engine::{judge_token, normalize_agent_name, token_state};
use super::record::{
    parse_id, AgentRecord, CredentialRef, NewAgent, NewToken, Refusal, TokenRecord, TokenState,
};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
