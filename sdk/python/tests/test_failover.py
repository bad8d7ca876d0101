"""A leader killed (SIGKILL) in the middle of a read/write loop costs no call an error: the
SDK fails over and retries within its documented window (``retry_timeout``, 15 s). Runs on a
cluster of its own, since it leaves one node dead."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Iterator, List, Tuple

import pytest

from agentsecretstore import AgentVault, AgentVaultError
from agentsecretstore._vault import DEFAULT_RETRY_TIMEOUT
from cluster import Cluster


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    c = Cluster(nodes=3)
    try:
        yield c
    finally:
        c.stop()


def test_leader_kill_during_a_read_loop_fails_no_call(own_cluster: Cluster,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    c = own_cluster
    path = f"production/{uuid.uuid4().hex[:8]}/GEMINI_API_KEY"
    c.put(path, "v0")
    key = c.create_agent([f"secrets:read:{path}", f"secrets:write:{path}"])
    leader = c.leader()
    # Start on the leader, so the kill hits the node the SDK is talking to.
    addrs = [c.addrs[leader]] + [a for i, a in enumerate(c.addrs) if i != leader]

    async def run() -> Tuple[List[float], List[str], int, int]:
        latencies: List[float] = []
        failures: List[str] = []
        writes = 0
        async with AgentVault(agent_key=key, addr=addrs, ca_cert=c.ca) as vault:
            await vault.request_token([f"secrets:read:{path}", f"secrets:write:{path}"], ttl="10m")
            start = time.monotonic()
            killed = False
            i = 0
            while time.monotonic() - start < 9.0:
                if not killed and time.monotonic() - start > 2.0:
                    c.kill_node(leader)
                    killed = True
                t0 = time.monotonic()
                try:
                    if i % 4 == 3:
                        w = await vault.set_secret(path, f"v{writes + 1}")
                        writes += 1
                        assert w.version == writes + 1, (w.version, writes)
                    else:
                        s = await vault.get_secret(path)
                        assert s.value == f"v{writes}"
                except AgentVaultError as e:
                    failures.append(f"{type(e).__name__} {e.code}: {e}")
                latencies.append(time.monotonic() - t0)
                i += 1
                await asyncio.sleep(0.02)
            final = await vault.get_secret(path)
            return latencies, failures, writes, final.version

    latencies, failures, writes, version = asyncio.run(run())
    slowest = max(latencies)
    with capsys.disabled():
        print(f"\nleader kill: {len(latencies)} calls ({writes} writes), {len(failures)} failed, "
              f"slowest {slowest:.2f} s (window {DEFAULT_RETRY_TIMEOUT:.0f} s)")
    assert not failures, failures
    assert slowest < DEFAULT_RETRY_TIMEOUT
    assert version == writes + 1, "every write applied exactly once"
