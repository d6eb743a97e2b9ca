"""Server-sent events read with bounds: no line, event or id a hostile stream sends can grow without limit.

httpx-sse buffers a line until its end comes, so one unterminated `data:` line grows memory until the
heartbeat timeout; here a line past `max_line_bytes` or an event past `max_event_bytes` ends the
connection (StreamTooLarge, a protocol error). An `id` that is not printable ASCII or is longer than
MAX_EVENT_ID_CHARS is ignored — never kept as the resume position, since it could not be sent back as
Last-Event-ID — and counted (authsidecar_sse_events_total{type="bad_id"}). Field parsing follows the
WHATWG event-stream interpretation, like httpx-sse's decoder.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
from httpx_sse import ServerSentEvent

from sidecar.observability import metrics

MAX_EVENT_ID_CHARS = 256
# A lone CR at the end of a chunk waits for the next one (it may be the first half of CRLF).
_EOL = re.compile(rb"\r\n|\r|\n")


class StreamTooLarge(Exception):
    """A line or event went past its bound: the connection is ended as a protocol error."""

    cause = "too_large"


def usable_id(value: str) -> bool:
    """An id we can send back as a Last-Event-ID header."""
    return len(value) <= MAX_EVENT_ID_CHARS and value.isascii() and value.isprintable()


async def bounded_sse(
    response: httpx.Response, max_line_bytes: int, max_event_bytes: int
) -> AsyncIterator[ServerSentEvent]:
    """The response's events, in order; raises StreamTooLarge past a bound."""
    decoder = _Decoder(max_event_bytes)
    async for line in _lines(response, max_line_bytes):
        sse = decoder.decode(line)
        if sse is not None:
            yield sse


async def _lines(response: httpx.Response, max_line_bytes: int) -> AsyncIterator[str]:
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        start = 0
        while (end := _EOL.search(buffer, start)) is not None:
            if end.group() == b"\r" and end.end() == len(buffer):
                break
            if end.start() - start > max_line_bytes:
                raise StreamTooLarge(f"a line longer than {max_line_bytes} bytes")
            yield buffer[start : end.start()].decode("utf-8", "replace")
            start = end.end()
        del buffer[:start]
        if len(buffer) > max_line_bytes:
            raise StreamTooLarge(f"a line longer than {max_line_bytes} bytes")


class _Decoder:
    """One connection's event assembly (the last event id carries over between events, per the spec)."""

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self.event = ""
        self.data: list[str] = []
        self.size = 0
        self.last_id = ""
        self.retry: int | None = None

    def decode(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        self.size += len(value)
        if self.size > self.max_event_bytes:
            raise StreamTooLarge(f"an event larger than {self.max_event_bytes} bytes")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        elif name == "id" and "\0" not in value:
            if usable_id(value):
                self.last_id = value
            else:
                metrics.SSE_EVENTS_TOTAL.labels("bad_id").inc()
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 9:
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self.event and not self.data and not self.last_id and self.retry is None:
            return None
        sse = ServerSentEvent(event=self.event, data="\n".join(self.data), id=self.last_id, retry=self.retry)
        self.event, self.data, self.size, self.retry = "", [], 0, None
        return sse
