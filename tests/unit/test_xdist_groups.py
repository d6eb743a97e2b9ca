"""`make test`'s grouping holds: pytest-xdist's loadgroup runs each xdist_group on one worker, and
tests/conftest.py makes a module sharing a module-scoped fixture one group. (pytest 9.2 silently undid
loadgroup, pytest-xdist#1386: every module fixture was then built once per worker.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
RECORD = """
import os
from pathlib import Path

import pytest


def record(name):
    with open(Path(__file__).parent / "workers.txt", "a") as out:
        out.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""
EXPLICIT = (
    RECORD
    + """
pytestmark = pytest.mark.xdist_group("named")


@pytest.mark.parametrize("i", range(6))
def test_named(i):
    record("named")
"""
)
MODULE_FIXTURE = (
    RECORD
    + """
@pytest.fixture(scope="module")
def built():
    record("built")


@pytest.mark.parametrize("i", range(6))
def test_shares(built, i):
    record("shares")
"""
)
LOOSE = (
    RECORD
    + """
@pytest.mark.parametrize("i", range(12))
def test_loose(i):
    record("loose")
"""
)


def test_a_group_and_a_module_fixture_stay_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name, text in {"test_explicit.py": EXPLICIT, "test_module_fixture.py": MODULE_FIXTURE}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "test_loose.py").write_text(LOOSE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    workers: dict[str, list[str]] = {}
    for line in (tmp_path / "workers.txt").read_text().splitlines():
        name, worker = line.split()
        workers.setdefault(name, []).append(worker)
    assert len(workers["named"]) == 6 and len(set(workers["named"])) == 1, workers
    assert len(workers["shares"]) == 6 and len(set(workers["shares"])) == 1, workers
    assert workers["built"] == workers["shares"][:1], workers  # the module fixture built once
    assert len(workers["loose"]) == 12  # ungrouped tests still spread (not asserted: scheduling may vary)
