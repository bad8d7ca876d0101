//! `/v1/secrets/*`: the read path (consistency → state → barrier.decrypt → reply) and the
//! write path (leader: encrypt for the next version → Raft → reply with the log index).

use ass_client::ErrorCode;
use std::sync::Arc;

use ass_client::types::{
    DeleteResponse, ListResponse, PutSecretRequest, SecretMetadata, SecretResponse, VersionInfo,
    VersionsResponse, WriteResponse, MAX_VALUE_BYTES,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::with_index;
use crate::access::scope::Action;
use crate::access::scope::Admin;
use crate::clock::{now_ms, rfc3339};
use crate::command::{Command, Rejection, Request, Response as SmResponse};
use crate::crypto::{Barrier, Binding};
use crate::node::Node;
use crate::secrets::PutSecret;
use crate::secrets::{effective_tier, validate_path, validate_prefix, SecretRecord, Tier};

/// Retries of a write whose version was taken by a concurrent write on the same path.
const VERSION_RETRIES: usize = 8;

fn barrier(node: &Node) -> Result<Arc<Barrier>, ApiError> {
    node.barrier().ok_or_else(ApiError::sealed)
}

fn binding(path: &str, version: u64) -> Binding<'_> {
    Binding { kind: "secret", path, version }
}

fn metadata(path: String, r: &SecretRecord) -> SecretMetadata {
    SecretMetadata {
        path,
        latest_version: r.latest_version,
        secret_type: r.secret_type.clone(),
        tier: r.tier.wire(),
        created_at: rfc3339(r.created_ms),
        updated_at: rfc3339(r.updated_ms),
        deleted: r.latest_deleted,
    }
}

fn parse_version(q: &std::collections::HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    match q.get("version") {
        None => Ok(None),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).map(Some).ok_or_else(|| {
            ApiError::new(ErrorCode::BadRequest, "`version` must be a positive integer")
        }),
    }
}

/// `GET /v1/secrets/{*path}`: a value, or with a final `/versions` the version list.
pub async fn get(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(path): ApiPath,
    ApiQuery(q): ApiQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(base) = path.strip_suffix("/versions") {
        return versions(&node, &caller, base).await;
    }
    validate_path(&path)?;
    caller.require_secret(Action::Read, &path)?;
    let wanted = parse_version(&q)?;
    let (record, number, version) = read_version(&node, &path, wanted).await?;
    let tier = effective_tier(&record, &version);
    caller.audit.note_secret(Some(number), Some(tier.as_str()));
    super::approvals::gate(&node, &caller, &path, tier, number, &headers).await?;
    if version.destroyed {
        return Err(ApiError::new(
            ErrorCode::VersionDestroyed,
            format!("version {number} was destroyed"),
        ));
    }
    if version.deleted_ms.is_some() {
        return Err(ApiError::new(
            ErrorCode::SecretDeleted,
            format!("version {number} is deleted"),
        ));
    }
    let b = binding(&path, number);
    let plain = match barrier(&node)?.decrypt(&b, &version.ciphertext) {
        // A term this node hasn't loaded yet: a rotation elsewhere. Reload and try once more.
        Err(crate::crypto::CryptoError::UnknownTerm(_)) => {
            node.refresh_keyring();
            barrier(&node)?.decrypt(&b, &version.ciphertext)
        }
        other => other,
    }
    .map_err(|e| {
        tracing::error!(error = %e, "a stored secret failed to decrypt");
        ApiError::internal("stored value failed to decrypt")
    })?;
    let value = String::from_utf8(plain.expose().to_vec())
        .map_err(|_| ApiError::internal("stored value is not UTF-8"))?;
    Ok(Json(SecretResponse {
        path,
        version: number,
        value,
        secret_type: record.secret_type,
        tier: tier.wire(),
        created_at: rfc3339(version.created_ms),
    })
    .into_response())
}

/// The record and the wanted (or latest) version of `path`. A record and its versions are
/// written in one transaction, but a plain read may land between the trees' updates: a latest
/// version that is not there yet is read again.
async fn read_version(
    node: &Node,
    path: &str,
    wanted: Option<u64>,
) -> Result<(SecretRecord, u64, crate::secrets::VersionRecord), ApiError> {
    let mut attempts = 0;
    loop {
        let record = node
            .state
            .secrets
            .record(path)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no secret at this path"))?;
        let number = match wanted {
            Some(n) => n,
            None if record.latest_deleted => {
                return Err(ApiError::new(
                    ErrorCode::SecretDeleted,
                    format!("the latest version ({}) is deleted", record.latest_version),
                ))
            }
            None => record.latest_version,
        };
        match node.state.secrets.version(path, number)? {
            Some(version) => return Ok((record, number, version)),
            None if number <= record.latest_version && attempts < 3 => {
                attempts += 1;
                tokio::task::yield_now().await;
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("no version {number} at this path"),
                ))
            }
        }
    }
}

async fn versions(node: &Node, caller: &Caller, path: &str) -> Result<Response, ApiError> {
    validate_path(path)?;
    caller.require_secret(Action::Read, path)?;
    let record = node
        .state
        .secrets
        .record(path)?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no secret at this path"))?;
    caller.audit.note_secret(Some(record.latest_version), Some(record.tier.as_str()));
    let versions = node
        .state
        .secrets
        .versions(path)?
        .into_iter()
        .map(|(n, v)| VersionInfo {
            version: n,
            created_at: rfc3339(v.created_ms),
            deleted_at: v.deleted_ms.map(rfc3339),
            destroyed: v.destroyed,
            key_term: crate::crypto::envelope_term(&v.ciphertext).ok(),
            tier: Some(effective_tier(&record, &v).wire()),
        })
        .collect();
    Ok(Json(VersionsResponse { metadata: metadata(path.to_string(), &record), versions })
        .into_response())
}

/// `GET /v1/secrets?prefix=…`: metadata only, never values.
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListResponse>, ApiError> {
    caller.refuse_agent_key()?;
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    validate_prefix(prefix)?;
    // Filtered, never refused: a caller learns nothing of paths outside its list scopes.
    let secrets = node
        .state
        .secrets
        .list(prefix)?
        .into_iter()
        .filter(|(p, _)| caller.may_list(p))
        .map(|(p, r)| metadata(p, &r))
        .collect();
    Ok(Json(ListResponse { secrets }))
}

/// `PUT /v1/secrets/{*path}`: a new version.
pub async fn put(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(path): ApiPath,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PutSecretRequest>,
) -> Result<Response, ApiError> {
    validate_path(&path)?;
    caller.require_secret(Action::Write, &path)?;
    if req.value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::ValueTooLarge,
            format!("secret values are limited to {MAX_VALUE_BYTES} bytes"),
        ));
    }
    if let Some(t) = &req.secret_type {
        if t.is_empty()
            || t.len() > 64
            || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "`type` must be 1 to 64 characters of [A-Za-z0-9_-]",
            ));
        }
    }
    let barrier = barrier(&node)?;
    let request_id = caller.request_id(super::extract::request_id(&headers)?);
    let _guard = node.path_lock(&path).lock().await;
    for _ in 0..VERSION_RETRIES {
        let current = node.state.secrets.record(&path)?;
        let latest = current.as_ref().map_or(0, |r| r.latest_version);
        let wanted_tier = req.tier.map(Tier::from);
        let lower_from = match (current.as_ref().map(|r| r.tier), wanted_tier) {
            (Some(now), Some(to)) if to < now => {
                authorize_lowering(&node, &caller, &path, now, latest, &headers).await?;
                Some(now)
            }
            _ => None,
        };
        // CAS is judged by the state machine only, after the request-id check, so a retried
        // CAS write gets its first answer instead of a mismatch.
        let version = latest + 1;
        let ciphertext = barrier
            .encrypt(&binding(&path, version), req.value.as_bytes())
            .map_err(|e| ApiError::internal(format!("encryption failed: {e}")))?;
        let request = Request {
            request_id,
            time_ms: now_ms(),
            cmd: Command::PutSecret(PutSecret {
                path: path.clone(),
                version,
                cas: req.cas,
                secret_type: req.secret_type.clone(),
                tier: wanted_tier,
                lower_from,
                ciphertext,
            }),
        };
        let committed = node.write(request).await?;
        match committed.response {
            SmResponse::Written { version } => {
                caller.audit.note_secret(Some(version), req.tier.map(|t| t.as_str()));
                return Ok(with_index(
                    StatusCode::OK,
                    committed.index,
                    WriteResponse { path, version, index: committed.index },
                ));
            }
            SmResponse::Rejected(Rejection::VersionConflict { .. }) => continue,
            SmResponse::Rejected(r) => return Err(r.into()),
            other => {
                return Err(ApiError::internal(format!("unexpected write response {other:?}")))
            }
        }
    }
    Err(ApiError::new(ErrorCode::Conflict, "too many concurrent writes to this path; retry"))
}

/// Lowering a path's tier is its own privileged act: the caller needs `policy:manage`, and
/// for a path gated now, the same approval a read of it needs. The apply judges it again
/// against the tier the path has by then (`secrets::apply_put`).
async fn authorize_lowering(
    node: &Node,
    caller: &Caller,
    path: &str,
    now: Tier,
    latest: u64,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if caller.require_admin(Admin::PolicyManage).is_err() {
        return Err(super::error::tier_downgrade_denied(now));
    }
    super::approvals::gate(node, caller, path, now, latest, headers).await
}

/// `DELETE /v1/secrets/{*path}[?version=N]`: soft-delete the latest, or destroy version N.
pub async fn delete(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(path): ApiPath,
    ApiQuery(q): ApiQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    validate_path(&path)?;
    caller.require_secret(Action::Delete, &path)?;
    let version = parse_version(&q)?;
    let cmd = match version {
        None => Command::DeleteLatest { path: path.clone() },
        Some(version) => Command::DestroyVersion { path: path.clone(), version },
    };
    let committed = node
        .write(Request {
            request_id: caller.request_id(super::extract::request_id(&headers)?),
            time_ms: now_ms(),
            cmd,
        })
        .await?;
    match committed.response {
        SmResponse::Deleted { version, destroyed } => {
            caller.audit.note_secret(Some(version), None);
            Ok(with_index(
                StatusCode::OK,
                committed.index,
                DeleteResponse { path, version, destroyed, index: committed.index },
            ))
        }
        SmResponse::Rejected(r) => Err(r.into()),
        other => Err(ApiError::internal(format!("unexpected delete response {other:?}"))),
    }
}
