"""deploy/grafana/authsidecar-dashboard.json is a well-formed Grafana dashboard that shows what the
issue asks for. (That its queries run is checked against a live Prometheus in test_metrics_live.py.)"""

from __future__ import annotations

import json

import pytest

from .conftest import DASHBOARD


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict) -> None:
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_query_panel_uses_the_datasource_variable(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "pod"} <= set(variables)
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert 'pod=~"$pod"' in target["expr"], f"{panel['title']!r} ignores the pod filter"


def test_shows_what_an_operator_needs(dashboard: dict) -> None:
    exprs = " ".join(t["expr"] for p in _panels(dashboard) for t in p.get("targets", []))
    wanted = {
        "RPS by RPC": "sum by (method) (rate(authsidecar_rpc_total",
        "p50 by RPC": "histogram_quantile(0.5, sum by (method, le) (rate(authsidecar_rpc_duration_seconds_bucket",
        "p99 by RPC": "histogram_quantile(0.99, sum by (method, le) (rate(authsidecar_rpc_duration_seconds_bucket",
        "deny reasons": "sum by (method, reason) (rate(authsidecar_rpc_total",
        "cache hit ratio": 'authsidecar_cache_lookups_total{namespace=~"$namespace", pod=~"$pod", result="hit"}',
        "upstream latency": "rate(authsidecar_upstream_request_duration_seconds_bucket",
        "upstream errors": 'status=~"5..|error|timeout"',
        "SSE state": "authsidecar_sse_connected",
        "JWKS staleness": "authsidecar_jwks_seconds_since_refresh",
        "shedding": "authsidecar_rpc_shed_total",
    }
    absent = [what for what, fragment in wanted.items() if fragment not in exprs]
    assert not absent, f"the dashboard lacks: {absent}"
