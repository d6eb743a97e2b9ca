"""The operations port: /metrics for Prometheus, /healthz (live) and /readyz (ready) for the kubelet.

It binds the pod IP (0.0.0.0 by default) because Prometheus and the kubelet come from outside the
pod; the gRPC API itself stays on loopback.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def build_app(readiness: Callable[[], tuple[bool, dict]], draining: Callable[[], bool]) -> Starlette:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def readyz(request: Request) -> JSONResponse:
        ready, detail = readiness()
        if draining():
            ready, detail = False, {**detail, "server": "draining"}
        return JSONResponse({"ready": ready, "detail": detail}, status_code=200 if ready else 503)

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)])
