//! The seal's records in the state machine's `sm_meta` tree: [`SealReader`] for applied
//! state, [`SealTx`] for the apply functions of `Init`, `SetRootToken`, `RotateKeyring`,
//! `Rekey` and `SetAutoSeal` inside the state machine's transaction.
//!
//! ```text
//!  sm_meta: seal (SealConfig) · keyring (sealed) · keyring_term · root_token (hash)
//!           · cluster_id · auto_seal (AutoSeal)
//! ```

use serde::de::DeserializeOwned;
use sled::transaction::TransactionalTree;

use super::record::{AutoSeal, SealConfig};
use crate::storage::schema::{
    KEY_AUTO_SEAL, KEY_CLUSTER_ID, KEY_KEYRING, KEY_KEYRING_TERM, KEY_ROOT_TOKEN, KEY_SEAL,
};
use crate::storage::tx::{get_tx, put_tx, TxResult};
use crate::storage::{decode, StorageError};

/// Why a seal command was refused (deterministically, on every node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    #[error("another rotation changed the keyring first")]
    KeyringChanged,
}

/// The id a cluster gets at init: derived from its first sealed root key (random), so it is
/// the same on every node and stays fixed through rekeys and restores.
pub fn cluster_id_of(seal: &SealConfig) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(&seal.sealed_root_key)[..16])
}

/// Read access to the applied seal records.
#[derive(Clone)]
pub struct SealReader {
    meta: sled::Tree,
}

impl SealReader {
    pub fn new(meta: sled::Tree) -> Self {
        Self { meta }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.meta.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// The seal config, once `Init` is applied.
    pub fn config(&self) -> Result<Option<SealConfig>, StorageError> {
        self.get(KEY_SEAL)
    }

    /// Whether `Init` is applied here.
    pub fn is_initialized(&self) -> Result<bool, StorageError> {
        Ok(self.meta.contains_key(KEY_SEAL)?)
    }

    /// The auto-unseal state, while auto-unseal is on.
    pub fn auto_seal(&self) -> Result<Option<AutoSeal>, StorageError> {
        self.get(KEY_AUTO_SEAL)
    }

    /// The keyring sealed under the root key.
    pub fn sealed_keyring(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(KEY_KEYRING)
    }

    /// SHA-256 of the root token, while there is one.
    pub fn root_token_hash(&self) -> Result<Option<[u8; 32]>, StorageError> {
        self.get(KEY_ROOT_TOKEN)
    }

    /// The cluster id (hex), once initialized. Clusters initialized before ids existed get
    /// one derived from their current seal config.
    pub fn cluster_id(&self) -> Result<Option<String>, StorageError> {
        if let Some(id) = self.get::<String>(KEY_CLUSTER_ID)? {
            return Ok(Some(id));
        }
        Ok(self.config()?.as_ref().map(cluster_id_of))
    }
}

/// The seal's writes inside one state-machine transaction (all in `sm_meta`).
pub struct SealTx<'a> {
    pub meta: &'a TransactionalTree,
}

impl SealTx<'_> {
    /// Whether `Init` is applied (every other command but `Tick` needs it).
    pub fn is_initialized(&self) -> TxResult<bool> {
        Ok(self.meta.get(KEY_SEAL)?.is_some())
    }

    /// `Init`: the seal config, the sealed keyring, the root token's hash and the cluster id.
    pub fn init(
        &self,
        seal: &SealConfig,
        sealed_keyring: &Vec<u8>,
        root_token_hash: &[u8; 32],
    ) -> TxResult<Result<(), Refusal>> {
        if self.is_initialized()? {
            return Ok(Err(Refusal::AlreadyInitialized));
        }
        put_tx(self.meta, KEY_SEAL, seal)?;
        put_tx(self.meta, KEY_KEYRING, sealed_keyring)?;
        put_tx(self.meta, KEY_ROOT_TOKEN, root_token_hash)?;
        put_tx(self.meta, KEY_CLUSTER_ID, &cluster_id_of(seal))?;
        Ok(Ok(()))
    }

    /// `SetRootToken`: a new root token's hash, or none (revoked).
    pub fn set_root_token(&self, hash: Option<&[u8; 32]>) -> TxResult<()> {
        match hash {
            Some(h) => put_tx(self.meta, KEY_ROOT_TOKEN, h)?,
            None => {
                self.meta.remove(KEY_ROOT_TOKEN)?;
            }
        }
        Ok(())
    }

    /// `RotateKeyring`: the keyring with term `term`, which must follow the current one.
    /// Two rotations made from the same keyring must not both land: the second would drop
    /// the first's new key and every value encrypted with it.
    pub fn rotate_keyring(
        &self,
        term: u32,
        sealed_keyring: &Vec<u8>,
    ) -> TxResult<Result<(), Refusal>> {
        let current: u32 = get_tx(self.meta, KEY_KEYRING_TERM)?.unwrap_or(1);
        if term != current + 1 {
            return Ok(Err(Refusal::KeyringChanged));
        }
        put_tx(self.meta, KEY_KEYRING, sealed_keyring)?;
        put_tx(self.meta, KEY_KEYRING_TERM, &term)?;
        Ok(Ok(()))
    }

    /// `Rekey`: the root key sealed under a new unseal key.
    pub fn rekey(&self, seal: &SealConfig) -> TxResult<()> {
        put_tx(self.meta, KEY_SEAL, seal)
    }

    /// `SetAutoSeal`: turns auto-unseal on (the HSM-wrapped root key) or off.
    pub fn set_auto_seal(&self, auto: Option<&AutoSeal>) -> TxResult<()> {
        match auto {
            Some(a) => put_tx(self.meta, KEY_AUTO_SEAL, a)?,
            None => {
                self.meta.remove(KEY_AUTO_SEAL)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Store;

    fn in_tx<T>(store: &Store, f: impl Fn(&SealTx<'_>) -> TxResult<T>) -> T {
        store.sm_meta.transaction(|meta| f(&SealTx { meta })).map_err(|e| format!("{e:?}")).unwrap()
    }

    #[test]
    fn init_once_then_refused_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reader = SealReader::new(store.sm_meta.clone());
        assert_eq!(reader.config().unwrap(), None);
        assert!(!reader.is_initialized().unwrap());
        assert_eq!(reader.cluster_id().unwrap(), None);
        let m = crate::seal::shamir::init(3, 2).unwrap();
        let first = in_tx(&store, |t| t.init(&m.config, &m.sealed_keyring, &m.root_token_hash));
        assert_eq!(first, Ok(()));
        let again = in_tx(&store, |t| t.init(&m.config, &m.sealed_keyring, &m.root_token_hash));
        assert_eq!(again, Err(Refusal::AlreadyInitialized));
        assert!(reader.is_initialized().unwrap());
        assert_eq!(reader.config().unwrap(), Some(m.config.clone()));
        assert_eq!(reader.sealed_keyring().unwrap(), Some(m.sealed_keyring.clone()));
        assert_eq!(reader.root_token_hash().unwrap(), Some(m.root_token_hash));
        assert_eq!(reader.cluster_id().unwrap(), Some(cluster_id_of(&m.config)));
        // A rekey changes the seal config, never the cluster id.
        let (rekeyed, _) = crate::seal::shamir::rekey(&m.root, 3, 2).unwrap();
        in_tx(&store, |t| t.rekey(&rekeyed));
        assert_eq!(reader.config().unwrap(), Some(rekeyed));
        assert_eq!(reader.cluster_id().unwrap(), Some(cluster_id_of(&m.config)));
        in_tx(&store, |t| t.set_root_token(None));
        assert_eq!(reader.root_token_hash().unwrap(), None);
    }

    #[test]
    fn rotations_must_follow_the_current_term() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reader = SealReader::new(store.sm_meta.clone());
        let ring = vec![7u8; 4];
        assert_eq!(in_tx(&store, |t| t.rotate_keyring(3, &ring)), Err(Refusal::KeyringChanged));
        assert_eq!(in_tx(&store, |t| t.rotate_keyring(2, &ring)), Ok(()));
        // A second rotation made from the same (term 1) keyring loses.
        assert_eq!(in_tx(&store, |t| t.rotate_keyring(2, &ring)), Err(Refusal::KeyringChanged));
        assert_eq!(in_tx(&store, |t| t.rotate_keyring(3, &ring)), Ok(()));
        assert_eq!(reader.sealed_keyring().unwrap(), Some(ring));
    }

    #[test]
    fn auto_seal_on_and_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reader = SealReader::new(store.sm_meta.clone());
        let auto =
            AutoSeal { kind: "pkcs11".into(), key_label: "k".into(), wrapped_root_key: vec![1] };
        in_tx(&store, |t| t.set_auto_seal(Some(&auto)));
        assert_eq!(reader.auto_seal().unwrap(), Some(auto));
        in_tx(&store, |t| t.set_auto_seal(None));
        assert_eq!(reader.auto_seal().unwrap(), None);
    }
}
