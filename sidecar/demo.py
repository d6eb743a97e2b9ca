"""What `make run` shows once the sidecar is up: how to call it (real calls come with the areas)."""

from __future__ import annotations

import asyncio


async def show(server) -> None:
    while not server.readiness()[0]:
        await asyncio.sleep(0.1)
    target = server.settings.listen[0]
    print(f"\nauthsidecar is SERVING on {target} (metrics: http://{server.settings.ops_listen}/metrics)\n"
          f"Try:  .venv/bin/sidecar health --target {target}\n", flush=True)
