"""A hostile or broken upstream cannot make the sidecar eat memory, wait past its timeout, lose its
event stream for good, or stay locked out by its own circuit breaker (issue 16, cases 1–4 and 6).

The emulator plays the hostile peer (faults.py): answers hundreds of MiB long, answers trickled a byte
at a time, an event-stream line that never ends, event ids that can't be sent back.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2 as fpb
from authsidecar.v1 import factors_pb2_grpc

from .helpers import FAST_SSE, PHONE, control, new_session, stream_connected, verify, wait_until

UPSTREAMS = ("platform", "challenges", "authy", "identity")
HUGE = 200 * 1024 * 1024
MEMORY_SLACK = 64 * 1024 * 1024  # far below one huge answer


def peak_rss(sc) -> int:
    """The sidecar process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{sc.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def calls_of(sc, emulator) -> dict:
    """One call per upstream, each answered from that upstream (never a cache)."""
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    accounts = factors_pb2_grpc.AccountServiceStub(sc.channel)
    session = new_session(emulator)
    return {
        "platform": lambda: sc.stub.VerifySession(
            pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=20
        ),
        "challenges": lambda: sc.stub.ValidateChallenge(
            pb.ValidateChallengeRequest(token="chl_x", user_id="u1"), timeout=20
        ),
        "authy": lambda: factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=20),
        "identity": lambda: accounts.Login(fpb.LoginRequest(email="alice@example.com", password="x" * 8), timeout=20),
    }


def fails_closed(call) -> tuple[bool, float, str]:
    """(failed closed?, seconds, detail): not valid with UPSTREAM_UNAVAILABLE, or gRPC UNAVAILABLE."""
    started = time.monotonic()
    try:
        reply = call()
    except grpc.RpcError as err:
        return err.code() is grpc.StatusCode.UNAVAILABLE, time.monotonic() - started, err.details() or ""
    closed = not getattr(reply, "valid", False) and reply.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    return closed, time.monotonic() - started, reply.detail


def test_huge_upstream_answers_fail_closed_at_max_response_bytes_without_growing_memory(sidecar_factory, emulator):
    settings = {name: {"timeout_seconds": 20} for name in UPSTREAMS}
    settings["platform"]["sse"] = {"enabled": False}
    sc = sidecar_factory(settings)
    calls = calls_of(sc, emulator)
    before = peak_rss(sc)
    emulator.faults(huge_answer_bytes=HUGE)
    for upstream, call in calls.items():
        closed, _, detail = fails_closed(call)
        assert closed and "larger than 1048576 bytes" in detail, (upstream, detail)
        assert sc.metric("authsidecar_upstream_requests_total", upstream=upstream, status="too_large") >= 1
    grown = peak_rss(sc) - before
    assert grown < MEMORY_SLACK, f"peak RSS grew {grown / 2**20:.0f} MiB for four {HUGE >> 20} MiB answers"
    emulator.faults(huge_answer_bytes=0)
    assert verify(sc, new_session(emulator)).valid  # an answer of normal size is read as before


def test_a_trickling_upstream_is_cut_at_timeout_seconds_for_the_whole_request(sidecar_factory, emulator):
    timeout = 1.0
    settings = {name: {"timeout_seconds": timeout} for name in UPSTREAMS}
    settings["platform"]["sse"] = {"enabled": False}
    sc = sidecar_factory(settings)
    calls = calls_of(sc, emulator)
    emulator.faults(trickle_seconds=4.0)  # each body byte comes well within the per-read timeout
    for upstream, call in calls.items():
        closed, seconds, detail = fails_closed(call)
        assert closed and "timed out" in detail, (upstream, detail)
        assert seconds < timeout + 0.8, (upstream, seconds)
        assert sc.metric("authsidecar_upstream_requests_total", upstream=upstream, status="timeout") >= 1


@pytest.fixture
def live(sidecar_factory, emulator):
    # A long heartbeat timeout: only the line bound may end a connection that keeps sending bytes.
    sc = sidecar_factory({"platform": {"sse": {**FAST_SSE["platform"]["sse"], "heartbeat_timeout_seconds": 30}}})
    wait_until(lambda: stream_connected(sc), what="stream connected")
    return sc


def disconnects(sc, cause: str) -> float:
    return sc.metric("authsidecar_sse_disconnects_total", cause=cause)


def test_an_unterminated_event_stream_line_ends_the_connection_without_growing_memory(live, emulator):
    before = peak_rss(live)
    emulator.faults(sse_long_line_bytes=HUGE)
    control(emulator, "stream/drop")
    wait_until(lambda: disconnects(live, "too_large") >= 1, timeout=10, what="the long line refused")
    wait_until(lambda: stream_connected(live), timeout=5, what="stream back")
    grown = peak_rss(live) - before
    assert grown < MEMORY_SLACK, f"peak RSS grew {grown / 2**20:.0f} MiB on one {HUGE >> 20} MiB line"
    token = new_session(emulator)
    assert verify(live, token).valid
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: verify(live, token).source == pb.SOURCE_STREAM, what="revocation pushed by the stream")


@pytest.mark.parametrize("kind", ["non_ascii", "oversized"])
def test_an_event_id_that_cannot_be_sent_back_never_poisons_reconnects(live, emulator, kind):
    first, second = new_session(emulator), new_session(emulator)
    assert verify(live, first).valid and verify(live, second).valid
    emulator.faults(sse_bad_id=kind)
    control(emulator, "sessions/revoke", session_token=first)  # this event carries the bad id
    wait_until(lambda: verify(live, first).source == pb.SOURCE_STREAM, what="first revocation pushed")

    emulator.reset()
    control(emulator, "stream/drop")
    wait_until(
        lambda: not stream_connected(live) or emulator.counters().get("GET /v2/backend/events", 0) > 0,
        what="stream dropped",
    )
    wait_until(lambda: stream_connected(live), timeout=5, what="stream reconnected")
    resumes = [r["headers"].get("last-event-id", "") for r in emulator.requests() if r["route"].endswith("/events")]
    assert resumes and all(v.isascii() and len(v) < 64 for v in resumes), resumes
    assert disconnects(live, "internal") == 0

    control(emulator, "sessions/revoke", session_token=second)
    wait_until(lambda: verify(live, second).source == pb.SOURCE_STREAM, what="later revocations still pushed")
    assert live.metric("authsidecar_sse_events_total", type="bad_id") == 1  # the id was ignored, and counted


def test_an_abandoned_half_open_probe_never_keeps_the_circuit_open(sidecar_factory, emulator):
    open_seconds = 0.5
    sc = sidecar_factory(
        {"circuit": {"failure_threshold": 2, "open_seconds": open_seconds}, "platform": {"sse": {"enabled": False}}}
    )
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)

    def totp(timeout: float) -> pb.Reason:
        return factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=timeout).reason

    emulator.faults(error_rate=1.0, path_prefix="/authy")  # a short outage
    for _ in range(2):
        assert totp(5) == pb.REASON_UPSTREAM_UNAVAILABLE
    assert sc.metric("authsidecar_upstream_circuit_open", upstream="authy") == 1
    # Healed, but slower than the short-deadline callers wait.
    emulator.faults(error_rate=0.0, latency_seconds=0.3, path_prefix="/authy")
    for _ in range(3):  # one short-deadline call per open_seconds
        time.sleep(open_seconds + 0.1)  # half-open: the next call is the probe
        with pytest.raises(grpc.RpcError) as err:
            totp(0.1)  # the probe's caller gives up
        assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(lambda: sc.metric("authsidecar_rpc_in_flight") == 0, timeout=1, what="probe abandoned")
    # A patient caller may probe at once and gets the upstream's own answer, not "circuit open".
    assert totp(5) != pb.REASON_UPSTREAM_UNAVAILABLE
    assert sc.metric("authsidecar_upstream_circuit_open", upstream="authy") == 0
