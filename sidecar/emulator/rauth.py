"""Emulated RAuth v2 platform: sessions, one-time approvals, health and the SSE event stream.

Serves the shapes docs/upstreams.md gives for RAuth, under /v2, built from the evidence there (the
public Go client RAuth-IO/rauth-provider-go for v1, the rauth-provider v2 README for v2) and as
strict as it allows: every request needs `Authorization: Bearer <api key>` and `X-App-ID` (401
otherwise; an X-API-Key header is not a credential), and a POST needs an application/json object
holding only the fields a client sends, the token among them (400 otherwise).
Control endpoints (tests and demos) under /_control/platform:
  POST sessions            {phone, status?=verified, ttl_seconds?=3600} → {session_token, session_id}
  POST sessions/verify|revoke|expire  {session_token}    (each emits its SSE event)
  POST approvals           {phone, action, session_token?, ttl_seconds?=300} → {approval_token}
  POST stream/drop         close every open event stream now
  POST stream/restart      forget the event log (a resume becomes impossible: the client gets `stream.reset`)
  POST stream              {stall?, heartbeat_seconds?, retry_ms?}  (stall: stop heartbeats)
  GET  stream              {connections, last_event_id, stall, heartbeat_seconds}
Stream faults live with the others in faults.py (`POST /_control/faults`): sse_down (503),
sse_answer no_content (204) / wrong_type (200 application/json), and sse_cut_events (the next N
event frames stop halfway through their `data:` line and the connection is dropped, unterminated),
sse_bad_id (the next event's id is non-ASCII or 16 KiB long) and sse_long_line_bytes (the next
connection sends one `data:` line that long, never terminated).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sidecar.emulator.credentials import API_KEY as EMULATOR_API_KEY
from sidecar.emulator.credentials import APP_ID as EMULATOR_APP_ID
from sidecar.emulator.wire import Refused, json_object  # a body no client sends: answered 400 with its text

AREA = "platform"
DROP = None  # queue sentinel: end this connection
CUT = object()  # body sentinel: abandon the response mid-body (the server then drops the connection)
SESSION_STATUSES = {"pending", "verified", "revoked", "expired"}
# The body fields a client sends: v1's Go client {session_token}; v2's README adds phone.
SESSION_STATUS_FIELDS = {"session_token", "phone"}
APPROVAL_VERIFY_FIELDS = {"approval_token", "phone"}


def e164(raw: str, region: str | None = None) -> str | None:
    """The platform's view of a phone: E.164 via phonenumbers, None when it isn't one."""
    if not raw or len(raw) > 64:
        return None
    try:
        number = phonenumbers.parse(raw, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_country_code(number.country_code or 0) == "ZZ":  # 0 is ZZ too
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Session:
    session_id: str
    phone: str
    status: str
    expires_at: float


@dataclass
class Approval:
    phone: str
    action: str
    session_token: str
    expires_at: float
    used: bool = False


@dataclass
class PlatformState:
    sessions: dict[str, Session] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (id, event, data)
    epoch: str = field(default_factory=lambda: secrets.token_hex(3))
    seq: int = 0
    streams: set[asyncio.Queue] = field(default_factory=set)
    stall: bool = False
    heartbeat_seconds: float = 1.0
    retry_ms: int = 200

    def emit(self, event: str, data: dict) -> None:
        self.seq += 1
        entry = (f"{self.epoch}-{self.seq}", event, json.dumps(data))
        self.log.append(entry)
        del self.log[:-10_000]
        for queue in self.streams:
            queue.put_nowait(entry)

    def session_event(self, status: str, token: str, s: Session) -> None:
        self.emit(
            f"session.{status}",
            {
                "session_token": token,
                "session_id": s.session_id,
                "phone": s.phone,
                "status": status,
                "expires_at": s.expires_at,
            },
        )


def _frame(event: str, data: str, event_id: str | None = None, retry: int | None = None) -> str:
    lines = [f"retry: {retry}"] if retry is not None else []
    if event_id:
        lines.append(f"id: {event_id}")
    lines += [f"event: {event}", f"data: {data}"]
    return "\n".join(lines) + "\n\n"


def routes(state) -> list[Route]:
    ps: PlatformState = state.areas.setdefault(AREA, PlatformState())

    def authorised(request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        return secrets.compare_digest(
            bearer.encode(), f"Bearer {EMULATOR_API_KEY}".encode()
        ) and secrets.compare_digest(request.headers.get("x-app-id", "").encode(), EMULATOR_APP_ID.encode())

    def denied() -> JSONResponse:
        return JSONResponse({"error": "invalid api_key or app_id"}, status_code=401)

    def refused(exc: Refused) -> JSONResponse:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=400)

    def current(token: str) -> Session | None:
        s = ps.sessions.get(token)
        if s is not None and s.status in ("pending", "verified") and s.expires_at <= time.time():
            s.status = "expired"
            ps.session_event("expired", token, s)
        return s

    async def session_status(request: Request) -> Response:
        if not authorised(request):
            return denied()
        try:
            body = await _wire_body(request, SESSION_STATUS_FIELDS, "session_token")
        except Refused as exc:
            return refused(exc)
        token = body["session_token"]
        s = current(token)
        if s is None:
            return JSONResponse({"error": "session_not_found"}, status_code=404)
        return JSONResponse(
            {
                "session_token": token,
                "session_id": s.session_id,
                "status": s.status,
                "phone": s.phone,
                "expires_at": s.expires_at,
            }
        )

    async def approval_verify(request: Request) -> Response:
        if not authorised(request):
            return denied()
        try:
            body = await _wire_body(request, APPROVAL_VERIFY_FIELDS, "approval_token")
        except Refused as exc:
            return refused(exc)
        token = body["approval_token"]
        a = ps.approvals.get(token)
        reason = _approval_problem(ps, a, str(body.get("phone") or ""), current)
        if reason:
            return JSONResponse({"valid": False, "reason": reason})
        assert a is not None  # _approval_problem answers "not_found" for none
        if state.faults.one_time_enforced:  # off: a platform that leaves one-time use to the caller
            a.used = True  # one-time on the platform's side too
        ps.emit("approval.used", {"approval_token": token, "session_token": a.session_token})
        return JSONResponse(
            {
                "valid": True,
                "action": a.action,
                "session_token": a.session_token,
                "phone": a.phone,
                "expires_at": a.expires_at,
            }
        )

    async def health(request: Request) -> Response:
        if not authorised(request):
            return denied()
        return JSONResponse({"status": "ok"})

    async def events(request: Request) -> Response:
        if not authorised(request):
            return denied()
        if state.faults.sse_down:
            return Response("event stream down", status_code=503)
        if state.faults.sse_answer == "no_content":
            return Response(status_code=204)
        if state.faults.sse_answer == "wrong_type":
            return JSONResponse({"events": [], "note": "not an event stream"})
        return _CuttableStream(
            _stream(ps, request.headers.get("last-event-id"), state.faults),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    return [
        Route("/v2/backend/session/status", session_status, methods=["POST"]),
        Route("/v2/approval/verify", approval_verify, methods=["POST"]),
        Route("/v2/backend/health", health, methods=["GET"]),
        Route("/v2/backend/events", events, methods=["GET"]),
        *_control_routes(ps),
    ]


class _CuttableStream(StreamingResponse):
    """A streaming response that can end without its last chunk: the connection breaks mid-body."""

    async def stream_response(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            if chunk is CUT:
                return  # no final empty chunk: uvicorn closes the connection, the client sees it cut
            data = chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


LONG_LINE_CHUNK = 65_536


def _half_frame(frame: str) -> str:
    """The frame up to the middle of its `data:` line (no line end, so no client can dispatch it)."""
    start = frame.index("data: ") + len("data: ")
    end = frame.index("\n", start)
    return frame[: start + (end - start) // 2]


async def _stream(ps: PlatformState, last_id: str | None, faults):
    queue: asyncio.Queue = asyncio.Queue()
    ps.streams.add(queue)  # registered before the backlog is read: no event falls between the two
    try:
        backlog = _backlog(ps, last_id)
        if backlog is None:
            yield _frame("stream.reset", "{}", retry=ps.retry_ms)
            backlog = list(ps.log)
        position = f"{ps.epoch}-{ps.seq}"
        for event_id, event, data in backlog:
            if faults.take_sse_cut():
                yield _half_frame(_frame(event, data, event_id))
                yield CUT
                return
            yield _frame(event, data, event_id)
        # The first heartbeat says "caught up" and carries the resume position even when no
        # event has happened yet, so a later reconnect can resume from here.
        yield _frame("heartbeat", "{}", position, retry=ps.retry_ms)
        long_line = faults.take_sse_long_line()
        if long_line:
            yield "data: "
            for _ in range(0, long_line, LONG_LINE_CHUNK):
                yield "x" * LONG_LINE_CHUNK  # never a line end: the client must give up on its own
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), ps.heartbeat_seconds)
            except TimeoutError:
                if not ps.stall:
                    yield _frame("heartbeat", "{}")
                continue
            if entry is DROP:
                return
            if faults.take_sse_cut():
                yield _half_frame(_frame(entry[1], entry[2], entry[0]))
                yield CUT
                return
            yield _frame(entry[1], entry[2], faults.take_sse_bad_id(entry[0]))
    finally:
        ps.streams.discard(queue)


def _backlog(ps: PlatformState, last_id: str | None) -> list | None:
    """Events after last_id; [] for a fresh connection; None when last_id can't be resumed from."""
    if last_id is None:
        return []
    epoch, _, seq = last_id.partition("-")
    if epoch != ps.epoch or not seq.isdigit() or int(seq) > ps.seq:
        return None
    oldest = ps.seq - len(ps.log)  # the log keeps the newest events only
    if int(seq) < oldest:
        return None
    return ps.log[len(ps.log) - (ps.seq - int(seq)) :] if ps.seq > int(seq) else []


def _approval_problem(ps: PlatformState, a: Approval | None, phone: str, current) -> str:
    if a is None:
        return "not_found"
    if a.used:
        return "already_used"
    if a.expires_at <= time.time():
        return "expired"
    if e164(phone) != a.phone:
        return "phone_mismatch"
    if a.session_token:
        s = current(a.session_token)
        if s is not None and s.status == "revoked":
            return "session_revoked"
        if s is None or s.status != "verified":
            return "session_not_verified"
    return ""


def _control_routes(ps: PlatformState) -> list[Route]:
    async def create_session(request: Request) -> Response:
        body = await _body(request)
        phone = e164(str(body.get("phone") or ""), body.get("region"))
        if phone is None:
            return JSONResponse({"error": "phone is not a phone number"}, status_code=400)
        status = str(body.get("status", "verified"))
        if status not in SESSION_STATUSES:
            return JSONResponse({"error": f"status must be one of {sorted(SESSION_STATUSES)}"}, status_code=400)
        count = int(body.get("count", 1))  # benchmarks create many at once
        if not 1 <= count <= 200_000:
            return JSONResponse({"error": "count must be between 1 and 200000"}, status_code=400)
        tokens = []
        for _ in range(count):
            token = "sess_" + secrets.token_urlsafe(18)
            s = Session(
                "sid_" + secrets.token_hex(8), phone, status, time.time() + float(body.get("ttl_seconds", 3600))
            )
            ps.sessions[token] = s
            tokens.append(token)
        if "count" in body:
            return JSONResponse({"session_tokens": tokens, "phone": phone})
        return JSONResponse({"session_token": token, "session_id": s.session_id, "phone": phone})

    def change(status: str):
        async def handler(request: Request) -> Response:
            token = str((await _body(request)).get("session_token") or "")
            s = ps.sessions.get(token)
            if s is None:
                return JSONResponse({"error": "session_not_found"}, status_code=404)
            s.status = status
            if status == "expired":
                s.expires_at = min(s.expires_at, time.time())
            ps.session_event(status, token, s)
            return JSONResponse({"status": status})

        return handler

    async def create_approval(request: Request) -> Response:
        body = await _body(request)
        phone = e164(str(body.get("phone") or ""), body.get("region"))
        if phone is None:
            return JSONResponse({"error": "phone is not a phone number"}, status_code=400)
        token = "appr_" + secrets.token_urlsafe(18)
        ps.approvals[token] = Approval(
            phone,
            str(body.get("action", "")),
            str(body.get("session_token") or ""),
            time.time() + float(body.get("ttl_seconds", 300)),
        )
        return JSONResponse({"approval_token": token})

    async def drop(request: Request) -> Response:
        for queue in list(ps.streams):
            queue.put_nowait(DROP)
        return JSONResponse({"dropped": len(ps.streams)})

    async def restart(request: Request) -> Response:
        ps.log.clear()
        ps.epoch = secrets.token_hex(3)
        return JSONResponse({"epoch": ps.epoch})

    async def set_stream(request: Request) -> Response:
        body = await _body(request)
        ps.stall = bool(body.get("stall", ps.stall))
        ps.heartbeat_seconds = float(body.get("heartbeat_seconds", ps.heartbeat_seconds))
        ps.retry_ms = int(body.get("retry_ms", ps.retry_ms))
        return await get_stream(request)

    async def get_stream(request: Request) -> Response:
        return JSONResponse(
            {
                "connections": len(ps.streams),
                "last_event_id": ps.log[-1][0] if ps.log else None,
                "stall": ps.stall,
                "heartbeat_seconds": ps.heartbeat_seconds,
                "retry_ms": ps.retry_ms,
            }
        )

    base = "/_control/platform"
    return [
        Route(f"{base}/sessions", create_session, methods=["POST"]),
        *[
            Route(f"{base}/sessions/{verb}", change(status), methods=["POST"])
            for verb, status in (("verify", "verified"), ("revoke", "revoked"), ("expire", "expired"))
        ],
        Route(f"{base}/approvals", create_approval, methods=["POST"]),
        Route(f"{base}/stream/drop", drop, methods=["POST"]),
        Route(f"{base}/stream/restart", restart, methods=["POST"]),
        Route(f"{base}/stream", set_stream, methods=["POST"]),
        Route(f"{base}/stream", get_stream, methods=["GET"]),
    ]


async def _wire_body(request: Request, allowed: set[str], token_field: str) -> dict:
    """A vendor-API POST body as a client sends it: JSON, an object, known fields, a token string."""
    body = await json_object(request, allowed)
    if not isinstance(body.get(token_field), str) or not body[token_field]:
        raise Refused(f"{token_field} is required")
    if not isinstance(body.get("phone", ""), str):
        raise Refused("phone must be a string")
    return body


async def _body(request: Request) -> dict:
    """Lenient body reader for the control routes (tests and demos, not the vendor wire)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
