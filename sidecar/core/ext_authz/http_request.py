"""The HTTP request an ext_authz check is about, and the parts of it the policy reads.

Built by the gRPC edge from Envoy's AttributeContext.HttpRequest; nothing here knows protobuf.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

# Encoded '.', '/' and '\' let "/public/%2e%2e/admin" reach the app as "/admin" after the app decodes
# it, while a prefix rule saw "/public/...". `;` starts a path parameter that Tomcat/Spring drop
# ("/public/..;/admin", "/api/admin;x/users"). We refuse such paths instead of guessing the app's
# decoder (Envoy's normalize_path / merge_slashes should be on as well; see docs/ext_authz.md).
_AMBIGUOUS = re.compile(r"%2e|%2f|%5c|%3b|\\|;", re.IGNORECASE)
_ESCAPE = re.compile(r"%(..)?")
_HEX = re.compile(r"[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SLASHES = re.compile(r"/{2,}")
_BEARER = re.compile(r"Bearer +([^\s]+) *", re.IGNORECASE)
_NONE: Mapping[str, str] = MappingProxyType({})


def folded(name: str) -> str:
    """A header name as a backend may see it: lower case, '_' read as '-' (CGI/WSGI turn both '-' and
    '_' into '_', HTTP_X_AUTH_…)."""
    return name.lower().replace("_", "-")


class BadPath(ValueError):
    """The request path is ambiguous (dot segments, encoded separators): deny, never guess."""


class HttpRequest(NamedTuple):
    """Immutable; a named tuple rather than a frozen dataclass, whose __init__ sets each field through
    object.__setattr__ (built once per Check, that was a measurable share of a hot call)."""

    method: str
    path: str  # the request target: path and query, as Envoy sends it
    headers: Mapping[str, str] = _NONE  # lower-case names
    principal: str = ""  # the downstream peer's identity (Envoy: source.principal, mTLS)
    context: Mapping[str, str] = _NONE  # the route's context_extensions

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def headers_with_prefix(self, prefix: str) -> list[str]:
        """Incoming header names that start with `prefix` once folded (`x_auth_subject` included)."""
        prefix = folded(prefix)
        return sorted(name for name in self.headers if folded(name).startswith(prefix))


def normalised_path(target: str, case_sensitive: bool = True) -> str:
    """The one canonical path rules are matched against (see docs/ext_authz.md, "Paths").

    No query or fragment; unreserved characters percent-decoded and other escapes in upper case
    (RFC 3986 §6.2.2); repeated slashes merged; no trailing slash (a rule for /x covers /x/); lower
    case unless case_sensitive. Raises BadPath for what a rule could not match safely: dot segments,
    encoded separators or dots, `;` path parameters, bad escapes, characters outside printable ASCII.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        raise BadPath("path must start with /")
    if not (path.isascii() and path.isprintable()) or " " in path:
        raise BadPath("path has characters outside printable ASCII")
    if _AMBIGUOUS.search(path):
        raise BadPath("path has an encoded separator or dot, or a ; parameter")
    path = _SLASHES.sub("/", _ESCAPE.sub(_decode_unreserved, path))
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise BadPath("path has a dot segment")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path if case_sensitive else path.lower()


def _decode_unreserved(escape: re.Match) -> str:
    code = escape.group(1)
    if code is None or not _HEX.fullmatch(code):
        raise BadPath("path has a malformed percent-encoding")
    char = chr(int(code, 16))
    return char if char in _UNRESERVED else "%" + code.upper()


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or None."""
    match = _BEARER.fullmatch(authorization)
    return match.group(1) if match else None


def prefix_matches(prefix: str, path: str) -> bool:
    """Segment-wise prefix: /api matches /api and /api/x but not /apix (a trailing / is plain)."""
    if prefix.endswith("/"):
        return path.startswith(prefix) or path == prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")
