"""Authy callback (webhook) signatures, exactly as authy-client@1.1.4 checks them (src/asserts/signature-assert.js).

The platform signs `"{nonce}|{METHOD}|{scheme}://{host}{path}|{params}"` with the application's API key
(HMAC-SHA256, base64 in X-Authy-Signature; the nonce, Unix seconds, in X-Authy-Signature-Nonce). The URL
has no query string. `{params}` is the parsed body as `qs.stringify(body, {arrayFormat: "brackets",
sort: localeCompare})` writes it, with `%20` turned into `+`:
  - keys sorted at every level by localeCompare (core/factors/collation.py); nested keys bracketed: `a[b][c]`;
  - array items written `a[]` (their indices sorted as strings too: 0, 1, 10, 2 …);
  - null as `a=`, booleans as true/false, numbers as JavaScript prints them; empty objects and arrays left out;
  - keys and values UTF-8 and percent-encoded except RFC 3986's unreserved characters.
Pure functions: the caller passes the key and the clock's "now". Hostile input is bounded (CallbackLimits)
before it is parsed and answered InvalidArgument naming the field. A repeated key (JSON member or form key)
is refused, never resolved: this parser would keep the last one, but an app's first-wins parser (Go's
FormValue, Werkzeug, parse_qs()[0]) reads the first, so a signed `status=denied` with `status=approved`
prepended would verify here and mean "approved" there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, urlsplit

from sidecar.core.factors.collation import sort_key
from sidecar.core.shared.outcomes import InvalidArgument, Reason, Source, Verdict

ARRAY_INDEX_LIMIT = 100  # body-parser's qs arrayLimit: `a[7]` is an array item, `a[1000]` a key
BRACKET = re.compile(r"\[([^\[\]]*)\]")
WELL_FORMED = re.compile(r"[^\[\]]+(\[[^\[\]]*\])*")


@dataclass(frozen=True, slots=True)
class CallbackLimits:
    max_body_bytes: int = 64 * 1024
    max_depth: int = 32
    max_entries: int = 1_000
    max_key_chars: int = 256
    max_value_chars: int = 8 * 1024
    # Every key, value and container counts, empty ones included: 20,000 `[]` are 0 values but cost
    # 200+ ms to parse and sign. Room for max_entries pairs, each one level deep.
    max_nodes: int = 4_000

    def check_pair(self, count: int, key: str, value: str, field: str) -> None:
        """The `count`-th form pair of a callback body, within the entry, key and value bounds."""
        if count > self.max_entries:
            raise InvalidArgument(field, f"has more than {self.max_entries} entries")
        if len(key) > self.max_key_chars:
            raise InvalidArgument(field, f"has a key longer than {self.max_key_chars} characters")
        if len(value) > self.max_value_chars:
            raise InvalidArgument(f"{field}[{key[:64]}]", f"is longer than {self.max_value_chars} characters")


class RepeatedKey(ValueError):
    """A key given twice in one object: ambiguous, so refused (as core/tokens/jws.py refuses duplicate members)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"repeats the key {key[:64]!r}")


def json_depth(text: str, limit: int) -> int:
    """The deepest nesting of `{`/`[` outside strings, scanning no further than `limit` + 1 (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif ch in "}]":
            depth -= 1
    return deepest


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json's object_pairs_hook: json.loads would keep the last of two equal members without a word.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKey(key)
        out[key] = value
    return out


def check_size(tree: Any, limits: CallbackLimits, field: str) -> None:
    """Refuse a tree past max_entries values or max_nodes nodes (keys and containers, empty ones, count).
    Iterative and stopped at the bound, so a refusal costs no more than an accepted tree."""
    nodes = values = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes += 1
        if isinstance(node, dict):
            nodes += len(node)  # its keys
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            values += 1
        if values > limits.max_entries:
            raise InvalidArgument(field, f"has more than {limits.max_entries} values")
        if nodes > limits.max_nodes:
            raise InvalidArgument(field, f"has more than {limits.max_nodes} nodes (keys, values and containers)")


def params_from_body(body: bytes, limits: CallbackLimits = CallbackLimits()) -> Any:
    """The callback's parameters from its raw body: a JSON object, else a form-encoded body."""
    if len(body) > limits.max_body_bytes:
        raise InvalidArgument("body", f"is larger than {limits.max_body_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("body", "is not UTF-8") from None
    if text.lstrip().startswith(("{", "[")):
        if json_depth(text, limits.max_depth) > limits.max_depth:
            raise InvalidArgument("body", f"nests deeper than {limits.max_depth} levels")
        try:
            tree = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_members)
        except RepeatedKey as exc:
            raise InvalidArgument("body", str(exc)) from None
        except ValueError:
            raise InvalidArgument("body", "is not valid JSON") from None
        if not isinstance(tree, dict):
            raise InvalidArgument("body", "must be a JSON object")
        check_size(tree, limits, "body")
        return tree
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=limits.max_entries)
    except ValueError:
        raise InvalidArgument(
            "body", f"is neither JSON nor form-encoded (or has over {limits.max_entries} fields)"
        ) from None
    return tree_from_pairs(pairs, limits, "body")


def tree_from_pairs(
    pairs: Iterable[tuple[str, str]], limits: CallbackLimits = CallbackLimits(), field: str = "params"
) -> dict:
    """Form pairs with bracketed keys → the nested object the app's body parser builds (qs.parse):
    `a[b]=1` → {"a": {"b": "1"}}, `a[]=1&a[]=2` and `a[0]=1` → {"a": ["1", …]}."""
    root: dict = {}
    for count, (key, value) in enumerate(pairs, 1):
        limits.check_pair(count, key, value, field)
        try:
            _insert(root, _segments(key, limits, field), value)
        except RepeatedKey as exc:
            raise InvalidArgument(field, str(exc)) from None
    tree = _arrays(root)
    check_size(tree, limits, field)
    return tree


def _segments(key: str, limits: CallbackLimits, field: str) -> list[str | None]:
    """`a[b][]` → ["a", "b", None] (None: append). A key not of the form `name[x][y]…` stays one literal key."""
    if not WELL_FORMED.fullmatch(key):
        return [key]
    head = key.index("[") if "[" in key else len(key)
    segments: list[str | None] = [key[:head], *(s or None for s in BRACKET.findall(key, head))]
    if len(segments) > limits.max_depth:
        raise InvalidArgument(field, f"has a key nested deeper than {limits.max_depth} levels")
    return segments


def _insert(root: dict, segments: list[str | None], value: str) -> None:
    """Place one pair; a key already given (`a=1&a=2`, `a[0]` twice) or given both as a value and as an
    object (`a=1&a[b]=2`) is RepeatedKey: parsers disagree on which one wins."""
    node = root
    for i, seg in enumerate(segments):
        key: str | tuple = seg if seg is not None else ("append", len(node))
        if i > 0 and seg is not None and seg.isascii() and seg.isdigit() and int(seg) <= ARRAY_INDEX_LIMIT:
            key = ("index", int(seg))
        child = node.get(key)
        if i == len(segments) - 1:
            if child is not None:
                raise RepeatedKey(_spelt(segments[: i + 1]))
            node[key] = value
            return
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            raise RepeatedKey(_spelt(segments[: i + 1]))
        node = child


def _spelt(segments: list[str | None]) -> str:
    return f"{segments[0]}" + "".join(f"[{s or ''}]" for s in segments[1:])


def _arrays(node: Any) -> Any:
    """Children keyed only by append/index markers become lists, in index order (qs compacts sparse arrays)."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, tuple) for k in node):
        return [_arrays(node[k]) for k in sorted(node, key=lambda k: (k[0] == "append", k[1]))]
    return {(k if isinstance(k, str) else str(k[1])): _arrays(v) for k, v in node.items()}


def js_number(value: int | float) -> str:
    """A JSON number as JavaScript's String(n) prints it (JSON numbers are doubles there)."""
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        raise InvalidArgument("body", "holds a number out of range")
    if x == 0:
        return "0"
    sign, digits_t, exponent = Decimal(repr(x)).as_tuple()
    if not isinstance(exponent, int):  # NaN/infinity: excluded above, refused again here
        raise InvalidArgument("body", "holds a number out of range")
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    n = exponent + len("".join(map(str, digits_t)))
    k = len(digits)
    minus = "-" if sign else ""
    if k <= n <= 21:
        return minus + digits + "0" * (n - k)
    if 0 < n <= 21:
        return minus + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return minus + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{minus}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _enc(text: str, field: str) -> str:
    try:
        return quote(text.encode("utf-8"), safe="")
    except UnicodeEncodeError:
        raise InvalidArgument(field, "holds a lone surrogate") from None


def _stringify(value: Any, prefix: str, out: list[str]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value, key=lambda k: sort_key(str(k))):
            _stringify(value[key], f"{prefix}[{key}]" if prefix else str(key), out)
    elif isinstance(value, list):
        # qs sorts the array's indices like any keys ("10" before "2"), then writes each item as `prefix[]`.
        for index in sorted(range(len(value)), key=lambda i: sort_key(str(i))):
            _stringify(value[index], f"{prefix}[]", out)
    elif value is None:
        out.append(f"{_enc(prefix, 'body')}=")
    elif isinstance(value, bool):
        out.append(f"{_enc(prefix, 'body')}={'true' if value else 'false'}")
    elif isinstance(value, (int, float)):
        out.append(f"{_enc(prefix, 'body')}={_enc(js_number(value), 'body')}")  # 1e+21 → 1e%2B21
    else:
        out.append(f"{_enc(prefix, 'body')}={_enc(str(value), 'body')}")


def encode_params(params: Mapping) -> str:
    """qs.stringify(params, {arrayFormat: "brackets", sort: localeCompare}) with %20 → "+"."""
    out: list[str] = []
    _stringify(params, "", out)
    return "&".join(out).replace("%20", "+")


def canonical_url(url: str) -> str:
    """`{protocol}//{host}{pathname}` as Node's url.parse gives them: scheme and host lower-case, no query."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise InvalidArgument("url", "must be an absolute URL (scheme://host/path)")
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}{parts.path or '/'}"


def canonical_string(nonce: str, method: str, url: str, params: Mapping) -> str:
    return "|".join((nonce, method.upper(), canonical_url(url), encode_params(params)))


def sign(api_key: str, nonce: str, method: str, url: str, params: Mapping) -> str:
    """The base64 signature the platform sends (for tests; the emulator has its own implementation)."""
    message = canonical_string(nonce, method, url, params).encode("utf-8")
    return base64.b64encode(hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).digest()).decode()


def verify_signature(
    api_key: str,
    *,
    nonce: str,
    method: str,
    url: str,
    params: Mapping,
    signature: str,
    now: float,
    window_seconds: float,
) -> Verdict:
    """Valid only for a fresh nonce and a signature that matches byte for byte (constant time).
    Unlike the SDK, a GET callback is checked too: an unsigned request is never answered valid."""
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
