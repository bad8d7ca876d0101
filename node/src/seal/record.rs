//! The seal's replicated records and defaults, shared by every part of `seal/`.

use serde::{Deserialize, Serialize};

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
