//! The identity records: what is stored and replicated (agents, tokens, the token policy,
//! the credential index) and the commands' payloads. Plain data; the rules over them are in
//! [`super::engine`].

use serde::{Deserialize, Serialize};

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

/// What a credential hash belongs to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum CredentialRef {
    Agent([u8; 16]),
    Token([u8; 16]),
}

/// An id in the API's form (uuid, with or without dashes).
pub fn parse_id(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

/// The API's form of an id.
pub fn format_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).to_string()
}
