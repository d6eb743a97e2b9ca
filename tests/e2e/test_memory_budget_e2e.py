"""The memory budget on a real sidecar: read from a real cgroup it runs in, and kept with every cache full.

The cgroup test makes a memory cgroup (v1 here, v2 where that is the mount) with a limit, starts the
sidecar inside it, and reads the budget back from /metrics; it skips where the test may not create
cgroups. The full-cache test runs a small configured budget, sends more distinct valid tokens and
sessions than the caches hold, and checks the process RSS stays under the budget while the LRU evicts.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from authsidecar.v1 import auth_pb2 as pb
from bench import procstats
from bench.scenarios import PHONE, BenchSigner, _bulk_sessions, _drive
from harness.processes import SidecarProcess, emulator_config, wait_until
from sidecar.config.memory_budget import MB, plan, transport_bytes
from sidecar.core.shared.caches import TtlLru

LIMIT = 300 * 1024 * 1024


def _make_cgroup() -> tuple[Path, Path]:
    """(cgroup dir, file to write a pid into); skips when cgroups can't be made here."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    if v2.exists() and "memory" in v2.read_text().split():
        group, limit_file = Path(f"/sys/fs/cgroup/authsidecar-test-{uuid.uuid4().hex[:8]}"), "memory.max"
    elif Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists():
        group = Path(f"/sys/fs/cgroup/memory/authsidecar-test-{uuid.uuid4().hex[:8]}")
        limit_file = "memory.limit_in_bytes"
    else:
        pytest.skip("no writable memory cgroup on this machine")
    try:
        group.mkdir()
        (group / limit_file).write_text(str(LIMIT))
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup here ({exc.strerror})")
    return group, group / "cgroup.procs"


def test_budget_is_read_from_the_cgroup_the_sidecar_runs_in(emulator, sidecar, tmp_path):
    group, procs = _make_cgroup()

    def enter() -> None:  # in the child, before exec: the sidecar starts inside the cgroup
        procs.write_text(str(os.getpid()))

    inside = SidecarProcess(emulator_config(emulator.url), tmp_path / "in-cgroup", preexec_fn=enter)
    try:
        inside.wait_for("SERVING")
        budget = int(LIMIT * 0.75)
        assert inside.metric("authsidecar_memory_budget_bytes") == budget
        expected = plan(budget, "", {}, transport_bytes(1000, 100, 128)).sizes  # the default limits
        for field in ("jwks.verified_cache_max_entries", "platform.session_cache_max_entries"):
            assert inside.metric("authsidecar_cache_capacity_entries", cache=field) == expected[field]
        assert "memory budget" in inside.log() and "cgroup v" in inside.log()
        assert sidecar.metric("authsidecar_memory_budget_bytes") != budget  # its neighbour, outside the group
    finally:
        inside.stop()
        wait_until(lambda: _removed(group), timeout=10, what="the test cgroup to be removed")


def _removed(group: Path) -> bool:
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


@pytest.mark.long  # tens of thousands of calls to fill the caches
@pytest.mark.timeout(300)  # ~2 min of CPU on a loaded 2-core machine; the suite default is 120 s
def test_a_small_budget_full_of_tokens_and_sessions_stays_under_it(sidecar_factory, emulator):
    budget_mb = 96
    # The gRPC transport counts in the budget too: at 96 MB the default limits do not fit (bench/all_full.py)
    sizes = plan(budget_mb * MB, "config", {}, transport_bytes(40, 4, 128)).sizes
    sc = sidecar_factory({"limits": {"memory_budget_mb": budget_mb, "max_in_flight": 40, "verify_streams_max": 4}})
    tokens_cap = sizes["jwks.verified_cache_max_entries"]
    sessions_cap = sizes["platform.session_cache_max_entries"]
    signer = BenchSigner()
    signer.publish(emulator)
    tokens = [pb.VerifyTokenRequest(token=t) for t in signer.mint(emulator, tokens_cap + tokens_cap // 5, "budget")]
    sessions = [
        pb.VerifySessionRequest(session_token=t, phone=PHONE)
        for t in _bulk_sessions(emulator, sessions_cap + sessions_cap // 5)
    ]
    assert asyncio.run(_drive(sc.target, "VerifyToken", tokens, concurrency=32)) == len(tokens)
    assert asyncio.run(_drive(sc.target, "VerifySession", sessions, concurrency=32)) == len(sessions)
    for cache, cap in (("verified_tokens", tokens_cap), ("sessions", sessions_cap)):
        # full: when it overflows, a cache drops its least recent entries in a small batch (caches.TtlLru)
        assert cap - cap // TtlLru.EVICT_SHARE <= sc.metric("authsidecar_cache_entries", cache=cache) <= cap
    assert sc.metric("authsidecar_cache_evictions_total", cache="verified_tokens") >= tokens_cap // 5
    assert sc.metric("authsidecar_cache_evictions_total", cache="sessions") >= sessions_cap // 5
    rss = procstats.memory_mb(sc.proc.pid)
    assert rss["rss_mb"] * 1024 * 1024 < budget_mb * MB, rss
    assert sc.metric("authsidecar_memory_budget_bytes") == budget_mb * MB
    print(f"RSS {rss} with {tokens_cap} tokens and {sessions_cap} sessions cached, budget {budget_mb} MB")
