//! Wire types of the HTTP API, shared by the node (which serves them) and every client
//! (CLI, chaos, benches, users of the Rust SDK). Everything here is plain serde data:
//! no I/O, no crypto. A field added later must be optional so old clients keep working.

use serde::{Deserialize, Serialize};

/// Header carrying the Raft log index a write committed at.
pub const HEADER_INDEX: &str = "x-ass-index";
/// Header asking for a read consistency: `linearizable` (default) or `stale`.
pub const HEADER_CONSISTENCY: &str = "x-ass-consistency";
/// Header asking a read to wait until this log index is applied (read-your-writes).
pub const HEADER_MIN_INDEX: &str = "x-ass-min-index";
/// Header carrying the idempotency key of a write; a retry with the same id is applied once.
pub const HEADER_REQUEST_ID: &str = "x-ass-request-id";

/// Largest secret value the API accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Largest secret path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// Body of every error answer: a stable machine code plus a sentence for people.
///
/// `error` is one of the [`ErrorCode`](crate::ErrorCode)s (see `docs/api.md`, "Errors"); a
/// code this client does not know is kept as [`ErrorCode::Unknown`](crate::ErrorCode::Unknown).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: crate::ErrorCode,
    pub message: String,
    /// API base URL of the current leader, when the error is about leadership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The approval request a gated read opened or re-used (`approval_required`,
    /// `approval_denied`, `approval_expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
}

/// `POST /v1/sys/init`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// Number of unseal key shares to make (default 5, 1..=255).
    #[serde(default)]
    pub shares: Option<u8>,
    /// Shares needed to unseal (default 3, 1..=shares).
    #[serde(default)]
    pub threshold: Option<u8>,
}

/// Answer to init: shown once, never stored by the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitResponse {
    /// Unseal key shares, base64 (recovery keys when `recovery_keys` is true).
    pub keys: Vec<String>,
    pub shares: u8,
    pub threshold: u8,
    pub root_token: String,
    /// `true`: the cluster auto-unseals (an HSM wraps the root key) and `keys` are recovery
    /// keys: needed for generate-root, rekey and seal migration, never for a restart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovery_keys: bool,
}

/// `POST /v1/sys/seal/migrate`: one share towards moving the cluster to `to` (`pkcs11`:
/// auto-unseal with the node's HSM, from unseal shares; `shamir`: back to unseal shares,
/// from recovery shares), or `reset: true`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealMigrateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// Answer to `POST /v1/sys/seal/migrate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealMigrateResponse {
    /// Shares held on this node towards the migration (0 once it is done).
    pub progress: u8,
    pub threshold: u8,
    /// The cluster's seal now: `shamir` or `pkcs11`.
    pub seal_type: String,
    /// `true` on the call that completed the migration.
    pub migrated: bool,
}

/// `POST /v1/sys/unseal`: one share, or `reset: true` to forget the shares given so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// `GET /v1/sys/status`, also the answer to unseal and seal. Describes this node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealStatus {
    pub initialized: bool,
    pub sealed: bool,
    /// Shares handed in so far on this node.
    pub progress: u8,
    pub threshold: u8,
    pub shares: u8,
    pub node_id: u64,
    pub leader_id: Option<u64>,
    /// API base URL of the leader this node knows of.
    pub leader_api: Option<String>,
    pub term: u64,
    pub applied_index: u64,
    /// Last log index covered by this node's snapshot (0: none yet).
    #[serde(default)]
    pub snapshot_index: u64,
    /// Last log index purged from this node's log (0: none).
    #[serde(default)]
    pub purged_index: u64,
    pub version: String,
    /// The cluster's seal: `shamir` (unseal shares) or `pkcs11` (auto-unseal; the shares
    /// are recovery keys). Empty from older nodes.
    #[serde(default)]
    pub seal_type: String,
}

/// Sensitivity tier of a secret; the approval policy says what each needs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Standard,
    Sensitive,
    Critical,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Sensitive => "sensitive",
            Tier::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Tier::Standard),
            "sensitive" => Ok(Tier::Sensitive),
            "critical" => Ok(Tier::Critical),
            other => {
                Err(format!("unknown tier `{other}`: expected standard, sensitive or critical"))
            }
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `PUT /v1/secrets/{path}`: writes a new version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecretRequest {
    pub value: String,
    /// Free-form kind of credential (`api_key`, `password`, …); kept from the last write if absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Kept from the last write if absent; `standard` for a new path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Check-and-set: the write succeeds only if the latest version is this one (0: path must not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<u64>,
}

/// Answer to a write: the version it made and the log index it committed at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WriteResponse {
    pub path: String,
    pub version: u64,
    pub index: u64,
}

/// `GET /v1/secrets/{path}`: one version with its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretResponse {
    pub path: String,
    pub version: u64,
    pub value: String,
    #[serde(rename = "type")]
    pub secret_type: String,
    pub tier: Tier,
    /// RFC 3339, when this version was written (leader time).
    pub created_at: String,
}

/// Metadata of a secret path: never its value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretMetadata {
    pub path: String,
    pub latest_version: u64,
    #[serde(rename = "type")]
    pub secret_type: String,
    pub tier: Tier,
    pub created_at: String,
    pub updated_at: String,
    /// The latest version is soft-deleted.
    pub deleted: bool,
}

/// `GET /v1/secrets?prefix=…`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse {
    pub secrets: Vec<SecretMetadata>,
}

/// One version in `GET /v1/secrets/{path}/versions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: u64,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    pub destroyed: bool,
    /// Data-key term this version is encrypted with (absent once destroyed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_term: Option<u32>,
    /// The tier a read of this version is gated by: the higher of the tier it was written
    /// with and the path's tier now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

/// `GET /v1/secrets/{path}/versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionsResponse {
    #[serde(flatten)]
    pub metadata: SecretMetadata,
    pub versions: Vec<VersionInfo>,
}

/// Answer to `DELETE /v1/secrets/{path}[?version=N]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeleteResponse {
    pub path: String,
    pub version: u64,
    /// `true` when the version's ciphertext was destroyed, `false` for a soft delete.
    pub destroyed: bool,
    pub index: u64,
}

/// One member in `GET /v1/sys/members`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub api_addr: String,
    pub cluster_addr: String,
    pub voter: bool,
    pub leader: bool,
    /// Last log index the leader knows this member has (only filled in by the leader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_index: Option<u64>,
    /// Entries this member is behind the leader's last log index (leader only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Milliseconds since this member last answered the leader's Raft RPCs (leader only;
    /// absent if it never answered since the leader started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact_ms: Option<u64>,
    /// The leader has not heard from this member within its unreachable bound (leader only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<bool>,
}

/// `GET /v1/sys/members`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersResponse {
    pub members: Vec<Member>,
}

/// `GET /v1/sys/health` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthResponse {
    pub initialized: bool,
    pub sealed: bool,
    pub standby: bool,
    pub node_id: u64,
    pub version: String,
    pub server_time_utc: String,
    /// The cluster's id, once initialized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// This node was removed from the cluster (answered 530, as Vault's
    /// `removed_from_cluster`): take it out of the load balancer and retire it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_from_cluster: bool,
}

/// Prefix of an agent key.
pub const AGENT_KEY_PREFIX: &str = "ass_";
/// Prefix of a token.
pub const TOKEN_PREFIX: &str = "asst_";

/// `POST /v1/agents`: registers one agent (one per service).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    /// Unique name, `[A-Za-z0-9_.-]`, 1–64 characters.
    pub name: String,
    /// The most this agent's tokens may ever hold.
    pub scopes: Vec<String>,
    /// CIDR ranges the agent (and every token it gets) may be used from; empty: anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allowlist: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An agent as the API shows it: never its key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// Answer to create and rotate-key: the agent key, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentKeyResponse {
    pub agent: AgentInfo,
    pub agent_key: String,
}

/// `GET /v1/agents`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListAgentsResponse {
    pub agents: Vec<AgentInfo>,
}

/// `POST /v1/tokens`: a short-lived token whose scopes lie within the caller's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenRequest {
    pub scopes: Vec<String>,
    /// `90s`, `15m`, `1h`, `8h`, `24h`…; at most the token policy's `max_ttl`.
    pub ttl: String,
    /// CIDR ranges; must lie within the agent's allowlist when it has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allowlist: Vec<String>,
    /// Why a break-glass TTL above the maximum is needed; recorded with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// A token as the API shows it: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's public id, for lookup, list and revoke.
    pub accessor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    pub scopes: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// Seconds left, by the cluster's clock, when this answer was made.
    pub ttl_remaining_secs: u64,
    /// Issued above the policy's maximum TTL with a justification.
    #[serde(default)]
    pub break_glass: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// When it stopped working by a revoke: its own, its agent's or a parent token's (see
    /// `revoked_reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// What the token is now, along its whole chain: `live`, `expired` or `revoked`.
    #[serde(default = "live")]
    pub state: String,
    /// Why a revoked token stopped: `token revoked`, `agent revoked` or
    /// `parent token revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

fn live() -> String {
    "live".to_string()
}

/// Answer to issue and refresh: the token, shown this once, and its description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueTokenResponse {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTokensResponse {
    pub tokens: Vec<TokenInfo>,
}

/// `GET/PUT /v1/policy/tokens`: TTL rules for tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenPolicy {
    /// Longest TTL a token may have (default `24h`).
    pub max_ttl: String,
    /// Whether a justification may buy a longer TTL, up to `break_glass_max_ttl`.
    #[serde(default)]
    pub break_glass: bool,
    /// Longest break-glass TTL (default `72h`).
    #[serde(default = "default_break_glass_max_ttl")]
    pub break_glass_max_ttl: String,
}

fn default_break_glass_max_ttl() -> String {
    "72h".to_string()
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            max_ttl: "24h".to_string(),
            break_glass: false,
            break_glass_max_ttl: default_break_glass_max_ttl(),
        }
    }
}

/// `POST /v1/sys/generate-root`: one unseal key share towards a new root token, or `reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRootRequest {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// Answer to generate-root: progress, and the new root token once the threshold is met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRootResponse {
    pub progress: u8,
    pub threshold: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_token: Option<String>,
}

/// Header carrying the reason a caller gives for reading an approval-gated secret.
pub const HEADER_REASON: &str = "x-ass-reason";

/// `GET/PUT /v1/policy/approvals`, in the format users already write.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicyDocument {
    pub approval_policy: ApprovalPolicy,
}

/// How many approvals each tier needs, who may give them, and how long access lasts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Rules for `standard`, `sensitive` and `critical` (a missing tier needs no approval).
    pub tiers: std::collections::BTreeMap<String, TierRule>,
    /// Named human identities (e-mail form) whose credentials may decide.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How long an approved access lasts, hours (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_hours: Option<u32>,
}

/// One tier's rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub required_approvals: u32,
    /// How long a request waits for its approvals before it expires (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_hours: Option<u32>,
}

/// One approval request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApprovalInfo {
    pub id: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_accessor: Option<String>,
    pub path: String,
    pub tier: Tier,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub required_approvals: u32,
    pub approvals: Vec<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial: Option<Decision>,
    pub requested_at: String,
    pub expires_at: String,
    /// Until when the granted access lasts, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<String>,
}

/// One approver's decision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Decision {
    pub approver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: String,
}

/// `GET /v1/approvals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListApprovalsResponse {
    pub approvals: Vec<ApprovalInfo>,
}

/// `POST /v1/approvals/{id}/approve|deny`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Answer to `POST /v1/sys/rotate`: the data-key term new writes now use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateResponse {
    pub term: u32,
    pub index: u64,
}

/// `POST /v1/sys/snapshot/restore`: a backup file and, for a new (uninitialized) cluster, a
/// threshold of the snapshot's original unseal key shares.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRestoreRequest {
    /// The whole file made by `GET /v1/sys/snapshot`, base64.
    pub snapshot: String,
    /// Original unseal key shares (base64); only needed on an uninitialized cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl std::fmt::Debug for SnapshotRestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SnapshotRestoreRequest({} bytes, {} keys REDACTED)",
            self.snapshot.len(),
            self.keys.len()
        )
    }
}

/// Answer to a restore: where it committed and what the file held.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRestoreResponse {
    /// Log index the restore committed at on this cluster.
    pub index: u64,
    /// The restored cluster's id (the snapshot's).
    pub cluster_id: String,
    /// Log index and term the snapshot was taken at on its cluster.
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    /// When it was taken (RFC 3339).
    pub snapshot_created: String,
    /// Unseal shares and threshold of the restored state (the snapshot's).
    pub threshold: u8,
    pub shares: u8,
    /// Whether the node that took the call is unsealed now (the others are unsealed with
    /// the snapshot's shares).
    pub unsealed: bool,
}

/// `POST /v1/sys/rekey`: one current unseal share towards new shares, or `reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RekeyRequest {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub reset: bool,
    /// Shares to make (default 5), read from the call that completes the threshold.
    #[serde(default)]
    pub shares: Option<u8>,
    /// Shares needed to unseal afterwards (default 3).
    #[serde(default)]
    pub threshold: Option<u8>,
}

/// Answer to rekey: progress, and the new shares (shown once) when done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RekeyResponse {
    pub progress: u8,
    pub threshold: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
}

/// `POST /v1/sys/members`: a node to add as a learner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub id: u64,
    /// `host:port` of its HTTP API.
    pub api_addr: String,
    /// `host:port` of its cluster port.
    pub cluster_addr: String,
}

/// Answer to `POST /v1/sys/step-down`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepDownResponse {
    pub old_leader: u64,
    pub new_leader: u64,
    /// How long the handover took, ms (absent from older nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_ms: Option<u64>,
}

/// `GET /v1/sys/autopilot/state` (answered by the leader): whether the cluster is healthy
/// enough to take one more node down, as Vault's `raft autopilot state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutopilotState {
    /// Every member is healthy.
    pub healthy: bool,
    /// How many voters may fail (or be restarted) with a quorum of healthy voters left.
    pub failure_tolerance: u64,
    /// `healthy` and `failure_tolerance >= 1`: restarting one more node keeps a quorum.
    pub safe_to_restart_one: bool,
    pub leader: u64,
    pub voters: Vec<u64>,
    /// Voters needed for a quorum.
    pub quorum: u64,
    /// The leader's last log index.
    pub last_index: u64,
    pub servers: Vec<AutopilotServer>,
    /// `[autopilot] cleanup_dead_servers`.
    pub cleanup_dead_servers: bool,
}

/// One member in [`AutopilotState`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutopilotServer {
    pub id: u64,
    pub api_addr: String,
    /// `leader`, `voter` or `non-voter`.
    pub status: String,
    /// Answering, unsealed, caught up (lag within `max_trailing_logs`) and heard from within
    /// the last-contact bound.
    pub healthy: bool,
    /// Whether the member answered the leader's status probe just now.
    pub reachable: bool,
    /// Sealed, as the member itself answered (absent: no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<bool>,
    /// Last log index the leader knows this member has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_index: Option<u64>,
    /// Entries behind the leader's last log index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Index this member has applied, as it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_index: Option<u64>,
    /// Milliseconds since this member last answered the leader's Raft RPCs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact_ms: Option<u64>,
    /// Why it is not healthy (empty when healthy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}
