"""A load generator process: pre-serialized requests, one gRPC method, closed or open loop.

Closed loop: `concurrency` callers, each sends its next call when the last one returns (max RPS);
with `calls` set, each payload is sent once, in order, and the run ends after the last (a flood of
distinct requests) or at `duration`, whichever comes first.
Open loop: calls start on a fixed schedule (`rate` per second) whatever the answers do; latency is
measured from the scheduled start, so a stalled server can't hide its queueing (coordinated omission).

Run as `python -m bench.load SPEC.json`; prints one JSON object with raw latencies in microseconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time

import grpc


async def closed_loop(call, payloads: list[bytes], concurrency: int, duration: float, warmup: float,
                      calls: int | None = None) -> dict:
    latencies: list[int] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(offset: int) -> None:
        nonlocal errors
        i = offset
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at or (calls is not None and i >= calls):
                return
            try:
                await call(payloads[i % len(payloads)])
                ok = True
            except grpc.aio.AioRpcError:
                ok = False
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if ok:
                    latencies.append(int((t1 - t0) * 1e6))
                else:
                    errors += 1
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    return {"latencies_us": latencies, "errors": errors, "seconds": duration if calls is None else elapsed}


async def open_loop(call, payloads: list[bytes], rate: float, duration: float, warmup: float) -> dict:
    latencies: list[int] = []
    errors = 0
    total = int(rate * (duration + warmup))
    warm = int(rate * warmup)
    start = time.perf_counter()
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        try:
            await call(payloads[i % len(payloads)])
            if i >= warm:
                latencies.append(int((time.perf_counter() - scheduled) * 1e6))
        except grpc.aio.AioRpcError:
            if i >= warm:
                errors += 1

    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return {"latencies_us": latencies, "errors": errors, "seconds": duration}


async def run(spec: dict) -> dict:
    payloads = [base64.b64decode(p) for p in spec["payloads"]]
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        stub = channel.unary_unary(spec["method"])  # bytes in, bytes out: no client-side (de)serialisation
        timeout = spec.get("timeout", 5.0)

        async def call(payload: bytes):
            return await stub(payload, timeout=timeout)

        if spec.get("rate"):
            return await open_loop(call, payloads, spec["rate"], spec["duration"], spec["warmup"])
        return await closed_loop(call, payloads, spec["concurrency"], spec["duration"], spec["warmup"],
                                 spec.get("calls"))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = asyncio.run(run(json.load(f)))
    json.dump(result, sys.stdout)
