"""Tokens a configured issuer really signed, with generated headers and claims, reach the valid path.

In process: fuzz/fuzz_tokens.py's Target (the fuzz oracle: AuthInfo as the gRPC edge encodes it, the
verified-token cache, revocation by sid/jti, ext_authz headers) over tokens signed with its ES256,
EdDSA and RS256 keys. Against a real sidecar: claims signed by the emulator's issuer key, through
VerifyToken — never INTERNAL, a traceback or an answer no caller can decode.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsidecar.v1 import auth_pb2 as pb
from harness.processes import SidecarProcess, emulator_config
from sidecar.core.shared.outcomes import Reason, Source

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
import fuzz_tokens as fuzz  # noqa: E402  (the fuzz target lives outside the package)


@pytest.fixture(scope="module")
def target() -> fuzz.Target:
    return fuzz.Target()


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=fuzz.signed_inputs())
def test_generated_signed_tokens_keep_every_promise_after_the_signature(target, data):
    target.check(data)


def test_generated_signed_tokens_do_reach_the_valid_path(target):
    before = target.valid_answers
    for key, payload in fuzz.signed_seeds().values():
        target.check(fuzz.signed_input(key, {}, payload))
    assert target.valid_answers - before >= 8  # the three valid seeds and the claims left out, at least


@pytest.mark.parametrize("path", sorted((fuzz.CORPUS).iterdir()), ids=lambda p: p.name)
def test_corpus_entry_runs_cleanly(target, path):
    target.check(path.read_bytes())


def _answer(target, name: str):
    key, payload = fuzz.signed_seeds()[name]
    return target.loop.run_until_complete(
        target.verifier.verify(fuzz.token_of(fuzz.signed_input(key, {}, payload)), None, [])
    )


@pytest.mark.parametrize(
    "name, reason",
    [
        ("exp-year-10000", Reason.MALFORMED),
        ("exp-1e30", Reason.MALFORMED),
        ("iat-before-year-1", Reason.MALFORMED),
        ("surrogate-sub", Reason.MALFORMED),
        ("exp-null", Reason.MISSING_CLAIM),
        ("no-exp", Reason.MISSING_CLAIM),
    ],
)
def test_regression_is_refused_with_its_reason(target, name, reason):
    answer = _answer(target, name)
    assert not answer.verdict.valid and answer.verdict.reason is reason, answer.verdict


@pytest.mark.parametrize(
    "name, left_out",
    [
        ("nested-60", {"org"}),
        ("int-1e400", {"big"}),
        ("surrogate-claim", {"team", "\ud800"}),
        ("crlf-subject", set()),
        ("control-claim-header", set()),
        ("valid-rs256", set()),
    ],
)
def test_regression_is_valid_with_odd_claims_left_out(target, name, left_out):
    answer = _answer(target, name)
    assert answer.verdict.valid, answer.verdict
    claims = answer.auth.claims
    assert not left_out & set(claims) and "sub" in claims and "iss" in claims


# --- against a real sidecar: the emulator's issuer signs ------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from([10**400, "\ud800", "a\r\nb", "\x00", 2**64]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
deep = st.integers(1, 70).map(lambda d: json.loads("[" * d + "]" * d))
times = st.one_of(st.integers(-(10**13), 10**13), st.sampled_from([253_402_300_800, 10**30, -62_135_596_801]))


@pytest.fixture(scope="module")
def live(_emulator_process, tmp_path_factory):
    sc = SidecarProcess(emulator_config(_emulator_process.url), tmp_path_factory.mktemp("signed"))
    sc.wait_for("SERVING")
    yield sc, _emulator_process
    sc.stop()
    log = sc.log_path.read_text()
    assert "Traceback" not in log and '"level": "error"' not in log, log[-3000:]


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    claims=st.dictionaries(
        st.sampled_from(["org", "team", "x", "sub", "sid", "scope", "aud"]), st.one_of(values, deep), max_size=3
    ),
    exp=st.one_of(st.none(), times),
)
def test_real_sidecar_answers_signed_odd_claims(live, claims, exp):
    sc, emulator = live
    if exp is not None:
        claims["exp"] = exp
    reply = emulator.http.post(
        "/_control/jwks/issuers/main/mint",
        content=json.dumps({"claims": claims}),
        headers={"content-type": "application/json"},
    )
    reply.raise_for_status()
    token = reply.json()["token"]
    try:
        first = sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=10)
        second = sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())  # e.g. an oversized token
        return
    assert first.reason != pb.REASON_UNSPECIFIED or first.valid
    if first.valid:
        assert set(MessageToDict(first.auth.claims)) <= {*claims, "iss", "sub", "aud", "iat", "exp"}
        assert second.valid and second.auth == first.auth
        assert pb.Source.Name(second.source) == f"SOURCE_{Source.CACHE.value}"
