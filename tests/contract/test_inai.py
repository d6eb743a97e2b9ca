"""The real @inai-dev/backend 1.10.0 against the emulator, and the sidecar's InAI adapter against the SDK.

`inai/drive.js` calls the SDK through its own base-URL option (apiUrl = {emulator}/inai); these tests
assert what the SDK parsed. Then the same operations go through the sidecar (identity.api: inai),
and each request the adapter sent is compared with the SDK's for that operation (method, path
template, publishable key, bearer, content type, body members and their types), from the requests
the emulator recorded. @inai-dev/shared and @inai-dev/types are not on the npm registry: shims/ holds
our stand-ins (the header name and the JWKS client come from there; see inai/shims/inai-shared/index.js).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

import pytest

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from sidecar import config as cfg

from .conftest import run_node

PASSWORD = "correct horse battery staple"
SDK = "inai"


@pytest.fixture(scope="module")
def project(node_project):
    return node_project(SDK)


def drive(project, emulator) -> dict:
    out = run_node(project, "drive.js", emulator.url, cfg.EMULATOR_INAI_PUBLISHABLE_KEY)
    assert "crashed" not in out, out.get("crashed")
    return out


def first_requests(emulator) -> dict[tuple[str, str], dict]:
    """The first recorded request of each (method, route template) under /inai/."""
    found: dict[tuple[str, str], dict] = {}
    for r in emulator.requests():
        if r["path"].startswith("/inai/"):
            found.setdefault((r["method"], r["route"]), r)
    return found


def problem(result: dict, status: int, detail: str) -> None:
    """The SDK threw InAIAuthError(detail, status, body) from an RFC 7807 answer."""
    assert not result["ok"]
    error = result["error"]
    assert (error["name"], error["status"], error["message"]) == ("InAIAuthError", status, detail)
    assert error["body"] == {"type": "about:blank", "title": error["body"]["title"], "status": status, "detail": detail}


def test_the_sdk_parses_every_answer(project, emulator):
    out = drive(project, emulator)
    login = out["login"]["value"]
    assert set(login) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert (login["token_type"], login["expires_in"], login["user"]["email"]) == ("Bearer", 900, "alice@example.com")

    # buildAuthObjectFromToken: ES256 through the JWKS; no session id in InAI's tokens.
    assert out["verify"] == {
        "userId": "usr_alice",
        "tenantId": "ten_emulator",
        "appId": "app_emulator",
        "envId": "env_emulator",
        "orgId": None,
        "sessionId": None,
        "roles": ["member"],
        "permissions": ["read"],
        "hasMember": True,
        "hasAdmin": False,
    }
    assert out["verifyForeign"] is None and out["verifyForged"] is None

    me = out["getMe"]["value"]["data"]
    assert (me["id"], me["email"], me["mfaEnabled"]) == ("usr_alice", "alice@example.com", False)

    sessions = out["listSessions"]["value"]["data"]
    assert out["secondSessionId"] in {s["id"] for s in sessions}
    for s in sessions:
        assert {"id", "userAgent", "ipAddress", "createdAt"} <= set(s) and s["ipAddress"] == "127.0.0.1"
        datetime.fromisoformat(s["createdAt"].replace("Z", "+00:00"))  # ISO 8601

    assert set(out["refresh"]["value"]) == {"access_token", "refresh_token", "token_type", "expires_in"}
    problem(out["refreshReplayed"], 401, "Invalid or expired refresh token")

    assert out["mfaLogin"]["value"]["mfa_required"] is True and out["mfaLogin"]["value"]["mfa_token"]
    problem(out["mfaWrong"], 401, "Invalid MFA code")
    assert out["mfaChallenge"]["value"]["user"]["email"] == "bob@example.com"

    assert out["revokeSession"]["value"] == {"message": "Session revoked"}
    problem(out["revokeAgain"], 404, "Session not found")
    problem(out["secondAfterRevoke"], 401, "Invalid or expired access token")

    assert out["logout"] == {"ok": True, "value": None}  # logout(): Promise<void>
    problem(out["meAfterLogout"], 401, "Invalid or expired access token")
    problem(out["badPassword"], 401, "Invalid email or password")
    problem(out["badKey"], 401, "Missing or invalid publishable key")


def test_the_sdk_parses_the_other_calls_the_readme_shows(project, emulator):
    """register, verifyEmail, setActiveOrganization, forgotPassword, resetPassword (not used by the sidecar)."""
    out = drive(project, emulator)
    registered = out["register"]["value"]
    assert registered["user"]["firstName"] == "Carol" and registered["access_token"] and registered["refresh_token"]
    problem(out["registerAgain"], 409, "A user with this email already exists")
    assert out["verifyEmail"]["value"] == {"message": "Email verified"}
    problem(out["verifyEmailAgain"], 400, "Invalid or expired verification token")
    assert set(out["setOrganization"]["value"]) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (out["organizationAuth"]["orgId"], out["organizationAuth"]["userId"]) == (
        "org_emulator",
        registered["user"]["id"],
    )
    problem(out["setUnknownOrganization"], 404, "Organization not found")
    assert out["clearOrganization"]["ok"]
    assert out["forgotPassword"]["value"] == out["forgotUnknown"]["value"]  # no account enumeration
    assert out["resetPassword"]["value"] == {"message": "Password has been reset"}
    problem(out["resetReplayed"], 400, "Invalid or expired reset token")  # a reset token works once
    problem(out["meAfterReset"], 401, "Invalid or expired access token")  # and the reset ended the sessions
    problem(out["loginOldPassword"], 401, "Invalid email or password")
    assert out["loginNewPassword"]["value"]["user"]["email"] == registered["user"]["email"]


OPERATIONS_THE_SIDECAR_USES = {
    ("POST", "/inai/api/v1/auth/login"),
    ("POST", "/inai/api/v1/auth/mfa/challenge"),
    ("POST", "/inai/api/v1/auth/refresh"),
    ("POST", "/inai/api/v1/auth/logout"),
    ("GET", "/inai/api/v1/auth/me"),
    ("GET", "/inai/api/v1/sessions"),
    ("POST", "/inai/api/v1/sessions/{session_id}/revoke"),
    ("GET", "/inai/.well-known/jwks.json"),
    ("POST", "/inai/api/v1/auth/register"),
    ("POST", "/inai/api/v1/auth/set-active-organization"),
    ("POST", "/inai/api/v1/auth/forgot-password"),
    ("POST", "/inai/api/v1/auth/reset-password"),
    ("POST", "/inai/api/v1/auth/verify-email"),
}


def _sidecar_operations(proc, emulator) -> None:
    """The same operations as drive.js, through the sidecar's AccountService."""
    accounts = factors_pb2_grpc.AccountServiceStub(proc.channel)
    login = lambda email: accounts.Login(pb.LoginRequest(email=email, password=PASSWORD), timeout=5)  # noqa: E731
    first = login("alice@example.com").tokens
    accounts.GetMe(pb.GetMeRequest(access_token=first.access_token), timeout=5)
    before = {
        s.session_id
        for s in accounts.ListSessions(pb.ListSessionsRequest(access_token=first.access_token), timeout=5).sessions
    }
    login("alice@example.com")
    listed = accounts.ListSessions(pb.ListSessionsRequest(access_token=first.access_token), timeout=5).sessions
    (second_id,) = {s.session_id for s in listed} - before
    rotated = accounts.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), timeout=5).tokens
    mfa = login("bob@example.com")
    code = emulator.http.get("/_control/inai/mfa-code", params={"email": "bob@example.com"}).json()["code"]
    accounts.CompleteMfa(pb.CompleteMfaRequest(mfa_token=mfa.mfa_token, code=code), timeout=5)
    accounts.LogoutSession(pb.LogoutSessionRequest(access_token=first.access_token, session_id=second_id), timeout=5)
    accounts.Logout(pb.LogoutRequest(refresh_token=rotated.refresh_token), timeout=5)
    proc.stub.CheckUpstreamHealth(auth_pb2.CheckUpstreamHealthRequest(), timeout=10)  # the JWKS probe

    # the app-user flows, in drive.js's order (the first request of each route is compared)
    email = f"carol-{secrets.token_hex(4)}@example.com"
    mailed = lambda: emulator.http.get("/_control/inai/mail", params={"email": email}).json()  # noqa: E731
    carol = accounts.Register(pb.RegisterRequest(email=email, password="first pass 1", first_name="Carol"), timeout=5)
    accounts.VerifyEmail(pb.VerifyEmailRequest(token=mailed()["verify"]), timeout=5)
    accounts.SetActiveOrganization(
        pb.SetActiveOrganizationRequest(access_token=carol.tokens.access_token, organization_id="org_emulator"),
        timeout=5,
    )
    accounts.SetActiveOrganization(  # empty clears it: the SDK's null
        pb.SetActiveOrganizationRequest(access_token=carol.tokens.access_token), timeout=5
    )
    accounts.ForgotPassword(pb.ForgotPasswordRequest(email=email), timeout=5)
    accounts.ResetPassword(pb.ResetPasswordRequest(token=mailed()["reset"], new_password="second pass 2"), timeout=5)


def _shape(request: dict) -> dict:
    """What must agree between the SDK's request and ours for one operation."""
    headers = request["headers"]
    body = json.loads(request["body"]) if request["body"] else None
    return {
        "publishable_key": headers.get("x-publishable-key"),
        "bearer": headers.get("authorization", "").startswith("Bearer ") or None,
        "content_type": headers.get("content-type"),
        "body": None if body is None else {k: type(v).__name__ for k, v in body.items()},
    }


def _organization_bodies(emulator) -> list[dict]:
    """The bodies of the accepted setActiveOrganization calls (a known organization, then null)."""
    return [
        json.loads(r["body"])
        for r in emulator.requests()
        if r["route"] == "/inai/api/v1/auth/set-active-organization" and "org_nope" not in r["body"]
    ]


def test_the_adapter_sends_what_the_sdk_sends(project, sidecar, emulator):
    emulator.reset()
    drive(project, emulator)
    sdk = {op: _shape(r) for op, r in first_requests(emulator).items()}
    sdk_organizations = _organization_bodies(emulator)
    emulator.reset()
    _sidecar_operations(sidecar, emulator)
    ours = {op: _shape(r) for op, r in first_requests(emulator).items()}
    assert (
        _organization_bodies(emulator)
        == sdk_organizations[:2]
        == [{"organizationId": "org_emulator"}] + [{"organizationId": None}]
    )

    sdk = {op: shape for op, shape in sdk.items() if op in OPERATIONS_THE_SIDECAR_USES}
    expected = OPERATIONS_THE_SIDECAR_USES
    assert set(sdk) == expected and set(ours) == expected  # nothing the SDK never sends
    for operation in sorted(expected):
        assert ours[operation] == sdk[operation], operation
    # and what they agree on is the wire the issue names
    # (the request log keeps a key only as a fingerprint, emulator/redaction.py; the emulator refuses a wrong one)
    login = dict(sdk[("POST", "/inai/api/v1/auth/login")])
    assert login.pop("publishable_key").startswith("[redacted ")
    assert login == {"bearer": None, "content_type": "application/json", "body": {"email": "str", "password": "str"}}
    assert sdk[("POST", "/inai/api/v1/sessions/{session_id}/revoke")]["body"] is None
    assert sdk[("GET", "/inai/.well-known/jwks.json")]["publishable_key"] is None
    assert sdk[("POST", "/inai/api/v1/auth/register")]["body"] == {
        "email": "str",
        "password": "str",
        "firstName": "str",
    }
    assert sdk[("POST", "/inai/api/v1/auth/set-active-organization")]["bearer"] is True
    assert sdk[("POST", "/inai/api/v1/auth/reset-password")]["body"] == {"token": "str", "password": "str"}
