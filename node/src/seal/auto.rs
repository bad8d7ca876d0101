//! Auto-unseal at run time: a sealed node whose cluster has an [`AutoSeal`] unwraps the root
//! key with its HSM and unseals itself — at start, after catching up on a restore or a
//! migration, with no operator. And `seal migrate`: moving between Shamir unseal shares and
//! auto-unseal without re-encrypting anything.
//!
//! ```text
//!  every 200 ms while sealed:  seal.auto_seal() ──HSM unwrap──> root ──open──> keyring ──> unsealed
//!  migrate to pkcs11:  T unseal shares ──> root ──HSM wrap──> SetAutoSeal(Some)   (shares → recovery keys)
//!  migrate to shamir:  T recovery shares ──> root (checked) ──> SetAutoSeal(None) (recovery → unseal keys)
//! ```
//!
//! The Shamir shares open the same sealed root key in both modes, which is why a migration
//! touches nothing but the [`AutoSeal`] record.
//!
//! A service-level file, like [`super::service`] (which calls [`wrap_for`] for init and
//! migrate): it drives the node's [`super::state::SealState`] from the applied records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::AutoSeal;
use crate::crypto::{Barrier, Keyring};
use crate::node::Node;

/// How often a sealed node looks for an auto-unseal record.
const POLL: Duration = Duration::from_millis(200);
/// Failures are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// Why one auto-unseal attempt did not unseal.
#[derive(Debug, thiserror::Error)]
pub enum AutoUnsealError {
    #[error("this cluster auto-unseals with {kind} (key `{key_label}`), but this node has no [seal] type = \"pkcs11\": configure it, or hand in recovery keys with `ass operator unseal`")]
    NoHsm { kind: String, key_label: String },
    #[error("HSM: {0}")]
    Hsm(#[from] super::pkcs11::HsmError),
    #[error("the HSM-unwrapped root key does not open the keyring: {0}")]
    Keyring(crate::crypto::CryptoError),
    #[error("state: {0}")]
    State(#[from] crate::storage::StorageError),
}

/// Unseals `node` from its cluster's auto-unseal record. `Ok(false)`: nothing to do.
pub fn try_unseal(node: &Node) -> Result<bool, AutoUnsealError> {
    let seal = node.seal();
    if !seal.is_sealed() || seal.sealed_by_request() {
        return Ok(false);
    }
    let Some(auto) = seal.reader().auto_seal()? else {
        return Ok(false);
    };
    let hsm = seal.hsm().ok_or_else(|| AutoUnsealError::NoHsm {
        kind: auto.kind.clone(),
        key_label: auto.key_label.clone(),
    })?;
    let Some(sealed_keyring) = seal.reader().sealed_keyring()? else {
        return Ok(false);
    };
    let root = hsm.unwrap(&auto.wrapped_root_key)?;
    let keyring = Keyring::open_with(&root, &sealed_keyring).map_err(AutoUnsealError::Keyring)?;
    node.set_barrier(Some(Barrier::new(root, keyring)));
    tracing::info!(hsm = %hsm.name, "node unsealed by the HSM (auto-unseal)");
    Ok(true)
}

/// Runs for the node's life: unseals it whenever it is sealed and its cluster auto-unseals.
pub async fn keep_unsealed(node: Arc<Node>) {
    let mut last_log: Option<Instant> = None;
    loop {
        if let Err(e) = try_unseal(&node) {
            if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                tracing::error!(error = %e, "auto-unseal failed; the node stays sealed");
                last_log = Some(Instant::now());
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The record that turns auto-unseal on with `node`'s HSM for `root`.
pub fn wrap_for(
    node: &Node,
    root: &crate::crypto::Key,
) -> Result<Option<AutoSeal>, super::pkcs11::HsmError> {
    let Some(hsm) = node.seal().hsm() else { return Ok(None) };
    Ok(Some(AutoSeal {
        kind: "pkcs11".into(),
        key_label: hsm.key_label.clone(),
        wrapped_root_key: hsm.wrap(root)?,
    }))
}
