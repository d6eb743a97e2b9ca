"""The platform's event stream (SSE over httpx-sse): one long-lived connection per sidecar.

Reconnects with exponential backoff and jitter (base: the server's `retry:` if it sent one, else
sse.reconnect_min_seconds; capped at sse.reconnect_max_seconds), resumes with Last-Event-ID, and
treats a stream silent for sse.heartbeat_timeout_seconds as dead. Only a 200 answer with
Content-Type text/event-stream is a stream: anything else (204, an error page, JSON) is a failed
connection — backed off, retried, and never told to the listener as "opened". Lines, events and ids
are bounded (sse_reader.py): past a bound the connection ends as `too_large`. Every lost or refused
connection is counted by cause (authsidecar_sse_disconnects_total). What the events *mean* is decided
by core.sessions.revocation.RevocationCache (the `listener`); this module only moves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import httpx
from httpx_sse import SSEError, aconnect_sse

from sidecar.core.sessions.records import EventKind
from sidecar.observability import logs, metrics, tracing
from sidecar.upstream import transport
from sidecar.upstream.rauth import HEARTBEAT_EVENT, RESET_EVENT, RauthClient, parse_event
from sidecar.upstream.sse_reader import StreamTooLarge, bounded_sse, usable_id

log = logs.get("events")


EVENT_STREAM_TYPE = "text/event-stream"


class StreamRefused(Exception):
    """The stream endpoint answered, but not with an event stream; `cause` is the metric label."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause


def disconnect_cause(exc: BaseException) -> str:
    """A bounded label for why a connection ended (see authsidecar_sse_disconnects_total)."""
    if isinstance(exc, (StreamRefused, StreamTooLarge)):
        return exc.cause
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return "unreachable"
    if isinstance(exc, (TimeoutError, httpx.ReadTimeout)):
        return "silent"
    if isinstance(exc, SSEError):
        return "content_type"
    if isinstance(exc, httpx.HTTPError):
        return "cut"  # the connection broke mid-stream (reset, incomplete chunked body, …)
    return "internal"


class EventStream:
    def __init__(self, client: RauthClient, sse, listener) -> None:
        self.url = client.base_url + "/" + sse.path.lstrip("/")
        self.headers = client.headers
        self.connect_timeout = client.timeout
        self.heartbeat_timeout = sse.heartbeat_timeout_seconds
        self.max_line_bytes = sse.max_line_bytes
        self.max_event_bytes = sse.max_event_bytes
        self.min_delay = sse.reconnect_min_seconds
        self.max_delay = sse.reconnect_max_seconds
        self.listener = listener
        self.last_event_id: str | None = None
        self.retry_seconds: float | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="platform-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        timeout = httpx.Timeout(self.connect_timeout, read=self.heartbeat_timeout + 1.0)
        async with httpx.AsyncClient(headers=self.headers, timeout=timeout, verify=transport.tls_context()) as http:
            failures = 0
            wait = 0.0  # before the first connection, none
            cause = "start"
            while True:
                caught_up = False
                try:
                    caught_up = await self._connect_once(http, wait, cause)
                    cause = "ended"
                    log.info("event stream ended by the platform")
                except (httpx.HTTPError, SSEError, StreamRefused, StreamTooLarge, TimeoutError) as exc:
                    cause = disconnect_cause(exc)
                    log.warning(
                        "event stream lost",
                        extra={"cause": cause, "error": type(exc).__name__, "detail": str(exc)[:120]},
                    )
                except Exception:  # a bug must not end the stream for good: log it and reconnect
                    cause = "internal"
                    log.exception("event stream failed unexpectedly")
                finally:
                    self.listener.stream_closed()
                metrics.SSE_DISCONNECTS_TOTAL.labels(cause).inc()
                failures = 0 if caught_up else failures + 1
                metrics.SSE_RECONNECTS_TOTAL.inc()
                wait = self._backoff(failures)

    def _backoff(self, failures: int) -> float:
        base = self.retry_seconds if self.retry_seconds is not None else self.min_delay
        delay = min(self.max_delay, max(base, 0.0) * (2 ** min(failures, 16)))
        return delay * random.uniform(0.5, 1.0)  # jitter: a fleet of pods must not reconnect in step

    async def _connect_once(self, http: httpx.AsyncClient, wait: float = 0.0, cause: str = "start") -> bool:
        """Wait, connect and read one connection to its end; True if it got as far as a heartbeat."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        caught_up = False
        async with contextlib.AsyncExitStack() as connection:
            # One span from the end of the last connection until this one is open: the backoff wait
            # and the request (its HTTP client span is a child), not the hours the stream then lasts.
            with tracing.span("sse.connect", after=cause):
                await asyncio.sleep(wait)
                if self.last_event_id is not None and usable_id(self.last_event_id):
                    headers["Last-Event-ID"] = self.last_event_id
                source = await connection.enter_async_context(aconnect_sse(http, "GET", self.url, headers=headers))
                status = source.response.status_code
                metrics.UPSTREAM_REQUESTS_TOTAL.labels("platform", "events", str(status)).inc()
                if status != 200:  # 204 included: "no content" is no stream (and no heartbeat will come)
                    raise StreamRefused("refused", f"status {status}")
                content_type = source.response.headers.get("content-type", "").partition(";")[0].strip().lower()
                if content_type != EVENT_STREAM_TYPE:
                    raise StreamRefused("content_type", f"content type {content_type[:60]!r}, not {EVENT_STREAM_TYPE}")
            self.listener.stream_opened(resume_requested=self.last_event_id is not None)
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(loop.time() + self.heartbeat_timeout) as silence:
                async for sse in bounded_sse(source.response, self.max_line_bytes, self.max_event_bytes):
                    silence.reschedule(loop.time() + self.heartbeat_timeout)
                    caught_up = self._handle(sse) or caught_up
        return caught_up

    def _handle(self, sse) -> bool:
        if sse.retry is not None:
            self.retry_seconds = min(max(sse.retry / 1000.0, self.min_delay), self.max_delay)
        name = sse.event or "message"
        if name == HEARTBEAT_EVENT:
            if sse.id:
                self.last_event_id = sse.id  # the platform's resume position, even with no events yet
            metrics.SSE_EVENTS_TOTAL.labels("heartbeat").inc()
            self.listener.stream_heartbeat()
            return True
        if name == RESET_EVENT:
            metrics.SSE_EVENTS_TOTAL.labels("reset").inc()
            self.listener.stream_reset()
            return False
        event = parse_event(name, sse.data)
        metrics.SSE_EVENTS_TOTAL.labels(event.kind.value).inc()
        if event.kind is not EventKind.OTHER:
            self.listener.apply(event)
        if sse.id:
            self.last_event_id = sse.id  # only after applying: a resume must not skip this event
        return False
