"""authsidecar-client installed as a service would install it: `pip install ./clients/python` into a fresh
venv. It brings grpcio, protobuf and googleapis-common-protos and nothing of the server, imports no web
framework unless asked, and its shipped stubs call a live sidecar."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "authsidecar-client",
    "grpcio",
    "protobuf",
    "googleapis-common-protos",
    "typing-extensions",
}  # the last: grpcio's
VENV_OWN = {"pip", "setuptools", "wheel"}  # what `python -m venv` puts there itself
SERVER_ONLY = {"authsidecar", "httpx", "redis", "starlette", "uvicorn", "pyjwt", "cryptography", "phonenumbers"}

pytestmark = [pytest.mark.long, pytest.mark.xdist_group("client_package")]

CALL = """
import sys, time
started = time.perf_counter()
import authsidecar_client
elapsed = time.perf_counter() - started
frameworks = sorted(m for m in ("starlette", "flask", "fastapi", "sidecar") if m in sys.modules)
from authsidecar_client import Client
with Client(sys.argv[1], timeout=10) as auth:
    answer = auth.verify_token("not.a.jwt")
import json
print(json.dumps({"valid": answer.valid, "reason": answer.reason, "frameworks": frameworks, "import_s": elapsed}))
"""


def run(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("client-venv") / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    # --no-compile: the test imports a few modules; byte-compiling all of grpcio and protobuf is CPU it never uses
    run(
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        str(ROOT / "clients" / "python"),
    )
    return python


@pytest.mark.timeout(600)
def test_installed_dependency_set_is_the_client_alone(fresh):
    listed = json.loads(run(str(fresh), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"))
    names = {p["name"].lower().replace("_", "-") for p in listed} - VENV_OWN
    assert names == EXPECTED, f"unexpected: {sorted(names - EXPECTED)}; missing: {sorted(EXPECTED - names)}"
    assert not names & SERVER_ONLY
    # typed for the services that import it (PEP 561), stubs with their .pyi
    site = Path(
        run(
            str(fresh), "-c", "import authsidecar_client, os; print(os.path.dirname(authsidecar_client.__file__))"
        ).strip()
    )
    assert (site / "py.typed").is_file() and (site.parent / "authsidecar" / "v1" / "auth_pb2.pyi").is_file()


@pytest.mark.timeout(600)
def test_installed_client_calls_a_live_sidecar_without_importing_a_framework(fresh, shared_sidecar):
    answer = json.loads(run(str(fresh), "-c", CALL, shared_sidecar.target, timeout=120).strip().splitlines()[-1])
    assert answer["valid"] is False and answer["reason"] != 0  # REASON_MALFORMED, from the sidecar
    assert answer["frameworks"] == []
    print(f"import authsidecar_client: {answer['import_s'] * 1000:.0f} ms", file=sys.stderr)
