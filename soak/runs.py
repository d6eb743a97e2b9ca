"""What the soak and the flood share: a fresh emulator and sidecar around one run, and the report file."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.processes import ROOT, EmulatorProcess, SidecarProcess

DEFAULT_OUT = ROOT / "soak" / "results"
# The authsidecar_cache_entries gauges both reports read (README "## Metrics").
CACHES = ("sessions", "sessions_negative", "revoked", "consumed_approvals", "verified_tokens", "unknown_kids")


def cache_entries(sidecar: SidecarProcess) -> dict[str, float]:
    return {name: sidecar.metric("authsidecar_cache_entries", cache=name) for name in CACHES}


def with_processes(
    settings: Callable[[EmulatorProcess], dict], body: Callable[[EmulatorProcess, SidecarProcess], dict]
) -> dict:
    """Start the emulator, then a sidecar with `settings(emulator)` (which may prepare the emulator
    first); run `body` once the sidecar is SERVING; stop both whatever happens."""
    tmp = Path(tempfile.mkdtemp(prefix="authsidecar-soak-"))
    emulator = EmulatorProcess(tmp)
    try:
        sidecar = SidecarProcess(settings(emulator), tmp)
        try:
            sidecar.wait_for("SERVING")
            return body(emulator, sidecar)
        finally:
            sidecar.stop()
    finally:
        emulator.stop()


def write(report: dict, out: str, prefix: str, summary: str) -> Path:
    """`<out>/<prefix><UTC timestamp>.json`, and the summary printed with where it went."""
    path = Path(out) / f"{prefix}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"{summary}\n\nwrote {path}", flush=True)
    return path
