"""Generate the Python stubs for every .proto under protos/ (run by `make proto`).

Kept as a module, not a Makefile line, so the drift test regenerates with exactly the same flags.
The `authsidecar` stubs ship in the client distribution (clients/python/authsidecar, which the server
depends on); the rest (Envoy's) stay in generated/ with the server. One copy of each, never two.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import google.rpc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
CLIENT_STUBS = "authsidecar"  # the top-level package that goes to the client distribution
TYPED = "py.typed"  # PEP 561: the client's stubs carry their .pyi to the services that import them


def generate(out_dir: Path) -> None:
    import grpc_tools  # noqa: PLC0415 (grpcio-tools is a dev dependency; the sidecar never needs it)
    from grpc_tools import protoc  # noqa: PLC0415 (same)

    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    # google/rpc/status.proto (Envoy's CheckResponse.status) ships with googleapis-common-protos,
    # which also provides its Python module (imported above), never generated into ours.
    googleapis = Path(google.rpc.__path__[0]).parent.parent
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages for setuptools and plain imports: every generated folder gets an __init__.py.
    for folder in {p.parent for p in out_dir.rglob("*_pb2.py")}:
        while folder != out_dir:
            (folder / "__init__.py").touch()
            folder = folder.parent


def split(fresh: Path, server_dir: Path, client_dir: Path) -> None:
    """Place a generate() output: `authsidecar/` under client_dir (with py.typed), the rest under server_dir."""
    (fresh / CLIENT_STUBS / TYPED).touch()
    for top in sorted(fresh.iterdir()):
        dest = (client_dir if top.name == CLIENT_STUBS else server_dir) / top.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(top, dest)


def write(root: Path = ROOT) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        split(Path(tmp), root / "generated", root / "clients" / "python")
    # The Node package loads the .proto files at run time (no generation): it ships a copy.
    node = root / "clients" / "node" / "protos" / CLIENT_STUBS
    if node.exists():
        shutil.rmtree(node)
    shutil.copytree(PROTOS / CLIENT_STUBS, node)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
