"""The sidecar's components, assembled from Settings: what the gRPC edge and the ops port talk to.

Each component owns its caches and background work (JWKS refresh, the SSE stream) and reports
readiness and upstream health. Nothing here speaks gRPC or HTTP to callers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from .config import Settings
from .core.answers import UpstreamHealth


class Component(Protocol):
    async def start(self) -> None:
        """Begin background work; must not block on the upstream."""

    async def close(self) -> None: ...

    def readiness(self) -> tuple[bool, str]:
        """(ready, short detail) — e.g. first JWKS load done, upstream reachable."""

    async def health(self) -> list[UpstreamHealth]:
        """Ask each upstream this component uses whether it answers."""


class Sidecar:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.components: dict[str, Component] = {}
        # TEMPORARY while the feature branches land one by one: build what exists.
        import importlib

        for name, module, cls in (("tokens", "tokens", "TokenVerifier"), ("sessions", "sessions", "SessionVerifier"),
                                  ("challenges", "challenges", "ChallengeVerifier"),
                                  ("second_factors", "second_factors", "SecondFactors"),
                                  ("accounts", "accounts", "AccountFlows")):
            try:
                mod = importlib.import_module(f"{__package__}.core.{module}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__package__}.core.{module}":
                    raise
                continue
            component = getattr(mod, cls).from_settings(settings)
            setattr(self, name, component)
            self.components[name] = component
        self._wire_logout_revocation()
        self._wire_token_revocation()

    def _wire_token_revocation(self) -> None:
        """VerifyToken answers REVOKED for a sid the sessions' revocation cache knows (stream or logout)."""
        tokens, sessions = self.components.get("tokens"), self.components.get("sessions")
        if tokens is not None and sessions is not None and getattr(tokens, "revoked", None) is None:
            tokens.revoked = sessions.is_known_revoked

    def _wire_logout_revocation(self) -> None:
        """A logout through AccountService marks its session revoked in the sessions' revocation cache."""
        accounts, sessions = self.components.get("accounts"), self.components.get("sessions")
        revocations = getattr(sessions, "revocations", None)
        if accounts is None or revocations is None:
            return
        from .core.hashing import token_key
        from .core.outcomes import SessionStatus, Source

        def revoke(session_id: str) -> None:
            revocations.record_terminal(token_key(session_id), SessionStatus.REVOKED, session_id, source=Source.LOCAL)

        accounts.revoke_session_id = revoke

    async def start(self) -> None:
        for component in self.components.values():
            await component.start()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.components.values()), return_exceptions=True)

    def readiness(self) -> tuple[bool, dict[str, str]]:
        states = {name: c.readiness() for name, c in self.components.items()}
        return all(ok for ok, _ in states.values()), {name: detail for name, (_, detail) in states.items()}

    async def upstream_health(self) -> list[UpstreamHealth]:
        results = await asyncio.gather(*(c.health() for c in self.components.values()))
        return [h for group in results for h in group]
