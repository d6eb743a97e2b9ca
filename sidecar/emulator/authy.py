"""Emulated Authy-style platform under /authy: TOTP verify, OneTouch approvals, phone verification, users.

Wire shapes follow the authy-client SDK (form bodies with bracketed keys, JSON answers with
`success`, `message`, `error_code`). Control endpoints for tests and demos, under /_control/authy:
  GET  /_control/authy/users/{id}/totp          the user's currently valid code
  POST /_control/authy/approvals/{uuid}         {"status": "approved"|"denied"} — the user answers
  GET  /_control/authy/approvals/last           the last approval request created
  GET  /_control/authy/phones/last              the last phone verification sent (with its code)
  POST /_control/authy/callback                 {"url", "params", "nonce"?} → a signed callback
"""

from __future__ import annotations

import secrets
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .credentials import AUTHY_API_KEY as EMULATOR_AUTHY_API_KEY
from ..core.callbacks import flatten_params, sign

PREFIX = "/authy"


@dataclass
class Approval:
    uuid: str
    user_id: str
    message: str
    details: dict
    hidden_details: dict
    expires_at: float            # 0: never
    status: str = "pending"

    def current_status(self) -> str:
        if self.status == "pending" and self.expires_at and time.time() >= self.expires_at:
            return "expired"
        return self.status


@dataclass
class AuthyArea:
    users: dict[str, dict] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    last_approval: str = ""
    phones: dict[tuple[str, str], dict] = field(default_factory=dict)
    last_phone: dict = field(default_factory=dict)
    next_id: int = 1000


def _fail(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "errors": {"message": message},
                         "error_code": code}, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """A form-encoded body (parsed here: starlette's form parser needs python-multipart)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def _user_or_none(area: AuthyArea, user_id: str) -> dict | None:
    return area.users.get(user_id)


def _form_dict(form, prefix: str) -> dict:
    return {k[len(prefix) + 1:-1]: v for k, v in form.items() if k.startswith(prefix + "[") and k.endswith("]")}


def routes(state) -> list[Route]:
    area = state.areas.setdefault("authy", AuthyArea())
    api = AuthyApi(area)
    g = api.guarded
    return [
        Route(f"{PREFIX}/protected/json/verify/{{token}}/{{authy_id}}", g(api.verify)),
        Route(f"{PREFIX}/onetouch/json/users/{{authy_id}}/approval_requests", g(api.create_approval), methods=["POST"]),
        Route(f"{PREFIX}/onetouch/json/approval_requests/{{uuid}}", g(api.get_approval)),
        Route(f"{PREFIX}/protected/json/phones/verification/start", g(api.phone_start), methods=["POST"]),
        Route(f"{PREFIX}/protected/json/phones/verification/check", g(api.phone_check)),
        Route(f"{PREFIX}/protected/json/users/new", g(api.user_new), methods=["POST"]),
        Route(f"{PREFIX}/protected/json/users/{{authy_id}}/remove", g(api.user_remove), methods=["POST"]),
        Route(f"{PREFIX}/protected/json/users/{{authy_id}}/status", g(api.user_status)),
        Route(f"{PREFIX}/protected/json/app/details", g(api.app_details)),
        *_control_routes(area),
    ]


class AuthyApi:
    """The platform's endpoints over one AuthyArea."""

    def __init__(self, area: AuthyArea) -> None:
        self.area = area

    @staticmethod
    def guarded(handler):
        async def run(request: Request):
            if request.headers.get("x-authy-api-key") != EMULATOR_AUTHY_API_KEY:
                return _fail(401, "Invalid API key", "60001")
            return await handler(request)
        return run

    async def verify(self, request: Request):
        token, user_id = request.path_params["token"], request.path_params["authy_id"]
        if _user_or_none(self.area, user_id) is None:
            return _fail(404, "User not found.", "60026")
        if not token.isdigit() or not 6 <= len(token) <= 10:
            return _fail(400, "Token is invalid. Token length must be between 6 and 10", "60019")
        if not secrets.compare_digest(token, self.area.totp.get(user_id, "")):
            return JSONResponse({"success": False, "message": "Token is invalid", "token": "is invalid",
                                 "errors": {"message": "Token is invalid"}, "error_code": "60020"}, status_code=401)
        return JSONResponse({"success": "true", "message": "Token is valid.", "token": "is valid"})

    async def create_approval(self, request: Request):
        user_id = request.path_params["authy_id"]
        if _user_or_none(self.area, user_id) is None:
            return _fail(404, "User not found.", "60026")
        form = await _form(request)
        if not form.get("message"):
            return _fail(400, "Message is required", "60000")
        ttl = int(form.get("seconds_to_expire") or 86400)
        approval = Approval(str(uuidlib.uuid4()), user_id, str(form["message"]), _form_dict(form, "details"),
                            _form_dict(form, "hidden_details"), time.time() + ttl if ttl else 0.0)
        self.area.approvals[approval.uuid] = approval
        self.area.last_approval = approval.uuid
        return JSONResponse({"approval_request": {"uuid": approval.uuid}, "success": True})

    async def get_approval(self, request: Request):
        approval = self.area.approvals.get(request.path_params["uuid"])
        if approval is None:
            return _fail(404, "Approval request not found", "60049")
        return JSONResponse({"approval_request": {
            "uuid": approval.uuid, "status": approval.current_status(), "message": approval.message,
            "details": approval.details, "hidden_details": approval.hidden_details,
            "expires_at": approval.expires_at or None}, "success": True})

    async def phone_start(self, request: Request):
        form = await _form(request)
        cc, number, via = form.get("country_code", ""), form.get("phone_number", ""), form.get("via", "")
        if via not in ("sms", "call") or not cc or not number:
            return _fail(400, "Invalid parameters", "60000")
        length = int(form.get("code_length") or 4)
        code = "".join(secrets.choice("0123456789") for _ in range(length))
        self.area.phones[(cc, number)] = {"code": code, "expires_at": time.time() + 600}
        self.area.last_phone = {"country_code": cc, "phone_number": number, "via": via, "code": code,
                                "locale": form.get("locale", "")}
        sent = "Text message" if via == "sms" else "Call"
        return JSONResponse({"carrier": "Emulated Carrier", "is_cellphone": True, "seconds_to_expire": 599,
                             "uuid": str(uuidlib.uuid4()), "success": True,
                             "message": f"{sent} sent to +{cc} {number}."})

    async def phone_check(self, request: Request):
        q = request.query_params
        key = (q.get("country_code", ""), q.get("phone_number", ""))
        pending = self.area.phones.get(key)
        if pending is None or pending["expires_at"] < time.time():
            return _fail(404, f"No pending verifications for +{key[0]} {key[1]} found.", "60023")
        if not secrets.compare_digest(q.get("verification_code", ""), pending["code"]):
            return _fail(401, "Verification code is incorrect", "60022")
        return JSONResponse({"message": "Verification code is correct.", "success": True})

    async def user_new(self, request: Request):
        form = await _form(request)
        email, phone, cc = form.get("user[email]"), form.get("user[cellphone]"), form.get("user[country_code]")
        if not email or not phone or not cc:
            return _fail(400, "User was not valid", "60027")
        user_id = str(self.area.next_id)
        self.area.next_id += 1
        self.area.users[user_id] = {"email": email, "phone": phone, "country_code": cc}
        self.area.totp[user_id] = "".join(secrets.choice("0123456789") for _ in range(7))
        return JSONResponse({"user": {"id": int(user_id)}, "success": True, "message": "User created successfully."})

    async def user_remove(self, request: Request):
        if self.area.users.pop(request.path_params["authy_id"], None) is None:
            return _fail(404, "User not found.", "60026")
        return JSONResponse({"success": True, "message": "User was added to remove."})

    async def user_status(self, request: Request):
        user_id = request.path_params["authy_id"]
        user = _user_or_none(self.area, user_id)
        if user is None:
            return _fail(404, "User not found.", "60026")
        return JSONResponse({"status": {"authy_id": int(user_id), "confirmed": True, "registered": True,
                                        "country_code": int(user["country_code"]),
                                        "phone_number": "XXX-XXX-" + user["phone"][-4:], "devices": ["sms"]},
                             "success": True, "message": "User status."})

    async def app_details(self, request: Request):
        return JSONResponse({"app": {"name": "Emulated app", "app_id": 1}, "success": True})


def _control_routes(area: AuthyArea) -> list[Route]:
    async def totp(request: Request):
        user_id = request.path_params["authy_id"]
        if user_id not in area.totp:
            return JSONResponse({"error": "no such user"}, status_code=404)
        return JSONResponse({"code": area.totp[user_id]})

    async def rotate_totp(request: Request):
        user_id = request.path_params["authy_id"]
        if user_id not in area.totp:
            return JSONResponse({"error": "no such user"}, status_code=404)
        area.totp[user_id] = "".join(secrets.choice("0123456789") for _ in range(7))
        return JSONResponse({"code": area.totp[user_id]})

    async def answer_approval(request: Request):
        approval = area.approvals.get(request.path_params["uuid"])
        status = (await request.json()).get("status")
        if approval is None:
            return JSONResponse({"error": "no such approval request"}, status_code=404)
        if status not in ("approved", "denied", "expired", "pending"):
            return JSONResponse({"error": "status must be approved, denied, expired or pending"}, status_code=400)
        approval.status = status
        return JSONResponse({"uuid": approval.uuid, "status": status})

    async def last_approval(request: Request):
        approval = area.approvals.get(area.last_approval)
        if approval is None:
            return JSONResponse({"error": "none yet"}, status_code=404)
        return JSONResponse({"uuid": approval.uuid, "user_id": approval.user_id, "message": approval.message,
                             "details": approval.details, "hidden_details": approval.hidden_details,
                             "status": approval.current_status()})

    async def last_phone(request: Request):
        return JSONResponse(area.last_phone) if area.last_phone else JSONResponse({"error": "none yet"}, 404)

    async def signed_callback(request: Request):
        """What the platform would send to an app's callback URL: body, nonce and signature."""
        body = await request.json()
        nonce = str(body.get("nonce") or int(time.time()))
        params = body.get("params") or {}
        signature = sign(EMULATOR_AUTHY_API_KEY, nonce, body.get("method", "POST"), body["url"],
                         flatten_params(params))
        return JSONResponse({"nonce": nonce, "signature": signature, "params": params})

    base = "/_control/authy"
    return [
        Route(f"{base}/users/{{authy_id}}/totp", totp, methods=["GET"]),
        Route(f"{base}/users/{{authy_id}}/totp/rotate", rotate_totp, methods=["POST"]),
        Route(f"{base}/approvals/last", last_approval, methods=["GET"]),
        Route(f"{base}/approvals/{{uuid}}", answer_approval, methods=["POST"]),
        Route(f"{base}/phones/last", last_phone, methods=["GET"]),
        Route(f"{base}/callback", signed_callback, methods=["POST"]),
    ]
