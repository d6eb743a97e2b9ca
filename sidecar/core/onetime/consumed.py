"""Where a one-time token (approval, challenge, code) is marked consumed in this pod: `OneTimeLedger.consume`.

A replay, or the loser of a race, finds the mark and is ALREADY_USED. The fleet-wide layer in front
of it is ledger.py (`OneTimeClaims`); this module is the pod's own memory of what it let through.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from sidecar.core.shared.caches import Clock, TtlLru


class OneTimeLedger:
    """Consumed one-time tokens (keyed by their hash), kept until the token itself expires.

    `consume` is atomic on the event loop: of any number of racing callers exactly one gets True.
    `remember_used` records that the upstream called the token used, so repeats need not ask; it
    does not claim it — a racing call whose upstream answer *was* the valid one (and arrived later)
    still wins, or nobody would get in.
    Bounded: when full, the entry closest to expiry is forgotten first; the upstream remains the
    authority for a token the ledger has forgotten.
    """

    def __init__(self, max_entries: int, clock: Clock = time.monotonic) -> None:
        self._seen: TtlLru[Hashable, bool] = TtlLru(max_entries, clock)  # True: claimed here; False: used elsewhere

    def consume(self, token_hash: Hashable, ttl: float) -> bool:
        """Claim the token; True if no call has claimed it before."""
        if self._seen.get(token_hash):
            return False
        self._seen.put(token_hash, True, max(ttl, 1.0))
        return True

    def remember_used(self, token_hash: Hashable, ttl: float) -> None:
        if self._seen.get(token_hash) is None:
            self._seen.put(token_hash, False, max(ttl, 1.0))

    def resize(self, max_entries: int) -> None:
        self._seen.resize(max_entries)

    def is_used(self, token_hash: Hashable) -> bool:
        return self._seen.get(token_hash) is not None

    def release(self, token_hash: Hashable) -> None:
        """Take back this process's claim (a shared ledger could not confirm it); "used elsewhere" stays."""
        if self._seen.get(token_hash):
            self._seen.pop(token_hash)

    def __len__(self) -> int:
        return len(self._seen)
