//! The replicated command set: what a Raft entry asks the state machine to do, and what it
//! answered.
//!
//! ```text
//!  service ──Request{id, leader time, Command}──> raft log ──> state::apply ──> Applied{Response}
//! ```
//!
//! This module sits above the domain modules: a [`Command`] carries their payloads
//! (`secrets::PutSecret`, `identity::NewAgent`, `approvals::NewApproval`, …), and their apply
//! functions' refusals convert into a [`Rejection`] here. The domain modules import nothing of
//! it, nor of `raft/`.
//!
//! Commands hold ciphertext and hashes only: values are encrypted before they are proposed,
//! so the Raft log and every follower's sled hold no plaintext. Every field the state machine
//! needs to be deterministic (time, versions, random bytes) is decided before proposing.
//! Variants and fields keep their order for ever (postcard encodes by index); a new command is
//! appended after the last one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::approvals::{ApprovalPolicyRecord, NewApproval, NewDecision};
use crate::identity::{NewAgent, NewToken, TokenPolicyRecord};
use crate::posture::engine::NewIgnore;
use crate::seal::SealConfig;
use crate::secrets::{PutSecret, PutSecretV1, Tier};

/// One replicated write: who asked (request id), when (leader time) and what.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    /// Idempotency key: a second entry with the same id returns the first one's response.
    pub request_id: [u8; 16],
    /// Leader wall-clock time when the command was proposed, ms since the Unix epoch.
    pub time_ms: u64,
    pub cmd: Command,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Request({}, t={}, {})",
            hex::encode(self.request_id),
            self.time_ms,
            self.cmd.name()
        )
    }
}

/// What the state machine can do.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Command {
    /// Initializes the cluster once: seal config, sealed keyring and root token hash.
    Init { seal: SealConfig, sealed_keyring: Vec<u8>, root_token_hash: [u8; 32] },
    /// The first form of a secret write, kept so that log entries written by earlier releases
    /// still decode and apply as they did (any tier change allowed). Never proposed now.
    PutSecretV1(PutSecretV1),
    /// Soft-deletes the latest version of `path`.
    DeleteLatest { path: String },
    /// Destroys the ciphertext of one version of `path`.
    DestroyVersion { path: String, version: u64 },
    /// Registers an agent with the hash of its key.
    CreateAgent(NewAgent),
    /// Replaces an agent's key hash; the old key stops working.
    RotateAgentKey { id: [u8; 16], key_hash: [u8; 32] },
    /// Revokes an agent: its key and every token derived from it stop working.
    RevokeAgent { id: [u8; 16] },
    /// Records a token (only its hash) with its scopes and leader-stamped expiry.
    IssueToken(NewToken),
    /// Revokes one token by accessor.
    RevokeToken { accessor: [u8; 16] },
    /// Sets the TTL rules for tokens.
    SetTokenPolicy(TokenPolicyRecord),
    /// Replaces the root token's hash (`None` revokes the root token).
    SetRootToken { hash: Option<[u8; 32]> },
    /// Carries the leader's clock when nothing else is written, so followers judge expiry
    /// against leader time.
    Tick,
    /// Sets the approval policy.
    SetApprovalPolicy(ApprovalPolicyRecord),
    /// Opens (or re-uses) an approval request for a gated read.
    OpenApproval(NewApproval),
    /// One approver's decision on a request.
    DecideApproval(NewDecision),
    /// Adds a data-key term: the whole keyring, re-sealed under the root key. Old terms stay
    /// to decrypt old versions.
    RotateKeyring { term: u32, sealed_keyring: Vec<u8> },
    /// Replaces the seal config: the same root key under a new unseal key (new shares).
    Rekey { seal: SealConfig },
    /// Replaces every state-machine tree with a backup's (opened and checked by the
    /// proposer). `into_uninitialized`: refused if the cluster was initialized meanwhile.
    /// The cluster's own membership and applied position are kept.
    Restore { into_uninitialized: bool, trees: Vec<crate::storage::TreeCopy> },
    /// Writes `version` of `path` (it must be the latest version + 1), judging at apply any
    /// lowering of the path's tier against what the proposer authorized.
    PutSecret(PutSecret),
    /// Removes tokens that are dead (expired, revoked, or of a revoked agent) since before
    /// `dead_before_ms`, with their credentials; each is checked again at apply.
    SweepTokens { accessors: Vec<[u8; 16]>, dead_before_ms: u64 },
    /// Turns auto-unseal on (the root key wrapped by an HSM key) or off (`None`: back to
    /// Shamir unseal shares). The seal config and the data are untouched.
    SetAutoSeal { auto: Option<crate::seal::AutoSeal> },
    /// Suppresses one `ass doctor` finding by its id with a reason (`None` lifts the
    /// suppression); stamped with the apply's leader time.
    IgnoreFinding { id: String, ignore: Option<NewIgnore> },
}

impl Command {
    /// Whether applying this can change who is allowed what (credentials, tokens, agents,
    /// root, policies, keys, the whole state): such an apply bumps the identity generation,
    /// which invalidates the auth cache. Only the secret data commands, approvals' own
    /// requests/decisions and ticks leave it (tokens' expiry is checked per request).
    pub fn may_change_identity(&self) -> bool {
        !matches!(
            self,
            Command::PutSecret(_)
                | Command::PutSecretV1(_)
                | Command::DeleteLatest { .. }
                | Command::DestroyVersion { .. }
                | Command::Tick
                | Command::OpenApproval(_)
                | Command::DecideApproval(_)
                | Command::IgnoreFinding { .. }
        )
    }

    /// What a request id is bound to: the kind of command and its target. A retry of the
    /// same call matches (even re-encrypted, or with a fresh token); another call reusing the
    /// id does not.
    pub fn dedupe_key(&self) -> String {
        let target = match self {
            Command::PutSecret(p) => p.path.clone(),
            Command::PutSecretV1(p) => p.path.clone(),
            Command::DeleteLatest { path } => path.clone(),
            Command::DestroyVersion { path, version } => format!("{path}@{version}"),
            Command::CreateAgent(a) => a.name.clone(),
            Command::RotateAgentKey { id, .. } | Command::RevokeAgent { id } => hex::encode(id),
            Command::RevokeToken { accessor } => hex::encode(accessor),
            Command::Init { .. }
            | Command::IssueToken(_)
            | Command::SetTokenPolicy(_)
            | Command::SetRootToken { .. }
            | Command::Tick
            | Command::SetApprovalPolicy(_)
            | Command::SweepTokens { .. } => String::new(),
            Command::OpenApproval(a) => a.path.clone(),
            Command::RotateKeyring { term, .. } => term.to_string(),
            Command::Rekey { .. } | Command::Restore { .. } | Command::SetAutoSeal { .. } => {
                String::new()
            }
            Command::DecideApproval(d) => hex::encode(d.id),
            Command::IgnoreFinding { id, .. } => id.clone(),
        };
        format!("{}:{target}", self.name())
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Init { .. } => "init",
            // One name for both forms: a retry is the same call whichever form carried it.
            Command::PutSecret(_) | Command::PutSecretV1(_) => "put_secret",
            Command::DeleteLatest { .. } => "delete_latest",
            Command::DestroyVersion { .. } => "destroy_version",
            Command::CreateAgent(_) => "create_agent",
            Command::RotateAgentKey { .. } => "rotate_agent_key",
            Command::RevokeAgent { .. } => "revoke_agent",
            Command::IssueToken(_) => "issue_token",
            Command::RevokeToken { .. } => "revoke_token",
            Command::SetTokenPolicy(_) => "set_token_policy",
            Command::SetRootToken { .. } => "set_root_token",
            Command::Tick => "tick",
            Command::SetApprovalPolicy(_) => "set_approval_policy",
            Command::OpenApproval(_) => "open_approval",
            Command::DecideApproval(_) => "decide_approval",
            Command::RotateKeyring { .. } => "rotate_keyring",
            Command::Rekey { .. } => "rekey",
            Command::Restore { .. } => "restore",
            Command::SweepTokens { .. } => "sweep_tokens",
            Command::SetAutoSeal { .. } => "set_auto_seal",
            Command::IgnoreFinding { .. } => "ignore_finding",
        }
    }
}

/// What applying one entry produced: the response and the log index it was first applied at
/// (a retried request id answers with the original index).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Applied {
    pub index: u64,
    pub response: Response,
    /// This is the remembered answer to an earlier entry with the same request id.
    #[serde(default)]
    pub replayed: bool,
}

/// The state machine's answer to one command. Rejections are deterministic outcomes, the same
/// on every node, not failures of the node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Response {
    #[default]
    Ok,
    Written {
        version: u64,
    },
    Deleted {
        version: u64,
        destroyed: bool,
    },
    /// The approval request a gated read opened or re-used.
    Approval {
        id: [u8; 16],
    },
    Rejected(Rejection),
    /// How many dead tokens a sweep removed.
    Swept {
        tokens: u64,
    },
}

/// Why a command changed nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Rejection {
    AlreadyInitialized,
    NotInitialized,
    /// CAS expectation failed: the latest version is `actual`.
    CasMismatch {
        expected: u64,
        actual: u64,
    },
    /// The proposer computed a version that is no longer next (a concurrent write won);
    /// the leader re-encrypts and proposes again.
    VersionConflict {
        latest: u64,
    },
    NotFound,
    VersionNotFound {
        version: u64,
    },
    AlreadyDeleted,
    /// An agent with this name exists.
    NameTaken,
    /// The agent or token is already revoked.
    AlreadyRevoked,
    /// The agent a token would derive from is revoked.
    AgentRevoked,
    /// The request id was used before for a different call.
    RequestIdReused,
    /// The decider is not in the policy's approver list.
    NotAnApprover,
    /// The decider made the request.
    SelfApproval,
    /// The request timed out.
    ApprovalExpired,
    /// The request was already approved or denied.
    ApprovalClosed,
    /// This approver already decided on this request.
    AlreadyDecided,
    /// Another rotation changed the keyring first.
    KeyringChanged,
    /// The write would lower the path's tier (now `current`) without the authority to.
    TierDowngradeDenied {
        current: Tier,
    },
}

impl From<crate::secrets::Refusal> for Rejection {
    fn from(r: crate::secrets::Refusal) -> Self {
        use crate::secrets::Refusal as R;
        match r {
            R::CasMismatch { expected, actual } => Rejection::CasMismatch { expected, actual },
            R::VersionConflict { latest } => Rejection::VersionConflict { latest },
            R::TierDowngradeDenied { current } => Rejection::TierDowngradeDenied { current },
            R::NotFound => Rejection::NotFound,
            R::VersionNotFound { version } => Rejection::VersionNotFound { version },
            R::AlreadyDeleted => Rejection::AlreadyDeleted,
        }
    }
}

impl From<crate::identity::Refusal> for Rejection {
    fn from(r: crate::identity::Refusal) -> Self {
        use crate::identity::Refusal as R;
        match r {
            R::NameTaken => Rejection::NameTaken,
            R::NotFound => Rejection::NotFound,
            R::AlreadyRevoked => Rejection::AlreadyRevoked,
            R::AgentRevoked => Rejection::AgentRevoked,
        }
    }
}

impl From<crate::approvals::Refusal> for Rejection {
    fn from(r: crate::approvals::Refusal) -> Self {
        use crate::approvals::Refusal as R;
        match r {
            R::NotFound => Rejection::NotFound,
            R::NotAnApprover => Rejection::NotAnApprover,
            R::SelfApproval => Rejection::SelfApproval,
            R::ApprovalExpired => Rejection::ApprovalExpired,
            R::ApprovalClosed => Rejection::ApprovalClosed,
            R::AlreadyDecided => Rejection::AlreadyDecided,
        }
    }
}

impl From<crate::seal::Refusal> for Rejection {
    fn from(r: crate::seal::Refusal) -> Self {
        use crate::seal::Refusal as R;
        match r {
            R::AlreadyInitialized => Rejection::AlreadyInitialized,
            R::KeyringChanged => Rejection::KeyringChanged,
        }
    }
}
