"""What the gRPC edge needs from the running sidecar: the core components and the live settings.

The edge depends on this protocol, not on the assembly (runtime/assembly.py's `Sidecar` satisfies it),
so a handler can be read — and tested — knowing only the core types it calls.
"""

from __future__ import annotations

from typing import Protocol

from sidecar.config.settings import Settings
from sidecar.core.accounts.flows import AccountFlows
from sidecar.core.challenges.verifier import ChallengeVerifier
from sidecar.core.factors.second_factors import SecondFactors
from sidecar.core.sessions.verifier import SessionVerifier
from sidecar.core.shared.answers import UpstreamHealth
from sidecar.core.tokens.verifier import TokenVerifier


class Services(Protocol):
    """The components one sidecar process serves, and its settings (limits are updated in place on reload)."""

    settings: Settings
    tokens: TokenVerifier
    sessions: SessionVerifier
    challenges: ChallengeVerifier
    second_factors: SecondFactors
    accounts: AccountFlows

    async def upstream_health(self) -> list[UpstreamHealth]:
        """Every upstream's answer to a health probe."""
        ...
