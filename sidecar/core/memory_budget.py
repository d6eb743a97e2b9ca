"""How many entries each bounded cache may hold so that every cache full still fits the memory budget.

The budget is a share of the container's limit (or set in config). From it we take what the process
needs with empty caches (the interpreter, gRPC, crypto, buffers: `BASELINE_MB`, measured as the RSS
of an idle sidecar plus headroom), and share the rest among the caches by weight. A cache's entry
count is its share divided by its bytes per entry: measured with tracemalloc by `bench/entry_sizes.py`
on the core's own structures, times `SLACK` for what the allocator adds on top of Python's objects.

An explicit `*_max_entries` wins over its share; the explicit ones together must still fit, or the
configuration is refused (the error names them and the estimate). Pure arithmetic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024
CONTAINER_SHARE = 0.75     # of a container limit: the rest is headroom for GC churn, fragmentation, bursts
DEFAULT_BUDGET_MB = 512    # with no limit anywhere (a bare process): generous, still bounded
# An idle sidecar's RSS (≈ 75 MB measured), the fixed-size structures that fill with use (the memos of
# recent tokens, ~2.6 MB; each issuer's 10,000 unknown kids, ~2 MB) and in-flight buffers. The bench
# `memory_all_full` checks it: with 80 here, everything full came to 98.5 MB under a 96 MB budget.
BASELINE_MB = 88
MIN_ENTRIES = 1_000        # below this a cache stops being useful: the budget is too small
SLACK = 1.25               # RSS per traced byte (allocator pools, dict resizes)


@dataclass(frozen=True)
class CacheCost:
    """One budgeted cache: its config field, share weight, and bytes per entry (tracemalloc)."""

    field: str              # dotted settings path of its `*_max_entries`
    weight: float           # share of the cache budget when sized automatically
    bytes_per_entry: int    # everything one `max_entries` unit holds, summed over its structures


# Each figure is the largest `bench/entry_sizes.py` measured between 5k and 100k entries (a dict's table
# grows in steps, so bytes per entry swing by ~20 % with the count). A verified token is 160 B: the cache
# keeps only which key vouched for it (tokens.py). A session's `max_entries` sizes four structures:
# verified sessions (315 B, each with its own phone), negative answers (205 B), and the revocation
# cache's terminal states and revoked session ids (300 B together).
CACHES: tuple[CacheCost, ...] = (
    CacheCost("jwks.verified_cache_max_entries", 0.35, 160),
    CacheCost("platform.session_cache_max_entries", 0.35, 820),
    CacheCost("platform.consumed_tokens_max_entries", 0.08, 205),
    CacheCost("challenges.consumed_tokens_max_entries", 0.08, 205),
    CacheCost("authy.consumed_codes_max_entries", 0.08, 205),
    # a refresh token's chain: its hash and the hashes of the last 4 access tokens issued with it
    CacheCost("identity.session_map_max_entries", 0.06, 594),
    # a logout's revocation: its id (`token:` + 64 hex, or a session id) and deadline in a dict, never
    # evicted (core/logout_revocations.py); weights are relative, so the others' shares shrink by ~4 %
    CacheCost("identity.logout_revocations_max_entries", 0.04, 240),
)


@dataclass(frozen=True)
class Plan:
    budget_bytes: int
    source: str                      # "config", "cgroup v2 …", "cgroup v1 …" or "default"
    sizes: dict[str, int]            # field → entries
    estimate_bytes: int              # baseline + every cache full
    problems: tuple[str, ...] = ()


def budget(configured_mb: int, container_limit: int | None, limit_source: str) -> tuple[int, str]:
    """The budget in bytes and where it came from: config wins, then the container, then a default."""
    if configured_mb > 0:
        return configured_mb * MB, "config"
    if container_limit:
        return int(container_limit * CONTAINER_SHARE), f"{CONTAINER_SHARE:.0%} of {limit_source}"
    return DEFAULT_BUDGET_MB * MB, "default"


def entry_bytes(cost: CacheCost) -> int:
    return int(cost.bytes_per_entry * SLACK)


def plan(budget_bytes: int, source: str, explicit: dict[str, int]) -> Plan:
    """Entries per cache. `explicit` holds the sizes set in config (> 0); the rest share what is left."""
    caches_bytes = budget_bytes - BASELINE_MB * MB
    problems: list[str] = []
    if caches_bytes < MIN_ENTRIES * sum(entry_bytes(c) for c in CACHES):
        problems.append(f"limits.memory_budget_mb: {budget_bytes // MB} MB ({source}) leaves "
                        f"{max(caches_bytes, 0) // MB} MB for caches after the {BASELINE_MB} MB baseline; "
                        f"too small for {MIN_ENTRIES} entries per cache")
    fixed = {c.field: explicit[c.field] * entry_bytes(c) for c in CACHES if explicit.get(c.field, 0) > 0}
    if sum(fixed.values()) > max(caches_bytes, 0):
        named = ", ".join(f"{f}={explicit[f]} (~{b // MB} MB)" for f, b in fixed.items())
        problems.append(f"limits.memory_budget_mb: explicit cache sizes need ~{sum(fixed.values()) // MB} MB "
                        f"but the budget of {budget_bytes // MB} MB ({source}) leaves {max(caches_bytes, 0) // MB} MB "
                        f"for caches: {named}")
    left = max(caches_bytes - sum(fixed.values()), 0)
    auto = [c for c in CACHES if c.field not in fixed]
    weights = sum(c.weight for c in auto) or 1.0
    sizes = {c.field: explicit[c.field] for c in CACHES if c.field in fixed}
    for c in auto:
        sizes[c.field] = max(MIN_ENTRIES, int(left * c.weight / weights / entry_bytes(c)))
    estimate = BASELINE_MB * MB + sum(sizes[c.field] * entry_bytes(c) for c in CACHES)
    return Plan(budget_bytes, source, sizes, estimate, tuple(problems))
