"""The PyPI twilio SDK (and pyotp, for TOTP codes), pinned, installed with pip into an ignored folder and run
in its own interpreter, so neither it nor its dependencies (aiohttp, requests, PyJWT) touch the suite's
environment. Reinstalled only when REQUIREMENTS change; one install at a time across xdist workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from tests.npm_projects import RUN

REQUIREMENTS = ("twilio==9.13.0", "pyotp==2.9.0")
WHERE = RUN / "contract" / "twilio-python"
HERE = Path(__file__).resolve().parent
PIP_TIMEOUT = 300
RUN_TIMEOUT = 60


def install() -> Path:
    stamp = WHERE / ".installed-requirements"
    wanted = "\n".join(REQUIREMENTS)
    WHERE.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(WHERE) + ".lock", timeout=PIP_TIMEOUT + 60):
        if stamp.exists() and stamp.read_text() == wanted:
            return WHERE
        if WHERE.exists():
            shutil.rmtree(WHERE)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(WHERE), *REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
        )
        assert done.returncode == 0, f"pip install of {REQUIREMENTS} failed:\n{done.stderr[-3000:]}"
        stamp.write_text(wanted)
    return WHERE


def run_python(script: str, *args: str, stdin: str | None = None) -> dict:
    """`python <script> args…` (from this folder) with the SDK on its path; the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(install()), "TWILIO_REGION": "", "TWILIO_EDGE": ""},
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output from {script} (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])
