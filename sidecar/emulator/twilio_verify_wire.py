"""The Twilio wire as both SDKs speak it (twilio@6.3.1 node, twilio==9.13.0 python), for the Verify area.

- Auth: HTTP Basic, account SID + auth token or API key SID (SK…) + secret (lib/base/RequestClient.js
  builds `Basic base64(user:pass)`); anything else 401 code 20003, as Twilio answers.
- Bodies: `application/x-www-form-urlencoded` (RequestClient.js `qs.stringify(data, {arrayFormat:
  "repeat"})`), PascalCase keys; only the keys the SDK's operation can send; a key repeats only where the
  SDK sends a list (`serialize.map`). Everything else is refused 400: an unknown key 20001, a bad,
  missing or repeated value 60200.
- Errors: `{code, message, more_info, status}` (spec components: the 429 answer's schema).
- Dates: `YYYY-MM-DDTHH:mm:ssZ` (spec examples; the SDKs' `iso8601DateTime` parse it).
Standalone: no sidecar imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 64 * 1024  # a Verify request body is a handful of short fields
MAX_FIELDS = 64


class TwilioError(Exception):
    """An answer in Twilio's error shape."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def invalid(name: str, why: str = "") -> TwilioError:
    return TwilioError(400, 60200, f"Invalid parameter `{name}`" + (f": {why}" if why else ""))


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits (spec: `^VE[0-9a-fA-F]{32}$` and the like)."""
    return prefix + secrets.token_hex(16)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(name: str, text: str) -> float:
    """An ISO 8601 date-time with a zone (the SDKs send `...Z`), as a timestamp; else 60200."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, "not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise invalid(name, "the date-time needs a time zone")
    return when.timestamp()


def basic_user(request: Request, accounts: dict[str, str]) -> str:
    """The user name of valid Basic credentials (`accounts`: user → password), else 401 20003."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, sep, password = "", "", ""
    expected = accounts.get(user)
    if scheme.lower() != "basic" or not sep or expected is None or not hmac.compare_digest(password, expected):
        raise TwilioError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    return user


async def form(request: Request, allowed: set[str], lists: frozenset[str] = frozenset()) -> dict[str, str | list[str]]:
    """The form body as {key: value}, or {key: [values]} for a key in `lists`; refused otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise TwilioError(400, 60200, f"Invalid parameter: the body must be {FORM}")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise TwilioError(400, 60200, "Invalid parameter: the request body is too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise TwilioError(400, 60200, "Invalid parameter: the body is not a valid form") from None
    values: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key not in allowed:
            raise TwilioError(400, 20001, f"Unknown parameter: {key[:64]}")
        if key in lists:
            listed = values.setdefault(key, [])
            assert isinstance(listed, list)
            listed.append(value)
        elif key in values:
            raise invalid(key, "given more than once")
        else:
            values[key] = value
    return values


def text(values: dict, name: str, *, required: bool = False, max_len: int = 1024, min_len: int = 0) -> str | None:
    value = values.get(name)
    if value is None:
        if required:
            raise TwilioError(400, 60200, f"Missing required parameter {name} in the post body")
        return None
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise invalid(name, f"must be {min_len} to {max_len} characters")
    return value


def integer(values: dict, name: str, low: int, high: int, default: int) -> int:
    value = values.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise invalid(name, f"must be an integer from {low} to {high}")
    return int(value)


def no_query(request: Request, allowed: frozenset[str] = frozenset()) -> None:
    """The SDKs' fetches send no query, their lists only paging keys; anything else is one no client sends."""
    try:
        keys = [key for key, _ in parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=MAX_FIELDS)]
    except ValueError:
        keys = [""]  # too many fields: none of them one an SDK sends
    if any(key not in allowed for key in keys) or (request.url.query and not keys):
        raise TwilioError(400, 20001, "Unknown parameter in the query string")
    if len(keys) != len(set(keys)):
        raise TwilioError(400, 60200, "Invalid parameter: a query key given more than once")


# --- TOTP (RFC 6238 over RFC 4226), from the factor's base32 secret ---------------------------------

TOTP_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def b32_secret(text: str) -> bytes | None:
    cleaned = text.strip().replace(" ", "").upper()
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= 10 else None


def hotp(key: bytes, counter: int, digits: int, alg: str) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), TOTP_ALGORITHMS[alg]).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def totp_counter(key: bytes, code: str, step: int, skew: int, digits: int, alg: str, now: float | None = None) -> int:
    """The time step `code` is right for, within ±skew steps of now; -1 when it is right for none."""
    current = int((time.time() if now is None else now) // step)
    for counter in range(current - skew, current + skew + 1):
        if secrets.compare_digest(hotp(key, counter, digits, alg), code):
            return counter
    return -1
