"""No secret value, token or agent key ever appears in an exception message, a repr or a log
line — checked across a whole session of calls, errors included, with every logger
(httpx and httpcore too) at DEBUG."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import List

import pytest

from agentsecretstore import (
    AgentVault,
    AgentVaultError,
    AgentVaultSync,
    ApprovalRequiredError,
    ScopeDeniedError,
    TransportError,
    UnauthorizedError,
)
from cluster import Cluster


def test_no_secret_in_messages_reprs_or_logs(cluster: Cluster, approver_key: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ns = f"hyg{uuid.uuid4().hex[:8]}"
    value = f"VALUE-{uuid.uuid4().hex}"
    critical = f"{ns}/pay/KEY"
    cluster.put(critical, f"CRIT-{uuid.uuid4().hex}", tier="critical")
    key = cluster.create_agent([f"secrets:*:{ns}/*"])
    shown: List[str] = []
    tokens: List[str] = []

    def note(x: object) -> None:
        shown.extend([repr(x), str(x)])

    async def run() -> None:
        async with AgentVault(agent_key=key, addr=cluster.addrs, ca_cert=cluster.ca) as vault:
            t = await vault.request_token([f"secrets:*:{ns}/*"], ttl="10m")
            tokens.append(t.token)
            note(t)
            note(await vault.set_secret(f"{ns}/db/PW", value))
            s = await vault.get_secret(f"{ns}/db/PW")
            assert s.value == value
            note(s)
            note(await vault.list_secrets(f"{ns}/"))
            for call in (
                vault.get_secret(critical),
                vault.request_token(["secrets:read:elsewhere/*"], ttl="1h"),
            ):
                try:
                    await call
                except (ApprovalRequiredError, ScopeDeniedError) as e:
                    note(e)
            note(vault)
            tokens.extend(h.token for h in vault._held)
            assert len(tokens) >= 2
            await vault.revoke_token()
            async with AgentVault(token=t.token, addr=cluster.addrs, ca_cert=cluster.ca) as old:
                note(old)
                try:
                    await old.set_secret(f"{ns}/db/PW", value)
                except UnauthorizedError as e:
                    note(e)
        async with AgentVault(agent_key=key, addr="https://127.0.0.1:1", ca_cert=cluster.ca,
                              retry_timeout=0.3) as dead:
            try:
                await dead.set_secret(f"{ns}/db/PW", value)
            except TransportError as e:
                note(e)
            note(dead)

    asyncio.run(run())
    with AgentVaultSync(agent_key=key, addr=cluster.addrs, ca_cert=cluster.ca) as sync:
        note(sync)
        try:
            sync.request_token(["bogus scope"], ttl="1h")
        except AgentVaultError as e:
            note(e)
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert len(caplog.records) > 20, "the run was logged"
    for secret in [key, value, *tokens, cluster.root_token]:
        assert secret not in logs, "a secret reached a log line"
        for s in shown:
            assert secret not in s, f"a secret reached a repr or message: {s[:80]}"
    assert any("redacted" in s for s in shown)
