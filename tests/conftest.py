"""Fixtures that run the real thing: an emulator process and sidecar processes on loopback.

- `emulator`: the upstream emulator (one process per test session; faults and counters reset per test).
- `sidecar_factory(config, wait_ready=True)`: a real `sidecar serve` process pointed at the emulator,
  with `config` deep-merged into its YAML; stopped with SIGTERM at the end of the test.
- `sidecar`: one with the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.testing import EmulatorProcess, SidecarProcess, deep_merge, emulator_config


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
