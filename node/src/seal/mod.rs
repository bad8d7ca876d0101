//! The seal: how the cluster's root key is split, rebuilt and held (init, unseal, seal,
//! rekey, generate-root, keyring rotation, auto-unseal and seal migration).
//!
//! ```text
//!  http/sys.rs ──> service (use cases: init, unseal, seal, status, health, generate_root,
//!                   │        revoke_root, rotate, rekey, migrate)
//!                   ├──> engine (pure: share progress, status, health code, migration rule,
//!                   │            leadership role)
//!                   ├──> shamir (key material: split, combine, seal the root key)
//!                   ├──> store (sled: SealReader, SealTx apply functions)
//!                   ├──> state (SealState: the barrier and this node's progress trackers)
//!                   └──> node.write / node.propose (Raft)
//!  auto (service level): sealed node ──HSM (pkcs11)──> root key ──> unsealed
//! ```
//!
//! [`SealConfig`] and [`AutoSeal`] are the replicated records; the root key itself lives only
//! in this node's [`SealState`] while unsealed.

use serde::{Deserialize, Serialize};

pub mod auto;
pub mod engine;
pub mod pkcs11;
pub mod service;
pub mod shamir;
pub mod state;
pub mod store;

pub use engine::{Submitted, Unlocked, UnsealProgress};
pub use shamir::{hash_token, init, rekey, root_from_shares, InitMaterial, SealError};
pub use state::SealState;
pub use store::{Refusal, SealReader, SealTx};

/// Default number of unseal shares.
pub const DEFAULT_SHARES: u8 = 5;
/// Default number of shares needed to unseal.
pub const DEFAULT_THRESHOLD: u8 = 3;
/// Prefix of the root token.
pub const ROOT_TOKEN_PREFIX: &str = "assr_";

/// Replicated description of how the cluster is sealed. Holds no usable key by itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealConfig {
    pub format: u8,
    pub shares: u8,
    pub threshold: u8,
    /// The root key, sealed under the unseal key that the shares rebuild.
    pub sealed_root_key: Vec<u8>,
}

/// Replicated auto-unseal state (`Command::SetAutoSeal`): the root key wrapped by a key in
/// an HSM. While it is set, the Shamir shares of [`SealConfig`] are *recovery* keys: needed
/// for generate-root, rekey and seal migration, never for a restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AutoSeal {
    /// The backend: `pkcs11`.
    pub kind: String,
    /// The HSM key's label (`[seal] key_label` of the node that wrapped it).
    pub key_label: String,
    /// The root key, wrapped by the HSM key.
    pub wrapped_root_key: Vec<u8>,
}
