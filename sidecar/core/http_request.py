"""The HTTP request an ext_authz check is about, and the parts of it the policy reads.

Built by the gRPC edge from Envoy's AttributeContext.HttpRequest; nothing here knows protobuf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

# Encoded '.', '/' and '\' let "/public/%2e%2e/admin" reach the app as "/admin" after the app decodes
# it, while a prefix rule saw "/public/...". We refuse such paths instead of guessing the app's
# decoder (Envoy's normalize_path / merge_slashes should be on as well; see docs/ext_authz.md).
_AMBIGUOUS = re.compile(r"%2e|%2f|%5c|\\", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")
_BEARER = re.compile(r"Bearer +([^\s]+) *", re.IGNORECASE)


class BadPath(ValueError):
    """The request path is ambiguous (dot segments, encoded separators): deny, never guess."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str                            # the request target: path and query, as Envoy sends it
    headers: Mapping[str, str] = field(default_factory=dict)   # lower-case names

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def headers_with_prefix(self, prefix: str) -> list[str]:
        return sorted(name for name in self.headers if name.startswith(prefix))


def normalised_path(target: str) -> str:
    """The path to match rules against: no query or fragment, repeated slashes merged.

    Raises BadPath for dot segments and encoded separators, which a rule could not match safely.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        raise BadPath("path must start with /")
    if _AMBIGUOUS.search(path):
        raise BadPath("path has an encoded separator or dot")
    path = _SLASHES.sub("/", path)
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise BadPath("path has a dot segment")
    return path


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or None."""
    match = _BEARER.fullmatch(authorization)
    return match.group(1) if match else None


def prefix_matches(prefix: str, path: str) -> bool:
    """Segment-wise prefix: /api matches /api and /api/x but not /apix (a trailing / is plain)."""
    if prefix.endswith("/"):
        return path.startswith(prefix) or path == prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")
