"""Render a results JSON as the Markdown tables bench/README.md shows (`python -m bench.report FILE`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- latest-results:begin -->", "<!-- latest-results:end -->"


def render(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Run {report['started']} on {m['cpus']} CPUs, {m['processor']}, Python {m['python']}, "
        f"{report['duration_seconds']:.0f} s per load scenario.",
        "",
        "| scenario | RPS | × floor | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU s / 1k calls | peak RSS MB "
        "| upstream requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    others = []
    for s in report["scenarios"]:
        if "p999_ms" not in s:
            others.append(s)
            continue
        lines.append(
            f"| {s['scenario']} | {s['rps']:.0f} | {s.get('rps_ratio_to_floor', float('nan')):.2f} | "
            f"{s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {s['p999_ms']:.2f} | "
            f"{s['sidecar_cpu_seconds_per_1k_calls']:.3f} | {s['peak_rss_mb']:.0f} | "
            f"{s['upstream_requests_total']} |"
        )
    ratios = [
        f"{s['scenario']} {s['p99_ratio_to_floor_open_loop']:.2f}×"
        for s in report["scenarios"]
        if "p99_ratio_to_floor_open_loop" in s
    ]
    if ratios:
        lines += [
            "",
            "Open-loop p99 against the floor's p99 at the same fraction of its rate: " + ", ".join(ratios) + ".",
        ]
    beside = [
        f"{s['scenario']} {_beside(s)} (the floor beside it: {s['interleaved_floor']['rps']:.0f} RPS, "
        f"p99 {s['interleaved_floor']['p99_ms']:.2f} ms; host steal {s['host_steal_percent']:.1f} %)"
        for s in report["scenarios"]
        if "interleaved_floor" in s
    ]
    if beside:
        lines += [
            "",
            "Measured in alternating slices with the floor on the same sidecar (× floor and the open-loop p99 "
            "ratio above are these): " + "; ".join(beside) + ".",
        ]
    for s in report["scenarios"]:
        if "invalid" in s:
            lines += ["", f"**INVALID** {s['invalid']}"]
    lines += ["", "| measurement | figures |", "|---|---|"]
    for s in others:
        figures = ", ".join(f"{k}: {v}" for k, v in s.items() if k not in ("scenario", "notes", "points"))
        lines.append(f"| {s['scenario']} | {figures} |")
    return "\n".join(lines)


def _beside(s: dict) -> str:
    if s.get("mode") == "open":
        return (
            f"p99 {s.get('p99_ratio_to_floor_open_loop', float('nan')):.2f}× "
            f"(median slice's p99 {s.get('median_slice_p99_ratio_to_floor', float('nan')):.2f}×)"
        )
    return f"{s.get('rps_ratio_to_floor', float('nan')):.2f}× RPS"


def update_readme(report: dict) -> None:
    text = README.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{render(report)}\n{END}{tail}")


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
