"""JWT claim rules (RFC 7519 §4.1) for one configured issuer, and the AuthInfo read from the claims.

Times are Unix seconds from the wall clock; `leeway` absorbs clock skew between issuer and pod.
No I/O.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from ..config import IssuerSettings
from .answers import AuthInfo
from .jws import Rejected
from .outcomes import Reason


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
    return number


def _strings(value: Any, split: bool = False) -> tuple[str, ...]:
    """A claim that may be a list of strings or (for scope-like claims) one space-separated string."""
    if isinstance(value, str):
        return _shared(tuple(value.split()) if split else (value,))
    if isinstance(value, list):
        return _shared(tuple(v for v in value if isinstance(v, str)))
    return ()


@functools.lru_cache(maxsize=4096)
def _shared(values: tuple[str, ...]) -> tuple[str, ...]:
    # Audiences, scopes and roles come from a small vocabulary: cached tokens share one tuple
    # (and its strings) per distinct value instead of each holding copies. Bounded.
    return values


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise Rejected(Reason.MALFORMED, f"claim {name} must be a string")
    return value


def check_times(claims: dict[str, Any], issuer: IssuerSettings, now: float) -> None:
    """Required claims present; exp/nbf/iat within leeway; lifetime within the configured maximum."""
    for name in issuer.required_claims:
        if name not in claims:
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
    return AuthInfo(
        subject=_string(claims, "sub"),
        issuer=issuer,
        audiences=_strings(claims.get("aud")),
        expires_at=_number(claims, "exp"),
        issued_at=_number(claims, "iat"),
        session_id=_string(claims, "sid"),
        scopes=scopes,
        permissions=_strings(claims.get("permissions"), split=True),
        roles=_strings(claims.get("roles")) or _strings(claims.get("role")),
        org_id=_string(claims, "org_id"),
        claims_json=claims_json,
        key_id=kid,
        token_id=_string(claims, "jti"),
    )


def check_request(auth: AuthInfo, issuer: IssuerSettings, audience: str | None, required_scopes: list[str]) -> None:
    """Per-call checks, run on every answer (fresh or cached): audience and scopes."""
    if audience:
        if audience not in auth.audiences:
            raise Rejected(Reason.BAD_AUDIENCE, "token aud does not contain the expected audience")
    elif issuer.audiences and not set(issuer.audiences) & set(auth.audiences):
        raise Rejected(Reason.BAD_AUDIENCE, "token aud contains none of the issuer's configured audiences")
    # Scopes may be granted as OAuth scopes (scope/scp) or as the platform's permissions claim.
    granted = set(auth.scopes) | set(auth.permissions)
    missing = [s for s in required_scopes if s not in granted]
    if missing:
        raise Rejected(Reason.INSUFFICIENT_SCOPE, f"missing {len(missing)} required scope(s)")
