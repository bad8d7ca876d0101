"""Pure rules (no I/O): scope containment, paths, the refresh margin, TTL formatting,
scrubbing and the mapping of codes to exception classes."""

from __future__ import annotations

import pytest

import agentsecretstore as sdk
from agentsecretstore import _rules
from agentsecretstore._errors import error_from_answer, scrub


def test_scope_containment_follows_the_servers_rule() -> None:
    w = _rules.scope_within
    assert w("secrets:read:production/gemini/KEY", "secrets:read:production/gemini/*")
    assert w("secrets:read:production/gemini/x/Y", "secrets:read:production/*")
    assert w("secrets:read:production/gemini/*", "secrets:read:production/*")
    assert w("secrets:write:a/b", "secrets:*:a/*")
    assert not w("secrets:read:production/gemini", "secrets:read:production/gemini/*")
    assert not w("secrets:read:production/geminiX/K", "secrets:read:production/gemini/*")
    assert not w("secrets:read:*", "secrets:read:production/*")
    assert not w("secrets:write:production/a/b", "secrets:read:production/*")
    assert not w("approvals:decide", "secrets:*:*")
    assert _rules.covers(["agents:manage", "approvals:decide"], "approvals:decide")
    assert _rules.list_scope("production/gem") == "secrets:list:production/*"
    assert _rules.list_scope("") == "secrets:list:*"


@pytest.mark.parametrize("ok", ["a/b", "production/stripe/STRIPE_SECRET_KEY", "dev/versions/K", "a.b/c-d_e"])
def test_valid_paths_pass(ok: str) -> None:
    assert _rules.check_path(ok) == ok


@pytest.mark.parametrize("bad", ["a", "/a/b", "a/b/", "a//b", "a/./b", "a/../b", "a/b c", "a/b/versions",
                                 "a/é", "x/" + "y" * 600])
def test_invalid_paths_raise_before_any_request(bad: str) -> None:
    with pytest.raises(sdk.InvalidPathError) as e:
        _rules.check_path(bad)
    assert e.value.code == "invalid_path" and e.value.status is None


def test_refresh_margin_is_a_fifth_or_a_minute_at_most_half() -> None:
    m = _rules.refresh_margin
    assert (m(900), m(3600), m(240), m(90), m(6)) == (180, 720, 60, 45, 3)


def test_ttls_format_in_the_api_grammar() -> None:
    f = _rules.format_ttl
    assert (f(900), f(3600), f(5400), f(90), f(86401), f(0.2)) == ("15m", "1h", "1h30m", "1m30s", "1d1s", "1s")


def test_codes_map_to_classes_and_messages_are_scrubbed() -> None:
    e = error_from_answer(403, "approval_required", "m", approval_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
                          request_id="r1")
    assert isinstance(e, sdk.ApprovalRequiredError) and isinstance(e, sdk.PermissionDeniedError)
    assert (e.approval_id, e.request_id, e.status) == ("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "r1", 403)
    assert isinstance(error_from_answer(400, "ttl_too_long", "m"), sdk.InvalidTtlError)
    assert isinstance(error_from_answer(503, "sealed", "m"), sdk.UnavailableError)
    assert isinstance(error_from_answer(409, "something_new", "m"), sdk.ConflictError)
    assert isinstance(error_from_answer(502, "http_502", "m"), sdk.ServerError)
    assert isinstance(error_from_answer(403, "approval_denied", "m"), sdk.ApprovalDeniedError)
    leaky = error_from_answer(400, "invalid_json", "bad asst_AAAAAAAAAAAAAAAA and ass_BBBBBBBBBBBB and hunter22",
                              secrets=["hunter22"])
    assert str(leaky) == "bad <redacted> and <redacted> and <redacted>"
    assert "hunter22" not in repr(leaky)
    assert scrub("assr_SktS50J30GMMFKXJb5M7W1Qf") == "<redacted>"


def test_the_api_version_and_package_version_are_exposed() -> None:
    assert sdk.API_VERSION == "v1" and sdk.__version__ == "0.1.0"
