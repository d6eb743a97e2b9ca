"""Twilio webhook signatures (X-Twilio-Signature), as the twilio SDKs' RequestValidator checks them.

HMAC-SHA1 keyed with the account's auth token over the full URL Twilio requested followed, for a form
POST, by each parameter's name and value with the names sorted; base64. A JSON-bodied webhook signs
only the URL, which carries `bodySHA256=<hex SHA-256 of the body>`: the body is checked against it.
Twilio is inconsistent about the default port, so the SDKs accept the URL with and without it; here
only the *default* port (443/80) is toggled — a URL naming another port must match as sent.
Input is bounded as the Authy path bounds it (core/factors/callbacks.py CallbackLimits) and a repeated
form key is refused, never resolved (the SDK would sign both values sorted; an app's first-wins parser
reads one of them). Pure functions: the caller passes the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sidecar.core.factors.callbacks import CallbackLimits
from sidecar.core.shared.outcomes import InvalidArgument, Reason, Source, Verdict

DEFAULT_PORTS = {"https": 443, "http": 80}


def form_params(pairs: Iterable[tuple[str, str]], limits: CallbackLimits, field: str) -> dict[str, str]:
    """Flat form parameters (Twilio sends no nested keys), bounded, a repeated key refused."""
    out: dict[str, str] = {}
    for count, (key, value) in enumerate(pairs, 1):
        limits.check_pair(count, key, value, field)
        if key in out:
            raise InvalidArgument(field, f"repeats the key {key[:64]!r}")
        out[key] = value
    return out


def body_params(body: bytes, limits: CallbackLimits) -> dict[str, str]:
    """A form-encoded webhook body's parameters (a JSON body is signed through bodySHA256 instead)."""
    if len(body) > limits.max_body_bytes:
        raise InvalidArgument("body", f"is larger than {limits.max_body_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("body", "is not UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=limits.max_entries)
    except ValueError:
        raise InvalidArgument("body", f"is not form-encoded (or has over {limits.max_entries} fields)") from None
    return form_params(pairs, limits, "body")


def url_variants(url: str) -> list[str]:
    """The URL as given and with its default port toggled (added when absent, removed when present)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidArgument("url", "must be an absolute http(s) URL")
    try:
        port = parts.port
    except ValueError:
        raise InvalidArgument("url", "has a port that is not a number in range") from None
    default = DEFAULT_PORTS[parts.scheme.lower()]
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if port is None:
        other = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))
    elif port == default:
        other = urlunsplit(parts._replace(netloc=host))
    else:
        return [url.strip()]
    return [url.strip(), other]


def compute(auth_token: str, url: str, params: Mapping[str, str]) -> bytes:
    """The raw HMAC-SHA1 Twilio sends base64-encoded (RequestValidator.compute_signature)."""
    text = url + "".join(name + params[name] for name in sorted(params))
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument("params", "holds a lone surrogate") from None
    return hmac.new(auth_token.encode("utf-8"), message, hashlib.sha1).digest()


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature value (for tests; the emulator has its own implementation)."""
    return base64.b64encode(compute(auth_token, url, params)).decode()


def verify_twilio_signature(
    auth_token: str, *, url: str, params: Mapping[str, str], body: bytes | None, signature: str
) -> Verdict:
    """Valid only when the signature matches one URL variant (constant time) and, for a JSON body,
    the URL's bodySHA256 is the body's. `body` is given for JSON-bodied webhooks only."""
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return Verdict.deny(Reason.MALFORMED, "signature is not base64")
    variants = url_variants(url)
    if body is not None:
        hashes = [v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k == "bodySHA256"]
        if len(hashes) != 1:
            return Verdict.deny(Reason.MALFORMED, "a JSON body needs exactly one bodySHA256 in the url")
        expected_hash = hashlib.sha256(body).hexdigest().encode()
        if not hmac.compare_digest(hashes[0].strip().lower().encode(), expected_hash):
            return Verdict.deny(Reason.BAD_SIGNATURE, "bodySHA256 does not match the body")
        params = {}
    # Every variant is computed and compared, so the time taken says nothing about which one failed.
    matches = [hmac.compare_digest(given, compute(auth_token, v, params)) for v in variants]
    if not any(matches):
        return Verdict.deny(Reason.BAD_SIGNATURE, "signature does not match")
    return Verdict.ok(Source.LOCAL)
