"""AuthService.VerifyStream: many read-only verifications over one bidirectional stream.

Per stream, a reader task reads items and starts each as its own task; the handler (the writer) sends
answers in the order they complete. An item is "unanswered" from when it is read until its answer has
been handed to gRPC; at `limits.verify_stream_items_in_flight` unanswered items the reader stops
reading, so a caller that stops reading fills its own stream's flow-control window and nobody else's.
Items count against `limits.verify_stream_items_max` while they are being evaluated (over it: a per-item
RESOURCE_EXHAUSTED) — a budget of their own, so streams never shed a unary call — and in the per-method
RPC metrics, exactly as the unary calls do.

Items arrive as bytes and are decoded one by one (`raw_handler`): one that does not decode is answered
INVALID_ARGUMENT on its own id and the stream goes on. A packed message (`items`, field 30) is split
on the wire and each item decoded and answered as if it came alone; it is read whole (within the 80 KiB
receive cap the memory plan counts per stream) and its items start one by one as room frees, so
`limits.verify_stream_items_in_flight` still bounds the unanswered items, and the answers waiting.
A stream whose caller has packed gets its answers packed: whatever is ready when gRPC takes the next
message, up to PACK_BYTES. A stream whose caller stops reading holds only
gRPC's fixed window and write buffer (server.py); once an answer has waited
`limits.stream_write_stall_seconds` to go out, the stream is ended (RESOURCE_EXHAUSTED) and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2

from authsidecar.v1 import auth_pb2 as pb
from sidecar.observability import metrics, tracing

from ..config import Limits
from . import observe
from .rpc import InFlight, error_outcome, outcome_of, status_for

STREAM_METHOD = "VerifyStream"
# The oneof field of a request → the unary method it stands for (its metrics and errors are that method's).
METHODS = {
    "verify_token": "VerifyToken",
    "verify_session": "VerifySession",
    "is_revoked": "IsRevoked",
    "get_session_status": "GetSessionStatus",
}
CHECK_REQUIRED = "check: one of " + ", ".join(METHODS) + " is required"
DRAIN_MARGIN_SECONDS = 0.25  # end streams this long before gRPC's own grace ends, so our status wins
STALL_CHECKS = 4  # the watchdog looks this many times per limits.stream_write_stall_seconds
PACKING_HEADER = "authsidecar-stream-packing"  # initial metadata: the most items one message may carry
PACKED_TAG = b"\xf2\x01"  # field 30 (items / answers), length-delimited: (30 << 3) | 2 as a varint
# A packed answer message stays within gRPC's write buffer (server.py): one message at a time waits there.
PACK_BYTES = 64 * 1024
ITEMS_SHED = "too many stream items in flight (limits.verify_stream_items_max)"

Answerer = Callable[[Any], Awaitable[Any]]
_ABORTS: set[asyncio.Task] = set()  # stalled streams' status sends, until the caller reads or leaves


class StreamGate:
    """Process-wide: how many streams are open (bounded), and the shutdown signal they all watch."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self.open: set[_Stream] = set()
        self.watchdog: asyncio.Task | None = None  # started with the first stream (a loop is running then)
        self.draining = False
        self.expired = False  # the grace period is over: streams end now, answered or not
        # Read at scrape time rather than counted per item: the hot path stays two metric updates lighter.
        metrics.VERIFY_STREAMS_OPEN.set_function(lambda: len(self.open))
        metrics.VERIFY_STREAM_ITEMS.set_function(lambda: sum(s.evaluating for s in self.open))

    def drain(self, grace_seconds: float) -> None:
        """SIGTERM: idle streams end now, busy ones when idle or at the end of the grace period."""
        self.draining = True
        if self.watchdog is not None:
            self.watchdog.cancel()  # no new streams now; the drain ends the open ones
        asyncio.get_running_loop().call_later(max(0.0, grace_seconds - DRAIN_MARGIN_SECONDS), self._expire)
        for stream in self.open:
            stream.wake.set()

    def _expire(self) -> None:
        self.expired = True
        for stream in self.open:
            stream.wake.set()

    def watch(self, limits: Limits) -> None:
        if self.watchdog is None or self.watchdog.done():
            self.watchdog = asyncio.ensure_future(self._watch(limits))

    async def _watch(self, limits: Limits) -> None:
        """End streams whose caller stopped reading: an answer handed to gRPC that has not gone out
        within limits.stream_write_stall_seconds (read each round: reloads change it)."""
        while True:
            stall = limits.stream_write_stall_seconds
            await asyncio.sleep(stall / STALL_CHECKS)
            now = asyncio.get_running_loop().time()
            for stream in list(self.open):
                if not stream.writing or stream.writes != stream.seen_writes:
                    stream.seen_writes, stream.seen_at = stream.writes, now
                elif now - stream.seen_at >= stall and not stream.stalled:
                    stream.end_stalled(stall)


class _Stream:
    """One open VerifyStream: its unanswered items, their tasks, and the answers waiting to be sent."""

    def __init__(self, answerers: dict[str, Answerer], inflight: InFlight, max_items: int, item_timeout: float) -> None:
        self.answerers, self.inflight = answerers, inflight
        self.max_items, self.item_timeout = max_items, item_timeout
        self.ready: deque[pb.VerifyStreamResponse] = deque()
        self.wake = asyncio.Event()  # the writer: an answer is ready, reading ended, or drain news
        self.room = asyncio.Event()  # the reader: an answer went out, below max_items again
        # Item tasks not finished yet → (method, when admitted, its `run`); each task leaves it itself (no
        # done callback: a loop callback per item fewer), except one cancelled before its first step (`close`).
        self.tasks: dict[asyncio.Task, tuple[str, float, Coroutine]] = {}
        self.loop = asyncio.get_running_loop()
        self.unanswered = 0
        self.evaluating = 0  # items whose answer is being worked out (read at scrape time)
        self.reading = True
        self.packing = False  # the caller has sent a packed message: pack its answers
        # The stall watchdog's view: an answer is with gRPC (`writing`), answers gone out (`writes`),
        # and the count and time it saw last; `handler`/`context`: what ending the stream needs.
        self.writing = self.stalled = False
        self.writes = self.seen_writes = 0
        self.seen_at = self.loop.time()
        self.handler: asyncio.Task | None = None
        self.context: grpc.aio.ServicerContext | None = None

    def end_stalled(self, stall: float) -> None:
        """The caller has not read an answer for `stall` seconds. Its status goes out after the answers
        already buffered (gRPC sends trailers in order), so the send is started and not awaited; the
        handler is cancelled so the stream's place, items and buffers are given back now."""
        self.stalled = True
        metrics.VERIFY_STREAM_STALLED_TOTAL.inc()
        message = f"the caller did not read its answers for {stall:g}s (limits.stream_write_stall_seconds)"
        assert self.context is not None and self.handler is not None  # both set before the stream is watched
        task = asyncio.ensure_future(_abort_quietly(self.context, message))
        _ABORTS.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(_ABORTS.discard)
        self.loop.call_soon(self.handler.cancel)  # after the abort has handed its status to gRPC

    async def read(self, requests: AsyncIterator[pb.VerifyStreamRequest]) -> None:
        try:
            iterator = cast("AsyncIterator[bytes]", requests).__aiter__()  # raw_handler: items come undecoded
            while True:
                while self.unanswered >= self.max_items:
                    self.room.clear()
                    await self.room.wait()
                try:
                    raw = await iterator.__anext__()
                except StopAsyncIteration:
                    return
                # The tag's bytes may also occur inside a field: only the wire walk says it is packed.
                if PACKED_TAG in raw and (packed := split_items(raw)) is not None:
                    self.packing = True
                    await self.read_packed(raw, *packed)
                    continue
                self.unanswered += 1
                self.take(raw, False)
        finally:
            self.reading = False
            self.wake.set()

    async def read_packed(self, raw: bytes, spans: list[tuple[int, int]], wrong: bool) -> None:
        """A packed message's items, each admitted when there is room, as if each had come alone."""
        for n, (begin, end) in enumerate(spans):
            while self.unanswered >= self.max_items:
                self.room.clear()
                await self.room.wait()
            self.unanswered += 1
            if n >= self.max_items:  # one message may not carry more than a stream may hold
                metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "shed", "none").inc()
                self.answer(_error(item_id(raw[begin:end]), code_pb2.RESOURCE_EXHAUSTED, self.too_many))
                continue
            self.take(raw[begin:end], True)
        if wrong:  # fields beside the items, or a malformed tail: answered once, on the message's own id
            while self.unanswered >= self.max_items:
                self.room.clear()
                await self.room.wait()
            self.unanswered += 1
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "invalid_argument", "none").inc()
            self.answer(_error(item_id(raw), code_pb2.INVALID_ARGUMENT, PACKED_ALONE))

    @property
    def too_many(self) -> str:
        return f"items: more than {self.max_items} in one message (limits.verify_stream_items_in_flight)"

    def take(self, raw: bytes, packed: bool) -> None:
        """One item's bytes, already counted as unanswered: decoded on its own, then started."""
        try:
            item = pb.VerifyStreamRequest.FromString(raw)
        except DecodeError:  # e.g. invalid UTF-8 in a string: this item only
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "invalid_argument", "none").inc()
            return self.answer(_error(item_id(raw), code_pb2.INVALID_ARGUMENT, NOT_AN_ITEM))
        if packed and item.items:
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "invalid_argument", "none").inc()
            return self.answer(_error(item.id, code_pb2.INVALID_ARGUMENT, NESTED_ITEMS))
        self.start(item)

    def start(self, item: pb.VerifyStreamRequest) -> None:
        kind = item.WhichOneof("check")
        if kind is None:
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "invalid_argument", "none").inc()
            return self.answer(
                pb.VerifyStreamResponse(
                    id=item.id, error=status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=CHECK_REQUIRED)
                )
            )
        method = METHODS[kind]
        timeout = self.item_timeout
        if item.HasField("timeout"):
            own = item.timeout.ToTimedelta().total_seconds()
            if own < 0:
                metrics.child(metrics.RPC_TOTAL, method, "invalid_argument", "none").inc()
                return self.answer(
                    pb.VerifyStreamResponse(
                        id=item.id,
                        error=status_pb2.Status(
                            code=code_pb2.INVALID_ARGUMENT, message="timeout: must not be negative"
                        ),
                    )
                )
            if own > 0:
                timeout = min(own, timeout) if timeout > 0 else own
        inflight = self.inflight
        if inflight.current >= inflight.limit:  # shed the item, not the stream
            metrics.RPC_SHED_TOTAL.inc()
            metrics.child(metrics.RPC_TOTAL, method, "shed", "none").inc()
            return self.answer(
                pb.VerifyStreamResponse(
                    id=item.id,
                    error=status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=ITEMS_SHED),
                )
            )
        inflight.current += 1
        self.evaluating += 1
        started = time.perf_counter()
        work = self.run(item.id, kind, method, getattr(item, kind), timeout, started)
        task = self.loop.create_task(tracing.item(method, work) if tracing.ENABLED else work)
        self.tasks[task] = (method, started, work)

    async def run(self, item_id: int, kind: str, method: str, request: Any, timeout: float, started: float) -> None:
        """Evaluate one item as its unary call would, and queue its answer (or its per-item error)."""
        outcome, reason, response = "error", "none", None
        try:
            if timeout > 0:
                async with asyncio.timeout(timeout):
                    response = await self.answerers[kind](request)
            else:
                response = await self.answerers[kind](request)
            outcome, reason = outcome_of(response)
            self.answer(pb.VerifyStreamResponse(id=item_id, **{kind: response}))
        except asyncio.CancelledError:
            outcome = "cancelled"  # the stream ended (caller gone, its deadline, shutdown)
            raise
        except Exception as exc:
            outcome = error_outcome(exc)
            self.answer(pb.VerifyStreamResponse(id=item_id, error=status_for(method, exc)))
        finally:
            if (task := asyncio.current_task(self.loop)) is not None:
                self.tasks.pop(task, None)
            self.release(method, outcome, reason, started)
            observe.finished(method, outcome, reason, response, started)  # decision log, span labels

    def release(self, method: str, outcome: str, reason: str, started: float) -> None:
        """An item is done: counted before the in-flight gauges drop (a scrape runs on another thread)."""
        metrics.child(metrics.RPC_TOTAL, method, outcome, reason).inc()
        self.inflight.release(method, started)  # as a unary call's: its place, the gauge, its duration
        self.evaluating -= 1

    def answer(self, response: pb.VerifyStreamResponse) -> None:
        self.ready.append(response)
        self.wake.set()

    def sent(self, answers: int) -> None:
        self.writing = False
        self.writes += 1
        self.unanswered -= answers
        if self.unanswered < self.max_items:
            self.room.set()

    def close(self) -> None:
        for task, (method, started, work) in list(self.tasks.items()):
            task.cancel()  # ends their upstream requests too
            coro = task.get_coro()
            if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                # Cancelled before its first step, its coroutine never runs (nor its `finally`): count it
                # here, or its place under verify_stream_items_max and the gauges would leak. It had no span yet.
                del self.tasks[task]
                if work is not task.get_coro():
                    work.close()  # under the tracing wrapper: never awaited now, and no warning
                self.release(method, "cancelled", "none", started)


def _error(item: int, code: int, message: str) -> pb.VerifyStreamResponse:
    return pb.VerifyStreamResponse(id=item, error=status_pb2.Status(code=code, message=message))


NOT_AN_ITEM = "item: is not a valid VerifyStreamRequest"
NESTED_ITEMS = "items: a packed item cannot carry items"
PACKED_ALONE = "items: a message that carries items has no other field (or it is malformed)"


def split_items(raw: bytes) -> tuple[list[tuple[int, int]], bool] | None:
    """The spans of a packed message's items (field 30), and whether anything else is there (another
    field, or a malformed tail: the items before it still count). None when it carries no items."""
    spans: list[tuple[int, int]] = []
    wrong, pos, size = False, 0, len(raw)
    while pos < size:
        key, pos = _varint(raw, pos)
        if key is None:
            wrong = True
            break
        field, wire = key >> 3, key & 7
        if wire == 2:
            length, pos = _varint(raw, pos)
            if length is None or pos + length > size:
                wrong = True
                break
            if field == 30:
                spans.append((pos, pos + length))
            else:
                wrong = True
            pos += length
        elif wire == 0:
            value, pos = _varint(raw, pos)
            wrong = True
            if value is None:
                break
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            wrong = True
        else:
            wrong = True
            break
    return (spans, wrong) if spans else None


def pack(ready: deque[pb.VerifyStreamResponse]) -> tuple[bytes, int]:
    """Answers from the front of `ready` as one packed message of at most PACK_BYTES (or one answer
    alone, whatever its size), and how many it holds."""
    first = ready.popleft().SerializeToString()
    parts = [PACKED_TAG, _encode_varint(len(first)), first]
    size, count = len(first) + 5, 1
    while ready:
        data = ready[0].SerializeToString()
        size += len(data) + 5
        if size > PACK_BYTES:
            break
        ready.popleft()
        parts += (PACKED_TAG, _encode_varint(len(data)), data)
        count += 1
    return b"".join(parts), count


def _encode_varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def item_id(raw: bytes) -> int:
    """Field 1 (the id, a varint) of an item that does not decode as a whole; 0 when it can't be read
    either. Reads the leading fields of the wire format only as far as they are well formed."""
    pos = 0
    while pos < len(raw):
        key, pos = _varint(raw, pos)
        if key is None:
            return 0
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(raw, pos)
            if value is None:
                return 0
            if field == 1:
                return value & 0xFFFF_FFFF_FFFF_FFFF
        elif wire == 2:
            size, pos = _varint(raw, pos)
            if size is None:
                return 0
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            return 0
    return 0


def _varint(raw: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(raw) and shift < 70:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


async def _abort_quietly(context: grpc.aio.ServicerContext, message: str) -> None:
    """Hand the stream's status to gRPC; it completes when the caller reads (or leaves), maybe never."""
    with contextlib.suppress(Exception):  # AbortError (expected), or the call already ended
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def raw_handler(serve: Callable) -> grpc.RpcMethodHandler:
    """VerifyStream's handler with items and answers as bytes: `_Stream.read` decodes each item, so one
    that does not decode is answered on its own id and the stream goes on (gRPC's own decoding would end
    it); the writer serializes answers itself, to pack them."""
    return grpc.stream_stream_rpc_method_handler(serve, request_deserializer=None, response_serializer=None)


class VerifyStreams:
    """Serves VerifyStream calls; `answerers` maps each oneof field to its unary answer (request → response)."""

    def __init__(self, answerers: dict[str, Answerer], inflight: InFlight, gate: StreamGate, limits: Limits) -> None:
        self.answerers, self.inflight, self.gate = answerers, inflight, gate
        self.limits = limits  # read per stream: a live reload updates this object in place

    def serve(
        self, requests: AsyncIterator[pb.VerifyStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """The stream's answers: in one span (each item's span under it) when tracing is on; off, no
        wrapper generator, as every layer costs each answer a resumption."""
        if tracing.ENABLED:
            return self._traced(self, requests, context)
        return self._serve(requests, context)

    async def _serve(
        self, requests: AsyncIterator[pb.VerifyStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        gate = self.gate
        if gate.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is shutting down")
        if len(gate.open) >= gate.max_streams:
            metrics.RPC_SHED_TOTAL.inc()
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, "shed", "none").inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"more than {gate.max_streams} VerifyStream streams open"
            )
        limits = self.limits
        stream = _Stream(
            self.answerers,
            self.inflight.items,
            limits.verify_stream_items_in_flight,
            limits.verify_stream_item_timeout_seconds,
        )
        stream.handler, stream.context = asyncio.current_task(), context
        # Sent at once (not with the first answer): a caller waiting for it knows the stream was admitted.
        await context.send_initial_metadata(((PACKING_HEADER, str(stream.max_items)),))
        gate.open.add(stream)
        gate.watch(limits)
        reader = asyncio.ensure_future(stream.read(requests))
        outcome = "error"
        try:
            # Answers as they complete, until the caller is done and everything is answered (or shutdown).
            # Inline rather than a generator of its own: one resumption per answer fewer.
            while True:
                ready = stream.ready
                while ready:
                    stream.writing = True
                    if stream.packing and len(ready) > 1:
                        data, count = pack(ready)
                        yield data
                        stream.sent(count)
                    else:
                        yield ready.popleft().SerializeToString()
                        stream.sent(1)
                if reader.done() and not reader.cancelled() and (error := reader.exception()) is not None:
                    raise error
                if gate.expired or (gate.draining and stream.unanswered == 0):
                    break
                if not stream.reading and stream.unanswered == 0:
                    break
                stream.wake.clear()
                if not ready:
                    await stream.wake.wait()
            if gate.draining:
                outcome = "unavailable"
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is shutting down")
            outcome = "ok"
        except asyncio.CancelledError:
            outcome = "cancelled"  # the caller went away or the stream's deadline passed
            raise
        finally:
            if stream.stalled:
                outcome = "stalled"  # ended by the watchdog: the generator is closed at its `yield`
            elif outcome != "unavailable" and context.cancelled():
                outcome = "cancelled"  # the read side saw the cancellation first (as the end of input)
            reader.cancel()
            stream.close()
            # Counted before the stream leaves the open set: a scrape (another thread) that sees
            # zero streams open also sees how the last one ended.
            metrics.child(metrics.RPC_TOTAL, STREAM_METHOD, outcome, "none").inc()
            gate.open.discard(stream)

    # One span per stream, each item's span under it (tracing on only; see `serve`).
    _traced = staticmethod(tracing.traced_stream(STREAM_METHOD, _serve))
