"""`make soak`: mixed traffic against a live sidecar while the emulator is revoked, rotated and broken.

  python -m soak [--seconds 600] [--rate 150] [--workers 6] [--propagation-bound 1.0] [--out soak/results]

Every answer is judged against the emulator's ground truth at that moment (world.py); the report
(soak/results/<UTC timestamp>.json) has calls per RPC, wrong answers (with fingerprinted examples),
fail-closed answers, unexpected rejections, events applied, sidecar RSS at start/end/peak and CPU.
Exits 1 when any answer was wrong or the sidecar answered INTERNAL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime

from bench import procstats
from harness.processes import EmulatorProcess, SidecarProcess, deep_merge, emulator_config

from . import runs
from .events import JWKS_MAX_AGE, Events
from .report import Tally, summary
from .traffic import Pools, Traffic
from .world import Bounds, World

LEEWAY = 1.0
CIRCUIT_OPEN_SECONDS = 1.0
RSS_SAMPLE_SECONDS = 5.0


def sidecar_settings(emulator_url: str, extra: dict) -> dict:
    """Short timers, so rotations, expiries and recoveries happen many times in a short soak."""
    settings = emulator_config(emulator_url)
    for issuer in settings["issuers"]:
        issuer["leeway_seconds"] = LEEWAY
    settings = deep_merge(
        settings,
        {
            "jwks": {"ttl_seconds": JWKS_MAX_AGE, "min_ttl_seconds": 1, "unknown_kid_cooldown_seconds": 2},
            "circuit": {"open_seconds": CIRCUIT_OPEN_SECONDS},
            "platform": {"sse": {"heartbeat_timeout_seconds": 3, "reconnect_max_seconds": 2}},
        },
    )
    return deep_merge(settings, extra)


def jwks_bound() -> float:
    """A rotation is visible after one TTL (refresh-ahead at 80 %), plus a post-outage backoff (≤ TTL), plus 1 s."""
    return 2 * JWKS_MAX_AGE + 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=150.0, help="cases per second, all workers together")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument(
        "--propagation-bound",
        type=float,
        default=1.0,
        help="seconds after a revocation from which a 'valid' answer is wrong",
    )
    parser.add_argument(
        "--fault-grace",
        type=float,
        default=3.0,
        help="seconds after a fault heals in which fail-closed answers are expected",
    )
    parser.add_argument("--event-interval", type=float, default=1.5)
    parser.add_argument("--no-faults", action="store_true", help="revocations and rotations only")
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--sidecar-config", default="{}", help="JSON merged into the sidecar's settings")
    parser.add_argument("--out", default=str(runs.DEFAULT_OUT))
    args = parser.parse_args(argv)

    bounds = Bounds(propagation=args.propagation_bound, jwks=jwks_bound(), fault_grace=args.fault_grace, leeway=LEEWAY)

    def settings(emulator: EmulatorProcess) -> dict:
        Events.prepare(emulator.http)
        return sidecar_settings(emulator.url, json.loads(args.sidecar_config))

    report = runs.with_processes(settings, lambda e, s: asyncio.run(soak(e, s, bounds, args)))
    runs.write(report, args.out, "", summary(report))
    return 1 if report["wrong_answers"] or report["internal_errors"] else 0


async def soak(emulator: EmulatorProcess, sidecar: SidecarProcess, bounds: Bounds, args) -> dict:
    rng = random.Random(args.seed)
    world, pools = World(bounds), Pools()
    events = Events(emulator.url, world, pools, rng, args.event_interval)
    pid = sidecar.proc.pid
    try:
        await events.setup()
        started = time.time()
        until = started + args.seconds
        tally = Tally(started, args.examples)
        rss_start, cpu_start = procstats.memory_mb(pid)["rss_mb"], procstats.cpu_seconds(pid)
        traffic = Traffic(sidecar.target, world, pools, tally, rng)
        rss_samples: list[list[float]] = []
        await asyncio.gather(
            traffic.run(args.workers, args.rate, until),
            events.run(until, not args.no_faults),
            events.refill(until),
            _sample_rss(pid, started, until, rss_samples),
        )
    finally:
        await events.aclose()
    mem = procstats.memory_mb(pid)
    return {
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "settings": {
            "rate": args.rate,
            "workers": args.workers,
            "seed": args.seed,
            "propagation_bound_seconds": bounds.propagation,
            "jwks_bound_seconds": bounds.jwks,
            "fault_grace_seconds": bounds.fault_grace,
            "leeway_seconds": bounds.leeway,
            "event_interval_seconds": args.event_interval,
            "faults": not args.no_faults,
            "sidecar_config": json.loads(args.sidecar_config),
        },
        **tally.figures(),
        "events": dict(events.counts),
        "events_total": sum(events.counts.values()),
        "control_errors": dict(events.errors),
        "fault_windows": len(world.faults),
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(mem["rss_mb"], 1),
            "peak": round(mem["peak_rss_mb"], 1),
            "samples": rss_samples,
        },
        "sidecar_cpu_seconds": round(procstats.cpu_seconds(pid) - cpu_start, 2),
        "cache_entries_at_end": runs.cache_entries(sidecar),  # what the RSS growth is made of, mostly
        "upstream_requests": emulator.counters(),
    }


async def _sample_rss(pid: int, started: float, until: float, samples: list) -> None:
    """[seconds, RSS MB] every few seconds: growth over the run shows here (the peak is /proc's VmHWM)."""
    while time.time() < until:
        samples.append([round(time.time() - started), round(procstats.memory_mb(pid)["rss_mb"], 1)])
        await asyncio.sleep(max(0.0, min(RSS_SAMPLE_SECONDS, until - time.time())))


if __name__ == "__main__":
    raise SystemExit(main())
