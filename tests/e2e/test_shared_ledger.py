"""One-time tokens stay one-time across pods: two real sidecar processes, one emulator, one real Redis.

The emulator runs with `one_time_enforced: false` (a platform that answers "valid" to every
verification of an unexpired approval or challenge token; its TOTP codes are never one-time), so only
the sidecars' shared ledger can hold the guarantee. The first test shows the switch bites: without
the shared ledger each pod says "valid" once.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as fpb
from harness.processes import RedisProcess, deep_merge, emulator_config, redis_server_binary, wait_until
from tests.e2e.test_transport_security import _cert

PHONE = "+14155552671"
RACERS = 50
PASSWORD = "ledger-test-password"
CIRCUIT = {"failure_threshold": 3, "open_seconds": 0.5}


@pytest.fixture(scope="module")
def redis_binary() -> str:
    binary, problem = redis_server_binary()
    if binary is None:
        pytest.skip(f"redis-server missing and not installable: {problem}")
    return binary


@pytest.fixture
def redis(redis_binary, tmp_path):
    server = RedisProcess(redis_binary, tmp_path / "redis", password=PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def pods(sidecar_factory, emulator, redis, tmp_path):
    """Start sidecars sharing `redis` (password from a _FILE, as from a mounted Secret)."""
    secret = tmp_path / "ledger-password"
    secret.write_text(PASSWORD + "\n")
    emulator.faults(one_time_enforced=False)

    def start(count: int = 2, backend: str = "redis", extra: dict | None = None) -> list:
        config = {
            "circuit": CIRCUIT,
            "ledger": {"backend": backend, "url": f"redis://127.0.0.1:{redis.port}/0", "timeout_seconds": 0.5},
        }
        config = deep_merge(config, extra or {})
        env = {"AUTHSIDECAR_LEDGER_PASSWORD_FILE": str(secret)}
        return [sidecar_factory(config, env=env) for _ in range(count)]

    return start


def new_approval(emulator) -> str:
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]
    reply = emulator.http.post(
        "/_control/platform/approvals", json={"phone": PHONE, "action": "transfer", "session_token": session}
    )
    reply.raise_for_status()
    return reply.json()["approval_token"]


def approve(sc, token: str) -> pb.VerifyApprovalResponse:
    return sc.stub.VerifyApproval(pb.VerifyApprovalRequest(approval_token=token, phone=PHONE), timeout=10)


def race(pods: list, call) -> list:
    """RACERS calls at once, spread over the pods."""
    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(lambda i: call(pods[i % len(pods)]), range(RACERS)))


def assert_exactly_one_valid(answers: list, valid=lambda a: a.valid) -> None:
    assert sum(map(valid, answers)) == 1, [(valid(a), a.reason) for a in answers]
    assert all(a.reason == pb.REASON_ALREADY_USED for a in answers if not valid(a))


def test_without_a_shared_ledger_each_pod_says_valid_once(pods, emulator):
    first, second = pods(backend="memory")
    token = new_approval(emulator)
    assert approve(first, token).valid and approve(second, token).valid  # the platform no longer refuses
    assert approve(first, token).reason == pb.REASON_ALREADY_USED


def test_racing_approval_over_two_pods_is_valid_once(pods, emulator, redis):
    both = pods()
    token = new_approval(emulator)
    assert_exactly_one_valid(race(both, lambda sc: approve(sc, token)))
    claimed = sum(sc.metric("authsidecar_ledger_claims_total", kind="approval", result="claimed") for sc in both)
    assert claimed == 1
    assert redis.command("DBSIZE") == ":1"
    key = f"authsidecar:ledger:approval:{hashlib.sha256(token.encode()).hexdigest()}"
    keys = redis.command("KEYS", "*")
    assert key in keys and token not in keys  # named by the token's hash, never the token
    assert 0 < int(redis.command("PTTL", key).lstrip(":")) <= 300_000  # expires with the approval


def challenge_token(emulator, sc) -> str:
    user = f"usr_{uuid.uuid4().hex[:12]}"
    emulator.http.post(
        "/_control/challenges/users", json={"userId": user, "phoneNumber": "+64271234567"}
    ).raise_for_status()
    tracked = sc.stub.Track(pb.TrackRequest(user_id=user, action="withdraw"), timeout=5)
    reply = emulator.http.post(
        "/_control/challenges/complete",
        json={"userId": user, "action": "withdraw", "idempotencyKey": tracked.idempotency_key, "success": True},
    )
    reply.raise_for_status()
    return reply.json()["token"]


def test_racing_challenge_token_over_two_pods_is_valid_once(pods, emulator):
    both = pods()
    token = challenge_token(emulator, both[0])
    validate = lambda sc: sc.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=token), timeout=10)  # noqa: E731
    assert_exactly_one_valid(race(both, validate), valid=lambda a: a.is_valid)


def totp_user(emulator, sc) -> tuple:
    """(a SecondFactorService stub on sc, a new user's id, that user's current TOTP code)."""
    stub = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    user_id = stub.RegisterUser(
        factors_pb2.RegisterUserRequest(email="u@example.com", country="US", phone="2015550123"), timeout=5
    ).user_id
    return stub, user_id, emulator.http.get(f"/_control/authy/users/{user_id}/totp").json()["code"]


def test_racing_totp_code_over_two_pods_is_valid_once(pods, emulator):
    both = pods()
    stubs = [factors_pb2_grpc.SecondFactorServiceStub(sc.channel) for sc in both]
    _, user_id, code = totp_user(emulator, both[0])
    request = factors_pb2.VerifyTotpRequest(user_id=user_id, code=code)
    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(lambda i: stubs[i % 2].VerifyTotp(request, timeout=10), range(RACERS)))
    assert_exactly_one_valid(answers)


def test_redis_killed_mid_run_fails_closed_and_recovers_without_restart(pods, emulator, redis):
    first, second = pods()
    spent = new_approval(emulator)
    assert approve(first, spent).valid
    tokens = [new_approval(emulator) for _ in range(RACERS)]
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]

    def spread(i: int):
        return approve((first, second)[i % 2], tokens[i // 2])  # each token twice, once per pod

    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(spread, i) for i in range(2 * RACERS)]
        time.sleep(0.05)
        redis.kill()
        answers = [f.result() for f in running]
    for token in tokens:
        pair = [a for i, a in enumerate(answers) if i // 2 == tokens.index(token)]
        assert sum(a.valid for a in pair) <= 1
    refused = [a for a in answers if not a.valid]
    assert refused and all(a.reason in (pb.REASON_ALREADY_USED, pb.REASON_UPSTREAM_UNAVAILABLE) for a in refused)

    fresh = new_approval(emulator)
    down = [approve(sc, fresh) for sc in (first, second)]
    assert not any(a.valid for a in down)
    assert all(a.reason == pb.REASON_UPSTREAM_UNAVAILABLE and a.detail == "ledger unavailable" for a in down)
    replay = approve(second, spent)
    assert not replay.valid
    challenge = challenge_token(emulator, first)
    totp_stub, user_id, code = totp_user(emulator, second)
    for answer, valid in (
        (first.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=challenge), timeout=5), "is_valid"),
        (totp_stub.VerifyTotp(factors_pb2.VerifyTotpRequest(user_id=user_id, code=code), timeout=5), "valid"),
    ):
        assert not getattr(answer, valid) and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE
        assert answer.detail == "ledger unavailable"
    # Read-only answers never wait on the ledger.
    started = time.monotonic()
    verified = second.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=5)
    assert verified.valid and time.monotonic() - started < 0.5
    health = first.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    ledger = [u for u in health.upstreams if u.name == "ledger"]
    assert len(ledger) == 1 and not ledger[0].healthy and not health.healthy
    assert PASSWORD not in ledger[0].detail
    wait_until(
        lambda: first.metric("authsidecar_upstream_circuit_open", upstream="ledger") == 1,
        timeout=5,
        what="the ledger circuit to open",
    )

    redis.start()
    wait_until(lambda: approve(first, fresh).valid, timeout=5, step=0.1, what="a claim after Redis is back")

    def refused_as_used(sc, token: str) -> bool:
        answer = approve(sc, token)  # UNAVAILABLE while this pod's circuit waits for its probe, never valid
        assert not answer.valid
        return answer.reason == pb.REASON_ALREADY_USED

    wait_until(lambda: refused_as_used(second, fresh), timeout=5, step=0.1, what="the second pod's circuit to close")
    assert approve(second, spent).reason == pb.REASON_ALREADY_USED  # the claim survived the kill (AOF)
    won_during_the_kill = [tokens[i // 2] for i, a in enumerate(answers) if a.valid]
    for token in won_during_the_kill:
        assert not approve(first, token).valid and not approve(second, token).valid
    assert second.stub.ValidateChallenge(pb.ValidateChallengeRequest(token=challenge), timeout=5).is_valid
    assert totp_stub.VerifyTotp(factors_pb2.VerifyTotpRequest(user_id=user_id, code=code), timeout=5).valid
    health = first.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    assert [u.healthy for u in health.upstreams if u.name == "ledger"] == [True]


def test_a_hung_redis_fails_closed_within_the_timeout(pods, emulator, redis):
    (only,) = pods(count=1)
    token = new_approval(emulator)
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = approve(only, token)
        took = time.monotonic() - started
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    assert not answer.valid and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    assert took < 2.0  # ledger.timeout_seconds (0.5) plus the platform call, not the RPC deadline
    fresh = new_approval(emulator)
    wait_until(lambda: approve(only, fresh).valid, timeout=5, step=0.1, what="claims to work again")
    # The claim that timed out was queued in Redis and applied once it woke: the token counts as spent
    # though nobody was told "valid" — a lost answer errs towards refusing, never towards a second yes.
    assert approve(only, token).reason == pb.REASON_ALREADY_USED


def test_a_restarted_sidecar_still_refuses_a_token_spent_before(pods, emulator, sidecar_factory):
    (before,) = pods(count=1)
    token = new_approval(emulator)
    assert approve(before, token).valid
    before.stop()
    (after,) = pods(count=1)
    answer = approve(after, token)
    assert not answer.valid and answer.reason == pb.REASON_ALREADY_USED


def test_readiness_reports_the_ledger(pods):
    (sc,) = pods(count=1)
    reply = httpx.get(f"{sc.ops_url}/readyz", timeout=5)
    assert reply.status_code == 200, reply.text
    detail = reply.json()["detail"]
    assert detail["ledger"].startswith("redis redis://127.0.0.1:") and "circuit closed" in detail["ledger"]
    assert PASSWORD not in reply.text


def test_tls_and_auth_through_the_url(sidecar_factory, emulator, redis_binary, tmp_path):
    ca_key, ca_cert, ca_pem, _ = _cert("ledger-ca", ca=True)
    _, _, server_pem, server_key = _cert("localhost", ca_key, ca_cert.subject)
    files = []
    for name, data in (("redis.pem", server_pem), ("redis.key", server_key), ("ca.pem", ca_pem)):
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    server = RedisProcess(redis_binary, tmp_path / "redis-tls", password=PASSWORD, tls=tuple(files))
    try:
        url_file = tmp_path / "ledger-url"  # the whole URL, password included, from a Secret file
        url_file.write_text(f"{server.url}?ssl_ca_certs={files[2]}\n")
        emulator.faults(one_time_enforced=False)
        env = {"AUTHSIDECAR_LEDGER_URL_FILE": str(url_file)}
        both = [sidecar_factory({"ledger": {"backend": "redis"}}, env=env) for _ in range(2)]
        token = new_approval(emulator)
        assert_exactly_one_valid(race(both, lambda sc: approve(sc, token)))
        assert server.command("DBSIZE") == ":1"
        assert PASSWORD not in both[0].log_path.read_text()
    finally:
        server.stop()


# -- row 4 (issue 24): a claim lasts as long as the approval, whatever shape its expiry has -----------

APPROVAL_LIFE = 600  # seconds the answered approval lives
SHORT_SESSION_TTL = 1.0  # the old fallback: the claim lasted only this long


def _approval_answer(expires_at) -> str:
    body = {"valid": True, "action": "transfer", "session_token": "", "phone": PHONE}
    if expires_at is not None:
        body["expires_at"] = expires_at
    return json.dumps(body)


@pytest.mark.parametrize("shape", ["iso", "missing", "garbage"])
def test_row4_claim_outlives_session_ttl_when_expiry_is_not_a_number(pods, emulator, redis, shape):
    """A platform that does not enforce one-time use answers every verification valid; its
    `expires_at` is ISO-8601, absent or unreadable. The claim in Redis must last the approval's life
    (or longer), and pod 2 must refuse it after the session TTL has passed."""
    expiry = {
        "iso": (datetime.now(UTC) + timedelta(seconds=APPROVAL_LIFE)).isoformat(),
        "missing": None,
        "garbage": "next tuesday",
    }[shape]
    first, second = pods(extra={"platform": {"session_cache_ttl_seconds": SHORT_SESSION_TTL}})
    emulator.faults(path_prefix="/v2/approval/verify", answer_status=200, answer_body=_approval_answer(expiry))
    token = f"approval-{uuid.uuid4().hex}"
    assert approve(first, token).valid
    key = f"authsidecar:ledger:approval:{hashlib.sha256(token.encode()).hexdigest()}"
    pttl = int(redis.command("PTTL", key).lstrip(":"))
    assert pttl >= (APPROVAL_LIFE - 30) * 1000, pttl  # at least the approval's life (less the test's own time)
    time.sleep(SHORT_SESSION_TTL * 2 + 0.5)  # past the session TTL the old claim used
    again = approve(second, token)
    assert not again.valid and again.reason == pb.REASON_ALREADY_USED, again


# -- row 15 (issue 24): a logout seen by one pod is honoured by all -----------------------------------


def test_row15_logout_on_pod1_is_honoured_on_pod2(pods, emulator, redis):
    inai = {
        "issuer": f"{emulator.url}/inai",
        "jwks_uri": f"{emulator.url}/inai/.well-known/jwks.json",
        "algorithms": ["ES256"],
        "accept_missing_iss": True,
    }
    first, second = pods(extra={"issuers": emulator_config(emulator.url)["issuers"] + [inai]})
    accounts = factors_pb2_grpc.AccountServiceStub(first.channel)
    tokens = accounts.Login(
        fpb.LoginRequest(email="alice@example.com", password="correct horse battery staple"), timeout=10
    ).tokens
    verify = lambda sc: sc.stub.VerifyToken(pb.VerifyTokenRequest(token=tokens.access_token), timeout=10)  # noqa: E731
    assert verify(second).valid and verify(second).source == pb.SOURCE_CACHE  # pod 2 holds it verified

    accounts.Logout(fpb.LogoutRequest(refresh_token=tokens.refresh_token), timeout=10)
    assert verify(first).reason == pb.REASON_REVOKED
    wait_until(lambda: verify(second).reason == pb.REASON_REVOKED, timeout=10, what="pod 2 honours the logout")
    assert tokens.access_token not in " ".join(redis.command("KEYS", "*"))  # ids are hashes, never the token
    # A pod started after the logout learns it too (it reads the fleet's log from the start).
    (third,) = pods(count=1, extra={"issuers": emulator_config(emulator.url)["issuers"] + [inai]})
    wait_until(lambda: verify(third).reason == pb.REASON_REVOKED, timeout=10, what="a new pod honours it")


@pytest.mark.long
def test_a_pod_that_cannot_read_the_fleets_logouts_answers_no_token_valid(pods, emulator, redis):
    # Another pod's logout is only known here through Redis: while the log can't be read, a token this
    # pod still holds verified may have been logged out elsewhere, so none is answered valid.
    (pod,) = pods(count=1)
    token = emulator.http.post("/_control/jwks/issuers/main/mint", json={}).json()["token"]
    verify = lambda: pod.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=10)  # noqa: E731
    wait_until(lambda: verify().valid, timeout=10, what="valid while the fleet's log is read")
    assert httpx.get(f"{pod.ops_url}/readyz", timeout=5).status_code == 200

    redis.kill()
    stale = 15.0  # core/accounts/logout_revocations.py STALE_SECONDS
    wait_until(
        lambda: verify().reason == pb.REASON_UPSTREAM_UNAVAILABLE, timeout=stale + 20, what="stale log fails closed"
    )
    answer = verify()
    assert not answer.valid and "logout revocations" in answer.detail
    ready = httpx.get(f"{pod.ops_url}/readyz", timeout=5)
    assert ready.status_code == 503 and "logout_revocations" in ready.text
    assert pod.metric("authsidecar_logout_revocations_seconds_since_sync") > stale

    redis.start()
    wait_until(lambda: verify().valid, timeout=30, what="valid again once the log is read")
    assert httpx.get(f"{pod.ops_url}/readyz", timeout=5).status_code == 200
