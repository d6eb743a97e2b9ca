"""How many entries each bounded cache may hold so that every cache full still fits the memory budget.

The budget is a share of the container's limit (or set in config). From it we take what the process
needs with empty caches (the interpreter, gRPC, crypto, buffers: `BASELINE_MB`, measured as the RSS
of an idle sidecar plus headroom), and share the rest among the caches by weight. A cache's entry
count is its share divided by its bytes per entry: measured with tracemalloc by `bench/entry_sizes.py`
on the core's own structures, times `SLACK` for what the allocator adds on top of Python's objects.

An explicit `*_max_entries` wins over its share; the explicit ones together must still fit, or the
configuration is refused (the error names them and the estimate). Pure arithmetic, no I/O.

The gRPC transport is counted too, before the caches share anything: what callers can make the process
hold through the limits server.py gives gRPC (`TRANSPORT`): every unary call in flight with a request
of the largest size accepted, and every VerifyStream with its receive window, a message being read, its
write buffer and its answers waiting. Limits whose transport cost leaves the caches too little are
refused like oversize caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.config.settings import budgeted_caches

MB = 1024 * 1024
CONTAINER_SHARE = 0.75  # of a container limit: the rest is headroom for GC churn, fragmentation, bursts
DEFAULT_BUDGET_MB = 512  # with no limit anywhere (a bare process): generous, still bounded
# An idle sidecar's RSS (≈ 75 MB measured), the fixed-size structures that fill with use (the memos of
# recent tokens, ~2.6 MB, and the hot VerifyToken answers built from them, 384 kB encoded, ~3.5 MB;
# ext_authz's 1,024 encoded allowed answers, ~1 MB; each issuer's 10,000 unknown kids, ~2 MB; ext_authz's
# route and identity-header memos, 1,024 each, ≤ ~2.5 MB full of long paths and 1 kB claim sets,
# measured) and in-flight buffers. The bench `memory_all_full` checks it: with 80 here, everything full
# came to 98.5 MB under a 96 MB budget.
BASELINE_MB = 88
MIN_ENTRIES = 1_000  # below this a cache stops being useful: the budget is too small
SLACK = 1.25  # RSS per traced byte (allocator pools, dict resizes)


KIB = 1024


@dataclass(frozen=True)
class Transport:
    """The gRPC server's byte limits (server.py passes them as channel options, fixed at start)."""

    # The largest legitimate request is a VerifyCallbackSignature: a 64 KiB body (or the same parameters
    # as a map) plus url, nonce and signature; 16 KiB of margin also covers an ext_authz Check with
    # Envoy's default 60 KiB of headers. Anything larger is RESOURCE_EXHAUSTED before it is read whole.
    max_request_bytes: int = 64 * KIB + 16 * KIB
    # What receiving a call costs beside its request's bytes (gRPC's buffers, the parsed message):
    # measured, 1,000 calls of 16 kB at once raised RSS by ~29 KiB each, 1,000 of 80 kB by ~93 KiB —
    # for as long as the loop takes to get to them, so each call in flight is counted at the largest.
    call_overhead_bytes: int = 13 * KIB
    # Answers are built from upstream answers cut at 1 MiB; this only catches a bug, it holds nothing.
    max_response_bytes: int = 4 * MB
    # HTTP/2 receive window per stream (and the connection's own), fixed: no BDP probing, which grows
    # it towards 4 MB per stream for a caller that sends and never reads its answers.
    window_bytes: int = 64 * KIB
    # Bytes of answers gRPC buffers per stream before a write waits for the caller to read.
    write_buffer_bytes: int = 64 * KIB
    # One VerifyStream answer waiting in the stream's queue (a small message object).
    answer_bytes: int = 512


TRANSPORT = Transport()


def stream_bytes(items_in_flight: int, t: Transport = TRANSPORT) -> int:
    """What one VerifyStream may hold: a message being read (the window grows to take a whole one
    while the sidecar reads), its write buffer, and its unanswered items' answers."""
    return max(t.window_bytes, t.max_request_bytes) + t.write_buffer_bytes + items_in_flight * t.answer_bytes


def transport_bytes(max_in_flight: int, verify_streams_max: int, items_in_flight: int, t: Transport = TRANSPORT) -> int:
    """Unary calls in flight, each with a request of the largest size; every VerifyStream open; and one
    connection window (past the streams' own, it tracks data gRPC has passed on)."""
    return (
        max_in_flight * (t.max_request_bytes + t.call_overhead_bytes)
        + verify_streams_max * (stream_bytes(items_in_flight, t) + t.call_overhead_bytes)
        + t.window_bytes
    )


@dataclass(frozen=True)
class CacheCost:
    """One budgeted cache: its config field, share weight, and bytes per entry (tracemalloc)."""

    field: str  # dotted settings path of its `*_max_entries`
    weight: float  # share of the cache budget when sized automatically
    bytes_per_entry: int  # everything one `max_entries` unit holds, summed over its structures


# Each cache's weight and bytes per entry are declared on its settings field (config/settings.py
# `budgeted`). A dict's table grows in steps, so bytes per entry swing by ~20 % with the count: each
# figure is the largest `bench/entry_sizes.py` measured between 5k and 100k entries.
CACHES: tuple[CacheCost, ...] = tuple(
    CacheCost(path, weight, size) for path, (weight, size) in budgeted_caches().items()
)


@dataclass(frozen=True)
class Plan:
    budget_bytes: int
    source: str  # "config", "cgroup v2 …", "cgroup v1 …" or "default"
    sizes: dict[str, int]  # field → entries
    estimate_bytes: int  # baseline + transport + every cache full
    problems: tuple[str, ...] = ()
    transport_bytes: int = 0  # what callers may pin through gRPC (`transport_bytes`)


def budget(configured_mb: int, container_limit: int | None, limit_source: str) -> tuple[int, str]:
    """The budget in bytes and where it came from: config wins, then the container, then a default."""
    if configured_mb > 0:
        return configured_mb * MB, "config"
    if container_limit:
        return int(container_limit * CONTAINER_SHARE), f"{CONTAINER_SHARE:.0%} of {limit_source}"
    return DEFAULT_BUDGET_MB * MB, "default"


def entry_bytes(cost: CacheCost) -> int:
    return int(cost.bytes_per_entry * SLACK)


def plan(
    budget_bytes: int, source: str, explicit: dict[str, int], transport: int = 0, transport_detail: str = ""
) -> Plan:
    """Entries per cache. `explicit` holds the sizes set in config (> 0); the rest share what is left
    after the baseline and `transport` (bytes; `transport_detail` names the limits behind it)."""
    caches_bytes = budget_bytes - BASELINE_MB * MB - transport
    problems: list[str] = []
    if caches_bytes < MIN_ENTRIES * sum(entry_bytes(c) for c in CACHES):
        after = f"the {BASELINE_MB} MB baseline" + (
            f" and ~{transport // MB} MB of gRPC transport ({transport_detail})" if transport else ""
        )
        problems.append(
            f"limits.memory_budget_mb: {budget_bytes // MB} MB ({source}) leaves "
            f"{max(caches_bytes, 0) // MB} MB for caches after {after}; "
            f"too small for {MIN_ENTRIES} entries per cache"
        )
    fixed = {c.field: explicit[c.field] * entry_bytes(c) for c in CACHES if explicit.get(c.field, 0) > 0}
    if sum(fixed.values()) > max(caches_bytes, 0):
        named = ", ".join(f"{f}={explicit[f]} (~{b // MB} MB)" for f, b in fixed.items())
        problems.append(
            f"limits.memory_budget_mb: explicit cache sizes need ~{sum(fixed.values()) // MB} MB "
            f"but the budget of {budget_bytes // MB} MB ({source}) leaves {max(caches_bytes, 0) // MB} MB "
            f"for caches: {named}"
        )
    left = max(caches_bytes - sum(fixed.values()), 0)
    auto = [c for c in CACHES if c.field not in fixed]
    weights = sum(c.weight for c in auto) or 1.0
    sizes = {c.field: explicit[c.field] for c in CACHES if c.field in fixed}
    for c in auto:
        sizes[c.field] = max(MIN_ENTRIES, int(left * c.weight / weights / entry_bytes(c)))
    estimate = BASELINE_MB * MB + transport + sum(sizes[c.field] * entry_bytes(c) for c in CACHES)
    return Plan(budget_bytes, source, sizes, estimate, tuple(problems), transport)
