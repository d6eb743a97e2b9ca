"""The settings' share of the memory budget: how many entries each cache may hold, and a copy of the
settings with those sizes filled in."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sidecar.config import cgroup, memory_budget

from .settings import Settings


def memory_plan(s: Settings) -> memory_budget.Plan:
    """The memory budget (config, else the container's cgroup limit, else a default) and the entries
    each cache may hold within it; `*_max_entries` set above 0 are taken as they are."""
    limit, where = cgroup.memory_limit()
    budget, source = memory_budget.budget(s.limits.memory_budget_mb, limit, where)
    explicit = {c.field: _dotted(s, c.field) for c in memory_budget.CACHES}
    lim = s.limits
    transport = memory_budget.transport_bytes(
        lim.max_in_flight, lim.verify_streams_max, lim.verify_stream_items_in_flight
    )
    call_kib = (memory_budget.TRANSPORT.max_request_bytes + memory_budget.TRANSPORT.call_overhead_bytes) // 1024
    stream_kib = (
        memory_budget.stream_bytes(lim.verify_stream_items_in_flight) + memory_budget.TRANSPORT.call_overhead_bytes
    ) // 1024
    detail = (
        f"limits.max_in_flight={lim.max_in_flight} × {call_kib} KiB "
        f"calls, limits.verify_streams_max={lim.verify_streams_max} × "
        f"{stream_kib} KiB per stream"
    )
    return memory_budget.plan(budget, source, explicit, transport, detail)


def with_cache_sizes(s: Settings, sizes: Mapping[str, int]) -> Settings:
    """A copy of `s` with each cache's `max_entries` set (sections are frozen only by convention)."""
    s = copy.deepcopy(s)
    for dotted, entries in sizes.items():
        section, name = dotted.split(".")
        setattr(getattr(s, section), name, entries)
    return s


def _dotted(s: Settings, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(s, section), name)
