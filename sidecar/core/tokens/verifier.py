"""TokenVerifier: is this JWT valid, for which configured issuer, and who does it describe?

The order of checks (each a Reason, first failure wins):
  verified-token cache hit (still-published key, not revoked) → per-call checks only, no signature work
  parse (MALFORMED) → header: alg none/HMAC/not allowed (BAD_ALGORITHM), crit (UNSUPPORTED_HEADER)
  → iss picks the issuer (UNTRUSTED_ISSUER; a token without iss goes to the one issuer with
  accept_missing_iss, if any) → kid picks the key from that issuer's JwksCache
  (UNKNOWN_KEY, UPSTREAM_UNAVAILABLE) → key shape, ECDSA shape and signature (BAD_ALGORITHM,
  BAD_SIGNATURE) → exp/nbf/iat/lifetime/required claims → cache → revoked sid/jti (REVOKED)
  → audience (BAD_AUDIENCE) and scopes (INSUFFICIENT_SCOPE).

No I/O of its own: each issuer's keys come from an async `fetch()` handed in (upstream/jwks_fetch.py in
production, a fake in unit tests); clocks are injectable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sidecar.config.settings import IssuerSettings, JwksSettings
from sidecar.core.shared.answers import AuthInfo, TokenAnswer, UpstreamHealth
from sidecar.core.shared.caches import Clock, SingleFlight, TtlLru, TtlShared
from sidecar.core.shared.hashing import TokenKey, token_key, token_revocation_id
from sidecar.core.shared.outcomes import Reason, RevocationsUnknown, Source, Verdict
from sidecar.core.tokens import claims as claim_rules
from sidecar.core.tokens import jws
from sidecar.core.tokens.jwks_cache import FetchedKeys, JwksCache, SigningKey, usable_keys
from sidecar.observability import logs, metrics
from sidecar.observability.loop_metrics import CounterChild

log = logs.get("tokens")

UNTRUSTED = "untrusted"  # the metric label for a token whose iss is not configured (never the raw value)
Fetch = Callable[[], Awaitable[FetchedKeys]]


# The verified-token cache keeps, per token, only which issuer and key vouched for it (one shared
# `_Vouch` per key): a hit reads the identity again from the token the caller sent — the cache key is
# its SHA-256, so those are the very bytes that were verified. The most recently used tokens also keep
# their parsed identity (`RECENT_MAX`), so hot tokens are answered without parsing. (api/convert.py
# memoises the encoded answer for as many: together ~1.3 kB per recent token; and the hottest answers
# as messages, up to ~3.5 MB: convert.HOT_BYTES.)
RECENT_MAX = 2048
# ...and only those whose claims are at most this long: the memos are budgeted in bytes (BASELINE_MB),
# and a parsed identity grows with its token (up to max_token_bytes). Larger ones are parsed per hit.
RECENT_CLAIMS_MAX_BYTES = 1024


def memoised(verified_claims_json: str) -> bool:
    return len(verified_claims_json) <= RECENT_CLAIMS_MAX_BYTES


# Reload atomicity: every issuer's rules carry a generation, bumped whenever a reload adds, changes
# or removes that issuer. A verification records the generation it started under; after each await
# (a JWKS fetch) and on every cache hit the generation must still be the issuer's current one, or the
# answer was reached under rules a reload replaced: it is neither cached nor given, and the token is
# verified again under the rules in force (a removed issuer's token is UNTRUSTED_ISSUER at once).
MAX_ATTEMPTS = 3  # verifications restarted by reloads before giving up (fail closed)


class _Stale(Exception):
    """The issuer's rules changed while this verification awaited: start again under the new ones."""


@dataclass(frozen=True, slots=True)
class _Vouch:
    """The issuer and the exact key that verified a token, under the issuer's rules of `generation`."""

    issuer: IssuerSettings
    key: SigningKey
    generation: int


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token's identity and the exact key that vouched for it (and under which rules)."""

    issuer: IssuerSettings
    key: SigningKey
    auth: AuthInfo
    generation: int = 0
    # The revocations' version when this identity was last found not revoked (see _check_not_revoked).
    clear_at: list[int] = field(default_factory=lambda: [-1], compare=False)
    # What is the same on every hit, worked out once: the answer, whether a request naming no audience
    # meets the issuer's configured audiences (fixed for this issuer generation), the counter it bumps.
    answer: TokenAnswer = field(init=False, compare=False)
    issuer_audience_ok: bool = field(init=False, compare=False)
    counted: CounterChild = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "answer", TokenAnswer(Verdict.ok(Source.CACHE), self.auth))
        object.__setattr__(self, "issuer_audience_ok", claim_rules.meets_issuer_audiences(self.auth, self.issuer))
        valid = metrics.child(metrics.TOKEN_VERIFICATIONS_TOTAL, self.issuer.issuer, "valid", Reason.NONE.label)
        object.__setattr__(self, "counted", valid)


class TokenVerifier:
    def __init__(
        self,
        issuers: list[IssuerSettings],
        fetchers: dict[str, Fetch],
        jwks: JwksSettings,
        *,
        revoked: Callable[[str], bool] | None = None,  # may raise RevocationsUnknown
        revocations_version: Callable[[], int] | None = None,  # grows with every revocation; may raise too
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        make_fetch: Callable[[IssuerSettings], Fetch] | None = None,
    ) -> None:
        self.issuers = {i.issuer: i for i in issuers}
        self._generation = 0  # the last generation handed out
        self._generations = {name: 0 for name in self.issuers}  # each issuer's rules in force
        # At most one (config enforces it): the issuer whose JWKS alone may vouch for a token without iss.
        self._missing_iss = next((i for i in issuers if i.accept_missing_iss), None)
        self._fetchers = fetchers
        self._make_fetch = make_fetch  # for issuers added by a live reload
        self.revoked = revoked  # sync, cache-only: is this sid/jti revoked? (settable: wired after sessions exist)
        self.revocations_version = revocations_version
        self._clock = clock
        self._wall = wall_clock
        self._closers = closers or []
        self._tasks: dict[str, asyncio.Task] = {}
        self._started = False
        # Readiness waits for the issuers configured at start only: an issuer added live whose JWKS
        # does not answer fails its own tokens closed, it does not take the whole pod out of service.
        self._gating = set(self.issuers)
        self.signature_checks = 0  # how many signatures were actually verified (tests count it)
        self._verified: TtlShared[TokenKey, _Vouch] = TtlShared(
            jwks.verified_cache_max_entries, clock, metrics.CACHE_EVICTIONS_TOTAL.labels("verified_tokens").inc
        )
        self._recent: TtlLru[TokenKey, _Verified] = TtlLru(min(RECENT_MAX, jwks.verified_cache_max_entries), clock)
        self._vouches: dict[tuple[str, str, str, int], _Vouch] = {}  # one per (issuer, kid, material, generation)
        metrics.CACHE_ENTRIES.labels("verified_tokens").set_function(lambda: len(self._verified))
        self._inflight: SingleFlight[TokenKey, _Verified] = SingleFlight()
        self._hits = metrics.child(metrics.TOKEN_CACHE_TOTAL, "hit")
        self._misses = metrics.child(metrics.TOKEN_CACHE_TOTAL, "miss")
        self.keys = {i.issuer: self._key_cache(i.issuer, fetchers[i.issuer], jwks, clock) for i in issuers}
        metrics.CACHE_ENTRIES.labels("unknown_kids").set_function(
            lambda: sum(c.unknown_kids_remembered() for c in self.keys.values())
        )

    def _key_cache(self, issuer: str, fetch: Fetch, jwks: JwksSettings, clock: Clock) -> JwksCache:
        cache: JwksCache

        def fetched(ok: bool) -> None:
            metrics.JWKS_FETCHES_TOTAL.labels(issuer, "ok" if ok else "error").inc()

        cache = JwksCache(
            issuer,
            fetch,
            clock=clock,
            ttl=jwks.ttl_seconds,
            min_ttl=jwks.min_ttl_seconds,
            max_ttl=jwks.max_ttl_seconds,
            cooldown=jwks.unknown_kid_cooldown_seconds,
            max_stale=jwks.max_stale_seconds,
            on_fetch=fetched,
            on_removed=lambda kids: self._forget_keys(issuer, kids),
        )
        metrics.JWKS_SECONDS_SINCE_REFRESH.labels(issuer).set_function(cache.age)
        metrics.JWKS_KEYS.labels(issuer).set_function(lambda: len(cache.all_keys()))  # 0 once past max staleness
        return cache

    # --- Component --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start each issuer's background JWKS loop (first load at once); never waits for it."""
        self._started = True
        for issuer, cache in self.keys.items():
            self._tasks[issuer] = asyncio.create_task(cache.run(), name=f"jwks:{issuer}")

    async def close(self) -> None:
        self._started = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for close in self._closers:
            await close()

    def readiness(self) -> tuple[bool, str]:
        waiting = [issuer for issuer, cache in self.keys.items() if issuer in self._gating and not cache.loaded]
        if waiting:
            return False, f"waiting for a first JWKS load from {len(waiting)} issuer(s): {', '.join(waiting)}"
        return True, f"{len(self.keys)} issuer(s) loaded"

    async def health(self) -> list[UpstreamHealth]:
        """Probe each issuer's JWKS now (the keys in use are not replaced by the probe)."""
        return list(await asyncio.gather(*(self._probe(i) for i in self.keys)))

    async def _probe(self, issuer: str) -> UpstreamHealth:
        cache = self.keys[issuer]
        try:
            fetched = await self._fetchers[issuer]()
        except Exception as exc:  # the adapter's one exception type, or anything it failed to map
            return UpstreamHealth(f"jwks:{issuer}", False, f"{str(exc)[:200]}; keys in use {cache.age():.0f}s old")
        usable = len(usable_keys(fetched.keys))
        if fetched.keys and not usable:
            return UpstreamHealth(
                f"jwks:{issuer}",
                False,
                f"{len(fetched.keys)} keys published, none usable; keys in use {cache.age():.0f}s old",
            )
        return UpstreamHealth(f"jwks:{issuer}", True, f"{len(fetched.keys)} keys published, {usable} usable")

    # --- live reload ------------------------------------------------------------------------
    def reload(self, issuers: list[IssuerSettings], jwks: JwksSettings) -> None:
        """Issuers added, changed or removed, JWKS timings and the verified cache's size — at once.

        A removed issuer's tokens are untrusted from this moment (its keys and cached verifications
        go); an unchanged issuer keeps its keys and cache; a changed one keeps its keys (unless its
        jwks_uri changed) but its cached verifications go, as they were checked under the old rules.
        """
        self._verified.resize(jwks.verified_cache_max_entries)
        wanted = {i.issuer: i for i in issuers}
        for name in [n for n in self.issuers if n not in wanted]:
            self._remove_issuer(name)
        for name, issuer in wanted.items():
            old = self.issuers.get(name)
            if old == issuer:
                continue
            if old is not None and old.jwks_uri == issuer.jwks_uri:
                self.issuers[name] = issuer
                self._new_generation(name)
                # Checked under the old rules (audiences, leeway…): verify again, under the new ones.
                self._forget_verifications(_issued_by(name))
                continue
            if old is not None:
                self._remove_issuer(name)
            self._add_issuer(issuer, jwks)
        self._missing_iss = next((i for i in self.issuers.values() if i.accept_missing_iss), None)
        for cache in self.keys.values():
            cache.configure(
                ttl=jwks.ttl_seconds,
                min_ttl=jwks.min_ttl_seconds,
                max_ttl=jwks.max_ttl_seconds,
                cooldown=jwks.unknown_kid_cooldown_seconds,
                max_stale=jwks.max_stale_seconds,
            )

    def _add_issuer(self, issuer: IssuerSettings, jwks: JwksSettings) -> None:
        if self._make_fetch is None:
            raise RuntimeError("this TokenVerifier cannot add issuers (no fetcher factory)")
        fetch = self._make_fetch(issuer)
        self.issuers[issuer.issuer] = issuer
        self._new_generation(issuer.issuer)
        self._fetchers[issuer.issuer] = fetch
        self.keys[issuer.issuer] = cache = self._key_cache(issuer.issuer, fetch, jwks, self._clock)
        if self._started:
            self._tasks[issuer.issuer] = asyncio.create_task(cache.run(), name=f"jwks:{issuer.issuer}")
        log.info("issuer added", extra={"issuer": issuer.issuer})

    def _new_generation(self, name: str) -> None:
        self._generation += 1
        self._generations[name] = self._generation

    def _current(self, verified: _Vouch | _Verified) -> bool:
        """Were these the rules in force for the issuer now (not replaced or removed by a reload)?"""
        return self._generations.get(verified.issuer.issuer) == verified.generation

    def _remove_issuer(self, name: str) -> None:
        self.issuers.pop(name, None)
        self._generations.pop(name, None)
        self.keys.pop(name, None)
        self._fetchers.pop(name, None)
        self._gating.discard(name)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        dropped = self._forget_verifications(_issued_by(name))
        for gauge in (metrics.JWKS_KEYS, metrics.JWKS_SECONDS_SINCE_REFRESH):
            with contextlib.suppress(KeyError):
                gauge.remove(name)
        log.info("issuer removed", extra={"issuer": name, "cached_tokens_dropped": dropped})

    # --- verification -----------------------------------------------------------------------
    async def verify(self, token: str, audience: str | None, required_scopes: list[str]) -> TokenAnswer:
        answer = self.verify_cached(token, audience, required_scopes)
        if answer is None:
            answer = await self.verify_missed(token, audience, required_scopes)
        return answer

    def verify_cached(self, token: str, audience: str | None, required_scopes: list[str]) -> TokenAnswer | None:
        """The answer for a token in the verified-token cache, at once (no await), after every per-call
        check (key still published, rules of this generation, exp, revocations, audience, scopes);
        None on a miss, and then `verify_missed` decides (and counts the miss)."""
        key = token_key(token)
        verified = None
        try:
            verified = self._cached(key, token)
            if verified is None:
                return None
            self._check_not_revoked(verified, key)
            if audience or required_scopes or not verified.issuer_audience_ok:
                claim_rules.check_request(verified.auth, verified.issuer, audience, required_scopes)
        except jws.Rejected as rejected:
            return self._denied(UNTRUSTED if verified is None else verified.issuer.issuer, rejected)
        verified.counted.inc()  # metrics.TOKEN_VERIFICATIONS_TOTAL (issuer, valid, none)
        return verified.answer

    async def verify_missed(self, token: str, audience: str | None, required_scopes: list[str]) -> TokenAnswer:
        """The full verification of a token `verify_cached` just missed (the cache is not asked again)."""
        self._misses.inc()
        label = UNTRUSTED
        try:
            cache_key = token_key(token)
            parsed = jws.parse(token)
            for _ in range(MAX_ATTEMPTS):  # again after a reload mid-fetch, under the rules now in force
                issuer = self._issuer_of(parsed.payload)
                label = issuer.issuer
                verified = await self._verify_under(parsed, issuer, cache_key)
                if verified is not None:
                    break
            else:
                raise jws.Rejected(
                    Reason.UPSTREAM_UNAVAILABLE, "the issuer's configuration kept changing during verification"
                )
            label = verified.issuer.issuer
            self._check_not_revoked(verified, cache_key)
            claim_rules.check_request(verified.auth, verified.issuer, audience, required_scopes)
        except jws.Rejected as rejected:
            return self._denied(label, rejected)
        verified.counted.inc()  # metrics.TOKEN_VERIFICATIONS_TOTAL (issuer, valid, none), as a hit counts
        return TokenAnswer(Verdict.ok(Source.LOCAL), verified.auth)

    @staticmethod
    def _denied(label: str, rejected: jws.Rejected) -> TokenAnswer:
        metrics.child(metrics.TOKEN_VERIFICATIONS_TOTAL, label, "invalid", rejected.reason.label).inc()
        return TokenAnswer(Verdict.deny(rejected.reason, rejected.detail, Source.LOCAL))

    async def _verify_under(
        self, parsed: jws.CompactJws, issuer: IssuerSettings, cache_key: TokenKey
    ) -> _Verified | None:
        """The verification under the issuer's rules in force, or None if a reload replaced them
        while it waited for keys (then it was neither cached nor may it be answered)."""
        generation = self._generations[issuer.issuer]
        alg, kid = jws.check_header(parsed.header, issuer.algorithms)
        key = self.keys[issuer.issuer].in_hand(kid)
        if key is not None:
            # The usual case: no I/O, so no other call can interleave; the next caller of this
            # token finds it in the verified cache.
            return self._verify_signed(parsed, issuer, generation, alg, key, cache_key)
        # The key must be fetched: concurrent calls with this token share one verification.
        try:
            verified = await self._inflight.do(
                cache_key, lambda: self._verify_fetching_key(parsed, issuer, generation, alg, kid, cache_key)
            )
        except _Stale:
            return None
        # A shared verification may have begun under rules a reload has since replaced.
        return verified if self._current(verified) else None

    def _cached(self, key: TokenKey, token: str) -> _Verified | None:
        hit = self._recent.get(key)
        if hit is None:
            vouch = self._verified.get(key)
            if vouch is not None:
                hit = self._reread(key, token, vouch)
        if hit is not None:
            name = hit.issuer.issuer
            cache = self.keys.get(name)
            # Fail closed: the rules of this generation, the key still published (and the JWKS not
            # past max staleness), not expired.
            exp = hit.auth.expires_at
            if (
                cache is None
                or self._generations.get(name) != hit.generation
                or not cache.has(hit.key.kid, hit.key.material)
                or (exp is not None and self._wall() >= exp + hit.issuer.leeway_seconds)
            ):
                self._verified.pop(key)
                self._recent.pop(key)
                hit = None
        if hit is not None:
            self._hits.inc()  # a miss is counted by `verify_missed`, which follows it
        return hit

    def _reread(self, key: TokenKey, token: str, vouch: _Vouch) -> _Verified:
        """A cached token's identity, parsed again from the token (the same bytes that were verified)."""
        claims, claims_json = jws.verified_payload(token)
        auth = claim_rules.auth_info(claims, claims_json, vouch.issuer.issuer, vouch.key.kid)
        verified = _Verified(vouch.issuer, vouch.key, auth, vouch.generation)
        if memoised(auth.claims_json):
            self._recent.put(key, verified, self._ttl(verified))
        return verified

    def _ttl(self, verified: _Verified) -> float:
        """Held until exp minus leeway (never without exp: `_verify_signed` caches only tokens with one)."""
        return verified.auth.expires_at - verified.issuer.leeway_seconds - self._wall()  # type: ignore[operator]

    def _remember(self, key: TokenKey, verified: _Verified) -> None:
        ids = (verified.issuer.issuer, verified.key.kid, verified.key.material, verified.generation)
        vouch = self._vouches.get(ids)
        if vouch is None:
            vouch = self._vouches[ids] = _Vouch(verified.issuer, verified.key, verified.generation)
        ttl = self._ttl(verified)
        self._verified.put(key, vouch, ttl)
        if memoised(verified.auth.claims_json):
            self._recent.put(key, verified, ttl)

    async def _verify_fetching_key(
        self,
        parsed: jws.CompactJws,
        issuer: IssuerSettings,
        generation: int,
        alg: str,
        kid: str | None,
        cache_key: TokenKey,
    ) -> _Verified:
        try:
            key = await self._key_for(issuer, alg, kid)
        except jws.Rejected:
            if self._generations.get(issuer.issuer) != generation:
                raise _Stale from None  # a refusal under rules now replaced: decide again under the new
            raise
        if self._generations.get(issuer.issuer) != generation:
            raise _Stale
        return self._verify_signed(parsed, issuer, generation, alg, key, cache_key)

    def _verify_signed(
        self,
        parsed: jws.CompactJws,
        issuer: IssuerSettings,
        generation: int,
        alg: str,
        key: SigningKey,
        cache_key: TokenKey,
    ) -> _Verified:
        """Key shape, signature, then time claims; a valid token is remembered in the verified cache."""
        jws.check_key_fits(alg, key)
        jws.check_ecdsa_shape(alg, parsed.signature)
        self.signature_checks += 1
        metrics.child(metrics.TOKEN_SIGNATURE_CHECKS_TOTAL, issuer.issuer).inc()
        jws.verify_signature(parsed, alg, key)
        claim_rules.check_times(parsed.payload, issuer, self._wall())
        auth = claim_rules.auth_info(parsed.payload, parsed.payload_json, issuer.issuer, key.kid)
        verified = _Verified(issuer, key, auth, generation)
        if auth.expires_at is not None:  # held until exp minus leeway; never for tokens without exp
            self._remember(cache_key, verified)
        return verified

    def _issuer_of(self, payload: dict) -> IssuerSettings:
        if "iss" not in payload and self._missing_iss is not None:
            # Weaker than an iss match: the signature check against this issuer's keys is all that binds it.
            return self._missing_iss
        iss = payload.get("iss")
        if not isinstance(iss, str) or not iss:
            raise jws.Rejected(Reason.UNTRUSTED_ISSUER, "token has no iss claim")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise jws.Rejected(Reason.UNTRUSTED_ISSUER, "token iss is not a configured issuer")
        return issuer

    async def _key_for(self, issuer: IssuerSettings, alg: str, kid: str | None) -> SigningKey:
        cache = self.keys[issuer.issuer]
        if kid is None:
            # No kid: acceptable only when exactly one published key can verify this alg.
            unavailable = await cache.ensure_usable()
            if unavailable is not None:
                raise jws.Rejected(unavailable.reason, unavailable.detail)
            fits = [k for k in cache.all_keys() if _fits(alg, k)]
            if len(fits) == 1:
                return fits[0]
            kid = ""  # a key published without a kid, if any
        lookup = await cache.get(kid)
        if lookup.key is None:
            raise jws.Rejected(lookup.reason, lookup.detail)
        return lookup.key

    def _check_not_revoked(self, verified: _Verified, key: TokenKey) -> None:
        if self.revoked is None:
            return
        auth = verified.auth
        try:
            # Revocations are only ever added (an entry that expires or is evicted un-revokes): a hot
            # token found clear at the version in force now is still clear, without the lookups.
            version = self.revocations_version() if self.revocations_version is not None else None
            if version is not None and verified.clear_at[0] == version:
                return
            for what, value in (("session", auth.session_id), ("token", auth.token_id)):
                if value and self.revoked(value):
                    raise jws.Rejected(Reason.REVOKED, f"the token's {what} has been revoked")
            # A token without sid/jti, ended by a logout through this sidecar (core/accounts/flows.py).
            if self.revoked(token_revocation_id(key)):
                raise jws.Rejected(Reason.REVOKED, "the token was revoked by a logout")
            if version is not None:
                verified.clear_at[0] = version
        except RevocationsUnknown as exc:  # e.g. the fleet's revocation log is stale: fail closed
            raise jws.Rejected(Reason.UPSTREAM_UNAVAILABLE, str(exc)) from None

    def _forget_keys(self, issuer: str, kids: set[str]) -> None:
        """A key left (or changed in) the JWKS: tokens it vouched for must be verified again."""
        dropped = self._forget_verifications(lambda v: v.issuer.issuer == issuer and v.key.kid in kids)
        log.info("JWKS keys removed", extra={"issuer": issuer, "keys": len(kids), "cached_tokens_dropped": dropped})

    def _forget_verifications(self, vouched: Callable[[_Vouch | _Verified], bool]) -> int:
        """Drop every cached verification (vouches, recent identities) for which `vouched` holds."""
        dropped = self._verified.discard_where(lambda _, v: vouched(v))
        self._recent.discard_where(lambda _, v: vouched(v))
        for ids in [ids for ids, v in self._vouches.items() if vouched(v)]:
            del self._vouches[ids]
        return dropped


def _issued_by(name: str) -> Callable[[_Vouch | _Verified], bool]:
    return lambda v: v.issuer.issuer == name


def _fits(alg: str, key: SigningKey) -> bool:
    try:
        jws.check_key_fits(alg, key)
    except jws.Rejected:
        return False
    return True
