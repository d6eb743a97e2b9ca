"""Emulated Twilio Verify v2 under /twilio-verify, written from the twilio SDKs (npm twilio@6.3.1
lib/rest/verify/v2/service/*.js, PyPI twilio==9.13.0 twilio/rest/verify/v2/service/*.py) and the
public OpenAPI spec (twilio/twilio-oai spec/json/twilio_verify_v2.json). docs/upstreams.md has the table.

Point an SDK here through its domain's base URL (region/edge unset):
  Node   client.verify.baseUrl = "http://127.0.0.1:PORT/twilio-verify"    (lib/base/Domain.js absoluteUrl)
  Python client.verify.base_url = "http://127.0.0.1:PORT/twilio-verify"   (twilio/base/domain.py absolute_url)
so paths read /twilio-verify/v2/Services/{ServiceSid}/... as on verify.twilio.com/v2/....

Credentials (sidecar/emulator/credentials.py): account TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or API key
TWILIO_API_KEY_SID (SK…) + TWILIO_API_KEY_SECRET; the one service TWILIO_VERIFY_SERVICE_SID (VA…); any
other service SID is 20404.

Operations (wire rules in twilio_verify_wire.py):
  POST Verifications              To, Channel sms|call|email|whatsapp, Locale, CustomCode, … → 201
                                  (a pending one for the same To is reused: same SID and code, one
                                  more send attempt; the 6th send → 429 60203)
  GET  Verifications/{Sid}        → 200 (20404 unknown)
  POST Verifications/{Sid}        Status=canceled|approved (a verification no longer pending: 20404)
  POST VerificationCheck          Code + To or VerificationSid → 200 status approved/valid true, or a
                                  wrong code: 200 status pending/valid false; approved, canceled,
                                  expired (10 min) or unknown: 20404; after 5 wrong codes: 429 60202
  Entities/{Identity}/Factors, Challenges, AccessTokens: twilio_verify_factors.py.
Faults: `POST /_control/faults` with path_prefix "/twilio-verify" (down, slow, huge answers) and
`one_time_enforced: false` (approved checks and TOTP codes answer approved again); rate limits and the
rest of the controls: twilio_verify_control.py.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import twilio_verify_control, twilio_verify_entities, twilio_verify_factors
from .credentials import (
    TWILIO_ACCOUNT_SID,
    TWILIO_API_KEY_SECRET,
    TWILIO_API_KEY_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_VERIFY_SERVICE_SID,
)
from .twilio_verify_wire import TwilioError, basic_user, form, invalid, iso, no_query, not_found, sid, text

PREFIX = "/twilio-verify"
ACCOUNTS = {TWILIO_ACCOUNT_SID: TWILIO_AUTH_TOKEN, TWILIO_API_KEY_SID: TWILIO_API_KEY_SECRET}
CHANNELS = {"sms", "call", "email", "whatsapp"}  # the spec also has sna and auto: not emulated
VALIDITY_SECONDS = 600  # Twilio: a code is valid for 10 minutes
MAX_CHECKS = 5  # Twilio: 5 check attempts per verification, then 60202
MAX_SENDS = 5  # Twilio: 5 send attempts per verification, then 60203
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}")
LOCALE = re.compile(r"[a-z]{2}(-[A-Za-z]{2,4})?")
# What each SDK operation can send (both SDKs: the same keys, generated from the spec).
CREATE_KEYS = {
    "To", "Channel", "CustomFriendlyName", "CustomMessage", "SendDigits", "Locale", "CustomCode", "Amount",
    "Payee", "RateLimits", "ChannelConfiguration", "AppHash", "TemplateSid", "TemplateCustomSubstitutions",
    "DeviceIp", "EnableSnaClientToken", "RiskCheck", "Tags", "Templates",
}  # fmt: skip
CHECK_KEYS = {"Code", "To", "VerificationSid", "Amount", "Payee", "SnaClientToken"}


@dataclass
class Verification:
    sid: str
    to: str
    channel: str
    code: str
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    status: str = "pending"
    checks: int = 0
    sends: list[dict] = field(default_factory=list)
    locale: str = "en"

    def current_status(self) -> str:
        if self.status == "pending" and time.time() >= self.created + VALIDITY_SECONDS:
            return "expired"
        return self.status


@dataclass
class VerifyArea:
    verifications: dict[str, Verification] = field(default_factory=dict)
    pending_by_to: dict[str, str] = field(default_factory=dict)
    latest_by_to: dict[str, str] = field(default_factory=dict)  # a check by To names the latest one
    last_verification: str = ""
    entities: dict[str, dict] = field(default_factory=dict)
    factors: dict[str, twilio_verify_factors.Factor] = field(default_factory=dict)
    challenges: dict[str, twilio_verify_factors.Challenge] = field(default_factory=dict)
    last_challenge: str = ""
    access_tokens: dict[str, dict] = field(default_factory=dict)
    rate_limited: int = 0  # the next N API requests answer 429 20429 with Retry-After
    retry_after: int = 1
    concurrent_limited: int = 0  # the next N answer 429 60212 (too many concurrent requests)
    webhook_url: str = ""  # where challenge and factor events are POSTed, signed (control sets it)
    deliveries: list[dict] = field(default_factory=list)


def routes(state) -> list[Route]:
    area = state.areas.setdefault("twilio_verify", VerifyArea())
    api = VerificationsApi(area, state)
    g = api.guarded
    s = f"{PREFIX}/v2/Services/{{service_sid}}"
    return [
        Route(f"{s}/Verifications", g(api.create), methods=["POST"]),
        Route(f"{s}/Verifications/{{sid}}", g(api.fetch), methods=["GET"]),
        Route(f"{s}/Verifications/{{sid}}", g(api.update), methods=["POST"]),
        Route(f"{s}/VerificationCheck", g(api.check), methods=["POST"]),
        *twilio_verify_factors.routes(area, state, s, g),
        *twilio_verify_entities.routes(area, state, s, g),
        *twilio_verify_control.routes(area, state),
    ]


class VerificationsApi:
    def __init__(self, area: VerifyArea, state) -> None:
        self.area = area
        self.state = state

    def guarded(self, handler, query: frozenset[str] = frozenset()):
        """Auth, the one service, the rate faults, then the handler; every failure in Twilio's shape.
        A GET takes only the `query` keys its SDK operation sends (a list's paging), each once."""

        async def run(request: Request) -> Response:
            try:
                basic_user(request, ACCOUNTS)
                if request.path_params.get("service_sid") != TWILIO_VERIFY_SERVICE_SID:
                    raise not_found(request.url.path.removeprefix(PREFIX + "/v2"))
                self._rate_faults()
                if request.method == "GET":
                    no_query(request, query)
                return await handler(request)
            except TwilioError as exc:
                return exc.response()

        return run

    def _rate_faults(self) -> None:
        a = self.area
        if a.rate_limited > 0:
            a.rate_limited -= 1
            raise TwilioError(429, 20429, "Too many requests", {"Retry-After": str(a.retry_after)})
        if a.concurrent_limited > 0:
            a.concurrent_limited -= 1
            raise TwilioError(429, 60212, "Too many concurrent requests for phone number")

    def url(self, path: str) -> str:
        return f"{self.state.base_url}{PREFIX}/v2/Services/{TWILIO_VERIFY_SERVICE_SID}{path}"

    def answer(self, v: Verification, status_code: int = 200) -> JSONResponse:
        body = {
            "sid": v.sid,
            "service_sid": TWILIO_VERIFY_SERVICE_SID,
            "account_sid": TWILIO_ACCOUNT_SID,
            "to": v.to,
            "channel": v.channel,
            "status": v.current_status(),
            "valid": v.status == "approved",
            "lookup": {},
            "amount": None,
            "payee": None,
            "send_code_attempts": v.sends,
            "date_created": iso(v.created),
            "date_updated": iso(v.updated or v.created),
            "sna": None,
            "url": self.url(f"/Verifications/{v.sid}"),
        }
        return JSONResponse(body, status_code=status_code)

    def check_answer(self, v: Verification) -> JSONResponse:
        return JSONResponse(
            {
                "sid": v.sid,
                "service_sid": TWILIO_VERIFY_SERVICE_SID,
                "account_sid": TWILIO_ACCOUNT_SID,
                "to": v.to,
                "channel": v.channel,
                "status": v.current_status(),
                "valid": v.status == "approved",
                "amount": None,
                "payee": None,
                "sna_attempts_error_codes": [],
                "date_created": iso(v.created),
                "date_updated": iso(v.updated or v.created),
            }
        )

    def _found(self, request: Request) -> Verification:
        v = self.area.verifications.get(request.path_params["sid"])
        if v is None:
            raise not_found(request.url.path.removeprefix(PREFIX + "/v2"))
        return v

    async def create(self, request: Request) -> Response:
        values = await form(request, CREATE_KEYS)
        to = text(values, "To", required=True, max_len=320)
        channel = text(values, "Channel", required=True, max_len=16)
        assert to is not None and channel is not None
        if channel not in CHANNELS:
            raise invalid("Channel", f"must be one of {', '.join(sorted(CHANNELS))}")
        if not (EMAIL if channel == "email" else E164).fullmatch(to):
            raise invalid("To", "an E.164 phone number (or an email address for the email channel)")
        locale = text(values, "Locale", max_len=16)
        if locale is not None and not LOCALE.fullmatch(locale):
            raise invalid("Locale")
        custom = text(values, "CustomCode", min_len=4, max_len=10)
        if custom is not None and not custom.isalnum():
            raise invalid("CustomCode", "4 to 10 letters or digits")
        for key in values.keys() - {"To", "Channel", "Locale", "CustomCode"}:
            text(values, key, max_len=4096)
        now = time.time()
        send = {"time": iso(now), "channel": channel.upper(), "attempt_sid": sid("VL")}
        existing = self.area.verifications.get(self.area.pending_by_to.get(to, ""))
        if existing is not None and existing.current_status() == "pending":
            if len(existing.sends) >= MAX_SENDS:
                raise TwilioError(429, 60203, "Max send attempts reached")
            existing.sends.append(send)
            existing.channel, existing.updated = channel, now
            self.area.last_verification = existing.sid
            return self.answer(existing, 201)
        code = custom or "".join(secrets.choice("0123456789") for _ in range(6))
        v = Verification(sid("VE"), to, channel, code, created=now, sends=[send], locale=locale or "en")
        self.area.verifications[v.sid] = v
        self.area.pending_by_to[to] = self.area.latest_by_to[to] = v.sid
        self.area.last_verification = v.sid
        return self.answer(v, 201)

    async def fetch(self, request: Request) -> Response:
        return self.answer(self._found(request))

    async def update(self, request: Request) -> Response:
        values = await form(request, {"Status"})
        status = text(values, "Status", required=True, max_len=16)
        if status not in ("canceled", "approved"):
            raise invalid("Status", "must be canceled or approved")
        v = self._found(request)
        if v.current_status() != "pending":
            raise not_found(request.url.path.removeprefix(PREFIX + "/v2"))
        v.status, v.updated = status, time.time()
        self.area.pending_by_to.pop(v.to, None)
        return self.answer(v)

    async def check(self, request: Request) -> Response:
        values = await form(request, CHECK_KEYS)
        code = text(values, "Code", required=True, min_len=4, max_len=10)
        to = text(values, "To", max_len=320)
        verification_sid = text(values, "VerificationSid", max_len=34)
        for key in ("Amount", "Payee", "SnaClientToken"):
            text(values, key, max_len=1024)
        if (to is None) == (verification_sid is None):
            raise TwilioError(400, 60200, "Invalid parameter: either To or VerificationSid must be specified")
        gone = not_found(f"/Services/{TWILIO_VERIFY_SERVICE_SID}/VerificationCheck")
        found = verification_sid if verification_sid is not None else self.area.latest_by_to.get(to or "", "")
        v = self.area.verifications.get(found)
        if v is None or (to is not None and v.to != to):
            raise gone
        assert code is not None
        right = secrets.compare_digest(code.encode(), v.code.encode())
        if v.status == "approved" and right and not self.state.faults.one_time_enforced:
            return self.check_answer(v)  # the "not one-time" fault: approved again
        if v.current_status() != "pending":
            raise gone
        if v.checks >= MAX_CHECKS:
            raise TwilioError(429, 60202, "Max check attempts reached")
        v.checks += 1
        v.updated = time.time()
        if right:
            v.status = "approved"
            self.area.pending_by_to.pop(v.to, None)
        return self.check_answer(v)
