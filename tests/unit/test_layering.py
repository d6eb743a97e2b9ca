"""The house's arrows, for every module: the emulator imports no sidecar code (it is the other side of
the wire), core imports no adapter (upstream/) and no gRPC edge (api/); the adapters never import the
edge. Wiring a core component to its adapter happens in app.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIDECAR = Path(__file__).resolve().parents[2] / "sidecar"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative ones resolved against the sidecar package."""
    package = ".".join(path.relative_to(SIDECAR.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


EMULATOR = sorted(p.name for p in (SIDECAR / "emulator").glob("*.py"))
CORE = sorted(p.name for p in (SIDECAR / "core").glob("*.py"))
UPSTREAM = sorted(p.name for p in (SIDECAR / "upstream").glob("*.py"))


@pytest.mark.parametrize("name", EMULATOR)
def test_the_emulator_imports_no_sidecar_code(name):
    outside = {
        m
        for m in imported_modules(SIDECAR / "emulator" / name)
        if m.startswith("sidecar.") and not m.startswith("sidecar.emulator")
    }
    assert not outside, f"emulator/{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", CORE)
def test_core_imports_no_adapter_and_no_edge(name):
    wrong = {
        m
        for m in imported_modules(SIDECAR / "core" / name)
        if m.startswith(("sidecar.upstream", "sidecar.api", "sidecar.emulator", "grpc"))
    }
    assert not wrong, f"core/{name} imports {sorted(wrong)}"


@pytest.mark.parametrize("name", UPSTREAM)
def test_adapters_never_import_the_edge(name):
    wrong = {m for m in imported_modules(SIDECAR / "upstream" / name) if m.startswith(("sidecar.api", "grpc"))}
    assert not wrong, f"upstream/{name} imports {sorted(wrong)}"


def test_the_lists_are_not_empty():
    assert "accounts.py" in CORE and "inai.py" in UPSTREAM and "jwks.py" in EMULATOR
