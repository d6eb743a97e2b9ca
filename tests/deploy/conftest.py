"""Shared pieces of the deploy tests: the repository's deploy/ files and the real tools that check them.

`prometheus_tools` installs Debian's `prometheus` package (promtool + prometheus) when it is missing,
so a fresh machine runs these tests; it skips, saying why, only where apt cannot be used.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.processes import apt_install

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DASHBOARD = DEPLOY / "grafana" / "authsidecar-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yaml"
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


@dataclass(frozen=True)
class PrometheusTools:
    promtool: str
    prometheus: str


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        problem = apt_install("prometheus")
        if problem:
            pytest.skip(f"promtool/prometheus missing and not installable: {problem}")
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    assert promtool and prometheus, "the prometheus package installed but promtool/prometheus are not on PATH"
    return PrometheusTools(promtool, prometheus)


def run_tool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd)


def kustomize_render(directory: Path) -> list[dict]:
    """The kustomization rendered by `kubectl kustomize`; skips when kubectl is not installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: kustomizations are only checked structurally")
    done = run_tool(kubectl, "kustomize", str(directory))
    assert done.returncode == 0, f"kubectl kustomize {directory.relative_to(ROOT)} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
