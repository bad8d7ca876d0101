"""``AgentVaultSync``: :class:`AgentVault` for code without an event loop.

It owns a private event loop and an :class:`AgentVault` living in it, and runs each call to
completion on the calling thread (no background thread; a lock makes it safe to share
between threads, one call at a time). Behaviour — token purchase and refresh, failover,
retries, errors — is exactly the async client's. Inside ``async`` code use
:class:`AgentVault`: calling this from a running event loop raises ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any, Coroutine, List, Optional, Sequence, Tuple, TypeVar, Union

from ._models import Approval, Secret, SecretMetadata, Token, WriteResult
from ._vault import DEFAULT_RETRY_TIMEOUT, DEFAULT_TOKEN_TTL, AgentVault, PathLike

T = TypeVar("T")


class AgentVaultSync:
    """Blocking twin of :class:`AgentVault`, with the same arguments and methods."""

    def __init__(
        self,
        agent_key: Optional[str] = None,
        *,
        token: Optional[str] = None,
        addr: Union[str, Sequence[str], None] = None,
        ca_cert: Union[PathLike, ssl.SSLContext, None] = None,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        token_ttl: str = DEFAULT_TOKEN_TTL,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._vault = AgentVault(
            agent_key,
            token=token,
            addr=addr,
            ca_cert=ca_cert,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry_timeout=retry_timeout,
            token_ttl=token_ttl,
        )

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            return self._loop.run_until_complete(coro)

    def __repr__(self) -> str:
        return "AgentVaultSync" + repr(self._vault)[len("AgentVault"):]

    def __enter__(self) -> "AgentVaultSync":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection pool and the private loop (tokens stay valid)."""
        if self._loop.is_closed():
            return
        self._run(self._vault.close())
        self._loop.close()

    @property
    def addresses(self) -> Tuple[str, ...]:
        return self._vault.addresses

    @property
    def current_address(self) -> str:
        return self._vault.current_address

    @property
    def token(self) -> Optional[Token]:
        return self._vault.token

    def request_token(
        self, scopes: Sequence[str], ttl: str = "1h", ip_allowlist: Optional[Sequence[str]] = None
    ) -> Token:
        return self._run(self._vault.request_token(scopes, ttl, ip_allowlist))

    def get_secret(
        self, path: str, version: Optional[int] = None, reason: Optional[str] = None
    ) -> Secret:
        return self._run(self._vault.get_secret(path, version, reason))

    def set_secret(
        self,
        path: str,
        value: str,
        *,
        type: Optional[str] = None,
        tier: Optional[str] = None,
        cas: Optional[int] = None,
    ) -> WriteResult:
        return self._run(self._vault.set_secret(path, value, type=type, tier=tier, cas=cas))

    def list_secrets(self, prefix: str = "") -> List[SecretMetadata]:
        return self._run(self._vault.list_secrets(prefix))

    def get_approval_status(self, approval_id: str) -> Approval:
        return self._run(self._vault.get_approval_status(approval_id))

    def wait_for_approval(
        self, approval_id: str, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> Approval:
        return self._run(self._vault.wait_for_approval(approval_id, timeout, poll_interval))

    def approve(self, approval_id: str, comment: Optional[str] = None) -> Approval:
        return self._run(self._vault.approve(approval_id, comment))

    def deny(self, approval_id: str, comment: Optional[str] = None) -> Approval:
        return self._run(self._vault.deny(approval_id, comment))

    def list_approvals(self, status: str = "pending") -> List[Approval]:
        return self._run(self._vault.list_approvals(status))

    def revoke_token(self) -> None:
        self._run(self._vault.revoke_token())
