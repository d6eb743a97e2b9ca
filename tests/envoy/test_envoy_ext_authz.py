"""Requests through a real Envoy running the shipped overlay config, with a real sidecar deciding.

What the app receives is read from the app itself; what the client gets is read off the wire.
"""

from __future__ import annotations

import json
import signal
import time

import grpc
import httpx
import pytest
from envoy_harness import EnvoyProcess, headers_of, overlay, raw_http, rewrite

from authsidecar.v1 import auth_pb2 as pb

PHONE = "+14155552671"
IDENTITY = {"x-auth-subject", "x-auth-issuer", "x-auth-scopes", "x-auth-email", "x-auth-rule"}


def client(http2: bool = False) -> httpx.Client:
    return httpx.Client(http1=not http2, http2=http2, timeout=10, trust_env=False)


def get(stack, path: str, method: str = "GET", http2: bool = False, **headers: str) -> httpx.Response:
    with client(http2) as c:
        return c.request(
            method, f"{stack.envoy.url()}{path}", headers={k.replace("_", "-"): v for k, v in headers.items()}
        )


def reached(stack) -> list[dict]:
    return stack.app.take()


@pytest.fixture(autouse=True)
def _clean(stack):
    stack.app.take()
    stack.grpc_app.take()
    yield


# --- every rule kind ------------------------------------------------------------------------------


def test_allow_rule_reaches_the_app_without_identity(stack):
    r = get(stack, "/healthz")
    assert r.status_code == 200
    (seen,) = reached(stack)
    assert headers_of(seen)["x-auth-rule"] == ["health"]
    assert not IDENTITY - {"x-auth-rule"} & set(headers_of(seen))


def test_deny_rule_and_unmatched_path_are_403_and_never_reach_the_app(stack):
    for path, reason in (("/internal/metrics", "denied_by_rule"), ("/elsewhere", "no_matching_rule")):
        r = get(stack, path, authorization=f"Bearer {stack.issuer.token()}")
        assert (r.status_code, r.json()["reason"]) == (403, reason)
    assert reached(stack) == []


def test_jwt_rule_passes_identity_and_claim_headers_to_the_app(stack):
    r = get(stack, "/api/orders?page=2", authorization=f"Bearer {stack.issuer.token()}")
    assert r.status_code == 200
    (seen,) = reached(stack)
    h = headers_of(seen)
    assert h["x-auth-subject"] == ["user-1"] and h["x-auth-issuer"] == [stack.issuer.url]
    assert h["x-auth-scopes"] == ["orders:read orders:write"] and h["x-auth-email"] == ["user-1@example.com"]
    assert h["x-auth-rule"] == ["api"] and seen["path"] == "/api/orders?page=2"


def test_jwt_rule_denials_are_401_with_www_authenticate_and_403_for_scope(stack):
    r = get(stack, "/api/orders")
    assert (r.status_code, r.headers["www-authenticate"], r.json()["reason"]) == (
        401,
        'Bearer realm="authsidecar"',
        "missing_credential",
    )
    old = int(time.time()) - 3600
    r = get(stack, "/api/orders", authorization=f"Bearer {stack.issuer.token(iat=old - 60, exp=old)}")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    r = get(stack, "/api/admin/users", authorization=f"Bearer {stack.issuer.token()}")
    assert (r.status_code, r.json()["reason"]) == (403, "insufficient_scope")
    assert reached(stack) == []


def test_session_rule(stack, emulator):
    token = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()["session_token"]
    assert get(stack, "/app/home", x_session_token="nope", x_user_phone=PHONE).status_code == 401
    r = get(stack, "/app/home", x_session_token=token, x_user_phone=PHONE)
    assert r.status_code == 200
    (seen,) = reached(stack)
    assert headers_of(seen)["x-auth-phone"] == [PHONE] and headers_of(seen)["x-auth-rule"] == ["web"]


def test_approval_rule_spends_the_approval_once(stack, emulator):
    bearer = f"Bearer {stack.issuer.token()}"
    r = get(stack, "/api/transfers", method="POST", authorization=bearer, x_user_phone=PHONE)
    assert (r.status_code, r.json()["reason"]) == (403, "approval_required")
    approval = emulator.http.post("/_control/platform/approvals", json={"phone": PHONE, "action": "transfer"}).json()[
        "approval_token"
    ]
    headers = dict(authorization=bearer, x_user_phone=PHONE, x_approval_token=approval)
    assert get(stack, "/api/transfers", method="POST", **headers).status_code == 200
    assert get(stack, "/api/transfers", method="POST", **headers).status_code == 403
    (seen,) = reached(stack)
    assert headers_of(seen)["x-auth-approved-action"] == ["transfer"]


def test_challenge_rule_is_bound_to_the_bearer_subject(stack, emulator):
    emulator.http.post("/_control/challenges/users", json={"userId": "user-1"}).raise_for_status()
    tracked = stack.sidecar.stub.Track(pb.TrackRequest(user_id="user-1", action="wire"), timeout=10)
    token = emulator.http.post(
        "/_control/challenges/complete",
        json={"userId": "user-1", "action": "wire", "idempotencyKey": tracked.idempotency_key},
    ).json()["token"]
    bearer = f"Bearer {stack.issuer.token()}"
    assert get(stack, "/api/wire", method="POST", authorization=bearer).status_code == 403
    assert get(stack, "/api/wire", method="POST", authorization=bearer, x_challenge_token=token).status_code == 200
    assert get(stack, "/api/wire", method="POST", authorization=bearer, x_challenge_token=token).status_code == 403
    (seen,) = reached(stack)
    assert headers_of(seen)["x-auth-challenge-action"] == ["wire"]


# --- forged identity headers ----------------------------------------------------------------------


def test_forged_and_duplicated_identity_headers_never_reach_the_app(stack):
    token = stack.issuer.token()
    status, _, _ = raw_http(
        stack.port,
        "GET",
        "/api/orders",
        [
            ("authorization", f"Bearer {token}"),
            ("x-auth-subject", "admin"),
            ("X-Auth-Subject", "root"),
            ("x-auth-roles", "admin"),
            ("x-auth-rule", "health"),
            ("x-auth-email", "ceo@example.com"),
        ],
    )
    assert status == 200
    (seen,) = reached(stack)
    h = headers_of(seen)
    assert h["x-auth-subject"] == ["user-1"] and h["x-auth-rule"] == ["api"]
    assert h["x-auth-email"] == ["user-1@example.com"] and "x-auth-roles" not in h
    # On a route whose rule sets no identity, every forged identity header is removed.
    status, _, _ = raw_http(
        stack.port,
        "GET",
        "/healthz",
        [("x-auth-subject", "admin"), ("x-auth-subject", "b"), ("x-auth-scopes", "admin")],
    )
    assert status == 200
    (seen,) = reached(stack)
    assert set(headers_of(seen)) & IDENTITY == {"x-auth-rule"}


@pytest.mark.parametrize("name", ["x_auth_subject", "X-Auth_Scopes", "x-auth_role"])
def test_underscore_identity_headers_are_refused_by_envoy(stack, name):
    status, _, _ = raw_http(stack.port, "GET", "/healthz", [(name, "admin")])
    assert status == 400
    assert reached(stack) == []


def test_large_headers(stack):
    # Over the sidecar's max_token_bytes: refused as a malformed credential, not passed on.
    r = get(stack, "/api/orders", authorization="Bearer " + "a" * 20_000)
    assert (r.status_code, r.json()["reason"]) == (401, "malformed")
    # Over Envoy's header limit (60 KiB): refused by Envoy itself.
    status, _, _ = raw_http(stack.port, "GET", "/healthz", [("x-big", "b" * 70_000)])
    assert status == 431
    # A large harmless header on an open route is fine.
    assert get(stack, "/healthz", x_note="n" * 20_000).status_code == 200
    assert len(reached(stack)) == 1


# --- path spellings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, status",
    [
        ("/healthz/../api/orders", 401),  # Envoy resolves the dot segment: the api rule decides
        ("/healthz/./../api/orders", 401),
        ("/healthz/%2e%2e/api/orders", 401),  # Envoy decodes and resolves %2e%2e as well
        ("/healthz/..;/api/orders", 401),  # Envoy resolves `..;` as `..` too (the app gets /api/orders)
        ("/api/orders;x", 400),
        ("/healthz%2f..%2fapi/orders", 400),  # escaped slashes: Envoy rejects them
        ("/healthz%5c..%5capi/orders", 400),
        ("//api//orders//", 401),  # merged slashes: still the api rule
        ("/api/%6frders", 401),  # unreserved escape: still the api rule
        ("/%61pi/admin", 401),
        ("/API/orders", 403),  # case-sensitive rules: /API is no rule's path
        ("/Healthz", 403),
        ("/api/\u00e4", 400),
    ],
)
def test_path_spellings_never_dodge_a_rule(stack, target, status):
    got, _, _ = raw_http(stack.port, "GET", target.encode("utf-8").decode("latin-1"))
    assert got == status
    assert reached(stack) == []


# --- protocols ------------------------------------------------------------------------------------


def test_http2_through_envoy(stack):
    r = get(stack, "/api/orders", http2=True, authorization=f"Bearer {stack.issuer.token()}", x_auth_subject="admin")
    assert r.http_version == "HTTP/2" and r.status_code == 200
    assert headers_of(reached(stack)[0])["x-auth-subject"] == ["user-1"]
    r = get(stack, "/api/orders", http2=True)
    assert r.http_version == "HTTP/2" and r.status_code == 401
    assert reached(stack) == []


def test_grpc_through_envoy(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack.port}") as channel:
        call = channel.unary_unary("/pkg.Svc/Method")
        assert (
            call(
                b"hello",
                timeout=10,
                metadata=[("authorization", f"Bearer {stack.issuer.token()}"), ("x-auth-subject", "admin")],
            )
            == b"hello"
        )
        ((method, metadata),) = stack.grpc_app.take()
        assert method == "/pkg.Svc/Method" and metadata["x-auth-subject"] == "user-1"
        assert metadata["x-auth-rule"] == "grpc"
        with pytest.raises(grpc.RpcError) as err:
            call(b"hello", timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:  # /pkg.Svc/ followed by a non-method: no rule
            channel.unary_unary("/pkg.Svc/Method2")(
                b"x", timeout=10, metadata=[("authorization", f"Bearer {stack.issuer.token()}")]
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert stack.grpc_app.take() == []


def test_traceparent_reaches_the_app_in_the_same_trace(stack):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = get(stack, "/healthz", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    assert r.status_code == 200
    (seen,) = reached(stack)
    (traceparent,) = headers_of(seen)["traceparent"]
    assert traceparent.split("-")[1] == trace_id


# --- the sidecar down or slow: refused ------------------------------------------------------------


def test_sidecar_slower_than_envoys_timeout_is_refused(stack):
    stack.sidecar.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = get(stack, "/healthz")
        took = time.monotonic() - started
    finally:
        stack.sidecar.proc.send_signal(signal.SIGCONT)
    assert r.status_code == 403 and took < 5
    assert reached(stack) == []
    # Awake again, it answers as before.
    assert get(stack, "/healthz").status_code == 200


def test_sidecar_down_is_refused(stack, tmp_path):
    dead = EnvoyProcess(rewrite(overlay(), {"app": stack.app.port}), tmp_path, "envoy-dead")
    try:
        assert get_url(dead.url() + "/healthz").status_code == 403
        assert get_url(dead.url() + "/api/orders", authorization=f"Bearer {stack.issuer.token()}").status_code == 403
    finally:
        dead.stop()
    assert reached(stack) == []


def get_url(url: str, **headers: str) -> httpx.Response:
    with client() as c:
        return c.get(url, headers=headers)


def test_denial_body_is_the_sidecars_json(stack):
    r = get(stack, "/internal/x")
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.content) == {"error": "forbidden", "reason": "denied_by_rule"}
