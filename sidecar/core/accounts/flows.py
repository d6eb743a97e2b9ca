"""Account flows against an identity service: login, MFA, refresh, logout and session management.

Pass-through by design (the identity service decides), with one decision of our own: a logout
through the sidecar revokes at once, in the revocation cache, the access tokens this sidecar handed
out for that refresh token's chain (and its session id when a wire names one), so VerifyToken
answers REVOKED for them before they expire. Neither wire names the session in its token answers
(InAI's TokenPair has no session id, its JWTs no sid or jti), so the chain is learnt from the tokens
that passed through here: refresh token -> the last access tokens issued with it, followed across
rotation. Passwords, codes and tokens are never logged; the map holds only their hashes.
The same map ties tokens to their account (the hash of the email they were obtained with), so a
password reset or an email change — after which the platform ends the account's sessions — revokes
here the access tokens this sidecar handed out to that account.
Every call but the health probe goes through a circuit breaker ("identity"), as for the other upstreams.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TypeVar

from sidecar.config.settings import CircuitSettings, IdentitySettings
from sidecar.core.accounts.logout_revocations import FULL_DETAIL, MAX_TTL_SECONDS, LogoutRevocations
from sidecar.core.accounts.records import (
    FLOW_FLAVOUR,
    AccountSession,
    IdentityApi,
    LoginResult,
    Me,
    Registered,
    Registration,
    Tokens,
    TwoFactorToggled,
)
from sidecar.core.shared.caches import Clock, TtlLru
from sidecar.core.shared.hashing import TokenKey, fingerprint, token_key, token_revocation_id
from sidecar.core.shared.lifecycle import UpstreamComponent
from sidecar.core.shared.outcomes import Unsupported, UpstreamError
from sidecar.observability import logs, metrics

log = logs.get("accounts")
T = TypeVar("T")

# How long we remember a refresh token's chain (refresh tokens are long-lived).
SESSION_MAP_TTL_SECONDS = 30 * 86400.0
# Access tokens kept per chain: older ones have expired by the time a client refreshes again.
ACCESS_TOKENS_PER_CHAIN = 4
# Per account (all its chains): what a password reset or email change revokes here.
ACCESS_TOKENS_PER_ACCOUNT = 8
# An MFA login's pending account (until CompleteMfa), and an access token's owner when expiry is unknown.
MFA_PENDING_TTL_SECONDS = 600.0
OWNER_TTL_SECONDS = 86400.0


def account_key(email: str) -> TokenKey:
    """The account's key in the chain map: a hash of the normalised email, never the email."""
    return token_key("account\x00" + email.strip().lower())


def _owner_key(access_key: TokenKey) -> TokenKey:
    return token_key("owner\x00" + access_key.hex())


__all__ = ["AccountFlows", "AccountSession", "LoginResult", "Me", "Tokens"]


@dataclass(frozen=True, slots=True)
class _Chain:
    """What a logout with this refresh token must revoke here: the access tokens' keys, never tokens,
    and when the last of them expires (monotonic; 0: unknown)."""

    session_id: str = ""
    access_keys: tuple[TokenKey, ...] = ()
    access_deadline: float = 0.0
    account: TokenKey = b""  # account_key of the email the chain was obtained with; b"": unknown

    def then(self, tokens: Tokens, now: float, keep: int = ACCESS_TOKENS_PER_CHAIN) -> _Chain:
        # expires_in 0 (unknown) keeps the deadline unknown: such a chain's revocations last the maximum
        deadline = max(self.access_deadline, now + tokens.expires_in) if tokens.expires_in > 0 else 0.0
        return _Chain(
            tokens.session_id or self.session_id,
            (*self.access_keys, token_key(tokens.access_token))[-keep:],
            deadline,
            self.account,
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

    def _remember(self, tokens: Tokens, chain: _Chain | None = None, account: TokenKey = b"") -> Tokens:
        now = self._clock()
        account = account or (chain.account if chain else b"")
        if tokens.refresh_token:
            self._chains.put(
                token_key(tokens.refresh_token),
                replace(chain or _Chain(), account=account).then(tokens, now),
                SESSION_MAP_TTL_SECONDS,
            )
        if account:
            held = self._chains.get(account) or _Chain(account=account)
            self._chains.put(account, held.then(tokens, now, ACCESS_TOKENS_PER_ACCOUNT), SESSION_MAP_TTL_SECONDS)
            owner_ttl = tokens.expires_in + EXP_LEEWAY_SECONDS if tokens.expires_in > 0 else OWNER_TTL_SECONDS
            self._chains.put(_owner_key(token_key(tokens.access_token)), _Chain(account=account), owner_ttl)
        return tokens

    def _owner(self, access_token: str) -> TokenKey:
        found = self._chains.get(_owner_key(token_key(access_token)))
        return found.account if found else b""

    async def _end_account(self, account: TokenKey, also: tuple[TokenKey, ...] = ()) -> int:
        """After the platform ended an account's sessions: revoke here what we handed out to it (and
        `also`, the access token the call came with). Refused whole, before the platform is asked, when
        the store has no room: see _room."""
        held = self._chains.pop(account) if account else None
        chain = held or _Chain()
        keys = tuple(dict.fromkeys((*chain.access_keys, *also)))
        await self._revoke(replace(chain, access_keys=keys))
        return len(keys)

    def _room(self, count: int) -> None:
        if self.revocations is not None and not self.revocations.has_room(count):
            metrics.LOGOUT_REVOCATIONS_REFUSED_TOTAL.inc()
            raise UpstreamError("revocations", 0, FULL_DETAIL)

    def _held(self, account: TokenKey) -> int:
        found = self._chains.get(account) if account else None
        return len(found.access_keys) if found else 0

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
            self._remember(result.tokens, account=account_key(email))
        elif result.mfa_token:  # CompleteMfa learns the account from here
            self._chains.put(token_key(result.mfa_token), _Chain(account=account_key(email)), MFA_PENDING_TTL_SECONDS)
        return result

    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens:
        tokens = await self._call(self.upstream.complete_mfa(mfa_token, code))
        pending = self._chains.pop(token_key(mfa_token))
        return self._remember(tokens, account=pending.account if pending else b"")

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

    # -- the app-user flows (each wire serves its own; the other raises Unsupported) ---------------------

    def _require(self, flow: str) -> None:
        """Refuse, before anything is sent, a flow the configured flavour has no call for."""
        if not self.configured:
            return  # the call itself answers FAILED_PRECONDITION (identity not configured)
        flavour = getattr(self.upstream, "flavour", "")
        if FLOW_FLAVOUR[flow] != flavour:
            raise Unsupported(f"{flow} is served by identity.api {FLOW_FLAVOUR[flow]}; this sidecar speaks {flavour}")

    async def register(self, registration: Registration) -> Registered:
        self._require("register")
        registered = await self._call(self.upstream.register(registration))
        self._remember(registered.tokens, account=account_key(registration.email))
        return registered

    async def set_active_organization(self, access_token: str, organization_id: str) -> Tokens:
        self._require("set_active_organization")
        tokens = await self._call(self.upstream.set_active_organization(access_token, organization_id))
        return self._remember(tokens, account=self._owner(access_token))

    async def forgot_password(self, email: str) -> str:
        self._require("forgot_password")
        return await self._call(self.upstream.forgot_password(email))

    async def reset_password(self, token: str, password: str, email: str = "") -> tuple[str, int]:
        """The platform's message, and how many access tokens were revoked here. With the account's
        email, its tokens are revoked after the platform accepted (not before: anyone may name an
        email, only the mailed token proves the reset)."""
        self._require("reset_password")
        account = account_key(email) if email else b""
        self._room(self._held(account))
        message = await self._call(self.upstream.reset_password(token, password))
        return message, (await self._end_account(account) if account else 0)

    async def verify_email(self, token: str) -> str:
        self._require("verify_email")
        return await self._call(self.upstream.verify_email(token))

    async def toggle_two_factor(self, access_token: str, enable: bool) -> TwoFactorToggled:
        self._require("toggle_two_factor")
        return await self._call(self.upstream.toggle_two_factor(access_token, enable))

    async def confirm_enable_two_factor(self, access_token: str, email: str, code: str) -> str:
        self._require("confirm_enable_two_factor")
        return await self._call(self.upstream.confirm_enable_two_factor(access_token, email, code))

    async def request_email_change(self, access_token: str, new_email: str) -> str:
        self._require("request_email_change")
        return await self._call(self.upstream.request_email_change(access_token, new_email))

    async def confirm_email_change(self, access_token: str, email: str, token: str) -> tuple[str, int]:
        """The service ends the account's sessions: revoke here its access tokens (the account learnt
        from the token's own chain, else asked of the service before the change) and this one."""
        self._require("confirm_email_change")
        account = self._owner(access_token)
        if not account:
            email_now = (await self._call(self.upstream.me(access_token))).email
            account = account_key(email_now) if email_now else b""
        self._room(self._held(account) + 1)
        message = await self._call(self.upstream.confirm_email_change(access_token, email, token))
        return message, await self._end_account(account, (token_key(access_token),))
