"""Short, stable fingerprints of secrets: what logs and cache keys hold instead of tokens."""

from __future__ import annotations

import hashlib


def token_key(token: str) -> str:
    """SHA-256 hex of a token: the key of every cache and ledger that holds tokens."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(secret: str) -> str:
    """The first 12 hex digits of the SHA-256: enough to correlate log lines, useless to replay."""
    return token_key(secret)[:12]
