"""Logout revocations: what a Logout/LogoutSession through the sidecar ended, kept until the tokens die.

A logged-out access token stays cryptographically valid until its `exp`, so VerifyToken's only reason
to refuse it is this store. It therefore never forgets an entry before its deadline: no LRU, no
eviction. When full (after dropping what has expired) it **refuses** the new revocation and the logout
fails (UNAVAILABLE, "not logged out; retry") before the identity service is asked — a flood of logouts
can make later logouts fail, never make an earlier one valid again.

With `ledger.backend: redis` every revocation is also appended to one Redis stream that each pod tails
(`SharedRevocations`), so a logout seen by one pod is honoured by all (within one poll). A logout
whose revocation cannot be written to Redis fails the same way (fail closed: not logged out). A
revocation learnt from another pod that this pod cannot hold makes this pod answer every token
revoked until that revocation's deadline (fail closed: it can no longer tell which one it forgot).
While this pod has not read the fleet's log for STALE_SECONDS (Redis unreachable, or not yet read
once since start), it cannot know what other pods revoked: every token check raises
RevocationsUnknown (VerifyToken answers UPSTREAM_UNAVAILABLE, never a stale "valid") and readiness
says so, until a read succeeds again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from sidecar.core.shared.caches import Clock
from sidecar.core.shared.outcomes import RevocationsUnknown, UpstreamError
from sidecar.observability import logs, metrics

log = logs.get("logout_revocations")

MAX_TTL_SECONDS = 24 * 3600.0  # a revocation whose token's expiry is unknown (a session id) lasts a day
POLL_SECONDS = 0.25  # how often a pod reads the fleet's new revocations
POLL_MAX_SECONDS = 5.0  # backoff while Redis does not answer
READ_BATCH = 500
STALE_SECONDS = 15.0  # three backoff steps at the longest: past it, another pod's logout may be unknown here
FULL_DETAIL = "logout revocation store is full; not logged out (retry later)"


class RevocationStream(Protocol):
    """The fleet's revocation log (upstream/redis_ledger.py); failures raise UpstreamError("ledger", …)."""

    async def revocation_append(self, key: str, items: list[tuple[str, int]], min_id_ms: int) -> None: ...

    async def revocation_read(self, key: str, after: str, count: int) -> tuple[list[tuple[str, int]], str]: ...


class LogoutRevocations:
    """id (a session id, or `token:<hash>` for one token) → monotonic deadline; never evicted early."""

    def __init__(self, max_entries: int, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.max_entries = max(1, max_entries)
        self._until: dict[str, float] = {}
        self._clock = clock
        self._wall = wall
        self._overflow_until = 0.0  # > now: a fleet revocation could not be held; everything is revoked
        self.shared: SharedRevocations | None = None
        self.changes = 0  # grows with every revocation held (or overflow): see `version`

    def now(self) -> float:
        return self._clock()

    def resize(self, max_entries: int) -> None:
        if max_entries > 0:  # shrinking never drops a live entry; it only refuses more
            self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._until)

    def version(self) -> int:
        """A number that grows whenever a revocation is added; RevocationsUnknown when the fleet's log
        is stale. Equal numbers: nothing was revoked in between (the verifier skips its lookups)."""
        if self.shared is not None:  # (the hot path asks on every cached token: no clock read without one)
            self._check_fresh(self._clock())
        return self.changes

    def is_revoked(self, revocation_id: str) -> bool:
        """Whether a logout revoked this id; RevocationsUnknown when the fleet's log is stale."""
        now = self._clock()
        self._check_fresh(now)
        if self._overflow_until > now:
            return True
        until = self._until.get(revocation_id)
        if until is None:
            return False
        if until <= now:
            del self._until[revocation_id]
            return False
        return True

    def _check_fresh(self, now: float) -> None:
        if self.shared is not None and not self.shared.fresh(now):
            raise RevocationsUnknown("the fleet's logout revocations could not be read recently")

    def has_room(self, count: int) -> bool:
        if len(self._until) + count <= self.max_entries:
            return True
        now = self._clock()  # only when full: one pass dropping what has expired
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]
        return len(self._until) + count <= self.max_entries

    def _hold(self, entries: list[tuple[str, float]]) -> bool:
        """All of `entries` (id, seconds to keep) or none; False when they don't fit."""
        new = {i for i, _ in entries if i not in self._until}
        if not self.has_room(len(new)):
            metrics.LOGOUT_REVOCATIONS_REFUSED_TOTAL.inc()
            return False
        now = self._clock()
        for revocation_id, ttl in entries:
            self._until[revocation_id] = max(self._until.get(revocation_id, 0.0), now + min(ttl, MAX_TTL_SECONDS))
        self.changes += 1
        metrics.CACHE_ENTRIES.labels("logout_revocations").set(len(self._until))
        return True

    async def revoke(self, entries: list[tuple[str, float]]) -> None:
        """Record a logout's revocations here (and in the fleet's log); UpstreamError if it can't."""
        if not entries:
            return
        if not self._hold(entries):
            raise UpstreamError("revocations", 0, FULL_DETAIL)
        if self.shared is not None:
            await self.shared.publish(entries)  # its UpstreamError fails the logout; the local entry stays

    def learn(self, revocation_id: str, expires_at_wall: float) -> None:
        """A revocation another pod recorded."""
        ttl = expires_at_wall - self._wall()
        if ttl <= 0 or self._hold([(revocation_id, ttl)]):
            return
        self._overflow_until = max(self._overflow_until, self._clock() + min(ttl, MAX_TTL_SECONDS))
        self.changes += 1
        log.error(
            "a fleet logout revocation does not fit; every token answers revoked until it expires",
            extra={"seconds": round(ttl)},
        )


class SharedRevocations:
    """The fleet's logout revocations on one Redis stream: appended on logout, tailed by every pod."""

    def __init__(
        self, stream: RevocationStream, key_prefix: str, local: LogoutRevocations, wall: Clock = time.time
    ) -> None:
        self.stream = stream
        self.key = f"{key_prefix}logout_revocations"
        self.local = local
        self._wall = wall
        self._after = "0"  # the last stream id read: a new pod reads every live revocation first
        self._task: asyncio.Task | None = None
        self._synced_at: float | None = None  # local clock of the last complete read; None: never
        local.shared = self

    def fresh(self, now: float) -> bool:
        """Whether the whole log was read within STALE_SECONDS (never read: not fresh)."""
        return self._synced_at is not None and now - self._synced_at <= STALE_SECONDS

    def seconds_since_sync(self) -> float:
        return float("inf") if self._synced_at is None else self.local.now() - self._synced_at

    def readiness(self) -> tuple[bool, str]:
        if self.fresh(self.local.now()):
            return True, "ready"
        return False, "logout revocations not read from the ledger recently"

    async def publish(self, entries: list[tuple[str, float]]) -> None:
        now_ms = int(self._wall() * 1000)
        items = [(i, now_ms + int(min(ttl, MAX_TTL_SECONDS) * 1000)) for i, ttl in entries]
        # Entries older than the longest revocation can't matter any more: trimmed as we append.
        await self.stream.revocation_append(self.key, items, now_ms - int(MAX_TTL_SECONDS * 1000))

    async def poll_once(self) -> int:
        items, self._after = await self.stream.revocation_read(self.key, self._after, READ_BATCH)
        for revocation_id, expires_ms in items:
            self.local.learn(revocation_id, expires_ms / 1000)
        return len(items)

    async def _tail(self) -> None:
        delay = POLL_SECONDS
        while True:
            try:
                started = self.local.now()
                while await self.poll_once() >= READ_BATCH:
                    pass
                self._synced_at = started  # everything appended before `started` is now known here
                delay = POLL_SECONDS
            except UpstreamError:
                delay = min(delay * 2, POLL_MAX_SECONDS)
            except Exception as exc:  # noqa: BLE001 - the tail must outlive any one bad poll
                log.error("logout revocation poll failed", extra={"error": type(exc).__name__})
                delay = min(delay * 2, POLL_MAX_SECONDS)
            await asyncio.sleep(delay)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tail(), name="logout-revocations-tail")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
