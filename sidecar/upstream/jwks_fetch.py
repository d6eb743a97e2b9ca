"""JWKS over HTTP: fetch one issuer's key set (OIDC discovery when no jwks_uri is configured).

Every failure — transport error, non-200, oversized or non-JSON document — becomes one
UpstreamError("jwks", status, message); core/tokens/jwks_cache.py treats any of them as "no new keys".
"""

from __future__ import annotations

import json
import re

import httpx

from sidecar.config.settings import IssuerSettings, JwksSettings
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.core.tokens.jwks_cache import FetchedKeys
from sidecar.observability import tracing
from sidecar.upstream import transport

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
        # Bounds, deadline, metrics and httpx errors → UpstreamError: the one transport every adapter uses.
        resp = await transport.request(
            self.client,
            UPSTREAM,
            endpoint,
            "GET",
            url,
            deadline=self.deadline,
            max_response_bytes=self.max_bytes,
            headers={"Accept": "application/json"},
        )
        if resp.status_code != 200:
            raise UpstreamError(UPSTREAM, resp.status_code, f"{endpoint} answered {resp.status_code}")
        body, headers = resp.content, resp.headers
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the parser
            raise UpstreamError(UPSTREAM, 200, f"{endpoint} document is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamError(UPSTREAM, 200, f"{endpoint} document is not a JSON object")
        return doc, headers
