"""TtlLru, SingleFlight, OneTimeLedger with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.core.caches import OneTimeLedger, SingleFlight, TtlLru


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
    assert cache.get("a") == 1          # a is now most recent
    cache.put("c", 3, ttl=10)           # evicts b
    assert cache.get("b") is None and cache.get("a") == 1 and len(evicted) == 1
    clock.now += 10
    assert cache.get("a") is None and len(cache) == 1


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
    assert ledger.consume("h", ttl=30) is True   # the caller the upstream said "valid" to still wins
    assert ledger.consume("h", ttl=30) is False
    ledger.remember_used("h", ttl=30)            # and a later "used" never un-claims it
    assert ledger.consume("h", ttl=30) is False


def test_one_time_ledger_release_takes_back_only_a_claim():
    ledger = OneTimeLedger(10, Clock())
    ledger.consume("h", ttl=30)
    ledger.release("h")
    assert not ledger.is_used("h") and ledger.consume("h", ttl=30) is True
    ledger.remember_used("u", ttl=30)
    ledger.release("u")                          # "used elsewhere" is not this process's to take back
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
    leader.cancel()                     # the first caller's deadline passes
    await asyncio.sleep(0)
    gate.set()
    assert await follower == "v" and calls == 1
    assert leader.cancelled() and len(flight) == 0
