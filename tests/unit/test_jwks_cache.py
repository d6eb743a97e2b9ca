"""JwksCache: TTL/refresh-ahead, unknown-kid cooldown + single flight + negative cache, staleness, removal.

A fake fetch counts calls; time moves through a fake clock (no sockets, no sleeping).
"""

from __future__ import annotations

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sidecar.core.shared.outcomes import Reason, UpstreamError
from sidecar.core.tokens.jwks_cache import FetchedKeys, JwksCache, usable_keys
from sidecar.emulator.issuers import BAD_KEYS, Issuer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeJwks:
    """The issuer's JWKS as a fetch(): counts calls; can fail or hold a fetch open."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.calls = 0
        self.down = False
        self.max_age: float | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> FetchedKeys:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise UpstreamError("jwks", 503, "down")
        return FetchedKeys([k.public_jwk() for k in self.issuer.keys] + self.issuer.extra_jwks, self.max_age)


@pytest.fixture
def issuer() -> Issuer:
    i = Issuer("main", "ES256")
    i.add_key()
    return i


def make(fake: FakeJwks, clock: Clock, **kw) -> JwksCache:
    opts = dict(ttl=300.0, min_ttl=60.0, max_ttl=3600.0, cooldown=30.0, max_stale=86400.0)
    return JwksCache("iss", fake, clock=clock, **{**opts, **kw})


async def test_first_get_loads_and_later_gets_use_the_cache(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    assert not cache.loaded
    for _ in range(5):
        assert (await cache.get(issuer.current.kid)).key is not None
    assert fake.calls == 1


async def test_refresh_ahead_schedule_honours_max_age_within_bounds(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    fake.max_age = 100
    await cache.refresh()
    assert cache.seconds_until_refresh() == pytest.approx(80)  # 80 % of max-age
    fake.max_age = 0  # no-cache / max-age=0 must not turn every call into a fetch
    await cache.refresh()
    assert cache.seconds_until_refresh() == pytest.approx(48)  # 80 % of min_ttl
    fake.max_age = 10**9
    await cache.refresh()
    assert cache.seconds_until_refresh() == pytest.approx(0.8 * 3600)


async def test_run_loop_refetches_on_schedule(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock, ttl=100)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        if len(waits) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await cache.run(sleep)
    assert fake.calls == 3 and waits == [pytest.approx(80)] * 3


async def test_unknown_kid_flood_costs_one_fetch_per_cooldown(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    await cache.refresh()
    fake.calls = 0
    results = await asyncio.gather(*(cache.get(f"random-{i}") for i in range(200)))
    assert all(r.reason is Reason.UNKNOWN_KEY for r in results)
    assert fake.calls == 1
    for i in range(200, 400):
        await cache.get(f"random-{i}")
    assert fake.calls == 1  # still inside the cooldown
    clock.now += 30
    await cache.get("random-next")
    assert fake.calls == 2


async def test_concurrent_misses_share_one_fetch_and_find_a_rotated_key(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    await cache.refresh()
    new = issuer.add_key()
    fake.gate = asyncio.Event()
    lookups = [asyncio.create_task(cache.get(new.kid)) for _ in range(50)]
    await asyncio.sleep(0)
    fake.gate.set()
    results = await asyncio.gather(*lookups)
    assert all(r.key is not None and r.key.kid == new.kid for r in results)
    assert fake.calls == 2  # the first load and one shared refetch


async def test_rotation_right_after_a_background_refresh_is_found(issuer):
    """The cooldown counts miss-triggered fetches only: a routine refresh doesn't hide a new key."""
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    await cache.refresh()
    clock.now += 1
    new = issuer.add_key()
    assert (await cache.get(new.kid)).key is not None


async def test_negative_cache_is_cleared_when_the_kid_appears(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    await cache.refresh()
    assert (await cache.get("later")).reason is Reason.UNKNOWN_KEY
    issuer.extra_jwks.append({**issuer.current.public_jwk(), "kid": "later"})
    await cache.refresh()  # the background loop's refresh
    assert (await cache.get("later")).key is not None


async def test_failed_fetch_keeps_last_good_keys_until_max_stale(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    removed: list[set[str]] = []
    cache = make(fake, clock, max_stale=3600, on_removed=removed.append)
    await cache.refresh()
    kid = issuer.current.kid
    fake.down = True
    assert await cache.refresh() is False
    assert (await cache.get(kid)).key is not None and cache.last_error
    clock.now += 3599
    assert (await cache.get(kid)).key is not None
    clock.now += 2
    lookup = await cache.get(kid)
    assert lookup.key is None and lookup.reason is Reason.UPSTREAM_UNAVAILABLE
    assert cache.all_keys() == [] and removed == []
    fake.down = False
    clock.now += 60  # past the backoff
    assert (await cache.get(kid)).key is not None


async def test_failures_back_off_exponentially(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    fake.down = True
    delays = []
    for _ in range(4):
        await cache.refresh()
        delays.append(cache.seconds_until_refresh())
    assert delays == [0.5, 1.0, 2.0, 4.0]
    fake.calls = 0
    await cache.get("x")  # inside the backoff: a call does not add a fetch
    assert fake.calls == 0


async def test_removed_and_changed_keys_are_reported(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    removed: list[set[str]] = []
    cache = make(fake, clock, on_removed=removed.append)
    await cache.refresh()
    old = issuer.current.kid
    issuer.add_key()
    issuer.keys = [k for k in issuer.keys if k.kid != old]
    await cache.refresh()
    assert removed == [{old}]
    assert (await cache.get(old)).key is None


def test_usable_keys_skips_keys_not_meant_for_verification(issuer):
    good = issuer.current.public_jwk()
    private = Issuer("x", "ES256")
    private_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(private.add_key().private, as_dict=True), "kid": "priv"}
    raw = [
        good,
        {**good, "kid": "enc", "use": "enc"},
        {**good, "kid": "ops", "key_ops": ["encrypt"]},
        {**good, "kid": "ops-ok", "key_ops": ["verify"]},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        private_jwk,
        {"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad", "kid": "broken"},
        {**good, "kid": 7},
        "not a key",
    ]
    assert set(usable_keys(raw)) == {good["kid"], "ops-ok"}


def test_short_rsa_keys_are_not_used():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak"}
    assert usable_keys([jwk]) == {}


async def test_long_random_kids_are_remembered_without_refetching(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    await cache.refresh()
    long_kid = "k" * 5000
    assert (await cache.get(long_kid)).reason is Reason.UNKNOWN_KEY
    assert (await cache.get(long_kid)).detail == "unknown kid (recently looked up)"
    assert fake.calls == 2


async def test_a_cancelled_caller_does_not_fail_the_others_sharing_a_fetch(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    fake.gate = asyncio.Event()
    leader = asyncio.create_task(cache.get(issuer.current.kid))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.get(issuer.current.kid))
    await asyncio.sleep(0)
    leader.cancel()  # e.g. the first caller's RPC deadline passed
    await asyncio.sleep(0)
    fake.gate.set()
    assert (await follower).key is not None
    assert leader.cancelled() and fake.calls == 1 and cache.loaded


async def test_a_document_of_only_unusable_keys_is_a_failed_fetch_not_an_empty_key_set(issuer):
    """Garbage keys (bad fields, unknown kty, symmetric) must not wipe the last good keys."""
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock, max_stale=100.0)
    good = issuer.current.kid
    assert await cache.refresh()
    issuer.keys, issuer.extra_jwks = [], list(BAD_KEYS)
    assert not await cache.refresh()
    assert "none usable" in cache.last_error
    assert (await cache.get(good)).key is not None  # last good keys, until max staleness
    clock.now += 101
    lookup = await cache.get(good)
    assert lookup.key is None and lookup.reason is Reason.UPSTREAM_UNAVAILABLE
    assert "none usable" in lookup.detail  # the caller learns why


async def test_usable_keys_next_to_garbage_are_installed(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    issuer.extra_jwks = list(BAD_KEYS)
    assert await cache.refresh()
    assert cache.kids == [issuer.current.kid]


async def test_an_explicitly_empty_key_set_is_installed(issuer):
    fake, clock = FakeJwks(issuer), Clock()
    cache = make(fake, clock)
    kid = issuer.current.kid
    assert await cache.refresh()
    issuer.keys = []
    assert await cache.refresh()
    assert (await cache.get(kid)).reason is Reason.UNKNOWN_KEY
