"""Settings: one typed tree, loaded from one YAML file plus `AUTHSIDECAR_...` environment overrides.

`load()` returns Settings or raises ConfigError naming every bad field at once.

Environment overrides name a leaf by its path in upper case joined by `_`, e.g.
`AUTHSIDECAR_PLATFORM_API_KEY`, `AUTHSIDECAR_LIMITS_MAX_IN_FLIGHT`. A `_FILE` suffix reads the value
from a file (Kubernetes Secrets mounted as files): `AUTHSIDECAR_PLATFORM_API_KEY_FILE=/secrets/key`.
Lists from the environment are comma-separated. Issuers are configured in the file only.

The package's modules: settings (the dataclasses and their defaults), loading (file + environment →
Settings), validation and validation_ext_authz (every problem, by field path), memory (cache sizes
from the memory budget), emulator (the embedded emulator's credentials, `pointed_at_emulator`),
errors (ConfigError). Import from `sidecar.config`; the names below are its public surface.
"""

from __future__ import annotations

from .emulator import (
    EMULATOR_API_KEY,
    EMULATOR_APP_ID,
    EMULATOR_AUTHY_API_KEY,
    EMULATOR_IDENTITY_PATHS,
    EMULATOR_INAI_PUBLISHABLE_KEY,
    EMULATOR_ISSUERS,
    EMULATOR_SECRET_KEY,
    pointed_at_emulator,
)
from .errors import ConfigError
from .loading import ENV_PREFIX, load
from .memory import memory_plan, with_cache_sizes
from .settings import (
    CHALLENGE_REGIONS,
    EXT_AUTHZ_CHECKS,
    IDENTITY_APIS,
    AuthySettings,
    ChallengeSettings,
    CircuitSettings,
    ClaimHeader,
    DecisionLogSettings,
    EmulatorSettings,
    ExtAuthzPolicySet,
    ExtAuthzRule,
    ExtAuthzSettings,
    IdentitySettings,
    IssuerSettings,
    JwksSettings,
    LedgerSettings,
    Limits,
    PlatformSettings,
    Settings,
    SseSettings,
    TlsSettings,
)
from .validation import ALGORITHMS, LEDGER_BACKENDS, LOG_LEVELS, is_local_address
from .validation_ext_authz import EXT_AUTHZ_TERMINAL, HTTP_METHODS

__all__ = [
    "ALGORITHMS",
    "CHALLENGE_REGIONS",
    "EMULATOR_API_KEY",
    "EMULATOR_APP_ID",
    "EMULATOR_AUTHY_API_KEY",
    "EMULATOR_IDENTITY_PATHS",
    "EMULATOR_INAI_PUBLISHABLE_KEY",
    "EMULATOR_ISSUERS",
    "EMULATOR_SECRET_KEY",
    "ENV_PREFIX",
    "EXT_AUTHZ_CHECKS",
    "EXT_AUTHZ_TERMINAL",
    "HTTP_METHODS",
    "IDENTITY_APIS",
    "LEDGER_BACKENDS",
    "LOG_LEVELS",
    "AuthySettings",
    "ChallengeSettings",
    "CircuitSettings",
    "ClaimHeader",
    "ConfigError",
    "DecisionLogSettings",
    "EmulatorSettings",
    "ExtAuthzPolicySet",
    "ExtAuthzRule",
    "ExtAuthzSettings",
    "IdentitySettings",
    "IssuerSettings",
    "JwksSettings",
    "LedgerSettings",
    "Limits",
    "PlatformSettings",
    "Settings",
    "SseSettings",
    "TlsSettings",
    "is_local_address",
    "load",
    "memory_plan",
    "pointed_at_emulator",
    "with_cache_sizes",
]
