"""Tokens a trusted issuer really signed (the emulator's ES256 key) whose claims no answer can hold.

Regressions of issue 17: each of these ended in gRPC INTERNAL with a traceback in the log. The
answers decided (README "How each answer is decided"): a time outside Timestamp's range or a
standard claim that is not UTF-8 text is MALFORMED; a custom claim nested too deep, holding a
number past float range or text that is not UTF-8 is left out of AuthInfo.claims (the token stays
valid); in ext_authz a subject no header can carry is denied (MALFORMED), a configured claim header
whose value can't be sent is left out.
"""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf.json_format import MessageToDict

from authsidecar.v1 import auth_pb2 as pb
from envoy.service.auth.v3 import attribute_context_pb2 as attr_pb
from envoy.service.auth.v3 import external_auth_pb2 as authz_pb
from envoy.service.auth.v3 import external_auth_pb2_grpc
from harness.processes import SidecarProcess, deep_merge, emulator_config

YEAR_10000 = 253_402_300_800


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.fixture(scope="module")
def live(_emulator_process, tmp_path_factory):
    """One sidecar for the module (VerifyToken and ext_authz): each test mints its own tokens."""
    config = deep_merge(
        emulator_config(_emulator_process.url),
        {
            "ext_authz": {
                "rules": [{"name": "api", "path_prefix": "/api", "checks": ["jwt"]}],
                "claim_headers": [
                    {"claim": "email", "header": "x-auth-email"},
                    {"claim": "team", "header": "x-auth-team"},
                ],
            }
        },
    )
    sc = SidecarProcess(config, tmp_path_factory.mktemp("odd-claims"))
    sc.wait_for("SERVING")
    yield sc
    sc.stop()


@pytest.fixture
def emulator(_emulator_process):
    return _emulator_process


@pytest.fixture
def sidecar(live):
    return live


def mint(emulator, **claims) -> str:
    # ASCII-escaped JSON: a lone surrogate travels as "\ud800" (httpx's json= would fail to encode it)
    reply = emulator.http.post(
        "/_control/jwks/issuers/main/mint",
        content=json.dumps({"claims": claims}),
        headers={"content-type": "application/json"},
    )
    reply.raise_for_status()
    return reply.json()["token"]


def verify(sidecar, token: str) -> pb.VerifyTokenResponse:
    return sidecar.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=10)


def assert_no_crash(sidecar) -> None:
    assert "Traceback" not in sidecar.log_path.read_text()
    assert sidecar.metric("authsidecar_rpc_total", outcome="error") == 0


@pytest.mark.parametrize(
    "claims, detail",
    [
        ({"exp": YEAR_10000}, "claim exp is out of range"),
        ({"exp": 10**30}, "claim exp is out of range"),
        ({"iat": -(10**12)}, "claim iat is out of range"),
        ({"nbf": -(10**12)}, "claim nbf is out of range"),
        ({"sub": "\ud800"}, "claim sub is not UTF-8 text"),
        ({"sid": "s-\udfff"}, "claim sid is not UTF-8 text"),
        ({"aud": ["authsidecar-demo", "\ud800"]}, "claim aud is not UTF-8 text"),
    ],
    ids=[
        "exp-year-10000",
        "exp-1e30",
        "iat-before-year-1",
        "nbf-before-year-1",
        "sub-lone-surrogate",
        "sid-lone-surrogate",
        "aud-lone-surrogate",
    ],
)
def test_claims_no_answer_can_hold_are_malformed(emulator, sidecar, claims, detail):
    reply = verify(sidecar, mint(emulator, **claims))
    assert not reply.valid
    assert pb.Reason.Name(reply.reason) == "REASON_MALFORMED"
    assert detail in reply.detail
    assert_no_crash(sidecar)


@pytest.mark.parametrize(
    "odd",
    [
        _nested(60),
        _nested(17),
        [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]],
        10**400,
        -(10**309),
        "\ud800",
        {"\udc00": 1},
    ],
    ids=["nested-60", "nested-17", "lists-18", "int-1e400", "int-minus-1e309", "lone-surrogate", "surrogate-key"],
)
def test_custom_claims_no_answer_can_hold_are_left_out(emulator, sidecar, odd):
    token = mint(emulator, odd=odd, team="blue", fits=_nested(15))
    first, second = verify(sidecar, token), verify(sidecar, token)
    for reply in (first, second):
        assert reply.valid, reply.detail
        claims = MessageToDict(reply.auth.claims)
        assert "odd" not in claims
        assert claims["team"] == "blue" and claims["fits"] == _nested(15)
    assert pb.Source.Name(first.source) == "SOURCE_LOCAL" and pb.Source.Name(second.source) == "SOURCE_CACHE"
    assert_no_crash(sidecar)


def test_times_at_the_edges_of_timestamp_range_are_answered(emulator, sidecar):
    now = int(time.time())
    reply = verify(sidecar, mint(emulator, exp=YEAR_10000 - 1, iat=now, nbf=-62_135_596_800))
    assert reply.valid, reply.detail
    assert reply.auth.expires_at.seconds == YEAR_10000 - 1
    assert_no_crash(sidecar)


@pytest.fixture
def authz(live):
    return live, external_auth_pb2_grpc.AuthorizationStub(live.channel)


def _check(stub, token: str) -> authz_pb.CheckResponse:
    http = attr_pb.AttributeContext.HttpRequest(
        method="GET", path="/api/x", headers={"authorization": f"Bearer {token}"}
    )
    request = authz_pb.CheckRequest(
        attributes=attr_pb.AttributeContext(request=attr_pb.AttributeContext.Request(http=http))
    )
    return stub.Check(request, timeout=10)


@pytest.mark.parametrize("sub", ["user-1\r\nx-auth-admin: yes", "user\x00", "user\x7f"], ids=["crlf", "nul", "del"])
def test_ext_authz_denies_a_subject_no_header_can_carry(emulator, authz, sub):
    sc, stub = authz
    reply = _check(stub, mint(emulator, sub=sub))
    assert reply.HasField("denied_response") and reply.denied_response.status.code == 401
    assert json.loads(reply.denied_response.body)["reason"] == "malformed"
    assert_no_crash(sc)


def test_ext_authz_leaves_out_a_claim_header_it_cannot_send(emulator, authz):
    sc, stub = authz
    reply = _check(stub, mint(emulator, email="a@b.c\r\nx-auth-admin: yes", team=_nested(40), odd="\ud800"))
    assert reply.HasField("ok_response")
    headers = {h.header.key: h.header.value for h in reply.ok_response.headers}
    assert headers["x-auth-subject"] == "user-1"
    assert "x-auth-email" not in headers and "x-auth-team" not in headers and "x-auth-admin" not in headers
    assert_no_crash(sc)
