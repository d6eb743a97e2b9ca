"""A circuit breaker per upstream: stop hammering an upstream that keeps failing, recover on its own.

closed     requests flow; `failure_threshold` failures in a row open the circuit.
open       requests fail fast (the caller answers fail-closed) for `open_seconds`.
half-open  one probe request at a time is let through; success closes, failure re-opens.

So while an upstream is down it sees at most one request per `open_seconds` from this sidecar.
Only failures that say the upstream is unwell count (no answer, 5xx, 429) — a 4xx is an answer.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .. import logs, metrics
from ..config import CircuitSettings
from .outcomes import UpstreamError

T = TypeVar("T")


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 5, open_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str, CircuitState], None] | None = None) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def configure(self, settings: CircuitSettings) -> None:
        """Take the `circuit.*` settings (every upstream's breaker shares them; again on live reload)."""
        self.failure_threshold = settings.failure_threshold
        self.open_seconds = settings.open_seconds
        # Exported from now on (0 while closed), not only after the first change: dashboards draw it.
        metrics.UPSTREAM_CIRCUIT_OPEN.labels(self.name).set(0 if self._state is CircuitState.CLOSED else 1)

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.open_seconds:
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """May a request go to the upstream now? In half-open, only one probe at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probe_in_flight = False
        if self._state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def release_probe(self) -> None:
        """The probe ended without an answer about the upstream: let the next call probe instead."""
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._probe_in_flight = False
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(CircuitState.OPEN)

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await one upstream call through the breaker; fails fast with UpstreamError while open.

        Only "unavailable" failures (no answer, 5xx, 429) count against the upstream; a 4xx is an answer.
        """
        if not self.allow():
            awaitable.close()  # type: ignore[attr-defined]  # never awaited: no dangling coroutine
            raise UpstreamError(self.name, 0, f"circuit open after repeated failures; next try in "
                                              f"{self.retry_after():.1f}s")
        probe = self._state is CircuitState.HALF_OPEN  # allow() just let this call through as the probe
        try:
            result = await awaitable
        except UpstreamError as exc:
            if exc.unavailable:
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            # The caller gave up (deadline, cancel): that says nothing about the upstream. An
            # abandoned half-open probe is released (state unchanged), so the next call may probe;
            # re-opening here would let short-deadline callers keep the circuit open for ever.
            if probe:
                self.release_probe()
            raise
        self.record_success()
        return result

    def retry_after(self) -> float:
        """Seconds until the next probe may go (0 when closed)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.open_seconds - (self._clock() - self._opened_at))

    def _set(self, state: CircuitState) -> None:
        self._state = state
        if self._on_change:
            self._on_change(self.name, state)


def log_circuit_change(name: str, state: CircuitState) -> None:
    """The default observer: a log line and the circuit-state gauge."""
    logs.get("circuit").warning("circuit %s", state.value, extra={"upstream": name, "circuit": state.value})
    metrics.UPSTREAM_CIRCUIT_OPEN.labels(name).set(0 if state is CircuitState.CLOSED else 1)
