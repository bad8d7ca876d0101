"""The exceptions of the SDK: one class per stable API error code family.

Every error the cluster answers carries a stable machine code (``scope_denied``, ``sealed``,
…); :func:`error_from_answer` maps it to a class below, all under :class:`AgentVaultError`,
which keeps ``.code``, ``.status`` and ``.request_id``. Match on the class or on ``.code``,
never on the message, which is for people and may change.

No exception ever carries a secret value, an agent key or a token: messages from the server
are scrubbed of anything shaped like a credential and of every credential and value this
client holds (:func:`scrub`) before they are stored.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Type

# Anything shaped like an Agent Secret Store credential: root tokens (assr_), tokens (asst_)
# and agent keys (ass_), followed by their random part.
_CREDENTIAL = re.compile(r"\bass[rt]?_[A-Za-z0-9+/=_\-]{8,}")
REDACTED = "<redacted>"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential-shaped word and every string of ``secrets`` replaced by
    ``<redacted>``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, REDACTED)
    return _CREDENTIAL.sub(REDACTED, text)


class AgentVaultError(Exception):
    """Base of every error of this SDK.

    ``code`` is the server's stable machine code (``not_found``, ``sealed``, …) or, for errors
    raised before or without an answer, ``transport``, ``config``, ``decode`` or a local
    validation code (``invalid_path``). ``status`` is the HTTP status (``None`` when no answer
    was involved) and ``request_id`` the ``x-ass-request-id`` of the answer (the idempotency
    key of a write, or the id the node gave the request), for finding it in the audit log.
    """

    code: str
    status: Optional[int]
    request_id: Optional[str]
    message: str

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: Optional[int] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )


# --- local kinds -----------------------------------------------------------------------------


class ConfigurationError(AgentVaultError):
    """A local mistake before anything was sent: no address, unreadable CA file, no
    credential, a reason that is not printable ASCII. ``code`` is ``config``."""


class TransportError(AgentVaultError):
    """No usable answer from any node within the retry window: connection refused or reset,
    TLS failure, timeout. ``code`` is ``transport``."""


class DecodeError(AgentVaultError):
    """A success answer whose body is not what the API promises (a version mismatch, or a
    proxy answering). ``code`` is ``decode``."""


# --- 400 -------------------------------------------------------------------------------------


class InvalidRequestError(AgentVaultError):
    """400: the request breaks a rule of the API (``bad_request``, ``invalid_json``, …)."""


class InvalidPathError(InvalidRequestError):
    """``invalid_path``: a secret path or list prefix breaks the path rules (at least two
    segments of ``[A-Za-z0-9_.-]``, no ``.``/``..``, at most 512 bytes). Raised locally,
    before any request, when the SDK can tell (``status`` is then ``None``)."""


class InvalidScopeError(InvalidRequestError):
    """``invalid_scope``: a scope breaks the grammar (``secrets:<action>:<glob>`` or an admin
    scope), or the scope list is empty or over 256."""


class InvalidTtlError(InvalidRequestError):
    """``invalid_ttl``: a TTL breaks the grammar (``90s``, ``15m``, ``1h30m``, ``2d``)."""


class TtlTooLongError(InvalidTtlError):
    """``ttl_too_long``: a token TTL above the token policy's ``max_ttl`` (24 h at most)."""


class InvalidAllowlistError(InvalidRequestError):
    """``invalid_allowlist``: an IP allowlist entry that is not an address or CIDR range, or
    a list not within the agent's."""


class NotATokenError(InvalidRequestError):
    """``not_a_token``: a token-only call (refresh, self) made with another credential."""


class AlreadyRevokedError(InvalidRequestError):
    """``already_revoked``: the agent or token was revoked already."""


class AlreadyDeletedError(InvalidRequestError):
    """``already_deleted``: the latest version is already deleted, or the version destroyed."""


# --- 401 / 403 -------------------------------------------------------------------------------


class UnauthorizedError(AgentVaultError):
    """401 ``unauthorized``: no credential, or one that is unknown, expired or revoked (the
    cluster gives one answer for all three). Raised when the SDK's own token was revoked, or
    when its agent key no longer buys tokens (the agent was revoked or its key rotated)."""


class PermissionDeniedError(AgentVaultError):
    """403: the credential is known but may not do this."""


class ScopeDeniedError(PermissionDeniedError):
    """``scope_denied``: the token lacks the scope the call needs, or a requested scope is not
    within the agent's; the message names the scope."""


class IpNotAllowedError(PermissionDeniedError):
    """``ip_not_allowed``: the client address is outside the token's or agent's allowlist."""


class AgentKeyNotAllowedError(PermissionDeniedError):
    """``agent_key_not_allowed``: an agent key used for anything but buying tokens."""


class AgentRevokedError(PermissionDeniedError):
    """``agent_revoked``: the agent was revoked while its token was being issued."""


class ApprovalRequiredError(PermissionDeniedError):
    """``approval_required`` (or ``approval_expired`` on a read, when a timed-out request was
    replaced): the secret's tier needs approvals; ``approval_id`` names the pending request.
    Follow it with ``get_approval_status`` / ``wait_for_approval`` and read again once it is
    approved."""

    approval_id: str

    def __init__(self, message: str, *, approval_id: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.approval_id = approval_id


class ApprovalDeniedError(PermissionDeniedError):
    """``approval_denied``: the read's approval request was denied (``approval_id``)."""

    approval_id: Optional[str]

    def __init__(self, message: str, *, approval_id: Optional[str] = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.approval_id = approval_id


class ApprovalExpiredError(AgentVaultError):
    """An approval request timed out before enough approvers decided (``wait_for_approval``),
    or a decision came after its timeout (409 ``approval_expired``)."""

    approval_id: Optional[str]

    def __init__(self, message: str, *, approval_id: Optional[str] = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.approval_id = approval_id


class ApprovalWaitTimeoutError(AgentVaultError, TimeoutError):
    """``wait_for_approval`` gave up: the request was still pending after ``timeout``."""

    approval_id: str

    def __init__(self, message: str, *, approval_id: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.approval_id = approval_id


class NotAnApproverError(PermissionDeniedError):
    """``not_an_approver``: a decision by a token of an agent not named in the approvers."""


class SelfApprovalError(PermissionDeniedError):
    """``self_approval``: a decision on one's own request."""


# --- 404 -------------------------------------------------------------------------------------


class NotFoundError(AgentVaultError):
    """404 ``not_found``: no secret at this path (or no such version), no such approval
    request, token or agent."""


class SecretDeletedError(NotFoundError):
    """``secret_deleted``: the version read is soft-deleted."""


class VersionDestroyedError(NotFoundError):
    """``version_destroyed``: the version read was destroyed for good."""


# --- 409 / 413 -------------------------------------------------------------------------------


class ConflictError(AgentVaultError):
    """409: the write conflicts with the state (``conflict``, ``name_taken``, ``replayed``,
    ``request_id_reused``, ``approval_closed``, ``already_decided``, …)."""


class CasMismatchError(ConflictError):
    """``cas_mismatch``: ``cas`` is not the latest version."""


class TooLargeError(AgentVaultError):
    """413 ``value_too_large`` / ``body_too_large``: a value over 64 KiB."""


# --- 429 / 5xx -------------------------------------------------------------------------------


class RateLimitedError(AgentVaultError):
    """429 ``rate_limited``: too many failed authentications from this address, on every node
    tried within the retry window."""


class ServerError(AgentVaultError):
    """500 ``internal``: a storage error or a bug; the node's log has the details."""


class UnavailableError(AgentVaultError):
    """503/504: the cluster could not serve the call on any node within the retry window
    (``no_leader``, ``unavailable``, ``stale_unavailable``, ``audit_unavailable``,
    ``timeout``)."""


class SealedError(UnavailableError):
    """503 ``sealed``: every node tried is sealed; unseal them (``ass operator unseal``)."""


class NoLeaderError(UnavailableError):
    """503 ``no_leader``: no leader was reachable within the retry window."""


_BY_CODE: Mapping[str, Type[AgentVaultError]] = {
    "invalid_path": InvalidPathError,
    "invalid_scope": InvalidScopeError,
    "invalid_ttl": InvalidTtlError,
    "ttl_too_long": TtlTooLongError,
    "invalid_allowlist": InvalidAllowlistError,
    "not_a_token": NotATokenError,
    "already_revoked": AlreadyRevokedError,
    "already_deleted": AlreadyDeletedError,
    "unauthorized": UnauthorizedError,
    "scope_denied": ScopeDeniedError,
    "ip_not_allowed": IpNotAllowedError,
    "agent_key_not_allowed": AgentKeyNotAllowedError,
    "agent_revoked": AgentRevokedError,
    "approval_denied": ApprovalDeniedError,
    "not_an_approver": NotAnApproverError,
    "self_approval": SelfApprovalError,
    "not_found": NotFoundError,
    "no_route": NotFoundError,
    "secret_deleted": SecretDeletedError,
    "version_destroyed": VersionDestroyedError,
    "cas_mismatch": CasMismatchError,
    "rate_limited": RateLimitedError,
    "internal": ServerError,
    "sealed": SealedError,
    "no_leader": NoLeaderError,
}

_BY_STATUS: Mapping[int, Type[AgentVaultError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    429: RateLimitedError,
    500: ServerError,
    503: UnavailableError,
    504: UnavailableError,
}


def error_from_answer(
    status: int,
    code: str,
    message: str,
    *,
    request_id: Optional[str] = None,
    approval_id: Optional[str] = None,
    secrets: Iterable[str] = (),
) -> AgentVaultError:
    """The exception for an error answer (``message`` is scrubbed of ``secrets``)."""
    message = scrub(message, secrets)
    kw: dict[str, object] = {"code": code, "status": status, "request_id": request_id}
    if code in ("approval_required", "approval_expired") and approval_id and status == 403:
        return ApprovalRequiredError(message, approval_id=approval_id, **kw)
    if code == "approval_expired":
        return ApprovalExpiredError(message, approval_id=approval_id, **kw)
    if code == "approval_denied":
        return ApprovalDeniedError(message, approval_id=approval_id, **kw)
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else InvalidRequestError if status >= 400 else DecodeError
    return cls(message, **kw)  # type: ignore[arg-type]
