"""Health transitions, graceful shutdown with calls in flight, and load shedding — on real processes."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from harness.processes import START_TIMEOUT, wait_until

PHONE = "+14155552671"


def new_session(emulator) -> str:
    resp = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE})
    resp.raise_for_status()
    return resp.json()["session_token"]


def verify(sc, token: str, timeout: float = 10):
    return sc.stub.VerifySession(pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=timeout)


def test_not_serving_until_the_upstream_answers_then_serving(sidecar_factory, emulator):
    emulator.faults(error_rate=1.0, path_prefix="/v2/")  # platform unreachable at start
    sc = sidecar_factory({"platform": {"sse": {"reconnect_max_seconds": 0.5}}}, wait_ready=False)
    # Up and answering first (a start can take seconds on a loaded machine), then 1.5 s of the
    # platform failing in which it must not turn SERVING.
    wait_until(lambda: sc.health_status() is not None, timeout=START_TIMEOUT, step=0.05, what="health to answer")
    time.sleep(1.5)
    assert sc.health_status() == "NOT_SERVING"
    assert sc.health_status("authsidecar.v1.AuthService") == "NOT_SERVING"
    ready = httpx.get(f"{sc.ops_url}/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False and "sessions" in ready.json()["detail"]
    assert sc.metric("authsidecar_ready") == 0
    emulator.faults(reset=True)
    sc.wait_for("SERVING", timeout=15)
    assert httpx.get(f"{sc.ops_url}/readyz").status_code == 200


def test_sigterm_lets_in_flight_calls_finish_and_refuses_new_ones(sidecar_factory, emulator):
    sc = sidecar_factory({"platform": {"sse": {"enabled": False}, "timeout_seconds": 5}})
    token = new_session(emulator)
    emulator.faults(latency_seconds=1.5, path_prefix="/v2/backend/session")
    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(verify, sc, f"{token}" if i == 0 else new_session(emulator)) for i in range(3)]
        time.sleep(0.5)  # the calls are now waiting on the upstream
        sc.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert sc.health_status() in ("NOT_SERVING", None)  # draining (or already closed to new calls)
        with pytest.raises(grpc.RpcError) as err, grpc.insecure_channel(sc.target) as fresh:
            auth_pb2_grpc.AuthServiceStub(fresh).VerifySession(
                pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=2
            )
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        answers = [f.result(timeout=10) for f in slow]
    assert all(a.valid for a in answers)  # finished inside the grace period
    assert sc.proc.wait(10) == 0


def test_past_max_in_flight_calls_are_shed_at_once(sidecar_factory, emulator):
    sc = sidecar_factory(
        {"limits": {"max_in_flight": 2}, "platform": {"sse": {"enabled": False}, "timeout_seconds": 5}}
    )
    tokens = [new_session(emulator) for _ in range(6)]
    emulator.faults(latency_seconds=1.0, path_prefix="/v2/backend/session")
    codes = []

    def call(token):
        started = time.monotonic()
        try:
            verify(sc, token)
            codes.append(("ok", time.monotonic() - started))
        except grpc.RpcError as err:
            codes.append((err.code().name, time.monotonic() - started))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(call, tokens))
    shed = [t for code, t in codes if code == "RESOURCE_EXHAUSTED"]
    assert len([c for c, _ in codes if c == "ok"]) == 2 and len(shed) == 4
    assert max(shed) < 0.9  # refused at once, not after queueing
    assert sc.metric("authsidecar_rpc_shed_total") == 4
