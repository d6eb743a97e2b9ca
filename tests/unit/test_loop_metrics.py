"""The lock-free hot-path counters expose exactly what prometheus_client's own Counter and Histogram
would for the same calls (the histogram without its `_created` series), so dashboards and alerts
can't tell them apart."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sidecar.observability.loop_metrics import LoopCounter, LoopHistogram
from sidecar.observability.metrics import LATENCY_BUCKETS


def _exposed(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_the_same_calls_expose_the_same_series_as_prometheus_client():
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counters = (
        Counter("t_rpc_total", "RPCs.", ["method", "outcome"], registry=theirs),
        LoopCounter("t_rpc_total", "RPCs.", ["method", "outcome"], registry=ours),
    )
    histograms = (
        Histogram("t_rpc_duration_seconds", "Time.", ["method"], buckets=LATENCY_BUCKETS, registry=theirs),
        LoopHistogram("t_rpc_duration_seconds", "Time.", ["method"], LATENCY_BUCKETS, registry=ours),
    )
    # on a bound, between bounds, below the first, past the last
    for seconds in (0.00004, 0.00005, 0.0003, 0.7, 3.0, 0.0001, 2.5):
        for h in histograms:
            h.labels("VerifyToken").observe(seconds)
    for c in counters:
        c.labels("VerifyToken", "valid").inc()
        c.labels("VerifyToken", "valid").inc(3)
        c.labels("Check", "deny")  # created, exported at 0
    assert _exposed(ours) == _exposed(theirs)
    assert 't_rpc_total{method="VerifyToken",outcome="valid"} 4.0' in _exposed(ours)


def test_a_second_metric_of_the_same_name_is_refused_and_label_counts_are_checked():
    registry = CollectorRegistry()
    counter = LoopCounter("t_total", "T.", ["a"], registry=registry)
    with pytest.raises(ValueError):
        Counter("t_total", "T.", ["a"], registry=registry)
    with pytest.raises(ValueError):
        counter.labels("x", "y")
