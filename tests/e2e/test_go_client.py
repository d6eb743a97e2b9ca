"""Go: stubs generated from protos/ with protoc + protoc-gen-go + protoc-gen-go-grpc, compiled with
clients/go/example/main.go, calling a live sidecar.

The toolchain is Debian's (installed here if missing, as the Redis tests install redis-server): Go
1.19, grpc-go 1.33 and google.golang.org/protobuf 1.28 as Debian packages them, built in GOPATH mode,
so nothing is fetched but Debian packages. Skips, saying why, only where apt-get cannot install them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.processes import apt_install
from tests.npm_projects import RUN

ROOT = Path(__file__).resolve().parents[2]
GOCODE = Path("/usr/share/gocode/src")  # where Debian's golang-*-dev packages put their sources
TOOLS = {  # what must exist → the Debian package that brings it
    "go": "golang-go",
    "protoc": "protobuf-compiler",
    "protoc-gen-go": "protoc-gen-go",
    "protoc-gen-go-grpc": "protoc-gen-go-grpc",
    str(GOCODE / "google.golang.org" / "grpc"): "golang-google-grpc-dev",
    str(GOCODE / "google.golang.org" / "protobuf"): "golang-google-protobuf-dev",
    str(GOCODE / "google.golang.org" / "genproto" / "googleapis" / "rpc" / "status"): "golang-google-genproto-dev",
}
MODULE = "github.com/authsidecar/authsidecar/gen/go"  # auth.proto's go_package

pytestmark = [pytest.mark.long, pytest.mark.xdist_group("go_client")]


def present(tool: str) -> bool:
    return Path(tool).exists() if tool.startswith("/") else shutil.which(tool) is not None


def go_build_cache() -> str:
    """Go's own build cache (~/.cache/go-build unless GOCACHE says otherwise), shared by every checkout as
    npm's and pip's caches are: the first build of grpc-go takes ~40 s of CPU, later ones reuse it. In
    .run/ where Go has none (no home directory)."""
    done = subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True, timeout=60)
    path = done.stdout.strip()
    return path if done.returncode == 0 and path and path != "off" else str(RUN / "go-build-cache")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    for tool, package in TOOLS.items():
        if not present(tool):
            problem = apt_install(package)
            if problem:
                pytest.skip(f"the Go toolchain from Debian is not installable here: {problem}")
    gopath = tmp_path_factory.mktemp("gopath")
    out = gopath / "src" / MODULE
    out.mkdir(parents=True)
    protos = [str(p.relative_to(ROOT / "protos")) for p in sorted((ROOT / "protos" / "authsidecar").rglob("*.proto"))]
    generate = [
        "protoc",
        f"-I{ROOT / 'protos'}",
        f"-I{ROOT / 'clients' / 'node' / 'protos'}",  # google/rpc/status.proto
        f"--go_out={out}",
        "--go_opt=paths=source_relative",
        f"--go-grpc_out={out}",
        "--go-grpc_opt=paths=source_relative",
        *protos,
    ]
    done = subprocess.run(generate, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    source = gopath / "src" / "example"
    shutil.copytree(ROOT / "clients" / "go" / "example", source)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{gopath}:{GOCODE.parent}",
        "GOCACHE": go_build_cache(),
        "GOFLAGS": "",
    }
    binary = gopath / "example"
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "."], cwd=source, env=env, capture_output=True, text=True, timeout=400
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return binary


@pytest.mark.timeout(600)
def test_generated_go_client_calls_a_live_sidecar(example, shared_sidecar, emulator):
    token = emulator.http.post("/_control/jwks/issuers/main/mint", json={"claims": {"sub": "go-user"}}).json()["token"]
    done = subprocess.run([str(example), shared_sidecar.target, token], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[:3000]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {
        "upstreams": answer["upstreams"],
        "valid": True,
        "reason": "REASON_UNSPECIFIED",
        "subject": "go-user",
    }
    assert answer["upstreams"] >= 1

    done = subprocess.run(
        [str(example), shared_sidecar.target, "not.a.jwt"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[:3000]
    assert json.loads(done.stdout.strip().splitlines()[-1])["reason"] == "REASON_MALFORMED"
