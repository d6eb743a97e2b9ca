"""gRPC stays local unless TLS (or an explicit, logged opt-in) says otherwise; socket files are 0660."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.processes import free_port
from sidecar.config import ConfigError, load


def _cert(name: str, issuer_key=None, issuer_name=None, ca: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, cert, pem, key_pem


@pytest.fixture
def pki(tmp_path):
    ca_key, ca_cert, ca_pem, _ = _cert("test-ca", ca=True)
    _, _, server_pem, server_key = _cert("localhost", ca_key, ca_cert.subject)
    _, _, client_pem, client_key = _cert("client", ca_key, ca_cert.subject)
    files = {}
    for name, data in {"ca.pem": ca_pem, "server.pem": server_pem, "server.key": server_key}.items():
        (tmp_path / name).write_bytes(data)
        files[name] = str(tmp_path / name)
    return files, ca_pem, client_pem, client_key


def test_non_loopback_listen_needs_tls_or_opt_in():
    with pytest.raises(ConfigError, match=r"listen\[0\]: 0.0.0.0:50051 is not loopback"):
        load(env={"AUTHSIDECAR_LISTEN": "0.0.0.0:50051"})
    assert load(env={"AUTHSIDECAR_LISTEN": "0.0.0.0:50051", "AUTHSIDECAR_INSECURE_LISTEN": "true"}).insecure_listen
    assert load(env={"AUTHSIDECAR_LISTEN": "[::1]:50051,localhost:1,127.0.0.2:3"}).listen


def test_insecure_opt_in_logs_a_warning(sidecar_factory):
    proc = sidecar_factory({"listen": [f"0.0.0.0:{free_port()}"], "insecure_listen": True})
    assert "WITHOUT TLS" in proc.log_path.read_text()


def test_mtls_listener_requires_a_client_certificate(sidecar_factory, pki):
    files, ca_pem, client_pem, client_key = pki
    port = free_port()
    sidecar_factory(
        {
            "listen": [f"0.0.0.0:{port}"],
            "tls": {
                "cert_file": files["server.pem"],
                "key_file": files["server.key"],
                "client_ca_file": files["ca.pem"],
            },
        }
    )
    good = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=client_key, certificate_chain=client_pem)
    with grpc.secure_channel(f"127.0.0.1:{port}", good) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    no_client_cert = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    with grpc.secure_channel(f"127.0.0.1:{port}", no_client_cert) as channel:
        with pytest.raises(grpc.RpcError) as err:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


def test_unix_socket_gets_the_configured_mode(sidecar_factory, tmp_path):
    sock = tmp_path / "a.sock"
    sidecar_factory({"listen": [f"unix://{sock}"]})
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    sock2 = tmp_path / "b.sock"
    sidecar_factory({"listen": [f"unix://{sock2}"], "socket_mode": "0600"})
    assert stat.S_IMODE(os.stat(sock2).st_mode) == 0o600
