"""The embedded emulator's fixed credentials and issuers, and `pointed_at_emulator`: the settings with
every upstream left unset pointed at an emulator."""

from __future__ import annotations

import dataclasses

from ..emulator import credentials as emulator_credentials
from .settings import IssuerSettings, Settings

# The embedded emulator's fixed credentials and issuers: what `make run` and the tests use.
EMULATOR_API_KEY = emulator_credentials.API_KEY
EMULATOR_APP_ID = emulator_credentials.APP_ID
EMULATOR_SECRET_KEY = emulator_credentials.SECRET_KEY
EMULATOR_AUTHY_API_KEY = emulator_credentials.AUTHY_API_KEY
EMULATOR_ISSUERS = emulator_credentials.ISSUERS
EMULATOR_INAI_PUBLISHABLE_KEY = emulator_credentials.INAI_PUBLISHABLE_KEY
EMULATOR_IDENTITY_PATHS = {"inai": "/inai", "identity-service": "/identity/api"}


def pointed_at_emulator(s: Settings, base_url: str) -> Settings:
    """A copy of `s` whose upstreams are the emulator at base_url (for fields left unset)."""
    base = base_url.rstrip("/")
    platform = dataclasses.replace(
        s.platform, base_url=s.platform.base_url or f"{base}/v2",
        api_key=s.platform.api_key or EMULATOR_API_KEY, app_id=s.platform.app_id or EMULATOR_APP_ID)
    challenges = dataclasses.replace(
        s.challenges, base_url=s.challenges.base_url or f"{base}/v1",
        secret_key=s.challenges.secret_key or EMULATOR_SECRET_KEY)
    authy = dataclasses.replace(
        s.authy, base_url=s.authy.base_url or f"{base}/authy",
        api_key=s.authy.api_key or EMULATOR_AUTHY_API_KEY)
    identity = dataclasses.replace(
        s.identity, base_url=s.identity.base_url or f"{base}{EMULATOR_IDENTITY_PATHS.get(s.identity.api, '')}",
        api_key=s.identity.api_key or (EMULATOR_INAI_PUBLISHABLE_KEY if s.identity.api == "inai" else ""))
    issuers = s.issuers or [
        IssuerSettings(issuer=f"{base}/issuers/{name}", algorithms=list(algs), audiences=["authsidecar-demo"])
        for name, algs in EMULATOR_ISSUERS.items()
    ]
    return dataclasses.replace(s, platform=platform, challenges=challenges, authy=authy, identity=identity,
                               issuers=issuers)
