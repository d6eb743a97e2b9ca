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


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True, slots=True)
class Registered:
    tokens: Tokens
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class TwoFactorToggled:
    confirmation_required: bool = False
    code: str = ""  # the service's twoFACode, when it hands one back (seed 004)
    message: str = ""


# Which `identity.api` flavour serves each app-user flow (the other answers UNIMPLEMENTED).
FLOW_FLAVOUR = {
    "register": "inai",
    "set_active_organization": "inai",
    "forgot_password": "inai",
    "reset_password": "inai",
    "verify_email": "inai",
    "toggle_two_factor": "identity-service",
    "confirm_enable_two_factor": "identity-service",
    "request_email_change": "identity-service",
    "confirm_email_change": "identity-service",
}


class IdentityApi(Protocol):
    """One identity service's wire, as the account core calls it. An adapter names its flavour in a
    class attribute `flavour` (its identity.api name), which FLOW_FLAVOUR is matched against."""

    async def login(self, email: str, password: str) -> LoginResult: ...
    async def complete_mfa(self, mfa_token: str, code: str) -> Tokens: ...
    async def refresh(self, refresh_token: str) -> Tokens: ...
    async def logout(self, refresh_token: str) -> None: ...
    async def me(self, access_token: str) -> Me: ...
    async def list_sessions(self, access_token: str) -> list[AccountSession]: ...
    async def logout_session(self, access_token: str, session_id: str) -> None: ...
    async def health(self) -> UpstreamHealth: ...
    async def aclose(self) -> None: ...
    # The app-user flows: each wire serves its own and raises Unsupported for the other's.
    async def register(self, registration: Registration) -> Registered: ...
    async def set_active_organization(self, access_token: str, organization_id: str) -> Tokens: ...
    async def forgot_password(self, email: str) -> str: ...
    async def reset_password(self, token: str, password: str) -> str: ...
    async def verify_email(self, token: str) -> str: ...
    async def toggle_two_factor(self, access_token: str, enable: bool) -> TwoFactorToggled: ...
    async def confirm_enable_two_factor(self, access_token: str, email: str, code: str) -> str: ...
    async def request_email_change(self, access_token: str, new_email: str) -> str: ...
    async def confirm_email_change(self, access_token: str, email: str, token: str) -> str: ...
