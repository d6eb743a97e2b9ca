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
import gc
import json
import sys
import time

import grpc

from . import load_stream, procstats


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
    pending = started = 0
    all_done = asyncio.Event()

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors, pending
        try:
            await senders[i % len(senders)](payloads[i % len(payloads)])
            if i >= warm:
                latencies.append(int((time.perf_counter() - scheduled) * 1e6))
        except grpc.aio.AioRpcError:
            if i >= warm:
                errors += 1
        finally:
            pending -= 1
            if pending == 0 and started == total:
                all_done.set()

    # Finished calls are not kept: a list of thousands of done tasks made this process's own garbage
    # collector pause it for 25-50 ms as it grew, and those pauses, not the server, set the p99.
    # What setup allocated is frozen for the same reason (the collector's passes skip it).
    gc.collect()
    gc.freeze()
    keep: set[asyncio.Task] = set()  # a running task must be referenced (asyncio holds tasks weakly)
    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending += 1
        started += 1
        task = asyncio.create_task(one(i, scheduled))
        keep.add(task)
        task.add_done_callback(keep.discard)
    if pending:
        await all_done.wait()
    return {"latencies_us": latencies, "errors": errors, "answered": total, "seconds": duration}


async def interleaved(spec: dict, scenario: tuple[list, list[bytes]], floor: tuple[list, list[bytes]]) -> dict:
    """The scenario and the floor in alternating slices (A B B A A B …), from one client process.

    On a shared host the CPU left to us drifts by tens of per cent within a minute (steal time); two
    scenarios run a minute apart then compare two hosts. Slices a second long see the same host: the
    ratio of their sums is the server's, whatever the drift. The sidecar's CPU and the host's steal
    are read around each slice, so each side's CPU per call is its own.
    """
    slices = spec["floor"]["slices"]
    seconds = spec["duration"] / slices  # per slice: each side gets the scenario's duration in all
    sides = {"scenario": scenario, "floor": floor}
    out = {
        name: {"latencies_us": [], "errors": 0, "answered": 0, "seconds": 0.0, "cpu": 0.0, "steal": 0.0, "host": 0.0}
        for name in sides
    }
    pids = spec.get("sidecar_pids", [])
    # one warm-up for both, before the first slice (connections up, caches hot)
    await _one(spec, *scenario, spec["warmup"], spec["warmup"] * 0.5)
    await _one(spec, *floor, spec["warmup"], spec["warmup"] * 0.5)
    for k in range(2 * slices):
        name = "scenario" if k % 4 in (0, 3) else "floor"
        cpu0, host0 = sum(procstats.cpu_seconds(p) for p in pids), procstats.host_seconds()
        got = await _one(spec, *sides[name], seconds, SLICE_SETTLE)
        host1 = procstats.host_seconds()
        side = out[name]
        side["cpu"] += sum(procstats.cpu_seconds(p) for p in pids) - cpu0
        side["steal"] += host1["steal"] - host0["steal"]
        side["host"] += host1["total"] - host0["total"]
        side["latencies_us"] += got["latencies_us"]
        side.setdefault("slice_p99_us", []).append(
            sorted(got["latencies_us"])[int(0.99 * (len(got["latencies_us"]) - 1))] if got["latencies_us"] else 0
        )
        side["errors"] += got["errors"]
        side["answered"] += got["answered"]
        side["seconds"] += got["seconds"]
    result = out["scenario"]
    result["floor"] = out["floor"]
    return result


# Each slice's first moments (the loop filling up after the other side's slice) are not measured.
SLICE_SETTLE = 0.15


async def _one(spec: dict, senders: list, payloads: list[bytes], duration: float, warmup: float) -> dict:
    if spec.get("rate"):
        return await open_loop(senders, payloads, spec["rate"], duration, warmup)
    return await closed_loop(senders, payloads, spec["concurrency"], duration, warmup)


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
        if spec.get("floor"):
            floor = spec["floor"]
            floor_senders = [functools.partial(c.unary_unary(floor["method"]), timeout=timeout) for c in channels]
            floor_payloads = [base64.b64decode(p) for p in floor["payloads"]]
            return await interleaved(spec, (senders, payloads), (floor_senders, floor_payloads))
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
