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

use crate::raft::types::{NewAgent, NewToken, Rejection, Response};
use crate::state::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

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
    pub fn create_agent(&self, time_ms: u64, a: &NewAgent) -> TxResult<Response> {
        if self.agent_names.get(a.name.as_bytes())?.is_some() {
            return Ok(Response::Rejected(Rejection::NameTaken));
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
        Ok(Response::Ok)
    }

    pub fn rotate_agent_key(
        &self,
        time_ms: u64,
        id: &[u8; 16],
        key_hash: &[u8; 32],
    ) -> TxResult<Response> {
        let Some(mut record): Option<AgentRecord> = get_tx(self.agents, id)? else {
            return Ok(Response::Rejected(Rejection::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Response::Rejected(Rejection::AlreadyRevoked));
        }
        self.credentials.remove(&record.key_hash[..])?;
        record.key_hash = *key_hash;
        record.key_rotated_ms = Some(time_ms);
        put_tx(self.credentials, key_hash, &CredentialRef::Agent(*id))?;
        put_tx(self.agents, id, &record)?;
        Ok(Response::Ok)
    }

    pub fn revoke_agent(&self, time_ms: u64, id: &[u8; 16]) -> TxResult<Response> {
        let Some(mut record): Option<AgentRecord> = get_tx(self.agents, id)? else {
            return Ok(Response::Rejected(Rejection::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Response::Rejected(Rejection::AlreadyRevoked));
        }
        self.credentials.remove(&record.key_hash[..])?;
        record.revoked_ms = Some(time_ms);
        put_tx(self.agents, id, &record)?;
        Ok(Response::Ok)
    }

    pub fn issue_token(&self, time_ms: u64, t: &NewToken) -> TxResult<Response> {
        if let Some(agent_id) = &t.agent_id {
            let agent: Option<AgentRecord> = get_tx(self.agents, agent_id)?;
            match agent {
                None => return Ok(Response::Rejected(Rejection::NotFound)),
                Some(a) if a.revoked_ms.is_some() => {
                    return Ok(Response::Rejected(Rejection::AgentRevoked))
                }
                Some(_) => {}
            }
        }
        if let Some(parent) = &t.parent {
            let parent: Option<TokenRecord> = get_tx(self.tokens, parent)?;
            match parent {
                Some(p) if p.revoked_ms.is_none() => {}
                _ => return Ok(Response::Rejected(Rejection::AlreadyRevoked)),
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
        Ok(Response::Ok)
    }

    pub fn revoke_token(&self, time_ms: u64, accessor: &[u8; 16]) -> TxResult<Response> {
        let Some(mut record): Option<TokenRecord> = get_tx(self.tokens, accessor)? else {
            return Ok(Response::Rejected(Rejection::NotFound));
        };
        if record.revoked_ms.is_some() {
            return Ok(Response::Rejected(Rejection::AlreadyRevoked));
        }
        self.credentials.remove(&record.token_hash[..])?;
        record.revoked_ms = Some(time_ms);
        put_tx(self.tokens, accessor, &record)?;
        Ok(Response::Ok)
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
        if let Some(id) = self.agent_names.get(name_or_id.as_bytes())? {
            let id = id16(&id)?;
            return Ok(self.agent(&id)?.map(|a| (id, a)));
        }
        if let Some(id) = parse_id(name_or_id) {
            return Ok(self.agent(&id)?.map(|a| (id, a)));
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

    /// Number of tokens neither revoked nor expired at `now_ms`.
    pub fn live_tokens(&self, now_ms: u64) -> Result<usize, StorageError> {
        Ok(self
            .tokens()?
            .iter()
            .filter(|(_, t)| t.revoked_ms.is_none() && t.expires_ms > now_ms)
            .count())
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
