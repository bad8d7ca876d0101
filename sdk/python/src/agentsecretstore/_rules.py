"""Pure rules the SDK applies before it sends anything: secret paths, the least scope each
call needs, whether a token's scopes already cover it, and when a token is due for refresh.

These mirror the server's rules (docs/api.md, "Paths" and "Scopes") and the Rust client's
refresh margin (``client/src/session.rs``); the server stays the judge of everything, these
only decide what to ask for and when.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from ._errors import InvalidPathError

_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_PATH_BYTES = 512

# Refresh a token once less than a fifth of its lifetime is left, or a minute, whichever is
# more, but never before half-way through its life (client/src/session.rs).
REFRESH_FRACTION = 0.2
MIN_REFRESH_MARGIN = 60.0


def check_path(path: str) -> str:
    """``path`` if it is a valid secret path, else :class:`InvalidPathError` (no request is
    made: a bad path must not turn into a token request for a bad scope)."""
    if not isinstance(path, str):
        raise InvalidPathError("a secret path is a string", code="invalid_path")
    why = _path_problem(path)
    if why:
        raise InvalidPathError(f"invalid secret path {path!r}: {why}", code="invalid_path")
    return path


def _path_problem(path: str) -> Optional[str]:
    if not path:
        return "it is empty"
    if len(path.encode()) > MAX_PATH_BYTES:
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    segs = path.split("/")
    if len(segs) < 2:
        return "it needs at least two segments, namespace/NAME (e.g. production/stripe/KEY)"
    for s in segs:
        if not s:
            return "no empty segment (leading, trailing or double /)"
        if s in (".", ".."):
            return "`.` and `..` segments are not allowed"
        if not _SEGMENT.fullmatch(s):
            return f"segment {s!r} may only hold A-Z a-z 0-9 _ . -"
    if segs[-1] == "versions":
        return "the last segment can't be `versions`"
    return None


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a valid list prefix (may be empty, end with one ``/``, or stop
    inside a segment), else :class:`InvalidPathError`."""
    if not prefix:
        return prefix
    body = prefix[:-1] if prefix.endswith("/") else prefix
    for s in body.split("/"):
        if not s or s in (".", "..") or not _SEGMENT.fullmatch(s):
            raise InvalidPathError(f"invalid list prefix {prefix!r}", code="invalid_path")
    return prefix


def read_scope(path: str) -> str:
    return f"secrets:read:{path}"


def write_scope(path: str) -> str:
    return f"secrets:write:{path}"


def list_scope(prefix: str) -> str:
    """The narrowest ``secrets:list:`` scope covering every path a listing of ``prefix`` can
    show (``production/gem`` → ``secrets:list:production/*``)."""
    i = prefix.rfind("/")
    return f"secrets:list:{prefix[: i + 1]}*" if i >= 0 else "secrets:list:*"


def _split(scope: str) -> Optional[tuple[str, str]]:
    parts = scope.split(":", 2)
    if len(parts) != 3 or parts[0] != "secrets":
        return None
    return parts[1], parts[2]


def _glob_within(inner: str, outer: str) -> bool:
    if outer == "*":
        return True
    if inner == "*":
        return False
    if outer.endswith("/*"):
        base = outer[:-1]  # "prefix/"
        if inner.endswith("/*"):
            return inner[:-1].startswith(base)
        return inner.startswith(base)
    return inner == outer


def scope_within(inner: str, outer: str) -> bool:
    """Whether ``outer`` covers ``inner`` by the server's containment rule."""
    if inner == outer:
        return True
    a, b = _split(inner), _split(outer)
    if a is None or b is None:
        return False
    if b[0] != "*" and a[0] != b[0]:
        return False
    return _glob_within(a[1], b[1])


def covers(scopes: Sequence[str], needed: str) -> bool:
    return any(scope_within(needed, s) for s in scopes)


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token of ``lifetime`` seconds is refreshed."""
    return min(max(lifetime * REFRESH_FRACTION, MIN_REFRESH_MARGIN), lifetime / 2)


def format_ttl(seconds: float) -> str:
    """A TTL in the API grammar, largest unit first: 90 → ``1m30s``."""
    rest = max(int(seconds), 1)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            out += f"{n}{unit}"
    return out


def check_reason(reason: str) -> str:
    """An ``x-ass-reason`` value: printable ASCII (tabs included), at most 1024 bytes."""
    from ._errors import ConfigurationError

    if not all(c == "\t" or " " <= c <= "~" for c in reason):
        raise ConfigurationError(
            "the reason must be printable ASCII (no accents, emoji or line breaks)", code="config"
        )
    if len(reason) > 1024:
        raise ConfigurationError("the reason is limited to 1024 bytes", code="config")
    return reason
