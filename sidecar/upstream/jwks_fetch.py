"""JWKS over HTTP: fetch one issuer's key set (OIDC discovery when no jwks_uri is configured).

Every failure — transport error, non-200, oversized or non-JSON document — becomes one
UpstreamError("jwks", status, message); core/tokens/jwks_cache.py treats any of them as "no new keys".
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx

from sidecar.config import IssuerSettings, JwksSettings
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.core.tokens.jwks_cache import FetchedKeys
from sidecar.observability import metrics, tracing
from sidecar.upstream.transport import AnswerTooLarge, read_limited

UPSTREAM = "jwks"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


def max_age_of(cache_control: str | None) -> float | None:
    """Cache-Control max-age in seconds; no-cache/no-store count as 0 (the cache clamps to min_ttl)."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    m = _MAX_AGE.search(cache_control)
    return float(m.group(1)) if m else None


class JwksFetcher:
    """`await fetcher()` → FetchedKeys for one issuer."""

    def __init__(self, issuer: IssuerSettings, settings: JwksSettings, client: httpx.AsyncClient) -> None:
        self.issuer = issuer.issuer.rstrip("/")
        self.configured_uri = issuer.jwks_uri
        self.discovered_uri = ""
        self.max_bytes = settings.max_document_bytes
        self.deadline = settings.timeout_seconds  # each fetch as a whole (httpx's bounds each read only)
        self.client = client

    async def __call__(self) -> FetchedKeys:
        with tracing.span("jwks.fetch", issuer=self.issuer):
            return await self._fetch()

    async def _fetch(self) -> FetchedKeys:
        uri = self.configured_uri or self.discovered_uri or await self._discover()
        try:
            body, headers = await self._get(uri, "jwks")
        except UpstreamError:
            self.discovered_uri = ""  # the issuer may have moved its JWKS: rediscover next time
            raise
        keys = body.get("keys")
        if not isinstance(keys, list):
            raise UpstreamError(UPSTREAM, 200, "JWKS document has no 'keys' array")
        return FetchedKeys(keys=keys, max_age=max_age_of(headers.get("cache-control")))

    async def _discover(self) -> str:
        body, _ = await self._get(f"{self.issuer}/.well-known/openid-configuration", "discovery")
        uri = body.get("jwks_uri")
        # OIDC Discovery §4.3: the document's issuer must be exactly the one we asked about.
        named = body.get("issuer")
        if not isinstance(named, str) or named.rstrip("/") != self.issuer:
            raise UpstreamError(UPSTREAM, 200, "discovery document names a different issuer")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise UpstreamError(UPSTREAM, 200, "discovery document has no usable jwks_uri")
        self.discovered_uri = uri
        return uri

    async def _get(self, url: str, endpoint: str) -> tuple[dict, httpx.Headers]:
        started = time.perf_counter()
        status = "error"
        named = tracing.UPSTREAM_ENDPOINT.set((UPSTREAM, endpoint)) if tracing.ENABLED else None
        try:
            async with asyncio.timeout(self.deadline):
                async with self.client.stream("GET", url, headers={"Accept": "application/json"}) as resp:
                    status = str(resp.status_code)
                    if resp.status_code != 200:
                        raise UpstreamError(UPSTREAM, resp.status_code, f"{endpoint} answered {resp.status_code}")
                    body = await read_limited(resp, self.max_bytes)
                    headers = resp.headers
        except AnswerTooLarge:
            status = "too_large"
            raise UpstreamError(UPSTREAM, 200, f"document larger than {self.max_bytes} bytes") from None
        except (TimeoutError, httpx.TimeoutException):
            status = "timeout"
            raise UpstreamError(UPSTREAM, 0, f"{endpoint} request timed out after {self.deadline:g}s") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(UPSTREAM, 0, f"{endpoint} request failed: {type(exc).__name__}") from None
        finally:
            if named is not None:
                tracing.UPSTREAM_ENDPOINT.reset(named)
            metrics.UPSTREAM_REQUESTS_TOTAL.labels(UPSTREAM, endpoint, status).inc()
            metrics.UPSTREAM_SECONDS.labels(UPSTREAM, endpoint).observe(time.perf_counter() - started)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the parser
            raise UpstreamError(UPSTREAM, 200, f"{endpoint} document is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamError(UPSTREAM, 200, f"{endpoint} document is not a JSON object")
        return doc, headers
