"""`make run` runs `sidecar run`: the embedded emulator, the sidecar, and a walkthrough of real answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from sidecar.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_sidecar_run_shows_every_area_working(tmp_path):
    grpc_port, ops_port, emu_port = free_port(), free_port(), free_port()
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"listen": [f"127.0.0.1:{grpc_port}"], "ops_listen": f"127.0.0.1:{ops_port}",
                                      "emulator": {"listen": f"127.0.0.1:{emu_port}"}}))
    proc = subprocess.Popen([sys.executable, "-m", "sidecar", "run", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
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
        return next(l for l in lines if label in l).split("→", 1)[1]

    assert "valid=False" in answer("user has not confirmed yet") and "NOT_VERIFIED" in answer("user has not confirmed")
    assert "valid=True" in answer("after the user confirmed") and "source=CACHE" in answer("VerifySession again")
    assert "revoked=True" in answer("IsRevoked after") and "REVOKED" in answer("IsRevoked after")
    assert "valid=True" in answer("VerifyApproval  ") or "valid=True" in next(
        l for l in lines if "VerifyApproval" in l and "replayed" not in l)
    assert "ALREADY_USED" in answer("VerifyApproval replayed")
    assert "valid=True" in answer("VerifyToken  ") or "valid=True" in next(
        l for l in lines if l.strip().startswith("VerifyToken ") and "again" not in l and "admin" not in l)
    assert "source=CACHE" in answer("VerifyToken again")
    assert "INSUFFICIENT_SCOPE" in answer("needing scope admin")
    assert "CHALLENGE_REQUIRED" in answer("Track withdrawal")
    assert "is_valid=True" in answer("after the user passed it")
    assert "ALREADY_USED" in answer("ValidateChallenge replayed")
    assert "sidecar call" in out and code == 0
