"""`make run` runs `sidecar run`: the embedded emulator, the sidecar, and a walkthrough of real answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from harness.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_sidecar_run_shows_every_area_working(tmp_path):
    grpc_port, ops_port, emu_port = free_port(), free_port(), free_port()
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "listen": [f"127.0.0.1:{grpc_port}"],
                "ops_listen": f"127.0.0.1:{ops_port}",
                "emulator": {"listen": f"127.0.0.1:{emu_port}"},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if "curl -s" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(20)
    out = "\n".join(lines)
    assert "is SERVING" in out, out

    def answer(label: str) -> str:
        """The printed answer of the walkthrough step whose label is exactly `label`."""
        return next(ln.split("→", 1)[1].strip() for ln in lines if "→" in ln and ln.split("→")[0].strip() == label)

    assert (
        answer("VerifySession, user has not confirmed yet")
        == "valid=False status=PENDING reason=NOT_VERIFIED source=UPSTREAM"
    )
    assert answer("VerifySession after the user confirmed") == "valid=True status=VERIFIED source=UPSTREAM"
    assert answer("VerifySession again") == "valid=True status=VERIFIED source=CACHE"
    assert answer("IsRevoked after the platform revoked it") == "revoked=True reason=REVOKED source=STREAM"
    assert answer("VerifyApproval") == "valid=True source=UPSTREAM"
    assert answer("VerifyApproval replayed").startswith("valid=False reason=ALREADY_USED")
    assert answer("VerifyToken") == "valid=True source=LOCAL"
    assert answer("VerifyToken again") == "valid=True source=CACHE"
    assert answer("VerifyToken needing scope admin") == "valid=False reason=INSUFFICIENT_SCOPE source=LOCAL"
    assert answer("Track withdrawal") == "state=CHALLENGE_REQUIRED"
    assert (
        answer("ValidateChallenge after the user passed it")
        == "is_valid=True state=CHALLENGE_SUCCEEDED source=UPSTREAM"
    )
    assert answer("ValidateChallenge replayed").startswith("is_valid=False reason=ALREADY_USED")
    assert answer("VerifyEmail with the mailed token") == "Email verified"
    assert answer("VerifyEmail replayed").startswith("INVALID_ARGUMENT: identity 400: Invalid or expired verification")
    assert answer("ResetPassword with the mailed token") == "Password has been reset; revoked_tokens=1"
    assert answer("ResetPassword replayed").startswith("INVALID_ARGUMENT: identity 400: Invalid or expired reset token")
    assert answer("ConfirmEmailChange (an identity-service call)").startswith(
        "UNIMPLEMENTED: confirm_email_change is served by identity.api identity-service"
    )
    # The same second-factor RPCs on Twilio Verify v2: a second sidecar with provider: verify.
    assert answer("Verify: CheckPhoneVerification with a wrong code") == "valid=False reason=CHALLENGE_FAILED"
    assert answer("Verify: CheckPhoneVerification") == "valid=True"
    assert answer("Verify: CheckPhoneVerification replayed") == "valid=False reason=ALREADY_USED"
    assert "sidecar call" in out and code == 0
