"""The RAuth v2 adapter and the SSE reader, over httpx.MockTransport (no sockets)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest
from httpx_sse import SSEError

from sidecar.config import SseSettings
from sidecar.core.sessions.records import EventKind
from sidecar.core.shared.hashing import token_key
from sidecar.core.shared.outcomes import Reason, SessionStatus, UpstreamError
from sidecar.emulator.rauth import PlatformState, _backlog
from sidecar.upstream.rauth import RauthClient, _expiry, parse_event
from sidecar.upstream.rauth_events import EventStream, StreamRefused, disconnect_cause


def client(handler) -> RauthClient:
    return RauthClient("https://api.example/v2", "key-1", "app-1", 1.0, transport=httpx.MockTransport(handler))


async def test_session_status_wire_shape_and_credentials():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "session_token": "t",
                "session_id": "s1",
                "status": "verified",
                "phone": "+14155552671",
                "expires_at": 1800000000,
            },
        )

    record = await client(handler).session_status("t", "+14155552671")
    assert record.status is SessionStatus.VERIFIED and record.phone == "+14155552671"
    assert record.expires_at == 1800000000.0 and record.session_id == "s1"
    (req,) = seen
    assert req.url.path == "/v2/backend/session/status"
    assert req.headers["authorization"] == "Bearer key-1" and req.headers["x-app-id"] == "app-1"
    assert "x-api-key" not in req.headers and req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {"session_token": "t", "phone": "+14155552671"}


async def test_unknown_session_and_odd_status():
    assert (await client(lambda r: httpx.Response(404)).session_status("t", "")).status is SessionStatus.NOT_FOUND
    odd = await client(lambda r: httpx.Response(200, json={"status": "weird"})).session_status("t", "")
    assert odd.status is SessionStatus.UNSPECIFIED


@pytest.mark.parametrize(
    "response,status,unavailable",
    [
        (httpx.Response(503), 503, True),
        (httpx.Response(429), 429, True),
        (httpx.Response(401), 401, False),
        (httpx.Response(200, text="<html>"), 502, True),  # a bad answer: fails closed like an outage (guard.py)
        (httpx.Response(200, json=[1, 2]), 502, True),
    ],
)
async def test_failures_become_upstream_errors(response, status, unavailable):
    with pytest.raises(UpstreamError) as err:
        await client(lambda r: response).session_status("t", "")
    assert err.value.status == status and err.value.unavailable is unavailable


async def test_timeouts_and_transport_errors_have_status_zero():
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    for handler in (slow, refused):
        with pytest.raises(UpstreamError) as err:
            await client(handler).health()
        assert err.value.status == 0 and err.value.unavailable


async def test_approval_wire_shape():
    ok = await client(
        lambda r: httpx.Response(
            200, json={"valid": True, "action": "transfer", "session_token": "s", "phone": "+1", "expires_at": 5}
        )
    ).verify_approval("a", "+1")
    assert ok.valid and ok.action == "transfer" and ok.session_token == "s" and ok.expires_at == 5.0
    used = await client(lambda r: httpx.Response(200, json={"valid": False, "reason": "already_used"})).verify_approval(
        "a", ""
    )
    assert not used.valid and used.reason is Reason.ALREADY_USED
    # Only a literal true is a yes.
    sloppy = await client(lambda r: httpx.Response(200, json={"valid": "true"})).verify_approval("a", "")
    assert not sloppy.valid and sloppy.reason is Reason.NOT_VERIFIED


def test_parse_event_hashes_the_token():
    e = parse_event("session.revoked", json.dumps({"session_token": "secret", "session_id": "s1"}))
    assert e.kind is EventKind.SESSION_REVOKED and e.token_hash == token_key("secret") and e.session_id == "s1"
    assert parse_event("something.new", "not json").kind is EventKind.OTHER


def test_parse_event_understands_the_v1_revocation_vocabulary():
    # v1 webhooks (Go port internal/domain/entities.go): {"event": "session_revoked", "session_token", ...}
    v1 = json.dumps({"event": "session_revoked", "session_token": "secret", "phone": "+1", "ttl": 60})
    assert parse_event("session_revoked", v1).kind is EventKind.SESSION_REVOKED
    unnamed = parse_event("message", v1)
    assert unnamed.kind is EventKind.SESSION_REVOKED and unnamed.token_hash == token_key("secret")
    assert (
        parse_event("message", json.dumps({"event": "session_created", "session_token": "t"})).kind is EventKind.OTHER
    )  # says nothing about verification
    assert parse_event("message", json.dumps({"event": ["session_revoked"]})).kind is EventKind.OTHER


class Listener:
    def __init__(self) -> None:
        self.calls: list = []

    def stream_opened(self, resume_requested: bool) -> None:
        self.calls.append(("opened", resume_requested))

    def stream_reset(self) -> None:
        self.calls.append(("reset",))

    def stream_heartbeat(self) -> None:
        self.calls.append(("heartbeat",))

    def stream_closed(self) -> None:
        self.calls.append(("closed",))

    def apply(self, event) -> None:
        self.calls.append((event.kind.value,))


def stream_for(listener, sse=None) -> EventStream:
    fake_client = SimpleNamespace(base_url="https://api.example/v2", headers={"Authorization": "Bearer k"}, timeout=1.0)
    return EventStream(fake_client, sse or SseSettings(reconnect_min_seconds=0.1, reconnect_max_seconds=5.0), listener)


SSE_BODY = (
    "retry: 700\nid: e-3\nevent: heartbeat\ndata: {}\n\n"
    'id: e-4\nevent: session.revoked\ndata: {"session_token": "t"}\n\n'
    "event: stream.reset\ndata: {}\n\n"
)


async def test_stream_reads_events_resumes_and_honours_retry():
    listener, requests = Listener(), []

    def handler(request):
        requests.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=SSE_BODY)

    es = stream_for(listener)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        assert await es._connect_once(http)
        await es._connect_once(http)
    assert listener.calls[:4] == [("opened", False), ("heartbeat",), ("session_revoked",), ("reset",)]
    assert listener.calls[4] == ("opened", True)
    assert "last-event-id" not in requests[0].headers and requests[1].headers["last-event-id"] == "e-4"
    assert es.retry_seconds == 0.7


async def test_stream_refused_is_an_error():
    es = stream_for(Listener())
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503))) as http:
        with pytest.raises(StreamRefused):
            await es._connect_once(http)


def test_backoff_grows_is_capped_and_jittered():
    es = stream_for(Listener())
    for failures, ceiling in ((0, 0.1), (1, 0.2), (3, 0.8), (30, 5.0)):
        for _ in range(20):
            assert ceiling / 2 <= es._backoff(failures) <= ceiling
    es.retry_seconds = 1.0
    assert 0.5 <= es._backoff(0) <= 1.0


def test_emulator_backlog_resumes_only_known_positions():
    ps = PlatformState()
    assert _backlog(ps, None) == []
    start = f"{ps.epoch}-0"
    ps.emit("session.revoked", {"session_token": "a"})
    ps.emit("session.revoked", {"session_token": "b"})
    assert [e[0] for e in _backlog(ps, start)] == [f"{ps.epoch}-1", f"{ps.epoch}-2"]
    assert _backlog(ps, f"{ps.epoch}-2") == []
    assert _backlog(ps, "other-1") is None and _backlog(ps, f"{ps.epoch}-9") is None


async def test_a_silent_stream_is_declared_dead_by_the_heartbeat_timeout():
    async def stalled():
        yield b"event: heartbeat\ndata: {}\n\n"
        await asyncio.Event().wait()  # the platform goes quiet without closing the connection

    es = stream_for(Listener(), SseSettings(heartbeat_timeout_seconds=0.05))

    def handler(r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stalled())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(TimeoutError):
            await es._connect_once(http)
    assert es.listener.calls == [("opened", False), ("heartbeat",)]


@pytest.mark.parametrize(
    "response, cause",
    [
        (lambda: httpx.Response(204), "refused"),
        (lambda: httpx.Response(200, json={"events": []}), "content_type"),
        (
            lambda: httpx.Response(200, headers={"content-type": "text/plain"}, text="event: heartbeat\ndata: {}\n\n"),
            "content_type",
        ),
    ],
)
async def test_no_content_or_a_wrong_content_type_is_no_stream(response, cause):
    """Neither is ever reported to the listener as an open stream (which could make it trusted)."""
    listener = Listener()
    es = stream_for(listener)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: response())) as http:
        with pytest.raises(StreamRefused) as refused:
            await es._connect_once(http)
    assert disconnect_cause(refused.value) == cause
    assert listener.calls == []


async def test_an_event_cut_mid_line_is_not_applied_and_its_id_not_kept():
    """A connection that breaks halfway through an event's data line: the event is dropped whole, and
    the resume position stays before it (so the platform replays it on the next connection)."""

    async def cut():
        yield b"id: e-1\nevent: heartbeat\ndata: {}\n\n"
        yield b'id: e-2\nevent: session.revoked\ndata: {"session_tok'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    listener = Listener()
    es = stream_for(listener)

    def handler(r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=cut())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(httpx.RemoteProtocolError) as broken:
            await es._connect_once(http)
    assert disconnect_cause(broken.value) == "cut"
    assert listener.calls == [("opened", False), ("heartbeat",)]
    assert es.last_event_id == "e-1"


def test_disconnect_causes_are_bounded_labels():
    req = httpx.Request("GET", "http://x")
    assert disconnect_cause(httpx.ConnectError("refused", request=req)) == "unreachable"
    assert disconnect_cause(httpx.ReadTimeout("slow", request=req)) == "silent"
    assert disconnect_cause(TimeoutError()) == "silent"
    assert disconnect_cause(SSEError("bad type")) == "content_type"
    assert disconnect_cause(httpx.ReadError("reset", request=req)) == "cut"
    assert disconnect_cause(RuntimeError("bug")) == "internal"


def test_row4_expires_at_is_read_as_epoch_seconds_or_iso_8601():
    assert _expiry(1_800_000_000) == 1_800_000_000.0
    assert _expiry("2027-01-15T08:00:00Z") == 1_800_000_000.0
    assert _expiry("2027-01-15T10:00:00+02:00") == 1_800_000_000.0
    assert _expiry("2027-01-15T08:00:00") == 1_800_000_000.0  # no offset: UTC
    for unreadable in ("next tuesday", "", "1800000000", "9" * 100, None, True, [], {}):
        assert _expiry(unreadable) is None, unreadable  # unknown: the ledger holds the claim longest
