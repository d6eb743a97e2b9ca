"""Emulated InAI Auth API (the app-user v1 API that @inai-dev/backend 1.10.0 calls), with apiUrl {base}/inai.

Built from the SDK's source (dist/index.js of @inai-dev/backend@1.10.0; its types and constants from
InAI-Team/inai-auth-sdk packages/types and packages/shared), and strict: it accepts what that client
sends and nothing else, so an adapter that drifts from the SDK fails here.
  - every /api/v1 call carries `X-Publishable-Key` (this emulator's key) and `Content-Type: application/json`;
  - POST bodies are JSON objects with exactly the SDK's members; revoke has no body;
  - user calls carry `Authorization: Bearer <access token>`;
  - errors are RFC 7807 problem+json `{type, title, status, detail}` (the SDK reads `detail`).
A password reset ends every session of the user and a reset or verification token works once
(the SDK only shows `{message}` answers: both are inferred, as the platform would).
Access tokens are ES256 JWTs of the JWTClaims type: no iss, aud, sid or jti (JWKS at /.well-known/jwks.json).

Seeded users (password "correct horse battery staple"): alice@example.com (no MFA), bob@example.com (MFA).
Control endpoints, under /_control/inai:
  GET /_control/inai/mfa-code?email=…     the code "sent" for the last MFA login
  GET /_control/inai/sessions?email=…     every session of a user, with `active`
  GET /_control/inai/mail?email=…         the tokens "mailed" to a user: {verify?, reset?}
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .credentials import INAI_PUBLISHABLE_KEY

PREFIX = "/inai"  # the SDK's apiUrl is {emulator}/inai
API = f"{PREFIX}/api/v1"
PASSWORD = "correct horse battery staple"
ACCESS_TTL_SECONDS = 900
SESSION_TTL_SECONDS = 30 * 86400
TENANT, APP, ENV = "ten_emulator", "app_emulator", "env_emulator"
ORGANIZATION = "org_emulator"  # the one organization setActiveOrganization accepts


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status_code=status, media_type="application/problem+json")


@dataclass
class InaiArea:
    users: dict[str, dict] = field(
        default_factory=lambda: {
            "alice@example.com": {"id": "usr_alice", "firstName": "Alice", "lastName": "A", "mfa": False},
            "bob@example.com": {"id": "usr_bob", "firstName": "Bob", "lastName": "B", "mfa": True},
        }
    )
    passwords: dict[str, str] = field(default_factory=dict)  # email → password (default PASSWORD)
    mail: dict[str, dict] = field(default_factory=dict)  # email → {verify, reset} tokens "sent"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid: str = field(default_factory=lambda: "inai-" + secrets.token_hex(4))
    sessions: dict[str, dict] = field(default_factory=dict)  # session id → session
    access: dict[str, str] = field(default_factory=dict)  # access token → session id
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token → session id
    mfa: dict[str, dict] = field(default_factory=dict)  # mfa token → {email, code}
    last_mfa_code: dict[str, str] = field(default_factory=dict)  # email → code


class Refused(Exception):
    """A request this API would not accept: answered as problem+json."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.response = problem(status, title, detail)


def _checked(api: InaiApi, handler, members: tuple[str, ...] | None, user: bool = False):
    """Wrap an endpoint: publishable key, content type, exact JSON members, bearer session."""

    async def endpoint(request: Request) -> Response:
        try:
            api.check_headers(request)
            body = await api.body(request, members)
            session = api.session_of(request) if user else None
            return await handler(request, body, session)
        except Refused as refused:
            return refused.response

    return endpoint


class InaiApi:
    def __init__(self, area: InaiArea) -> None:
        self.area = area

    # -- what every request must look like ----------------------------------------------------
    def check_headers(self, request: Request) -> None:
        if request.headers.get("x-publishable-key") != INAI_PUBLISHABLE_KEY:
            raise Refused(401, "Unauthorized", "Missing or invalid publishable key")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "Unsupported Media Type", "Content-Type must be application/json")

    async def body(self, request: Request, members: tuple[str, ...] | None) -> dict:
        raw = await request.body()
        if members is None:
            if raw:
                raise Refused(400, "Bad Request", "this endpoint takes no body")
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise Refused(400, "Bad Request", "body is not JSON") from None
        # A member spec: "name", "name?" (optional), "name|null" (a string or null).
        names = {m.rstrip("?").removesuffix("|null"): m for m in members}
        required = {n for n, m in names.items() if not m.endswith("?")}
        if not isinstance(data, dict) or not required <= set(data) <= set(names):
            raise Refused(400, "Bad Request", f"body must have {sorted(required)} (and may have {sorted(names)})")
        for name, value in data.items():
            if not (isinstance(value, str) or (value is None and names[name].endswith("|null"))):
                raise Refused(400, "Bad Request", f"{name} must be a string")
        return data

    def session_of(self, request: Request) -> dict:
        auth = request.headers.get("authorization", "")
        sid = self.area.access.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        session = self.area.sessions.get(sid or "")
        if session is None or session["revokedAt"] is not None:
            raise Refused(401, "Unauthorized", "Invalid or expired access token")
        return session

    # -- tokens and records ---------------------------------------------------------------------
    def user_resource(self, email: str) -> dict:
        u = self.area.users[email]
        return {
            "id": u["id"],
            "tenantId": TENANT,
            "email": email,
            "firstName": u["firstName"],
            "lastName": u["lastName"],
            "avatarUrl": None,
            "isActive": True,
            "emailVerified": True,
            "mfaEnabled": u["mfa"],
            "roles": ["member"],
            "createdAt": _iso(0),
            "updatedAt": _iso(0),
            "lastLoginAt": None,
        }

    def access_token(self, email: str, org: str | None = None) -> str:
        """An ES256 JWT with the SDK's JWTClaims members only (no iss, aud, sid, jti)."""
        now = int(time.time())
        claims = {
            "sub": self.area.users[email]["id"],
            "type": "app_user",
            "tenant_id": TENANT,
            "app_id": APP,
            "env_id": ENV,
            "email": email,
            "roles": ["member"],
            "permissions": ["read"],
            "iat": now,
            "exp": now + ACCESS_TTL_SECONDS,
        }
        if org:
            claims |= {"org_id": org, "org_role": "admin"}
        return jwt.encode(claims, self.area.key, algorithm="ES256", headers={"kid": self.area.kid})

    def issue(self, email: str, request: Request, sid: str = "", org: str | None = None) -> dict:
        if not sid:
            sid = "ses_" + secrets.token_hex(8)
            now = time.time()
            self.area.sessions[sid] = {
                "id": sid,
                "userId": self.area.users[email]["id"],
                "userEmail": email,
                "userAgent": request.headers.get("user-agent"),
                "ipAddress": request.client.host if request.client else None,
                "environmentId": ENV,
                "expiresAt": _iso(now + SESSION_TTL_SECONDS),
                "createdAt": _iso(now),
                "revokedAt": None,
            }
        access, refresh = self.access_token(email, org), "rt_" + secrets.token_urlsafe(24)
        self.area.access[access], self.area.refresh[refresh] = sid, sid
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_SECONDS,
        }

    def revoke(self, sid: str) -> None:
        self.area.sessions[sid]["revokedAt"] = _iso(time.time())
        for table in (self.area.access, self.area.refresh):
            for token in [t for t, s in table.items() if s == sid]:
                del table[token]

    # -- endpoints ----------------------------------------------------------------------------------
    async def login(self, request: Request, body: dict, _session) -> Response:
        email = body["email"].lower()
        if email not in self.area.users or not secrets.compare_digest(
            body["password"], self.area.passwords.get(email, PASSWORD)
        ):
            return problem(401, "Unauthorized", "Invalid email or password")
        if self.area.users[email]["mfa"]:
            token, code = "mfa_" + secrets.token_urlsafe(16), f"{secrets.randbelow(10**6):06d}"
            self.area.mfa[token] = {"email": email, "code": code}
            self.area.last_mfa_code[email] = code
            return JSONResponse({"mfa_required": True, "mfa_token": token})
        return JSONResponse({**self.issue(email, request), "user": self.user_resource(email)})

    async def mfa_challenge(self, request: Request, body: dict, _session) -> Response:
        pending = self.area.mfa.get(body["mfa_token"])
        if pending is None:
            return problem(401, "Unauthorized", "Invalid or expired MFA token")
        if not secrets.compare_digest(body["code"], pending["code"]):
            return problem(401, "Unauthorized", "Invalid MFA code")
        del self.area.mfa[body["mfa_token"]]  # one code, one login
        return JSONResponse({**self.issue(pending["email"], request), "user": self.user_resource(pending["email"])})

    async def refresh(self, request: Request, body: dict, _session) -> Response:
        sid = self.area.refresh.pop(body["refresh_token"], None)  # rotation: a refresh token works once
        if sid is None:
            return problem(401, "Unauthorized", "Invalid or expired refresh token")
        return JSONResponse(self.issue(self.area.sessions[sid]["userEmail"], request, sid))

    async def logout(self, request: Request, body: dict, _session) -> Response:
        sid = self.area.refresh.get(body["refresh_token"])
        if sid is None:
            return problem(401, "Unauthorized", "Invalid or expired refresh token")
        self.revoke(sid)
        return JSONResponse({"message": "Logged out"})  # the SDK calls res.json(): never an empty 204

    async def me(self, request: Request, _body, session: dict) -> Response:
        return JSONResponse({"data": self.user_resource(session["userEmail"])})

    async def sessions(self, request: Request, _body, session: dict) -> Response:
        mine = [
            s for s in self.area.sessions.values() if s["userEmail"] == session["userEmail"] and s["revokedAt"] is None
        ]
        return JSONResponse({"data": [{k: v for k, v in s.items() if k != "revokedAt"} for s in mine]})

    async def revoke_session(self, request: Request, _body, session: dict) -> Response:
        target = self.area.sessions.get(request.path_params["session_id"])
        if target is None or target["userEmail"] != session["userEmail"] or target["revokedAt"] is not None:
            return problem(404, "Not Found", "Session not found")
        self.revoke(target["id"])
        return JSONResponse({"message": "Session revoked"})

    # -- the seed README's other app-user calls (register, organization, password, email) --------------
    async def register(self, request: Request, body: dict, _session) -> Response:
        email = body["email"].lower()
        if email in self.area.users:
            return problem(409, "Conflict", "A user with this email already exists")
        self.area.users[email] = {
            "id": "usr_" + secrets.token_hex(6),
            "firstName": body.get("firstName"),
            "lastName": body.get("lastName"),
            "mfa": False,
        }
        self.area.passwords[email] = body["password"]
        self.area.mail[email] = {"verify": "ev_" + secrets.token_urlsafe(12)}
        return JSONResponse({**self.issue(email, request), "user": self.user_resource(email)}, status_code=201)

    async def set_active_organization(self, request: Request, body: dict, session: dict) -> Response:
        org = body["organizationId"]
        if org is not None and org != ORGANIZATION:
            return problem(404, "Not Found", "Organization not found")
        return JSONResponse(self.issue(session["userEmail"], request, session["id"], org))

    async def forgot_password(self, request: Request, body: dict, _session) -> Response:
        email = body["email"].lower()
        if email in self.area.users:  # the same answer either way: no account enumeration
            self.area.mail.setdefault(email, {})["reset"] = "pr_" + secrets.token_urlsafe(12)
        return JSONResponse({"message": "If the email exists, a reset link has been sent"})

    def _mailed(self, kind: str, token: str) -> str | None:
        return next((e for e, m in self.area.mail.items() if m.get(kind) == token), None)

    async def reset_password(self, request: Request, body: dict, _session) -> Response:
        email = self._mailed("reset", body["token"])
        if email is None:
            return problem(400, "Bad Request", "Invalid or expired reset token")
        del self.area.mail[email]["reset"]  # a reset token works once
        self.area.passwords[email] = body["password"]
        for sid in [i for i, x in self.area.sessions.items() if x["userEmail"] == email and x["revokedAt"] is None]:
            self.revoke(sid)  # a new password ends every session (inferred: the SDK shows no answer but a message)
        return JSONResponse({"message": "Password has been reset"})

    async def verify_email(self, request: Request, body: dict, _session) -> Response:
        email = self._mailed("verify", body["token"])
        if email is None:
            return problem(400, "Bad Request", "Invalid or expired verification token")
        del self.area.mail[email]["verify"]
        return JSONResponse({"message": "Email verified"})

    async def control_mail(self, request: Request) -> Response:
        return JSONResponse(self.area.mail.get(request.query_params.get("email", ""), {}))

    async def jwks(self, request: Request) -> Response:
        jwk = ECAlgorithm.to_jwk(self.area.key.public_key(), as_dict=True)
        return JSONResponse(
            {"keys": [{**jwk, "kid": self.area.kid, "use": "sig", "alg": "ES256"}]},
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def control_mfa_code(self, request: Request) -> Response:
        code = self.area.last_mfa_code.get(request.query_params.get("email", ""))
        return JSONResponse({"code": code}) if code else JSONResponse({"error": "none"}, 404)

    async def control_sessions(self, request: Request) -> Response:
        email = request.query_params.get("email", "")
        return JSONResponse(
            {
                "sessions": [
                    {**s, "active": s["revokedAt"] is None}
                    for s in self.area.sessions.values()
                    if s["userEmail"] == email
                ]
            }
        )


def routes(state) -> list[Route]:
    api = InaiApi(state.areas.setdefault("inai", InaiArea()))
    return [
        Route(f"{API}/auth/login", _checked(api, api.login, ("email", "password")), methods=["POST"]),
        Route(f"{API}/auth/mfa/challenge", _checked(api, api.mfa_challenge, ("mfa_token", "code")), methods=["POST"]),
        Route(f"{API}/auth/refresh", _checked(api, api.refresh, ("refresh_token",)), methods=["POST"]),
        Route(f"{API}/auth/logout", _checked(api, api.logout, ("refresh_token",)), methods=["POST"]),
        Route(f"{API}/auth/me", _checked(api, api.me, None, user=True), methods=["GET"]),
        Route(f"{API}/sessions", _checked(api, api.sessions, None, user=True), methods=["GET"]),
        Route(
            f"{API}/sessions/{{session_id}}/revoke",
            _checked(api, api.revoke_session, None, user=True),
            methods=["POST"],
        ),
        Route(
            f"{API}/auth/register",
            _checked(api, api.register, ("email", "password", "firstName?", "lastName?")),
            methods=["POST"],
        ),
        Route(
            f"{API}/auth/set-active-organization",
            _checked(api, api.set_active_organization, ("organizationId|null",), user=True),
            methods=["POST"],
        ),
        Route(f"{API}/auth/forgot-password", _checked(api, api.forgot_password, ("email",)), methods=["POST"]),
        Route(f"{API}/auth/reset-password", _checked(api, api.reset_password, ("token", "password")), methods=["POST"]),
        Route(f"{API}/auth/verify-email", _checked(api, api.verify_email, ("token",)), methods=["POST"]),
        Route(f"{PREFIX}/.well-known/jwks.json", api.jwks, methods=["GET"]),
        Route("/_control/inai/mail", api.control_mail, methods=["GET"]),
        Route("/_control/inai/mfa-code", api.control_mfa_code, methods=["GET"]),
        Route("/_control/inai/sessions", api.control_sessions, methods=["GET"]),
    ]
