//! `POST /v1/sys/seal/migrate`: moves the cluster between Shamir unseal shares and
//! auto-unseal, from a threshold of shares handed in one per call on one node (like rekey).
//! Unauthenticated, like unseal: the shares are the credential.
//!
//! - `to: "pkcs11"`: hand in the current **unseal** shares; this node's HSM (`[seal] type =
//!   "pkcs11"`) wraps the root key they open. From then on every node with the HSM unseals
//!   itself, and the same shares are **recovery** keys.
//! - `to: "shamir"`: hand in the **recovery** shares; the HSM record is dropped and the same
//!   shares are unseal keys again. Needs no HSM (the way out when the HSM is lost).
//!
//! Nothing is re-encrypted: both modes open the same sealed root key.

use ass_client::ErrorCode;
use std::sync::Arc;

use ass_client::types::{SealMigrateRequest, SealMigrateResponse};
use axum::extract::State;
use axum::Json;

use super::error::ApiError;
use super::extract::ApiJson;
use crate::clock::now_ms;
use crate::command::{Command, Request};
use crate::node::Node;
use crate::seal::{auto, Submitted};

fn seal_type(node: &Node) -> Result<&'static str, ApiError> {
    Ok(if node.state.auto_seal()?.is_some() { "pkcs11" } else { "shamir" })
}

pub async fn migrate(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<SealMigrateRequest>,
) -> Result<Json<SealMigrateResponse>, ApiError> {
    let config = node.state.seal_config()?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotInitialized, "the cluster is not initialized")
    })?;
    let answer = |progress, seal_type: &str, migrated| {
        Json(SealMigrateResponse {
            progress,
            threshold: config.threshold,
            seal_type: seal_type.into(),
            migrated,
        })
    };
    if req.reset {
        node.migrate_progress.lock().await.reset();
        return Ok(answer(0, seal_type(&node)?, false));
    }
    let to = req.to.as_deref().unwrap_or("");
    let current = seal_type(&node)?;
    match to {
        "pkcs11" | "shamir" => {}
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "give `to`: \"pkcs11\" (auto-unseal) or \"shamir\" (unseal shares)",
            ))
        }
    }
    if to == current {
        return Err(ApiError::new(
            ErrorCode::AlreadyMigrated,
            format!("the cluster's seal is already {current}"),
        ));
    }
    if to == "pkcs11" && node.hsm.is_none() {
        return Err(ApiError::new(
            ErrorCode::NoHsm,
            "this node has no HSM: set [seal] type = \"pkcs11\" in its config, restart it, and \
             hand the shares in there",
        ));
    }
    let key = req.key.ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "give `key` (one share) or `reset: true`")
    })?;
    let sealed_keyring = node
        .state
        .sealed_keyring()?
        .ok_or_else(|| ApiError::internal("initialized cluster has no keyring"))?;
    let outcome = node.migrate_progress.lock().await.submit(&key, &config, &sealed_keyring)?;
    let unlocked = match outcome {
        Submitted::Progress(n) => return Ok(answer(n, current, false)),
        Submitted::Unsealed(u) => u,
    };
    let auto = if to == "pkcs11" {
        let record = auto::wrap_for(&node, &unlocked.root)
            .map_err(|e| ApiError::internal(format!("HSM: {e}")))?;
        Some(record.ok_or_else(|| ApiError::internal("the HSM went away"))?)
    } else {
        None
    };
    let request = Request {
        request_id: *uuid::Uuid::new_v4().as_bytes(),
        time_ms: now_ms(),
        cmd: Command::SetAutoSeal { auto },
    };
    let committed = node.propose(request).await?.fresh()?;
    super::expect_ok(&committed)?;
    tracing::warn!(
        from = current,
        to,
        index = committed.index,
        "seal migrated: the unseal shares are now {}",
        if to == "pkcs11" { "recovery keys" } else { "unseal keys again" }
    );
    Ok(answer(0, to, true))
}
