"""Validation of a built Settings tree: every problem as 'path: problem', never a value that may be a
secret. The ext_authz section is checked in validation_ext_authz.py."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from sidecar.config import memory_budget

from .emulator import verify_unset
from .memory import _dotted
from .settings import (
    CHALLENGE_REGIONS,
    IDENTITY_APIS,
    SECOND_FACTOR_PROVIDERS,
    IssuerSettings,
    JwksSettings,
    LedgerSettings,
    PlatformSettings,
    Settings,
    VerifySettings,
)
from .validation_ext_authz import _validate_ext_authz

ALGORITHMS = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
LOG_LEVELS = {"debug", "info", "warning", "error"}


def is_local_address(address: str) -> bool:
    """True for unix sockets and loopback TCP addresses (127.0.0.0/8, ::1, localhost)."""
    if address.startswith("unix:"):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname may resolve anywhere


def _validate(s: Settings) -> list[str]:
    """Every problem in `s`; the order is part of the message ConfigError shows, so keep it."""
    p: list[str] = _validate_ext_authz(s.ext_authz)
    p.extend(_validate_listeners(s))
    p.extend(_validate_operations(s))
    p.extend(_validate_limits(s))
    p.extend(_validate_upstreams(s))
    p.extend(_validate_platform(s.platform))
    p.extend(_validate_factors(s))
    p.extend(_validate_verify(s.second_factors.provider, s.verify, s.uses_emulator))
    for section in ("platform", "challenges", "authy", "identity", "verify"):
        if getattr(s, section).max_response_bytes < 1:
            p.append(f"{section}.max_response_bytes: must be at least 1")
    p.extend(_validate_ledger(s.ledger))
    p.extend(_validate_jwks(s.jwks))
    p.extend(_validate_issuers(s.issuers))
    return p


def _validate_listeners(s: Settings) -> list[str]:
    """listen, tls, socket_mode, ops_listen, log_level."""
    p: list[str] = []
    if not s.listen:
        p.append("listen: needs at least one address")
    for i, addr in enumerate(s.listen):
        if not (addr.startswith("unix://") or ":" in addr):
            p.append(f"listen[{i}]: must be host:port or unix:///path")
        elif not is_local_address(addr) and not s.tls.cert_file and not s.insecure_listen:
            p.append(f"listen[{i}]: {addr} is not loopback; set tls.cert_file/tls.key_file or insecure_listen: true")
    if bool(s.tls.cert_file) != bool(s.tls.key_file):
        p.append("tls.key_file: tls.cert_file and tls.key_file go together")
    if s.tls.client_ca_file and not s.tls.cert_file:
        p.append("tls.cert_file: is required when tls.client_ca_file is set")
    for name in ("cert_file", "key_file", "client_ca_file"):
        path = getattr(s.tls, name)
        if path and not Path(path).is_file():
            p.append(f"tls.{name}: no such file")
    if not re.fullmatch(r"(0o)?[0-7]{3,4}", s.socket_mode) or int(s.socket_mode, 8) > 0o777:
        p.append('socket_mode: must be octal permissions as a quoted string, like "0660"')
    if ":" not in s.ops_listen:
        p.append("ops_listen: must be host:port")
    if s.log_level not in LOG_LEVELS:
        p.append(f"log_level: must be one of {sorted(LOG_LEVELS)}")
    return p


def _validate_limits(s: Settings) -> list[str]:
    """shutdown_grace_seconds, limits, the caches' sizes, circuit, emulator.mode."""
    p: list[str] = []
    if s.shutdown_grace_seconds < 0:
        p.append("shutdown_grace_seconds: must not be negative")
    for name in (
        "max_token_bytes",
        "max_field_chars",
        "max_in_flight",
        "max_streams",
        "verify_streams_max",
        "verify_stream_items_in_flight",
        "verify_stream_items_max",
    ):
        if getattr(s.limits, name) < 1:
            p.append(f"limits.{name}: must be at least 1")
    if s.limits.verify_stream_item_timeout_seconds < 0:
        p.append("limits.verify_stream_item_timeout_seconds: must not be negative (0: no limit)")
    if s.limits.stream_write_stall_seconds <= 0:
        p.append("limits.stream_write_stall_seconds: must be positive")
    if s.limits.memory_budget_mb < 0:
        p.append("limits.memory_budget_mb: must not be negative (0: from the container's limit)")
    for cost in memory_budget.CACHES:
        if _dotted(s, cost.field) < 0:
            p.append(f"{cost.field}: must not be negative (0: sized from the memory budget)")
    if s.circuit.failure_threshold < 1:
        p.append("circuit.failure_threshold: must be at least 1")
    if s.circuit.open_seconds <= 0:
        p.append("circuit.open_seconds: must be positive")
    if s.emulator.mode not in {"auto", "on", "off"}:
        p.append("emulator.mode: must be auto, on or off")
    # Its control API mints tokens and forges sessions: reachable from the pod IP, it is a way in.
    if s.emulator.listen.startswith("unix:") or ":" not in s.emulator.listen or not is_local_address(s.emulator.listen):
        p.append("emulator.listen: must be a loopback host:port (127.0.0.1, ::1 or localhost)")
    return p


def _validate_upstreams(s: Settings) -> list[str]:
    """The platform's required fields (unless the emulator stands in) and the challenge platform."""
    p: list[str] = []
    # Wholly unset with mode auto/on: the RAuth calls are off (fail closed) or the emulator's; set in
    # part, it is a real platform and needs all three (the emulator never stands in for it).
    platform_unset = not (s.platform.base_url or s.platform.api_key or s.platform.app_id)
    if not (platform_unset and s.emulator.mode in {"auto", "on"}):
        if not s.platform.base_url:
            p.append("platform.base_url: is required")
        if not s.platform.api_key:
            p.append("platform.api_key: is required")
        if not s.platform.app_id:
            p.append("platform.app_id: is required")
    if s.challenges.region not in CHALLENGE_REGIONS and not s.challenges.base_url:
        p.append(f"challenges.region: must be one of {sorted(CHALLENGE_REGIONS)} (or set challenges.base_url)")
    for name in ("timeout_seconds",):
        if getattr(s.platform, name) <= 0:
            p.append(f"platform.{name}: must be positive")
        if getattr(s.challenges, name) <= 0:
            p.append(f"challenges.{name}: must be positive")
    if s.challenges.consumed_tokens_ttl_seconds <= 0:
        p.append("challenges.consumed_tokens_ttl_seconds: must be positive")
    if s.challenges.base_url and not s.challenges.base_url.startswith(("http://", "https://")):
        p.append("challenges.base_url: must start with http:// or https://")
    return p


def _validate_jwks(j: JwksSettings) -> list[str]:
    p: list[str] = []
    if j.min_ttl_seconds > j.max_ttl_seconds:
        p.append("jwks.min_ttl_seconds: must not exceed jwks.max_ttl_seconds")
    for name in ("ttl_seconds", "min_ttl_seconds", "max_stale_seconds", "timeout_seconds"):
        if getattr(j, name) <= 0:
            p.append(f"jwks.{name}: must be positive")
    if j.unknown_kid_cooldown_seconds < 0:
        p.append("jwks.unknown_kid_cooldown_seconds: must not be negative")
    if j.max_document_bytes < 1:
        p.append("jwks.max_document_bytes: must be at least 1")
    return p


def _validate_issuers(issuers: list[IssuerSettings]) -> list[str]:
    p: list[str] = []
    seen: dict[str, int] = {}
    for i, iss in enumerate(issuers):
        where = f"issuers[{i}]"
        if not iss.issuer:
            p.append(f"{where}.issuer: is required")
        elif iss.issuer in seen:
            p.append(f"{where}.issuer: the same issuer as issuers[{seen[iss.issuer]}]")
        seen.setdefault(iss.issuer, i)
        if not iss.algorithms:
            p.append(f"{where}.algorithms: needs at least one algorithm")
        for j, alg in enumerate(iss.algorithms):
            if alg not in ALGORITHMS:
                p.append(f"{where}.algorithms[{j}]: is not allowed (choose from {sorted(ALGORITHMS)})")
        if iss.leeway_seconds < 0:
            p.append(f"{where}.leeway_seconds: must not be negative")
        if iss.max_lifetime_seconds < 0:
            p.append(f"{where}.max_lifetime_seconds: must not be negative (0: no limit)")
        if iss.jwks_uri and not iss.jwks_uri.startswith(("https://", "http://")):
            p.append(f"{where}.jwks_uri: must be an http(s) URL")
    missing_iss = [i for i, iss in enumerate(issuers) if iss.accept_missing_iss]
    for i in missing_iss[1:]:
        p.append(
            f"issuers[{i}].accept_missing_iss: only one issuer may accept tokens without iss "
            f"(issuers[{missing_iss[0]}] does)"
        )
    return p


def _validate_operations(s: Settings) -> list[str]:
    p: list[str] = []
    d = s.decision_log
    if not 0 <= d.sample_ratio <= 1:
        p.append("decision_log.sample_ratio: must be between 0 and 1")
    if d.max_per_second <= 0:
        p.append("decision_log.max_per_second: must be positive")
    if d.enabled and d.path and not Path(d.path).parent.is_dir():
        p.append("decision_log.path: its directory does not exist")
    if s.config_poll_seconds != 0 and not 0.1 <= s.config_poll_seconds <= 300:
        p.append("config_poll_seconds: must be 0 (off) or between 0.1 and 300")
    return p


def _validate_factors(s: Settings) -> list[str]:
    p: list[str] = []
    if s.authy.base_url and not s.authy.api_key:
        p.append("authy.api_key: is required when authy.base_url is set")
    for name in (
        "timeout_seconds",
        "code_replay_window_seconds",
        "callback_nonce_window_seconds",
        "approval_watch_max_seconds",
    ):
        if getattr(s.authy, name) <= 0:
            p.append(f"authy.{name}: must be positive")
    # A floor on the poll interval protects the vendor (and our rate limit) from a typo.
    if s.authy.approval_poll_interval_seconds < 0.05:
        p.append("authy.approval_poll_interval_seconds: must be at least 0.05")
    if s.identity.api not in IDENTITY_APIS:
        p.append(f"identity.api: must be one of {', '.join(IDENTITY_APIS)}")
    if s.identity.timeout_seconds <= 0:
        p.append("identity.timeout_seconds: must be positive")
    if s.identity.admin_api and s.identity.api != "inai":
        p.append("identity.admin_api: InAI's platform administration needs identity.api inai")
    return p


_SID = {"account_sid": "AC", "api_key_sid": "SK", "service_sid": "VA"}


def _validate_verify(provider: str, v: VerifySettings, emulated: bool) -> list[str]:
    """second_factors.provider and, when it is verify, the verify section (names fields, never values)."""
    if provider not in SECOND_FACTOR_PROVIDERS:
        return [f"second_factors.provider: must be one of {', '.join(SECOND_FACTOR_PROVIDERS)}"]
    if provider != "verify" or (emulated and verify_unset(v)):  # emulated: the emulator's (pointed_at_emulator)
        return []
    p: list[str] = []
    if not v.base_url.startswith(("http://", "https://")):
        p.append("verify.base_url: must start with http:// or https://")
    for name in ("account_sid", "service_sid"):
        if not getattr(v, name):
            p.append(f"verify.{name}: is required when second_factors.provider is verify")
    for name, prefix in _SID.items():
        value = getattr(v, name)
        if value and not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
            p.append(f"verify.{name}: must be {prefix} followed by 32 hex digits")
    if bool(v.api_key_sid) != bool(v.api_key_secret):
        p.append("verify.api_key_secret: verify.api_key_sid and verify.api_key_secret go together")
    if not v.auth_token and not v.api_key_sid:
        p.append("verify.auth_token: is required (or verify.api_key_sid + verify.api_key_secret)")
    for name in (
        "timeout_seconds",
        "code_replay_window_seconds",
        "approval_watch_max_seconds",
        "max_retry_after_seconds",
    ):
        if getattr(v, name) <= 0:
            p.append(f"verify.{name}: must be positive")
    if v.approval_poll_interval_seconds < 0.05:
        p.append("verify.approval_poll_interval_seconds: must be at least 0.05")
    return p


LEDGER_BACKENDS = {"memory", "redis"}
_KEY_PREFIX = re.compile(r"[A-Za-z0-9:_./-]{0,64}")


def _validate_ledger(led: LedgerSettings) -> list[str]:
    p: list[str] = []
    if led.backend not in LEDGER_BACKENDS:
        p.append(f"ledger.backend: must be one of {sorted(LEDGER_BACKENDS)}")
    if led.backend == "redis" and not led.url:
        p.append("ledger.url: is required when ledger.backend is redis")
    if led.url and not led.url.startswith(("redis://", "rediss://", "unix://")):
        # Never echo the URL: it may carry the password.
        p.append("ledger.url: must start with redis://, rediss:// (TLS) or unix://")
    elif led.url:
        problem = _redis_url_problem(led.url)
        if problem:
            p.append(f"ledger.url: {problem}")
    if not _KEY_PREFIX.fullmatch(led.key_prefix):
        p.append("ledger.key_prefix: must be at most 64 of [A-Za-z0-9:_./-]")
    if led.timeout_seconds <= 0:
        p.append("ledger.timeout_seconds: must be positive")
    return p


def _redis_url_problem(url: str) -> str:
    """Why redis-py would refuse (or silently misread) this URL, "" if nothing; never echoes it."""
    # Lazily: redis (and the OpenTelemetry SDK it imports) costs ~13 MB RSS, paid only with a redis ledger.
    from redis.asyncio.connection import parse_url  # noqa: PLC0415

    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises on a port out of range
        parse_url(url)
    except ValueError as exc:
        leaks = bool(parts.password and parts.password in str(exc))
        return "is not a valid Redis URL" + ("" if leaks else f" ({exc})")
    if parts.scheme == "unix":
        return "" if parts.path else "needs the socket's path"
    if not parts.hostname:
        return "needs a host"
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return "the database (the URL's path) must be a number"  # redis-py would quietly use 0
    return ""


def _validate_platform(pl: PlatformSettings) -> list[str]:
    p: list[str] = []
    if pl.session_cache_ttl_seconds <= 0:
        p.append("platform.session_cache_ttl_seconds: must be positive")
    if pl.negative_cache_ttl_seconds < 0:
        p.append("platform.negative_cache_ttl_seconds: must not be negative")
    if pl.unknown_lookups_per_second <= 0:
        p.append("platform.unknown_lookups_per_second: must be positive")
    if pl.unknown_lookups_burst < 1:
        p.append("platform.unknown_lookups_burst: must be at least 1")
    if pl.sse.heartbeat_timeout_seconds <= 0:
        p.append("platform.sse.heartbeat_timeout_seconds: must be positive")
    if pl.sse.reconnect_min_seconds <= 0:
        p.append("platform.sse.reconnect_min_seconds: must be positive")
    if pl.sse.reconnect_min_seconds > pl.sse.reconnect_max_seconds:
        p.append("platform.sse.reconnect_min_seconds: must not exceed platform.sse.reconnect_max_seconds")
    for name in ("max_line_bytes", "max_event_bytes"):
        if getattr(pl.sse, name) < 1:
            p.append(f"platform.sse.{name}: must be at least 1")
    if not pl.sse.path.startswith("/"):
        p.append("platform.sse.path: must start with /")
    return p
