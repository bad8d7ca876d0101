//! The only place errors become HTTP status codes and stable machine codes.

use ass_client::types::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::audit::service::AuditServiceError;
use crate::command::Rejection;
use crate::node::{ReadError, WriteError};
use crate::posture::service::PostureError;
use crate::raft::read_index::ReadIndexError;
use crate::seal::SealError;
use crate::secrets::PathError;
use crate::storage::StorageError;

/// An error answer: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub leader: Option<String>,
    /// The approval request an `approval_*` error is about.
    pub approval_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), leader: None, approval_id: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn sealed() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sealed",
            "this node is sealed: unseal it with `ass operator unseal`",
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn no_leader(leader: Option<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_leader",
            "no leader is available to take this write; retry shortly",
        );
        e.leader = leader;
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let info = super::audit_layer::ErrorInfo {
            code: self.code,
            approval_id: self.approval_id.clone(),
        };
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            leader: self.leader,
            approval_id: self.approval_id,
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(info);
        resp
    }
}

impl From<AuditServiceError> for ApiError {
    fn from(e: AuditServiceError) -> Self {
        match e {
            AuditServiceError::Denied(e) => e,
            AuditServiceError::BadRequest(m) => ApiError::bad_request("bad_request", m),
            AuditServiceError::Disabled => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable", e.to_string())
            }
        }
    }
}

impl From<PostureError> for ApiError {
    fn from(e: PostureError) -> Self {
        match e {
            PostureError::BadParam { .. } | PostureError::Invalid(_) => {
                ApiError::bad_request("bad_request", e.to_string())
            }
            PostureError::NotFound(m) => ApiError::not_found("not_found", m),
            PostureError::Denied(e) => e,
            PostureError::NotAReader => {
                ApiError::new(StatusCode::FORBIDDEN, "scope_denied", e.to_string())
            }
            PostureError::Storage(s) => s.into(),
            PostureError::Write(w) => w.into(),
            PostureError::Rejected(r) => r.into(),
            PostureError::Unexpected(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "storage error on the request path");
        ApiError::internal("storage error; see the node log")
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        ApiError::bad_request("invalid_path", e.to_string())
    }
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        let code = match e {
            SealError::BadParameters { .. } => "bad_request",
            SealError::MalformedShare => "invalid_share",
            SealError::DuplicateShare => "duplicate_share",
            SealError::WrongShares => "invalid_shares",
            SealError::Crypto(_) => return ApiError::internal(e.to_string()),
        };
        ApiError::bad_request(code, e.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotLeader { leader } => ApiError::no_leader(leader.map(|l| l.api_url())),
            WriteError::Raft(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("raft: {m}"))
            }
            WriteError::Replayed => ApiError::new(StatusCode::CONFLICT, "replayed", e.to_string()),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::ReadIndex(ReadIndexError::Timeout(_)) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", e.to_string())
            }
            ReadError::ReadIndex(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_leader", e.to_string())
            }
            ReadError::StaleTooOld(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stale_unavailable", e.to_string())
            }
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::AlreadyInitialized => {
                ApiError::bad_request("already_initialized", "the cluster is already initialized")
            }
            Rejection::NotInitialized => ApiError::bad_request(
                "not_initialized",
                "the cluster is not initialized: run `ass operator init`",
            ),
            Rejection::CasMismatch { expected, actual } => ApiError::new(
                StatusCode::CONFLICT,
                "cas_mismatch",
                format!("check-and-set failed: expected version {expected}, latest is {actual}"),
            ),
            Rejection::VersionConflict { latest } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a concurrent write made version {latest}; retry"),
            ),
            Rejection::NotFound => ApiError::not_found("not_found", "not found"),
            Rejection::VersionNotFound { version } => {
                ApiError::not_found("not_found", format!("no version {version} at this path"))
            }
            Rejection::NameTaken => ApiError::new(
                StatusCode::CONFLICT,
                "name_taken",
                "an agent with this name already exists",
            ),
            Rejection::AlreadyRevoked => {
                ApiError::bad_request("already_revoked", "it is already revoked")
            }
            Rejection::AgentRevoked => {
                ApiError::new(StatusCode::FORBIDDEN, "agent_revoked", "the agent is revoked")
            }
            Rejection::RequestIdReused => ApiError::new(
                StatusCode::CONFLICT,
                "request_id_reused",
                "this request id was already used for a different call",
            ),
            Rejection::NotAnApprover => ApiError::new(
                StatusCode::FORBIDDEN,
                "not_an_approver",
                "only identities named in the approval policy's approvers may decide",
            ),
            Rejection::SelfApproval => ApiError::new(
                StatusCode::FORBIDDEN,
                "self_approval",
                "no one approves a request they made",
            ),
            Rejection::ApprovalExpired => ApiError::new(
                StatusCode::CONFLICT,
                "approval_expired",
                "the request timed out; a new read opens a new one",
            ),
            Rejection::ApprovalClosed => ApiError::new(
                StatusCode::CONFLICT,
                "approval_closed",
                "the request was already approved or denied",
            ),
            Rejection::AlreadyDecided => ApiError::new(
                StatusCode::CONFLICT,
                "already_decided",
                "this approver already decided on this request",
            ),
            Rejection::KeyringChanged => ApiError::new(
                StatusCode::CONFLICT,
                "keyring_changed",
                "another rotation changed the keyring first; retry",
            ),
            Rejection::AlreadyDeleted => {
                ApiError::bad_request("already_deleted", "that version is already deleted")
            }
            Rejection::TierDowngradeDenied { current } => tier_downgrade_denied(current),
        }
    }
}

/// A write that would lower a path's tier without the authority to (see
/// `docs/security-model.md`, "Tiers and versions").
pub fn tier_downgrade_denied(current: crate::secrets::Tier) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "tier_downgrade_denied",
        format!(
            "this secret is {current}: lowering its tier needs the `policy:manage` scope and, \
             for a sensitive or critical secret, an approval like a read; a write without \
             --tier keeps the tier"
        ),
    )
}
