"""A rate bound on upstream lookups of tokens the platform does not know.

The negative cache only helps when the same unknown token comes again; a flood of *distinct*
random session ids or approval tokens would otherwise cost the platform one request each.
`LookupRate` is a token bucket spent by every NOT_FOUND answer and checked before every lookup
no cache can answer: after `burst` unknown tokens, lookups go out at most `rate` per second and
the rest are answered fail-closed without asking. Sessions the sidecar already knows (cached, or
pushed by the stream) are unaffected; a real session's *first* lookup during a flood is refused
too — the price of a bounded upstream.

No I/O; time comes from an injectable clock.
"""

from __future__ import annotations

import time

from sidecar.core.shared.caches import Clock


class LookupRate:
    """`allows()` before a lookup, `spend()` after each NOT_FOUND answer.

    Over any window of T seconds at most `burst + rate * T` unknown-token lookups are started, plus
    those already in flight when the allowance ran out (bounded by the in-flight RPC limit). A debt
    (lookups that were in flight) is paid back before new ones go, down to at most `-burst`.
    """

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def allows(self) -> bool:
        self._refill()
        return self._tokens >= 1

    def spend(self) -> None:
        self._refill()
        self._tokens = max(-self.burst, self._tokens - 1)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
