//! The only place errors become HTTP answers: an [`ErrorCode`] (whose status
//! [`ErrorCode::status`] decides) and a human message.

use ass_client::types::ErrorBody;
use ass_client::ErrorCode;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::approvals::service::{ApprovalError, GateError};
use crate::backup::service::SnapshotError;
use crate::backup::BackupError;
use crate::command::Rejection;
use crate::identity::engine::IssueError;
use crate::identity::service::{AuthError, IdentityError};
use crate::identity::AccessError;
use crate::node::{ReadError, WriteError};
use crate::raft::read_index::ReadIndexError;
use crate::seal::SealError;
use crate::secrets::engine::CheckError;
use crate::secrets::service::SecretsError;
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
            GateError::ReasonTooLong | GateError::ReasonNotText => {
                ApiError::new(ErrorCode::BadRequest, message)
            }
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

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Path(e) => e.into(),
            SecretsError::Access(e) => e.into(),
            SecretsError::Approval(e) => e.into(),
            SecretsError::Check(c) => c.into(),
            SecretsError::NotFound | SecretsError::NoVersion { .. } => {
                ApiError::new(ErrorCode::NotFound, e.to_string())
            }
            SecretsError::Sealed => ApiError::sealed(),
            SecretsError::TierDowngradeDenied { current } => tier_downgrade_denied(current),
            SecretsError::Conflict => ApiError::new(ErrorCode::Conflict, e.to_string()),
            SecretsError::Rejected(r) => r.into(),
            SecretsError::Write(e) => e.into(),
            SecretsError::Storage(e) => e.into(),
            SecretsError::Decrypt | SecretsError::NotUtf8 | SecretsError::Internal(_) => {
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl From<CheckError> for ApiError {
    fn from(e: CheckError) -> Self {
        let code = match e {
            CheckError::LatestDeleted { .. } | CheckError::VersionDeleted { .. } => {
                ErrorCode::SecretDeleted
            }
            CheckError::VersionDestroyed { .. } => ErrorCode::VersionDestroyed,
            CheckError::ValueTooLarge => ErrorCode::ValueTooLarge,
            CheckError::BadType => ErrorCode::BadRequest,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Internal(_) => ApiError::internal(e.to_string()),
            _ => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl From<SnapshotError> for ApiError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::Access(e) => e.into(),
            SnapshotError::Sealed => ApiError::sealed(),
            SnapshotError::File(e) => e.into(),
            SnapshotError::Timeout => ApiError::new(ErrorCode::Timeout, e.to_string()),
            SnapshotError::SharesNeeded { .. } => {
                ApiError::new(ErrorCode::BadRequest, e.to_string())
            }
            SnapshotError::WrongShares { .. } => {
                ApiError::new(ErrorCode::InvalidShares, e.to_string())
            }
            SnapshotError::Seal(e) => e.into(),
            SnapshotError::Rejected(r) => r.into(),
            SnapshotError::Write(e) => e.into(),
            SnapshotError::Read(e) => e.into(),
            SnapshotError::Storage(e) => e.into(),
            SnapshotError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<crate::audit::service::AuditServiceError> for ApiError {
    fn from(e: crate::audit::service::AuditServiceError) -> Self {
        use crate::audit::service::AuditServiceError;
        match e {
            AuditServiceError::Denied(a) => a.into(),
            AuditServiceError::BadRequest(m) => ApiError::new(ErrorCode::BadRequest, m),
            AuditServiceError::Disabled => {
                ApiError::new(ErrorCode::AuditUnavailable, e.to_string())
            }
        }
    }
}

impl From<crate::posture::service::PostureError> for ApiError {
    fn from(e: crate::posture::service::PostureError) -> Self {
        use crate::posture::service::PostureError;
        match e {
            PostureError::BadParam { .. } | PostureError::Invalid(_) => {
                ApiError::new(ErrorCode::BadRequest, e.to_string())
            }
            PostureError::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            PostureError::Denied(a) => a.into(),
            PostureError::NotAReader => ApiError::new(ErrorCode::ScopeDenied, e.to_string()),
            PostureError::Storage(s) => s.into(),
            PostureError::Write(w) => w.into(),
            PostureError::Rejected(r) => r.into(),
            PostureError::Unexpected(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl From<crate::seal::service::Error> for ApiError {
    fn from(e: crate::seal::service::Error) -> Self {
        use crate::seal::engine::MigrateRefusal;
        use crate::seal::service::Error as E;
        match e {
            E::NotInitialized | E::NotInitializedHere => {
                ApiError::new(ErrorCode::NotInitialized, e.to_string())
            }
            E::MissingKey(_) | E::BadParameters | E::Health(_) => {
                ApiError::new(ErrorCode::BadRequest, e.to_string())
            }
            E::Migrate(r) => {
                let code = match r {
                    MigrateRefusal::UnknownTarget => ErrorCode::BadRequest,
                    MigrateRefusal::AlreadyMigrated(_) => ErrorCode::AlreadyMigrated,
                    MigrateRefusal::NoHsm => ErrorCode::NoHsm,
                };
                ApiError::new(code, r.to_string())
            }
            E::Shares(e) => e.into(),
            E::Sealed => ApiError::sealed(),
            E::Write(e) => e.into(),
            E::Rejected(r) => r.into(),
            E::Storage(e) => e.into(),
            E::Access(e) => e.into(),
            E::NoKeyring | E::Hsm(_) | E::HsmGone | E::Keyring(_) | E::Unexpected(_) => {
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl From<crate::members::MembersError> for ApiError {
    fn from(e: crate::members::MembersError) -> Self {
        use crate::handover::HandoverError as H;
        use crate::members::MembersError as E;
        match e {
            E::BadMember | E::BadId => ApiError::new(ErrorCode::BadRequest, e.to_string()),
            E::CatchUpTimeout => ApiError::new(ErrorCode::Timeout, e.to_string()),
            E::Change(_) => ApiError::new(ErrorCode::MembershipChangeFailed, e.to_string()),
            E::Handover(h @ (H::NoOtherVoter | H::NoLiveVoter)) => {
                ApiError::new(ErrorCode::MembershipChangeFailed, h.to_string())
            }
            E::NotLeader { leader } => ApiError::no_leader(leader),
            E::Handover(h) => ApiError::new(ErrorCode::Timeout, h.to_string()),
            E::Access(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Tier;

    /// Status, code and message of an answer.
    type Answer = (u16, String, String);

    fn answer(e: impl Into<ApiError>) -> Answer {
        let e = e.into();
        (e.status.as_u16(), e.code.as_str().to_string(), e.message)
    }

    /// The secrets and backup services' errors answer with the codes, statuses and messages
    /// the handlers built themselves before the services existed (issue 15).
    #[test]
    fn service_errors_keep_their_answers() {
        let cases: Vec<(Answer, (u16, &str, &str))> = vec![
            (
                answer(CheckError::LatestDeleted { latest: 3 }),
                (404, "secret_deleted", "the latest version (3) is deleted"),
            ),
            (
                answer(CheckError::VersionDeleted { version: 2 }),
                (404, "secret_deleted", "version 2 is deleted"),
            ),
            (
                answer(CheckError::VersionDestroyed { version: 2 }),
                (404, "version_destroyed", "version 2 was destroyed"),
            ),
            (
                answer(CheckError::ValueTooLarge),
                (413, "value_too_large", "secret values are limited to 65536 bytes"),
            ),
            (
                answer(CheckError::BadType),
                (400, "bad_request", "`type` must be 1 to 64 characters of [A-Za-z0-9_-]"),
            ),
            (answer(SecretsError::NotFound), (404, "not_found", "no secret at this path")),
            (
                answer(SecretsError::NoVersion { version: 9 }),
                (404, "not_found", "no version 9 at this path"),
            ),
            (
                answer(SecretsError::Conflict),
                (409, "conflict", "too many concurrent writes to this path; retry"),
            ),
            (answer(SecretsError::Decrypt), (500, "internal", "stored value failed to decrypt")),
            (answer(SecretsError::NotUtf8), (500, "internal", "stored value is not UTF-8")),
            (
                answer(SnapshotError::Timeout),
                (504, "timeout", "no Raft snapshot covering this read was built within 30 s"),
            ),
            (
                answer(SnapshotError::SharesNeeded { threshold: 3 }),
                (
                    400,
                    "bad_request",
                    "this cluster is not initialized: give `keys`, at least 3 of the snapshot's \
                     original unseal key shares",
                ),
            ),
            (
                answer(SnapshotError::WrongShares { threshold: 3, shares: 5 }),
                (
                    400,
                    "invalid_shares",
                    "the shares do not open this snapshot's root key: give 3 of the 5 unseal \
                     key shares that were current when it was saved",
                ),
            ),
            (
                answer(SnapshotError::File(BackupError::TooLarge)),
                (413, "snapshot_too_large", "the snapshot file is larger than 33554432 bytes"),
            ),
            (
                answer(SnapshotError::Internal("snapshot: no Raft snapshot stored".into())),
                (500, "internal", "snapshot: no Raft snapshot stored"),
            ),
        ];
        for (got, (status, code, message)) in cases {
            assert_eq!(got, (status, code.to_string(), message.to_string()));
        }
        let (status, code, _) =
            answer(SecretsError::TierDowngradeDenied { current: Tier::Critical });
        assert_eq!((status, code.as_str()), (403, "tier_downgrade_denied"));
        assert_eq!(answer(SecretsError::Sealed).1, "sealed");
        assert_eq!(answer(SnapshotError::Sealed).0, 503);
    }
}
