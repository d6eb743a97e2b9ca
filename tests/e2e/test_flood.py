"""The small flood (`make flood` for 20,000 calls): distinct garbage tokens, random-kid and random-issuer
JWTs and random session ids keep the sidecar's caches at their bounds, its RSS flat, and its upstream
traffic within what the negative caches and the unknown-token lookup budget allow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Its platform-request bound grows with the run's length (a per-second lookup budget): beside three
# busy workers the run stretches past it, so it runs alone in make test's serial stage.
@pytest.mark.serial
@pytest.mark.timeout(360)
def test_twenty_thousand_distinct_hostile_calls_stay_bounded(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "soak.flood", "--calls", "20000", "--round", "10000", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (path,) = tmp_path.glob("flood-*.json")
    r = json.loads(path.read_text())
    assert proc.returncode == 0 and r["within_bounds"], proc.stdout + proc.stderr
    assert r["calls"] == 20000 and sum(k["calls"] for k in r["kinds"].values()) == 20000
    assert all(k["errors"] == 0 for k in r["kinds"].values())
    assert r["valid_answers"] == 0
    b = r["bounds"]
    for name, bound in b["cache_entries"].items():
        assert r["cache_entries"][name] <= bound, name
    assert r["cache_entries"]["unknown_kids"] > 0 and r["cache_entries"]["sessions_negative"] > 0
    # 6,000 random session ids: without the lookup budget each was one platform request.
    assert 0 < r["platform_status_requests"] <= b["platform_status_requests"] < 1000
    assert r["lookups_refused"] > 3000
    assert r["jwks_fetches"] <= b["jwks_fetches"]
    assert r["rss_mb"]["peak"] < r["rss_mb"]["bound"] and r["rss_mb"]["growth"] < 40
    assert len(r["rounds"]) == 2
