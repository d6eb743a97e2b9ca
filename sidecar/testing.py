"""Real processes on loopback for the tests and the benchmarks: the emulator and `sidecar serve`.

Not used by the sidecar itself; it lives in the package so `tests/` and `bench/` share one copy.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authsidecar.v1 import auth_pb2_grpc
from sidecar import config as cfg

ROOT = Path(__file__).resolve().parent.parent  # the repository (cwd of the processes)
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(args: list[str], log_path: Path, env: dict | None = None, append: bool = False,
           preexec_fn=None) -> subprocess.Popen:
    log = open(log_path, "ab" if append else "wb")
    return subprocess.Popen([sys.executable, "-m", "sidecar", *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, preexec_fn=preexec_fn)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class EmulatorProcess:
    """`sidecar emulator` on a free loopback port; `restart()` brings a fresh one up on the SAME port
    (all emulator state — sessions, event ids, signing keys — is lost, as in a real upstream restart)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "emulator.log"
        self._start(append=False)

    def _start(self, append: bool) -> None:
        self.proc = _spawn(["emulator", "--listen", f"127.0.0.1:{self.port}"], self.log_path, append=append)
        self.http = httpx.Client(base_url=self.url, timeout=10)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if self.http.get("/_control/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"emulator did not start:\n{_tail(self.log_path)}")
            time.sleep(0.05)

    def kill(self) -> None:
        """Die at once (SIGKILL): open connections break, the port refuses until `start()`."""
        self.http.close()
        self.proc.kill()
        self.proc.wait(10)

    def start(self) -> None:
        """Start again on the same port (after `kill()` or `stop()`); returns once it answers."""
        self._start(append=True)

    def restart(self) -> None:
        self.kill()
        self.start()

    def reset(self) -> None:
        self.http.post("/_control/faults", json={"reset": True}).raise_for_status()
        self.http.post("/_control/counters/reset").raise_for_status()

    def faults(self, **changes) -> None:
        self.http.post("/_control/faults", json=changes).raise_for_status()

    def counters(self) -> dict[str, int]:
        return self.http.get("/_control/counters").json()

    def requests(self) -> list[dict]:
        """The last upstream requests, oldest first: method, route, path, query, headers, body
        (cleared by `reset()`)."""
        return self.http.get("/_control/requests").json()

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc, timeout=10)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
    """Ask a process to stop with `sig`; SIGKILL if it is still there after `timeout`. Its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def emulator_config(url: str) -> dict:
    """Sidecar settings that point every upstream at the emulator (as the embedded mode does)."""
    return {
        "emulator": {"mode": "off"},
        "platform": {"base_url": f"{url}/v2", "api_key": cfg.EMULATOR_API_KEY, "app_id": cfg.EMULATOR_APP_ID},
        "challenges": {"base_url": f"{url}/v1", "secret_key": cfg.EMULATOR_SECRET_KEY},
        "authy": {"base_url": f"{url}/authy", "api_key": cfg.EMULATOR_AUTHY_API_KEY},
        "identity": {"api": "inai", "base_url": f"{url}/inai", "api_key": cfg.EMULATOR_INAI_PUBLISHABLE_KEY},
        "issuers": [{"issuer": f"{url}/issuers/{name}", "algorithms": algs, "audiences": ["authsidecar-demo"]}
                    for name, algs in cfg.EMULATOR_ISSUERS.items()],
    }


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def wait_until(predicate, timeout: float = 5.0, step: float = 0.01, what: str = "condition") -> float:
    """Poll until predicate() holds; the seconds it took (an AssertionError on timeout fails the test)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(step)
    return time.monotonic() - started


class SidecarProcess:
    def __init__(self, settings: dict, tmp: Path, env: dict | None = None, preexec_fn=None) -> None:
        self.grpc_port, self.ops_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.ops_url = f"http://127.0.0.1:{self.ops_port}"
        settings = deep_merge({"listen": [self.target], "ops_listen": f"127.0.0.1:{self.ops_port}",
                               "shutdown_grace_seconds": 5}, settings)
        if self.target not in settings["listen"]:  # the fixture always talks TCP to its sidecar
            settings["listen"].insert(0, self.target)
        self.settings = settings
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp / f"sidecar-{self.grpc_port}.yaml"
        self.config_path.write_text(yaml.safe_dump(settings))
        self.log_path = tmp / f"sidecar-{self.grpc_port}.log"
        self.proc = _spawn(["serve", "--config", str(self.config_path)], self.log_path, env, preexec_fn=preexec_fn)
        self.channel = grpc.insecure_channel(self.target)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def health_status(self, service: str = "") -> str | None:
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
        except grpc.RpcError:
            return None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def wait_for(self, status: str = "SERVING", timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.health_status() != status:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"sidecar not {status} after {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def metrics(self) -> str:
        return httpx.get(f"{self.ops_url}/metrics", timeout=5).text

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0.0 if absent), read from a fresh scrape."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def log(self) -> str:
        return _tail(self.log_path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        self.channel.close()
        return stop_process(self.proc, sig, timeout)


