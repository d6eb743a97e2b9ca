"""Throughput against latency, unary calls and VerifyStream items side by side (bench/plot.py draws it).

Open-loop points at rising fractions of the floor's RPS, for hot VerifyToken: one unary call per
question, then the same questions as stream items. A point is "kept up" when at least 90 % of the
offered rate was answered with a p50 under 50 ms; a mode's sweep stops after two points in a row that
were not (past that, latency only measures the queue; two, so one noisy moment doesn't end it).
"""

from __future__ import annotations

from .harness import Scenario
from .harness import run as run_scenario

FRACTIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
QUICK_FRACTIONS = (0.5,)  # one point per mode: the smoke proves both are measured and drawn
KEPT_UP = 0.9
QUEUEING_P50_MS = 50.0


def kept_up(point: dict) -> bool:
    return point["rps"] >= KEPT_UP * point["offered_rps"] and point["p50_ms"] <= QUEUEING_P50_MS


def latency_curve(emulator, sidecar, unary: list[bytes], items: list[bytes], ctx) -> dict:
    from .scenarios import AUTH, STREAM_LOAD, VERIFY_STREAM, _floor_rps  # noqa: PLC0415 (scenarios imports this module)

    floor = _floor_rps(ctx)
    quick = ctx.duration < 1
    duration, warmup = (ctx.duration, ctx.warmup) if quick else (max(2.0, ctx.duration / 3), 1.0)
    modes = {
        "unary": Scenario("curve_unary", AUTH + "VerifyToken", unary, concurrency=0),
        "stream": Scenario("curve_stream", VERIFY_STREAM, items, **STREAM_LOAD),
    }
    points = []
    for mode, template in modes.items():
        missed = 0
        for fraction in QUICK_FRACTIONS if quick else FRACTIONS:
            rate = max(50.0, floor * fraction)
            template.rate = rate
            r = run_scenario(template, sidecar.target, [sidecar.proc.pid], emulator, duration, warmup)
            point = {
                "mode": mode,
                "offered_rps": round(rate),
                "rps": round(r["rps"]),
                "p50_ms": r["p50_ms"],
                "p99_ms": r["p99_ms"],
                "errors": r["errors"],
            }
            points.append({**point, "kept_up": kept_up(point)})
            missed = 0 if kept_up(point) else missed + 1
            if missed == 2:
                break
    best = {m: max((p["rps"] for p in points if p["mode"] == m and p["kept_up"]), default=0) for m in modes}
    return {
        "scenario": "latency_curve",
        "floor_rps": round(floor),
        "seconds_per_point": duration,
        "highest_rate_kept_up": best,
        "points": points,
        "notes": "open loop, hot VerifyToken: unary calls vs VerifyStream items; drawn in the PNG beside the JSON",
    }
