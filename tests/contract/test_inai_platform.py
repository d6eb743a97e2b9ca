"""InAI's platform-administration API: the real @inai-dev/backend 1.10.0 against the emulator, and the
sidecar's AdminService (identity.admin_api: true) against the SDK's requests.

`inai/platform.js` calls platformLogin … rotateAppKeys through the SDK's apiUrl; the first test asserts
what the SDK parsed. Then a real sidecar does the same operations, and for each (method, route) the
request it sent is compared with the SDK's: bearer or not, no publishable key, content type, body members
and their JSON types, query keys.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs

import pytest

from authsidecar.v1 import admin_pb2 as apb
from authsidecar.v1 import admin_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb

from .conftest import run_node

PASSWORD = "correct horse battery staple"
BASE = "/inai/api/platform"


@pytest.fixture(scope="module")
def project(node_project):
    return node_project("inai")


def drive(project, emulator) -> dict:
    out = run_node(project, "platform.js", emulator.url)
    assert "crashed" not in out, out.get("crashed")
    return out


def test_the_sdk_parses_every_platform_answer(project, emulator):
    out = drive(project, emulator)
    assert set(out["login"]["value"]) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert out["mfaLogin"]["value"]["mfa_required"] is True
    assert out["mfaChallenge"]["value"]["user"]["email"] == "mfa-root@example.com"
    assert out["refresh"]["value"]["access_token"]
    assert out["getMe"]["value"]["data"]["email"] == "root@example.com"
    assert "app_emulator" in {a["id"] for a in out["listApplications"]["value"]["data"]}
    assert out["updateApplication"]["value"]["data"]["name"] == "Renamed"
    assert out["getApplicationStats"]["value"]["data"]["totalUsers"] == 0  # asked before createAppUser
    listed = out["listAppUsers"]["value"]
    assert (listed["total"], listed["page"], listed["limit"]) == (1, 1, 10)
    assert out["createAppApiKey"]["value"]["data"]["key"].startswith("sk_")
    assert [k["name"] for k in out["listAppApiKeys"]["value"]["data"]] == ["ci"]
    assert out["revokeAppApiKey"] == {"ok": True, "value": None}  # Promise<void>
    assert (out["revokeAgain"]["ok"], out["revokeAgain"]["error"]["status"]) == (False, 404)
    assert out["rotateAppKeys"]["value"]["publishableKey"].startswith("pk_test_")
    assert out["getUnknown"]["error"]["message"] == "Application not found"
    assert out["logout"] == {"ok": True, "value": None}
    assert out["meAfterLogout"]["error"]["status"] == 401


def _shape(r: dict) -> dict:
    headers = r["headers"]
    body = json.loads(r["body"]) if r["body"] else None
    return {
        "publishable_key": headers.get("x-publishable-key"),
        "bearer": headers.get("authorization", "").startswith("Bearer "),
        "content_type": headers.get("content-type"),
        "body": None if body is None else {k: type(v).__name__ for k, v in body.items()},
        "query": sorted(parse_qs(r["query"])),
    }


def _first(emulator) -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    for r in emulator.requests():
        if r["path"].startswith(BASE):
            found.setdefault((r["method"], r["route"]), _shape(r))
    return found


def _sidecar_operations(admin, emulator) -> None:
    login = admin.PlatformLogin(pb.LoginRequest(email="root@example.com", password=PASSWORD), timeout=5).tokens
    mfa = admin.PlatformLogin(pb.LoginRequest(email="mfa-root@example.com", password=PASSWORD), timeout=5)
    code = emulator.http.get("/_control/inai/platform/mfa-code", params={"email": "mfa-root@example.com"}).json()
    admin.PlatformMfaChallenge(pb.CompleteMfaRequest(mfa_token=mfa.mfa_token, code=code["code"]), timeout=5)
    admin.PlatformRefresh(pb.RefreshRequest(refresh_token=login.refresh_token), timeout=5)
    t = login.access_token
    ask = lambda rpc, **fields: getattr(admin, rpc)(apb.AdminRequest(access_token=t, **fields), timeout=5).answer  # noqa: E731
    ask("PlatformGetMe")
    ask("ListApplications")
    app = ask("CreateApplication", name="Sidecar app", slug=f"sc-{secrets.token_hex(4)}")["data"]["id"]
    ask("GetApplication", app_id=app)
    ask("UpdateApplication", app_id=app, name="Renamed")
    ask("GetApplicationStats", app_id=app)
    ask("CreateAppUser", app_id=app, email="made@example.com", password="p4ssword!", environment_id="env_emulator")
    ask("ListAppUsers", app_id=app, environment_id="env_emulator", page=1, limit=10)
    key = ask("CreateAppApiKey", app_id=app, name="ci", environment_id="env_emulator")["data"]["id"]
    ask("ListAppApiKeys", app_id=app, environment_id="env_emulator")
    ask("RevokeAppApiKey", app_id=app, key_id=key)
    ask("RotateAppKeys", app_id=app, environment_id="env_emulator")
    ask("PlatformLogout")


def test_the_admin_service_sends_what_the_sdk_sends(project, sidecar_factory, emulator):
    emulator.reset()
    drive(project, emulator)
    sdk = _first(emulator)
    emulator.reset()
    proc = sidecar_factory({"identity": {"admin_api": True}})
    _sidecar_operations(admin_pb2_grpc.AdminServiceStub(proc.channel), emulator)
    ours = _first(emulator)
    assert len(sdk) == 16 and set(ours) == set(sdk), sorted(set(ours) ^ set(sdk))
    for operation in sorted(sdk):
        assert ours[operation] == sdk[operation], operation
    assert all(s["publishable_key"] is None and s["content_type"] == "application/json" for s in sdk.values())
    assert sdk[("DELETE", f"{BASE}/applications/{{app_id}}/api-keys/{{key_id}}")]["body"] is None
    assert sdk[("GET", f"{BASE}/applications/{{app_id}}/users")]["query"] == ["environmentId", "limit", "page"]
