"""ChallengeVerifier decisions against a small fake platform: no sockets, no sleeping."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.core.challenges.records import EnrollInput, TrackInput, TrackResult, ValidationRecord
from sidecar.core.challenges.verifier import ChallengeVerifier
from sidecar.core.shared.circuit import CircuitState
from sidecar.core.shared.outcomes import (
    ActionState,
    InvalidArgument,
    NotConfigured,
    Reason,
    Source,
    UpstreamError,
)

SUCCEEDED = ValidationRecord(
    is_valid=True,
    state=ActionState.CHALLENGE_SUCCEEDED,
    user_id="usr_1",
    action="withdraw",
    idempotency_key="ik_1",
    verification_method="SMS",
)


class FakePlatform:
    """Answers validate with a fixed record (or raises), counting calls."""

    def __init__(self, record: ValidationRecord | Exception = SUCCEEDED) -> None:
        self.record = record
        self.validate_calls: list[tuple] = []
        self.track_calls: list[TrackInput] = []
        self.gate: asyncio.Event | None = None

    async def validate(self, token, user_id, action):
        self.validate_calls.append((token, user_id, action))
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.record, Exception):
            raise self.record
        return self.record

    async def track(self, request):
        self.track_calls.append(request)
        return TrackResult(state=ActionState.ALLOW)

    async def get_user(self, user_id):
        raise AssertionError("not expected")

    async def enroll_verified_authenticator(self, request):
        raise AssertionError("not expected")

    async def get_action(self, user_id, action, key):
        raise AssertionError("not expected")

    async def probe(self):
        return False, "down"

    async def close(self):
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(record=SUCCEEDED, clock=None, ttl=900.0) -> tuple[ChallengeVerifier, FakePlatform]:
    fake = FakePlatform(record)
    return ChallengeVerifier(fake, consumed_ttl_seconds=ttl, clock=clock or Clock()), fake


async def test_succeeded_challenge_is_valid_once_then_already_used_without_asking_again():
    v, fake = verifier()
    first = await v.validate("tok", "usr_1", "withdraw")
    assert first.verdict.valid and first.verdict.source is Source.UPSTREAM
    assert (first.state, first.user_id, first.action, first.idempotency_key, first.verification_method) == (
        ActionState.CHALLENGE_SUCCEEDED,
        "usr_1",
        "withdraw",
        "ik_1",
        "SMS",
    )
    second = await v.validate("tok", "usr_1", "withdraw")
    assert not second.verdict.valid
    assert second.verdict.reason is Reason.ALREADY_USED and second.verdict.source is Source.CACHE
    assert len(fake.validate_calls) == 1


async def test_ledger_forgets_after_ttl_and_then_the_platform_decides():
    clock = Clock()
    v, fake = verifier(clock=clock, ttl=60)
    assert (await v.validate("tok", None, None)).verdict.valid
    clock.now += 61
    fake.record = ValidationRecord(
        is_valid=False,
        state=ActionState.CHALLENGE_SUCCEEDED,
        user_id="usr_1",
        error="Token has already been used.",
        already_used=True,
    )
    again = await v.validate("tok", None, None)
    assert again.verdict.reason is Reason.ALREADY_USED and again.verdict.source is Source.UPSTREAM
    assert len(fake.validate_calls) == 2


async def test_platform_already_used_is_remembered():
    v, fake = verifier(ValidationRecord(is_valid=False, state=ActionState.CHALLENGE_SUCCEEDED, already_used=True))
    assert (await v.validate("tok", None, None)).verdict.reason is Reason.ALREADY_USED
    assert (await v.validate("tok", None, None)).verdict.source is Source.CACHE
    assert len(fake.validate_calls) == 1


async def test_concurrent_validations_of_one_token_yield_exactly_one_valid():
    v, fake = verifier()
    fake.gate = asyncio.Event()
    tasks = [asyncio.create_task(v.validate("tok", "usr_1", None)) for _ in range(5)]
    await asyncio.sleep(0)
    fake.gate.set()
    answers = await asyncio.gather(*tasks)
    assert sum(a.verdict.valid for a in answers) == 1
    assert {a.verdict.reason for a in answers if not a.verdict.valid} == {Reason.ALREADY_USED}


async def test_racing_validations_when_the_platform_consumes_and_answers_out_of_order():
    """Found by the soak: the platform says valid to one racing call and "already used" to the other;
    when the "already used" answer was handled first, the valid one lost too — nobody got in."""
    already = ValidationRecord(
        is_valid=False, state=ActionState.CHALLENGE_SUCCEEDED, user_id="usr_1", action="withdraw", already_used=True
    )
    v, fake = verifier()
    releases: list[asyncio.Event] = []

    async def consuming_validate(token, user_id, action):
        record = already if releases else SUCCEEDED  # the first call consumes the action
        releases.append(asyncio.Event())
        await releases[-1].wait()
        return record

    fake.validate = consuming_validate
    tasks = [asyncio.create_task(v.validate("tok", "usr_1", "withdraw")) for _ in range(2)]
    await asyncio.sleep(0)
    for release in reversed(releases):  # the "already used" answer comes back first
        release.set()
        await asyncio.sleep(0)
    first, second = await asyncio.gather(*tasks)
    assert first.verdict.valid
    assert not second.verdict.valid and second.verdict.reason is Reason.ALREADY_USED
    replay = await v.validate("tok", "usr_1", "withdraw")
    assert replay.verdict.reason is Reason.ALREADY_USED and replay.verdict.source is Source.CACHE


async def test_token_of_another_user_is_subject_mismatch_and_not_consumed():
    v, fake = verifier()
    wrong = await v.validate("tok", "usr_2", None)
    assert not wrong.verdict.valid and wrong.verdict.reason is Reason.SUBJECT_MISMATCH
    assert wrong.user_id == ""  # whose token it is stays unsaid
    assert (await v.validate("tok", "usr_1", None)).verdict.valid


async def test_missing_user_in_answer_counts_as_mismatch_when_one_was_expected():
    record = ValidationRecord(is_valid=True, state=ActionState.CHALLENGE_SUCCEEDED, user_id="")
    v, _ = verifier(record)
    assert (await v.validate("tok", "usr_1", None)).verdict.reason is Reason.SUBJECT_MISMATCH


async def test_other_action_is_action_mismatch():
    v, _ = verifier()
    answer = await v.validate("tok", "usr_1", "transfer")
    assert answer.verdict.reason is Reason.ACTION_MISMATCH and not answer.verdict.valid


@pytest.mark.parametrize(
    ("state", "is_valid", "reason"),
    [
        (ActionState.CHALLENGE_FAILED, False, Reason.CHALLENGE_FAILED),
        (ActionState.BLOCK, False, Reason.BLOCKED),
        (ActionState.CHALLENGE_REQUIRED, False, Reason.NOT_VERIFIED),
        (ActionState.REVIEW, False, Reason.NOT_VERIFIED),
        (ActionState.ALLOW, True, Reason.NOT_VERIFIED),  # no challenge was completed: not a step-up
        (ActionState.CHALLENGE_REQUIRED, True, Reason.NOT_VERIFIED),  # the platform's yes alone is not enough
        (ActionState.CHALLENGE_SUCCEEDED, False, Reason.NOT_VERIFIED),  # nor the state alone
    ],
)
async def test_only_a_succeeded_challenge_the_platform_calls_valid_is_valid(state, is_valid, reason):
    v, _ = verifier(ValidationRecord(is_valid=is_valid, state=state, user_id="usr_1", action="withdraw"))
    answer = await v.validate("tok", "usr_1", "withdraw")
    assert not answer.verdict.valid and answer.verdict.reason is reason
    assert answer.state is state


async def test_unknown_token_is_malformed():
    v, _ = verifier(ValidationRecord(is_valid=False, error="Invalid token."))
    answer = await v.validate("tok", None, None)
    assert answer.verdict.reason is Reason.MALFORMED and "Invalid token." in answer.verdict.detail


@pytest.mark.parametrize("status", [0, 500, 503, 429])
async def test_upstream_unavailable_raises_and_consumes_nothing(status):
    v, fake = verifier(UpstreamError("challenges", status, "down"))
    with pytest.raises(UpstreamError) as err:
        await v.validate("tok", None, None)
    assert err.value.unavailable
    fake.record = SUCCEEDED
    assert (await v.validate("tok", None, None)).verdict.valid


async def test_track_refuses_dot_segments_before_calling_upstream():
    v, fake = verifier()
    with pytest.raises(InvalidArgument) as err:
        await v.track(TrackInput(user_id="..", action="withdraw"))
    assert err.value.field == "user_id"
    with pytest.raises(InvalidArgument):
        await v.enroll_verified_authenticator(EnrollInput(user_id=".", verification_method="SMS"))
    assert fake.track_calls == []
    assert (await v.track(TrackInput(user_id="usr_1", action="withdraw"))).state is ActionState.ALLOW


async def test_readiness_and_health():
    v, _ = verifier()
    assert v.readiness() == (True, "ok")
    disabled = ChallengeVerifier(FakePlatform(), disabled="challenges.secret_key is not set")
    # Without a secret the sidecar still becomes ready (sessions/JWTs may be all a pod needs) …
    assert disabled.readiness() == (True, "disabled: challenges.secret_key is not set")
    assert await disabled.health() == []
    # … and every challenge call fails fast instead of sending an unauthenticated request.
    with pytest.raises(NotConfigured):
        await disabled.validate("tok", None, None)
    with pytest.raises(NotConfigured):
        await disabled.get_user("usr_1")
    (health,) = await v.health()
    assert (health.name, health.healthy, health.detail) == ("challenges", False, "down")


async def test_circuit_opens_after_repeated_unavailability_and_recovers_after_a_probe():
    clock = Clock()
    v, fake = verifier(UpstreamError("challenges", 503, "down"), clock=clock)
    threshold = v.circuit.failure_threshold
    for _ in range(threshold):
        with pytest.raises(UpstreamError):
            await v.validate("tok", None, None)
    assert len(fake.validate_calls) == threshold
    with pytest.raises(UpstreamError) as err:
        await v.validate("tok", None, None)
    assert err.value.unavailable and "circuit open" in err.value.message
    assert len(fake.validate_calls) == threshold  # failed fast, the platform was spared
    clock.now += v.circuit.open_seconds
    fake.record = SUCCEEDED
    assert (await v.validate("tok", None, None)).verdict.valid  # the probe went through and closed it
    assert len(fake.validate_calls) == threshold + 1


async def test_client_errors_do_not_open_the_circuit():
    v, fake = verifier(UpstreamError("challenges", 404, "no such action"))
    for _ in range(v.circuit.failure_threshold + 2):
        with pytest.raises(UpstreamError) as err:
            await v.validate("tok", None, None)
        assert err.value.status == 404
    assert len(fake.validate_calls) == v.circuit.failure_threshold + 2


async def test_a_cancelled_half_open_probe_does_not_wedge_the_circuit():
    clock = Clock()
    v, fake = verifier(UpstreamError("challenges", 0, "refused"), clock=clock)
    for _ in range(v.circuit.failure_threshold):
        with pytest.raises(UpstreamError):
            await v.validate("tok", None, None)
    clock.now += v.circuit.open_seconds
    fake.record, fake.gate = SUCCEEDED, asyncio.Event()
    probe = asyncio.create_task(v.validate("tok", None, None))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    # The abandoned probe runs on (issue 24 row 18): one probe at a time, so others fail fast meanwhile …
    with pytest.raises(UpstreamError, match="circuit open"):
        await v.validate("tok", None, None)
    fake.gate.set()
    async with asyncio.timeout(5):  # … and its answer closes the circuit.
        while v.circuit.state is not CircuitState.CLOSED:
            await asyncio.sleep(0.01)
    assert (await v.validate("tok", None, None)).verdict.valid
