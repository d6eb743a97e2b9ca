"""One-time claims (core/onetime/ledger.py): the local ledger in front, the shared one deciding, failing closed.

The shared store here is a small in-process stand-in with Redis's SET NX PX semantics, to pin the
ordering and the failure rules; tests/e2e/test_shared_ledger.py runs the same code against a real
redis-server and two sidecar processes.
"""

from __future__ import annotations

import asyncio

import pytest

from sidecar.config import ConfigError, load
from sidecar.core.challenges.verifier import ChallengeVerifier
from sidecar.core.factors.second_factors import SecondFactors
from sidecar.core.onetime.ledger import MAX_TTL, Claim, OneTimeClaims, SharedLedger
from sidecar.core.shared.hashing import token_key
from sidecar.core.shared.outcomes import Reason, UpstreamError
from tests.unit.test_challenges_core import FakePlatform
from tests.unit.test_second_factors import FakeAuthy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """SET NX PX over a dict; `down` makes every command fail as an unreachable Redis would."""

    where = "redis://test:6379/0"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.keys: dict[str, float] = {}
        self.calls: list[tuple[str, int]] = []
        self.down = False

    async def set_if_absent(self, key: str, ttl_ms: int) -> bool:
        self.calls.append((key, ttl_ms))
        await asyncio.sleep(0)  # a real round trip yields to the loop
        if self.down:
            raise UpstreamError("ledger", 0, "ledger unavailable: set failed: ConnectionError")
        if self.keys.get(key, 0) > self.clock():
            return False
        self.keys[key] = self.clock() + ttl_ms / 1000
        return True

    async def ping(self) -> None:
        if self.down:
            raise UpstreamError("ledger", 0, "ledger unavailable: ping failed: ConnectionError")

    async def aclose(self) -> None:
        return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock) -> Store:
    return Store(clock)


def pod(store: Store, clock: Clock, kind: str = "approval") -> OneTimeClaims:
    return OneTimeClaims(kind, 1000, clock, SharedLedger(store, "p:", clock))


async def test_memory_backend_claims_once_per_process(clock):
    claims = OneTimeClaims("approval", 1000, clock)
    key = token_key("tok")
    assert await claims.claim(key, 30) is Claim.FIRST
    assert await claims.claim(key, 30) is Claim.ALREADY_USED
    assert claims.is_used(key)


async def test_racing_claims_in_one_pod_ask_the_shared_ledger_once(store, clock):
    claims = pod(store, clock)
    results = await asyncio.gather(*(claims.claim(token_key("tok"), 30) for _ in range(20)))
    assert results.count(Claim.FIRST) == 1 and results.count(Claim.ALREADY_USED) == 19
    assert len(store.calls) == 1


async def test_a_token_claimed_by_another_pod_is_already_used_and_remembered(store, clock):
    first, second = pod(store, clock), pod(store, clock)
    key = token_key("tok")
    assert await first.claim(key, 30) is Claim.FIRST
    assert await second.claim(key, 30) is Claim.ALREADY_USED
    assert second.is_used(key)  # the next replay at this pod needs no round trip


async def test_key_is_prefix_kind_and_hash_and_ttl_is_bounded(store, clock):
    claims = pod(store, clock, kind="totp")
    await claims.claim(token_key("secret-token"), 0.2)
    await claims.claim(token_key("other"), 10 * MAX_TTL)
    (key, short), (_, long) = store.calls
    assert key == "p:totp:" + token_key("secret-token").hex() and "secret-token" not in key
    assert short == 1000 and long == int(MAX_TTL * 1000)


async def test_ledger_down_fails_closed_and_the_token_stays_claimable(store, clock):
    claims = pod(store, clock)
    key = token_key("tok")
    store.down = True
    assert await claims.claim(key, 30) is Claim.UNAVAILABLE
    assert not claims.is_used(key)  # the local mark was taken back: the shared ledger decides later
    store.down = False
    assert await claims.claim(key, 30) is Claim.FIRST
    assert await claims.claim(key, 30) is Claim.ALREADY_USED


async def test_the_circuit_opens_and_spares_the_ledger_then_recovers(store, clock):
    shared = SharedLedger(store, "p:", clock)
    shared.circuit.failure_threshold, shared.circuit.open_seconds = 2, 5.0
    claims = OneTimeClaims("challenge", 1000, clock, shared)
    store.down = True
    for i in range(2):
        assert await claims.claim(token_key(f"t{i}"), 30) is Claim.UNAVAILABLE
    asked = len(store.calls)
    assert await claims.claim(token_key("t9"), 30) is Claim.UNAVAILABLE
    assert len(store.calls) == asked  # open: not asked at all
    store.down = False
    clock.now += 5.0
    assert await claims.claim(token_key("t9"), 30) is Claim.FIRST  # the half-open probe closes it


async def test_a_caller_leaving_mid_claim_releases_the_local_mark(store, clock):
    claims = pod(store, clock)
    key = token_key("tok")
    task = asyncio.ensure_future(claims.claim(key, 30))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not claims.is_used(key)


async def test_health_and_readiness_report_the_ledger_without_credentials(store, clock):
    shared = SharedLedger(store, "p:", clock)
    assert shared.readiness() == (False, "redis redis://test:6379/0 not yet answered")
    (health,) = await shared.health()
    assert health.healthy and shared.readiness()[0]
    store.down = True
    (health,) = await shared.health()
    assert not health.healthy and "ledger unavailable" in health.detail


def test_config_ledger_fields(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    s = load(
        env={
            "AUTHSIDECAR_LEDGER_BACKEND": "redis",
            "AUTHSIDECAR_LEDGER_URL": "rediss://cache:6380/2",
            "AUTHSIDECAR_LEDGER_PASSWORD_FILE": str(secret),
        }
    )
    assert (s.ledger.backend, s.ledger.url, s.ledger.password) == ("redis", "rediss://cache:6380/2", "s3cret")
    assert load(env={}).ledger.backend == "memory"
    with pytest.raises(ConfigError) as err:
        load(env={"AUTHSIDECAR_LEDGER_BACKEND": "redis"})
    assert "ledger.url: is required when ledger.backend is redis" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load(
            env={
                "AUTHSIDECAR_LEDGER_BACKEND": "etcd",
                "AUTHSIDECAR_LEDGER_URL": "http://u:hunter2@x",
                "AUTHSIDECAR_LEDGER_KEY_PREFIX": "bad prefix!",
                "AUTHSIDECAR_LEDGER_TIMEOUT_SECONDS": "0",
            }
        )
    text = str(err.value)
    for field in ("ledger.backend", "ledger.url", "ledger.key_prefix", "ledger.timeout_seconds"):
        assert field in text, field
    assert "hunter2" not in text


async def test_every_one_time_verifier_fails_closed_when_the_ledger_is_down(store, clock):
    shared = SharedLedger(store, "p:", clock)
    challenges = ChallengeVerifier(FakePlatform(), clock=clock, ledger=shared)
    factors = SecondFactors(FakeAuthy(), clock=clock, ledger=shared)
    store.down = True
    challenge = await challenges.validate("chl_1", None, None)
    totp = await factors.verify_totp("42", "1234567")
    for verdict in (challenge.verdict, totp):
        assert not verdict.valid and verdict.reason is Reason.UPSTREAM_UNAVAILABLE
        assert verdict.detail == "ledger unavailable"
    store.down = False
    assert (await challenges.validate("chl_1", None, None)).verdict.valid  # claimable once it is back
    assert (await factors.verify_totp("42", "1234567")).valid
    assert (await factors.verify_totp("42", "1234567")).reason is Reason.ALREADY_USED
    assert [key.split(":")[1] for key in store.keys] == ["challenge", "totp"]


@pytest.mark.parametrize(
    "url, problem",
    [
        ("redis://cache:6379/x", "the database (the URL's path) must be a number"),
        ("redis://cache:99999/0", "is not a valid Redis URL"),
        ("redis://cache/0?timeout=soon", "is not a valid Redis URL"),
        ("redis://:hunter2@:6379/0", "needs a host"),
        ("unix://", "needs the socket's path"),
    ],
)
def test_config_refuses_urls_redis_would_refuse_or_misread(url, problem):
    with pytest.raises(ConfigError) as err:
        load(env={"AUTHSIDECAR_LEDGER_BACKEND": "redis", "AUTHSIDECAR_LEDGER_URL": url})
    assert f"ledger.url: {problem}" in str(err.value) and "hunter2" not in str(err.value)
