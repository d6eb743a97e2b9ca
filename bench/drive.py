"""Send a list of pre-built requests to one AuthService method, many in flight: the filling load of
the memory scenarios and the warm-up passes (the measured load is bench/load.py)."""

from __future__ import annotations

import asyncio
import sys
import time

import grpc

from authsidecar.v1 import auth_pb2_grpc

PROGRESS_SECONDS = 10.0


async def drive(
    target: str, method: str, requests: list, concurrency: int, flag: str = "valid", progress: str = ""
) -> int:
    """Send every request with `concurrency` in flight; returns how many answers had `flag` set. With
    `progress`, a line on stderr every PROGRESS_SECONDS (a slow host takes minutes over 100,000)."""
    valid = done = 0
    started = last = time.monotonic()
    async with grpc.aio.insecure_channel(target) as channel:
        call = getattr(auth_pb2_grpc.AuthServiceStub(channel), method)
        queue = iter(requests)

        async def worker() -> None:
            nonlocal valid, done, last
            for request in queue:
                answer = await call(request, timeout=30)
                valid += getattr(answer, flag)  # after the await: `valid += await …` would read `valid` too early
                done += 1
                if progress and (now := time.monotonic()) - last >= PROGRESS_SECONDS:
                    last = now
                    rate = done / (now - started)
                    print(
                        f"  {progress}: {done:,}/{len(requests):,} {method} in {now - started:.0f}s "
                        f"({rate:,.0f}/s, ~{(len(requests) - done) / rate:.0f}s left)",
                        file=sys.stderr,
                        flush=True,
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return valid
