"""Second-factor core over a fake platform: code checks, replay, fail-closed, approval watching."""

from __future__ import annotations

import asyncio

import pytest

from sidecar import config as cfg
from sidecar.config.settings import AuthySettings
from sidecar.core.factors.callbacks import sign
from sidecar.core.factors.records import TokenRequest, TokenSent
from sidecar.core.factors.second_factors import (
    ApprovalDraft,
    ApprovalStatus,
    PhoneNumber,
    PhoneVerificationStarted,
    SecondFactors,
    UserStatus,
    parse_phone,
)
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.outcomes import InvalidArgument, NotConfigured, Reason, UpstreamError
from sidecar.runtime.assembly import second_factors_from_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeAuthy:
    def __init__(self) -> None:
        self.codes = {"42": "1234567"}
        self.calls: list[str] = []
        self.error: UpstreamError | None = None
        self.statuses: list[ApprovalStatus] = []
        self.phone_codes: dict[PhoneNumber, str] = {}
        self.gate: asyncio.Event | None = None

    async def verify_token(self, user_id, code, force, factor_id=""):
        self.calls.append("verify")
        if self.gate:
            await self.gate.wait()
        if self.error:
            raise self.error
        return self.codes.get(user_id) == code

    async def request_token(self, request):
        self.calls.append(f"token:{request.via}")
        if self.error:
            raise self.error
        return TokenSent("SMS token was sent", "+1-XXX-XXX-XX23", "", False)

    async def create_approval(self, draft):
        self.calls.append("create")
        return "uuid-1"

    async def approval_status(self, approval_id):
        self.calls.append("status")
        if self.error:
            raise self.error
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    async def start_phone_verification(self, phone, via, locale, code_length):
        self.calls.append("start")
        return PhoneVerificationStarted("sent", 600, True)

    async def check_phone_verification(self, phone, code):
        self.calls.append("check")
        return self.phone_codes.get(phone) == code

    async def register_user(self, email, phone):
        return "1"

    async def delete_user(self, user_id):
        return None

    async def user_status(self, user_id):
        return UserStatus(user_id)

    async def health(self):
        return UpstreamHealth("authy", True)

    async def aclose(self):
        return None


def make(**policy):
    clock, upstream = FakeClock(), FakeAuthy()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    factors = SecondFactors(
        upstream, AuthySettings(**{"consumed_codes_max_entries": 100_000, **policy}), clock=clock, sleep=sleep
    )
    return factors, upstream, clock, sleeps


@pytest.mark.parametrize("code", ["", "12345", "12345678901", "12a4567", "１２３４５６７", " 1234567"])
async def test_malformed_codes_are_refused_before_any_upstream_call(code):
    factors, upstream, _, _ = make()
    with pytest.raises(InvalidArgument) as err:
        await factors.verify_totp("42", code)
    assert err.value.field == "code"
    assert upstream.calls == []


async def test_right_code_once_then_already_used_without_asking_again():
    factors, upstream, _, _ = make()
    first = await factors.verify_totp("42", "1234567")
    again = await factors.verify_totp("42", "1234567")
    assert first.valid
    assert not again.valid and again.reason is Reason.ALREADY_USED
    assert upstream.calls == ["verify"]


async def test_used_code_is_accepted_again_only_after_its_window():
    factors, upstream, clock, _ = make(code_replay_window_seconds=90)
    assert (await factors.verify_totp("42", "1234567")).valid
    clock.now += 89
    assert (await factors.verify_totp("42", "1234567")).reason is Reason.ALREADY_USED
    clock.now += 2
    assert (await factors.verify_totp("42", "1234567")).valid


async def test_racing_verifications_of_one_code_succeed_once():
    factors, upstream, _, _ = make()
    upstream.gate = asyncio.Event()
    calls = [asyncio.create_task(factors.verify_totp("42", "1234567")) for _ in range(5)]
    await asyncio.sleep(0)
    upstream.gate.set()
    verdicts = await asyncio.gather(*calls)
    assert sum(v.valid for v in verdicts) == 1
    assert {v.reason for v in verdicts if not v.valid} == {Reason.ALREADY_USED}


async def test_wrong_code_is_challenge_failed_and_not_remembered():
    factors, upstream, _, _ = make()
    assert (await factors.verify_totp("42", "7654321")).reason is Reason.CHALLENGE_FAILED
    assert (await factors.verify_totp("42", "1234567")).valid


@pytest.mark.parametrize(
    "error, reason",
    [
        (UpstreamError("authy", 0, "timed out"), Reason.UPSTREAM_UNAVAILABLE),
        (UpstreamError("authy", 503, "down"), Reason.UPSTREAM_UNAVAILABLE),
        (UpstreamError("authy", 404, "User not found."), Reason.NOT_FOUND),
        (UpstreamError("authy", 400, "bad"), Reason.CHALLENGE_FAILED),
    ],
)
async def test_upstream_failures_fail_closed_with_a_reason(error, reason):
    factors, upstream, _, _ = make()
    upstream.error = error
    verdict = await factors.verify_totp("42", "1234567")
    assert not verdict.valid and verdict.reason is reason
    upstream.error = None
    assert (await factors.verify_totp("42", "1234567")).valid  # a failure consumed nothing


async def test_phone_code_replay_is_already_used():
    factors, upstream, _, _ = make()
    phone = parse_phone("US", "2015550123")
    upstream.phone_codes[phone] = "4321"
    assert (await factors.check_phone(phone, "1111")).reason is Reason.CHALLENGE_FAILED
    assert (await factors.check_phone(phone, "4321")).valid
    assert (await factors.check_phone(phone, "4321")).reason is Reason.ALREADY_USED
    assert upstream.calls == ["check", "check"]


@pytest.mark.parametrize(
    "country, phone, expected",
    [
        ("US", "2015550123", PhoneNumber(1, "2015550123")),
        ("us", "(201) 555-0123", PhoneNumber(1, "2015550123")),
        ("1", "201-555-0123", PhoneNumber(1, "2015550123")),
        ("+351", "911234567", PhoneNumber(351, "911234567")),
        ("PT", "+351 911 234 567", PhoneNumber(351, "911234567")),
    ],
)
def test_country_as_alpha2_or_calling_code(country, phone, expected):
    assert parse_phone(country, phone) == expected


@pytest.mark.parametrize(
    "country, phone, field",
    [
        ("", "2015550123", "country"),
        ("XX", "2015550123", "country"),
        ("999", "2015550123", "country"),
        ("USA", "2015550123", "country"),
        ("US", "", "phone"),
        ("US", "12", "phone"),
        ("US", "hello", "phone"),
        ("US", "+351 911 234 567", "phone"),
        ("US", "1" * 70, "phone"),
    ],
)
def test_bad_countries_and_phones_name_the_field(country, phone, field):
    with pytest.raises(InvalidArgument) as err:
        parse_phone(country, phone)
    assert err.value.field == field


async def test_start_phone_verification_checks_via_and_code_length_first():
    factors, upstream, _, _ = make()
    phone = parse_phone("US", "2015550123")
    for via, length, field in (("fax", 4, "via"), ("sms", 3, "code_length"), ("call", 11, "code_length")):
        with pytest.raises(InvalidArgument) as err:
            await factors.start_phone_verification(phone, via, "", length)
        assert err.value.field == field
    assert upstream.calls == []
    assert (await factors.start_phone_verification(phone, "sms", "en", 6)).seconds_to_expire == 600


async def test_watch_yields_changes_and_ends_when_resolved():
    factors, upstream, _, sleeps = make(approval_poll_interval_seconds=2.0)
    upstream.statuses = [ApprovalStatus.PENDING, ApprovalStatus.PENDING, ApprovalStatus.APPROVED]
    seen = [s async for s in factors.watch_approval("uuid-1")]
    assert seen == [ApprovalStatus.PENDING, ApprovalStatus.APPROVED]
    assert upstream.calls == ["status"] * 3
    assert sleeps == [2.0, 2.0]  # never faster than the interval


async def test_watch_ends_at_its_limit_while_still_pending():
    factors, upstream, _, sleeps = make(approval_poll_interval_seconds=1.0, approval_watch_max_seconds=5.0)
    upstream.statuses = [ApprovalStatus.PENDING]
    seen = [s async for s in factors.watch_approval("uuid-1")]
    assert seen == [ApprovalStatus.PENDING]
    assert len(upstream.calls) == 6 and sum(sleeps) == 5.0


async def test_watch_waits_out_an_outage_but_ends_on_not_found():
    factors, upstream, clock, _ = make(approval_watch_max_seconds=3.0)
    upstream.statuses = [ApprovalStatus.PENDING]
    upstream.error = UpstreamError("authy", 503, "down")
    assert [s async for s in factors.watch_approval("uuid-1")] == []
    upstream.error = UpstreamError("authy", 404, "Approval request not found")
    with pytest.raises(UpstreamError):
        [s async for s in factors.watch_approval("uuid-1")]


async def test_many_watchers_share_one_poll_per_interval():
    factors, upstream, clock, _ = make(approval_poll_interval_seconds=1.0)
    upstream.statuses = [ApprovalStatus.DENIED]
    results = await asyncio.gather(*(_collect(factors.watch_approval("uuid-1")) for _ in range(10)))
    assert all(r == [ApprovalStatus.DENIED] for r in results)
    assert upstream.calls == ["status"]


async def _collect(stream):
    return [s async for s in stream]


async def test_create_approval_passes_the_draft():
    factors, upstream, _, _ = make()
    assert await factors.create_approval(ApprovalDraft("42", "Login?", {"ip": "1.2.3.4"})) == "uuid-1"


async def test_without_a_base_url_the_rpcs_are_off_not_failing_open():
    factors = second_factors_from_settings(cfg.Settings())
    assert factors.readiness()[0] and await factors.health() == []
    with pytest.raises(NotConfigured):
        await factors.verify_totp("42", "1234567")


def test_callbacks_are_never_checked_with_an_empty_key():
    factors = second_factors_from_settings(cfg.Settings())
    forged = sign("", "1", "POST", "https://app/cb", [])
    with pytest.raises(NotConfigured):
        factors.verify_callback(nonce="1", method="POST", url="https://app/cb", params=[], signature=forged)


async def test_the_authy_circuit_opens_on_repeated_unavailability_and_a_probe_closes_it():
    factors, upstream, clock, _ = make()
    threshold = factors.circuit.failure_threshold
    upstream.error = UpstreamError("authy", 503, "down")
    for _ in range(threshold + 5):
        answer = await factors.verify_totp("42", "1234567")
        assert not answer.valid and answer.reason is Reason.UPSTREAM_UNAVAILABLE
    assert upstream.calls.count("verify") == threshold  # then it failed fast, the platform spared
    assert "circuit open" in answer.detail
    with pytest.raises(UpstreamError, match="circuit open"):
        await factors.approval_status("uuid-1")  # every call shares the one breaker
    assert upstream.calls.count("status") == 0
    upstream.error = None
    clock.now += factors.circuit.open_seconds
    assert (await factors.verify_totp("42", "1234567")).valid  # the probe answers: closed again


async def test_wrong_codes_do_not_open_the_authy_circuit():
    factors, upstream, _, _ = make()
    for i in range(factors.circuit.failure_threshold + 3):
        assert (await factors.verify_totp("42", f"99999{i:02d}")).reason is Reason.CHALLENGE_FAILED
    assert upstream.calls.count("verify") == factors.circuit.failure_threshold + 3


async def test_request_token_goes_to_the_platform_through_the_circuit_and_checks_via():
    factors, upstream, _, _ = make()
    sent = await factors.request_token(TokenRequest("42", "sms", action="login"))
    assert sent.message == "SMS token was sent" and upstream.calls == ["token:sms"]
    with pytest.raises(InvalidArgument):
        await factors.request_token(TokenRequest("42", "fax"))
    upstream.error = UpstreamError("authy", 503, "down")
    for _ in range(factors.circuit.failure_threshold + 3):
        with pytest.raises(UpstreamError):
            await factors.request_token(TokenRequest("42", "call"))
    assert upstream.calls.count("token:call") == factors.circuit.failure_threshold  # then it failed fast
