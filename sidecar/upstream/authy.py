"""The Authy-style platform's HTTP API (the authy-client SDK's wire shapes), in this one file.

Auth: `X-Authy-API-Key`. Bodies are form-encoded with bracketed keys (`user[email]`,
`details[Account Number]`); answers are JSON with `success` and, on errors, `message` +
`error_code`. Codes and user ids travel in paths but metrics carry only the route templates.
"""

from __future__ import annotations

import httpx

from urllib.parse import quote

from ..core.answers import UpstreamHealth
from ..core.outcomes import UpstreamError
from ..core.second_factors import (ApprovalDraft, ApprovalStatus, PhoneNumber, PhoneVerificationStarted,
                                   UserStatus)
from .http import DEFAULT_MAX_RESPONSE_BYTES
from .json_http import JsonHttp, Reply

UPSTREAM = "authy"
# Error codes that mean "the code is wrong" (an answer, not a failure of the call).
WRONG_TOKEN_CODES = {"60020"}          # Token is invalid
WRONG_PHONE_CODES = {"60022"}          # Verification code is incorrect
STATUSES = {s.value.lower(): s for s in ApprovalStatus if s is not ApprovalStatus.UNSPECIFIED}


def _seg(value: str) -> str:
    return quote(value, safe="")


def _error(reply: Reply, endpoint: str) -> UpstreamError:
    """The one place the platform's error answers become UpstreamError."""
    data = reply.data if isinstance(reply.data, dict) else {}
    message = str(data.get("message") or data.get("error") or f"{endpoint} answered {reply.status}")
    return UpstreamError(UPSTREAM, reply.status, message[:200], reply.text)


def _error_code(reply: Reply) -> str:
    return str(reply.data.get("error_code", "")) if isinstance(reply.data, dict) else ""


class AuthyClient:
    def __init__(self, base_url: str, api_key: str, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.http = JsonHttp(UPSTREAM, base_url, {"X-Authy-API-Key": api_key, "Accept": "application/json"},
                             timeout, transport, max_response_bytes)

    async def _ok(self, method: str, path: str, endpoint: str, **kwargs) -> dict:
        reply = await self.http.request(method, path, endpoint, **kwargs)
        if not reply.ok:
            raise _error(reply, endpoint)
        return reply.data if isinstance(reply.data, dict) else {}

    async def verify_token(self, user_id: str, code: str, force: bool) -> bool:
        endpoint = "/protected/json/verify/{token}/{authy_id}"
        params = {"force": "true"} if force else {}
        reply = await self.http.request("GET", f"/protected/json/verify/{_seg(code)}/{_seg(user_id)}", endpoint,
                                        params=params)
        if reply.ok:
            # The platform answers success as the string "true" (a quirk the SDK checks for).
            return str(reply.data.get("success")).lower() == "true" and reply.data.get("token") == "is valid"
        if reply.status == 401 and _error_code(reply) in WRONG_TOKEN_CODES:
            return False
        raise _error(reply, endpoint)

    async def create_approval(self, draft: ApprovalDraft) -> str:
        form = {"message": draft.message}
        form.update({f"details[{k}]": v for k, v in draft.visible.items()})
        form.update({f"hidden_details[{k}]": v for k, v in draft.hidden.items()})
        if draft.ttl_seconds:
            form["seconds_to_expire"] = str(draft.ttl_seconds)
        data = await self._ok("POST", f"/onetouch/json/users/{_seg(draft.user_id)}/approval_requests",
                              "/onetouch/json/users/{authy_id}/approval_requests", data=form)
        uuid = (data.get("approval_request") or {}).get("uuid")
        if not uuid:
            raise UpstreamError(UPSTREAM, 0, "approval request created without a uuid")
        return str(uuid)

    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        data = await self._ok("GET", f"/onetouch/json/approval_requests/{_seg(approval_id)}",
                              "/onetouch/json/approval_requests/{uuid}")
        raw = str((data.get("approval_request") or {}).get("status", "")).lower()
        return STATUSES.get(raw, ApprovalStatus.UNSPECIFIED)

    async def start_phone_verification(self, phone: PhoneNumber, via: str, locale: str,
                                       code_length: int) -> PhoneVerificationStarted:
        form = {"via": via, "country_code": str(phone.country_code), "phone_number": phone.national}
        if locale:
            form["locale"] = locale
        if code_length:
            form["code_length"] = str(code_length)
        data = await self._ok("POST", "/protected/json/phones/verification/start",
                              "/protected/json/phones/verification/start", data=form)
        return PhoneVerificationStarted(str(data.get("message", "")), int(data.get("seconds_to_expire") or 0),
                                        bool(data.get("is_cellphone", False)))

    async def check_phone_verification(self, phone: PhoneNumber, code: str) -> bool:
        endpoint = "/protected/json/phones/verification/check"
        reply = await self.http.request("GET", endpoint, endpoint, params={
            "country_code": str(phone.country_code), "phone_number": phone.national, "verification_code": code})
        if reply.ok:
            return reply.data.get("success") in (True, "true")
        if reply.status == 401 and _error_code(reply) in WRONG_PHONE_CODES:
            return False
        raise _error(reply, endpoint)

    async def register_user(self, email: str, phone: PhoneNumber) -> str:
        form = {"user[email]": email, "user[cellphone]": phone.national, "user[country_code]": str(phone.country_code)}
        data = await self._ok("POST", "/protected/json/users/new", "/protected/json/users/new", data=form)
        user_id = (data.get("user") or {}).get("id")
        if user_id in (None, ""):
            raise UpstreamError(UPSTREAM, 0, "user created without an id")
        return str(user_id)

    async def delete_user(self, user_id: str) -> None:
        await self._ok("POST", f"/protected/json/users/{_seg(user_id)}/remove", "/protected/json/users/{authy_id}/remove")

    async def user_status(self, user_id: str) -> UserStatus:
        data = await self._ok("GET", f"/protected/json/users/{_seg(user_id)}/status",
                              "/protected/json/users/{authy_id}/status")
        s = data.get("status") or {}
        return UserStatus(str(s.get("authy_id", user_id)), bool(s.get("registered")), bool(s.get("confirmed")),
                          str(s.get("country_code", "")), str(s.get("phone_number", "")),
                          tuple(str(d) for d in s.get("devices") or ()))

    async def health(self) -> UpstreamHealth:
        try:
            await self._ok("GET", "/protected/json/app/details", "/protected/json/app/details")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self.http.aclose()
