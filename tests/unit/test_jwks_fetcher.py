"""upstream/jwks_fetch.py over httpx.MockTransport: discovery, max-age, size limit, every failure → UpstreamError."""

from __future__ import annotations

import httpx
import pytest

from sidecar.config import IssuerSettings, JwksSettings
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream.jwks_fetch import JwksFetcher, max_age_of

ISS = "https://id.test/tenant"
KEYS = {"keys": [{"kty": "EC", "kid": "k1"}]}


def fetcher(handler, jwks_uri: str = "", **jwks) -> tuple[JwksFetcher, list[str]]:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return JwksFetcher(IssuerSettings(issuer=ISS, jwks_uri=jwks_uri), JwksSettings(**jwks), client), seen


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        ("public, max-age=120", 120.0),
        ('max-age="30", must-revalidate', 30.0),
        ("no-store", 0.0),
        ("private", None),
        ("s-maxage=5", None),
    ],
)
def test_max_age_parsing(header, expected):
    assert max_age_of(header) == expected


async def test_configured_uri_is_fetched_with_its_max_age():
    f, seen = fetcher(
        lambda r: httpx.Response(200, json=KEYS, headers={"Cache-Control": "max-age=42"}),
        jwks_uri="https://keys.test/jwks",
    )
    got = await f()
    assert got.keys == KEYS["keys"] and got.max_age == 42 and seen == ["https://keys.test/jwks"]


async def test_discovery_once_then_jwks():
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": ISS, "jwks_uri": "https://id.test/keys"})
        return httpx.Response(200, json=KEYS)

    f, seen = fetcher(handler)
    await f()
    await f()
    assert seen == [f"{ISS}/.well-known/openid-configuration", "https://id.test/keys", "https://id.test/keys"]


async def test_discovery_naming_another_issuer_is_refused():
    f, _ = fetcher(lambda r: httpx.Response(200, json={"issuer": "https://evil.test", "jwks_uri": "https://e/k"}))
    with pytest.raises(UpstreamError, match="different issuer"):
        await f()


@pytest.mark.parametrize(
    "response, problem",
    [
        (httpx.Response(503, text="down"), "503"),
        (httpx.Response(200, text="<html>"), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "JSON object"),
        (httpx.Response(200, json={"keys": "nope"}), "'keys'"),
        (httpx.Response(200, content=b'{"keys": [' + b'{"kty": "EC"},' * 200 + b"{}]}"), "larger than"),
    ],
)
async def test_every_failure_is_one_upstream_error(response, problem):
    f, _ = fetcher(lambda r: response, jwks_uri="https://keys.test/jwks", max_document_bytes=1000)
    with pytest.raises(UpstreamError, match=problem):
        await f()


async def test_transport_error_is_an_upstream_error():
    def boom(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    f, _ = fetcher(boom, jwks_uri="https://keys.test/jwks")
    with pytest.raises(UpstreamError) as info:
        await f()
    assert info.value.unavailable
