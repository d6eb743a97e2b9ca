"""VerifyToken end to end with `accept_missing_iss`: the emulated InAI hands out ES256 tokens without iss
or aud (as @inai-dev/backend's JWTClaims describe them); one configured issuer may take them."""

from __future__ import annotations

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import factors_pb2, factors_pb2_grpc
from harness.processes import emulator_config

PASSWORD = "correct horse battery staple"


def inai_issuer(url: str, **extra) -> dict:
    return {"issuer": f"{url}/inai", "jwks_uri": f"{url}/inai/.well-known/jwks.json", "algorithms": ["ES256"], **extra}


def start(sidecar_factory, emulator, **inai_extra):
    return sidecar_factory(
        {"issuers": emulator_config(emulator.url)["issuers"] + [inai_issuer(emulator.url, **inai_extra)]}
    )


def inai_token(proc) -> str:
    accounts = factors_pb2_grpc.AccountServiceStub(proc.channel)
    return accounts.Login(
        factors_pb2.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=5
    ).tokens.access_token


def verify(proc, token: str, audience: str = "") -> pb.VerifyTokenResponse:
    return proc.stub.VerifyToken(pb.VerifyTokenRequest(token=token, audience=audience), timeout=10)


def test_a_token_without_iss_verifies_against_the_one_issuer_that_accepts_it(sidecar_factory, emulator):
    proc = start(sidecar_factory, emulator, accept_missing_iss=True)
    answer = verify(proc, inai_token(proc))
    assert answer.valid and answer.auth.issuer == f"{emulator.url}/inai" and answer.auth.subject == "usr_alice"
    # Another issuer's key signing a token without iss: the bound issuer's JWKS does not know it.
    foreign = emulator.http.post("/_control/jwks/issuers/main/mint", json={"claims": {"iss": None}}).json()["token"]
    refused = verify(proc, foreign)
    assert not refused.valid and refused.reason == pb.REASON_UNKNOWN_KEY
    # Audience checks still apply when the caller asks for one.
    assert verify(proc, inai_token(proc), audience="orders").reason == pb.REASON_BAD_AUDIENCE


def test_without_the_option_the_same_token_is_untrusted(sidecar_factory, emulator):
    proc = start(sidecar_factory, emulator)
    answer = verify(proc, inai_token(proc))
    assert not answer.valid and answer.reason == pb.REASON_UNTRUSTED_ISSUER


def test_configured_audiences_still_apply(sidecar_factory, emulator):
    proc = start(sidecar_factory, emulator, accept_missing_iss=True, audiences=["orders"])
    answer = verify(proc, inai_token(proc))
    assert not answer.valid and answer.reason == pb.REASON_BAD_AUDIENCE
