"""Test and demo controls for the emulated Twilio Verify v2, under /_control/twilio-verify (JSON in, JSON out):

GET  /verifications/last[?to=…]    the last verification started (for that To): sid, to, channel, code
                                   "sent", status, checks, sends
GET  /verifications/{sid}          the same for one verification
POST /verifications/{sid}/expire   it expires now (a check then answers 20404)
GET  /factors/{sid}/code           the TOTP factor's code for the current time step
POST /factors/{sid}/verify         a push factor becomes verified (the device's SDK would do it)
POST /challenges/{sid}             {"status": "approved"|"denied"|"expired"}: the user answers a push
                                   challenge (approved/denied also sends its webhook, when one is set)
GET  /challenges/last              the last challenge created
GET  /faults   POST /faults        {"rate_limited": N, "retry_after": S}: the next N API requests answer
                                   429 20429 with Retry-After: S; {"concurrent_limited": N}: 429 60212;
                                   {"not_one_time": true}: sets the global fault one_time_enforced false
                                   (approved checks answer approved again; reset by POST /_control/faults
                                   {"reset": true}). Down / slow / huge: the global faults with
                                   path_prefix "/twilio-verify".
POST /webhook                      {"url", "params": {…}} or {"url", "json": {…}|"text"} → the signed
                                   request Twilio would send: {method, url, headers, body, params,
                                   signature} (JSON: url carries bodySHA256, signed without params)
POST /webhooks                     {"url": "…"|""}: where factor.verified and challenge.approved/denied
                                   events are POSTed, form-encoded and signed; GET /webhooks/deliveries
POST /reset                        every verification, factor, challenge and control fault forgotten
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .credentials import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_VERIFY_SERVICE_SID
from .twilio_verify_signing import signed_form, signed_json
from .twilio_verify_wire import hotp, sid

BASE = "/_control/twilio-verify"
DELIVERY_TIMEOUT = 5.0
MAX_DELIVERIES = 100


def _missing(what: str) -> JSONResponse:
    return JSONResponse({"error": what}, status_code=404)


def _bad(what: str) -> JSONResponse:
    return JSONResponse({"error": what}, status_code=400)


async def _body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def verification_view(v) -> dict:
    return {
        "sid": v.sid,
        "to": v.to,
        "channel": v.channel,
        "code": v.code,
        "locale": v.locale,
        "status": v.current_status(),
        "checks": v.checks,
        "sends": len(v.sends),
    }


def event_params(kind: str, factor, challenge=None) -> dict[str, str]:
    """A Verify Push webhook's form fields (Twilio's Verify webhooks docs; no SDK carries them)."""
    params = {
        "uuid": sid("EV"),
        "type": kind,
        "account_sid": TWILIO_ACCOUNT_SID,
        "service_sid": TWILIO_VERIFY_SERVICE_SID,
        "entity_identity": factor.identity,
        "factor_sid": factor.sid,
        "factor_type": factor.factor_type,
        "factor_friendly_name": factor.friendly_name,
    }
    if challenge is not None:
        params |= {
            "challenge_sid": challenge.sid,
            "challenge_details": json.dumps(challenge.details),
            "hidden_details": json.dumps(challenge.hidden_details or {}),
            "status": challenge.current_status(),
        }
    return params


def routes(area, state) -> list[Route]:
    tasks: set[asyncio.Task] = set()

    async def deliver(params: dict[str, str]) -> None:
        signed = signed_form(TWILIO_AUTH_TOKEN, area.webhook_url, params)
        record = {"url": signed["url"], "type": params["type"], "status": 0, "error": ""}
        try:
            async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT) as client:
                answer = await client.post(signed["url"], content=signed["body"], headers=signed["headers"])
            record["status"] = answer.status_code
        except httpx.HTTPError as exc:
            record["error"] = type(exc).__name__
        area.deliveries = [*area.deliveries, record][-MAX_DELIVERIES:]

    def emit(kind: str, factor, challenge=None) -> None:
        if area.webhook_url:
            task = asyncio.create_task(deliver(event_params(kind, factor, challenge)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def last_verification(request: Request):
        to = request.query_params.get("to")
        if to is not None:
            found = [v for v in area.verifications.values() if v.to == to]
            v = max(found, key=lambda v: v.created) if found else None
        else:
            v = area.verifications.get(area.last_verification)
        return JSONResponse(verification_view(v)) if v else _missing("no verification yet")

    async def one_verification(request: Request):
        v = area.verifications.get(request.path_params["sid"])
        return JSONResponse(verification_view(v)) if v else _missing("no such verification")

    async def expire_verification(request: Request):
        v = area.verifications.get(request.path_params["sid"])
        if v is None:
            return _missing("no such verification")
        v.created = min(v.created, time.time() - 3600)
        return JSONResponse(verification_view(v))

    async def factor_code(request: Request):
        f = area.factors.get(request.path_params["sid"])
        if f is None or f.factor_type != "totp":
            return _missing("no such totp factor")
        c = f.config
        code = hotp(f.secret, int(time.time() // c["time_step"]), c["code_length"], c["alg"])
        return JSONResponse({"code": code})

    async def verify_push_factor(request: Request):
        f = area.factors.get(request.path_params["sid"])
        if f is None or f.factor_type != "push":
            return _missing("no such push factor")
        f.status, f.updated = "verified", time.time()
        emit("factor.verified", f)
        return JSONResponse({"sid": f.sid, "status": f.status})

    async def answer_challenge(request: Request):
        c = area.challenges.get(request.path_params["sid"])
        status = (await _body(request)).get("status")
        if c is None:
            return _missing("no such challenge")
        if status not in ("approved", "denied", "expired"):
            return _bad("status must be approved, denied or expired")
        if c.current_status() != "pending":
            return JSONResponse({"error": f"the challenge is {c.current_status()}"}, status_code=409)
        if status == "expired":
            c.expires = time.time()
        else:
            c.answer(status)
            emit(f"challenge.{status}", c.factor, c)
        return JSONResponse({"sid": c.sid, "status": c.current_status()})

    async def last_challenge(request: Request):
        c = area.challenges.get(area.last_challenge)
        if c is None:
            return _missing("no challenge yet")
        return JSONResponse(
            {"sid": c.sid, "identity": c.factor.identity, "factor_sid": c.factor.sid, "status": c.current_status()}
        )

    def faults_view() -> dict:
        return {
            "rate_limited": area.rate_limited,
            "retry_after": area.retry_after,
            "concurrent_limited": area.concurrent_limited,
            "not_one_time": not state.faults.one_time_enforced,
        }

    async def get_faults(request: Request):
        return JSONResponse(faults_view())

    async def set_faults(request: Request):
        body = await _body(request)
        for key in ("rate_limited", "retry_after", "concurrent_limited"):
            if key in body:
                value = body[key]
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 86_400:
                    return _bad(f"{key} must be an integer from 0 to 86400")
                setattr(area, key, value)
        if "not_one_time" in body:
            if not isinstance(body["not_one_time"], bool):
                return _bad("not_one_time must be true or false")
            state.faults.one_time_enforced = not body["not_one_time"]
        return JSONResponse(faults_view())

    async def example_webhook(request: Request):
        body = await _body(request)
        url = body.get("url")
        if not isinstance(url, str) or "://" not in url:
            return _bad("url (absolute) is required")
        token = body.get("auth_token", TWILIO_AUTH_TOKEN)
        if "json" in body:
            raw = body["json"] if isinstance(body["json"], str) else json.dumps(body["json"], separators=(",", ":"))
            return JSONResponse(signed_json(token, url, raw))
        params = body.get("params") or {}
        ok = isinstance(params, dict) and all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v)) for v in params.values()
        )
        if not ok:
            return _bad("params must map names to strings or lists of strings")
        return JSONResponse(signed_form(token, url, params))

    async def set_webhook_target(request: Request):
        url = (await _body(request)).get("url", "")
        if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
            return _bad("url must be an http(s) URL or empty")
        area.webhook_url = url
        return JSONResponse({"url": url})

    async def deliveries(request: Request):
        return JSONResponse(area.deliveries)

    async def reset(request: Request):
        fresh = type(area)()
        area.__dict__.update(fresh.__dict__)
        return JSONResponse({})

    return [
        Route(f"{BASE}/verifications/last", last_verification, methods=["GET"]),
        Route(f"{BASE}/verifications/{{sid}}", one_verification, methods=["GET"]),
        Route(f"{BASE}/verifications/{{sid}}/expire", expire_verification, methods=["POST"]),
        Route(f"{BASE}/factors/{{sid}}/code", factor_code, methods=["GET"]),
        Route(f"{BASE}/factors/{{sid}}/verify", verify_push_factor, methods=["POST"]),
        Route(f"{BASE}/challenges/last", last_challenge, methods=["GET"]),
        Route(f"{BASE}/challenges/{{sid}}", answer_challenge, methods=["POST"]),
        Route(f"{BASE}/faults", get_faults, methods=["GET"]),
        Route(f"{BASE}/faults", set_faults, methods=["POST"]),
        Route(f"{BASE}/webhook", example_webhook, methods=["POST"]),
        Route(f"{BASE}/webhooks", set_webhook_target, methods=["POST"]),
        Route(f"{BASE}/webhooks/deliveries", deliveries, methods=["GET"]),
        Route(f"{BASE}/reset", reset, methods=["POST"]),
    ]
