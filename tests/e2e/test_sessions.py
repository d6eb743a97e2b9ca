"""Sessions, approvals and revocation end to end: a real sidecar process, the emulator, loopback."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from harness.processes import wait_until
from sidecar.config import EMULATOR_API_KEY, EMULATOR_APP_ID

PHONE = "+14155552671"
STATUS_ROUTE = "POST /v2/backend/session/status"
FAST_SSE = {
    "platform": {"sse": {"heartbeat_timeout_seconds": 3.0, "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.5}}
}


def new_session(emulator, phone: str = PHONE, **extra) -> str:
    resp = emulator.http.post("/_control/platform/sessions", json={"phone": phone, **extra})
    resp.raise_for_status()
    return resp.json()["session_token"]


def control(emulator, path: str, **body) -> dict:
    resp = emulator.http.post(f"/_control/platform/{path}", json=body)
    resp.raise_for_status()
    return resp.json()


def status_calls(emulator) -> int:
    return emulator.counters().get(STATUS_ROUTE, 0)


def stream_connected(sc) -> bool:
    return sc.metric("authsidecar_sse_connected") == 1


def verify(sc, token: str, phone: str = PHONE, region: str = "") -> pb.VerifySessionResponse:
    return sc.stub.VerifySession(
        pb.VerifySessionRequest(session_token=token, phone=phone, default_region=region), timeout=5
    )


def revoked(sc, token: str, phone: str = PHONE) -> pb.IsRevokedResponse:
    return sc.stub.IsRevoked(pb.IsRevokedRequest(session_token=token, phone=phone), timeout=5)


@pytest.fixture
def live(sidecar_factory, emulator):
    sc = sidecar_factory(FAST_SSE)
    wait_until(lambda: stream_connected(sc))
    return sc


def test_revocation_flips_from_the_stream_without_a_status_call(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    assert not revoked(live, token).revoked
    calls = status_calls(emulator)
    assert calls == 1  # the second answer came from cache
    control(emulator, "sessions/revoke", session_token=token)
    # Synchronised on the answer itself, not a wall-clock bound (a loaded 2-core machine can't keep
    # one): what this proves is that the event alone flips it — no status call, source STREAM. How
    # fast it propagates is a performance figure (make bench, make soak's propagation bound).
    wait_until(lambda: revoked(live, token).revoked, timeout=5.0, step=0.002, what="the revocation event applied")
    answer = verify(live, token)
    assert not answer.valid and answer.reason == pb.REASON_REVOKED and answer.source == pb.SOURCE_STREAM
    assert revoked(live, token).reason == pb.REASON_REVOKED
    assert status_calls(emulator) == calls


def test_phone_formats_normalise_equal(live, emulator):
    token = new_session(emulator, phone="+1 234-567-890")
    assert verify(live, token, "+1 234-567-890").valid
    assert verify(live, token, "001234567890", region="CH").valid
    assert verify(live, token, "+1234567890").valid
    other = verify(live, token, "+14155552671")
    assert not other.valid and other.reason == pb.REASON_PHONE_MISMATCH


def test_status_and_unknown_sessions(live, emulator):
    pending = new_session(emulator, status="pending")
    answer = verify(live, pending)
    assert not answer.valid and answer.status == pb.SESSION_STATUS_PENDING and answer.reason == pb.REASON_NOT_VERIFIED
    control(emulator, "sessions/verify", session_token=pending)
    wait_until(lambda: verify(live, pending).valid, timeout=1.0)  # the event drops the negative entry
    status = live.stub.GetSessionStatus(pb.GetSessionStatusRequest(session_token=pending, phone=PHONE), timeout=5)
    assert status.status == pb.SESSION_STATUS_VERIFIED and status.phone == PHONE and status.expires_at.seconds > 0
    unknown = verify(live, "no-such-session")
    assert not unknown.valid and unknown.status == pb.SESSION_STATUS_NOT_FOUND
    r = revoked(live, "no-such-session")
    assert r.revoked and r.reason == pb.REASON_NOT_FOUND


def test_expiry_event_invalidates(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    control(emulator, "sessions/expire", session_token=token)
    wait_until(lambda: verify(live, token).reason == pb.REASON_EXPIRED, timeout=1.0)


def approve(sc, token: str, phone: str = PHONE) -> pb.VerifyApprovalResponse:
    return sc.stub.VerifyApproval(pb.VerifyApprovalRequest(approval_token=token, phone=phone), timeout=10)


def test_approval_is_one_time_even_under_a_race(live, emulator):
    session = new_session(emulator)
    token = control(emulator, "approvals", phone=PHONE, action="transfer", session_token=session)["approval_token"]
    first = approve(live, token)
    assert first.valid and first.action == "transfer" and first.session_token == session
    again = approve(live, token)
    assert not again.valid and again.reason == pb.REASON_ALREADY_USED

    racing = control(emulator, "approvals", phone=PHONE, action="pay", session_token=session)["approval_token"]
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: approve(live, racing), range(50)))
    assert sum(a.valid for a in answers) == 1
    assert all(a.reason == pb.REASON_ALREADY_USED for a in answers if not a.valid)


def test_approval_phone_and_revoked_session(live, emulator):
    session = new_session(emulator)
    token = control(emulator, "approvals", phone=PHONE, action="transfer", session_token=session)["approval_token"]
    wrong = approve(live, token, "+442071838750")
    assert not wrong.valid and wrong.reason == pb.REASON_PHONE_MISMATCH
    control(emulator, "sessions/revoke", session_token=session)
    answer = approve(live, token)
    assert not answer.valid and answer.reason == pb.REASON_REVOKED
    assert not approve(live, "no-such-approval").valid


def test_stream_drop_and_resume_loses_no_event(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    gaps = live.metric("authsidecar_sse_gaps_total")
    emulator.faults(sse_down=True)
    control(emulator, "stream/drop")
    wait_until(lambda: not stream_connected(live))
    control(emulator, "sessions/revoke", session_token=token)  # happens while the stream is away
    emulator.faults(sse_down=False)
    wait_until(lambda: stream_connected(live))
    calls = status_calls(emulator)
    answer = verify(live, token)
    assert not answer.valid and answer.reason == pb.REASON_REVOKED and answer.source == pb.SOURCE_STREAM
    assert status_calls(emulator) == calls
    assert live.metric("authsidecar_sse_gaps_total") == gaps  # resumed: nothing flushed
    assert live.metric("authsidecar_sse_reconnects_total") >= 1


def test_stream_drop_without_resume_flushes_the_cache(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    calls = status_calls(emulator)
    assert verify(live, token).valid and status_calls(emulator) == calls  # cached
    gaps = live.metric("authsidecar_sse_gaps_total")
    emulator.faults(sse_down=True)
    control(emulator, "stream/drop")
    wait_until(lambda: not stream_connected(live))
    control(emulator, "stream/restart")  # the platform forgets event ids: no resume possible
    emulator.faults(sse_down=False)
    wait_until(lambda: stream_connected(live))
    assert live.metric("authsidecar_sse_gaps_total") == gaps + 1
    assert verify(live, token).valid
    assert status_calls(emulator) == calls + 1  # flushed: asked the upstream again


def test_stream_down_falls_back_to_the_api(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    emulator.faults(sse_down=True)
    control(emulator, "stream/drop")
    wait_until(lambda: not stream_connected(live))
    calls = status_calls(emulator)
    answer = revoked(live, token)
    assert not answer.revoked and answer.source == pb.SOURCE_UPSTREAM
    assert status_calls(emulator) == calls + 1
    emulator.faults(error_rate=1.0, path_prefix="/v2/backend/session")
    answer = revoked(live, token)
    assert answer.revoked and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    v = verify(live, token)
    assert not v.valid and v.reason == pb.REASON_UPSTREAM_UNAVAILABLE and v.status == pb.SESSION_STATUS_UNKNOWN


def test_upstream_timeouts_fail_closed(sidecar_factory, emulator):
    sc = sidecar_factory({"platform": {"timeout_seconds": 0.2, "sse": {"enabled": False}}})
    token = new_session(emulator)
    session = new_session(emulator)
    approval = control(emulator, "approvals", phone=PHONE, action="x", session_token=session)["approval_token"]
    # Latency far past the 0.2 s timeout: on a loaded machine a late timeout must still come before the
    # platform acts (with 0.5 s the platform sometimes spent the approval before the sidecar gave up).
    emulator.faults(latency_seconds=3.0, path_prefix="/v2/")
    v = verify(sc, token)
    assert not v.valid and v.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    r = revoked(sc, token)
    assert r.revoked and r.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    a = approve(sc, approval)
    assert not a.valid and a.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    health = sc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    assert any(u.name == "platform" and not u.healthy for u in health.upstreams)
    emulator.faults(reset=True)
    assert approve(sc, approval).valid  # the failed attempts did not burn the token
    health = sc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    assert any(u.name == "platform" and u.healthy for u in health.upstreams)


def test_ten_thousand_calls_over_100_sessions_stay_under_100_status_requests(live, emulator):
    tokens = [new_session(emulator) for _ in range(100)]
    before = status_calls(emulator)
    channel = grpc.insecure_channel(live.target)
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    valid = 0
    for batch in range(20):  # 500 in flight at a time: below the sidecar's in-flight limit
        calls = [
            stub.VerifySession.future(pb.VerifySessionRequest(session_token=tokens[i % 100], phone=PHONE), timeout=30)
            for i in range(batch * 500, batch * 500 + 500)
        ]
        valid += sum(c.result().valid for c in calls)
    assert valid == 10_000
    channel.close()
    assert status_calls(emulator) - before <= 100
    assert live.metric("authsidecar_cache_lookups_total", cache="sessions", result="hit") >= 9_900 - 100


def test_readiness_and_stream_metrics(live, emulator):
    ready = httpx.get(f"{live.ops_url}/readyz").json()
    assert "stream connected" in str(ready)
    token = new_session(emulator)
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: live.metric("authsidecar_sse_events_total", type="session_revoked") >= 1, timeout=2)
    assert 0 <= live.metric("authsidecar_sse_seconds_since_last_event") < 3
    assert live.metric("authsidecar_upstream_requests_total", upstream="platform", endpoint="events", status="200") >= 1


def test_a_stalled_stream_is_detected_and_replaced(live, emulator):
    token = new_session(emulator)
    assert verify(live, token).valid
    reconnects = live.metric("authsidecar_sse_reconnects_total")
    control(emulator, "stream", stall=True)  # connection stays open, heartbeats stop
    try:
        wait_until(lambda: live.metric("authsidecar_sse_reconnects_total") > reconnects, timeout=8)
    finally:
        control(emulator, "stream", stall=False)
    wait_until(lambda: stream_connected(live))
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: revoked(live, token).source == pb.SOURCE_STREAM, timeout=1)
    assert token not in live.log_path.read_text()  # tokens never reach the logs


def test_emulator_checks_the_app_credentials(emulator):
    good = {"Authorization": f"Bearer {EMULATOR_API_KEY}", "X-App-ID": EMULATOR_APP_ID}
    wrong_key = {"Authorization": "Bearer wrong", "X-App-ID": EMULATOR_APP_ID}
    wrong_app = {"Authorization": f"Bearer {EMULATOR_API_KEY}", "X-App-ID": "someone-else"}
    old_header = {"X-API-Key": EMULATOR_API_KEY, "X-App-ID": EMULATOR_APP_ID}  # no client sends this
    assert emulator.http.get("/v2/backend/health", headers=good).status_code == 200
    for method, path in (
        ("GET", "/v2/backend/health"),
        ("POST", "/v2/backend/session/status"),
        ("POST", "/v2/approval/verify"),
        ("GET", "/v2/backend/events"),
    ):
        for bad in (wrong_key, wrong_app, old_header):
            assert emulator.http.request(method, path, headers=bad, json={}).status_code == 401


def test_wrong_credentials_fail_closed_and_keep_the_sidecar_unready(sidecar_factory, emulator):
    sc = sidecar_factory({"platform": {"api_key": "wrong"}}, wait_ready=False)
    sc.wait_for("NOT_SERVING")
    token = new_session(emulator)
    answer = verify(sc, token)
    assert not answer.valid and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    assert revoked(sc, token).revoked


def test_circuit_breaker_stops_hammering_a_failing_platform_and_recovers(sidecar_factory, emulator):
    sc = sidecar_factory(
        {"platform": {"sse": {"enabled": False}}, "circuit": {"failure_threshold": 3, "open_seconds": 1.0}}
    )
    token = new_session(emulator)
    emulator.faults(error_rate=1.0, path_prefix="/v2/backend/session")
    before = status_calls(emulator)
    answers = [verify(sc, f"garbage-{i}") for i in range(40)]
    assert all(not a.valid and a.reason == pb.REASON_UPSTREAM_UNAVAILABLE for a in answers)
    assert status_calls(emulator) - before == 3  # then the circuit opened: fail fast, no traffic
    assert "circuit open" in answers[-1].detail
    assert sc.metric("authsidecar_upstream_circuit_open", upstream="platform") == 1
    emulator.faults(reset=True)
    wait_until(lambda: verify(sc, token).valid, timeout=5, step=0.1)  # one probe after open_seconds closes it
    assert sc.metric("authsidecar_upstream_circuit_open", upstream="platform") == 0
