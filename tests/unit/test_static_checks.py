"""The static checks run inside `make test`: ruff (lint and format) over the Python trees and mypy over
sidecar/ and the client, each as a real subprocess with the configuration in pyproject.toml. A finding fails the test
and is printed in full, so the fix is one read away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ["sidecar", "clients/python", "harness", "tools", "tests", "bench", "soak", "fuzz"]
BOUND = 300  # seconds; a cold mypy run takes ~15 s on one free core, far more on a loaded machine


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=BOUND)


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"`{' '.join(map(str, done.args[2:]))}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.timeout(BOUND + 30)
def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", "--output-format", "concise", *TREES)
    assert done.returncode == 0, explain(done)


@pytest.mark.timeout(BOUND + 30)
def test_the_code_is_formatted_as_ruff_format_would():
    done = run("ruff", "format", "--check", "--no-cache", "--output-format", "concise", *TREES)
    assert done.returncode == 0, explain(done) + "\nrun `make format` to format the tree"


@pytest.mark.timeout(BOUND + 30)
def test_mypy_finds_nothing_in_sidecar_and_the_client():
    done = run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"), "sidecar", "clients/python/authsidecar_client")
    assert done.returncode == 0, explain(done)
