"""One-time claims: of every verification of one token, at most one is valid — in this pod or the fleet.

Two layers, asked in this order:
- this process's `OneTimeLedger` (caches.py): settles races inside the pod without I/O and caches
  what is known spent;
- with `ledger.backend: redis`, the fleet's `SharedLedger`: one atomic set-if-absent per claim of
  `key_prefix + kind + ":" + hex(SHA-256 of the token)` (never the token), expiring with the token's
  remaining lifetime (bounded to [MIN_TTL, MAX_TTL]). The store behind it is a `LedgerStore`
  (upstream/redis_ledger.py); nothing here does I/O.

A claim is FIRST only when every layer says so. When the shared ledger cannot answer (down, slower
than its timeout, circuit open) the claim is UNAVAILABLE — fail closed — and the local mark is taken
back: the shared ledger, never this cache, decides whether the token is still unspent once it is back.
Taking the mark back is safe because a valid answer needs the shared ledger's "first" in any case.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Protocol

from sidecar.config.settings import CircuitSettings
from sidecar.core.onetime.consumed import OneTimeLedger
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.caches import Clock
from sidecar.core.shared.circuit import CircuitBreaker, log_circuit_change
from sidecar.core.shared.hashing import TokenKey
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.observability import logs, metrics

log = logs.get("ledger")

MIN_TTL, MAX_TTL = 1.0, 86_400.0  # a token with no (or a far) expiry stays spent for a day
PROBE_MIN_SECONDS, PROBE_MAX_SECONDS = 0.2, 5.0
UNAVAILABLE_DETAIL = "ledger unavailable"


class Claim(enum.Enum):
    FIRST = "claimed"
    ALREADY_USED = "already_used"
    UNAVAILABLE = "unavailable"


class LedgerStore(Protocol):
    """What the shared ledger needs from its engine; failures raise UpstreamError("ledger", 0, …)."""

    where: str  # host:port/db for logs and health — never credentials

    async def set_if_absent(self, key: str, ttl_ms: int) -> bool:
        """Atomically set key (expiring in ttl_ms) if it does not exist; True if this call set it."""

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


def bounded_ttl(seconds: float) -> float:
    return min(max(seconds, MIN_TTL), MAX_TTL)


class SharedLedger:
    """The fleet's ledger (a Component): claims through a circuit breaker, health not through it."""

    def __init__(self, store: LedgerStore, key_prefix: str, clock: Clock = time.monotonic) -> None:
        self.store = store
        self.key_prefix = key_prefix
        self.circuit = CircuitBreaker("ledger", clock=clock, on_change=log_circuit_change)
        self.answered = False
        self._probe: asyncio.Task | None = None

    def reload(self, circuit: CircuitSettings) -> None:
        """Live reload: the circuit (`ledger.*` itself needs a restart: a new store, a new key space)."""
        self.circuit.configure(circuit)

    def key(self, kind: str, key: TokenKey) -> str:
        return f"{self.key_prefix}{kind}:{key.hex()}"

    async def claim(self, kind: str, key: TokenKey, ttl: float) -> bool:
        """True if no pod claimed this token before; UpstreamError when the ledger cannot tell."""
        first = await self.circuit.call(self.store.set_if_absent(self.key(kind, key), int(bounded_ttl(ttl) * 1000)))
        self.answered = True
        return first

    # -- Component ----------------------------------------------------------------------------
    async def start(self) -> None:
        log.info("shared one-time ledger configured", extra={"ledger": self.store.where})
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_answered(), name="ledger-probe")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self.store.aclose()

    async def _probe_until_answered(self) -> None:
        delay = PROBE_MIN_SECONDS
        while not self.answered:
            await self.health()
            if self.answered:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, PROBE_MAX_SECONDS)

    def readiness(self) -> tuple[bool, str]:
        # Ready once the ledger answered; later outages fail one-time verifications closed per call
        # (the circuit state says so) rather than taking the read-only RPCs out of service.
        if not self.answered:
            return False, f"redis {self.store.where} not yet answered"
        return True, f"redis {self.store.where}; circuit {self.circuit.state.value}"

    async def health(self) -> list[UpstreamHealth]:
        try:
            await self.store.ping()
        except UpstreamError as exc:
            return [UpstreamHealth("ledger", False, f"{exc.message}; circuit {self.circuit.state.value}")]
        self.answered = True
        return [UpstreamHealth("ledger", True, f"redis {self.store.where}; circuit {self.circuit.state.value}")]


class OneTimeClaims:
    """Claims of one kind of one-time token (approval, challenge, totp, phone_code)."""

    def __init__(
        self, kind: str, max_entries: int, clock: Clock = time.monotonic, shared: SharedLedger | None = None
    ) -> None:
        self.kind = kind
        self.local = OneTimeLedger(max_entries, clock)
        self.shared = shared

    def is_used(self, key: TokenKey) -> bool:
        """Known spent here (no I/O): a replay this pod saw, or the platform said so."""
        return self.local.is_used(key)

    def remember_used(self, key: TokenKey, ttl: float) -> None:
        self.local.remember_used(key, ttl)

    def resize(self, max_entries: int) -> None:
        """Live reload: this pod's ledger bound (the shared ledger, if any, stays the authority)."""
        self.local.resize(max_entries)

    async def claim(self, key: TokenKey, ttl: float) -> Claim:
        result = await self._claim(key, ttl)
        metrics.child(metrics.LEDGER_CLAIMS_TOTAL, self.kind, result.value).inc()
        return result

    async def _claim(self, key: TokenKey, ttl: float) -> Claim:
        if not self.local.consume(key, ttl):
            return Claim.ALREADY_USED
        if self.shared is None:
            return Claim.FIRST
        try:
            first = await self.shared.claim(self.kind, key, ttl)
        except UpstreamError:
            self.local.release(key)
            return Claim.UNAVAILABLE
        except BaseException:
            self.local.release(key)  # the caller left: the shared ledger decides the next try
            raise
        return Claim.FIRST if first else Claim.ALREADY_USED

    def __len__(self) -> int:
        return len(self.local)
