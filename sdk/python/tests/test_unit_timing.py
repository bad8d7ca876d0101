"""Retry, failover and refresh timing against local fake nodes (fake_server.py): the logic
the live tests can't pin down to the tenth of a second."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Iterator, List

import pytest

from agentsecretstore import AgentVault, ConfigurationError, NoLeaderError, NotFoundError, RateLimitedError, UnauthorizedError
from agentsecretstore._vault import BACKOFF_MAX
import agentsecretstore as sdk_errors
from fake_server import Answer, FakeNode, Seen, err, secret_body, token_body

P = "dev/app/KEY"


@pytest.fixture()
def nodes() -> Iterator[List[FakeNode]]:
    made: List[FakeNode] = []
    yield made
    for n in made:
        n.close()


def node(nodes: List[FakeNode], handler) -> FakeNode:  # type: ignore[no-untyped-def]
    n = FakeNode(handler)
    nodes.append(n)
    return n


def test_a_write_fails_over_on_503_with_one_request_id(nodes: List[FakeNode]) -> None:
    a = node(nodes, lambda s: err(503, "no_leader"))
    b = node(nodes, lambda s: (200, {"path": P, "version": 3, "index": 9}))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=[a.url, b.url]) as v:
            w = await v.set_secret(P, "x")
            assert (w.version, w.index) == (3, 9)
            assert v.current_address == b.url

    asyncio.run(run())
    ids = {s.headers["x-ass-request-id"] for s in a.seen + b.seen}
    assert len(a.seen) == 1 and len(b.seen) == 1 and len(ids) == 1


def test_429_rate_limited_moves_to_the_next_node(nodes: List[FakeNode]) -> None:
    a = node(nodes, lambda s: err(429, "rate_limited"))
    b = node(nodes, lambda s: (200, secret_body(P)))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=[a.url, b.url]) as v:
            assert (await v.get_secret(P)).value == "v"

    asyncio.run(run())
    assert (len(a.seen), len(b.seen)) == (1, 1)


def test_retries_are_bounded_by_the_window_with_a_capped_backoff(nodes: List[FakeNode]) -> None:
    a = node(nodes, lambda s: err(503, "no_leader"))
    b = node(nodes, lambda s: err(503, "no_leader"))

    async def run() -> float:
        async with AgentVault(token="asst_given", addr=[a.url, b.url], retry_timeout=2.5) as v:
            t0 = time.monotonic()
            with pytest.raises(NoLeaderError) as ei:
                await v.get_secret(P)
            assert ei.value.status == 503
            return time.monotonic() - t0

    took = asyncio.run(run())
    seen = sorted(a.seen + b.seen, key=lambda s: s.at)
    gaps = [y.at - x.at for x, y in zip(seen, seen[1:])]
    print(f"\ngave up after {took:.2f} s, {len(seen)} attempts, gaps {['%.2f' % g for g in gaps]}")
    assert 2.4 <= took <= 3.5
    assert 5 <= len(seen) <= 10
    assert all(g <= BACKOFF_MAX + 0.5 for g in gaps)
    assert gaps[0] < gaps[-1], "the backoff grows"
    assert {s.path for s in seen} == {f"/v1/secrets/{P}"}


def test_a_definite_error_is_not_retried(nodes: List[FakeNode]) -> None:
    a = node(nodes, lambda s: err(404, "not_found"))
    b = node(nodes, lambda s: (200, secret_body(P)))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=[a.url, b.url]) as v:
            with pytest.raises(NotFoundError):
                await v.get_secret(P)

    asyncio.run(run())
    assert (len(a.seen), len(b.seen)) == (1, 0)


def test_connection_refused_fails_over(nodes: List[FakeNode]) -> None:
    b = node(nodes, lambda s: (200, secret_body(P)))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=["http://127.0.0.1:1", b.url]) as v:
            assert (await v.get_secret(P)).value == "v"

    asyncio.run(run())
    assert len(b.seen) == 1


def agent_node(nodes: List[FakeNode], lifetime: float, remaining: float,
               refresh: Answer | None = None, on_get=None) -> FakeNode:  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    lock = threading.Lock()

    def handler(s: Seen) -> Answer:
        if s.path == "/v1/tokens":
            with lock:
                n = next(counter)
            return 200, token_body(f"asst_buy{n}", lifetime, remaining)
        if s.path == "/v1/tokens/refresh":
            if refresh is not None:
                return refresh
            with lock:
                n = next(counter)
            return 200, token_body(f"asst_ref{n}", lifetime)
        if on_get is not None:
            return on_get(s)  # type: ignore[no-any-return]
        return 200, secret_body(P)

    return node(nodes, handler)


def test_concurrent_first_calls_buy_one_token_and_share_one_refresh(nodes: List[FakeNode]) -> None:
    # Bought with 100 s lifetime but 30 s left: inside the 50 s margin, so due at once.
    a = agent_node(nodes, lifetime=100, remaining=30)

    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            await asyncio.gather(*(v.get_secret(P) for _ in range(10)))  # buys one, due
            await asyncio.gather(*(v.get_secret(P) for _ in range(20)))  # one shared refresh

    asyncio.run(run())
    assert a.count("POST", "/v1/tokens/refresh") == 1
    assert a.count("POST", "/v1/tokens") - a.count("POST", "/v1/tokens/refresh") == 1
    bearers = [s.headers["authorization"] for s in a.seen if s.method == "GET"]
    assert bearers[-1] == "Bearer asst_ref2" and bearers.count("Bearer asst_ref2") >= 20


def test_refresh_comes_on_the_first_call_inside_the_margin(nodes: List[FakeNode]) -> None:
    # A 4 s token: margin max(20 %, 60 s) capped at half = 2 s.
    a = agent_node(nodes, lifetime=4, remaining=4)

    async def run() -> float:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            t = await v.request_token(["secrets:read:*"], ttl="4s")
            assert t.token == "asst_buy1"
            t0 = time.monotonic()
            while a.count("POST", "/v1/tokens/refresh") == 0:
                await v.get_secret(P)
                await asyncio.sleep(0.05)
            return time.monotonic() - t0

    took = asyncio.run(run())
    print(f"\nrefreshed {took:.3f} s after the token was bought (margin begins at 2.0 s)")
    assert 1.9 <= took <= 2.8


def test_a_401_on_an_expired_token_buys_again_once(nodes: List[FakeNode]) -> None:
    # A 3 s token whose refresh keeps failing (500): used until it expires, then a GET gets
    # 401, the SDK buys a new one with the agent key and sends the call once more.
    def on_get(s: Seen) -> Answer:
        if s.headers["authorization"] == "Bearer asst_buy1" and time.monotonic() > start[0] + 2.0:
            return err(401, "unauthorized")
        return 200, secret_body(P)

    start = [time.monotonic()]
    a = agent_node(nodes, lifetime=3, remaining=3, refresh=err(500, "internal"), on_get=on_get)

    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            start[0] = time.monotonic()
            await v.request_token(["secrets:read:*"], ttl="3s")
            await asyncio.sleep(1.6)  # inside the margin: the refresh fails, the token stays
            assert (await v.get_secret(P)).value == "v"
            await asyncio.sleep(0.6)  # past expiry - 1 s: the GET answers 401
            assert (await v.get_secret(P)).value == "v"

    asyncio.run(run())
    buys = a.count("POST", "/v1/tokens") - a.count("POST", "/v1/tokens/refresh")
    assert buys == 2
    assert [s.headers["authorization"] for s in a.seen if s.method == "GET"][-1] == "Bearer asst_buy2"


def test_a_401_on_a_live_token_is_raised_not_retried(nodes: List[FakeNode]) -> None:
    a = agent_node(nodes, lifetime=600, remaining=600, on_get=lambda s: err(401, "unauthorized"))

    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            await v.request_token(["secrets:read:*"], ttl="10m")
            with pytest.raises(UnauthorizedError):
                await v.get_secret(P)
            assert v.token is None, "the revoked token was dropped"

    asyncio.run(run())
    assert a.count("GET", "/v1/secrets") == 1
    assert a.count("POST", "/v1/tokens") == 1


def test_a_replayed_token_issue_is_asked_again_with_a_new_id(nodes: List[FakeNode]) -> None:
    answers = iter([err(409, "replayed"), (200, token_body("asst_t", 600))])
    a = node(nodes, lambda s: next(answers))

    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            assert (await v.request_token(["secrets:read:*"], ttl="10m")).token == "asst_t"

    asyncio.run(run())
    assert len(a.seen) == 2
    assert a.seen[0].headers["x-ass-request-id"] != a.seen[1].headers["x-ass-request-id"]
    assert a.seen[0].headers["authorization"] == "Bearer ass_key"


def test_rate_limited_everywhere_raises_rate_limited(nodes: List[FakeNode]) -> None:
    a = node(nodes, lambda s: err(429, "rate_limited"))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=[a.url], retry_timeout=0.3) as v:
            with pytest.raises(RateLimitedError):
                await v.get_secret(P)

    asyncio.run(run())
    assert len(a.seen) >= 2


def test_approval_status_without_a_token_says_what_to_do() -> None:
    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr="http://127.0.0.1:1") as v:
            with pytest.raises(ConfigurationError) as e:
                await v.get_approval_status("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")
            assert "request_token" in str(e.value) and e.value.code == "config"

    asyncio.run(run())


def test_one_vault_serves_two_asyncio_runs(nodes: List[FakeNode]) -> None:
    """A script that calls asyncio.run twice with the same vault: the second run gets a new
    connection pool and keeps the token the first one bought."""
    a = agent_node(nodes, lifetime=600, remaining=600)
    v = AgentVault(agent_key="ass_key", addr=[a.url])
    assert asyncio.run(v.get_secret(P)).value == "v"
    assert asyncio.run(v.get_secret(P)).value == "v"
    asyncio.run(v.close())
    assert a.count("POST", "/v1/tokens") == 1
    assert a.count("GET", "/v1/secrets") == 2


def test_a_failing_refresh_is_not_tried_on_every_call(nodes: List[FakeNode]) -> None:
    """Refresh answers 500: the token is used on, and the refresh is tried again only after a
    pause (1 s for a 10 s token), not on each of the calls in between."""
    a = agent_node(nodes, lifetime=10, remaining=10, refresh=err(500, "internal"))

    async def run() -> None:
        async with AgentVault(agent_key="ass_key", addr=[a.url]) as v:
            await v.request_token(["secrets:read:*"], ttl="10s")
            await asyncio.sleep(5.1)  # margin: 2 s... at most half: 5 s
            end = time.monotonic() + 0.8
            calls = 0
            while time.monotonic() < end:
                assert (await v.get_secret(P)).value == "v"
                calls += 1
                await asyncio.sleep(0.02)
            assert calls >= 10

    asyncio.run(run())
    assert a.count("POST", "/v1/tokens/refresh") == 1


def test_a_load_balancers_own_503_is_retried_but_not_a_gateway_504(nodes: List[FakeNode]) -> None:
    lb = node(nodes, lambda s: (503, {"oops": "no backend"}))
    b = node(nodes, lambda s: (200, secret_body(P)))
    gw = node(nodes, lambda s: (504, {"oops": "gateway timeout"}))

    async def run() -> None:
        async with AgentVault(token="asst_given", addr=[lb.url, b.url]) as v:
            assert (await v.get_secret(P)).value == "v"
        async with AgentVault(token="asst_given", addr=[gw.url, b.url]) as v:
            with pytest.raises(sdk_errors.UnavailableError) as e:
                await v.get_secret(P)
            assert e.value.code == "http_504"

    asyncio.run(run())
    assert (len(lb.seen), len(gw.seen)) == (1, 1)
    assert len(b.seen) == 1
