"""The settings tree: one dataclass per section (Limits, PlatformSettings, … Settings), their defaults
(examples/config.yaml must equal them) and the fixed values a field chooses from (regions, identity APIs).

Sections are plain dataclasses, frozen only by convention: nothing changes a loaded tree in place
(memory.with_cache_sizes fills in cache sizes on a copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

# What a field declares about itself, read by live reload (runtime/reload.py) and the memory plan
# (config/memory_budget.py), so neither keeps its own list of paths.
LIVE = "live"  # True: a reload applies it at once (a section: everything in it); False: restart only
BUDGET = "budget"  # (share weight, bytes per entry): a cache's `*_max_entries`, 0 = sized from the budget


def live(default: Any = MISSING, **kwargs: Any) -> Any:
    """A setting a reload applies at once."""
    return field(default=default, metadata={LIVE: True}, **kwargs)


def restart_only(default: Any = MISSING, **kwargs: Any) -> Any:
    """A setting inside a live section that still needs a restart."""
    return field(default=default, metadata={LIVE: False}, **kwargs)


def budgeted(weight: float, bytes_per_entry: int, *, live: bool = True) -> Any:
    """A cache's `*_max_entries` (live unless said); 0 (the default) takes `weight` of the cache budget,
    each entry costing `bytes_per_entry` (the largest bench/entry_sizes.py measured between 5k and 100k
    entries)."""
    return field(default=0, metadata={LIVE: live, BUDGET: (weight, bytes_per_entry)})


@dataclass
class Limits:
    max_token_bytes: int = 8192  # VerifyToken.token and other JWTs
    max_field_chars: int = 512  # session tokens, ids, actions, user ids
    max_in_flight: int = 1000  # unary calls; past it: RESOURCE_EXHAUSTED at once
    max_streams: int = 256  # open server streams (WatchApprovalRequest), a budget of their own
    memory_budget_mb: int = 0  # 0: 75% of the container's memory limit (cgroup), else 512
    # AuthService.VerifyStream: open streams (past it the new stream gets RESOURCE_EXHAUSTED), items read
    # but not yet answered per stream (past it that stream is not read: back-pressure, not refusal), and
    # a per-item time limit (0: none; a request's own timeout may be shorter).
    verify_streams_max: int = 100
    verify_stream_items_in_flight: int = 128
    # Items being evaluated across all VerifyStreams: a budget of their own (past it: that item gets
    # RESOURCE_EXHAUSTED, its stream goes on), so packed streams can never shed a unary call or Check.
    verify_stream_items_max: int = 1000
    verify_stream_item_timeout_seconds: float = 0.0
    # A stream (VerifyStream) whose answers wait this long for the caller to read them is ended with
    # RESOURCE_EXHAUSTED, freeing its place under verify_streams_max.
    stream_write_stall_seconds: float = 10.0


@dataclass
class CircuitSettings:
    """Per-upstream circuit breaker: after this many failures in a row, fail fast for open_seconds."""

    failure_threshold: int = 5
    open_seconds: float = 5.0


@dataclass
class EmulatorSettings:
    # on: `serve` embeds the emulator (for upstreams with neither URL nor secret set). auto: only the
    # demo (`sidecar run`) embeds it, when platform.base_url is empty; `serve` never does — an emulator
    # on a production pod would mint tokens and sessions for anyone who reaches it. off: never.
    mode: str = "auto"  # auto | on | off
    listen: str = "127.0.0.1:8900"  # loopback only (validated)


@dataclass
class SseSettings:
    enabled: bool = True
    path: str = "/backend/events"  # below platform.base_url
    heartbeat_timeout_seconds: float = 30.0
    reconnect_min_seconds: float = 0.2
    reconnect_max_seconds: float = 30.0
    max_line_bytes: int = 65_536  # a longer line (or event) ends the connection as a protocol error
    max_event_bytes: int = 262_144


@dataclass
class PlatformSettings:
    """The session/approval platform (RAuth v2 API shape)."""

    base_url: str = ""  # e.g. https://api.rauth.io/v2; empty: session RPCs off (or the emulator)
    api_key: str = ""
    app_id: str = ""
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    session_cache_ttl_seconds: float = live(30.0)
    negative_cache_ttl_seconds: float = live(2.0)
    # sizes four structures: verified sessions (315 B, each with its own phone), negative answers
    # (205 B), and the revocation cache's terminal states and revoked session ids (300 B together)
    session_cache_max_entries: int = budgeted(0.35, 820)
    consumed_tokens_max_entries: int = budgeted(0.08, 205)
    # Lookups of tokens no cache knows stop going upstream (fail closed) once NOT_FOUND answers pass
    # this rate (after a burst): a flood of distinct random tokens can't become one request each.
    unknown_lookups_per_second: float = 20.0
    unknown_lookups_burst: int = 100
    sse: SseSettings = field(default_factory=SseSettings)


@dataclass
class ChallengeSettings:
    """The step-up challenge platform (Authsignal Server API shape)."""

    region: str = "us"  # us | au | eu, or set base_url
    base_url: str = ""  # overrides region
    secret_key: str = ""
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # Challenge tokens this sidecar accepted, remembered so a replay is ALREADY_USED even if the
    # platform forgot; keep it at least as long as the platform's token lifetime.
    consumed_tokens_ttl_seconds: float = live(900.0)
    consumed_tokens_max_entries: int = budgeted(0.08, 205)


@dataclass
class AuthySettings:
    """The second-factor platform (Authy API shape: TOTP, OneTouch, phone verification)."""

    base_url: str = ""  # e.g. https://api.authy.com; empty: disabled (or the emulator)
    api_key: str = ""  # X-Authy-API-Key; also the key callbacks are signed with
    timeout_seconds: float = 2.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # A code that succeeded is refused for this long: keep it at least the platform's code lifetime
    # (phone verification codes live 10 minutes; TOTP codes less).
    code_replay_window_seconds: float = 900.0
    callback_nonce_window_seconds: float = 300.0  # callbacks whose nonce is older/newer are refused
    approval_poll_interval_seconds: float = 1.0  # WatchApprovalRequest asks the platform no faster
    approval_watch_max_seconds: float = 600.0  # a watch ends after this even without a deadline
    consumed_codes_max_entries: int = budgeted(0.08, 205)


SECOND_FACTOR_PROVIDERS = ("authy", "verify")


@dataclass
class SecondFactorSettings:
    """Which platform SecondFactorService speaks: `authy` (the Authy API) or `verify` (Twilio Verify v2)."""

    provider: str = "authy"  # authy | verify


@dataclass
class VerifySettings:
    """Twilio Verify v2 (second_factors.provider: verify): HTTP Basic with the account SID + auth token,
    or an API key SID (SK…) + secret. Webhooks are signed with the auth token, so callbacks need it."""

    base_url: str = "https://verify.twilio.com"  # /v2/Services/… below it
    account_sid: str = ""  # AC…
    auth_token: str = ""  # Basic password with account_sid; the key X-Twilio-Signature is made with
    api_key_sid: str = ""  # SK…: Basic user instead of account_sid (with api_key_secret)
    api_key_secret: str = ""
    service_sid: str = ""  # VA…: the Verify service every call names
    timeout_seconds: float = 5.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # As in `authy:` (the second-factor component's pacing and replay window, whichever provider).
    code_replay_window_seconds: float = 900.0
    approval_poll_interval_seconds: float = 1.0
    approval_watch_max_seconds: float = 600.0
    max_retry_after_seconds: float = 60.0  # a 20429's Retry-After is honoured up to this


IDENTITY_APIS = ("inai", "identity-service")
# The checks an ext_authz rule may list; core/ext_authz/checks/registry.py has one check per name.
EXT_AUTHZ_CHECKS = frozenset({"jwt", "session", "approval", "challenge", "peer"})


@dataclass
class IdentitySettings:
    """The identity service for account flows (login, MFA, refresh, sessions), in one of two wires."""

    api: str = "inai"  # inai (InAI Auth API v1) | identity-service (identity microservice)
    base_url: str = ""  # inai: the apiUrl (https://apiauth.inai.dev); empty: off (or the emulator)
    api_key: str = ""  # inai: the publishable key, sent as X-Publishable-Key
    timeout_seconds: float = 5.0
    max_response_bytes: int = 1_048_576  # a longer answer is an upstream failure (fail closed)
    # refresh token → the access tokens issued with it (revoked on Logout): its hash and the last 4 access
    # tokens' hashes
    session_map_max_entries: int = budgeted(0.06, 700)  # a chain with its account key: 654 B measured
    # What Logout/LogoutSession revoked, kept until the tokens expire (never evicted; full → logouts fail):
    # an id (`token:` + 64 hex, or a session id) and its deadline in a dict (core/accounts/logout_revocations.py)
    logout_revocations_max_entries: int = budgeted(0.04, 240, live=False)
    # AdminService (InAI's platform administration) for a provisioning job; off: not registered at all
    admin_api: bool = restart_only(False)


@dataclass
class LedgerSettings:
    """Where one-time tokens (approvals, challenge tokens, TOTP/phone codes) are claimed.

    memory: this process only (one pod). redis: every pod claims in one Redis with SET NX, so a
    token is valid once across the fleet; this process's ledger stays in front as a cache.
    """

    backend: str = "memory"  # memory | redis
    url: str = ""  # redis://[user:password@]host:6379/0 or rediss://… (TLS)
    password: str = ""  # used when the URL has none: AUTHSIDECAR_LEDGER_PASSWORD(_FILE)
    key_prefix: str = "authsidecar:ledger:"
    timeout_seconds: float = 0.5  # one claim's whole budget (connect included); past it: fail closed


@dataclass
class IssuerSettings:
    issuer: str = ""
    jwks_uri: str = ""  # empty: OIDC discovery from the issuer URL
    audiences: list[str] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=lambda: ["ES256"])
    leeway_seconds: float = 60.0
    required_claims: list[str] = field(default_factory=lambda: ["exp"])
    max_lifetime_seconds: float = 0.0  # 0: no limit
    # Tokens with no iss claim are verified against this issuer's JWKS (InAI's tokens carry no iss).
    # Weaker than an iss match; at most one issuer may set it.
    accept_missing_iss: bool = False


@dataclass
class JwksSettings:
    ttl_seconds: float = live(300.0)
    min_ttl_seconds: float = live(60.0)
    max_ttl_seconds: float = live(3600.0)
    unknown_kid_cooldown_seconds: float = live(30.0)
    max_stale_seconds: float = live(86400.0)
    timeout_seconds: float = 5.0
    max_document_bytes: int = 1_048_576
    # a verified token is 160 B: the cache keeps only which key vouched for it (core/tokens/verifier.py)
    verified_cache_max_entries: int = budgeted(0.35, 160)


@dataclass
class TlsSettings:
    """TLS for gRPC listeners on non-loopback addresses (loopback and unix sockets stay local-only)."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""  # set: clients must present a certificate from this CA (mTLS)


@dataclass
class ExtAuthzRule:
    """One ext_authz policy rule: which requests it matches and the checks they must pass."""

    name: str = ""  # metric label and x-auth-rule header: [a-z0-9_-], unique
    path_prefix: str = ""  # segment-wise: /api matches /api and /api/x, not /apix
    path_regex: str = ""  # full match against the path (query string removed)
    methods: list[str] = field(default_factory=list)  # empty: any method
    checks: list[str] = field(default_factory=list)  # jwt | session | approval | challenge, or [allow] / [deny]
    issuers: list[str] = field(default_factory=list)  # jwt: accepted issuers (empty: any configured issuer)
    audience: str = ""  # jwt: required audience (empty: the issuer's audiences)
    required_scopes: list[str] = field(default_factory=list)  # jwt
    action: str = ""  # approval/challenge: the action the token must be for
    peers: list[str] = field(default_factory=list)  # peer: allowed SPIFFE ids (a path segment may be *)
    mode: str = ""  # enforce | dry_run (decided and logged, always allowed); "": default_mode


@dataclass
class ClaimHeader:
    claim: str = ""
    header: str = ""  # must start with ext_authz.identity_header_prefix


@dataclass
class ExtAuthzPolicySet:
    """A named rule set, chosen by a route's context_extensions `authsidecar_policy: <name>`."""

    name: str = ""
    rules: list[ExtAuthzRule] = field(default_factory=list)  # first match wins; no match: deny


@dataclass
class ExtAuthzSettings:
    """Envoy/Istio external authorization (envoy.service.auth.v3.Authorization/Check)."""

    enabled: bool = restart_only(True)  # it decides which gRPC services exist
    rules: list[ExtAuthzRule] = field(default_factory=list)  # first match wins; no match: deny
    policies: list[ExtAuthzPolicySet] = field(default_factory=list)  # named rule sets for per-route policies
    default_mode: str = "enforce"  # rules without `mode`, and "no rule matched": enforce | dry_run
    claim_headers: list[ClaimHeader] = field(default_factory=list)
    identity_header_prefix: str = "x-auth-"  # incoming headers with it (`_` read as `-`) are always removed
    case_sensitive_paths: bool = True  # false: paths, prefixes and regexes compare in lower case
    strip_credentials: bool = False  # remove the credential headers a passing check read
    session_token_header: str = "x-session-token"
    phone_header: str = "x-user-phone"
    approval_token_header: str = "x-approval-token"
    challenge_token_header: str = "x-challenge-token"


@dataclass
class DecisionLogSettings:
    """One JSON line per auth decision (OPA-style decision log); never a token, phone or raw subject."""

    enabled: bool = False
    sample_ratio: float = 1.0  # share of decisions written (0..1)
    max_per_second: float = 100.0  # past it lines are dropped and counted
    path: str = ""  # file appended to; empty: stderr


@dataclass
class Settings:
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1:50051"])
    # A non-loopback TCP listener needs tls.* — or this explicit opt-in, which logs a warning.
    insecure_listen: bool = False
    socket_mode: str = "0660"  # permissions of unix socket files (octal)
    # SO_REUSEPORT on the TCP listeners: several sidecar processes (e.g. two containers of one pod,
    # each with its own ops port) share one gRPC port and the kernel spreads connections across them.
    reuse_port: bool = False
    tls: TlsSettings = field(default_factory=TlsSettings)
    ops_listen: str = "0.0.0.0:9464"  # /metrics, /healthz, /readyz (kubelet probes the pod IP)
    shutdown_grace_seconds: float = live(10.0)
    log_level: str = live("info")
    default_region: str = live("")  # ISO 3166 alpha-2 for phones written without +
    limits: Limits = live(default_factory=Limits)
    circuit: CircuitSettings = live(default_factory=CircuitSettings)
    emulator: EmulatorSettings = field(default_factory=EmulatorSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    challenges: ChallengeSettings = field(default_factory=ChallengeSettings)
    jwks: JwksSettings = field(default_factory=JwksSettings)
    authy: AuthySettings = field(default_factory=AuthySettings)
    second_factors: SecondFactorSettings = field(default_factory=SecondFactorSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    issuers: list[IssuerSettings] = live(default_factory=list)
    ext_authz: ExtAuthzSettings = live(default_factory=ExtAuthzSettings)
    decision_log: DecisionLogSettings = live(default_factory=DecisionLogSettings)
    # How often the config file is checked for changes (live reload; SIGHUP reloads at once). 0: never.
    config_poll_seconds: float = live(2.0)

    @property
    def uses_emulator(self) -> bool:
        # Only when asked: `load(demo=True)` turns the demo's "auto" into "on" (config/loading.py).
        return self.emulator.mode == "on"


CHALLENGE_REGIONS = {
    "us": "https://api.authsignal.com/v1",
    "au": "https://au.api.authsignal.com/v1",
    "eu": "https://eu.api.authsignal.com/v1",
}


def declared(cls: type = Settings, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, metadata) of every field that declares something, sections walked into."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        if f.metadata:
            yield path, dict(f.metadata)
        if is_dataclass(hints[f.name]):
            yield from declared(hints[f.name], path)


def live_paths() -> dict[str, bool]:
    """path → live, for every field that says (a path not listed takes its closest listed parent's)."""
    return {path: meta[LIVE] for path, meta in declared() if LIVE in meta}


def budgeted_caches() -> dict[str, tuple[float, int]]:
    """`*_max_entries` path → (share weight, bytes per entry), for every budgeted cache."""
    return {path: meta[BUDGET] for path, meta in declared() if BUDGET in meta}
