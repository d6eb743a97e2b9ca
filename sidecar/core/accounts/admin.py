"""InAI's platform administration (AdminService): pass-through, no decisions and nothing cached.

The administrator's platform access token travels with each call and is forwarded as it came: it is
never stored, logged or used as a cache key here, so a stolen token is worth nothing to this process
after the call. The component exists only when `identity.admin_api` is on (runtime/assembly.py).
"""

from __future__ import annotations

from typing import Protocol

from sidecar.config.settings import CircuitSettings
from sidecar.core.accounts.records import LoginResult, Tokens
from sidecar.core.shared.lifecycle import UpstreamComponent

# The management calls, by their SDK names, with the arguments each takes (AdminRequest fields);
# `?` marks an optional one. The adapter (upstream/inai_platform.py) owns their wire shapes.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "platformLogout": (),
    "platformGetMe": (),
    "listApplications": (),
    "createApplication": ("name", "slug"),
    "getApplication": ("app_id",),
    "updateApplication": ("app_id", "name"),
    "getApplicationStats": ("app_id",),
    "listAppUsers": ("app_id", "environment_id?", "page?", "limit?"),
    "createAppUser": ("app_id", "email", "password", "environment_id", "first_name?", "last_name?"),
    "listAppApiKeys": ("app_id", "environment_id?"),
    "createAppApiKey": ("app_id", "name", "environment_id"),
    "revokeAppApiKey": ("app_id", "key_id"),
    "rotateAppKeys": ("app_id", "environment_id"),
}


class PlatformAdminApi(Protocol):
    """The platform API's wire, as the admin component calls it."""

    async def login(self, email: str, password: str) -> LoginResult: ...
    async def mfa_challenge(self, mfa_token: str, code: str) -> Tokens: ...
    async def refresh(self, refresh_token: str) -> Tokens: ...
    async def ask(self, operation: str, access_token: str, args: dict[str, str | int]) -> dict: ...
    async def aclose(self) -> None: ...


class PlatformAdmin(UpstreamComponent):
    """Every call through the identity circuit breaker; answers as the platform gave them."""

    def __init__(self, upstream: PlatformAdminApi) -> None:
        super().__init__(upstream, "identity")

    def reload(self, circuit: CircuitSettings) -> None:
        self.circuit.configure(circuit)

    async def login(self, email: str, password: str) -> LoginResult:
        return await self._call(self.upstream.login(email, password))

    async def mfa_challenge(self, mfa_token: str, code: str) -> Tokens:
        return await self._call(self.upstream.mfa_challenge(mfa_token, code))

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._call(self.upstream.refresh(refresh_token))

    async def ask(self, operation: str, access_token: str, args: dict[str, str | int]) -> dict:
        return await self._call(self.upstream.ask(operation, access_token, args))

    async def health(self) -> list:
        return []  # the same platform as AccountService's, whose probe already reports it
