"""What the emulator's request log keeps of a credential: a keyed fingerprint, never the value.

`GET /_control/requests` answers anyone on loopback, so the log is held to the rule every log here
follows. A fingerprint (HMAC-SHA-256 under a key made at start, 12 hex digits) still lets a contract
test see that the SDK and the adapter sent the same credential, without the value being readable or
guessable offline (the key never leaves the process). An auth scheme (`Bearer`, `Basic`) stays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from urllib.parse import parse_qsl, urlencode

_KEY = secrets.token_bytes(32)

# Header names carrying a credential, whole or by a part of the name (x-api-key, x-publishable-key,
# x-authy-api-key, x-authy-signature, cookie …).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
CREDENTIAL_PARTS = ("key", "secret", "token", "password", "passwd", "signature", "credential", "otp")
# Whole names (case, "_", "-" and "." ignored) that carry a one-time code: Twilio Verify's Code (a check),
# AuthPayload (a TOTP code) and CustomCode (the code to send).
CREDENTIAL_NAMES = frozenset({"code", "authpayload", "customcode"})
SCHEMES = ("bearer ", "basic ", "digest ")
MAX_DEPTH = 32


def fingerprint(value: str) -> str:
    digest = hmac.new(_KEY, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"[redacted {digest[:12]}]"


def is_credential_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    if lowered.replace("_", "").replace(".", "") in CREDENTIAL_NAMES:
        return True
    return lowered in CREDENTIAL_HEADERS or any(part in lowered for part in CREDENTIAL_PARTS)


def header(name: str, value: str) -> str:
    if not is_credential_name(name):
        return value
    scheme = next((value[: len(s)] for s in SCHEMES if value.lower().startswith(s)), "")
    return scheme + fingerprint(value[len(scheme) :])


def query(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(is_credential_name(k) for k, _ in pairs):
        return text
    return urlencode([(k, fingerprint(v) if is_credential_name(k) else v) for k, v in pairs])


def body(text: str) -> str:
    """A JSON body with credential members' values fingerprinted (at any depth), or a form body with
    credential fields fingerprinted; anything else as it came."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return query(text) if "=" in text else text
    if not isinstance(value, (dict, list)):
        return text
    return json.dumps(_redacted(value, 0), ensure_ascii=False)


def _redacted(value, depth: int):
    if depth > MAX_DEPTH:
        return "[redacted: too deep]"
    if isinstance(value, dict):
        return {k: (_secret(v) if is_credential_name(str(k)) else _redacted(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, depth + 1) for v in value]
    return value


def _secret(value):
    # A credential member keeps its type's shape for tests that compare shapes (strings stay strings).
    if isinstance(value, str):
        return fingerprint(value)
    if value is None or isinstance(value, bool):
        return value
    return fingerprint(json.dumps(value))
