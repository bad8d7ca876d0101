//! Every sled tree and fixed key of the node, in one place.
//!
//! | tree              | key                         | value                              |
//! |-------------------|-----------------------------|------------------------------------|
//! | `raft_log`        | index (u64 BE)              | `Entry<TypeConfig>` (before the WAL; emptied on open) |
//! | `raft_meta`       | `vote`, `last_purged`, `committed` | the same, before the WAL    |
//! | `sm_meta`         | `last_applied`, `membership`, `seal`, `keyring`, `root_token`, `token_policy`, `leader_time`, `approval_policy`, `keyring_term`, `cluster_id`, `doctor_ignores` | see below |
//! | `secrets`         | path                        | `SecretRecord`                     |
//! | `secret_versions` | path ‖ 0x00 ‖ version (u64 BE) | `VersionRecord` (ciphertext)    |
//! | `requests`        | request id (16 bytes)       | `(time_ms, dedupe key, Applied)`   |
//! | `agents`          | agent id (16 bytes)         | `AgentRecord`                      |
//! | `agent_names`     | agent name                  | agent id (16 bytes, raw)           |
//! | `tokens`          | accessor (16 bytes)         | `TokenRecord`                      |
//! | `credentials`     | SHA-256 of a key or token   | `CredentialRef`                    |
//! | `approvals`       | approval id (16 bytes)      | `ApprovalRecord`                   |
//! | `approval_open`   | requester ‖ 0 ‖ path        | latest approval id (16 bytes, raw) |
//! | `grants`          | requester ‖ 0 ‖ path        | `GrantRecord`                      |
//! | `snapshot`        | `meta`, `data`, `entries`   | `SnapshotMeta`, snapshot bytes, u64 |
//!
//! Every value is written with [`super::encode`] (format byte + postcard).

pub const RAFT_LOG: &str = "raft_log";
pub const RAFT_META: &str = "raft_meta";
pub const SM_META: &str = "sm_meta";
pub const SECRETS: &str = "secrets";
pub const VERSIONS: &str = "secret_versions";
pub const REQUESTS: &str = "requests";
pub const SNAPSHOT: &str = "snapshot";
pub const AGENTS: &str = "agents";
pub const AGENT_NAMES: &str = "agent_names";
pub const TOKENS: &str = "tokens";
pub const CREDENTIALS: &str = "credentials";
pub const APPROVALS: &str = "approvals";
pub const APPROVAL_OPEN: &str = "approval_open";
pub const GRANTS: &str = "grants";

/// Keys of `raft_meta`, read once to move an old log into the WAL (`raft::log_store`).
pub const KEY_VOTE: &[u8] = b"vote";
pub const KEY_LAST_PURGED: &[u8] = b"last_purged";
pub const KEY_COMMITTED: &[u8] = b"committed";

pub const KEY_LAST_APPLIED: &[u8] = b"last_applied";
pub const KEY_MEMBERSHIP: &[u8] = b"membership";
pub const KEY_SEAL: &[u8] = b"seal";
/// `seal::AutoSeal`: the root key wrapped by an HSM key, while auto-unseal is on.
pub const KEY_AUTO_SEAL: &[u8] = b"auto_seal";
pub const KEY_KEYRING: &[u8] = b"keyring";
pub const KEY_ROOT_TOKEN: &[u8] = b"root_token";
pub const KEY_TOKEN_POLICY: &[u8] = b"token_policy";
pub const KEY_LEADER_TIME: &[u8] = b"leader_time";
pub const KEY_APPROVAL_POLICY: &[u8] = b"approval_policy";
pub const KEY_KEYRING_TERM: &[u8] = b"keyring_term";
/// Hex id of the cluster, fixed at init (kept by a restore).
pub const KEY_CLUSTER_ID: &[u8] = b"cluster_id";
/// The suppressed `ass doctor` findings: finding id → `IgnoreRecord` (reason, by, when), one
/// `BTreeMap` value. In `sm_meta`, so snapshots and backups carry it like the policies.
pub const KEY_DOCTOR_IGNORES: &[u8] = b"doctor_ignores";

pub const KEY_SNAPSHOT_META: &[u8] = b"meta";
pub const KEY_SNAPSHOT_DATA: &[u8] = b"data";
/// Tree entries in the current snapshot (u64), for the snapshot scheduler.
pub const KEY_SNAPSHOT_ENTRIES: &[u8] = b"entries";

/// Key of one version of a secret: `path ‖ 0x00 ‖ version BE`. Paths never hold 0x00.
pub fn version_key(path: &str, version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(path.len() + 9);
    k.extend_from_slice(path.as_bytes());
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// Prefix of every version key of `path`.
pub fn versions_prefix(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(path.len() + 1);
    k.extend_from_slice(path.as_bytes());
    k.push(0);
    k
}
