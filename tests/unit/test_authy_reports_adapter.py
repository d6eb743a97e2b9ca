"""upstream/authy.py's statistics and phone information over httpx.MockTransport: what a hostile or
broken platform answer becomes (bounded, typed, never a crash), and what the adapter sends."""

from __future__ import annotations

import json

import httpx
import pytest

from sidecar.core.factors.records import Activity, PhoneNumber
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream.authy import MAX_MONTHS, AuthyClient


def client(answer: dict | str, status: int = 200, seen: list | None = None) -> AuthyClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        body = answer if isinstance(answer, str) else json.dumps(answer)
        return httpx.Response(status, content=body.encode(), headers={"content-type": "application/json"})

    return AuthyClient("https://authy.test", "key", 2.0, transport=httpx.MockTransport(handle))


async def test_hostile_statistics_are_bounded_and_typed():
    month = {"year": True, "month": "x" * 100, "api_calls_count": -5, "auths_count": 10**30, "calls_count": "7"}
    answer = {"success": True, "app_id": 1.5, "total_users": 3, "stats": [month] * 1_000 + ["not a month"]}
    stats = await client(answer).application_statistics()
    assert (stats.app_id, stats.total_users, len(stats.months)) == (0, 3, MAX_MONTHS)
    first = stats.months[0]
    assert (first.year, len(first.month), first.api_calls_count, first.auths_count, first.calls_count) == (
        0,
        32,
        0,
        0,
        0,
    )


async def test_an_answer_over_the_size_cap_fails_closed():
    with pytest.raises(UpstreamError, match="larger than"):
        await client({"success": True, "stats": [{"month": "x" * 1000}] * 2000}).application_statistics()


@pytest.mark.parametrize("stats", [None, "x", {"a": 1}])
async def test_statistics_without_a_list_have_no_months(stats):
    assert (await client({"success": True, "stats": stats}).application_statistics()).months == ()


async def test_statistics_without_success_are_a_failure():
    with pytest.raises(UpstreamError):
        await client({"success": False, "stats": []}).application_statistics()


async def test_phone_information_reads_only_typed_fields_and_sends_the_sdks_query():
    seen: list[httpx.Request] = []
    answer = {"success": True, "type": ["cellphone"], "provider": "p" * 5000, "ported": "true", "message": 3}
    info = await client(answer, seen=seen).phone_information(PhoneNumber(1, "2015550123"), "10.0.0.1")
    assert (info.type, len(info.provider), info.ported, info.message) == ("", 256, False, "")
    assert str(seen[0].url) == (
        "https://authy.test/protected/json/phones/info?country_code=1&phone_number=2015550123&user_ip=10.0.0.1"
    )


async def test_register_activity_leaves_out_what_is_unset():
    seen: list[httpx.Request] = []
    await client({"success": True, "message": "Activity was created."}, seen=seen).register_activity(
        Activity("1635", "cookie_login")
    )
    assert json.loads(seen[0].content) == {"type": "cookie_login"}
    assert seen[0].url.path == "/protected/json/users/1635/register_activity"
