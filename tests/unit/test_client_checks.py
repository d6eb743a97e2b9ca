"""authsidecar_client.checks, the middleware's decisions without a framework or a socket: credentials
read from headers and JSON bodies (hostile ones included), answers mapped to ext_authz's statuses."""

from __future__ import annotations

import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar_client.checks import (
    DEFAULT_HEADERS,
    MAX_CREDENTIAL_BYTES,
    Approval,
    Check,
    Credentials,
    Denial,
    Identity,
    bearer,
    forged,
    from_headers,
    from_json,
)


def denied(call) -> Denial:
    with pytest.raises(Denial) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcg==", "Bearer", "Bearer a b", "Bearer é", "Bearer a\x00", "x" * (MAX_CREDENTIAL_BYTES + 1)],
)
def test_unusable_authorization_is_401_invalid_request_before_any_call(value):
    d = denied(lambda: bearer(value))
    assert d.status == 401 and d.headers == (
        ("www-authenticate", 'Bearer realm="authsidecar", error="invalid_request"'),
    )


def test_bearer_reads_the_token_and_absent_is_none():
    assert bearer("Bearer abc.def") == "abc.def" and bearer("bearer  abc ") == "abc"
    assert bearer(None) is None and bearer("") is None


@pytest.mark.parametrize(
    "body",
    [b"[", b"[]", b'"x"', b"[" * 100_000, b'{"session_token": 5, "phone": "+1"}', b'{"session_token": ["a"]}'],
)
def test_hostile_json_bodies_are_401_never_a_crash(body):
    assert denied(lambda: from_json(body, "session_token", "phone")).status == 401


def test_json_body_credentials_and_a_key_given_twice_is_refused():
    assert from_json(b'{"session_token": "t", "phone": "+1"}', "session_token", "phone") == Credentials("t", "+1")
    assert from_json(b"", "session_token", "phone") == Credentials(None, None)
    twice = b'{"session_token": "t", "phone": "+1", "phone": "+2"}'
    assert denied(lambda: from_json(twice, "session_token", "phone")).status == 401


def test_missing_credentials_answer_as_ext_authz():
    session = denied(lambda: Check("session").call(Credentials(None, "+1")))
    assert (session.status, session.headers) == (401, (("www-authenticate", 'Session realm="authsidecar"'),))
    assert denied(lambda: Check("session").call(Credentials("t", None))).status == 401  # no phone
    assert denied(lambda: Check("approval").call(Credentials(None, "+1"))).reason == "approval_required"
    assert denied(lambda: Check("challenge").call(Credentials(None))).status == 403


def test_reasons_map_to_statuses():
    jwt = Check("jwt", scopes=("orders:read",))
    assert jwt.denial(pb.REASON_EXPIRED).status == 401
    scope = jwt.denial(pb.REASON_INSUFFICIENT_SCOPE)
    assert scope.status == 403 and 'scope="orders:read"' in scope.headers[0][1]
    assert jwt.denial(pb.REASON_UPSTREAM_UNAVAILABLE).status == 503
    assert jwt.denial(pb.REASON_UNSPECIFIED).status == 503  # "not valid" without a reason: fail closed
    assert Check("approval").denial(pb.REASON_ALREADY_USED).status == 403


def test_not_valid_without_a_reason_is_never_a_pass():
    check = Check("session")
    assert denied(lambda: check.decide(pb.VerifySessionResponse(valid=False), Credentials("t", "+1"))).status == 503
    # a valid answer that still carries a reason is not a pass either
    answer = pb.VerifySessionResponse(valid=True, reason=pb.REASON_REVOKED)
    assert denied(lambda: check.decide(answer, Credentials("t", "+1"))).status == 401
    revoked = pb.IsRevokedResponse(revoked=True, reason=pb.REASON_UPSTREAM_UNAVAILABLE)
    assert denied(lambda: Check("revocation").decide(revoked, Credentials("t", "+1"))).status == 503


def test_an_approval_for_another_action_is_refused_after_being_spent():
    answer = pb.VerifyApprovalResponse(valid=True, action="pay")
    d = denied(lambda: Check("approval", action="transfer").decide(answer, Credentials("a", "+1")))
    assert (d.status, d.reason) == (403, "action_mismatch")
    assert Check("approval").decide(answer, Credentials("a", "+1")) == Approval("pay")


def test_identity_headers_carry_only_what_a_header_can():
    identity = Identity("jwt", "user-1", issuer="https://iss", scopes=("a", "b"))
    assert identity.headers() == [
        ("x-auth-subject", "user-1"),
        ("x-auth-issuer", "https://iss"),
        ("x-auth-scopes", "a b"),
    ]
    assert Identity("jwt", "usér\r\n").headers() == []


def test_forged_identity_headers_in_every_spelling():
    assert forged("X-Auth-Subject") and forged("x_auth_subject") and forged("X_AUTH_PHONE")
    assert not forged("authorization") and not forged("x-authority")


def test_credentials_come_from_the_configured_headers():
    headers = {"x-session-token": "s", "x-user-phone": "+1", "authorization": "Bearer j", "x-approval-token": "a"}
    assert from_headers("session", headers.get, DEFAULT_HEADERS) == Credentials("s", "+1")
    assert from_headers("jwt", headers.get, DEFAULT_HEADERS) == Credentials("j")
    assert from_headers("approval", headers.get, DEFAULT_HEADERS) == Credentials("a", "+1")
    with pytest.raises(ValueError):
        Check("nonsense")
