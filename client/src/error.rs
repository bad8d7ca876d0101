//! The one error type of the client, and how an HTTP answer that is not a success becomes it.
//!
//! A server error keeps the server's stable machine code (`not_found`, `sealed`, …) so callers
//! match on [`Error::code`], never on message text. Errors never carry the bearer token.

use crate::error_code::ErrorCode;
use crate::types::ErrorBody;

/// Largest number of bytes of a non-JSON error body quoted in [`Error::Api`]'s message.
const MAX_QUOTED_BODY: usize = 200;

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status. `code` is the server's machine code
    /// (see [`ErrorBody`]) or `http_<status>` when the body was not one of ours
    /// (a proxy or load balancer answered, for example).
    #[error("{message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// Stable machine code, e.g. `not_found`, `sealed`, `cas_mismatch`.
        code: String,
        /// Human-readable sentence from the server.
        message: String,
        /// API address of the current leader, when the error is about leadership.
        leader: Option<String>,
        /// The approval request a gated read opened or re-used (`approval_required`,
        /// `approval_denied`, `approval_expired` on a read); see [`Error::approval_id`].
        approval_id: Option<String>,
        /// The request id the node answered with (`x-ass-request-id`), which its audit event
        /// carries: quote it when asking an operator what happened.
        request_id: Option<String>,
    },
    /// No answer: connection refused, reset, TLS failure or timeout, on every address tried.
    #[error("{0}")]
    Transport(String),
    /// A success answer whose body is not what the API promises (version mismatch?).
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// A local mistake before anything was sent: bad address, bad CA file, bad path.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// Stable machine code: the server's code for [`Error::Api`], else `transport`, `decode`
    /// or `config`.
    pub fn code(&self) -> &str {
        match self {
            Error::Api { code, .. } => code,
            Error::Transport(_) => "transport",
            Error::Decode(_) => "decode",
            Error::Config(_) => "config",
        }
    }

    /// The server's code as an [`ErrorCode`], `None` for the local kinds and for answers
    /// that were not ours (`http_<status>`). A code this client does not know is
    /// [`ErrorCode::Unknown`].
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } if !code.starts_with("http_") => Some(ErrorCode::parse(code)),
            _ => None,
        }
    }

    /// HTTP status of a server error, `None` for the local kinds.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request id of a server error (`x-ass-request-id` of the answer), when it had one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// API address of the leader, when the server named one.
    pub fn leader(&self) -> Option<&str> {
        match self {
            Error::Api { leader, .. } => leader.as_deref(),
            _ => None,
        }
    }

    /// The approval request a refused read is about: the one it opened or re-used
    /// (`approval_required`), the denied one (`approval_denied`), or the one opened in place
    /// of a timed-out request (`approval_expired`). Ask an approver to decide it, and follow
    /// it with [`Client::get_approval`](crate::Client::get_approval).
    ///
    /// ```no_run
    /// # async fn demo(vault: ass_client::Client) -> Result<(), ass_client::Error> {
    /// use ass_client::ReadOptions;
    /// let opts = ReadOptions { reason: Some("payout run".into()), ..Default::default() };
    /// match vault.get_secret("production/stripe/STRIPE_SECRET_KEY", &opts).await {
    ///     Ok(secret) => println!("{} bytes", secret.value.len()),
    ///     Err(e) if e.is_approval_required() => {
    ///         let id = e.approval_id().unwrap_or_default();
    ///         println!("approval required: {id}");
    ///         let status = vault.get_approval(id).await?.status; // pending, approved, …
    ///         println!("{status}");
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn approval_id(&self) -> Option<&str> {
        match self {
            Error::Api { approval_id, .. } => approval_id.as_deref(),
            _ => None,
        }
    }

    /// `true` when a read was refused because its secret's tier needs approvals the caller
    /// doesn't hold yet, and a request is now pending for it: `approval_required`, or
    /// `approval_expired` on a read (the timed-out request was replaced by a new one). Either
    /// way [`Error::approval_id`] names the pending request. A denied request
    /// (`approval_denied`) is not pending: this is `false`.
    pub fn is_approval_required(&self) -> bool {
        self.approval_id().is_some()
            && matches!(
                self.error_code(),
                Some(ErrorCode::ApprovalRequired | ErrorCode::ApprovalExpired)
            )
    }

    /// `true` for answers after which another node may well succeed: no answer at all, a 429
    /// (this node is slowing this client address down: `rate_limited`), or a 503 (this node
    /// cannot serve now: `sealed`, `no_leader`, `unavailable`, `stale_unavailable`,
    /// `audit_unavailable`, or a load balancer's own 503). This is what the client fails over
    /// on. Both statuses mean the node did not act on the request, and every write carries a
    /// request id (`x-ass-request-id`) for all its attempts, so the retry is safe: a read
    /// changes nothing, a write is applied at most once.
    pub fn is_failover(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Api { status, .. } => FAILOVER_STATUSES.contains(status),
            _ => false,
        }
    }
}

/// HTTP statuses after which the client tries the next address: 429 (too many requests from
/// here, e.g. `rate_limited` after failed authentications from a shared address) and 503
/// (unavailable).
pub const FAILOVER_STATUSES: &[u16] = &[429, 503];

/// Turns a non-success answer into [`Error::Api`]: our JSON [`ErrorBody`] when the body is
/// one, else code `http_<status>` with (the start of) the body as message.
pub(crate) fn api_error(status: u16, body: &[u8]) -> Error {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return Error::Api {
            status,
            code: e.error.as_str().to_owned(),
            message: e.message,
            leader: e.leader,
            approval_id: e.approval_id,
            request_id: None,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("server answered HTTP {status}")
    } else {
        let mut cut = text.len().min(MAX_QUOTED_BODY);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let ellipsis = if cut < text.len() { "…" } else { "" };
        format!("server answered HTTP {status}: {}{ellipsis}", &text[..cut])
    };
    Error::Api {
        status,
        code: format!("http_{status}"),
        message,
        leader: None,
        approval_id: None,
        request_id: None,
    }
}

/// [`api_error`], carrying the answer's request id.
pub(crate) fn api_error_with_id(status: u16, body: &[u8], id: Option<String>) -> Error {
    let mut e = api_error(status, body);
    if let Error::Api { request_id, .. } = &mut e {
        *request_id = id;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_body_keeps_code_message_and_leader() {
        let body =
            br#"{"error":"no_leader","message":"election in progress","leader":"http://n2:8201"}"#;
        let e = api_error(503, body);
        assert_eq!(
            e,
            Error::Api {
                status: 503,
                code: "no_leader".into(),
                message: "election in progress".into(),
                leader: Some("http://n2:8201".into()),
                approval_id: None,
                request_id: None,
            }
        );
        assert_eq!(e.code(), "no_leader");
        assert_eq!(e.leader(), Some("http://n2:8201"));
        assert_eq!(e.to_string(), "election in progress");
        assert!(e.is_failover());
    }

    #[test]
    fn a_code_from_a_newer_server_is_kept() {
        let e = api_error(422, br#"{"error":"quota_exceeded","message":"over quota"}"#);
        assert_eq!(e.code(), "quota_exceeded");
        assert_eq!(e.error_code(), Some(ErrorCode::Unknown("quota_exceeded".into())));
        assert_eq!(e.to_string(), "over quota");
        let known = api_error(403, br#"{"error":"scope_denied","message":"m"}"#);
        assert_eq!(known.error_code(), Some(ErrorCode::ScopeDenied));
        assert_eq!(api_error(502, b"").error_code(), None);
        assert_eq!(Error::Transport("x".into()).error_code(), None);
    }

    #[test]
    fn non_json_error_body_becomes_http_status_code() {
        let e = api_error(502, b"<html>Bad Gateway</html>\n");
        assert_eq!(e.code(), "http_502");
        assert_eq!(e.status(), Some(502));
        assert_eq!(e.to_string(), "server answered HTTP 502: <html>Bad Gateway</html>");
        assert!(!e.is_failover(), "a 502 is not a reason to fail over");
        assert!(api_error(503, b"<html>busy</html>").is_failover(), "a balancer's 503 is");
    }

    #[test]
    fn empty_error_body_names_the_status() {
        let e = api_error(404, b"");
        assert_eq!(e.code(), "http_404");
        assert_eq!(e.to_string(), "server answered HTTP 404");
    }

    #[test]
    fn long_error_body_is_cut_on_a_char_boundary() {
        let body = "é".repeat(300);
        let e = api_error(500, body.as_bytes());
        let msg = e.to_string();
        assert!(msg.ends_with('…'));
        assert!(msg.len() < 300);
    }

    #[test]
    fn failover_on_429_503_and_transport_only() {
        let api = |status, code: &str| Error::Api {
            status,
            code: code.into(),
            message: String::new(),
            leader: None,
            approval_id: None,
            request_id: None,
        };
        assert!(api(503, "sealed").is_failover());
        assert!(api(503, "unavailable").is_failover());
        assert!(api(503, "audit_unavailable").is_failover());
        assert!(api(429, "rate_limited").is_failover(), "another node may not limit us");
        assert!(!api(504, "timeout").is_failover(), "a timed-out write may have committed");
        assert!(!api(401, "unauthorized").is_failover());
        assert!(!api(403, "scope_denied").is_failover());
        assert!(!api(400, "sealed").is_failover());
        assert!(!api(404, "not_found").is_failover());
        assert!(Error::Transport("refused".into()).is_failover());
        assert!(!Error::Config("bad".into()).is_failover());
        assert!(!Error::Decode("bad".into()).is_failover());
    }

    #[test]
    fn approval_errors_keep_the_request_id() {
        let id = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
        let body = |code: &str| {
            format!(r#"{{"error":"{code}","message":"m","approval_id":"{id}"}}"#).into_bytes()
        };
        let required = api_error(403, &body("approval_required"));
        assert_eq!(required.approval_id(), Some(id));
        assert!(required.is_approval_required());
        assert!(!required.is_failover());
        let expired = api_error(403, &body("approval_expired"));
        assert_eq!(expired.approval_id(), Some(id));
        assert!(expired.is_approval_required(), "a read opened a new request in its place");
        let denied = api_error(403, &body("approval_denied"));
        assert_eq!(denied.approval_id(), Some(id));
        assert!(!denied.is_approval_required(), "denied is not pending");
    }

    #[test]
    fn decision_errors_carry_no_approval_id() {
        let e = api_error(409, br#"{"error":"approval_expired","message":"timed out"}"#);
        assert_eq!(e.approval_id(), None);
        assert!(!e.is_approval_required(), "an approver's late decision is not a read");
        assert!(!api_error(404, b"").is_approval_required());
        assert_eq!(Error::Transport("x".into()).approval_id(), None);
    }

    #[test]
    fn local_kinds_have_fixed_codes() {
        assert_eq!(Error::Transport(String::new()).code(), "transport");
        assert_eq!(Error::Decode(String::new()).code(), "decode");
        assert_eq!(Error::Config(String::new()).code(), "config");
        assert_eq!(Error::Config(String::new()).status(), None);
    }
}
