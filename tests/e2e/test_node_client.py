"""The Node example (examples/node/client.js) against a live sidecar: @grpc/grpc-js loading protos/ directly.

Installs @grpc/grpc-js and @grpc/proto-loader with npm into a temp dir once per test session, and
skips only when node or npm is not on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node"
PHONE = "+14155552671"


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the Node client example test (not found on PATH)")
    where = tmp_path_factory.mktemp("node")
    shutil.copy(EXAMPLE / "package.json", where / "package.json")
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=where,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"npm install failed:\n{done.stderr[-2000:]}"
    return where / "node_modules"


def run_node(node_modules: Path, target: str, rpc: str, request: dict) -> tuple[int, dict]:
    done = subprocess.run(["node", str(EXAMPLE / "client.js"), target, rpc, json.dumps(request)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NODE_PATH": str(node_modules)})
    assert done.stdout.strip(), f"no output from node:\n{done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(360)  # the first one pays the npm install
def test_node_client_calls_the_sidecar(node_modules, sidecar, emulator):
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()
    code, answer = run_node(node_modules, sidecar.target, "VerifySession",
                            {"session_token": session["session_token"], "phone": PHONE})
    assert code == 0 and answer["valid"] is True and answer["status"] == "SESSION_STATUS_VERIFIED"

    code, answer = run_node(node_modules, sidecar.target, "VerifyToken", {"token": "not.a.jwt"})
    assert code == 0 and answer["valid"] is False and answer["reason"] == "REASON_MALFORMED"

    code, answer = run_node(node_modules, sidecar.target, "VerifyToken", {"token": ""})
    assert code == 1 and answer["error"]["code"] == "INVALID_ARGUMENT"
    assert answer["error"]["details"].startswith("token:")
