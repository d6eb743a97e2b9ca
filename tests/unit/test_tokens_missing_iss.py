"""`issuers[].accept_missing_iss`: a token without iss is bound to that one issuer's JWKS, nothing more.

InAI's tokens (@inai-dev/backend's JWTClaims) carry neither iss nor aud. The option lets such a token
verify against the one issuer that sets it; its keys still decide, audience checks still apply when
configured, and two issuers setting it is a configuration error.
"""

from __future__ import annotations

import time

import pytest

from sidecar.config import ConfigError, IssuerSettings, JwksSettings, load
from sidecar.core.shared.outcomes import Reason
from sidecar.core.tokens.jwks_cache import FetchedKeys
from sidecar.core.tokens.verifier import TokenVerifier
from sidecar.emulator.issuers import Issuer, MintRequest, mint

URL = "https://issuer.test"


@pytest.fixture
def keys() -> dict[str, Issuer]:
    found = {name: Issuer(name, "ES256") for name in ("inai", "other")}
    for issuer in found.values():
        issuer.add_key()
    return found


def verifier(keys: dict[str, Issuer], *, accept: str | None = "inai", audiences: dict | None = None) -> TokenVerifier:
    def fetch(name: str):
        async def fetched() -> FetchedKeys:
            return FetchedKeys([k.public_jwk() for k in keys[name].keys])

        return fetched

    issuers = [
        IssuerSettings(
            issuer=f"{URL}/{name}", accept_missing_iss=(name == accept), audiences=(audiences or {}).get(name, [])
        )
        for name in keys
    ]
    return TokenVerifier(
        issuers,
        {i.issuer: fetch(i.issuer.rsplit("/", 1)[1]) for i in issuers},
        JwksSettings(verified_cache_max_entries=1000),
    )  # as `load` sizes it from the budget


def token(keys: dict[str, Issuer], signer: str, key: str = "", **claims) -> str:
    """InAI-shaped claims; iss and aud dropped unless given. `key="unpublished"`: a fresh key, the issuer's kid."""
    now = int(time.time())
    base = {
        "iss": None,
        "aud": None,
        "sub": "usr_1",
        "type": "app_user",
        "tenant_id": "t",
        "iat": now,
        "exp": now + 300,
    }
    return mint(f"{URL}/{signer}", keys[signer], MintRequest(claims={**base, **claims}, signer=key))["token"]


async def reason(v: TokenVerifier, tok: str, audience: str | None = None) -> Reason:
    return (await v.verify(tok, audience, [])).verdict.reason


async def test_a_token_without_iss_signed_by_that_issuer_is_valid_and_says_which_issuer(keys):
    v = verifier(keys)
    answer = await v.verify(token(keys, "inai"), None, [])
    assert answer.verdict.valid and answer.auth.issuer == f"{URL}/inai" and answer.auth.subject == "usr_1"


async def test_without_the_option_a_token_without_iss_is_untrusted(keys):
    assert await reason(verifier(keys, accept=None), token(keys, "inai")) is Reason.UNTRUSTED_ISSUER


async def test_another_issuers_key_is_refused(keys):
    v = verifier(keys)
    assert await reason(v, token(keys, "other")) is Reason.UNKNOWN_KEY
    # the bound issuer's kid on a signature by a key it never published
    assert await reason(v, token(keys, "inai", key="unpublished")) is Reason.BAD_SIGNATURE


async def test_a_token_with_an_iss_still_needs_an_exact_match(keys):
    v = verifier(keys)
    assert await reason(v, token(keys, "inai", iss="https://evil.test")) is Reason.UNTRUSTED_ISSUER
    assert await reason(v, token(keys, "inai", iss="")) is Reason.UNTRUSTED_ISSUER
    assert await reason(v, token(keys, "other", iss=f"{URL}/other")) is Reason.NONE


async def test_audience_checks_still_apply(keys):
    v = verifier(keys, audiences={"inai": ["orders"]})
    assert await reason(v, token(keys, "inai")) is Reason.BAD_AUDIENCE
    assert await reason(v, token(keys, "inai", aud="orders")) is Reason.NONE
    assert await reason(verifier(keys), token(keys, "inai"), audience="orders") is Reason.BAD_AUDIENCE


def test_two_issuers_setting_it_is_refused_at_load(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "issuers:\n"
        "  - {issuer: https://a.test, accept_missing_iss: true}\n"
        "  - {issuer: https://b.test}\n"
        "  - {issuer: https://c.test, accept_missing_iss: true}\n"
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert "issuers[2].accept_missing_iss: only one issuer may accept tokens without iss" in str(err.value)
    path.write_text("issuers:\n  - {issuer: https://a.test, accept_missing_iss: true}\n  - {issuer: https://b.test}\n")
    assert [i.accept_missing_iss for i in load(path, env={}).issuers] == [True, False]
