"""The identity service's HTTP API (the @inai-dev/backend and identity-client SDKs' shapes), in this one file.

JSON bodies; user calls carry `Authorization: Bearer <access token>`; errors answer
`{"message", "code"}` with a 4xx (the SDKs' InAIAuthError(status, message, body)).
Endpoints: POST /auth/login, /auth/mfa/challenge, /auth/refresh, /auth/logout;
GET /auth/me, /auth/sessions; POST /auth/sessions/logout.
"""

from __future__ import annotations

import httpx

from ..core.accounts import AccountSession, LoginResult, Me, Tokens
from ..core.answers import UpstreamHealth
from ..core.outcomes import UpstreamError
from .http import DEFAULT_MAX_RESPONSE_BYTES
from .json_http import JsonHttp, Reply

UPSTREAM = "identity"


def _error(reply: Reply, endpoint: str) -> UpstreamError:
    """The one place the service's error answers become UpstreamError (status and body kept)."""
    data = reply.data if isinstance(reply.data, dict) else {}
    message = str(data.get("message") or data.get("error") or f"{endpoint} answered {reply.status}")
    return UpstreamError(UPSTREAM, reply.status, message[:200], reply.text)


def _tokens(data: dict) -> Tokens:
    access = data.get("access_token") or data.get("token")
    if not access:
        raise UpstreamError(UPSTREAM, 0, "answer without an access token")
    return Tokens(str(access), str(data.get("refresh_token") or data.get("refreshToken") or ""),
                  int(data.get("expires_in") or 0), str(data.get("session_id") or data.get("sessionId") or ""))


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class IdentityClient:
    def __init__(self, base_url: str, api_key: str, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.http = JsonHttp(UPSTREAM, base_url, headers, timeout, transport, max_response_bytes)

    async def _call(self, method: str, path: str, **kwargs) -> dict:
        reply = await self.http.request(method, path, path, **kwargs)
        if not reply.ok:
            raise _error(reply, path)
        return reply.data if isinstance(reply.data, dict) else {}

    async def login(self, email: str, password: str) -> LoginResult:
        data = await self._call("POST", "/auth/login", json={"email": email, "password": password})
        # Two spellings of "second factor needed": mfa_required (inai) and code LOGIN_2FA_REQUIRED.
        if data.get("mfa_required") or data.get("code") == "LOGIN_2FA_REQUIRED":
            return LoginResult(mfa_required=True, mfa_token=str(data.get("mfa_token", "")))
        return LoginResult(tokens=_tokens(data))

    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens:
        return _tokens(await self._call("POST", "/auth/mfa/challenge", json={"mfa_token": mfa_token, "code": code}))

    async def refresh(self, refresh_token: str) -> Tokens:
        return _tokens(await self._call("POST", "/auth/refresh", json={"refresh_token": refresh_token}))

    async def logout(self, refresh_token: str) -> str:
        data = await self._call("POST", "/auth/logout", json={"refresh_token": refresh_token})
        return str(data.get("session_id") or data.get("sessionId") or "")

    async def me(self, access_token: str) -> Me:
        data = await self._call("GET", "/auth/me", headers=_bearer(access_token))
        user = data.get("data") or data
        return Me(str(user.get("id", "")), str(user.get("email", "")), str(user.get("firstName", "")),
                  str(user.get("lastName", "")), bool(user.get("mfaEnabled", False)))

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        data = await self._call("GET", "/auth/sessions", headers=_bearer(access_token))
        return [AccountSession(str(s.get("sessionId", "")), str(s.get("device", "")), str(s.get("ip", "")),
                               int(s.get("createdAt") or 0), int(s.get("lastSeenAt") or 0), bool(s.get("current")))
                for s in data.get("sessions") or []]

    async def logout_session(self, access_token: str, session_id: str) -> None:
        await self._call("POST", "/auth/sessions/logout", headers=_bearer(access_token),
                         json={"sessionId": session_id})

    async def health(self) -> UpstreamHealth:
        try:
            await self._call("GET", "/health")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self.http.aclose()
