"""AccountService's app-user flows end to end: a real sidecar process against the emulator's two wires.

InAI (`identity.api: inai`): Register, VerifyEmail, SetActiveOrganization, ForgotPassword, ResetPassword.
The identity microservice (`identity.api: identity-service`): ToggleTwoFactor, ConfirmEnableTwoFactor,
RequestEmailChange, ConfirmEmailChange. Each flavour answers the other's calls UNIMPLEMENTED without a
request upstream; mailed tokens are answered once; a reset or email change ends the account's sessions
at the platform and, for the tokens that passed through the sidecar, in VerifyToken at once.
"""

from __future__ import annotations

import secrets

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
def inai(sidecar_factory, emulator):
    """identity.api inai, with the emulated InAI as a token issuer (its tokens carry no iss)."""
    issuer = {
        "issuer": f"{emulator.url}/inai",
        "jwks_uri": f"{emulator.url}/inai/.well-known/jwks.json",
        "algorithms": ["ES256"],
        "accept_missing_iss": True,
    }
    return stub(sidecar_factory({"issuers": emulator_config(emulator.url)["issuers"] + [issuer]}))


@pytest.fixture
def service(sidecar_factory, emulator):
    return stub(
        sidecar_factory(
            {"identity": {"api": "identity-service", "base_url": f"{emulator.url}/identity/api", "api_key": ""}}
        )
    )


def fresh_email(name: str) -> str:
    return f"{name}-{secrets.token_hex(4)}@example.com"


def refused(call, request) -> tuple[grpc.StatusCode, errors_pb2.UpstreamErrorDetail]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=5)
    detail = errors_pb2.UpstreamErrorDetail()
    status = rpc_status.from_call(err.value)
    assert status is not None and status.details[0].Unpack(detail), err.value
    return err.value.code(), detail


def verify(accounts, token: str) -> auth_pb2.VerifyTokenResponse:
    return accounts.proc.stub.VerifyToken(auth_pb2.VerifyTokenRequest(token=token), timeout=10)


def mail(emulator, email: str) -> dict:
    return emulator.http.get("/_control/inai/mail", params={"email": email}).json()


# --- InAI -----------------------------------------------------------------------------------------------
def test_inai_register_verify_email_and_switch_organization(inai, emulator):
    email = fresh_email("carol")
    registered = inai.Register(pb.RegisterRequest(email=email, password="first pass 1", first_name="Carol"), timeout=5)
    assert registered.user_id.startswith("usr_") and registered.tokens.expires_in == 900
    assert verify(inai, registered.tokens.access_token).valid
    me = inai.GetMe(pb.GetMeRequest(access_token=registered.tokens.access_token), timeout=5)
    assert (me.email, me.first_name) == (email, "Carol")
    code, detail = refused(inai.Register, pb.RegisterRequest(email=email, password="x"))
    assert (code, detail.http_status, detail.message) == (
        grpc.StatusCode.ALREADY_EXISTS,
        409,
        "A user with this email already exists",
    )

    token = mail(emulator, email)["verify"]
    assert inai.VerifyEmail(pb.VerifyEmailRequest(token=token), timeout=5).message == "Email verified"
    code, detail = refused(inai.VerifyEmail, pb.VerifyEmailRequest(token=token))  # a replay: answered once
    assert (code, detail.http_status) == (grpc.StatusCode.INVALID_ARGUMENT, 400)

    switched = inai.SetActiveOrganization(
        pb.SetActiveOrganizationRequest(access_token=registered.tokens.access_token, organization_id="org_emulator"),
        timeout=5,
    ).tokens
    answer = verify(inai, switched.access_token)
    assert answer.valid and answer.auth.org_id == "org_emulator"
    cleared = inai.SetActiveOrganization(
        pb.SetActiveOrganizationRequest(access_token=switched.access_token), timeout=5
    ).tokens
    assert verify(inai, cleared.access_token).auth.org_id == ""
    code, _ = refused(
        inai.SetActiveOrganization,
        pb.SetActiveOrganizationRequest(access_token=cleared.access_token, organization_id="org_nope"),
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_inai_password_reset_ends_the_sessions_and_revokes_what_the_sidecar_handed_out(inai, emulator):
    email = fresh_email("dave")
    registered = inai.Register(pb.RegisterRequest(email=email, password="first pass 1"), timeout=5).tokens
    second = inai.Login(pb.LoginRequest(email=email, password="first pass 1"), timeout=5).tokens
    switched = inai.SetActiveOrganization(
        pb.SetActiveOrganizationRequest(access_token=second.access_token, organization_id="org_emulator"), timeout=5
    ).tokens
    other = inai.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5).tokens
    for t in (registered, second, switched, other):
        assert verify(inai, t.access_token).valid

    unknown = inai.ForgotPassword(pb.ForgotPasswordRequest(email=fresh_email("nobody")), timeout=5).message
    assert inai.ForgotPassword(pb.ForgotPasswordRequest(email=email), timeout=5).message == unknown  # no enumeration
    token = mail(emulator, email)["reset"]
    reset = inai.ResetPassword(
        pb.ResetPasswordRequest(token=token, new_password="second pass 2", email=email.upper()), timeout=5
    )
    assert reset.message == "Password has been reset" and reset.revoked_tokens == 3
    for ended in (registered, second, switched):
        after = verify(inai, ended.access_token)
        assert not after.valid and after.reason == auth_pb2.REASON_REVOKED
        code, _ = refused(inai.Refresh, pb.RefreshRequest(refresh_token=ended.refresh_token))  # ended upstream too
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert verify(inai, other.access_token).valid  # another account: untouched

    code, detail = refused(inai.ResetPassword, pb.ResetPasswordRequest(token=token, new_password="third pass 3"))
    assert (code, detail.message) == (grpc.StatusCode.INVALID_ARGUMENT, "Invalid or expired reset token")
    code, _ = refused(inai.Login, pb.LoginRequest(email=email, password="first pass 1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert inai.Login(pb.LoginRequest(email=email, password="second pass 2"), timeout=5).tokens.access_token
    log = inai.proc.log()  # mail tokens and passwords never reach the log
    assert token not in log and "second pass 2" not in log and registered.access_token not in log


def test_a_refused_reset_revokes_nothing(inai, emulator):
    """Anyone may name an email: only the platform's acceptance of the mailed token ends its sessions here."""
    tokens = inai.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5).tokens
    code, _ = refused(
        inai.ResetPassword,
        pb.ResetPasswordRequest(token="pr_forged", new_password="x", email="alice@example.com"),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert verify(inai, tokens.access_token).valid


# --- the identity microservice (seed 004) ----------------------------------------------------------------
def test_service_turns_two_factor_on_with_the_code_once_and_off(service, emulator):
    email = fresh_email("erin")
    emulator.http.post("/_control/identity/users", json={"email": email}).raise_for_status()
    tokens = service.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5).tokens
    access = tokens.access_token

    toggled = service.ToggleTwoFactor(pb.ToggleTwoFactorRequest(access_token=access, enable=True), timeout=5)
    assert toggled.confirmation_required and len(toggled.code) == 6
    wrong = f"{(int(toggled.code) + 1) % 10**6:06d}"
    code, _ = refused(
        service.ConfirmEnableTwoFactor, pb.ConfirmEnableTwoFactorRequest(access_token=access, email=email, code=wrong)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    confirm = pb.ConfirmEnableTwoFactorRequest(access_token=access, email=email, code=toggled.code)
    assert service.ConfirmEnableTwoFactor(confirm, timeout=5).message == "2FA enabled"
    assert service.GetMe(pb.GetMeRequest(access_token=access), timeout=5).mfa_enabled
    code, _ = refused(service.ConfirmEnableTwoFactor, confirm)  # the code works once
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert service.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5).mfa_required

    off = service.ToggleTwoFactor(pb.ToggleTwoFactorRequest(access_token=access, enable=False), timeout=5)
    assert not off.confirmation_required and off.code == ""
    assert not service.GetMe(pb.GetMeRequest(access_token=access), timeout=5).mfa_enabled


def test_service_email_change_is_answered_once_and_ends_the_sessions(service, emulator):
    email, new = fresh_email("frank"), fresh_email("frank-new")
    emulator.http.post("/_control/identity/users", json={"email": email}).raise_for_status()
    first = service.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5).tokens
    second = service.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5).tokens
    before = service.proc.metric("authsidecar_logout_revocations_total", wired="yes")

    change = service.RequestEmailChange(
        pb.RequestEmailChangeRequest(access_token=first.access_token, new_email=new), timeout=5
    )
    assert change.email_change_token
    code, _ = refused(  # the token is for `new`, not another address
        service.ConfirmEmailChange,
        pb.ConfirmEmailChangeRequest(
            access_token=first.access_token, email="x@example.com", token=change.email_change_token
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # ... and that refusal spent it: a token is answered once
    code, _ = refused(
        service.ConfirmEmailChange,
        pb.ConfirmEmailChangeRequest(access_token=first.access_token, email=new, token=change.email_change_token),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    change = service.RequestEmailChange(
        pb.RequestEmailChangeRequest(access_token=first.access_token, new_email=new), timeout=5
    )
    done = service.ConfirmEmailChange(
        pb.ConfirmEmailChangeRequest(access_token=first.access_token, email=new, token=change.email_change_token),
        timeout=5,
    )
    assert done.message == "Email changed" and done.revoked_tokens == 2
    assert service.proc.metric("authsidecar_logout_revocations_total", wired="yes") == before + 1
    for ended in (first, second):  # the service ended every session of the user
        code, _ = refused(service.GetMe, pb.GetMeRequest(access_token=ended.access_token))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert service.Login(pb.LoginRequest(email=new, password=PASSWORD), timeout=5).tokens.access_token
    log = service.proc.log()
    assert change.email_change_token not in log and first.access_token not in log


# --- the other flavour, and bad input ----------------------------------------------------------------------
INAI_ONLY = [
    ("Register", pb.RegisterRequest(email="a@example.com", password="p")),
    ("SetActiveOrganization", pb.SetActiveOrganizationRequest(access_token="at_x", organization_id="o")),
    ("ForgotPassword", pb.ForgotPasswordRequest(email="a@example.com")),
    ("ResetPassword", pb.ResetPasswordRequest(token="t", new_password="p", email="a@example.com")),
    ("VerifyEmail", pb.VerifyEmailRequest(token="t")),
]
SERVICE_ONLY = [
    ("ToggleTwoFactor", pb.ToggleTwoFactorRequest(access_token="at_x", enable=True)),
    ("ConfirmEnableTwoFactor", pb.ConfirmEnableTwoFactorRequest(access_token="at_x", email="a@example.com", code="1")),
    ("RequestEmailChange", pb.RequestEmailChangeRequest(access_token="at_x", new_email="a@example.com")),
    ("ConfirmEmailChange", pb.ConfirmEmailChangeRequest(access_token="at_x", email="a@example.com", token="t")),
]


def test_each_flavour_answers_the_others_calls_unimplemented_without_asking(inai, service, emulator):
    emulator.reset()
    for accounts, calls, serves in ((inai, SERVICE_ONLY, "identity-service"), (service, INAI_ONLY, "inai")):
        for method, request in calls:
            with pytest.raises(grpc.RpcError) as err:
                getattr(accounts, method)(request, timeout=5)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, method
            assert f"served by identity.api {serves}" in err.value.details(), method
    assert [r for r in emulator.requests() if "/inai/api/" in r["path"] or "/identity/api/auth" in r["path"]] == []


LONG = "t" * 8193  # limits.max_token_bytes + 1
BAD = [
    ("Register", pb.RegisterRequest(password="p"), "email: is required"),
    ("Register", pb.RegisterRequest(email="no-at-sign", password="p"), "email: is not an email address"),
    ("Register", pb.RegisterRequest(email="a@example.com", password="p" * 1025), "password: is longer than"),
    ("Register", pb.RegisterRequest(email="a@example.com", password="p", first_name="x" * 513), "first_name: is"),
    ("SetActiveOrganization", pb.SetActiveOrganizationRequest(organization_id="o"), "access_token: is required"),
    (
        "SetActiveOrganization",
        pb.SetActiveOrganizationRequest(access_token="a", organization_id="o\n"),
        "organization_id: contains control",
    ),
    ("ForgotPassword", pb.ForgotPasswordRequest(), "email: is required"),
    ("ResetPassword", pb.ResetPasswordRequest(token=LONG, new_password="p"), "token: is larger than 8192 bytes"),
    ("ResetPassword", pb.ResetPasswordRequest(token="tö", new_password="p"), "token: must be printable ASCII"),
    ("ResetPassword", pb.ResetPasswordRequest(token="t"), "new_password: is required"),
    ("ResetPassword", pb.ResetPasswordRequest(token="t", new_password="p", email="x"), "email: is not an email"),
    ("VerifyEmail", pb.VerifyEmailRequest(), "token: is required"),
    ("ToggleTwoFactor", pb.ToggleTwoFactorRequest(enable=True), "access_token: is required"),
    (
        "ConfirmEnableTwoFactor",
        pb.ConfirmEnableTwoFactorRequest(access_token="a", email="a@example.com", code="1" * 33),
        "code: is longer than 32",
    ),
    ("RequestEmailChange", pb.RequestEmailChangeRequest(access_token="a", new_email=""), "new_email: is required"),
    (
        "ConfirmEmailChange",
        pb.ConfirmEmailChangeRequest(access_token="a", email="a@example.com", token=LONG),
        "token: is larger than",
    ),
]


@pytest.mark.parametrize(("method", "request_", "message"), BAD, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)])
def test_bad_input_is_invalid_argument_naming_the_field(shared_sidecar, method, request_, message):
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub(shared_sidecar), method)(request_, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(message), err.value.details()
