"""The Node example (examples/node/client.js) against a live sidecar: @authsidecar/client as the example
uses it, and the package's multiplexer under several callers.

Installs the example's dependencies with npm into .run/node-client (ignored by git), with the package
as `npm pack` makes it (so a changed clients/node is reinstalled), and skips only when node or npm is
not on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import wait_until
from tests.npm_projects import RUN, npm_install, packed_node_package

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node"
PHONE = "+14155552671"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the Node client example test (not found on PATH)")
    # The example as committed depends on ../../clients/node (a link); installed here from the tarball.
    manifest = json.loads((EXAMPLE / "package.json").read_text())
    manifest["dependencies"]["@authsidecar/client"] = f"file:{packed_node_package()}"
    source = RUN / "node-client-src"
    source.mkdir(parents=True, exist_ok=True)
    (source / "package.json").write_text(json.dumps(manifest, indent=2))
    return npm_install(source, RUN / "node-client", timeout=240) / "node_modules"


def run_node(node_modules: Path, target: str, rpc: str, request: dict) -> tuple[int, dict]:
    done = subprocess.run(
        ["node", str(EXAMPLE / "client.js"), target, rpc, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    assert done.stdout.strip(), f"no output from node:\n{done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(360)  # the first one pays the npm install
def test_node_client_calls_the_sidecar(node_modules, sidecar, emulator):
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()
    code, answer = run_node(
        node_modules, sidecar.target, "VerifySession", {"session_token": session["session_token"], "phone": PHONE}
    )
    assert code == 0 and answer["valid"] is True and answer["status"] == "SESSION_STATUS_VERIFIED"

    code, answer = run_node(node_modules, sidecar.target, "VerifyToken", {"token": "not.a.jwt"})
    assert code == 0 and answer["valid"] is False and answer["reason"] == "REASON_MALFORMED"

    code, answer = run_node(node_modules, sidecar.target, "VerifyToken", {"token": ""})
    assert code == 1 and answer["error"]["code"] == "INVALID_ARGUMENT"
    assert answer["error"]["details"].startswith("token:")


MULTIPLEXED = """
const { AuthsidecarClient, status } = require("@authsidecar/client");
const [target, session, slowSession, ...tokens] = JSON.parse(process.argv[1]);
const phone = "+14155552671";
const failure = (e) => ({ code: status[e.code], details: e.details });
(async () => {
  const auth = new AuthsidecarClient(target, { timeoutMs: 5000 });  // multiplexing is the default
  const answers = await Promise.all(tokens.map((token) => auth.verifyToken(token)));
  const verified = await auth.verifySession(session, phone);
  const bad = await auth.verifySession(session, "x").catch(failure);
  const started = Date.now();
  const late = auth.isRevoked(slowSession, phone, { timeoutMs: 300 })
    .catch((e) => ({ ...failure(e), ms: Date.now() - started }));
  const fast = await auth.verifyToken(tokens[0]);
  const fastMs = Date.now() - started;
  console.log(JSON.stringify({ subjects: answers.map((a) => a.auth.subject), verified: verified.valid, bad,
                               late: await late, fast: fast.valid, fastMs }));
  auth.close();
})().catch((e) => { console.log(JSON.stringify({ crashed: String(e) })); process.exit(1); });
"""


def test_node_client_multiplexes_calls_over_one_stream(node_modules, sidecar, emulator):
    tokens = [
        emulator.http.post("/_control/jwks/issuers/main/mint", json={"claims": {"sub": f"user-{i}"}}).json()["token"]
        for i in range(30)
    ]
    session, slow = (
        emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]
        for _ in range(2)
    )
    assert sidecar.stub.VerifySession(pb.VerifySessionRequest(session_token=session, phone=PHONE), timeout=5).valid
    emulator.faults(latency_seconds=3.0, path_prefix="/v2/backend/session/status")  # `slow` is not cached
    done = subprocess.run(
        ["node", "-e", MULTIPLEXED, json.dumps([sidecar.target, session, slow, *tokens])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    out = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {"stderr": done.stderr[-2000:]}
    assert out.get("subjects") == [f"user-{i}" for i in range(30)], out
    assert out["verified"] is True
    assert out["bad"]["code"] == "INVALID_ARGUMENT" and out["bad"]["details"].startswith("phone:")
    # One caller's deadline ends only its call; a cached answer on the same stream did not wait for it.
    assert out["late"]["code"] == "DEADLINE_EXCEEDED" and 250 <= out["late"]["ms"] < 1500
    assert out["fast"] and out["fastMs"] < 300
    wait_until(lambda: sidecar.metric("authsidecar_verify_streams_open") == 0, what="close() ended the stream")
    assert sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == 31
    assert sidecar.metric("authsidecar_rpc_total", method="VerifyStream") == 1  # all of them on one stream
