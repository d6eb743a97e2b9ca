"""Run an ASGI app with uvicorn inside our own event loop (ops port, embedded emulator).

uvicorn normally owns SIGINT/SIGTERM; the sidecar must drain gRPC first, so signals stay ours.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # uvicorn >= 0.29
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass


class AsgiServer:
    """An ASGI app listening on host:port until `stop()`."""

    def __init__(self, app, listen: str, name: str) -> None:
        host, _, port = listen.rpartition(":")
        self.name = name
        self._server = _Server(
            uvicorn.Config(
                app,
                host=host.strip("[]") or "0.0.0.0",
                port=int(port),
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name=self.name)
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
                raise RuntimeError(f"{self.name} stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self) -> None:
        if self._task:
            await self._task
