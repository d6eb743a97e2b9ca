"""VerifyToken end to end: a real sidecar process, the emulator's JWKS over loopback HTTP.

Tests that rotate, remove or take keys down create their own emulator issuer (the emulator process
is shared by the session), and configure the sidecar with only that issuer.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from jwt.algorithms import get_default_algorithms

from authsidecar.v1 import auth_pb2 as pb
from sidecar.emulator.issuers import new_private_key

JWKS_ROUTE = "GET /issuers/{name}/.well-known/jwks.json"
DISCOVERY_ROUTE = "GET /issuers/{name}/.well-known/openid-configuration"
AUD = "authsidecar-demo"


# --- helpers --------------------------------------------------------------------------------------
def new_issuer(emulator, alg: str = "ES256") -> str:
    name = f"t{uuid.uuid4().hex[:10]}"
    emulator.http.post("/_control/jwks/issuers", json={"name": name, "alg": alg}).raise_for_status()
    return name


def issuer_url(emulator, name: str) -> str:
    return f"{emulator.url}/issuers/{name}"


def issuer_config(emulator, name: str, alg: str = "ES256", **extra) -> dict:
    return {"issuer": issuer_url(emulator, name), "algorithms": [alg], "audiences": [AUD], **extra}


def mint(emulator, name: str = "main", **req) -> str:
    reply = emulator.http.post(f"/_control/jwks/issuers/{name}/mint", json=req)
    reply.raise_for_status()
    return reply.json()["token"]


def verify(sidecar, token: str, audience: str = "", scopes: list[str] | None = None) -> pb.VerifyTokenResponse:
    return sidecar.stub.VerifyToken(
        pb.VerifyTokenRequest(token=token, audience=audience, required_scopes=scopes or []), timeout=10
    )


def reason(sidecar, token: str) -> str:
    return pb.Reason.Name(verify(sidecar, token).reason)


def until(predicate, timeout: float = 15.0, every: float = 0.1):
    """Poll a condition of the running system (the sidecar's background work), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def with_header(token: str, **changes) -> str:
    head, rest = token.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode() + "." + rest


def private_jwk_of_new_key(emulator, alg: str = "ES256") -> tuple[dict, dict]:
    """(public JWK, private JWK) of a key made here: tests publish it with odd members and sign with it."""
    private = new_private_key(alg)
    algo = get_default_algorithms()[alg]
    kid = f"k{uuid.uuid4().hex[:8]}"
    return (
        {**algo.to_jwk(private.public_key(), as_dict=True), "kid": kid},
        {**algo.to_jwk(private, as_dict=True), "kid": kid},
    )


# --- valid tokens ---------------------------------------------------------------------------------
def test_valid_tokens_from_both_default_issuers_carry_the_identity(sidecar, emulator):
    for name in ("main", "rsa"):
        token = mint(
            emulator,
            name,
            claims={
                "sub": "u-42",
                "sid": "sess-1",
                "jti": "tok-1",
                "scope": "read write",
                "roles": ["admin"],
                "org_id": "org-7",
                "permissions": ["pay"],
            },
        )
        reply = verify(sidecar, token, scopes=["read", "pay"])
        assert reply.valid, (name, pb.Reason.Name(reply.reason), reply.detail)
        a = reply.auth
        assert (a.subject, a.session_id, a.token_id, a.org_id) == ("u-42", "sess-1", "tok-1", "org-7")
        assert a.issuer == issuer_url(emulator, name) and list(a.audiences) == [AUD]
        assert list(a.scopes) == ["read", "write"] and list(a.roles) == ["admin"]
        assert a.claims["sub"] == "u-42" and a.expires_at.seconds > time.time()
        assert reply.source == pb.SOURCE_LOCAL


def test_audience_and_scope_checks(sidecar, emulator):
    token = mint(emulator, claims={"aud": ["api-a", AUD], "scope": "read"})
    assert verify(sidecar, token, audience="api-a").valid
    assert pb.Reason.Name(verify(sidecar, token, audience="api-b").reason) == "REASON_BAD_AUDIENCE"
    assert pb.Reason.Name(verify(sidecar, token, scopes=["write"]).reason) == "REASON_INSUFFICIENT_SCOPE"
    assert pb.Reason.Name(verify(sidecar, mint(emulator, claims={"aud": "x"})).reason) == "REASON_BAD_AUDIENCE"


# --- security rules -------------------------------------------------------------------------------
def test_every_security_rule_over_the_wire(sidecar_factory, emulator):
    name = new_issuer(emulator)
    # keys that must not be used: one for encryption, one without the verify op, one mislabelled RSA
    enc_pub, enc_priv = private_jwk_of_new_key(emulator)
    ops_pub, ops_priv = private_jwk_of_new_key(emulator)
    rsa_pub, rsa_priv = private_jwk_of_new_key(emulator, "RS256")
    for jwk in ({**enc_pub, "use": "enc"}, {**ops_pub, "key_ops": ["encrypt"]}, {**rsa_pub, "alg": "ES256"}):
        emulator.http.post(f"/_control/jwks/issuers/{name}/publish", json={"jwk": jwk}).raise_for_status()
    attacker_pub, attacker_priv = private_jwk_of_new_key(emulator)
    sidecar = sidecar_factory({"issuers": [issuer_config(emulator, name), issuer_config(emulator, "rsa", "RS256")]})
    good = mint(emulator, name)
    current_kid = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "==="))["kid"]

    cases = {
        "alg none": (mint(emulator, name, alg="none"), "BAD_ALGORITHM"),
        "HMAC with the public key as secret": (mint(emulator, name, alg="HS256"), "BAD_ALGORITHM"),
        "alg outside the allow-list (RS256 for an ES256 issuer)": (
            mint(emulator, "rsa", claims={"iss": issuer_url(emulator, name)}),
            "BAD_ALGORITHM",
        ),
        "RSA key published as ES256": (mint(emulator, name, jwk=rsa_priv, alg="RS256"), "BAD_ALGORITHM"),
        "RSA key used with alg ES256": (with_header(good, kid=rsa_pub["kid"]), "BAD_ALGORITHM"),
        "use=enc key": (mint(emulator, name, jwk=enc_priv), "UNKNOWN_KEY"),
        "key_ops without verify": (mint(emulator, name, jwk=ops_priv), "UNKNOWN_KEY"),
        "jku to an attacker JWKS": (
            mint(emulator, name, jwk=attacker_priv, kid=current_kid, headers={"jku": "http://127.0.0.1:1/jwks.json"}),
            "BAD_SIGNATURE",
        ),
        "x5u to an attacker cert": (
            mint(emulator, name, jwk=attacker_priv, kid=current_kid, headers={"x5u": "http://127.0.0.1:1/cert.pem"}),
            "BAD_SIGNATURE",
        ),
        "embedded attacker jwk": (
            mint(emulator, name, jwk=attacker_priv, kid=current_kid, headers={"jwk": attacker_pub}),
            "BAD_SIGNATURE",
        ),
        "embedded jwk, attacker kid": (
            mint(emulator, name, jwk=attacker_priv, headers={"jwk": attacker_pub}),
            "UNKNOWN_KEY",
        ),
        "unknown crit": (mint(emulator, name, headers={"crit": ["http://example.test/ext"]}), "UNSUPPORTED_HEADER"),
        "unpublished key, real kid": (mint(emulator, name, signer="unpublished"), "BAD_SIGNATURE"),
        "ECDSA DER signature": (mint(emulator, name, tamper="der"), "BAD_SIGNATURE"),
        "ECDSA r = s = 0": (mint(emulator, name, tamper="zero"), "BAD_SIGNATURE"),
        "ECDSA r = n": (mint(emulator, name, tamper="r_is_n"), "BAD_SIGNATURE"),
        "ECDSA short signature": (mint(emulator, name, tamper="truncate"), "BAD_SIGNATURE"),
        "payload changed after signing": (mint(emulator, name, tamper="payload"), "BAD_SIGNATURE"),
        "untrusted issuer": (mint(emulator, name, claims={"iss": "https://evil.test"}), "UNTRUSTED_ISSUER"),
        "malformed base64": ("eyJ!!!.e30.AAAA", "MALFORMED"),
        "malformed JSON": (base64.urlsafe_b64encode(b"{nope").decode().rstrip("=") + ".e30.AA", "MALFORMED"),
        "two parts": ("abc.def", "MALFORMED"),
        "genuine token (control)": (good, "UNSPECIFIED"),
    }
    wrong = {
        case: got
        for case, (token, want) in cases.items()
        if (got := pb.Reason.Name(verify(sidecar, token).reason)) != f"REASON_{want}"
    }
    assert wrong == {}
    # untrusted issuers are labelled as such, never by the raw iss
    assert sidecar.metric("authsidecar_token_verifications_total", issuer="untrusted", reason="untrusted_issuer") == 1
    assert "evil.test" not in sidecar.metrics()


def test_oversized_token_is_invalid_argument(sidecar, emulator):
    big = mint(emulator, claims={"pad": "x" * 9000})
    with pytest.raises(grpc.RpcError) as err:
        verify(sidecar, big)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("token:")


def test_a_token_with_control_characters_is_invalid_argument_even_when_its_clean_twin_is_cached(sidecar, emulator):
    # VerifyToken scans a token for control characters only when the verified-token cache does not
    # know it (a cached token is base64url and dots by construction): a hot token with a control
    # character added or swapped in is still refused, and never reaches the cache's counters.
    token = mint(emulator, claims={"sub": "printable-check"})
    assert verify(sidecar, token).valid and verify(sidecar, token).source == pb.SOURCE_CACHE
    lookups = sidecar.metric("authsidecar_token_cache_total")
    for bad in (token + "\n", token[:10] + "\x01" + token[11:], token.replace(".", "\x7f", 1)):
        for audience in ("", "api"):
            with pytest.raises(grpc.RpcError) as err:
                verify(sidecar, bad, audience=audience)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details() == "token: must be printable ASCII"
    assert sidecar.metric("authsidecar_token_cache_total") == lookups
    assert verify(sidecar, token).source == pb.SOURCE_CACHE


def test_clock_skew_edges(sidecar, emulator):
    now = int(time.time())
    # leeway is 60 s; the edges are probed 10 s inside and outside it
    assert reason(sidecar, mint(emulator, claims={"exp": now - 50})) == "REASON_UNSPECIFIED"
    assert reason(sidecar, mint(emulator, claims={"exp": now - 70})) == "REASON_EXPIRED"
    assert reason(sidecar, mint(emulator, claims={"nbf": now + 50})) == "REASON_UNSPECIFIED"
    assert reason(sidecar, mint(emulator, claims={"nbf": now + 70})) == "REASON_NOT_YET_VALID"
    assert reason(sidecar, mint(emulator, claims={"iat": now + 70})) == "REASON_NOT_YET_VALID"
    assert reason(sidecar, mint(emulator, claims={"exp": None})) == "REASON_MISSING_CLAIM"


# --- the JWKS cache -------------------------------------------------------------------------------
def test_rotation_new_kid_verifies_without_waiting_for_the_ttl(sidecar_factory, emulator):
    name = new_issuer(emulator)
    sidecar = sidecar_factory({"issuers": [issuer_config(emulator, name)]})  # TTL 300 s
    assert verify(sidecar, mint(emulator, name)).valid
    before = emulator.counters().get(JWKS_ROUTE, 0)
    emulator.http.post(f"/_control/jwks/issuers/{name}/rotate", json={}).raise_for_status()
    assert verify(sidecar, mint(emulator, name)).valid
    assert emulator.counters()[JWKS_ROUTE] == before + 1  # exactly one refetch for the new kid


def test_removed_key_stops_verifying_at_the_next_refresh(sidecar_factory, emulator):
    name = new_issuer(emulator)
    jwks = {"ttl_seconds": 1, "min_ttl_seconds": 0.5, "max_ttl_seconds": 1}
    sidecar = sidecar_factory({"issuers": [issuer_config(emulator, name)], "jwks": jwks})
    old = mint(emulator, name)
    assert verify(sidecar, old).valid and verify(sidecar, old).source == pb.SOURCE_CACHE
    emulator.http.post(f"/_control/jwks/issuers/{name}/rotate", json={"remove_old": True}).raise_for_status()
    assert until(lambda: reason(sidecar, old) == "REASON_UNKNOWN_KEY"), sidecar.log()
    assert verify(sidecar, mint(emulator, name)).valid


def test_outage_uses_last_good_keys_then_fails_closed(sidecar_factory, emulator):
    name = new_issuer(emulator)
    jwks = {"ttl_seconds": 1, "min_ttl_seconds": 0.5, "max_ttl_seconds": 1, "max_stale_seconds": 5}
    sidecar = sidecar_factory({"issuers": [issuer_config(emulator, name)], "jwks": jwks})
    cached = mint(emulator, name)
    assert verify(sidecar, cached).valid
    emulator.faults(jwks_down=True)
    url = issuer_url(emulator, name)
    assert until(lambda: sidecar.metric("authsidecar_jwks_fetches_total", issuer=url, result="error") >= 1)
    fresh = mint(emulator, name)
    assert verify(sidecar, fresh).valid  # last good keys still verify a token never seen before
    assert until(lambda: reason(sidecar, mint(emulator, name)) == "REASON_UPSTREAM_UNAVAILABLE")
    assert reason(sidecar, cached) == "REASON_UPSTREAM_UNAVAILABLE"  # no stale yes from the cache
    assert "last good keys" in sidecar.log_path.read_text()
    emulator.faults(jwks_down=False)
    assert until(lambda: verify(sidecar, mint(emulator, name)).valid)


def test_random_kid_flood_costs_at_most_one_jwks_request(sidecar_factory, emulator):
    sidecar = sidecar_factory({"issuers": [issuer_config(emulator, "main")]})  # cooldown 30 s, TTL 300 s
    good = mint(emulator)
    assert verify(sidecar, good).valid
    emulator.http.post("/_control/counters/reset").raise_for_status()
    forged = [with_header(good, kid=uuid.uuid4().hex) for _ in range(300)]
    with ThreadPoolExecutor(16) as pool:
        reasons = list(pool.map(lambda t: reason(sidecar, t), forged))
    assert set(reasons) == {"REASON_UNKNOWN_KEY"}
    counts = emulator.counters()
    assert counts.get(JWKS_ROUTE, 0) <= 1 and counts.get(DISCOVERY_ROUTE, 0) == 0
    assert verify(sidecar, good).valid


def test_multiple_issuers_with_discovery_and_an_explicit_jwks_uri(sidecar_factory, emulator):
    ed = new_issuer(emulator, "EdDSA")
    explicit = issuer_config(emulator, ed, "EdDSA", jwks_uri=f"{issuer_url(emulator, ed)}/.well-known/jwks.json")
    sidecar = sidecar_factory(
        {"issuers": [issuer_config(emulator, "main"), issuer_config(emulator, "rsa", "RS256"), explicit]}
    )
    for name in ("main", "rsa", ed):
        assert verify(sidecar, mint(emulator, name)).valid, name
    # a token whose iss names one issuer but whose key belongs to another does not verify
    crossed = mint(emulator, ed, claims={"iss": issuer_url(emulator, "main")})
    assert reason(sidecar, crossed) == "REASON_BAD_ALGORITHM"
    assert sidecar.metric("authsidecar_jwks_keys", issuer=issuer_url(emulator, ed)) == 1


def test_verified_cache_hit_skips_signature_work(sidecar, emulator):
    url = issuer_url(emulator, "main")
    token = mint(emulator)
    first = verify(sidecar, token)
    assert first.valid and first.source == pb.SOURCE_LOCAL
    checks = sidecar.metric("authsidecar_token_signature_checks_total", issuer=url)
    for _ in range(10):
        again = verify(sidecar, token)
        assert again.valid and again.source == pb.SOURCE_CACHE
    assert sidecar.metric("authsidecar_token_signature_checks_total", issuer=url) == checks
    assert sidecar.metric("authsidecar_token_cache_total", result="hit") >= 10
    assert sidecar.metric("authsidecar_token_verifications_total", issuer=url, outcome="valid") == 11
    assert 0 <= sidecar.metric("authsidecar_jwks_seconds_since_refresh", issuer=url) < 300


def test_upstream_health_and_readiness_name_each_issuer(sidecar, emulator):
    reply = sidecar.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=10)
    jwks = {u.name: u.healthy for u in reply.upstreams if u.name.startswith("jwks:")}
    assert jwks == {f"jwks:{issuer_url(emulator, 'main')}": True, f"jwks:{issuer_url(emulator, 'rsa')}": True}
    emulator.faults(jwks_down=True)
    reply = sidecar.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=10)
    assert not any(u.healthy for u in reply.upstreams if u.name.startswith("jwks:"))


def test_not_ready_until_the_first_jwks_load(sidecar_factory, emulator):
    emulator.faults(jwks_down=True)
    sidecar = sidecar_factory(wait_ready=False)
    assert until(lambda: sidecar.health_status() == "NOT_SERVING")
    assert pb.Reason.Name(verify(sidecar, mint(emulator)).reason) == "REASON_UPSTREAM_UNAVAILABLE"
    emulator.faults(jwks_down=False)
    sidecar.wait_for("SERVING")
    assert verify(sidecar, mint(emulator)).valid
