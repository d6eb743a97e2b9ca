"""A circuit breaker per upstream: stop hammering an upstream that keeps failing, recover on its own.

closed     requests flow; `failure_threshold` failures in a row open the circuit.
open       requests fail fast (the caller answers fail-closed) for `open_seconds`.
half-open  one probe request at a time is let through; success closes, failure re-opens.

So while an upstream is down it sees at most one request per `open_seconds` from this sidecar.
Only failures that say the upstream is unwell count (no answer, 5xx, 429) — a 4xx is an answer.

A half-open probe runs as its own task, shielded from its caller: a caller that gives up (deadline,
cancel) leaves, the probe runs on to the upstream's answer (bounded by the upstream's own timeout, and
by PROBE_MAX_SECONDS here) and that answer closes or re-opens the circuit. Otherwise callers with
deadlines shorter than the upstream's latency would abandon every probe and keep a healthy upstream's
circuit open for everyone. At most one probe per circuit is in flight, so at most one runs on.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sidecar.config.settings import CircuitSettings
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.observability import logs, metrics

T = TypeVar("T")

# A backstop for a probe nobody waits for any more: every upstream request has its own, shorter timeout.
PROBE_MAX_SECONDS = 60.0


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        open_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, CircuitState], None] | None = None,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        # Held, so a probe whose caller left is not garbage-collected mid-flight (the loop keeps only weak
        # references). Normally one; a second only if a call admitted earlier closed the circuit meanwhile.
        self._probes: set[asyncio.Task] = set()

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
            raise UpstreamError(
                self.name, 0, f"circuit open after repeated failures; next try in {self.retry_after():.1f}s"
            )
        if self._state is CircuitState.HALF_OPEN:  # allow() just let this call through as the probe
            probe = asyncio.ensure_future(self._run_probe(awaitable))
            self._probes.add(probe)
            probe.add_done_callback(self._probes.discard)
            probe.add_done_callback(_retrieve)
            # The caller may leave (deadline, cancel); the probe runs on and still decides the state.
            return await asyncio.shield(probe)
        try:
            result = await awaitable
        except UpstreamError as exc:
            if exc.unavailable:
                self.record_failure()
            else:
                self.record_success()
            raise
        # A caller that gave up (deadline, cancel) says nothing about the upstream: nothing recorded.
        self.record_success()
        return result

    async def _run_probe(self, awaitable: Awaitable[T]) -> T:
        """The half-open probe, recorded whether or not its caller still waits for it."""
        try:
            async with asyncio.timeout(PROBE_MAX_SECONDS):
                result = await awaitable
        except UpstreamError as exc:
            if exc.unavailable:
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            # Not an answer (the sidecar shutting down, the backstop, a bug): let the next call probe.
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


def _retrieve(probe: asyncio.Future) -> None:
    # A probe whose caller left has nobody to raise to (shield drops its interest): its error is
    # recorded in the state already, so mark it seen rather than log "exception never retrieved".
    if not probe.cancelled():
        probe.exception()


def log_circuit_change(name: str, state: CircuitState) -> None:
    """The default observer: a log line and the circuit-state gauge."""
    logs.get("circuit").warning("circuit %s", state.value, extra={"upstream": name, "circuit": state.value})
    metrics.UPSTREAM_CIRCUIT_OPEN.labels(name).set(0 if state is CircuitState.CLOSED else 1)
