"""One Envoy (the shipped overlay config), one sidecar and the recording apps per test module.

Envoy takes seconds to start, so the stack is module-scoped; tests that stop or pause the sidecar
start their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from envoy_harness import OVERLAY, EnvoyProcess, GrpcApp, Issuer, RecordingApp, rewrite
from sidecar.testing import EmulatorProcess, SidecarProcess, deep_merge, emulator_config

# A policy with every rule kind, matching the overlay's routes.
RULES = [
    {"name": "health", "path_prefix": "/healthz", "methods": ["GET"], "checks": ["allow"]},
    {"name": "internal", "path_prefix": "/internal", "checks": ["deny"]},
    {"name": "transfer", "path_prefix": "/api/transfers", "methods": ["POST"], "checks": ["jwt", "approval"],
     "action": "transfer"},
    {"name": "wire", "path_prefix": "/api/wire", "checks": ["jwt", "challenge"], "action": "wire"},
    {"name": "admin", "path_prefix": "/api/admin", "checks": ["jwt"], "required_scopes": ["admin"]},
    {"name": "api", "path_prefix": "/api", "checks": ["jwt"], "required_scopes": ["orders:read"]},
    {"name": "web", "path_prefix": "/app", "checks": ["session"]},
    {"name": "grpc", "path_regex": "/pkg\\.Svc/[A-Za-z]+", "methods": ["POST"], "checks": ["jwt"]},
    {"name": "beta", "path_prefix": "/beta", "checks": ["jwt"], "required_scopes": ["beta"], "mode": "dry_run"},
]
# The rule set the overlay's /payments route names in its context_extensions.
POLICIES = [{"name": "payments", "rules": [
    {"name": "payments-read", "path_prefix": "/payments", "methods": ["GET"], "checks": ["jwt"],
     "required_scopes": ["payments:read"]},
]}]


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


def sidecar_settings(emulator_url: str, issuer: Issuer, extra: dict | None = None) -> dict:
    base = emulator_config(emulator_url)
    base["issuers"].append(issuer.settings())
    return deep_merge(base, {"ext_authz": {"rules": RULES, "policies": POLICIES,
                                           "claim_headers": [{"claim": "email", "header": "x-auth-email"}]},
                             **(extra or {})})


def overlay() -> dict:
    return yaml.safe_load(OVERLAY.read_text())


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    own = Issuer()
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
    sidecar = SidecarProcess(sidecar_settings(_emulator_process.url, issuer, {"decision_log": {
        "enabled": True, "path": str(decision_log), "max_per_second": 100000}}), tmp)
    envoy = None
    try:
        sidecar.wait_for("SERVING")
        app, grpc_app = apps
        envoy = EnvoyProcess(rewrite(overlay(), {"authsidecar": sidecar.grpc_port, "app": app.port,
                                                 "app-grpc": grpc_app.port}), tmp)
        yield Stack(envoy, sidecar, app, grpc_app, issuer, decision_log)
    finally:
        if envoy is not None:
            envoy.stop()
        sidecar.stop()
