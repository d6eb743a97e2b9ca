"""The vendors' own Node SDKs, installed from the npm registry, as the contract of each platform's wire.

Each SDK has a folder here: `package.json` (the SDK pinned to one version, plus any shim of ours for a
dependency the registry lacks) and the scripts that drive it. `node_project(name)` installs that folder's
dependencies once into `.run/contract/<name>` (ignored by git; reinstalled when package.json changes;
one install at a time across parallel workers),
and `run_node(...)` runs one script there and returns the JSON it prints last. Skips only when node or
npm is not on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.npm_projects import RUN, npm_install

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INSTALL_ROOT = RUN / "contract"
NPM_TIMEOUT = 300
NODE_TIMEOUT = 60


def pytest_collection_modifyitems(items) -> None:
    # The suite's per-test timeout is 120 s; the first contract test of an SDK pays its npm install.
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(NPM_TIMEOUT + 120))


def _install(name: str) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the SDK contract tests (not found on PATH)")
    return npm_install(HERE / name, INSTALL_ROOT / name, NPM_TIMEOUT, ignore=("__pycache__", "*.py"))


@pytest.fixture(scope="session")
def node_project():
    """`node_project(name)` → the folder where tests/contract/<name> is installed with its node_modules."""
    installed: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in installed:
            installed[name] = _install(name)
        return installed[name]

    return get


def run_node(project: Path, script: str, *args: str, env: dict | None = None) -> dict:
    """Run `node <script> args…` in an installed project (the script is read from tests/contract/<name>,
    so edits need no reinstall); the JSON object on the last line of its stdout."""
    source = HERE / project.name / script
    done = subprocess.run(
        ["node", str(source), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        env={**os.environ, **(env or {}), "NODE_PATH": str(project / "node_modules")},
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output from {script} (exit {done.returncode}):\n{done.stderr[-3000:]}"
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"{script} did not end with a JSON line:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        ) from exc
