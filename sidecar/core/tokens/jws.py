"""Compact JWS: strict parsing and the signature check, with every rule PyJWT leaves to the caller.

Why not `jwt.decode`: it picks the algorithm object from the token header, accepts padding-free
base64 leniently and knows nothing of our key-shape rules. Here the issuer's allow-list picks the
algorithm, the key's kty/crv must fit it, ECDSA signatures must be raw r‖s of the curve's size with
0 < r, s < n (RFC 7518 §3.4; DER or zero values are forgeries or bugs), and the actual verification
is PyJWT's algorithm object over the cryptography public key. No I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import get_default_algorithms

from sidecar.core.shared.outcomes import Reason
from sidecar.core.tokens.jwks_cache import SigningKey

# \Z, not $ ($ also matches before a final newline): a parsed token is base64url and dots, nothing else
# (api/auth_service.py relies on it: a cached token needs no printable-ASCII scan).
_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
_ALGORITHMS = get_default_algorithms()

# Which key may verify which algorithm (RFC 7518 §3, RFC 8037 §3.1).
KEY_SHAPES: dict[str, tuple[str, frozenset[str]]] = {
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    **{f"{p}{n}": ("RSA", frozenset({""})) for p in ("RS", "PS") for n in (256, 384, 512)},
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

# Curve order n and coordinate size in bytes for ECDSA signature shape checks (SEC 2 §2.4, §2.5, §2.6).
EC_CURVES: dict[str, tuple[int, int]] = {
    "ES256": (0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551, 32),
    "ES384": (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973, 48),
    "ES512": (
        int(
            "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5"
            "D03BB5C9B8899C47AEBB6FB71E91386409",
            16,
        ),
        66,
    ),
}


class Rejected(Exception):
    """The token is not valid for `reason`; `detail` never contains the token."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CompactJws:
    header: dict[str, Any]
    payload: dict[str, Any]
    payload_json: str  # the payload as sent (what a verified token's AuthInfo keeps)
    signing_input: bytes
    signature: bytes


def b64url_decode(part: str, what: str) -> bytes:
    """RFC 7515 §2: base64url without padding; anything else is MALFORMED (no lenient decoding)."""
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise Rejected(Reason.MALFORMED, f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise Rejected(Reason.MALFORMED, f"{what} is not base64url") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2: duplicate member names make a header ambiguous; reject rather than pick one.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _not_json(constant: str) -> Any:
    # Python's json accepts NaN/Infinity; RFC 8259 does not (and "exp": Infinity must not mean "never").
    raise ValueError(f"{constant} is not JSON")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise Rejected(Reason.MALFORMED, f"{what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise Rejected(Reason.MALFORMED, f"{what} is not a JSON object")
    return value


def parse(token: str) -> CompactJws:
    """Split and decode a compact JWS; MALFORMED for anything that is not exactly three clean parts."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Rejected(Reason.MALFORMED, "a JWT has three dot-separated parts")
    header = _json_object(_utf8(b64url_decode(parts[0], "header"), "header"), "header")
    payload_json = _utf8(b64url_decode(parts[1], "payload"), "payload")
    payload = _json_object(payload_json, "payload")
    signature = b64url_decode(parts[2], "signature")
    return CompactJws(header, payload, payload_json, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(Reason.MALFORMED, f"{what} is not a JSON object") from None


def check_header(header: dict[str, Any], allowed: list[str]) -> tuple[str, str | None]:
    """(alg, kid) after the header rules; kid None when the token has none.

    jku, x5u, x5c and jwk are deliberately never read: keys come only from the configured JWKS.
    """
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise Rejected(Reason.MALFORMED, "header has no alg")
    if alg.lower() == "none":
        raise Rejected(Reason.BAD_ALGORITHM, "unsigned tokens (alg none) are never accepted")
    if alg.upper().startswith("HS"):
        raise Rejected(Reason.BAD_ALGORITHM, "HMAC algorithms are not accepted with public keys")
    if alg not in allowed or alg not in KEY_SHAPES:
        raise Rejected(Reason.BAD_ALGORITHM, f"alg {alg[:16]!r} is not allowed for this issuer")
    # RFC 7515 §4.1.11: a critical extension we don't implement must reject the token. We implement
    # none (b64=false included: detached/unencoded payloads are not session tokens).
    if "crit" in header or "b64" in header:
        raise Rejected(Reason.UNSUPPORTED_HEADER, "critical header extensions are not supported")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise Rejected(Reason.MALFORMED, "kid must be a string")
    return alg, kid


def check_key_fits(alg: str, key: SigningKey) -> None:
    kty, curves = KEY_SHAPES[alg]
    if key.kty != kty or key.crv not in curves:
        raise Rejected(Reason.BAD_ALGORITHM, f"key {key.kid[:64]!r} ({key.kty} {key.crv}) cannot verify {alg}")
    if key.alg and key.alg != alg:
        raise Rejected(Reason.BAD_ALGORITHM, f"key {key.kid[:64]!r} is published for {key.alg[:16]}, not {alg}")


def check_ecdsa_shape(alg: str, signature: bytes) -> None:
    """RFC 7518 §3.4: R‖S, each exactly the curve's size; 0 < r, s < n (r or s = 0 is the 'psychic signature')."""
    if alg not in EC_CURVES:
        return
    n, size = EC_CURVES[alg]
    if len(signature) != 2 * size:
        raise Rejected(Reason.BAD_SIGNATURE, f"{alg} signature must be {2 * size} raw bytes (r||s)")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    if not (0 < r < n and 0 < s < n):
        raise Rejected(Reason.BAD_SIGNATURE, f"{alg} signature values out of range")


def verify_signature(jws: CompactJws, alg: str, key: SigningKey) -> None:
    """The cryptographic check, after the shape rules; BAD_SIGNATURE when it fails."""
    check_key_fits(alg, key)
    check_ecdsa_shape(alg, jws.signature)
    try:
        ok = _ALGORITHMS[alg].verify(jws.signing_input, key.public_key, jws.signature)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise Rejected(Reason.BAD_SIGNATURE, "signature does not verify with the issuer's key")


def verified_payload(token: str) -> tuple[dict[str, Any], str]:
    """(claims, payload text) of a token `parse` has already accepted: the verified-token cache's hits
    read their identity again from the token. No checks — only for these exact bytes (cheaper than parse)."""
    part = token.split(".", 2)[1]
    text = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
    return json.loads(text), text
