"""One Envoy (the shipped overlay config), one sidecar and the recording apps per test module.

Envoy takes seconds to start, so the stack is module-scoped; tests that stop or pause the sidecar
start their own. With AUTHSIDECAR_TEST_IMAGE set (`make image-test`) every sidecar here is a
container of that image (harness/container.py), run as the pod manifest runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from envoy_harness import EnvoyProcess, GrpcApp, RecordingApp, overlay, rewrite, sidecar_settings

from harness.container import start_sidecar
from harness.issuer import Issuer
from harness.processes import EmulatorProcess, SidecarProcess


@dataclass
class Stack:
    envoy: EnvoyProcess
    sidecar: SidecarProcess
    app: RecordingApp
    grpc_app: GrpcApp
    issuer: Issuer
    decision_log: Path

    def decisions(self) -> list[dict]:
        """The sidecar's decision log lines so far."""
        text = self.decision_log.read_text() if self.decision_log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    @property
    def port(self) -> int:
        return self.envoy.ports["ingress"]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    own = Issuer("envoy-issuer")
    yield own
    own.close()


@pytest.fixture(scope="module")
def apps() -> Iterator[tuple[RecordingApp, GrpcApp]]:
    app, grpc_app = RecordingApp(), GrpcApp()
    yield app, grpc_app
    app.close()
    grpc_app.close()


@pytest.fixture(scope="module")
def stack(_emulator_process: EmulatorProcess, issuer: Issuer, apps, tmp_path_factory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("envoy")
    decision_log = tmp / "decisions.log"
    sidecar = start_sidecar(
        sidecar_settings(
            _emulator_process.url,
            issuer,
            {"decision_log": {"enabled": True, "path": str(decision_log), "max_per_second": 100000}},
        ),
        tmp,
    )
    envoy = None
    try:
        sidecar.wait_for("SERVING")
        app, grpc_app = apps
        envoy = EnvoyProcess(
            rewrite(overlay(), {"authsidecar": sidecar.grpc_port, "app": app.port, "app-grpc": grpc_app.port}), tmp
        )
        yield Stack(envoy, sidecar, app, grpc_app, issuer, decision_log)
    finally:
        if envoy is not None:
            envoy.stop()
        sidecar.stop()
