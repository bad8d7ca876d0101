from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cluster import Cluster  # noqa: E402

APPROVER = "security@company.com"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster(nodes=3)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def approver_key(cluster: Cluster) -> str:
    """The second identity: an agent named by e-mail in the approval policy, holding
    ``approvals:decide``. The policy the tests need is set here, explicitly."""
    key = cluster.create_agent(["approvals:decide"], name=APPROVER)
    cluster.set_approval_policy({
        "tiers": {"critical": {"required_approvals": 1, "timeout_hours": 24}},
        "approvers": [APPROVER],
        "grant_hours": 1,
    })
    return key
