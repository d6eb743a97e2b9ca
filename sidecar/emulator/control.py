"""Control API shared by all areas: faults, request counters, reset."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def routes(state) -> list[Route]:
    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.as_dict())

    async def set_faults(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("reset"):
            state.faults.__init__()
            body = {k: v for k, v in body.items() if k != "reset"}
        try:
            state.faults.update(body)
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": f"bad fault field: {exc}"}, status_code=400)
        return JSONResponse(state.faults.as_dict())

    async def counters(request: Request) -> JSONResponse:
        return JSONResponse(dict(state.requests.counts))

    async def reset_counters(request: Request) -> JSONResponse:
        state.requests.clear()
        return JSONResponse({})

    async def recent_requests(request: Request) -> JSONResponse:
        return JSONResponse(list(state.requests.recent))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return [
        Route("/_control/health", health),
        Route("/_control/faults", get_faults, methods=["GET"]),
        Route("/_control/faults", set_faults, methods=["POST"]),
        Route("/_control/counters", counters, methods=["GET"]),
        Route("/_control/counters/reset", reset_counters, methods=["POST"]),
        Route("/_control/requests", recent_requests, methods=["GET"]),
    ]
