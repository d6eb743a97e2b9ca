"""A small JSON-over-HTTP client shared by the second-factor and identity adapters.

Transport failures (timeout, refused, bad JSON on a success) become UpstreamError(status 0) here;
each adapter maps its vendor's error bodies in its own `_error` function. Every request is counted
by upstream, endpoint template and status — never by URL, which may hold ids or codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from .. import metrics
from ..core.outcomes import UpstreamError

MAX_ERROR_BODY_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Any            # the parsed JSON body ({} when empty or not JSON)
    text: str            # the raw body, cut to MAX_ERROR_BODY_CHARS (for error details)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class JsonHttp:
    def __init__(self, upstream: str, base_url: str, headers: dict[str, str], timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.upstream = upstream
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                         follow_redirects=False, transport=transport)

    async def request(self, method: str, path: str, endpoint: str, **kwargs: Any) -> Reply:
        """Send one request; `endpoint` is the bounded label (the path template)."""
        started = time.perf_counter()
        status = "error"
        try:
            response = await self._client.request(method, path, **kwargs)
            status = str(response.status_code)
        except httpx.TimeoutException:
            status = "timeout"
            raise UpstreamError(self.upstream, 0, f"{endpoint} timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(self.upstream, 0, f"{endpoint} failed: {type(exc).__name__}") from None
        finally:
            metrics.UPSTREAM_REQUESTS_TOTAL.labels(self.upstream, endpoint, status).inc()
            metrics.UPSTREAM_SECONDS.labels(self.upstream, endpoint).observe(time.perf_counter() - started)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            if response.is_success:
                raise UpstreamError(self.upstream, 0, f"{endpoint} answered a body that is not JSON") from None
            data = {}
        return Reply(response.status_code, data, response.text[:MAX_ERROR_BODY_CHARS])

    async def aclose(self) -> None:
        await self._client.aclose()
