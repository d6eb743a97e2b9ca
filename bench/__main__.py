"""`make bench`: start the emulator and a sidecar as separate processes, run every scenario, write JSON.

  python -m bench [--quick] [--out bench/results]

Results: bench/results/<UTC timestamp>.json and a printed table; each scenario also reports its
RPS as a ratio to the floor scenario measured in the same run (a noisy 2-core machine makes
absolute numbers drift; ratios side by side are what we track).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.processes import EmulatorProcess, SidecarProcess, deep_merge, emulator_config, free_port

from . import envoy as envoy_bench
from . import harness, plot, scenarios, timing
from . import report as report_md

DEFAULT_OUT = str(harness.ROOT / "bench" / "results")
# A "hot" scenario measures cache hits: platform lookups past this share of its calls mean it measured
# something else (entries that expired during a slow warm-up, say), and the run says so and fails.
HOT_LOOKUP_SHARE = 0.02


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes: the smoke run in make test")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    args = parser.parse_args()
    duration, warmup = (0.3, 0.1) if args.quick else (8.0, 2.0)
    tmp = Path(tempfile.mkdtemp(prefix="authsidecar-bench-"))
    live: list[int] = []  # the processes running now (their CPU is read from /proc until they are waited for)
    clock = timing.Clock(lambda: live)
    emulator = EmulatorProcess(tmp)
    live.append(emulator.proc.pid)
    clock.lap("imports, emulator start")
    ctx = scenarios.RunContext(duration, warmup, tmp=tmp)
    results = ctx.results
    invalid: list[str] = []
    started: dict[int, tuple[list[SidecarProcess], str | None]] = {}  # group id → its sidecars and target
    try:
        chosen = [g for g in scenarios.groups(args.quick, ctx) if not args.only or any(s in args.only for s in g.names)]
        if args.quick:
            # Every sidecar starts at once, before the first scenario: starts overlap instead of queueing
            # (a fraction of a second of load per scenario, ~1.5 s per start). Caches are still fresh per
            # group, and an idle sidecar asks no upstream anything (JWKS max-age 300 s) to count against
            # a scenario's figures. A full run starts each when its group comes, so none runs beside a load.
            for group in chosen:
                if group.prepare:
                    group.prepare(emulator)
            for group in chosen:
                started[id(group)] = _start(group, emulator, tmp)
                live.extend(s.proc.pid for s in started[id(group)][0])
        for group in chosen:
            label = group.names[0] + (" group" if len(group.names) > 1 else "")
            if id(group) not in started:
                if group.prepare:
                    group.prepare(emulator)
                started[id(group)] = _start(group, emulator, tmp)
                live.extend(s.proc.pid for s in started[id(group)][0])
            sidecars, target = started[id(group)]
            sidecar = sidecars[0]
            try:
                for s in sidecars:
                    s.wait_for("SERVING")
                clock.lap(f"{label}: sidecar start")
                items = group.build(emulator, sidecar)
                clock.lap(f"{label}: build (mint, sessions)")
                for item in items:
                    if isinstance(item, harness.Scenario) and args.only and item.name not in args.only:
                        continue  # not asked for: not run (callables are named only once they ran)
                    if isinstance(item, harness.Scenario):
                        result = harness.run(
                            item, target or sidecar.target, [s.proc.pid for s in sidecars], emulator, duration, warmup
                        )
                    else:
                        result = item(emulator, sidecar)
                    clock.lap(result["scenario"])
                    if args.only and result["scenario"] not in args.only:
                        continue
                    results.append(result)
                    print(_row(result), flush=True)
                    if (problem := _hot_lookups(result)) is not None:
                        print(f"BENCH INVALID: {problem}", file=sys.stderr, flush=True)
                        result["invalid"] = problem
                        invalid.append(problem)
            finally:
                for s in started.pop(id(group))[0]:
                    s.stop()
                    live.remove(s.proc.pid)
                clock.lap(f"{label}: sidecar stop")
    finally:
        for sidecars, _ in started.values():  # started, never reached: a scenario before them failed
            for s in sidecars:
                s.stop()
        emulator.stop()
        live.clear()
        clock.lap("emulator stop")
    _add_ratios(results)
    envoy_bench.add_ratios(results)
    report = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": _machine(),
        "duration_seconds": duration,
        "scenarios": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2))
    png = plot.draw(report, path.with_suffix(".png"))
    plotted = f" and {png}" if png else " (no plot: matplotlib missing)"
    clock.lap("report and plot")
    clock.summary()
    print(f"\n{report_md.render(report)}\n\nwrote {path}" + plotted)
    if not args.quick and args.out == DEFAULT_OUT:
        report_md.update_readme(report)
        if png:
            shutil.copyfile(png, out / plot.LATEST)  # the one bench/README.md shows
    if invalid and not args.quick:  # quick runs are too short for the share to mean anything
        print("\nBENCH INVALID (results written, not to be quoted):\n  " + "\n  ".join(invalid), file=sys.stderr)
        return 1
    return 0


def _start(group: scenarios.Group, emulator: EmulatorProcess, tmp: Path) -> tuple[list[SidecarProcess], str | None]:
    """The group's sidecar processes, started (not yet waited for), and the target the load aims at
    when several share a port (None: the first sidecar's own)."""
    config = deep_merge(emulator_config(emulator.url), group.config)
    target = None
    if group.processes > 1:  # several processes share one port (reuse_port); the load targets it
        target = f"127.0.0.1:{free_port()}"
        config = deep_merge(config, {"listen": [target], "reuse_port": True})
    env = group.env() if group.env else None
    return [SidecarProcess(config, tmp, env) for _ in range(group.processes)], target


def _hot_lookups(r: dict) -> str | None:
    """Why a hot scenario's figures are not cache hits, or None."""
    name = r["scenario"]
    if not ("hot" in name or name.startswith("is_revoked")) or not r.get("calls"):
        return None
    lookups = r.get("upstream_requests_total", 0)
    if lookups <= HOT_LOOKUP_SHARE * r["calls"]:
        return None
    return (
        f"{name}: {lookups:,} platform lookups for {r['calls']:,} measured calls "
        f"(over {HOT_LOOKUP_SHARE:.0%}): it measured misses, not a hot cache"
    )


def _add_ratios(results: list[dict]) -> None:
    """RPS over the floor measured the same way: the wide-load scenarios against floor_2_loads."""
    floors = {r["scenario"]: r for r in results if r["scenario"] in ("floor", "floor_2_loads")}
    for r in results:
        wide = r.get("load_processes", 1) > 1
        floor = floors.get("floor_2_loads" if wide else "floor") or floors.get("floor")
        if floor and floor.get("rps") and r.get("rps") is not None:
            r["rps_ratio_to_floor"] = round(r["rps"] / floor["rps"], 3)
            r["floor_scenario"] = floor["scenario"]
        beside = r.get("interleaved_floor")
        if beside and beside.get("rps") and r.get("rps") and r.get("mode") == "closed":
            # Measured in slices beside the floor on one host: the figure that holds when steal drifts.
            r["rps_ratio_to_separate_floor"] = r.get("rps_ratio_to_floor")
            r["rps_ratio_to_floor"] = round(r["rps"] / beside["rps"], 3)
            r["floor_scenario"] = "interleaved"
    # Tracing and the decision log: throughput against the same hot tokens with both off.
    untraced = next((r for r in results if r["scenario"] == "verify_token_hot"), None)
    for r in results:
        if (
            untraced
            and untraced.get("rps")
            and r["scenario"].startswith(("verify_token_hot_traced", "verify_token_hot_decision"))
        ):
            r["rps_ratio_to_verify_token_hot"] = round(r["rps"] / untraced["rps"], 3)
            if "interleaved_floor" in r and "interleaved_floor" in untraced:
                # each measured beside the floor on its own sidecar: the ratio of those ratios holds
                # when the host drifts between the two groups
                r["rps_ratio_to_verify_token_hot_separately"] = r["rps_ratio_to_verify_token_hot"]
                r["rps_ratio_to_verify_token_hot"] = round(r["rps_ratio_to_floor"] / untraced["rps_ratio_to_floor"], 3)
    # Open loops: p99 against the floor's p99 at the same fraction of the floor's rate.
    open_floors = {r.get("floor_fraction"): r for r in results if r["scenario"].startswith("floor_open_loop")}
    for r in results:
        same = open_floors.get(r.get("floor_fraction"))
        if same is not None and same is not r and r.get("p99_ms") and same.get("p99_ms"):
            r["p99_ratio_to_floor_open_loop"] = round(r["p99_ms"] / same["p99_ms"], 3)
        beside = r.get("interleaved_floor")
        if beside and r.get("mode") == "open" and r.get("p99_ms") and beside.get("p99_ms"):
            r["p99_ratio_to_separate_floor_open_loop"] = r.get("p99_ratio_to_floor_open_loop")
            r["p99_ratio_to_floor_open_loop"] = round(r["p99_ms"] / beside["p99_ms"], 3)
            if beside.get("median_slice_p99_ms") and r.get("median_slice_p99_ms"):
                r["median_slice_p99_ratio_to_floor"] = round(
                    r["median_slice_p99_ms"] / beside["median_slice_p99_ms"], 3
                )


def _row(r: dict) -> str:
    if "p999_ms" not in r:
        return f"{r['scenario']:<28} " + json.dumps({k: v for k, v in r.items() if k != "scenario"})
    return (
        f"{r['scenario']:<28} {r['rps']:>9.0f} rps  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
        f"p99.9 {r['p999_ms']:.3f} ms  errors {r['errors']}  upstream {r['upstream_requests_total']}"
    )


def _machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
