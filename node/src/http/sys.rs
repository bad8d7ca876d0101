//! `/v1/sys/*`: init, unseal, seal, status, health, members.

use ass_client::ErrorCode;
use std::sync::Arc;

use ass_client::types::{
    AddMemberRequest, AutopilotState, GenerateRootRequest, GenerateRootResponse, HealthResponse,
    InitRequest, InitResponse, Member, MembersResponse, RekeyRequest, RekeyResponse,
    RotateResponse, SealStatus, StepDownResponse, UnsealRequest, HEADER_INDEX,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::agents::new_secret_credential;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath, ApiQuery};
use crate::access::scope::Admin;
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Request};
use crate::crypto::Barrier;
use crate::node::Node;
use crate::seal::{self, Submitted, DEFAULT_SHARES, DEFAULT_THRESHOLD};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This node's seal and Raft status.
pub async fn status_of(node: &Node) -> Result<SealStatus, ApiError> {
    let config = node.state.seal_config()?;
    let progress = node.unseal.lock().await.count();
    let m = node.raft.metrics().borrow().clone();
    let leader_api = m
        .current_leader
        .and_then(|id| m.membership_config.membership().get_node(&id).map(|n| n.api_url()));
    Ok(SealStatus {
        initialized: config.is_some(),
        sealed: node.is_sealed(),
        progress,
        threshold: config.as_ref().map_or(0, |c| c.threshold),
        shares: config.as_ref().map_or(0, |c| c.shares),
        node_id: node.id,
        leader_id: m.current_leader,
        leader_api,
        term: m.current_term,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        snapshot_index: m.snapshot.map_or(0, |l| l.index),
        purged_index: m.purged.map_or(0, |l| l.index),
        version: VERSION.to_string(),
        seal_type: if node.state.auto_seal()?.is_some() { "pkcs11" } else { "shamir" }.into(),
    })
}

pub async fn status(State(node): State<Arc<Node>>) -> Result<Json<SealStatus>, ApiError> {
    Ok(Json(status_of(&node).await?))
}

pub async fn init(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<InitRequest>,
) -> Result<Response, ApiError> {
    let shares = req.shares.unwrap_or(DEFAULT_SHARES);
    let threshold = req.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if node.state.seal_config()?.is_some() {
        return Err(crate::command::Rejection::AlreadyInitialized.into());
    }
    let material = seal::init(shares, threshold)?;
    // With an HSM, wrap first: a broken HSM fails the init before anything is committed.
    let auto = crate::seal::auto::wrap_for(&node, &material.root)
        .map_err(|e| ApiError::internal(format!("HSM: {e}")))?;
    let request = Request {
        request_id: request_id(&headers)?,
        time_ms: now_ms(),
        cmd: Command::Init {
            seal: material.config.clone(),
            sealed_keyring: material.sealed_keyring.clone(),
            root_token_hash: material.root_token_hash,
        },
    };
    let committed = node.write(request).await?.fresh()?;
    super::expect_ok(&committed)?;
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
        let cmd = Command::SetAutoSeal { auto: Some(auto) };
        let request =
            Request { request_id: *uuid::Uuid::new_v4().as_bytes(), time_ms: now_ms(), cmd };
        // The shares are shown whatever happens: without the record they are unseal keys.
        let outcome: Result<(), ApiError> = async {
            let c = node.write(request).await?.fresh()?;
            super::expect_ok(&c)?;
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => recovery_keys = true,
            Err(e) => {
                tracing::error!(error = ?e, "auto-unseal not turned on: the shares are unseal keys; retry with `ass operator seal migrate --to pkcs11`")
            }
        }
    }
    let body = InitResponse {
        keys: material.shares.clone(),
        shares,
        threshold,
        root_token: material.root_token.clone(),
        recovery_keys,
    };
    Ok(([(HEADER_INDEX, committed.index.to_string())], Json(body)).into_response())
}

pub async fn unseal(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<UnsealRequest>,
) -> Result<Json<SealStatus>, ApiError> {
    let Some(config) = node.state.seal_config()? else {
        return Err(ApiError::new(ErrorCode::NotInitialized, "the cluster is not initialized (or this node has not caught up yet): run `ass operator init`"));
    };
    if req.reset {
        node.unseal.lock().await.reset();
        return Ok(Json(status_of(&node).await?));
    }
    if !node.is_sealed() {
        return Ok(Json(status_of(&node).await?));
    }
    let key = req.key.ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "give `key` (one unseal key share) or `reset: true`")
    })?;
    let sealed_keyring = node
        .state
        .sealed_keyring()?
        .ok_or_else(|| ApiError::internal("initialized cluster has no keyring"))?;
    let outcome = node.unseal.lock().await.submit(&key, &config, &sealed_keyring);
    match outcome? {
        Submitted::Progress(n) => {
            tracing::info!(progress = n, threshold = config.threshold, "unseal share accepted")
        }
        Submitted::Unsealed(unlocked) => {
            node.set_barrier(Some(Barrier::new(unlocked.root, unlocked.keyring)));
            node.sealed_by_request.store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("node unsealed");
        }
    }
    Ok(Json(status_of(&node).await?))
}

pub async fn seal(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<SealStatus>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    node.sealed_by_request.store(true, std::sync::atomic::Ordering::Relaxed);
    node.set_barrier(None);
    node.unseal.lock().await.reset();
    tracing::warn!("node sealed by request");
    Ok(Json(status_of(&node).await?))
}

pub async fn members(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<MembersResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let m = node.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let on_leader = m.current_leader == Some(node.id);
    let matched = m.replication.clone().unwrap_or_default();
    let last_log = m.last_log_index.unwrap_or(0);
    let bound = unreachable_after(&node);
    let members = membership
        .nodes()
        .map(|(id, info)| {
            let matched_index = matched.get(id).and_then(|l| l.map(|l| l.index));
            // Only the leader talks to every member; elsewhere these stay empty.
            let (lag, last_contact_ms, unreachable) = if !on_leader {
                (None, None, None)
            } else if *id == node.id {
                (Some(0), Some(0), Some(false))
            } else {
                let since = node.peer_contacts.since(*id);
                (
                    Some(last_log.saturating_sub(matched_index.unwrap_or(0))),
                    since.map(|d| d.as_millis() as u64),
                    Some(since.is_none_or(|d| d > bound)),
                )
            };
            Member {
                id: *id,
                api_addr: info.api_addr.clone(),
                cluster_addr: info.cluster_addr.clone(),
                voter: voters.contains(id),
                leader: m.current_leader == Some(*id),
                matched_index,
                lag,
                last_contact_ms,
                unreachable,
            }
        })
        .collect();
    Ok(Json(MembersResponse { members }))
}

/// How long the leader may go without an answer from a member before it flags it
/// unreachable: four times the longest election timeout (3.2 s by default, as before the
/// timeouts were halved in decision 32), so a slow heartbeat or two never flags a live member.
pub fn unreachable_after(node: &Node) -> std::time::Duration {
    std::time::Duration::from_millis(4 * node.config.raft.election_timeout_max_ms)
}

/// Load-balancer health with Vault's status codes: 200 active leader, 429 unsealed standby,
/// 501 not initialized, 503 sealed; `standbyok`, `activecode`, `standbycode`, `sealedcode`,
/// `uninitcode` override them.
pub async fn health(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery,
) -> Result<Response, ApiError> {
    let initialized = node.state.seal_config()?.is_some();
    let sealed = node.is_sealed();
    let leader = node.is_leader();
    let code = |name: &str, default: u16| -> Result<u16, ApiError> {
        match q.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u16>().ok().filter(|c| (100..600).contains(c)).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("`{name}` must be an HTTP status code"),
                )
            }),
        }
    };
    let standby_ok = q.get("standbyok").is_some_and(|v| v.is_empty() || v == "true");
    let removed = node.removed.load(std::sync::atomic::Ordering::Relaxed);
    let status = if removed {
        // Vault's `removedcode`: a removed node can't serve, whatever else is true.
        code("removedcode", 530)?
    } else if !initialized {
        code("uninitcode", 501)?
    } else if sealed {
        code("sealedcode", 503)?
    } else if leader || standby_ok {
        code("activecode", 200)?
    } else {
        code("standbycode", 429)?
    };
    let body = HealthResponse {
        initialized,
        sealed,
        standby: !leader,
        node_id: node.id,
        version: VERSION.to_string(),
        server_time_utc: rfc3339(now_ms()),
        cluster_id: node.state.cluster_id()?,
        removed_from_cluster: removed,
    };
    let status = StatusCode::from_u16(status).map_err(|_| ApiError::internal("bad status code"))?;
    Ok((status, Json(body)).into_response())
}

/// `POST /v1/sys/generate-root`: hands in unseal key shares on this node; at the threshold,
/// if they open the root key, a new root token replaces the old one (break-glass after the
/// root token was revoked). Unauthenticated, like unseal: the shares are the credential.
pub async fn generate_root(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<GenerateRootRequest>,
) -> Result<Json<GenerateRootResponse>, ApiError> {
    let config = node.state.seal_config()?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotInitialized, "the cluster is not initialized")
    })?;
    if req.reset {
        node.generate_root.lock().await.reset();
        return Ok(Json(GenerateRootResponse {
            progress: 0,
            threshold: config.threshold,
            root_token: None,
        }));
    }
    let key = req.key.ok_or_else(|| {
        ApiError::new(ErrorCode::BadRequest, "give `key` (one unseal key share) or `reset: true`")
    })?;
    let sealed_keyring = node
        .state
        .sealed_keyring()?
        .ok_or_else(|| ApiError::internal("initialized cluster has no keyring"))?;
    let outcome = node.generate_root.lock().await.submit(&key, &config, &sealed_keyring)?;
    match outcome {
        Submitted::Progress(n) => Ok(Json(GenerateRootResponse {
            progress: n,
            threshold: config.threshold,
            root_token: None,
        })),
        Submitted::Unsealed(_unlocked) => {
            let token = new_secret_credential(seal::ROOT_TOKEN_PREFIX);
            let request = Request {
                request_id: *uuid::Uuid::new_v4().as_bytes(),
                time_ms: now_ms(),
                cmd: Command::SetRootToken { hash: Some(seal::hash_token(&token)) },
            };
            let committed = node.propose(request).await?.fresh()?;
            super::expect_ok(&committed)?;
            tracing::warn!("a new root token was generated from unseal key shares");
            Ok(Json(GenerateRootResponse {
                progress: 0,
                threshold: config.threshold,
                root_token: Some(token),
            }))
        }
    }
}

/// `POST /v1/sys/root/revoke`: revokes the root token (needs `sys:operator`). A new one can
/// only be made with unseal key shares (`generate-root`).
pub async fn revoke_root(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let cmd = Command::SetRootToken { hash: None };
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    tracing::warn!("the root token was revoked");
    Ok(Json(serde_json::json!({ "revoked": true, "index": committed.index })))
}

/// `POST /v1/sys/rotate` (needs `sys:operator`): adds a data-key term. New writes use it; old
/// versions keep decrypting with their own term. Runs on the leader (forwarded).
pub async fn rotate(
    State(node): State<Arc<Node>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<RotateResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let _one_at_a_time = node.rotate_lock.lock().await;
    node.refresh_keyring();
    let barrier = node.barrier().ok_or_else(ApiError::sealed)?;
    let (term, sealed_keyring) =
        barrier.rotated().map_err(|e| ApiError::internal(format!("keyring: {e}")))?;
    let cmd = Command::RotateKeyring { term, sealed_keyring };
    let committed = node
        .write(Request { request_id: caller.request_id(&headers)?, time_ms: now_ms(), cmd })
        .await?;
    super::expect_ok(&committed)?;
    node.refresh_keyring();
    tracing::info!(term, "keyring rotated");
    Ok(Json(RotateResponse { term, index: committed.index }))
}

/// `POST /v1/sys/rekey` (needs `sys:operator` and a threshold of current unseal shares, handed
/// in one per call on this node): new unseal shares for the same root key. The old shares
/// stop working; no data is re-encrypted.
pub async fn rekey(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiJson(req): ApiJson<RekeyRequest>,
) -> Result<Json<RekeyResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let config = node.state.seal_config()?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotInitialized, "the cluster is not initialized")
    })?;
    if req.reset {
        node.rekey_progress.lock().await.reset();
        return Ok(Json(RekeyResponse { progress: 0, threshold: config.threshold, keys: None }));
    }
    let shares = req.shares.unwrap_or(DEFAULT_SHARES);
    let threshold = req.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if shares == 0 || threshold == 0 || threshold > shares {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "shares must be 1 to 255 and threshold 1 to shares",
        ));
    }
    let key = req.key.ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            "give `key` (one current unseal key share) or `reset: true`",
        )
    })?;
    let sealed_keyring = node
        .state
        .sealed_keyring()?
        .ok_or_else(|| ApiError::internal("initialized cluster has no keyring"))?;
    let outcome = node.rekey_progress.lock().await.submit(&key, &config, &sealed_keyring)?;
    match outcome {
        Submitted::Progress(n) => {
            Ok(Json(RekeyResponse { progress: n, threshold: config.threshold, keys: None }))
        }
        Submitted::Unsealed(unlocked) => {
            let (seal_config, keys) = seal::rekey(&unlocked.root, shares, threshold)?;
            let request = Request {
                request_id: *uuid::Uuid::new_v4().as_bytes(),
                time_ms: now_ms(),
                cmd: Command::Rekey { seal: seal_config },
            };
            let committed = node.propose(request).await?.fresh()?;
            super::expect_ok(&committed)?;
            tracing::warn!(
                shares,
                threshold,
                "the cluster was rekeyed: the old unseal shares no longer work"
            );
            Ok(Json(RekeyResponse { progress: 0, threshold, keys: Some(keys) }))
        }
    }
}

/// How long adding a learner may take to catch it up before the call answers.
const ADD_NODE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn membership_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::MembershipChangeFailed, format!("membership change failed: {e}"))
}

/// `POST /v1/sys/members` (needs `sys:operator`): adds a node as a learner and waits until it
/// has caught up. Promote it to a voter afterwards.
pub async fn add_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> Result<Json<MembersResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    if req.id == 0 || !req.api_addr.contains(':') || !req.cluster_addr.contains(':') {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "give id > 0, api_addr and cluster_addr as host:port",
        ));
    }
    let info =
        crate::raft::types::NodeInfo { api_addr: req.api_addr, cluster_addr: req.cluster_addr };
    tokio::time::timeout(ADD_NODE_TIMEOUT, node.raft.add_learner(req.id, info, true))
        .await
        .map_err(|_| {
            ApiError::new(ErrorCode::Timeout, "the new node did not catch up within 60 s")
        })?
        .map_err(membership_error)?;
    tracing::info!(id = req.id, "learner added");
    members(State(node), caller).await
}

/// `POST /v1/sys/members/{id}/promote` (needs `sys:operator`): makes a learner a voter.
pub async fn promote_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<MembersResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let id = member_id(&id)?;
    let change = openraft::ChangeMembers::AddVoterIds([id].into_iter().collect());
    change_members(node, caller, change, id, "member promoted to voter").await
}

/// Commits one membership change and answers the new member list.
async fn change_members(
    node: Arc<Node>,
    caller: Caller,
    change: openraft::ChangeMembers<u64, crate::raft::types::NodeInfo>,
    id: u64,
    what: &'static str,
) -> Result<Json<MembersResponse>, ApiError> {
    node.raft.change_membership(change, false).await.map_err(membership_error)?;
    tracing::info!(id, "{what}");
    members(State(node), caller).await
}

/// `DELETE /v1/sys/members/{id}` (needs `sys:operator`): removes a voter or a learner.
pub async fn remove_member(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<MembersResponse>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    let id = member_id(&id)?;
    let is_voter =
        node.raft.metrics().borrow().membership_config.membership().voter_ids().any(|v| v == id);
    let change = if is_voter {
        openraft::ChangeMembers::RemoveVoters([id].into_iter().collect())
    } else {
        openraft::ChangeMembers::RemoveNodes([id].into_iter().collect())
    };
    let addr = node
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&id)
        .map(|n| n.cluster_addr.clone());
    let answer = change_members(node.clone(), caller, change, id, "member removed").await?;
    // Tell the removed node at once, so it fails its health check and stops campaigning
    // (replication to it stops with the change, so it may never see the new membership).
    if let Some(addr) = addr {
        let index = node.raft.metrics().borrow().membership_config.log_id().map_or(0, |l| l.index);
        crate::autopilot::tell_removed(&node, &addr, index).await;
    }
    Ok(answer)
}

fn member_id(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "a member id is a positive integer"))
}

/// `POST /v1/sys/step-down` (needs `sys:operator`; runs on the leader): hands leadership to
/// the most up-to-date live voter (see [`crate::handover`]). Writes and reads arriving
/// meanwhile wait and are answered by the successor. Answers the old and the new leader.
pub async fn step_down(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<StepDownResponse>, ApiError> {
    use crate::handover::HandoverError;
    caller.require_admin(Admin::SysOperator)?;
    let bound = std::time::Duration::from_millis(node.config.shutdown.handover_timeout_ms.max(
        // Older configs: at least the five election timeouts this call always allowed.
        node.config.raft.election_timeout_max_ms * 5,
    ));
    match crate::handover::transfer(&node, bound).await {
        Ok(h) => {
            tracing::info!(
                new_leader = h.new_leader,
                took_ms = h.took.as_millis() as u64,
                "stepped down"
            );
            Ok(Json(StepDownResponse {
                old_leader: node.id,
                new_leader: h.new_leader,
                took_ms: Some(h.took.as_millis() as u64),
            }))
        }
        Err(HandoverError::NotLeader) => {
            Err(ApiError::no_leader(node.leader().map(|(_, n)| n.api_url())))
        }
        Err(e @ (HandoverError::NoOtherVoter | HandoverError::NoLiveVoter)) => {
            Err(ApiError::new(ErrorCode::MembershipChangeFailed, e.to_string()))
        }
        Err(e) => Err(ApiError::new(ErrorCode::Timeout, e.to_string())),
    }
}

/// `GET /v1/sys/autopilot/state` (needs `sys:operator`; answered by the leader, forwarded
/// there from any node): member health, failure tolerance and whether one more node may be
/// restarted now (see [`crate::autopilot`]).
pub async fn autopilot_state(
    State(node): State<Arc<Node>>,
    caller: Caller,
) -> Result<Json<AutopilotState>, ApiError> {
    caller.require_admin(Admin::SysOperator)?;
    match crate::autopilot::state(&node).await {
        Ok(state) => Ok(Json(state)),
        Err(_) => Err(ApiError::no_leader(node.leader().map(|(_, n)| n.api_url()))),
    }
}
