"""deploy/prometheus/alerts.yaml passes `promtool check rules`, and its unit tests
(alerts_test.yaml: each alert fires on the series that should trigger it) pass `promtool test rules`."""

from __future__ import annotations

import yaml

from .conftest import ALERTS, ALERTS_TEST, run_tool


def test_promtool_check_rules(prometheus_tools) -> None:
    done = run_tool(prometheus_tools.promtool, "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_rule_unit_tests(prometheus_tools) -> None:
    done = run_tool(prometheus_tools.promtool, "test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test_and_the_asked_for_alerts_exist() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"]}
    assert alerts == tested, f"alerts without a promtool unit test: {alerts - tested}"
    assert {
        "AuthsidecarSseDisconnected",
        "AuthsidecarJwksStale",
        "AuthsidecarUpstreamErrorRatio",
        "AuthsidecarLatencyHigh",
        "AuthsidecarShedding",
    } <= alerts


def test_a_broken_rule_is_refused(prometheus_tools, tmp_path) -> None:
    """promtool really checks: a rule with a PromQL syntax error fails."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"alert": "Broken", "expr": "sum by (pod (authsidecar_ready)"}]}]}
        )
    )
    assert run_tool(prometheus_tools.promtool, "check", "rules", str(broken)).returncode != 0
