"""The platform's event stream misbehaving: 204, a wrong content type, an event cut mid-line, and a
platform that forgets its event ids. Each time the sidecar's session answers must stay current: a
session revoked during the fault is never answered valid afterwards.
"""

from __future__ import annotations

import time

import pytest

from authsidecar.v1 import auth_pb2 as pb

from .helpers import (
    EVENTS_ROUTE,
    FAST_SSE,
    Asker,
    control,
    new_session,
    status_calls,
    stream_connected,
    verify,
    wait_until,
)


@pytest.fixture
def live(sidecar_factory, emulator):
    sc = sidecar_factory(FAST_SSE)
    wait_until(lambda: stream_connected(sc), what="stream connected")
    return sc


def disconnects(sc, cause: str) -> float:
    return sc.metric("authsidecar_sse_disconnects_total", cause=cause)


@pytest.mark.parametrize("answer, cause", [("no_content", "refused"), ("wrong_type", "content_type")])
def test_a_stream_answer_that_is_no_stream_is_a_failure_and_answers_stay_current(live, emulator, answer, cause):
    token = new_session(emulator)
    assert verify(live, token).valid
    failed_before = disconnects(live, cause)
    emulator.faults(sse_answer=answer)
    control(emulator, "stream/drop")
    wait_until(lambda: not stream_connected(live), what="stream down")
    fault_started = time.monotonic()
    attempts_before = emulator.counters().get(EVENTS_ROUTE, 0)
    # It keeps retrying, and every attempt counts as a failure of this cause — never as a connection.
    wait_until(lambda: disconnects(live, cause) >= failed_before + 3, what=f"three {cause} failures")

    calls = status_calls(emulator)
    answer_now = verify(live, token)
    assert answer_now.valid and answer_now.source == pb.SOURCE_UPSTREAM  # the cache is not trusted: asked
    assert status_calls(emulator) == calls + 1

    with Asker(live, token) as asker:
        time.sleep(0.1)
        control(emulator, "sessions/revoke", session_token=token)
        revoked_at = time.monotonic()
        time.sleep(0.4)
    assert asker.answers and not asker.errors
    assert asker.valid_after(revoked_at) == []
    assert any(a.valid for a in asker.answers)  # the asker really saw the session before its revocation

    assert not stream_connected(live)  # in all that time the 2xx non-stream never counted as connected
    attempts = emulator.counters().get(EVENTS_ROUTE, 0) - attempts_before
    elapsed = time.monotonic() - fault_started
    assert attempts <= 2 + elapsed / 0.1, attempts  # backed off (with jitter), not a hot loop

    emulator.faults(sse_answer="stream")
    wait_until(lambda: stream_connected(live), what="stream back")
    final = verify(live, token)
    assert not final.valid and final.reason == pb.REASON_REVOKED
    log = live.log_path.read_text()
    assert f'"cause": "{cause}"' in log and "Traceback" not in log
    assert token not in log


@pytest.mark.parametrize("cuts", [1, 3])
def test_an_event_cut_mid_line_is_replayed_on_resume_and_applied_once(live, emulator, cuts):
    token = new_session(emulator)
    assert verify(live, token).valid
    calls = status_calls(emulator)
    gaps = live.metric("authsidecar_sse_gaps_total")
    revocations = live.metric("authsidecar_sse_events_total", type="session_revoked")
    cut_before = disconnects(live, "cut")

    emulator.faults(sse_cut_events=cuts)  # this event's frame, then its replays, stop mid `data:` line
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: disconnects(live, "cut") >= cut_before + cuts, what=f"{cuts} cut connection(s)")
    wait_until(lambda: stream_connected(live), what="stream resumed")

    answer = verify(live, token)
    # Revoked, and known from the stream: the resumed connection replayed the event that was cut,
    # so no status call was needed and nothing was flushed.
    assert not answer.valid and answer.reason == pb.REASON_REVOKED and answer.source == pb.SOURCE_STREAM
    assert status_calls(emulator) == calls
    assert live.metric("authsidecar_sse_gaps_total") == gaps
    assert live.metric("authsidecar_sse_events_total", type="session_revoked") == revocations + 1
    assert emulator.http.get("/_control/faults").json()["sse_cut_events"] == 0


def test_a_platform_that_forgets_its_event_ids_never_leaves_a_revoked_session_valid(live, emulator):
    watched, quiet = new_session(emulator), new_session(emulator)
    assert verify(live, watched).valid and verify(live, quiet).valid  # both cached as verified
    gaps = live.metric("authsidecar_sse_gaps_total")
    with Asker(live, watched) as asker:
        emulator.faults(sse_down=True)
        control(emulator, "stream/drop")
        wait_until(lambda: not stream_connected(live), what="stream down")
        control(emulator, "sessions/revoke", session_token=watched)
        revoked_at = time.monotonic()
        control(emulator, "sessions/revoke", session_token=quiet)  # nobody asks about this one meanwhile
        control(emulator, "stream/restart")  # both revocation events are lost with the event ids
        emulator.faults(sse_down=False)
        wait_until(lambda: stream_connected(live), what="stream back")
        time.sleep(0.2)
    assert asker.answers and not asker.errors and asker.valid_after(revoked_at) == []
    assert live.metric("authsidecar_sse_gaps_total") == gaps + 1
    # The quiet session's positive entry was flushed by the gap: the platform is asked and says revoked.
    calls = status_calls(emulator)
    answer = verify(live, quiet)
    assert not answer.valid and answer.reason == pb.REASON_REVOKED and answer.source == pb.SOURCE_UPSTREAM
    assert status_calls(emulator) == calls + 1
