"""A live ``ass-node dev`` cluster for the tests: started once per session on free ports,
TLS with its dev CA, and an admin client (the root token) to create agents and policies.

The binary comes from ``ASS_NODE_BIN`` (default: the repository's ``target/debug/ass-node``,
else ``target/release/ass-node``). The launcher and its nodes run in their own process group,
which is killed at the end (SIGTERM, then SIGKILL if it is still there).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx

REPO = Path(__file__).resolve().parents[3]


def node_binary() -> Path:
    env = os.environ.get("ASS_NODE_BIN")
    if env:
        return Path(env)
    for p in (REPO / "target/debug/ass-node", REPO / "target/release/ass-node"):
        if p.exists():
            return p
    raise RuntimeError(
        "no ass-node binary: run `cargo build -p ass-node` or set ASS_NODE_BIN"
    )


def _ports_free(base: int, nodes: int) -> bool:
    for port in [base + i for i in range(nodes)] + [base + 100 + i for i in range(nodes)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base_port(nodes: int = 3) -> int:
    """A base port whose API (P..P+n-1) and cluster (P+100..) ports are all free, away from
    the 8201-8203 default other engineers' dev clusters use."""
    start = 20000 + (os.getpid() * 7) % 20000
    for base in range(start, start + 4000, 10):
        if _ports_free(base, nodes):
            return base
    raise RuntimeError("no free ports for a dev cluster")


class PortTaken(Exception):
    pass


class Cluster:
    def __init__(self, nodes: int = 3) -> None:
        for attempt in range(3):
            self.dir = Path(tempfile.mkdtemp(prefix="ass-sdk-py-"))
            self.base_port = free_base_port(nodes) + 10 * attempt
            self.log = open(self.dir / "launcher.log", "w")
            self.proc = subprocess.Popen(
                [str(node_binary()), "dev", "--dir", str(self.dir), "--nodes", str(nodes),
                 "--base-port", str(self.base_port)],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                info = self._wait_cluster_file(90.0)
                break
            except PortTaken:
                self.log.close()  # another run took the ports between our check and the bind
        else:
            raise RuntimeError("could not find free ports for a dev cluster in 3 tries")
        self.root_token: str = info["root_token"]
        self.nodes: List[Dict[str, Any]] = info["nodes"]
        self.addrs: List[str] = [n["api"] for n in self.nodes]
        self.ca = str(self.dir / "tls" / "ca.pem")
        self.tls = ssl.create_default_context(cafile=self.ca)
        self.admin = httpx.Client(verify=self.tls, timeout=30.0,
                                  headers={"authorization": f"Bearer {self.root_token}"})
        self.wait_unsealed()

    def _wait_cluster_file(self, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        path = self.dir / "cluster.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "launcher.log").read_text()
                if "is in use" in log:
                    raise PortTaken(log)
                raise RuntimeError(f"ass-node dev exited: {log}")
            try:
                info: Dict[str, Any] = json.loads(path.read_text())
                if info.get("root_token"):
                    return info
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the dev cluster did not start in time")

    def wait_unsealed(self, timeout: float = 60.0) -> None:
        """Until every node is unsealed and one of them leads."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                sts = [httpx.get(a + "/v1/sys/status", verify=self.tls, timeout=3).json()
                       for a in self.addrs]
                if all(not s["sealed"] for s in sts) and any(s["leader_id"] for s in sts):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise RuntimeError("the dev cluster did not unseal in time")

    def leader(self) -> int:
        """Index (into ``nodes``) of the node whose health says it leads (200)."""
        for _ in range(100):
            for i, a in enumerate(self.addrs):
                try:
                    if httpx.get(a + "/v1/sys/health", verify=self.tls, timeout=3).status_code == 200:
                        return i
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("no leader")

    def kill_node(self, i: int) -> None:
        os.kill(int(self.nodes[i]["pid"]), signal.SIGKILL)

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        """An admin call with the root token (retried over the nodes on 503)."""
        last: Optional[httpx.Response] = None
        for attempt in range(60):
            a = self.addrs[attempt % len(self.addrs)]
            try:
                r = self.admin.request(method, a + path, json=body,
                                       headers={"x-ass-request-id": str(uuid.uuid4())})
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if r.status_code == 503:
                last = r
                time.sleep(0.2)
                continue
            if r.status_code >= 400:
                raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
            return r.json()
        raise AssertionError(f"{method} {path}: {last.text if last else 'no answer'}")

    def create_agent(self, scopes: List[str], name: Optional[str] = None) -> str:
        name = name or f"agent-{uuid.uuid4().hex[:10]}"
        return str(self.call("POST", "/v1/agents", {"name": name, "scopes": scopes})["agent_key"])

    def put(self, path: str, value: str, tier: str = "standard", type: str = "generic") -> None:
        self.call("PUT", "/v1/secrets/" + path, {"value": value, "tier": tier, "type": type})

    def set_approval_policy(self, policy: Dict[str, Any]) -> None:
        self.call("PUT", "/v1/policy/approvals", {"approval_policy": policy})

    def stop(self) -> None:
        self.admin.close()
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        # Dev nodes may ignore SIGTERM (a known bug): make sure the whole group is gone.
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for n in self.nodes:
            try:
                os.kill(int(n["pid"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
