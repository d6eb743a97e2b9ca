"""Run one scenario against a live sidecar: spawn load processes, collect latencies, CPU, RSS, upstream calls."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import procstats

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Scenario:
    name: str
    method: str  # full gRPC path, e.g. /grpc.health.v1.Health/Check
    payloads: list[bytes]
    concurrency: int = 32
    rate: float | None = None  # open loop when set
    load_processes: int = 1
    connections: int = 1  # per load process
    calls: int | None = None  # each payload once, then stop (see load.py); duration is the cap
    streams: int = 0  # >0: VerifyStream mode, payloads are VerifyStreamRequests without id
    window: int = 0  # VerifyStream closed loop: items in flight per stream
    pack: bool = False  # VerifyStream closed loop: several items per message (issue 30)
    # Interleaved with the floor (method, payloads) in alternating slices on the same sidecar: the
    # ratio then compares the two under the same host, not a minute apart (see load.interleaved).
    floor: tuple[str, list[bytes]] | None = None
    slices: int = 8
    notes: str = ""
    extra: dict = field(default_factory=dict)


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k] / 1000.0  # µs → ms


def run(scenario: Scenario, target: str, sidecar_pids: list[int], emulator, duration: float, warmup: float) -> dict:
    """Drive one scenario; CPU and memory are summed over every sidecar process serving `target`."""
    spec = {
        "target": target,
        "method": scenario.method,
        "concurrency": scenario.concurrency,
        "connections": scenario.connections,
        "calls": scenario.calls,
        "rate": scenario.rate,
        "duration": duration,
        "warmup": warmup,
        "streams": scenario.streams,
        "window": scenario.window,
        "pack": scenario.pack,
        "payloads": [base64.b64encode(p).decode() for p in scenario.payloads],
    }
    if scenario.floor is not None:
        method, payloads = scenario.floor
        spec["floor"] = {
            "method": method,
            "payloads": [base64.b64encode(p).decode() for p in payloads],
            # a quick run's fraction of a second gets one slice a side
            "slices": max(1, min(scenario.slices, int(duration))),
        }
        spec["sidecar_pids"] = sidecar_pids
    before_counts = emulator.counters()
    cpu_before = sum(procstats.cpu_seconds(pid) for pid in sidecar_pids)
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        procs = [
            subprocess.Popen([sys.executable, "-m", "bench.load", str(spec_path)], cwd=ROOT, stdout=subprocess.PIPE)
            for _ in range(scenario.load_processes)
        ]
        outputs = [json.loads(p.communicate(timeout=2 * (duration + warmup) + 120)[0]) for p in procs]
    cpu_used = sum(procstats.cpu_seconds(pid) for pid in sidecar_pids) - cpu_before
    memory = [procstats.memory_mb(pid) for pid in sidecar_pids]
    after_counts = emulator.counters()
    latencies = sorted(v for o in outputs for v in o["latencies_us"])
    calls = len(latencies)
    # The sidecar's CPU was read over the whole run, warm-up included: divide by every call of the run.
    answered = sum(o.get("answered", len(o["latencies_us"])) for o in outputs)
    seconds = max(o["seconds"] for o in outputs)  # the duration, or less when a `calls` run ended first
    upstream = {
        k: after_counts.get(k, 0) - before_counts.get(k, 0)
        for k in after_counts
        if after_counts.get(k, 0) != before_counts.get(k, 0)
    }
    return {
        "scenario": scenario.name,
        "mode": "open" if scenario.rate else "closed",
        "concurrency": scenario.concurrency,
        "rate": scenario.rate,
        "load_processes": scenario.load_processes,
        "connections": scenario.connections,
        "sidecar_processes": len(sidecar_pids),
        **({"streams": scenario.streams, "items_in_flight_per_stream": scenario.window} if scenario.streams else {}),
        **({"packed": True} if scenario.pack else {}),
        "calls": calls,
        "answered": answered,
        "errors": sum(o["errors"] for o in outputs),
        "seconds": round(seconds, 3),
        "rps": calls / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "p999_ms": percentile(latencies, 0.999),
        "sidecar_cpu_seconds_per_1k_calls": (cpu_used / answered * 1000) if answered else None,
        "rss_mb": sum(m["rss_mb"] for m in memory),
        "peak_rss_mb": sum(m["peak_rss_mb"] for m in memory),
        "upstream_requests": upstream,
        "upstream_requests_total": sum(upstream.values()),
        "notes": scenario.notes,
        **scenario.extra,
        **(_interleaved(outputs[0], scenario) if scenario.floor is not None else {}),
    }


def _interleaved(output: dict, scenario: Scenario) -> dict:
    """The figures of a run interleaved with the floor: each side's CPU is read around its own slices
    (the whole run's would mix them), and the floor's figures measured beside it."""
    floor = output["floor"]
    latencies = sorted(floor["latencies_us"])

    def typical_p99(side: dict) -> float:
        # the median slice's p99: one host stall (steal) lands in one slice of one side and sets the
        # whole run's p99; this says what a usual second looked like on each side
        slices = sorted(side.get("slice_p99_us", []))
        return slices[len(slices) // 2] / 1000.0 if slices else float("nan")

    def steal(side: dict) -> float:
        return round(100 * side["steal"] / side["host"], 1) if side["host"] else 0.0

    return {
        "sidecar_cpu_seconds_per_1k_calls": output["cpu"] / output["answered"] * 1000 if output["answered"] else None,
        "interleaved_slices": 2 * max(1, min(scenario.slices, int(output["seconds"]))),
        "host_steal_percent": steal(output),
        "median_slice_p99_ms": typical_p99(output),
        "interleaved_floor": {
            "method": scenario.floor[0] if scenario.floor else "",
            "calls": len(latencies),
            "errors": floor["errors"],
            "rps": len(latencies) / floor["seconds"] if floor["seconds"] else 0.0,
            "p50_ms": percentile(latencies, 0.50),
            "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99),
            "p999_ms": percentile(latencies, 0.999),
            "sidecar_cpu_seconds_per_1k_calls": floor["cpu"] / floor["answered"] * 1000 if floor["answered"] else None,
            "host_steal_percent": steal(floor),
            "median_slice_p99_ms": typical_p99(floor),
        },
    }
