//! Raft: openraft's type configuration, our sled log store and state machine, the peer
//! network, and the follower read index. Never decrypts: it moves ciphertext and hashes.

pub mod log_store;
pub mod network;
pub mod read_index;
pub mod state_machine;
pub mod types;

pub use log_store::LogStore;
pub use state_machine::StateMachine;
