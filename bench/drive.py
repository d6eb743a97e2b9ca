"""Send a list of pre-built requests to one AuthService method, many in flight: the filling load of
the memory scenarios and the warm-up passes (the measured load is bench/load.py)."""

from __future__ import annotations

import asyncio

import grpc

from authsidecar.v1 import auth_pb2_grpc


async def drive(target: str, method: str, requests: list, concurrency: int, flag: str = "valid") -> int:
    """Send every request with `concurrency` in flight; returns how many answers had `flag` set."""
    valid = 0
    async with grpc.aio.insecure_channel(target) as channel:
        call = getattr(auth_pb2_grpc.AuthServiceStub(channel), method)
        queue = iter(requests)

        async def worker() -> None:
            nonlocal valid
            for request in queue:
                answer = await call(request, timeout=30)
                valid += getattr(answer, flag)  # after the await: `valid += await …` would read `valid` too early

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return valid
