"""The circuit breaker bounds traffic to a failing upstream and recovers by itself."""

from __future__ import annotations

import asyncio

from sidecar.core.shared import circuit
from sidecar.core.shared.circuit import CircuitBreaker, CircuitState
from sidecar.core.shared.outcomes import UpstreamError


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
    cb.record_success()  # a success resets the run of failures
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
    for _ in range(80):  # 10 simulated seconds, 10 attempts per 0.125 s
        clock.now += 0.125
        for _ in range(10):
            if cb.allow():
                sent += 1
                cb.record_failure()
    assert sent == 5  # one probe per 2 s over 10 s


def test_half_open_probe_success_closes():
    clock = Clock()
    changes = []
    cb = CircuitBreaker(
        "c", failure_threshold=1, open_seconds=1, clock=clock, on_change=lambda name, state: changes.append(state)
    )
    cb.allow()
    cb.record_failure()
    clock.now += 1
    assert cb.allow() and not cb.allow()  # one probe at a time
    cb.record_success()
    assert cb.state is CircuitState.CLOSED and cb.allow()
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


async def _abandon(cb: CircuitBreaker, upstream) -> None:
    """A caller with a tiny deadline: it sends the probe and leaves before the answer."""
    caller = asyncio.ensure_future(cb.call(upstream))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)


async def _answer(after: float, error: UpstreamError | None = None) -> str:
    await asyncio.sleep(after)
    if error is not None:
        raise error
    return "answer"


async def test_row18_an_abandoned_probe_runs_on_and_its_answer_closes_the_circuit():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    await _abandon(cb, _answer(0.05))  # the upstream is healthy but slower than the caller
    assert cb.state is CircuitState.HALF_OPEN and not cb.allow()  # the probe still runs: one at a time
    for _ in range(20):  # more short-deadline callers meanwhile: no new probe
        await _abandon(cb, _answer(0.05))
    await asyncio.sleep(0.2)
    assert cb.state is CircuitState.CLOSED  # the abandoned probe's answer closed it
    assert await cb.call(_answer(0)) == "answer"


async def test_row18_an_abandoned_probe_that_fails_reopens_the_circuit():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    await _abandon(cb, _answer(0.05, UpstreamError("c", 503, "down")))
    await asyncio.sleep(0.2)
    assert cb.state is CircuitState.OPEN and not cb.allow()
    clock.now += 1
    await _abandon(cb, _answer(0.05, UpstreamError("c", 404, "an answer")))  # a 4xx is an answer
    await asyncio.sleep(0.2)
    assert cb.state is CircuitState.CLOSED


async def test_row18_a_probe_that_ends_without_an_answer_lets_the_next_call_probe(monkeypatch):
    monkeypatch.setattr(circuit, "PROBE_MAX_SECONDS", 0.05)  # the backstop for a probe that never ends
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    await _abandon(cb, asyncio.sleep(3600))
    await asyncio.sleep(0.3)
    assert cb.state is CircuitState.HALF_OPEN and not cb._probes
    assert await cb.call(_answer(0)) == "answer"
    assert cb.state is CircuitState.CLOSED


async def test_a_probe_whose_caller_waits_gets_its_answer_and_error():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    try:
        await cb.call(_answer(0, UpstreamError("c", 503, "down")))
    except UpstreamError as exc:
        assert exc.status == 503
    else:
        raise AssertionError("the probe's error reaches its caller")
    assert cb.state is CircuitState.OPEN
    clock.now += 1
    assert await cb.call(_answer(0)) == "answer" and cb.state is CircuitState.CLOSED


async def test_a_call_admitted_before_the_outage_does_not_release_a_later_probe():
    clock = Clock()
    cb = CircuitBreaker("c", failure_threshold=1, open_seconds=1, clock=clock)
    old = asyncio.ensure_future(cb.call(asyncio.sleep(10)))  # admitted while closed
    await asyncio.sleep(0)
    cb.allow()
    cb.record_failure()
    clock.now += 1
    assert cb.allow()  # the probe is in flight now
    old.cancel()
    await asyncio.gather(old, return_exceptions=True)
    assert not cb.allow()  # still one probe at a time
