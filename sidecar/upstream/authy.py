"""The Authy platform's HTTP API, as authy-client@1.1.4 speaks it (src/client.js), in this one file.

Every request carries `X-Authy-API-Key` and `Accept: application/json`. The SDK's request defaults are
`json: true`, so whatever it sends as a body is JSON (`Content-Type: application/json`): the POSTs
(users/new, users/{id}/remove, onetouch approval_requests, phones/verification/start) and, quirk kept,
the `{}` body of GET users/{id}/status. Other GETs send their parameters in the query. Answers are JSON
with `success`; errors add `message` + `error_code`. Codes and user ids travel in paths, but metrics
carry only the route templates. docs/upstreams.md lists each operation with its SDK source.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from sidecar.core.factors.records import (
    Activity,
    ApplicationStatistics,
    ApprovalDraft,
    ApprovalStatus,
    MonthlyStatistics,
    PhoneInformation,
    PhoneNumber,
    PhoneVerificationStarted,
    TokenRequest,
    TokenSent,
    UserStatus,
)
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream.transport import DEFAULT_MAX_RESPONSE_BYTES

from .guard import reads_answers
from .json_http import JsonHttp, Reply

UPSTREAM = "authy"
# Error codes that mean "the code is wrong" (an answer, not a failure of the call).
WRONG_TOKEN_CODES = {"60020"}  # Token is invalid
WRONG_PHONE_CODES = {"60022"}  # Verification code is incorrect
STATUSES = {s.value.lower(): s for s in ApprovalStatus if s is not ApprovalStatus.UNSPECIFIED}


MAX_MONTHS = 120  # statistics months kept from one answer (ten years); the rest is dropped


def _count(value: object) -> int:
    """A non-negative integer the platform reports; anything else reads as 0 (bools are not counts)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else 0


def _text(value: object, cap: int) -> str:
    """A string field, cut at `cap`; any other JSON type reads as empty (never its repr)."""
    return value[:cap] if isinstance(value, str) else ""


def _seg(value: str) -> str:
    return quote(value, safe="")


def _error(reply: Reply, endpoint: str) -> UpstreamError:
    """The one place the platform's error answers become UpstreamError."""
    data = reply.data if isinstance(reply.data, dict) else {}
    message = str(data.get("message") or data.get("error") or f"{endpoint} answered {reply.status}")
    return UpstreamError(UPSTREAM, reply.status, message[:200], reply.text)


def _error_code(reply: Reply) -> str:
    return str(reply.data.get("error_code", "")) if isinstance(reply.data, dict) else ""


def _succeeded(data: dict) -> bool:
    # The SDK's response parser: a 200 without a truthy `success` is a failure (the platform writes "true" or true).
    return bool(data.get("success")) and str(data.get("success")).lower() != "false"


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class AuthyClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.http = JsonHttp(
            UPSTREAM,
            base_url,
            {"X-Authy-API-Key": api_key, "Accept": "application/json"},
            timeout,
            transport,
            max_response_bytes,
        )

    async def _ok(self, method: str, path: str, endpoint: str, **kwargs) -> dict:
        reply = await self.http.request(method, path, endpoint, **kwargs)
        data = reply.data if isinstance(reply.data, dict) else {}
        if not reply.ok:
            raise _error(reply, endpoint)
        if not _succeeded(data):
            raise UpstreamError(UPSTREAM, 0, f"{endpoint} answered without success")
        return data

    async def verify_token(self, user_id: str, code: str, force: bool, factor_id: str = "") -> bool:
        """GET /protected/json/verify/{token}/{authy_id}[?force=true] (client.js verifyToken); Authy has no factors."""
        endpoint = "/protected/json/verify/{token}/{authy_id}"
        params = {"force": "true"} if force else {}
        reply = await self.http.request(
            "GET", f"/protected/json/verify/{_seg(code)}/{_seg(user_id)}", endpoint, params=params
        )
        if reply.ok:
            return _succeeded(reply.data) and reply.data.get("token") == "is valid"
        if reply.status == 401 and _error_code(reply) in WRONG_TOKEN_CODES:
            return False
        raise _error(reply, endpoint)

    async def request_token(self, request: TokenRequest) -> TokenSent:
        """GET /protected/json/{sms|call}/{authy_id}?force=true&action=…&action_message=… (requestSms/requestCall)."""
        endpoint = f"/protected/json/{request.via}/{{authy_id}}"
        params = {
            k: v
            for k, v in (
                ("action", request.action),
                ("action_message", request.action_message),
                ("force", "true" if request.force else ""),
            )
            if v
        }
        data = await self._ok("GET", f"/protected/json/{request.via}/{_seg(request.user_id)}", endpoint, params=params)
        return TokenSent(
            str(data.get("message") or ""),
            str(data.get("cellphone") or ""),
            str(data.get("device") or ""),
            bool(data.get("ignored", False)),
        )

    async def create_approval(self, draft: ApprovalDraft) -> str:
        """POST /onetouch/json/users/{authy_id}/approval_requests, JSON (createApprovalRequest)."""
        body: dict = {"message": draft.message}
        if draft.visible:
            body["details"] = draft.visible
        if draft.hidden:
            body["hidden_details"] = draft.hidden
        if draft.ttl_seconds:
            body["seconds_to_expire"] = draft.ttl_seconds
        data = await self._ok(
            "POST",
            f"/onetouch/json/users/{_seg(draft.user_id)}/approval_requests",
            "/onetouch/json/users/{authy_id}/approval_requests",
            json=body,
        )
        uuid = (data.get("approval_request") or {}).get("uuid")
        if not uuid:
            raise UpstreamError(UPSTREAM, 0, "approval request created without a uuid")
        return str(uuid)

    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        """GET /onetouch/json/approval_requests/{uuid} (getApprovalRequest)."""
        data = await self._ok(
            "GET", f"/onetouch/json/approval_requests/{_seg(approval_id)}", "/onetouch/json/approval_requests/{uuid}"
        )
        raw = str((data.get("approval_request") or {}).get("status", "")).lower()
        return STATUSES.get(raw, ApprovalStatus.UNSPECIFIED)

    async def start_phone_verification(
        self, phone: PhoneNumber, via: str, locale: str, code_length: int
    ) -> PhoneVerificationStarted:
        """POST /protected/json/phones/verification/start, JSON (startPhoneVerification). The SDK validates
        codeLength but never sends it; the sidecar sends `code_length` only when asked for one."""
        body: dict = {"country_code": phone.country_code, "phone_number": phone.national, "via": via}
        if locale:
            body["locale"] = locale
        if code_length:
            body["code_length"] = code_length
        data = await self._ok(
            "POST", "/protected/json/phones/verification/start", "/protected/json/phones/verification/start", json=body
        )
        return PhoneVerificationStarted(
            str(data.get("message", "")), int(data.get("seconds_to_expire") or 0), bool(data.get("is_cellphone", False))
        )

    async def check_phone_verification(self, phone: PhoneNumber, code: str) -> bool:
        """GET /protected/json/phones/verification/check?country_code&phone_number&verification_code (verifyPhone)."""
        endpoint = "/protected/json/phones/verification/check"
        reply = await self.http.request(
            "GET",
            endpoint,
            endpoint,
            params={"country_code": str(phone.country_code), "phone_number": phone.national, "verification_code": code},
        )
        if reply.ok:
            return _succeeded(reply.data)
        if reply.status == 401 and _error_code(reply) in WRONG_PHONE_CODES:
            return False
        raise _error(reply, endpoint)

    async def register_user(self, email: str, phone: PhoneNumber) -> str:
        """POST /protected/json/users/new, JSON {user: {cellphone, country_code, email}} (registerUser)."""
        body = {"user": {"cellphone": phone.national, "country_code": phone.country_code, "email": email}}
        data = await self._ok("POST", "/protected/json/users/new", "/protected/json/users/new", json=body)
        user_id = (data.get("user") or {}).get("id")
        if user_id in (None, ""):
            raise UpstreamError(UPSTREAM, 0, "user created without an id")
        return str(user_id)

    async def delete_user(self, user_id: str) -> None:
        """POST /protected/json/users/{authy_id}/remove, JSON `{}` (deleteUser without `ip`)."""
        await self._ok(
            "POST", f"/protected/json/users/{_seg(user_id)}/remove", "/protected/json/users/{authy_id}/remove", json={}
        )

    async def user_status(self, user_id: str) -> UserStatus:
        """GET /protected/json/users/{authy_id}/status with the SDK's JSON `{}` body (getUserStatus)."""
        data = await self._ok(
            "GET", f"/protected/json/users/{_seg(user_id)}/status", "/protected/json/users/{authy_id}/status", json={}
        )
        s = data.get("status") or {}
        return UserStatus(
            str(s.get("authy_id", user_id)),
            bool(s.get("registered")),
            bool(s.get("confirmed")),
            str(s.get("country_code", "")),
            str(s.get("phone_number", "")),
            tuple(str(d) for d in s.get("devices") or ()),
            bool(s.get("has_hard_token")),
        )

    async def register_activity(self, activity: Activity) -> str:
        """POST /protected/json/users/{authy_id}/register_activity, JSON {data?, type, user_ip?}
        (registerActivity: unset data and ip are `undefined`, so JSON leaves them out)."""
        body: dict = {"type": activity.type}
        if activity.data:
            body["data"] = activity.data
        if activity.ip:
            body["user_ip"] = activity.ip
        data = await self._ok(
            "POST",
            f"/protected/json/users/{_seg(activity.user_id)}/register_activity",
            "/protected/json/users/{authy_id}/register_activity",
            json=body,
        )
        return str(data.get("message") or "")[:200]

    async def application_statistics(self) -> ApplicationStatistics:
        """GET /protected/json/app/stats (getApplicationStatistics without `ip`)."""
        data = await self._ok("GET", "/protected/json/app/stats", "/protected/json/app/stats")
        found = data.get("stats")
        months: list = found if isinstance(found, list) else []
        return ApplicationStatistics(
            _count(data.get("app_id")),
            _count(data.get("total_users")),
            tuple(
                MonthlyStatistics(
                    year=_count(m.get("year")),
                    month=_text(m.get("month"), 32),
                    api_calls_count=_count(m.get("api_calls_count")),
                    auths_count=_count(m.get("auths_count")),
                    calls_count=_count(m.get("calls_count")),
                    sms_count=_count(m.get("sms_count")),
                    users_count=_count(m.get("users_count")),
                )
                for m in months[:MAX_MONTHS]
                if isinstance(m, dict)
            ),
        )

    async def phone_information(self, phone: PhoneNumber, ip: str) -> PhoneInformation:
        """GET /protected/json/phones/info?country_code&phone_number[&user_ip] (getPhoneInformation)."""
        params = {"country_code": str(phone.country_code), "phone_number": phone.national}
        if ip:
            params["user_ip"] = ip
        endpoint = "/protected/json/phones/info"
        data = await self._ok("GET", endpoint, endpoint, params=params)
        return PhoneInformation(
            _text(data.get("type"), 64),
            _text(data.get("provider"), 256),
            data.get("ported") is True,
            _text(data.get("message"), 200),
        )

    async def health(self) -> UpstreamHealth:
        """GET /protected/json/app/details (getApplicationDetails): the key works and the platform answers."""
        try:
            await self._ok("GET", "/protected/json/app/details", "/protected/json/app/details")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self.http.aclose()
