"""Account flows against an identity service: login, MFA, refresh, logout and session management.

Pass-through by design (the identity service decides), with one decision of our own: a logout
through the sidecar revokes at once, in the revocation cache, the access tokens this sidecar handed
out for that refresh token's chain (and its session id when a wire names one), so VerifyToken
answers REVOKED for them before they expire. Neither wire names the session in its token answers
(InAI's TokenPair has no session id, its JWTs no sid or jti), so the chain is learnt from the tokens
that passed through here: refresh token -> the last access tokens issued with it, followed across
rotation. Passwords, codes and tokens are never logged; the map holds only their hashes.
Every call but the health probe goes through a circuit breaker ("identity"), as for the other upstreams.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .. import logs, metrics
from ..config import Settings
from .account_records import AccountSession, IdentityApi, LoginResult, Me, Tokens
from .answers import UpstreamHealth
from .caches import Clock, TtlLru
from .circuit import CircuitBreaker, log_circuit_change
from .hashing import TokenKey, fingerprint, token_key, token_revocation_id
from .second_factors import UnconfiguredUpstream

log = logs.get("accounts")
T = TypeVar("T")

# How long we remember a refresh token's chain (refresh tokens are long-lived).
SESSION_MAP_TTL_SECONDS = 30 * 86400.0
# Access tokens kept per chain: older ones have expired by the time a client refreshes again.
ACCESS_TOKENS_PER_CHAIN = 4

__all__ = ["AccountFlows", "AccountSession", "LoginResult", "Me", "Tokens"]


@dataclass(frozen=True, slots=True)
class _Chain:
    """What a logout with this refresh token must revoke here: the access tokens' keys, never tokens."""

    session_id: str = ""
    access_keys: tuple[TokenKey, ...] = ()

    def then(self, tokens: Tokens) -> _Chain:
        return _Chain(tokens.session_id or self.session_id,
                      (*self.access_keys, token_key(tokens.access_token))[-ACCESS_TOKENS_PER_CHAIN:])

    def revocation_ids(self) -> list[str]:
        return [i for i in (self.session_id, *map(token_revocation_id, self.access_keys)) if i]


RevokeSessionId = Callable[[str], None]


class AccountFlows:
    """The account component. `revoke_session_id` is wired by the Sidecar to the revocation cache."""

    def __init__(self, upstream: IdentityApi, revoke_session_id: RevokeSessionId | None = None, *,
                 clock: Clock = time.monotonic, session_map_max_entries: int = 100_000,
                 configured: bool = True) -> None:
        self.upstream = upstream
        self.revoke_session_id = revoke_session_id
        self.configured = configured
        self._chains: TtlLru[TokenKey, _Chain] = TtlLru(session_map_max_entries, clock)
        self.circuit = CircuitBreaker("identity", clock=clock, on_change=log_circuit_change)

    @classmethod
    def from_settings(cls, settings: Settings, upstream: IdentityApi | None) -> AccountFlows:
        """`upstream` is the identity adapter the assembly built (None: identity not configured)."""
        if upstream is None:
            return cls(UnconfiguredUpstream("identity"), configured=False)
        flows = cls(upstream, session_map_max_entries=settings.identity.session_map_max_entries)
        flows.circuit.configure(settings.circuit)
        return flows

    def reload(self, settings: Settings) -> None:
        """Live reload: the refresh-token chain map's size, the circuit."""
        self._chains.resize(settings.identity.session_map_max_entries)
        self.circuit.configure(settings.circuit)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.upstream.aclose()

    def readiness(self) -> tuple[bool, str]:
        return True, "ready"

    async def health(self) -> list[UpstreamHealth]:
        # Not through the breaker: the probe reports the truth even while calls fail fast.
        return [await self.upstream.health()] if self.configured else []

    async def _call(self, call: Awaitable[T]) -> T:
        """One service call through the circuit breaker (only "unavailable" failures count)."""
        return await self.circuit.call(call)

    def _remember(self, tokens: Tokens, chain: _Chain | None = None) -> Tokens:
        if tokens.refresh_token:
            self._chains.put(token_key(tokens.refresh_token), (chain or _Chain()).then(tokens),
                             SESSION_MAP_TTL_SECONDS)
        return tokens

    def _revoke(self, chain: _Chain) -> None:
        ids = chain.revocation_ids()
        if not ids:
            return
        metrics.LOGOUT_REVOCATIONS_TOTAL.labels("yes" if self.revoke_session_id else "no").inc()
        if self.revoke_session_id is None:
            log.warning("no revocation cache wired; session revoked upstream only",
                        extra={"session": fingerprint(ids[0])})
            return
        for revocation_id in ids:
            self.revoke_session_id(revocation_id)

    async def login(self, email: str, password: str) -> LoginResult:
        result = await self._call(self.upstream.login(email, password))
        if result.tokens:
            self._remember(result.tokens)
        return result

    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens:
        return self._remember(await self._call(self.upstream.complete_mfa(mfa_token, code)))

    async def refresh(self, refresh_token: str) -> Tokens:
        old_key = token_key(refresh_token)
        tokens = await self._call(self.upstream.refresh(refresh_token))
        known = self._chains.pop(old_key)  # the service rotates refresh tokens
        if known is not None and not tokens.session_id and known.session_id:
            tokens = Tokens(tokens.access_token, tokens.refresh_token, tokens.expires_in, known.session_id)
        return self._remember(tokens, known)

    async def logout(self, refresh_token: str) -> str:
        """Revoke here first what came through us with this token, then ask the service; a failure
        there still leaves those tokens revoked here (fail closed). The session id, when known."""
        known = self._chains.pop(token_key(refresh_token)) or _Chain()
        self._revoke(known)
        await self._call(self.upstream.logout(refresh_token))
        return known.session_id

    async def me(self, access_token: str) -> Me:
        return await self._call(self.upstream.me(access_token))

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        return await self._call(self.upstream.list_sessions(access_token))

    async def logout_session(self, access_token: str, session_id: str) -> None:
        # Only after the service accepted: anyone could name a session id, only its owner may end it.
        await self._call(self.upstream.logout_session(access_token, session_id))
        self._revoke(_Chain(session_id))

