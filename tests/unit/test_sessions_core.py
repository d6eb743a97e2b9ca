"""SessionVerifier and RevocationCache decisions, with a fake platform and a hand-moved clock."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from sidecar.config import ConfigError, load
from sidecar.core.sessions.records import ApprovalRecord, EventKind, SessionRecord, StreamEvent
from sidecar.core.sessions.revocation import StreamState
from sidecar.core.sessions.verifier import SessionVerifier
from sidecar.core.shared.hashing import token_key
from sidecar.core.shared.outcomes import Reason, SessionStatus, Source, UpstreamError

PHONE = "+14155552671"
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakePlatform:
    def __init__(self) -> None:
        self.sessions: dict[str, SessionRecord] = {}
        self.approvals: dict[str, ApprovalRecord] = {}
        self.status_calls = 0
        self.approval_calls = 0
        self.error: UpstreamError | None = None
        self.gate: asyncio.Event | None = None

    async def session_status(self, token: str, phone: str) -> SessionRecord:
        self.status_calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error:
            raise self.error
        return self.sessions.get(token, SessionRecord(SessionStatus.NOT_FOUND))

    async def verify_approval(self, token: str, phone: str) -> ApprovalRecord:
        self.approval_calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error:
            raise self.error
        return self.approvals.get(token, ApprovalRecord(False, Reason.NOT_FOUND))

    async def health(self) -> None:
        if self.error:
            raise self.error


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform() -> FakePlatform:
    p = FakePlatform()
    p.sessions["good"] = SessionRecord(SessionStatus.VERIFIED, "+1 415-555-2671", NOW + 3600, "sid-good")
    p.sessions["pending"] = SessionRecord(SessionStatus.PENDING, PHONE, NOW + 3600)
    p.sessions["badphone"] = SessionRecord(SessionStatus.VERIFIED, "call me maybe", NOW + 3600)
    return p


def make(platform, clock, **kw) -> SessionVerifier:
    v = SessionVerifier(platform, clock=clock, wall=lambda: NOW + clock.t, **kw)
    connect(v)
    return v


def connect(v: SessionVerifier, resume: bool = True) -> None:
    v.revocations.stream_opened(resume_requested=resume)
    v.revocations.stream_heartbeat()


def revoke_event(token: str, session_id: str = "") -> StreamEvent:
    return StreamEvent(EventKind.SESSION_REVOKED, token_key(token), session_id)


async def test_verified_session_then_cache(platform, clock):
    v = make(platform, clock)
    first = await v.verify_session("good", PHONE)
    assert first.verdict.valid and first.verdict.source is Source.UPSTREAM and first.status is SessionStatus.VERIFIED
    second = await v.verify_session("good", PHONE)
    assert second.verdict.valid and second.verdict.source is Source.CACHE
    assert platform.status_calls == 1


async def test_phone_must_match_in_e164(platform, clock):
    v = make(platform, clock)
    wrong = await v.verify_session("good", "+14155552672")
    assert not wrong.verdict.valid and wrong.verdict.reason is Reason.PHONE_MISMATCH
    garbled = await v.verify_session("badphone", PHONE)  # an upstream phone that doesn't parse never matches
    assert not garbled.verdict.valid and garbled.verdict.reason is Reason.PHONE_MISMATCH
    status = await v.get_status("good", "+14155552672")
    assert status.reason is Reason.PHONE_MISMATCH and status.phone == "" and status.expires_at is None


async def test_positive_entries_expire_after_the_ttl(platform, clock):
    v = make(platform, clock, session_ttl=30)
    await v.verify_session("good", PHONE)
    clock.t += 29
    await v.verify_session("good", PHONE)
    assert platform.status_calls == 1
    clock.t += 2
    await v.verify_session("good", PHONE)
    assert platform.status_calls == 2


async def test_session_past_its_expiry_is_expired_even_from_cache(platform, clock):
    platform.sessions["short"] = SessionRecord(SessionStatus.VERIFIED, PHONE, NOW + clock.t + 10)
    v = make(platform, clock, session_ttl=30)
    assert (await v.verify_session("short", PHONE)).verdict.valid
    clock.t += 11
    answer = await v.verify_session("short", PHONE)
    assert not answer.verdict.valid and answer.verdict.reason is Reason.EXPIRED


async def test_unknown_and_pending_are_negatively_cached_briefly(platform, clock):
    v = make(platform, clock, negative_ttl=2)
    for _ in range(100):
        answer = await v.verify_session("garbage", PHONE)
        assert answer.status is SessionStatus.NOT_FOUND and answer.verdict.reason is Reason.NOT_FOUND
    assert platform.status_calls == 1
    pending = await v.verify_session("pending", PHONE)
    assert pending.verdict.reason is Reason.NOT_VERIFIED and platform.status_calls == 2
    clock.t += 2.5
    await v.verify_session("garbage", PHONE)
    await v.verify_session("pending", PHONE)
    assert platform.status_calls == 4


async def test_concurrent_lookups_share_one_upstream_call(platform, clock):
    v = make(platform, clock)
    platform.gate = asyncio.Event()
    tasks = [asyncio.create_task(v.verify_session("good", PHONE)) for _ in range(20)]
    await asyncio.sleep(0)
    platform.gate.set()
    answers = await asyncio.gather(*tasks)
    assert all(a.verdict.valid for a in answers)
    assert platform.status_calls == 1


async def test_revocation_event_flips_answers_without_an_upstream_call(platform, clock):
    v = make(platform, clock)
    assert (await v.verify_session("good", PHONE)).verdict.valid
    assert not (await v.is_revoked("good", PHONE)).revoked
    v.revocations.apply(revoke_event("good", "sid-good"))
    answer = await v.verify_session("good", PHONE)
    assert not answer.verdict.valid and answer.verdict.reason is Reason.REVOKED
    assert answer.verdict.source is Source.STREAM
    r = await v.is_revoked("good", PHONE)
    assert r.revoked and r.reason is Reason.REVOKED and r.source is Source.STREAM
    assert v.is_known_revoked("sid-good") and v.is_known_revoked("good") and not v.is_known_revoked("other")
    assert platform.status_calls == 1


async def test_expiry_event_and_verified_event(platform, clock):
    v = make(platform, clock)
    await v.verify_session("good", PHONE)
    v.revocations.apply(StreamEvent(EventKind.SESSION_EXPIRED, token_key("good")))
    assert (await v.verify_session("good", PHONE)).verdict.reason is Reason.EXPIRED
    r = await v.is_revoked("good", PHONE)
    assert r.revoked and r.reason is Reason.EXPIRED  # fail closed: an expired session can't be relied on
    await v.verify_session("pending", PHONE)
    platform.sessions["pending"] = SessionRecord(SessionStatus.VERIFIED, PHONE, NOW + 3600)
    v.revocations.apply(StreamEvent(EventKind.SESSION_VERIFIED, token_key("pending")))
    assert (await v.verify_session("pending", PHONE)).verdict.valid  # negative entry dropped at once


async def test_untrusted_stream_bypasses_positive_cache_but_not_terminal(platform, clock):
    v = make(platform, clock)
    await v.verify_session("good", PHONE)
    v.revocations.apply(revoke_event("gone"))
    v.revocations.stream_closed()
    assert v.stream_state is StreamState.DOWN
    answer = await v.verify_session("good", PHONE)
    assert answer.verdict.valid and answer.verdict.source is Source.UPSTREAM
    assert platform.status_calls == 2
    r = await v.is_revoked("gone", PHONE)
    assert r.revoked and r.source is Source.STREAM and platform.status_calls == 2


@pytest.mark.parametrize("resume,reset,flushed", [(True, False, False), (False, False, True), (True, True, True)])
async def test_reconnect_flushes_only_when_events_may_be_lost(platform, clock, resume, reset, flushed):
    v = make(platform, clock)
    await v.verify_session("good", PHONE)
    v.revocations.stream_closed()
    v.revocations.stream_opened(resume_requested=resume)
    assert not v.revocations.trusted  # syncing: replay not confirmed yet
    if reset:
        v.revocations.stream_reset()
    v.revocations.stream_heartbeat()
    assert v.revocations.trusted
    await v.verify_session("good", PHONE)
    assert platform.status_calls == (2 if flushed else 1)
    assert v.revocations.gaps == (1 if flushed else 0)  # the first connection is not counted


async def test_event_during_a_lookup_wins_and_is_not_cached_over(platform, clock):
    v = make(platform, clock)
    platform.gate = asyncio.Event()
    task = asyncio.create_task(v.verify_session("good", PHONE))
    await asyncio.sleep(0)
    v.revocations.apply(revoke_event("good"))
    platform.gate.set()
    answer = await task
    assert not answer.verdict.valid and answer.verdict.reason is Reason.REVOKED


async def test_a_flush_during_a_lookup_keeps_its_result_out_of_the_cache(platform, clock):
    v = make(platform, clock)
    platform.gate = asyncio.Event()
    task = asyncio.create_task(v.verify_session("good", PHONE))
    await asyncio.sleep(0)
    v.revocations.stream_closed()
    connect(v, resume=False)
    platform.gate.set()
    assert (await task).verdict.valid
    platform.gate = None
    await v.verify_session("good", PHONE)
    assert platform.status_calls == 2


@pytest.mark.parametrize("status", [0, 503, 429])
async def test_upstream_failure_fails_closed(platform, clock, status):
    v = make(platform, clock)
    platform.error = UpstreamError("platform", status, "down")
    s = await v.verify_session("good", PHONE)
    assert not s.verdict.valid and s.verdict.reason is Reason.UPSTREAM_UNAVAILABLE and s.status is SessionStatus.UNKNOWN
    r = await v.is_revoked("good", PHONE)
    assert r.revoked and r.reason is Reason.UPSTREAM_UNAVAILABLE
    g = await v.get_status("good", PHONE)
    assert g.status is SessionStatus.UNKNOWN and g.reason is Reason.UPSTREAM_UNAVAILABLE
    a = await v.verify_approval("appr", PHONE)
    assert not a.verdict.valid and a.verdict.reason is Reason.UPSTREAM_UNAVAILABLE
    (h,) = await v.health()
    assert h.name == "platform" and not h.healthy


async def test_is_revoked_fails_closed_for_unknown_and_wrong_phone(platform, clock):
    v = make(platform, clock)
    unknown = await v.is_revoked("nope", PHONE)
    assert unknown.revoked and unknown.reason is Reason.NOT_FOUND
    wrong = await v.is_revoked("good", "+14155552672")
    assert wrong.revoked and wrong.reason is Reason.PHONE_MISMATCH


def approval(**kw) -> ApprovalRecord:
    base = dict(valid=True, action="transfer", session_token="good", phone=PHONE, expires_at=NOW + 1300)
    return ApprovalRecord(**{**base, **kw})


async def test_approval_is_valid_once(platform, clock):
    platform.approvals["a1"] = approval()  # a platform that (wrongly) says valid every time
    v = make(platform, clock)
    first = await v.verify_approval("a1", PHONE)
    assert first.verdict.valid and first.action == "transfer" and first.session_token == "good"
    again = await v.verify_approval("a1", PHONE)
    assert not again.verdict.valid and again.verdict.reason is Reason.ALREADY_USED
    assert platform.approval_calls == 1  # the replay was refused locally


async def test_racing_approvals_yield_exactly_one_valid(platform, clock):
    platform.approvals["a1"] = approval()
    v = make(platform, clock)
    platform.gate = asyncio.Event()
    tasks = [asyncio.create_task(v.verify_approval("a1", PHONE)) for _ in range(50)]
    await asyncio.sleep(0)
    platform.gate.set()
    answers = await asyncio.gather(*tasks)
    assert sum(a.verdict.valid for a in answers) == 1
    assert {a.verdict.reason for a in answers if not a.verdict.valid} == {Reason.ALREADY_USED}


async def test_approval_refusals(platform, clock):
    platform.approvals["used"] = approval(valid=False, reason=Reason.ALREADY_USED)
    platform.approvals["other-phone"] = approval(phone="+442071838750")
    platform.approvals["revoked-session"] = approval(session_token="gone")
    v = make(platform, clock)
    v.revocations.apply(revoke_event("gone"))
    assert (await v.verify_approval("used", PHONE)).verdict.reason is Reason.ALREADY_USED
    assert (await v.verify_approval("other-phone", PHONE)).verdict.reason is Reason.PHONE_MISMATCH
    assert (await v.verify_approval("revoked-session", PHONE)).verdict.reason is Reason.REVOKED
    assert (await v.verify_approval("missing", PHONE)).verdict.reason is Reason.NOT_FOUND


async def test_readiness_names_the_stream_state(platform, clock):
    v = SessionVerifier(platform, clock=clock)
    ready, detail = v.readiness()
    assert not ready and "connecting" in detail
    (h,) = await v.health()
    assert h.healthy
    ready, detail = v.readiness()
    assert ready and "upstream answered" in detail
    v.revocations.stream_opened(False)
    v.revocations.stream_heartbeat()
    assert "stream connected" in v.readiness()[1]


async def test_without_sse_positive_entries_live_by_ttl(platform, clock):
    v = SessionVerifier(platform, clock=clock, wall=lambda: NOW + clock.t, sse_enabled=False)
    assert v.revocations.trusted
    await v.verify_session("good", PHONE)
    assert (await v.verify_session("good", PHONE)).verdict.source is Source.CACHE


def test_platform_settings_are_validated():
    env = {
        "AUTHSIDECAR_PLATFORM_SESSION_CACHE_TTL_SECONDS": "0",
        "AUTHSIDECAR_PLATFORM_SSE_RECONNECT_MIN_SECONDS": "60",
        "AUTHSIDECAR_PLATFORM_SSE_PATH": "events",
    }
    with pytest.raises(ConfigError) as err:
        load(env=env)
    fields = {p.split(":")[0] for p in err.value.problems}
    assert fields == {"platform.session_cache_ttl_seconds", "platform.sse.reconnect_min_seconds", "platform.sse.path"}


async def test_bounded_cache_counts_evictions(platform, clock):
    def evictions() -> float:
        return REGISTRY.get_sample_value("authsidecar_cache_evictions_total", {"cache": "sessions"}) or 0.0

    for i in range(3):
        platform.sessions[f"s{i}"] = SessionRecord(SessionStatus.VERIFIED, PHONE, NOW + 3600)
    v = make(platform, clock, max_entries=2)
    before = evictions()
    for i in range(3):
        await v.verify_session(f"s{i}", PHONE)
    assert evictions() == before + 1
    await v.verify_session("s0", PHONE)  # the least recently used one was dropped
    assert platform.status_calls == 4


async def test_terminal_answers_name_their_source_and_status(platform, clock):
    platform.sessions["dead"] = SessionRecord(SessionStatus.REVOKED, PHONE, NOW + 3600)
    v = make(platform, clock)
    first = await v.verify_session("dead", PHONE)
    assert first.verdict.reason is Reason.REVOKED and first.verdict.source is Source.UPSTREAM
    second = await v.is_revoked("dead", PHONE)
    assert second.revoked and second.source is Source.CACHE and platform.status_calls == 1
    v.revocations.apply(revoke_event("good"))
    status = await v.get_status("good", PHONE)
    assert status.status is SessionStatus.REVOKED and status.reason is Reason.REVOKED
    assert status.source is Source.STREAM and platform.status_calls == 1


async def test_a_racing_caller_with_the_wrong_phone_does_not_spoil_the_right_one(platform, clock):
    class PhoneCheckingPlatform(FakePlatform):
        async def verify_approval(self, token, phone):
            record = await super().verify_approval(token, phone)
            return record if phone == PHONE else ApprovalRecord(False, Reason.PHONE_MISMATCH)

    p = PhoneCheckingPlatform()
    p.approvals["a1"] = approval()
    v = make(p, clock)
    p.gate = asyncio.Event()
    wrong = asyncio.create_task(v.verify_approval("a1", "+442071838750"))
    right = asyncio.create_task(v.verify_approval("a1", PHONE))
    await asyncio.sleep(0)
    p.gate.set()
    assert (await wrong).verdict.reason is Reason.PHONE_MISMATCH
    assert (await right).verdict.valid


# --- a flood of distinct unknown tokens: the lookup budget ------------------------------------------


async def test_distinct_unknown_sessions_cost_the_platform_a_bounded_rate(platform, clock):
    v = make(platform, clock, unknown_rate=2.0, unknown_burst=5)
    answers = [await v.verify_session(f"random-{i}", PHONE) for i in range(50)]
    assert platform.status_calls == 5  # the burst; then nothing goes upstream
    assert [a.verdict.reason for a in answers[:5]] == [Reason.NOT_FOUND] * 5
    refused = answers[5:]
    assert all(not a.verdict.valid and a.verdict.reason is Reason.UPSTREAM_UNAVAILABLE for a in refused)
    assert "unknown tokens" in refused[0].verdict.detail
    revoked = await v.is_revoked("random-x", PHONE)
    assert revoked.revoked and revoked.reason is Reason.UPSTREAM_UNAVAILABLE  # fails closed
    clock.t += 1.0  # one second buys `rate` more lookups
    for i in range(50):
        await v.verify_session(f"later-{i}", PHONE)
    assert platform.status_calls == 5 + 2


async def test_known_sessions_still_answer_while_the_budget_is_spent(platform, clock):
    v = make(platform, clock, unknown_rate=1.0, unknown_burst=2)
    assert (await v.verify_session("good", PHONE)).verdict.valid  # cached before the flood
    for i in range(10):
        await v.verify_session(f"random-{i}", PHONE)
    calls = platform.status_calls
    assert (await v.verify_session("good", PHONE)).verdict.valid
    assert platform.status_calls == calls
    # A real session nobody asked about yet is refused too (fail closed) until the budget refills.
    platform.sessions["new"] = SessionRecord(SessionStatus.VERIFIED, PHONE, NOW + 3600)
    assert (await v.verify_session("new", PHONE)).verdict.reason is Reason.UPSTREAM_UNAVAILABLE
    clock.t += 10.0
    assert (await v.verify_session("new", PHONE)).verdict.valid


async def test_known_answers_do_not_spend_the_budget(platform, clock):
    v = make(platform, clock, unknown_rate=1.0, unknown_burst=1)
    for _ in range(3):
        assert (await v.verify_session("good", PHONE)).verdict.valid
        v._positive.clear()  # force a fresh upstream lookup each time
    assert platform.status_calls == 3
    assert (await v.verify_session("pending", PHONE)).verdict.reason is Reason.NOT_VERIFIED


async def test_unknown_approvals_share_the_budget(platform, clock):
    v = make(platform, clock, unknown_rate=1.0, unknown_burst=3)
    answers = [await v.verify_approval(f"appr-{i}", PHONE) for i in range(10)]
    assert platform.approval_calls == 3
    assert {a.verdict.reason for a in answers[3:]} == {Reason.UPSTREAM_UNAVAILABLE}
    assert not any(a.verdict.valid for a in answers)


async def test_cached_sessions_answer_as_fresh_ones_and_share_a_phone(platform, clock):
    # What the cache keeps is trimmed to what answers need (no session id) and the phone string is
    # shared between a user's sessions; the answers are those of the upstream's record.
    platform.sessions["good2"] = SessionRecord(SessionStatus.VERIFIED, "+1 415-555-2671", NOW + 1800, "sid-2")
    v = make(platform, clock)
    fresh = [await v.get_status(t, PHONE) for t in ("good", "good2")]
    cached = [await v.get_status(t, PHONE) for t in ("good", "good2")]
    assert platform.status_calls == 2 and all(a.source is Source.CACHE for a in cached)
    assert [(a.status, a.phone, a.expires_at, a.reason) for a in cached] == [
        (a.status, a.phone, a.expires_at, a.reason) for a in fresh
    ]
    assert (await v.verify_session("good", PHONE)).verdict.valid
    one, two = v._positive.get(token_key("good")), v._positive.get(token_key("good2"))
    assert one == ("+1 415-555-2671", NOW + 3600) and one[0] is two[0]  # no session id; one phone string
