"""The identity microservice that identity-client wraps: `identity.api: identity-service`.

No SDK of it is published: the seed README (004) is the spec for the calls and their members —
login {email, password} → {token, refreshToken} or {code: "LOGIN_2FA_REQUIRED"}; confirmLogin2FA
{email, code}; refresh {refreshToken}; me; listSessions → {sessions: [{sessionId, …}]}; logoutSession
{sessionId}. The paths, the session metadata names and the error body `{message, code}` are inferred.
User calls carry `Authorization: Bearer <access token>`; no API key is sent (the README shows none).
The service has no MFA token: the adapter hands back the email as `mfa_token`, and CompleteMfa sends
it as confirmLogin2FA's `email`. It has no refresh-token logout either: Logout is FAILED_PRECONDITION.
The README's 2FA and email-change calls, with the bearer like every user call: toggle2FA {enable}
→ {twoFACode?}; confirmEnable2FA {email, code}; requestEmailChange {newEmail} → {emailChangeToken};
confirmEmailChange {email, token} (paths inferred, docs/upstreams.md). InAI's app-user flows
(register, organization, password reset, email verification) are Unsupported here.
"""

from __future__ import annotations

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
from sidecar.core.shared.outcomes import NotConfigured, Unsupported, UpstreamError
from sidecar.upstream.transport import DEFAULT_MAX_RESPONSE_BYTES

from .guard import reads_answers
from .json_http import JsonHttp, Reply

UPSTREAM = "identity"


def _error(reply: Reply, endpoint: str) -> UpstreamError:
    """The one place the service's error answers become UpstreamError (status and body kept)."""
    data = reply.data if isinstance(reply.data, dict) else {}
    message = str(data.get("message") or f"{endpoint} answered {reply.status}")
    return UpstreamError(UPSTREAM, reply.status, message[:200], reply.text)


def _tokens(data: dict) -> Tokens:
    access = data.get("token")
    if not isinstance(access, str) or not access:
        raise UpstreamError(UPSTREAM, 0, "answer without a token")
    return Tokens(access, str(data.get("refreshToken") or ""))


def _not_here(flow: str) -> Unsupported:
    return Unsupported(f"{flow} is an InAI call; identity.api identity-service has none")


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    return value[:200] if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class IdentityServiceClient:
    flavour = "identity-service"

    def __init__(
        self,
        base_url: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.http = JsonHttp(UPSTREAM, base_url, {}, timeout, transport, max_response_bytes)

    async def _call(self, method: str, path: str, access_token: str = "", body: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        kwargs = {"json": body} if body is not None else {}
        reply = await self.http.request(method, path, path, headers=headers, **kwargs)
        if not reply.ok:
            raise _error(reply, path)
        return reply.data if isinstance(reply.data, dict) else {}

    async def login(self, email: str, password: str) -> LoginResult:
        data = await self._call("POST", "/auth/login", body={"email": email, "password": password})
        if data.get("code") == "LOGIN_2FA_REQUIRED":
            return LoginResult(mfa_required=True, mfa_token=email)
        return LoginResult(tokens=_tokens(data))

    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens:
        return _tokens(await self._call("POST", "/auth/2fa/confirm-login", body={"email": mfa_token, "code": code}))

    async def refresh(self, refresh_token: str) -> Tokens:
        return _tokens(await self._call("POST", "/auth/refresh", body={"refreshToken": refresh_token}))

    async def logout(self, refresh_token: str) -> None:
        raise NotConfigured(
            "identity.api identity-service has no refresh-token logout; end the session with LogoutSession"
        )

    async def me(self, access_token: str) -> Me:
        user = await self._call("GET", "/auth/me", access_token)
        return Me(
            str(user.get("id") or ""),
            str(user.get("email") or ""),
            str(user.get("firstName") or ""),
            str(user.get("lastName") or ""),
            user.get("twoFAEnabled") is True,
        )

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        data = await self._call("GET", "/auth/sessions", access_token)
        items = found if isinstance(found := data.get("sessions"), list) else []
        return [
            AccountSession(
                str(s.get("sessionId") or ""),
                str(s.get("device") or ""),
                str(s.get("ip") or ""),
                _int(s.get("createdAt")),
                _int(s.get("lastSeenAt")),
                s.get("current") is True,
            )
            for s in items
            if isinstance(s, dict)
        ]

    async def logout_session(self, access_token: str, session_id: str) -> None:
        await self._call("POST", "/auth/sessions/logout", access_token, body={"sessionId": session_id})

    async def toggle_two_factor(self, access_token: str, enable: bool) -> TwoFactorToggled:
        data = await self._call("POST", "/auth/2fa/toggle", access_token, body={"enable": enable})
        code = data.get("twoFACode")
        code = code if isinstance(code, str) else ""
        return TwoFactorToggled(
            enable and (bool(code) or data.get("code") == "2FA_CONFIRMATION_REQUIRED"), code, _text(data, "message")
        )

    async def confirm_enable_two_factor(self, access_token: str, email: str, code: str) -> str:
        body = {"email": email, "code": code}
        return _text(await self._call("POST", "/auth/2fa/confirm-enable", access_token, body=body), "message")

    async def request_email_change(self, access_token: str, new_email: str) -> str:
        data = await self._call("POST", "/auth/email/change-request", access_token, body={"newEmail": new_email})
        token = data.get("emailChangeToken")
        if not isinstance(token, str) or not token:
            raise UpstreamError(UPSTREAM, 0, "answer without an emailChangeToken")
        return token

    async def confirm_email_change(self, access_token: str, email: str, token: str) -> str:
        body = {"email": email, "token": token}
        return _text(await self._call("POST", "/auth/email/change-confirm", access_token, body=body), "message")

    async def register(self, registration: Registration) -> Registered:
        raise _not_here("register")

    async def set_active_organization(self, access_token: str, organization_id: str) -> Tokens:
        raise _not_here("set_active_organization")

    async def forgot_password(self, email: str) -> str:
        raise _not_here("forgot_password")

    async def reset_password(self, token: str, password: str) -> str:
        raise _not_here("reset_password")

    async def verify_email(self, token: str) -> str:
        raise _not_here("verify_email")

    async def health(self) -> UpstreamHealth:
        try:
            await self._call("GET", "/health")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self.http.aclose()
