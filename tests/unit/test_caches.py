"""TtlLru, SingleFlight, OneTimeLedger with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.core.onetime.consumed import OneTimeLedger
from sidecar.core.shared.caches import SHARED_VALUES_MAX, SingleFlight, TtlLru, TtlRecords, TtlShared


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ttl_lru_expires_and_evicts_least_recent():
    clock, evicted = Clock(), []
    cache = TtlLru(2, clock, on_evict=lambda: evicted.append(1))
    cache.put("a", 1, ttl=10)
    cache.put("b", 2, ttl=10)
    assert cache.get("a") == 1  # a is now most recent
    cache.put("c", 3, ttl=10)  # evicts b
    assert cache.get("b") is None and cache.get("a") == 1 and len(evicted) == 1
    clock.now += 10
    assert cache.get("a") is None and len(cache) == 1


def test_ttl_lru_full_evicts_the_least_recently_used_first():
    clock, evicted = Clock(), []
    cache = TtlLru(1000, clock, on_evict=lambda: evicted.append(1))
    for i in range(1000):
        cache.put(i, i, ttl=10)
    for i in range(100):  # the oldest hundred are used again
        assert cache.get(i) == i
    cache.put(1000, 1000, ttl=10)
    assert 1000 - 1000 // TtlLru.EVICT_SHARE <= len(cache) <= 1000  # a small batch goes at once
    assert len(evicted) == 1001 - len(cache)
    assert all(cache.get(i) == i for i in range(100)) and cache.get(1000) == 1000
    assert cache.get(100) is None  # the least recently used went first
    assert cache.get(100 + len(evicted)) == 100 + len(evicted)  # and no more than the batch


def test_ttl_lru_put_replaces_and_a_non_positive_ttl_forgets():
    clock = Clock()
    cache = TtlLru(3, clock)
    cache.put("a", 1, ttl=10)
    cache.put("a", 2, ttl=1)
    assert cache.get("a") == 2 and len(cache) == 1
    clock.now += 1
    assert cache.get("a") is None and len(cache) == 0  # an expired entry is gone once looked up
    cache.put("b", 1, ttl=10)
    cache.put("b", 1, ttl=0)
    assert "b" not in cache and len(cache) == 0


def test_ttl_shared_keeps_a_bounded_table_of_the_values_in_use():
    # Values come and go (rotated keys): the table of shared values is renumbered when it fills,
    # and every entry still answers its own value.
    clock = Clock()
    cache = TtlShared(100, clock)
    values = [object() for _ in range(5000)]
    for i, v in enumerate(values):
        cache.put(i, v, ttl=10)
    assert len(cache._values) <= 2 * SHARED_VALUES_MAX
    assert all(cache.get(i) is values[i] for i in range(4900, 5000))
    assert cache.pop(4999) is values[4999] and cache.get(4999) is None
    clock.now += 10
    assert cache.get(4998) is None


def test_ttl_records_store_fields_flat_with_the_deadline():
    clock = Clock()
    cache = TtlRecords(2, clock)
    cache.put("a", ("+14155552671", 123.0), ttl=5)
    assert cache.get("a") == ("+14155552671", 123.0)
    assert cache.discard_where(lambda k, fields: fields[1] == 123.0) == 1 and len(cache) == 0


async def test_single_flight_shares_one_call():
    calls = 0
    gate = asyncio.Event()

    async def fetch():
        nonlocal calls
        calls += 1
        await gate.wait()
        return "v"

    flight = SingleFlight()
    tasks = [asyncio.create_task(flight.do("k", fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == ["v"] * 50 and calls == 1 and len(flight) == 0


async def test_single_flight_shares_failures_then_retries():
    async def boom():
        raise RuntimeError("down")

    flight = SingleFlight()
    with pytest.raises(RuntimeError):
        await flight.do("k", boom)

    async def ok():
        return 1

    assert await flight.do("k", ok) == 1


def test_one_time_ledger_first_consumer_wins_until_expiry():
    clock = Clock()
    ledger = OneTimeLedger(10, clock)
    assert ledger.consume("h", ttl=30) is True
    assert ledger.consume("h", ttl=30) is False and ledger.is_used("h")
    clock.now += 31
    assert not ledger.is_used("h")


def test_one_time_ledger_remembers_used_without_claiming():
    ledger = OneTimeLedger(10, Clock())
    ledger.remember_used("h", ttl=30)
    assert ledger.is_used("h")
    assert ledger.consume("h", ttl=30) is True  # the caller the upstream said "valid" to still wins
    assert ledger.consume("h", ttl=30) is False
    ledger.remember_used("h", ttl=30)  # and a later "used" never un-claims it
    assert ledger.consume("h", ttl=30) is False


def test_one_time_ledger_release_takes_back_only_a_claim():
    ledger = OneTimeLedger(10, Clock())
    ledger.consume("h", ttl=30)
    ledger.release("h")
    assert not ledger.is_used("h") and ledger.consume("h", ttl=30) is True
    ledger.remember_used("u", ttl=30)
    ledger.release("u")  # "used elsewhere" is not this process's to take back
    assert ledger.is_used("u")


async def test_single_flight_survives_the_leader_giving_up():
    gate = asyncio.Event()
    calls = 0

    async def fetch():
        nonlocal calls
        calls += 1
        await gate.wait()
        return "v"

    flight = SingleFlight()
    leader = asyncio.create_task(flight.do("k", fetch))
    await asyncio.sleep(0)
    follower = asyncio.create_task(flight.do("k", fetch))
    await asyncio.sleep(0)
    leader.cancel()  # the first caller's deadline passes
    await asyncio.sleep(0)
    gate.set()
    assert await follower == "v" and calls == 1
    assert leader.cancelled() and len(flight) == 0
