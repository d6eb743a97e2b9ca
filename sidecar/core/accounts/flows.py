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
from dataclasses import dataclass
from typing import TypeVar

from sidecar.config.settings import CircuitSettings, IdentitySettings
from sidecar.core.accounts.logout_revocations import FULL_DETAIL, MAX_TTL_SECONDS, LogoutRevocations
from sidecar.core.accounts.records import AccountSession, IdentityApi, LoginResult, Me, Tokens
from sidecar.core.shared.caches import Clock, TtlLru
from sidecar.core.shared.hashing import TokenKey, fingerprint, token_key, token_revocation_id
from sidecar.core.shared.lifecycle import UpstreamComponent
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.observability import logs, metrics

log = logs.get("accounts")
T = TypeVar("T")

# How long we remember a refresh token's chain (refresh tokens are long-lived).
SESSION_MAP_TTL_SECONDS = 30 * 86400.0
# Access tokens kept per chain: older ones have expired by the time a client refreshes again.
ACCESS_TOKENS_PER_CHAIN = 4

__all__ = ["AccountFlows", "AccountSession", "LoginResult", "Me", "Tokens"]


@dataclass(frozen=True, slots=True)
class _Chain:
    """What a logout with this refresh token must revoke here: the access tokens' keys, never tokens,
    and when the last of them expires (monotonic; 0: unknown)."""

    session_id: str = ""
    access_keys: tuple[TokenKey, ...] = ()
    access_deadline: float = 0.0

    def then(self, tokens: Tokens, now: float) -> _Chain:
        # expires_in 0 (unknown) keeps the deadline unknown: such a chain's revocations last the maximum
        deadline = max(self.access_deadline, now + tokens.expires_in) if tokens.expires_in > 0 else 0.0
        return _Chain(
            tokens.session_id or self.session_id,
            (*self.access_keys, token_key(tokens.access_token))[-ACCESS_TOKENS_PER_CHAIN:],
            deadline,
        )

    def revocations(self, now: float) -> list[tuple[str, float]]:
        """(id, seconds to keep it): an access token until its exp (plus the verifiers' clock leeway),
        a session id — whose tokens may have passed elsewhere — for the longest hold."""
        token_ttl = self.access_deadline - now + EXP_LEEWAY_SECONDS if self.access_deadline else MAX_TTL_SECONDS
        out = [(self.session_id, MAX_TTL_SECONDS)] if self.session_id else []
        return out + [(token_revocation_id(k), token_ttl) for k in self.access_keys]


# A token is still accepted a little past its exp (the issuers' leeway); its revocation outlives that.
EXP_LEEWAY_SECONDS = 300.0


class AccountFlows(UpstreamComponent):
    """The account component. `revocations` is wired by the Sidecar (the logout revocation store
    VerifyToken consults)."""

    def __init__(
        self,
        upstream: IdentityApi,
        revocations: LogoutRevocations | None = None,
        *,
        clock: Clock = time.monotonic,
        session_map_max_entries: int = 100_000,
        configured: bool = True,
    ) -> None:
        super().__init__(upstream, "identity", clock=clock, configured=configured)
        self.revocations = revocations
        self._clock = clock
        self._chains: TtlLru[TokenKey, _Chain] = TtlLru(session_map_max_entries, clock)

    def reload(self, identity: IdentitySettings, circuit: CircuitSettings) -> None:
        """Live reload: the refresh-token chain map's size, the circuit."""
        self._chains.resize(identity.session_map_max_entries)
        if self.revocations is not None:
            self.revocations.resize(identity.logout_revocations_max_entries)
        self.circuit.configure(circuit)

    def _remember(self, tokens: Tokens, chain: _Chain | None = None) -> Tokens:
        if tokens.refresh_token:
            self._chains.put(
                token_key(tokens.refresh_token),
                (chain or _Chain()).then(tokens, self._clock()),
                SESSION_MAP_TTL_SECONDS,
            )
        return tokens

    async def _revoke(self, chain: _Chain) -> None:
        """Record the chain's revocations; UpstreamError (the logout fails) when they can't be kept."""
        entries = chain.revocations(self._clock())
        if not entries:
            return
        metrics.LOGOUT_REVOCATIONS_TOTAL.labels("yes" if self.revocations is not None else "no").inc()
        if self.revocations is None:
            log.warning(
                "no revocation store wired; session revoked upstream only",
                extra={"session": fingerprint(entries[0][0])},
            )
            return
        await self.revocations.revoke(entries)

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
        key = token_key(refresh_token)
        known = self._chains.pop(key) or _Chain()
        try:
            await self._revoke(known)  # refused (store full, fleet log down): not logged out at all
        except BaseException:
            self._chains.put(key, known, SESSION_MAP_TTL_SECONDS)  # a retry must still find the tokens
            raise
        await self._call(self.upstream.logout(refresh_token))
        return known.session_id

    async def me(self, access_token: str) -> Me:
        return await self._call(self.upstream.me(access_token))

    async def list_sessions(self, access_token: str) -> list[AccountSession]:
        return await self._call(self.upstream.list_sessions(access_token))

    async def logout_session(self, access_token: str, session_id: str) -> None:
        # Recorded only after the service accepted (anyone could name a session id, only its owner may
        # end it); refused before asking when there is no room, so a full store fails the call whole.
        if self.revocations is not None and not self.revocations.has_room(1):
            metrics.LOGOUT_REVOCATIONS_REFUSED_TOTAL.inc()
            raise UpstreamError("revocations", 0, FULL_DETAIL)
        await self._call(self.upstream.logout_session(access_token, session_id))
        await self._revoke(_Chain(session_id))
