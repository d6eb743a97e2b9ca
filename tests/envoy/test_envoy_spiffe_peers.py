"""The `peer` check through a real Envoy terminating mTLS (the docs/ext_authz.md listener, paths and
addresses rewritten), with a CA and client certificates made here."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest
from envoy_harness import EnvoyProcess, Pki, docs_envoy_configs, headers_of, rewrite, sidecar_settings

from harness.container import start_sidecar

SHOP_WEB = "spiffe://example.org/ns/shop/sa/web"
PEER_RULES = [
    {
        "name": "internal",
        "path_prefix": "/internal",
        "checks": ["peer"],
        "peers": ["spiffe://example.org/ns/shop/sa/*"],
    },
    {"name": "orders", "path_prefix": "/api/orders", "checks": ["peer", "jwt"], "peers": [SHOP_WEB]},
]


@pytest.fixture(scope="module")
def mtls(_emulator_process, issuer, apps, tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("mtls")
    pki = Pki(tmp / "pki")
    settings = sidecar_settings(_emulator_process.url, issuer)
    settings["ext_authz"]["rules"] = PEER_RULES
    sidecar = start_sidecar(settings, tmp)
    envoy = None
    try:
        sidecar.wait_for("SERVING")
        (config,) = [c for c in docs_envoy_configs() if c["static_resources"]["listeners"][0]["name"] == "ingress-mtls"]
        envoy = EnvoyProcess(
            rewrite(config, {"authsidecar": sidecar.grpc_port, "app": apps[0].port}, files=pki.files), tmp, "envoy-mtls"
        )
        yield {"envoy": envoy, "pki": pki, "app": apps[0], "issuer": issuer}
    finally:
        if envoy is not None:
            envoy.stop()
        sidecar.stop()


def call(mtls, path: str, client: str, spiffe_id: str = "", **headers: str) -> httpx.Response:
    ctx = ssl.create_default_context(cafile=mtls["pki"].ca)
    if client:
        ctx.load_cert_chain(*mtls["pki"].client(client, spiffe_id))
    url = f"https://127.0.0.1:{mtls['envoy'].ports['ingress-mtls']}{path}"
    with httpx.Client(verify=ctx, timeout=10, trust_env=False) as c:
        return c.get(url, headers=headers)


@pytest.fixture(autouse=True)
def _clean(mtls):
    mtls["app"].take()


def test_an_allowed_workload_reaches_the_app_with_its_spiffe_id(mtls):
    r = call(mtls, "/internal/stock", "web", SHOP_WEB, **{"x-auth-peer": "spiffe://example.org/ns/shop/sa/admin"})
    assert r.status_code == 200
    h = headers_of(mtls["app"].take()[0])
    assert h["x-auth-peer"] == [SHOP_WEB] and h["x-auth-rule"] == ["internal"]


@pytest.mark.parametrize(
    "spiffe_id",
    [
        "spiffe://example.org/ns/billing/sa/web",  # another namespace
        "spiffe://example.org/ns/shop/sa/web/extra",  # * is one segment
        "spiffe://evil.org/ns/shop/sa/web",  # another trust domain (signed by the same CA)
        "spiffe://example.org/ns/shop/sa/..",
        "",  # a certificate without a URI SAN: Envoy sends the subject
    ],
)
def test_other_workloads_are_refused(mtls, spiffe_id):
    r = call(mtls, "/internal/stock", "other", spiffe_id)
    assert (r.status_code, r.json()["reason"]) == (403, "peer_not_allowed")
    assert mtls["app"].take() == []


def test_without_a_client_certificate_there_is_no_connection(mtls):
    with pytest.raises(httpx.TransportError):
        call(mtls, "/internal/stock", "")
    assert mtls["app"].take() == []


def test_peer_and_jwt_together(mtls):
    bearer = f"Bearer {mtls['issuer'].token()}"
    assert call(mtls, "/api/orders", "web", SHOP_WEB, authorization=bearer).status_code == 200
    h = headers_of(mtls["app"].take()[0])
    assert (h["x-auth-peer"], h["x-auth-subject"]) == ([SHOP_WEB], ["user-1"])
    # The right user from the wrong workload, and the right workload without a user: both refused.
    r = call(mtls, "/api/orders", "api", "spiffe://example.org/ns/shop/sa/api", authorization=bearer)
    assert (r.status_code, r.json()["reason"]) == (403, "peer_not_allowed")
    assert call(mtls, "/api/orders", "web", SHOP_WEB).status_code == 401
    assert mtls["app"].take() == []
