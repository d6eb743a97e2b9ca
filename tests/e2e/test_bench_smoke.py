"""The benchmark harness can't rot: its quick mode runs every scenario for a fraction of a second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import RunContext, groups
from sidecar.core.shared.caches import TtlLru

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.long
@pytest.mark.timeout(360)
def test_bench_quick_writes_every_figure(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (report_path,) = tmp_path.glob("*.json")
    report = json.loads(report_path.read_text())
    assert report["machine"]["cpus"] >= 1
    by_name = {s["scenario"]: s for s in report["scenarios"]}
    # Every scenario the bench declares wrote its result (quick mode shares sidecars between groups).
    declared = {name for group in groups(False, RunContext(8.0, 2.0)) for name in group.names}
    assert declared == set(by_name), (declared ^ set(by_name), proc.stderr[-3000:])
    floor = by_name["floor"]
    assert floor["calls"] > 0 and floor["errors"] == 0 and floor["rps_ratio_to_floor"] == 1.0
    load_driven = [
        "floor",
        "floor_2_loads",
        "floor_open_loop",
        "floor_open_loop_quarter",
        "verify_token_hot",
        "verify_token_cold",
        "verify_token_hot_open_loop",
        "verify_token_hot_open_loop_quarter",
        "ext_authz_check_hot",
        "verify_session_hot",
        "is_revoked",
        "floor_2_processes",
        "verify_token_hot_2_processes",
        "verify_token_hot_stream",
        "verify_token_hot_stream_packed",
        "verify_token_hot_stream_open_loop",
        "verify_session_hot_stream",
        "is_revoked_stream",
        "verify_token_hot_traced",
        "verify_token_hot_traced_1pct",
        "verify_token_hot_decision_log",
    ]
    for name in load_driven:
        s = by_name[name]
        assert s["calls"] > 0 and s["errors"] == 0, name
        for key in (
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "sidecar_cpu_seconds_per_1k_calls",
            "peak_rss_mb",
            "upstream_requests_total",
            "rps_ratio_to_floor",
        ):
            assert key in s, (name, key)
    assert by_name["verify_token_hot"]["upstream_requests_total"] == 0
    # The headline ratios are measured in slices beside the floor on the same sidecar (issue 30).
    for name in ("verify_token_hot", "ext_authz_check_hot", "verify_token_hot_open_loop"):
        beside = by_name[name]["interleaved_floor"]
        assert beside["calls"] > 0 and beside["errors"] == 0 and beside["p99_ms"] > 0, name
        assert 0 <= by_name[name]["host_steal_percent"] <= 100
        assert by_name[name]["median_slice_p99_ms"] > 0 and beside["median_slice_p99_ms"] > 0, name
    assert by_name["verify_token_hot_traced_1pct"]["rps_ratio_to_verify_token_hot"] == round(
        by_name["verify_token_hot_traced_1pct"]["rps_ratio_to_floor"]
        / by_name["verify_token_hot"]["rps_ratio_to_floor"],
        3,
    )
    assert by_name["verify_token_hot"]["floor_scenario"] == by_name["ext_authz_check_hot"]["floor_scenario"]
    assert by_name["verify_token_hot"]["floor_scenario"] == "interleaved"
    assert by_name["verify_token_hot_open_loop"]["p99_ratio_to_floor_open_loop"] == round(
        by_name["verify_token_hot_open_loop"]["p99_ms"]
        / by_name["verify_token_hot_open_loop"]["interleaved_floor"]["p99_ms"],
        3,
    )
    assert by_name["verify_token_hot_stream"]["upstream_requests_total"] == 0
    for name in ("verify_token_hot_stream", "verify_session_hot_stream", "is_revoked_stream"):
        assert by_name[name]["streams"] > 0 and by_name[name]["items_in_flight_per_stream"] > 0, name
    curve = by_name["latency_curve"]
    assert {p["mode"] for p in curve["points"]} == {"unary", "stream"}
    assert all(p["rps"] > 0 and p["p99_ms"] >= p["p50_ms"] > 0 for p in curve["points"])
    assert all(p["errors"] == 0 for p in curve["points"] if p["mode"] == "stream")
    png = report_path.with_suffix(".png")  # matplotlib is a dev extra, installed with the tests
    assert png.read_bytes().startswith(b"\x89PNG")
    assert by_name["verify_token_hot_2_processes"]["sidecar_processes"] == 2
    assert by_name["revocation_propagation"]["revocations"] > 0 and by_name["revocation_propagation"]["p99_ms"] > 0
    amp = by_name["upstream_amplification"]
    assert amp["valid_answers"] == amp["calls"] and amp["upstream_status_requests"] <= amp["distinct_sessions"] * 1.01
    mem = by_name["memory"]
    assert mem["cached_tokens"] > 0 and mem["cached_sessions"] > 0 and mem["peak_rss_mb"] > 0
    hostile = by_name["memory_all_full_hostile"]  # issue 24: non-reading streams and oversize calls
    assert hostile["stream_items_sent"] > 0 and sum(hostile["oversize_calls"].values()) > 0
    assert hostile["peak_rss_mb"] < hostile["memory_budget_mb"], hostile
    full = by_name["memory_all_full"]  # every bounded structure full, the LRU evicting, RSS under the budget
    for cache, field in (
        ("verified_tokens", "jwks"),
        ("sessions", "platform.session"),
        ("sessions_negative", "platform.session"),
        ("revoked", "platform.session"),
        ("consumed_approvals", "platform.consumed"),
    ):
        cap = next(n for f, n in full["capacity"].items() if f.startswith(field))
        assert cap - cap // TtlLru.EVICT_SHARE <= full["cache_entries"][cache] <= cap, cache
    assert all(n > 0 for n in full["evictions"].values()) and full["cache_entries"]["unknown_kids"] > 0
    assert 0 < full["rss_mb"] < full["memory_budget_mb"]
    memory, redis = by_name["ledger_claim_memory"], by_name["ledger_claim_redis"]
    assert memory["claims"] > 0 and memory["failed"] == 0 and memory["p50_us"] > 0
    assert "skipped" in redis or (redis["claims"] > 0 and redis["failed"] == 0 and redis["p50_ratio_to_memory"] > 0)
    for alt in ("alternative_pyjwt_in_process", "alternative_session_upstream_per_call"):
        assert by_name[alt]["calls"] > 0 and by_name[alt]["rps"] > 0
    for name in ("envoy_ext_authz_sidecar", "envoy_ext_authz_floor", "envoy_alone"):  # Envoy and wrk, when installed
        s = by_name[name]
        assert "skipped" in s or (s["calls"] > 0 and s["errors"] == 0 and s["p99_ms"] >= s["p50_ms"] > 0), s
