//! [`SealState`]: what this node holds of the seal — the barrier (root key and keyring)
//! while unsealed, the digest of the keyring it was loaded from, the share trackers of
//! unseal, generate-root, rekey and migrate, the HSM, the sealed-by-request flag and the
//! rotation lock. Owned by the node as one field (`Node::seal`); the use cases in
//! [`super::service`] drive it.
//!
//! ```text
//!  unsealed: barrier = Some(Barrier{root, keyring}) ──refresh_keyring──> reload if the
//!            replicated sealed keyring's SHA-256 changed (a rotation elsewhere)
//!  sealed:   barrier = None
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use sha2::Digest;
use tokio::sync::Mutex;

use super::engine::UnsealProgress;
use super::pkcs11::Hsm;
use super::store::SealReader;
use crate::crypto::Barrier;

/// This node's seal material and progress.
pub struct SealState {
    reader: SealReader,
    barrier: RwLock<Option<Arc<Barrier>>>,
    /// SHA-256 of the sealed keyring the barrier was loaded from.
    loaded_keyring: std::sync::Mutex<Option<[u8; 32]>>,
    /// Unseal shares handed in on this node.
    unseal: Mutex<UnsealProgress>,
    /// Unseal shares handed in towards a new root token.
    generate_root: Mutex<UnsealProgress>,
    /// Current unseal shares handed in towards new ones (rekey).
    rekey: Mutex<UnsealProgress>,
    /// Unseal or recovery shares handed in for `ass operator seal migrate` on this node.
    migrate: Mutex<UnsealProgress>,
    /// The HSM of `[seal] type = "pkcs11"`, opened at start; `None`: Shamir only.
    hsm: Option<Arc<Hsm>>,
    /// Set by `POST /v1/sys/seal`: auto-unseal leaves this node sealed until it restarts or
    /// is unsealed by hand.
    sealed_by_request: AtomicBool,
    /// One keyring rotation at a time on this node.
    rotate_lock: Mutex<()>,
}

impl SealState {
    /// A sealed node's state over the applied seal records.
    pub fn new(reader: SealReader) -> Self {
        Self {
            reader,
            barrier: RwLock::new(None),
            loaded_keyring: std::sync::Mutex::new(None),
            unseal: Mutex::default(),
            generate_root: Mutex::default(),
            rekey: Mutex::default(),
            migrate: Mutex::default(),
            hsm: None,
            sealed_by_request: AtomicBool::new(false),
            rotate_lock: Mutex::new(()),
        }
    }

    /// Sets the HSM opened at start (`[seal] type = "pkcs11"`).
    pub fn with_hsm(mut self, hsm: Hsm) -> Self {
        self.hsm = Some(Arc::new(hsm));
        self
    }

    /// The HSM, if this node has one.
    pub fn hsm(&self) -> Option<&Hsm> {
        self.hsm.as_deref()
    }

    /// The applied seal records.
    pub fn reader(&self) -> &SealReader {
        &self.reader
    }

    /// The barrier, while unsealed.
    pub fn barrier(&self) -> Option<Arc<Barrier>> {
        self.barrier.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_sealed(&self) -> bool {
        self.barrier().is_none()
    }

    /// Installs (unseal) or drops (seal) the barrier. The node's other parts (auth cache,
    /// audit root, leadership role) follow in `Node::set_barrier`, the only caller.
    pub(crate) fn swap_barrier(&self, barrier: Option<Barrier>) {
        let unsealed = barrier.is_some();
        *self.barrier.write().unwrap_or_else(|e| e.into_inner()) = barrier.map(Arc::new);
        *self.loaded_keyring.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if unsealed {
            self.refresh_keyring();
        }
    }

    /// Reloads the keyring if a rotation replaced the replicated one (a rotation on another
    /// node, or before this node became leader). Cheap when nothing changed.
    pub fn refresh_keyring(&self) {
        let Some(barrier) = self.barrier() else { return };
        let Ok(Some(sealed)) = self.reader.sealed_keyring() else { return };
        let digest: [u8; 32] = sha2::Sha256::digest(&sealed).into();
        let mut loaded = self.loaded_keyring.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.as_ref() == Some(&digest) {
            return;
        }
        match barrier.reload(&sealed) {
            Ok(fresh) => {
                *self.barrier.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(fresh));
                *loaded = Some(digest);
            }
            Err(e) => {
                tracing::error!(error = %e, "the replicated keyring does not open with this node's root key")
            }
        }
    }

    /// Unseal shares handed in on this node.
    pub fn unseal_progress(&self) -> &Mutex<UnsealProgress> {
        &self.unseal
    }

    /// Shares handed in towards a new root token.
    pub fn generate_root_progress(&self) -> &Mutex<UnsealProgress> {
        &self.generate_root
    }

    /// Current shares handed in towards new ones.
    pub fn rekey_progress(&self) -> &Mutex<UnsealProgress> {
        &self.rekey
    }

    /// Shares handed in for a seal migration.
    pub fn migrate_progress(&self) -> &Mutex<UnsealProgress> {
        &self.migrate
    }

    /// Whether this node was sealed by `POST /v1/sys/seal` (auto-unseal then waits).
    pub fn sealed_by_request(&self) -> bool {
        self.sealed_by_request.load(Ordering::Relaxed)
    }

    pub fn set_sealed_by_request(&self, sealed: bool) {
        self.sealed_by_request.store(sealed, Ordering::Relaxed);
    }

    /// Held through one keyring rotation.
    pub fn rotate_lock(&self) -> &Mutex<()> {
        &self.rotate_lock
    }
}
