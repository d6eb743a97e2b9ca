"""Account flows against an identity service: login, MFA, refresh, logout and session management.

Pass-through by design (the identity service decides), with one decision of our own: a logout
through the sidecar revokes the session in the revocation cache at once, so VerifyToken/IsRevoked
answer revoked for its `sid` before the service's event arrives. The session of a refresh token is
learnt from the tokens that passed through here (or from the service's logout answer).
Passwords, codes and tokens are never logged; the refresh-token map is keyed by their hash.
Every call but the health probe goes through a circuit breaker ("identity"), as for the other upstreams.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .. import logs, metrics
from .answers import UpstreamHealth
from .caches import Clock, TtlLru
from .circuit import CircuitBreaker, log_circuit_change
from .hashing import fingerprint, token_key

log = logs.get("accounts")
T = TypeVar("T")

# How long we remember which session a refresh token belongs to (refresh tokens are long-lived).
SESSION_MAP_TTL_SECONDS = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int = 0
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class LoginResult:
    tokens: Tokens | None = None
    mfa_required: bool = False
    mfa_token: str = ""


@dataclass(frozen=True, slots=True)
class Me:
    user_id: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    mfa_enabled: bool = False


@dataclass(frozen=True, slots=True)
class AccountSession:
    session_id: str
    device: str = ""
    ip: str = ""
    created_at: int = 0
    last_seen_at: int = 0
    current: bool = False


class IdentityUpstream(Protocol):
    """What the core needs from the identity service; upstream/identity.py speaks its wire format."""

    async def login(self, email: str, password: str) -> LoginResult: ...
    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens: ...
    async def refresh(self, refresh_token: str) -> Tokens: ...
    async def logout(self, refresh_token: str) -> str: ...
    async def me(self, access_token: str) -> Me: ...
    async def list_sessions(self, access_token: str) -> list[AccountSession]: ...
    async def logout_session(self, access_token: str, session_id: str) -> None: ...
    async def health(self) -> UpstreamHealth: ...
    async def aclose(self) -> None: ...


RevokeSessionId = Callable[[str], None]


class AccountFlows:
    """The account component. `revoke_session_id` is wired by the Sidecar to the revocation cache."""

    def __init__(self, upstream: IdentityUpstream, revoke_session_id: RevokeSessionId | None = None, *,
                 clock: Clock = time.monotonic, session_map_max_entries: int = 100_000,
                 configured: bool = True) -> None:
        self.upstream = upstream
        self.revoke_session_id = revoke_session_id
        self.configured = configured
        self._session_of_refresh: TtlLru[str, str] = TtlLru(session_map_max_entries, clock)
        self.circuit = CircuitBreaker("identity", clock=clock, on_change=log_circuit_change)

    @classmethod
    def from_settings(cls, settings) -> "AccountFlows":
        from .second_factors import UnconfiguredUpstream

        i = settings.identity
        if not i.base_url:
            return cls(UnconfiguredUpstream("identity"), configured=False)
        from ..upstream.identity import IdentityClient

        flows = cls(IdentityClient(i.base_url, i.api_key, i.timeout_seconds),
                    session_map_max_entries=i.session_map_max_entries)
        flows.circuit.configure(settings.circuit)
        return flows

    def reload(self, settings) -> None:
        """Live reload: the refresh-token → session map's size, the circuit."""
        self._session_of_refresh.resize(settings.identity.session_map_max_entries)
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

    def _remember(self, tokens: Tokens) -> Tokens:
        if tokens.session_id and tokens.refresh_token:
            self._session_of_refresh.put(token_key(tokens.refresh_token), tokens.session_id, SESSION_MAP_TTL_SECONDS)
        return tokens

    def _revoke(self, session_id: str) -> None:
        if not session_id:
            return
        metrics.LOGOUT_REVOCATIONS_TOTAL.labels("yes" if self.revoke_session_id else "no").inc()
        if self.revoke_session_id is None:
            log.warning("no revocation cache wired; session revoked upstream only",
                        extra={"session": fingerprint(session_id)})
            return
        self.revoke_session_id(session_id)

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
        known = self._session_of_refresh.pop(old_key)  # the service rotates refresh tokens
        if not tokens.session_id and known:
            tokens = Tokens(tokens.access_token, tokens.refresh_token, tokens.expires_in, known)
        return self._remember(tokens)

    async def logout(self, refresh_token: str) -> str:
        """Revoke locally first when we know the session (it came through us with this token), then
        ask the service; a failure there still leaves the session revoked here (fail closed)."""
        known = self._session_of_refresh.pop(token_key(refresh_token)) or ""
        self._revoke(known)
        answered = await self._call(self.upstream.logout(refresh_token))
        if answered and answered != known:
            self._revoke(answered)
        return answered or known

    async def me(self, access_token: str) -> Me:
        return await self._call(self.upstream.me(access_token))

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        return await self._call(self.upstream.list_sessions(access_token))

    async def logout_session(self, access_token: str, session_id: str) -> None:
        # Only after the service accepted: anyone could name a session id, only its owner may end it.
        await self._call(self.upstream.logout_session(access_token, session_id))
        self._revoke(session_id)

