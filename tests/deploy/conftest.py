"""Shared pieces of the deploy tests: the repository's deploy/ files and the real tools that check them.

`prometheus_tools` installs Debian's `prometheus` package (promtool + prometheus) when it is missing,
so a fresh machine runs these tests; it skips, saying why, only where apt cannot be used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

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


def _apt_install(package: str) -> str | None:
    """Install a Debian package; None on success, else why it could not be done."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "apt-get needs root and the tests do not run as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True).returncode == 0:
        return None
    # A fresh machine may have no package lists yet.
    subprocess.run(["apt-get", "update"], env=env, capture_output=True)
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    return None if done.returncode == 0 else f"apt-get install {package} failed: {done.stderr[-500:]}"


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        problem = _apt_install("prometheus")
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
