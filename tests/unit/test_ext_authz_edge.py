"""The ext_authz edge: Envoy bytes in (unknown fields skipped), Envoy bytes out, by Envoy's field numbers."""

from __future__ import annotations

import json

from envoy_wire import check_request, read_check_response
from google.protobuf import unknown_fields

from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from sidecar.api.ext_authz import check_response, http_request
from sidecar.core.ext_authz.decisions import Allow, Deny

OVERWRITE_IF_EXISTS_OR_ADD = 2  # envoy.config.core.v3.HeaderValueOption.HeaderAppendAction


def test_full_envoy_request_with_unknown_fields_parses():
    raw = check_request("POST", "/api/x?y=1", {"authorization": "Bearer t", "X-Auth-Subject": "forged"})
    request = pb.CheckRequest.FromString(raw)
    http = http_request(request)
    assert (http.method, http.path) == ("POST", "/api/x?y=1")
    assert http.headers == {"authorization": "Bearer t", "x-auth-subject": "forged"}
    # The fields we left out of the subset are kept as unknown fields, not rejected or lost.
    assert request.attributes.request.http.host == "app.local"
    assert request.attributes.source.principal == "spiffe://cluster.local/ns/a/sa/b"
    assert _unknown(request.attributes) == {12, 999}  # tls_session, a future field
    assert _unknown(request.attributes.source) == {1}  # Peer.address
    assert _unknown(request.attributes.request) == {1}  # Request.time


def _unknown(message) -> set[int]:
    return {f.field_number for f in unknown_fields.UnknownFieldSet(message)}


def test_header_map_is_read_and_repeated_headers_are_joined():
    request = pb.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path = "GET", "/"
    http.header_map.headers.extend(
        [
            base_pb2.HeaderValue(key="Authorization", value="Bearer a"),
            base_pb2.HeaderValue(key="authorization", raw_value=b"Bearer b"),
        ]
    )
    assert http_request(request).headers == {"authorization": "Bearer a,Bearer b"}


def test_allow_becomes_ok_response_bytes():
    raw = check_response(Allow("api", (("x-auth-subject", "u1"),), ("x-auth-role",))).SerializeToString()
    d = read_check_response(raw)
    assert d.allowed and d.grpc_code == 0
    assert d.headers == {"x-auth-subject": "u1"} and d.remove == ["x-auth-role"]
    assert d.append_actions == {OVERWRITE_IF_EXISTS_OR_ADD}


def test_deny_becomes_denied_response_bytes():
    deny = Deny("api", 401, "expired", (("www-authenticate", 'Bearer error="invalid_token"'),))
    d = read_check_response(check_response(deny).SerializeToString())
    assert not d.allowed and d.grpc_code == 16 and d.http_status == 401  # UNAUTHENTICATED
    assert d.headers == {"www-authenticate": 'Bearer error="invalid_token"', "content-type": "application/json"}
    assert json.loads(d.body) == {"error": "unauthorized", "reason": "expired"}
    assert read_check_response(check_response(Deny("x", 403, "no_matching_rule")).SerializeToString()).grpc_code == 7


def test_an_allowed_answer_carries_any_decision_id_whole():
    # Allowed answers are an encoded memo plus the id's share, filled into a template when the id has
    # the template's byte length: an id of 32 characters but more bytes must not be cut into it.
    allow = Allow("api", (("x-auth-subject", "u1"),))
    for decision_id in ("0123456789abcdef0123456789abcdef", "é" * 32, "short", "x" * 33):
        answer = check_response(allow, decision_id)
        headers = {h.header.key: h.header.value for h in answer.ok_response.headers}
        assert headers == {"x-auth-subject": "u1", "x-authsidecar-decision-id": decision_id}
        assert answer.dynamic_metadata["decision_id"] == decision_id
        assert answer.ok_response.headers[-1].header.key == "x-authsidecar-decision-id"  # the id header last
