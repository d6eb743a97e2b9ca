"""The two identity adapters over httpx.MockTransport: each wire's shapes in, core records and errors out.

InAI (@inai-dev/backend 1.10.0) and the identity microservice (seed 004); the InAI adapter's requests are
also compared with the real SDK's in tests/contract/test_inai.py, the other's pinned in test_identity_service.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from sidecar.core.shared.outcomes import NotConfigured, UpstreamError
from sidecar.upstream.identity_service import IdentityServiceClient
from sidecar.upstream.inai import InaiClient

PROBLEM = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "Invalid email or password"}


def inai(handler, seen: list | None = None) -> InaiClient:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return InaiClient("https://auth.test", "pk_1", 2.0, transport=httpx.MockTransport(record))


def service(handler) -> IdentityServiceClient:
    return IdentityServiceClient("https://id.test/api", 2.0, transport=httpx.MockTransport(handler))


async def test_inai_login_reads_token_pairs_and_mfa_without_a_session_id():
    seen: list[httpx.Request] = []
    pair = {"access_token": "at", "refresh_token": "rt", "token_type": "Bearer", "expires_in": 900}
    tokens = (await inai(lambda r: httpx.Response(200, json=pair), seen).login("a@b.c", "pw")).tokens
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in, tokens.session_id) == ("at", "rt", 900, "")
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/auth/login")
    assert request.headers["x-publishable-key"] == "pk_1" and request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"email": "a@b.c", "password": "pw"}
    mfa = inai(lambda r: httpx.Response(200, json={"mfa_required": True, "mfa_token": "m1"}))
    assert (await mfa.login("a@b.c", "pw")).mfa_token == "m1"


async def test_inai_problem_json_becomes_an_upstream_error_with_its_detail():
    refused = inai(lambda r: httpx.Response(401, json=PROBLEM, headers={"content-type": "application/problem+json"}))
    with pytest.raises(UpstreamError) as err:
        await refused.login("a@b.c", "secret-pw")
    assert (err.value.status, err.value.message) == (401, "Invalid email or password")
    assert '"type"' in err.value.body and "secret-pw" not in str(err.value)
    titled = inai(lambda r: httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "status": 404}))
    with pytest.raises(UpstreamError) as err:
        await titled.me("at")
    assert err.value.message == "Not Found"


async def test_inai_user_calls_send_bearer_and_key_and_read_the_sdk_shapes():
    seen: list[httpx.Request] = []
    session = {
        "id": "ses_1",
        "userId": "u",
        "userEmail": None,
        "userAgent": "curl/8",
        "ipAddress": "10.0.0.1",
        "environmentId": "e",
        "expiresAt": "2030-01-01T00:00:00.000Z",
        "createdAt": "2024-01-01T00:00:00.000Z",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sessions"):
            return httpx.Response(200, json={"data": [session]})
        if request.url.path.endswith("/me"):
            return httpx.Response(
                200,
                json={"data": {"id": "u", "email": "a@b.c", "firstName": None, "lastName": "L", "mfaEnabled": True}},
            )
        return httpx.Response(200, json={"message": "Session revoked"})

    client = inai(handler, seen)
    listed = await client.list_sessions("at-1")
    assert (listed[0].session_id, listed[0].device, listed[0].ip, listed[0].created_at) == (
        "ses_1",
        "curl/8",
        "10.0.0.1",
        1704067200,
    )
    me = await client.me("at-1")
    assert (me.user_id, me.email, me.first_name, me.last_name, me.mfa_enabled) == ("u", "a@b.c", "", "L", True)
    await client.logout_session("at-1", "ses/../x")
    assert [(r.method, r.url.raw_path.decode()) for r in seen] == [
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/sessions/ses%2F..%2Fx/revoke"),
    ]
    assert all(r.headers["authorization"] == "Bearer at-1" and r.headers["x-publishable-key"] == "pk_1" for r in seen)
    assert seen[-1].content == b""


async def test_inai_health_asks_the_jwks_url_without_the_key():
    seen: list[httpx.Request] = []
    health = await inai(lambda r: httpx.Response(200, json={"keys": []}), seen).health()
    assert health.healthy and seen[0].url.path == "/.well-known/jwks.json"
    assert "x-publishable-key" not in seen[0].headers


async def test_service_login_2fa_hands_back_the_email_to_confirm_with():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"code": "LOGIN_2FA_REQUIRED"})
        return httpx.Response(200, json={"token": "at", "refreshToken": "rt"})

    client = service(handler)
    first = await client.login("a@b.c", "pw")
    assert first.mfa_required and first.mfa_token == "a@b.c"
    tokens = await client.complete_mfa(first.mfa_token, "123456")
    assert (tokens.access_token, tokens.refresh_token) == ("at", "rt")
    assert bodies == [
        ("/api/auth/login", {"email": "a@b.c", "password": "pw"}),
        ("/api/auth/2fa/confirm-login", {"email": "a@b.c", "code": "123456"}),
    ]


async def test_service_errors_keep_message_and_body_and_logout_is_not_offered():
    refused = service(lambda r: httpx.Response(403, json={"message": "Locked", "code": "LOCKED"}))
    with pytest.raises(UpstreamError) as err:
        await refused.login("a@b.c", "pw")
    assert (err.value.status, err.value.message) == (403, "Locked") and "LOCKED" in err.value.body
    with pytest.raises(NotConfigured):
        await refused.logout("rt")


async def test_service_user_calls_send_the_bearer_token():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"sessions": [{"sessionId": "s1", "current": True, "createdAt": 5}]})

    sessions = await service(handler).list_sessions("at-1")
    assert seen == ["Bearer at-1"] and sessions[0].session_id == "s1" and sessions[0].current
