"""The circuit breaker bounds traffic to a failing upstream and recovers by itself."""

from __future__ import annotations

import asyncio

from sidecar.core.circuit import CircuitBreaker, CircuitState


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_fails_fast():
    clock = Clock()
    cb = CircuitBreaker("platform", failure_threshold=3, open_seconds=5, clock=clock)
    for _ in range(2):
        assert cb.allow()
        cb.record_failure()
    assert cb.state is CircuitState.CLOSED
    cb.record_success()              # a success resets the run of failures
    for _ in range(3):
        assert cb.allow()
        cb.record_failure()
    assert cb.state is CircuitState.OPEN
    assert not any(cb.allow() for _ in range(1000))
    assert 0 < cb.retry_after() <= 5


def test_while_down_at_most_one_probe_per_open_interval():
    clock = Clock()
    cb = CircuitBreaker("platform", failure_threshold=1, open_seconds=2, clock=clock)
    cb.allow()
    cb.record_failure()
    sent = 0
    for _ in range(80):              # 10 simulated seconds, 10 attempts per 0.125 s
        clock.now += 0.125
        for _ in range(10):
            if cb.allow():
                sent += 1
                cb.record_failure()
    assert sent == 5                 # one probe per 2 s over 10 s


def test_half_open_probe_success_closes():
    clock = Clock()
    changes = []
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock,
                        on_change=lambda name, state: changes.append(state))
    cb.allow()
    cb.record_failure()
    clock.now += 1
    assert cb.allow() and not cb.allow()   # one probe at a time
    cb.record_success()
    assert cb.state is CircuitState.CLOSED and cb.allow()
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


async def test_a_probe_abandoned_by_its_caller_releases_the_circuit_instead_of_reopening_it():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    cb.allow()
    cb.record_failure()
    for _ in range(3):                               # one short-deadline caller per open interval
        clock.now += 1
        probe = asyncio.ensure_future(cb.call(asyncio.sleep(10)))
        await asyncio.sleep(0)
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)
        assert cb.state is CircuitState.HALF_OPEN    # not re-opened: the caller said nothing about the upstream
    assert await cb.call(asyncio.sleep(0, "answer")) == "answer"   # the next call may probe at once
    assert cb.state is CircuitState.CLOSED


async def test_a_call_admitted_before_the_outage_does_not_release_a_later_probe():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    old = asyncio.ensure_future(cb.call(asyncio.sleep(10)))     # admitted while closed
    await asyncio.sleep(0)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    assert cb.allow()                                # the probe is in flight now
    old.cancel()
    await asyncio.gather(old, return_exceptions=True)
    assert not cb.allow()                            # still one probe at a time
