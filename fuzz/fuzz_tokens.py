"""Fuzz target for the token path: the edge's field check, TokenVerifier.verify with a real key set,
and the JWS and claims parsing underneath it.

  python fuzz/fuzz_tokens.py [libFuzzer flags] [WORK_CORPUS fuzz/corpus]   atheris (`make fuzz`)
  python fuzz/fuzz_tokens.py --hypothesis [--examples N]                  hypothesis drives the same check
  python fuzz/fuzz_tokens.py --write-corpus                               (re)write fuzz/corpus/

A crash is any exception other than the documented "invalid" results — InvalidArgument from the
edge check, jws.Rejected from parsing and claim checks, a not-valid TokenAnswer from verify — and
any *valid* answer for a token whose signed part (header.payload) is not one this file signed, and
any payload that passes the time checks with a time that is not a finite number (`"exp": Infinity`
would be a token that never expires).

Input: the first byte picks the shape. Even: the rest is the token (latin-1, one char per byte).
Odd: the rest is `header JSON \\0 payload JSON [\\0 signature bytes]`, base64url-encoded here, so
the fuzzer mutates JSON directly (deep nesting, huge numbers, duplicate keys) rather than base64.
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

try:
    import atheris
except ImportError:  # the fallback below needs only hypothesis (a dev dependency)
    atheris = None

WITH_ATHERIS = atheris is not None and not {"--hypothesis", "--write-corpus"} & set(sys.argv)

with atheris.instrument_imports(include=["sidecar"]) if WITH_ATHERIS else contextlib.nullcontext():
    from sidecar.api import validation
    from sidecar.config import IssuerSettings, JwksSettings
    from sidecar.core import claims, jws
    from sidecar.core.keys import FetchedKeys
    from sidecar.core.outcomes import InvalidArgument
    from sidecar.core.tokens import TokenVerifier
    from sidecar.emulator.jwks import Issuer, MintRequest, SigningKeyPair, mint

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

CORPUS = Path(__file__).resolve().parent / "corpus"
ISSUER = "https://fuzz.example/issuers/fuzz"
AUDIENCE = "authsidecar-demo"
NOW = 1_700_000_000
MAX_TOKEN_BYTES = 8192  # limits.max_token_bytes' default


def _keys() -> list[SigningKeyPair]:
    es = ec.derive_private_key(0x5EED_0F_F022_1234_5678_9ABC_DEF0, ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [SigningKeyPair("fuzz-es256", "ES256", es), SigningKeyPair("fuzz-eddsa", "EdDSA", ed),
            SigningKeyPair("fuzz-rs256", "RS256", rs)]


KEYS = _keys()
SETTINGS = IssuerSettings(issuer=ISSUER, audiences=[AUDIENCE], algorithms=["ES256", "EdDSA", "RS256"],
                          max_lifetime_seconds=86400)


def _mint(key: SigningKeyPair, **changes) -> str:
    issuer = Issuer("fuzz", key.alg, keys=[key])
    claims_ = {"iat": NOW - 10, "exp": NOW + 3600, "sub": "user-1", "scope": "read write", "sid": "s-1",
               **changes.pop("claims", {})}
    return mint(ISSUER, issuer, MintRequest(claims=claims_, **changes))["token"]


def seed_tokens() -> dict[str, str]:
    """Valid-shaped tokens: valid ones for each fixed key, and near misses the verifier must refuse."""
    es, ed, _ = KEYS
    return {
        "valid-es256": _mint(es), "valid-eddsa": _mint(ed),
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


def _signed_part(token: str) -> str:
    return token.rsplit(".", 1)[0]


SEEDS = seed_tokens()
SIGNED = {_signed_part(t) for t in SEEDS.values()}  # the header.payload parts this file signed
ES256_SIGNATURE = SEEDS["valid-es256"].rsplit(".", 1)[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_of(data: bytes) -> str:
    """The fuzz input → the token under test (see the module docstring)."""
    if not data:
        return ""
    mode, rest = data[0], data[1:]
    if mode % 2 == 0:
        return rest.decode("latin-1")
    header, _, tail = rest.partition(b"\0")
    payload, sep, signature = tail.partition(b"\0")
    return f"{_b64(header)}.{_b64(payload)}.{_b64(signature) if sep else ES256_SIGNATURE}"


def input_of(token: str) -> bytes:
    return b"\0" + token.encode("latin-1")


def structured_input(header: dict, payload: dict) -> bytes:
    return b"\1" + json.dumps(header).encode() + b"\0" + json.dumps(payload).encode()


class Target:
    def __init__(self) -> None:
        async def fetch() -> FetchedKeys:
            return FetchedKeys([k.public_jwk() for k in KEYS])

        self.loop = asyncio.new_event_loop()
        self.verifier = TokenVerifier([SETTINGS], {ISSUER: fetch}, JwksSettings(), wall_clock=lambda: NOW)
        self.loop.run_until_complete(self.verifier.keys[ISSUER].refresh())

    def check(self, data: bytes) -> None:
        token = token_of(data)
        self._parse_and_claims(token)
        try:
            validation.token("token", token, MAX_TOKEN_BYTES)
        except InvalidArgument:
            return  # the edge refuses it: verify never sees it in production
        answer = self.loop.run_until_complete(self.verifier.verify(token, None, []))
        if answer.verdict.valid and _signed_part(token) not in SIGNED:
            raise AssertionError(f"valid answer for a token this fuzzer never signed: {token[:200]!r}")

    @staticmethod
    def _parse_and_claims(token: str) -> None:
        """The parsing and claim rules on their own (verify stops at the signature before claims)."""
        try:
            parsed = jws.parse(token)
        except jws.Rejected:
            return
        for rule in (lambda: jws.check_header(parsed.header, SETTINGS.algorithms),
                     lambda: Target._times(parsed.payload),
                     lambda: claims.check_request(claims.auth_info(parsed.payload, parsed.payload_json, ISSUER, "k"), SETTINGS, None,
                                                  ["read"])):
            try:
                rule()
            except jws.Rejected:
                pass

    @staticmethod
    def _times(payload: dict) -> None:
        claims.check_times(payload, SETTINGS, NOW)
        for name in ("exp", "iat", "nbf"):  # passed: so each present time must be a finite number
            value = payload.get(name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise AssertionError(f"claim {name} passed the time checks as {str(value)[:40]}")


def write_corpus() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, token in SEEDS.items():
        (CORPUS / f"{name}.token").write_bytes(input_of(token))
    parts = {"nested": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": NOW + 60, "a": [[[[{}]]]]}),
             "numbers": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": 1e308, "iat": -1, "nbf": 0.5}),
             # Regressions: an int past float range crashed claim parsing; Infinity passed as a time.
             "huge-int": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": 10**400}),
             "infinity": ({"alg": "ES256", "kid": "fuzz-es256"}, {"iss": ISSUER, "exp": float("inf")})}
    for name, (header, payload) in parts.items():
        (CORPUS / f"structured-{name}.json").write_bytes(structured_input(header, payload))
    print(f"wrote {len(list(CORPUS.iterdir()))} files to {CORPUS}")


def run_hypothesis(examples: int) -> None:
    """The same check, driven by hypothesis: seeds, mutated seeds, and JSON header/payload shapes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = sorted(p.read_bytes() for p in CORPUS.iterdir())
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                            inner, max_size=4),
                               max_leaves=20)
    claim_sets = st.fixed_dictionaries({"iss": st.sampled_from([ISSUER, "x"])},
                                       optional={k: json_values for k in ("exp", "iat", "nbf", "aud", "sub", "scope",
                                                                          "sid", "jti")})
    headers = st.fixed_dictionaries({"alg": st.sampled_from(["ES256", "EdDSA", "RS256", "none", "HS256"])},
                                    optional={"kid": json_values, "crit": json_values})

    @st.composite
    def mutated(draw) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(data)))
            data[at:at + draw(st.integers(0, 3))] = draw(st.binary(max_size=4))
        return bytes(data)

    inputs = st.one_of(st.sampled_from(seeds), mutated(), st.binary(max_size=300),
                       st.builds(structured_input, headers, claim_sets))
    target = Target()

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(inputs)
    def run(data: bytes) -> None:
        target.check(data)

    started = time.monotonic()
    run()
    print(f"hypothesis: {examples} examples in {time.monotonic() - started:.1f} s, no crash")


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
