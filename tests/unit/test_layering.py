"""The house's arrows, checked for every module of every subpackage (recursively):

- the emulator imports no sidecar code: it is the other side of the wire;
- core imports no adapter (upstream/), no gRPC edge (api/), no runtime or assembly, no grpc, and of
  observability only the leaves (metrics with its loop_metrics, logs: nothing else of the sidecar); of config it
  may read only the typed settings sections (config/settings.py) and the SPIFFE-id grammar a `peers`
  setting is written in (config/spiffe.py), never loading, validation or the memory plan, and never
  the whole Settings tree;
- config imports no core;
- the adapters (upstream/) never import the edge, the runtime or the assembly;
- the edge (api/) never imports the runtime or the assembly: it talks to a services protocol;
- nothing in the shipped package imports the test harness or the dev tooling;
- the client distribution (clients/python) imports nothing of the server, the harness or the tooling:
  the server depends on it, never the other way round.
Wiring a core component to its adapter happens in runtime/assembly.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIDECAR = ROOT / "sidecar"


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every module a file imports (and every `from m import name` as m.name), relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules(folder: str) -> list[str]:
    if folder.endswith(".py"):
        return [folder]
    return sorted(p.relative_to(SIDECAR).as_posix() for p in (SIDECAR / folder).rglob("*.py"))


def under(*prefixes: str):
    return lambda m: any(m == p or m.startswith(p + ".") for p in prefixes)


FORBIDDEN = {
    "emulator": lambda m: m.startswith("sidecar.") and not under("sidecar.emulator")(m) or m == "sidecar",
    # metrics and logs are leaves (they import nothing of the sidecar, checked below); tracing and
    # the decision log are the edge's.
    "core": lambda m: (
        under(
            "sidecar.upstream",
            "sidecar.api",
            "sidecar.emulator",
            "sidecar.runtime",
            "sidecar.observability.tracing",
            "sidecar.observability.decision_log",
            "authsidecar_client",
            "grpc",
        )(m)
        or (under("sidecar.config")(m) and not under("sidecar.config.settings", "sidecar.config.spiffe")(m))
        # sections, never the whole tree: the assembly hands each component its own
        or m == "sidecar.config.settings.Settings"
    ),
    "config": under("sidecar.core"),
    "upstream": under("sidecar.api", "sidecar.runtime", "grpc"),
    "api": under("sidecar.runtime"),
    # metrics may build on loop_metrics, its lock-free counters, itself a leaf
    "observability/metrics.py": lambda m: (
        m.startswith("sidecar") and not under("sidecar.observability.loop_metrics")(m)
    ),
    "observability/loop_metrics.py": lambda m: m.startswith("sidecar"),
    "observability/logs.py": lambda m: m.startswith("sidecar"),
}
RULES = [(folder, name) for folder in FORBIDDEN for name in modules(folder)]


@pytest.mark.parametrize(("folder", "name"), RULES, ids=[n for _, n in RULES])
def test_arrows_point_down(folder, name):
    wrong = {m for m in imported_modules(SIDECAR / name) if FORBIDDEN[folder](m)}
    assert not wrong, f"{name} imports {sorted(wrong)}"


SHIPPED = sorted(p.relative_to(SIDECAR).as_posix() for p in SIDECAR.rglob("*.py"))


@pytest.mark.parametrize("name", SHIPPED)
def test_the_package_never_imports_the_harness_or_the_tooling(name):
    wrong = {m for m in imported_modules(SIDECAR / name) if under("harness", "tools")(m)}
    assert not wrong, f"{name} imports {sorted(wrong)}"


def test_the_walk_reaches_into_subpackages():
    # A glob that stops at the top of a folder would let a subpackage escape every rule above.
    assert "core/accounts/flows.py" in modules("core") and "core/ext_authz/checks/registry.py" in modules("core")
    assert "upstream/inai.py" in modules("upstream") and "emulator/issuers.py" in modules("emulator")
    assert not (SIDECAR / "testing.py").exists() and (ROOT / "harness" / "processes.py").exists()


def test_the_rules_catch_a_wrong_arrow():
    # The checker itself: a core module importing the assembly or config's loader is caught.
    probe = SIDECAR / "core" / "shared" / "probe.py"
    source = (
        "from ...runtime import assembly\n"
        "from sidecar.config import loading\n"
        "from sidecar.config.settings import Settings\n"
    )
    found = {m for m in imported_modules(probe, source) if FORBIDDEN["core"](m)}
    assert {
        "sidecar.runtime",
        "sidecar.runtime.assembly",
        "sidecar.config.loading",
        "sidecar.config.settings.Settings",
    } <= found


CLIENT = ROOT / "clients" / "python" / "authsidecar_client"
CLIENT_MODULES = sorted(p.name for p in CLIENT.rglob("*.py"))


@pytest.mark.parametrize("name", CLIENT_MODULES)
def test_the_client_never_imports_the_server(name):
    wrong = {m for m in imported_modules(CLIENT / name) if under("sidecar", "harness", "tools", "tests")(m)}
    assert not wrong, f"authsidecar_client/{name} imports {sorted(wrong)}"
