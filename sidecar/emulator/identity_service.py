"""Emulated identity microservice (the API that identity-client wraps) under /identity/api.

No SDK of it is published: the seed README (004, identity-client) is the spec. Its method names and
members are taken from there (login {email, password} → {token, refreshToken} or
{code: "LOGIN_2FA_REQUIRED"}; confirmLogin2FA {email, code}; refresh {refreshToken} with an optional
bearer; me; listSessions → {sessions: [{sessionId, …device/IP metadata}]}; logoutSession {sessionId});
the paths, the metadata names and the error body `{message, code, statusCode}` are inferred.
Strict like the other areas: JSON bodies with exactly those members, user calls with a bearer token.

Seeded users (password "correct horse battery staple"): alice@example.com (no 2FA), bob@example.com (2FA).
Control endpoints, under /_control/identity:
  GET  /_control/identity/mfa-code?email=…     the code the service "sent" for the last 2FA login
  GET  /_control/identity/sessions?email=…     every session of a user (active or not)
  POST /_control/identity/users {email}         add a user (the seeded password, no 2FA), for tests
                                                 that change a user's 2FA or email
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PREFIX = "/identity/api"
PASSWORD = "correct horse battery staple"


@dataclass
class IdentityArea:
    users: dict[str, dict] = field(
        default_factory=lambda: {
            "alice@example.com": {"id": "usr_alice", "firstName": "Alice", "lastName": "A", "mfa": False},
            "bob@example.com": {"id": "usr_bob", "firstName": "Bob", "lastName": "B", "mfa": True},
        }
    )
    sessions: dict[str, dict] = field(default_factory=dict)  # sid → session
    access: dict[str, str] = field(default_factory=dict)  # access token → sid
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token → sid
    pending_2fa: dict[str, str] = field(default_factory=dict)  # email → code of the last 2FA login
    pending_enable: dict[str, str] = field(default_factory=dict)  # email → code of a toggle2FA {enable: true}
    email_changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # token → (old email, new email)


def _fail(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code, "statusCode": status}, status_code=status)


class Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def _checked(api: IdentityApi, handler, members: tuple[str, ...] | None, user: bool = False):
    """Exactly these JSON string members (None: no body), and a live bearer session for user calls."""

    async def endpoint(request: Request) -> Response:
        try:
            raw = await request.body()
            body: dict = {}
            if members is None and raw:
                raise Refused(_fail(400, "This endpoint takes no body", "BAD_REQUEST"))
            if members is not None:
                if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                    raise Refused(_fail(415, "Content-Type must be application/json", "BAD_REQUEST"))
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise Refused(_fail(400, "Body is not JSON", "BAD_REQUEST")) from None
                # A member is "name" (a string) or "name:bool" (a JSON boolean).
                kinds = {m.split(":")[0]: (bool if m.endswith(":bool") else str) for m in members}
                if (
                    not isinstance(body, dict)
                    or set(body) != set(kinds)
                    or not all(type(v) is kinds[k] for k, v in body.items())
                ):
                    raise Refused(_fail(400, f"Body must have exactly {sorted(kinds)}", "BAD_REQUEST"))
            session = api.session_of(request) if user else None
            return await handler(request, body, session)
        except Refused as refused:
            return refused.response

    return endpoint


class IdentityApi:
    """The service's endpoints (and its control endpoints) over one IdentityArea."""

    def __init__(self, area: IdentityArea) -> None:
        self.area = area

    def issue(self, email: str, request: Request, sid: str = "") -> dict:
        if not sid:
            sid = "ses_" + secrets.token_hex(8)
            now = int(time.time())
            self.area.sessions[sid] = {
                "sessionId": sid,
                "email": email,
                "active": True,
                "createdAt": now,
                "lastSeenAt": now,
                "device": request.headers.get("user-agent", ""),
                "ip": request.client.host if request.client else "",
            }
        access, refresh = "at_" + secrets.token_urlsafe(24), "rt_" + secrets.token_urlsafe(24)
        self.area.access[access], self.area.refresh[refresh] = sid, sid
        return {"token": access, "refreshToken": refresh}

    def session_of(self, request: Request, required: bool = True) -> dict | None:
        auth = request.headers.get("authorization", "")
        sid = self.area.access.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        session = self.area.sessions.get(sid or "")
        if session and session["active"]:
            return session
        if required:
            raise Refused(_fail(401, "Unauthorized", "UNAUTHORIZED"))
        return None

    async def login(self, request: Request, body: dict, _session):
        email = body["email"].lower()
        if email not in self.area.users or not secrets.compare_digest(body["password"], PASSWORD):
            return _fail(401, "Invalid credentials", "INVALID_CREDENTIALS")
        if self.area.users[email]["mfa"]:
            self.area.pending_2fa[email] = f"{secrets.randbelow(10**6):06d}"
            return JSONResponse({"code": "LOGIN_2FA_REQUIRED"})
        return JSONResponse(self.issue(email, request))

    async def confirm_login_2fa(self, request: Request, body: dict, _session):
        email = body["email"].lower()
        code = self.area.pending_2fa.get(email)
        if code is None or not secrets.compare_digest(body["code"], code):
            return _fail(401, "Invalid 2FA code", "INVALID_2FA_CODE")
        del self.area.pending_2fa[email]  # one code, one login
        return JSONResponse(self.issue(email, request))

    async def refresh(self, request: Request, body: dict, _session):
        sid = self.area.refresh.pop(body["refreshToken"], None)  # rotation: a refresh token works once
        if sid is None or not self.area.sessions[sid]["active"]:
            return _fail(401, "Invalid refresh token", "INVALID_REFRESH_TOKEN")
        self.area.sessions[sid]["lastSeenAt"] = int(time.time())
        return JSONResponse(self.issue(self.area.sessions[sid]["email"], request, sid))

    async def me(self, request: Request, _body, session: dict):
        user = self.area.users[session["email"]]
        return JSONResponse(
            {
                "id": user["id"],
                "email": session["email"],
                "firstName": user["firstName"],
                "lastName": user["lastName"],
                "twoFAEnabled": user["mfa"],
            }
        )

    async def sessions(self, request: Request, _body, session: dict):
        mine = [s for s in self.area.sessions.values() if s["email"] == session["email"] and s["active"]]
        return JSONResponse(
            {
                "sessions": [
                    {k: v for k, v in s.items() if k not in ("email", "active")} | {"current": s is session}
                    for s in mine
                ]
            }
        )

    async def logout_session(self, request: Request, body: dict, session: dict):
        target = self.area.sessions.get(body["sessionId"])
        if target is None or target["email"] != session["email"] or not target["active"]:
            return _fail(404, "Session not found", "SESSION_NOT_FOUND")
        target["active"] = False
        return JSONResponse({"success": True})

    async def toggle_2fa(self, request: Request, body: dict, session: dict):
        email = session["email"]
        if not body["enable"]:
            self.area.users[email]["mfa"] = False
            self.area.pending_enable.pop(email, None)
            return JSONResponse({"message": "2FA disabled"})
        code = f"{secrets.randbelow(10**6):06d}"
        self.area.pending_enable[email] = code
        return JSONResponse({"code": "2FA_CONFIRMATION_REQUIRED", "twoFACode": code, "message": "Confirm 2FA"})

    async def confirm_enable_2fa(self, request: Request, body: dict, session: dict):
        email = session["email"]
        code = self.area.pending_enable.get(email)
        if body["email"].lower() != email or code is None or not secrets.compare_digest(body["code"], code):
            return _fail(400, "Invalid 2FA code", "INVALID_2FA_CODE")
        del self.area.pending_enable[email]  # one code, one confirmation
        self.area.users[email]["mfa"] = True
        return JSONResponse({"message": "2FA enabled"})

    async def request_email_change(self, request: Request, body: dict, session: dict):
        new = body["newEmail"].lower()
        if "@" not in new or len(new) > 254:
            return _fail(400, "Invalid email", "INVALID_EMAIL")
        if new in self.area.users:
            return _fail(409, "Email already in use", "EMAIL_IN_USE")
        token = "ec_" + secrets.token_urlsafe(24)
        self.area.email_changes[token] = (session["email"], new)
        return JSONResponse({"emailChangeToken": token})

    async def confirm_email_change(self, request: Request, body: dict, session: dict):
        change = self.area.email_changes.pop(body["token"], None)  # a token is answered once, right or wrong
        if change is None or change[0] != session["email"] or change[1] != body["email"].lower():
            return _fail(400, "Invalid or expired email change token", "INVALID_EMAIL_CHANGE_TOKEN")
        old, new = change
        if new in self.area.users:
            return _fail(409, "Email already in use", "EMAIL_IN_USE")
        self.area.users[new] = self.area.users.pop(old)
        for s in self.area.sessions.values():  # every session of the user ends
            if s["email"] == old:
                s["active"] = False
                s["email"] = new
        return JSONResponse({"message": "Email changed"})

    async def health(self, request: Request):
        return JSONResponse({"status": "ok"})

    async def control_mfa_code(self, request: Request):
        code = self.area.pending_2fa.get(request.query_params.get("email", ""))
        return JSONResponse({"code": code}) if code else JSONResponse({"error": "none"}, 404)

    async def control_add_user(self, request: Request):
        email = str((await request.json()).get("email", "")).lower()
        if "@" not in email or email in self.area.users:
            return _fail(400, "email missing or taken", "BAD_REQUEST")
        self.area.users[email] = {"id": "usr_" + secrets.token_hex(6), "firstName": "", "lastName": "", "mfa": False}
        return JSONResponse({"id": self.area.users[email]["id"]})

    async def control_sessions(self, request: Request):
        email = request.query_params.get("email", "")
        return JSONResponse({"sessions": [s for s in self.area.sessions.values() if s["email"] == email]})


def routes(state) -> list[Route]:
    api = IdentityApi(state.areas.setdefault("identity", IdentityArea()))
    return [
        Route(f"{PREFIX}/auth/login", _checked(api, api.login, ("email", "password")), methods=["POST"]),
        Route(
            f"{PREFIX}/auth/2fa/confirm-login",
            _checked(api, api.confirm_login_2fa, ("email", "code")),
            methods=["POST"],
        ),
        Route(f"{PREFIX}/auth/refresh", _checked(api, api.refresh, ("refreshToken",)), methods=["POST"]),
        Route(f"{PREFIX}/auth/me", _checked(api, api.me, None, user=True), methods=["GET"]),
        Route(f"{PREFIX}/auth/sessions", _checked(api, api.sessions, None, user=True), methods=["GET"]),
        Route(
            f"{PREFIX}/auth/sessions/logout",
            _checked(api, api.logout_session, ("sessionId",), user=True),
            methods=["POST"],
        ),
        Route(
            f"{PREFIX}/auth/2fa/toggle", _checked(api, api.toggle_2fa, ("enable:bool",), user=True), methods=["POST"]
        ),
        Route(
            f"{PREFIX}/auth/2fa/confirm-enable",
            _checked(api, api.confirm_enable_2fa, ("email", "code"), user=True),
            methods=["POST"],
        ),
        Route(
            f"{PREFIX}/auth/email/change-request",
            _checked(api, api.request_email_change, ("newEmail",), user=True),
            methods=["POST"],
        ),
        Route(
            f"{PREFIX}/auth/email/change-confirm",
            _checked(api, api.confirm_email_change, ("email", "token"), user=True),
            methods=["POST"],
        ),
        Route(f"{PREFIX}/health", api.health, methods=["GET"]),
        Route("/_control/identity/mfa-code", api.control_mfa_code, methods=["GET"]),
        Route("/_control/identity/sessions", api.control_sessions, methods=["GET"]),
        Route("/_control/identity/users", api.control_add_user, methods=["POST"]),
    ]
