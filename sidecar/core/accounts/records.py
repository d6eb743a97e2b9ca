"""What the account core needs from an identity service: its records and one small interface.

The adapters (upstream/inai.py for the InAI Auth API, upstream/identity_service.py for the identity
microservice) import these and speak their own wire; the core never imports an adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sidecar.core.shared.answers import UpstreamHealth


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int = 0
    session_id: str = ""  # neither wire names the session in a token answer; kept for one that does


@dataclass(frozen=True, slots=True)
class LoginResult:
    tokens: Tokens | None = None
    mfa_required: bool = False
    mfa_token: str = ""  # what CompleteMfa sends back (InAI: the service's mfa_token)


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
    device: str = ""  # the user agent
    ip: str = ""
    created_at: int = 0  # Unix seconds
    last_seen_at: int = 0
    current: bool = False


class IdentityApi(Protocol):
    """One identity service's wire, as the account core calls it."""

    async def login(self, email: str, password: str) -> LoginResult: ...
    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens: ...
    async def refresh(self, refresh_token: str) -> Tokens: ...
    async def logout(self, refresh_token: str) -> None: ...
    async def me(self, access_token: str) -> Me: ...
    async def list_sessions(self, access_token: str) -> list[AccountSession]: ...
    async def logout_session(self, access_token: str, session_id: str) -> None: ...
    async def health(self) -> UpstreamHealth: ...
    async def aclose(self) -> None: ...
