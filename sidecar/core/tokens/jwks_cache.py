"""JwksCache: one issuer's signing keys, kept fresh without ever making a caller wait on a good cache.

What it guarantees (and why):
- Refresh-ahead: the background loop refetches at 80 % of the TTL, so calls use the keys in hand.
- TTL honours the JWKS's Cache-Control max-age, clamped to [min_ttl, max_ttl] (a hostile or buggy
  max-age=0 must not turn every call into a fetch, nor max-age=1y freeze a rotation).
- An unknown `kid` refetches at most once per cooldown; concurrent misses share that fetch (single
  flight) and a kid still unknown after it is negatively cached — a flood of random kids costs the
  upstream at most one request per cooldown on top of the scheduled refreshes (PyJWKClient refetches
  per kid; Envoy never refetches). The cooldown counts miss-triggered fetches only, so a scheduled
  refresh that just ran never hides a freshly rotated key.
- A failed fetch keeps the last good keys (PyJWKClient wipes them) up to `max_stale`; after that the
  issuer fails closed. Failed fetches back off exponentially. A document whose keys are all unusable
  (bad fields, wrong types, symmetric or private keys) counts as a failed fetch, not as "the issuer
  now has no keys": garbage must not wipe good keys. (An explicitly empty `keys` array is installed.)
- A key that leaves the JWKS is gone at the next successful refresh, and `on_removed` is told so
  the verified-token cache can drop what that key vouched for.

No I/O: the caller passes an async `fetch()` (upstream/jwks_fetch.py in production) and a clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sidecar.core.shared.caches import Clock, SingleFlight, TtlLru
from sidecar.core.shared.outcomes import Reason
from sidecar.observability import logs

log = logs.get("jwks")

REFRESH_AHEAD = 0.8  # refetch when this share of the TTL has passed
BACKOFF_FIRST = 0.5  # seconds before the first retry of a failed fetch
BACKOFF_MAX = 30.0
NEGATIVE_MAX_ENTRIES = 10_000
MIN_RSA_BITS = 2048
LONG_KID = 64


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    """A JWKS document as the upstream sent it: the `keys` array and its Cache-Control max-age."""

    keys: list[dict]
    max_age: float | None = None


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key of an issuer's JWKS, with the members that decide which algorithms it may verify."""

    kid: str
    kty: str  # EC | RSA | OKP
    crv: str  # P-256 … for EC, Ed25519/Ed448 for OKP, "" for RSA
    alg: str  # the JWK's own alg member, "" when it has none
    public_key: Any  # a cryptography public key object
    material: str  # canonical JSON of the JWK: a changed key under the same kid is a new key


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """A key for a kid, or the reason there is none."""

    key: SigningKey | None
    reason: Reason = Reason.NONE
    detail: str = ""


ASYMMETRIC_KTY = {"EC", "RSA", "OKP"}


def usable_keys(raw_keys: Iterable[object]) -> dict[str, SigningKey]:
    """kid → SigningKey for each public signature-verification key PyJWT can load.

    RFC 7517 §4.2/4.3: a key published for encryption (`use` ≠ sig) or whose `key_ops` lacks
    `verify` must not verify signatures. Symmetric (`oct`) keys are never used: a JWKS is public, and
    an HMAC key in it would let anyone mint tokens. A JWK carrying private parts (`d`) is a publishing
    mistake and is skipped too. Keys without a kid get "" (used only by kid-less tokens).
    """
    found: dict[str, SigningKey] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict) or not isinstance(raw.get("kty"), str) or "d" in raw:
            continue  # (an unhashable kty, {"kty": []}, must not reach the set lookup below)
        if raw["kty"] not in ASYMMETRIC_KTY:
            continue
        if raw.get("use", "sig") != "sig":
            continue
        ops = raw.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        kid, crv, alg = raw.get("kid", ""), raw.get("crv", ""), raw.get("alg", "")
        if not all(isinstance(v, str) for v in (kid, crv, alg)) or kid in found:
            continue  # a duplicate kid is ambiguous: the first one wins, as in the SDK
        try:
            # Loaded by kty/crv alone: the JWK's alg member is checked against the token's alg later,
            # so a mislabelled key is refused with a reason instead of silently vanishing.
            public_key = jwt.PyJWK({k: v for k, v in raw.items() if k != "alg"}).key
        except Exception:  # any member PyJWT or cryptography cannot load (hostile JWKS): skip the key
            continue
        if isinstance(public_key, RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
            continue  # NIST SP 800-131A: RSA below 2048 bits is not acceptable for signatures
        found[kid] = SigningKey(kid, raw["kty"], crv, alg, public_key, json.dumps(raw, sort_keys=True))
    return found


def _remembered(kid: str) -> str:
    """The negative-cache key of a kid: itself, or a hash when long (a flood must not fill memory)."""
    if len(kid) <= LONG_KID:
        return kid
    return "sha256:" + hashlib.sha256(kid.encode("utf-8", "replace")).hexdigest()


class JwksCache:
    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[FetchedKeys]],
        *,
        clock: Clock = time.monotonic,
        ttl: float = 300.0,
        min_ttl: float = 60.0,
        max_ttl: float = 3600.0,
        cooldown: float = 30.0,
        max_stale: float = 86400.0,
        on_removed: Callable[[set[str]], None] | None = None,
        on_fetch: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._clock = clock
        self._ttl, self._min_ttl, self._max_ttl = ttl, min_ttl, max_ttl
        self._cooldown = cooldown
        self._max_stale = max_stale
        self._on_removed = on_removed
        self._on_fetch = on_fetch
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None  # clock time of the last successful fetch
        self._current_ttl = ttl
        self._last_attempt: float | None = None
        self._last_miss_fetch: float | None = None
        self._failures = 0
        self._last_error = ""
        self._flight: SingleFlight[str, bool] = SingleFlight()
        self._unknown_kids: TtlLru[str, bool] = TtlLru(NEGATIVE_MAX_ENTRIES, clock)

    def configure(self, *, ttl: float, min_ttl: float, max_ttl: float, cooldown: float, max_stale: float) -> None:
        """New timings (live reload); the keys in hand stay, the next refresh uses them."""
        self._ttl, self._min_ttl, self._max_ttl = ttl, min_ttl, max_ttl
        self._current_ttl = min(max(self._current_ttl, min_ttl), max_ttl)
        self._cooldown = cooldown
        self._max_stale = max_stale

    # --- state ------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded_at is not None

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    @property
    def last_error(self) -> str:
        return self._last_error

    def age(self) -> float:
        """Seconds since the last successful load (+inf before the first)."""
        return float("inf") if self._loaded_at is None else self._clock() - self._loaded_at

    def usable(self) -> bool:
        """Keys were loaded and are not older than max_stale (past it the issuer fails closed)."""
        return self._loaded_at is not None and self.age() <= self._max_stale

    def all_keys(self) -> list[SigningKey]:
        return list(self._keys.values()) if self.usable() else []

    def unknown_kids_remembered(self) -> int:
        """Entries in the unknown-kid negative cache (at most NEGATIVE_MAX_ENTRIES)."""
        return len(self._unknown_kids)

    def in_hand(self, kid: str | None) -> SigningKey | None:
        """The published key for `kid` when no fetch could change the answer (usable keys, kid known)."""
        if kid is None or not self.usable():
            return None
        return self._keys.get(kid)

    def has(self, kid: str, material: str) -> bool:
        """This exact key is still published and usable (a verified-cache hit relies on it)."""
        key = self._keys.get(kid)
        loaded_at = self._loaded_at  # `usable()`, inline: every cache hit asks
        return (
            key is not None
            and key.material == material
            and loaded_at is not None
            and self._clock() - loaded_at <= self._max_stale
        )

    def seconds_until_refresh(self) -> float:
        """When the background loop should fetch next: refresh-ahead, or backoff after failures."""
        now = self._clock()
        if self._failures:
            backoff = min(BACKOFF_FIRST * 2 ** (self._failures - 1), BACKOFF_MAX, max(self._current_ttl, BACKOFF_FIRST))
            return max(0.0, (self._last_attempt or now) + backoff - now)
        if self._loaded_at is None:
            return 0.0
        return max(0.0, self._loaded_at + REFRESH_AHEAD * self._current_ttl - now)

    # --- lookups ----------------------------------------------------------------------------
    async def get(self, kid: str) -> KeyLookup:
        """The key for `kid`; may fetch (never more than the cooldown/backoff rules allow)."""
        unavailable = await self.ensure_usable()
        if unavailable is not None:
            return unavailable
        key = self._keys.get(kid)
        if key is not None:
            return KeyLookup(key)
        remembered = _remembered(kid)
        if self._unknown_kids.get(remembered) is not None:
            return KeyLookup(None, Reason.UNKNOWN_KEY, "unknown kid (recently looked up)")
        if self._flight or self._miss_cooldown_over():
            # Maybe a rotation: fetch once, shared by every concurrent miss. The cooldown counts
            # from the last miss-triggered fetch only, so a background refresh that just ran does
            # not delay a freshly rotated key; the flood bound is one miss fetch per cooldown.
            if not self._flight:
                self._last_miss_fetch = self._clock()
            await self.refresh()
            key = self._keys.get(kid) if self.usable() else None
            if key is not None:
                return KeyLookup(key)
        self._unknown_kids.put(remembered, True, self._cooldown)
        return KeyLookup(None, Reason.UNKNOWN_KEY, "no key with this kid in the issuer's JWKS")

    async def ensure_usable(self) -> KeyLookup | None:
        """None when keys are usable; else fetch if the backoff allows, or say why there are none."""
        if self.usable():
            return None
        if self._flight or self.seconds_until_refresh() <= 0:
            await self.refresh()
        if self.usable():
            return None
        why = "no keys loaded yet" if self._loaded_at is None else "keys older than max staleness"
        # The last error is our own adapter's message (status, size, "not JSON"…), never the document.
        last = f" (last fetch: {self._last_error[:120]})" if self._last_error else ""
        return KeyLookup(None, Reason.UPSTREAM_UNAVAILABLE, f"JWKS unavailable: {why}{last}")

    def _miss_cooldown_over(self) -> bool:
        return self._last_miss_fetch is None or self._clock() - self._last_miss_fetch >= self._cooldown

    # --- fetching ---------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """Fetch now (joining a fetch already in flight); True when keys were installed."""
        return await self._flight.do("jwks", self._fetch_and_install)

    async def _fetch_and_install(self) -> bool:
        self._last_attempt = self._clock()
        try:
            fetched = await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the adapter means "no new keys"
            self._failed(str(exc) or type(exc).__name__)
            return False
        try:
            new = usable_keys(fetched.keys)
        except Exception as exc:  # a document that breaks the key loader is garbage too, never a crash
            self._failed(f"JWKS keys could not be read: {type(exc).__name__}")
            return False
        skipped = len(fetched.keys) - len(new)
        if skipped and not new:
            self._failed(f"JWKS document has {skipped} key(s), none usable for signature verification")
            return False
        if skipped:
            log.info(
                "JWKS keys skipped (not usable for signature verification)",
                extra={"issuer": self.name, "skipped": skipped, "usable": len(new)},
            )
        self._install(fetched, new)
        return True

    def _install(self, fetched: FetchedKeys, new: dict[str, SigningKey]) -> None:
        removed = {kid for kid, old in self._keys.items() if kid not in new or new[kid].material != old.material}
        self._keys = new
        self._unknown_kids.clear()  # a kid that was unknown may be in this document
        self._loaded_at = self._clock()
        ttl = self._ttl if fetched.max_age is None else fetched.max_age
        self._current_ttl = min(max(ttl, self._min_ttl), self._max_ttl)
        if self._failures:
            log.info("JWKS fetch recovered", extra={"issuer": self.name, "failures": self._failures})
        self._failures = 0
        self._last_error = ""
        if self._on_fetch:
            self._on_fetch(True)
        if removed and self._on_removed:
            self._on_removed(removed)

    def _failed(self, error: str) -> None:
        self._failures += 1
        self._last_error = error[:200]
        if self._on_fetch:
            self._on_fetch(False)
        if self._loaded_at is None:
            log.warning("JWKS fetch failed; no keys yet", extra={"issuer": self.name, "error": self._last_error})
        elif self.usable():
            log.warning(
                "JWKS fetch failed; using last good keys",
                extra={"issuer": self.name, "stale_seconds": round(self.age(), 1), "error": self._last_error},
            )
        else:
            log.error(
                "JWKS fetch failed and last good keys are past max staleness; failing closed",
                extra={"issuer": self.name, "stale_seconds": round(self.age(), 1), "error": self._last_error},
            )

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """The background loop: load at once, then refresh ahead of expiry, backing off on failure."""
        while True:
            if self.seconds_until_refresh() <= 0:
                await self.refresh()
            await sleep(max(self.seconds_until_refresh(), 0.05))
