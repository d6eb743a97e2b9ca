"""The sidecar's RAuth requests, as the emulator recorded them, pinned to the table in docs/upstreams.md.

RAuth publishes no Node SDK, so there is no vendor script to run; the evidence (the public Go client
for v1, the v2 README) is written down in docs/upstreams.md, and this test reads that table: a real
sidecar process does every platform operation, and each request it sent must have the row's method,
path, auth headers (Bearer api key + X-App-ID, never X-API-Key) and body keys — and no request may
fall outside the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until
from sidecar.emulator.credentials import API_KEY, APP_ID

DOC = Path(__file__).resolve().parents[2] / "docs" / "upstreams.md"
PHONE = "+14155552671"
FAST_SSE = {
    "platform": {"sse": {"heartbeat_timeout_seconds": 3.0, "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.5}}
}


@dataclass(frozen=True)
class Row:
    operation: str
    method: str
    path: str
    auth: str
    body_keys: frozenset[str]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented_rows() -> list[Row]:
    """The RAuth section's operation table: operation | method | path | auth | body | answer | source."""
    section = DOC.read_text().split("\n## RAuth", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert _cells(lines[0])[:5] == ["operation", "method", "path", "auth", "body (JSON keys)"], lines[0]
    rows = []
    for line in lines[2:]:
        operation, method, path, auth, body = _cells(line)[:5]
        keys = frozenset(k.strip().strip("`") for k in body.split(",")) if body != "—" else frozenset()
        rows.append(Row(operation, method, path.strip("`"), auth, keys))
    return rows


def test_the_table_names_the_operations_the_adapter_has():
    rows = {row.operation: row for row in documented_rows()}
    assert set(rows) == {"session status", "approval verify", "health", "event stream"}
    assert all(row.auth == "Bearer + X-App-ID" for row in rows.values())


def _control(emulator, path: str, **body) -> dict:
    reply = emulator.http.post(f"/_control/platform/{path}", json=body)
    reply.raise_for_status()
    return reply.json()


@pytest.fixture
def recorded(sidecar_factory, emulator) -> list[dict]:
    """Every request a real sidecar sent to /v2 while doing each platform operation once."""
    sc = sidecar_factory(FAST_SSE)
    wait_until(lambda: sc.metric("authsidecar_sse_connected") == 1)
    session = _control(emulator, "sessions", phone=PHONE)["session_token"]
    assert sc.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=5).valid
    approval = _control(emulator, "approvals", phone=PHONE, action="pay", session_token=session)["approval_token"]
    assert sc.stub.VerifyApproval(pb.VerifyApprovalRequest(approval_token=approval, phone=PHONE), timeout=5).valid
    health = sc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=5)
    assert [u.healthy for u in health.upstreams if u.name == "platform"] == [True]
    return [r for r in emulator.requests() if r["path"].startswith("/v2/")]


def test_sidecar_requests_are_the_documented_ones(recorded):
    rows = documented_rows()
    for row in rows:
        sent = [r for r in recorded if (r["method"], r["path"]) == (row.method, row.path)]
        assert sent, f"the sidecar never sent {row.operation} ({row.method} {row.path})"
        for request in sent:
            headers = request["headers"]
            # A fingerprint in the log (emulator/redaction.py); the emulator refuses any other key with 401.
            assert headers.get("authorization", "").startswith("Bearer [redacted "), row.operation
            assert API_KEY not in str(request), row.operation
            assert headers.get("x-app-id") == APP_ID, row.operation
            assert "x-api-key" not in headers, row.operation
            if row.body_keys:
                assert headers.get("content-type") == "application/json", row.operation
                assert set(json.loads(request["body"])) == row.body_keys, row.operation
            else:
                assert request["body"] == "", row.operation
    documented = {(row.method, row.path) for row in rows}
    assert {(r["method"], r["path"]) for r in recorded} <= documented


def test_emulator_refuses_bodies_no_client_sends(emulator):
    good = {"Authorization": f"Bearer {API_KEY}", "X-App-ID": APP_ID}
    status, approve = "/v2/backend/session/status", "/v2/approval/verify"
    assert emulator.http.post(status, headers=good, json={"session_token": "nope"}).status_code == 404  # v1's body
    assert emulator.http.post(status, headers=good, json={"session_token": "nope", "phone": PHONE}).status_code == 404
    for path, body in (
        (status, {"session_token": "t", "user_phone": PHONE}),
        (status, {"phone": PHONE}),
        (status, {"session_token": 7}),
        (approve, {"approval_token": "a", "session_token": "t"}),
        (approve, {"phone": PHONE}),
        (status, ["t"]),
    ):
        refused = emulator.http.post(path, headers=good, json=body)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", body
    form = emulator.http.post(status, headers=good, data={"session_token": "t"})
    assert form.status_code == 400
