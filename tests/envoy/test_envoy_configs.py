"""`envoy --mode validate` on every Envoy config the project ships: deploy/ and docs/ext_authz.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from envoy_harness import Pki, docs_envoy_configs, validate

from harness.processes import ROOT

DEPLOYED = sorted(
    p for p in (ROOT / "deploy").rglob("*.yaml") if "static_resources" in (yaml.safe_load(p.read_text()) or {})
)


def test_the_envoy_configs_are_found():
    # A config moved or renamed must not silently drop out of the validation below.
    assert [p.relative_to(ROOT).as_posix() for p in DEPLOYED] == ["deploy/k8s/overlays/envoy-ext-authz/envoy.yaml"]
    assert [c["static_resources"]["listeners"][0]["name"] for c in docs_envoy_configs()] == ["ingress", "ingress-mtls"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", DEPLOYED, ids=lambda p: p.name)
def test_deployed_envoy_config_validates(path: Path):
    done = validate(path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.timeout(300)
def test_docs_envoy_configs_validate(tmp_path: Path):
    files = Pki(tmp_path / "pki").files  # the TLS example's certificate files must exist to load
    for i, config in enumerate(docs_envoy_configs()):
        path = tmp_path / f"docs-{i}.yaml"
        text = yaml.safe_dump(config)
        for name, local in files.items():
            text = text.replace(name, local)
        path.write_text(text)
        done = validate(path)
        assert done.returncode == 0, f"docs block {i}:\n" + done.stdout[-2000:] + done.stderr[-2000:]
