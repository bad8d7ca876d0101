//! The stable machine codes of the API's error answers, and the HTTP status of each.
//!
//! The node builds every error answer from an [`ErrorCode`] and takes its status from
//! [`ErrorCode::status`]: the one place a code's status is decided. The wire form is the
//! `snake_case` string (`"scope_denied"`), in the `error` field of
//! [`ErrorBody`](crate::types::ErrorBody). A client reading a code it does not know (a newer
//! server) gets [`ErrorCode::Unknown`] with the string kept, never a decode failure.

use std::fmt;
use std::str::FromStr;

/// Declares the known codes once: variant, wire string, status, and the list of all of them.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $wire:literal => $status:literal,)+) => {
        /// A stable machine code of an error answer. See `docs/api.md`, "Errors".
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
            /// A code this client does not know (the server is newer), as the server sent it.
            Unknown(String),
        }

        impl ErrorCode {
            /// Every known code, in the order of the table (not [`ErrorCode::Unknown`]).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The wire string, e.g. `"scope_denied"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                    ErrorCode::Unknown(s) => s,
                }
            }

            /// The HTTP status of an answer with this code. One exception: `approval_expired`
            /// is 409 for an approver's late decision but 403 on a read that opened a new
            /// request in place of the timed-out one (that answer carries `approval_id`); see
            /// [`ErrorCode::HELD_READ_STATUS`]. [`ErrorCode::Unknown`] answers 500 here: a
            /// client has the real status of the answer anyway.
            pub fn status(&self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                    ErrorCode::Unknown(_) => 500,
                }
            }

            /// The code of a wire string; an unknown string gives [`ErrorCode::Unknown`].
            pub fn parse(s: &str) -> ErrorCode {
                match s {
                    $($wire => ErrorCode::$variant,)+
                    other => ErrorCode::Unknown(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    // 400: the request breaks a rule of the API.
    /// A request the API cannot take; the message says which rule it breaks.
    BadRequest = "bad_request" => 400,
    /// The body is not the JSON the route takes.
    InvalidJson = "invalid_json" => 400,
    /// A secret path or list prefix breaks the path rules.
    InvalidPath = "invalid_path" => 400,
    /// An agent name breaks the name rules.
    InvalidName = "invalid_name" => 400,
    /// A scope breaks the grammar, or the scope list is empty or too long.
    InvalidScope = "invalid_scope" => 400,
    /// A TTL breaks the grammar.
    InvalidTtl = "invalid_ttl" => 400,
    /// A token TTL above the token policy's `max_ttl`.
    TtlTooLong = "ttl_too_long" => 400,
    /// An IP allowlist entry that is not an address or range, or not within the parent's.
    InvalidAllowlist = "invalid_allowlist" => 400,
    /// An approval policy that breaks the policy rules.
    InvalidPolicy = "invalid_policy" => 400,
    /// An approval policy names an approver that does not exist.
    UnknownApprover = "unknown_approver" => 400,
    /// A child token would make the token chain deeper than allowed.
    TokenChainTooDeep = "token_chain_too_deep" => 400,
    /// A token-only call made with another credential.
    NotAToken = "not_a_token" => 400,
    /// An unseal key share that does not decode.
    InvalidShare = "invalid_share" => 400,
    /// The same unseal key share given twice.
    DuplicateShare = "duplicate_share" => 400,
    /// Enough shares, but they do not open the root key.
    InvalidShares = "invalid_shares" => 400,
    /// `init` on a cluster that is already initialized.
    AlreadyInitialized = "already_initialized" => 400,
    /// A call that needs an initialized cluster.
    NotInitialized = "not_initialized" => 400,
    /// The agent or token is already revoked.
    AlreadyRevoked = "already_revoked" => 400,
    /// That version is already deleted.
    AlreadyDeleted = "already_deleted" => 400,
    /// The seal is already of the kind a migration asks for.
    AlreadyMigrated = "already_migrated" => 400,
    /// A seal migration to an HSM on a node with no HSM configured.
    NoHsm = "no_hsm" => 400,
    /// Plain HTTP sent to a port that serves HTTPS only.
    TlsRequired = "tls_required" => 400,
    /// The snapshot file is not a snapshot.
    SnapshotInvalid = "snapshot_invalid" => 400,
    /// The snapshot file's format version is not one this node reads.
    SnapshotUnsupported = "snapshot_unsupported" => 400,
    /// The snapshot file is cut short.
    SnapshotTruncated = "snapshot_truncated" => 400,
    /// The snapshot file does not decrypt or fails its checksums.
    SnapshotCorrupt = "snapshot_corrupt" => 400,
    /// The snapshot was saved by another cluster.
    SnapshotForeign = "snapshot_foreign" => 400,
    // 401
    /// No credential, or one that is unknown, expired or revoked.
    Unauthorized = "unauthorized" => 401,
    // 403: the credential is known but may not do this.
    /// The credential lacks the scope the call needs.
    ScopeDenied = "scope_denied" => 403,
    /// The client address is not in the credential's IP allowlist.
    IpNotAllowed = "ip_not_allowed" => 403,
    /// An agent key used for anything but buying tokens.
    AgentKeyNotAllowed = "agent_key_not_allowed" => 403,
    /// The agent is revoked.
    AgentRevoked = "agent_revoked" => 403,
    /// A decision by an identity the approval policy does not name.
    NotAnApprover = "not_an_approver" => 403,
    /// A decision on one's own request.
    SelfApproval = "self_approval" => 403,
    /// A write that would lower a secret's tier without the authority to.
    TierDowngradeDenied = "tier_downgrade_denied" => 403,
    /// A read held for approval; the answer's `approval_id` names the pending request.
    ApprovalRequired = "approval_required" => 403,
    /// A read whose approval request was denied.
    ApprovalDenied = "approval_denied" => 403,
    // 404
    /// No such secret, version, agent, token or approval request.
    NotFound = "not_found" => 404,
    /// No such route.
    NoRoute = "no_route" => 404,
    /// The secret's latest version is deleted.
    SecretDeleted = "secret_deleted" => 404,
    /// The version was destroyed.
    VersionDestroyed = "version_destroyed" => 404,
    // 405
    /// The route does not take that method.
    MethodNotAllowed = "method_not_allowed" => 405,
    // 409: the state moved on.
    /// A check-and-set write against a version that is not the latest.
    CasMismatch = "cas_mismatch" => 409,
    /// A concurrent write won; retry.
    Conflict = "conflict" => 409,
    /// An agent with this name already exists.
    NameTaken = "name_taken" => 409,
    /// A request id used again for a different call.
    RequestIdReused = "request_id_reused" => 409,
    /// A write's request id that was already applied (an answer lost on the way).
    Replayed = "replayed" => 409,
    /// An approval request that timed out (403 on a read: see [`ErrorCode::status`]).
    ApprovalExpired = "approval_expired" => 409,
    /// An approval request that was already approved or denied.
    ApprovalClosed = "approval_closed" => 409,
    /// This approver already decided on this request.
    AlreadyDecided = "already_decided" => 409,
    /// Another key rotation changed the keyring first; retry.
    KeyringChanged = "keyring_changed" => 409,
    /// Raft refused a membership change (another is in progress, or the node is not a member).
    MembershipChangeFailed = "membership_change_failed" => 409,
    // 413 / 414 / 431: too large to take.
    /// A secret value over the size limit.
    ValueTooLarge = "value_too_large" => 413,
    /// A request body over the size limit.
    BodyTooLarge = "body_too_large" => 413,
    /// A snapshot file over the size limit.
    SnapshotTooLarge = "snapshot_too_large" => 413,
    /// A request URI over the size limit.
    UriTooLong = "uri_too_long" => 414,
    /// Request headers over the size limit.
    HeadersTooLarge = "headers_too_large" => 431,
    // 429: slow down.
    /// Too many failed authentications from this client address.
    RateLimited = "rate_limited" => 429,
    /// Too many new approval requests for a secret after denials.
    ApprovalRateLimited = "approval_rate_limited" => 429,
    // 5xx
    /// A fault of the node (storage); see the node log.
    Internal = "internal" => 500,
    /// This node is sealed.
    Sealed = "sealed" => 503,
    /// No leader is available to take the call.
    NoLeader = "no_leader" => 503,
    /// Raft cannot take the write now (it is stopping or failed).
    Unavailable = "unavailable" => 503,
    /// A stale read on a node that has not heard from a leader lately.
    StaleUnavailable = "stale_unavailable" => 503,
    /// The call's audit event could not be recorded, so it was refused.
    AuditUnavailable = "audit_unavailable" => 503,
    /// The call did not finish in time (a write may still have committed).
    Timeout = "timeout" => 504,
}

impl ErrorCode {
    /// The status of a read held for approval (`approval_required`, `approval_denied`, and
    /// `approval_expired` when the read opened a new request in place of a timed-out one).
    pub const HELD_READ_STATUS: u16 = 403;

    /// `true` when another node may well succeed where this one answered with this code: the
    /// 503s (this node cannot serve now) and the 429s (this node is slowing this client
    /// down). The client fails over on these statuses; the node did not act on the call.
    pub fn is_failover(&self) -> bool {
        matches!(self.status(), 429 | 503) && !matches!(self, ErrorCode::Unknown(_))
    }

    /// `true` for a code the server sent that this client does not know.
    pub fn is_unknown(&self) -> bool {
        matches!(self, ErrorCode::Unknown(_))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    /// Never fails: an unknown string is [`ErrorCode::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ErrorCode::parse(s))
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_round_trips_through_its_string_and_json() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is listed twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s} is not snake_case"
            );
            assert_eq!(&ErrorCode::parse(s), code);
            assert_eq!(&s.parse::<ErrorCode>().unwrap(), code);
            assert!(!code.is_unknown(), "{s}");
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.to_string(), s);
        }
        assert!(seen.len() >= 60, "only {} codes", seen.len());
    }

    #[test]
    fn every_status_is_a_client_or_server_error() {
        for code in ErrorCode::ALL {
            assert!((400..=599).contains(&code.status()), "{code}: {}", code.status());
        }
        assert_eq!(ErrorCode::ScopeDenied.status(), 403);
        assert_eq!(ErrorCode::Sealed.status(), 503);
        assert_eq!(ErrorCode::ApprovalExpired.status(), 409);
        assert_eq!(ErrorCode::HELD_READ_STATUS, ErrorCode::ApprovalRequired.status());
    }

    #[test]
    fn an_unknown_code_is_kept_not_refused() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(code, ErrorCode::Unknown("quota_exceeded".into()));
        assert!(code.is_unknown());
        assert!(!code.is_failover());
        assert_eq!(code.as_str(), "quota_exceeded");
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"quota_exceeded\"");
        assert_eq!(code, "quota_exceeded");
    }

    #[test]
    fn failover_codes_are_the_503s_and_429s() {
        let failover: Vec<&str> =
            ErrorCode::ALL.iter().filter(|c| c.is_failover()).map(ErrorCode::as_str).collect();
        assert_eq!(
            failover,
            [
                "rate_limited",
                "approval_rate_limited",
                "sealed",
                "no_leader",
                "unavailable",
                "stale_unavailable",
                "audit_unavailable"
            ]
        );
        assert!(!ErrorCode::Timeout.is_failover(), "a timed-out write may have committed");
    }
}
