"""The lifecycle of a component that is one upstream behind a circuit breaker (accounts, second factors).

Such a component has nothing to preload (an outage answers UPSTREAM_UNAVAILABLE per call rather than
failing readiness), closes its adapter, probes its upstream's health not through the breaker (the
probe reports the truth even while calls fail fast), and sends each call through the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.caches import Clock
from sidecar.core.shared.circuit import CircuitBreaker, log_circuit_change
from sidecar.core.shared.outcomes import NotConfigured

T = TypeVar("T")


class UnconfiguredUpstream:
    """Stands in for an upstream that has no base_url: every call raises NotConfigured
    (FAILED_PRECONDITION at the edge), so the RPCs are off and everything else keeps working."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        async def refuse(*args: Any, **kwargs: Any) -> NoReturn:
            raise NotConfigured(f"{self.name} is not configured (set {self.name}.base_url)")

        return refuse

    async def aclose(self) -> None:
        return None


class UpstreamComponent:
    """start/close/readiness/health and the breaker-guarded call, shared by single-upstream components."""

    def __init__(self, upstream: Any, breaker: str, *, clock: Clock = time.monotonic, configured: bool = True) -> None:
        self.upstream = upstream
        self.configured = configured
        self.circuit = CircuitBreaker(breaker, clock=clock, on_change=log_circuit_change)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.upstream.aclose()

    def readiness(self) -> tuple[bool, str]:
        return True, "ready"

    async def health(self) -> list[UpstreamHealth]:
        return [await self.upstream.health()] if self.configured else []

    async def _call(self, call: Awaitable[T]) -> T:
        """One upstream call through the circuit breaker (only "unavailable" failures count)."""
        return await self.circuit.call(call)
