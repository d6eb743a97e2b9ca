"""`make flood`: a flood of distinct hostile requests must keep the sidecar's memory and upstream traffic bounded.

  python -m soak.flood [--calls 1000000] [--round 100000] [--out soak/results]

Every request is distinct and pre-serialized, driven by the benchmark's load generator (bench/load.py,
each payload sent once): garbage tokens, well-formed JWTs with random kids for a configured issuer,
JWTs from random issuers, and random session ids for VerifySession and IsRevoked. The sidecar runs
with small cache bounds so the flood fills them. The report (soak/results/flood-<UTC>.json) has, per
kind, calls and RPS; the sidecar's RSS after each round; the cache-entry gauges against their
bounds; the upstream requests the emulator saw against what the negative caches and the lookup budget
allow; and the count of valid answers (must be 0). Exits 1 when a bound is broken.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import time

from authsidecar.v1 import auth_pb2 as pb
from bench import procstats
from bench.harness import Scenario
from bench.harness import run as run_scenario
from harness.processes import EmulatorProcess, SidecarProcess, deep_merge, emulator_config
from sidecar.config import EMULATOR_ISSUERS
from sidecar.core.tokens.jwks_cache import NEGATIVE_MAX_ENTRIES

from . import runs

AUTH = "/authsidecar.v1.AuthService/"
PHONE = "+14155552671"
CACHE_MAX = 5_000  # small on purpose: the flood must reach it
UNKNOWN_RATE, UNKNOWN_BURST = 20.0, 100
KID_COOLDOWN = 30.0
JWKS_TTL = 300.0  # the emulator's default max-age
CONCURRENCY = 16
# Share of the calls per kind: (method, share).
KINDS = {
    "garbage_token": ("VerifyToken", 0.35),
    "random_kid_jwt": ("VerifyToken", 0.2),
    "random_issuer_jwt": ("VerifyToken", 0.15),
    "random_session_verify": ("VerifySession", 0.15),
    "random_session_is_revoked": ("IsRevoked", 0.15),
}
STATUS_ROUTE = "POST /v2/backend/session/status"
JWKS_ROUTE = "GET /issuers/{name}/.well-known/jwks.json"


def sidecar_settings(emulator_url: str) -> dict:
    return deep_merge(
        emulator_config(emulator_url),
        {
            "platform": {
                "session_cache_max_entries": CACHE_MAX,
                "unknown_lookups_per_second": UNKNOWN_RATE,
                "unknown_lookups_burst": UNKNOWN_BURST,
            },
            "jwks": {"verified_cache_max_entries": CACHE_MAX, "unknown_kid_cooldown_seconds": KID_COOLDOWN},
            "limits": {"max_in_flight": 1000},
        },
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(rng: random.Random, iss: str, kid: str, alg: str = "ES256") -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    claims = {
        "iss": iss,
        "sub": f"user-{rng.getrandbits(32)}",
        "aud": "authsidecar-demo",
        "exp": int(time.time()) + 3600,
        "jti": rng.randbytes(8).hex(),
    }
    signature = rng.randbytes(64 if alg == "ES256" else 256)
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


def payloads(kind: str, count: int, rng: random.Random, issuers: dict[str, str]) -> list[bytes]:
    """`count` distinct serialized requests of one kind; `issuers`: configured issuer URL → its algorithm."""
    out = []
    for _ in range(count):
        if kind == "garbage_token":
            msg = pb.VerifyTokenRequest(token=_b64(rng.randbytes(rng.randint(8, 300))))
        elif kind == "random_kid_jwt":
            iss = rng.choice(list(issuers))  # a configured issuer and its own alg: the kid lookup is reached
            msg = pb.VerifyTokenRequest(token=_jwt(rng, iss, rng.randbytes(12).hex(), issuers[iss]))
        elif kind == "random_issuer_jwt":
            msg = pb.VerifyTokenRequest(token=_jwt(rng, f"https://{rng.randbytes(6).hex()}.example/", "k1"))
        else:
            session = "sess_" + _b64(rng.randbytes(18))
            request = pb.VerifySessionRequest if kind == "random_session_verify" else pb.IsRevokedRequest
            msg = request(session_token=session, phone=PHONE)
        out.append(msg.SerializeToString())
    return out


def bounds(seconds: float, issuers: int) -> dict:
    """What the negative caches and the lookup budget allow over a run of `seconds`."""
    return {
        # The budget: a burst, then `rate` a second, plus lookups already in flight when it ran out.
        "platform_status_requests": int(UNKNOWN_BURST + UNKNOWN_RATE * seconds + CONCURRENCY),
        # Per issuer: the first load, the scheduled refreshes, one miss-triggered fetch per cooldown.
        "jwks_fetches": int(issuers * (1 + seconds / (0.8 * JWKS_TTL) + seconds / KID_COOLDOWN + 1)),
        "cache_entries": {
            "sessions": CACHE_MAX,
            "sessions_negative": CACHE_MAX,
            "revoked": CACHE_MAX,
            "verified_tokens": CACHE_MAX,
            "unknown_kids": NEGATIVE_MAX_ENTRIES * issuers,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak.flood")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--round", type=int, default=100_000, help="calls per round (RSS is sampled after each)")
    parser.add_argument("--rss-bound-mb", type=float, default=250.0, help="the sidecar's peak RSS must stay under this")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(runs.DEFAULT_OUT))
    args = parser.parse_args(argv)
    report = runs.with_processes(lambda e: sidecar_settings(e.url), lambda e, s: flood(e, s, args))
    runs.write(report, args.out, "flood-", _summary(report))
    return 0 if report["within_bounds"] else 1


def flood(emulator: EmulatorProcess, sidecar: SidecarProcess, args) -> dict:
    rng = random.Random(args.seed)
    issuers = {f"{emulator.url}/issuers/{name}": algs[0] for name, algs in EMULATOR_ISSUERS.items()}
    pid = sidecar.proc.pid
    rss_start = procstats.memory_mb(pid)["rss_mb"]
    upstream_before = emulator.counters()
    started = time.monotonic()
    kinds = {kind: {"calls": 0, "errors": 0, "seconds": 0.0} for kind in KINDS}
    rounds = []
    done = 0
    while done < args.calls:
        size = min(args.round, args.calls - done)
        for kind, (method, share) in KINDS.items():
            count = max(1, round(size * share))
            scenario = Scenario(
                kind, AUTH + method, payloads(kind, count, rng, issuers), concurrency=CONCURRENCY, calls=count
            )
            result = run_scenario(scenario, sidecar.target, [pid], emulator, duration=600.0, warmup=0.0)
            for key in ("calls", "errors", "seconds"):
                kinds[kind][key] += result[key]
        done += size
        rounds.append(
            {
                "calls": done,
                "seconds": round(time.monotonic() - started, 1),
                "rss_mb": round(procstats.memory_mb(pid)["rss_mb"], 1),
            }
        )
        print(f"flood: {done} calls, RSS {rounds[-1]['rss_mb']} MB", flush=True)
    seconds = time.monotonic() - started
    upstream_after = emulator.counters()
    upstream = {
        k: upstream_after.get(k, 0) - upstream_before.get(k, 0)
        for k in upstream_after
        if upstream_after.get(k, 0) != upstream_before.get(k, 0)
    }
    mem = procstats.memory_mb(pid)
    limit = bounds(seconds, len(issuers))
    caches = {k: v for k, v in runs.cache_entries(sidecar).items() if k in limit["cache_entries"]}
    figures = {
        "platform_status_requests": upstream.get(STATUS_ROUTE, 0),
        "jwks_fetches": upstream.get(JWKS_ROUTE, 0),
        "valid_answers": sidecar.metric("authsidecar_rpc_total", outcome="valid")
        + sidecar.metric("authsidecar_rpc_total", outcome="not_revoked"),
        "lookups_refused": sidecar.metric("authsidecar_lookups_refused_total"),
        "cache_evictions": sidecar.metric("authsidecar_cache_evictions_total"),
    }
    broken = [name for name in ("platform_status_requests", "jwks_fetches") if figures[name] > limit[name]]
    broken += [f"cache {name}" for name, n in caches.items() if n > limit["cache_entries"][name]]
    broken += ["valid answers"] if figures["valid_answers"] else []
    broken += ["peak RSS"] if mem["peak_rss_mb"] > args.rss_bound_mb else []
    broken += [f"{k} errors" for k, v in kinds.items() if v["errors"]]
    return {
        "calls": done,
        "seconds": round(seconds, 1),
        "rps": round(done / seconds, 1) if seconds else None,
        "kinds": {k: {**v, "seconds": round(v["seconds"], 2)} for k, v in kinds.items()},
        "rounds": rounds,
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(mem["rss_mb"], 1),
            "peak": round(mem["peak_rss_mb"], 1),
            "growth": round(mem["rss_mb"] - rss_start, 1),
            "bound": args.rss_bound_mb,
        },
        "cache_entries": caches,
        **figures,
        "bounds": limit,
        "upstream_requests": upstream,
        "broken_bounds": broken,
        "within_bounds": not broken,
    }


def _summary(r: dict) -> str:
    b = r["bounds"]
    lines = [
        f"flood {r['calls']} calls in {r['seconds']} s ({r['rps']} rps): "
        + ", ".join(f"{k} {v['calls']}" for k, v in r["kinds"].items()),
        f"  RSS MB start {r['rss_mb']['start']}, end {r['rss_mb']['end']}, peak {r['rss_mb']['peak']} "
        f"(bound {r['rss_mb']['bound']})",
        f"  platform status requests {r['platform_status_requests']} (bound {b['platform_status_requests']}), "
        f"lookups refused {r['lookups_refused']:.0f}",
        f"  JWKS fetches {r['jwks_fetches']} (bound {b['jwks_fetches']})",
        "  cache entries " + ", ".join(f"{k} {v:.0f}/{b['cache_entries'][k]}" for k, v in r["cache_entries"].items()),
        f"  valid answers {r['valid_answers']:.0f}; bounds broken: {', '.join(r['broken_bounds']) or 'none'}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
