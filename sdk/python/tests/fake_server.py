"""A scripted HTTP server on 127.0.0.1 (plain HTTP, a port of its own) standing in for one
node, for the unit tests of retry and refresh timing only. Each request is recorded; the
answer comes from the test's handler function."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

Answer = Tuple[int, Dict[str, Any]]


@dataclass
class Seen:
    method: str
    path: str
    headers: Dict[str, str]
    body: Optional[Dict[str, Any]]
    at: float = field(default_factory=time.monotonic)


class FakeNode:
    def __init__(self, handler: Callable[[Seen], Answer]) -> None:
        self.handler = handler
        self.seen: List[Seen] = []
        self.lock = threading.Lock()
        node = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _do(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                s = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                         json.loads(raw) if raw else None)
                with node.lock:
                    node.seen.append(s)
                status, body = node.handler(s)
                out = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                if "x-ass-request-id" in s.headers:
                    self.send_header("x-ass-request-id", s.headers["x-ass-request-id"])
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, method: str, prefix: str) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.method == method and s.path.startswith(prefix))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def err(status: int, code: str, **extra: Any) -> Answer:
    return status, {"error": code, "message": f"fake {code}", **extra}


def token_body(token: str, lifetime: float, remaining: Optional[float] = None,
               scopes: Optional[List[str]] = None) -> Dict[str, Any]:
    """A token answer whose stamps say ``lifetime`` seconds and ``remaining`` left."""
    remaining = lifetime if remaining is None else remaining
    now = datetime.now(timezone.utc)
    expires = now + timedelta(seconds=remaining)
    issued = expires - timedelta(seconds=lifetime)
    f = "%Y-%m-%dT%H:%M:%S.%f"
    return {
        "token": token, "accessor": f"acc-{token}", "scopes": scopes or ["secrets:read:*"],
        "ip_allowlist": [], "issued_at": issued.strftime(f)[:-3] + "Z",
        "expires_at": expires.strftime(f)[:-3] + "Z", "ttl_remaining_secs": int(remaining),
        "break_glass": False,
    }


def secret_body(path: str, value: str = "v") -> Dict[str, Any]:
    return {"path": path, "version": 1, "value": value, "type": "generic", "tier": "standard",
            "created_at": "2026-01-01T00:00:00.000Z"}
