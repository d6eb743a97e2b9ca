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
    area = state.areas.setdefault("identity", IdentityArea())

    def issue(email: str, request: Request, sid: str = "") -> dict:
        if not sid:
            sid = "ses_" + secrets.token_hex(8)
            now = int(time.time())
            area.sessions[sid] = {"sessionId": sid, "email": email, "active": True, "createdAt": now,
                                  "lastSeenAt": now, "device": request.headers.get("user-agent", ""),
                                  "ip": request.client.host if request.client else ""}
        access, refresh = "at_" + secrets.token_urlsafe(24), "rt_" + secrets.token_urlsafe(24)
        area.access[access], area.refresh[refresh] = sid, sid
        return {"access_token": access, "refresh_token": refresh, "expires_in": ACCESS_TTL_SECONDS, "session_id": sid}

    def session_of(request: Request) -> dict | None:
        auth = request.headers.get("authorization", "")
        sid = area.access.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        session = area.sessions.get(sid or "")
        return session if session and session["active"] else None

    async def body(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def login(request: Request):
        data = await body(request)
        email = str(data.get("email", "")).lower()
        if email not in area.users or not secrets.compare_digest(str(data.get("password", "")), PASSWORD):
            return _fail(401, "Invalid credentials", "INVALID_CREDENTIALS")
        if area.users[email]["mfa"]:
            token, code = "mfa_" + secrets.token_urlsafe(16), f"{secrets.randbelow(10**6):06d}"
            area.mfa[token] = {"email": email, "code": code}
            area.last_mfa_code[email] = code
            return JSONResponse({"mfa_required": True, "mfa_token": token})
        return JSONResponse(issue(email, request))

    async def mfa_challenge(request: Request):
        data = await body(request)
        pending = area.mfa.get(str(data.get("mfa_token", "")))
        if pending is None:
            return _fail(401, "Invalid or expired MFA token", "INVALID_MFA_TOKEN")
        if not secrets.compare_digest(str(data.get("code", "")), pending["code"]):
            return _fail(401, "Invalid MFA code", "INVALID_MFA_CODE")
        del area.mfa[str(data["mfa_token"])]  # one code, one login
        return JSONResponse(issue(pending["email"], request))

    async def refresh(request: Request):
        token = str((await body(request)).get("refresh_token", ""))
        sid = area.refresh.pop(token, None)  # rotation: a refresh token works once
        if sid is None or not area.sessions[sid]["active"]:
            return _fail(401, "Invalid refresh token", "INVALID_REFRESH_TOKEN")
        area.sessions[sid]["lastSeenAt"] = int(time.time())
        return JSONResponse(issue(area.sessions[sid]["email"], request, sid))

    async def logout(request: Request):
        token = str((await body(request)).get("refresh_token", ""))
        sid = area.refresh.pop(token, None)
        if sid is None:
            return _fail(401, "Invalid refresh token", "INVALID_REFRESH_TOKEN")
        area.sessions[sid]["active"] = False
        return JSONResponse({"success": True, "session_id": sid})

    async def me(request: Request):
        session = session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        user = area.users[session["email"]]
        return JSONResponse({"data": {"id": user["id"], "email": session["email"], "firstName": user["firstName"],
                                      "lastName": user["lastName"], "mfaEnabled": user["mfa"]}})

    async def sessions(request: Request):
        session = session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        mine = [s for s in area.sessions.values() if s["email"] == session["email"] and s["active"]]
        return JSONResponse({"sessions": [
            {k: v for k, v in s.items() if k not in ("email", "active")} | {"current": s is session} for s in mine]})

    async def logout_session(request: Request):
        session = session_of(request)
        if session is None:
            return _fail(401, "Unauthorized", "UNAUTHORIZED")
        target = area.sessions.get(str((await body(request)).get("sessionId", "")))
        if target is None or target["email"] != session["email"] or not target["active"]:
            return _fail(404, "Session not found", "SESSION_NOT_FOUND")
        target["active"] = False
        return JSONResponse({"success": True})

    async def health(request: Request):
        return JSONResponse({"status": "ok"})

    async def control_mfa_code(request: Request):
        code = area.last_mfa_code.get(request.query_params.get("email", ""))
        return JSONResponse({"code": code}) if code else JSONResponse({"error": "none"}, 404)

    async def control_sessions(request: Request):
        email = request.query_params.get("email", "")
        return JSONResponse({"sessions": [s for s in area.sessions.values() if s["email"] == email]})

    return [
        Route(f"{PREFIX}/auth/login", login, methods=["POST"]),
        Route(f"{PREFIX}/auth/mfa/challenge", mfa_challenge, methods=["POST"]),
        Route(f"{PREFIX}/auth/refresh", refresh, methods=["POST"]),
        Route(f"{PREFIX}/auth/logout", logout, methods=["POST"]),
        Route(f"{PREFIX}/auth/me", me, methods=["GET"]),
        Route(f"{PREFIX}/auth/sessions", sessions, methods=["GET"]),
        Route(f"{PREFIX}/auth/sessions/logout", logout_session, methods=["POST"]),
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route("/_control/identity/mfa-code", control_mfa_code, methods=["GET"]),
        Route("/_control/identity/sessions", control_sessions, methods=["GET"]),
    ]
