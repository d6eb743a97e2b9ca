"""Emulated identity service under /identity/api: login (with optional MFA), refresh, logout, sessions.

Seeded users (password "correct horse battery staple"):
  alice@example.com   no MFA
  bob@example.com     MFA: login answers mfa_required; the code is at the control endpoint
Control endpoints, under /_control/identity:
  GET  /_control/identity/mfa-code?email=…     the code the service "sent" for the last MFA login
  GET  /_control/identity/sessions?email=…     every session of a user (active or not)
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFIX = "/identity/api"
PASSWORD = "correct horse battery staple"
ACCESS_TTL_SECONDS = 900


@dataclass
class IdentityArea:
    users: dict[str, dict] = field(default_factory=lambda: {
        "alice@example.com": {"id": "usr_alice", "firstName": "Alice", "lastName": "A", "mfa": False},
        "bob@example.com": {"id": "usr_bob", "firstName": "Bob", "lastName": "B", "mfa": True},
    })
    sessions: dict[str, dict] = field(default_factory=dict)       # sid → session
    access: dict[str, str] = field(default_factory=dict)          # access token → sid
    refresh: dict[str, str] = field(default_factory=dict)         # refresh token → sid
    mfa: dict[str, dict] = field(default_factory=dict)            # mfa token → {email, code}
    last_mfa_code: dict[str, str] = field(default_factory=dict)   # email → code


def _fail(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code, "statusCode": status}, status_code=status)


def routes(state) -> list[Route]:
    api = IdentityApi(state.areas.setdefault("identity", IdentityArea()))
    return [
        Route(f"{PREFIX}/auth/login", api.login, methods=["POST"]),
        Route(f"{PREFIX}/auth/mfa/challenge", api.mfa_challenge, methods=["POST"]),
        Route(f"{PREFIX}/auth/refresh", api.refresh, methods=["POST"]),
        Route(f"{PREFIX}/auth/logout", api.logout, methods=["POST"]),
        Route(f"{PREFIX}/auth/me", api.me, methods=["GET"]),
        Route(f"{PREFIX}/auth/sessions", api.sessions, methods=["GET"]),
        Route(f"{PREFIX}/auth/sessions/logout", api.logout_session, methods=["POST"]),
        Route(f"{PREFIX}/health", api.health, methods=["GET"]),
        Route("/_control/identity/mfa-code", api.control_mfa_code, methods=["GET"]),
        Route("/_control/identity/sessions", api.control_sessions, methods=["GET"]),
    ]


async def _body(request: Request) -> dict:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class IdentityApi:
    """The service's endpoints (and its control endpoints) over one IdentityArea."""

    def __init__(self, area: IdentityArea) -> None:
        self.area = area

    def issue(self, email: str, request: Request, sid: str = "") -> dict:
        if not sid:
            sid = "ses_" + secrets.token_hex(8)
            now = int(time.time())
            self.area.sessions[sid] = {"sessionId": sid, "email": email, "active": True, "createdAt": now,
                                       "lastSeenAt": now, "device": request.headers.get("user-agent", ""),
                                       "ip": request.client.host if request.client else ""}
        access, refresh = "at_" + secrets.token_urlsafe(24), "rt_" + secrets.token_urlsafe(24)
        self.area.access[access], self.area.refresh[refresh] = sid, sid
        return {"access_token": access, "refresh_token": refresh, "expires_in": ACCESS_TTL_SECONDS, "session_id": sid}

    def session_of(self, request: Request) -> dict | None:
        auth = request.headers.get("authorization", "")
        sid = self.area.access.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        session = self.area.sessions.get(sid or "")
        return session if session and session["active"] else None

    async def login(self, request: Request):
        data = await _body(request)
        email = str(data.get("email", "")).lower()
        if email not in self.area.users or not secrets.compare_digest(str(data.get("password", "")), PASSWORD):
            return _fail(401, "Invalid credentials", "INVALID_CREDENTIALS")
        if self.area.users[email]["mfa"]:
            token, code = "mfa_" + secrets.token_urlsafe(16), f"{secrets.randbelow(10**6):06d}"
            self.area.mfa[token] = {"email": email, "code": code}
            self.area.last_mfa_code[email] = code
            return JSONResponse({"mfa_required": True, "mfa_token": token})
        return JSONResponse(self.issue(email, request))

    async def mfa_challenge(self, request: Request):
        data = await _body(request)
        pending = self.area.mfa.get(str(data.get("mfa_token", "")))
        if pending is None:
            return _fail(401, "Invalid or expired MFA token", "INVALID_MFA_TOKEN")
        if not secrets.compare_digest(str(data.get("code", "")), pending["code"]):
            return _fail(401, "Invalid MFA code", "INVALID_MFA_CODE")
        del self.area.mfa[str(data["mfa_token"])]  # one code, one login
        return JSONResponse(self.issue(pending["email"], request))

    async def refresh(self, request: Request):
        token = str((await _body(request)).get("refresh_token", ""))
        sid = self.area.refresh.pop(token, None)  # rotation: a refresh token works once
        if sid is None or not self.area.sessions[sid]["active"]:
            return _fail(401, "Invalid refresh token", "INVALID_REFRESH_TOKEN")
        self.area.sessions[sid]["lastSeenAt"] = int(time.time())
        return JSONResponse(self.issue(self.area.sessions[sid]["email"], request, sid))

    async def logout(self, request: Request):
        token = str((await _body(request)).get("refresh_token", ""))
        sid = self.area.refresh.pop(token, None)
        if sid is None:
            return _fail(401, "Invalid refresh token", "INVALID_REFRESH_TOKEN")
        self.area.sessions[sid]["active"] = False
        return JSONResponse({"success": True, "session_id": sid})

    async def me(self, request: Request):
        session = self.session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        user = self.area.users[session["email"]]
        return JSONResponse({"data": {"id": user["id"], "email": session["email"], "firstName": user["firstName"],
                                      "lastName": user["lastName"], "mfaEnabled": user["mfa"]}})

    async def sessions(self, request: Request):
        session = self.session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        mine = [s for s in self.area.sessions.values() if s["email"] == session["email"] and s["active"]]
        return JSONResponse({"sessions": [
            {k: v for k, v in s.items() if k not in ("email", "active")} | {"current": s is session} for s in mine]})

    async def logout_session(self, request: Request):
        session = self.session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        target = self.area.sessions.get(str((await _body(request)).get("sessionId", "")))
        if target is None or target["email"] != session["email"] or not target["active"]:
            return _fail(404, "Session not found", "SESSION_NOT_FOUND")
        target["active"] = False
        return JSONResponse({"success": True})

    async def health(self, request: Request):
        return JSONResponse({"status": "ok"})

    async def control_mfa_code(self, request: Request):
        code = self.area.last_mfa_code.get(request.query_params.get("email", ""))
        return JSONResponse({"code": code}) if code else JSONResponse({"error": "none"}, 404)

    async def control_sessions(self, request: Request):
        email = request.query_params.get("email", "")
        return JSONResponse({"sessions": [s for s in self.area.sessions.values() if s["email"] == email]})
