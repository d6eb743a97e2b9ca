"""Fuzz target for the token path: the edge's field check, TokenVerifier.verify with a real key set,
the JWS and claims parsing underneath it, and — for tokens it signs itself — everything after the
signature: claim checks on real values, the AuthInfo message and its claims Struct as the gRPC edge
builds them, the verified-token cache (a second call), revocation by sid/jti and ext_authz headers.

  python fuzz/fuzz_tokens.py [libFuzzer flags] [WORK_CORPUS fuzz/corpus]   atheris (`make fuzz`)
  python fuzz/fuzz_tokens.py --hypothesis [--examples N]                  hypothesis drives the same check
  python fuzz/fuzz_tokens.py --write-corpus                               (re)write fuzz/corpus/

A crash is any exception other than the documented "invalid" results — InvalidArgument from the
edge check, jws.Rejected from parsing and claim checks, a not-valid TokenAnswer from verify — and
any *valid* answer for a token whose signed part (header.payload) is not one this file signed, and
any payload that passes the time checks with a time that is not a finite number (`"exp": Infinity`
would be a token that never expires). For a token it signed and the verifier found valid: an
AuthInfo that does not encode and decode as a VerifyTokenResponse, a second call not answered from
the cache alike, a revoked sid/jti not answered REVOKED, an ext_authz answer that does not encode, or
an identity header value with a control character in it.

Input: the first byte picks the shape. Even: the rest is the token (latin-1, one char per byte).
Odd: the rest is `header JSON \\0 payload JSON [\\0 signature bytes]`, base64url-encoded here, so
the fuzzer mutates JSON directly (deep nesting, huge numbers, duplicate keys) rather than base64.
`byte % 4 == 3` means *signed*: header and payload are signed here with key `(byte >> 2) % 3`
(ES256, EdDSA, RS256), so whatever the fuzzer writes there reaches the valid path.
The keys are derived from fixed seeds (ES256, EdDSA) so the corpus tokens verify on every run; an
RS256 key is generated per run. The wall clock is fixed, so nothing in the corpus ever expires.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from authsidecar.v1 import auth_pb2 as pb

try:
    import atheris
except ImportError:  # the fallback below needs only hypothesis (a dev dependency)
    atheris = None

WITH_ATHERIS = atheris is not None and not {"--hypothesis", "--write-corpus"} & set(sys.argv)

with atheris.instrument_imports(include=["sidecar"]) if WITH_ATHERIS else contextlib.nullcontext():
    from sidecar.api import convert
    from sidecar.api import fields as validation
    from sidecar.api.ext_authz import check_response
    from sidecar.config import ClaimHeader, ExtAuthzRule, ExtAuthzSettings, IssuerSettings, JwksSettings, Limits
    from sidecar.core.ext_authz.decisions import Allow, sendable
    from sidecar.core.ext_authz.http_request import HttpRequest
    from sidecar.core.ext_authz.policy import Policy, Verifiers
    from sidecar.core.shared.outcomes import InvalidArgument, Reason, Source
    from sidecar.core.tokens import claims, jws
    from sidecar.core.tokens.jwks_cache import FetchedKeys
    from sidecar.core.tokens.verifier import TokenVerifier
    from sidecar.emulator.issuers import Issuer, MintRequest, SigningKeyPair, mint

CORPUS = Path(__file__).resolve().parent / "corpus"
ISSUER = "https://fuzz.example/issuers/fuzz"
OPEN_ISSUER = "https://fuzz.example/issuers/open"  # no maximum lifetime: exp may be anything
AUDIENCE = "authsidecar-demo"
NOW = 1_700_000_000
MAX_TOKEN_BYTES = 8192  # limits.max_token_bytes' default


def _keys() -> list[SigningKeyPair]:
    es = ec.derive_private_key(0x5EED_0F_F022_1234_5678_9ABC_DEF0, ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        SigningKeyPair("fuzz-es256", "ES256", es),
        SigningKeyPair("fuzz-eddsa", "EdDSA", ed),
        SigningKeyPair("fuzz-rs256", "RS256", rs),
    ]


KEYS = _keys()
SETTINGS = IssuerSettings(
    issuer=ISSUER, audiences=[AUDIENCE], algorithms=["ES256", "EdDSA", "RS256"], max_lifetime_seconds=86400
)
OPEN_SETTINGS = IssuerSettings(issuer=OPEN_ISSUER, audiences=[AUDIENCE], algorithms=["ES256", "EdDSA", "RS256"])
ALGS = get_default_algorithms()
EXT_AUTHZ = ExtAuthzSettings(
    rules=[ExtAuthzRule(name="api", path_prefix="/api", checks=["jwt"])],
    claim_headers=[ClaimHeader("team", "x-auth-team"), ClaimHeader("email", "x-auth-email")],
)


def _mint(key: SigningKeyPair, **changes) -> str:
    issuer = Issuer("fuzz", key.alg, keys=[key])
    claims_ = {
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "sub": "user-1",
        "scope": "read write",
        "sid": "s-1",
        **changes.pop("claims", {}),
    }
    return mint(ISSUER, issuer, MintRequest(claims=claims_, **changes))["token"]


def seed_tokens() -> dict[str, str]:
    """Valid-shaped tokens: valid ones for each fixed key, and near misses the verifier must refuse."""
    es, ed, _ = KEYS
    return {
        "valid-es256": _mint(es),
        "valid-eddsa": _mint(ed),
        "expired": _mint(es, claims={"exp": NOW - 3600}),
        "wrong-audience": _mint(es, claims={"aud": "someone-else"}),
        "unknown-kid": _mint(es, kid="no-such-kid"),
        "no-kid": _mint(ed, kid=""),
        "alg-none": _mint(es, alg="none"),
        "hmac-confusion": _mint(es, alg="HS256"),
        "der-signature": _mint(es, tamper="der"),
        "zero-signature": _mint(es, tamper="zero"),
        "tampered-payload": _mint(es, tamper="payload"),
        "crit-header": _mint(es, headers={"crit": ["exp"]}),
        "nested-claims": _mint(es, claims={"org": {"a": [{"b": {"c": [1, 2.5, None, True]}}]}, "nbf": NOW - 5}),
    }


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def signed_claims(**changes) -> dict:
    """A claim set the verifier accepts, with `changes` over it (None drops a claim)."""
    claims_ = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "sub": "user-1",
        "scope": "read write",
        "sid": "s-1",
        "jti": "t-1",
        "team": "blue",
        **changes,
    }
    return {k: v for k, v in claims_.items() if v is not None}


def signed_seeds() -> dict[str, tuple[int, dict]]:
    """Inputs this file signs (key index, payload): valid ones, and the regressions of issue 17 —
    claims a trusted issuer signed that once crashed the answer building (INTERNAL)."""
    return {
        "valid-es256": (0, signed_claims()),
        "valid-eddsa": (1, signed_claims()),
        "valid-rs256": (2, signed_claims()),
        "exp-year-10000": (0, signed_claims(iss=OPEN_ISSUER, exp=253_402_300_800)),
        "exp-1e30": (0, signed_claims(iss=OPEN_ISSUER, exp=10**30)),
        "iat-before-year-1": (1, signed_claims(iss=OPEN_ISSUER, iat=-(10**12))),
        "nested-60": (0, signed_claims(org=_nested(60))),
        "int-1e400": (0, signed_claims(big=10**400)),
        "surrogate-sub": (2, signed_claims(sub="\ud800")),
        "surrogate-claim": (0, signed_claims(team="\udfff", **{"\ud800": 1})),
        "crlf-subject": (1, signed_claims(sub="user-1\r\nx-auth-admin: yes")),
        "control-claim-header": (0, signed_claims(email="a@b\x00", team="\x7f")),
        "no-exp": (0, signed_claims(iss=OPEN_ISSUER, exp=None)),
        "exp-null": (0, {**signed_claims(iss=OPEN_ISSUER), "exp": None}),  # a required exp sent as null
    }


def _signed_part(token: str) -> str:
    return token.rsplit(".", 1)[0]


SEEDS = seed_tokens()
SIGNED = {_signed_part(t) for t in SEEDS.values()}  # the header.payload parts this file signed
ES256_SIGNATURE = SEEDS["valid-es256"].rsplit(".", 1)[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_input(data: bytes) -> tuple[str, bool]:
    """The fuzz input → (the token under test, whether this file signed it); see the module docstring."""
    if not data:
        return "", False
    mode, rest = data[0], data[1:]
    if mode % 2 == 0:
        return rest.decode("latin-1"), False
    header, _, tail = rest.partition(b"\0")
    payload, sep, signature = tail.partition(b"\0")
    if mode % 4 == 3:
        key = KEYS[(mode >> 2) % len(KEYS)]
        signing_input = f"{_b64(header)}.{_b64(payload)}"
        return f"{signing_input}.{_b64(ALGS[key.alg].sign(signing_input.encode(), key.private))}", True
    return f"{_b64(header)}.{_b64(payload)}.{_b64(signature) if sep else ES256_SIGNATURE}", False


def token_of(data: bytes) -> str:
    return decode_input(data)[0]


def input_of(token: str) -> bytes:
    return b"\0" + token.encode("latin-1")


def structured_input(header: dict, payload: dict) -> bytes:
    return b"\1" + json.dumps(header).encode() + b"\0" + json.dumps(payload).encode()


def signed_input(key: int, header: dict, payload: dict) -> bytes:
    """An input this file signs with KEYS[key]; the header gets that key's alg and kid unless given."""
    header = {"alg": KEYS[key].alg, "kid": KEYS[key].kid, **header}
    return bytes([3 + 4 * key]) + json.dumps(header).encode() + b"\0" + json.dumps(payload).encode()


class Target:
    def __init__(self) -> None:
        async def fetch() -> FetchedKeys:
            return FetchedKeys([k.public_jwk() for k in KEYS])

        self.loop = asyncio.new_event_loop()
        self.revoked: set[str] = set()
        jwks = JwksSettings(verified_cache_max_entries=10_000)  # as `load` sizes it from the memory budget
        self.verifier = TokenVerifier(
            [SETTINGS, OPEN_SETTINGS],
            {ISSUER: fetch, OPEN_ISSUER: fetch},
            jwks,
            wall_clock=lambda: NOW,
            revoked=self.revoked.__contains__,
        )
        for issuer in (ISSUER, OPEN_ISSUER):
            self.loop.run_until_complete(self.verifier.keys[issuer].refresh())
        self.policy = Policy(EXT_AUTHZ, Limits())
        self.valid_answers = 0  # signed tokens that reached the end of the valid path (the tests check > 0)

    def check(self, data: bytes) -> None:
        token, signed = decode_input(data)
        self._parse_and_claims(token)
        try:
            validation.token("token", token, MAX_TOKEN_BYTES)
        except InvalidArgument:
            return  # the edge refuses it: verify never sees it in production
        answer = self._verify(token)
        if answer.verdict.valid and not signed and _signed_part(token) not in SIGNED:
            raise AssertionError(f"valid answer for a token this fuzzer never signed: {token[:200]!r}")
        if answer.verdict.valid:
            self._after_valid(token, answer)

    def _verify(self, token: str):
        return self.loop.run_until_complete(self.verifier.verify(token, None, []))

    def _after_valid(self, token: str, answer) -> None:
        """A valid answer's afterlife: the gRPC answer, the cache, revocation and ext_authz."""
        auth = answer.auth
        payload = jws.parse(token).payload
        issuer = self.verifier.issuers[payload["iss"]]
        Target._times(payload, issuer)
        if any(payload.get(name) is None for name in issuer.required_claims):
            raise AssertionError("valid answer for a token without a required claim")
        reply = pb.VerifyTokenResponse(
            valid=True,
            reason=convert.reason(answer.verdict.reason),
            source=convert.source(answer.verdict.source),
            auth=convert.auth_info(auth),
        )
        decoded = pb.VerifyTokenResponse.FromString(reply.SerializeToString())  # as the caller decodes it
        if not set(decoded.auth.claims.keys()) <= set(payload):
            raise AssertionError("AuthInfo.claims holds a claim the token does not")
        if auth.expires_at is not None and auth.expires_at - issuer.leeway_seconds > NOW:
            # cached until exp minus leeway: the second call must come from the cache
            again = self._verify(token)
            if not again.verdict.valid or again.verdict.source is not Source.CACHE or again.auth != auth:
                raise AssertionError(f"second call not answered from the cache alike: {again.verdict}")
        for revoked in (auth.session_id, auth.token_id):
            if revoked:
                self.revoked.add(revoked)
                try:
                    if self._verify(token).verdict.reason is not Reason.REVOKED:
                        raise AssertionError("a revoked sid/jti was not answered REVOKED")
                finally:
                    self.revoked.clear()
        self._ext_authz(token, auth)
        self.valid_answers += 1

    def _ext_authz(self, token: str, auth) -> None:
        request = HttpRequest("GET", "/api/x", {"authorization": f"Bearer {token}", "x-auth-team": "forged"})
        decision = self.loop.run_until_complete(self.policy.decide(request, Verifiers(tokens=self.verifier)))
        check_response(decision).SerializeToString()
        should_allow = bool(auth.subject) and sendable(auth.subject)
        if isinstance(decision, Allow) != should_allow:
            raise AssertionError(f"ext_authz {decision} for subject {auth.subject[:40]!r}")
        if isinstance(decision, Allow):
            for name, value in decision.headers:
                if not sendable(value) or any(ord(c) < 32 or ord(c) == 127 for c in value):
                    raise AssertionError(f"header {name} carries a control character")
            if dict(decision.headers).get("x-auth-team") == "forged" or "x-auth-team" not in (
                *dict(decision.headers),
                *decision.remove,
            ):
                raise AssertionError("a forged identity header reached the app")

    @staticmethod
    def _parse_and_claims(token: str) -> None:
        """The parsing and claim rules on their own (verify stops at the signature before claims)."""
        try:
            parsed = jws.parse(token)
        except jws.Rejected:
            return
        for rule in (
            lambda: jws.check_header(parsed.header, SETTINGS.algorithms),
            lambda: Target._times(parsed.payload, SETTINGS),
            lambda: claims.check_request(
                claims.auth_info(parsed.payload, parsed.payload_json, ISSUER, "k"), SETTINGS, None, ["read"]
            ),
        ):
            with contextlib.suppress(jws.Rejected):
                rule()

    @staticmethod
    def _times(payload: dict, settings: IssuerSettings) -> None:
        claims.check_times(payload, settings, NOW)
        for name in ("exp", "iat", "nbf"):  # passed: so each present time must be a finite number
            value = payload.get(name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise AssertionError(f"claim {name} passed the time checks as {str(value)[:40]}")


def write_corpus() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, token in SEEDS.items():
        (CORPUS / f"{name}.token").write_bytes(input_of(token))
    parts = {
        "nested": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": NOW + 60, "a": [[[[{}]]]]}),
        "numbers": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": 1e308, "iat": -1, "nbf": 0.5}),
        # Regressions: an int past float range crashed claim parsing; Infinity passed as a time.
        "huge-int": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": 10**400}),
        "infinity": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": float("inf")}),
    }
    for name, (header, payload) in parts.items():
        (CORPUS / f"structured-{name}.json").write_bytes(structured_input(header, payload))
    for name, (key, payload) in signed_seeds().items():
        (CORPUS / f"signed-{name}.json").write_bytes(signed_input(key, {}, payload))
    print(f"wrote {len(list(CORPUS.iterdir()))} files to {CORPUS}")


def signed_inputs():
    """Hypothesis: inputs this file signs — mostly acceptable claims with odd values mixed in, so the
    valid path sees deep nesting, huge numbers, control characters, lone surrogates and edge times."""
    from hypothesis import strategies as st  # noqa: PLC0415 (the atheris run, with only the fuzz extra, needs no hypothesis)

    odd_text = st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            ["", "\ud800", "a\r\nx-auth-admin: 1", "\x00", "\x7f", "\u2028", "\U0001f600", "\u202e", "x" * 3000, "  "]
        ),
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        odd_text,
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([10**400, -(10**309), 2**63, 2**64, 1e308, -0.0]),
    )
    json_values = st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3), max_leaves=12
    )
    deep = st.builds(
        lambda depth, as_list: _nested(depth) if not as_list else json.loads("[" * depth + "]" * depth),
        st.integers(1, 90),
        st.booleans(),
    )
    times = st.one_of(
        st.integers(NOW - 100, NOW + 3600),
        st.sampled_from(
            [253_402_300_799, 253_402_300_800, 10**30, -62_135_596_800, -62_135_596_801, 1e308, 2**63, None, "1", True]
        ),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    standard = {
        "sub": odd_text,
        "sid": odd_text,
        "jti": odd_text,
        "aud": st.one_of(st.just(AUDIENCE), json_values),
        "scope": odd_text,
        "scp": json_values,
        "roles": json_values,
        "permissions": json_values,
        "org_id": odd_text,
        "exp": times,
        "iat": times,
        "nbf": times,
        "iss": st.sampled_from([ISSUER, OPEN_ISSUER, OPEN_ISSUER]),
    }
    changes = st.dictionaries(st.sampled_from(sorted(standard)), st.none(), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: standard[k] for k in keys})
    )
    extra = st.dictionaries(
        st.one_of(odd_text, st.sampled_from(["team", "email", "org"])), st.one_of(json_values, deep), max_size=4
    )
    headers = st.one_of(
        st.just({}), st.fixed_dictionaries({}, optional={"kid": odd_text, "typ": json_values, "x": json_values})
    )
    return st.builds(
        lambda key, header, change, more: signed_input(key, header, {**signed_claims(**change), **more}),
        st.integers(0, len(KEYS) - 1),
        headers,
        changes,
        extra,
    )


def run_hypothesis(examples: int) -> None:
    """The same check, driven by hypothesis: seeds, mutated seeds, and JSON header/payload shapes."""
    from hypothesis import HealthCheck, given, settings  # noqa: PLC0415 (the atheris run, with only the fuzz extra, needs no hypothesis)
    from hypothesis import strategies as st  # noqa: PLC0415 (the atheris run, with only the fuzz extra, needs no hypothesis)

    seeds = sorted(p.read_bytes() for p in CORPUS.iterdir())
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
    claim_sets = st.fixed_dictionaries(
        {"iss": st.sampled_from([ISSUER, "x"])},
        optional={k: json_values for k in ("exp", "iat", "nbf", "aud", "sub", "scope", "sid", "jti")},
    )
    headers = st.fixed_dictionaries(
        {"alg": st.sampled_from(["ES256", "EdDSA", "RS256", "none", "HS256"])},
        optional={"kid": json_values, "crit": json_values},
    )

    @st.composite
    def mutated(draw) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(data)))
            data[at : at + draw(st.integers(0, 3))] = draw(st.binary(max_size=4))
        return bytes(data)

    inputs = st.one_of(
        st.sampled_from(seeds),
        mutated(),
        st.binary(max_size=300),
        st.builds(structured_input, headers, claim_sets),
        signed_inputs(),
    )
    target = Target()

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(inputs)
    def run(data: bytes) -> None:
        target.check(data)

    started = time.monotonic()
    run()
    print(
        f"hypothesis: {examples} examples in {time.monotonic() - started:.1f} s, "
        f"{target.valid_answers} signed tokens valid, no crash"
    )


def main() -> None:
    if "--write-corpus" in sys.argv:
        write_corpus()
    elif not WITH_ATHERIS:
        examples = int(sys.argv[sys.argv.index("--examples") + 1]) if "--examples" in sys.argv else 2000
        if "--hypothesis" not in sys.argv:
            print("atheris is not installed (pip install -e '.[fuzz]'); fuzzing with hypothesis instead")
        run_hypothesis(examples)
    else:
        target = Target()
        atheris.Setup(sys.argv, target.check)
        atheris.Fuzz()


if __name__ == "__main__":
    main()
