"""Real processes on loopback for the tests and the benchmarks: the emulator and `sidecar serve`.

Not used by the sidecar itself; it lives in the package so `tests/` and `bench/` share one copy.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from authsidecar.v1 import auth_pb2_grpc
from sidecar import config as cfg

ROOT = Path(__file__).resolve().parent.parent  # the repository (cwd of the processes)
START_TIMEOUT = (
    60.0  # a bound, not an expectation: on a loaded 2-core machine beside parallel workers a start can take 20 s
)
# The test channel dials before the sidecar listens; gRPC's default reconnect backoff (1 s, growing)
# would then hold a ready sidecar unseen for seconds. Short, capped backoff for loopback tests.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
]
# For plain HTTP on loopback (the ops port, the emulator): an httpx client given no context parses
# certifi's whole CA bundle (~40 ms CPU), and the tests scrape /metrics a few hundred times.
PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


# Ports come from below the kernel's ephemeral range (32768-60999), one slice per xdist worker: a port
# the kernel hands out for `bind(0)` can be taken by another worker's process, or by any outgoing
# connection, between the check here and the child's own bind (seen: "Address already in use").
_PORT_BASE, _PORT_SLICE = 20000, 3000
_issued: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = _PORT_BASE + (int(worker) % 4 if worker.isdigit() else 0) * _PORT_SLICE
    if len(_issued) > _PORT_SLICE // 2:
        _issued.clear()
    for _ in range(_PORT_SLICE):
        port = random.randrange(low, low + _PORT_SLICE)
        if port in _issued:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _issued.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{low + _PORT_SLICE}")


def _spawn(
    args: list[str], log_path: Path, env: dict | None = None, append: bool = False, preexec_fn=None
) -> subprocess.Popen:
    log = open(log_path, "ab" if append else "wb")  # noqa: SIM115 (the child holds it; ours closes on return)
    return subprocess.Popen(
        [sys.executable, "-m", "sidecar", *args],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )


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
        self.http = httpx.Client(base_url=self.url, timeout=10, verify=PLAIN_HTTP)
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
        "issuers": [
            {"issuer": f"{url}/issuers/{name}", "algorithms": algs, "audiences": ["authsidecar-demo"]}
            for name, algs in cfg.EMULATOR_ISSUERS.items()
        ],
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
        settings = deep_merge(
            {"listen": [self.target], "ops_listen": f"127.0.0.1:{self.ops_port}", "shutdown_grace_seconds": 5}, settings
        )
        if self.target not in settings["listen"]:  # the fixture always talks TCP to its sidecar
            settings["listen"].insert(0, self.target)
        self.settings = settings
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp / f"sidecar-{self.grpc_port}.yaml"
        self.config_path.write_text(yaml.safe_dump(settings))
        self.log_path = tmp / f"sidecar-{self.grpc_port}.log"
        self.proc = _spawn(["serve", "--config", str(self.config_path)], self.log_path, env, preexec_fn=preexec_fn)
        self.channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def health_status(self, service: str = "") -> str | None:
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)  # type: ignore[attr-defined]  # types-grpcio-health-checking: HealthStub lists no methods
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
        return httpx.get(f"{self.ops_url}/metrics", timeout=5, verify=PLAIN_HTTP).text

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0.0 if absent), read from a fresh scrape."""
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


def apt_install(package: str) -> str | None:
    """Install a Debian package; None on success, else why it could not be done."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "apt-get needs root and the tests do not run as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    with _exclusive(Path("/tmp/authsidecar-tests-apt.lock"), timeout=APT_TIMEOUT):
        if subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT).returncode == 0:
            return None
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=APT_TIMEOUT)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
    return None if done.returncode == 0 else f"apt-get install {package} failed: {done.stderr[-500:]}"


APT_TIMEOUT = 300.0


@contextlib.contextmanager
def _exclusive(path: Path, timeout: float):
    """Hold an exclusive lock on `path` (parallel test workers would otherwise run apt-get at once and
    all but one fail on dpkg's lock); waits at most `timeout` seconds."""
    with open(path, "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} held for over {timeout}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def redis_server_binary() -> tuple[str | None, str]:
    """(path of redis-server, "") — installing Debian's `redis-server` when absent — or (None, why not)."""
    if shutil.which("redis-server") is None:
        problem = apt_install("redis-server")
        if problem:
            return None, problem
    binary = shutil.which("redis-server")
    return binary, "" if binary else "the redis-server package installed but redis-server is not on PATH"


class RedisProcess:
    """A real `redis-server` on a free loopback port, its files in `tmp`; `kill()` and `start()` keep
    the port. The append-only file is synced on every write by default (`fsync`), so a claim survives
    a SIGKILL (as a production Redis with `appendonly yes` keeps claims across a restart)."""

    def __init__(
        self, binary: str, tmp: Path, password: str = "", fsync: str = "always", tls: tuple[str, str, str] | None = None
    ) -> None:
        """tls: (certificate, key, CA) files — then it speaks TLS only (`rediss://`)."""
        self.binary, self.dir, self.password, self.fsync, self.tls = binary, tmp, password, fsync, tls
        self.port = free_port()
        auth = f":{password}@" if password else ""
        self.url = f"{'rediss' if tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"
        self.log_path = tmp / "redis.log"
        tmp.mkdir(parents=True, exist_ok=True)
        self.start()

    def start(self) -> None:
        ports = ["--port", str(self.port)]
        if self.tls:
            cert, key, ca = self.tls
            ports = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                ca,
                "--tls-auth-clients",
                "no",
            ]
        args = [
            self.binary,
            *ports,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            self.fsync,
            "--protected-mode",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(self._answers, timeout=START_TIMEOUT, step=0.05, what="redis-server to answer PING")
        except BaseException:
            self.kill()
            raise

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{_tail(self.log_path)}")
        try:
            return self.command("PING") == "+PONG"
        except OSError:
            return False

    def command(self, *words: str) -> str:
        """One command over a plain socket (RESP, after AUTH when there is a password); its raw reply,
        e.g. "+PONG", ":3" or "*1\\r\\n$5\\r\\nhello" (read until the server pauses, fine for small replies)."""
        commands = ([("AUTH", self.password)] if self.password else []) + [words]
        payload = "".join(f"*{len(c)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in c) for c in commands)
        with self._connect() as s:
            s.sendall(payload.encode())
            reply = b""
            while reply.count(b"\r\n") < len(commands):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
            s.settimeout(0.05)
            try:
                while chunk := s.recv(65536):
                    reply += chunk
            except OSError:
                pass  # nothing more came: the reply is whole
        lines = reply.decode().split("\r\n")[len(commands) - 1 :]
        return "\r\n".join(lines).removesuffix("\r\n")

    def _connect(self) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        if not self.tls:
            return raw

        return ssl.create_default_context(cafile=self.tls[2]).wrap_socket(raw, server_hostname="127.0.0.1")

    def kill(self) -> None:
        """Die at once (SIGKILL); the port refuses until `start()`."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
