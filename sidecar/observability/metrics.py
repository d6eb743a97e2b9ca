"""Every Prometheus metric the sidecar exports, named once.

Naming: `authsidecar_` prefix, base units (`_seconds`, `_bytes`), counters end in `_total`.
Labels carry only bounded values (RPC method, outcome, reason, upstream, endpoint, issuer from
config) — never tokens, phones or user ids.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram, Info

from sidecar.observability.loop_metrics import LoopCounter, LoopHistogram

# Sub-millisecond answers are the point of the caches, so the buckets start at 50 µs.
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

BUILD_INFO = Info("authsidecar_build", "Version of the running sidecar.")

# Counted on every call: lock-free, on the event loop (loop_metrics.py); the rest are prometheus_client's own.
RPC_TOTAL = LoopCounter(
    "authsidecar_rpc_total",
    "RPCs answered, by method, outcome and reason.",
    ["method", "outcome", "reason"],
)
RPC_SECONDS = LoopHistogram(
    "authsidecar_rpc_duration_seconds",
    "Time to answer an RPC, by method.",
    ["method"],
    LATENCY_BUCKETS,
)
RPC_IN_FLIGHT = Gauge("authsidecar_rpc_in_flight", "RPCs being answered now.")
RPC_SHED_TOTAL = Counter(
    "authsidecar_rpc_shed_total",
    "RPCs refused with RESOURCE_EXHAUSTED because too many were in flight.",
)
VERIFY_STREAMS_OPEN = Gauge("authsidecar_verify_streams_open", "AuthService.VerifyStream streams open now.")
VERIFY_STREAM_ITEMS = Gauge(
    "authsidecar_verify_stream_items_in_flight",
    "VerifyStream items being evaluated now, all streams (they count in authsidecar_rpc_in_flight too).",
)
VERIFY_STREAM_STALLED_TOTAL = Counter(
    "authsidecar_verify_stream_stalled_total",
    "VerifyStream streams ended because the caller did not read its answers (limits.stream_write_stall_seconds).",
)
READY = Gauge("authsidecar_ready", "1 when the sidecar is ready to answer (health SERVING).")
MEMORY_BUDGET_BYTES = Gauge(
    "authsidecar_memory_budget_bytes",
    "The memory budget every cache full must fit in (limits.memory_budget_mb, else 75% of the container limit).",
)
CACHE_CAPACITY = Gauge(
    "authsidecar_cache_capacity_entries",
    "Entries each budgeted cache may hold, by its setting (e.g. jwks.verified_cache_max_entries).",
    ["cache"],
)

UPSTREAM_REQUESTS_TOTAL = Counter(
    "authsidecar_upstream_requests_total",
    "HTTP requests to upstreams, by upstream, endpoint and status.",
    ["upstream", "endpoint", "status"],
)
UPSTREAM_BAD_ANSWERS_TOTAL = Counter(
    "authsidecar_upstream_bad_answers_total",
    "Upstream answers the sidecar could not read (wrong shape or values no answer can carry), failed closed.",
    ["upstream", "endpoint"],
)
UPSTREAM_SECONDS = Histogram(
    "authsidecar_upstream_request_duration_seconds",
    "Upstream HTTP request latency.",
    ["upstream", "endpoint"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_CIRCUIT_OPEN = Gauge(
    "authsidecar_upstream_circuit_open",
    "1 while an upstream's circuit breaker is open or half-open (calls fail fast), by upstream.",
    ["upstream"],
)

# --- VerifyToken: JWT verification and JWKS caches (issue 4) ---------------------------------------
# `issuer` is always a configured issuer URL, or "untrusted" when no configured issuer was established
# (iss unknown or missing, or the token could not be parsed) — never the token's raw iss.
TOKEN_VERIFICATIONS_TOTAL = LoopCounter(
    "authsidecar_token_verifications_total",
    "JWT verifications, by issuer, outcome and reason.",
    ["issuer", "outcome", "reason"],
)
TOKEN_CACHE_TOTAL = LoopCounter(
    "authsidecar_token_cache_total",
    "Verified-token cache lookups, by result (hit or miss).",
    ["result"],
)
TOKEN_SIGNATURE_CHECKS_TOTAL = Counter(
    "authsidecar_token_signature_checks_total",
    "JWS signature verifications actually performed.",
    ["issuer"],
)
JWKS_FETCHES_TOTAL = Counter(
    "authsidecar_jwks_fetches_total",
    "JWKS fetches, by issuer and result (ok or error).",
    ["issuer", "result"],
)
JWKS_KEYS = Gauge("authsidecar_jwks_keys", "Usable signing keys loaded (0 past max staleness), by issuer.", ["issuer"])
JWKS_SECONDS_SINCE_REFRESH = Gauge(
    "authsidecar_jwks_seconds_since_refresh",
    "Seconds since the last successful JWKS load, by issuer (+Inf before the first).",
    ["issuer"],
)

# --- Step-up challenges (core/challenges/verifier.py) -------------------------------------------------------
CHALLENGE_REPLAYS_TOTAL = Counter(
    "authsidecar_challenge_replays_total",
    "Challenge tokens answered ALREADY_USED, by who knew: cache (this sidecar's ledger), local (a race"
    " lost in this sidecar) or upstream (the platform).",
    ["source"],
)
for _source in ("cache", "local", "upstream"):  # exported at 0 until the first replay (dashboards draw them)
    CHALLENGE_REPLAYS_TOTAL.labels(_source)

# --- One-time ledger (core/onetime/ledger.py, upstream/redis_ledger.py) ---
# kind: approval | challenge | totp | phone_code.
LEDGER_CLAIMS_TOTAL = Counter(
    "authsidecar_ledger_claims_total",
    "One-time token claims, by kind and result: claimed (first, valid), already_used, or unavailable (the shared"
    " ledger could not answer: failed closed).",
    ["kind", "result"],
)
LEDGER_SECONDS = Histogram(
    "authsidecar_ledger_request_duration_seconds",
    "Shared ledger (Redis) command latency, by command and result.",
    ["command", "result"],
    buckets=LATENCY_BUCKETS,
)

# --- Sessions, approvals, revocation ---
# (core/sessions/verifier.py, core/sessions/revocation.py, upstream/rauth_events.py)
# Caches are named: sessions (positive + terminal status), sessions_negative (unknown/pending),
# revoked (terminal states pushed by the stream), consumed_approvals (the one-time ledger),
# verified_tokens (VerifyToken's cache), unknown_kids (kids looked up and not found, all issuers).
CACHE_LOOKUPS_TOTAL = Counter(
    "authsidecar_cache_lookups_total",
    "Cache lookups, by cache and result (hit or miss).",
    ["cache", "result"],
)
CACHE_EVICTIONS_TOTAL = Counter(
    "authsidecar_cache_evictions_total",
    "Entries pushed out of a full cache (LRU), by cache.",
    ["cache"],
)
LOOKUPS_REFUSED_TOTAL = Counter(
    "authsidecar_lookups_refused_total",
    "Platform lookups not sent (answered fail-closed) because unknown tokens spent the lookup budget, by lookup.",
    ["lookup"],
)
CACHE_ENTRIES = Gauge("authsidecar_cache_entries", "Entries held now, by cache.", ["cache"])
SSE_CONNECTED = Gauge(
    "authsidecar_sse_connected",
    "1 while the platform event stream is open and caught up, else 0.",
)
SSE_RECONNECTS_TOTAL = Counter("authsidecar_sse_reconnects_total", "Event stream reconnection attempts.")
SSE_DISCONNECTS_TOTAL = Counter(
    "authsidecar_sse_disconnects_total",
    "Event stream connections lost or refused, by cause (unreachable, refused, content_type, cut, silent, ended, "
    "internal).",
    ["cause"],
)
SSE_GAPS_TOTAL = Counter(
    "authsidecar_sse_gaps_total",
    "Connections that could not resume (positive session entries were flushed).",
)
SSE_EVENTS_TOTAL = Counter("authsidecar_sse_events_total", "Stream events received, by type.", ["type"])
SSE_SECONDS_SINCE_EVENT = Gauge(
    "authsidecar_sse_seconds_since_last_event",
    "Seconds since the last stream event or heartbeat (-1: none yet).",
)

# --- Second factors and account flows (SecondFactorService, AccountService) ---
APPROVAL_WATCHES = Gauge(
    "authsidecar_approval_watches",
    "WatchApprovalRequest streams open now (each polls at most once per interval).",
)
LOGOUT_REVOCATIONS_TOTAL = Counter(
    "authsidecar_logout_revocations_total",
    "Sessions marked revoked in the revocation cache by a logout through the sidecar, by whether a cache was wired.",
    ["wired"],
)
LOGOUT_REVOCATIONS_REFUSED_TOTAL = Counter(
    "authsidecar_logout_revocations_refused_total",
    "Logouts refused because the logout revocation store was full (they fail; nothing already revoked is forgotten).",
)
LOGOUT_REVOCATIONS_SYNC_AGE = Gauge(
    "authsidecar_logout_revocations_seconds_since_sync",
    "Seconds since this pod last read the fleet's logout revocations from Redis (ledger.backend: redis only); "
    "past the staleness bound every token answers UPSTREAM_UNAVAILABLE.",
)

# --- ext_authz (envoy.service.auth.v3.Authorization/Check) ---
# rule: a rule name from the config or "default" (no rule matched) — a bounded set.
EXT_AUTHZ_DECISIONS_TOTAL = LoopCounter(
    "authsidecar_ext_authz_decisions_total",
    "ext_authz Check decisions, by rule, result and reason.",
    ["rule", "result", "reason"],
)
# A dry-run rule's answer (always allowed): what it would have been. would: allow | deny.
EXT_AUTHZ_DRY_RUN_TOTAL = Counter(
    "authsidecar_ext_authz_dry_run_total",
    "ext_authz decisions of dry-run rules, by rule and would-be answer.",
    ["rule", "would", "reason"],
)


# --- Operations: live reload, decision log, tracing (sidecar/runtime/reload.py, decision_log.py, tracing.py) ---
CONFIG_RELOADS_TOTAL = Counter(
    "authsidecar_config_reloads_total",
    "Configuration reloads, by result (ok, or error: refused and not applied).",
    ["result"],
)
for _result in ("ok", "error"):
    CONFIG_RELOADS_TOTAL.labels(_result)
CONFIG_INFO = Info("authsidecar_config", "SHA-256 prefix of the config file in effect.")
DECISION_LOG_LINES_TOTAL = Counter(
    "authsidecar_decision_log_lines_total",
    "Decision log lines written.",
)
DECISION_LOG_DROPPED_TOTAL = Counter(
    "authsidecar_decision_log_dropped_total",
    "Decisions not written to the decision log, by cause (rate_limit, or error: the file could not be written).",
    ["cause"],
)
for _cause in ("rate_limit", "error"):
    DECISION_LOG_DROPPED_TOTAL.labels(_cause)
TRACE_SPANS_DROPPED_TOTAL = Counter(
    "authsidecar_trace_spans_dropped_total",
    "Finished spans that never reached the OTLP endpoint (export failed or timed out).",
)
TRACE_SPANS_EXPORTED_TOTAL = Counter("authsidecar_trace_spans_exported_total", "Spans the OTLP endpoint accepted.")


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """`metric.labels(*labels)`, memoised: the hot paths count every call, and `labels()` validates
    and locks each time. Label values are bounded by design (see the module doc), so is this."""
    return metric.labels(*labels)
