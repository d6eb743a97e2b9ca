"""How the platform signs a OneTouch callback, written from authy-client@1.1.4's src/asserts/signature-assert.js.

The app checks `base64(HMAC-SHA256(api_key, "{nonce}|{METHOD}|{protocol}//{host}{pathname}|{body}"))`, where
`{body}` is `qs.stringify(body, {arrayFormat: 'brackets', sort: (a, b) => a.localeCompare(b)})` with every
`%20` replaced by `+`. The emulator signs what it sends the same way. Standalone: no sidecar imports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from decimal import Decimal
from urllib.parse import quote, urlsplit

# Node's localeCompare order of printable ASCII (ICU root collation, case ignored at this level).
_ORDER = "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"


def locale_order(key: str) -> tuple:
    """Levels as ICU compares them: base letters, then accents, then lower before upper case."""
    bases: list[int] = []
    accents: list[str] = []
    cases: list[bool] = []
    for ch in unicodedata.normalize("NFD", key):
        if unicodedata.combining(ch) and bases:
            accents[-1] += ch
        elif ch.lower() in _ORDER:
            bases.append(_ORDER.index(ch.lower()))
            accents.append("")
            cases.append(ch != ch.lower())
        elif unicodedata.category(ch) != "Cc":
            bases.append(len(_ORDER) + ord(ch.lower()[0]))
            accents.append("")
            cases.append(ch != ch.lower())
    return bases, accents, cases, key


def _js_number(x: float) -> str:
    """String(x) in JavaScript: plain digits for exponents -6..20, else `1.5e+21` / `1e-7`."""
    if x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    d = Decimal(repr(x))
    exp = d.adjusted()
    if -7 < exp < 21:
        return format(d, "f")
    return f"{format(d.scaleb(-exp).normalize(), 'f')}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _scalar(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) or (isinstance(value, int) and abs(value) > 2**53):
        return _js_number(float(value))  # JSON numbers are doubles in the app that checks the signature
    return str(value)


def _pairs(value, prefix: str):
    if isinstance(value, dict):
        for key in sorted(value, key=locale_order):
            yield from _pairs(value[key], f"{prefix}[{key}]" if prefix else key)
    elif isinstance(value, list):
        for index in sorted((str(i) for i in range(len(value))), key=locale_order):
            yield from _pairs(value[int(index)], prefix + "[]")
    else:
        yield prefix, _scalar(value)


def stringify(body: dict) -> str:
    encoded = (quote(k, safe="") + "=" + quote(v, safe="") for k, v in _pairs(body, ""))
    return "&".join(encoded).replace("%20", "+")


def signature(api_key: str, nonce: str, method: str, url: str, body: dict) -> str:
    parts = urlsplit(url)
    where = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}"
    data = f"{nonce}|{method.upper()}|{where}|{stringify(body)}"
    return base64.b64encode(hmac.new(api_key.encode(), data.encode(), hashlib.sha256).digest()).decode()
