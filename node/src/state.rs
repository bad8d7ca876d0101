//! The vault's replicated state: how one [`Request`] changes the sled trees, and read access
//! to what has been applied. Deterministic: no clock, no randomness, no keys.
//!
//! ```text
//!  Request ──dedupe (request id)──> Command ──> secrets::apply_* / init ──> Response
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::raft::types::{Applied, Command, Rejection, Request, Response};
use crate::seal::SealConfig;
use crate::secrets;
use crate::storage::schema::{KEY_KEYRING, KEY_ROOT_TOKEN, KEY_SEAL};
use crate::storage::{decode, encode, StorageError, Store};

/// A request id is remembered for this long (leader time); a retry within the window is
/// answered with the first response and applied once.
pub const DEDUPE_WINDOW_MS: u64 = 24 * 3600 * 1000;

pub type TxResult<T> = Result<T, ConflictableTransactionError<StorageError>>;

fn abort(e: StorageError) -> ConflictableTransactionError<StorageError> {
    ConflictableTransactionError::Abort(e)
}

/// Reads and decodes one value inside a transaction.
pub fn get_tx<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => decode(&v).map(Some).map_err(abort),
        None => Ok(None),
    }
}

/// Encodes and writes one value inside a transaction.
pub fn put_tx<T: Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    tree.insert(key, encode(value).map_err(abort)?)?;
    Ok(())
}

/// The state machine's trees inside one transaction.
pub struct Tx<'a> {
    pub meta: &'a TransactionalTree,
    pub secrets: &'a TransactionalTree,
    pub versions: &'a TransactionalTree,
    pub requests: &'a TransactionalTree,
}

/// Applies one request found at log `index`, at most once per request id.
pub fn apply(tx: &Tx<'_>, req: &Request, index: u64) -> TxResult<Applied> {
    if let Some((time_ms, first)) = get_tx::<(u64, Applied)>(tx.requests, &req.request_id)? {
        if req.time_ms.saturating_sub(time_ms) <= DEDUPE_WINDOW_MS {
            return Ok(first);
        }
    }
    let applied = Applied {
        index,
        response: apply_command(tx, req.time_ms, &req.cmd)?,
    };
    // A version conflict asks the proposer to retry with the same request id: don't remember it.
    if !matches!(
        applied.response,
        Response::Rejected(Rejection::VersionConflict { .. })
    ) {
        put_tx(
            tx.requests,
            &req.request_id,
            &(req.time_ms, applied.clone()),
        )?;
    }
    Ok(applied)
}

fn apply_command(tx: &Tx<'_>, time_ms: u64, cmd: &Command) -> TxResult<Response> {
    if !matches!(cmd, Command::Init { .. }) && tx.meta.get(KEY_SEAL)?.is_none() {
        return Ok(Response::Rejected(Rejection::NotInitialized));
    }
    match cmd {
        Command::Init {
            seal,
            sealed_keyring,
            root_token_hash,
        } => {
            if tx.meta.get(KEY_SEAL)?.is_some() {
                return Ok(Response::Rejected(Rejection::AlreadyInitialized));
            }
            put_tx(tx.meta, KEY_SEAL, seal)?;
            put_tx(tx.meta, KEY_KEYRING, sealed_keyring)?;
            put_tx(tx.meta, KEY_ROOT_TOKEN, root_token_hash)?;
            Ok(Response::Ok)
        }
        Command::PutSecret(put) => secrets::apply_put(tx.secrets, tx.versions, time_ms, put),
        Command::DeleteLatest { path } => {
            secrets::apply_delete_latest(tx.secrets, tx.versions, time_ms, path)
        }
        Command::DestroyVersion { path, version } => {
            secrets::apply_destroy(tx.secrets, tx.versions, time_ms, path, *version)
        }
    }
}

/// Read access to the applied cluster-wide settings.
#[derive(Clone)]
pub struct StateReader {
    meta: sled::Tree,
    pub secrets: secrets::SecretsReader,
}

impl StateReader {
    pub fn new(store: &Store) -> Self {
        Self {
            meta: store.sm_meta.clone(),
            secrets: secrets::SecretsReader::new(store.secrets.clone(), store.versions.clone()),
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.meta.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// The seal config, once `Init` is applied.
    pub fn seal_config(&self) -> Result<Option<SealConfig>, StorageError> {
        self.get(KEY_SEAL)
    }

    /// The keyring sealed under the root key.
    pub fn sealed_keyring(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(KEY_KEYRING)
    }

    /// SHA-256 of the root token.
    pub fn root_token_hash(&self) -> Result<Option<[u8; 32]>, StorageError> {
        self.get(KEY_ROOT_TOKEN)
    }
}
