"""@authsidecar/client (clients/node) as a service installs it: `npm pack`, then `npm install` of the
tarball into a temp project with Express and TypeScript (in .run/, reused while the package is
unchanged). Its types check with `tsc --noEmit --strict`; an Express app with the middleware runs the
seed README flows (rauth-provider verifySession / verifyApproval / isSessionRevoked, InAI's token check,
an Authsignal step-up) against a live sidecar. Skips only when node or npm is not on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from authsidecar.v1 import factors_pb2, factors_pb2_grpc
from authsidecar_client import Client
from harness.processes import free_port, stop_process, wait_until
from tests.npm_projects import RUN, npm_install, packed_node_package
from tests.pre_packing_sidecar import PrePackingSidecar, pre_packing_sidecar

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+14155552671"

pytestmark = [pytest.mark.long, pytest.mark.xdist_group("node_package")]

APP_TS = """
import express from "express";
import { AuthsidecarClient, LoginResponse, VerifyTokenResponse, VerifyTotpResponse } from "@authsidecar/client";
import { authsidecar, fromBody, Identity } from "@authsidecar/client/express";

const client = new AuthsidecarClient("127.0.0.1:50051", { timeoutMs: 500, multiplex: true });
const auth = authsidecar(client, { headers: { phone: "x-phone" } });
const app = express();
app.post("/t", auth.approval({ from: fromBody("approval_token", "phone"), action: "transfer" }), (req, res) => {
  const action: string | undefined = req.approval?.action;
  const who: Identity | undefined = req.auth;
  res.json({ action, who: who?.subject });
});
async function check(token: string): Promise<boolean> {
  const answer: VerifyTokenResponse = await client.verifyToken(token, { requiredScopes: ["a"] });
  return answer.valid && answer.reason === "REASON_UNSPECIFIED" && (answer.auth?.subject ?? "") !== "";
}
void check;
async function accounts(): Promise<string> {
  const login: LoginResponse = await client.accounts.login({ email: "a@example.com", password: "p" });
  const totp: VerifyTotpResponse = await client.factors.verifyTotp({ user_id: "1", code: "123456" });
  for await (const update of client.factors.watchApprovalRequest({ id: "x" })) void update.status;
  const ok = totp.valid && totp.reason === "REASON_UNSPECIFIED" && !login.mfa_required;
  return ok ? login.tokens?.access_token ?? "" : "";
}
void accounts;
"""

APP_JS = """
const express = require("express");
const { AuthsidecarClient } = require("@authsidecar/client");
const { authsidecar, fromBody, keepRawBody } = require("@authsidecar/client/express");
const [port, target, deadTarget] = process.argv.slice(2);
const client = new AuthsidecarClient(target, { timeoutMs: 5000 });
const auth = authsidecar(client);
const down = authsidecar(new AuthsidecarClient(deadTarget, { timeoutMs: 1000 }));
const app = express();
// fromBody reading the body itself (no parser before it); the route still gets req.body
app.post("/raw/login", auth.session({ from: fromBody("session_token", "phone") }), express.json(),
  (req, res) => res.json({ phone: req.auth.phone, body: Object.keys(req.body) }));
// a body parsed without its bytes: fromBody cannot check it for duplicate keys
app.post("/plain/login", express.json(), auth.session({ from: fromBody("session_token", "phone") }),
  (req, res) => res.json({ passed: true }));
app.use(express.json({ verify: keepRawBody }));
// rauth-provider README 1) login: exchange a verified session
app.post("/auth/login", auth.session({ from: fromBody("session_token", "phone") }),
  (req, res) => res.json({ phone: req.auth.phone }));
// 2) a sensitive action with a one-time approval
app.post("/actions/transfer", auth.approval({ from: fromBody("approval_token", "phone"), action: "transfer" }),
  (req, res) => res.json({ success: true, action: req.approval.action, amount: req.body.amount }));
// 3) a protected route with the revocation check
app.get("/secure", auth.revocation(), (req, res) => res.json({ ok: true }));
// InAI: buildAuthObjectFromToken
app.get("/me", auth.jwt(), (req, res) =>
  res.json({ subject: req.auth.subject,
             forged: req.headers["x-auth-subject"] || req.headers["x_auth_subject"] || null }));
app.get("/orders", auth.jwt({ scopes: ["orders:read"] }), (req, res) => res.json({ subject: req.auth.subject }));
app.post("/step-up", auth.jwt(), auth.challenge({ action: "withdraw" }),
  (req, res) => res.json({ subject: req.auth.subject }));
app.get("/down", down.jwt(), (req, res) => res.json({ passed: true }));
app.post("/down-approval", down.approval({ from: fromBody("approval_token", "phone") }), (req, res) => res.json({}));
const server = app.listen(Number(port), "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => { client.close(); server.close(); process.exit(0); });
"""


@pytest.fixture(scope="module")
def project() -> Path:
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.skip("node and npm are needed for the Node package test (not found on PATH)")
    tarball = packed_node_package()
    source = RUN / "node-package-src"
    source.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "authsidecar-node-package-test",
        "private": True,
        "dependencies": {
            "@authsidecar/client": f"file:{tarball}",
            "express": "^4.21.0",
            "@types/express": "^4.17.21",
            "@types/node": "^20.0.0",
            "typescript": "^5.6.0",
        },
    }
    (source / "package.json").write_text(json.dumps(manifest, indent=2))
    return npm_install(source, RUN / "node-package", timeout=300)


def tsc(project: Path, *sources: str) -> subprocess.CompletedProcess[str]:
    flags = ["--noEmit", "--strict", "--esModuleInterop", "--module", "node16", "--moduleResolution", "node16"]
    binary = str(project / "node_modules" / ".bin" / "tsc")
    return subprocess.run([binary, *flags, *sources], cwd=project, capture_output=True, text=True, timeout=180)


def errors_by_file(output: str) -> dict[str, list[str]]:
    """tsc's `file(line,col): error TSnnnn: …` lines, by file."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        where, sep, rest = line.partition("): error ")
        if sep:
            found.setdefault(where.split("(")[0], []).append(rest)
    return found


@pytest.mark.timeout(420)
def test_the_packed_package_type_checks_with_tsc(project):
    # One tsc run over the app and two deliberately wrong files (a run checks every .d.ts it loads, ours and
    # the libraries', ~12 s CPU: three runs cost three times that). Only the wrong files may have errors.
    (project / "app.ts").write_text(APP_TS)
    # the check can fail: a wrong type is reported
    (project / "wrong.ts").write_text(
        'import { AuthsidecarClient } from "@authsidecar/client";\n'
        'const n: number = new AuthsidecarClient().verifySession("t", "p");\nvoid n;\n'
    )
    # the wrapped AccountService / SecondFactorService calls are typed too
    (project / "wrong_factors.ts").write_text(
        'import { AuthsidecarClient } from "@authsidecar/client";\n'
        "void new AuthsidecarClient().factors.verifyTotp({ code: 123456 });\n"
        "void new AuthsidecarClient().accounts.loginn({});\n"
    )
    done = tsc(project, "app.ts", "wrong.ts", "wrong_factors.ts")
    errors = errors_by_file(done.stdout)
    # app.ts, our package's .d.ts and every other declaration file check clean
    assert set(errors) == {"wrong.ts", "wrong_factors.ts"}, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode != 0
    assert any(e.startswith("TS2322") for e in errors["wrong.ts"]), errors
    codes = {e.split(":")[0] for e in errors["wrong_factors.ts"]}
    assert {"TS2322", "TS2551"} <= codes, errors


@pytest.fixture(scope="module")
def express_app(project, shared_sidecar) -> Iterator[httpx.Client]:
    port = free_port()
    (project / "app.js").write_text(APP_JS)
    log = (project / "app.log").open("w")
    proc = subprocess.Popen(
        ["node", "app.js", str(port), shared_sidecar.target, f"127.0.0.1:{free_port()}"],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            def up() -> bool:
                assert proc.poll() is None, (project / "app.log").read_text()[-2000:]
                try:
                    http.get("/nothing")
                except httpx.TransportError:
                    return False
                return True

            wait_until(up, timeout=60, step=0.1, what="the Express app to listen")
            yield http
    finally:
        stop_process(proc)
        log.close()


def control(emulator, path: str, **body) -> dict:
    reply = emulator.http.post(f"/_control/platform/{path}", json=body)
    reply.raise_for_status()
    return reply.json()


def mint(emulator, **claims) -> str:
    reply = emulator.http.post("/_control/jwks/issuers/main/mint", json={"claims": claims})
    reply.raise_for_status()
    return reply.json()["token"]


@pytest.mark.timeout(420)
def test_express_seed_flows_against_a_live_sidecar(express_app, emulator):
    http = express_app
    token = control(emulator, "sessions", phone=PHONE)["session_token"]
    login = http.post("/auth/login", json={"session_token": token, "phone": PHONE})
    assert login.status_code == 200 and login.json() == {"phone": PHONE}
    bad = http.post("/auth/login", json={"session_token": "nope", "phone": PHONE})
    assert (
        bad.status_code == 401
        and bad.headers["www-authenticate"] == 'Session realm="authsidecar", error="invalid_token"'
    )
    missing = http.post("/auth/login", json={"phone": PHONE})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Session realm="authsidecar"'
    wrong_type = http.post("/auth/login", json={"session_token": {"$ne": ""}, "phone": PHONE})
    assert wrong_type.status_code == 401 and 'error="invalid_request"' in wrong_type.headers["www-authenticate"]

    approval = control(emulator, "approvals", phone=PHONE, action="transfer", session_token=token)["approval_token"]
    body = {"approval_token": approval, "phone": PHONE, "amount": 100}
    first = http.post("/actions/transfer", json=body)
    assert first.status_code == 200 and first.json() == {"success": True, "action": "transfer", "amount": 100}
    replay = http.post("/actions/transfer", json=body)  # one-time: answered once
    assert replay.status_code == 403 and replay.json() == {"error": "already_used"}
    other = control(emulator, "approvals", phone=PHONE, action="pay", session_token=token)["approval_token"]
    assert http.post("/actions/transfer", json={**body, "approval_token": other}).json() == {"error": "action_mismatch"}

    secure = {"x-session-token": token, "x-user-phone": PHONE}
    assert http.get("/secure", headers=secure).status_code == 200
    control(emulator, "sessions/revoke", session_token=token)
    wait_until(lambda: http.get("/secure", headers=secure).status_code == 401, timeout=15, what="the revocation")
    assert http.get("/secure", headers=secure).json() == {"error": "revoked"}


@pytest.mark.timeout(420)
def test_express_jwt_check_forged_headers_and_fail_closed(express_app, emulator):
    http = express_app
    forged = {"x-auth-subject": "admin", "x_auth_subject": "admin"}
    me = http.get("/me", headers={**forged, "authorization": f"Bearer {mint(emulator, sub='user-4')}"})
    assert me.status_code == 200 and me.json() == {"subject": "user-4", "forged": None}
    none = http.get("/me", headers=forged)
    assert none.status_code == 401 and none.headers["www-authenticate"] == 'Bearer realm="authsidecar"'
    garbage = http.get("/me", headers={"authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401 and garbage.json() == {"error": "malformed"}
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    # an over-long credential is refused before any call (Node's own 16 KiB header cap comes first
    # for headers, so through the body)
    huge = http.post("/auth/login", json={"session_token": "a" * 20_000, "phone": PHONE})
    assert huge.status_code == 401 and 'error="invalid_request"' in huge.headers["www-authenticate"]
    scoped = http.get("/orders", headers={"authorization": f"Bearer {mint(emulator, scope='profile')}"})
    assert scoped.status_code == 403
    assert (
        scoped.headers["www-authenticate"]
        == 'Bearer realm="authsidecar", error="insufficient_scope", scope="orders:read"'
    )

    # the sidecar unreachable: 503, never the route
    assert http.get("/down", headers={"authorization": "Bearer a.b.c"}).status_code == 503
    assert http.post("/down-approval", json={"approval_token": "t", "phone": PHONE}).status_code == 503


@pytest.mark.timeout(420)
def test_express_step_up_challenge_bound_to_the_subject_and_spent_once(express_app, emulator, shared_sidecar):
    user = f"usr_{uuid.uuid4().hex[:12]}"
    emulator.http.post("/_control/challenges/users", json={"userId": user, "phoneNumber": "+64271234567"})
    with Client(shared_sidecar.target, timeout=5) as client:
        key = client.track(user, "withdraw").idempotency_key
    completed = emulator.http.post(
        "/_control/challenges/complete",
        json={"userId": user, "action": "withdraw", "idempotencyKey": key, "success": True},
    )
    headers = {"authorization": f"Bearer {mint(emulator, sub=user)}", "x-challenge-token": completed.json()["token"]}
    first = express_app.post("/step-up", headers=headers)
    assert first.status_code == 200 and first.json() == {"subject": user}
    assert express_app.post("/step-up", headers=headers).json() == {"error": "already_used"}


# The multiplexer (issue 30): packing, and the streams it must not pack or use. Answers are checked
# by subject, so a mixed-up id would show; stats come from the client (items and messages written)
# and from a second listener on its stream (messages and answers read).
MUX_JS = """
const { AuthsidecarClient } = require("@authsidecar/client");
const [target, tokens, rounds, clients] = JSON.parse(process.argv[1]);
(async () => {
  const out = { subjects: [], read: 0, answers: 0 };
  for (let c = 0; c < clients; c++) {
    const auth = new AuthsidecarClient(target, { timeoutMs: 10000 });
    const calls = [];
    for (let i = 0; i < rounds * tokens.length; i++) {
      calls.push(auth.verifyToken(tokens[i % tokens.length]).then(
        (a) => (a.auth ? a.auth.subject : a.reason), (e) => `error ${e.code} ${e.details || e.message}`));
      if (i === 0 && auth.mux.line) {
        auth.mux.line.stream.on("data", (m) => { out.read++; out.answers += m.answers.length; });
      }
    }
    out.subjects.push(...(await Promise.all(calls)));
    out.items = (out.items || 0) + auth.mux.itemsSent;
    out.messages = (out.messages || 0) + auth.mux.messagesSent;
    auth.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ crashed: String(e && e.stack || e) })); process.exit(1); });
"""


def run_mux(project: Path, target: str, tokens: list[str], rounds: int = 1, clients: int = 1) -> dict:
    done = subprocess.run(
        ["node", "-e", MUX_JS, json.dumps([target, tokens, rounds, clients])],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "crashed" not in out, out
    print({k: v for k, v in out.items() if k != "subjects"})
    return out


@pytest.mark.timeout(420)
def test_node_multiplexer_packs_items_and_reads_packed_answers(project, shared_sidecar, emulator):
    tokens = [mint(emulator, sub=f"user-{i}") for i in range(20)]
    streams = shared_sidecar.metric("authsidecar_rpc_total", method="VerifyStream")
    valid = shared_sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid")
    out = run_mux(project, shared_sidecar.target, tokens, rounds=10)
    assert out["subjects"] == [f"user-{i % 20}" for i in range(200)]
    # 200 calls made in one tick: the sidecar's 128 per message, then the rest (not one message each)
    assert out["items"] == 200 and out["messages"] <= 4, out
    # the sidecar packed its answers to a caller that packed: fewer messages read than answers
    assert out["answers"] > 0 and out["read"] < 200, out
    assert shared_sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == valid + 200
    assert shared_sidecar.metric("authsidecar_rpc_total", method="VerifyStream") == streams + 1


@pytest.fixture
def pre_packing(shared_sidecar) -> Iterator[tuple[str, PrePackingSidecar]]:
    with pre_packing_sidecar(shared_sidecar.target) as front:
        yield front


@pytest.mark.timeout(420)
def test_node_multiplexer_sends_single_items_to_a_sidecar_that_does_not_pack(project, pre_packing, emulator):
    target, old = pre_packing
    tokens = [mint(emulator, sub=f"user-{i}") for i in range(20)]
    out = run_mux(project, target, tokens, rounds=2)
    assert out["subjects"] == [f"user-{i % 20}" for i in range(40)]
    assert out["items"] == out["messages"] == 40 and out["answers"] == 0, out
    assert old.packed == 0 and old.messages == 40


@pytest.mark.timeout(420)
def test_node_multiplexer_falls_back_to_unary_when_its_stream_is_refused(project, sidecar_factory, emulator):
    sc = sidecar_factory({"limits": {"verify_streams_max": 1}})
    token = mint(emulator, sub="user-0")
    with Client(sc.target, timeout=10, multiplex=True) as holder:
        assert holder.verify_token(token).valid  # holds the only stream
        out = run_mux(project, sc.target, [token], rounds=3, clients=20)
        # every call answered, none INTERNAL: each client's stream was refused before it wrote
        assert out["subjects"] == ["user-0"] * 60, out
        assert out["items"] == 0 and out["messages"] == 0, out
    assert sc.metric("authsidecar_rpc_total", method="VerifyStream", outcome="shed") == 20
    assert sc.metric("authsidecar_rpc_total", method="VerifyToken", outcome="valid") == 61


@pytest.mark.timeout(420)
def test_express_body_credentials_refuse_duplicate_keys_and_are_bounded(express_app, emulator):
    http = express_app
    token = control(emulator, "sessions", phone=PHONE)["session_token"]
    good = json.dumps({"session_token": token, "phone": PHONE})
    json_type = {"content-type": "application/json"}
    for path in ("/auth/login", "/raw/login"):  # express.json({verify: keepRawBody}) / fromBody reading
        ok = http.post(path, content=good, headers=json_type)
        assert ok.status_code == 200 and ok.json()["phone"] == PHONE, (path, ok.text)
        # express.json keeps the last value: a valid token last would pass; refused, whichever comes last
        for body in (
            f'{{"session_token": "forged", "phone": "{PHONE}", "session_token": "{token}"}}',
            f'{{"session_token": "{token}", "phone": "+15550000000", "phone": "{PHONE}"}}',
            f'{{"session_token": "{token}", "phone": "{PHONE}", "session\\u005ftoken": "{token}"}}',
            f'{{"session_token": "{token}", "phone": "{PHONE}", "extra": {{"a": 1, "a": 2}}}}',
        ):
            dup = http.post(path, content=body, headers=json_type)
            assert dup.status_code == 401, (path, body, dup.text)
            assert 'error="invalid_request"' in dup.headers["www-authenticate"]
            assert dup.json() == {"error": "malformed"}
    assert http.post("/raw/login", content=good, headers=json_type).json()["body"] == ["session_token", "phone"]
    # bounded at 64 KiB, both ways of reading
    big = json.dumps({"session_token": token, "phone": PHONE, "pad": "x" * 70_000})
    for path in ("/auth/login", "/raw/login"):
        assert http.post(path, content=big, headers=json_type).status_code == 413, path
    # not JSON text, invalid UTF-8, not an object: malformed
    for body in (b"{", b'{"session_token": "\xff\xfe", "phone": "x"}', b"[1, 2]"):
        answer = http.post("/raw/login", content=body, headers=json_type)
        assert answer.status_code == 401 and answer.json() == {"error": "malformed"}, body
    # a body parsed without its bytes: 500, never the route
    plain = http.post("/plain/login", content=good, headers=json_type)
    assert plain.status_code == 500 and plain.json() == {"error": "body_parsed_without_raw_bytes"}


CALLS_JS = """
const { AuthsidecarClient, status } = require("@authsidecar/client");
const [target, calls] = JSON.parse(process.argv[1]);
(async () => {
  const auth = new AuthsidecarClient(target, { timeoutMs: 5000 });
  const out = [];
  for (const [service, method, request] of calls) {
    out.push(await auth[service][method](request).then(
      (answer) => ({ answer }), (e) => ({ code: status[e.code], details: e.details })));
  }
  auth.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ crashed: String(e && e.stack || e) })); process.exit(1); });
"""


@pytest.mark.timeout(420)
def test_node_wraps_account_and_second_factor_calls(project, shared_sidecar):
    calls = [
        ("factors", "verifyTotp", {"user_id": "", "code": "12"}),
        ("factors", "getUserStatus", {"user_id": "1"}),
        ("accounts", "login", {"email": "", "password": "x"}),
        ("accounts", "getMe", {"access_token": ""}),
    ]
    done = subprocess.run(
        ["node", "-e", CALLS_JS, json.dumps([shared_sidecar.target, calls])],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    node = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(node, list), node
    # the same requests through the Python stubs: Node reaches the same RPCs and gets the same answers
    services = {
        "factors": (factors_pb2_grpc.SecondFactorServiceStub(shared_sidecar.channel), "VerifyTotpRequest"),
        "accounts": (factors_pb2_grpc.AccountServiceStub(shared_sidecar.channel), ""),
    }
    for (service, method, request), got in zip(calls, node, strict=True):
        rpc = method[0].upper() + method[1:]
        stub = services[service][0]
        message = getattr(factors_pb2, f"{rpc}Request")(**request)
        try:
            answer = getattr(stub, rpc)(message, timeout=5)
        except grpc.RpcError as err:
            assert got == {"code": err.code().name, "details": err.details()}, (method, got)
        else:
            assert "answer" in got and got["answer"].keys() >= {f.name for f, _ in answer.ListFields()}, (method, got)
    assert node[0]["code"] == "INVALID_ARGUMENT"  # a field check at the edge, named
