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
//! [`SealConfig`] and [`AutoSeal`] (in `record.rs`) are the replicated records; the root key
//! itself lives only in this node's [`SealState`] while unsealed. This file holds only module
//! lines and re-exports, so the children depend on `record`, never on their parent.

pub mod auto;
pub mod engine;
pub mod pkcs11;
pub mod record;
pub mod service;
pub mod shamir;
pub mod state;
pub mod store;

pub use engine::{Submitted, Unlocked, UnsealProgress};
pub use record::{AutoSeal, SealConfig, DEFAULT_SHARES, DEFAULT_THRESHOLD, ROOT_TOKEN_PREFIX};
pub use shamir::{hash_token, init, rekey, root_from_shares, InitMaterial, SealError};
pub use state::SealState;
pub use store::{Refusal, SealReader, SealTx};
