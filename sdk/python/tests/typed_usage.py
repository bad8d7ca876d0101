"""Checked by mypy --strict in test_types.py (never imported by pytest): the public API is
typed the way a user's code would use it."""

from __future__ import annotations

import os

from agentsecretstore import (
    AgentVault,
    AgentVaultError,
    AgentVaultSync,
    Approval,
    ApprovalRequiredError,
    Secret,
    Token,
)


async def agent() -> str:
    vault = AgentVault(agent_key=os.environ["ASS_AGENT_KEY"], addr=["https://n1:8200"])
    token: Token = await vault.request_token(scopes=["secrets:read:production/gemini/*"], ttl="1h")
    try:
        secret: Secret = await vault.get_secret("production/stripe/STRIPE_SECRET_KEY")
        return secret.value + token.accessor
    except ApprovalRequiredError as e:
        status: Approval = await vault.get_approval_status(e.approval_id)
        code: str = e.code
        return status.status + code
    finally:
        await vault.close()


def sync_agent() -> int:
    with AgentVaultSync(agent_key="x") as v:
        try:
            return v.set_secret("dev/a/B", "v", tier="sensitive", cas=0).version
        except AgentVaultError as e:
            return e.status or 0
