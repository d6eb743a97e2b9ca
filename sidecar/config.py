"""Settings: one typed tree, loaded from one YAML file plus `AUTHSIDECAR_...` environment overrides.

`load()` returns Settings or raises ConfigError naming every bad field at once.

Environment overrides name a leaf by its path in upper case joined by `_`, e.g.
`AUTHSIDECAR_PLATFORM_API_KEY`, `AUTHSIDECAR_LIMITS_MAX_IN_FLIGHT`. A `_FILE` suffix reads the value
from a file (Kubernetes Secrets mounted as files): `AUTHSIDECAR_PLATFORM_API_KEY_FILE=/secrets/key`.
Lists from the environment are comma-separated. Issuers are configured in the file only.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import cgroup
from .core import memory_budget
from .emulator import credentials as emulator_credentials

ENV_PREFIX = "AUTHSIDECAR_"


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every bad field as 'path: problem'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        missing = [p.split(":", 1)[0] for p in problems if p.endswith(": is required")]
        other = [p for p in problems if not p.endswith(": is required")]
        lines = []
        if missing:
            lines.append("Missing required fields: " + ", ".join(missing))
        lines.extend(other)
        super().__init__("; ".join(lines))


@dataclass
class Limits:
    max_token_bytes: int = 8192          # VerifyToken.token and other JWTs
    max_field_chars: int = 512           # session tokens, ids, actions, user ids
    max_in_flight: int = 1000            # unary calls; past it: RESOURCE_EXHAUSTED at once
    max_streams: int = 256               # open server streams (WatchApprovalRequest), a budget of their own
    memory_budget_mb: int = 0            # 0: 75% of the container's memory limit (cgroup), else 512
    # AuthService.VerifyStream: open streams (past it the new stream gets RESOURCE_EXHAUSTED), items read
    # but not yet answered per stream (past it that stream is not read: back-pressure, not refusal), and
    # a per-item time limit (0: none; a request's own timeout may be shorter). Items count in max_in_flight.
    verify_streams_max: int = 100
    verify_stream_items_in_flight: int = 128
    verify_stream_item_timeout_seconds: float = 0.0


@dataclass
class CircuitSettings:
    """Per-upstream circuit breaker: after this many failures in a row, fail fast for open_seconds."""

    failure_threshold: int = 5
    open_seconds: float = 5.0


@dataclass
class EmulatorSettings:
    # auto: embed the emulator when no upstream is configured (platform.base_url empty).
    mode: str = "auto"                   # auto | on | off
    listen: str = "127.0.0.1:8900"


@dataclass
class SseSettings:
    enabled: bool = True
    path: str = "/backend/events"        # below platform.base_url
    heartbeat_timeout_seconds: float = 30.0
    reconnect_min_seconds: float = 0.2
    reconnect_max_seconds: float = 30.0
    max_line_bytes: int = 65_536         # a longer line (or event) ends the connection as a protocol error
    max_event_bytes: int = 262_144


@dataclass
class PlatformSettings:
    """The session/approval platform (RAuth v2 API shape)."""

    base_url: str = ""                   # e.g. https://api.rauth.io/v2; empty: embedded emulator
    api_key: str = ""
    app_id: str = ""
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    session_cache_ttl_seconds: float = 30.0
    negative_cache_ttl_seconds: float = 2.0
    session_cache_max_entries: int = 0  # 0: sized from the memory budget
    consumed_tokens_max_entries: int = 0  # 0: sized from the memory budget
    # Lookups of tokens no cache knows stop going upstream (fail closed) once NOT_FOUND answers pass
    # this rate (after a burst): a flood of distinct random tokens can't become one request each.
    unknown_lookups_per_second: float = 20.0
    unknown_lookups_burst: int = 100
    sse: SseSettings = field(default_factory=SseSettings)


@dataclass
class ChallengeSettings:
    """The step-up challenge platform (Authsignal Server API shape)."""

    region: str = "us"                   # us | au | eu, or set base_url
    base_url: str = ""                   # overrides region
    secret_key: str = ""
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # Challenge tokens this sidecar accepted, remembered so a replay is ALREADY_USED even if the
    # platform forgot; keep it at least as long as the platform's token lifetime.
    consumed_tokens_ttl_seconds: float = 900.0
    consumed_tokens_max_entries: int = 0  # 0: sized from the memory budget


@dataclass
class AuthySettings:
    """The second-factor platform (Authy API shape: TOTP, OneTouch, phone verification)."""

    base_url: str = ""                   # e.g. https://api.authy.com; empty: disabled (or the emulator)
    api_key: str = ""                    # X-Authy-API-Key; also the key callbacks are signed with
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # A code that succeeded is refused for this long: keep it at least the platform's code lifetime
    # (phone verification codes live 10 minutes; TOTP codes less).
    code_replay_window_seconds: float = 900.0
    callback_nonce_window_seconds: float = 300.0  # callbacks whose nonce is older/newer are refused
    approval_poll_interval_seconds: float = 1.0   # WatchApprovalRequest asks the platform no faster
    approval_watch_max_seconds: float = 600.0     # a watch ends after this even without a deadline
    consumed_codes_max_entries: int = 0  # 0: sized from the memory budget


IDENTITY_APIS = ("inai", "identity-service")


@dataclass
class IdentitySettings:
    """The identity service for account flows (login, MFA, refresh, sessions), in one of two wires."""

    api: str = "inai"                    # inai (InAI Auth API v1) | identity-service (identity microservice)
    base_url: str = ""                   # inai: the apiUrl (https://apiauth.inai.dev); empty: disabled (or the emulator)
    api_key: str = ""                    # inai: the publishable key, sent as X-Publishable-Key
    timeout_seconds: float = 5.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    session_map_max_entries: int = 0  # refresh token → the access tokens issued with it (revoked on Logout); 0: from the budget


@dataclass
class LedgerSettings:
    """Where one-time tokens (approvals, challenge tokens, TOTP/phone codes) are claimed.

    memory: this process only (one pod). redis: every pod claims in one Redis with SET NX, so a
    token is valid once across the fleet; this process's ledger stays in front as a cache.
    """

    backend: str = "memory"              # memory | redis
    url: str = ""                        # redis://[user:password@]host:6379/0 or rediss://… (TLS)
    password: str = ""                   # used when the URL has none: AUTHSIDECAR_LEDGER_PASSWORD(_FILE)
    key_prefix: str = "authsidecar:ledger:"
    timeout_seconds: float = 0.5         # one claim's whole budget (connect included); past it: fail closed


@dataclass
class IssuerSettings:
    issuer: str = ""
    jwks_uri: str = ""                   # empty: OIDC discovery from the issuer URL
    audiences: list[str] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=lambda: ["ES256"])
    leeway_seconds: float = 60.0
    required_claims: list[str] = field(default_factory=lambda: ["exp"])
    max_lifetime_seconds: float = 0.0    # 0: no limit
    # Tokens with no iss claim are verified against this issuer's JWKS (InAI's tokens carry no iss).
    # Weaker than an iss match; at most one issuer may set it.
    accept_missing_iss: bool = False


@dataclass
class JwksSettings:
    ttl_seconds: float = 300.0
    min_ttl_seconds: float = 60.0
    max_ttl_seconds: float = 3600.0
    unknown_kid_cooldown_seconds: float = 30.0
    max_stale_seconds: float = 86400.0
    timeout_seconds: float = 5.0
    max_document_bytes: int = 1_048_576
    verified_cache_max_entries: int = 0  # 0: sized from the memory budget


@dataclass
class TlsSettings:
    """TLS for gRPC listeners on non-loopback addresses (loopback and unix sockets stay local-only)."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""             # set: clients must present a certificate from this CA (mTLS)


@dataclass
class ExtAuthzRule:
    """One ext_authz policy rule: which requests it matches and the checks they must pass."""

    name: str = ""                       # metric label and x-auth-rule header: [a-z0-9_-], unique
    path_prefix: str = ""                # segment-wise: /api matches /api and /api/x, not /apix
    path_regex: str = ""                 # full match against the path (query string removed)
    methods: list[str] = field(default_factory=list)   # empty: any method
    checks: list[str] = field(default_factory=list)    # jwt | session | approval | challenge, or [allow] / [deny]
    issuers: list[str] = field(default_factory=list)   # jwt: accepted issuers (empty: any configured issuer)
    audience: str = ""                   # jwt: required audience (empty: the issuer's audiences)
    required_scopes: list[str] = field(default_factory=list)  # jwt
    action: str = ""                     # approval/challenge: the action the token must be for


@dataclass
class ClaimHeader:
    claim: str = ""
    header: str = ""                     # must start with ext_authz.identity_header_prefix


@dataclass
class ExtAuthzSettings:
    """Envoy/Istio external authorization (envoy.service.auth.v3.Authorization/Check)."""

    enabled: bool = True
    rules: list[ExtAuthzRule] = field(default_factory=list)     # first match wins; no match: deny
    claim_headers: list[ClaimHeader] = field(default_factory=list)
    identity_header_prefix: str = "x-auth-"   # incoming headers with it (`_` read as `-`) are always removed
    case_sensitive_paths: bool = True    # false: paths, prefixes and regexes compare in lower case
    strip_credentials: bool = False      # remove the credential headers a passing check read
    session_token_header: str = "x-session-token"
    phone_header: str = "x-user-phone"
    approval_token_header: str = "x-approval-token"
    challenge_token_header: str = "x-challenge-token"


@dataclass
class DecisionLogSettings:
    """One JSON line per auth decision (OPA-style decision log); never a token, phone or raw subject."""

    enabled: bool = False
    sample_ratio: float = 1.0            # share of decisions written (0..1)
    max_per_second: float = 100.0        # past it lines are dropped and counted
    path: str = ""                       # file appended to; empty: stderr


@dataclass
class Settings:
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1:50051"])
    # A non-loopback TCP listener needs tls.* — or this explicit opt-in, which logs a warning.
    insecure_listen: bool = False
    socket_mode: str = "0660"            # permissions of unix socket files (octal)
    # SO_REUSEPORT on the TCP listeners: several sidecar processes (e.g. two containers of one pod,
    # each with its own ops port) share one gRPC port and the kernel spreads connections across them.
    reuse_port: bool = False
    tls: TlsSettings = field(default_factory=TlsSettings)
    ops_listen: str = "0.0.0.0:9464"     # /metrics, /healthz, /readyz (kubelet probes the pod IP)
    shutdown_grace_seconds: float = 10.0
    log_level: str = "info"
    default_region: str = ""             # ISO 3166 alpha-2 for phones written without +
    limits: Limits = field(default_factory=Limits)
    circuit: CircuitSettings = field(default_factory=CircuitSettings)
    emulator: EmulatorSettings = field(default_factory=EmulatorSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    challenges: ChallengeSettings = field(default_factory=ChallengeSettings)
    jwks: JwksSettings = field(default_factory=JwksSettings)
    authy: AuthySettings = field(default_factory=AuthySettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    issuers: list[IssuerSettings] = field(default_factory=list)
    ext_authz: ExtAuthzSettings = field(default_factory=ExtAuthzSettings)
    decision_log: DecisionLogSettings = field(default_factory=DecisionLogSettings)
    # How often the config file is checked for changes (live reload; SIGHUP reloads at once). 0: never.
    config_poll_seconds: float = 2.0

    @property
    def uses_emulator(self) -> bool:
        if self.emulator.mode == "on":
            return True
        return self.emulator.mode == "auto" and not self.platform.base_url


CHALLENGE_REGIONS = {
    "us": "https://api.authsignal.com/v1",
    "au": "https://au.api.authsignal.com/v1",
    "eu": "https://eu.api.authsignal.com/v1",
}
ALGORITHMS = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
LOG_LEVELS = {"debug", "info", "warning", "error"}


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file (if any), apply environment overrides, validate; raise ConfigError."""
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError([f"config file: cannot read {path} ({exc.strerror})"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"config file: not valid YAML ({exc})"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"config file: {path} is not UTF-8 text"]) from None
        if not isinstance(loaded, dict):
            raise ConfigError(["config file: top level must be a mapping"])
        raw = loaded
    _apply_env(raw, Settings, env, [], problems)
    problems.extend(_typed_as_written(raw))
    settings = _build(Settings, raw, "", problems)
    problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    plan = memory_plan(settings)
    if plan.problems:
        raise ConfigError(list(plan.problems))
    return with_cache_sizes(settings, plan.sizes)


def memory_plan(s: Settings) -> memory_budget.Plan:
    """The memory budget (config, else the container's cgroup limit, else a default) and the entries
    each cache may hold within it; `*_max_entries` set above 0 are taken as they are."""
    limit, where = cgroup.memory_limit()
    budget, source = memory_budget.budget(s.limits.memory_budget_mb, limit, where)
    explicit = {c.field: _dotted(s, c.field) for c in memory_budget.CACHES}
    return memory_budget.plan(budget, source, explicit)


def with_cache_sizes(s: Settings, sizes: Mapping[str, int]) -> Settings:
    """A copy of `s` with each cache's `max_entries` set (sections are frozen only by convention)."""
    s = copy.deepcopy(s)
    for dotted, entries in sizes.items():
        section, name = dotted.split(".")
        setattr(getattr(s, section), name, entries)
    return s


def _dotted(s: Settings, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(s, section), name)


def _apply_env(raw: dict, cls: type, env: Mapping[str, str], path: list[str], problems: list[str]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        names = [*path, f.name]
        if dataclasses.is_dataclass(hint):
            sub = raw.setdefault(f.name, {})
            if isinstance(sub, dict):
                _apply_env(sub, hint, env, names, problems)
            continue
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            continue  # lists of sections (issuers) come from the file only
        var = ENV_PREFIX + "_".join(names).upper()
        if var in env:
            raw[f.name] = env[var]
        elif var + "_FILE" in env:
            try:
                raw[f.name] = Path(env[var + "_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{'.'.join(names)}: cannot read {var}_FILE ({exc.strerror})")
            except UnicodeDecodeError:
                problems.append(f"{'.'.join(names)}: {var}_FILE is not UTF-8 text")


def _typed_as_written(raw: dict) -> list[str]:
    """Values whose YAML type shows they were not written as meant.

    An unquoted `socket_mode: 0660` is the YAML 1.1 octal int 432 (and 660 a decimal): as a string it
    would become mode 0432 or 01224. Only a quoted string of octal digits is taken.
    """
    mode = raw.get("socket_mode")
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):
        return [f'socket_mode: write it quoted, like "0660" (unquoted, YAML reads it as the number {mode!r})']
    return []


def _build(cls: type, raw: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"{where or 'config'}: must be a mapping")
        return cls()
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for extra in sorted(set(raw) - known):
        problems.append(f"{where}{extra}: unknown field")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            value = _convert(hints[f.name], raw[f.name], f"{where}{f.name}", problems)
            if value is not None:  # a bad value keeps its default so validation can go on
                values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        return cls()


def _convert(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where + ".", problems)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str) and not dataclasses.is_dataclass(item):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list")
            return []
        return [_convert(item, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(value).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if hint is int and not isinstance(value, bool):
            return int(value)
        if hint is float and not isinstance(value, bool):
            return float(value)
        if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    except (TypeError, ValueError):
        pass
    problems.append(f"{where}: must be {getattr(hint, '__name__', hint)}, got {value!r:.40}")
    return None


def is_local_address(address: str) -> bool:
    """True for unix sockets and loopback TCP addresses (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

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
    p: list[str] = _validate_ext_authz(s.ext_authz)
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
            p.append(f"tls.{name}: no such file {path}")
    if not re.fullmatch(r"(0o)?[0-7]{3,4}", s.socket_mode) or int(s.socket_mode, 8) > 0o777:
        p.append('socket_mode: must be octal permissions as a quoted string, like "0660"')
    if ":" not in s.ops_listen:
        p.append("ops_listen: must be host:port")
    if s.log_level not in LOG_LEVELS:
        p.append(f"log_level: must be one of {sorted(LOG_LEVELS)}")
    p.extend(_validate_operations(s))
    if s.shutdown_grace_seconds < 0:
        p.append("shutdown_grace_seconds: must not be negative")
    for name in ("max_token_bytes", "max_field_chars", "max_in_flight", "max_streams", "verify_streams_max",
                 "verify_stream_items_in_flight"):
        if getattr(s.limits, name) < 1:
            p.append(f"limits.{name}: must be at least 1")
    if s.limits.verify_stream_item_timeout_seconds < 0:
        p.append("limits.verify_stream_item_timeout_seconds: must not be negative (0: no limit)")
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
    if not s.uses_emulator:
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
    p.extend(_validate_platform(s.platform))
    p.extend(_validate_factors(s))
    for section in ("platform", "challenges", "authy", "identity"):
        if getattr(s, section).max_response_bytes < 1:
            p.append(f"{section}.max_response_bytes: must be at least 1")
    p.extend(_validate_ledger(s.ledger))
    if s.jwks.min_ttl_seconds > s.jwks.max_ttl_seconds:
        p.append("jwks.min_ttl_seconds: must not exceed jwks.max_ttl_seconds")
    for name in ("ttl_seconds", "min_ttl_seconds", "max_stale_seconds", "timeout_seconds"):
        if getattr(s.jwks, name) <= 0:
            p.append(f"jwks.{name}: must be positive")
    if s.jwks.unknown_kid_cooldown_seconds < 0:
        p.append("jwks.unknown_kid_cooldown_seconds: must not be negative")
    if s.jwks.max_document_bytes < 1:
        p.append("jwks.max_document_bytes: must be at least 1")
    seen: set[str] = set()
    for i, iss in enumerate(s.issuers):
        where = f"issuers[{i}]"
        if not iss.issuer:
            p.append(f"{where}.issuer: is required")
        elif iss.issuer in seen:
            p.append(f"{where}.issuer: duplicate issuer {iss.issuer}")
        seen.add(iss.issuer)
        if not iss.algorithms:
            p.append(f"{where}.algorithms: needs at least one algorithm")
        for alg in iss.algorithms:
            if alg not in ALGORITHMS:
                p.append(f"{where}.algorithms: {alg!r} is not allowed (choose from {sorted(ALGORITHMS)})")
        if iss.leeway_seconds < 0:
            p.append(f"{where}.leeway_seconds: must not be negative")
        if iss.max_lifetime_seconds < 0:
            p.append(f"{where}.max_lifetime_seconds: must not be negative (0: no limit)")
        if iss.jwks_uri and not iss.jwks_uri.startswith(("https://", "http://")):
            p.append(f"{where}.jwks_uri: must be an http(s) URL")
    missing_iss = [i for i, iss in enumerate(s.issuers) if iss.accept_missing_iss]
    for i in missing_iss[1:]:
        p.append(f"issuers[{i}].accept_missing_iss: only one issuer may accept tokens without iss "
                 f"(issuers[{missing_iss[0]}] does)")
    return p


def _validate_operations(s: Settings) -> list[str]:
    p: list[str] = []
    d = s.decision_log
    if not 0 <= d.sample_ratio <= 1:
        p.append("decision_log.sample_ratio: must be between 0 and 1")
    if d.max_per_second <= 0:
        p.append("decision_log.max_per_second: must be positive")
    if d.enabled and d.path and not Path(d.path).parent.is_dir():
        p.append(f"decision_log.path: no such directory {Path(d.path).parent}")
    if s.config_poll_seconds != 0 and not 0.1 <= s.config_poll_seconds <= 300:
        p.append("config_poll_seconds: must be 0 (off) or between 0.1 and 300")
    return p


def _validate_factors(s: Settings) -> list[str]:
    p: list[str] = []
    if s.authy.base_url and not s.authy.api_key:
        p.append("authy.api_key: is required when authy.base_url is set")
    for name in ("timeout_seconds", "code_replay_window_seconds", "callback_nonce_window_seconds",
                 "approval_watch_max_seconds"):
        if getattr(s.authy, name) <= 0:
            p.append(f"authy.{name}: must be positive")
    # A floor on the poll interval protects the vendor (and our rate limit) from a typo.
    if s.authy.approval_poll_interval_seconds < 0.05:
        p.append("authy.approval_poll_interval_seconds: must be at least 0.05")
    if s.identity.api not in IDENTITY_APIS:
        p.append(f"identity.api: must be one of {', '.join(IDENTITY_APIS)}")
    if s.identity.timeout_seconds <= 0:
        p.append("identity.timeout_seconds: must be positive")
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
    from urllib.parse import urlsplit

    from redis.asyncio.connection import parse_url

    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises on a port out of range
        parse_url(url)
    except ValueError as exc:
        leaks = bool(parts.password) and parts.password in str(exc)
        return "is not a valid Redis URL" + ("" if leaks else f" ({exc})")
    if parts.scheme == "unix":
        return "" if parts.path else "needs the socket's path"
    if not parts.hostname:
        return "needs a host"
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return "the database (the URL's path) must be a number"  # redis-py would quietly use 0
    return ""


EXT_AUTHZ_CHECKS = {"jwt", "session", "approval", "challenge"}
EXT_AUTHZ_TERMINAL = {"allow", "deny"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_HEADER = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")  # RFC 9110 token, lower-case as Envoy sends them


def _validate_ext_authz(e: ExtAuthzSettings) -> list[str]:
    p: list[str] = []
    prefix = e.identity_header_prefix
    if not prefix or not _HEADER.fullmatch(prefix):
        p.append("ext_authz.identity_header_prefix: must be a lower-case header name prefix")
    for name in ("session_token_header", "phone_header", "approval_token_header", "challenge_token_header"):
        value = getattr(e, name)
        if not _HEADER.fullmatch(value):
            p.append(f"ext_authz.{name}: must be a lower-case header name")
        elif prefix and value.startswith(prefix):
            p.append(f"ext_authz.{name}: must not start with {prefix} (those headers are removed)")
    for i, ch in enumerate(e.claim_headers):
        where = f"ext_authz.claim_headers[{i}]"
        if not ch.claim:
            p.append(f"{where}.claim: is required")
        if not _HEADER.fullmatch(ch.header) or not ch.header.startswith(prefix):
            # the prefix is what keeps a client from forging the header when the claim is absent
            p.append(f"{where}.header: must be a lower-case header name starting with {prefix}")
    seen: set[str] = set()
    for i, rule in enumerate(e.rules):
        p.extend(_validate_rule(rule, f"ext_authz.rules[{i}]", seen))
    return p


def _validate_rule(rule: ExtAuthzRule, where: str, seen: set[str]) -> list[str]:
    p: list[str] = []
    if not _NAME.fullmatch(rule.name) or rule.name == "default":
        p.append(f"{where}.name: must be 1-64 of [a-z0-9_-] and not 'default'")
    elif rule.name in seen:
        p.append(f"{where}.name: duplicate rule name {rule.name}")
    seen.add(rule.name)
    if rule.path_prefix and not rule.path_prefix.startswith("/"):
        p.append(f"{where}.path_prefix: must start with /")
    if rule.path_prefix and rule.path_regex:
        p.append(f"{where}.path_regex: set path_prefix or path_regex, not both")
    if rule.path_regex:
        try:
            re.compile(rule.path_regex)
        except re.error as exc:
            p.append(f"{where}.path_regex: not a valid regular expression ({exc})")
    for method in rule.methods:
        if method.upper() not in HTTP_METHODS:
            p.append(f"{where}.methods: {method!r} is not an HTTP method")
    checks = set(rule.checks)
    if not rule.checks:
        p.append(f"{where}.checks: needs at least one of {sorted(EXT_AUTHZ_CHECKS | EXT_AUTHZ_TERMINAL)}")
    elif checks & EXT_AUTHZ_TERMINAL and len(rule.checks) > 1:
        p.append(f"{where}.checks: allow and deny stand alone")
    elif len(checks) != len(rule.checks):
        p.append(f"{where}.checks: lists a check twice")
    for check in checks - EXT_AUTHZ_CHECKS - EXT_AUTHZ_TERMINAL:
        p.append(f"{where}.checks: {check!r} is not one of {sorted(EXT_AUTHZ_CHECKS | EXT_AUTHZ_TERMINAL)}")
    if "jwt" not in checks and (rule.issuers or rule.audience or rule.required_scopes):
        p.append(f"{where}.checks: issuers, audience and required_scopes need the jwt check")
    for i, check in enumerate(rule.checks):
        if check in ("approval", "challenge") and not {"jwt", "session"} & set(rule.checks[:i]):
            # A one-time token proves a step-up, not who is calling: a credential check comes first.
            p.append(f"{where}.checks: {check} needs a jwt or session check before it")
    if rule.action and not checks & {"approval", "challenge"}:
        p.append(f"{where}.action: needs the approval or challenge check")
    return p


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
