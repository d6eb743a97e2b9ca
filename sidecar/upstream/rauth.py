"""The RAuth platform over HTTP: every wire field name and status string lives in this module.

Endpoints (below base_url, e.g. https://api.rauth.io/v2; docs/upstreams.md gives each one's evidence):
  POST /backend/session/status  {session_token, phone}  → {status, phone, expires_at, session_id}
                                                          404 when the session is unknown
  POST /approval/verify         {approval_token, phone} → {valid, reason?, action, session_token, phone, expires_at}
  GET  /backend/health                                   → 200 when the platform answers
  GET  /backend/events          SSE (see events.py; event data shapes are parsed here too)
Every request carries `Authorization: Bearer <api_key>` and `X-App-ID: <app_id>`, and POST bodies are
JSON, as RAuth's public Go client sends them (RAuth-IO/rauth-provider-go, v1:
internal/infrastructure/api_client.go: POST {session_token} to …/session/status, GET …/session/health).
The v2 paths and the `phone` field come from the rauth-provider v2 README (seed 000).
Failures become outcomes.UpstreamError in `_send`, the one place they are mapped.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx

from sidecar.core.sessions.records import ApprovalRecord, EventKind, SessionRecord, StreamEvent
from sidecar.core.shared.hashing import token_key
from sidecar.core.shared.outcomes import Reason, SessionStatus, UpstreamError
from sidecar.upstream import transport as http
from sidecar.upstream.guard import bad_answer, reads_answers

UPSTREAM = "platform"
APP_ID_HEADER = "X-App-ID"
SESSION_STATUS_PATH = "/backend/session/status"
APPROVAL_VERIFY_PATH = "/approval/verify"
HEALTH_PATH = "/backend/health"

STATUSES = {
    "pending": SessionStatus.PENDING,
    "verified": SessionStatus.VERIFIED,
    "revoked": SessionStatus.REVOKED,
    "expired": SessionStatus.EXPIRED,
}
APPROVAL_REASONS = {
    "already_used": Reason.ALREADY_USED,
    "expired": Reason.EXPIRED,
    "not_found": Reason.NOT_FOUND,
    "phone_mismatch": Reason.PHONE_MISMATCH,
    "session_not_verified": Reason.NOT_VERIFIED,
    "session_revoked": Reason.REVOKED,
}
EVENT_KINDS = {
    "session.verified": EventKind.SESSION_VERIFIED,
    "session.revoked": EventKind.SESSION_REVOKED,
    "session.expired": EventKind.SESSION_EXPIRED,
    "approval.used": EventKind.APPROVAL_USED,
}
# v1 pushed revocations by webhook as {"event": "session_revoked", "session_token", "phone", "ttl",
# "reason"} (Go port internal/domain/entities.go, delivery/webhook_handler.go). A stream frame named
# that way, or an unnamed frame ("message") whose data says so, means the same. Its other event,
# session_created, says nothing about verification (the Go port ignores it), so it stays OTHER.
V1_EVENT_KINDS = {"session_revoked": EventKind.SESSION_REVOKED}
UNNAMED_EVENT = "message"
# Control events of the stream itself (not session news).
HEARTBEAT_EVENT = "heartbeat"
RESET_EVENT = "stream.reset"


def auth_headers(api_key: str, app_id: str) -> dict[str, str]:
    """Every request's headers: the app's credentials as the Go client sends them (the event stream
    uses them too; its own Accept: text/event-stream replaces the JSON one)."""
    return {"Authorization": f"Bearer {api_key}", APP_ID_HEADER: app_id, "Accept": "application/json"}


@reads_answers(UPSTREAM)  # an answer it cannot read is a bad answer, failed closed
class RauthClient:
    """Implements core.sessions.records.PlatformApi against the RAuth v2 HTTP API."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        app_id: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = http.DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = auth_headers(api_key, app_id)
        self.timeout = timeout
        self._http = http.client(
            self.base_url,
            headers=self.headers,
            timeout=timeout,
            max_response_bytes=max_response_bytes,
            transport=transport,
        )

    async def session_status(self, session_token: str, phone_e164: str) -> SessionRecord:
        resp = await self._send(
            "session_status",
            "POST",
            SESSION_STATUS_PATH,
            {"session_token": session_token, "phone": phone_e164},
            ok_statuses=(404,),
        )
        if resp.status_code == 404:
            return SessionRecord(SessionStatus.NOT_FOUND)
        body = _json(resp)
        return SessionRecord(
            status=STATUSES.get(str(body.get("status", "")).lower(), SessionStatus.UNSPECIFIED),
            phone=str(body.get("phone") or ""),
            expires_at=_expiry(body.get("expires_at")),
            session_id=str(body.get("session_id") or ""),
        )

    async def verify_approval(self, approval_token: str, phone_e164: str) -> ApprovalRecord:
        resp = await self._send(
            "approval_verify",
            "POST",
            APPROVAL_VERIFY_PATH,
            {"approval_token": approval_token, "phone": phone_e164},
            ok_statuses=(404,),
        )
        if resp.status_code == 404:
            return ApprovalRecord(False, Reason.NOT_FOUND)
        body = _json(resp)
        valid = body.get("valid") is True  # anything but a literal true is a no
        reason = Reason.NONE if valid else APPROVAL_REASONS.get(str(body.get("reason", "")), Reason.NOT_VERIFIED)
        return ApprovalRecord(
            valid,
            reason,
            action=str(body.get("action") or ""),
            session_token=str(body.get("session_token") or ""),
            phone=str(body.get("phone") or ""),
            expires_at=_expiry(body.get("expires_at")),
        )

    async def health(self) -> None:
        await self._send("health", "GET", HEALTH_PATH, None)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self, endpoint: str, method: str, path: str, body: dict | None, ok_statuses: tuple[int, ...] = ()
    ) -> httpx.Response:
        """One request; every failure leaves here as UpstreamError (status 0: no answer)."""
        resp = await http.request(self._http, UPSTREAM, endpoint, method, path, json=body)
        if resp.is_success or resp.status_code in ok_statuses:
            return resp
        raise UpstreamError(UPSTREAM, resp.status_code, f"{endpoint} refused", resp.text[:200])


def parse_event(name: str, data: str) -> StreamEvent:
    """A session/approval event's data (JSON) → StreamEvent; the token is hashed at once."""
    try:
        body = json.loads(data) if data else {}
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        body = None
    if not isinstance(body, dict):
        if _event_kind(name) is not EventKind.OTHER:  # session news we can't read (named: unnamed ones may be pings)
            bad_answer(UPSTREAM, "events", "event data is not a JSON object")
        body = {}
    kind = _event_kind(body.get("event") if name == UNNAMED_EVENT else name)
    token = body.get("session_token") or body.get("approval_token") or ""
    try:
        expires_at = _expiry(body.get("expires_at"))
    except ValueError:
        expires_at = None  # the event still counts (a revocation must apply); its expiry is unknown
    return StreamEvent(kind, token_key(str(token)) if token else b"", _text(body.get("session_id") or ""), expires_at)


def _text(value: Any) -> str:
    """A string to keep as a cache key or label: lone surrogates become escapes, never a crash later."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _event_kind(name: Any) -> EventKind:
    if not isinstance(name, str):
        return EventKind.OTHER
    return EVENT_KINDS.get(name) or V1_EVENT_KINDS.get(name, EventKind.OTHER)


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise UpstreamError(UPSTREAM, resp.status_code, "answer is not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamError(UPSTREAM, resp.status_code, "answer is not a JSON object")
    return body


MAX_EXPIRY_CHARS = 64  # an ISO-8601 time is ~32; a longer string is not one (and is not parsed)


def _expiry(value: Any) -> float | None:
    """`expires_at` as epoch seconds: a number (as the emulator and the Go client's shapes have it) or an
    ISO-8601 string (the seed does not fix the format, so both are read; a time without an offset is
    UTC). Anything else is None — unknown — and the caller must not treat unknown as "soon"."""
    if isinstance(value, str):
        if len(value) > MAX_EXPIRY_CHARS:
            return None
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            return when.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
    return _number(value)


def _number(value: Any) -> float | None:
    """A time from an answer; ValueError when it is a number no time can be (NaN, 1e400, 10**400)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past float range
            raise ValueError("a time out of range") from None
        if not math.isfinite(number):
            raise ValueError("a time that is not a finite number")
        return number
    return None
