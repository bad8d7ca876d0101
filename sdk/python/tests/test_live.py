"""The SDK against a live 3-node ``ass-node dev`` cluster (TLS with its dev CA), started once
for the session by ``conftest.py``. Each test makes its own agents and paths."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

from agentsecretstore import (
    AgentVault,
    AgentVaultSync,
    ApprovalRequiredError,
    InvalidPathError,
    InvalidScopeError,
    InvalidTtlError,
    NotFoundError,
    ScopeDeniedError,
    TtlTooLongError,
    UnauthorizedError,
)
from cluster import Cluster

from conftest import APPROVER

# The guide's snippet ("Additional: requesting approval in Python"), character for character.
GUIDE_SNIPPET = '''\
import os
from agentsecretstore import AgentVault, ApprovalRequiredError
vault = AgentVault(agent_key=os.environ["ASS_AGENT_KEY"])
token = await vault.request_token(scopes=["secrets:read:production/gemini/*"], ttl="1h")
try:
    secret = await vault.get_secret("production/stripe/STRIPE_SECRET_KEY")
except ApprovalRequiredError as e:
    print(f"Approval required: {e.approval_id}")
    status = await vault.get_approval_status(e.approval_id)
'''


@pytest.fixture()
def env(cluster: Cluster, approver_key: str, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """ASS_ADDR and ASS_CACERT as the CLI reads them, on a cluster whose approval policy is
    the tests' own (critical: 1 approval; sensitive and standard: none)."""
    monkeypatch.setenv("ASS_ADDR", ",".join(cluster.addrs))
    monkeypatch.setenv("ASS_CACERT", cluster.ca)
    monkeypatch.delenv("ASS_TOKEN", raising=False)
    return cluster


def uniq(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_guide_snippet_runs_verbatim(env: Cluster, approver_key: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The hardening guide's approval snippet runs unchanged: the critical Stripe key raises
    ApprovalRequiredError, and the request it opened is pending."""
    key = env.create_agent(["secrets:read:production/gemini/*", "secrets:read:production/stripe/*"])
    env.put("production/stripe/STRIPE_SECRET_KEY", "sk_live_guide", tier="critical", type="api_key")
    monkeypatch.setenv("ASS_AGENT_KEY", key)
    src = "async def _guide():\n" + textwrap.indent(GUIDE_SNIPPET, "    ") + "    return locals()\n"
    ns: Dict[str, Any] = {}
    exec(compile(src, "guide_snippet", "exec"), ns)

    async def run() -> Dict[str, Any]:
        found: Dict[str, Any] = await ns["_guide"]()
        await found["vault"].close()
        return found

    out = asyncio.run(run())
    printed = capsys.readouterr().out
    with capsys.disabled():
        print("\n--- guide snippet output ---\n" + printed + f"status: {out['status']!r}\n---")
    status = out["status"]
    assert printed == f"Approval required: {status.id}\n"
    assert status.status == "pending" and status.path == "production/stripe/STRIPE_SECRET_KEY"
    assert out["token"].scopes == ("secrets:read:production/gemini/*",)
    assert "secret" not in out
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert GUIDE_SNIPPET in readme, "the README shows the same snippet"


def test_approval_gated_read_then_approved_by_a_second_identity(env: Cluster, approver_key: str) -> None:
    """A critical read raises ApprovalRequiredError (with the reason recorded); an approver
    (another agent, through the sync twin) approves it; wait_for_approval sees it and the same
    read then returns the value."""
    path = f"production/{uniq('pay')}/SIGNING_KEY"
    env.put(path, "sig-value-1", tier="critical")
    key = env.create_agent([f"secrets:read:{path}"])

    async def requester() -> str:
        async with AgentVault(agent_key=key) as vault:
            with pytest.raises(ApprovalRequiredError) as ei:
                await vault.get_secret(path, reason="payout run 42")
            e = ei.value
            assert e.code == "approval_required" and e.status == 403 and e.request_id
            pending = await vault.get_approval_status(e.approval_id)
            assert pending.pending and pending.reason == "payout run 42"
            # A second read re-uses the same open request.
            with pytest.raises(ApprovalRequiredError) as again:
                await vault.get_secret(path)
            assert again.value.approval_id == e.approval_id
            return e.approval_id

    approval_id = asyncio.run(requester())
    with AgentVaultSync(agent_key=approver_key) as approver:
        approver.request_token(scopes=["approvals:decide"], ttl="15m")
        assert approval_id in [a.id for a in approver.list_approvals()]
        decided = approver.approve(approval_id, comment="ok for the payout")
        assert decided.status == "approved" and decided.approvals[0].approver == APPROVER

    async def after() -> None:
        async with AgentVault(agent_key=key) as vault:
            # A new vault (new tokens) of the same agent: approvals follow the agent.
            await vault.request_token([f"secrets:read:{path}"], ttl="5m")
            done = await vault.wait_for_approval(approval_id, timeout=30, poll_interval=0.5)
            assert done.approved and done.grant_expires_at
            s = await vault.get_secret(path)
            assert (s.value, s.version, s.tier) == ("sig-value-1", 1, "critical")

    asyncio.run(after())


def test_token_refresh_across_a_short_ttl(env: Cluster, caplog: pytest.LogCaptureFixture,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A 6-second token is refreshed on the first call inside its margin (3 s before expiry)
    and reads never fail across several lifetimes."""
    path = f"dev/{uniq('refresh')}/KEY"
    env.put(path, "v-refresh")
    key = env.create_agent([f"secrets:read:{path}"])
    caplog.set_level(logging.INFO, logger="agentsecretstore")

    async def run() -> List[float]:
        async with AgentVault(agent_key=key) as vault:
            tok = await vault.request_token([f"secrets:read:{path}"], ttl="6s")
            accessors = [tok.accessor]
            observed: List[float] = []
            margin_at = time.monotonic() + tok.ttl_remaining_secs - 3.0
            end = time.monotonic() + 14.0
            while time.monotonic() < end:
                s = await vault.get_secret(path)
                assert s.value == "v-refresh"
                now_acc = vault.token.accessor if vault.token else ""
                if now_acc != accessors[-1]:
                    observed.append(time.monotonic() - margin_at)
                    accessors.append(now_acc)
                    margin_at = time.monotonic() + 6.0 - 3.0
                await asyncio.sleep(0.1)
            assert len(set(accessors)) >= 3, accessors
            return observed

    observed = asyncio.run(run())
    events = [r for r in caplog.records if getattr(r, "ass_event", "") == "token_refresh"]
    since = [float(getattr(r, "ass_since_margin")) for r in events]
    before = [float(getattr(r, "ass_before_expiry")) for r in events]
    with capsys.disabled():
        print(f"\nrefreshes: {len(events)}; seconds from the expiry margin to the refresh "
              f"(SDK log): {['%.3f' % s for s in since]}; seen by the read loop: "
              f"{['%.3f' % s for s in observed]}; seconds left before expiry: {['%.1f' % b for b in before]}")
    assert len(events) >= 2
    assert all(0 <= s < 1.0 for s in since), since
    assert all(b > 1.5 for b in before), before


def test_revoke_makes_the_next_call_fail(env: Cluster) -> None:
    """revoke_token() ends the SDK's token on the cluster; a token revoked behind the SDK's back
    makes the next call raise UnauthorizedError (code unauthorized, 401); so does a revoked
    agent, whose key no longer buys tokens."""
    path = f"dev/{uniq('revoke')}/KEY"
    env.put(path, "v-revoke")
    name = uniq("revoker-")
    key = env.create_agent([f"secrets:read:{path}"], name=name)

    async def run() -> None:
        async with AgentVault(agent_key=key) as vault:
            tok = await vault.request_token([f"secrets:read:{path}"], ttl="10m")
            assert (await vault.get_secret(path)).value == "v-revoke"
            await vault.revoke_token()
            async with AgentVault(token=tok.token) as old:
                with pytest.raises(UnauthorizedError) as ei:
                    await old.get_secret(path)
                assert ei.value.code == "unauthorized" and ei.value.status == 401
            # Revoked behind its back: the next call fails with the right error.
            tok2 = await vault.request_token([f"secrets:read:{path}"], ttl="10m")
            env.call("POST", f"/v1/tokens/{tok2.accessor}/revoke")
            with pytest.raises(UnauthorizedError) as ei:
                await vault.get_secret(path)
            assert ei.value.status == 401 and ei.value.request_id
            # The dead token was dropped: the agent key buys a new one.
            assert (await vault.get_secret(path)).value == "v-revoke"
            # A revoked agent: its tokens and its key stop working.
            env.call("POST", f"/v1/agents/{name}/revoke")
            with pytest.raises(UnauthorizedError):
                await vault.get_secret(path)
            with pytest.raises(UnauthorizedError):
                await vault.get_secret(path)

    asyncio.run(run())


def test_bad_input_raises_the_matching_error(env: Cluster) -> None:
    """Bad paths, a 48 h TTL, malformed scopes and scopes outside the agent's each raise their
    own class, with the server's code where the server judged."""
    key = env.create_agent(["secrets:read:dev/*"])

    async def run() -> None:
        async with AgentVault(agent_key=key) as vault:
            for bad in ["noslash", "dev/../x", "dev//x", "dev/x/", "dev/bad key", "dev/x/versions", ""]:
                with pytest.raises(InvalidPathError) as pe:
                    await vault.get_secret(bad)
                assert pe.value.code == "invalid_path"
            with pytest.raises(InvalidPathError):
                await vault.list_secrets("bad prefix!")
            with pytest.raises(TtlTooLongError) as te:
                await vault.request_token(["secrets:read:dev/*"], ttl="48h")
            assert (te.value.code, te.value.status) == ("ttl_too_long", 400)
            assert isinstance(te.value, InvalidTtlError)
            with pytest.raises(InvalidTtlError) as it:
                await vault.request_token(["secrets:read:dev/*"], ttl="soon")
            assert it.value.code == "invalid_ttl"
            for scope in ["secrets:read:dev/*/KEY", "bogus", "secrets:fly:dev/*", "secrets:read:"]:
                with pytest.raises(InvalidScopeError) as se:
                    await vault.request_token([scope], ttl="1h")
                assert se.value.code == "invalid_scope" and se.value.status == 400, scope
            with pytest.raises(ScopeDeniedError) as sd:
                await vault.request_token(["secrets:read:production/*"], ttl="1h")
            assert sd.value.status == 403
            with pytest.raises(NotFoundError) as nf:
                await vault.get_secret(f"dev/{uniq('missing')}/KEY")
            assert nf.value.code == "not_found" and nf.value.request_id

    asyncio.run(run())


def test_sync_twin_writes_lists_and_reads(env: Cluster) -> None:
    """AgentVaultSync: the same calls without an event loop, buying minimum-scope tokens."""
    ns = uniq("sync")
    key = env.create_agent([f"secrets:write:{ns}/*", f"secrets:read:{ns}/*", f"secrets:list:{ns}/*"])
    with AgentVaultSync(agent_key=key) as vault:
        w1 = vault.set_secret(f"{ns}/db/PASSWORD", "pw-1", type="password", tier="sensitive")
        w2 = vault.set_secret(f"{ns}/db/PASSWORD", "pw-2", cas=1)
        assert (w1.version, w2.version) == (1, 2) and w2.index > w1.index
        listed = vault.list_secrets(f"{ns}/")
        assert [m.path for m in listed] == [f"{ns}/db/PASSWORD"] and listed[0].latest_version == 2
        s = vault.get_secret(f"{ns}/db/PASSWORD")
        assert (s.value, s.version, s.type, s.tier) == ("pw-2", 2, "password", "sensitive")
        assert vault.get_secret(f"{ns}/db/PASSWORD", version=1).value == "pw-1"
        assert "pw-" not in repr(s) and "pw-" not in str(s)


def test_the_sdk_is_versioned_with_the_node(cluster: Cluster) -> None:
    """The package version is the version of the ass-node it speaks to (and of the workspace)."""
    import re

    import httpx

    import agentsecretstore

    status = httpx.get(cluster.addrs[0] + "/v1/sys/status", verify=cluster.tls).json()
    assert status["version"] == agentsecretstore.__version__
    root = (Path(__file__).parents[3] / "Cargo.toml").read_text()
    m = re.search(r'^version = "([^"]+)"', root, re.M)
    assert m and m.group(1) == agentsecretstore.__version__
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'version = "{agentsecretstore.__version__}"' in pyproject


def test_an_untrusted_certificate_fails_fast_with_a_hint(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the dev CA every node's certificate is refused: one try per address, then a
    TransportError that says to set ASS_CACERT (not 15 s of retries)."""
    from agentsecretstore import TransportError

    monkeypatch.delenv("ASS_CACERT", raising=False)

    async def run() -> float:
        async with AgentVault(agent_key="ass_x", addr=cluster.addrs) as vault:
            t0 = time.monotonic()
            with pytest.raises(TransportError) as e:
                await vault.request_token(["secrets:read:dev/*"], ttl="1h")
            assert "ASS_CACERT" in str(e.value) and e.value.code == "transport"
            return time.monotonic() - t0

    assert asyncio.run(run()) < 3.0


def test_a_token_allowlisted_elsewhere_raises_ip_not_allowed(env: Cluster) -> None:
    """request_token(ip_allowlist=...) is enforced by the cluster: from 127.0.0.1 a token
    bound to 10.9.9.9/32 raises IpNotAllowedError."""
    from agentsecretstore import IpNotAllowedError

    path = f"dev/{uniq('ip')}/KEY"
    env.put(path, "v-ip")
    key = env.create_agent([f"secrets:read:{path}"])

    async def run() -> None:
        async with AgentVault(agent_key=key) as vault:
            t = await vault.request_token([f"secrets:read:{path}"], ttl="5m", ip_allowlist=["10.9.9.9/32"])
            assert t.ip_allowlist == ("10.9.9.9/32",)
            with pytest.raises(IpNotAllowedError) as e:
                await vault.get_secret(path)
            assert (e.value.code, e.value.status) == ("ip_not_allowed", 403)

    asyncio.run(run())
