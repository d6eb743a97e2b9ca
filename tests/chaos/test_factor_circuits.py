"""A 5xx storm at the second-factor (authy) or identity upstream: its circuit breaker opens, the
upstream sees a bounded number of requests while it is open, the other upstreams are unaffected,
and it closes by itself once the upstream answers again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2 as fpb
from authsidecar.v1 import factors_pb2_grpc

from .helpers import wait_until

THRESHOLD, OPEN_SECONDS = 3, 0.5
PASSWORD = "correct horse battery staple"
# bob has MFA: his login is a real answer (mfa_required) that opens no session in the shared emulator,
# whose users' session lists other tests check.
EMAIL = "bob@example.com"


@dataclass
class Upstream:
    name: str
    prefix: str  # its routes on the emulator
    fail: Callable[[object], str]  # one call during the storm → its "fail closed" detail
    works: Callable[[object], bool]  # one call that succeeds when the upstream is healthy


def _totp_fails(ctx) -> str:
    reply = ctx.factors.VerifyTotp(fpb.VerifyTotpRequest(user_id=ctx.user, code="1234567"), timeout=5)
    assert not reply.valid and reply.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    return reply.detail


def _totp_works(ctx) -> bool:
    code = ctx.emulator.http.get(f"/_control/authy/users/{ctx.user}/totp").json()["code"]
    return ctx.factors.VerifyTotp(fpb.VerifyTotpRequest(user_id=ctx.user, code=code), timeout=5).valid


def _login_fails(ctx) -> str:
    with pytest.raises(grpc.RpcError) as err:
        ctx.accounts.Login(fpb.LoginRequest(email=EMAIL, password=PASSWORD), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    return err.value.details()


def _login_works(ctx) -> bool:
    try:
        reply = ctx.accounts.Login(fpb.LoginRequest(email=EMAIL, password=PASSWORD), timeout=5)
    except grpc.RpcError:
        return False
    return reply.mfa_required


AUTHY = Upstream("authy", "/authy/", _totp_fails, _totp_works)
IDENTITY = Upstream("identity", "/inai/", _login_fails, _login_works)


@dataclass
class Ctx:
    sc: object
    emulator: object
    factors: object
    accounts: object
    user: str = ""


@pytest.fixture
def ctx(sidecar_factory, emulator) -> Ctx:
    sc = sidecar_factory({"circuit": {"failure_threshold": THRESHOLD, "open_seconds": OPEN_SECONDS}})
    c = Ctx(
        sc,
        emulator,
        factors_pb2_grpc.SecondFactorServiceStub(sc.channel),
        factors_pb2_grpc.AccountServiceStub(sc.channel),
    )
    c.user = c.factors.RegisterUser(
        fpb.RegisterUserRequest(email="u@example.com", country="US", phone="2015550123"), timeout=5
    ).user_id
    return c


def requests_to(emulator, prefix: str) -> int:
    return sum(n for route, n in emulator.counters().items() if route.split(" ", 1)[1].startswith(prefix))


@pytest.mark.parametrize("storm, bystander", [(AUTHY, IDENTITY), (IDENTITY, AUTHY)], ids=["authy", "identity"])
def test_a_5xx_storm_opens_the_circuit_bounds_traffic_and_recovers(ctx, storm, bystander):
    sc, emulator = ctx.sc, ctx.emulator
    emulator.faults(error_rate=1.0, error_status=503, path_prefix=storm.prefix)
    before = requests_to(emulator, storm.prefix)
    details = [storm.fail(ctx) for _ in range(20)]
    assert requests_to(emulator, storm.prefix) - before == THRESHOLD  # then it failed fast: no traffic
    assert "circuit open" in details[-1]
    assert sc.metric("authsidecar_upstream_circuit_open", upstream=storm.name) == 1

    # Keep the storm up: while open, one probe per open_seconds at most, whatever the call rate.
    started = time.monotonic()
    calls = 0
    while time.monotonic() - started < 3 * OPEN_SECONDS:
        storm.fail(ctx)
        calls += 1
        time.sleep(0.01)
    probes = requests_to(emulator, storm.prefix) - before - THRESHOLD
    assert calls > 50 and 1 <= probes <= math.ceil((time.monotonic() - started) / OPEN_SECONDS) + 1, probes

    # The other upstreams have their own circuits and keep answering.
    assert bystander.works(ctx)
    assert sc.metric("authsidecar_upstream_circuit_open", upstream=bystander.name) == 0
    assert sc.metric("authsidecar_upstream_circuit_open", upstream="platform") == 0

    emulator.faults(reset=True)
    took = wait_until(lambda: storm.works(ctx), timeout=OPEN_SECONDS + 2, step=0.05, what=f"{storm.name} back")
    assert took <= OPEN_SECONDS + 1
    assert sc.metric("authsidecar_upstream_circuit_open", upstream=storm.name) == 0


def test_row18_short_deadline_callers_cannot_hold_a_healthy_upstreams_circuit_open(sidecar_factory, emulator):
    """After a short outage the authy circuit is open; the upstream heals but answers in 300 ms, and an
    attacker fires VerifyTotp with 100 ms deadlines every 5 ms. The first probe's caller leaves, the
    probe runs on, its answer closes the circuit: a normal caller reaches the upstream during the attack."""
    sc = sidecar_factory({"circuit": {"failure_threshold": THRESHOLD, "open_seconds": 1.0}})
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    user = factors.RegisterUser(
        fpb.RegisterUserRequest(email="u@example.com", country="US", phone="2015550123"), timeout=5
    ).user_id
    wrong = fpb.VerifyTotpRequest(user_id=user, code="1234567")  # the platform's answer: not valid (a 4xx)

    emulator.faults(error_rate=1.0, error_status=503, path_prefix="/authy/")
    for _ in range(THRESHOLD):
        factors.VerifyTotp(wrong, timeout=5)
    assert "circuit open" in factors.VerifyTotp(wrong, timeout=5).detail
    emulator.faults(reset=True)
    emulator.faults(latency_seconds=0.3, path_prefix="/authy/")  # healthy, slower than the attacker waits

    stop = threading.Event()
    sent = [0]

    def attack() -> None:
        pending = []
        while not stop.is_set():
            pending.append(factors.VerifyTotp.future(wrong, timeout=0.1))
            sent[0] += 1
            time.sleep(0.005)
        for call in pending:
            call.exception(timeout=5)  # every attacker call ends (deadline or answer)

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    seen = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 6:
            reply = factors.VerifyTotp(wrong, timeout=5)
            seen.append(
                "circuit open"
                if "circuit open" in reply.detail
                else "unavailable"
                if reply.reason == pb.REASON_UPSTREAM_UNAVAILABLE
                else "answered"
            )
            time.sleep(0.5)
        closed_during_attack = sc.metric("authsidecar_upstream_circuit_open", upstream="authy") == 0
    finally:
        stop.set()
        attacker.join(timeout=15)
    assert not attacker.is_alive() and sent[0] > 200
    # Within open_seconds plus the probe's 0.3 s the circuit is closed; allow the loaded machine 3 s.
    assert "answered" in seen and seen[-4:] == ["answered"] * 4, seen
    assert closed_during_attack
