"""A JWT issuer of a test's own: an ES256 key that signs tokens, its JWKS served on loopback.

For tests that need an issuer independent of the emulator (ext_authz through Envoy or direct): the
sidecar fetches `<url>/jwks.json` like any other issuer's.
"""

from __future__ import annotations

import http.server
import json
import threading
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

AUDIENCE = "orders-api"


def json_handler(body: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler that answers every GET with `body` as JSON, silently."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


class Issuer:
    def __init__(self, name: str = "test-issuer", audience: str = AUDIENCE) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.audience = audience
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]}).encode()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), json_handler(body))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{name}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settings(self) -> dict:
        """This issuer's entry for the sidecar's `issuers:` list."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "audiences": [self.audience],
            "algorithms": ["ES256"],
        }

    def token(self, **claims) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": "user-1",
            "aud": self.audience,
            "iat": now,
            "exp": now + 600,
            "scope": "orders:read orders:write",
            "email": "user-1@example.com",
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": "k1"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
