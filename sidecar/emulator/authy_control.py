"""Test and demo controls for the emulated Authy platform, under /_control/authy:

GET  /users/{id}/totp             the user's currently valid code
POST /users/{id}/totp/rotate      a new code (the old one stops working)
POST /users/{id}/app              {"installed": true|false}: the user has the Authy app (SMS/calls then
                                  answer `ignored` unless forced)
GET  /tokens/last                 the last SMS/call token request (via, force, action, code sent)
POST /approvals/{uuid}            {"status": "approved"|"denied"|…} — the user answers
GET  /approvals/last              the last approval request created
GET  /phones/last                 the last phone verification sent (with its code)
POST /callback                    {"url", "params", "nonce"?, "method"?} → the signed callback the platform
                                  would send (signed by emulator/authy_signing.py)
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .authy_signing import signature

BASE = "/_control/authy"


def routes(area, api_key: str) -> list[Route]:
    def missing(what: str) -> JSONResponse:
        return JSONResponse({"error": what}, status_code=404)

    async def totp(request: Request):
        user_id = request.path_params["authy_id"]
        return JSONResponse({"code": area.totp[user_id]}) if user_id in area.totp else missing("no such user")

    async def rotate_totp(request: Request):
        user_id = request.path_params["authy_id"]
        return JSONResponse({"code": area.new_code(user_id)}) if user_id in area.users else missing("no such user")

    async def app_installed(request: Request):
        user = area.users.get(request.path_params["authy_id"])
        if user is None:
            return missing("no such user")
        user["app_installed"] = bool((await request.json()).get("installed"))
        return JSONResponse({"installed": user["app_installed"]})

    async def last_token(request: Request):
        return JSONResponse(area.last_token_request) if area.last_token_request else missing("none yet")

    async def answer_approval(request: Request):
        approval = area.approvals.get(request.path_params["uuid"])
        status = (await request.json()).get("status")
        if approval is None:
            return missing("no such approval request")
        if status not in ("approved", "denied", "expired", "pending"):
            return JSONResponse({"error": "status must be approved, denied, expired or pending"}, status_code=400)
        approval.status = status
        approval.processed_at = time.time() if status in ("approved", "denied") else 0.0
        return JSONResponse({"uuid": approval.uuid, "status": status})

    async def last_approval(request: Request):
        approval = area.approvals.get(area.last_approval)
        if approval is None:
            return missing("none yet")
        return JSONResponse(
            {
                "uuid": approval.uuid,
                "user_id": approval.user_id,
                "message": approval.message,
                "details": approval.details,
                "hidden_details": approval.hidden_details,
                "status": approval.current_status(),
            }
        )

    async def last_phone(request: Request):
        return JSONResponse(area.last_phone) if area.last_phone else missing("none yet")

    async def signed_callback(request: Request):
        """What the platform would send to an app's callback URL: body, nonce and signature."""
        body = await request.json()
        nonce = str(body.get("nonce") or int(time.time()))
        params = body.get("params") or {}
        method = body.get("method", "POST")
        return JSONResponse(
            {"nonce": nonce, "params": params, "signature": signature(api_key, nonce, method, body["url"], params)}
        )

    return [
        Route(f"{BASE}/users/{{authy_id}}/totp", totp, methods=["GET"]),
        Route(f"{BASE}/users/{{authy_id}}/totp/rotate", rotate_totp, methods=["POST"]),
        Route(f"{BASE}/users/{{authy_id}}/app", app_installed, methods=["POST"]),
        Route(f"{BASE}/tokens/last", last_token, methods=["GET"]),
        Route(f"{BASE}/approvals/last", last_approval, methods=["GET"]),
        Route(f"{BASE}/approvals/{{uuid}}", answer_approval, methods=["POST"]),
        Route(f"{BASE}/phones/last", last_phone, methods=["GET"]),
        Route(f"{BASE}/callback", signed_callback, methods=["POST"]),
    ]
