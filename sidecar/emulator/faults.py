"""Fault injection for the emulator: latency, error rate, broken event streams, JWKS outage.

Set through the control API (`POST /_control/faults`); applied by `FaultMiddleware` to every
upstream route (never to /_control, so tests can always heal the emulator).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import asdict, dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send


SSE_ANSWERS = {"stream", "no_content", "wrong_type"}


@dataclass
class Faults:
    latency_seconds: float = 0.0        # added before every upstream answer
    error_rate: float = 0.0             # share of upstream requests answered with error_status
    error_status: int = 503
    path_prefix: str = ""               # limit latency/errors to paths starting with this
    jwks_down: bool = False             # JWKS and discovery answer 503
    sse_down: bool = False              # the event stream refuses connections (503)
    sse_answer: str = "stream"          # stream | no_content (204) | wrong_type (200 application/json)
    sse_cut_events: int = 0             # the next N event frames stop mid `data:` line and the connection drops

    def update(self, changes: dict) -> None:
        for key, value in changes.items():
            if not hasattr(self, key):
                raise KeyError(key)
            setattr(self, key, type(getattr(self, key))(value))
        if self.sse_answer not in SSE_ANSWERS:
            bad, self.sse_answer = self.sse_answer, "stream"
            raise ValueError(f"sse_answer {bad!r} is not one of {sorted(SSE_ANSWERS)}")

    def take_sse_cut(self) -> bool:
        """True (and one fewer to go) when the next event frame must be cut."""
        if self.sse_cut_events <= 0:
            return False
        self.sse_cut_events -= 1
        return True

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RequestLog:
    """Counts upstream requests by 'METHOD /route/template' so tests can assert amplification."""

    counts: Counter = field(default_factory=Counter)

    def hit(self, key: str) -> None:
        self.counts[key] += 1


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults, log: RequestLog) -> None:
        self.app = app
        self.faults = faults
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_control"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        self.log.hit(f"{request.method} {_template(scope)}")
        f = self.faults
        if f.path_prefix == "" or scope["path"].startswith(f.path_prefix):
            if f.latency_seconds > 0:
                await asyncio.sleep(f.latency_seconds)
            if f.error_rate > 0 and random.random() < f.error_rate:
                await JSONResponse({"error": "injected fault"}, status_code=f.error_status)(scope, receive, send)
                return
        if f.jwks_down and ("jwks" in scope["path"] or "openid-configuration" in scope["path"]):
            await Response("jwks down", status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _template(scope: Scope) -> str:
    """The route's path template (e.g. /v1/users/{user_id}), so counters don't grow per token."""
    from starlette.routing import Match

    router = scope.get("app")
    routes = getattr(getattr(router, "router", None), "routes", [])
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", scope["path"])
    return scope["path"]
