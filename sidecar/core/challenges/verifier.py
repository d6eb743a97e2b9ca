"""Step-up challenges: is this challenge token a completed challenge, for this user and action, used once?

Decisions only; the platform is reached through a ChallengeUpstream (upstream/authsignal.py in
production, small fakes in unit tests). Rules, in order:
  1. a token this sidecar already accepted is ALREADY_USED (no upstream call; a cached "no" only)
  2. the platform answers; no answer / 5xx → UpstreamError (the edge says UNAVAILABLE, never valid);
     after repeated failures a circuit breaker answers that at once, sparing the platform
  3. the platform says the token was consumed → ALREADY_USED
  4. the platform does not know the token → MALFORMED
  5. a user_id was given and the token belongs to someone else → SUBJECT_MISMATCH
     (the check the SDK docs insist on for step-up on an existing session)
  6. an action was given and the challenge was for another → ACTION_MISMATCH
  7. CHALLENGE_FAILED → CHALLENGE_FAILED; BLOCK → BLOCKED
  8. valid only when the platform says isValid AND the state is CHALLENGE_SUCCEEDED
  9. the first caller to claim the token wins (core/onetime/ledger.py: this pod's ledger, then the fleet's
     when `ledger.backend` is redis); a racing second is ALREADY_USED; a shared ledger that cannot
     answer makes it UPSTREAM_UNAVAILABLE ("ledger unavailable")
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import TypeVar

from sidecar.config.settings import ChallengeSettings, CircuitSettings
from sidecar.core.challenges.records import (
    ActionRecord,
    ChallengeUpstream,
    EnrolledAuthenticator,
    EnrollInput,
    TrackInput,
    TrackResult,
    UserRecord,
    ValidationRecord,
)
from sidecar.core.onetime.ledger import UNAVAILABLE_DETAIL, Claim, OneTimeClaims, SharedLedger
from sidecar.core.shared.answers import ChallengeAnswer, UpstreamHealth
from sidecar.core.shared.caches import Clock
from sidecar.core.shared.circuit import CircuitBreaker, log_circuit_change
from sidecar.core.shared.hashing import fingerprint, token_key
from sidecar.core.shared.outcomes import ActionState, InvalidArgument, NotConfigured, Reason, Source, Verdict
from sidecar.observability import logs, metrics

log = logs.get("challenges")
T = TypeVar("T")


def path_safe(field: str, value: str) -> str:
    """Ids that the platform puts in URL paths: "." and ".." would name another resource."""
    if value in (".", ".."):
        raise InvalidArgument(field, "must not be '.' or '..'")
    return value


class ChallengeVerifier:
    def __init__(
        self,
        upstream: ChallengeUpstream,
        *,
        consumed_ttl_seconds: float = 900.0,
        consumed_max_entries: int = 100_000,
        clock: Clock = time.monotonic,
        disabled: str = "",
        ledger: SharedLedger | None = None,
    ) -> None:
        self.upstream = upstream
        self.consumed_ttl_seconds = consumed_ttl_seconds
        self.ledger = OneTimeClaims("challenge", consumed_max_entries, clock, ledger)
        self.disabled = disabled  # why the challenge RPCs are off (no secret key), or ""
        self.circuit = CircuitBreaker("challenges", clock=clock, on_change=log_circuit_change)

    def reload(self, challenges: ChallengeSettings, circuit: CircuitSettings) -> None:
        """Live reload: the consumed-token ledger's lifetime and size, the circuit."""
        self.consumed_ttl_seconds = challenges.consumed_tokens_ttl_seconds
        self.ledger.resize(challenges.consumed_tokens_max_entries)
        self.circuit.configure(circuit)

    # --- Component -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to warm up: the challenge API is only needed per call. Say where it is, for operators."""
        log.info("challenge platform configured", extra={"base_url": getattr(self.upstream, "base_url", "")})

    async def close(self) -> None:
        await self.upstream.close()

    def readiness(self) -> tuple[bool, str]:
        # A pod that only verifies sessions or JWTs must still become ready without a challenge secret.
        return True, f"disabled: {self.disabled}" if self.disabled else "ok"

    async def health(self) -> list[UpstreamHealth]:
        if self.disabled:
            return []  # no challenge platform configured: nothing to be unhealthy
        healthy, detail = await self.upstream.probe()
        return [UpstreamHealth("challenges", healthy, detail)]

    # --- ValidateChallenge -----------------------------------------------------------------------

    async def validate(self, token: str, user_id: str | None, action: str | None) -> ChallengeAnswer:
        key = token_key(token)
        if self.ledger.is_used(key):
            return self._replay(token, Source.CACHE)
        record = await self._call(self.upstream.validate(token, user_id, action))  # UpstreamError: fail closed
        answer = decide(record, user_id, action)
        if answer.verdict.valid:
            claim = await self.ledger.claim(key, self.consumed_ttl_seconds)
            if claim is Claim.UNAVAILABLE:
                return ChallengeAnswer(Verdict.deny(Reason.UPSTREAM_UNAVAILABLE, UNAVAILABLE_DETAIL, Source.UPSTREAM))
            if claim is Claim.ALREADY_USED:
                return self._replay(token, Source.LOCAL)
        if answer.verdict.reason is Reason.ALREADY_USED:
            self.ledger.remember_used(key, self.consumed_ttl_seconds)  # repeats need not ask the platform
            metrics.CHALLENGE_REPLAYS_TOTAL.labels("upstream").inc()
        return answer

    def _replay(self, token: str, source: Source) -> ChallengeAnswer:
        metrics.CHALLENGE_REPLAYS_TOTAL.labels(source.value.lower()).inc()
        log.info("challenge token replayed", extra={"token": fingerprint(token)})
        return ChallengeAnswer(Verdict.deny(Reason.ALREADY_USED, "this challenge token was already used", source))

    # --- pass-throughs ---------------------------------------------------------------------------

    async def track(self, request: TrackInput) -> TrackResult:
        path_safe("user_id", request.user_id)
        path_safe("action", request.action)
        return await self._call(self.upstream.track(request))

    async def get_action(self, user_id: str, action: str, idempotency_key: str) -> ActionRecord:
        for field, value in (("user_id", user_id), ("action", action), ("idempotency_key", idempotency_key)):
            path_safe(field, value)
        return await self._call(self.upstream.get_action(user_id, action, idempotency_key))

    async def get_user(self, user_id: str) -> UserRecord:
        return await self._call(self.upstream.get_user(path_safe("user_id", user_id)))

    async def enroll_verified_authenticator(self, request: EnrollInput) -> EnrolledAuthenticator:
        path_safe("user_id", request.user_id)
        return await self._call(self.upstream.enroll_verified_authenticator(request))

    async def _call(self, call: Awaitable[T]) -> T:
        """One platform call through the circuit breaker: only "unavailable" failures count against it."""
        if self.disabled:
            call.close()  # type: ignore[attr-defined]
            raise NotConfigured(f"step-up challenges are disabled: {self.disabled}")
        return await self.circuit.call(call)


def decide(r: ValidationRecord, user_id: str | None, action: str | None) -> ChallengeAnswer:
    """The platform's record judged against what the caller expects (rules 3–8 above)."""
    up = Source.UPSTREAM
    answer = ChallengeAnswer(Verdict.ok(up), r.state, r.user_id, r.action, r.idempotency_key, r.verification_method)
    if r.already_used:
        return replace(answer, verdict=Verdict.deny(Reason.ALREADY_USED, "this challenge token was already used", up))
    if r.state is ActionState.UNSPECIFIED and not r.is_valid:
        detail = f"the platform does not recognise this token ({r.error or 'no state'})"
        return ChallengeAnswer(Verdict.deny(Reason.MALFORMED, detail, up))
    if user_id is not None and r.user_id != user_id:
        # Don't echo whose token it is: the caller only needs to know it is not this user's.
        return ChallengeAnswer(
            Verdict.deny(Reason.SUBJECT_MISMATCH, "the token belongs to another user", up), state=r.state
        )
    if action is not None and r.action != action:
        return replace(
            answer, verdict=Verdict.deny(Reason.ACTION_MISMATCH, f"the challenge was for action {r.action!r:.80}", up)
        )
    if r.state is ActionState.CHALLENGE_FAILED:
        return replace(answer, verdict=Verdict.deny(Reason.CHALLENGE_FAILED, "the user failed the challenge", up))
    if r.state is ActionState.BLOCK:
        return replace(answer, verdict=Verdict.deny(Reason.BLOCKED, "the platform blocked this action", up))
    if not (r.is_valid and r.state is ActionState.CHALLENGE_SUCCEEDED):
        detail = f"no completed challenge (state {r.state.value}{', ' + r.error if r.error else ''})"
        return replace(answer, verdict=Verdict.deny(Reason.NOT_VERIFIED, detail[:200], up))
    return answer
