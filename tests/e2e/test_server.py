"""The server itself: health, reflection, ops port, input errors, graceful shutdown."""

from __future__ import annotations

import signal

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from harness.processes import free_port


def test_health_serving_and_ops_port(shared_sidecar):
    assert shared_sidecar.health_status() == "SERVING"
    assert shared_sidecar.health_status("authsidecar.v1.AuthService") == "SERVING"
    assert httpx.get(f"{shared_sidecar.ops_url}/healthz").json() == {"live": True}
    ready = httpx.get(f"{shared_sidecar.ops_url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_reflection_lists_the_services(shared_sidecar):
    stub = reflection_pb2_grpc.ServerReflectionStub(shared_sidecar.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"authsidecar.v1.AuthService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(
    "rpc,request_,field",
    [
        ("VerifyToken", pb.VerifyTokenRequest(), "token"),
        ("VerifyToken", pb.VerifyTokenRequest(token="a" * 9000), "token"),
        ("VerifySession", pb.VerifySessionRequest(phone="+14155552671"), "session_token"),
        ("VerifySession", pb.VerifySessionRequest(session_token="s", phone=""), "phone"),
        ("VerifySession", pb.VerifySessionRequest(session_token="x" * 600, phone="+14155552671"), "session_token"),
        ("VerifySession", pb.VerifySessionRequest(session_token="s", phone="not a phone"), "phone"),
        ("GetSessionStatus", pb.GetSessionStatusRequest(session_token="s"), "phone"),
        ("VerifyApproval", pb.VerifyApprovalRequest(phone="+14155552671"), "approval_token"),
        ("IsRevoked", pb.IsRevokedRequest(session_token="s", phone="12"), "phone"),
        ("ValidateChallenge", pb.ValidateChallengeRequest(), "token"),
        ("ValidateChallenge", pb.ValidateChallengeRequest(token="t", user_id="u\x00"), "user_id"),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(shared_sidecar, rpc, request_, field):
    with pytest.raises(grpc.RpcError) as err:
        getattr(shared_sidecar.stub, rpc)(request_, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


def test_metrics_count_rpcs(sidecar):
    with pytest.raises(grpc.RpcError):
        sidecar.stub.VerifyToken(pb.VerifyTokenRequest(), timeout=5)
    assert sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="invalid_argument") == 1
    assert sidecar.metric("authsidecar_ready") == 1


def test_sigterm_stops_cleanly(sidecar):
    assert sidecar.stop(signal.SIGTERM) == 0
    assert '"msg": "stopped"' in sidecar.log_path.read_text()


def test_listens_on_a_unix_socket_too(sidecar_factory, tmp_path):
    sock = tmp_path / "authsidecar.sock"
    proc = sidecar_factory({"listen": [f"unix://{sock}"]})
    with grpc.insecure_channel(f"unix://{sock}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert proc.target in proc.settings["listen"]


def test_reuse_port_lets_two_processes_share_the_grpc_port(sidecar_factory):
    shared = f"127.0.0.1:{free_port()}"
    first = sidecar_factory({"listen": [shared], "reuse_port": True})
    second = sidecar_factory({"listen": [shared], "reuse_port": True})
    # Each call on its own connection (a local subchannel pool per channel): the kernel spreads the
    # connections over both processes — all 24 on one would happen with probability 2^-23.
    for _ in range(24):
        with grpc.insecure_channel(shared, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            reply = auth_pb2_grpc.AuthServiceStub(channel).VerifyToken(pb.VerifyTokenRequest(token="x.y.z"), timeout=5)
            assert not reply.valid
    served = [p.metric("authsidecar_rpc_total", method="VerifyToken") for p in (first, second)]
    assert sum(served) == 24 and all(n > 0 for n in served), served


def test_without_reuse_port_a_second_process_cannot_take_the_port(sidecar_factory):
    shared = f"127.0.0.1:{free_port()}"
    sidecar_factory({"listen": [shared]})
    second = sidecar_factory({"listen": [shared]}, wait_ready=False)
    assert second.proc.wait(30) != 0
