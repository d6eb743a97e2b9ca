"""Adapter for the step-up challenge platform (the Authsignal Server API wire shapes), httpx async.

Sends what the published @authsignal/node 2.21.0 sends (its dist/index.js and dist/types.d.ts; the
contract test tests/contract/test_authsignal.py sets the two requests side by side):
  POST {base}/validate                                      {token, userId?, action?}
       → {isValid, state, stateUpdatedAt, userId, actionCode, idempotencyKey, verificationMethod, error?}
  POST {base}/users/{userId}/actions/{action}               {redirectUrl, idempotencyKey, email, …, custom}
       → {state, idempotencyKey, url, token, isEnrolled, enrolled/allowed/defaultVerificationMethod(s), ruleIds}
  GET  {base}/users/{userId}/actions/{action}/{idempotencyKey}
       → {state, stateUpdatedAt, createdAt, verificationMethod, rules: [{ruleId, …}]}
  GET  {base}/users/{userId}  → {isEnrolled, email, phoneNumber, username, displayName, …VerificationMethods}
  POST {base}/users/{userId}/authenticators  {verificationMethod, phoneNumber?, email?, isDefault?}
       → {authenticator: {userAuthenticatorId, verificationMethod, …}, recoveryCodes?}
Auth is HTTP Basic with the secret key as the user name and an empty password, and every request
carries X-Authsignal-Version (the SDK's own constant). POST bodies are JSON objects; the SDK sends
`{}` for a track without attributes, and so do we. Errors carry {error, errorDescription} (the SDK's
AuthsignalError reads the same two fields). See docs/upstreams.md.

Every failure becomes an UpstreamError in `_send` (the one place): a 4xx keeps its status, and no
answer / 5xx becomes "unavailable" (status 0 or the 5xx) so callers fail closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from sidecar.config import CHALLENGE_REGIONS, ChallengeSettings
from sidecar.core.challenges.records import (
    ActionRecord,
    EnrolledAuthenticator,
    EnrollInput,
    TrackInput,
    TrackResult,
    UserRecord,
    ValidationRecord,
)
from sidecar.core.shared.outcomes import ActionState, UpstreamError
from sidecar.observability import logs
from sidecar.upstream import transport as http
from sidecar.upstream.guard import reads_answers

log = logs.get("upstream.authsignal")

UPSTREAM = "challenges"
MAX_ERROR_BODY_CHARS = 512
PROBE_USER_ID = "authsidecar-health-probe"
# @authsignal/node 2.21.0 sends its VERSION constant, which that release left at "2.20.0".
VERSION_HEADER = "X-Authsignal-Version"
SDK_WIRE_VERSION = "2.20.0"

# The platform also has REVIEW_REQUIRED / REVIEW_SUCCEEDED / REVIEW_FAILED; our contract has one REVIEW.
_STATES = {s.value: s for s in ActionState} | {
    "REVIEW_REQUIRED": ActionState.REVIEW,
    "REVIEW_SUCCEEDED": ActionState.REVIEW,
    "REVIEW_FAILED": ActionState.REVIEW,
}


def base_url_for(settings: ChallengeSettings) -> str:
    """An explicit base_url wins; otherwise the documented URL of the configured region."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return CHALLENGE_REGIONS[settings.region]


def _segment(value: str) -> str:
    # User ids and action codes go into the path: encode everything, so "a/../b" stays one segment.
    return quote(value, safe="")


def _state(raw: Any) -> ActionState:
    return _STATES.get(raw, ActionState.UNSPECIFIED) if isinstance(raw, str) else ActionState.UNSPECIFIED


def _text(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


def _strings(raw: Any) -> tuple[str, ...]:
    return tuple(x for x in raw if isinstance(x, str)) if isinstance(raw, list) else ()


def _time(raw: Any) -> float | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        return None


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None, {}, False)}


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class AuthsignalClient:
    """The challenge platform over HTTP; implements core.challenges.records.ChallengeUpstream."""

    def __init__(self, settings: ChallengeSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url_for(settings)
        self._client = http.client(
            self.base_url + "/",
            auth=httpx.BasicAuth(settings.secret_key, ""),
            timeout=settings.timeout_seconds,
            max_response_bytes=settings.max_response_bytes,
            transport=transport,
            headers={"User-Agent": "authsidecar", "Accept": "application/json", VERSION_HEADER: SDK_WIRE_VERSION},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def validate(self, token: str, user_id: str | None, action: str | None) -> ValidationRecord:
        body = _drop_empty({"token": token, "userId": user_id, "action": action})
        data = await self._send("validate", "POST", "validate", json=body)
        error = _text(data.get("error"))
        return ValidationRecord(
            is_valid=data.get("isValid") is True,
            state=_state(data.get("state")),
            user_id=_text(data.get("userId")),
            action=_text(data.get("actionCode") or data.get("action")),
            idempotency_key=_text(data.get("idempotencyKey")),
            verification_method=_text(data.get("verificationMethod")),
            error=error,
            # Vendor quirk: a consumed token is a 200 with isValid false and this error text.
            already_used="already been used" in error.lower(),
        )

    async def track(self, request: TrackInput) -> TrackResult:
        body = _drop_empty(
            {
                "redirectUrl": request.redirect_url,
                "idempotencyKey": request.idempotency_key,
                "email": request.email,
                "phoneNumber": request.phone_number,
                "ipAddress": request.ip_address,
                "userAgent": request.user_agent,
                "deviceId": request.device_id,
                "username": request.username,
                "custom": request.custom,
                "redirectToSettings": request.redirect_to_settings,
            }
        )
        path = f"users/{_segment(request.user_id)}/actions/{_segment(request.action)}"
        data = await self._send("track", "POST", path, json=body)
        return TrackResult(
            state=_state(data.get("state")),
            idempotency_key=_text(data.get("idempotencyKey")),
            url=_text(data.get("url")),
            token=_text(data.get("token")),
            is_enrolled=data.get("isEnrolled") is True,
            enrolled_verification_methods=_strings(data.get("enrolledVerificationMethods")),
            allowed_verification_methods=_strings(data.get("allowedVerificationMethods")),
            default_verification_method=_text(data.get("defaultVerificationMethod")),
            rule_ids=_strings(data.get("ruleIds")),
        )

    async def get_action(self, user_id: str, action: str, idempotency_key: str) -> ActionRecord:
        path = f"users/{_segment(user_id)}/actions/{_segment(action)}/{_segment(idempotency_key)}"
        data = await self._send("get_action", "GET", path)
        rules = found if isinstance(found := data.get("rules"), list) else []
        return ActionRecord(
            state=_state(data.get("state")),
            state_updated_at=_time(data.get("stateUpdatedAt")),
            created_at=_time(data.get("createdAt")),
            verification_method=_text(data.get("verificationMethod")),
            rule_ids=tuple(_text(r.get("ruleId")) for r in rules if isinstance(r, dict) and r.get("ruleId")),
        )

    async def get_user(self, user_id: str) -> UserRecord:
        data = await self._send("get_user", "GET", f"users/{_segment(user_id)}")
        return UserRecord(
            is_enrolled=data.get("isEnrolled") is True,
            email=_text(data.get("email")),
            phone_number=_text(data.get("phoneNumber")),
            username=_text(data.get("username")),
            display_name=_text(data.get("displayName")),
            enrolled_verification_methods=_strings(data.get("enrolledVerificationMethods")),
            allowed_verification_methods=_strings(data.get("allowedVerificationMethods")),
            default_verification_method=_text(data.get("defaultVerificationMethod")),
        )

    async def enroll_verified_authenticator(self, request: EnrollInput) -> EnrolledAuthenticator:
        body = _drop_empty(
            {
                "verificationMethod": request.verification_method,
                "phoneNumber": request.phone_number,
                "email": request.email,
                "isDefault": request.is_default,
            }
        )
        path = f"users/{_segment(request.user_id)}/authenticators"
        data = await self._send("enroll_authenticator", "POST", path, json=body)
        auth = found if isinstance(found := data.get("authenticator"), dict) else {}
        return EnrolledAuthenticator(
            user_authenticator_id=_text(auth.get("userAuthenticatorId")),
            verification_method=_text(auth.get("verificationMethod")),
            recovery_codes=_strings(data.get("recoveryCodes")),
        )

    async def probe(self) -> tuple[bool, str]:
        """Does the platform answer, and accept our key? The API has no health route, so read a user
        that needn't exist: any non-5xx reply counts, except 401/403 (every real call would fail too)."""
        try:
            await self._send("probe", "GET", f"users/{PROBE_USER_ID}")
        except UpstreamError as exc:
            if exc.unavailable or exc.status in (401, 403):
                return False, f"{self.base_url}: {exc}"
            return True, f"{self.base_url}: answers (HTTP {exc.status})"
        return True, f"{self.base_url}: answers"

    async def _send(self, endpoint: str, method: str, path: str, json: dict | None = None) -> dict[str, Any]:
        """One request; every failure leaves here as an UpstreamError (the one mapping point)."""
        response = await http.request(self._client, UPSTREAM, endpoint, method, path, json=json)
        if response.status_code >= 400:
            raise _error_of(endpoint, response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if endpoint == "probe":
                return {}
            status = response.status_code if response.is_success else 502  # 2xx: a bad answer (upstream/guard.py)
            raise UpstreamError(UPSTREAM, status, f"{endpoint} answered {response.status_code} without a JSON object")
        return data


def _error_of(endpoint: str, response: httpx.Response) -> UpstreamError:
    """The platform's {error, errorDescription}, like the SDK's AuthsignalError(status, code, description)."""
    body = response.text[:MAX_ERROR_BODY_CHARS]
    try:
        data = response.json()
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    description = _text(data.get("errorDescription")) or _text(data.get("error")) or response.reason_phrase
    log.warning("challenge platform error", extra={"endpoint": endpoint, "status": response.status_code})
    return UpstreamError(UPSTREAM, response.status_code, f"{endpoint}: {description}", body)
