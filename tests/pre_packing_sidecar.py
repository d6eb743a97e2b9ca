"""A VerifyStream as sidecars before packing (issue 30) served it, in front of a real sidecar, to test
the multiplexers' fallback to one item per message. It sends no initial metadata until its first answer
and one answer per message, and answers a packed message (field 30, unknown to it) as an item without
a question. Each item is asked of the real sidecar as a unary VerifyToken."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
from google.rpc import code_pb2, status_pb2

from authsidecar.v1 import auth_pb2 as pb
from authsidecar.v1 import auth_pb2_grpc


class PrePackingSidecar(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.messages = self.packed = 0

    def VerifyStream(self, request_iterator, context):
        for item in request_iterator:
            self.messages += 1
            if item.items:
                self.packed += 1
                yield pb.VerifyStreamResponse(
                    id=item.id, error=status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="check: required")
                )
                continue
            yield pb.VerifyStreamResponse(id=item.id, verify_token=self.stub.VerifyToken(item.verify_token, timeout=10))


@contextmanager
def pre_packing_sidecar(target: str) -> Iterator[tuple[str, PrePackingSidecar]]:
    """(its target, the servicer and its counts) in front of the sidecar at `target`."""
    servicer = PrePackingSidecar(target)
    server = grpc.server(ThreadPoolExecutor(4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None)
        servicer.channel.close()
