//! Request-path extractors: JSON bodies with our error codes, the caller's credential, the
//! write's request id and the read's consistency. Every route goes through these.

use ass_client::types::{HEADER_CONSISTENCY, HEADER_MIN_INDEX, HEADER_REQUEST_ID};
use ass_client::ErrorCode;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::node::Consistency;

/// A JSON body; malformed JSON is 400 `invalid_json`, an oversized body 413 `body_too_large`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::BodyTooLarge,
                    "request body is larger than this node accepts",
                )
            } else {
                ApiError::new(ErrorCode::BadRequest, rejection.body_text())
            }
        })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("request body is not valid JSON for this call: {e}"),
            )
        })?;
        Ok(ApiJson(value))
    }
}

/// The write's idempotency key: the client's `X-Ass-Request-Id`, or a fresh one.
pub fn request_id(headers: &HeaderMap) -> Result<[u8; 16], ApiError> {
    match headers.get(HEADER_REQUEST_ID) {
        None => Ok(*uuid::Uuid::new_v4().as_bytes()),
        Some(v) => {
            let s = v.to_str().map_err(|_| {
                ApiError::new(ErrorCode::BadRequest, "x-ass-request-id must be ASCII")
            })?;
            if s.is_empty() || s.len() > 128 {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "x-ass-request-id must be 1 to 128 characters",
                ));
            }
            if let Ok(u) = uuid::Uuid::parse_str(s) {
                return Ok(*u.as_bytes());
            }
            let digest = Sha256::digest(s.as_bytes());
            let mut id = [0u8; 16];
            id.copy_from_slice(&digest[..16]);
            Ok(id)
        }
    }
}

/// The consistency a read asks for through its headers.
pub fn consistency(headers: &HeaderMap) -> Result<Consistency, ApiError> {
    if let Some(v) = headers.get(HEADER_MIN_INDEX) {
        let n = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "x-ass-min-index must be a log index (an unsigned integer)",
            )
        })?;
        return Ok(Consistency::MinIndex(n));
    }
    match headers.get(HEADER_CONSISTENCY).map(|v| v.to_str().unwrap_or("")) {
        None | Some("linearizable") | Some("default") => Ok(Consistency::Linearizable),
        Some("stale") => Ok(Consistency::Stale),
        Some(other) => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "x-ass-consistency must be `linearizable` or `stale`, not `{}`",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// The `{*path}` of a route; an undecodable path is 400 `invalid_path`.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(p)| ApiPath(p))
            .map_err(|e| ApiError::new(ErrorCode::InvalidPath, e.body_text()))
    }
}

/// The query string as name → value; a malformed one is 400 `bad_request`.
pub struct ApiQuery(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<std::collections::HashMap<String, String>>::from_request_parts(
            parts, state,
        )
        .await
        .map(|axum::extract::Query(q)| ApiQuery(q))
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))
    }
}
