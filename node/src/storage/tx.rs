//! Typed reads and writes inside one sled transaction: what every domain store's apply
//! functions use, so that a decoding failure aborts the whole transaction.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{decode, encode, StorageError};

pub type TxResult<T> = Result<T, ConflictableTransactionError<StorageError>>;

/// Aborts the transaction with a storage error.
pub fn abort(e: StorageError) -> ConflictableTransactionError<StorageError> {
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
