"""The benchmark harness can't rot: its quick mode runs every scenario for a fraction of a second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_writes_every_figure(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (report_path,) = tmp_path.glob("*.json")
    report = json.loads(report_path.read_text())
    assert report["machine"]["cpus"] >= 1
    by_name = {s["scenario"]: s for s in report["scenarios"]}
    floor = by_name["floor"]
    assert floor["calls"] > 0 and floor["errors"] == 0 and floor["rps_ratio_to_floor"] == 1.0
    for s in report["scenarios"]:
        if "rps" in s:
            for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "sidecar_cpu_seconds_per_1k_calls",
                        "peak_rss_mb", "upstream_requests_total", "rps_ratio_to_floor"):
                assert key in s, (s["scenario"], key)
