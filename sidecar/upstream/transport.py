"""One HTTP request to an upstream: bounded, observed in metrics, and "no answer" mapped to UpstreamError.

Every adapter sends through `request()` (the JWKS fetcher too), so the bounds, timeouts and transport
errors are handled in one place; each adapter then maps the HTTP answers of its own vendor.
Upstreams can be hostile too: an answer is read as a stream that stops at the client's
`max_response_bytes`, and the whole request (connect to last byte) runs under one deadline —
httpx's own timeout only bounds each read, so a peer trickling a few bytes at a time could otherwise
hold a call for ever. Both count as "no answer" (status 0: fail closed, and the circuit breaker sees
them).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from typing import Any

import httpx

from sidecar.core.shared.outcomes import UpstreamError
from sidecar.observability import metrics, tracing

DEFAULT_MAX_RESPONSE_BYTES = 1_048_576
# Headers that describe the wire body, not the decoded one we hand back.
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle, or SSL_CERT_FILE/SSL_CERT_DIR), loaded once per
    process: httpx would parse the bundle again for every client (~40 ms CPU each, six clients at start).
    All our clients speak HTTP/1.1, so the ALPN list httpcore sets on it is the same for each."""
    return httpx.create_ssl_context()


class AnswerTooLarge(Exception):
    """The body went past the size cap while being read."""


class BoundedClient(httpx.AsyncClient):
    """An httpx client that carries its bounds: `deadline` seconds per request, `max_response_bytes`."""

    def __init__(self, *, deadline: float, max_response_bytes: int, **kwargs: Any) -> None:
        super().__init__(timeout=deadline, **kwargs)
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes


def client(
    base_url: str,
    *,
    timeout: float,
    max_response_bytes: int,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> BoundedClient:
    """The client every adapter builds: no redirects, `timeout` bounds each whole request."""
    kwargs.setdefault("follow_redirects", False)
    kwargs.setdefault("verify", tls_context())
    return BoundedClient(
        deadline=timeout,
        max_response_bytes=max_response_bytes,
        base_url=base_url,
        headers=headers,
        transport=transport,
        **kwargs,
    )


async def read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    """The (decoded) body, raising AnswerTooLarge as soon as it passes max_bytes — never more in memory."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(f"answer larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def request(
    client: httpx.AsyncClient,
    upstream: str,
    endpoint: str,
    method: str,
    path: str,
    *,
    deadline: float | None = None,
    max_response_bytes: int | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send and read the whole answer; any HTTP status comes back as a (fully read) response.

    No answer, a too-slow or an oversized one raise UpstreamError(status=0): this is the one place
    httpx's errors become ours. `endpoint` is a fixed name (a metric label), never a URL with ids in
    it. `deadline`/`max_response_bytes` override the client's (a client shared by several callers).
    """
    deadline = deadline or getattr(client, "deadline", None) or _overall(client.timeout)
    max_bytes: int = max_response_bytes or getattr(client, "max_response_bytes", None) or DEFAULT_MAX_RESPONSE_BYTES
    started = time.perf_counter()
    status = "error"
    named = tracing.UPSTREAM_ENDPOINT.set((upstream, endpoint)) if tracing.ENABLED else None  # the span's name
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(method, path, **kwargs) as response:
                body = await read_limited(response, max_bytes)
        status = str(response.status_code)
        return _read(response, body)
    except (httpx.TimeoutException, TimeoutError):
        status = "timeout"
        raise UpstreamError(upstream, 0, f"{endpoint} timed out") from None
    except AnswerTooLarge as exc:
        status = "too_large"
        raise UpstreamError(upstream, 0, f"{endpoint} {exc}") from None
    except httpx.HTTPError as exc:
        raise UpstreamError(upstream, 0, f"{endpoint} failed: {type(exc).__name__}") from None
    finally:
        if named is not None:
            tracing.UPSTREAM_ENDPOINT.reset(named)
        metrics.UPSTREAM_REQUESTS_TOTAL.labels(upstream, endpoint, status).inc()
        metrics.UPSTREAM_SECONDS.labels(upstream, endpoint).observe(time.perf_counter() - started)


def _read(response: httpx.Response, body: bytes) -> httpx.Response:
    """A plain response holding the body already read (so .json()/.text work as usual)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request, extensions=response.extensions
    )


def _overall(timeout: httpx.Timeout) -> float:
    """A plain client's longest per-phase timeout, used as the bound for the whole request."""
    parts = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
    return max(parts) if parts else 30.0
