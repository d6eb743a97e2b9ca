"""Bounded in-memory caches shared by every verifier.

- `TtlLru`: a size-bounded LRU whose entries also expire; the building block of every cache.
- `SingleFlight`: concurrent requests for one key share one in-flight upstream call.

No I/O here; time comes from an injectable clock so tests can move it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Clock = Callable[[], float]


class TtlLru(Generic[K, V]):
    """At most `max_entries` entries, each alive until its own deadline; least recently used go first.

    Memory matters here (caches of 100k entries): a plain dict kept in recency order (a hit re-inserts
    its key at the end) costs about half an OrderedDict per entry, and each entry is one
    (deadline, value) tuple. When full, the oldest `max_entries // EVICT_SHARE` go at once: finding the
    front of a dict walks past the slots earlier deletions left, so one walk serves a batch.
    """

    EVICT_SHARE = 256

    def __init__(
        self, max_entries: int, clock: Clock = time.monotonic, on_evict: Callable[[], None] | None = None
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._on_evict = on_evict
        self._data: dict[K, Any] = {}  # the item per key: (deadline, value) here; subclasses keep their own

    def get(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        if item is None or item[0] <= self._clock():
            return None
        self._data[key] = item  # back in at the end: the most recently used
        return item[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        self._store(key, (self._clock() + ttl, value) if ttl > 0 else None)

    def _store(self, key: K, item: Any) -> None:
        """Put `item` (whatever the class keeps per entry) as the most recent; None forgets the key."""
        data = self._data
        data.pop(key, None)
        if item is None:
            return
        data[key] = item
        if len(data) > self.max_entries:
            self._evict(len(data) - self.max_entries + self.max_entries // self.EVICT_SHARE)

    def _evict(self, count: int) -> None:
        for key in list(itertools.islice(self._data, count)):
            del self._data[key]
            if self._on_evict:
                self._on_evict()

    def resize(self, max_entries: int) -> None:
        """A new bound (live reload): entries beyond it go, least recently used first; the rest stay."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        if len(self._data) > max_entries:
            self._evict(len(self._data) - max_entries)

    def pop(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        return None if item is None else item[1]

    def discard_where(self, predicate: Callable[[K, V], bool]) -> int:
        """Drop every entry for which predicate(key, value) holds; returns how many."""
        doomed = [k for k, (_, v) in self._data.items() if predicate(k, v)]
        for k in doomed:
            del self._data[k]
        return len(doomed)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]


class TtlRecords(TtlLru[K, tuple]):
    """A TtlLru of small tuples, each entry stored flat with its deadline: (deadline, *fields) is one
    object where (deadline, record) would be two or three. `get` returns the fields as a tuple."""

    def get(self, key: K) -> tuple | None:
        item = self._data.pop(key, None)
        if item is None or item[0] <= self._clock():
            return None
        self._data[key] = item
        return item[1:]

    def put(self, key: K, value: tuple, ttl: float) -> None:
        self._store(key, (self._clock() + ttl, *value) if ttl > 0 else None)

    def pop(self, key: K) -> tuple | None:
        item = self._data.pop(key, None)
        return None if item is None else item[1:]

    def discard_where(self, predicate: Callable[[K, tuple], bool]) -> int:
        doomed = [k for k, item in self._data.items() if predicate(k, item[1:])]
        for k in doomed:
            del self._data[k]
        return len(doomed)


class TtlShared(TtlLru[K, V]):
    """A TtlLru whose values are a few shared objects (told apart by identity), such as the key that
    verified a token. Each entry is one complex number: its deadline + 1j × its value's index in a
    small table — 32 bytes, where a (deadline, value) tuple and its float take 80."""

    def __init__(
        self, max_entries: int, clock: Clock = time.monotonic, on_evict: Callable[[], None] | None = None
    ) -> None:
        super().__init__(max_entries, clock, on_evict)
        self._values: list[V] = []
        self._index: dict[int, int] = {}  # id(value) → its place in _values
        self._values_limit = SHARED_VALUES_MAX

    def get(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        if item is None or item.real <= self._clock():
            return None
        self._data[key] = item
        return self._values[int(item.imag)]

    def put(self, key: K, value: V, ttl: float) -> None:
        index = self._index.get(id(value))
        if index is None:
            if len(self._values) >= self._values_limit:
                self._forget_unused_values()
                self._values_limit = max(SHARED_VALUES_MAX, 2 * len(self._values))
            index = self._index[id(value)] = len(self._values)
            self._values.append(value)
        self._store(key, complex(self._clock() + ttl, index) if ttl > 0 else None)

    def pop(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        return None if item is None else self._values[int(item.imag)]

    def discard_where(self, predicate: Callable[[K, V], bool]) -> int:
        doomed = [k for k, item in self._data.items() if predicate(k, self._values[int(item.imag)])]
        for k in doomed:
            del self._data[k]
        return len(doomed)

    def _forget_unused_values(self) -> None:
        """The table is full (values come and go, e.g. rotated keys): keep those entries still use."""
        used = sorted({int(item.imag) for item in self._data.values()})
        renumber = {old: new for new, old in enumerate(used)}
        self._values = [self._values[i] for i in used]
        self._index = {id(v): i for i, v in enumerate(self._values)}
        for key, item in self._data.items():
            self._data[key] = complex(item.real, renumber[int(item.imag)])

    def clear(self) -> None:
        super().clear()
        self._values.clear()
        self._index.clear()


SHARED_VALUES_MAX = 1024


class SingleFlight(Generic[K, V]):
    """Runs at most one `fn()` per key at a time; concurrent callers await the same result.

    The shared call runs in its own task: a caller that gives up (deadline, cancel) — even the one
    that started it — leaves the others waiting on an uncancelled call.
    """

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Task[V]] = {}

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    def __len__(self) -> int:
        return len(self._inflight)
