"""What every RPC handler shares: load shedding, metrics, and mapping failures to gRPC status codes.

Handlers raise core exceptions; this is the one place they become status codes:
  InvalidArgument            → INVALID_ARGUMENT (message names the field)
  UpstreamLimited            → RESOURCE_EXHAUSTED (a vendor limit on this caller: attempts, rate)
  UpstreamError unavailable  → UNAVAILABLE (upstream status in the message)
  UpstreamError 4xx          → the code of that HTTP status (404 NOT_FOUND, 401/403 PERMISSION_DENIED…)
  (every UpstreamError also carries an authsidecar.v1.UpstreamErrorDetail in the rich status details)
  NotConfigured              → FAILED_PRECONDITION (the platform this RPC needs is not configured)
  Unsupported                → UNIMPLEMENTED (the configured platform has no such call; the reason names who has)
  asyncio.TimeoutError       → DEADLINE_EXCEEDED
  anything else              → INTERNAL, logged with its trace (the caller learns nothing more)
"""

from __future__ import annotations

import asyncio
import functools
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from authsidecar.v1 import errors_pb2
from sidecar.core.shared.outcomes import InvalidArgument, NotConfigured, Unsupported, UpstreamError, UpstreamLimited
from sidecar.observability import logs, metrics, tracing

from . import observe

log = logs.get("api")

HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.PERMISSION_DENIED,  # our credentials to the upstream, not the caller's
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.UNAVAILABLE,
}
CODES = {code.value[0]: code for code in grpc.StatusCode}


class InFlight:
    """Counts RPCs in flight and refuses new ones past the limit (shedding beats queueing).

    Unary calls count against `limit` (limits.max_in_flight); server streams, which a caller may hold
    for minutes, against their own `streams` budget (limits.max_streams), and VerifyStream items being
    evaluated against theirs (`items`, limits.verify_stream_items_max) — so neither held streams nor
    packed items can starve unary calls or ext_authz Check.
    """

    def __init__(
        self, limit: int, max_streams: int | None = None, max_items: int | None = None, what: str = "calls"
    ) -> None:
        self.limit = limit
        self.current = 0
        self.what = what
        self.streams = self if max_streams is None else InFlight(max_streams, what="streams")
        self.items = self if max_items is None else InFlight(max_items, what="stream items")

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        """Count the call in, or refuse it with RESOURCE_EXHAUSTED at once."""
        if not self.take():
            await self.shed(method, context)

    def total(self) -> int:
        """Calls, stream items and streams in flight now: what the in-flight gauge reads at a scrape
        (read there, not counted per call, so the hot path pays no gauge lock twice a call)."""
        return self.current + sum(budget.current for budget in (self.streams, self.items) if budget is not self)

    def take(self) -> bool:
        """Count the call in if there is room (no coroutine: the unary hot path calls this)."""
        if self.current >= self.limit:
            return False
        self.current += 1
        return True

    async def shed(self, method: str, context: grpc.aio.ServicerContext) -> None:
        metrics.RPC_SHED_TOTAL.inc()
        metrics.RPC_TOTAL.labels(method, "shed", "none").inc()
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"too many {self.what} in flight")

    def release(self, method: str, started: float) -> None:
        self.current -= 1
        metrics.child(metrics.RPC_SECONDS, method).observe(time.perf_counter() - started)


def outcome_of(response: Any) -> tuple[str, str]:
    """A bounded (outcome, reason) label pair read off any response message."""
    known = _SHARED.get(id(response))
    if known is not None and known[0] is response:
        return known[1]
    fields = _OUTCOME_FIELDS.get(type(response))
    if fields is None:
        fields = _OUTCOME_FIELDS[type(response)] = _outcome_fields(response.DESCRIPTOR)
    flag, yes, no, reasons = fields
    reason_label = reasons.get(response.reason, "none") if reasons else "none"
    if flag is None:
        return "ok", reason_label
    return (yes if getattr(response, flag) else no), reason_label


_OUTCOME_FIELDS: dict[type, tuple[str | None, str, str, dict[int, str]]] = {}  # one entry per response type

# Answers handed out again and again (a hot token's VerifyToken answer is one message, convert._HOT):
# their labels, read once. Keyed by identity — the entry holds the message, so its id can't be reused
# while the entry lives. Whoever shares an answer unshares it when it drops it; bounded all the same
# (an answer no longer here is simply read again).
SHARED_MAX = 2048
_SHARED: dict[int, tuple[Any, tuple[str, str]]] = {}


def shared(response: Any) -> Any:
    """Remember the labels of an answer that will be returned again unchanged; returns it."""
    if len(_SHARED) >= SHARED_MAX:
        del _SHARED[next(iter(_SHARED))]
    _SHARED[id(response)] = (response, outcome_of(response))
    return response


def unshared(response: Any) -> None:
    known = _SHARED.get(id(response))
    if known is not None and known[0] is response:
        del _SHARED[id(response)]


def _outcome_fields(descriptor: Any) -> tuple[str | None, str, str, dict[int, str]]:
    """Which boolean field a response type's outcome is read from, and its reason labels by number."""
    reason = descriptor.fields_by_name.get("reason")
    reasons = {}
    if reason is not None and reason.enum_type is not None:
        reasons = {
            v.number: v.name.removeprefix("REASON_").lower().replace("unspecified", "none")
            for v in reason.enum_type.values
        }
    for flag, yes, no in (
        ("valid", "valid", "invalid"),
        ("is_valid", "valid", "invalid"),
        ("revoked", "revoked", "not_revoked"),
    ):
        if flag in descriptor.fields_by_name:
            return flag, yes, no, reasons
    return None, "ok", "ok", reasons


def upstream_status(exc: UpstreamError) -> status_pb2.Status:
    """The rich status for a failed upstream call: the mapped code plus an UpstreamErrorDetail."""
    code = (
        grpc.StatusCode.RESOURCE_EXHAUSTED  # a limit on this caller (attempts, rate), not an outage
        if isinstance(exc, UpstreamLimited)
        else grpc.StatusCode.UNAVAILABLE
        if exc.unavailable
        else HTTP_TO_GRPC.get(exc.status, grpc.StatusCode.FAILED_PRECONDITION)
    )
    detail = any_pb2.Any()
    # The body is the vendor's error answer (adapters cut it short); requests are never echoed here.
    detail.Pack(
        errors_pb2.UpstreamErrorDetail(
            upstream=exc.upstream, http_status=exc.status, message=exc.message, body=exc.body
        )
    )
    return status_pb2.Status(code=code.value[0], message=str(exc), details=[detail])


def error_outcome(exc: Exception) -> str:
    """The bounded outcome label for a failed call."""
    if isinstance(exc, InvalidArgument):
        return "invalid_argument"
    if isinstance(exc, UpstreamError):
        return "upstream_error"
    if isinstance(exc, NotConfigured):
        return "not_configured"
    if isinstance(exc, Unsupported):
        return "unimplemented"
    if isinstance(exc, asyncio.TimeoutError):
        return "deadline_exceeded"
    return "error"


def status_for(method: str, exc: Exception) -> status_pb2.Status:
    """The status for a call (or a VerifyStream item) that failed with `exc`: the one mapping table."""
    if isinstance(exc, InvalidArgument):
        return status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=str(exc))
    if isinstance(exc, UpstreamError):
        return upstream_status(exc)
    if isinstance(exc, NotConfigured):
        return status_pb2.Status(code=grpc.StatusCode.FAILED_PRECONDITION.value[0], message=str(exc))
    if isinstance(exc, Unsupported):
        return status_pb2.Status(code=grpc.StatusCode.UNIMPLEMENTED.value[0], message=str(exc))
    if isinstance(exc, asyncio.TimeoutError):
        return status_pb2.Status(code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0], message=f"{method} ran out of time")
    log.error("unhandled error in %s", method, exc_info=exc, extra={"method": method})
    return status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message=f"{method} failed inside the sidecar")


async def abort_for(method: str, exc: Exception, context: grpc.aio.ServicerContext) -> None:
    """End the call with the status for `exc`; rich details (UpstreamErrorDetail) only when it has some."""
    status = status_for(method, exc)
    if status.details:
        rich = rpc_status.to_status(status)
        await context.abort(rich.code, rich.details, rich.trailing_metadata)
    await context.abort(CODES[status.code], status.message)


def rpc(method: str) -> Callable:
    """Decorate a servicer method: shed, time, count, and map exceptions to status codes.

    The handler returns a coroutine, or the response itself when it has it at once (a cache hit)."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        seconds: list[Any] = []  # this method's latency histogram child, bound at its first call
        perf_counter, coroutine = time.perf_counter, types.CoroutineType

        @functools.wraps(handler)
        async def run(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            # InFlight.take and .release, inline: this runs on every unary call.
            inflight: InFlight = self.inflight
            if inflight.current < inflight.limit:
                inflight.current += 1
            else:
                await inflight.shed(method, context)
            started = perf_counter()
            outcome, reason, response, counted = "error", "none", None, False
            try:
                response = handler(self, request, context)
                if type(response) is coroutine:
                    response = await response
                outcome, reason = outcome_of(response)
                return response
            except asyncio.CancelledError:
                outcome = "cancelled"  # the caller went away or its deadline passed: gRPC cancelled us
                raise
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                outcome = error_outcome(exc)
                # Counted before the status goes out (abort sends it, then raises): a caller that scrapes
                # right after its error sees the call counted.
                metrics.child(metrics.RPC_TOTAL, method, outcome, reason).inc()
                counted = True
                await abort_for(method, exc, context)
            finally:
                # Counted before the in-flight gauge drops: a scrape (another thread) that sees
                # nothing in flight also sees how each call ended.
                if not counted:
                    metrics.child(metrics.RPC_TOTAL, method, outcome, reason).inc()
                inflight.current -= 1
                if not seconds:
                    seconds.append(metrics.child(metrics.RPC_SECONDS, method))
                seconds[0].observe(perf_counter() - started)
                if observe.DECISIONS.active or tracing.ENABLED:  # observe.finished's own first test
                    observe.finished(method, outcome, reason, response, started)

        return tracing.traced(method, run)

    return wrap


def rpc_stream(method: str) -> Callable:
    """Like `rpc`, for server-streaming handlers (async generators): counted once, when the stream ends."""

    def wrap(handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        @functools.wraps(handler)
        async def run(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            inflight: InFlight = self.inflight.streams
            await inflight.admit(method, context)
            started = time.perf_counter()
            outcome, counted = "error", False
            try:
                async for message in handler(self, request, context):
                    yield message
                outcome = "ok"
            except asyncio.CancelledError:
                outcome = "cancelled"  # the caller went away or its deadline passed
                raise
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                outcome = error_outcome(exc)
                metrics.RPC_TOTAL.labels(method, outcome, "none").inc()  # before the status goes out, as above
                counted = True
                await abort_for(method, exc, context)
            finally:
                if not counted:
                    metrics.RPC_TOTAL.labels(method, outcome, "none").inc()  # before the gauge drops, as above
                inflight.release(method, started)
                observe.finished(method, outcome, "none", None, started)

        return tracing.traced_stream(method, run)

    return wrap
