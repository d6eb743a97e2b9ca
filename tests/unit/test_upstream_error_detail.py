"""The rich status every UpstreamError becomes: mapped code plus a decodable UpstreamErrorDetail."""

from __future__ import annotations

import grpc
from grpc_status import rpc_status

from authsidecar.v1 import errors_pb2
from authsidecar_client.cli import build_request
from sidecar.api.rpc import upstream_status
from sidecar.core.shared.outcomes import UpstreamError


def detail_of(exc: UpstreamError) -> tuple[int, errors_pb2.UpstreamErrorDetail]:
    status = upstream_status(exc)
    # Round trip through the trailer a client receives.
    wire = rpc_status.to_status(status)
    ((key, value),) = wire.trailing_metadata
    assert key == "grpc-status-details-bin"
    decoded = type(status).FromString(value)
    detail = errors_pb2.UpstreamErrorDetail()
    assert decoded.details[0].Unpack(detail)
    return decoded.code, detail


def test_http_status_and_body_survive_with_the_mapped_code():
    code, detail = detail_of(UpstreamError("identity", 401, "Invalid credentials", '{"code":"INVALID_CREDENTIALS"}'))
    assert code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert (detail.upstream, detail.http_status, detail.message) == ("identity", 401, "Invalid credentials")
    assert detail.body == '{"code":"INVALID_CREDENTIALS"}'


def test_no_answer_is_unavailable_with_status_zero():
    code, detail = detail_of(UpstreamError("authy", 0, "timed out"))
    assert code == grpc.StatusCode.UNAVAILABLE.value[0] and detail.http_status == 0


def test_unmapped_client_errors_are_failed_precondition():
    code, detail = detail_of(UpstreamError("authy", 418, "teapot"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and detail.http_status == 418


def test_sidecar_call_knows_every_service_rpc():
    method, request = build_request("VerifyTotp", ["user_id=1635", "code=1234567"], None)
    assert method.containing_service.name == "SecondFactorService" and request.code == "1234567"
    method, request = build_request("VerifyToken", ["token=abc"], None)
    assert method.containing_service.name == "AuthService" and request.token == "abc"
    assert build_request("WatchApprovalRequest", ["id=u1"], None)[0].server_streaming
