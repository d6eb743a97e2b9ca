"""The benchmark scenarios, grouped by the sidecar process they run against.

Each group gets a fresh sidecar (fresh caches); `prepare` runs on the emulator before it starts.
A group's `build` returns Scenarios (driven by separate load processes, see harness.py) or
callables that measure something else (propagation, amplification, memory, the alternatives).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2
from jwt.algorithms import ECAlgorithm

from authsidecar.v1 import auth_pb2 as pb
from envoy.service.auth.v3 import attribute_context_pb2 as ctx_pb
from envoy.service.auth.v3 import external_auth_pb2 as authz_pb
from sidecar import config as cfg
from sidecar.upstream.rauth import RauthClient

from . import all_full, hostile, ledger_claims, procstats
from . import envoy as envoy_bench
from .curve import latency_curve
from .drive import drive as _drive
from .entry_sizes import bytes_per_entry
from .harness import Scenario, percentile
from .harness import run as run_scenario
from .otlp_sink import OtlpSink

PHONE = "+14155552671"
BENCH_KID = "bench-es256"
AUTH = "/authsidecar.v1.AuthService/"
STATUS_ROUTE = "POST /v2/backend/session/status"


@dataclass
class Sizes:
    hot_tokens: int
    cold_tokens: int
    sessions: int
    revocable: int
    propagation: int
    amplification_calls: int
    memory_entries: int
    alternative_seconds: float

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            # hundreds at most: the smoke proves every figure is produced, the full run measures them
            return cls(50, 500, 20, 50, 10, 200, 200, 0.3)
        return cls(1_000, 60_000, 100, 10_000, 200, 10_000, 100_000, 8.0)


@dataclass
class Group:
    names: list[str]
    build: Callable  # (emulator, sidecar) -> list[Scenario | callable]
    config: dict = field(default_factory=dict)
    prepare: Callable | None = None
    processes: int = 1  # >1: that many sidecars share one gRPC port (reuse_port)
    env: Callable[[], dict] | None = None  # the sidecar's extra environment (asked when the group starts)


class BenchSigner:
    """An ES256 key published on the emulator's `main` issuer, so tokens are minted here, fast."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = {
            **ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True),
            "kid": BENCH_KID,
            "alg": "ES256",
            "use": "sig",
        }

    def publish(self, emulator) -> None:
        emulator.http.post("/_control/jwks/issuers/main/publish", json={"jwk": self.jwk}).raise_for_status()

    def mint(self, emulator, n: int, prefix: str) -> list[str]:
        now = int(time.time())
        base = {
            "iss": f"{emulator.url}/issuers/main",
            "aud": "authsidecar-demo",
            "iat": now,
            "exp": now + 3600,
            "scope": "read write",
        }
        return [
            jwt.encode({**base, "sub": f"{prefix}-{i}"}, self.key, algorithm="ES256", headers={"kid": BENCH_KID})
            for i in range(n)
        ]


@dataclass
class RunContext:
    """What scenarios may read about the run so far (the open-loop scenario needs the floor's RPS)."""

    duration: float
    warmup: float
    results: list[dict] = field(default_factory=list)
    tmp: Path | None = None  # the run's scratch directory


def groups(quick: bool, ctx: RunContext) -> list[Group]:
    sizes = Sizes.of(quick)
    signer = BenchSigner()
    no_sse_lag = {"platform": {"sse": {"heartbeat_timeout_seconds": 5}}}
    bearer_policy = {"ext_authz": {"rules": [{"name": "api", "path_prefix": "/api", "checks": ["jwt"]}]}}
    every = [
        Group(["floor", "floor_open_loop", "floor_open_loop_quarter", "floor_2_loads"], lambda e, s: _floor(ctx)),
        Group(
            [
                "verify_token_hot",
                "verify_token_cold",
                "verify_token_hot_open_loop",
                "verify_token_hot_open_loop_quarter",
                "ext_authz_check_hot",
                "verify_token_hot_stream",
                "verify_token_hot_stream_packed",
                "verify_token_hot_stream_open_loop",
                "latency_curve",
            ],
            lambda e, s: _tokens(e, signer, sizes, ctx),
            config=bearer_policy,
            prepare=signer.publish,
        ),
        # What tracing (every call sampled, exported to a real OTLP receiver) and the decision log cost
        # when on; off, verify_token_hot above is the figure (both are off by default).
        Group(
            ["verify_token_hot_traced"],
            lambda e, s: _hot_variant(e, signer, sizes, "verify_token_hot_traced"),
            prepare=signer.publish,
            env=_otlp_env,
        ),
        # Tracing on as it is usually run: 1 % of traces sampled. An unsampled call must cost almost nothing.
        Group(
            ["verify_token_hot_traced_1pct"],
            lambda e, s: _hot_variant(e, signer, sizes, "verify_token_hot_traced_1pct"),
            prepare=signer.publish,
            env=lambda: {
                **_otlp_env(),
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.01",
            },
        ),
        Group(
            ["verify_token_hot_decision_log"],
            lambda e, s: _hot_variant(e, signer, sizes, "verify_token_hot_decision_log"),
            prepare=signer.publish,
            config={
                "decision_log": {
                    "enabled": True,
                    "max_per_second": 1_000_000,
                    "path": str(ctx.tmp / "decisions.jsonl") if ctx.tmp else "",
                }
            },
        ),
        Group(
            ["floor_2_processes", "verify_token_hot_2_processes"],
            lambda e, s: _two_processes(e, signer, sizes),
            processes=2,
            prepare=signer.publish,
        ),
        Group(
            [
                "verify_session_hot",
                "is_revoked",
                "revocation_propagation",
                "upstream_amplification",
                "verify_session_hot_stream",
                "is_revoked_stream",
            ],
            lambda e, s: _sessions(e, s, sizes, ctx),
            config=no_sse_lag,
        ),
        Group(["memory"], lambda e, s: [lambda e2, s2: _memory(e2, s2, signer, sizes)], prepare=signer.publish),
        Group(
            ["memory_all_full"],
            lambda e, s: [lambda e2, s2: all_full.run(e2, s2, signer, quick)],
            config=all_full.config(quick),
            prepare=signer.publish,
        ),
        Group(
            ["memory_all_full_hostile"],
            lambda e, s: [lambda e2, s2: hostile.run(e2, s2, signer, quick)],
            config=hostile.config(quick),
            prepare=signer.publish,
        ),
        Group(["ledger_claim_memory", "ledger_claim_redis"], lambda e, s: _ledger_claims(sizes)),
        # HTTP through a real Envoy: with the sidecar, with a bare allow-all ext_authz server, alone.
        Group(
            ["envoy_ext_authz_sidecar", "envoy_ext_authz_floor", "envoy_alone"],
            lambda e, s: envoy_bench.scenarios(
                s, signer.mint(e, 1, "envoy")[0], ctx.duration, ctx.warmup, ctx.tmp or Path(".")
            ),
            config=bearer_policy,
            prepare=signer.publish,
        ),
        Group(
            ["alternative_pyjwt_in_process", "alternative_session_upstream_per_call"],
            lambda e, s: [
                lambda e2, s2: _alt_pyjwt(e2, signer, sizes),
                lambda e2, s2: _alt_upstream_per_call(e2, sizes),
            ],
            prepare=signer.publish,
        ),
    ]
    return _share_sidecars(every) if quick else every


def _share_sidecars(every: list[Group]) -> list[Group]:
    """Quick mode: groups whose sidecars would start alike (same config, one process, no extra
    environment) run one after the other on one sidecar, in the place of the first. A start costs a
    second or two of CPU, and the smoke proves each figure is produced; each group's scenarios still
    run in their own order (the hot ones first in theirs), on caches only later groups have touched."""
    merged: dict[str, list[Group]] = {}
    for group in every:
        alone = group.env is not None or group.processes != 1
        key = f"alone-{id(group)}" if alone else json.dumps(group.config, sort_keys=True)
        merged.setdefault(key, []).append(group)
    return [parts[0] if len(parts) == 1 else _together(parts) for parts in merged.values()]


def _together(parts: list[Group]) -> Group:
    def prepare(emulator) -> None:
        for group in parts:
            if group.prepare:
                group.prepare(emulator)

    return Group(
        [name for group in parts for name in group.names],
        lambda e, s: [item for group in parts for item in group.build(e, s)],
        config=parts[0].config,
        prepare=prepare,
    )


HEALTH_CHECK = "/grpc.health.v1.Health/Check"
# The floor run in slices beside a headline scenario, on its sidecar (see harness.Scenario.floor).
INTERLEAVED_FLOOR = (HEALTH_CHECK, [health_pb2.HealthCheckRequest().SerializeToString()])
VERIFY_STREAM = AUTH + "VerifyStream"
# VerifyStream load: N streams (one connection each) × M items in flight per stream.
STREAM_LOAD = {"streams": 4, "window": 32, "connections": 4, "concurrency": 4 * 32}
# Two load processes with four connections each: what the two-process scenarios need to spread load
# (the kernel balances connections, not calls); floor_2_loads is the same load on one process.
WIDE_LOAD = {"load_processes": 2, "connections": 4, "concurrency": 16}


def _floor(ctx: RunContext) -> list:
    # The limit of this stack: the cheapest RPC on the same grpc.aio server.
    check = [health_pb2.HealthCheckRequest().SerializeToString()]
    return [
        Scenario("floor", HEALTH_CHECK, check, notes="grpc.health.v1 Check: no work, the ceiling of the server stack"),
        # The floor's latency at the open-loop scenarios' rates: what their p99 is compared with.
        lambda e, s: _open_loop_at(e, s, "floor_open_loop", HEALTH_CHECK, check, 0.5, ctx),
        lambda e, s: _open_loop_at(e, s, "floor_open_loop_quarter", HEALTH_CHECK, check, 0.25, ctx),
        Scenario(
            "floor_2_loads",
            HEALTH_CHECK,
            check,
            **WIDE_LOAD,
            notes="the floor driven like the two-process scenarios: 2 load processes × 4 connections",
        ),
    ]


def _two_processes(emulator, signer: BenchSigner, sizes: Sizes) -> list:
    hot = [pb.VerifyTokenRequest(token=t).SerializeToString() for t in signer.mint(emulator, sizes.hot_tokens, "hot")]
    return [
        Scenario(
            "floor_2_processes",
            HEALTH_CHECK,
            [health_pb2.HealthCheckRequest().SerializeToString()],
            **WIDE_LOAD,
            notes="two sidecar processes sharing the port (reuse_port)",
        ),
        Scenario(
            "verify_token_hot_2_processes",
            AUTH + "VerifyToken",
            hot,
            **WIDE_LOAD,
            notes="hot tokens over two sidecar processes sharing the port (each its own cache)",
        ),
    ]


_sink = None


def _otlp_env() -> dict:
    global _sink
    if _sink is None:
        _sink = OtlpSink()
    return _sink.env()


def _hot_variant(emulator, signer: BenchSigner, sizes: Sizes, name: str) -> list:
    hot = [pb.VerifyTokenRequest(token=t).SerializeToString() for t in signer.mint(emulator, sizes.hot_tokens, "hot")]
    notes = {
        "verify_token_hot_traced": "the hot tokens with tracing on: every call a server span, exported over "
        "OTLP/gRPC to a real receiver",
        "verify_token_hot_traced_1pct": "the hot tokens with tracing on at a 1% sampling ratio (parent-based): "
        "most calls unsampled, 1 in 100 a span exported over OTLP/gRPC",
        "verify_token_hot_decision_log": "the hot tokens with the decision log on: one JSON line per call to a file",
    }[name]
    # beside the floor on its own sidecar, as verify_token_hot is on its: the two ratios compare
    return [Scenario(name, AUTH + "VerifyToken", hot, floor=INTERLEAVED_FLOOR, notes=notes)]


def _check_requests(tokens: list[str]) -> list[bytes]:
    """Envoy CheckRequests for GET /api/orders with each bearer token."""
    out = []
    for token in tokens:
        http = ctx_pb.AttributeContext.HttpRequest(
            method="GET", path="/api/orders", host="orders.local", headers={"authorization": f"Bearer {token}"}
        )
        attrs = ctx_pb.AttributeContext(request=ctx_pb.AttributeContext.Request(http=http))
        out.append(authz_pb.CheckRequest(attributes=attrs).SerializeToString())
    return out


def _tokens(emulator, signer: BenchSigner, sizes: Sizes, ctx: dict) -> list:
    hot_tokens = signer.mint(emulator, sizes.hot_tokens, "hot")
    hot = [pb.VerifyTokenRequest(token=t).SerializeToString() for t in hot_tokens]
    cold = [
        pb.VerifyTokenRequest(token=t).SerializeToString() for t in signer.mint(emulator, sizes.cold_tokens, "cold")
    ]
    return [
        Scenario(
            "verify_token_hot",
            AUTH + "VerifyToken",
            hot,
            floor=INTERLEAVED_FLOOR,
            notes=f"{len(hot)} valid ES256 tokens round-robin: verified-token cache hits (interleaved with the "
            "floor on this sidecar)",
        ),
        Scenario(
            "verify_token_cold",
            AUTH + "VerifyToken",
            cold,
            notes=f"{len(cold)} distinct tokens: each call a signature check (repeats only if the run outlasts them)",
            extra={"distinct_tokens": len(cold)},
        ),
        lambda e, s: _open_loop_at(e, s, "verify_token_hot_open_loop", AUTH + "VerifyToken", hot, 0.5, ctx),
        lambda e, s: _open_loop_at(e, s, "verify_token_hot_open_loop_quarter", AUTH + "VerifyToken", hot, 0.25, ctx),
        Scenario(
            "ext_authz_check_hot",
            "/envoy.service.auth.v3.Authorization/Check",
            _check_requests(hot_tokens),
            floor=INTERLEAVED_FLOOR,
            notes=f"Envoy ext_authz Check, GET /api/orders with {len(hot)} bearer tokens round-robin (cache hits; "
            "interleaved with the floor on this sidecar)",
        ),
        Scenario(
            "verify_token_hot_stream",
            VERIFY_STREAM,
            stream_items("verify_token", hot_tokens),
            **STREAM_LOAD,
            notes=f"the same {len(hot)} tokens as verify_token_hot as VerifyStream items: "
            f"{STREAM_LOAD['streams']} streams × {STREAM_LOAD['window']} items in flight",
        ),
        Scenario(
            "verify_token_hot_stream_packed",
            VERIFY_STREAM,
            stream_items("verify_token", hot_tokens),
            **STREAM_LOAD,
            pack=True,
            notes=f"verify_token_hot_stream with items packed: each stream writes the items it can send in one "
            f"message (its first {STREAM_LOAD['window']} together, then one per answer read) and reads packed answers",
        ),
        lambda e, s: _stream_open_loop_at_floor(e, s, stream_items("verify_token", hot_tokens), ctx),
        lambda e, s: latency_curve(e, s, hot, stream_items("verify_token", hot_tokens), ctx),
    ]


def stream_items(kind: str, tokens: list[str], phone: str = "") -> list[bytes]:
    """VerifyStreamRequests without an id (the load generator prefixes one per item), pre-serialised."""

    def question(token: str):
        if kind == "verify_token":
            return pb.VerifyTokenRequest(token=token)
        return {"verify_session": pb.VerifySessionRequest, "is_revoked": pb.IsRevokedRequest}[kind](
            session_token=token, phone=phone
        )

    return [pb.VerifyStreamRequest(**{kind: question(t)}).SerializeToString() for t in tokens]


def _floor_rps(ctx: RunContext) -> float:
    floor = next((r for r in ctx.results if r["scenario"] == "floor"), None)
    return floor["rps"] if floor else 1000.0


def _stream_open_loop_at_floor(emulator, sidecar, items: list[bytes], ctx: RunContext) -> dict:
    rate = max(50.0, _floor_rps(ctx))
    scenario = Scenario(
        "verify_token_hot_stream_open_loop",
        VERIFY_STREAM,
        items,
        rate=rate,
        **STREAM_LOAD,
        notes="VerifyStream items on a fixed schedule at the floor's RPS (what unary calls top out "
        "at): per-item latency from the scheduled send",
    )
    return run_scenario(scenario, sidecar.target, [sidecar.proc.pid], emulator, ctx.duration, ctx.warmup)


def _open_loop_at(
    emulator, sidecar, name: str, method: str, payloads: list[bytes], fraction: float, ctx: RunContext
) -> dict:
    """Open loop at a fraction of the floor's RPS (a fixed rate would be saturation on a slow host and
    idle on a fast one); compare its p99 with floor_open_loop_* at the same fraction."""
    scenario = Scenario(
        name,
        method,
        payloads,
        rate=max(50.0, _floor_rps(ctx) * fraction),
        # the floor's own open loops (the floor group) are run alone; the others beside the floor
        floor=None if method == HEALTH_CHECK else INTERLEAVED_FLOOR,
        notes=f"open loop at {fraction:g}× the floor's RPS: latency at a realistic load",
        extra={"floor_fraction": fraction},
    )
    return run_scenario(scenario, sidecar.target, [sidecar.proc.pid], emulator, ctx.duration, ctx.warmup)


def _sessions(emulator, sidecar, sizes: Sizes, ctx: RunContext) -> list:
    hot = _bulk_sessions(emulator, sizes.sessions)
    # Each IsRevoked scenario gets its own sessions and its own warm-up pass right before it: a
    # session's first IsRevoked asks the platform (it must learn the session exists), hits don't
    # extend an entry's life, so sessions warmed for an earlier scenario may have aged out.
    return [
        lambda e, s: _warmed_revocable(
            e,
            s,
            sizes,
            ctx,
            lambda tokens: Scenario(
                "is_revoked",
                AUTH + "IsRevoked",
                [pb.IsRevokedRequest(session_token=t, phone=PHONE).SerializeToString() for t in tokens],
                notes=f"{len(tokens)} sessions, 10% revoked, after one warm-up pass",
            ),
        ),
        lambda e, s: _warmed_revocable(
            e,
            s,
            sizes,
            ctx,
            lambda tokens: Scenario(
                "is_revoked_stream",
                VERIFY_STREAM,
                stream_items("is_revoked", tokens, PHONE),
                **STREAM_LOAD,
                notes=f"is_revoked's load as VerifyStream items (its own {len(tokens)} sessions, 10% revoked, after "
                f"one warm-up pass): {STREAM_LOAD['streams']} streams × {STREAM_LOAD['window']} items in flight",
            ),
        ),
        Scenario(
            "verify_session_hot",
            AUTH + "VerifySession",
            [pb.VerifySessionRequest(session_token=t, phone=PHONE).SerializeToString() for t in hot],
            notes=f"{len(hot)} verified sessions round-robin",
        ),
        Scenario(
            "verify_session_hot_stream",
            VERIFY_STREAM,
            stream_items("verify_session", hot, PHONE),
            **STREAM_LOAD,
            notes=f"verify_session_hot's sessions as VerifyStream items: {STREAM_LOAD['streams']} streams × "
            f"{STREAM_LOAD['window']} items in flight",
        ),
        lambda e, s: _propagation(e, s, sizes),
        lambda e, s: _amplification(e, s, sizes),
    ]


# The sidecar's platform.session_cache_ttl_seconds (the bench leaves the default): a warmed session is
# a hit for this long after its first IsRevoked, and hits do not extend it.
SESSION_TTL_SECONDS = 30.0
# Between the end of the warm-up pass and the first measured call: spawning the load process, its own
# warm-up is ctx.warmup on top (a slow host takes a second or two to start a Python process).
START_MARGIN_SECONDS = 4.0
PROBE_SESSIONS = 500


def _warmed_revocable(emulator, sidecar, sizes: Sizes, ctx: RunContext, scenario) -> dict:
    """New sessions (10% revoked), one IsRevoked pass over them, then `scenario(tokens)` at once. The
    pass is sized from the rate measured on its first PROBE_SESSIONS, so that the first session warmed
    is still cached when the measured window ends (on a slow host, fewer sessions instead of misses)."""
    tokens = _bulk_sessions(emulator, sizes.revocable)
    for token in tokens[::10]:
        emulator.http.post("/_control/platform/sessions/revoke", json={"session_token": token}).raise_for_status()
    started = time.perf_counter()
    before = emulator.counters().get(STATUS_ROUTE, 0)
    probe = min(len(tokens), PROBE_SESSIONS)
    _warm_sessions(sidecar, tokens[:probe])
    probe_seconds = time.perf_counter() - started
    rate = probe / max(probe_seconds, 1e-3)
    left = SESSION_TTL_SECONDS - probe_seconds - ctx.warmup - ctx.duration - START_MARGIN_SECONDS
    count = min(len(tokens), probe + max(0, int(rate * left)))
    _warm_sessions(sidecar, tokens[probe:count])
    tokens = tokens[:count]
    warm = {
        "sessions": count,
        "first_pass_seconds": round(time.perf_counter() - started, 2),
        "first_pass_rate": round(rate),
        "first_pass_upstream_requests": emulator.counters().get(STATUS_ROUTE, 0) - before,
    }
    if count < sizes.revocable:
        print(
            f"  {scenario(tokens[:1]).name}: warm-up at {rate:,.0f}/s; {count:,} of {sizes.revocable:,} sessions "
            f"fit the {SESSION_TTL_SECONDS:g}s cache life with the measured window",
            file=sys.stderr,
            flush=True,
        )
    result = run_scenario(scenario(tokens), sidecar.target, [sidecar.proc.pid], emulator, ctx.duration, ctx.warmup)
    return {**result, **warm}


def _warm_sessions(sidecar, tokens: list[str]) -> None:
    requests = [pb.IsRevokedRequest(session_token=t, phone=PHONE) for t in tokens]
    if requests:
        asyncio.run(_drive(sidecar.target, "IsRevoked", requests, concurrency=64, flag="revoked"))


def _bulk_sessions(emulator, count: int) -> list[str]:
    resp = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE, "count": count}, timeout=120)
    resp.raise_for_status()
    return resp.json()["session_tokens"]


def _propagation(emulator, sidecar, sizes: Sizes) -> dict:
    """Revoke on the emulator → until the sidecar answers revoked (its answer comes from the stream)."""
    tokens = _bulk_sessions(emulator, sizes.propagation)
    delays = []
    for token in tokens:
        assert sidecar.stub.VerifySession(pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=5).valid
        started = time.perf_counter()
        emulator.http.post("/_control/platform/sessions/revoke", json={"session_token": token}).raise_for_status()
        while not sidecar.stub.IsRevoked(pb.IsRevokedRequest(session_token=token, phone=PHONE), timeout=5).revoked:
            if time.perf_counter() - started > 5:
                break
        delays.append(int((time.perf_counter() - started) * 1e6))
    delays.sort()
    return {
        "scenario": "revocation_propagation",
        "revocations": len(delays),
        "p50_ms": percentile(delays, 0.5),
        "p99_ms": percentile(delays, 0.99),
        "max_ms": delays[-1] / 1000,
        "notes": "from sending the revoke to the emulator until IsRevoked answers true (includes that HTTP call)",
    }


def _amplification(emulator, sidecar, sizes: Sizes) -> dict:
    distinct = min(100, sizes.amplification_calls)
    tokens = _bulk_sessions(emulator, distinct)
    before = emulator.counters().get(STATUS_ROUTE, 0)
    requests = [
        pb.VerifySessionRequest(session_token=tokens[i % distinct], phone=PHONE)
        for i in range(sizes.amplification_calls)
    ]
    valid = asyncio.run(_drive(sidecar.target, "VerifySession", requests, concurrency=50))
    upstream = emulator.counters().get(STATUS_ROUTE, 0) - before
    return {
        "scenario": "upstream_amplification",
        "calls": len(requests),
        "distinct_sessions": distinct,
        "valid_answers": valid,
        "upstream_status_requests": upstream,
        "upstream_per_distinct_session": round(upstream / distinct, 3),
    }


def _memory(emulator, sidecar, signer: BenchSigner, sizes: Sizes) -> dict:
    n = sizes.memory_entries
    start = procstats.memory_mb(sidecar.proc.pid)["rss_mb"]
    tokens = [pb.VerifyTokenRequest(token=t) for t in signer.mint(emulator, n, "mem")]
    sessions = [pb.VerifySessionRequest(session_token=t, phone=PHONE) for t in _bulk_sessions(emulator, n)]
    valid_tokens = asyncio.run(_drive(sidecar.target, "VerifyToken", tokens, concurrency=64, progress="memory"))
    valid_sessions = asyncio.run(_drive(sidecar.target, "VerifySession", sessions, concurrency=64, progress="memory"))
    mem = procstats.memory_mb(sidecar.proc.pid)
    return {
        "scenario": "memory",
        "cached_tokens": valid_tokens,
        "cached_sessions": valid_sessions,
        "rss_start_mb": round(start, 1),
        "rss_mb": round(mem["rss_mb"], 1),
        "peak_rss_mb": round(mem["peak_rss_mb"], 1),
        "cache_entries": {
            name: sidecar.metric("authsidecar_cache_entries", cache=name) for name in ("verified_tokens", "sessions")
        },
        "memory_budget_mb": sidecar.metric("authsidecar_memory_budget_bytes") / 2**20,
        # 20k entries per cache traced in a full run; the smoke run (1k cached) traces 2k: it proves the figure
        "bytes_per_entry_traced": bytes_per_entry(20_000 if n >= 10_000 else 2_000),
        "notes": "RSS of the whole process with n distinct tokens and n distinct sessions cached; "
        "bytes_per_entry_traced: Python objects per entry of each cache (bench/entry_sizes.py)",
    }


def _alt_pyjwt(emulator, signer: BenchSigner, sizes: Sizes) -> dict:
    """What a Python service does without the sidecar: PyJWKClient + jwt.decode, in-process, per call."""
    tokens = signer.mint(emulator, min(1000, sizes.hot_tokens), "alt")
    client = jwt.PyJWKClient(f"{emulator.url}/issuers/main/.well-known/jwks.json", cache_keys=True)
    latencies = []
    deadline = time.perf_counter() + sizes.alternative_seconds
    i = 0
    while time.perf_counter() < deadline:
        token = tokens[i % len(tokens)]
        t0 = time.perf_counter()
        key = client.get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=["ES256"], audience="authsidecar-demo")
        latencies.append(int((time.perf_counter() - t0) * 1e6))
        i += 1
    latencies.sort()
    return {
        "scenario": "alternative_pyjwt_in_process",
        "calls": len(latencies),
        "rps": len(latencies) / sizes.alternative_seconds,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "notes": "one thread, no network: the per-call cost the "
        "sidecar's verified-token cache removes (and a JWKS client per process)",
    }


def _alt_upstream_per_call(emulator, sizes: Sizes) -> dict:
    """What an SDK without a cache does: one platform status request per VerifySession."""
    tokens = _bulk_sessions(emulator, 100)
    latencies: list[int] = []

    async def run() -> None:
        client = RauthClient(f"{emulator.url}/v2", cfg.EMULATOR_API_KEY, cfg.EMULATOR_APP_ID, 5.0)
        deadline = time.perf_counter() + sizes.alternative_seconds

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await client.session_status(tokens[i % len(tokens)], PHONE)
                latencies.append(int((time.perf_counter() - t0) * 1e6))
                i += 32

        await asyncio.gather(*(worker(k) for k in range(32)))
        await client.aclose()

    before = emulator.counters().get(STATUS_ROUTE, 0)
    asyncio.run(run())
    latencies.sort()
    return {
        "scenario": "alternative_session_upstream_per_call",
        "calls": len(latencies),
        "rps": len(latencies) / sizes.alternative_seconds,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "upstream_status_requests": emulator.counters().get(STATUS_ROUTE, 0) - before,
        "notes": "32 concurrent callers, each VerifySession one HTTP request to the platform (emulator on loopback)",
    }


def _ledger_claims(sizes: Sizes) -> list:
    """One claim in this process's ledger, then through Redis, with the ratio of the two."""
    seen: dict = {}

    def memory(emulator, sidecar) -> dict:
        seen.update(ledger_claims.memory(sizes.alternative_seconds))
        return seen

    def redis(emulator, sidecar) -> dict:
        result = ledger_claims.redis(sizes.alternative_seconds)
        if "p50_us" in result and seen.get("p50_us"):
            result["p50_ratio_to_memory"] = round(result["p50_us"] / seen["p50_us"], 1)
        return result

    return [memory, redis]
