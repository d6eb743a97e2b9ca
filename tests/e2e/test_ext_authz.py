"""Envoy's ext_authz Check against a real sidecar + emulator, with CheckRequests assembled as raw bytes.

The bytes follow Envoy's field numbers (tests/envoy_wire.py), not our generated classes, and carry
fields our subset leaves out (peer address, request time, TLS session, a field from the future).
Bearer tokens are signed here with a key whose JWKS a tiny local HTTP server publishes, so the test
owns its issuer; sessions and approvals come from the emulator's /_control/platform endpoints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import pytest
from envoy_wire import CHECK_METHOD, Decision, check_request, read_check_response
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authsidecar.v1 import auth_pb2 as pb
from harness.issuer import AUDIENCE, Issuer

PHONE = "+14155552671"

RULES = [
    {"name": "health", "path_prefix": "/healthz", "methods": ["GET"], "checks": ["allow"]},
    {
        "name": "transfer",
        "path_prefix": "/api/transfers",
        "methods": ["POST"],
        "checks": ["jwt", "approval"],
        "action": "transfer",
    },
    {"name": "wire", "path_prefix": "/api/wire", "checks": ["jwt", "challenge"], "action": "wire"},
    {"name": "api", "path_prefix": "/api", "checks": ["jwt"], "required_scopes": ["orders:read"]},
    {"name": "app", "path_prefix": "/app", "checks": ["session"]},
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    own = Issuer()
    yield own
    own.close()


@pytest.fixture
def authz(sidecar_factory, issuer):
    sc = sidecar_factory(
        {
            "issuers": [
                {
                    "issuer": issuer.url,
                    "jwks_uri": f"{issuer.url}/jwks.json",
                    "audiences": [AUDIENCE],
                    "algorithms": ["ES256"],
                }
            ],
            "ext_authz": {"rules": RULES, "claim_headers": [{"claim": "email", "header": "x-auth-email"}]},
        }
    )
    check_rpc = sc.channel.unary_unary(CHECK_METHOD)  # bytes in, bytes out: no generated classes

    def check(method: str, path: str, **headers: str) -> Decision:
        raw = check_request(method, path, {k.replace("_", "-"): v for k, v in headers.items()})
        return read_check_response(check_rpc(raw, timeout=10))

    sc.check = check
    return sc


def test_valid_bearer_allowed_with_identity_headers_and_forged_subject_stripped(authz, issuer):
    d = authz.check(
        "GET",
        "/api/orders?page=2",
        authorization=f"Bearer {issuer.token()}",
        x_auth_subject="admin",
        x_auth_roles="root",
    )
    assert d.allowed and d.grpc_code == 0
    assert d.headers["x-auth-subject"] == "user-1"  # overwrites the forged value
    assert d.headers["x-auth-issuer"] == issuer.url
    assert d.headers["x-auth-scopes"] == "orders:read orders:write"
    assert d.headers["x-auth-email"] == "user-1@example.com"
    assert d.headers["x-auth-rule"] == "api"
    assert d.remove == ["x-auth-roles"]  # forged headers we don't set are removed
    assert authz.metric("authsidecar_ext_authz_decisions_total", rule="api", result="allow") == 1


def test_repeat_bearer_costs_a_cache_hit_not_a_signature_check(authz, issuer):
    bearer = f"Bearer {issuer.token()}"
    for _ in range(3):
        assert authz.check("GET", "/api/orders", authorization=bearer).allowed
    # the token component's verified-token cache (sidecar/core/tokens/verifier.py) answers the repeats
    assert authz.metric("authsidecar_token_signature_checks_total", issuer=issuer.url) == 1
    assert authz.metric("authsidecar_ext_authz_decisions_total", rule="api", result="allow") == 3


def test_expired_bearer_is_401_invalid_token(authz, issuer):
    old = int(time.time()) - 3600
    d = authz.check("GET", "/api/orders", authorization=f"Bearer {issuer.token(iat=old - 600, exp=old)}")
    assert not d.allowed and d.grpc_code == 16 and d.http_status == 401
    assert 'error="invalid_token"' in d.headers["www-authenticate"]
    assert json.loads(d.body) == {"error": "unauthorized", "reason": "expired"}


def test_missing_header_is_401_without_error_code(authz):
    d = authz.check("GET", "/api/orders")
    assert (d.allowed, d.http_status) == (False, 401)
    assert d.headers["www-authenticate"] == 'Bearer realm="authsidecar"'
    assert json.loads(d.body)["reason"] == "missing_credential"


def test_tampered_signature_reveals_only_the_reason_code(authz, issuer):
    token = issuer.token()
    head, payload, sig = token.split(".")
    d = authz.check("GET", "/api/orders", authorization=f"Bearer {head}.{payload}.{sig[:-4]}AAAA")
    assert (d.allowed, d.http_status) == (False, 401)
    assert set(json.loads(d.body)) == {"error", "reason"}


def test_wrong_scope_is_403_insufficient_scope(authz, issuer):
    d = authz.check("GET", "/api/orders", authorization=f"Bearer {issuer.token(scope='profile')}")
    assert (d.allowed, d.http_status, d.grpc_code) == (False, 403, 7)
    assert 'error="insufficient_scope", scope="orders:read"' in d.headers["www-authenticate"]
    assert json.loads(d.body)["reason"] == "insufficient_scope"


def test_revoked_session_is_401(authz, emulator):
    created = emulator.http.post("/_control/platform/sessions", json={"phone": PHONE}).json()
    token = created["session_token"]
    ok = authz.check("GET", "/app/home", x_session_token=token, x_user_phone=PHONE)
    assert ok.allowed and ok.headers["x-auth-phone"] == PHONE
    emulator.http.post("/_control/platform/sessions/revoke", json={"session_token": token}).raise_for_status()
    deadline = time.monotonic() + 10  # the revocation reaches the sidecar's cache over the event stream
    while (d := authz.check("GET", "/app/home", x_session_token=token, x_user_phone=PHONE)).allowed:
        assert time.monotonic() < deadline, "revoked session still allowed"
        time.sleep(0.05)
    assert (d.http_status, json.loads(d.body)["reason"]) == (401, "revoked")


def test_approval_required_on_sensitive_path_and_used_once(authz, issuer, emulator):
    bearer = f"Bearer {issuer.token()}"
    d = authz.check("POST", "/api/transfers", authorization=bearer, x_user_phone=PHONE)
    assert (d.allowed, d.http_status, json.loads(d.body)["reason"]) == (False, 403, "approval_required")
    approval = emulator.http.post("/_control/platform/approvals", json={"phone": PHONE, "action": "transfer"}).json()[
        "approval_token"
    ]
    d = authz.check("POST", "/api/transfers", authorization=bearer, x_user_phone=PHONE, x_approval_token=approval)
    assert d.allowed and d.headers["x-auth-approved-action"] == "transfer" and d.headers["x-auth-subject"] == "user-1"
    again = authz.check("POST", "/api/transfers", authorization=bearer, x_user_phone=PHONE, x_approval_token=approval)
    assert (again.allowed, again.http_status) == (False, 403)
    other = emulator.http.post(
        "/_control/platform/approvals", json={"phone": PHONE, "action": "delete-account"}
    ).json()["approval_token"]
    d = authz.check("POST", "/api/transfers", authorization=bearer, x_user_phone=PHONE, x_approval_token=other)
    assert (d.allowed, json.loads(d.body)["reason"]) == (False, "action_mismatch")


def challenge_token(authz, emulator, user_id: str, action: str) -> str:
    """A step-up challenge the user completed: tracked through the sidecar, finished in the emulator."""
    emulator.http.post("/_control/challenges/users", json={"userId": user_id}).raise_for_status()
    tracked = authz.stub.Track(pb.TrackRequest(user_id=user_id, action=action), timeout=10)
    done = emulator.http.post(
        "/_control/challenges/complete",
        json={"userId": user_id, "action": action, "idempotencyKey": tracked.idempotency_key},
    )
    done.raise_for_status()
    return done.json()["token"]


def test_step_up_challenge_bound_to_the_bearer_subject_and_used_once(authz, issuer, emulator):
    bearer = f"Bearer {issuer.token()}"
    d = authz.check("POST", "/api/wire", authorization=bearer)
    assert (d.allowed, d.http_status, json.loads(d.body)["reason"]) == (False, 403, "challenge_required")
    token = challenge_token(authz, emulator, "user-1", "wire")
    d = authz.check("POST", "/api/wire", authorization=bearer, x_challenge_token=token)
    assert d.allowed and d.headers["x-auth-subject"] == "user-1" and d.headers["x-auth-challenge-action"] == "wire"
    again = authz.check("POST", "/api/wire", authorization=bearer, x_challenge_token=token)
    assert (again.allowed, again.http_status) == (False, 403)
    someone_else = challenge_token(authz, emulator, "user-2", "wire")
    d = authz.check("POST", "/api/wire", authorization=bearer, x_challenge_token=someone_else)
    assert (d.allowed, d.http_status) == (False, 403)


def test_unmatched_path_is_denied_and_open_path_allowed(authz):
    assert authz.check("GET", "/healthz", x_auth_subject="x").remove == ["x-auth-subject"]
    d = authz.check("GET", "/internal/debug")
    assert (d.allowed, d.http_status, json.loads(d.body)["reason"]) == (False, 403, "no_matching_rule")
    d = authz.check("GET", "/healthz/../api/orders")
    assert (d.allowed, d.http_status) == (False, 400)
    assert authz.metric("authsidecar_ext_authz_decisions_total", rule="default", result="deny") == 2


def test_service_is_listed_in_reflection_and_health(authz):
    stub = reflection_pb2_grpc.ServerReflectionStub(authz.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    assert "envoy.service.auth.v3.Authorization" in {s.name for r in replies for s in r.list_services_response.service}
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="envoy.service.auth.v3.Authorization")]),
        timeout=5,
    )
    files = [f for r in replies for f in r.file_descriptor_response.file_descriptor_proto]
    assert files  # grpcurl and other reflection clients can build the messages
    assert authz.health_status("envoy.service.auth.v3.Authorization") == "SERVING"


def test_disabled_ext_authz_is_unimplemented(sidecar_factory):
    sc = sidecar_factory({"ext_authz": {"enabled": False}})
    with pytest.raises(grpc.RpcError) as err:
        sc.channel.unary_unary(CHECK_METHOD)(check_request("GET", "/", {}), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    "method, path, rule, status",
    [
        ("GET", "/healthz/..;/api/orders", "default", 400),  # `..;` climbs in Tomcat/Spring
        ("GET", "/api/orders;x/1", "default", 400),  # `;` path parameters are dropped by some apps
        ("POST", "/api/transfers/", "transfer", 401),  # a trailing slash reaches the same handler
        ("POST", "/api/%74ransfers", "transfer", 401),  # %74 is "t" to every decoder
        ("POST", "//api//transfers//", "transfer", 401),
    ],
)
def test_path_spellings_of_a_protected_route_never_meet_a_weaker_rule(authz, method, path, rule, status):
    d = authz.check(method, path)
    assert (d.allowed, d.http_status) == (False, status), d.body
    assert authz.metric("authsidecar_ext_authz_decisions_total", rule=rule, result="deny") == 1


def test_forged_identity_headers_with_underscores_are_removed(authz, issuer):
    raw = check_request(
        "GET",
        "/api/orders",
        {"authorization": f"Bearer {issuer.token()}", "x_auth_subject": "admin", "x-auth_scopes": "admin:all"},
    )
    d = read_check_response(authz.channel.unary_unary(CHECK_METHOD)(raw, timeout=10))
    assert d.allowed and d.headers["x-auth-subject"] == "user-1"
    assert sorted(d.remove) == ["x-auth_scopes", "x_auth_subject"]
