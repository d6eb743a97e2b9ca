"""Fixtures that run the real thing: an emulator process and sidecar processes on loopback.

- `emulator`: the upstream emulator (one process per test session; faults and counters reset per test).
- `sidecar_factory(config, wait_ready=True)`: a real `sidecar serve` process pointed at the emulator,
  with `config` deep-merged into its YAML; stopped with SIGTERM at the end of the test.
- `sidecar`: one with the defaults.
- `shared_sidecar`: one with the defaults for a whole module, for tests that only make calls whose
  answers cannot depend on the tests before them (bad input, health, reflection). A test that stops
  it, changes the emulator's faults or counts its metrics takes `sidecar` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import EmulatorProcess, SidecarProcess, deep_merge, emulator_config


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items) -> None:
    """Tests marked `long` go first, as one xdist group: one worker runs them one after another (each
    keeps the CPU busy, four at once would starve every process on 2 cores) while the other workers
    run the many short ones. Otherwise the order is kept.

    A module whose tests share a module-scoped fixture (`shared_sidecar`, an Envoy stack, an SDK run)
    is one xdist group of its own unless it names one: xdist would otherwise hand its tests to several
    workers, each building the fixture again."""
    for item in items:
        if item.get_closest_marker("long"):
            item.add_marker(pytest.mark.xdist_group("long"))
        elif item.get_closest_marker("xdist_group") is None and _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def _uses_a_module_fixture(item) -> bool:
    fixtures = getattr(item, "_fixtureinfo", None)  # pytest's, no public accessor for the resolved defs
    if fixtures is None:
        return False
    return any(defs and defs[-1].scope in ("module", "package") for defs in fixtures.name2fixturedefs.values())


@pytest.fixture(scope="session")
def _emulator_process(tmp_path_factory) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


@pytest.fixture
def emulator(_emulator_process: EmulatorProcess) -> Iterator[EmulatorProcess]:
    _emulator_process.reset()
    yield _emulator_process
    _emulator_process.reset()


@pytest.fixture
def sidecar_factory(emulator: EmulatorProcess, tmp_path: Path):
    started: list[SidecarProcess] = []

    def start(config: dict | None = None, wait_ready: bool = True, env: dict | None = None) -> SidecarProcess:
        proc = SidecarProcess(deep_merge(emulator_config(emulator.url), config or {}), tmp_path, env)
        started.append(proc)
        if wait_ready:
            proc.wait_for("SERVING")
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def sidecar(sidecar_factory) -> SidecarProcess:
    return sidecar_factory()


@pytest.fixture(scope="module")
def shared_sidecar(_emulator_process: EmulatorProcess, tmp_path_factory) -> Iterator[SidecarProcess]:
    # A sidecar process costs seconds of start-up on a loaded machine; parametrized call-only tests
    # would otherwise start one per case.
    proc = SidecarProcess(emulator_config(_emulator_process.url), tmp_path_factory.mktemp("shared-sidecar"))
    try:
        proc.wait_for("SERVING")
        yield proc
    finally:
        proc.stop()
