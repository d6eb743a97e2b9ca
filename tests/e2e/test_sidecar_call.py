"""`sidecar call` (authsidecar_client.cli, in the client distribution) and `sidecar health` (the
server's) as an operator runs them, against a live sidecar: answers as JSON, errors with their code and
the UpstreamErrorDetail read from the rich status without grpcio-status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SIDECAR = str(Path(sys.executable).parent / "sidecar")
pytestmark = pytest.mark.xdist_group("sidecar_call")


def sidecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIDECAR, *args], capture_output=True, text=True, timeout=60)


def test_sidecar_call_and_health(shared_sidecar, emulator):
    target = shared_sidecar.target
    done = sidecar("call", "VerifyToken", "token=not.a.jwt", "required_scopes=a,b", "--target", target)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reason"] == "REASON_MALFORMED"

    done = sidecar("call", "VerifyToken", "token=", "--target", target)
    assert done.returncode == 1
    error = json.loads(done.stderr)
    assert error["code"] == "INVALID_ARGUMENT" and error["details"].startswith("token:")

    # the identity service refuses a made-up access token: its status travels as UpstreamErrorDetail
    done = sidecar("call", "GetMe", "--json", '{"access_token": "not-a-token"}', "--target", target)
    assert done.returncode == 1
    error = json.loads(done.stderr)
    assert error["upstream_error"]["http_status"] == 401 and error["upstream_error"]["upstream"], error

    done = sidecar("health", "--target", target)
    assert done.returncode == 0 and done.stdout.strip() == "SERVING"
