"""Emulated step-up challenge platform: the Authsignal Server API shapes under /v1 (docs/upstreams.md).

Built from the published @authsignal/node 2.21.0 (dist/index.js, dist/types.d.ts), and as strict as
that evidence allows, so it can't hide an adapter bug: every request needs HTTP Basic with the secret
key and an empty password (401 otherwise) and the X-Authsignal-Version header the SDK always sends;
a POST needs a JSON object body (application/json) holding only fields the SDK's request types have
(400 invalid_request otherwise).

Rules for track: an action rule set through control wins (ALLOW / BLOCK / REVIEW_REQUIRED /
CHALLENGE_REQUIRED); otherwise a user with an enrolled authenticator gets CHALLENGE_REQUIRED and
anyone else ALLOW. Validate consumes the action on its first successful validation, so every
token for it is then "already used".

Control (tests and demos), under /_control/challenges:
  POST complete  {userId, action, idempotencyKey, success?: true, verificationMethod?: "SMS"} → {token}
                 (the token a client SDK would hand the backend after the user finished the challenge)
  POST users     {userId, verificationMethod?: "SMS", email?, phoneNumber?} → enrolls the user
  POST rules     {action, state}  (state "" removes the rule)
  POST reset
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sidecar.emulator.credentials import SECRET_KEY as EMULATOR_SECRET_KEY
from sidecar.emulator.wire import Refused, json_object  # a body the SDK never sends: 400 invalid_request

STATES = {"ALLOW", "BLOCK", "CHALLENGE_REQUIRED", "REVIEW_REQUIRED"}
METHODS = ["SMS", "EMAIL_OTP", "AUTHENTICATOR_APP", "PASSKEY"]
VERSION_HEADER = "x-authsignal-version"
# The body fields @authsignal/node 2.21.0 can send (dist/types.d.ts): TrackAttributes,
# ValidateChallengeRequest, EnrollVerifiedAuthenticatorAttributes.
TRACK_FIELDS = {
    "idempotencyKey",
    "redirectUrl",
    "redirectToSettings",
    "ipAddress",
    "userAgent",
    "deviceId",
    "scope",
    "email",
    "phoneNumber",
    "username",
    "custom",
    "challengeId",
    "locale",
    "customDomain",
}
VALIDATE_FIELDS = {"token", "action", "userId"}
ENROLL_FIELDS = {"verificationMethod", "phoneNumber", "email", "isDefault"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Action:
    user_id: str
    code: str
    idempotency_key: str
    state: str
    created_at: str = field(default_factory=_now)
    state_updated_at: str = field(default_factory=_now)
    verification_method: str = ""


@dataclass
class User:
    authenticators: list[dict] = field(default_factory=list)
    email: str = ""
    phone_number: str = ""

    @property
    def methods(self) -> list[str]:
        return sorted({a["verificationMethod"] for a in self.authenticators})


@dataclass
class ChallengeArea:
    users: dict[str, User] = field(default_factory=dict)
    actions: dict[tuple[str, str, str], Action] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # token → action key
    consumed: set[tuple[str, str, str]] = field(default_factory=set)  # one success per action

    def issue_token(self, key: tuple[str, str, str]) -> str:
        token = "chl_" + secrets.token_urlsafe(24)
        self.tokens[token] = key
        return token

    def enroll(self, user_id: str, method: str, email: str = "", phone: str = "") -> dict:
        user = self.users.setdefault(user_id, User())
        user.email = email or user.email
        user.phone_number = phone or user.phone_number
        auth = {
            "userAuthenticatorId": "uat_" + secrets.token_hex(8),
            "userId": user_id,
            "verificationMethod": method,
            "createdAt": _now(),
            "verifiedAt": _now(),
        }
        auth.update({k: v for k, v in (("email", email), ("phoneNumber", phone)) if v})
        user.authenticators.append(auth)
        return auth


def _error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "errorDescription": description}, status_code=status)


def _authorized(request: Request) -> bool:
    """Basic `<secret key>:` exactly — the SDK's axios `auth: {username: apiSecretKey, password: ""}`."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        credentials = base64.b64decode(header[6:], validate=True).decode()
    except ValueError:
        return False
    return secrets.compare_digest(credentials.encode(), f"{EMULATOR_SECRET_KEY}:".encode())


async def _json(request: Request) -> dict:
    """Lenient body reader for the control routes (tests and demos, not the vendor wire)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _user_json(user: User | None) -> dict:
    user = user or User()
    return {
        "isEnrolled": bool(user.authenticators),
        "email": user.email or None,
        "phoneNumber": user.phone_number or None,
        "enrolledVerificationMethods": user.methods,
        "allowedVerificationMethods": METHODS,
        "defaultVerificationMethod": user.methods[0] if user.methods else None,
    }


def routes(state) -> list[Route]:
    area: ChallengeArea = state.areas.setdefault("challenges", ChallengeArea())

    def guarded(handler):
        async def run(request: Request) -> JSONResponse:
            if not _authorized(request):
                return _error(401, "unauthorized", "The secret key is invalid.")
            if not request.headers.get(VERSION_HEADER):
                return _error(400, "invalid_request", "The X-Authsignal-Version header is required.")
            try:
                return await handler(request)
            except Refused as exc:
                return _error(400, "invalid_request", str(exc))

        return run

    async def track(request: Request) -> JSONResponse:
        user_id, code = request.path_params["user_id"], request.path_params["action"]
        body = await json_object(request, TRACK_FIELDS)
        user = area.users.get(user_id)
        enrolled = bool(user and user.authenticators)
        decided = area.rules.get(code) or ("CHALLENGE_REQUIRED" if enrolled else "ALLOW")
        key = (user_id, code, str(body.get("idempotencyKey") or secrets.token_hex(16)))
        # Idempotent: tracking the same key again returns that action as it stands, never resets it.
        a = area.actions.setdefault(key, Action(user_id, code, key[2], decided))
        token = area.issue_token(key)
        return JSONResponse(
            {
                **_user_json(user),
                "state": a.state,
                "idempotencyKey": key[2],
                "token": token,
                "ruleIds": [],
                "url": f"{state.base_url}/challenge?token={token}" if a.state == "CHALLENGE_REQUIRED" else None,
            }
        )

    async def validate(request: Request) -> JSONResponse:
        body = await json_object(request, VALIDATE_FIELDS)
        token = body.get("token")
        if not isinstance(token, str) or not token:
            return _error(400, "invalid_request", "token is required.")
        key = area.tokens.get(token)
        if key is None:
            return JSONResponse({"isValid": False, "error": "Invalid token."})
        a = area.actions[key]
        result = {
            "state": a.state,
            "stateUpdatedAt": a.state_updated_at,
            "userId": a.user_id,
            "actionCode": a.code,
            "idempotencyKey": a.idempotency_key,
            "verificationMethod": a.verification_method or None,
        }
        if key in area.consumed:
            return JSONResponse({"isValid": False, **result, "error": "Token has already been used."})
        if body.get("userId") and body["userId"] != a.user_id:
            return JSONResponse({"isValid": False, **result, "error": "User is invalid."})
        if body.get("action") and body["action"] != a.code:
            return JSONResponse({"isValid": False, **result, "error": "Action is invalid."})
        valid = a.state == "CHALLENGE_SUCCEEDED"
        if valid and state.faults.one_time_enforced:  # off: valid until it expires, however often
            area.consumed.add(key)
        return JSONResponse({"isValid": valid, **result})

    async def get_action(request: Request) -> JSONResponse:
        p = request.path_params
        a = area.actions.get((p["user_id"], p["action"], p["idempotency_key"]))
        if a is None:
            return _error(404, "not_found", "Action not found.")
        return JSONResponse(
            {
                "state": a.state,
                "stateUpdatedAt": a.state_updated_at,
                "createdAt": a.created_at,
                "verificationMethod": a.verification_method or None,
                "rules": [],
            }
        )

    async def get_user(request: Request) -> JSONResponse:
        return JSONResponse(_user_json(area.users.get(request.path_params["user_id"])))

    async def enroll(request: Request) -> JSONResponse:
        body = await json_object(request, ENROLL_FIELDS)
        method = body.get("verificationMethod")
        if method not in METHODS:
            return _error(400, "invalid_request", f"verificationMethod must be one of {METHODS}.")
        if method == "SMS" and not body.get("phoneNumber"):
            return _error(400, "invalid_request", "phoneNumber is required for SMS.")
        if method == "EMAIL_OTP" and not body.get("email"):
            return _error(400, "invalid_request", "email is required for EMAIL_OTP.")
        auth = area.enroll(
            request.path_params["user_id"], method, str(body.get("email") or ""), str(body.get("phoneNumber") or "")
        )
        codes = [secrets.token_hex(4) for _ in range(3)] if method == "AUTHENTICATOR_APP" else []
        return JSONResponse({"authenticator": auth, "recoveryCodes": codes})

    return [
        Route("/v1/validate", guarded(validate), methods=["POST"]),
        Route("/v1/users/{user_id}/actions/{action}", guarded(track), methods=["POST"]),
        Route("/v1/users/{user_id}/actions/{action}/{idempotency_key}", guarded(get_action), methods=["GET"]),
        Route("/v1/users/{user_id}/authenticators", guarded(enroll), methods=["POST"]),
        Route("/v1/users/{user_id}", guarded(get_user), methods=["GET"]),
        *_control_routes(area),
    ]


def _control_routes(area: ChallengeArea) -> list[Route]:
    async def complete(request: Request) -> JSONResponse:
        body = await _json(request)
        key = (str(body.get("userId", "")), str(body.get("action", "")), str(body.get("idempotencyKey", "")))
        a = area.actions.get(key)
        if a is None:
            return JSONResponse({"error": "no such tracked action"}, status_code=404)
        a.state = "CHALLENGE_SUCCEEDED" if body.get("success", True) else "CHALLENGE_FAILED"
        a.state_updated_at = _now()
        a.verification_method = str(body.get("verificationMethod") or "SMS")
        return JSONResponse({"token": area.issue_token(key), "state": a.state})

    async def enroll_user(request: Request) -> JSONResponse:
        body = await _json(request)
        if not body.get("userId"):
            return JSONResponse({"error": "userId is required"}, status_code=400)
        auth = area.enroll(
            str(body["userId"]),
            str(body.get("verificationMethod") or "SMS"),
            str(body.get("email") or ""),
            str(body.get("phoneNumber") or ""),
        )
        return JSONResponse(auth)

    async def set_rule(request: Request) -> JSONResponse:
        body = await _json(request)
        action, decided = str(body.get("action", "")), str(body.get("state", ""))
        if not action or (decided and decided not in STATES):
            return JSONResponse({"error": f"need action and state in {sorted(STATES)}"}, status_code=400)
        if decided:
            area.rules[action] = decided
        else:
            area.rules.pop(action, None)
        return JSONResponse(dict(area.rules))

    async def reset(request: Request) -> JSONResponse:
        type(area).__init__(area)  # every field back to its default
        return JSONResponse({})

    return [
        Route("/_control/challenges/complete", complete, methods=["POST"]),
        Route("/_control/challenges/users", enroll_user, methods=["POST"]),
        Route("/_control/challenges/rules", set_rule, methods=["POST"]),
        Route("/_control/challenges/reset", reset, methods=["POST"]),
    ]
