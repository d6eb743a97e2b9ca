"""The load generator's VerifyStream mode: N streams, each keeping M items in flight (closed loop) or
sending items on a fixed schedule (open loop); raw bytes both ways, latency per item.

Payloads are pre-serialised VerifyStreamRequests without an id; each item is sent as the id field
(`0x08` + varint) followed by those bytes — concatenated protobuf fields parse as one message — and
its answer's id is read back from the answer's first field (the sidecar writes fields in number
order, and ids start at 1 so the id is never omitted as a default). Packed (`pack`): items go out as
field 30 of one message (tag 0xF2 0x01, length, item), and a packed answer message is the same framing
around each answer.
"""

from __future__ import annotations

import asyncio
import time

import grpc


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def parse(raw: bytes) -> tuple[int, bool]:
    """(id, whether the answer is the per-item error: field 20, tag bytes 0xA2 0x01)."""
    if not raw or raw[0] != 0x08:
        raise ValueError("answer without an id first")
    n, shift, i = 0, 0, 1
    while True:
        b = raw[i]
        n |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return n, raw[i : i + 2] == b"\xa2\x01"
        shift += 7


PACKED = b"\xf2\x01"


def answers(raw: bytes) -> list[tuple[int, bool]]:
    """Each answer in a message, packed or not."""
    if not raw.startswith(PACKED):
        return [parse(raw)]
    out, pos = [], 0
    while pos < len(raw):
        pos += 2  # the tag
        size = shift = 0
        while True:
            b = raw[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        out.append(parse(raw[pos : pos + size]))
        pos += size
    return out


class _Stats:
    def __init__(self, measure_from: float) -> None:
        self.latencies: list[int] = []
        self.errors = 0
        self.answered = 0  # every answer, warm-up included (CPU per answer)
        self.measure_from = measure_from

    def record(self, sent: float, error: bool, now: float) -> None:
        self.answered += 1
        if sent < self.measure_from:
            return
        if error:
            self.errors += 1
        else:
            self.latencies.append(int((now - sent) * 1e6))


async def closed_loop(
    channels: list,
    method: str,
    payloads: list[bytes],
    streams: int,
    window: int,
    duration: float,
    warmup: float,
    pack: bool = False,
) -> dict:
    start = time.perf_counter()
    stats = _Stats(start + warmup)
    stop_at = start + warmup + duration

    async def one_stream(k: int) -> None:
        call = channels[k % len(channels)].stream_stream(method)(timeout=duration + warmup + 60)
        sent: dict[int, float] = {}
        next_id = 1
        i = k

        async def send() -> None:
            nonlocal next_id, i
            sent[next_id] = time.perf_counter()
            await call.write(b"\x08" + varint(next_id) + payloads[i % len(payloads)])
            next_id += 1
            i += streams

        def item() -> bytes:
            nonlocal next_id, i
            sent[next_id] = time.perf_counter()
            data = b"\x08" + varint(next_id) + payloads[i % len(payloads)]
            next_id += 1
            i += streams
            return PACKED + varint(len(data)) + data

        async def send_packed(count: int) -> None:
            await call.write(b"".join(item() for _ in range(count)))

        if pack:
            await send_packed(window)
        else:
            for _ in range(window):
                await send()
        while sent:
            raw = await call.read()
            if raw is grpc.aio.EOF:
                break
            now = time.perf_counter()
            if pack:
                got = answers(raw)
                for item_id, error in got:
                    stats.record(sent.pop(item_id), error, now)
                if now < stop_at:
                    await send_packed(len(got))
                continue
            item_id, error = parse(raw)
            stats.record(sent.pop(item_id), error, now)
            if now < stop_at:
                await send()
        await call.done_writing()
        await call.code()

    await asyncio.gather(*(one_stream(k) for k in range(streams)))
    return {"latencies_us": stats.latencies, "errors": stats.errors, "answered": stats.answered, "seconds": duration}


async def open_loop(
    channels: list, method: str, payloads: list[bytes], streams: int, rate: float, duration: float, warmup: float
) -> dict:
    """Items on a fixed schedule (rate per second over all streams); latency from the scheduled time."""
    start = time.perf_counter()
    stats = _Stats(start + warmup)
    total = int(rate * (duration + warmup))

    async def one_stream(k: int) -> None:
        call = channels[k % len(channels)].stream_stream(method)(timeout=duration + warmup + 60)
        scheduled_at: dict[int, float] = {}

        async def reader() -> None:
            while True:
                raw = await call.read()
                if raw is grpc.aio.EOF:
                    return
                item_id, error = parse(raw)
                stats.record(scheduled_at.pop(item_id), error, time.perf_counter())

        reading = asyncio.ensure_future(reader())
        for n, i in enumerate(range(k, total, streams), start=1):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled_at[n] = scheduled
            await call.write(b"\x08" + varint(n) + payloads[i % len(payloads)])
        await call.done_writing()
        await reading
        stats.errors += len([t for t in scheduled_at.values() if t >= stats.measure_from])  # never answered

    await asyncio.gather(*(one_stream(k) for k in range(streams)))
    return {"latencies_us": stats.latencies, "errors": stats.errors, "answered": stats.answered, "seconds": duration}
