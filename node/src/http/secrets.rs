//! `/v1/secrets/*`: extract the path, query, headers and body, call one
//! [`crate::secrets::service`] use case, answer in JSON. Access, approvals, encryption and
//! retries all live in the service.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use ass_client::types::{
    DeleteResponse, ListResponse, PutSecretRequest, SecretMetadata, SecretResponse, VersionInfo,
    VersionsResponse, WriteResponse, HEADER_REASON,
};
use ass_client::ErrorCode;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::extract::{request_id, ApiJson, ApiPath, ApiQuery};
use super::with_index;
use crate::clock::rfc3339;
use crate::identity::Caller;
use crate::node::Node;
use crate::secrets::service::{self, SecretMeta, WriteSecret};

fn metadata(m: SecretMeta) -> SecretMetadata {
    SecretMetadata {
        path: m.path,
        latest_version: m.latest_version,
        secret_type: m.secret_type,
        tier: m.tier.wire(),
        created_at: rfc3339(m.created_ms),
        updated_at: rfc3339(m.updated_ms),
        deleted: m.deleted,
    }
}

fn parse_version(q: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    match q.get("version") {
        None => Ok(None),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).map(Some).ok_or_else(|| {
            ApiError::new(ErrorCode::BadRequest, "`version` must be a positive integer")
        }),
    }
}

/// The `X-Ass-Reason` header as sent; the approvals gate judges it when a read is gated.
fn reason(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    headers.get(HEADER_REASON).map(|v| String::from_utf8_lossy(v.as_bytes()))
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
        let v = service::versions(&node, &caller, base).await?;
        let versions = v
            .versions
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                created_at: rfc3339(v.created_ms),
                deleted_at: v.deleted_ms.map(rfc3339),
                destroyed: v.destroyed,
                key_term: v.key_term,
                tier: Some(v.tier.wire()),
            })
            .collect();
        return Ok(
            Json(VersionsResponse { metadata: metadata(v.metadata), versions }).into_response()
        );
    }
    let wanted = parse_version(&q)?;
    let s = service::read(&node, &caller, &path, wanted, reason(&headers).as_deref()).await?;
    Ok(Json(SecretResponse {
        path: s.path,
        version: s.version,
        value: s.value,
        secret_type: s.secret_type,
        tier: s.tier.wire(),
        created_at: rfc3339(s.created_ms),
    })
    .into_response())
}

/// `GET /v1/secrets?prefix=…`: metadata only, never values.
pub async fn list(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiQuery(q): ApiQuery,
) -> Result<Json<ListResponse>, ApiError> {
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    let found = service::list(&node, &caller, prefix).await?;
    Ok(Json(ListResponse { secrets: found.into_iter().map(metadata).collect() }))
}

/// `PUT /v1/secrets/{*path}`: a new version.
pub async fn put(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(path): ApiPath,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PutSecretRequest>,
) -> Result<Response, ApiError> {
    let request_id = caller.request_id(request_id(&headers)?);
    let write = WriteSecret {
        value: req.value,
        secret_type: req.secret_type,
        tier: req.tier.map(Into::into),
        cas: req.cas,
        reason: reason(&headers).map(Cow::into_owned),
    };
    let done = service::write(&node, &caller, &path, write, request_id).await?;
    let body = WriteResponse { path, version: done.version, index: done.index };
    Ok(with_index(StatusCode::OK, done.index, body))
}

/// `DELETE /v1/secrets/{*path}[?version=N]`: soft-delete the latest, or destroy version N.
pub async fn delete(
    State(node): State<Arc<Node>>,
    caller: Caller,
    ApiPath(path): ApiPath,
    ApiQuery(q): ApiQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version = parse_version(&q)?;
    let request_id = caller.request_id(request_id(&headers)?);
    let done = match version {
        None => service::delete(&node, &caller, &path, request_id).await?,
        Some(n) => service::destroy(&node, &caller, &path, n, request_id).await?,
    };
    let body = DeleteResponse {
        path,
        version: done.version,
        destroyed: done.destroyed,
        index: done.index,
    };
    Ok(with_index(StatusCode::OK, done.index, body))
}
