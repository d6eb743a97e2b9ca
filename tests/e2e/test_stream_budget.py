"""Held server streams have their own budget (issue 16 case 5): idle WatchApprovalRequest streams
past `limits.max_in_flight` never starve unary calls or ext_authz Check, and past `limits.max_streams`
a new stream is refused at once."""

from __future__ import annotations

import grpc
from envoy_wire import CHECK_METHOD, check_request, read_check_response

from authsidecar.v1 import auth_pb2, factors_pb2_grpc
from authsidecar.v1 import factors_pb2 as pb
from harness.processes import wait_until

UNARY_LIMIT, STREAM_LIMIT = 8, 30


def test_idle_streams_never_starve_unary_calls_or_check(sidecar_factory, emulator):
    sc = sidecar_factory(
        {
            "limits": {"max_in_flight": UNARY_LIMIT, "max_streams": STREAM_LIMIT},
            "ext_authz": {"rules": [{"name": "open", "path_prefix": "/open", "checks": ["allow"]}]},
        }
    )
    factors = factors_pb2_grpc.SecondFactorServiceStub(sc.channel)
    user = factors.RegisterUser(
        pb.RegisterUserRequest(email="u@example.com", country="US", phone="2015550123"), timeout=5
    ).user_id
    approval = factors.CreateApprovalRequest(
        pb.CreateApprovalRequestRequest(user_id=user, message="hold"), timeout=5
    ).id
    watch = pb.WatchApprovalRequestRequest(id=approval)
    streams = [factors.WatchApprovalRequest(watch, timeout=60) for _ in range(STREAM_LIMIT)]
    try:
        for stream in streams:  # every stream is open and idle (pending, no news)
            assert next(stream).status == pb.APPROVAL_STATUS_PENDING
        wait_until(lambda: sc.metric("authsidecar_approval_watches") == STREAM_LIMIT, what="streams held")

        # Far more streams held than max_in_flight, and unary calls still go through, Check included.
        for _ in range(3 * UNARY_LIMIT):
            status = factors.GetApprovalRequest(pb.GetApprovalRequestRequest(id=approval), timeout=5).status
            assert status == pb.APPROVAL_STATUS_PENDING
        check = sc.channel.unary_unary(CHECK_METHOD)
        assert read_check_response(check(check_request("GET", "/open/x", {}), timeout=5)).allowed
        token = emulator.http.post("/_control/jwks/issuers/main/mint", json={}).json()["token"]
        assert sc.stub.VerifyToken(auth_pb2.VerifyTokenRequest(token=token), timeout=5).valid

        # One stream more than max_streams: refused at once.
        try:
            next(factors.WatchApprovalRequest(watch, timeout=5))
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "streams" in err.details()
        else:
            raise AssertionError("a stream past limits.max_streams was admitted")
    finally:
        for stream in streams:
            stream.cancel()
    wait_until(lambda: sc.metric("authsidecar_approval_watches") == 0, what="streams released")
    assert next(factors.WatchApprovalRequest(watch, timeout=5)).status == pb.APPROVAL_STATUS_PENDING
