"""Draw the latency curve of a results JSON as a PNG (`python -m bench.plot RESULTS.json [OUT.png]`).

matplotlib is a dev extra (pyproject.toml), never a runtime dependency: without it `make bench` still
writes the JSON and says it skipped the plot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LATEST = "latency-curve.png"  # in bench/results/, updated by full runs; shown in bench/README.md


def draw(report: dict, out: Path) -> Path | None:
    """The PNG path, or None when the report has no curve or matplotlib is not installed."""
    curve = next((s for s in report["scenarios"] if s["scenario"] == "latency_curve"), None)
    if curve is None:
        return None
    try:
        import matplotlib  # noqa: PLC0415 (optional: no matplotlib, no plot)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 (after use("Agg"), as matplotlib requires)
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    styles = {"unary": "tab:blue", "stream": "tab:orange"}
    for mode, color in styles.items():
        points = sorted((p for p in curve["points"] if p["mode"] == mode), key=lambda p: p["rps"])
        if not points:
            continue
        rps = [p["rps"] for p in points]
        ax.plot(rps, [p["p50_ms"] for p in points], "o-", color=color, label=f"{mode} p50")
        ax.plot(rps, [p["p99_ms"] for p in points], "s--", color=color, label=f"{mode} p99")
    ax.axvline(curve["floor_rps"], color="grey", linestyle=":", label="floor (unary Health/Check max)")
    ax.set_yscale("log")
    ax.set_xlabel("answered per second (open loop)")
    ax.set_ylabel("latency, ms (log)")
    m = report["machine"]
    ax.set_title(
        f"hot VerifyToken: unary calls vs VerifyStream items\n{report['started']}, {m['cpus']} CPUs, "
        f"Python {m['python']}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1])
    done = draw(json.loads(src.read_text()), Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".png"))
    print(done or "no latency_curve in the report, or matplotlib is not installed")
