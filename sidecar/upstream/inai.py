"""The InAI Auth API v1 (app users), as @inai-dev/backend 1.10.0 calls it: `identity.api: inai`.

Evidence: the SDK's dist/index.js (InAIAuthClient.request and the app-user methods) and its types
(@inai-dev/types: LoginResult, TokenPair, UserResource, AppSessionResource, InAIAuthErrorBody).
  - base URL = the SDK's apiUrl; every path below starts with /api/v1;
  - every call sends `Content-Type: application/json` and `X-Publishable-Key: <publishable key>`
    (the SDK adds the key on /api/v1/ paths only); user calls add `Authorization: Bearer <access token>`;
  - errors are RFC 7807 problem+json `{type, title, status, detail}`; the SDK's message is `detail`.
Token answers carry no session id (TokenPair has none), so none is read here.
The app-user flows (register, setActiveOrganization, forgotPassword, resetPassword, verifyEmail) are
the SDK's methods of the same names; the identity microservice's (2FA toggle, email change) are
Unsupported here (UNIMPLEMENTED at the edge).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx

from sidecar.core.accounts.records import (
    AccountSession,
    LoginResult,
    Me,
    Registered,
    Registration,
    Tokens,
    TwoFactorToggled,
)
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.outcomes import Unsupported, UpstreamError
from sidecar.upstream.transport import DEFAULT_MAX_RESPONSE_BYTES

from .guard import reads_answers
from .json_http import JsonHttp, Reply

UPSTREAM = "identity"
JSON = {"Content-Type": "application/json"}


def _error(reply: Reply, endpoint: str) -> UpstreamError:
    """The one place InAI's problem+json answers become UpstreamError (status and body kept)."""
    data = reply.data if isinstance(reply.data, dict) else {}
    message = data.get("detail") or data.get("title") or f"{endpoint} answered {reply.status}"
    return UpstreamError(UPSTREAM, reply.status, str(message)[:200], reply.text)


def _tokens(data: dict) -> Tokens:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise UpstreamError(UPSTREAM, 0, "answer without an access_token")
    expires_in = data.get("expires_in")
    return Tokens(
        access,
        str(data.get("refresh_token") or ""),
        expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else 0,
    )


def _message(data: dict) -> str:
    return str(data.get("message") or "")[:200]


def _not_here(flow: str) -> Unsupported:
    return Unsupported(f"{flow} is an identity-service call; identity.api inai (InAI) has none")


def _seconds(iso: object) -> int:
    """An ISO 8601 time (createdAt) as Unix seconds; 0 when absent or unreadable."""
    if not isinstance(iso, str):
        return 0
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class InaiClient:
    flavour = "inai"

    def __init__(
        self,
        base_url: str,
        publishable_key: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.key_headers = {**JSON, "X-Publishable-Key": publishable_key}
        self.http = JsonHttp(UPSTREAM, base_url, {}, timeout, transport, max_response_bytes)

    async def _call(
        self, method: str, path: str, endpoint: str, access_token: str = "", body: dict | None = None
    ) -> dict:
        headers = dict(self.key_headers)
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        kwargs = {"json": body} if body is not None else {}
        reply = await self.http.request(method, "/api/v1" + path, "/api/v1" + endpoint, headers=headers, **kwargs)
        if not reply.ok:
            raise _error(reply, endpoint)
        return reply.data if isinstance(reply.data, dict) else {}

    async def login(self, email: str, password: str) -> LoginResult:
        data = await self._call("POST", "/auth/login", "/auth/login", body={"email": email, "password": password})
        if data.get("mfa_required"):
            return LoginResult(mfa_required=True, mfa_token=str(data.get("mfa_token") or ""))
        return LoginResult(tokens=_tokens(data))

    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens:
        return _tokens(
            await self._call(
                "POST", "/auth/mfa/challenge", "/auth/mfa/challenge", body={"mfa_token": mfa_token, "code": code}
            )
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return _tokens(
            await self._call("POST", "/auth/refresh", "/auth/refresh", body={"refresh_token": refresh_token})
        )

    async def logout(self, refresh_token: str) -> None:
        await self._call("POST", "/auth/logout", "/auth/logout", body={"refresh_token": refresh_token})

    async def me(self, access_token: str) -> Me:
        data = await self._call("GET", "/auth/me", "/auth/me", access_token)
        user = found if isinstance(found := data.get("data"), dict) else {}
        return Me(
            str(user.get("id") or ""),
            str(user.get("email") or ""),
            str(user.get("firstName") or ""),
            str(user.get("lastName") or ""),
            user.get("mfaEnabled") is True,
        )

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        data = await self._call("GET", "/sessions", "/sessions", access_token)
        items = found if isinstance(found := data.get("data"), list) else []
        return [
            AccountSession(
                str(s.get("id") or ""),
                str(s.get("userAgent") or ""),
                str(s.get("ipAddress") or ""),
                _seconds(s.get("createdAt")),
            )
            for s in items
            if isinstance(s, dict)
        ]

    async def logout_session(self, access_token: str, session_id: str) -> None:
        # The SDK writes the id into the path as is; quoting keeps a hostile id inside its segment.
        await self._call(
            "POST", f"/sessions/{quote(session_id, safe='')}/revoke", "/sessions/{id}/revoke", access_token
        )

    async def register(self, registration: Registration) -> Registered:
        """register({email, password, firstName?, lastName?}): the SDK leaves unset names out (undefined)."""
        body = {"email": registration.email, "password": registration.password}
        if registration.first_name:
            body["firstName"] = registration.first_name
        if registration.last_name:
            body["lastName"] = registration.last_name
        data = await self._call("POST", "/auth/register", "/auth/register", body=body)
        user = found if isinstance(found := data.get("user"), dict) else {}
        return Registered(_tokens(data), str(user.get("id") or ""))

    async def set_active_organization(self, access_token: str, organization_id: str) -> Tokens:
        """setActiveOrganization(accessToken, organizationId | null): empty clears it (null)."""
        body = {"organizationId": organization_id or None}
        return _tokens(
            await self._call(
                "POST", "/auth/set-active-organization", "/auth/set-active-organization", access_token, body
            )
        )

    async def forgot_password(self, email: str) -> str:
        return _message(
            await self._call("POST", "/auth/forgot-password", "/auth/forgot-password", body={"email": email})
        )

    async def reset_password(self, token: str, password: str) -> str:
        body = {"token": token, "password": password}
        return _message(await self._call("POST", "/auth/reset-password", "/auth/reset-password", body=body))

    async def verify_email(self, token: str) -> str:
        return _message(await self._call("POST", "/auth/verify-email", "/auth/verify-email", body={"token": token}))

    async def toggle_two_factor(self, access_token: str, enable: bool) -> TwoFactorToggled:
        raise _not_here("toggle_two_factor")

    async def confirm_enable_two_factor(self, access_token: str, email: str, code: str) -> str:
        raise _not_here("confirm_enable_two_factor")

    async def request_email_change(self, access_token: str, new_email: str) -> str:
        raise _not_here("request_email_change")

    async def confirm_email_change(self, access_token: str, email: str, token: str) -> str:
        raise _not_here("confirm_email_change")

    async def health(self) -> UpstreamHealth:
        """The JWKS URL (apiUrl/.well-known/jwks.json, @inai-dev/shared DEFAULT_JWKS_URL): public, no key."""
        try:
            reply = await self.http.request("GET", "/.well-known/jwks.json", "/.well-known/jwks.json")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        if not reply.ok:
            return UpstreamHealth(UPSTREAM, False, str(_error(reply, "/.well-known/jwks.json")))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self.http.aclose()
