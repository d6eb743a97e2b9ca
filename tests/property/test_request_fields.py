"""Hostile input on every AuthService request field, against one real sidecar process.

Whatever the bytes, a call ends in INVALID_ARGUMENT (naming a field), a documented status, or a
not-valid answer with a reason — never INTERNAL, never a hang, never "valid" for garbage.
"""

from __future__ import annotations

import base64

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import SidecarProcess, emulator_config

ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE}
FIELDS = {
    "VerifyToken": {"token", "audience", "required_scopes"},
    "VerifySession": {"session_token", "phone", "default_region"},
    "GetSessionStatus": {"session_token", "phone", "default_region"},
    "IsRevoked": {"session_token", "phone", "default_region"},
    "VerifyApproval": {"approval_token", "phone", "default_region"},
    "ValidateChallenge": {"token", "user_id", "action"},
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.one_of(
    st.text(max_size=40),
    st.text(min_size=500, max_size=700),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", " ", "\x00", "+", "+1", "٣٤٥٦٧٨٩٠١٢", "+1\u202e234567890", "../..", "a" * 9000]),
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def nested(depth: int) -> str:
    """Deeply nested JSON as text (json.dumps itself would hit the recursion limit here)."""
    return '{"a":' * depth + "{}" + "}" * depth


payloads = st.one_of(
    st.integers(1, 3000).map(lambda d: '{"sub": "x", "deep": ' + nested(d) + "}"),
    st.sampled_from(
        [
            '{"exp": "9999999999"}',
            '{"exp": 1e400}',
            '{"exp": 99999999999999999999999999}',
            '{"exp": 1.5, "sub": 1}',
            '{"sub": "a", "sub": "b", "exp": 9999999999}',
            "[]",
            "null",
            '"x"',
        ]
    ),
    st.text(max_size=50),
)
headers = st.sampled_from(
    [
        '{"alg":"ES256","kid":"x"}',
        '{"alg":"none"}',
        '{"alg":"HS256"}',
        "{}",
        "[]",
        '{"alg":"ES256","alg":"none"}',
        '{"alg":"ES256","crit":["exp"]}',
        "not json",
    ]
)
jwts = st.builds(
    lambda h, p, s: f"{b64(h.encode())}.{b64(p.encode())}.{b64(s)}", headers, payloads, st.binary(max_size=80)
)


@pytest.fixture(scope="module")
def live(_emulator_process, tmp_path_factory):
    sc = SidecarProcess(emulator_config(_emulator_process.url), tmp_path_factory.mktemp("property"))
    sc.wait_for("SERVING")
    yield sc
    sc.stop()
    log = sc.log_path.read_text()
    assert "Traceback" not in log and '"level": "error"' not in log, log[-3000:]


def call(sc, rpc: str, request):
    try:
        return getattr(sc.stub, rpc)(request, timeout=10)
    except grpc.RpcError as err:
        assert err.code() in ALLOWED, (rpc, err.code(), err.details())
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            assert err.details().split(":")[0].split("[")[0] in FIELDS[rpc], err.details()
        return None


@SETTINGS
@given(token=st.one_of(texts, jwts), audience=texts, scopes=st.lists(texts, max_size=3))
def test_verify_token_never_accepts_garbage(live, token, audience, scopes):
    answer = call(live, "VerifyToken", pb.VerifyTokenRequest(token=token, audience=audience, required_scopes=scopes))
    assert answer is None or (not answer.valid and answer.reason != pb.REASON_UNSPECIFIED)


@SETTINGS
@given(rpc=st.sampled_from(["VerifySession", "GetSessionStatus", "IsRevoked"]), token=texts, phone=texts, region=texts)
def test_session_questions_never_accept_garbage(live, rpc, token, phone, region):
    request = getattr(pb, f"{rpc}Request")(session_token=token, phone=phone, default_region=region)
    answer = call(live, rpc, request)
    if answer is None:
        return
    if rpc == "VerifySession":
        assert not answer.valid and answer.reason != pb.REASON_UNSPECIFIED
    elif rpc == "IsRevoked":
        assert answer.revoked and answer.reason != pb.REASON_UNSPECIFIED  # unknown sessions fail closed


@SETTINGS
@given(token=texts, phone=texts, user_id=texts, action=texts)
def test_one_time_tokens_never_accept_garbage(live, token, phone, user_id, action):
    approval = call(live, "VerifyApproval", pb.VerifyApprovalRequest(approval_token=token, phone=phone))
    assert approval is None or (not approval.valid and approval.reason != pb.REASON_UNSPECIFIED)
    challenge = call(
        live, "ValidateChallenge", pb.ValidateChallengeRequest(token=token, user_id=user_id, action=action)
    )
    assert challenge is None or (not challenge.is_valid and challenge.reason != pb.REASON_UNSPECIFIED)


@pytest.mark.parametrize("depth", [100, 900, 1000, 5000])
def test_deeply_nested_payloads_are_malformed_or_too_large(live, depth):
    token = ".".join(
        [b64(b'{"alg":"ES256","kid":"x"}'), b64(('{"deep": ' + nested(depth) + "}").encode()), b64(b"x" * 64)]
    )
    answer = call(live, "VerifyToken", pb.VerifyTokenRequest(token=token))
    assert answer is None or (not answer.valid and answer.reason != pb.REASON_UNSPECIFIED)
