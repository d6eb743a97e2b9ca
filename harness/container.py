"""The sidecar as a container of the built image (`make image`), run as the pod manifest runs it.

`ContainerSidecar` has `SidecarProcess`'s face (target, ops_url, stub, metric, config_path, proc,
stop), so a suite written against processes runs against the image: `tests/envoy` does so when
AUTHSIDECAR_TEST_IMAGE names an image (`make image-test`). The container shares the host's network
namespace, as the containers of a pod share one: Envoy and the tests reach it on 127.0.0.1, and it
reaches the emulator and the test issuer there. Everything else comes from
deploy/k8s/base/deployment.yaml: the user and group, a read-only root, no capabilities, no privilege
escalation, the default seccomp profile, the memory and CPU limits, /tmp as a small tmpfs (the
emptyDir), the config directory mounted read-only at /etc/authsidecar and the credentials at their
path with the Secret's mode, group-readable through fsGroup.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2_grpc

from authsidecar.v1 import auth_pb2_grpc
from harness.processes import CHANNEL_OPTIONS, ROOT, SidecarProcess, deep_merge, free_port

IMAGE_ENV = "AUTHSIDECAR_TEST_IMAGE"
DEPLOYMENT = ROOT / "deploy" / "k8s" / "base" / "deployment.yaml"
ENGINE_TIMEOUT = 60.0


@cache
def engine() -> tuple[list[str], list[str]]:
    """(the engine command with its global flags, the run flags this machine needs), from
    deploy/image/engine.sh — the same choice `make image` made."""
    script = f'. {shlex.quote(str(ROOT / "deploy/image/engine.sh"))} && echo "$ENGINE" && echo "$RUN_FLAGS"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True).stdout
    command, flags = out.splitlines()
    return command.split(), flags.split()


def run_engine(
    *args: str, timeout: float = ENGINE_TIMEOUT, check: bool = True, text: bool = True
) -> subprocess.CompletedProcess:
    return subprocess.run([*engine()[0], *args], capture_output=True, text=text, timeout=timeout, check=check)


def sidecar_container_spec() -> dict:
    """The sidecar's container and the pod's securityContext and volumes, from the base manifest."""
    pod = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    (container,) = [c for c in pod["initContainers"] if c["name"] == "authsidecar"]
    return {"pod": pod, "container": container, "volumes": {v["name"]: v for v in pod["volumes"]}}


def _quantity_mb(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


def pod_run_flags() -> list[str]:
    """`run` flags for what the manifest asks of the sidecar's container (volumes excepted)."""
    spec = sidecar_container_spec()
    pod_sc, sc = spec["pod"]["securityContext"], spec["container"]["securityContext"]
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    assert uid and gid and (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")), "the manifest runs as non-root"
    flags = [f"--user={uid}:{gid}", f"--group-add={pod_sc['fsGroup']}"]
    if sc.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]  # podman's default tmpfs mounts would hide it
    if sc.get("allowPrivilegeEscalation") is False:
        flags.append("--security-opt=no-new-privileges")
    assert not sc.get("privileged")
    flags += [f"--cap-drop={c}" for c in sc["capabilities"]["drop"]]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"  # the engine's default profile: no flag
    limits = spec["container"]["resources"]["limits"]
    flags += [f"--memory={_quantity_mb(limits['memory'])}m", f"--cpus={limits['cpu']}"]
    for mount in spec["container"]["volumeMounts"]:
        volume = spec["volumes"][mount["name"]]
        if "emptyDir" in volume:
            size = _quantity_mb(volume["emptyDir"].get("sizeLimit", "64Mi"))
            flags.append(f"--tmpfs={mount['mountPath']}:rw,size={size}m,mode=1777")
    return flags


def mount_path(volume_name: str) -> str:
    spec = sidecar_container_spec()
    return next(m["mountPath"] for m in spec["container"]["volumeMounts"] if m["name"] == volume_name)


class ContainerProc:
    """The `proc` of a ContainerSidecar: signals go to the sidecar itself (the container's pid 1, seen
    from the host), so SIGSTOP pauses it and SIGHUP reloads it; exit codes are the container's, as
    `run` (attached) reports them."""

    def __init__(self, client: subprocess.Popen, name: str) -> None:
        self.client, self.name = client, name
        self.pid = self._host_pid()

    def _host_pid(self) -> int:
        deadline = time.monotonic() + ENGINE_TIMEOUT
        while time.monotonic() < deadline:
            if self.client.poll() is not None:
                return 0  # it already ended; poll() says how
            done = run_engine("inspect", "--format", "{{.State.Pid}}", self.name, check=False)
            if done.returncode == 0 and done.stdout.strip() not in ("", "0"):
                return int(done.stdout.strip())
            time.sleep(0.1)
        raise TimeoutError(f"container {self.name} has no pid after {ENGINE_TIMEOUT}s")

    @property
    def returncode(self) -> int | None:
        return self.client.returncode

    def poll(self) -> int | None:
        return self.client.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.client.wait(timeout)

    def send_signal(self, sig: int) -> None:
        if self.client.poll() is None and self.pid:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ContainerSidecar(SidecarProcess):
    """`sidecar serve` in a container of `image`; settings as for SidecarProcess. `tmp` is mounted at
    its own path, writable by the sidecar's user, so paths in the settings (a decision log) work;
    `volumes` are more `--volume` arguments (host:container:options)."""

    def __init__(
        self, image: str, settings: dict, tmp: Path, env: dict | None = None, volumes: list[str] | None = None
    ) -> None:
        self.grpc_port, self.ops_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.ops_url = f"http://127.0.0.1:{self.ops_port}"
        settings = deep_merge(
            {"listen": [self.target], "ops_listen": f"127.0.0.1:{self.ops_port}", "shutdown_grace_seconds": 5}, settings
        )
        if self.target not in settings["listen"]:
            settings["listen"].insert(0, self.target)
        self.settings = settings
        tmp.mkdir(parents=True, exist_ok=True)
        uid, gid = (int(x) for x in next(f for f in pod_run_flags() if f.startswith("--user="))[7:].split(":"))
        os.chown(tmp, uid, gid)
        config_dir = tmp / f"sidecar-{self.grpc_port}"
        config_dir.mkdir(mode=0o755)
        self.config_path = config_dir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(settings))
        self.config_path.chmod(0o644)  # a ConfigMap volume's files: root's, readable by all
        self.log_path = tmp / f"sidecar-{self.grpc_port}.log"
        self.name = f"authsidecar-test-{os.getpid()}-{self.grpc_port}"
        args = [
            "run",
            "--rm",
            f"--name={self.name}",
            "--pull=never",  # the image under test, never a registry's
            "--network=host",
            *engine()[1],
            *pod_run_flags(),
            f"--volume={config_dir}:{mount_path('authsidecar-config')}:ro",
            f"--volume={tmp}:{tmp}:rw",
            *(f"--volume={v}" for v in volumes or []),
            *(f"--env={k}={v}" for k, v in (env or {}).items()),
            image,
        ]
        with open(self.log_path, "wb") as log:
            client = subprocess.Popen([*engine()[0], *args], stdout=log, stderr=subprocess.STDOUT)
        self.proc = ContainerProc(client, self.name)  # type: ignore[assignment]
        self.channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        try:
            return super().stop(sig, timeout)
        finally:
            run_engine("rm", "--force", self.name, check=False)


def start_sidecar(settings: dict, tmp: Path, env: dict | None = None) -> SidecarProcess:
    """A sidecar process, or a container of the image AUTHSIDECAR_TEST_IMAGE names when it is set."""
    image = os.environ.get(IMAGE_ENV)
    return ContainerSidecar(image, settings, tmp, env) if image else SidecarProcess(settings, tmp, env)
