"""Counters for every call of the hot paths, counted without a lock on the event-loop thread.

prometheus_client's Counter and Histogram take a lock and validate on every increment: ~1 µs per counter
and ~2 µs per histogram observation, four or five of them on each cached VerifyToken or Check answer.
These count into plain numbers that only the event loop writes (every RPC, stream item and verification
runs there) and reach the exposition through prometheus_client's custom-collector interface at scrape
time, under the same names, labels, help and buckets. A scrape (another thread) copies the children
first, so it never sees a dict change size under it; a number it reads is one the loop wrote whole.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
from prometheus_client.utils import INF, floatToGoString


class CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative (the scrape adds them up)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1  # the first bound >= amount: its `le`
        self.sum += amount


class _Labelled(Collector):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], object] = {}

    def _child(self, values: tuple[str, ...]) -> object:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(values)}")
        values = tuple(str(v) for v in values)
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._new()
        return child

    def _new(self) -> object:
        raise NotImplementedError

    def _snapshot(self) -> list[tuple[tuple[str, ...], object]]:
        return list(self._children.items())


class LoopCounter(_Labelled):
    """A labelled counter (`labels(...).inc()`), exposed as prometheus_client's Counter is."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry = REGISTRY
    ) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames)
        registry.register(self)

    def labels(self, *values: str) -> CounterChild:
        return self._child(values)  # type: ignore[return-value]

    def _new(self) -> CounterChild:
        return CounterChild()

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in self._snapshot():
            assert isinstance(child, CounterChild)
            family.add_metric(values, child.value, created=child.created)
        yield family


class LoopHistogram(_Labelled):
    """A labelled histogram (`labels(...).observe(x)`), exposed as prometheus_client's Histogram is."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = sorted(float(b) for b in buckets if b != INF) + [INF]
        registry.register(self)

    def labels(self, *values: str) -> HistogramChild:
        return self._child(values)  # type: ignore[return-value]

    def _new(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in self._snapshot():
            assert isinstance(child, HistogramChild)
            counts, total, cumulative, buckets = list(child.counts), child.sum, 0, []
            for bound, count in zip(self.bounds, counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(values, buckets, total)
        yield family
