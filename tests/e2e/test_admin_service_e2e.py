"""AdminService (InAI's platform administration) end to end: off by default, on with identity.admin_api.

A real sidecar process against the emulator's platform area: not served at all when off (UNIMPLEMENTED,
nothing sent upstream); when on, logged at start, each call forwards the caller's platform token (never
cached: a token the platform ended is refused at once, and it never reaches the log), and bad input is
INVALID_ARGUMENT naming the field before anything is sent.
"""

from __future__ import annotations

import grpc
import pytest

from authsidecar.v1 import admin_pb2 as apb
from authsidecar.v1 import admin_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin(sidecar_factory):
    proc = sidecar_factory({"identity": {"admin_api": True}})
    stub = admin_pb2_grpc.AdminServiceStub(proc.channel)
    stub.proc = proc
    return stub


def code_of(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    return err.value.code(), err.value.details()


def test_off_by_default_it_is_not_served(sidecar, emulator):
    emulator.reset()
    stub = admin_pb2_grpc.AdminServiceStub(sidecar.channel)
    code, _ = code_of(stub.ListApplications, apb.AdminRequest(access_token="pat_x"))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    code, _ = code_of(stub.PlatformLogin, pb.LoginRequest(email="root@example.com", password=PASSWORD))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert [r for r in emulator.requests() if "/api/platform" in r["path"]] == []
    assert "admin_api is on" not in sidecar.log()


def test_on_it_is_logged_forwards_the_token_and_never_caches_it(admin):
    assert "identity.admin_api is on" in admin.proc.log()
    tokens = admin.PlatformLogin(pb.LoginRequest(email="root@example.com", password=PASSWORD), timeout=5).tokens
    ask = apb.AdminRequest(access_token=tokens.access_token)
    apps = admin.ListApplications(ask, timeout=5).answer
    assert "app_emulator" in {a["id"] for a in apps["data"]}
    stats = admin.GetApplicationStats(
        apb.AdminRequest(access_token=tokens.access_token, app_id="app_emulator"), timeout=5
    )
    assert "totalUsers" in stats.answer["data"]
    code, _ = code_of(admin.GetApplication, apb.AdminRequest(access_token=tokens.access_token, app_id="app_nope"))
    assert code == grpc.StatusCode.NOT_FOUND
    # an id is one path segment: "../" cannot reach another route (the adapter percent-encodes it)
    hostile = apb.AdminRequest(access_token=tokens.access_token, app_id="../auth/me")
    assert code_of(admin.GetApplication, hostile)[0] == grpc.StatusCode.NOT_FOUND

    admin.PlatformLogout(ask, timeout=5)
    code, _ = code_of(admin.ListApplications, ask)  # the platform ended it: no cached answer
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert tokens.access_token not in admin.proc.log() and tokens.refresh_token not in admin.proc.log()


BAD = [
    ("ListApplications", apb.AdminRequest(), "access_token: is required"),
    ("ListApplications", apb.AdminRequest(access_token="pat\n"), "access_token: must be printable ASCII"),
    ("ListApplications", apb.AdminRequest(access_token="t" * 8193), "access_token: is larger than 8192 bytes"),
    ("GetApplication", apb.AdminRequest(access_token="pat_x"), "app_id: is required"),
    ("GetApplication", apb.AdminRequest(access_token="pat_x", app_id="a", name="n"), "name: is not an argument"),
    ("ListAppUsers", apb.AdminRequest(access_token="pat_x", app_id="a", page=-1), "page: must be between"),
    ("ListApplications", apb.AdminRequest(access_token="pat_x", limit=5), "limit: is not an argument"),
    (
        "CreateAppUser",
        apb.AdminRequest(access_token="pat_x", app_id="a", email="x", password="p", environment_id="e"),
        "email: is not an email address",
    ),
    (
        "CreateAppUser",
        apb.AdminRequest(access_token="pat_x", app_id="a", email="a@b.c", environment_id="e"),
        "password: is required",
    ),
    ("RevokeAppApiKey", apb.AdminRequest(access_token="pat_x", app_id="a", key_id="k" * 513), "key_id: is longer"),
    ("PlatformMfaChallenge", pb.CompleteMfaRequest(code="1"), "mfa_token: is required"),
    ("PlatformRefresh", pb.RefreshRequest(), "refresh_token: is required"),
]


def test_bad_input_is_invalid_argument_naming_the_field_and_sends_nothing(admin, emulator):
    emulator.reset()
    for method, request, message in BAD:
        code, details = code_of(getattr(admin, method), request)
        assert (code, details.startswith(message)) == (grpc.StatusCode.INVALID_ARGUMENT, True), (method, details)
    assert [r for r in emulator.requests() if "/api/platform" in r["path"]] == []
