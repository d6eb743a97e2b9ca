"""The sidecar's components, assembled from Settings: what the gRPC edge and the ops port talk to.

Each component owns its caches and background work (JWKS refresh, the SSE stream) and reports
readiness and upstream health. Nothing here speaks gRPC or HTTP to callers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Protocol

import httpx

from sidecar.config import Settings
from sidecar.config.settings import AuthySettings
from sidecar.core.accounts.admin import PlatformAdmin
from sidecar.core.accounts.flows import AccountFlows
from sidecar.core.accounts.logout_revocations import LogoutRevocations, SharedRevocations
from sidecar.core.challenges.verifier import ChallengeVerifier
from sidecar.core.factors.second_factors import SecondFactors
from sidecar.core.sessions.verifier import SessionVerifier, UnconfiguredPlatform
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.shared.lifecycle import UnconfiguredUpstream
from sidecar.core.tokens.verifier import Fetch, TokenVerifier
from sidecar.observability import logs, metrics
from sidecar.upstream import transport
from sidecar.upstream.authsignal import AuthsignalClient
from sidecar.upstream.authy import AuthyClient
from sidecar.upstream.identity_service import IdentityServiceClient
from sidecar.upstream.inai import InaiClient
from sidecar.upstream.inai_platform import InaiPlatformClient
from sidecar.upstream.jwks_fetch import JwksFetcher
from sidecar.upstream.rauth import RauthClient
from sidecar.upstream.rauth_events import EventStream
from sidecar.upstream.twilio_verify import TwilioVerifyClient


class Component(Protocol):
    async def start(self) -> None:
        """Begin background work; must not block on the upstream."""

    async def close(self) -> None: ...

    # reload(<its sections>): take the live-reloadable settings now, keeping still-valid caches.
    # Synchronous: no call sees half of a reload. Which sections each gets is SECTIONS below.

    def readiness(self) -> tuple[bool, str]:
        """(ready, short detail) — e.g. first JWKS load done, upstream reachable."""

    async def health(self) -> list[UpstreamHealth]:
        """Ask each upstream this component uses whether it answers."""


def identity_adapter(settings: Settings):
    """The adapter for `identity.api` (None when identity.base_url is empty: the account RPCs are off)."""
    i = settings.identity
    if not i.base_url:
        return None
    if i.api == "identity-service":
        return IdentityServiceClient(i.base_url, i.timeout_seconds, max_response_bytes=i.max_response_bytes)
    return InaiClient(i.base_url, i.api_key, i.timeout_seconds, max_response_bytes=i.max_response_bytes)


class Sidecar:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One shared ledger (one Redis, one circuit) behind every kind of one-time claim, or none.
        self.ledger = _shared_ledger(settings)
        self.sessions = sessions_from_settings(settings, self.ledger)
        self.logout_revocations = logout_revocations_from_settings(settings, self.ledger)
        # A JWT whose sid or jti the platform revoked, or that a logout here (or on any pod sharing the
        # ledger) ended, is never valid, even from the verified-token cache.
        self.tokens = tokens_from_settings(
            settings, revoked=self._revoked, revocations_version=self._revocations_version
        )
        self.challenges = challenges_from_settings(settings, self.ledger)
        self.second_factors = second_factors_from_settings(settings, self.ledger)
        self.accounts = accounts_from_settings(settings)
        # A logout through AccountService records its tokens revoked at once (or fails: logout_revocations.py).
        self.accounts.revocations = self.logout_revocations
        self.components: dict[str, Component] = {
            "tokens": self.tokens,
            "sessions": self.sessions,
            "challenges": self.challenges,
            "second_factors": self.second_factors,
            "accounts": self.accounts,
        }
        if self.ledger is not None:
            self.components["ledger"] = self.ledger
        self.admin = admin_from_settings(settings)
        if self.admin is not None:
            self.components["admin"] = self.admin

    def _revoked(self, revocation_id: str) -> bool:
        return self.sessions.is_known_revoked(revocation_id) or self.logout_revocations.is_revoked(revocation_id)

    def _revocations_version(self) -> int:
        # Both only grow, so their sum changes whenever either store gains a revocation.
        return self.sessions.revocations.changes + self.logout_revocations.version()

    async def start(self) -> None:
        for component in self.components.values():
            await component.start()
        if self.logout_revocations.shared is not None:
            metrics.LOGOUT_REVOCATIONS_SYNC_AGE.set_function(self.logout_revocations.shared.seconds_since_sync)
            self.logout_revocations.shared.start()

    def reload(self, settings: Settings) -> None:
        """Hand new settings to every component (live reload; restart-only fields already reverted)."""
        # The gRPC services hold this Limits object: updating it in place reaches every one of them.
        for f in dataclasses.fields(settings.limits):
            setattr(self.settings.limits, f.name, getattr(settings.limits, f.name))
        settings = dataclasses.replace(settings, limits=self.settings.limits)
        for name, component in self.components.items():
            reload = getattr(component, "reload", None)
            if reload is None:
                logs.get("app").warning(
                    "component cannot reload; its settings need a restart", extra={"component": name}
                )
                continue
            reload(*SECTIONS[name](settings))
        self.settings = settings

    async def close(self) -> None:
        if self.logout_revocations.shared is not None:
            await self.logout_revocations.shared.close()
        await asyncio.gather(*(c.close() for c in self.components.values()), return_exceptions=True)

    def readiness(self) -> tuple[bool, dict[str, str]]:
        states = {name: c.readiness() for name, c in self.components.items()}
        if self.logout_revocations.shared is not None:  # stale: every token answers UPSTREAM_UNAVAILABLE
            states["logout_revocations"] = self.logout_revocations.shared.readiness()
        return all(ok for ok, _ in states.values()), {name: detail for name, (_, detail) in states.items()}

    async def upstream_health(self) -> list[UpstreamHealth]:
        results = await asyncio.gather(*(c.health() for c in self.components.values()))
        return [h for group in results for h in group]


# The settings sections each component's reload takes (the assembly hands out sections, never the tree).
SECTIONS: dict[str, Callable[[Settings], tuple]] = {
    "tokens": lambda s: (s.issuers, s.jwks),
    "sessions": lambda s: (s.platform, s.circuit),
    "challenges": lambda s: (s.challenges, s.circuit),
    "second_factors": lambda s: (factor_settings(s), s.circuit),
    "accounts": lambda s: (s.identity, s.circuit),
    "ledger": lambda s: (s.circuit,),
    "admin": lambda s: (s.circuit,),
}


# Each core component joined to its adapter here: core owns its records and the small interface it
# needs, the adapter imports core, and only this module knows both (arrows point down).


def sessions_from_settings(settings: Settings, ledger=None):
    """Sessions and approvals on the RAuth platform, with its event stream when `platform.sse.enabled`."""
    p = settings.platform
    if not p.base_url:  # no RAuth (validation allows it only wholly unset): its RPCs fail closed
        verifier = SessionVerifier(
            UnconfiguredPlatform(),
            max_entries=p.session_cache_max_entries,
            consumed_max_entries=p.consumed_tokens_max_entries,
            sse_enabled=False,
            ledger=ledger,
        )
        verifier.circuit.configure(settings.circuit)
        return verifier
    client = RauthClient(p.base_url, p.api_key, p.app_id, p.timeout_seconds, max_response_bytes=p.max_response_bytes)
    verifier = SessionVerifier(
        client,
        session_ttl=p.session_cache_ttl_seconds,
        negative_ttl=p.negative_cache_ttl_seconds,
        max_entries=p.session_cache_max_entries,
        consumed_max_entries=p.consumed_tokens_max_entries,
        sse_enabled=p.sse.enabled,
        unknown_rate=p.unknown_lookups_per_second,
        unknown_burst=p.unknown_lookups_burst,
        ledger=ledger,
    )
    verifier.circuit.configure(settings.circuit)
    if p.sse.enabled:
        verifier.stream = EventStream(client, p.sse, verifier.revocations)
    return verifier


def logout_revocations_from_settings(settings: Settings, ledger=None):
    """What logouts revoked, until the tokens expire; shared through the ledger's Redis when there is one."""
    store = LogoutRevocations(settings.identity.logout_revocations_max_entries or 100_000)
    if ledger is not None:
        SharedRevocations(ledger.store, settings.ledger.key_prefix, store)
    return store


def tokens_from_settings(settings: Settings, revoked=None, revocations_version=None):
    """JWT verification against each configured issuer's JWKS (one HTTP client shared by the fetchers)."""
    client = httpx.AsyncClient(
        timeout=settings.jwks.timeout_seconds, follow_redirects=False, verify=transport.tls_context()
    )
    fetchers: dict[str, Fetch] = {i.issuer: JwksFetcher(i, settings.jwks, client) for i in settings.issuers}
    return TokenVerifier(
        settings.issuers,
        fetchers,
        settings.jwks,
        revoked=revoked,
        revocations_version=revocations_version,
        closers=[client.aclose],
        make_fetch=lambda issuer: JwksFetcher(issuer, settings.jwks, client),
    )


def challenges_from_settings(settings: Settings, ledger=None):
    """Authsignal step-up challenges (the RPCs answer "not configured" without a secret key)."""
    ch = settings.challenges
    verifier = ChallengeVerifier(
        AuthsignalClient(ch),
        consumed_ttl_seconds=ch.consumed_tokens_ttl_seconds,
        consumed_max_entries=ch.consumed_tokens_max_entries,
        disabled="" if ch.secret_key else "challenges.secret_key is not set",
        ledger=ledger,
    )
    verifier.circuit.configure(settings.circuit)
    return verifier


def second_factors_from_settings(settings: Settings, ledger=None):
    """The second-factor core joined to its Authy adapter here, so neither imports the other's module
    the wrong way (core owns the records and the AuthyUpstream interface; the adapter imports core)."""
    if settings.second_factors.provider == "verify":
        return verify_second_factors(settings, ledger)
    a = settings.authy
    if not a.base_url:
        return SecondFactors(UnconfiguredUpstream("authy"), configured=False)
    authy = AuthyClient(a.base_url, a.api_key, a.timeout_seconds, max_response_bytes=a.max_response_bytes)
    factors = SecondFactors(
        authy, a, api_key=a.api_key, callback_window_seconds=a.callback_nonce_window_seconds, ledger=ledger
    )
    factors.circuit.configure(settings.circuit)
    return factors


def factor_settings(settings: Settings) -> AuthySettings:
    """The second-factor component's pacing and replay window: `authy:`'s, or `verify:`'s with provider
    verify (the used-code ledger's size stays `authy.consumed_codes_max_entries`, sized by the memory plan)."""
    if settings.second_factors.provider != "verify":
        return settings.authy
    v = settings.verify
    return dataclasses.replace(
        settings.authy,
        code_replay_window_seconds=v.code_replay_window_seconds,
        approval_poll_interval_seconds=v.approval_poll_interval_seconds,
        approval_watch_max_seconds=v.approval_watch_max_seconds,
    )


def verify_second_factors(settings: Settings, ledger=None):
    """The second-factor core on Twilio Verify v2 (second_factors.provider: verify)."""
    client = TwilioVerifyClient(settings.verify)
    factors = SecondFactors(
        client,
        factor_settings(settings),
        ledger=ledger,
        breaker="verify",
        totp_factors=client,
        twilio_auth_token=settings.verify.auth_token,
    )
    factors.circuit.configure(settings.circuit)
    return factors


def accounts_from_settings(settings: Settings):
    """Account flows over the identity adapter `identity.api` names (the RPCs are off without identity.base_url)."""
    upstream = identity_adapter(settings)
    if upstream is None:
        return AccountFlows(UnconfiguredUpstream("identity"), configured=False)
    flows = AccountFlows(upstream, session_map_max_entries=settings.identity.session_map_max_entries)
    flows.circuit.configure(settings.circuit)
    return flows


def _shared_ledger(settings: Settings):
    """The fleet's one-time ledger when `ledger.backend` is redis; None keeps claims in this process."""
    if settings.ledger.backend != "redis":
        return None
    # Lazily: redis (and the OpenTelemetry SDK it imports) costs ~13 MB RSS, paid only with a redis ledger.
    from sidecar.core.onetime.ledger import SharedLedger  # noqa: PLC0415
    from sidecar.upstream.redis_ledger import RedisLedgerStore  # noqa: PLC0415

    led = settings.ledger
    ledger = SharedLedger(RedisLedgerStore(led.url, led.password, led.timeout_seconds), led.key_prefix)
    ledger.circuit.configure(settings.circuit)
    return ledger


def admin_from_settings(settings: Settings):
    """InAI's platform administration, only with identity.admin_api on (and InAI configured); else None."""
    i = settings.identity
    if not i.admin_api or i.api != "inai" or not i.base_url:
        return None
    admin = PlatformAdmin(InaiPlatformClient(i.base_url, i.timeout_seconds, max_response_bytes=i.max_response_bytes))
    admin.circuit.configure(settings.circuit)
    return admin
