"""The embedded emulator's fixed credentials and issuers, and `pointed_at_emulator`: the settings with
every upstream left unset pointed at an emulator."""

from __future__ import annotations

import dataclasses

from ..emulator import credentials as emulator_credentials
from .settings import IssuerSettings, Settings, VerifySettings

# The embedded emulator's fixed credentials and issuers: what `make run` and the tests use.
EMULATOR_API_KEY = emulator_credentials.API_KEY
EMULATOR_APP_ID = emulator_credentials.APP_ID
EMULATOR_SECRET_KEY = emulator_credentials.SECRET_KEY
EMULATOR_AUTHY_API_KEY = emulator_credentials.AUTHY_API_KEY
EMULATOR_ISSUERS = emulator_credentials.ISSUERS
EMULATOR_INAI_PUBLISHABLE_KEY = emulator_credentials.INAI_PUBLISHABLE_KEY
EMULATOR_IDENTITY_PATHS = {"inai": "/inai", "identity-service": "/identity/api"}
EMULATOR_TWILIO_ACCOUNT_SID = emulator_credentials.TWILIO_ACCOUNT_SID
EMULATOR_TWILIO_AUTH_TOKEN = emulator_credentials.TWILIO_AUTH_TOKEN
EMULATOR_TWILIO_VERIFY_SERVICE_SID = emulator_credentials.TWILIO_VERIFY_SERVICE_SID
# Verify's base_url has a default (Twilio's own host): left at it with no credentials, it counts as unset.
VERIFY_DEFAULT_BASE_URL = VerifySettings.base_url


def verify_unset(v: VerifySettings) -> bool:
    """No credential, no service and Twilio's own URL: the emulator may stand in (emulator.mode: on)."""
    secrets = (v.account_sid, v.auth_token, v.api_key_sid, v.api_key_secret, v.service_sid)
    return not any(secrets) and v.base_url in ("", VERIFY_DEFAULT_BASE_URL)


def pointed_at_emulator(s: Settings, base_url: str) -> Settings:
    """A copy of `s` whose upstreams left wholly unset (no URL, no key or secret) are the emulator at
    base_url. An upstream with either set is left alone: redirecting it would hand its real credential
    to the emulator (whose request log anyone on loopback reads) or answer for a real platform."""
    base = base_url.rstrip("/")
    platform, challenges, authy, identity = s.platform, s.challenges, s.authy, s.identity
    if not (platform.base_url or platform.api_key or platform.app_id):
        platform = dataclasses.replace(
            platform, base_url=f"{base}/v2", api_key=EMULATOR_API_KEY, app_id=EMULATOR_APP_ID
        )
    if not (challenges.base_url or challenges.secret_key):
        challenges = dataclasses.replace(challenges, base_url=f"{base}/v1", secret_key=EMULATOR_SECRET_KEY)
    if not (authy.base_url or authy.api_key):
        authy = dataclasses.replace(authy, base_url=f"{base}/authy", api_key=EMULATOR_AUTHY_API_KEY)
    if not (identity.base_url or identity.api_key):
        identity = dataclasses.replace(
            identity,
            base_url=f"{base}{EMULATOR_IDENTITY_PATHS.get(identity.api, '')}",
            api_key=EMULATOR_INAI_PUBLISHABLE_KEY if identity.api == "inai" else "",
        )
    verify = s.verify
    if verify_unset(verify):
        verify = dataclasses.replace(
            verify,
            base_url=f"{base}/twilio-verify",
            account_sid=EMULATOR_TWILIO_ACCOUNT_SID,
            auth_token=EMULATOR_TWILIO_AUTH_TOKEN,
            service_sid=EMULATOR_TWILIO_VERIFY_SERVICE_SID,
        )
    issuers = s.issuers or [
        IssuerSettings(issuer=f"{base}/issuers/{name}", algorithms=list(algs), audiences=["authsidecar-demo"])
        for name, algs in EMULATOR_ISSUERS.items()
    ]
    return dataclasses.replace(
        s, platform=platform, challenges=challenges, authy=authy, identity=identity, verify=verify, issuers=issuers
    )
