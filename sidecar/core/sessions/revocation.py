"""Revocation as the event stream tells it, and whether the stream can be trusted right now.

`RevocationCache` remembers terminal session states (revoked, expired) pushed by the platform and
tracks the stream's health. The rule it enforces for the rest of the core:

- A terminal state is never stale in the unsafe direction (a revoked session stays revoked), so it
  is answered from here whatever the stream does.
- "Not revoked" may only be answered from cache while the stream is `connected` — open, caught up
  (the first heartbeat after any replay arrived) and not past its heartbeat timeout (the stream
  adapter closes it then). Otherwise the caller must ask the upstream.
- A (re)connection that could not resume from Last-Event-ID (no id to send, or the platform said
  `reset`) may have missed revocations: every cached positive session entry is flushed (`on_gap`).

The stream adapter (upstream/rauth_events.py) calls the `stream_*` methods and `apply`; no I/O here.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from sidecar.core.sessions.records import EventKind, StreamEvent
from sidecar.core.shared.caches import Clock, TtlShared
from sidecar.core.shared.hashing import TokenKey
from sidecar.core.shared.outcomes import SessionStatus, Source
from sidecar.observability import metrics

# How long a terminal state is remembered when the event says nothing about the session's expiry.
TERMINAL_TTL_SECONDS = 24 * 3600.0


# The terminal cache's values: one shared (status, source) tuple each, not one per entry.
_ENTRIES = {(status, source): (status, source) for status in SessionStatus for source in Source}


class StreamState(enum.Enum):
    DISABLED = "disabled"  # configured off: positive entries live by TTL alone
    CONNECTING = "connecting"  # no connection yet (or reconnecting after backoff)
    SYNCING = "syncing"  # open, replay not yet confirmed complete
    CONNECTED = "connected"  # open and caught up: cache answers are current
    DOWN = "down"  # lost; events may be missing until a resumed reconnect


class RevocationCache:
    def __init__(
        self,
        max_entries: int,
        *,
        sse_enabled: bool = True,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        on_gap: Callable[[], None] = lambda: None,
        on_session_event: Callable[[StreamEvent], None] = lambda e: None,
    ) -> None:
        # token hash → (status, where we learned it: STREAM for events, CACHE for an earlier lookup)
        self._terminal: TtlShared[TokenKey, tuple[SessionStatus, Source]] = TtlShared(
            max_entries, clock, _evicted("revoked")
        )
        self._revoked_ids: TtlShared[str, bool] = TtlShared(max_entries, clock)
        self._clock = clock
        self._wall = wall
        self._on_gap = on_gap
        self._on_session_event = on_session_event
        self.state = StreamState.CONNECTING if sse_enabled else StreamState.DISABLED
        self._gap_pending = True
        self.last_event_at: float | None = None  # monotonic time of the last event or heartbeat
        self.connected_once = False
        self.gaps = 0
        self.changes = 0  # grows with every terminal state recorded (the verifier's revocation version)
        metrics.SSE_CONNECTED.set(0)

    def resize(self, max_entries: int) -> None:
        self._terminal.resize(max_entries)
        self._revoked_ids.resize(max_entries)

    # -- answers ------------------------------------------------------------------------------
    @property
    def trusted(self) -> bool:
        """True when a cached positive answer is as current as the stream (or SSE is off)."""
        return self.state in (StreamState.CONNECTED, StreamState.DISABLED)

    def terminal(self, token_hash: TokenKey) -> SessionStatus | None:
        """REVOKED or EXPIRED if the platform said so for this session token, else None."""
        entry = self._terminal.get(token_hash)
        return None if entry is None else entry[0]

    def terminal_source(self, token_hash: TokenKey) -> Source:
        entry = self._terminal.get(token_hash)
        return Source.STREAM if entry is None else entry[1]

    def is_known_revoked(self, token_hash: TokenKey, session_id: str = "") -> bool:
        if self.terminal(token_hash) is SessionStatus.REVOKED:
            return True
        return bool(session_id) and self._revoked_ids.get(session_id) is not None

    def record_terminal(
        self,
        token_hash: TokenKey,
        status: SessionStatus,
        session_id: str = "",
        expires_at: float | None = None,
        source: Source = Source.STREAM,
    ) -> None:
        ttl = TERMINAL_TTL_SECONDS
        if status is SessionStatus.EXPIRED and expires_at is not None:
            ttl = min(ttl, max(expires_at - self._wall(), 0.0) + TERMINAL_TTL_SECONDS)
        if self.terminal(token_hash) is SessionStatus.REVOKED:
            return  # revoked wins over a later "expired"
        self.changes += 1  # before the entry: no reader sees the entry under the old version
        self._terminal.put(token_hash, _ENTRIES[status, source], ttl)
        if status is SessionStatus.REVOKED and session_id:
            self._revoked_ids.put(session_id, True, ttl)
        metrics.CACHE_ENTRIES.labels("revoked").set(len(self._terminal))

    def seconds_since_event(self) -> float:
        return -1.0 if self.last_event_at is None else self._clock() - self.last_event_at

    def describe(self) -> str:
        return f"stream {self.state.value}"

    # -- the stream adapter's callbacks -------------------------------------------------------
    def stream_opened(self, resume_requested: bool) -> None:
        """The stream answered 200. Without a Last-Event-ID to resume from, events may be missing."""
        self.state = StreamState.SYNCING
        self._gap_pending = self._gap_pending or not resume_requested
        self._touch()

    def stream_reset(self) -> None:
        """The platform could not resume from our Last-Event-ID: events were lost."""
        self._gap_pending = True
        self._touch()

    def stream_heartbeat(self) -> None:
        """Sent after any replay and then periodically; the first one makes the stream current."""
        self._touch()
        if self.state is StreamState.SYNCING:
            if self._gap_pending:
                if self.connected_once:  # the first connection has nothing to have missed
                    self.gaps += 1
                    metrics.SSE_GAPS_TOTAL.inc()
                self._on_gap()  # still flush: lookups made before the first connect are not covered
                self._gap_pending = False
            self.state = StreamState.CONNECTED
            self.connected_once = True
            metrics.SSE_CONNECTED.set(1)

    def stream_closed(self) -> None:
        """Lost (error, end of stream or heartbeat timeout); only a resumed reconnect restores trust."""
        if self.state is not StreamState.DISABLED:
            self.state = StreamState.DOWN
        metrics.SSE_CONNECTED.set(0)

    def apply(self, event: StreamEvent) -> None:
        self._touch()
        if event.kind is EventKind.SESSION_REVOKED:
            self.record_terminal(event.token_hash, SessionStatus.REVOKED, event.session_id, event.expires_at)
        elif event.kind is EventKind.SESSION_EXPIRED:
            self.record_terminal(event.token_hash, SessionStatus.EXPIRED, event.session_id, event.expires_at)
        self._on_session_event(event)

    def _touch(self) -> None:
        self.last_event_at = self._clock()


def _evicted(cache: str) -> Callable[[], None]:
    return metrics.CACHE_EVICTIONS_TOTAL.labels(cache).inc  # created now: exported at 0 before any eviction
