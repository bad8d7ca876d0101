"""``AgentVault``: the async client of one Agent Secret Store cluster.

::

    call ──> token covering the call's scope? ──no──> buy one with the agent key (single-flight)
               │ yes                                      │
               ▼                                          ▼
          within its refresh margin? ──yes──> POST /v1/tokens/refresh (single-flight per token)
               │ no                                 │ 401 / expired: buy again with the agent key
               ▼                                    ▼
          send to addr[current] ──conn error / 429 / 503 / 504──> backoff, addr[current+1], …
               │ answer                                   (until retry_timeout; writes keep one
               ▼                                           x-ass-request-id for every attempt)
          401 on a token past its expiry: buy again, send once more; other errors: raise

Tokens are refreshed on the next call once they are within their refresh margin (a fifth of
their lifetime or a minute, whichever is more, at most half of it), with no background task.
The agent key is only ever sent to ``POST /v1/tokens``. Nothing this module logs or raises
holds a value, a token or a key.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import httpx

from . import _rules
from ._errors import (
    AgentVaultError,
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalRequiredError,
    ApprovalWaitTimeoutError,
    ConfigurationError,
    DecodeError,
    TransportError,
    UnauthorizedError,
    error_from_answer,
    scrub,
)
from ._models import Approval, Secret, SecretMetadata, Token, WriteResult
from ._version import __version__

log = logging.getLogger("agentsecretstore")

DEFAULT_ADDR = "https://127.0.0.1:8201"
ENV_ADDR = "ASS_ADDR"
ENV_CACERT = "ASS_CACERT"
ENV_AGENT_KEY = "ASS_AGENT_KEY"
ENV_TOKEN = "ASS_TOKEN"
#: Lifetime of the tokens ``get_secret`` & co. buy on their own (hardening practice 2).
DEFAULT_TOKEN_TTL = "15m"
#: How long one call keeps trying other nodes on connection errors, 429, 503 and 504.
DEFAULT_RETRY_TIMEOUT = 15.0
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0
#: Tokens a vault keeps at most (oldest dropped first).
MAX_HELD = 64

PathLike = Union[str, "os.PathLike[str]"]


def _parse_time(s: str) -> Optional[float]:
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


class _Held:
    """A token this vault holds, with its lease on the monotonic clock."""

    def __init__(self, info: Token, ttl: Optional[str], bought: bool) -> None:
        self.lock = asyncio.Lock()
        self.ttl = ttl  # what it was bought with (to buy it again), None for a given token
        self.bought = bought
        self.info = info
        self.lifetime = 0.0
        self.expires: Optional[float] = None
        # After a refresh that failed for a passing reason, the next try waits until then.
        self.retry_at = 0.0
        self.adopt(info)

    def adopt(self, info: Token) -> None:
        self.info = info
        if not info.expires_at:  # a token given as-is: no lease known
            self.expires = None
            return
        now = time.monotonic()
        remaining = float(info.ttl_remaining_secs)
        issued, expires = _parse_time(info.issued_at), _parse_time(info.expires_at)
        lifetime = (expires - issued) if issued is not None and expires is not None else remaining
        self.lifetime = max(lifetime, remaining)
        self.expires = now + remaining

    @property
    def token(self) -> str:
        return self.info.token

    @property
    def margin_starts(self) -> Optional[float]:
        if self.expires is None:
            return None
        return self.expires - _rules.refresh_margin(self.lifetime)

    def due(self, now: float) -> bool:
        m = self.margin_starts
        return m is not None and now >= m and now >= self.retry_at

    def expired(self, now: float, slack: float = 1.0) -> bool:
        return self.expires is not None and now >= self.expires - slack


class AgentVault:
    """Async client of an Agent Secret Store cluster, for an agent holding an agent key.

    ``AgentVault(agent_key=os.environ["ASS_AGENT_KEY"])`` reads the node addresses from
    ``ASS_ADDR`` (comma-separated) and the CA to trust from ``ASS_CACERT``, like the ``ass``
    CLI; ``addr=`` (a string or a list) and ``ca_cert=`` (a PEM file or an
    ``ssl.SSLContext``) override them. Without ``agent_key``, ``token`` (or ``ASS_TOKEN``,
    then ``ASS_AGENT_KEY``) is used. ``timeout`` is the time one attempt on one node may take,
    ``retry_timeout`` how long one call keeps failing over and retrying.

    Use ``async with AgentVault(...) as vault:`` or call :meth:`close`.
    """

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
        if agent_key is None and token is None:
            token = os.environ.get(ENV_TOKEN) or None
            if token is None:
                agent_key = os.environ.get(ENV_AGENT_KEY) or None
        self._agent_key = agent_key or None
        self._addrs = _addresses(addr)
        self._current = 0
        self._retry_timeout = float(retry_timeout)
        self._token_ttl = token_ttl
        self._held: List[_Held] = []
        if token:
            self._held.append(_Held(_given(token), None, bought=False))
        self._buying: Dict[str, asyncio.Lock] = {}
        self._approval_tokens: Dict[str, _Held] = {}
        self._closed = False
        self._verify = _tls(ca_cert)
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._http = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._verify,
            timeout=self._timeout,
            headers={"user-agent": f"agentsecretstore-python/{__version__}"},
            follow_redirects=False,
        )

    def _client(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop. A vault used from a second
        ``asyncio.run`` gets a new pool (the old one died with its loop), and new locks; its
        tokens carry over."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            self._loop = loop
            self._http = self._new_client()
            for h in self._held:
                h.lock = asyncio.Lock()
            self._buying = {}
        return self._http

    # ---- plumbing ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"AgentVault(addr={self._addrs!r}, agent_key={'<redacted>' if self._agent_key else None}, "
            f"tokens={[h.info for h in self._held]!r})"
        )

    async def __aenter__(self) -> "AgentVault":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection pool. Tokens stay valid until they expire: call
        :meth:`revoke_token` first to end them now."""
        self._closed = True
        if self._loop is None or self._loop is asyncio.get_running_loop():
            await self._http.aclose()

    @property
    def addresses(self) -> Tuple[str, ...]:
        return tuple(self._addrs)

    @property
    def current_address(self) -> str:
        """The node calls go to first: the last one that answered."""
        return self._addrs[self._current % len(self._addrs)]

    @property
    def token(self) -> Optional[Token]:
        """The first token held: the one :meth:`request_token` bought last (or the one
        given), else one bought for a call; ``None`` before any."""
        return self._held[0].info if self._held else None

    def _secrets(self) -> List[str]:
        out = [h.token for h in self._held]
        if self._agent_key:
            out.append(self._agent_key)
        return out

    async def _send(
        self,
        method: str,
        path: str,
        *,
        bearer: Optional[str],
        body: Optional[Mapping[str, Any]] = None,
        params: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        request_id: Optional[str] = None,
        extra_secrets: Sequence[str] = (),
    ) -> Tuple[Dict[str, Any], Optional[str]]:
        """One logical call: tries the nodes in turn until one answers something other than a
        reason to retry, or ``retry_timeout`` is spent. Returns the decoded body and the
        answer's request id; raises the mapped error."""
        if self._closed:
            raise ConfigurationError("this AgentVault is closed", code="config")
        write = method in ("POST", "PUT", "DELETE")
        if write and request_id is None:
            request_id = str(uuid.uuid4())
        h: Dict[str, str] = dict(headers or {})
        if bearer:
            h["authorization"] = f"Bearer {bearer}"
        if request_id:
            h["x-ass-request-id"] = request_id
        n = len(self._addrs)
        start = self._current
        deadline = time.monotonic() + self._retry_timeout
        attempt = 0
        secrets = [*self._secrets(), *(s for s in extra_secrets if s)]
        if bearer:
            secrets.append(bearer)
        while True:
            idx = (start + attempt) % n
            addr = self._addrs[idx]
            last: AgentVaultError
            try:
                resp = await self._client().request(
                    method, addr + path, json=body, params=params, headers=h
                )
            except httpx.HTTPError as e:
                hint = _tls_hint(e)
                last = TransportError(
                    scrub(f"{addr}: {type(e).__name__}: {e}{hint}", secrets),
                    code="transport",
                    request_id=request_id,
                )
                if hint and attempt + 1 >= n:
                    # Every address refused our trust of its certificate: waiting won't help.
                    raise last from None
            else:
                rid = resp.headers.get("x-ass-request-id") or request_id
                if 200 <= resp.status_code < 300:
                    self._current = idx
                    try:
                        data = resp.json()
                    except ValueError:
                        raise DecodeError(
                            f"{addr}: the answer to {method} {path} is not JSON",
                            code="decode",
                            status=resp.status_code,
                            request_id=rid,
                        ) from None
                    return (data if isinstance(data, dict) else {"value": data}), rid
                last = _answer_error(resp, rid, secrets)
                if not _retryable(resp.status_code, last.code):
                    self._current = idx
                    raise last
            attempt += 1
            left = deadline - time.monotonic()
            if left <= 0.01:
                if n > 1:
                    self._current = (start + attempt) % n
                raise last
            # The last attempt comes at the end of the window, not a backoff short of it.
            delay = min(BACKOFF_FIRST * (2 ** (attempt - 1)), BACKOFF_MAX, left)
            log.debug(
                "%s %s: %s on %s (%s); retrying on %s in %.2f s",
                method, path, last.code, addr, last.message[:200],
                self._addrs[(start + attempt) % n], delay,
            )
            await asyncio.sleep(delay)

    # ---- tokens ----------------------------------------------------------------------------

    async def _issue(
        self, scopes: Sequence[str], ttl: str, ip_allowlist: Optional[Sequence[str]]
    ) -> Token:
        if not self._agent_key:
            raise ConfigurationError(
                "no agent key: pass AgentVault(agent_key=...) or set ASS_AGENT_KEY to buy tokens",
                code="config",
            )
        body: Dict[str, Any] = {"scopes": list(scopes), "ttl": ttl}
        if ip_allowlist:
            body["ip_allowlist"] = list(ip_allowlist)
        for replays in range(2):
            try:
                data, _ = await self._send("POST", "/v1/tokens", bearer=self._agent_key, body=body)
                return Token._from(data)
            except AgentVaultError as e:
                # The first attempt's answer was lost and the token it made can't be shown
                # again: nobody holds it and it expires on its own. Ask again with a new id.
                if e.code == "replayed" and replays == 0:
                    continue
                raise
        raise AssertionError("unreachable")

    def _keep(self, held: _Held, primary: bool) -> _Held:
        if primary:
            self._held.insert(0, held)
        else:
            self._held.append(held)
        now = time.monotonic()
        self._held = [h for h in self._held if h is held or not h.expired(now, 0.0)][:MAX_HELD]
        return held

    async def request_token(
        self,
        scopes: Sequence[str],
        ttl: str = "1h",
        ip_allowlist: Optional[Sequence[str]] = None,
    ) -> Token:
        """Buys a token with the agent key (``POST /v1/tokens``) holding ``scopes`` (within
        the agent's) for ``ttl`` (``15m``, ``1h``, at most the token policy's ``max_ttl``),
        usable only from ``ip_allowlist`` if given. Later calls whose scope it covers use it,
        and it is refreshed before it expires. Raises :class:`InvalidScopeError`,
        :class:`InvalidTtlError` / :class:`TtlTooLongError`, :class:`ScopeDeniedError`, …"""
        if isinstance(scopes, str):
            scopes = [scopes]
        info = await self._issue(scopes, ttl, ip_allowlist)
        self._keep(_Held(info, ttl, bought=True), primary=True)
        return info

    async def _token_for(self, needed: Optional[str]) -> _Held:
        """A held token covering ``needed`` (bought first if none does and an agent key is
        set), else the primary token (the server then answers ``scope_denied``)."""
        def find() -> Optional[_Held]:
            for h in self._held:
                if needed is None or not h.bought or _rules.covers(h.info.scopes, needed):
                    return h
            return None

        h = find()
        if h is not None:
            return h
        if needed is not None and self._agent_key:
            lock = self._buying.setdefault(needed, asyncio.Lock())
            async with lock:
                h = find()
                if h is None:
                    info = await self._issue([needed], self._token_ttl, None)
                    h = self._keep(_Held(info, self._token_ttl, bought=True), primary=False)
                    log.debug("bought token %s for %s (%s)", info.accessor, needed, self._token_ttl)
            return h
        if self._held:
            return self._held[0]
        raise ConfigurationError(
            "no credential: pass AgentVault(agent_key=...) or set ASS_AGENT_KEY", code="config"
        )

    async def _renew(self, held: _Held, seen: str) -> None:
        """Refreshes ``held`` (``POST /v1/tokens/refresh``), or buys it again with the agent
        key when it can no longer refresh itself. Single-flight: callers that waited on the
        lock find the new token and return."""
        async with held.lock:
            if held.token != seen:
                return  # another call renewed it while we waited
            now = time.monotonic()
            margin_at = held.margin_starts
            try:
                if held.expired(now):
                    raise UnauthorizedError("token expired", code="unauthorized", status=401)
                data, _ = await self._send("POST", "/v1/tokens/refresh", bearer=held.token)
                how = "refreshed"
                info = Token._from(data)
            except AgentVaultError as e:
                dead = e.status == 401 or held.expired(time.monotonic())
                if not dead:
                    # Keep using it; try again a little later, not on every call.
                    held.retry_at = time.monotonic() + min(5.0, max(1.0, held.lifetime / 20))
                    log.warning("token %s: refresh failed (%s); using it until it expires",
                                held.info.accessor, e.code)
                    return
                if not (held.bought and held.ttl and self._agent_key):
                    raise
                info = await self._issue(held.info.scopes, held.ttl, held.info.ip_allowlist or None)
                how = "bought again"
            old, old_expires = held.info.accessor, held.expires
            held.adopt(info)
            done = time.monotonic()
            since = done - margin_at if margin_at is not None else None
            left = old_expires - done if old_expires is not None else None
            log.info(
                "token %s %s as %s: %s s after its refresh margin began, %s s before it expired",
                old, how, info.accessor,
                "?" if since is None else f"{since:.3f}",
                "?" if left is None else f"{left:.1f}",
                extra={
                    "ass_event": "token_refresh",
                    "ass_old_accessor": old,
                    "ass_new_accessor": info.accessor,
                    "ass_since_margin": since,
                    "ass_before_expiry": left,
                },
            )

    async def _authed(
        self,
        method: str,
        path: str,
        needed: Optional[str],
        **kw: Any,
    ) -> Tuple[Dict[str, Any], Optional[str], _Held]:
        held = await self._token_for(needed)
        if held.due(time.monotonic()):
            await self._renew(held, held.token)
        sent = held.token
        try:
            data, rid = await self._send(method, path, bearer=sent, **kw)
            return data, rid, held
        except UnauthorizedError:
            if held.bought and held.ttl and self._agent_key and held.expired(time.monotonic()):
                # A 401 on a token past its expiry (the process slept through the margin):
                # buy it again and try once more.
                await self._renew(held, sent)
                data, rid = await self._send(method, path, bearer=held.token, **kw)
                return data, rid, held
            # Revoked (or unknown): forget it, so the next call buys a new one if it can.
            if held in self._held and held.token == sent:
                self._held.remove(held)
            raise

    # ---- secrets ---------------------------------------------------------------------------

    async def get_secret(
        self, path: str, version: Optional[int] = None, reason: Optional[str] = None
    ) -> Secret:
        """``GET /v1/secrets/{path}``: the latest version (or ``version``) with its value.

        Without a token covering ``secrets:read:{path}`` one is bought for exactly that path.
        A ``sensitive``/``critical`` secret may raise :class:`ApprovalRequiredError`; its
        ``approval_id`` names the request (``reason`` is recorded on it)."""
        _rules.check_path(path)
        params = {"version": str(int(version))} if version is not None else None
        headers = {"x-ass-reason": _rules.check_reason(reason)} if reason else None
        held: Optional[_Held] = None
        try:
            data, _, held = await self._authed(
                "GET", _secret_route(path), _rules.read_scope(path), params=params, headers=headers
            )
        except (ApprovalRequiredError, ApprovalDeniedError) as e:
            h = await self._token_for(_rules.read_scope(path))
            if e.approval_id:
                self._approval_tokens[e.approval_id] = h
            raise
        return Secret._from(data)

    async def set_secret(
        self,
        path: str,
        value: str,
        *,
        type: Optional[str] = None,
        tier: Optional[str] = None,
        cas: Optional[int] = None,
    ) -> WriteResult:
        """``PUT /v1/secrets/{path}``: writes a new version (``tier``: ``standard``,
        ``sensitive`` or ``critical``; ``cas``: only if the latest version is this one, 0 for
        a new path). Retried writes carry one request id, so they are applied once."""
        _rules.check_path(path)
        if not isinstance(value, str):
            raise ConfigurationError("a secret value is a str", code="config")
        body: Dict[str, Any] = {"value": value}
        if type is not None:
            body["type"] = type
        if tier is not None:
            body["tier"] = tier
        if cas is not None:
            body["cas"] = int(cas)
        data, _, _ = await self._authed(
            "PUT", _secret_route(path), _rules.write_scope(path), body=body, extra_secrets=[value]
        )
        return WriteResult(path=str(data["path"]), version=int(data["version"]), index=int(data["index"]))

    async def list_secrets(self, prefix: str = "") -> List[SecretMetadata]:
        """``GET /v1/secrets?prefix=``: metadata (never values) of the paths under ``prefix``
        that this agent's ``secrets:list`` scopes show (others are left out silently)."""
        _rules.check_prefix(prefix)
        params = {"prefix": prefix} if prefix else None
        data, _, _ = await self._authed("GET", "/v1/secrets", _rules.list_scope(prefix), params=params)
        return [SecretMetadata._from(d) for d in data.get("secrets", [])]

    # ---- approvals -------------------------------------------------------------------------

    async def get_approval_status(self, approval_id: str) -> Approval:
        """``GET /v1/approvals/{id}``: the request a gated read opened, with its status
        (``pending``, ``approved``, ``denied``, ``expired``). Asked with the token the read
        used (a token of the requesting agent needs no extra scope)."""
        _check_id(approval_id)
        held = self._approval_tokens.get(approval_id)
        if held is None or held not in self._held:
            if not self._held:
                raise ConfigurationError(
                    "get_approval_status asks with a token of the requesting agent, and this "
                    "vault holds none: call request_token (or the read) first",
                    code="config",
                )
            held = self._held[0]
        if held.due(time.monotonic()):
            await self._renew(held, held.token)
        data, _ = await self._send("GET", f"/v1/approvals/{approval_id}", bearer=held.token)
        return Approval._from(data)

    async def wait_for_approval(
        self, approval_id: str, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> Approval:
        """Polls :meth:`get_approval_status` until the request is decided. Returns the
        approved request; raises :class:`ApprovalDeniedError`, :class:`ApprovalExpiredError`,
        or :class:`ApprovalWaitTimeoutError` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            a = await self.get_approval_status(approval_id)
            if a.status == "approved":
                return a
            if a.status == "denied":
                raise ApprovalDeniedError(
                    f"approval request {approval_id} was denied", code="approval_denied",
                    approval_id=approval_id,
                )
            if a.status == "expired":
                raise ApprovalExpiredError(
                    f"approval request {approval_id} timed out", code="approval_expired",
                    approval_id=approval_id,
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApprovalWaitTimeoutError(
                    f"approval request {approval_id} is still pending after {timeout:g} s",
                    code="approval_wait_timeout", approval_id=approval_id,
                )
            await asyncio.sleep(min(poll_interval, left))

    async def approve(self, approval_id: str, comment: Optional[str] = None) -> Approval:
        """``POST /v1/approvals/{id}/approve``, for an approver: an agent named (by e-mail)
        in the approval policy, whose token holds ``approvals:decide``."""
        return await self._decide(approval_id, "approve", comment)

    async def deny(self, approval_id: str, comment: Optional[str] = None) -> Approval:
        """``POST /v1/approvals/{id}/deny``, for an approver (see :meth:`approve`)."""
        return await self._decide(approval_id, "deny", comment)

    async def _decide(self, approval_id: str, action: str, comment: Optional[str]) -> Approval:
        _check_id(approval_id)
        body = {"comment": comment} if comment else {}
        data, _, _ = await self._authed(
            "POST", f"/v1/approvals/{approval_id}/{action}", "approvals:decide", body=body
        )
        return Approval._from(data)

    async def list_approvals(self, status: str = "pending") -> List[Approval]:
        """``GET /v1/approvals?status=``, for an approver (``approvals:decide``)."""
        data, _, _ = await self._authed(
            "GET", "/v1/approvals", "approvals:decide", params={"status": status}
        )
        return [Approval._from(d) for d in data.get("approvals", [])]

    # ---- revoke ----------------------------------------------------------------------------

    async def revoke_token(self) -> None:
        """Revokes every token this vault holds (``POST /v1/tokens/{accessor}/revoke``, each
        with itself) and forgets them. With an agent key, a later call buys a new token."""
        held, self._held = self._held, []
        self._approval_tokens.clear()
        errors: List[AgentVaultError] = []
        for h in held:
            try:
                await self._send("POST", f"/v1/tokens/{h.info.accessor}/revoke", bearer=h.token,
                                 extra_secrets=[h.token])
            except AgentVaultError as e:
                if e.code in ("already_revoked", "unauthorized"):
                    continue  # gone already (expired, revoked, or its agent revoked)
                errors.append(e)
        if errors:
            raise errors[0]


# ---- helpers ---------------------------------------------------------------------------------


def _given(token: str) -> Token:
    return Token(token=token, accessor="(given)", scopes=(), ip_allowlist=(), issued_at="",
                 expires_at="", ttl_remaining_secs=0)


def _addresses(addr: Union[str, Sequence[str], None]) -> List[str]:
    if addr is None:
        addr = os.environ.get(ENV_ADDR) or DEFAULT_ADDR
    items = addr.split(",") if isinstance(addr, str) else list(addr)
    out: List[str] = []
    for a in (x.strip() for x in items):
        if not a:
            continue
        u = httpx.URL(a)
        if u.scheme not in ("http", "https") or not u.host:
            raise ConfigurationError(
                f"invalid node address {a!r}: expected a URL such as https://127.0.0.1:8201",
                code="config",
            )
        if u.query or u.fragment or u.userinfo:
            raise ConfigurationError(f"invalid node address {a!r}: no query, fragment or credentials",
                                     code="config")
        a = a.rstrip("/")
        if a not in out:
            out.append(a)
    if not out:
        raise ConfigurationError("no node address: set ASS_ADDR or pass addr=", code="config")
    return out


def _tls(ca_cert: Union[PathLike, ssl.SSLContext, None]) -> Union[ssl.SSLContext, bool]:
    if isinstance(ca_cert, ssl.SSLContext):
        return ca_cert
    if ca_cert is None:
        env = os.environ.get(ENV_CACERT)
        if not env:
            return True
        ca_cert = env
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_cert))
    except (OSError, ssl.SSLError) as e:
        raise ConfigurationError(f"cannot read the CA certificate {os.fspath(ca_cert)!r}: {e}",
                                 code="config") from None


def _tls_hint(e: Exception) -> str:
    text = str(e)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (" (the node's certificate is not signed by a CA this client trusts: pass "
                "ca_cert= or set ASS_CACERT, e.g. DIR/tls/ca.pem of `ass-node dev`)")
    return ""


def _answer_error(resp: httpx.Response, rid: Optional[str], secrets: Sequence[str]) -> AgentVaultError:
    code, message, approval_id = f"http_{resp.status_code}", f"server answered HTTP {resp.status_code}", None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        message = str(body.get("message", code))
        approval_id = body.get("approval_id")
    elif resp.text.strip():
        message += ": " + resp.text.strip()[:200]
    return error_from_answer(resp.status_code, code, message, request_id=rid,
                             approval_id=approval_id, secrets=secrets)


def _retryable(status: int, code: str) -> bool:
    """Whether another node (or the same one a moment later) may do better: any 429 or 503
    (the node did not act on the request: ours, or a load balancer's), and our own 504
    ``timeout`` (a read index or min-index wait that ran out)."""
    return status in (429, 503) or (status == 504 and code == "timeout")


def _secret_route(path: str) -> str:
    return "/v1/secrets/" + path  # check_path allows only URL-safe bytes


def _check_id(approval_id: str) -> None:
    try:
        uuid.UUID(str(approval_id))
    except ValueError:
        raise ConfigurationError(f"an approval id is a UUID, not {approval_id!r}",
                                 code="config") from None
