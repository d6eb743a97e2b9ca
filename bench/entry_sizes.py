"""Bytes per entry of every bounded cache, measured with tracemalloc on the core's own structures.

Each cache is filled with N distinct entries shaped as the sidecar stores them (a realistic JWT
payload for verified tokens, a verified session with a phone and an expiry, hashed keys everywhere),
and the growth of traced memory is divided by N. Python objects only: RSS adds the allocator's
slack on top (the `memory` scenarios measure that). `config/memory_budget.py` sizes the caches
from these figures; `python -m bench.entry_sizes` prints them so the constants can be checked.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections.abc import Callable

from sidecar.config import IssuerSettings, JwksSettings
from sidecar.core.accounts.flows import ACCESS_TOKENS_PER_CHAIN, _Chain, account_key
from sidecar.core.accounts.logout_revocations import LogoutRevocations
from sidecar.core.accounts.records import Tokens
from sidecar.core.onetime.consumed import OneTimeLedger
from sidecar.core.sessions.records import SessionRecord
from sidecar.core.sessions.revocation import RevocationCache
from sidecar.core.sessions.verifier import SessionVerifier
from sidecar.core.shared.caches import TtlLru
from sidecar.core.shared.hashing import token_key, token_revocation_id
from sidecar.core.shared.outcomes import SessionStatus
from sidecar.core.tokens import claims
from sidecar.core.tokens.jwks_cache import SigningKey
from sidecar.core.tokens.verifier import TokenVerifier, _Verified

HOUR = 3600.0


def _payload(i: int) -> dict:
    now = int(time.time())
    return {
        "iss": "https://issuer.example",
        "sub": f"user-{i:08d}",
        "aud": "authsidecar-demo",
        "iat": now,
        "exp": now + 3600,
        "sid": f"sess-{i:012d}",
        "jti": f"jti-{i:016d}",
        "scope": "read write",
        "email": f"user{i}@example.com",
    }


def _verified_tokens(n: int) -> object:
    """Through the verifier's own `_remember`; its bounded memo of recent identities is a fixed cost, not per entry."""
    issuer = IssuerSettings(issuer="https://issuer.example")
    key = SigningKey(kid="k1", kty="EC", crv="P-256", alg="ES256", public_key=None, material="{}")  # shared by all
    verifier = TokenVerifier([], {}, JwksSettings(verified_cache_max_entries=n + 1))
    for i in range(n):
        payload = _payload(i)
        text = json.dumps(payload, separators=(",", ":"))
        auth = claims.auth_info(payload, text, issuer.issuer, "k1")
        verifier._remember(token_key(f"token-{i}"), _Verified(issuer, key, auth))
    verifier._recent.clear()
    return verifier


def _sessions(n: int) -> object:
    """Verified sessions of distinct users (distinct phones), stored as the session verifier stores them."""
    verifier = SessionVerifier(None, max_entries=n + 1)
    expires = time.time() + HOUR
    for i in range(n):
        record = SessionRecord(
            SessionStatus.VERIFIED, phone=f"+1415{i:07d}", expires_at=expires + i, session_id=f"sess-{i:012d}"
        )
        verifier._store(token_key(f"session-{i}"), record)
    return verifier


def _negative_sessions(n: int) -> object:
    verifier = SessionVerifier(None, max_entries=n + 1)
    for i in range(n):
        verifier._store(token_key(f"unknown-{i}"), SessionRecord(SessionStatus.NOT_FOUND))
    return verifier


def _revoked(n: int) -> object:
    """A revoked session: its token's terminal state and its session id (two structures)."""
    cache = RevocationCache(n + 1)
    for i in range(n):
        cache.record_terminal(token_key(f"session-{i}"), SessionStatus.REVOKED, f"sess-{i:012d}")
    return cache


def _ledger(n: int) -> object:
    ledger = OneTimeLedger(n + 1)
    for i in range(n):
        ledger.consume(token_key(f"one-time-{i}"), 300.0)
    return ledger


def _session_map(n: int) -> object:
    """Refresh token → its chain, full: the last ACCESS_TOKENS_PER_CHAIN access tokens' keys and its
    account's key (the map's largest common entry; owner and account entries average below it)."""
    cache: TtlLru = TtlLru(n + 1)
    for i in range(n):
        chain = _Chain(account=account_key(f"user-{i}@example.com"))
        for j in range(ACCESS_TOKENS_PER_CHAIN):
            chain = chain.then(Tokens(f"access-{i}-{j}", f"refresh-{i}", expires_in=900), float(j))
        cache.put(token_key(f"refresh-{i}"), chain, HOUR)
    return cache


def _logout_revocations(n: int) -> object:
    """What logouts revoked: one access token's revocation id (`token:` + 64 hex) and deadline each."""
    store = LogoutRevocations(n + 1)
    for i in range(n):
        store._hold([(token_revocation_id(token_key(f"access-{i}")), 900.0)])
    return store


MEASURED: dict[str, Callable[[int], object]] = {
    "verified_tokens": _verified_tokens,
    "sessions": _sessions,
    "sessions_negative": _negative_sessions,
    "revoked": _revoked,
    "consumed_tokens": _ledger,
    "session_map": _session_map,
    "logout_revocations": _logout_revocations,
}


def bytes_per_entry(n: int = 20_000) -> dict[str, int]:
    out = {}
    for name, fill in MEASURED.items():
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        held = fill(n)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[name] = round((after - before) / n)
        del held
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    json.dump(bytes_per_entry(n), sys.stdout, indent=2)
    print()
