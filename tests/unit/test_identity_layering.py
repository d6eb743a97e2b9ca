"""The identity area keeps the house's arrows: the emulator's identity, InAI and JWKS modules import no
sidecar code (they are the other side of the wire), and the account core imports no adapter."""

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


@pytest.mark.parametrize("name", ["identity.py", "inai.py", "jwks.py"])
def test_the_emulated_identity_platforms_import_no_sidecar_code(name):
    outside = {m for m in imported_modules(SIDECAR / "emulator" / name)
               if m.startswith("sidecar.") and not m.startswith("sidecar.emulator")}
    assert not outside, f"emulator/{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", ["accounts.py", "account_records.py"])
def test_the_account_core_imports_no_adapter(name):
    adapters = {m for m in imported_modules(SIDECAR / "core" / name) if m.startswith("sidecar.upstream")}
    assert not adapters, f"core/{name} imports {sorted(adapters)}"
