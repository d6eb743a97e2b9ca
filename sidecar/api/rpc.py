"""What every RPC handler shares: load shedding, metrics, and mapping failures to gRPC status codes.

Handlers raise core exceptions; this is the one place they become status codes:
  InvalidArgument            → INVALID_ARGUMENT (message names the field)
  UpstreamError unavailable  → UNAVAILABLE (upstream status in the message)
  UpstreamError 4xx          → the code of that HTTP status (404 NOT_FOUND, 401/403 PERMISSION_DENIED…)
  NotConfigured              → FAILED_PRECONDITION (the platform this RPC needs is not configured)
  asyncio.TimeoutError       → DEADLINE_EXCEEDED
  anything else              → INTERNAL, logged with its trace (the caller learns nothing more)
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from .. import logs, metrics
from ..core.outcomes import InvalidArgument, NotConfigured, UpstreamError

log = logs.get("api")

HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.PERMISSION_DENIED,   # our credentials to the upstream, not the caller's
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.UNAVAILABLE,
}


class InFlight:
    """Counts RPCs in flight and refuses new ones past the limit (shedding beats queueing)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0


def outcome_of(response: Any) -> tuple[str, str]:
    """A bounded (outcome, reason) label pair read off any response message."""
    fields = {f.name for f in response.DESCRIPTOR.fields}
    reason = response.DESCRIPTOR.fields_by_name.get("reason")
    reason_label = "none"
    if reason is not None:
        name = reason.enum_type.values_by_number[getattr(response, "reason")].name
        reason_label = name.removeprefix("REASON_").lower().replace("unspecified", "none")
    for flag, yes, no in (("valid", "valid", "invalid"), ("is_valid", "valid", "invalid"),
                          ("revoked", "revoked", "not_revoked")):
        if flag in fields:
            return (yes if getattr(response, flag) else no), reason_label
    return "ok", reason_label


def rpc(method: str) -> Callable:
    """Decorate a servicer method: shed, time, count, and map exceptions to status codes."""

    def wrap(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def run(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            inflight: InFlight = self.inflight
            if inflight.current >= inflight.limit:
                metrics.RPC_SHED_TOTAL.inc()
                metrics.RPC_TOTAL.labels(method, "shed", "none").inc()
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many calls in flight")
            inflight.current += 1
            metrics.RPC_IN_FLIGHT.inc()
            started = time.perf_counter()
            outcome, reason = "error", "none"
            try:
                response = await handler(self, request, context)
                outcome, reason = outcome_of(response)
                return response
            except InvalidArgument as exc:
                outcome = "invalid_argument"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except UpstreamError as exc:
                outcome = "upstream_error"
                code = grpc.StatusCode.UNAVAILABLE if exc.unavailable else HTTP_TO_GRPC.get(
                    exc.status, grpc.StatusCode.FAILED_PRECONDITION)
                await context.abort(code, str(exc))
            except NotConfigured as exc:
                outcome = "not_configured"
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            except asyncio.TimeoutError:
                outcome = "deadline_exceeded"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{method} ran out of time")
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception:
                log.exception("unhandled error in %s", method, extra={"method": method})
                await context.abort(grpc.StatusCode.INTERNAL, f"{method} failed inside the sidecar")
            finally:
                inflight.current -= 1
                metrics.RPC_IN_FLIGHT.dec()
                metrics.RPC_SECONDS.labels(method).observe(time.perf_counter() - started)
                metrics.RPC_TOTAL.labels(method, outcome, reason).inc()

        return run

    return wrap
