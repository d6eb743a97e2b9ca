"""Emulated Authy platform under /authy, written from authy-client@1.1.4 (src/client.js and its test mocks).

What the SDK sends is what is accepted: POST bodies are JSON (`json: true` in the SDK's request defaults),
anything else is refused 400; GET parameters travel in the query. Answers carry every field the SDK
asserts (`success`, the fixed `message` texts, the approval request's `_app_name … user_id`, …), errors are
`{success: false, message, errors, error_code}`. Test controls live in emulator/authy_control.py.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import authy_control
from .credentials import AUTHY_API_KEY as EMULATOR_AUTHY_API_KEY
from .wire import Refused, json_object  # a body the SDK never sends: 400, code 60000

PREFIX = "/authy"
APP = {"app_id": 1, "name": "Emulated app", "plan": "pay_as_you_go", "sms_enabled": True}
ACTIVITIES = {"banned", "cookie_login", "password_reset", "unbanned"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Approval:
    uuid: str
    user_id: str
    message: str
    details: dict
    hidden_details: dict
    expires_at: float  # 0: never
    created_at: float = field(default_factory=time.time)
    status: str = "pending"
    processed_at: float = 0.0

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
    last_token_request: dict = field(default_factory=dict)
    next_id: int = 1000

    def new_code(self, user_id: str) -> str:
        self.totp[user_id] = "".join(secrets.choice("0123456789") for _ in range(7))
        return self.totp[user_id]


def _fail(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"success": False, "message": message, "errors": {"message": message}, "error_code": code}, status_code=status
    )


def _masked(cc: str, national: str) -> str:
    return f"+{cc}-XXX-XXX-XX{national[-2:]}"


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return False
    return True


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def routes(state) -> list[Route]:
    area = state.areas.setdefault("authy", AuthyArea())
    api = AuthyApi(area)
    g = api.guarded
    p, o = f"{PREFIX}/protected/json", f"{PREFIX}/onetouch/json"
    return [
        Route(f"{p}/verify/{{token}}/{{authy_id}}", g(api.verify), methods=["GET"]),
        Route(f"{p}/sms/{{authy_id}}", g(api.request_token), methods=["GET"]),
        Route(f"{p}/call/{{authy_id}}", g(api.request_token), methods=["GET"]),
        Route(f"{o}/users/{{authy_id}}/approval_requests", g(api.create_approval), methods=["POST"]),
        Route(f"{o}/approval_requests/{{uuid}}", g(api.get_approval), methods=["GET"]),
        Route(f"{p}/phones/verification/start", g(api.phone_start), methods=["POST"]),
        Route(f"{p}/phones/verification/check", g(api.phone_check), methods=["GET"]),
        Route(f"{p}/phones/info", g(api.phone_info), methods=["GET"]),
        Route(f"{p}/users/new", g(api.user_new), methods=["POST"]),
        Route(f"{p}/users/{{authy_id}}/remove", g(api.user_remove), methods=["POST"]),
        Route(f"{p}/users/{{authy_id}}/status", g(api.user_status), methods=["GET"]),
        Route(f"{p}/users/{{authy_id}}/register_activity", g(api.register_activity), methods=["POST"]),
        Route(f"{p}/app/details", g(api.app_details), methods=["GET"]),
        Route(f"{p}/app/stats", g(api.app_stats), methods=["GET"]),
        *authy_control.routes(area, EMULATOR_AUTHY_API_KEY),
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
            try:
                return await handler(request)
            except Refused as exc:
                return _fail(400, str(exc), "60000")

        return run

    async def verify(self, request: Request):
        token, user_id = request.path_params["token"], request.path_params["authy_id"]
        if user_id not in self.area.users:
            return _fail(404, "User not found.", "60026")
        if not token.isdigit() or not 6 <= len(token) <= 10:
            return _fail(400, "Token is invalid. Token length must be between 6 and 10", "60019")
        if not secrets.compare_digest(token, self.area.totp.get(user_id, "")):
            return JSONResponse(
                {
                    "success": False,
                    "message": "Token is invalid",
                    "token": "is invalid",
                    "errors": {"message": "Token is invalid"},
                    "error_code": "60020",
                },
                status_code=401,
            )
        return JSONResponse({"success": "true", "message": "Token is valid.", "token": "is valid"})

    async def request_token(self, request: Request):
        """GET sms/{id} or call/{id}: send the user's current code, unless they use the app and `force` is unset."""
        user_id, via = request.path_params["authy_id"], request.url.path.rsplit("/", 2)[-2]
        user = self.area.users.get(user_id)
        if user is None:
            return _fail(404, "User not found.", "60026")
        q = request.query_params
        ignored = user["app_installed"] and not _flag(q.get("force"))
        self.area.last_token_request = {
            "authy_id": user_id,
            "via": via,
            "force": _flag(q.get("force")),
            "action": q.get("action", ""),
            "action_message": q.get("action_message", ""),
            "ignored": ignored,
            "code": "" if ignored else self.area.totp[user_id],
        }
        answer = {
            "success": True,
            "cellphone": _masked(user["country_code"], user["phone"]),
            "device": "android" if user["app_installed"] else None,
            "ignored": ignored,
        }
        if ignored:
            answer["message"] = (
                "Ignored: SMS is not needed for smartphones. Pass force=true if you want to actually send it anyway."
                if via == "sms"
                else "Call ignored. User is using App Tokens and this call is not necessary. "
                "Pass force=true if you still want to call users that are using the App."
            )
        else:
            answer["message"] = "SMS token was sent" if via == "sms" else "Call started..."
        return JSONResponse(answer)

    async def create_approval(self, request: Request):
        user_id = request.path_params["authy_id"]
        if user_id not in self.area.users:
            return _fail(404, "User not found.", "60026")
        body = await json_object(request, empty_is_object=True)
        if not isinstance(body.get("message"), str) or not body["message"]:
            return _fail(400, "Message is required", "60000")
        ttl = body.get("seconds_to_expire") or 86400
        if not isinstance(ttl, int):
            return _fail(400, "seconds_to_expire must be an integer", "60000")
        details, hidden = body.get("details") or {}, body.get("hidden_details") or {}
        if not isinstance(details, dict) or not isinstance(hidden, dict):
            return _fail(400, "details and hidden_details must be objects", "60000")
        approval = Approval(str(uuidlib.uuid4()), user_id, body["message"], details, hidden, time.time() + ttl)
        self.area.approvals[approval.uuid] = approval
        self.area.last_approval = approval.uuid
        return JSONResponse({"approval_request": {"uuid": approval.uuid}, "success": True})

    async def get_approval(self, request: Request):
        a = self.area.approvals.get(request.path_params["uuid"])
        if a is None:
            return _fail(404, "Approval request not found", "60049")
        user = self.area.users.get(a.user_id, {})
        return JSONResponse(
            {
                "approval_request": {
                    "_app_name": APP["name"],
                    "_app_serial_id": APP["app_id"],
                    "_authy_id": a.user_id,
                    "_id": a.uuid.replace("-", "")[:24],
                    "_user_email": user.get("email", "removed@example.com"),
                    "app_id": f"{APP['app_id']:024x}",
                    "created_at": iso(a.created_at),
                    "notified": False,
                    "processed_at": iso(a.processed_at) if a.processed_at else None,
                    "status": a.current_status(),
                    "updated_at": iso(a.processed_at or a.created_at),
                    "user_id": f"{int(a.user_id):024x}",
                    "uuid": a.uuid,
                    "message": a.message,
                    "details": a.details,
                    "hidden_details": a.hidden_details,
                    "seconds_to_expire": max(0, int(a.expires_at - a.created_at)),
                },
                "success": True,
            }
        )

    async def phone_start(self, request: Request):
        body = await json_object(request, empty_is_object=True)
        cc, number, via = str(body.get("country_code", "")), str(body.get("phone_number", "")), body.get("via")
        if via not in ("sms", "call") or not cc.isdigit() or not number.isdigit():
            return _fail(400, "Invalid parameters", "60000")
        length = body.get("code_length") or 4
        if not isinstance(length, int) or not 4 <= length <= 10:
            return _fail(400, "code_length must be between 4 and 10", "60000")
        code = "".join(secrets.choice("0123456789") for _ in range(length))
        self.area.phones[(cc, number)] = {"code": code, "expires_at": time.time() + 600}
        self.area.last_phone = {
            "country_code": cc,
            "phone_number": number,
            "via": via,
            "code": code,
            "locale": body.get("locale", ""),
        }
        sent = "Text message" if via == "sms" else "Call to"
        return JSONResponse(
            {
                "carrier": "Emulated Carrier",
                "is_cellphone": True,
                "is_ported": False,
                "seconds_to_expire": 599,
                "uuid": str(uuidlib.uuid4()),
                "success": True,
                "message": f"{sent} sent to +{cc} {number}." if via == "sms" else f"{sent} +{cc} {number} initiated.",
            }
        )

    async def phone_check(self, request: Request):
        q = request.query_params
        key = (q.get("country_code", ""), q.get("phone_number", ""))
        pending = self.area.phones.get(key)
        if pending is None or pending["expires_at"] < time.time():
            return _fail(404, f"No pending verifications for +{key[0]} {key[1]} found.", "60023")
        if not secrets.compare_digest(q.get("verification_code", ""), pending["code"]):
            return _fail(401, "Verification code is incorrect", "60022")
        return JSONResponse({"message": "Verification code is correct.", "success": True})

    async def phone_info(self, request: Request):
        q = request.query_params
        if not set(q) <= {"country_code", "phone_number", "user_ip"} or not _is_ip(q.get("user_ip", "127.0.0.1")):
            return _fail(400, "Query must be country_code, phone_number and an optional user_ip", "60000")
        try:
            number = phonenumbers.parse(f"+{q.get('country_code', '')}{q.get('phone_number', '')}")
        except phonenumbers.NumberParseException:
            return _fail(400, "Phone number is invalid", "60033")
        kind = phonenumbers.number_type(number)
        names = {
            phonenumbers.PhoneNumberType.MOBILE: "cellphone",
            phonenumbers.PhoneNumberType.VOIP: "voip",
            phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
        }
        as_of = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        return JSONResponse(
            {
                "message": f"Phone number information as of {as_of} UTC",
                "ported": False,
                "provider": "Emulated Carrier",
                "type": names.get(kind, "unknown"),
                "success": True,
            }
        )

    async def user_new(self, request: Request):
        user = (await json_object(request, empty_is_object=True)).get("user")
        user = user if isinstance(user, dict) else {}
        email, phone, cc = user.get("email"), str(user.get("cellphone") or ""), str(user.get("country_code") or "")
        if not isinstance(email, str) or "@" not in email or not phone.isdigit() or not cc.isdigit():
            return _fail(400, "User was not valid", "60027")
        user_id = str(self.area.next_id)
        self.area.next_id += 1
        self.area.users[user_id] = {"email": email, "phone": phone, "country_code": cc, "app_installed": False}
        self.area.new_code(user_id)
        return JSONResponse({"user": {"id": int(user_id)}, "success": True, "message": "User created successfully."})

    async def user_remove(self, request: Request):
        await json_object(request, empty_is_object=True)
        if self.area.users.pop(request.path_params["authy_id"], None) is None:
            return _fail(404, "User not found.", "60026")
        return JSONResponse({"success": True, "message": "User was added to remove."})

    async def user_status(self, request: Request):
        user_id = request.path_params["authy_id"]
        user = self.area.users.get(user_id)
        if user is None:
            return _fail(404, "User not found.", "60026")
        return JSONResponse(
            {
                "status": {
                    "authy_id": int(user_id),
                    "confirmed": True,
                    "registered": user["app_installed"],
                    "country_code": int(user["country_code"]),
                    "phone_number": "XXX-XXX-" + user["phone"][-4:],
                    "has_hard_token": False,
                    "devices": ["android"] if user["app_installed"] else [],
                },
                "success": True,
                "message": "User status.",
            }
        )

    async def register_activity(self, request: Request):
        # registerActivity's body: {data, type, user_ip}; data a plain object, user_ip an IP (Assert.ip).
        body = await json_object(request, {"data", "type", "user_ip"})
        if request.path_params["authy_id"] not in self.area.users:
            return _fail(404, "User not found.", "60026")
        if body.get("type") not in ACTIVITIES:
            return _fail(400, "Activity type is invalid", "60000")
        if "data" in body and not isinstance(body["data"], dict):
            return _fail(400, "Activity data must be an object", "60000")
        if "user_ip" in body and not _is_ip(body["user_ip"]):
            return _fail(400, "User IP is invalid", "60000")
        return JSONResponse({"message": "Activity was created.", "success": True})

    async def app_details(self, request: Request):
        return JSONResponse({"app": APP, "message": "Application information.", "success": True})

    async def app_stats(self, request: Request):
        if not set(request.query_params) <= {"user_ip"} or await request.body():
            return _fail(400, "getApplicationStatistics takes only user_ip, in the query", "60000")
        now = time.gmtime()
        stats = [
            {
                "api_calls_count": 0,
                "auths_count": 0,
                "calls_count": 0,
                "month": time.strftime("%B", now),
                "sms_count": 0,
                "users_count": len(self.area.users),
                "year": now.tm_year,
            }
        ]
        return JSONResponse(
            {
                "app_id": APP["app_id"],
                "count": len(stats),
                "message": "Monthly statistics.",
                "stats": stats,
                "success": True,
                "total_users": len(self.area.users),
            }
        )
