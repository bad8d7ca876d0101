//! `/v1/sys/snapshot`: save an encrypted backup, restore one. Extract (the caller, the
//! `local` flag, the base64 file), call [`crate::backup::service`], answer; the file format
//! is [`crate::backup::file`].

use std::sync::Arc;

use ass_client::types::{SnapshotRestoreRequest, SnapshotRestoreResponse};
use ass_client::ErrorCode;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;

use super::error::ApiError;
use super::extract::{request_id, ApiJson};
use crate::backup::{self, service};
use crate::clock::rfc3339;
use crate::identity::Caller;
use crate::node::Node;

pub use crate::backup::{PATH_RESTORE, PATH_SAVE};
/// Largest restore request: the file in base64 inside JSON.
pub const MAX_RESTORE_BODY: usize = backup::MAX_FILE_BYTES / 3 * 4 + 64 * 1024;

/// `GET /v1/sys/snapshot` (needs `sys:operator`, an unsealed node): the whole replicated
/// state as of a linearizable read, encrypted, as `application/octet-stream`.
///
/// `?local=true` skips the read index and saves this node's state as it is: the way out
/// when quorum is lost for good (no leader can confirm anything), to carry the most recent
/// survivor's state into a new cluster. It may miss writes the lost majority committed.
pub async fn save(State(node): State<Arc<Node>>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let local = parts.uri.query().is_some_and(|q| q.split('&').any(|kv| kv == "local=true"));
    let caller = if local {
        super::auth::caller_from_local_state(&parts, &node)?
    } else {
        Caller::from_request_parts(&mut parts, &node).await?
    };
    let saved = service::save(&node, &caller, local).await?;
    let name = format!("attachment; filename=\"ass-{}-{}.snap\"", saved.cluster_id, saved.index);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, name),
            (header::HeaderName::from_static("x-ass-snapshot-index"), saved.index.to_string()),
        ],
        saved.file,
    )
        .into_response())
}

/// `POST /v1/sys/snapshot/restore` with `{"snapshot": base64, "keys": [...]}`: on an
/// initialized cluster the operator's credential (and this cluster's file), on a new one the
/// snapshot's own unseal shares in `keys` (see [`service::restore`]).
pub async fn restore(State(node): State<Arc<Node>>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let headers = parts.headers.clone();
    let caller = match service::restore_needs_operator(&node)? {
        true => Some(Caller::from_request_parts(&mut parts, &node).await?),
        false => None,
    };
    let req = Request::from_parts(parts, body);
    let ApiJson(body) =
        <ApiJson<SnapshotRestoreRequest> as axum::extract::FromRequest<()>>::from_request(req, &())
            .await?;
    let file = base64::engine::general_purpose::STANDARD
        .decode(body.snapshot.trim())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "`snapshot` must be base64"))?;
    let request_id = request_id(&headers)?;
    let done = service::restore(&node, caller.as_ref(), &file, &body.keys, request_id).await?;
    let h = done.from;
    let resp = SnapshotRestoreResponse {
        index: done.index,
        cluster_id: h.cluster_id,
        snapshot_index: h.index,
        snapshot_term: h.term,
        snapshot_created: rfc3339(h.created_ms),
        threshold: h.seal.threshold,
        shares: h.seal.shares,
        unsealed: done.unsealed,
    };
    Ok(super::with_index(StatusCode::OK, done.index, Json(resp).0))
}
