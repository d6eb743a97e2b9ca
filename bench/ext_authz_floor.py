"""A bare allow-all ext_authz server on grpc.aio: the Python floor of the Envoy → ext_authz path.

  python -m bench.ext_authz_floor PORT

It parses each CheckRequest and answers OK with nothing else — no policy, no metrics, no logging —
so `make bench` can show what the sidecar costs above the cheapest Python answer.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from google.rpc import code_pb2, status_pb2

from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.service.auth.v3 import external_auth_pb2_grpc

ALLOW = pb.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=pb.OkHttpResponse())


class AllowAll(external_auth_pb2_grpc.AuthorizationServicer):
    async def Check(self, request, context):  # noqa: N802 (the generated servicer's naming)
        return ALLOW


async def serve(port: int) -> None:
    server = grpc.aio.server()
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(AllowAll(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
