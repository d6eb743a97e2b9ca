"""Whatever an upstream answers, the sidecar answers: fail closed with a metric, never INTERNAL or valid.

A real sidecar talks to the emulator, whose `answer_status`/`answer_body` fault answers every
request under a path prefix with a body generated here — wrong types, missing and extra fields,
huge numbers and strings, deep nesting, odd unicode, bytes that are not UTF-8 — so each adapter's
parsing (platform, challenges, authy, identity) is fuzzed through the HTTP it really reads, whatever
request shape the adapter uses. A verification is valid only when the generated body really says
so; every call ends in an answer or a documented status; the log never holds a traceback.
SSE event data and JWKS documents are fuzzed on their parsing functions in test_upstream_parsing.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2 as fpb
from authsidecar.v1 import factors_pb2_grpc
from harness.processes import SidecarProcess, deep_merge, emulator_config

PHONE = "+14155552671"
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class Case:
    name: str
    prefix: str  # the upstream paths whose answers are generated
    call: Callable[[Any], Any]  # stubs → response (a unique token per call)
    says_valid: Callable[[Any], bool] = lambda body: True  # does this (parsed) body really say "valid"?
    valid: Callable[[Any], bool] = lambda reply: False  # is the reply a "valid"?


def _t() -> str:
    return f"t-{uuid.uuid4().hex}"


def _get(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


CASES = [
    Case(
        "VerifySession",
        "/v2/backend/session",
        lambda s: s.auth.VerifySession(pb.VerifySessionRequest(session_token=_t(), phone=PHONE), timeout=10),
        lambda b: str(_get(b, "status")).lower() == "verified",
        lambda r: r.valid,
    ),
    Case(
        "GetSessionStatus",
        "/v2/backend/session",
        lambda s: s.auth.GetSessionStatus(pb.GetSessionStatusRequest(session_token=_t(), phone=PHONE), timeout=10),
    ),
    Case(
        "IsRevoked",
        "/v2/backend/session",
        lambda s: s.auth.IsRevoked(pb.IsRevokedRequest(session_token=_t(), phone=PHONE), timeout=10),
        lambda b: str(_get(b, "status")).lower() in ("verified", "pending"),
        lambda r: not r.revoked,
    ),
    Case(
        "VerifyApproval",
        "/v2/approval",
        lambda s: s.auth.VerifyApproval(pb.VerifyApprovalRequest(approval_token=_t(), phone=PHONE), timeout=10),
        lambda b: _get(b, "valid") is True,
        lambda r: r.valid,
    ),
    Case(
        "ValidateChallenge",
        "/v1/validate",
        lambda s: s.auth.ValidateChallenge(pb.ValidateChallengeRequest(token=_t()), timeout=10),
        lambda b: _get(b, "isValid") is True and _get(b, "state") == "CHALLENGE_SUCCEEDED",
        lambda r: r.is_valid,
    ),
    Case("Track", "/v1/users", lambda s: s.auth.Track(pb.TrackRequest(user_id="u-1", action="signIn"), timeout=10)),
    Case(
        "GetAction",
        "/v1/users",
        lambda s: s.auth.GetAction(
            pb.GetActionRequest(user_id="u-1", action="signIn", idempotency_key="k"), timeout=10
        ),
    ),
    Case("GetUser", "/v1/users", lambda s: s.auth.GetUser(pb.GetUserRequest(user_id="u-1"), timeout=10)),
    Case(
        "EnrollVerifiedAuthenticator",
        "/v1/users",
        lambda s: s.auth.EnrollVerifiedAuthenticator(
            pb.EnrollVerifiedAuthenticatorRequest(user_id="u-1", verification_method="SMS", phone_number=PHONE),
            timeout=10,
        ),
    ),
    Case(
        "VerifyTotp",
        "/authy/protected/json/verify",
        lambda s: s.factors.VerifyTotp(fpb.VerifyTotpRequest(user_id="123", code="0123456"), timeout=10),
        lambda b: str(_get(b, "success")).lower() == "true" and _get(b, "token") == "is valid",
        lambda r: r.valid,
    ),
    Case(
        "CreateApprovalRequest",
        "/authy/onetouch",
        lambda s: s.factors.CreateApprovalRequest(
            fpb.CreateApprovalRequestRequest(user_id="123", message="m"), timeout=10
        ),
    ),
    Case(
        "GetApprovalRequest",
        "/authy/onetouch",
        lambda s: s.factors.GetApprovalRequest(fpb.GetApprovalRequestRequest(id=_t()), timeout=10),
    ),
    Case(
        "StartPhoneVerification",
        "/authy/protected/json/phones",
        lambda s: s.factors.StartPhoneVerification(
            fpb.StartPhoneVerificationRequest(country="US", phone="4155552671"), timeout=10
        ),
    ),
    Case(
        "CheckPhoneVerification",
        "/authy/protected/json/phones",
        lambda s: s.factors.CheckPhoneVerification(
            fpb.CheckPhoneVerificationRequest(country="US", phone="4155552671", code=str(uuid.uuid4().int)[:6]),
            timeout=10,
        ),
        lambda b: _get(b, "success") in (True, "true"),
        lambda r: r.valid,
    ),
    Case(
        "RequestSms",
        "/authy/protected/json/sms",
        lambda s: s.factors.RequestSms(fpb.RequestSmsRequest(user_id="123"), timeout=10),
    ),
    Case(
        "RequestCall",
        "/authy/protected/json/call",
        lambda s: s.factors.RequestCall(fpb.RequestCallRequest(user_id="123"), timeout=10),
    ),
    Case(
        "RegisterUser",
        "/authy/protected/json/users",
        lambda s: s.factors.RegisterUser(
            fpb.RegisterUserRequest(email="a@b.c", country="US", phone="4155552671"), timeout=10
        ),
    ),
    Case(
        "GetUserStatus",
        "/authy/protected/json/users",
        lambda s: s.factors.GetUserStatus(fpb.GetUserStatusRequest(user_id="123"), timeout=10),
    ),
    Case(
        "DeleteUser",
        "/authy/protected/json/users",
        lambda s: s.factors.DeleteUser(fpb.DeleteUserRequest(user_id="123"), timeout=10),
    ),
    Case(
        "CompleteMfa",
        "/inai/api/v1",
        lambda s: s.accounts.CompleteMfa(fpb.CompleteMfaRequest(mfa_token=_t(), code="123456"), timeout=10),
    ),
    Case(
        "LogoutSession",
        "/inai/api/v1",
        lambda s: s.accounts.LogoutSession(fpb.LogoutSessionRequest(access_token=_t(), session_id="s-1"), timeout=10),
    ),
    Case(
        "CheckUpstreamHealth",
        "/",  # every upstream route at once (the control API is never faulted)
        lambda s: s.auth.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=10),
    ),
    Case(
        "Login", "/inai/api/v1", lambda s: s.accounts.Login(fpb.LoginRequest(email="a@b.c", password="pw"), timeout=10)
    ),
    Case("Refresh", "/inai/api/v1", lambda s: s.accounts.Refresh(fpb.RefreshRequest(refresh_token=_t()), timeout=10)),
    Case("GetMe", "/inai/api/v1", lambda s: s.accounts.GetMe(fpb.GetMeRequest(access_token=_t()), timeout=10)),
    Case(
        "ListSessions",
        "/inai/api/v1",
        lambda s: s.accounts.ListSessions(fpb.ListSessionsRequest(access_token=_t()), timeout=10),
    ),
    Case("Logout", "/inai/api/v1", lambda s: s.accounts.Logout(fpb.LogoutRequest(refresh_token=_t()), timeout=10)),
]
FIELDS = [
    "status",
    "phone",
    "expires_at",
    "session_id",
    "session_token",
    "valid",
    "reason",
    "action",
    "isValid",
    "state",
    "userId",
    "actionCode",
    "stateUpdatedAt",
    "createdAt",
    "rules",
    "ruleId",
    "authenticator",
    "recoveryCodes",
    "success",
    "token",
    "message",
    "seconds_to_expire",
    "is_cellphone",
    "approval_request",
    "uuid",
    "user",
    "id",
    "devices",
    "access_token",
    "refresh_token",
    "expires_in",
    "sessions",
    "sessionId",
    "lastSeenAt",
    "data",
    "email",
    "mfa_required",
    "mfa_token",
    "code",
    "error_code",
    "error",
    "errorDescription",
]

# --- generated answers ----------------------------------------------------------------------------
odd_text = st.one_of(
    st.text(max_size=16),
    st.sampled_from(
        [
            "",
            "verified",
            "VERIFIED",
            "true",
            "CHALLENGE_SUCCEEDED",
            "is valid",
            "approved",
            PHONE,
            "\ud800",
            "\udfff\ud800",
            "\x00",
            "a\r\nb",
            "\u202e",
            "\U0001f600",
            "1e999",
            "NaN",
            "-1",
            "99999999999999999999999",
            "x" * 5000,
        ]
    ),
)
numbers = st.one_of(
    st.integers(),
    st.floats(),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64, 2**31, -1, 0, 1.7e12, 1e308, 5e-324]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.one_of(st.sampled_from(FIELDS), odd_text), inner, max_size=5)
    ),
    max_leaves=25,
)
shaped = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
nested_objects = st.dictionaries(
    st.sampled_from(["approval_request", "user", "status", "data", "authenticator"]), shaped, min_size=1, max_size=3
)


def _dumps(value: Any) -> str:
    # Python's json writes NaN/Infinity (not JSON): a platform might too; the sidecar must cope.
    return json.dumps(value)


bodies = st.one_of(
    st.one_of(shaped, nested_objects).map(_dumps),
    values.map(_dumps),
    st.integers(1, 5000).map(lambda d: "[" * d + "]" * d),  # past the JSON parser's recursion limit
    st.integers(1, 5000).map(lambda d: '{"a":' * d + "1" + "}" * d),
    st.sampled_from(
        [
            "",
            "null",
            "{",
            "<html>oops</html>",
            '{"status": "verified", "status": "revoked"}',
            '{"expires_at": 1e999}',
            '{"expires_at": NaN, "status": "verified", "phone": "+14155552671"}',
            '{"success": true, "token": "is valid"}' * 2,
            "\ufeff{}",
            '"\\ud800"',
        ]
    ),
    st.text(max_size=200),
)
statuses = st.sampled_from([200, 200, 200, 200, 201, 204, 400, 401, 401, 403, 404, 409, 429, 500, 503])


# --- the live pair --------------------------------------------------------------------------------
@dataclass
class Live:
    sidecar: SidecarProcess
    emulator: Any
    auth: Any
    factors: Any
    accounts: Any


def _live_pair(emulator, tmp, overrides: dict | None = None) -> Iterator[Live]:
    # Circuits that never open: every generated answer must reach the adapter's parsing.
    never_open = {"circuit": {"failure_threshold": 1_000_000}}
    config = deep_merge(emulator_config(emulator.url), {**never_open, **(overrides or {})})
    sc = SidecarProcess(config, tmp)
    sc.wait_for("SERVING")
    yield Live(
        sc,
        emulator,
        sc.stub,
        factors_pb2_grpc.SecondFactorServiceStub(sc.channel),
        factors_pb2_grpc.AccountServiceStub(sc.channel),
    )
    emulator.faults(reset=True)
    sc.stop()
    assert "Traceback" not in sc.log_path.read_text()


@pytest.fixture(scope="module")
def live(_emulator_process, tmp_path_factory):
    yield from _live_pair(_emulator_process, tmp_path_factory.mktemp("answers"))


ACCOUNT_CASES = [c for c in CASES if c.prefix == "/inai/api/v1"]


@pytest.fixture(scope="module")
def live_service(_emulator_process, tmp_path_factory):
    """The other identity adapter (`identity.api: identity-service`), for the account RPCs."""
    yield from _live_pair(
        _emulator_process,
        tmp_path_factory.mktemp("answers-identity-service"),
        {"identity": {"api": "identity-service", "base_url": f"{_emulator_process.url}/identity/api", "api_key": ""}},
    )


def _answer(live: Live, prefix: str, status: int, body: str) -> None:
    """Set the emulator's generated answer (ASCII-escaped JSON: the body may hold lone surrogates)."""
    changes = {"reset": True, "path_prefix": prefix, "answer_status": status, "answer_body": body}
    live.emulator.http.post(
        "/_control/faults", content=json.dumps(changes), headers={"content-type": "application/json"}
    ).raise_for_status()


def _says_valid(case: Case, body: str) -> bool:
    try:
        return case.says_valid(json.loads(body))
    except (ValueError, RecursionError):
        return False


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(CASES), status=statuses, body=bodies)
def test_any_upstream_answer_gets_an_answer_never_internal(live, case, status, body):
    _answer(live, case.prefix, status, body)
    try:
        reply = case.call(live)
    except grpc.RpcError as err:
        assert err.code() not in NEVER, (case.name, status, body[:200], err.code(), err.details())
        return
    if case.valid(reply):
        assert status < 300 and _says_valid(case, body), (case.name, status, body[:300], reply)


@settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=st.sampled_from(ACCOUNT_CASES), status=statuses, body=bodies)
def test_any_identity_service_answer_gets_an_answer_never_internal(live_service, case, status, body):
    _answer(live_service, "/identity/api", status, body)
    try:
        case.call(live_service)
    except grpc.RpcError as err:
        assert err.code() not in NEVER, (case.name, status, body[:200], err.code(), err.details())


def test_bad_answers_were_counted_and_nothing_crashed(live):
    """Runs after the fuzz above (same module sidecar): its bad answers are in the metric, no trace in the log."""
    _answer(live, "/v2/backend/session", 200, "[[[]]]")
    reply = live.auth.VerifySession(pb.VerifySessionRequest(session_token=_t(), phone=PHONE), timeout=10)
    assert not reply.valid and pb.Reason.Name(reply.reason) == "REASON_UPSTREAM_UNAVAILABLE"
    assert live.sidecar.metric("authsidecar_upstream_bad_answers_total", upstream="platform") >= 1
    assert live.sidecar.metric("authsidecar_rpc_total", outcome="error") == 0
    log = live.sidecar.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize(
    "body",
    [
        '{"status": "verified", "phone": "+14155552671", "expires_at": NaN}',
        '{"status": "verified", "phone": "+14155552671", "expires_at": 1e999}',
        '{"status": "verified", "phone": "+14155552671", "expires_at": ' + "9" * 400 + "}",
        '{"status": "verified", "phone": "\\ud800", "session_id": "\\udfff"}',
        "[" * 3000 + "]" * 3000,
    ],
    ids=["expires-nan", "expires-inf", "expires-1e400", "lone-surrogates", "nested-3000"],
)
def test_regression_platform_answer_is_a_bad_answer(live, body):
    _answer(live, "/v2/backend/session", 200, body)
    reply = live.auth.VerifySession(pb.VerifySessionRequest(session_token=_t(), phone=PHONE), timeout=10)
    assert not reply.valid and pb.Reason.Name(reply.reason) == "REASON_UPSTREAM_UNAVAILABLE", reply


@pytest.mark.parametrize(
    "case, body",
    [
        ("StartPhoneVerification", '{"message": "sent", "seconds_to_expire": 99999999999999}'),
        ("StartPhoneVerification", '{"message": "sent", "seconds_to_expire": "soon"}'),
        ("GetApprovalRequest", '{"approval_request": ["status", "approved"]}'),
        ("GetUserStatus", '{"status": {"authy_id": 1, "devices": "ios"}, "success": true}'),
        ("ListSessions", '{"sessions": "none"}'),
        ("ListSessions", '{"sessions": [{"sessionId": "s", "createdAt": 1e400}]}'),
        ("GetMe", '{"data": ["x"]}'),
        ("Login", '{"access_token": "a", "expires_in": 99999999999999999999999}'),
        ("GetUser", '{"email": "\\ud800"}'),
    ],
    ids=lambda v: v if len(v) < 30 else None,
)
def test_regression_adapter_answer_is_answered(live, case, body):
    chosen = next(c for c in CASES if c.name == case)
    _answer(live, chosen.prefix, 200, body)
    try:
        chosen.call(live)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAVAILABLE, (err.code(), err.details())
