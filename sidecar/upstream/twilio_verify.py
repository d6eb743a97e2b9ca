"""Twilio Verify v2: SecondFactorService on the API Twilio sells today (Authy's successor).

The wire, as twilio-python 9.3.7 sends it (twilio/rest/verify/v2/service/…) and twilio-oai's
spec/json/twilio_verify_v2.json describes it: `{base_url}/v2/Services/{ServiceSid}/…`, HTTP Basic
(account SID + auth token, or API key SID + secret), bodies `application/x-www-form-urlencoded` with
PascalCase keys (a list repeats its key), snake_case JSON answers, errors `{code, message, more_info,
status}`. A wrong code is an answer, not an error: VerificationCheck and Challenges answer 200 with
`status: pending`.

The mapping (docs/upstreams.md has the table): phone verification and RequestSms/RequestCall →
Verifications + VerificationCheck; VerifyTotp → a challenge on the user's verified TOTP factor with
AuthPayload; push approval → a challenge on the user's verified push factor (the approval id is
`{ChallengeSid}.{identity}`, as fetching a challenge needs both); users → entities. An entity's
identity is never the caller's user id (it may be an email): it is `identity_for(user_id)`, a
SHA-256. Twilio's error codes become UpstreamError in `_error`, the one place: 20404 not found (also a
verification already approved or expired), 60202/60203/60212/20429 UpstreamLimited (20429's
Retry-After is honoured: no request is sent until it passes), 20003/401 (our credentials)
UpstreamAuthFailed, a 502 — an outage for the caller, failed closed, its verdict detail "verify:
authentication failed (20003)". Messages are the sidecar's own: Twilio's may echo a phone number.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from sidecar.config.settings import VerifySettings
from sidecar.core.factors.records import (
    Activity,
    ApplicationStatistics,
    ApprovalDraft,
    ApprovalStatus,
    PhoneInformation,
    PhoneNumber,
    PhoneVerificationStarted,
    TokenRequest,
    TokenSent,
    TotpEnrolment,
    UserStatus,
)
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.caches import Clock
from sidecar.core.shared.outcomes import (
    InvalidArgument,
    NotConfigured,
    Unsupported,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamLimited,
)
from sidecar.upstream import transport as http

from .guard import reads_answers
from .json_http import MAX_ERROR_BODY_CHARS

UPSTREAM = "verify"
SID = {"challenge": re.compile(r"YC[0-9a-fA-F]{32}"), "factor": re.compile(r"YF[0-9a-fA-F]{32}")}
IDENTITY = re.compile(r"[0-9a-f]{64}")
STATUSES = {s.value.lower(): s for s in ApprovalStatus if s is not ApprovalStatus.UNSPECIFIED}
# Verify's documented lifetime of a verification (the answer does not say).
VERIFICATION_SECONDS = 600
LIMITS = {
    60202: "max check attempts reached (60202)",
    60203: "max send attempts reached (60203)",
    60212: "too many concurrent requests for this phone (60212)",
    20429: "rate limited by Twilio (20429)",
}


def identity_for(user_id: str) -> str:
    """The entity identity for a caller's user id: a hash, so Twilio never holds the id (often PII)."""
    return hashlib.sha256(b"authsidecar/verify/entity\x00" + user_id.encode("utf-8")).hexdigest()


def _seg(value: str) -> str:
    return quote(value, safe="")


def _e164(phone: PhoneNumber) -> str:
    return f"+{phone.country_code}{phone.national}"


def _masked(phone: PhoneNumber) -> str:
    return f"+{phone.country_code}-XXX-XX{phone.national[-2:]}"


def _factor_sid(factor_id: str) -> str:
    if not SID["factor"].fullmatch(factor_id):
        raise InvalidArgument("factor_id", "must be YF followed by 32 hex digits")
    return factor_id


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class TwilioVerifyClient:
    def __init__(
        self,
        settings: VerifySettings,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        user = settings.api_key_sid or settings.account_sid
        password = settings.api_key_secret if settings.api_key_sid else settings.auth_token
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._client = http.client(
            settings.base_url.rstrip("/"),
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            timeout=settings.timeout_seconds,
            max_response_bytes=settings.max_response_bytes,
            transport=transport,
        )
        self._service = f"/v2/Services/{_seg(settings.service_sid)}"
        self._max_retry_after = settings.max_retry_after_seconds
        self._clock = clock
        self._hold_until = 0.0  # a 20429's Retry-After: nothing is sent before it

    async def _send(self, method: str, path: str, endpoint: str, form: dict[str, Any] | None = None) -> Any:
        """One request; a 2xx's JSON body, else the mapped error. `form` keys PascalCase, None left out."""
        wait = self._hold_until - self._clock()
        if wait > 0:
            raise UpstreamLimited(UPSTREAM, 429, f"{LIMITS[20429]}; retry after {wait:.0f}s", retry_after=wait)
        kwargs: dict[str, Any] = {}
        if form is not None:
            kwargs["data"] = {k: v for k, v in form.items() if v not in (None, "", [])}
        response = await http.request(self._client, UPSTREAM, endpoint, method, self._service + path, **kwargs)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            if response.is_success:
                raise UpstreamError(
                    UPSTREAM, response.status_code, f"{endpoint} answered a body that is not JSON"
                ) from None
            data = {}
        if response.is_success:
            if not isinstance(data, dict):
                raise UpstreamError(UPSTREAM, response.status_code, f"{endpoint} answered JSON that is not an object")
            return data
        raise self._error(response, data, endpoint)

    def _error(self, response: httpx.Response, data: Any, endpoint: str) -> UpstreamError:
        """The one place Twilio's errors become UpstreamError."""
        status = response.status_code
        code = data.get("code") if isinstance(data, dict) else None
        body = response.text[:MAX_ERROR_BODY_CHARS]
        if status == 429 or code in LIMITS:
            retry_after = self._retry_after(response.headers.get("Retry-After"))
            if code == 20429 or code not in LIMITS:
                # The account's rate: everyone waits it out here rather than hammering Twilio.
                self._hold_until = max(self._hold_until, self._clock() + retry_after)
                message = f"{LIMITS[20429]}; retry after {retry_after:.0f}s"
            else:
                message = LIMITS[code]
            return UpstreamLimited(UPSTREAM, status, message, body, retry_after=retry_after)
        if status == 401 or code == 20003:
            # Our credentials, not the caller's request: an outage of this upstream (fail closed).
            shown = code if isinstance(code, int) else 20003
            return UpstreamAuthFailed(
                UPSTREAM, 502, f"authentication failed ({shown}): check the verify credentials", body
            )
        if status == 404 or code == 20404:
            return UpstreamError(UPSTREAM, 404, f"{endpoint}: not found, expired or already approved (20404)", body)
        if code == 60200:
            return UpstreamError(UPSTREAM, 400, f"{endpoint}: invalid parameter (60200)", body)
        suffix = f" ({code})" if isinstance(code, int) else ""
        return UpstreamError(UPSTREAM, status, f"{endpoint} answered {status}{suffix}", body)

    def _retry_after(self, header: str | None) -> float:
        try:
            seconds = float(header or "1")
        except ValueError:
            seconds = 1.0
        if not math.isfinite(seconds) or seconds <= 0:  # NaN or nonsense: the smallest honest wait
            seconds = 1.0
        return min(seconds, self._max_retry_after)

    # Phone verification, RequestSms/RequestCall: Verifications + VerificationCheck.

    async def _start(self, phone: PhoneNumber, channel: str, locale: str) -> dict:
        """POST /Verifications To, Channel, Locale (verification.py VerificationList.create)."""
        form = {"To": _e164(phone), "Channel": channel, "Locale": locale or None}
        return await self._send("POST", "/Verifications", "/v2/Services/{sid}/Verifications", form)

    async def start_phone_verification(
        self, phone: PhoneNumber, via: str, locale: str, code_length: int
    ) -> PhoneVerificationStarted:
        if code_length:
            raise InvalidArgument("code_length", "is a setting of the Verify service, not of one verification")
        data = await self._start(phone, via, locale)
        carrier = (data.get("lookup") or {}).get("carrier") or {}
        return PhoneVerificationStarted(
            f"verification {str(data.get('status') or 'pending')} via {str(data.get('channel') or via)}",
            VERIFICATION_SECONDS,
            str(carrier.get("type") or "") == "mobile",
        )

    async def check_phone_verification(self, phone: PhoneNumber, code: str) -> bool:
        """POST /VerificationCheck To, Code (verification_check.py): approved or not (a wrong code: pending)."""
        data = await self._send(
            "POST", "/VerificationCheck", "/v2/Services/{sid}/VerificationCheck", {"To": _e164(phone), "Code": code}
        )
        return data.get("status") == "approved" and data.get("valid") is True

    async def request_token(self, request: TokenRequest) -> TokenSent:
        if request.phone is None:
            raise InvalidArgument("phone", "is required with Twilio Verify (codes go to a phone, not to a user)")
        data = await self._start(request.phone, request.via, "")
        return TokenSent(f"verification {str(data.get('status') or 'pending')}", _masked(request.phone))

    # TOTP and push: factors and challenges of the user's entity.

    async def _factor(self, identity: str, factor_type: str) -> str:
        """The entity's verified factor of this type: GET /Entities/{identity}/Factors as `factors.list()`
        sends it (no PageSize: the first page, 50 factors by default)."""
        data = await self._send(
            "GET", f"/Entities/{identity}/Factors", "/v2/Services/{sid}/Entities/{identity}/Factors"
        )
        for factor in data.get("factors") or ():
            if factor.get("factor_type") == factor_type and factor.get("status") == "verified":
                return str(factor["sid"])
        raise UpstreamError(UPSTREAM, 404, f"the user has no verified {factor_type} factor")

    async def _challenge(self, identity: str, form: dict[str, Any]) -> dict:
        """POST /Entities/{identity}/Challenges (challenge/__init__.py ChallengeList.create)."""
        return await self._send(
            "POST", f"/Entities/{identity}/Challenges", "/v2/Services/{sid}/Entities/{identity}/Challenges", form
        )

    async def verify_token(self, user_id: str, code: str, force: bool, factor_id: str = "") -> bool:
        identity = identity_for(user_id)
        factor = _factor_sid(factor_id) if factor_id else await self._factor(identity, "totp")
        data = await self._challenge(identity, {"FactorSid": factor, "AuthPayload": code})
        return data.get("status") == "approved"

    async def enrol_totp(self, user_id: str, friendly_name: str) -> TotpEnrolment:
        """POST /Entities/{identity}/Factors FriendlyName, FactorType=totp (new_factor.py NewFactorList.create);
        the binding (secret, otpauth URI) is in this answer only."""
        data = await self._send(
            "POST",
            f"/Entities/{identity_for(user_id)}/Factors",
            "/v2/Services/{sid}/Entities/{identity}/Factors",
            {"FriendlyName": friendly_name, "FactorType": "totp"},
        )
        binding = data.get("binding") or {}
        sid, uri, secret = str(data.get("sid") or ""), str(binding.get("uri") or ""), str(binding.get("secret") or "")
        if not SID["factor"].fullmatch(sid) or not uri:
            raise UpstreamError(UPSTREAM, 200, "factor created without a sid or binding")
        return TotpEnrolment(sid, uri, secret)

    async def confirm_totp(self, user_id: str, factor_id: str, code: str) -> bool:
        """POST /Entities/{identity}/Factors/{sid} AuthPayload (factor.py FactorContext.update)."""
        data = await self._send(
            "POST",
            f"/Entities/{identity_for(user_id)}/Factors/{_factor_sid(factor_id)}",
            "/v2/Services/{sid}/Entities/{identity}/Factors/{factor_sid}",
            {"AuthPayload": code},
        )
        return data.get("status") == "verified"

    async def create_approval(self, draft: ApprovalDraft) -> str:
        identity = identity_for(draft.user_id)
        factor = _factor_sid(draft.factor_id) if draft.factor_id else await self._factor(identity, "push")
        expires = None
        if draft.ttl_seconds:
            expires = (datetime.now(UTC) + timedelta(seconds=draft.ttl_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        form = {
            "FactorSid": factor,
            "ExpirationDate": expires,
            "Details.Message": draft.message,
            # serialize.map(details_fields, serialize.object): one JSON object per field, the key repeated.
            "Details.Fields": [json.dumps({"label": k, "value": v}) for k, v in draft.visible.items()],
            "HiddenDetails": json.dumps(draft.hidden) if draft.hidden else None,
        }
        data = await self._challenge(identity, form)
        sid = str(data.get("sid") or "")
        if not SID["challenge"].fullmatch(sid):
            raise UpstreamError(UPSTREAM, 200, "challenge created without a sid")
        return f"{sid}.{identity}"

    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        """GET /Entities/{identity}/Challenges/{sid} (ChallengeContext.fetch)."""
        sid, _, identity = approval_id.partition(".")
        if not SID["challenge"].fullmatch(sid) or not IDENTITY.fullmatch(identity):
            raise InvalidArgument("id", "is not an approval id this sidecar handed out")
        data = await self._send(
            "GET", f"/Entities/{identity}/Challenges/{sid}", "/v2/Services/{sid}/Entities/{identity}/Challenges/{sid}"
        )
        return STATUSES.get(str(data.get("status") or ""), ApprovalStatus.UNSPECIFIED)

    # Authy's reports have no Verify v2 counterpart (phone carrier data is Twilio's separate Lookup API).

    async def register_activity(self, activity: Activity) -> str:
        raise Unsupported("RegisterActivity is Authy's: Twilio Verify v2 has no activity reports")

    async def application_statistics(self) -> ApplicationStatistics:
        raise Unsupported("GetApplicationStatistics is Authy's: Twilio Verify v2 has no application statistics")

    async def phone_information(self, phone: PhoneNumber, ip: str) -> PhoneInformation:
        raise Unsupported("GetPhoneInformation is Authy's: with Twilio Verify use Twilio's Lookup API")

    # Users: entities.

    async def register_user(self, email: str, phone: PhoneNumber) -> str:
        raise NotConfigured("RegisterUser is Authy's: with Twilio Verify a user's entity is created by EnrollTotp")

    async def delete_user(self, user_id: str) -> None:
        """DELETE /Entities/{identity} (EntityContext.delete): its factors and challenges go with it."""
        await self._send("DELETE", f"/Entities/{identity_for(user_id)}", "/v2/Services/{sid}/Entities/{identity}")

    async def user_status(self, user_id: str) -> UserStatus:
        """GET /Entities/{identity}/Factors: registered when it has any factor, confirmed when one is verified."""
        identity = identity_for(user_id)
        try:
            data = await self._send(
                "GET", f"/Entities/{identity}/Factors", "/v2/Services/{sid}/Entities/{identity}/Factors"
            )
        except UpstreamError as exc:
            if exc.status != 404:
                raise
            return UserStatus(user_id)
        factors = [f for f in data.get("factors") or () if isinstance(f, dict)]
        verified = [f for f in factors if f.get("status") == "verified"]
        return UserStatus(
            user_id,
            registered=bool(factors),
            confirmed=bool(verified),
            devices=tuple(f"{f.get('factor_type')} {f.get('sid')}" for f in verified),
        )

    async def health(self) -> UpstreamHealth:
        """GET /v2/Services/{sid} (ServiceContext.fetch): the credentials work and the service exists."""
        try:
            await self._send("GET", "", "/v2/Services/{sid}")
        except UpstreamError as exc:
            return UpstreamHealth(UPSTREAM, False, str(exc))
        return UpstreamHealth(UPSTREAM, True, "ok")

    async def aclose(self) -> None:
        await self._client.aclose()
