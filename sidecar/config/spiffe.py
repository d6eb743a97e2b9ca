"""SPIFFE ids (spiffe://trust-domain/path) and the patterns a `peer` rule allows.

Envoy puts the client certificate's URI SAN in `source.principal` when it terminates mTLS — or, for
a certificate without one, a DNS SAN or the subject, which are not SPIFFE ids and so match nothing.
Parsing follows the SPIFFE-ID spec (§2): lower-case trust domain of [a-z0-9.-_], path segments of
[A-Za-z0-9.-_], no empty, `.` or `..` segment, no query, fragment, port, user info or percent
escape, at most 2048 bytes. Anything else is not an id, never "close enough".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ID_BYTES = 2048
SCHEME = "spiffe://"
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
WILDCARD = "*"  # a whole path segment in a pattern: any one segment


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    segments: tuple[str, ...]


def parse(text: str) -> SpiffeId | None:
    """The SPIFFE id `text` spells, or None when it is not one (by the spec, exactly)."""
    return _split(text, wildcards=False)


def _split(text: str, wildcards: bool) -> SpiffeId | None:
    if len(text) > MAX_ID_BYTES or not text.isascii() or not text.startswith(SCHEME):
        return None
    domain, slash, path = text[len(SCHEME) :].partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain):
        return None
    if not slash:
        return SpiffeId(domain, ())
    segments = tuple(path.split("/"))
    for s in segments:
        if not (wildcards and s == WILDCARD) and (not _SEGMENT.fullmatch(s) or s in (".", "..")):
            return None
    return SpiffeId(domain, segments)


@dataclass(frozen=True, slots=True)
class PeerPattern:
    """An allowed peer: an exact SPIFFE id, or one whose path segments may be `*` (any one segment).
    The trust domain is always exact: a wildcard there would trust every CA's workloads."""

    trust_domain: str
    segments: tuple[str, ...]

    def matches(self, peer: SpiffeId) -> bool:
        return (
            peer.trust_domain == self.trust_domain
            and len(peer.segments) == len(self.segments)
            and all(p in (WILDCARD, s) for p, s in zip(self.segments, peer.segments, strict=False))
        )


def pattern_problem(text: str) -> str | None:
    """Why `text` is not a usable peer pattern, or None."""
    if _split(text, wildcards=True) is None:
        return "must be a SPIFFE id spiffe://<trust-domain>/<path> (a whole path segment may be *)"
    return None


def compile_pattern(text: str) -> PeerPattern:
    """A pattern that passed pattern_problem, as a matcher."""
    spiffe_id = _split(text, wildcards=True)
    if spiffe_id is None:
        raise ValueError("not a peer pattern")
    return PeerPattern(spiffe_id.trust_domain, spiffe_id.segments)
