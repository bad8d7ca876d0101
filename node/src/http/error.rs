//! The only place errors become HTTP answers: an [`ErrorCode`] (whose status
//! [`ErrorCode::status`] decides) and a human message.

use ass_client::types::ErrorBody;
use ass_client::ErrorCode;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::approvals::service::{ApprovalError, GateError};
use crate::command::Rejection;
use crate::identity::engine::IssueError;
use crate::identity::service::{AuthError, IdentityError};
use crate::identity::AccessError;
use crate::node::{ReadError, WriteError};
use crate::raft::read_index::ReadIndexError;
use crate::seal::SealError;
use crate::secrets::PathError;
use crate::storage::StorageError;

/// An error answer: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    /// The code's [`ErrorCode::status`], except on a held read (see [`ApiError::held_read`]).
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub leader: Option<String>,
    /// The approval request an `approval_*` error is about.
    pub approval_id: Option<String>,
}

impl ApiError {
    /// An answer with `code` and the status the code has.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = status_of(code.status());
        Self { status, code, message: message.into(), leader: None, approval_id: None }
    }
    /// A read held for approval (`approval_required`, `approval_denied`, `approval_expired`):
    /// always 403, carrying the approval request. The one place a code's status is not the
    /// code's own: `approval_expired` is 409 for a late decision, 403 here.
    pub fn held_read(code: ErrorCode, approval_id: String, message: impl Into<String>) -> Self {
        let mut e = Self::new(code, message);
        e.status = status_of(ErrorCode::HELD_READ_STATUS);
        e.approval_id = Some(approval_id);
        e
    }
    pub fn sealed() -> Self {
        Self::new(ErrorCode::Sealed, "this node is sealed: unseal it with `ass operator unseal`")
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    pub fn no_leader(leader: Option<String>) -> Self {
        let mut e = Self::new(
            ErrorCode::NoLeader,
            "no leader is available to take this write; retry shortly",
        );
        e.leader = leader;
        e
    }
}

/// The [`StatusCode`] of a status number from [`ErrorCode::status`] (always 400..=599).
fn status_of(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let info = super::audit_layer::ErrorInfo {
            code: self.code.clone(),
            approval_id: self.approval_id.clone(),
        };
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            leader: self.leader,
            approval_id: self.approval_id,
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(info);
        resp
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
        ApiError::new(ErrorCode::InvalidPath, e.to_string())
    }
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        let code = match e {
            SealError::BadParameters { .. } => ErrorCode::BadRequest,
            SealError::MalformedShare => ErrorCode::InvalidShare,
            SealError::DuplicateShare => ErrorCode::DuplicateShare,
            SealError::WrongShares => ErrorCode::InvalidShares,
            SealError::Crypto(_) => return ApiError::internal(e.to_string()),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotLeader { leader } => ApiError::no_leader(leader.map(|l| l.api_url())),
            WriteError::Raft(e) => {
                if e.is_fatal() {
                    tracing::error!(error = %e, "raft has stopped on this node; writes fail here");
                }
                ApiError::new(ErrorCode::Unavailable, format!("raft: {e}"))
            }
            WriteError::Replayed => ApiError::new(ErrorCode::Replayed, e.to_string()),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::ReadIndex(ReadIndexError::Timeout(_)) => {
                ApiError::new(ErrorCode::Timeout, e.to_string())
            }
            ReadError::ReadIndex(_) => ApiError::new(ErrorCode::NoLeader, e.to_string()),
            ReadError::StaleTooOld(_) => ApiError::new(ErrorCode::StaleUnavailable, e.to_string()),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::AlreadyInitialized => {
                ApiError::new(ErrorCode::AlreadyInitialized, "the cluster is already initialized")
            }
            Rejection::NotInitialized => ApiError::new(
                ErrorCode::NotInitialized,
                "the cluster is not initialized: run `ass operator init`",
            ),
            Rejection::CasMismatch { expected, actual } => ApiError::new(
                ErrorCode::CasMismatch,
                format!("check-and-set failed: expected version {expected}, latest is {actual}"),
            ),
            Rejection::VersionConflict { latest } => ApiError::new(
                ErrorCode::Conflict,
                format!("a concurrent write made version {latest}; retry"),
            ),
            Rejection::NotFound => ApiError::new(ErrorCode::NotFound, "not found"),
            Rejection::VersionNotFound { version } => {
                ApiError::new(ErrorCode::NotFound, format!("no version {version} at this path"))
            }
            Rejection::NameTaken => {
                ApiError::new(ErrorCode::NameTaken, "an agent with this name already exists")
            }
            Rejection::AlreadyRevoked => {
                ApiError::new(ErrorCode::AlreadyRevoked, "it is already revoked")
            }
            Rejection::AgentRevoked => {
                ApiError::new(ErrorCode::AgentRevoked, "the agent is revoked")
            }
            Rejection::RequestIdReused => ApiError::new(
                ErrorCode::RequestIdReused,
                "this request id was already used for a different call",
            ),
            Rejection::NotAnApprover => ApiError::new(
                ErrorCode::NotAnApprover,
                "only identities named in the approval policy's approvers may decide",
            ),
            Rejection::SelfApproval => {
                ApiError::new(ErrorCode::SelfApproval, "no one approves a request they made")
            }
            Rejection::ApprovalExpired => ApiError::new(
                ErrorCode::ApprovalExpired,
                "the request timed out; a new read opens a new one",
            ),
            Rejection::ApprovalClosed => ApiError::new(
                ErrorCode::ApprovalClosed,
                "the request was already approved or denied",
            ),
            Rejection::AlreadyDecided => ApiError::new(
                ErrorCode::AlreadyDecided,
                "this approver already decided on this request",
            ),
            Rejection::KeyringChanged => ApiError::new(
                ErrorCode::KeyringChanged,
                "another rotation changed the keyring first; retry",
            ),
            Rejection::AlreadyDeleted => {
                ApiError::new(ErrorCode::AlreadyDeleted, "that version is already deleted")
            }
            Rejection::TierDowngradeDenied { current } => tier_downgrade_denied(current),
        }
    }
}

/// A write that would lower a path's tier without the authority to (see
/// `docs/security-model.md`, "Tiers and versions").
pub fn tier_downgrade_denied(current: crate::secrets::Tier) -> ApiError {
    ApiError::new(
        ErrorCode::TierDowngradeDenied,
        format!(
            "this secret is {current}: lowering its tier needs the `policy:manage` scope and, \
             for a sensitive or critical secret, an approval like a read; a write without \
             --tier keeps the tier"
        ),
    )
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        let code = match e {
            AccessError::AgentKeyNotAllowed => ErrorCode::AgentKeyNotAllowed,
            AccessError::NeedsScope(_) => ErrorCode::ScopeDenied,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredential => ApiError::unauthorized(e.to_string()),
            AuthError::IpNotAllowed(_) => ApiError::new(ErrorCode::IpNotAllowed, e.to_string()),
            AuthError::RateLimited { .. } => ApiError::new(ErrorCode::RateLimited, e.to_string()),
            AuthError::Corrupt(m) => ApiError::internal(m),
            AuthError::Storage(s) => s.into(),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        let code = match &e {
            IssueError::Access(a) => return a.clone().into(),
            IssueError::NotWithin { .. } => ErrorCode::ScopeDenied,
            IssueError::InvalidScope(_) => ErrorCode::InvalidScope,
            IssueError::InvalidTtl(_) | IssueError::PolicyBreakGlassRange => ErrorCode::InvalidTtl,
            IssueError::InvalidAllowlist(_) => ErrorCode::InvalidAllowlist,
            IssueError::JustificationTooLong | IssueError::DescriptionTooLong => {
                ErrorCode::BadRequest
            }
            IssueError::TtlTooLong { .. } | IssueError::PolicyTtlTooLong => ErrorCode::TtlTooLong,
            IssueError::ChainTooDeep => ErrorCode::TokenChainTooDeep,
            IssueError::InvalidName => ErrorCode::InvalidName,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Access(a) => a.into(),
            IdentityError::Rule(r) => r.into(),
            IdentityError::Storage(s) => s.into(),
            IdentityError::Write(w) => w.into(),
            IdentityError::Rejected(r) => r.into(),
            IdentityError::CallerVanished(m) => ApiError::unauthorized(m),
            IdentityError::NotAToken => ApiError::new(ErrorCode::NotAToken, e.to_string()),
            IdentityError::TokenNotFound | IdentityError::AgentNotFound(_) => {
                ApiError::new(ErrorCode::NotFound, e.to_string())
            }
            IdentityError::NameTaken => ApiError::new(ErrorCode::NameTaken, e.to_string()),
            IdentityError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        use crate::identity::format_id;
        let message = e.to_string();
        match e {
            GateError::Required { id, .. } => {
                ApiError::held_read(ErrorCode::ApprovalRequired, format_id(&id), message)
            }
            GateError::Denied { id } => {
                ApiError::held_read(ErrorCode::ApprovalDenied, format_id(&id), message)
            }
            GateError::Expired { id, .. } => {
                ApiError::held_read(ErrorCode::ApprovalExpired, format_id(&id), message)
            }
            GateError::RateLimited { .. } => ApiError::new(ErrorCode::ApprovalRateLimited, message),
            GateError::ReasonTooLong => ApiError::new(ErrorCode::BadRequest, message),
            GateError::Storage(s) => s.into(),
            GateError::Write(w) => w.into(),
            GateError::Rejected(r) => r.into(),
            GateError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::Access(a) => a.into(),
            ApprovalError::BadId
            | ApprovalError::BadStatus
            | ApprovalError::CommentTooLong
            | ApprovalError::BadAllowUnknown => ApiError::new(ErrorCode::BadRequest, e.to_string()),
            ApprovalError::NotFound => ApiError::new(ErrorCode::NotFound, e.to_string()),
            ApprovalError::NotAnApprover => ApiError::new(ErrorCode::NotAnApprover, e.to_string()),
            ApprovalError::InvalidPolicy(_) => {
                ApiError::new(ErrorCode::InvalidPolicy, e.to_string())
            }
            ApprovalError::UnknownApprover(_) => {
                ApiError::new(ErrorCode::UnknownApprover, e.to_string())
            }
            ApprovalError::Storage(s) => s.into(),
            ApprovalError::Write(w) => w.into(),
            ApprovalError::Rejected(r) => r.into(),
            ApprovalError::Internal(m) => ApiError::internal(m),
        }
    }
}
