"""The cost of one one-time claim: this process's ledger (`ledger.backend: memory`) next to the fleet's
Redis (`ledger.backend: redis`, a real redis-server on loopback, AOF synced every second as advised).

Measured in-process on core/onetime/ledger.py — the claim alone, without the gRPC call and the platform's
answer around it (what a VerifyApproval adds on top): one caller (latency) and 32 concurrent callers
(throughput). Every claim is of a fresh token, so every one is a write.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from harness.processes import RedisProcess, redis_server_binary
from sidecar.core.onetime.ledger import Claim, OneTimeClaims, SharedLedger
from sidecar.upstream.redis_ledger import RedisLedgerStore

CONCURRENCY = 32


def memory(seconds: float) -> dict:
    return {
        "scenario": "ledger_claim_memory",
        **asyncio.run(_measure(None, seconds)),
        "notes": "OneTimeClaims in this process: an LRU insert, no I/O",
    }


def redis(seconds: float) -> dict:
    binary, problem = redis_server_binary()
    if binary is None:
        return {"scenario": "ledger_claim_redis", "skipped": problem}
    server = RedisProcess(binary, Path(tempfile.mkdtemp(prefix="authsidecar-bench-redis-")), fsync="everysec")
    try:
        figures = asyncio.run(_measure(server.url, seconds))
    finally:
        server.stop()
    return {
        "scenario": "ledger_claim_redis",
        **figures,
        "notes": "the local ledger, then SET NX PX on redis-server over loopback (redis-py asyncio, one pool)",
    }


async def _measure(url: str | None, seconds: float) -> dict:
    shared = SharedLedger(RedisLedgerStore(url, timeout_seconds=1.0), "bench:") if url else None
    claims = OneTimeClaims("approval", 100_000, shared=shared)
    counter = iter(range(1 << 62))
    failed = 0

    async def claim() -> int:
        nonlocal failed
        key = next(counter).to_bytes(32, "big")
        started = time.perf_counter_ns()
        if await claims.claim(key, 60.0) is not Claim.FIRST:
            failed += 1
        return time.perf_counter_ns() - started

    try:
        if shared is not None:
            await shared.store.ping()  # connected before the clock starts
        latencies = []
        deadline = time.perf_counter() + seconds / 2
        while time.perf_counter() < deadline:
            latencies.append(await claim())
        latencies.sort()
        done = 0
        deadline = time.perf_counter() + seconds / 2

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await claim()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    finally:
        if shared is not None:
            await shared.close()
    return {
        "claims": len(latencies) + done,
        "failed": failed,
        "p50_us": round(latencies[len(latencies) // 2] / 1000, 1),
        "p99_us": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000, 1),
        "claims_per_second_1_caller": round(len(latencies) / (seconds / 2)),
        f"claims_per_second_{CONCURRENCY}_callers": round(done / elapsed),
    }
