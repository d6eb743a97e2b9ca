"""Rows 5 and 6 of issue 24: the emulator can't reach production by accident.

Real `sidecar serve` processes and the test session's emulator process: an emulator on a non-loopback
address is refused at load, `serve` never embeds one unless `emulator.mode: on`, an upstream that has a
URL or a secret is never redirected to it, and its request log never shows a credential.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import uuid

import grpc
import pytest
import yaml

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import free_port

LIVE_SECRET = "sk_live_" + "9" * 8 + uuid.uuid4().hex  # what a real Authsignal secret looks like
PHONE = "+14155552671"


def _nothing_listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("listen", ["0.0.0.0:18900", "[::]:18900", "10.1.2.3:18900", "emulator.internal:18900"])
def test_row5_non_loopback_emulator_listen_is_refused(tmp_path, listen):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"emulator": {"mode": "on", "listen": listen}}))
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "emulator.listen: must be a loopback host:port" in proc.stderr
    assert _nothing_listens(18900)


def test_row6_serve_with_empty_platform_does_not_embed_the_emulator(sidecar_factory, emulator):
    """A JWT + Authsignal deployment without RAuth (`mode: auto`, the default, and platform unset)."""
    emulator_port = free_port()
    sc = sidecar_factory(
        {
            "emulator": {"mode": "auto", "listen": f"127.0.0.1:{emulator_port}"},
            "platform": {"base_url": "", "api_key": "", "app_id": ""},
            "challenges": {"secret_key": LIVE_SECRET},  # its base_url: the test's emulator (a stand-in vendor)
        }
    )
    assert _nothing_listens(emulator_port)  # no emulator embedded
    # The session RPCs fail closed: nothing forged anywhere can make a session valid.
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]
    answer = sc.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=10)
    assert not answer.valid and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE, answer
    revoked = sc.stub.IsRevoked(pb.IsRevokedRequest(session_token=session, phone=PHONE), timeout=10)
    assert revoked.revoked
    assert "platform.base_url is empty" in sc.log_path.read_text()
    # The configured challenge platform got the request (not a redirected one), and its log hides the secret.
    with pytest.raises(grpc.RpcError):  # the stand-in does not know this secret: 401
        sc.stub.Track(pb.TrackRequest(user_id="usr_row6", action="withdraw"), timeout=10)
    sent = [r for r in emulator.requests() if r["path"].startswith("/v1/")]
    assert sent, "the configured challenges.base_url was not used"
    assert sent[-1]["headers"]["authorization"].startswith("Basic [redacted ")
    logged = json.dumps(emulator.requests())
    assert LIVE_SECRET not in logged
    assert base64.b64encode(f"{LIVE_SECRET}:".encode()).decode() not in logged


def test_row6_request_log_redacts_credentials(emulator):
    """Every credential an upstream request can carry — headers, query, JSON and form fields."""
    secret = "s3cr3t-" + uuid.uuid4().hex
    emulator.http.post(
        "/v2/approval/verify",
        params={"api_key": secret, "page": "2"},
        headers={
            "Authorization": f"Bearer {secret}",
            "X-API-Key": secret,
            "X-App-ID": "app-1",
            "X-Publishable-Key": secret,
            "Cookie": f"sid={secret}",
        },
        json={"approval_token": secret, "phone": PHONE, "nested": {"password": secret}},
    )
    emulator.http.post("/inai/api/v1/auth/login", data={"email": "a@example.com", "password": secret})
    logged = emulator.requests()
    assert secret not in json.dumps(logged)
    approval = next(r for r in logged if r["path"] == "/v2/approval/verify")
    assert approval["headers"]["authorization"].startswith("Bearer [redacted ")
    assert approval["headers"]["x-app-id"] == "app-1"  # not a credential: kept for the contract tests
    assert json.loads(approval["body"])["phone"] == PHONE and "page=2" in approval["query"]
