"""JWT claim rules (RFC 7519 §4.1) for one configured issuer, and the AuthInfo read from the claims.

Times are Unix seconds from the wall clock; `leeway` absorbs clock skew between issuer and pod.
A signed token may still carry values no answer can hold (a trusted issuer can be buggy or
compromised): a time outside google.protobuf.Timestamp's range or a standard claim that is not
UTF-8 text makes the token MALFORMED; a custom claim nested deeper than MAX_CLAIM_DEPTH, holding a
number past float range or text that is not UTF-8 is left out of AuthInfo.claims (`representable`).
No I/O.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from sidecar.config.settings import IssuerSettings
from sidecar.core.shared.answers import AuthInfo
from sidecar.core.shared.outcomes import Reason
from sidecar.core.shared.text import is_utf8
from sidecar.core.tokens.jws import Rejected

# google.protobuf.Timestamp holds 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (RFC 3339 years).
MIN_TIME = -62_135_596_800
MAX_TIME = 253_402_300_799
# JSON levels the claims may nest (the payload object is level 1): each costs 2–3 protobuf message
# levels in AuthInfo.claims, and protobuf decoders stop at 100 (upb's default), ours and the caller's.
MAX_CLAIM_DEPTH = 16


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int in Python but never a NumericDate; an int past float range (10**400) or a
    # non-finite float would otherwise crash the comparison or make a token that never expires.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(Reason.MALFORMED, f"claim {name} must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise Rejected(Reason.MALFORMED, f"claim {name} is out of range") from None
    if not math.isfinite(number):
        raise Rejected(Reason.MALFORMED, f"claim {name} must be a finite number")
    if not MIN_TIME <= number <= MAX_TIME:  # an answer's Timestamp could not hold it
        raise Rejected(Reason.MALFORMED, f"claim {name} is out of range (years 1..9999)")
    return number


def _strings(value: Any, split: bool = False) -> tuple[str, ...]:
    """A claim that may be a list of strings or (for scope-like claims) one space-separated string."""
    if isinstance(value, str):
        return _shared(tuple(value.split()) if split else (value,))
    if isinstance(value, list):
        return _shared(tuple(v for v in value if isinstance(v, str)))
    return ()


def _text(value: str, name: str) -> str:
    # A JSON escape can carry a lone surrogate ("\ud800"): Python holds it, protobuf can't send it.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(Reason.MALFORMED, f"claim {name} is not UTF-8 text") from None
    return value


@functools.lru_cache(maxsize=4096)
def _shared(values: tuple[str, ...]) -> tuple[str, ...]:
    # Audiences, scopes and roles come from a small vocabulary: cached tokens share one tuple
    # (and its strings) per distinct value instead of each holding copies. Bounded.
    return values


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise Rejected(Reason.MALFORMED, f"claim {name} must be a string")
    return _text(value, name)


def check_times(claims: dict[str, Any], issuer: IssuerSettings, now: float) -> None:
    """Required claims present; exp/nbf/iat within leeway; lifetime within the configured maximum."""
    for name in issuer.required_claims:
        if claims.get(name) is None:  # "exp": null is no exp (it would make a token that never expires)
            raise Rejected(Reason.MISSING_CLAIM, f"required claim {name} is missing")
    leeway = issuer.leeway_seconds
    exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if exp is not None and now >= exp + leeway:
        raise Rejected(Reason.EXPIRED, "token has expired")
    if nbf is not None and now < nbf - leeway:
        raise Rejected(Reason.NOT_YET_VALID, "token is not valid yet (nbf)")
    if iat is not None and now < iat - leeway:
        raise Rejected(Reason.NOT_YET_VALID, "token was issued in the future (iat)")
    if issuer.max_lifetime_seconds > 0:
        if exp is None:
            raise Rejected(Reason.MISSING_CLAIM, "exp is required when a maximum lifetime is configured")
        start = iat if iat is not None else nbf
        if start is None:
            raise Rejected(Reason.MISSING_CLAIM, "iat is required when a maximum lifetime is configured")
        if exp - start > issuer.max_lifetime_seconds:
            raise Rejected(Reason.LIFETIME_TOO_LONG, f"lifetime exceeds {issuer.max_lifetime_seconds:g} s")


def auth_info(claims: dict[str, Any], claims_json: str, issuer: str, kid: str) -> AuthInfo:
    """The identity the token describes; raises MALFORMED when a standard claim has the wrong type."""
    scopes = _strings(claims.get("scope"), split=True) or _strings(claims.get("scp"), split=True)
    audiences = _strings(claims.get("aud"))
    permissions = _strings(claims.get("permissions"), split=True)
    roles = _strings(claims.get("roles")) or _strings(claims.get("role"))
    for name, values in (("aud", audiences), ("scope", scopes), ("permissions", permissions), ("roles", roles)):
        for value in values:
            _text(value, name)
    return AuthInfo(
        subject=_string(claims, "sub"),
        issuer=issuer,
        audiences=audiences,
        expires_at=_number(claims, "exp"),
        issued_at=_number(claims, "iat"),
        session_id=_string(claims, "sid"),
        scopes=scopes,
        permissions=permissions,
        roles=roles,
        org_id=_string(claims, "org_id"),
        claims_json=representable(claims, claims_json),
        key_id=kid,
        token_id=_string(claims, "jti"),
    )


def representable(claims: dict[str, Any], claims_json: str) -> str:
    """The claims as JSON text without the claims an answer can't carry (kept as sent when all can)."""
    odd = [name for name, value in claims.items() if not _fits(name, 1) or not _fits(value, 2)]
    if not odd:
        return claims_json
    return json.dumps({k: v for k, v in claims.items() if k not in odd}, ensure_ascii=False, separators=(",", ":"))


def _fits(value: Any, level: int) -> bool:
    """Can protobuf's Struct hold this JSON value, found at this JSON level?"""
    if isinstance(value, str):
        return is_utf8(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):  # a Struct number is a double
        return _float_ok(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if level > MAX_CLAIM_DEPTH:
        return False
    if isinstance(value, list):
        return all(_fits(v, level + 1) for v in value)
    if isinstance(value, dict):
        return all(_fits(k, level) and _fits(v, level + 1) for k, v in value.items())
    return False


def _float_ok(value: int) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_request(auth: AuthInfo, issuer: IssuerSettings, audience: str | None, required_scopes: list[str]) -> None:
    """Per-call checks, run on every answer (fresh or cached): audience and scopes."""
    if audience:
        if audience not in auth.audiences:
            raise Rejected(Reason.BAD_AUDIENCE, "token aud does not contain the expected audience")
    elif not meets_issuer_audiences(auth, issuer):
        raise Rejected(Reason.BAD_AUDIENCE, "token aud contains none of the issuer's configured audiences")
    # Scopes may be granted as OAuth scopes (scope/scp) or as the platform's permissions claim.
    granted = set(auth.scopes) | set(auth.permissions)
    missing = [s for s in required_scopes if s not in granted]
    if missing:
        raise Rejected(Reason.INSUFFICIENT_SCOPE, f"missing {len(missing)} required scope(s)")


def meets_issuer_audiences(auth: AuthInfo, issuer: IssuerSettings) -> bool:
    """The rule for a request naming no audience: the token is for one of the issuer's configured
    audiences (any token, when the issuer configures none)."""
    return not issuer.audiences or bool(set(issuer.audiences) & set(auth.audiences))
