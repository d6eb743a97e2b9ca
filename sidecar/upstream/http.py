"""One HTTP request to an upstream: observed in metrics, and "no answer" mapped to UpstreamError.

Every adapter sends through `request()`, so timeouts and transport errors become core outcomes in
one place; each adapter then maps the HTTP answers of its own vendor.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from .. import metrics, tracing
from ..core.outcomes import UpstreamError


async def request(client: httpx.AsyncClient, upstream: str, endpoint: str, method: str, path: str,
                  **kwargs: Any) -> httpx.Response:
    """Send; any HTTP status comes back as a response, no answer raises UpstreamError(status=0).

    `endpoint` is a fixed name (a metric label), never a URL with ids in it.
    """
    started = time.perf_counter()
    status = "error"
    named = tracing.UPSTREAM_ENDPOINT.set((upstream, endpoint)) if tracing.ENABLED else None  # the span's name
    try:
        response = await client.request(method, path, **kwargs)
        status = str(response.status_code)
        return response
    except httpx.TimeoutException:
        status = "timeout"
        raise UpstreamError(upstream, 0, f"{endpoint} timed out") from None
    except httpx.HTTPError as exc:
        raise UpstreamError(upstream, 0, f"{endpoint} failed: {type(exc).__name__}") from None
    finally:
        if named is not None:
            tracing.UPSTREAM_ENDPOINT.reset(named)
        metrics.UPSTREAM_REQUESTS_TOTAL.labels(upstream, endpoint, status).inc()
        metrics.UPSTREAM_SECONDS.labels(upstream, endpoint).observe(time.perf_counter() - started)
