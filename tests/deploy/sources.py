"""What the deploy files say, read for the tests: the PromQL in the dashboard and the alert rules,
and the Metrics catalog table (README.md's "## Metrics" section)."""

from __future__ import annotations

import functools
import json
import re

import yaml

from .conftest import ALERTS, DASHBOARD, ROOT

METRIC_NAME = re.compile(r"\bauthsidecar_[a-zA-Z0-9_]+")


def dashboard_queries() -> list[str]:
    """Every PromQL expression in the dashboard: panel targets (rows included) and template queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            queries.extend(t["expr"] for t in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    queries.extend(v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query")
    return queries


def alert_queries() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def names_in(queries: list[str]) -> set[str]:
    return {name for q in queries for name in METRIC_NAME.findall(q)}


@functools.cache
def catalog() -> dict[str, frozenset[str]]:
    """metric name → its labels, from the catalog table."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Metrics\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if section is None:
        raise AssertionError("no '## Metrics' section in README.md")
    rows = re.findall(r"^\| `(authsidecar_\w+)` \|\s*\w+\s*\|([^|]*)\|", section.group(1), re.M)
    return {name: frozenset(re.findall(r"`(\w+)`", labels)) for name, labels in rows}
