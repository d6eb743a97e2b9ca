"""The sidecar's identity-microservice requests (`identity.api: identity-service`), as the emulator
recorded them, pinned to the docs/upstreams.md table.

No client of this service is published (seed 004 is its README), so there is no vendor script: a
real sidecar process does every account operation and each request must be one of the table's rows
(method, path, bearer or not, body members), and no request may fall outside it. No API key is sent.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import grpc
import pytest

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb

DOC = Path(__file__).resolve().parents[2] / "docs" / "upstreams.md"
PREFIX = "/identity/api"
PASSWORD = "correct horse battery staple"
# (method, path) → (bearer, body members or None for no body)
WIRE = {
    ("POST", "/auth/login"): (False, {"email", "password"}),
    ("POST", "/auth/2fa/confirm-login"): (False, {"email", "code"}),
    ("POST", "/auth/refresh"): (False, {"refreshToken"}),
    ("GET", "/auth/me"): (True, None),
    ("GET", "/auth/sessions"): (True, None),
    ("POST", "/auth/sessions/logout"): (True, {"sessionId"}),
    ("GET", "/health"): (False, None),
    ("POST", "/auth/2fa/toggle"): (True, {"enable"}),
    ("POST", "/auth/2fa/confirm-enable"): (True, {"email", "code"}),
    ("POST", "/auth/email/change-request"): (True, {"newEmail"}),
    ("POST", "/auth/email/change-confirm"): (True, {"email", "token"}),
}


def test_the_table_in_the_docs_is_this_one():
    section = DOC.read_text().split("## Identity microservice", 1)[1]
    for method, path in WIRE:
        assert f"{method} `{path}`" in section, (method, path)


@pytest.fixture
def service(sidecar_factory, emulator):
    proc = sidecar_factory(
        {"identity": {"api": "identity-service", "base_url": f"{emulator.url}{PREFIX}", "api_key": ""}}
    )
    accounts = factors_pb2_grpc.AccountServiceStub(proc.channel)
    accounts.proc = proc
    return accounts


def _every_operation(accounts, emulator) -> None:
    login = lambda email: accounts.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5)  # noqa: E731
    tokens = login("alice@example.com").tokens
    accounts.GetMe(pb.GetMeRequest(access_token=tokens.access_token), timeout=5)
    listed = accounts.ListSessions(pb.ListSessionsRequest(access_token=tokens.access_token), timeout=5).sessions
    rotated = accounts.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), timeout=5).tokens
    mfa = login("bob@example.com")
    code = emulator.http.get("/_control/identity/mfa-code", params={"email": "bob@example.com"}).json()["code"]
    accounts.CompleteMfa(pb.CompleteMfaRequest(mfa_token=mfa.mfa_token, code=code), timeout=5)
    (current,) = [s for s in listed if s.current]
    accounts.LogoutSession(
        pb.LogoutSessionRequest(access_token=rotated.access_token, session_id=current.session_id), timeout=5
    )
    with pytest.raises(grpc.RpcError):  # no such call on this service: nothing may be sent for it
        accounts.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    accounts.proc.stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=10)

    email = f"gina-{secrets.token_hex(4)}@example.com"  # a fresh user: these calls change the account
    emulator.http.post("/_control/identity/users", json={"email": email}).raise_for_status()
    access = login(email).tokens.access_token
    toggled = accounts.ToggleTwoFactor(pb.ToggleTwoFactorRequest(access_token=access, enable=True), timeout=5)
    accounts.ConfirmEnableTwoFactor(
        pb.ConfirmEnableTwoFactorRequest(access_token=access, email=email, code=toggled.code), timeout=5
    )
    new = f"gina-new-{secrets.token_hex(4)}@example.com"
    token = accounts.RequestEmailChange(
        pb.RequestEmailChangeRequest(access_token=access, new_email=new), timeout=5
    ).email_change_token
    accounts.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(access_token=access, email=new, token=token), timeout=5)


def test_every_request_is_a_row_of_the_table(service, emulator):
    emulator.reset()
    _every_operation(service, emulator)
    sent = [r for r in emulator.requests() if r["path"].startswith(PREFIX)]
    seen = set()
    for r in sent:
        operation = (r["method"], r["route"].removeprefix(PREFIX))
        assert operation in WIRE, f"a request outside the table: {operation}"
        bearer, members = WIRE[operation]
        headers = r["headers"]
        assert headers.get("authorization", "").startswith("Bearer ") == bearer, operation
        assert not {"x-api-key", "x-publishable-key"} & set(headers), operation
        if members is None:
            assert r["body"] == "", operation
        else:
            assert headers.get("content-type") == "application/json", operation
            assert set(json.loads(r["body"])) == members, operation
        seen.add(operation)
    assert seen == set(WIRE)
