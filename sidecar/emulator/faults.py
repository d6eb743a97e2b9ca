"""Fault injection for the emulator: latency, error rate, huge or trickled answers, broken event streams,
JWKS outage, and answers given verbatim (`answer_status`/`answer_body`: what an adapter does with any body).

Set through the control API (`POST /_control/faults`); applied by `FaultMiddleware` to every
upstream route (never to /_control, so tests can always heal the emulator).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from dataclasses import asdict, dataclass, field

from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import redaction

SSE_ANSWERS = {"stream", "no_content", "wrong_type"}
SSE_BAD_IDS = {"", "non_ascii", "oversized"}


@dataclass
class Faults:
    latency_seconds: float = 0.0  # added before every upstream answer
    error_rate: float = 0.0  # share of upstream requests answered with error_status
    error_status: int = 503
    path_prefix: str = ""  # limit latency/errors/huge/trickle to paths starting with this
    huge_answer_bytes: int = 0  # answer 200 with a JSON body this long (streamed) instead
    trickle_seconds: float = 0.0  # send each answer's body a byte at a time, spread over this long
    jwks_down: bool = False  # JWKS and discovery answer 503
    sse_down: bool = False  # the event stream refuses connections (503)
    sse_answer: str = "stream"  # stream | no_content (204) | wrong_type (200 application/json)
    sse_cut_events: int = 0  # the next N event frames stop mid `data:` line and the connection drops
    sse_bad_id: str = ""  # the next event frame's id: non_ascii | oversized (then cleared)
    sse_long_line_bytes: int = 0  # the next connection sends one unterminated `data:` line this long
    # false: approvals and challenge tokens verify valid again and again until they expire (a
    # platform that does not enforce one-time use), so only the sidecars' ledger holds the guarantee
    one_time_enforced: bool = True
    answer_status: int = 0  # > 0: upstream paths under path_prefix answer this status and body as given
    answer_body: str = ""  # (a generated answer: garbage JSON, wrong shapes, raw SSE frames, …)
    answer_content_type: str = "application/json"

    def update(self, changes: dict) -> None:
        for key, value in changes.items():
            if not hasattr(self, key):
                raise KeyError(key)
            kind = type(getattr(self, key))
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            setattr(self, key, kind(value))
        if self.sse_bad_id not in SSE_BAD_IDS:
            bad, self.sse_bad_id = self.sse_bad_id, ""
            raise ValueError(f"sse_bad_id {bad!r} is not one of {sorted(SSE_BAD_IDS)}")
        if self.sse_answer not in SSE_ANSWERS:
            bad, self.sse_answer = self.sse_answer, "stream"
            raise ValueError(f"sse_answer {bad!r} is not one of {sorted(SSE_ANSWERS)}")

    def take_sse_cut(self) -> bool:
        """True (and one fewer to go) when the next event frame must be cut."""
        if self.sse_cut_events <= 0:
            return False
        self.sse_cut_events -= 1
        return True

    def take_sse_bad_id(self, event_id: str) -> str:
        """The id to send for the next event frame: spoilt once when sse_bad_id is set."""
        kind, self.sse_bad_id = self.sse_bad_id, ""
        if kind == "non_ascii":
            return event_id + "-\u00fc\u2603"
        if kind == "oversized":
            return event_id + "-" + "9" * 16_384
        return event_id

    def take_sse_long_line(self) -> int:
        size, self.sse_long_line_bytes = self.sse_long_line_bytes, 0
        return size

    def as_dict(self) -> dict:
        return asdict(self)


RECORDED_REQUESTS = 200  # the last N upstream requests, whole, for the wire-contract tests
RECORDED_BODY_BYTES = 64 * 1024


@dataclass
class RequestLog:
    """Counts upstream requests by 'METHOD /route/template' so tests can assert amplification, and
    keeps the last few whole (method, path, query, headers, body) so a contract test can compare what
    a vendor SDK sends with what the sidecar sends for the same operation."""

    counts: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=lambda: deque(maxlen=RECORDED_REQUESTS))

    def hit(self, key: str) -> None:
        self.counts[key] += 1

    def record(self, scope: Scope, route: str, body: bytes) -> None:
        # Credentials are kept only as fingerprints (redaction.py): this log is readable on loopback.
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        headers = {key: redaction.header(key, text) for key, text in headers.items()}
        self.recent.append(
            {
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "query": redaction.query(scope.get("query_string", b"").decode("latin-1")),
                "headers": headers,
                "body": redaction.body(body[:RECORDED_BODY_BYTES].decode("utf-8", "replace")),
            }
        )

    def clear(self) -> None:
        self.counts.clear()
        self.recent.clear()


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults, log: RequestLog) -> None:
        self.app = app
        self.faults = faults
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_control"):
            await self.app(scope, receive, send)
            return
        route = _template(scope)
        self.log.hit(f"{scope['method']} {route}")
        receive = await _recording(scope, receive, lambda body: self.log.record(scope, route, body))
        f = self.faults
        if f.path_prefix == "" or scope["path"].startswith(f.path_prefix):
            if f.latency_seconds > 0:
                await asyncio.sleep(f.latency_seconds)
            if f.answer_status > 0:
                body = f.answer_body.encode("utf-8", "surrogatepass")
                answer = Response(body, status_code=f.answer_status, media_type=f.answer_content_type)
                await answer(scope, receive, send)
                return
            if f.error_rate > 0 and random.random() < f.error_rate:
                await JSONResponse({"error": "injected fault"}, status_code=f.error_status)(scope, receive, send)
                return
            if f.huge_answer_bytes > 0 and not scope["path"].endswith("/events"):
                await _huge(send, f.huge_answer_bytes)
                return
            if f.trickle_seconds > 0 and not scope["path"].endswith("/events"):
                send = _trickled(send, f.trickle_seconds)
        if f.jwks_down and ("jwks" in scope["path"] or "openid-configuration" in scope["path"]):
            await Response("jwks down", status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


HUGE_CHUNK = 65_536


async def _huge(send: Send, size: int) -> None:
    """A 200 JSON answer of `size` bytes, streamed (the emulator never holds it whole)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"pad":"', "more_body": True})
    for _ in range(0, size, HUGE_CHUNK):
        await send({"type": "http.response.body", "body": b"x" * HUGE_CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b'"}', "more_body": False})


def _trickled(send: Send, seconds: float) -> Send:
    """The app's answer, its body sent one byte at a time over `seconds` (a peer that is slow, not silent)."""

    async def trickle(message: Message) -> None:
        body = message.get("body", b"")
        if message["type"] != "http.response.body" or len(body) < 2:
            await send(message)
            return
        for i in range(len(body)):
            await asyncio.sleep(seconds / len(body))
            last = i == len(body) - 1
            await send(
                {
                    "type": "http.response.body",
                    "body": body[i : i + 1],
                    "more_body": message.get("more_body", False) if last else True,
                }
            )

    return trickle


async def _recording(scope: Scope, receive: Receive, done) -> Receive:
    """Read the request body once (bounded), hand it to `done`, and replay it to the app."""
    if scope["method"] == "GET" or scope["path"].endswith("/events"):
        done(b"")
        return receive
    chunks, size, more = [], 0, True
    messages = []
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body = message.get("body", b"")
        if size < RECORDED_BODY_BYTES:
            chunks.append(body)
        size += len(body)
        more = message.get("more_body", False)
    done(b"".join(chunks))

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _template(scope: Scope) -> str:
    """The route's path template (e.g. /v1/users/{user_id}), so counters don't grow per token."""
    router = scope.get("app")
    routes = getattr(getattr(router, "router", None), "routes", [])
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return scope["path"]
