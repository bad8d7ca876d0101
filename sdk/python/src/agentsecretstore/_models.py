"""What the calls return. Values and tokens are kept out of every ``repr``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple


def _s(d: Mapping[str, Any], k: str) -> Optional[str]:
    v = d.get(k)
    return None if v is None else str(v)


@dataclass(frozen=True)
class Secret:
    """One version of a secret. ``repr`` and ``str`` never show ``value``."""

    path: str
    version: int
    value: str = field(repr=False)
    type: str
    tier: str
    created_at: str

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Secret":
        return cls(
            path=str(d["path"]),
            version=int(d["version"]),
            value=str(d["value"]),
            type=str(d.get("type", "generic")),
            tier=str(d.get("tier", "standard")),
            created_at=str(d.get("created_at", "")),
        )

    def __repr__(self) -> str:
        return (
            f"Secret(path={self.path!r}, version={self.version}, type={self.type!r}, "
            f"tier={self.tier!r}, created_at={self.created_at!r}, value=<redacted>)"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class Token:
    """A token this client holds. ``token`` is the bearer itself; ``repr`` never shows it.
    ``accessor`` names it for lookup and revoke and is not a credential."""

    token: str = field(repr=False)
    accessor: str
    scopes: Tuple[str, ...]
    ip_allowlist: Tuple[str, ...]
    issued_at: str
    expires_at: str
    ttl_remaining_secs: int
    agent_name: Optional[str] = None
    break_glass: bool = False

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Token":
        return cls(
            token=str(d.get("token", "")),
            accessor=str(d["accessor"]),
            scopes=tuple(str(s) for s in d.get("scopes", ())),
            ip_allowlist=tuple(str(s) for s in d.get("ip_allowlist", ())),
            issued_at=str(d.get("issued_at", "")),
            expires_at=str(d.get("expires_at", "")),
            ttl_remaining_secs=int(d.get("ttl_remaining_secs", 0)),
            agent_name=_s(d, "agent_name"),
            break_glass=bool(d.get("break_glass", False)),
        )

    def __repr__(self) -> str:
        return (
            f"Token(accessor={self.accessor!r}, scopes={list(self.scopes)!r}, "
            f"expires_at={self.expires_at!r}, token=<redacted>)"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class WriteResult:
    """A committed write: the new version and the Raft log index it committed at."""

    path: str
    version: int
    index: int


@dataclass(frozen=True)
class SecretMetadata:
    """A listed path: metadata only, never a value."""

    path: str
    latest_version: int
    type: str
    tier: str
    created_at: str
    updated_at: str
    deleted: bool

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "SecretMetadata":
        return cls(
            path=str(d["path"]),
            latest_version=int(d.get("latest_version", 0)),
            type=str(d.get("type", "generic")),
            tier=str(d.get("tier", "standard")),
            created_at=str(d.get("created_at", "")),
            updated_at=str(d.get("updated_at", "")),
            deleted=bool(d.get("deleted", False)),
        )


@dataclass(frozen=True)
class Decision:
    approver: str
    at: str
    comment: Optional[str] = None


@dataclass(frozen=True)
class Approval:
    """An approval request: ``status`` is ``pending``, ``approved``, ``denied`` or
    ``expired``."""

    id: str
    status: str
    path: str
    tier: str
    required_approvals: int
    approvals: Tuple[Decision, ...]
    requested_at: str
    expires_at: str
    agent_name: Optional[str] = None
    reason: Optional[str] = None
    denial: Optional[Decision] = None
    grant_expires_at: Optional[str] = None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def _from(cls, d: Mapping[str, Any]) -> "Approval":
        def dec(x: Mapping[str, Any]) -> Decision:
            return Decision(approver=str(x["approver"]), at=str(x["at"]), comment=_s(x, "comment"))

        denial = d.get("denial")
        return cls(
            id=str(d["id"]),
            status=str(d["status"]),
            path=str(d["path"]),
            tier=str(d.get("tier", "")),
            required_approvals=int(d.get("required_approvals", 0)),
            approvals=tuple(dec(x) for x in d.get("approvals", ())),
            requested_at=str(d.get("requested_at", "")),
            expires_at=str(d.get("expires_at", "")),
            agent_name=_s(d, "agent_name"),
            reason=_s(d, "reason"),
            denial=dec(denial) if isinstance(denial, Mapping) else None,
            grant_expires_at=_s(d, "grant_expires_at"),
        )
