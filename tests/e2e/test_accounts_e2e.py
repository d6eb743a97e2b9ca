"""AccountService end to end: a real sidecar process against the emulator's two identity wires.

`identity.api: inai` (the default; the InAI Auth API v1 that @inai-dev/backend calls) and
`identity.api: identity-service` (the identity microservice of seed 004).
"""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status

from authsidecar.v1 import auth_pb2, errors_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import emulator_config

PASSWORD = "correct horse battery staple"


def stub(proc):
    accounts = factors_pb2_grpc.AccountServiceStub(proc.channel)
    accounts.proc = proc
    return accounts


@pytest.fixture
def accounts(sidecar):
    return stub(sidecar)


def inai_issuer(url: str, **extra) -> dict:
    """The emulated InAI as a token issuer: its tokens carry no iss, so it takes accept_missing_iss."""
    return {
        "issuer": f"{url}/inai",
        "jwks_uri": f"{url}/inai/.well-known/jwks.json",
        "algorithms": ["ES256"],
        "accept_missing_iss": True,
        **extra,
    }


@pytest.fixture
def with_inai_issuer(sidecar_factory, emulator):
    proc = sidecar_factory({"issuers": emulator_config(emulator.url)["issuers"] + [inai_issuer(emulator.url)]})
    return stub(proc)


@pytest.fixture
def service(sidecar_factory, emulator):
    return stub(
        sidecar_factory(
            {"identity": {"api": "identity-service", "base_url": f"{emulator.url}/identity/api", "api_key": ""}}
        )
    )


def upstream_error(call, request) -> tuple[grpc.StatusCode, errors_pb2.UpstreamErrorDetail]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    detail = errors_pb2.UpstreamErrorDetail()
    assert rpc_status.from_call(err.value).details[0].Unpack(detail)
    return err.value.code(), detail


def active_sessions(emulator, area: str, email: str = "alice@example.com") -> set[str]:
    listed = emulator.http.get(f"/_control/{area}/sessions", params={"email": email}).json()["sessions"]
    return {s.get("id") or s.get("sessionId") for s in listed if s["active"]}


def login(accounts, email: str = "alice@example.com") -> pb.AccountTokens:
    return accounts.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5).tokens


# --- InAI -----------------------------------------------------------------------------------------------
def test_inai_login_me_sessions_refresh_and_logout(accounts, emulator):
    before = active_sessions(emulator, "inai")
    tokens = login(accounts)
    assert tokens.access_token.count(".") == 2 and tokens.refresh_token and tokens.expires_in == 900
    assert tokens.session_id == ""  # InAI's TokenPair names no session
    (first,) = active_sessions(emulator, "inai") - before

    me = accounts.GetMe(pb.GetMeRequest(access_token=tokens.access_token), timeout=5)
    assert (me.user_id, me.email, me.first_name, me.mfa_enabled) == ("usr_alice", "alice@example.com", "Alice", False)

    second = login(accounts)
    (second_id,) = active_sessions(emulator, "inai") - before - {first}
    listed = accounts.ListSessions(pb.ListSessionsRequest(access_token=tokens.access_token), timeout=5).sessions
    mine = [s for s in listed if s.session_id in {first, second_id}]
    assert len(mine) == 2 and all(s.created_at > 1_600_000_000 and s.ip == "127.0.0.1" and s.device for s in mine)

    rotated = accounts.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), timeout=5).tokens
    assert rotated.refresh_token != tokens.refresh_token
    code, detail = upstream_error(accounts.Refresh, pb.RefreshRequest(refresh_token=tokens.refresh_token))
    assert (code, detail.http_status, detail.upstream) == (grpc.StatusCode.PERMISSION_DENIED, 401, "identity")
    assert detail.message == "Invalid or expired refresh token" and '"title"' in detail.body

    accounts.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    assert first not in active_sessions(emulator, "inai")
    code, detail = upstream_error(accounts.GetMe, pb.GetMeRequest(access_token=rotated.access_token))
    assert code == grpc.StatusCode.PERMISSION_DENIED and detail.http_status == 401

    accounts.LogoutSession(pb.LogoutSessionRequest(access_token=second.access_token, session_id=second_id), timeout=5)
    assert second_id not in active_sessions(emulator, "inai")
    code, detail = upstream_error(
        accounts.LogoutSession, pb.LogoutSessionRequest(access_token=login(accounts).access_token, session_id=second_id)
    )
    assert code == grpc.StatusCode.NOT_FOUND and detail.message == "Session not found"


def test_inai_mfa_login_needs_the_code_once(accounts, emulator):
    first = accounts.Login(pb.LoginRequest(email="bob@example.com", password=PASSWORD), timeout=5)
    assert first.mfa_required and first.mfa_token and not first.HasField("tokens")
    code = emulator.http.get("/_control/inai/mfa-code", params={"email": "bob@example.com"}).json()["code"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, detail = upstream_error(accounts.CompleteMfa, pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=wrong))
    assert detail.http_status == 401 and detail.message == "Invalid MFA code"
    done = accounts.CompleteMfa(pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=code), timeout=5)
    assert done.tokens.access_token and done.tokens.refresh_token
    status, detail = upstream_error(accounts.CompleteMfa, pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=code))
    assert detail.http_status == 401  # replay refused


def test_wrong_password_keeps_status_and_body_but_never_the_password(accounts):
    secret = "hunter2-is-not-it"
    code, detail = upstream_error(accounts.Login, pb.LoginRequest(email="alice@example.com", password=secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert detail.http_status == 401 and detail.message == "Invalid email or password"
    assert '"type"' in detail.body and '"status": 401' in detail.body
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
    assert not any("/inai/" in k or "/identity/" in k for k in emulator.counters())


def test_identity_down_is_unavailable(accounts, emulator):
    emulator.faults(error_rate=1.0, error_status=503, path_prefix="/inai")
    code, detail = upstream_error(accounts.Login, pb.LoginRequest(email="alice@example.com", password=PASSWORD))
    assert code == grpc.StatusCode.UNAVAILABLE and detail.http_status == 503


def test_health_lists_authy_and_identity(accounts):
    reply = accounts.proc.stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=10)
    names = {u.name: u.healthy for u in reply.upstreams}
    assert names.get("authy") is True and names.get("identity") is True


def test_logout_makes_verify_token_answer_revoked_for_the_tokens_it_handed_out(with_inai_issuer, emulator):
    accounts = with_inai_issuer
    tokens = login(accounts)
    verify = accounts.proc.stub.VerifyToken
    assert verify(auth_pb2.VerifyTokenRequest(token=tokens.access_token), timeout=10).valid
    rotated = accounts.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), timeout=5).tokens
    other = login(accounts)  # another session of the same user: not ended by this logout

    accounts.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    for ended in (tokens.access_token, rotated.access_token):
        after = verify(auth_pb2.VerifyTokenRequest(token=ended), timeout=10)
        assert not after.valid and after.reason == auth_pb2.REASON_REVOKED
    assert verify(auth_pb2.VerifyTokenRequest(token=other.access_token), timeout=10).valid
    assert accounts.proc.metric("authsidecar_logout_revocations_total", wired="yes") >= 1


# --- identity microservice (seed 004) --------------------------------------------------------------------
def test_service_login_me_sessions_refresh_and_logout_session(service, emulator):
    tokens = login(service)
    me = service.GetMe(pb.GetMeRequest(access_token=tokens.access_token), timeout=5)
    assert (me.user_id, me.email) == ("usr_alice", "alice@example.com")
    listed = service.ListSessions(pb.ListSessionsRequest(access_token=tokens.access_token), timeout=5).sessions
    (current,) = [s for s in listed if s.current]
    assert current.created_at > 0 and current.ip == "127.0.0.1"

    rotated = service.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), timeout=5).tokens
    code, detail = upstream_error(service.Refresh, pb.RefreshRequest(refresh_token=tokens.refresh_token))
    assert detail.http_status == 401 and detail.message == "Invalid refresh token"

    with pytest.raises(grpc.RpcError) as err:
        service.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "LogoutSession" in err.value.details()

    service.LogoutSession(
        pb.LogoutSessionRequest(access_token=rotated.access_token, session_id=current.session_id), timeout=5
    )
    assert current.session_id not in active_sessions(emulator, "identity")


def test_service_2fa_login_confirms_with_the_email_and_code(service, emulator):
    first = service.Login(pb.LoginRequest(email="bob@example.com", password=PASSWORD), timeout=5)
    assert first.mfa_required and first.mfa_token == "bob@example.com"
    code = emulator.http.get("/_control/identity/mfa-code", params={"email": "bob@example.com"}).json()["code"]
    done = service.CompleteMfa(pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=code), timeout=5)
    assert done.tokens.access_token and done.tokens.refresh_token
    status, detail = upstream_error(service.CompleteMfa, pb.CompleteMfaRequest(mfa_token=first.mfa_token, code=code))
    assert detail.http_status == 401 and detail.message == "Invalid 2FA code"
