"""Authy-style callback (webhook) signatures: HMAC-SHA256 over nonce, method, URL and sorted params.

The platform signs `"{nonce}|{METHOD}|{url}|{sorted form-encoded params}"` with the application's
API key and sends the base64 digest in X-Authy-Signature, the nonce (Unix seconds) in
X-Authy-Signature-Nonce. Pure functions: the caller passes the key and the clock's "now".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from .outcomes import Reason, Source, Verdict


def flatten_params(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON → form pairs with bracketed keys, as the platform form-encodes them
    (`{"a": {"b": 1}}` → `[("a[b]", "1")]`); booleans as true/false, null as empty."""
    if isinstance(value, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, sub in value.items():
            pairs.extend(flatten_params(sub, f"{prefix}[{key}]" if prefix else str(key)))
        return pairs
    if isinstance(value, list):
        pairs = []
        for i, sub in enumerate(value):
            pairs.extend(flatten_params(sub, f"{prefix}[{i}]"))
        return pairs
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, "" if value is None else str(value))]


def params_from_body(body: bytes) -> list[tuple[str, str]]:
    """The callback's parameters from its raw body: JSON, else form-encoded; raises ValueError."""
    text = body.decode("utf-8")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return flatten_params(json.loads(text))
    return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))


def canonical_string(nonce: str, method: str, url: str, params: list[tuple[str, str]]) -> str:
    """What gets signed. Params are sorted so their order on the wire does not matter."""
    encoded = sorted(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    return "|".join((nonce, method.upper(), url, "&".join(encoded)))


def sign(api_key: str, nonce: str, method: str, url: str, params: list[tuple[str, str]]) -> str:
    """The base64 signature the platform would send (used by the emulator and tests)."""
    message = canonical_string(nonce, method, url, params).encode("utf-8")
    return base64.b64encode(hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).digest()).decode()


def verify_signature(api_key: str, *, nonce: str, method: str, url: str, params: list[tuple[str, str]],
                     signature: str, now: float, window_seconds: float) -> Verdict:
    """Valid only for a fresh nonce and a signature that matches byte for byte (constant time)."""
    try:
        sent_at = float(nonce)
    except ValueError:
        return Verdict.deny(Reason.MALFORMED, "nonce is not a Unix time")
    if not math.isfinite(sent_at):
        return Verdict.deny(Reason.MALFORMED, "nonce is not a Unix time")
    # A captured callback replayed later (or a forged far-future nonce) falls outside the window.
    if abs(now - sent_at) > window_seconds:
        return Verdict.deny(Reason.EXPIRED, f"nonce outside the {window_seconds:g}s freshness window")
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return Verdict.deny(Reason.MALFORMED, "signature is not base64")
    expected = base64.b64decode(sign(api_key, nonce, method, url, params))
    if not hmac.compare_digest(given, expected):
        return Verdict.deny(Reason.BAD_SIGNATURE, "signature does not match")
    return Verdict.ok(Source.LOCAL)
