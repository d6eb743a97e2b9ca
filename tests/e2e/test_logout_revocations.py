"""Row 15 of issue 24: a logout's revocation survives a flood of other logouts.

A real sidecar process and the emulator's InAI identity wire. Logout revocations used to live in an
evicting LRU (capped like the session caches): ~1,050 login+logout cycles on the attacker's own
account evicted the victim's entry and the victim's logged-out access token was valid again. Now the
store never evicts before a token's exp; when full it refuses the logout (UNAVAILABLE, not logged out).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import emulator_config

PASSWORD = "correct horse battery staple"
CAP = 1000  # the smallest size a cache gets (memory_budget.MIN_ENTRIES)
CYCLES = 1050  # more logouts than the cap


def inai_issuer(url: str) -> dict:
    return {
        "issuer": f"{url}/inai",
        "jwks_uri": f"{url}/inai/.well-known/jwks.json",
        "algorithms": ["ES256"],
        "accept_missing_iss": True,
    }


def test_row15_logout_revocation_survives_cache_flood(sidecar_factory, emulator):
    sc = sidecar_factory(
        {
            "issuers": emulator_config(emulator.url)["issuers"] + [inai_issuer(emulator.url)],
            # the old LRU was sized by the session caches; the new store by its own field: both at the cap
            "platform": {"session_cache_max_entries": CAP},
            "identity": {"session_map_max_entries": CAP, "logout_revocations_max_entries": CAP},
        }
    )
    accounts = factors_pb2_grpc.AccountServiceStub(sc.channel)

    def login() -> pb.AccountTokens:
        return accounts.Login(pb.LoginRequest(email="alice@example.com", password=PASSWORD), timeout=10).tokens

    def verify(token: str) -> auth_pb2.VerifyTokenResponse:
        return sc.stub.VerifyToken(auth_pb2.VerifyTokenRequest(token=token), timeout=10)

    victim = login()
    assert verify(victim.access_token).valid
    accounts.Logout(pb.LogoutRequest(refresh_token=victim.refresh_token), timeout=10)
    assert verify(victim.access_token).reason == auth_pb2.REASON_REVOKED

    def cycle(_: int) -> str:
        tokens = login()
        try:
            accounts.Logout(pb.LogoutRequest(refresh_token=tokens.refresh_token), timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE and "full" in err.details(), err
            assert verify(tokens.access_token).valid  # refused whole: not logged out, and told so
            return "refused"
        assert verify(tokens.access_token).reason == auth_pb2.REASON_REVOKED
        return "revoked"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(cycle, range(CYCLES)))

    after = verify(victim.access_token)
    assert not after.valid and after.reason == auth_pb2.REASON_REVOKED, after
    assert results.count("revoked") == CAP - 1 and results.count("refused") == CYCLES - CAP + 1
    assert sc.metric("authsidecar_logout_revocations_refused_total") == CYCLES - CAP + 1
