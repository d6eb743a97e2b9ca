"""The upstream clients share one TLS context (the CA bundle is parsed once per process, not once per
client) and it still verifies: an upstream whose certificate no trusted CA signed is no answer (fail
closed), SSL_CERT_FILE is honoured as httpx's own default honours it."""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.issuer import json_handler
from sidecar.core.shared.outcomes import UpstreamError
from sidecar.upstream import transport
from tests.e2e.test_transport_security import _cert

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def https_upstream(tmp_path) -> Iterator[tuple[str, Path]]:
    """(base URL of an HTTPS server on loopback, the file of the CA that signed its certificate)."""
    ca_key, ca_cert, ca_pem, _ = _cert("upstream-test-ca", ca=True)
    _, _, server_pem, server_key = _cert("localhost", ca_key, ca_cert.subject)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "server.pem").write_bytes(server_pem)
    (tmp_path / "server.key").write_bytes(server_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), json_handler(b'{"ok": true}'))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tmp_path / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_every_client_gets_the_one_verifying_context():
    a = transport.client("http://127.0.0.1:1", timeout=1, max_response_bytes=10)
    b = transport.client("http://127.0.0.1:1", timeout=1, max_response_bytes=10)
    assert transport.tls_context() is transport.tls_context()
    context = transport.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    for c in (a, b):
        assert c._transport._pool._ssl_context is context  # type: ignore[attr-defined]


async def test_an_upstream_certificate_no_trusted_ca_signed_is_no_answer(https_upstream):
    url, ca = https_upstream
    async with transport.client(url, timeout=5, max_response_bytes=1000) as shared:
        with pytest.raises(UpstreamError) as refused:
            await transport.request(shared, "rauth", "probe", "GET", "/")
    assert refused.value.status == 0  # no answer: the caller fails closed
    # the same server is reachable with its CA trusted: the refusal above was the verification
    async with transport.client(
        url, timeout=5, max_response_bytes=1000, verify=ssl.create_default_context(cafile=str(ca))
    ) as trusting:
        assert (await transport.request(trusting, "rauth", "probe", "GET", "/")).status_code == 200


def test_ssl_cert_file_is_honoured_as_httpx_honours_it(https_upstream):
    url, ca = https_upstream
    probe = (
        "import asyncio, sys\n"
        "from sidecar.upstream import transport\n"
        "async def main():\n"
        "    async with transport.client(sys.argv[1], timeout=5, max_response_bytes=1000) as c:\n"
        "        print((await transport.request(c, 'rauth', 'probe', 'GET', '/')).status_code)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}
    env.pop("SSL_CERT_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", probe, url], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr[-2000:]
