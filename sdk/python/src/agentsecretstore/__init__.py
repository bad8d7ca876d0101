"""Agent Secret Store for Python: minimum-scope, short-lived tokens for AI agents.

::

    import os
    from agentsecretstore import AgentVault, ApprovalRequiredError
    vault = AgentVault(agent_key=os.environ["ASS_AGENT_KEY"])
    token = await vault.request_token(scopes=["secrets:read:production/gemini/*"], ttl="1h")
    secret = await vault.get_secret("production/gemini/GEMINI_API_KEY")

:class:`AgentVault` is async (httpx); :class:`AgentVaultSync` is the same client for code
without an event loop. Errors are one class per API error code family, all under
:class:`AgentVaultError`.
"""

from ._errors import (
    AgentKeyNotAllowedError,
    AgentRevokedError,
    AgentVaultError,
    AlreadyDeletedError,
    AlreadyRevokedError,
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalRequiredError,
    ApprovalWaitTimeoutError,
    CasMismatchError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    InvalidAllowlistError,
    InvalidPathError,
    InvalidRequestError,
    InvalidScopeError,
    InvalidTtlError,
    IpNotAllowedError,
    NoLeaderError,
    NotAnApproverError,
    NotATokenError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ScopeDeniedError,
    SealedError,
    SecretDeletedError,
    SelfApprovalError,
    ServerError,
    TooLargeError,
    TransportError,
    TtlTooLongError,
    UnauthorizedError,
    UnavailableError,
    VersionDestroyedError,
)
from ._models import Approval, Decision, Secret, SecretMetadata, Token, WriteResult
from ._sync import AgentVaultSync
from ._vault import DEFAULT_TOKEN_TTL, AgentVault
from ._version import __version__

#: The API these routes belong to.
API_VERSION = "v1"

__all__ = [
    "API_VERSION",
    "DEFAULT_TOKEN_TTL",
    "AgentKeyNotAllowedError",
    "AgentRevokedError",
    "AgentVault",
    "AgentVaultError",
    "AgentVaultSync",
    "AlreadyDeletedError",
    "AlreadyRevokedError",
    "Approval",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "ApprovalRequiredError",
    "ApprovalWaitTimeoutError",
    "CasMismatchError",
    "ConfigurationError",
    "ConflictError",
    "Decision",
    "DecodeError",
    "InvalidAllowlistError",
    "InvalidPathError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidTtlError",
    "IpNotAllowedError",
    "NoLeaderError",
    "NotATokenError",
    "NotAnApproverError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ScopeDeniedError",
    "SealedError",
    "Secret",
    "SecretDeletedError",
    "SecretMetadata",
    "SelfApprovalError",
    "ServerError",
    "Token",
    "TooLargeError",
    "TransportError",
    "TtlTooLongError",
    "UnauthorizedError",
    "UnavailableError",
    "VersionDestroyedError",
    "WriteResult",
    "__version__",
]
