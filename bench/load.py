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
import functools
import json
import sys
import time

import grpc

from . import load_stream


async def closed_loop(
    senders: list, payloads: list[bytes], concurrency: int, duration: float, warmup: float, calls: int | None = None
) -> dict:
    latencies: list[int] = []
    errors = answered = 0  # answered: every call that ended, warm-up included (CPU per call)
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker(offset: int) -> None:
        nonlocal errors, answered
        i = offset
        call = senders[offset % len(senders)]
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
            answered += 1
            if t0 >= measure_from:
                if ok:
                    latencies.append(int((t1 - t0) * 1e6))
                else:
                    errors += 1
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    return {
        "latencies_us": latencies,
        "errors": errors,
        "answered": answered,
        "seconds": duration if calls is None else elapsed,
    }


async def open_loop(senders: list, payloads: list[bytes], rate: float, duration: float, warmup: float) -> dict:
    latencies: list[int] = []
    errors = 0
    total = int(rate * (duration + warmup))
    warm = int(rate * warmup)
    start = time.perf_counter()
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        try:
            await senders[i % len(senders)](payloads[i % len(payloads)])
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
    return {"latencies_us": latencies, "errors": errors, "answered": total, "seconds": duration}


async def run(spec: dict) -> dict:
    payloads = [base64.b64decode(p) for p in spec["payloads"]]
    # One channel per connection; a local subchannel pool keeps grpc from sharing one TCP connection
    # among them (with reuse_port, connections are what the kernel spreads over sidecar processes).
    channels = [
        grpc.aio.insecure_channel(spec["target"], options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(spec.get("connections", 1))
    ]
    timeout = spec.get("timeout", 5.0)
    try:
        if spec.get("streams"):  # VerifyStream: N streams × M items in flight, or open loop
            if spec.get("rate"):
                return await load_stream.open_loop(
                    channels, spec["method"], payloads, spec["streams"], spec["rate"], spec["duration"], spec["warmup"]
                )
            return await load_stream.closed_loop(
                channels,
                spec["method"],
                payloads,
                spec["streams"],
                spec["window"],
                spec["duration"],
                spec["warmup"],
                spec.get("pack", False),
            )
        # bytes in, bytes out: no client-side (de)serialisation
        stubs = [channel.unary_unary(spec["method"]) for channel in channels]
        senders = [functools.partial(stub, timeout=timeout) for stub in stubs]
        if spec.get("rate"):
            return await open_loop(senders, payloads, spec["rate"], spec["duration"], spec["warmup"])
        return await closed_loop(
            senders, payloads, spec["concurrency"], spec["duration"], spec["warmup"], spec.get("calls")
        )
    finally:
        for channel in channels:
            await channel.close()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = asyncio.run(run(json.load(f)))
    json.dump(result, sys.stdout)
