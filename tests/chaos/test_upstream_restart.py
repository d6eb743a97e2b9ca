"""The emulator killed (SIGKILL) and started again on the same port, with every bit of its state lost.

While it is down every answer is fail closed and, once the circuits are open, fast; after it comes
back the sidecar recovers on its own within a bounded time. This test runs its own emulator process
(the shared one stays untouched for the other tests).
"""

from __future__ import annotations

import base64
import json
import time

import grpc
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2 as fpb
from authsidecar.v1 import factors_pb2_grpc
from harness.processes import EmulatorProcess, SidecarProcess, deep_merge, emulator_config

from .helpers import FAST_SSE, new_session, stream_connected, verify, wait_until

PASSWORD = "correct horse battery staple"
RECOVERY_BOUND = 5.0  # seconds from the emulator answering again to the sidecar answering valid again
SETTINGS = deep_merge(
    FAST_SSE,
    {
        "circuit": {"failure_threshold": 2, "open_seconds": 1.0},
        "platform": {"timeout_seconds": 0.5},
        "challenges": {"timeout_seconds": 0.5},
        "authy": {"timeout_seconds": 0.5},
        "identity": {"timeout_seconds": 0.5},
        "jwks": {"unknown_kid_cooldown_seconds": 0.5},
    },
)
UPSTREAMS = ("platform", "challenges", "authy", "identity")


@pytest.fixture
def own(tmp_path):
    emu = EmulatorProcess(tmp_path)
    sc = SidecarProcess(deep_merge(emulator_config(emu.url), SETTINGS), tmp_path)
    try:
        sc.wait_for("SERVING")
        wait_until(lambda: stream_connected(sc), what="stream connected")
        yield emu, sc
    finally:
        sc.stop()
        emu.stop()


def mint(emu, **req) -> str:
    reply = emu.http.post("/_control/jwks/issuers/main/mint", json=req)
    reply.raise_for_status()
    return reply.json()["token"]


def with_kid(token: str, kid: str) -> str:
    head, rest = token.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header["kid"] = kid
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode() + "." + rest


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def rpc_code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def answered(call) -> bool:
    """The upstream behind this RPC gave an answer (any, even a refusal), not "unavailable"."""
    try:
        reply = call()
    except grpc.RpcError as err:
        return err.code() != grpc.StatusCode.UNAVAILABLE
    return getattr(reply, "reason", None) != pb.REASON_UPSTREAM_UNAVAILABLE


def test_killed_and_restarted_upstream_fails_closed_fast_then_recovers(own):
    emu, sc = own
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    accounts = factors_pb2_grpc.AccountServiceStub(sc.channel)
    session = new_session(emu)
    assert verify(sc, session).valid
    jwt = mint(emu)
    assert sc.stub.VerifyToken(pb.VerifyTokenRequest(token=jwt), timeout=5).valid
    gaps = sc.metric("authsidecar_sse_gaps_total")

    emu.kill()
    wait_until(lambda: not stream_connected(sc), what="stream lost")

    # Sessions: the cache is no longer trusted, the platform does not answer: not valid, with a reason.
    answers = [timed(lambda: verify(sc, session)) for _ in range(6)]
    assert all(not a.valid and a.reason == pb.REASON_UPSTREAM_UNAVAILABLE for a, _ in answers)
    assert "circuit open" in answers[-1][0].detail
    # open circuit: no waiting at all — well under the 0.5 s upstream timeout even on a loaded machine
    assert all(seconds < 0.4 for _, seconds in answers[2:]), answers

    # Pass-through and challenge RPCs: UNAVAILABLE, never a valid answer.
    def challenge() -> object:
        return sc.stub.ValidateChallenge(pb.ValidateChallengeRequest(token="chl_x", user_id="u1"), timeout=5)

    codes = [rpc_code(challenge) for _ in range(4)]
    assert all(code == grpc.StatusCode.UNAVAILABLE for code, _ in codes) and "circuit open" in codes[-1][1]
    totp = [factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=5) for _ in range(4)]
    assert all(not t.valid and t.reason == pb.REASON_UPSTREAM_UNAVAILABLE for t in totp)
    assert "circuit open" in totp[-1].detail

    def login() -> object:
        return accounts.Login(fpb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5)

    codes = [rpc_code(login) for _ in range(4)]
    assert all(code == grpc.StatusCode.UNAVAILABLE for code, _ in codes) and "circuit open" in codes[-1][1]
    for upstream in UPSTREAMS:
        assert sc.metric("authsidecar_upstream_circuit_open", upstream=upstream) == 1, upstream
    # Tokens: the keys in hand still verify (until jwks.max_stale_seconds); an unknown kid cannot be fetched.
    assert sc.stub.VerifyToken(pb.VerifyTokenRequest(token=jwt), timeout=5).valid
    assert not sc.stub.VerifyToken(pb.VerifyTokenRequest(token=with_kid(jwt, "rotated-away")), timeout=5).valid
    assert sc.proc.poll() is None

    emu.start()  # same port, fresh state: no sessions, new event ids, new signing keys
    back = time.monotonic()
    fresh = new_session(emu)
    wait_until(lambda: stream_connected(sc), timeout=RECOVERY_BOUND, what="stream reconnected")
    wait_until(
        lambda: verify(sc, fresh).valid,
        timeout=RECOVERY_BOUND - (time.monotonic() - back),
        step=0.05,
        what="sessions valid again",
    )
    assert sc.metric("authsidecar_sse_gaps_total") == gaps + 1  # the new event ids: nothing resumed
    gone = verify(sc, session)  # the restarted platform forgot the old session: never valid
    assert not gone.valid and gone.status == pb.SESSION_STATUS_NOT_FOUND
    # The other upstreams' circuits close at their next probe, each with a real answer.
    for name, call in (
        ("challenges", challenge),
        ("identity", login),
        ("authy", lambda: factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="1000", code="1234567"), timeout=5)),
    ):
        wait_until(lambda: answered(call), timeout=3, step=0.1, what=f"{name} answering")  # noqa: B023 (called within this iteration)
    for upstream in UPSTREAMS:
        assert sc.metric("authsidecar_upstream_circuit_open", upstream=upstream) == 0, upstream
    wait_until(
        lambda: sc.stub.VerifyToken(pb.VerifyTokenRequest(token=mint(emu)), timeout=5).valid,
        timeout=2,
        step=0.1,
        what="tokens from the new keys",
    )
    assert time.monotonic() - back < 3 * RECOVERY_BOUND
    assert "Traceback" not in sc.log_path.read_text()
