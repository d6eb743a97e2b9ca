"""AccountService end to end: a real sidecar process against the emulator's identity service."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status

from authsidecar.v1 import errors_pb2
from authsidecar.v1 import factors_pb2 as pb
from authsidecar.v1 import factors_pb2_grpc

PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(sidecar):
    stub = factors_pb2_grpc.AccountServiceStub(sidecar.channel)
    stub.proc = sidecar
    return stub


def upstream_error(call, request) -> tuple[grpc.StatusCode, errors_pb2.UpstreamErrorDetail]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    detail = errors_pb2.UpstreamErrorDetail()
    assert rpc_status.from_call(err.value).details[0].Unpack(detail)
    return err.value.code(), detail


def test_login_me_sessions_refresh_and_logout(accounts, emulator):
    login = accounts.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5)
    assert not login.mfa_required and login.tokens.access_token and login.tokens.session_id
    tokens = login.tokens

    me = accounts.GetMe(pb.GetMeRequest(access_token=tokens.access_token), timeout=5)
    assert me.user_id == "usr_alice" and me.email == "alice@example.com" and not me.mfa_enabled

    second = accounts.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5).tokens
    listed = accounts.ListSessions(pb.ListSessionsRequest(access_token=tokens.access_token), timeout=5).sessions
    # Other tests share the emulator and may have left sessions of alice's: judge only this test's two.
    mine = {tokens.session_id, second.session_id}
    assert mine <= {s.session_id for s in listed}
    assert [s.session_id for s in listed if s.current] == [tokens.session_id]

    rotated = accounts.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), timeout=5).tokens
    assert rotated.refresh_token != tokens.refresh_token and rotated.session_id == tokens.session_id
    code, detail = upstream_error(accounts.Refresh, pb.RefreshRequest(refresh_token=tokens.refresh_token))
    assert detail.http_status == 401 and detail.upstream == "identity"  # the old one was rotated away

    out = accounts.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    assert out.session_id == tokens.session_id
    code, detail = upstream_error(accounts.GetMe, pb.GetMeRequest(access_token=rotated.access_token))
    assert code == grpc.StatusCode.PERMISSION_DENIED and detail.http_status == 401

    accounts.LogoutSession(pb.LogoutSessionRequest(access_token=second.access_token,
                                                   session_id=second.session_id), timeout=5)
    states = emulator.http.get("/_control/identity/sessions", params={"email": "alice@example.com"}).json()
    assert not any(s["active"] for s in states["sessions"] if s["sessionId"] in mine)
    assert mine <= {s["sessionId"] for s in states["sessions"]}


def test_mfa_login_needs_the_code_once(accounts, emulator):
    first = accounts.Login(pb.LoginRequest(email="bob@example.com", password=PASSWORD), timeout=5)
    assert first.mfa_required and first.mfa_token and not first.HasField("tokens")
    code = emulator.http.get("/_control/identity/mfa-code", params={"email": "bob@example.com"}).json()["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, detail = upstream_error(accounts.CompleteMfa, pb.CompleteMfaRequest(mfa_token=first.mfa_token,
                                                                                code=wrong))
    assert detail.http_status == 401 and "MFA code" in detail.message
    done = accounts.CompleteMfa(pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=code), timeout=5)
    assert done.tokens.access_token and done.tokens.session_id
    status, detail = upstream_error(accounts.CompleteMfa, pb.CompleteMfaRequest(mfa_token=first.mfa_token,
                                                                                code=code))
    assert detail.http_status == 401  # replay refused


def test_wrong_password_keeps_status_and_body_but_never_the_password(accounts):
    secret = "hunter2-is-not-it"
    code, detail = upstream_error(accounts.Login, pb.LoginRequest(email="alice@example.com", password=secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert detail.http_status == 401 and detail.message == "Invalid credentials"
    assert "INVALID_CREDENTIALS" in detail.body
    assert secret not in accounts.proc.log() and secret not in accounts.proc.metrics()


BAD_REQUESTS = [
    ("Login", pb.LoginRequest(password="x"), "email"),
    ("Login", pb.LoginRequest(email="not-an-email", password="x"), "email"),
    ("Login", pb.LoginRequest(email="a@example.com"), "password"),
    ("Login", pb.LoginRequest(email="a@example.com", password="x" * 1025), "password"),
    ("CompleteMfa", pb.CompleteMfaRequest(code="123456"), "mfa_token"),
    ("CompleteMfa", pb.CompleteMfaRequest(mfa_token="m"), "code"),
    ("Refresh", pb.RefreshRequest(), "refresh_token"),
    ("Logout", pb.LogoutRequest(refresh_token="bad\ntoken"), "refresh_token"),
    ("GetMe", pb.GetMeRequest(), "access_token"),
    ("ListSessions", pb.ListSessionsRequest(access_token="é"), "access_token"),
    ("LogoutSession", pb.LogoutSessionRequest(access_token="at"), "session_id"),
]


def test_bad_requests_name_the_field_and_never_reach_the_service(accounts, emulator):
    for call, request_, field in BAD_REQUESTS:
        with pytest.raises(grpc.RpcError) as err:
            getattr(accounts, call)(request_, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, call
        assert err.value.details().startswith(field), (call, err.value.details())
    assert not any("/identity/" in k for k in emulator.counters())


def test_identity_down_is_unavailable(accounts, emulator):
    emulator.faults(error_rate=1.0, error_status=503, path_prefix="/identity")
    code, detail = upstream_error(accounts.Login, pb.LoginRequest(email="alice@example.com", password=PASSWORD))
    assert code == grpc.StatusCode.UNAVAILABLE and detail.http_status == 503


def test_health_lists_authy_and_identity(accounts):
    from authsidecar.v1 import auth_pb2

    reply = accounts.proc.stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=10)
    names = {u.name: u.healthy for u in reply.upstreams}
    assert names.get("authy") is True and names.get("identity") is True


def test_logout_makes_verify_token_answer_revoked_for_its_sid_at_once(accounts, emulator):
    from authsidecar.v1 import auth_pb2

    login = accounts.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5).tokens
    minted = emulator.http.post("/_control/jwks/issuers/main/mint", json={
        "claims": {"sub": "usr_alice", "sid": login.session_id}})
    if minted.status_code == 404:
        pytest.skip("this build's emulator has no token issuers")
    token = auth_pb2.VerifyTokenRequest(token=minted.json()["token"])
    assert accounts.proc.stub.VerifyToken(token, timeout=10).valid

    accounts.Logout(pb.LogoutRequest(refresh_token=login.refresh_token), timeout=5)
    after = accounts.proc.stub.VerifyToken(token, timeout=10)
    assert not after.valid and after.reason == auth_pb2.REASON_REVOKED
    assert accounts.proc.metric("authsidecar_logout_revocations_total", wired="yes") >= 1
