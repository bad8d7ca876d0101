//! Raft: openraft's type configuration, our WAL log store and sled state machine, the peer
//! network, and the follower read index. Never decrypts: it moves ciphertext and hashes.

pub mod log_store;
pub mod network;
pub mod read_index;
pub mod state_machine;
pub mod types;

pub use log_store::LogStore;
pub use state_machine::StateMachine;

#[cfg(test)]
mod conformance {
    //! openraft's storage conformance suite against our WAL log store and sled state machine.

    use openraft::testing::{StoreBuilder, Suite};

    use super::types::{StorageError, TypeConfig};
    use super::{LogStore, StateMachine};
    use crate::storage::Store;

    struct SledBuilder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Store::open(dir.path()).expect("open sled");
            let clock = std::sync::Arc::new(crate::clock::LeaderClock::default());
            // Small segments, so the suite's appends, truncates and purges cross segments.
            let log = LogStore::open_with(&store, dir.path(), 4096)?;
            Ok((dir, log, StateMachine::new(store, clock)))
        }
    }

    #[test]
    fn sled_stores_pass_openraft_suite() {
        let result: Result<(), StorageError> = Suite::test_all(SledBuilder);
        if let Err(e) = result {
            panic!("openraft storage suite failed: {e}");
        }
    }
}
