"""Concurrent read-only calls carried over one AuthService.VerifyStream per client (the `multiplex` option).

Each call becomes a stream item with a fresh id and a future; one reader resolves the futures by id as
the answers come (in any order). The call's deadline travels as the item's timeout, so the sidecar
abandons the item when the caller stops waiting. A per-item error is raised as the grpc.RpcError the
unary call would have raised (same code and message, rich details in the trailing metadata). When the
stream breaks, every call waiting on it fails with the stream's status (UNAVAILABLE when the sidecar
restarts: the client's retry policy then retries it, on a new stream); a sidecar without VerifyStream
(UNIMPLEMENTED) or with its streams full (RESOURCE_EXHAUSTED) sends the calls back to unary RPCs.

Neither multiplexer writes anything until the sidecar has admitted the stream (its initial metadata):
a write racing a refusal at open makes grpc.aio end the call INTERNAL ("execute_batch") instead of with
the sidecar's RESOURCE_EXHAUSTED, and the calls could not go back to unary RPCs. Once the stream is
open each packs what is queued into one message each time it can write (up to the sidecar's announced
items per message), with no added wait: one message per item is what a stream item costs most.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from authsidecar.v1 import auth_pb2 as pb

# Method → the VerifyStreamRequest oneof field carrying it. Only these four ride the stream.
KINDS = {
    "VerifyToken": "verify_token",
    "VerifySession": "verify_session",
    "IsRevoked": "is_revoked",
    "GetSessionStatus": "get_session_status",
}
FULL_COOLDOWN_SECONDS = 5.0  # after RESOURCE_EXHAUSTED at open: unary calls for this long
CLOSE_GRACE_SECONDS = 1.0  # close(): how long answers still owed may take before the stream is cancelled
CODES = {code.value[0]: code for code in grpc.StatusCode}
_EMPTY = grpc.aio.Metadata()
PACKING_HEADER = "authsidecar-stream-packing"  # the sidecar's initial metadata: items per message
# A sidecar older than packing sends its initial metadata only with its first answer: after this
# long without it, items go out one per message, as they used to.
OPEN_WAIT_SECONDS = 1.0
PACK_BYTES = 60 * 1024  # under the sidecar's 80 KiB receive cap


class Fallback(Exception):
    """The call was not sent on a stream that cannot carry it: make it as a unary RPC instead."""


def rpc_error(code: grpc.StatusCode, details: str, status_bin: bytes | None = None) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status_bin)) if status_bin else _EMPTY
    return grpc.aio.AioRpcError(code, _EMPTY, trailing, details=details)


def item_error(status) -> grpc.aio.AioRpcError:
    """A per-item google.rpc.Status as the error the unary call would have raised."""
    code = CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return rpc_error(code, status.message, status.SerializeToString() if status.details else None)


def deadline_error() -> grpc.aio.AioRpcError:
    return rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


def stream_item(item_id: int, method: str, request: Any, timeout: float) -> pb.VerifyStreamRequest:
    item = pb.VerifyStreamRequest(id=item_id, **{KINDS[method]: request})
    item.timeout.FromNanoseconds(max(int(timeout * 1e9), 1_000_000))
    return item


class _Routing:
    """Whether the stream may be used now (after UNIMPLEMENTED: never; after RESOURCE_EXHAUSTED: later)."""

    def __init__(self) -> None:
        self.closed_until = 0.0

    def usable(self) -> bool:
        return self.closed_until <= time.monotonic()

    def failure(self, error: BaseException) -> BaseException:
        """What a waiting call gets when the stream ends with `error`: Fallback for the codes that mean 'no stream'."""
        code = error.code() if isinstance(error, grpc.RpcError) else None
        if code == grpc.StatusCode.UNIMPLEMENTED:
            self.closed_until = float("inf")
            return Fallback()
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            self.closed_until = time.monotonic() + FULL_COOLDOWN_SECONDS
            return Fallback()
        return error


def _answer(answer: pb.VerifyStreamResponse) -> tuple[Any, BaseException | None]:
    kind = answer.WhichOneof("result")
    if kind == "error" or kind is None:
        return None, item_error(answer.error)
    return getattr(answer, kind), None


class AsyncMultiplexer(_Routing):
    """One VerifyStream on a grpc.aio channel, opened on first use and again after it ends."""

    def __init__(self, stub) -> None:
        super().__init__()
        self._stub = stub
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._outbox: asyncio.Queue | None = None
        self._call = None
        self._reader: asyncio.Task | None = None
        self._writer: asyncio.Task | None = None
        self.items_sent = self.messages_sent = 0  # how well packing does (read by tests and the curious)

    async def call(self, method: str, request: Any, timeout: float) -> Any:
        if self._call is None:
            self._open()
        assert self._outbox is not None  # _open() made it
        item_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[item_id] = future
        self._outbox.put_nowait(stream_item(item_id, method, request, timeout))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise deadline_error() from None
        finally:
            self._pending.pop(item_id, None)

    def _open(self) -> None:
        self._outbox = asyncio.Queue()
        self._call = self._stub.VerifyStream()  # written by _write, not from an iterator
        self._reader = asyncio.ensure_future(self._read(self._call))
        self._writer = asyncio.ensure_future(self._write(self._call, self._outbox))

    async def _write(self, call, outbox: asyncio.Queue) -> None:
        per_message = await _admitted(call)
        if per_message is None:
            return  # refused at open (or gone): nothing was sent, the reader reports how it ended
        carried: Any = _NOTHING  # taken from the queue, not yet written (did not fit the last message)
        try:
            while (item := carried if carried is not _NOTHING else await outbox.get()) is not None:
                items, carried = _gather(
                    item, lambda: outbox.get_nowait() if not outbox.empty() else _NOTHING, per_message
                )
                item = _packed(items)
                await call.write(item)
                self.messages_sent += 1
                self.items_sent += len(item.items) or 1
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError):
            return  # the stream ended: the reader fails what was waiting on it with its status

    async def _read(self, call) -> None:
        error: BaseException = rpc_error(grpc.StatusCode.UNAVAILABLE, "VerifyStream ended")
        try:
            async for answer in call:
                if answer.answers:
                    for each in answer.answers:
                        self._deliver(each)
                else:
                    self._deliver(answer)
        except grpc.RpcError as exc:
            error = exc
        finally:
            if self._call is call:
                self._call = None
                if self._outbox is not None:
                    self._outbox.put_nowait(None)
            failure = self.failure(error)
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(failure)

    def _deliver(self, answer: pb.VerifyStreamResponse) -> None:
        future = self._pending.get(answer.id)
        if future is None or future.done():
            return  # its caller stopped waiting (deadline, cancelled)
        result, failure = _answer(answer)
        future.set_exception(failure) if failure else future.set_result(result)

    async def close(self) -> None:
        call, reader, writer, outbox = self._call, self._reader, self._writer, self._outbox
        self._call = None
        if call is not None:
            # Half-close: the sidecar answers what it holds and ends the stream OK; cancel only
            # if that takes longer than the grace (a cancelled stream counts as "cancelled").
            outbox.put_nowait(None)
            if reader is not None:
                await asyncio.wait({reader}, timeout=CLOSE_GRACE_SECONDS)
            call.cancel()
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)


def _per_message(announced: Any) -> int:
    """The items per message a sidecar's packing header allows (1 for anything but a positive count)."""
    return int(announced) if str(announced).isdigit() and int(announced) > 0 else 1


async def _admitted(call) -> int | None:
    """Items per message the sidecar takes once it has admitted the stream (1: an older sidecar that
    does not say), or None when the stream ended before that."""
    try:
        metadata = await asyncio.wait_for(asyncio.shield(call.initial_metadata()), OPEN_WAIT_SECONDS)
    except TimeoutError:
        return 1  # an older sidecar sends its initial metadata with its first answer
    except (grpc.RpcError, asyncio.InvalidStateError):
        return None
    announced = dict(metadata).get(PACKING_HEADER)
    if announced is not None:
        return _per_message(announced)
    # Metadata before any item without the header: a refusal at open (trailers only) is the one case
    # this sidecar or an older one sends it; a stream that still goes on after all takes single items.
    try:
        await asyncio.wait_for(asyncio.shield(call.code()), OPEN_WAIT_SECONDS)
        return None
    except TimeoutError:
        return 1


_NOTHING = object()  # nothing queued now (or nothing carried over)


def _gather(first: pb.VerifyStreamRequest, take: Callable[[], Any], per_message: int) -> tuple[list, Any]:
    """`first` and what `take()` has queued now (_NOTHING when empty), as the items of one message (at
    most `per_message` items and PACK_BYTES), and the one thing taken but left for next time: an item
    that did not fit, or an end marker (anything not an item), else _NOTHING. Both multiplexers pack so."""
    items, size = [first], first.ByteSize()
    while len(items) < per_message and (item := take()) is not _NOTHING:
        if not isinstance(item, pb.VerifyStreamRequest) or (size := size + item.ByteSize() + 5) > PACK_BYTES:
            return items, item
        items.append(item)
    return items, _NOTHING


def _packed(items: list[pb.VerifyStreamRequest]) -> pb.VerifyStreamRequest:
    return items[0] if len(items) == 1 else pb.VerifyStreamRequest(items=items)


_STOP = object()


def _take(outbox: queue.SimpleQueue) -> Any:
    try:
        return outbox.get_nowait()
    except queue.Empty:
        return _NOTHING


class _Admission:
    """Whether (and how packed) the sync multiplexer may write: decided once, by the reader (the
    sidecar's initial metadata, or the stream ending first) or by the writer after OPEN_WAIT_SECONDS
    without any metadata (an older sidecar). None: refused or gone, write nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decided = threading.Event()
        self.metadata_seen = False
        self.per_message: int | None = None

    def decide(self, per_message: int | None) -> None:
        with self._lock:
            if not self._decided.is_set():
                self.per_message = per_message
                self._decided.set()

    def wait(self) -> int | None:
        if not self._decided.wait(OPEN_WAIT_SECONDS) and not self.metadata_seen:
            self.decide(1)  # no metadata at all: an older sidecar sends it with its first answer
        # Metadata without the header: the reader tells a refusal from a stream that goes on, within a wait.
        if not self._decided.wait(2 * OPEN_WAIT_SECONDS):
            self.decide(1)
        return self.per_message


class SyncMultiplexer(_Routing):
    """One VerifyStream on a blocking channel: callers from any thread; gRPC's thread sends, ours reads.

    The same admission rule as the async multiplexer: gRPC's thread takes no item before the sidecar
    admitted the stream. It asks for the next message only once the last one is written, so what
    queued meanwhile goes out packed (up to the announced items per message and PACK_BYTES)."""

    def __init__(self, stub) -> None:
        super().__init__()
        self._stub = stub
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue | None = None
        self._call = None
        self.items_sent = self.messages_sent = 0  # how well packing does (read by tests and the curious)

    def call(self, method: str, request: Any, timeout: float) -> Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        item_id = next(self._ids)  # itertools.count is atomic under the GIL
        with self._lock:
            if self._call is None:
                self._open()
            self._pending[item_id] = future
            outbox = self._outbox
        assert outbox is not None  # _open() made it
        outbox.put(stream_item(item_id, method, request, timeout))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise deadline_error() from None
        finally:
            self._pending.pop(item_id, None)

    def _open(self) -> None:
        self._outbox = queue.SimpleQueue()
        admission = _Admission()
        self._call = self._stub.VerifyStream(self._messages(self._outbox, admission))
        threading.Thread(
            target=self._read,
            args=(self._call, self._outbox, admission),
            name="authsidecar-verify-stream",
            daemon=True,
        ).start()

    def _messages(self, outbox: queue.SimpleQueue, admission: _Admission):
        """The request messages (run by gRPC's thread, which asks for one once the last is written)."""
        per_message = admission.wait()
        if per_message is None:
            return  # refused at open (or gone): nothing is sent, the reader reports how it ended
        carried: Any = _NOTHING  # taken from the queue, not yet written (did not fit the last message)
        while (item := carried if carried is not _NOTHING else outbox.get()) is not _STOP:
            items, carried = _gather(item, lambda: _take(outbox), per_message)
            self.messages_sent += 1
            self.items_sent += len(items)
            yield _packed(items)

    def _admit(self, call, admission: _Admission) -> None:
        metadata = call.initial_metadata()  # an older sidecar: only with its first answer
        admission.metadata_seen = True
        announced = dict(metadata or ()).get(PACKING_HEADER)
        if announced is not None:
            admission.decide(_per_message(announced))
            return
        # Metadata before any item without the header: a refusal at open (trailers only), or an
        # older sidecar's stream that goes on (single items).
        ended = threading.Event()
        call.add_done_callback(lambda _call: ended.set())
        admission.decide(None if ended.wait(OPEN_WAIT_SECONDS) else 1)

    def _read(self, call, outbox: queue.SimpleQueue, admission: _Admission) -> None:
        error: BaseException = rpc_error(grpc.StatusCode.UNAVAILABLE, "VerifyStream ended")
        try:
            self._admit(call, admission)
            for message in call:
                for answer in message.answers or (message,):  # packed or not
                    future = self._pending.get(answer.id)
                    if future is None or future.done():
                        continue
                    result, failure = _answer(answer)
                    future.set_exception(failure) if failure else future.set_result(result)
        except grpc.RpcError as exc:
            error = exc
        finally:
            admission.decide(None)  # not admitted by now: never will be
            with self._lock:
                if self._call is call:
                    self._call = None
                outbox.put(_STOP)
                failure = self.failure(error)
                waiting = list(self._pending.values())
            for future in waiting:
                if not future.done():
                    future.set_exception(failure)

    def close(self) -> None:
        with self._lock:
            call, self._call = self._call, None
            outbox = self._outbox
        if call is not None:
            ended = threading.Event()
            call.add_done_callback(lambda _call: ended.set())
            outbox.put(_STOP)  # half-close, as the async multiplexer does
            ended.wait(CLOSE_GRACE_SECONDS)
            call.cancel()
