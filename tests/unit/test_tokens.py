"""TokenVerifier core: every security rule, claims, verified-token cache, revocation — no sockets.

Tokens are minted with the emulator's pure `mint()` (the same code the e2e tests reach over HTTP);
keys come from a fake fetch; wall and monotonic clocks are injected.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from jwt.algorithms import get_default_algorithms

from authsidecar.v1 import auth_pb2 as pb
from sidecar.api import convert, rpc
from sidecar.config import IssuerSettings, JwksSettings
from sidecar.core.shared.outcomes import Reason, RevocationsUnknown, Source
from sidecar.core.tokens import verifier as tokens
from sidecar.core.tokens.jwks_cache import FetchedKeys
from sidecar.core.tokens.verifier import TokenVerifier
from sidecar.emulator.issuers import Issuer, MintRequest, mint

URL = "https://issuer.test/issuers"
AUD = "authsidecar-demo"


class Clocks:
    def __init__(self, wall: float) -> None:
        self.wall_now = wall
        self.mono_now = 5000.0

    def wall(self) -> float:
        return self.wall_now

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        self.wall_now += seconds
        self.mono_now += seconds


class Upstream:
    """The emulated issuers as fake fetch() callables, counting calls."""

    def __init__(self) -> None:
        self.issuers: dict[str, Issuer] = {}
        self.calls: dict[str, int] = {}
        self.down = False

    def add(self, name: str, alg: str) -> Issuer:
        issuer = self.issuers[name] = Issuer(name, alg)
        issuer.add_key()
        self.calls[name] = 0
        return issuer

    def fetch(self, name: str):
        async def fetch() -> FetchedKeys:
            self.calls[name] += 1
            await asyncio.sleep(0)  # a real fetch suspends: concurrent callers overlap here
            if self.down:
                raise OSError("down")
            i = self.issuers[name]
            return FetchedKeys([k.public_jwk() for k in i.keys] + i.extra_jwks)

        return fetch


@pytest.fixture
def upstream() -> Upstream:
    up = Upstream()
    up.add("main", "ES256")
    return up


@pytest.fixture
def clocks() -> Clocks:
    return Clocks(float(int(time.time())))


def verifier(
    upstream: Upstream, clocks: Clocks, *, issuers: list[IssuerSettings] | None = None, revoked=None, **jwks
) -> TokenVerifier:
    issuers = issuers or [
        IssuerSettings(issuer=f"{URL}/{n}", algorithms=[i.alg], audiences=[AUD]) for n, i in upstream.issuers.items()
    ]
    fetchers = {i.issuer: upstream.fetch(i.issuer.rsplit("/", 1)[1]) for i in issuers}
    jwks.setdefault("verified_cache_max_entries", 100_000)  # as the memory budget sizes it in `load`
    return TokenVerifier(
        issuers, fetchers, JwksSettings(**jwks), revoked=revoked, clock=clocks.mono, wall_clock=clocks.wall
    )


def token(upstream: Upstream, clocks: Clocks, name: str = "main", **req) -> str:
    claims = {"iat": int(clocks.wall_now), "exp": int(clocks.wall_now) + 300, **req.pop("claims", {})}
    return mint(f"{URL}/{name}", upstream.issuers[name], MintRequest(claims=claims, **req))["token"]


def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def reason(v: TokenVerifier, tok: str, audience: str | None = None, scopes: list[str] | None = None) -> Reason:
    return (await v.verify(tok, audience, scopes or [])).verdict.reason


# --- a valid token and what it says ---------------------------------------------------------------
async def test_valid_token_yields_auth_info(upstream, clocks):
    v = verifier(upstream, clocks)
    tok = token(
        upstream,
        clocks,
        claims={
            "sub": "u-7",
            "sid": "s-1",
            "jti": "j-1",
            "scope": "read write",
            "permissions": ["billing"],
            "roles": ["admin"],
            "org_id": "org-9",
            "aud": [AUD, "other"],
        },
    )
    answer = await v.verify(tok, None, ["read", "billing"])
    assert answer.verdict.valid and answer.verdict.source is Source.LOCAL
    a = answer.auth
    assert (a.subject, a.session_id, a.token_id, a.org_id) == ("u-7", "s-1", "j-1", "org-9")
    assert a.issuer == f"{URL}/main" and a.audiences == (AUD, "other")
    assert a.scopes == ("read", "write") and a.permissions == ("billing",) and a.roles == ("admin",)
    assert a.key_id == upstream.issuers["main"].current.kid and a.claims["sub"] == "u-7"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA", "ES384"])
async def test_other_selectable_algorithms_verify(clocks, alg):
    up = Upstream()
    up.add("other", alg)
    v = verifier(up, clocks)
    assert (await v.verify(token(up, clocks, "other"), None, [])).verdict.valid


# --- algorithm and header rules -------------------------------------------------------------------
async def test_alg_none_is_rejected(upstream, clocks):
    assert await reason(verifier(upstream, clocks), token(upstream, clocks, alg="none")) is Reason.BAD_ALGORITHM


async def test_hmac_with_the_public_key_as_secret_is_rejected(upstream, clocks):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, alg="HS256")) is Reason.BAD_ALGORITHM
    assert v.signature_checks == 0


async def test_alg_outside_the_issuers_allow_list_is_rejected(clocks):
    up = Upstream()
    up.add("rsa", "RS256")
    issuers = [IssuerSettings(issuer=f"{URL}/rsa", algorithms=["RS256"], audiences=[AUD])]
    v = verifier(up, clocks, issuers=issuers)
    # PS256 with the same RSA key: a fine algorithm, but this issuer did not allow it.
    up.issuers["rsa"].keys[0].alg = "PS256"
    assert await reason(v, token(up, clocks, "rsa")) is Reason.BAD_ALGORITHM


async def test_key_type_must_match_the_alg(clocks):
    up = Upstream()
    up.add("main", "ES256")
    rsa = up.add("rsa", "RS256")
    issuers = [IssuerSettings(issuer=f"{URL}/main", algorithms=["ES256", "RS256"], audiences=[AUD])]
    up.issuers["main"].extra_jwks.append({**rsa.current.public_jwk(), "alg": "ES256"})
    v = verifier(up, clocks, issuers=issuers)
    # header says ES256 and names the RSA key's kid: the key can't verify ES256.
    tok = token(up, clocks, "main", kid=rsa.current.kid)
    assert await reason(v, tok) is Reason.BAD_ALGORITHM
    # a P-384 key published for the P-256 algorithm is refused too
    p384 = Issuer("p384", "ES384")
    p384.add_key()
    up.issuers["main"].extra_jwks.append({**p384.current.public_jwk(), "alg": "ES256"})
    assert await reason(v, token(up, clocks, "main", kid=p384.current.kid)) is Reason.BAD_ALGORITHM


async def test_keys_for_encryption_or_without_verify_op_are_not_used(upstream, clocks):
    main = upstream.issuers["main"]
    enc = main.add_key()
    main.keys.remove(enc)
    main.extra_jwks.append({**enc.public_jwk(), "use": "enc"})
    ops = main.add_key()
    main.keys.remove(ops)
    main.extra_jwks.append({**ops.public_jwk(), "key_ops": ["encrypt"]})
    v = verifier(upstream, clocks)
    for pair in (enc, ops):
        tok = mint(f"{URL}/main", main, MintRequest(claims={}, jwk=_private_jwk(pair)))["token"]
        assert await reason(v, tok) is Reason.UNKNOWN_KEY


def _private_jwk(pair) -> dict:
    return {**get_default_algorithms()[pair.alg].to_jwk(pair.private, as_dict=True), "kid": pair.kid}


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk"])
async def test_key_url_and_embedded_key_headers_are_never_trusted(upstream, clocks, header):
    """Signed with an attacker key that the header points to / embeds: still BAD_SIGNATURE."""
    attacker = Issuer("attacker", "ES256")
    pair = attacker.add_key()
    values = {"jku": "https://evil.test/jwks.json", "x5u": "https://evil.test/cert.pem", "jwk": pair.public_jwk()}
    tok = mint(
        f"{URL}/main",
        upstream.issuers["main"],
        MintRequest(
            claims={},
            jwk=_private_jwk(pair),
            kid=upstream.issuers["main"].current.kid,
            headers={header: values[header]},
        ),
    )["token"]
    assert await reason(verifier(upstream, clocks), tok) is Reason.BAD_SIGNATURE


async def test_x5c_header_is_ignored_for_a_genuine_token(upstream, clocks):
    tok = token(upstream, clocks, headers={"x5c": ["MIIBogus"]})
    assert await reason(verifier(upstream, clocks), tok) is Reason.NONE


@pytest.mark.parametrize("crit", [["exp"], ["b64"], "x"])
async def test_unknown_crit_rejects_the_token(upstream, clocks, crit):
    tok = token(upstream, clocks, headers={"crit": crit, "exp": 1})
    assert await reason(verifier(upstream, clocks), tok) is Reason.UNSUPPORTED_HEADER


async def test_kid_is_an_opaque_string(upstream, clocks):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, kid="../../etc/passwd")) is Reason.UNKNOWN_KEY
    assert await reason(v, token(upstream, clocks, headers={"kid": 5})) is Reason.MALFORMED


async def test_kidless_token_uses_the_single_fitting_key(upstream, clocks):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, kid="")) is Reason.NONE
    upstream.issuers["main"].add_key()
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, kid="")) is Reason.UNKNOWN_KEY


# --- ECDSA signature shapes -----------------------------------------------------------------------
@pytest.mark.parametrize("tamper", ["der", "zero", "r_is_n", "truncate", "payload"])
async def test_bad_ecdsa_signatures_are_rejected(upstream, clocks, tamper):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, tamper=tamper)) is Reason.BAD_SIGNATURE


async def test_signature_from_an_unpublished_key_with_a_known_kid_is_rejected(upstream, clocks):
    assert (
        await reason(verifier(upstream, clocks), token(upstream, clocks, signer="unpublished")) is Reason.BAD_SIGNATURE
    )


# --- malformed input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.",
        f"{b64({'alg': 'ES256'})}.e30=.sig",
        f"{b64(b'[1]')}.e30.",
        f"{b64(b'not json')}.e30.",
        f"{b64({'alg': 'ES256'})}.{b64(b'null')}.",
        b64(b'{"alg":"ES256","alg":"none"}') + ".e30.",  # duplicate header member
        b64({"alg": "ES256"}) + "." + b64(bytes([0xFF, 0xFE])) + ".",
    ],
)
async def test_malformed_tokens(upstream, clocks, bad):
    assert await reason(verifier(upstream, clocks), bad) is Reason.MALFORMED


async def test_wrongly_typed_claims_are_malformed(upstream, clocks):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, claims={"exp": "tomorrow"})) is Reason.MALFORMED
    assert await reason(v, token(upstream, clocks, claims={"exp": True})) is Reason.MALFORMED
    assert await reason(v, token(upstream, clocks, claims={"sub": 12})) is Reason.MALFORMED


@pytest.mark.parametrize(
    "exp",
    [10**400, float("inf"), float("-inf"), float("nan"), 1e999],
    ids=["int-10^400", "Infinity", "-Infinity", "NaN", "1e999"],
)
async def test_numeric_dates_out_of_float_range_or_not_finite_are_malformed(upstream, clocks, exp):
    """Signed by the issuer, still refused: 10**400 used to escape as OverflowError (INTERNAL), and
    `"exp": Infinity` (which Python's json accepts, JSON does not) made a token that never expires."""
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, claims={"exp": exp})) is Reason.MALFORMED
    assert await reason(v, token(upstream, clocks, claims={"iat": exp})) is Reason.MALFORMED


# --- issuers and claims ---------------------------------------------------------------------------
async def test_unknown_or_missing_iss_is_untrusted(upstream, clocks):
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, claims={"iss": "https://evil.test"})) is Reason.UNTRUSTED_ISSUER
    assert await reason(v, token(upstream, clocks, claims={"iss": None})) is Reason.UNTRUSTED_ISSUER
    assert v.signature_checks == 0


async def test_multiple_issuers_keep_their_keys_apart(upstream, clocks):
    upstream.add("second", "ES256")
    v = verifier(upstream, clocks)
    assert await reason(v, token(upstream, clocks, "main")) is Reason.NONE
    assert await reason(v, token(upstream, clocks, "second")) is Reason.NONE
    # second's key, main's iss: main's JWKS has no such kid
    crossed = mint(f"{URL}/main", upstream.issuers["second"], MintRequest(claims={}))["token"]
    assert await reason(v, crossed) is Reason.UNKNOWN_KEY


async def test_clock_skew_edges(upstream, clocks):
    v = verifier(upstream, clocks)  # leeway 60 s
    now = int(clocks.wall_now)
    assert await reason(v, token(upstream, clocks, claims={"exp": now - 59})) is Reason.NONE
    assert await reason(v, token(upstream, clocks, claims={"exp": now - 60})) is Reason.EXPIRED
    assert await reason(v, token(upstream, clocks, claims={"nbf": now + 60})) is Reason.NONE
    assert await reason(v, token(upstream, clocks, claims={"nbf": now + 61})) is Reason.NOT_YET_VALID
    assert await reason(v, token(upstream, clocks, claims={"iat": now + 61})) is Reason.NOT_YET_VALID


async def test_required_claims_and_max_lifetime(upstream, clocks):
    issuers = [
        IssuerSettings(issuer=f"{URL}/main", audiences=[AUD], required_claims=["exp", "sub"], max_lifetime_seconds=600)
    ]
    v = verifier(upstream, clocks, issuers=issuers)
    now = int(clocks.wall_now)
    assert await reason(v, token(upstream, clocks, claims={"exp": None})) is Reason.MISSING_CLAIM
    assert await reason(v, token(upstream, clocks, claims={"sub": None})) is Reason.MISSING_CLAIM
    assert await reason(v, token(upstream, clocks, claims={"exp": now + 601})) is Reason.LIFETIME_TOO_LONG
    assert await reason(v, token(upstream, clocks, claims={"exp": now + 600})) is Reason.NONE


async def test_audience_and_scopes(upstream, clocks):
    v = verifier(upstream, clocks)
    tok = token(upstream, clocks, claims={"aud": ["api-a", AUD], "scp": ["read"]})
    assert await reason(v, tok) is Reason.NONE
    assert await reason(v, tok, audience="api-a") is Reason.NONE
    assert await reason(v, tok, audience="api-b") is Reason.BAD_AUDIENCE
    assert await reason(v, tok, scopes=["read"]) is Reason.NONE
    assert await reason(v, tok, scopes=["read", "write"]) is Reason.INSUFFICIENT_SCOPE
    assert await reason(v, token(upstream, clocks, claims={"aud": "someone-else"})) is Reason.BAD_AUDIENCE
    assert await reason(v, token(upstream, clocks, claims={"aud": None})) is Reason.BAD_AUDIENCE


# --- verified-token cache and revocation ----------------------------------------------------------
async def test_repeat_verification_skips_signature_work(upstream, clocks):
    v = verifier(upstream, clocks)
    tok = token(upstream, clocks)
    first = await v.verify(tok, None, [])
    assert first.verdict.source is Source.LOCAL and v.signature_checks == 1
    for _ in range(5):
        again = await v.verify(tok, None, [])
        assert again.verdict.valid and again.verdict.source is Source.CACHE
    assert v.signature_checks == 1
    # per-call checks still apply to a cached answer
    assert await reason(v, tok, audience="elsewhere") is Reason.BAD_AUDIENCE
    assert v.signature_checks == 1


async def test_cached_entry_lives_until_exp_minus_leeway(upstream, clocks):
    v = verifier(upstream, clocks)
    tok = token(upstream, clocks, claims={"exp": int(clocks.wall_now) + 300})
    await v.verify(tok, None, [])
    clocks.advance(239)
    await v.verify(tok, None, [])
    assert v.signature_checks == 1
    clocks.advance(2)  # past exp - leeway: verified again (still valid within the leeway)
    assert await reason(v, tok) is Reason.NONE and v.signature_checks == 2
    clocks.advance(120)
    assert await reason(v, tok) is Reason.EXPIRED


async def test_removed_key_stops_verifying_even_cached_tokens(upstream, clocks):
    v = verifier(upstream, clocks)
    main = upstream.issuers["main"]
    tok = token(upstream, clocks)
    assert await reason(v, tok) is Reason.NONE
    old = main.current.kid
    main.add_key()
    main.keys = [k for k in main.keys if k.kid != old]
    await v.keys[f"{URL}/main"].refresh()
    assert await reason(v, tok) is Reason.UNKNOWN_KEY


async def test_revoked_sid_or_jti_is_never_valid_even_from_cache(upstream, clocks):
    revoked: set[str] = set()
    v = verifier(upstream, clocks, revoked=revoked.__contains__)
    tok = token(upstream, clocks, claims={"sid": "s-1", "jti": "j-1"})
    assert await reason(v, tok) is Reason.NONE
    revoked.add("s-1")
    assert await reason(v, tok) is Reason.REVOKED
    revoked.clear()
    revoked.add("j-1")
    assert await reason(v, tok) is Reason.REVOKED
    assert v.signature_checks == 1


async def test_a_revocation_added_after_a_token_was_found_clear_is_seen_at_once(upstream, clocks):
    # The verifier skips its revocation lookups for a hot token while the revocations' version is the
    # one it last found the token clear at; every added revocation moves the version (the stores count
    # them), so the next call looks again. A stale fleet log makes the version itself fail closed.
    revoked: set[str] = set()
    looked = []
    state = {"version": 0, "stale": False}

    def is_revoked(revocation_id: str) -> bool:
        looked.append(revocation_id)
        return revocation_id in revoked

    def version() -> int:
        if state["stale"]:
            raise RevocationsUnknown("stale")
        return state["version"]

    v = verifier(upstream, clocks, revoked=is_revoked)
    v.revocations_version = version
    tok = token(upstream, clocks, claims={"sid": "s-1", "jti": "j-1"})
    assert await reason(v, tok) is Reason.NONE  # verified and recorded
    assert await reason(v, tok) is Reason.NONE  # a hit: found clear at version 0
    lookups = len(looked)
    assert await reason(v, tok) is Reason.NONE
    assert len(looked) == lookups  # nothing revoked since: no lookups
    revoked.add("j-1")
    state["version"] += 1
    assert await reason(v, tok) is Reason.REVOKED
    revoked.clear()
    state["version"] += 1  # (a store only grows; this test's "un-revoke" just shows the re-check)
    assert await reason(v, tok) is Reason.NONE
    state["stale"] = True
    assert await reason(v, tok) is Reason.UPSTREAM_UNAVAILABLE


async def test_hits_past_the_recent_memo_read_the_same_identity_from_the_token(upstream, clocks, monkeypatch):
    # The cache keeps only which key vouched for a token; beyond the memo of recent identities a hit
    # parses the token again. Same answer as the fresh verification, and no signature work.

    monkeypatch.setattr(tokens, "RECENT_MAX", 2)
    v = verifier(upstream, clocks)
    toks = [
        token(
            upstream,
            clocks,
            claims={
                "sub": f"u-{i}",
                "sid": f"s-{i}",
                "jti": f"j-{i}",
                "scope": "read",
                "aud": [AUD, "api-a"],
                "roles": ["admin"],
                "org_id": "o",
            },
        )
        for i in range(5)
    ]
    fresh = [(await v.verify(t, None, [])).auth for t in toks]
    for t, first in zip(toks, fresh, strict=True):
        again = await v.verify(t, "api-a", ["read"])
        assert again.verdict.valid and again.verdict.source is Source.CACHE
        assert again.auth == first and again.auth.claims == first.claims
    assert v.signature_checks == 5
    assert await reason(v, toks[0], scopes=["write"]) is Reason.INSUFFICIENT_SCOPE


async def test_a_removed_key_drops_what_it_vouched_for_past_the_memo_too(upstream, clocks, monkeypatch):
    monkeypatch.setattr(tokens, "RECENT_MAX", 1)
    v = verifier(upstream, clocks)
    main = upstream.issuers["main"]
    toks = [token(upstream, clocks, claims={"sub": f"u-{i}"}) for i in range(3)]
    for t in toks:
        assert await reason(v, t) is Reason.NONE
    old = main.current.kid
    main.add_key()
    main.keys = [k for k in main.keys if k.kid != old]
    await v.keys[f"{URL}/main"].refresh()
    assert len(v._verified) == 0 and len(v._vouches) == 0
    for t in toks:
        assert await reason(v, t) is Reason.UNKNOWN_KEY


async def test_outage_uses_last_good_keys_then_fails_closed(upstream, clocks):
    v = verifier(upstream, clocks, max_stale_seconds=3600)
    cache = v.keys[f"{URL}/main"]
    await cache.refresh()
    upstream.down = True
    await cache.refresh()
    tok = token(upstream, clocks)
    assert await reason(v, tok) is Reason.NONE
    clocks.advance(3601)
    fresh = token(upstream, clocks)
    assert await reason(v, fresh) is Reason.UPSTREAM_UNAVAILABLE
    assert await reason(v, tok) is not Reason.NONE  # the cached answer is not a stale yes


async def test_readiness_and_health(upstream, clocks):
    v = verifier(upstream, clocks)
    ready, detail = v.readiness()
    assert not ready and "1 issuer" in detail
    await v.keys[f"{URL}/main"].refresh()
    assert v.readiness()[0]
    [h] = await v.health()
    assert h.healthy and h.name == f"jwks:{URL}/main"
    upstream.down = True
    [h] = await v.health()
    assert not h.healthy


async def test_concurrent_calls_with_one_new_token_share_one_signature_check(upstream, clocks):
    v = verifier(upstream, clocks)
    tok = token(upstream, clocks)
    answers = await asyncio.gather(*(v.verify(tok, None, []) for _ in range(20)))
    assert all(a.verdict.valid for a in answers)
    assert v.signature_checks == 1 and upstream.calls["main"] == 1
    bad = token(upstream, clocks, tamper="zero")
    answers = await asyncio.gather(*(v.verify(bad, None, []) for _ in range(5)))
    assert {a.verdict.reason for a in answers} == {Reason.BAD_SIGNATURE}


async def test_a_hot_token_gets_one_shared_answer_and_the_shared_answers_are_bounded_in_bytes(upstream, clocks):
    # convert.token_answer hands every hit of one cached identity the same message (built once), and
    # rpc reads its labels once; both memos hold at most HOT_BYTES of encoded answers, oldest out first.
    v = verifier(upstream, clocks)
    convert._HOT.clear()
    convert._hot_bytes = 0
    rpc._SHARED.clear()
    tokens = [token(upstream, clocks, claims={"sub": f"hot-{i}", "pad": "p" * 400}) for i in range(800)]
    for t in tokens:
        assert (await v.verify(t, None, [])).verdict.source is Source.LOCAL
    first = [convert.token_answer(await v.verify(t, None, [])) for t in tokens]
    assert convert._hot_bytes <= convert.HOT_BYTES and 0 < len(convert._HOT) < len(tokens)
    assert len(rpc._SHARED) == len(convert._HOT)  # what the one drops, the other forgets
    for t, was in zip(tokens[-10:], first[-10:], strict=True):
        again = convert.token_answer(await v.verify(t, None, []))
        assert again is was and rpc.outcome_of(again) == ("valid", "none")
    rebuilt = convert.token_answer(await v.verify(tokens[0], None, []))  # pushed out: built again, equal
    assert rebuilt is not first[0] and rebuilt == first[0]
    assert first[0].auth.subject == "hot-0" and first[0].source == pb.SOURCE_CACHE


async def test_row03_parsed_token_memo_is_bounded_in_bytes(upstream, clocks):
    # Issue 24 row 3: the memo of recent parsed identities (2,048) is budgeted at ~1.3 kB each, but a
    # token's claims may be up to max_token_bytes (+39 MB measured with 7.6 kB tokens). Identities over
    # RECENT_CLAIMS_MAX_BYTES are kept neither parsed nor encoded: a hit parses again, same answer.

    v = verifier(upstream, clocks)
    convert._cached_answer_bytes.cache_clear()
    convert._HOT.clear()
    convert._hot_bytes = 0
    big = [token(upstream, clocks, claims={"sub": f"u-{i}", "pad": "p" * 6000}) for i in range(20)]
    small = token(upstream, clocks, claims={"sub": "small"})
    for t in [*big, small]:
        first = await v.verify(t, None, [])
        for _ in range(2):
            again = await v.verify(t, None, [])
            assert again.verdict.source is Source.CACHE and again.auth == first.auth
            answer = convert.token_answer(again)
            assert answer.auth == convert.auth_info(first.auth) and answer.source == pb.SOURCE_CACHE
    assert v.signature_checks == 21
    assert len(v._recent) == 1  # the small one only
    assert convert._cached_answer_bytes.cache_info().currsize == 1
    assert len(convert._HOT) == 1
