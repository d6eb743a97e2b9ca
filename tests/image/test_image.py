"""The image as built: what is in it (and what is not), and one container run read-only as uid 10001
with the manifest's securityContext, config and credentials mounts: serving, metrics, readiness,
the kernel's view of its privileges, and a SIGTERM drain that lets a call finish and exits 0.

The Envoy suite runs against containers of the same image (`make image-test`, tests/envoy)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from authsidecar.v1 import auth_pb2 as pb
from harness.container import IMAGE_ENV, ContainerSidecar, mount_path, run_engine, sidecar_container_spec
from harness.processes import ROOT, START_TIMEOUT, deep_merge, emulator_config, wait_until

IMAGE = os.environ.get(IMAGE_ENV, "")
PHONE = "+14155552671"
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", re.DOTALL)


# --- what is in the image -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_files() -> dict[str, bytes | None]:
    """Every path of the image's filesystem; regular files with their content (exported from a
    container that never starts)."""
    name = f"authsidecar-export-{os.getpid()}"
    run_engine("create", f"--name={name}", IMAGE)
    try:
        tar = run_engine("export", name, timeout=120, text=False).stdout
    finally:
        run_engine("rm", "--force", name, check=False)
    files: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive:
            path = "/" + member.name.lstrip("./")
            data = archive.extractfile(member) if member.isfile() else None
            files[path] = data.read() if data else None
    return files


def test_config_runs_the_documented_entrypoint_as_uid_10001():
    inspect = yaml.safe_load(run_engine("image", "inspect", "--format", "{{json .Config}}", IMAGE).stdout)
    assert inspect["User"] == "10001:10001"
    assert inspect["Entrypoint"] == ["sidecar", "serve", "--config", "/etc/authsidecar/config.yaml"]
    assert not [e for e in inspect.get("Env", []) if e.startswith(("PIP_", "SSL_CERT", "REQUESTS_CA"))]


def test_the_build_secrets_are_in_no_layer_and_no_history(image_files):
    history = run_engine("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE).stdout
    assert "pip.conf" not in history.replace("id=pip.conf", "")  # the mount's name, never a path or content
    assert not [p for p in image_files if "/run/secrets" in p or p.endswith("pip.conf")]
    # The host's CA bundle holds certificates Debian's does not (a TLS-intercepting proxy's): those
    # reached the build as a secret and must be nowhere in the image.
    image_bundle = set(PEM.findall(image_files.get("/etc/ssl/certs/ca-certificates.crt") or b""))
    host_only = [c for c in PEM.findall(HOST_CA_BUNDLE.read_bytes()) if c not in image_bundle]
    if not host_only:
        pytest.skip("the host's CA bundle has no certificate Debian's lacks: nothing to look for")
    # A line from each one's signature (its end): unique, where the first lines share issuer names.
    needles = [[line for line in c.split(b"\n") if len(line) == 64][-1] for c in host_only]
    leaked = [p for p, data in image_files.items() if data and any(n in data for n in needles)]
    assert leaked == []


def test_no_trace_of_the_host_paths_the_pip_configuration_names(image_files, tmp_path):
    # A build-time volume leaves its mount point in every stage (podman 4.3): build.sh mounts none.
    conf, mounts = tmp_path / "pip.conf", tmp_path / "mounts"
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/image/pip_config.py"), str(conf), "--mounts", str(mounts)],
        check=True,
        timeout=30,
    )
    named = mounts.read_text().split()
    assert [p for p in named if p in image_files] == []


def test_no_shell_no_pip_no_package_manager_but_python_and_the_sidecar(image_files):
    for gone in ("/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/apt-get", "/usr/bin/dpkg", "/usr/bin/perl"):
        assert gone not in image_files and gone.replace("/usr", "", 1) not in image_files, gone
    assert not [p for p in image_files if re.search(r"/site-packages/pip/__init__\.py$|/bin/pip3?$", p)]
    assert "/opt/authsidecar/bin/sidecar" in image_files
    assert any(
        re.fullmatch(r"/opt/authsidecar/lib/python3\.11/site-packages/sidecar/__init__\.py", p) for p in image_files
    )
    assert not [p for p in image_files if p.startswith(("/src/", "/opt/authsidecar/src"))], "no source tree"


# --- one container as the pod runs it --------------------------------------------------------------


@pytest.fixture(scope="module")
def pod_sidecar(_emulator_process, tmp_path_factory) -> Iterator[ContainerSidecar]:
    """The base manifest's config, its upstreams pointed at the emulator; the platform and challenge
    credentials only as files in the Secret's mount (mode 0440, group 10001 as fsGroup makes it),
    named by the manifest's *_FILE variables."""
    tmp = tmp_path_factory.mktemp("pod")
    config = yaml.safe_load((ROOT / "deploy/k8s/base/authsidecar-config.yaml").read_text())
    upstreams = emulator_config(_emulator_process.url)
    secrets = {"platform-api-key": upstreams["platform"].pop("api_key")}
    secrets["challenges-secret-key"] = upstreams["challenges"].pop("secret_key")
    for own in ("issuers", "listen", "ops_listen"):  # the emulator's issuers; ports the test picks
        config.pop(own)
    settings = deep_merge(config, upstreams)
    settings["platform"]["sse"] = {"enabled": False}

    spec = sidecar_container_spec()
    env = {e["name"]: e["value"] for e in spec["container"]["env"]}
    secret_dir = tmp / "credentials"
    secret_dir.mkdir(mode=0o755)
    mode = spec["volumes"]["authsidecar-credentials"]["secret"]["defaultMode"]
    gid = spec["pod"]["securityContext"]["fsGroup"]
    for path in env.values():
        file = secret_dir / Path(path).name
        file.write_text(secrets[file.name])
        os.chown(file, 0, gid)
        file.chmod(mode)
    sidecar = ContainerSidecar(
        IMAGE, settings, tmp, env, volumes=[f"{secret_dir}:{mount_path('authsidecar-credentials')}:ro"]
    )
    try:
        sidecar.wait_for("SERVING", timeout=START_TIMEOUT)
        yield sidecar
    finally:
        sidecar.stop()


def status_of(sidecar: ContainerSidecar) -> dict[str, str]:
    fields = (Path("/proc") / str(sidecar.proc.pid) / "status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in fields if ":\t" in line)


def test_serving_metrics_and_ready_with_the_credentials_from_files(pod_sidecar):
    assert pod_sidecar.health_status() == "SERVING"
    assert httpx.get(f"{pod_sidecar.ops_url}/readyz", timeout=5).status_code == 200
    assert httpx.get(f"{pod_sidecar.ops_url}/healthz", timeout=5).status_code == 200
    assert pod_sidecar.metric("authsidecar_ready") == 1
    # The platform answers with the key read from the Secret's file.
    assert pod_sidecar.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=10).healthy


def test_the_kernel_sees_uid_10001_no_capabilities_no_new_privileges_and_seccomp(pod_sidecar):
    status = status_of(pod_sidecar)
    assert status["Uid"].split() == ["10001"] * 4 and status["Gid"].split() == ["10001"] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # a filter: the engine's default profile


def test_the_root_filesystem_and_the_config_are_read_only_and_tmp_is_small(pod_sidecar):
    probe = (
        "import errno\n"
        "for path in ('/probe', '/opt/authsidecar/probe', '/etc/authsidecar/probe'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as e:\n"
        "        assert e.errno in (errno.EROFS, errno.EACCES), (path, e)\n"
        "    else:\n"
        "        raise SystemExit(f'{path} is writable')\n"
        "open('/tmp/probe', 'w').write('x')\n"
        "import os; s = os.statvfs('/tmp'); print(s.f_blocks * s.f_frsize)\n"
    )
    done = run_engine("exec", pod_sidecar.name, "python", "-c", probe, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[-1]) <= 16 * 2**20  # the emptyDir's sizeLimit


def test_the_memory_budget_comes_from_the_containers_limit(pod_sidecar):
    limit = sidecar_container_spec()["container"]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    expected = int(limit[:-2]) * 2**20 * 0.75  # README: 75 % of the container's memory limit
    assert pod_sidecar.metric("authsidecar_memory_budget_bytes") == pytest.approx(expected, rel=0.01)


def test_sigterm_lets_a_call_in_flight_finish_then_exits_0(pod_sidecar, _emulator_process):
    emulator = _emulator_process
    token = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]
    emulator.faults(latency_seconds=1.5, path_prefix="/v2/backend/session")
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(
                pod_sidecar.stub.VerifySession, pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=15
            )
            time.sleep(0.5)  # the call now waits on the upstream
            pod_sidecar.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: pod_sidecar.health_status() in ("NOT_SERVING", None), timeout=5, what="draining")
            with pytest.raises(grpc.RpcError) as refused:
                pod_sidecar.stub.VerifySession(pb.VerifySessionRequest(session_token=token, phone=PHONE), timeout=2)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert slow.result(timeout=15).valid
        assert pod_sidecar.proc.wait(20) == 0
    finally:
        emulator.faults(reset=True)
    assert "draining" in pod_sidecar.log()
