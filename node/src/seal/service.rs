//! The seal's use cases, called by `http/sys.rs` (and next, the dashboard): init, unseal,
//! seal, status, health, generate-root, revoke-root, keyring rotation, rekey and seal
//! migration. Each decides access, asks [`super::engine`] for the rules, reads the applied
//! records through [`super::store::SealReader`], proposes through the node's write path and
//! drives this node's [`super::state::SealState`]. Returns plain answers and one [`Error`].
//!
//! ```text
//!  init:     params ──shamir::init──> [HSM wrap] ──write Init──> [unseal here, SetAutoSeal]
//!  unseal:   share ──engine::UnsealProgress──> progress | barrier installed
//!  generate-root / rekey / migrate: shares (own tracker) ──> root key ──propose──> new token |
//!            new shares | SetAutoSeal
//!  rotate:   barrier.rotated() ──write RotateKeyring──> refresh_keyring
//! ```
//!
//! Seal migration moves the cluster between Shamir unseal shares and auto-unseal, from a
//! threshold of shares handed in one per call on one node (like rekey). Unauthenticated, like
//! unseal: the shares are the credential.
//!
//! - `to: "pkcs11"`: hand in the current **unseal** shares; this node's HSM (`[seal] type =
//!   "pkcs11"`) wraps the root key they open. From then on every node with the HSM unseals
//!   itself, and the same shares are **recovery** keys.
//! - `to: "shamir"`: hand in the **recovery** shares; the HSM record is dropped and the same
//!   shares are unseal keys again. Needs no HSM (the way out when the HSM is lost).
//!
//! Nothing is re-encrypted: both modes open the same sealed root key.

use std::collections::HashMap;

use ass_client::types::{
    GenerateRootRequest, GenerateRootResponse, HealthResponse, InitRequest, InitResponse,
    RekeyRequest, RekeyResponse, RotateResponse, SealMigrateRequest, SealMigrateResponse,
    SealStatus, UnsealRequest,
};

use super::auto;
use super::engine::{self, BadStatusCode, HealthFacts, MigrateRefusal, SealType, Submitted};
use super::pkcs11::HsmError;
use super::record::{SealConfig, DEFAULT_SHARES, DEFAULT_THRESHOLD};
use super::shamir::{self, SealError};
use crate::access::scope::Admin;
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Rejection, Request, Response};
use crate::crypto::{Barrier, CryptoError};
use crate::identity::{AccessError, Caller};
use crate::node::{Committed, Node, WriteError};
use crate::storage::StorageError;

/// This build's version, as status and health report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a seal use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the cluster is not initialized")]
    NotInitialized,
    /// Unseal's wording: a follower may not have the init yet.
    #[error("the cluster is not initialized (or this node has not caught up yet): run `ass operator init`")]
    NotInitializedHere,
    #[error("give `key` ({0}) or `reset: true`")]
    MissingKey(&'static str),
    #[error("shares must be 1 to 255 and threshold 1 to shares")]
    BadParameters,
    #[error(transparent)]
    Shares(#[from] SealError),
    #[error(transparent)]
    Migrate(#[from] MigrateRefusal),
    #[error(transparent)]
    Health(#[from] BadStatusCode),
    #[error("initialized cluster has no keyring")]
    NoKeyring,
    #[error("HSM: {0}")]
    Hsm(#[from] HsmError),
    #[error("the HSM went away")]
    HsmGone,
    #[error("keyring: {0}")]
    Keyring(CryptoError),
    #[error("this node is sealed")]
    Sealed,
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("the state machine refused: {0:?}")]
    Rejected(Rejection),
    #[error("unexpected state machine response {0}")]
    Unexpected(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Access(AccessError),
}

/// A committed write whose answer should be `Ok`: a rejection is the caller's error,
/// anything else a bug.
fn expect_ok(committed: &Committed) -> Result<(), Error> {
    match &committed.response {
        Response::Ok => Ok(()),
        Response::Rejected(r) => Err(Error::Rejected(r.clone())),
        other => Err(Error::Unexpected(format!("{other:?}"))),
    }
}

fn operator(caller: &Caller) -> Result<(), Error> {
    caller.require_admin(Admin::SysOperator).map_err(Error::Access)
}

/// A request the node makes itself (no client request id to dedupe on).
fn own_request(cmd: Command) -> Request {
    Request { request_id: *uuid::Uuid::new_v4().as_bytes(), time_ms: now_ms(), cmd }
}

fn config(node: &Node) -> Result<SealConfig, Error> {
    node.seal().reader().config()?.ok_or(Error::NotInitialized)
}

fn sealed_keyring(node: &Node) -> Result<Vec<u8>, Error> {
    node.seal().reader().sealed_keyring()?.ok_or(Error::NoKeyring)
}

fn seal_type(node: &Node) -> Result<SealType, Error> {
    Ok(SealType::of(node.seal().reader().auto_seal()?.as_ref()))
}

/// This node's seal and Raft status.
pub async fn status(node: &Node) -> Result<SealStatus, Error> {
    let reader = node.seal().reader();
    let config = reader.config()?;
    let auto = reader.auto_seal()?;
    let progress = node.seal().unseal_progress().lock().await.count();
    let view = engine::view(config.as_ref(), auto.as_ref(), node.is_sealed(), progress);
    let m = node.raft().metrics().borrow().clone();
    let leader_api = m
        .current_leader
        .and_then(|id| m.membership_config.membership().get_node(&id).map(|n| n.api_url()));
    Ok(SealStatus {
        initialized: view.initialized,
        sealed: view.sealed,
        progress: view.progress,
        threshold: view.threshold,
        shares: view.shares,
        node_id: node.id(),
        leader_id: m.current_leader,
        leader_api,
        term: m.current_term,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        snapshot_index: m.snapshot.map_or(0, |l| l.index),
        purged_index: m.purged.map_or(0, |l| l.index),
        version: VERSION.to_string(),
        seal_type: view.seal_type.as_str().into(),
    })
}

/// A new cluster's keys, shown once, and the index its init committed at.
pub struct Initialized {
    pub response: InitResponse,
    pub index: u64,
}

/// `init`: makes the keys and shares, commits them, and with an HSM turns auto-unseal on
/// (the shares are then recovery keys). Runs on the leader (forwarded there).
pub async fn init(
    node: &Node,
    request_id: [u8; 16],
    req: &InitRequest,
) -> Result<Initialized, Error> {
    let shares = req.shares.unwrap_or(DEFAULT_SHARES);
    let threshold = req.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if node.seal().reader().is_initialized()? {
        return Err(Error::Rejected(Rejection::AlreadyInitialized));
    }
    let material = shamir::init(shares, threshold)?;
    // With an HSM, wrap first: a broken HSM fails the init before anything is committed.
    let auto = auto::wrap_for(node, &material.root)?;
    let request = Request {
        request_id,
        time_ms: now_ms(),
        cmd: Command::Init {
            seal: material.config.clone(),
            sealed_keyring: material.sealed_keyring.clone(),
            root_token_hash: material.root_token_hash,
        },
    };
    let committed = node.write(request).await?.fresh()?;
    expect_ok(&committed)?;
    tracing::info!(shares, threshold, index = committed.index, "cluster initialized");
    let mut recovery_keys = false;
    if let Some(auto) = auto {
        // This node (the leader: init is forwarded there) unseals now, as its HSM would in
        // a moment anyway: a sealed leader of an initialized cluster stops heartbeating
        // within 250 ms (seal role), and the record below would then wait for a leader.
        match crate::crypto::Keyring::open_with(&material.root, &material.sealed_keyring) {
            Ok(keyring) => {
                node.set_barrier(Some(Barrier::new(material.root.clone(), keyring)));
                tracing::info!("node unsealed at init (auto-unseal)");
            }
            Err(e) => tracing::error!(error = %e, "init: the new keyring does not open"),
        }
        let request = own_request(Command::SetAutoSeal { auto: Some(auto) });
        // The shares are shown whatever happens: without the record they are unseal keys.
        let outcome: Result<(), Error> = async {
            let c = node.write(request).await?.fresh()?;
            expect_ok(&c)
        }
        .await;
        match outcome {
            Ok(()) => recovery_keys = true,
            Err(e) => {
                tracing::error!(error = %e, "auto-unseal not turned on: the shares are unseal keys; retry with `ass operator seal migrate --to pkcs11`")
            }
        }
    }
    let response = InitResponse {
        keys: material.shares.clone(),
        shares,
        threshold,
        root_token: material.root_token.clone(),
        recovery_keys,
    };
    Ok(Initialized { response, index: committed.index })
}

/// `unseal`: hands in one share on this node (or forgets the ones held); at the threshold
/// the node is unsealed. Unauthenticated: the shares are the credential.
pub async fn unseal(node: &Node, req: &UnsealRequest) -> Result<SealStatus, Error> {
    let Some(config) = node.seal().reader().config()? else {
        return Err(Error::NotInitializedHere);
    };
    if req.reset {
        node.seal().unseal_progress().lock().await.reset();
        return status(node).await;
    }
    if !node.is_sealed() {
        return status(node).await;
    }
    let key = req.key.as_deref().ok_or(Error::MissingKey("one unseal key share"))?;
    let sealed_keyring = sealed_keyring(node)?;
    let outcome = node.seal().unseal_progress().lock().await.submit(key, &config, &sealed_keyring);
    match outcome? {
        Submitted::Progress(n) => {
            tracing::info!(progress = n, threshold = config.threshold, "unseal share accepted")
        }
        Submitted::Unsealed(unlocked) => {
            node.set_barrier(Some(Barrier::new(unlocked.root, unlocked.keyring)));
            node.seal().set_sealed_by_request(false);
            tracing::info!("node unsealed");
        }
    }
    status(node).await
}

/// `seal` (needs `sys:operator`): drops this node's keys; auto-unseal leaves it sealed until
/// it restarts or is unsealed by hand.
pub async fn seal(node: &Node, caller: &Caller) -> Result<SealStatus, Error> {
    operator(caller)?;
    node.seal().set_sealed_by_request(true);
    node.set_barrier(None);
    node.seal().unseal_progress().lock().await.reset();
    tracing::warn!("node sealed by request");
    status(node).await
}

/// A health answer: the status code the load balancer acts on, and the body.
pub struct Health {
    pub status: u16,
    pub body: HealthResponse,
}

/// Load-balancer health with Vault's status codes (see [`engine::health_status`]).
pub fn health(node: &Node, query: &HashMap<String, String>) -> Result<Health, Error> {
    let facts = HealthFacts {
        initialized: node.seal().reader().is_initialized()?,
        sealed: node.is_sealed(),
        leader: node.is_leader(),
        removed: node.is_removed(),
    };
    let status = engine::health_status(facts, query)?;
    let body = HealthResponse {
        initialized: facts.initialized,
        sealed: facts.sealed,
        standby: !facts.leader,
        node_id: node.id(),
        version: VERSION.to_string(),
        server_time_utc: rfc3339(now_ms()),
        cluster_id: node.seal().reader().cluster_id()?,
        removed_from_cluster: facts.removed,
    };
    Ok(Health { status, body })
}

/// `generate-root`: hands in unseal key shares on this node; at the threshold, if they open
/// the root key, a new root token replaces the old one (break-glass after the root token was
/// revoked). Unauthenticated, like unseal: the shares are the credential.
pub async fn generate_root(
    node: &Node,
    req: &GenerateRootRequest,
) -> Result<GenerateRootResponse, Error> {
    let config = config(node)?;
    let answer = |progress, root_token| GenerateRootResponse {
        progress,
        threshold: config.threshold,
        root_token,
    };
    if req.reset {
        node.seal().generate_root_progress().lock().await.reset();
        return Ok(answer(0, None));
    }
    let key = req.key.as_deref().ok_or(Error::MissingKey("one unseal key share"))?;
    let sealed_keyring = sealed_keyring(node)?;
    let outcome =
        node.seal().generate_root_progress().lock().await.submit(key, &config, &sealed_keyring)?;
    match outcome {
        Submitted::Progress(n) => Ok(answer(n, None)),
        Submitted::Unsealed(_unlocked) => {
            let token = shamir::new_root_token();
            let cmd = Command::SetRootToken { hash: Some(shamir::hash_token(&token)) };
            let committed = node.propose(own_request(cmd)).await?.fresh()?;
            expect_ok(&committed)?;
            tracing::warn!("a new root token was generated from unseal key shares");
            Ok(answer(0, Some(token)))
        }
    }
}

/// `root/revoke` (needs `sys:operator`): revokes the root token. A new one can only be made
/// with unseal key shares ([`generate_root`]). Answers the commit's log index.
pub async fn revoke_root(node: &Node, caller: &Caller, request_id: [u8; 16]) -> Result<u64, Error> {
    operator(caller)?;
    let cmd = Command::SetRootToken { hash: None };
    let committed = node.submit(request_id, cmd).await?;
    expect_ok(&committed)?;
    tracing::warn!("the root token was revoked");
    Ok(committed.index)
}

/// `rotate` (needs `sys:operator`): adds a data-key term. New writes use it; old versions
/// keep decrypting with their own term. Runs on the leader (forwarded).
pub async fn rotate(
    node: &Node,
    caller: &Caller,
    request_id: [u8; 16],
) -> Result<RotateResponse, Error> {
    operator(caller)?;
    let _one_at_a_time = node.seal().rotate_lock().lock().await;
    node.refresh_keyring();
    let barrier = node.barrier().ok_or(Error::Sealed)?;
    let (term, sealed_keyring) = barrier.rotated().map_err(Error::Keyring)?;
    let cmd = Command::RotateKeyring { term, sealed_keyring };
    let committed = node.submit(request_id, cmd).await?;
    expect_ok(&committed)?;
    node.refresh_keyring();
    tracing::info!(term, "keyring rotated");
    Ok(RotateResponse { term, index: committed.index })
}

/// `rekey` (needs `sys:operator` and a threshold of current unseal shares, handed in one per
/// call on this node): new unseal shares for the same root key. The old shares stop
/// working; no data is re-encrypted.
pub async fn rekey(
    node: &Node,
    caller: &Caller,
    req: &RekeyRequest,
) -> Result<RekeyResponse, Error> {
    operator(caller)?;
    let config = config(node)?;
    if req.reset {
        node.seal().rekey_progress().lock().await.reset();
        return Ok(RekeyResponse { progress: 0, threshold: config.threshold, keys: None });
    }
    let shares = req.shares.unwrap_or(DEFAULT_SHARES);
    let threshold = req.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !shamir::parameters_ok(shares, threshold) {
        return Err(Error::BadParameters);
    }
    let key = req.key.as_deref().ok_or(Error::MissingKey("one current unseal key share"))?;
    let sealed_keyring = sealed_keyring(node)?;
    let outcome =
        node.seal().rekey_progress().lock().await.submit(key, &config, &sealed_keyring)?;
    match outcome {
        Submitted::Progress(n) => {
            Ok(RekeyResponse { progress: n, threshold: config.threshold, keys: None })
        }
        Submitted::Unsealed(unlocked) => {
            let (seal_config, keys) = shamir::rekey(&unlocked.root, shares, threshold)?;
            let cmd = Command::Rekey { seal: seal_config };
            let committed = node.propose(own_request(cmd)).await?.fresh()?;
            expect_ok(&committed)?;
            tracing::warn!(
                shares,
                threshold,
                "the cluster was rekeyed: the old unseal shares no longer work"
            );
            Ok(RekeyResponse { progress: 0, threshold, keys: Some(keys) })
        }
    }
}

/// `seal/migrate`: between Shamir unseal shares and auto-unseal (see the module header).
pub async fn migrate(node: &Node, req: &SealMigrateRequest) -> Result<SealMigrateResponse, Error> {
    let config = config(node)?;
    let answer = |progress, seal_type: SealType, migrated| SealMigrateResponse {
        progress,
        threshold: config.threshold,
        seal_type: seal_type.as_str().into(),
        migrated,
    };
    if req.reset {
        node.seal().migrate_progress().lock().await.reset();
        return Ok(answer(0, seal_type(node)?, false));
    }
    let current = seal_type(node)?;
    let to = engine::migration(req.to.as_deref(), current, node.seal().hsm().is_some())?;
    let key = req.key.as_deref().ok_or(Error::MissingKey("one share"))?;
    let sealed_keyring = sealed_keyring(node)?;
    let outcome =
        node.seal().migrate_progress().lock().await.submit(key, &config, &sealed_keyring)?;
    let unlocked = match outcome {
        Submitted::Progress(n) => return Ok(answer(n, current, false)),
        Submitted::Unsealed(u) => u,
    };
    let auto = match to {
        SealType::Pkcs11 => Some(auto::wrap_for(node, &unlocked.root)?.ok_or(Error::HsmGone)?),
        SealType::Shamir => None,
    };
    let committed = node.propose(own_request(Command::SetAutoSeal { auto })).await?.fresh()?;
    expect_ok(&committed)?;
    tracing::warn!(
        from = current.as_str(),
        to = to.as_str(),
        index = committed.index,
        "seal migrated: the unseal shares are now {}",
        if to == SealType::Pkcs11 { "recovery keys" } else { "unseal keys again" }
    );
    Ok(answer(0, to, true))
}
