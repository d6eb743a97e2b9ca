"""Reverse-authentication sessions and one-time approvals: the decisions behind VerifySession,
GetSessionStatus, IsRevoked and VerifyApproval (the rauth-provider SDK's job, once per pod).

Policy, in one place:
- VerifySession is valid only if the session exists, is `verified`, is neither revoked nor expired
  (by status, by a pushed event, or by its own expiry time) and its phone equals the caller's
  after both are normalised to E.164. An upstream phone that does not parse never matches.
- A cached `verified` answer is used only while the event stream is trusted (see revocation.py);
  otherwise the upstream is asked. Terminal and negative answers may come from cache any time
  (they can only be stale in the safe direction). Positive entries live at most
  `session_cache_ttl_seconds`, unknown/pending ones `negative_cache_ttl_seconds`.
- IsRevoked fails closed: when neither the stream nor the upstream can answer it returns
  revoked=True with reason UPSTREAM_UNAVAILABLE. An expired session (EXPIRED), an unknown one
  (NOT_FOUND) and a phone that does not match (PHONE_MISMATCH) are also answered revoked=True with
  those reasons: a caller that only reads the boolean must never let such a session through.
  A pending session is not revoked (revoked=False); VerifySession is the "may I let them in" call.
- Approvals are one-time: a valid answer always comes from the upstream (never a cache) and is
  then claimed (core/onetime/ledger.py: this pod's ledger, then the fleet's when `ledger.backend` is redis);
  of any number of racing or repeated verifications of one token exactly one is valid, the rest are
  ALREADY_USED; a shared ledger that cannot answer makes it UPSTREAM_UNAVAILABLE ("ledger
  unavailable"). The upstream consumes the token on its side too, where it enforces that.
- Unknown tokens are bounded twice: each NOT_FOUND is negatively cached, and lookups of tokens
  no cache knows stop going upstream once NOT_FOUND answers exceed `unknown_lookups_per_second`
  (lookup_rate.py) — those answer fail-closed (UPSTREAM_UNAVAILABLE) without asking, so a flood of
  distinct random tokens costs the platform a bounded rate, not one request each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sidecar.config.settings import CircuitSettings, PlatformSettings
from sidecar.core.onetime.ledger import MAX_TTL, UNAVAILABLE_DETAIL, Claim, OneTimeClaims, SharedLedger
from sidecar.core.sessions.lookup_rate import LookupRate
from sidecar.core.sessions.records import (
    ApprovalRecord,
    EventKind,
    PlatformApi,
    SessionRecord,
    StreamEvent,
    cached_form,
    verified_fields,
    verified_from,
)
from sidecar.core.sessions.revocation import RevocationCache, StreamState
from sidecar.core.shared.answers import (
    ApprovalAnswer,
    RevocationAnswer,
    SessionAnswer,
    SessionStatusAnswer,
    UpstreamHealth,
)
from sidecar.core.shared.caches import Clock, SingleFlight, TtlLru, TtlRecords
from sidecar.core.shared.circuit import CircuitBreaker, log_circuit_change
from sidecar.core.shared.hashing import TokenKey, token_key
from sidecar.core.shared.outcomes import (
    InvalidArgument,
    Reason,
    SessionStatus,
    Source,
    UpstreamError,
    Verdict,
)
from sidecar.core.shared.phones import to_e164
from sidecar.observability import logs, metrics

log = logs.get("sessions")

PROBE_MIN_SECONDS, PROBE_MAX_SECONDS = 0.2, 5.0
TERMINAL = (SessionStatus.REVOKED, SessionStatus.EXPIRED)
STATUS_REASON = {
    SessionStatus.PENDING: Reason.NOT_VERIFIED,
    SessionStatus.REVOKED: Reason.REVOKED,
    SessionStatus.EXPIRED: Reason.EXPIRED,
    SessionStatus.NOT_FOUND: Reason.NOT_FOUND,
    SessionStatus.UNKNOWN: Reason.UPSTREAM_UNAVAILABLE,
    SessionStatus.UNSPECIFIED: Reason.NOT_VERIFIED,
}


NOT_CONFIGURED = "platform is not configured (platform.base_url is empty)"


class UnconfiguredPlatform:
    """The PlatformApi when platform.base_url is empty and no emulator was asked for: every question
    fails closed (UPSTREAM_UNAVAILABLE), so a deployment without RAuth never gets a "valid" from it."""

    configured = False

    async def session_status(self, session_token: str, phone_e164: str) -> SessionRecord:
        raise UpstreamError("platform", 0, NOT_CONFIGURED)

    async def verify_approval(self, approval_token: str, phone_e164: str) -> ApprovalRecord:
        raise UpstreamError("platform", 0, NOT_CONFIGURED)

    async def health(self) -> None:
        raise UpstreamError("platform", 0, NOT_CONFIGURED)


class SessionVerifier:
    def __init__(
        self,
        platform: PlatformApi,
        *,
        session_ttl: float = 30.0,
        negative_ttl: float = 2.0,
        max_entries: int = 100_000,
        consumed_max_entries: int = 100_000,
        sse_enabled: bool = True,
        unknown_rate: float = 20.0,
        unknown_burst: int = 100,
        stream: Any = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        ledger: SharedLedger | None = None,
    ) -> None:
        self.platform = platform
        self.session_ttl = session_ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._wall = wall
        # Verified sessions, as (phone, expires_at) fields stored flat with their deadline (100k of them).
        self._positive: TtlRecords[TokenKey] = TtlRecords(max_entries, clock, _evicted("sessions"))
        self._negative: TtlLru[TokenKey, SessionRecord] = TtlLru(max_entries, clock, _evicted("sessions_negative"))
        self._flight: SingleFlight[TokenKey, SessionRecord] = SingleFlight()
        self._approval_flight: SingleFlight[tuple[TokenKey, str], ApprovalRecord] = SingleFlight()
        self._ledger = OneTimeClaims("approval", consumed_max_entries, clock, ledger)
        self._unknown = LookupRate(unknown_rate, unknown_burst, clock)  # spent by NOT_FOUND answers
        self._generation = 0  # bumped by every flush; a lookup that straddles one is not cached
        self.revocations = RevocationCache(
            max_entries,
            sse_enabled=sse_enabled,
            clock=clock,
            wall=wall,
            on_gap=self._flush_positive,
            on_session_event=self._on_event,
        )
        self.stream = stream  # upstream/events.EventStream or None; feeds self.revocations
        self.upstream_answered = False
        self._probe: asyncio.Task | None = None
        # Lookups and approvals go through the breaker; health probes don't (they report the truth).
        self.circuit = CircuitBreaker("platform", clock=clock, on_change=log_circuit_change)

    def reload(self, platform: PlatformSettings, circuit: CircuitSettings) -> None:
        """Live reload: cache TTLs and sizes, the circuit. Entries in hand and the event stream stay."""
        p = platform
        self.session_ttl, self.negative_ttl = p.session_cache_ttl_seconds, p.negative_cache_ttl_seconds
        for cache in (self._positive, self._negative, self.revocations):
            cache.resize(p.session_cache_max_entries)
        self._ledger.resize(p.consumed_tokens_max_entries)
        self.circuit.configure(circuit)

    # -- Component ----------------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return getattr(self.platform, "configured", True)

    async def start(self) -> None:
        metrics.SSE_SECONDS_SINCE_EVENT.set_function(self.revocations.seconds_since_event)
        if not self.configured:
            return  # nothing to probe or stream from; every question fails closed
        if self.stream is not None:
            self.stream.start()
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_answered(), name="platform-probe")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self.stream is not None:
            await self.stream.close()
        aclose = getattr(self.platform, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _probe_until_answered(self) -> None:
        """Readiness needs one upstream answer (or a connected stream); ask health until it comes."""
        delay = PROBE_MIN_SECONDS
        while not (self.upstream_answered or self.revocations.connected_once):
            await self.health()
            if self.upstream_answered:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, PROBE_MAX_SECONDS)

    def readiness(self) -> tuple[bool, str]:
        if not self.configured:
            return True, NOT_CONFIGURED  # the pod serves its other RPCs; these answer UPSTREAM_UNAVAILABLE
        ready = self.upstream_answered or self.revocations.connected_once
        upstream = "upstream answered" if self.upstream_answered else "upstream not yet answered"
        return ready, f"{self.revocations.describe()}; {upstream}"

    async def health(self) -> list[UpstreamHealth]:
        try:
            await self.platform.health()
        except UpstreamError as exc:
            return [UpstreamHealth("platform", False, f"{exc}; {self.revocations.describe()}")]
        self.upstream_answered = True
        return [UpstreamHealth("platform", True, self.revocations.describe())]

    # -- questions ----------------------------------------------------------------------------
    async def verify_session(self, token: str, phone_e164: str) -> SessionAnswer:
        try:
            record, source = await self._lookup(token, phone_e164)
        except UpstreamError as exc:
            return SessionAnswer(
                Verdict.deny(Reason.UPSTREAM_UNAVAILABLE, _brief(exc), Source.UPSTREAM), SessionStatus.UNKNOWN
            )
        status = self._effective_status(record)
        if status is not SessionStatus.VERIFIED:
            return SessionAnswer(
                Verdict.deny(STATUS_REASON[status], f"session is {status.value.lower()}", source), status
            )
        if not _same_phone(record.phone, phone_e164):
            return SessionAnswer(
                Verdict.deny(Reason.PHONE_MISMATCH, "phone does not match the session", source), status
            )
        return SessionAnswer(Verdict.ok(source), status)

    async def get_status(self, token: str, phone_e164: str) -> SessionStatusAnswer:
        try:
            record, source = await self._lookup(token, phone_e164)
        except UpstreamError as exc:
            return SessionStatusAnswer(
                SessionStatus.UNKNOWN, Source.UPSTREAM, reason=Reason.UPSTREAM_UNAVAILABLE, detail=_brief(exc)
            )
        status = self._effective_status(record)
        phone = _e164_or_empty(record.phone)
        if status is SessionStatus.NOT_FOUND or (status in TERMINAL and not record.phone):
            return SessionStatusAnswer(status, source, reason=STATUS_REASON[status])  # known from an event only
        if phone != phone_e164:
            # Don't disclose another user's session details to a caller holding the wrong phone.
            return SessionStatusAnswer(
                status, source, reason=Reason.PHONE_MISMATCH, detail="phone does not match the session"
            )
        reason = Reason.NONE if status is SessionStatus.VERIFIED else STATUS_REASON[status]
        return SessionStatusAnswer(status, source, phone, record.expires_at, reason)

    async def is_revoked(self, token: str, phone_e164: str) -> RevocationAnswer:
        """Fail closed: revoked=True unless the session is known and not revoked (see module doc)."""
        key = token_key(token)
        if self.revocations.terminal(key) is SessionStatus.REVOKED:
            return RevocationAnswer(
                True, Reason.REVOKED, self.revocations.terminal_source(key), "revoked by the platform"
            )
        try:
            record, source = await self._lookup(token, phone_e164)
        except UpstreamError as exc:
            return RevocationAnswer(
                True, Reason.UPSTREAM_UNAVAILABLE, Source.UPSTREAM, f"cannot tell, treated as revoked: {_brief(exc)}"
            )
        status = self._effective_status(record)
        if status is SessionStatus.REVOKED:
            return RevocationAnswer(True, Reason.REVOKED, source)
        if status is SessionStatus.EXPIRED:
            return RevocationAnswer(True, Reason.EXPIRED, source, "session expired, treated as revoked")
        if status is SessionStatus.NOT_FOUND:
            return RevocationAnswer(True, Reason.NOT_FOUND, source, "unknown session, treated as revoked")
        if not _same_phone(record.phone, phone_e164):
            return RevocationAnswer(True, Reason.PHONE_MISMATCH, source, "phone does not match the session")
        return RevocationAnswer(False, Reason.NONE, source)

    def is_known_revoked(self, session_id: str) -> bool:
        """Cache only, no I/O: has the platform said this session (by id or token) is revoked?"""
        return self.revocations.is_known_revoked(token_key(session_id), session_id)

    async def verify_approval(self, token: str, phone_e164: str) -> ApprovalAnswer:
        key = token_key(token)
        if self._ledger.is_used(key):
            return ApprovalAnswer(Verdict.deny(Reason.ALREADY_USED, "approval already used", Source.LOCAL))
        try:
            self._check_lookup_rate("approval")
            # Racing callers share one upstream call; the ledger below still lets only one of them win.
            # Keyed by phone too, so a caller with the wrong phone can't spoil a racing right one.
            record = await self._approval_flight.do(
                (key, phone_e164), lambda: self.circuit.call(self.platform.verify_approval(token, phone_e164))
            )
        except UpstreamError as exc:
            return ApprovalAnswer(Verdict.deny(Reason.UPSTREAM_UNAVAILABLE, _brief(exc), Source.UPSTREAM))
        self.upstream_answered = True
        if record.reason is Reason.NOT_FOUND:
            self._unknown.spend()
        return await self._decide_approval(key, record, phone_e164)

    # -- internals ----------------------------------------------------------------------------
    async def _decide_approval(self, key: TokenKey, record: ApprovalRecord, phone_e164: str) -> ApprovalAnswer:
        def deny(reason: Reason, detail: str) -> ApprovalAnswer:
            return ApprovalAnswer(
                Verdict.deny(reason, detail, Source.UPSTREAM), record.action, expires_at=record.expires_at
            )

        if not record.valid:
            return deny(
                record.reason if record.reason is not Reason.NONE else Reason.NOT_VERIFIED,
                "approval rejected by the platform",
            )
        if record.phone and not _same_phone(record.phone, phone_e164):
            return deny(Reason.PHONE_MISMATCH, "phone does not match the approval")
        if record.session_token and self.revocations.is_known_revoked(token_key(record.session_token)):
            return deny(Reason.REVOKED, "the approval's session was revoked")
        # An approval with no readable expiry is claimed for the ledger's longest hold, never for a
        # cache TTL: a claim that lapsed before the token does would let another pod say valid again.
        # (Failing closed instead would refuse every approval of a platform that omits the field.)
        ttl = (record.expires_at - self._wall()) if record.expires_at is not None else MAX_TTL
        claim = await self._ledger.claim(key, ttl)
        if claim is Claim.UNAVAILABLE:
            return deny(Reason.UPSTREAM_UNAVAILABLE, UNAVAILABLE_DETAIL)
        if claim is Claim.ALREADY_USED:
            return deny(Reason.ALREADY_USED, "approval already used")
        metrics.CACHE_ENTRIES.labels("consumed_approvals").set(len(self._ledger))
        return ApprovalAnswer(Verdict.ok(Source.UPSTREAM), record.action, record.session_token, record.expires_at)

    async def _lookup(self, token: str, phone_e164: str) -> tuple[SessionRecord, Source]:
        """The session's record from the stream, a cache, or the upstream (one call per token at a time)."""
        key = token_key(token)
        terminal = self.revocations.terminal(key)
        if terminal is not None:
            return SessionRecord(terminal), self.revocations.terminal_source(key)
        cached = self._cached(key)
        if cached is not None:
            return cached, Source.CACHE
        self._check_lookup_rate("session")
        generation = self._generation
        record = await self._flight.do(key, lambda: self._fetch(token, phone_e164, key, generation))
        terminal = self.revocations.terminal(key)  # an event may have landed while we waited
        if terminal is not None and record.status is not terminal:
            return SessionRecord(terminal, record.phone, record.expires_at, record.session_id), Source.STREAM
        return record, Source.UPSTREAM

    def _check_lookup_rate(self, lookup: str) -> None:
        """Refuse (fail closed, no upstream call) while unknown tokens have spent the lookup allowance."""
        if not self._unknown.allows():
            metrics.LOOKUPS_REFUSED_TOTAL.labels(lookup).inc()
            raise UpstreamError("platform", 0, "too many lookups of unknown tokens; not asked")

    def _cached(self, key: TokenKey) -> SessionRecord | None:
        record = self._negative.get(key)
        if record is None:
            fields = self._positive.get(key)
            if fields is not None and self.revocations.trusted:  # else: a stale yes is worse than an upstream call
                record = verified_from(fields)
        metrics.child(metrics.CACHE_LOOKUPS_TOTAL, "sessions", "miss" if record is None else "hit").inc()
        return record

    async def _fetch(self, token: str, phone_e164: str, key: TokenKey, generation: int) -> SessionRecord:
        # Cached per token: the record carries the session's own phone, compared locally per caller.
        record = await self.circuit.call(self.platform.session_status(token, phone_e164))
        self.upstream_answered = True
        if record.status is SessionStatus.NOT_FOUND:
            self._unknown.spend()
        if record.status in TERMINAL:
            self.revocations.record_terminal(
                key, record.status, record.session_id, record.expires_at, source=Source.CACHE
            )
        elif generation == self._generation:
            self._store(key, record)
        return record

    def _store(self, key: TokenKey, record: SessionRecord) -> None:
        if record.status is SessionStatus.VERIFIED:
            ttl = self.session_ttl
            if record.expires_at is not None:
                ttl = min(ttl, record.expires_at - self._wall())
            self._negative.pop(key)
            self._positive.put(key, verified_fields(record), ttl)
        else:
            self._negative.put(key, cached_form(record), self.negative_ttl)
        metrics.CACHE_ENTRIES.labels("sessions").set(len(self._positive))
        metrics.CACHE_ENTRIES.labels("sessions_negative").set(len(self._negative))

    def _effective_status(self, record: SessionRecord) -> SessionStatus:
        if (
            record.status is SessionStatus.VERIFIED
            and record.expires_at is not None
            and record.expires_at <= self._wall()
        ):
            return SessionStatus.EXPIRED
        return record.status

    def _flush_positive(self) -> None:
        self._generation += 1
        dropped = len(self._positive)
        self._positive.clear()
        self._negative.clear()  # a pending session may have been verified meanwhile
        metrics.CACHE_ENTRIES.labels("sessions").set(0)
        metrics.CACHE_ENTRIES.labels("sessions_negative").set(0)
        if dropped:
            log.info("event stream gap: session cache flushed", extra={"dropped": dropped})

    def _on_event(self, event: StreamEvent) -> None:
        if event.kind in (EventKind.SESSION_REVOKED, EventKind.SESSION_EXPIRED, EventKind.SESSION_VERIFIED):
            # Revoked/expired are now answered by the revocation cache; a newly verified session
            # is looked up afresh (its negative "pending" entry must not linger).
            self._positive.pop(event.token_hash)
            self._negative.pop(event.token_hash)

    @property
    def stream_state(self) -> StreamState:
        return self.revocations.state


def _same_phone(upstream_phone: str, phone_e164: str) -> bool:
    phone = _e164_or_empty(upstream_phone)
    return bool(phone) and phone == phone_e164


def _e164_or_empty(raw: str) -> str:
    """The upstream's phone in E.164, or "" when it does not parse (which then never matches)."""
    try:
        return to_e164(raw)
    except InvalidArgument:
        return ""


def _brief(exc: UpstreamError) -> str:
    # The status or our own message (e.g. "circuit open…"); never the upstream's body, which may echo tokens.
    return f"platform unavailable ({exc.status or exc.message})"


def _evicted(cache: str) -> Callable[..., None]:
    return metrics.CACHE_EVICTIONS_TOTAL.labels(cache).inc  # created now: exported at 0 before any eviction
