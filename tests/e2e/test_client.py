"""authsidecar_client.client: deadlines, retries only for UNAVAILABLE on idempotent calls, and calls to a real sidecar.

Retry behaviour is counted on an in-process AuthService fake that fails on purpose; the last tests
talk to a real `sidecar serve` process.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent import futures

import grpc
import pytest

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc
from authsidecar_client.client import AsyncClient, Client


class Flaky(auth_pb2_grpc.AuthServiceServicer):
    """Answers every RPC after `failures` UNAVAILABLE errors; counts calls per method."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.failures, self.code = failures, code
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def _count(self, method: str) -> bool:
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            return self.calls[method] <= self.failures

    def VerifySession(self, request, context):
        if self._count("VerifySession"):
            context.abort(self.code, "try again")
        return pb.VerifySessionResponse(valid=True)

    def VerifyToken(self, request, context):
        if self._count("VerifyToken"):
            context.abort(self.code, "token: is required")
        return pb.VerifyTokenResponse(valid=False)

    def VerifyApproval(self, request, context):
        if self._count("VerifyApproval"):
            context.abort(self.code, "try again")
        return pb.VerifyApprovalResponse(valid=True, action="a")

    def ValidateChallenge(self, request, context):
        if self._count("ValidateChallenge"):
            context.abort(self.code, "try again")
        return pb.ValidateChallengeResponse(is_valid=True)


@pytest.fixture
def serve():
    servers = []

    def start(servicer) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def test_idempotent_call_is_retried_on_unavailable(serve):
    fake = Flaky(failures=2)
    with Client(serve(fake), timeout=5, retries=2, backoff=0.001) as client:
        assert client.verify_session("s", phone="+14155552671").valid
    assert fake.calls == {"VerifySession": 3}


def test_retries_are_bounded(serve):
    fake = Flaky(failures=10)
    with Client(serve(fake), timeout=5, retries=2, backoff=0.001) as client, pytest.raises(grpc.RpcError) as err:
        client.verify_session("s", phone="+14155552671")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE and fake.calls == {"VerifySession": 3}


def test_one_time_token_calls_are_never_retried(serve):
    fake = Flaky(failures=1)
    with Client(serve(fake), timeout=5, retries=3, backoff=0.001) as client:
        for call in (lambda: client.verify_approval("a", phone="+14155552671"), lambda: client.validate_challenge("c")):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert fake.calls == {"VerifyApproval": 1, "ValidateChallenge": 1}


def test_other_errors_are_not_retried(serve):
    fake = Flaky(failures=1, code=grpc.StatusCode.INVALID_ARGUMENT)
    with Client(serve(fake), timeout=5, retries=3, backoff=0.001) as client, pytest.raises(grpc.RpcError) as err:
        client.verify_token("")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fake.calls == {"VerifyToken": 1}


async def test_async_client_retries_and_keeps_one_time_calls_single(serve):
    fake = Flaky(failures=1)
    async with AsyncClient(serve(fake), timeout=5, retries=1, backoff=0.001) as client:
        assert (await client.verify_session("s", phone="+14155552671")).valid
        with pytest.raises(grpc.RpcError):
            await client.verify_approval("a", phone="+14155552671")
    assert fake.calls == {"VerifySession": 2, "VerifyApproval": 1}


async def test_deadline_covers_a_hung_call():
    release = asyncio.Event()

    class Hung(auth_pb2_grpc.AuthServiceServicer):
        calls = 0

        async def VerifyToken(self, request, context):
            Hung.calls += 1
            await release.wait()
            return pb.VerifyTokenResponse()

    server = grpc.aio.server()
    auth_pb2_grpc.add_AuthServiceServicer_to_server(Hung(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncClient(f"127.0.0.1:{port}", timeout=0.2, retries=3) as client:
            with pytest.raises(grpc.RpcError) as err:
                await client.verify_token("t")
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and Hung.calls == 1
    finally:
        release.set()
        await server.stop(0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Client(timeout=0)
    with pytest.raises(ValueError):
        Client(retries=-1)


def test_sync_client_against_a_real_sidecar(sidecar):
    with Client(sidecar.target, timeout=5) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.verify_token("")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("token:")
        answer = client.verify_token("not.a.jwt")
        assert not answer.valid and answer.reason == pb.REASON_MALFORMED
        assert client.check_upstream_health().upstreams
    assert sidecar.metric("authsidecar_rpc_total", method="VerifyToken", outcome="invalid_argument") == 1


async def test_async_client_against_a_real_sidecar(sidecar, emulator):
    session = emulator.http.post("/_control/platform/sessions", json={"phone": "+14155552671"}).json()
    async with AsyncClient(sidecar.target, timeout=5) as client:
        answer = await client.verify_session(session["session_token"], phone="+1 415 555 2671")
        assert answer.valid and answer.status == pb.SESSION_STATUS_VERIFIED
        assert not (await client.is_revoked(session["session_token"], phone="+14155552671")).revoked
