"""Upstream latency spikes against the configured upstream timeout and the caller's gRPC deadline.

tests/e2e/test_sessions.py::test_upstream_timeouts_fail_closed covers the platform's timeout; here
every adapter meets a spike longer than its timeout, and callers whose deadline is shorter still:
each call ends by the earlier of the two, nothing hangs, and the sidecar keeps serving.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2 as fpb
from authsidecar.v1 import factors_pb2_grpc

from .helpers import PHONE, new_session, wait_until

# Margins of whole seconds between the three, so the order of events holds on a loaded 2-core machine.
UPSTREAM_TIMEOUT = 2.0
SPIKE = 6.0  # longer than every upstream timeout
SHORT_DEADLINE = 0.2  # shorter than both
LONG_DEADLINE = 4.0  # longer than the upstream timeout, shorter than the spike
SETTINGS = {name: {"timeout_seconds": UPSTREAM_TIMEOUT} for name in ("platform", "challenges", "authy", "identity")}
SETTINGS["platform"]["sse"] = {"enabled": False}
# The margins above hold on a loaded machine, not beside three other workers: run alone (serial stage).
pytestmark = pytest.mark.serial


@pytest.fixture
def slow(sidecar_factory, emulator):
    sc = sidecar_factory(SETTINGS)
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    accounts = factors_pb2_grpc.AccountServiceStub(sc.channel)
    session = new_session(emulator)
    calls = {
        "VerifySession": lambda t: sc.stub.VerifySession(
            pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=t
        ),
        "ValidateChallenge": lambda t: sc.stub.ValidateChallenge(
            pb.ValidateChallengeRequest(token="chl_x", user_id="u1"), timeout=t
        ),
        "VerifyTotp": lambda t: factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=t),
        "Login": lambda t: accounts.Login(fpb.LoginRequest(email="alice@example.com", password="x" * 8), timeout=t),
    }
    token = emulator.http.post("/_control/jwks/issuers/main/mint", json={}).json()["token"]
    assert sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=5).valid  # keys loaded before the spike
    emulator.faults(latency_seconds=SPIKE)  # every upstream route: platform, challenges, authy, identity, JWKS
    return sc, calls, token


def outcome(call, deadline: float) -> tuple[str, float, str]:
    """(what the call ended with, seconds it took, detail)."""
    started = time.monotonic()
    try:
        reply = call(deadline)
    except grpc.RpcError as err:
        return err.code().name, time.monotonic() - started, err.details() or ""
    verdict = "valid" if getattr(reply, "valid", False) else pb.Reason.Name(reply.reason)
    return verdict, time.monotonic() - started, reply.detail


def test_a_deadline_shorter_than_the_upstream_timeout_ends_the_call_and_the_sidecar_serves_on(slow):
    sc, calls, token = slow
    sent = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        pending = [pool.submit(outcome, call, SHORT_DEADLINE) for call in calls.values() for _ in range(5)]
        time.sleep(0.05)  # the slow calls are in flight now
        started = time.monotonic()
        local = sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=5)
        # local work never queues behind upstream waits (which last the timeout, 2 s)
        assert local.valid and time.monotonic() - started < UPSTREAM_TIMEOUT / 2
        results = [f.result() for f in pending]
    for name, seconds, _ in results:
        assert name == "DEADLINE_EXCEEDED" and seconds < UPSTREAM_TIMEOUT / 2, (name, seconds)
    # Abandoned at the deadline, upstream request included: nothing left in flight before the
    # upstream timeout (let alone the spike) would have ended it.
    wait_until(
        lambda: sc.metric("authsidecar_rpc_in_flight") == 0,
        timeout=max(0.05, sent + UPSTREAM_TIMEOUT - 0.2 - time.monotonic()),
        what="no RPC in flight",
    )
    assert sc.metric("authsidecar_rpc_total", method="VerifySession", outcome="cancelled") == 5
    # Callers giving up say nothing about the upstream: no circuit opened (threshold 5, 5 calls each).
    for upstream in ("platform", "challenges", "authy", "identity"):
        assert sc.metric("authsidecar_upstream_circuit_open", upstream=upstream) == 0


def test_a_deadline_longer_than_the_upstream_timeout_gets_a_fail_closed_answer_at_the_timeout(slow):
    sc, calls, _ = slow
    with ThreadPoolExecutor(len(calls)) as pool:
        results = dict(zip(calls, pool.map(lambda c: outcome(c, LONG_DEADLINE), calls.values()), strict=True))
    expected = {
        "VerifySession": "REASON_UPSTREAM_UNAVAILABLE",
        "VerifyTotp": "REASON_UPSTREAM_UNAVAILABLE",
        "ValidateChallenge": "UNAVAILABLE",
        "Login": "UNAVAILABLE",
    }
    for rpc, (name, seconds, detail) in results.items():
        assert name == expected[rpc], (rpc, name, detail)
        assert UPSTREAM_TIMEOUT - 0.05 <= seconds < LONG_DEADLINE, (rpc, seconds)  # the timeout, not the spike
        assert "timed out" in detail, (rpc, detail)
    assert sc.metric("authsidecar_rpc_in_flight") == 0
