"""Emulated InAI platform-administration API (`{emulator}/inai/api/platform`), as @inai-dev/backend
1.10.0 calls it (dist/index.js `platformLogin` … `rotateAppKeys`, `platformRequest`, `request`).

Strict like the app-user area: every request carries `Content-Type: application/json` (the SDK sets it
on every call, GET and DELETE too) and **no** `X-Publishable-Key` (the SDK adds that on /api/v1/ only);
POST/PATCH bodies are JSON objects with exactly the SDK's members (all strings); calls without a body
send none; every call but login, mfa/challenge and refresh carries `Authorization: Bearer <platform
access token>`. Errors are RFC 7807 problem+json. Answers follow the SDK's declared types
(`{data: …}`, `PaginatedResult`, `{publishableKey}`); what the platform does beyond them (a revoked key
listed no more, a rotated publishable key) is inferred.

Seeded administrators (password "correct horse battery staple"): root@example.com (no MFA),
mfa-root@example.com (MFA; the code at GET /_control/inai/platform/mfa-code?email=…). One application,
app_emulator, with the environment env_emulator.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .inai import APP, ENV, PASSWORD, PREFIX, Refused, _iso, problem

API = f"{PREFIX}/api/platform"
ADMINS = {"root@example.com": False, "mfa-root@example.com": True}  # email → MFA


@dataclass
class PlatformArea:
    access: dict[str, str] = field(default_factory=dict)  # access token → admin email
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token → admin email
    mfa: dict[str, tuple[str, str]] = field(default_factory=dict)  # mfa token → (email, code)
    last_mfa_code: dict[str, str] = field(default_factory=dict)
    apps: dict[str, dict] = field(
        default_factory=lambda: {APP: {"id": APP, "name": "Emulated app", "slug": "emulated", "isActive": True}}
    )
    users: dict[str, list[dict]] = field(default_factory=dict)  # app id → users created here
    keys: dict[str, dict] = field(default_factory=dict)  # key id → ApiKeyResource (+ appId, revoked)


def _checked(area: PlatformArea, handler, members: tuple[str, ...] | None, bearer: bool = True):
    """Headers as the SDK sends them, exactly `members` ("name?" optional) as JSON strings, a live bearer."""

    async def endpoint(request: Request) -> Response:
        try:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise Refused(415, "Unsupported Media Type", "Content-Type must be application/json")
            if "x-publishable-key" in request.headers:
                raise Refused(400, "Bad Request", "platform calls take no publishable key")
            raw = await request.body()
            body: dict = {}
            if members is None and raw:
                raise Refused(400, "Bad Request", "this endpoint takes no body")
            if members is not None:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise Refused(400, "Bad Request", "body is not JSON") from None
                names = {m.rstrip("?") for m in members}
                required = {m for m in members if not m.endswith("?")}
                if not isinstance(body, dict) or not required <= set(body) <= names:
                    raise Refused(
                        400, "Bad Request", f"body must have {sorted(required)} (and may have {sorted(names)})"
                    )
                if not all(isinstance(v, str) for v in body.values()):
                    raise Refused(400, "Bad Request", "every member must be a string")
            admin = ""
            if bearer:
                auth = request.headers.get("authorization", "")
                admin = (area.access.get(auth.removeprefix("Bearer ")) or "") if auth.startswith("Bearer ") else ""
                if not admin:
                    raise Refused(401, "Unauthorized", "Invalid or expired platform access token")
            return await handler(request, body, admin)
        except Refused as refused:
            return refused.response

    return endpoint


class PlatformApi:
    def __init__(self, area: PlatformArea) -> None:
        self.area = area

    def _issue(self, email: str) -> dict:
        access, refresh = "pat_" + secrets.token_urlsafe(24), "prt_" + secrets.token_urlsafe(24)
        self.area.access[access], self.area.refresh[refresh] = email, email
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 900}

    def _user(self, email: str) -> dict:
        return {"id": "pu_" + email.split("@")[0], "email": email, "mfaEnabled": ADMINS[email]}

    def _app(self, request: Request) -> dict:
        app = self.area.apps.get(request.path_params["app_id"])
        if app is None:
            raise Refused(404, "Not Found", "Application not found")
        return app

    async def login(self, request: Request, body: dict, _admin: str) -> Response:
        email = body["email"].lower()
        if email not in ADMINS or not secrets.compare_digest(body["password"], PASSWORD):
            return problem(401, "Unauthorized", "Invalid email or password")
        if ADMINS[email]:
            token, code = "pmfa_" + secrets.token_urlsafe(16), f"{secrets.randbelow(10**6):06d}"
            self.area.mfa[token], self.area.last_mfa_code[email] = (email, code), code
            return JSONResponse({"mfa_required": True, "mfa_token": token})
        return JSONResponse({**self._issue(email), "user": self._user(email)})

    async def mfa_challenge(self, request: Request, body: dict, _admin: str) -> Response:
        pending = self.area.mfa.get(body["mfa_token"])
        if pending is None or not secrets.compare_digest(body["code"], pending[1]):
            return problem(401, "Unauthorized", "Invalid MFA code")
        del self.area.mfa[body["mfa_token"]]
        return JSONResponse({**self._issue(pending[0]), "user": self._user(pending[0])})

    async def refresh(self, request: Request, body: dict, _admin: str) -> Response:
        email = self.area.refresh.pop(body["refresh_token"], None)
        if email is None:
            return problem(401, "Unauthorized", "Invalid or expired refresh token")
        return JSONResponse(self._issue(email))

    async def logout(self, request: Request, _body: dict, admin: str) -> Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        del self.area.access[token]
        return JSONResponse({"message": "Logged out"})

    async def me(self, request: Request, _body: dict, admin: str) -> Response:
        return JSONResponse({"data": self._user(admin)})

    async def list_apps(self, request: Request, _body: dict, admin: str) -> Response:
        return JSONResponse({"data": list(self.area.apps.values())})

    async def create_app(self, request: Request, body: dict, admin: str) -> Response:
        if any(a["slug"] == body["slug"] for a in self.area.apps.values()):
            return problem(409, "Conflict", "An application with this slug already exists")
        app = {"id": "app_" + secrets.token_hex(6), "name": body["name"], "slug": body["slug"], "isActive": True}
        self.area.apps[app["id"]] = app
        return JSONResponse({"data": app}, status_code=201)

    async def get_app(self, request: Request, _body: dict, admin: str) -> Response:
        return JSONResponse({"data": self._app(request)})

    async def update_app(self, request: Request, body: dict, admin: str) -> Response:
        app = self._app(request)
        app.update(body)
        return JSONResponse({"data": app})

    async def app_stats(self, request: Request, _body: dict, admin: str) -> Response:
        app = self._app(request)
        users = len(self.area.users.get(app["id"], []))
        return JSONResponse({"data": {"totalUsers": users, "activeUsers": users, "totalSessions": 0}})

    async def list_users(self, request: Request, _body: dict, admin: str) -> Response:
        app, q = self._app(request), request.query_params
        if not set(q) <= {"environmentId", "page", "limit"} or not all(
            q.get(n, "1").isdigit() and 0 < int(q.get(n, "1")) <= 1000 for n in ("page", "limit")
        ):
            return problem(400, "Bad Request", "unknown query parameter, or page/limit not 1..1000")
        page, limit = int(q.get("page", "1") or 1), int(q.get("limit", "20") or 20)
        users = self.area.users.get(app["id"], [])
        return JSONResponse(
            {"data": users[(page - 1) * limit : page * limit], "total": len(users), "page": page, "limit": limit}
        )

    async def create_user(self, request: Request, body: dict, admin: str) -> Response:
        app = self._app(request)
        if body["environmentId"] != ENV:
            return problem(404, "Not Found", "Environment not found")
        user = {"id": "usr_" + secrets.token_hex(6), "email": body["email"].lower(), "createdAt": _iso(time.time())}
        user |= {k: body[k] for k in ("firstName", "lastName") if k in body}
        self.area.users.setdefault(app["id"], []).append(user)
        return JSONResponse({"data": user}, status_code=201)

    async def list_keys(self, request: Request, _body: dict, admin: str) -> Response:
        app, q = self._app(request), request.query_params
        if not set(q) <= {"environmentId"}:
            return problem(400, "Bad Request", "unknown query parameter")
        mine = [
            {k: v for k, v in key.items() if k not in ("appId", "revoked")}
            for key in self.area.keys.values()
            if key["appId"] == app["id"]
            and not key["revoked"]
            and q.get("environmentId", key["environmentId"]) == key["environmentId"]
        ]
        return JSONResponse({"data": mine})

    async def create_key(self, request: Request, body: dict, admin: str) -> Response:
        app = self._app(request)
        secret = "sk_" + secrets.token_urlsafe(24)
        key = {"id": "key_" + secrets.token_hex(6), "name": body["name"], "environmentId": body["environmentId"]}
        self.area.keys[key["id"]] = key | {"appId": app["id"], "revoked": False, "prefix": secret[:7]}
        return JSONResponse({"data": key | {"prefix": secret[:7], "key": secret}}, status_code=201)

    async def revoke_key(self, request: Request, _body: dict, admin: str) -> Response:
        app = self._app(request)
        key = self.area.keys.get(request.path_params["key_id"])
        if key is None or key["appId"] != app["id"] or key["revoked"]:
            return problem(404, "Not Found", "API key not found")
        key["revoked"] = True
        return JSONResponse({"message": "API key revoked"})  # the SDK calls res.json(): never an empty 204

    async def rotate(self, request: Request, body: dict, admin: str) -> Response:
        self._app(request)
        if body["environmentId"] != ENV:
            return problem(404, "Not Found", "Environment not found")
        return JSONResponse({"publishableKey": "pk_test_" + secrets.token_urlsafe(18)})

    async def control_mfa_code(self, request: Request) -> Response:
        code = self.area.last_mfa_code.get(request.query_params.get("email", ""))
        return JSONResponse({"code": code}) if code else JSONResponse({"error": "none"}, 404)


def routes(state) -> list[Route]:
    area = state.areas.setdefault("inai_platform", PlatformArea())
    api = PlatformApi(area)
    c = lambda handler, members=None, bearer=True: _checked(area, handler, members, bearer)  # noqa: E731
    apps = f"{API}/applications"
    return [
        Route(f"{API}/auth/login", c(api.login, ("email", "password"), False), methods=["POST"]),
        Route(f"{API}/auth/mfa/challenge", c(api.mfa_challenge, ("mfa_token", "code"), False), methods=["POST"]),
        Route(f"{API}/auth/refresh", c(api.refresh, ("refresh_token",), False), methods=["POST"]),
        Route(f"{API}/auth/logout", c(api.logout), methods=["POST"]),
        Route(f"{API}/auth/me", c(api.me), methods=["GET"]),
        Route(apps, c(api.list_apps), methods=["GET"]),
        Route(apps, c(api.create_app, ("name", "slug")), methods=["POST"]),
        Route(f"{apps}/{{app_id}}", c(api.get_app), methods=["GET"]),
        Route(f"{apps}/{{app_id}}", c(api.update_app, ("name",)), methods=["PATCH"]),
        Route(f"{apps}/{{app_id}}/stats", c(api.app_stats), methods=["GET"]),
        Route(f"{apps}/{{app_id}}/users", c(api.list_users), methods=["GET"]),
        Route(
            f"{apps}/{{app_id}}/users",
            c(api.create_user, ("email", "password", "environmentId", "firstName?", "lastName?")),
            methods=["POST"],
        ),
        Route(f"{apps}/{{app_id}}/api-keys", c(api.list_keys), methods=["GET"]),
        Route(f"{apps}/{{app_id}}/api-keys", c(api.create_key, ("name", "environmentId")), methods=["POST"]),
        Route(f"{apps}/{{app_id}}/api-keys/{{key_id}}", c(api.revoke_key), methods=["DELETE"]),
        Route(f"{apps}/{{app_id}}/rotate-keys", c(api.rotate, ("environmentId",)), methods=["POST"]),
        Route("/_control/inai/platform/mfa-code", api.control_mfa_code, methods=["GET"]),
    ]
