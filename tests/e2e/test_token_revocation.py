"""A JWT whose session the platform revoked (pushed over SSE) stops verifying at once, cache or not."""

from __future__ import annotations

import time

from authsidecar.v1 import auth_pb2 as pb

PHONE = "+14155552671"


def test_revoked_sid_turns_a_cached_valid_token_invalid(sidecar_factory, emulator):
    sc = sidecar_factory()
    session = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()
    minted = emulator.http.post(
        "/_control/jwks/issuers/main/mint", json={"claims": {"sub": "user-1", "sid": session["session_id"]}}
    ).json()
    request = pb.VerifyTokenRequest(token=minted["token"])
    first = sc.stub.VerifyToken(request, timeout=5)
    second = sc.stub.VerifyToken(request, timeout=5)
    assert first.valid and second.valid and second.source == pb.SOURCE_CACHE
    assert first.auth.session_id == session["session_id"]
    emulator.http.post(
        "/_control/platform/sessions/revoke", json={"session_token": session["session_token"]}
    ).raise_for_status()
    deadline = time.monotonic() + 5
    while (answer := sc.stub.VerifyToken(request, timeout=5)).valid and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not answer.valid and answer.reason == pb.REASON_REVOKED
