"""An issuer's JWKS URL answering garbage or a huge document: the sidecar keeps its last good keys
(until max staleness), then fails closed with a reason; it never crashes and it logs the problem.

Each test makes its own emulator issuer (the emulator process is shared) and a sidecar trusting only it.
"""

from __future__ import annotations

import json
import uuid

from authsidecar.v1 import auth_pb2 as pb

from .helpers import wait_until

AUD = "authsidecar-demo"
# A quick key cache: refreshed every ~0.8 s, failed fetches retried within a second.
QUICK_JWKS = {"ttl_seconds": 1, "min_ttl_seconds": 0.5, "max_ttl_seconds": 1}
# document served → what the sidecar says about it (in its log, health and fail-closed detail)
GARBAGE = {
    "not_json": "not JSON",
    "not_an_object": "not a JSON object",
    "no_keys": "no 'keys' array",
    "bad_keys": "none usable",
    "huge": "larger than 1048576 bytes",
}


def new_issuer(emulator) -> str:
    name = f"c{uuid.uuid4().hex[:10]}"
    emulator.http.post("/_control/jwks/issuers", json={"name": name, "alg": "ES256"}).raise_for_status()
    return name


def issuer_url(emulator, name: str) -> str:
    return f"{emulator.url}/issuers/{name}"


def serve(emulator, name: str, document: str) -> None:
    emulator.http.post(f"/_control/jwks/issuers/{name}/serve", json={"document": document}).raise_for_status()


def mint(emulator, name: str) -> str:
    reply = emulator.http.post(f"/_control/jwks/issuers/{name}/mint", json={})
    reply.raise_for_status()
    return reply.json()["token"]


def verify(sc, token: str) -> pb.VerifyTokenResponse:
    return sc.stub.VerifyToken(pb.VerifyTokenRequest(token=token), timeout=10)


def fetch_errors(sc, url: str) -> float:
    return sc.metric("authsidecar_jwks_fetches_total", issuer=url, result="error")


def jwks_health(sc, url: str) -> pb.UpstreamHealth:
    reply = sc.stub.CheckUpstreamHealth(pb.CheckUpstreamHealthRequest(), timeout=10)
    (health,) = [u for u in reply.upstreams if u.name == f"jwks:{url}"]
    return health


def start(sidecar_factory, emulator, name: str, wait_ready: bool = True, **jwks):
    issuer = {"issuer": issuer_url(emulator, name), "algorithms": ["ES256"], "audiences": [AUD]}
    return sidecar_factory({"issuers": [issuer], "jwks": {**QUICK_JWKS, **jwks}}, wait_ready=wait_ready)


def log_lines(sc) -> list[dict]:
    return [json.loads(line) for line in sc.log_path.read_text().splitlines() if line.startswith("{")]


def test_garbage_and_huge_documents_keep_the_last_good_keys(sidecar_factory, emulator):
    name = new_issuer(emulator)
    url = issuer_url(emulator, name)
    sc = start(sidecar_factory, emulator, name)
    assert verify(sc, mint(emulator, name)).valid
    for document, problem in GARBAGE.items():
        errors = fetch_errors(sc, url)
        serve(emulator, name, document)
        wait_until(lambda: fetch_errors(sc, url) >= errors + 1, timeout=5, step=0.05, what=f"{document} refused")  # noqa: B023 (called within this iteration)
        fresh = verify(sc, mint(emulator, name))  # a token never seen before: verified with the last good keys
        assert fresh.valid, (document, fresh.detail)
        health = jwks_health(sc, url)
        assert not health.healthy and problem in health.detail, (document, health.detail)
        wait_until(  # the log line may trail the metric by a moment on a loaded host
            lambda: any(
                problem in entry.get("error", "")  # noqa: B023 (called within this iteration)
                for entry in log_lines(sc)
                if entry["msg"] == "JWKS fetch failed; using last good keys"
            ),
            timeout=5,
            step=0.05,
            what=f"the {document} warning in the log",
        )
        assert sc.proc.poll() is None and sc.health_status() == "SERVING"
    assert "Traceback" not in sc.log_path.read_text()
    serve(emulator, name, "keys")
    oks = sc.metric("authsidecar_jwks_fetches_total", issuer=url, result="ok")
    wait_until(
        lambda: sc.metric("authsidecar_jwks_fetches_total", issuer=url, result="ok") > oks,
        timeout=5,
        step=0.05,
        what="JWKS healthy again",
    )
    assert jwks_health(sc, url).healthy


def test_past_max_staleness_it_fails_closed_with_the_reason_and_recovers(sidecar_factory, emulator):
    document = "bad_keys"  # the others take the same path (a failed fetch); this one used to wipe the keys
    name = new_issuer(emulator)
    sc = start(sidecar_factory, emulator, name, max_stale_seconds=2)
    seen = mint(emulator, name)
    assert verify(sc, seen).valid
    serve(emulator, name, document)
    wait_until(
        lambda: verify(sc, mint(emulator, name)).reason == pb.REASON_UPSTREAM_UNAVAILABLE,
        timeout=6,
        step=0.1,
        what="fail closed past max staleness",
    )
    answer = verify(sc, mint(emulator, name))
    assert not answer.valid and GARBAGE[document] in answer.detail, answer.detail
    cached = verify(sc, seen)  # no stale yes from the verified-token cache either
    assert not cached.valid and cached.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    assert sc.metric("authsidecar_jwks_keys", issuer=issuer_url(emulator, name)) == 0
    assert sc.proc.poll() is None
    serve(emulator, name, "keys")
    wait_until(lambda: verify(sc, mint(emulator, name)).valid, timeout=5, step=0.1, what="recovered")


def test_a_sidecar_that_never_had_good_keys_is_not_ready_and_says_why(sidecar_factory, emulator):
    name = new_issuer(emulator)
    serve(emulator, name, "bad_keys")
    sc = start(sidecar_factory, emulator, name, wait_ready=False)
    sc.wait_for("NOT_SERVING")
    answer = verify(sc, mint(emulator, name))
    assert not answer.valid and answer.reason == pb.REASON_UPSTREAM_UNAVAILABLE
    assert "no keys loaded yet" in answer.detail and "none usable" in answer.detail
    serve(emulator, name, "keys")
    sc.wait_for("SERVING", timeout=5)
    assert verify(sc, mint(emulator, name)).valid


def test_a_trickling_jwks_fetch_ends_at_jwks_timeout_seconds(sidecar_factory, emulator):
    name = new_issuer(emulator)
    url = issuer_url(emulator, name)
    sc = start(sidecar_factory, emulator, name, timeout_seconds=1)
    assert verify(sc, mint(emulator, name)).valid
    errors = fetch_errors(sc, url)
    # Every byte well within httpx's per-read timeout; the whole document takes 4 s.
    emulator.faults(trickle_seconds=4.0, path_prefix=f"/issuers/{name}")
    took = wait_until(lambda: fetch_errors(sc, url) >= errors + 1, timeout=3, step=0.05, what="slow fetch cut")
    assert took < 3
    health = jwks_health(sc, url)
    assert not health.healthy and "timed out" in health.detail, health.detail
    assert verify(sc, mint(emulator, name)).valid  # the last good keys keep verifying meanwhile
