//! Secrets: path rules, the stored records, the decisions about them, and the use cases.
//!
//! ```text
//!  http/secrets.rs ──> service (access, approvals gate, barrier encrypt/decrypt, retries)
//!                        ├──> engine (pure: tiers, versions, read/delete checks)
//!                        ├──> store::SecretsReader (sled reads)
//!                        └──> node.write(PutSecret…) ──raft──> state ──> store::apply_* ──> engine
//! ```
//!
//! Records and commands hold ciphertext only: values are encrypted and decrypted by
//! [`service`] through the barrier, never below it. Apply functions are deterministic: they
//! read no clock and no keys.
//!
//! Tiers: every version keeps the tier it was written with ([`VersionRecord::tier`]), and a
//! read of version N is gated by [`effective_tier`] = max(tier of N, the path's tier now).
//! Lowering a path's tier is its own privileged act, judged at apply ([`engine::judge_put`]): a
//! later write can never release what an earlier version or grant kept behind an approval.

pub mod engine;
mod lock;
mod path;
pub mod service;
mod store;
mod tier;

pub use engine::effective_tier;
pub use lock::PathLocks;
pub use path::{validate_path, validate_prefix, PathError};
pub use store::{apply_delete_latest, apply_destroy, apply_put, SecretsReader};
pub use tier::Tier;

use serde::{Deserialize, Serialize};

use crate::storage::{decode, decode_as, encode_as, StorageError, CODEC_V1, CODEC_V2};

/// A new version of a secret, already encrypted for `(path, version)`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutSecret {
    pub path: String,
    pub version: u64,
    /// The client's check-and-set expectation, checked again at apply.
    pub cas: Option<u64>,
    pub secret_type: Option<String>,
    /// The tier the path has from this version on; `None` keeps the path's tier.
    pub tier: Option<Tier>,
    /// The highest tier the proposer authorized lowering from (the caller holds
    /// `policy:manage` and, for a gated tier, an approval). `None`: this write may not lower
    /// the tier; the apply refuses it if the path's tier is above `tier` by then.
    pub lower_from: Option<Tier>,
    pub ciphertext: Vec<u8>,
}

/// [`PutSecret`] as earlier releases wrote it (no `lower_from`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutSecretV1 {
    pub path: String,
    pub version: u64,
    pub cas: Option<u64>,
    pub secret_type: Option<String>,
    pub tier: Option<Tier>,
    pub ciphertext: Vec<u8>,
}

impl From<&PutSecretV1> for PutSecret {
    /// Earlier releases let any write set any tier: the old entry applies as it did.
    fn from(p: &PutSecretV1) -> Self {
        PutSecret {
            path: p.path.clone(),
            version: p.version,
            cas: p.cas,
            secret_type: p.secret_type.clone(),
            tier: p.tier,
            lower_from: Some(Tier::Critical),
            ciphertext: p.ciphertext.clone(),
        }
    }
}

/// Why a secret command changed nothing: deterministic, the same on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("check-and-set failed: expected version {expected}, latest is {actual}")]
    CasMismatch { expected: u64, actual: u64 },
    /// The proposer computed a version that is no longer next (a concurrent write won).
    #[error("a concurrent write made version {latest}")]
    VersionConflict { latest: u64 },
    #[error("this secret is {current}: the write may not lower its tier")]
    TierDowngradeDenied { current: Tier },
    #[error("no secret at this path")]
    NotFound,
    #[error("no version {version} at this path")]
    VersionNotFound { version: u64 },
    #[error("that version is already deleted")]
    AlreadyDeleted,
}

/// Type given to a secret written without one.
pub const DEFAULT_TYPE: &str = "generic";

/// Metadata of one path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretRecord {
    pub secret_type: String,
    pub tier: Tier,
    pub latest_version: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The latest version is soft-deleted or destroyed.
    pub latest_deleted: bool,
}

/// One version of a path. Stored as `[CODEC_V2] ‖ postcard`; records written before
/// versions kept a tier are `[CODEC_V1] ‖ postcard(VersionRecordV1)` and read with no tier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
    pub destroyed: bool,
    /// Barrier envelope bound to `(secret, path, version)`; empty once destroyed.
    pub ciphertext: Vec<u8>,
    /// The tier this version was written with. `None` only for versions written by releases
    /// that kept no tier per version: they are judged by the path's tier, and are stamped
    /// with it before the path's tier is ever lowered.
    pub tier: Option<Tier>,
}

/// The first layout of [`VersionRecord`].
#[derive(Deserialize)]
struct VersionRecordV1 {
    created_ms: u64,
    deleted_ms: Option<u64>,
    destroyed: bool,
    ciphertext: Vec<u8>,
}

impl VersionRecord {
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        encode_as(CODEC_V2, self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        if bytes.first() == Some(&CODEC_V1) {
            let v: VersionRecordV1 = decode(bytes)?;
            return Ok(VersionRecord {
                created_ms: v.created_ms,
                deleted_ms: v.deleted_ms,
                destroyed: v.destroyed,
                ciphertext: v.ciphertext,
                tier: None,
            });
        }
        decode_as(CODEC_V2, bytes)
    }
}
